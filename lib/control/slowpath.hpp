// control/slowpath.hpp: what the slow-path files share about the packets they hold.
// Internal to lib/control.
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "inet.hpp"
#include "inet6.hpp"

namespace routerd::slowpath {

// Who a packet held by the slow path belongs to, kept in the mbuf's application field:
// transit packets still need their TTL decremented when released; router-made ones do not.
constexpr uint32_t kTransit = 0x7472616e;     // "tran"
constexpr uint32_t kOriginated = 0x6f726967;  // "orig"

inline rte_ipv4_hdr* ip_of(rte_mbuf* m) {
  return rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
}

// The IP version of the datagram after the Ethernet header: 4 or 6. An NDP entry may hold
// IPv4 packets too (RFC 5549: an IPv4 route through an IPv6 gateway).
inline uint8_t ip_version(const rte_mbuf* m) {
  return *rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN) >> 4;
}

inline void write_l2(rte_mbuf* m, const Mac& dst, const Mac& src,
                     uint16_t ether_type = RTE_ETHER_TYPE_IPV4) {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  std::memcpy(eth->dst_addr.addr_bytes, dst.b.data(), 6);
  std::memcpy(eth->src_addr.addr_bytes, src.b.data(), 6);
  eth->ether_type = rte_cpu_to_be_16(ether_type);
}

// The datagram m carries (after its Ethernet header) as one piece of *len bytes, for an
// ICMP error to quote: m's first segment when it holds all of it, else a copy of at most
// `cap` bytes in buf (a frame in several segments, from scatter RX), so that the quote goes
// past the first segment.
inline const uint8_t* datagram_for_quote(const rte_mbuf* m, uint8_t* buf, size_t cap, size_t* len) {
  *len = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;
  if (rte_pktmbuf_pkt_len(m) == rte_pktmbuf_data_len(m))
    return rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
  *len = std::min<size_t>(rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN, cap);
  return static_cast<const uint8_t*>(rte_pktmbuf_read(m, RTE_ETHER_HDR_LEN, uint32_t(*len), buf));
}

// The 64-bit key per-source limiters (lib/ratelimit) take for an IPv6 address. Here, not in
// each file: the unity build compiles control6.cpp and originate6.cpp as one unit.
inline uint64_t key_of(const Ipv6& a) {
  return Ipv6Hash{}(a);
}

}  // namespace routerd::slowpath
