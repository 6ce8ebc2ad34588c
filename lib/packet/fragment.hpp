// packet/fragment: IPv4 fragmentation for the fast path (RFC 791, RFC 1812 5.2.6).
// Splits a datagram that does not fit the egress MTU into fragments with correct offsets,
// MF bits, header checksums and only the options marked "copied" after the first; it
// allocates only from the given mempool and never waits.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace routerd {

// Most fragments one datagram may produce here. A frame that fits an mbuf (at most a
// few KiB) cut at the smallest MTU (68: 48 bytes of payload per fragment) stays below it.
constexpr uint16_t kMaxFragments = 128;

// m: an Ethernet frame holding one IPv4 datagram in a single segment, DF clear. Writes
// up to kMaxFragments fragments, each an Ethernet frame whose 14-byte header is `l2`, into
// out[] and returns how many; m is left untouched (the caller frees it). Returns 0 when the
// datagram fits the MTU (nothing to do: send m as it is). Returns a negative
// errno when nothing was produced: -ENOMEM (pool empty), -EINVAL (would need more than
// kMaxFragments, or a malformed header), -ENOTSUP (DF set).
int fragment_ipv4(rte_mbuf* m, uint16_t mtu, const uint8_t* l2, rte_mempool* pool, rte_mbuf** out);

}  // namespace routerd
