// packet/ipv4: RFC 1812 header validation, martian checks and the TTL update.
// Pure functions over header bytes: no mbufs, no state, safe on any thread, inline for the
// fast path; every function reads only bytes the caller says are present.
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <cstdint>
#include <cstring>
#include <optional>

#include "compiler.hpp"
#include "stats.hpp"

namespace routerd {

// True when a 20-byte header, given as five 32-bit words, has a correct checksum. The
// one's-complement sum does not depend on the word size (RFC 1071): a handful of adds where
// rte_raw_cksum walks ten 16-bit words in a loop.
ROUTERD_ALWAYS_INLINE bool ipv4_cksum_words_ok(const uint32_t w[5]) {
  uint64_t s = uint64_t(w[0]) + w[1] + w[2] + w[3] + w[4];
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return s == 0xffff;
}

// True when a header of ihl bytes has a correct checksum.
ROUTERD_ALWAYS_INLINE bool ipv4_cksum_ok(const rte_ipv4_hdr* ip, uint32_t ihl) {
  if (__builtin_expect(ihl == sizeof(rte_ipv4_hdr), 1)) {
    uint32_t w[5];
    std::memcpy(w, ip, sizeof w);
    return ipv4_cksum_words_ok(w);
  }
  return rte_raw_cksum(ip, ihl) == 0xffff;
}

struct Ipv4Verdict {
  bool ok;
  Drop reason;  // meaningful when !ok
};

constexpr Ipv4Verdict kIpv4Ok{true, Drop::count};

// RFC 1812 5.2.2: the checks that make a datagram unfit to forward. Version and IHL come
// before the checksum because the checksum covers IHL*4 bytes. seg_len: bytes of the header present
// in the first segment; link_len: bytes from the start of the IP header to the end of the frame.
// rx_cksum: the mbuf's RTE_MBUF_F_RX_IP_CKSUM_* bits (the checksum is verified in software unless
// the NIC says GOOD; BAD is trusted).
ROUTERD_ALWAYS_INLINE Ipv4Verdict ipv4_validate(const rte_ipv4_hdr* ip, uint32_t seg_len,
                                                uint32_t link_len, uint64_t rx_cksum) {
  // (1) "The packet length reported by the Link Layer must be large enough to hold the
  // minimum length legal IP datagram (20 bytes)."
  if (link_len < sizeof(rte_ipv4_hdr)) return {false, Drop::ipv4_too_short};
  if (seg_len < sizeof(rte_ipv4_hdr)) return {false, Drop::ipv4_headers_split};
  // The fixed header is read once, as words: byte-wise reads of version_ihl made GCC spill a
  // byte and reload a word, a store-forwarding stall on every packet.
  uint32_t w[5];
  std::memcpy(w, ip, sizeof w);
  const uint32_t vhl = w[0] & 0xff;
  const uint32_t total = rte_be_to_cpu_16(uint16_t(w[0] >> 16));
  const bool sw_cksum = rx_cksum != RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  if (__builtin_expect(vhl == 0x45, 1)) {
    // Version 4, no options: (3) and (4) hold, the header is 20 bytes.
    if (sw_cksum && (rx_cksum == RTE_MBUF_F_RX_IP_CKSUM_BAD || !ipv4_cksum_words_ok(w)))
      return {false, Drop::ipv4_bad_checksum};
    if (total < sizeof(rte_ipv4_hdr)) return {false, Drop::ipv4_bad_length};
    if (total > link_len) return {false, Drop::ipv4_truncated};
    return kIpv4Ok;
  }
  // (3) "The IP version number must be 4."
  if ((vhl >> 4) != 4) return {false, Drop::ipv4_bad_version};
  // (4) "The IP header length field must be large enough to hold the minimum length legal
  // IP datagram (20 bytes = 5 words)."
  uint32_t ihl = (vhl & 0xf) * 4;
  if (ihl < sizeof(rte_ipv4_hdr) || ihl > link_len) return {false, Drop::ipv4_bad_ihl};
  if (ihl > seg_len) return {false, Drop::ipv4_headers_split};
  // (2) "The IP checksum must be correct." It is never disabled: only a NIC verdict of GOOD
  // replaces the software check.
  if (sw_cksum && (rx_cksum == RTE_MBUF_F_RX_IP_CKSUM_BAD || !ipv4_cksum_ok(ip, ihl)))
    return {false, Drop::ipv4_bad_checksum};
  // (5) "The IP total length field must be large enough to hold the IP datagram header."
  if (total < ihl) return {false, Drop::ipv4_bad_length};
  // A frame shorter than the datagram it claims to carry is truncated; longer is link
  // padding, which the caller trims.
  if (total > link_len) return {false, Drop::ipv4_truncated};
  return kIpv4Ok;
}

// Address classes by first octet, so the martian checks cost two table loads.
namespace addr_class {
constexpr uint8_t martian_src = 1;  // 0/8, 127/8, 224/4, 240/4 (incl. 255.255.255.255)
constexpr uint8_t martian_dst = 2;  // 0/8, 127/8, 240/4 except 255.255.255.255
constexpr uint8_t multicast = 4;    // 224/4
}  // namespace addr_class

struct FirstOctetTable {
  uint8_t c[256];
  constexpr FirstOctetTable() : c{} {
    c[0] = c[127] = addr_class::martian_src | addr_class::martian_dst;
    for (int i = 224; i < 240; ++i) c[i] = addr_class::martian_src | addr_class::multicast;
    for (int i = 240; i < 256; ++i) c[i] = addr_class::martian_src | addr_class::martian_dst;
  }
};
inline constexpr FirstOctetTable kFirstOctet{};

// The destination's half of ipv4_check_addresses.
ROUTERD_ALWAYS_INLINE Ipv4Verdict ipv4_check_destination(uint32_t dst) {
  const uint8_t dc = kFirstOctet.c[dst >> 24];
  if (dst == 0xffffffffu) return {false, Drop::limited_broadcast};
  if (dc & addr_class::martian_dst) return {false, Drop::martian_destination};
  if (dc & addr_class::multicast) return {false, Drop::multicast_destination};
  if ((dst >> 16) == 0xa9fe) return {false, Drop::link_local};
  return kIpv4Ok;
}

// RFC 1812 5.3.7 and 4.2.2.11 (martians), 5.3.5.1 (limited broadcast), RFC 3927
// (link-local). Addresses in host byte order. A martian source is reported before anything
// the destination has. Subnet broadcasts are checked by the caller, which knows its subnets.
ROUTERD_ALWAYS_INLINE Ipv4Verdict ipv4_check_addresses(uint32_t src, uint32_t dst) {
  uint8_t sc = kFirstOctet.c[src >> 24];
  uint8_t dc = kFirstOctet.c[dst >> 24];
  // Fast exit: the common case has no special bits anywhere.
  if (__builtin_expect((sc | dc) == 0 && (src >> 16) != 0xa9fe && (dst >> 16) != 0xa9fe, 1))
    return kIpv4Ok;
  if (sc & addr_class::martian_src) return {false, Drop::martian_source};
  const Ipv4Verdict dv = ipv4_check_destination(dst);
  if (!dv.ok) return dv;
  return {false, Drop::link_local};  // the source is 169.254/16
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Decrementing the TTL lowers the 16-bit word
// (TTL, protocol) by 0x0100, so ~m + m' is the constant 0xfeff. Never produces 0xffff
// where a full recompute would give 0x0000 (see the exhaustive unit test).
ROUTERD_ALWAYS_INLINE void ipv4_decrement_ttl(rte_ipv4_hdr* ip) {
  ip->time_to_live--;
  uint32_t sum = uint32_t(uint16_t(~rte_be_to_cpu_16(ip->hdr_checksum))) + 0xfeffu;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  ip->hdr_checksum = rte_cpu_to_be_16(uint16_t(~sum));
}

// ipv4_decrement_ttl for a TTL of at least 1, as one 32-bit read-modify-write of the TTL,
// protocol and checksum bytes (the same RFC 1624 eqn. 3 result, bit for bit: see the unit
// test). On a little-endian CPU the checksum sits byte-swapped in bits 16-31 of that word;
// one's-complement sums do not mind byte order, so m' - m, 0xfeff, becomes 0xfffe there.
// The sum is formed in the complement, as eqn. 3 does, so it never writes 0xffff.
ROUTERD_ALWAYS_INLINE void ipv4_decrement_live_ttl(rte_ipv4_hdr* ip) {
#if RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN
  uint32_t w;
  std::memcpy(&w, &ip->time_to_live, 4);
  uint64_t x = uint64_t(w ^ 0xffff0000u) + 0xfffe0000u - 1;  // ~HC + 0xfeff; TTL - 1
  x = (x & 0xffffffffu) + ((x >> 32) << 16);                 // end-around carry
  w = uint32_t(x) ^ 0xffff0000u;
  std::memcpy(&ip->time_to_live, &w, 4);
#else
  ipv4_decrement_ttl(ip);
#endif
}

// Full header checksum, for headers the router writes (field must be zero on entry). The
// value is in network byte order already (rte_raw_cksum sums words as they lie in memory):
// store it as is.
inline uint16_t ipv4_header_checksum(const rte_ipv4_hdr* ip) {
  uint16_t c = rte_raw_cksum(ip, uint32_t(ip->version_ihl & 0xf) * 4);
  return c == 0xffff ? c : uint16_t(~c);
}

inline bool ipv4_is_fragment(const rte_ipv4_hdr* ip) {
  return (ip->fragment_offset &
          rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG)) != 0;
}
inline bool ipv4_is_later_fragment(const rte_ipv4_hdr* ip) {
  return (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) != 0;
}
// One past the last byte of the datagram this fragment carries (offset + payload).
inline uint32_t ipv4_fragment_end(const rte_ipv4_hdr* ip) {
  return uint32_t(rte_be_to_cpu_16(ip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) * 8 +
         rte_be_to_cpu_16(ip->total_length) - uint32_t(ip->version_ihl & 0xf) * 4;
}
inline bool ipv4_df(const rte_ipv4_hdr* ip) {
  return (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) != 0;
}

// Result of walking the options of a header with IHL > 5.
struct OptionsVerdict {
  enum Kind : uint8_t { ok, source_route, malformed } kind;
  uint8_t pointer;  // malformed: offset of the offending byte from the start of the header
};

// RFC 1812 5.2.4 / RFC 791: bounds-checked walk of the option bytes (the caller guarantees
// IHL*4 bytes are readable). Unknown options pass (5.3.13); LSRR/SSRR are reported so the
// caller can drop them (RFC 7126 4.3/4.4); a length below 2 or past the header is
// malformed and reported with a pointer for Parameter Problem.
OptionsVerdict ipv4_check_options(const rte_ipv4_hdr* ip);

}  // namespace routerd
