// tunnel: GRE over IPv4 (RFC 2784, keys and sequence numbers of RFC 2890) as byte operations
// on mbufs, the published view of a tunnel, and the outer-path cache workers keep per tunnel.
// Encapsulation and parsing never allocate, lock or log; a cached outer path is valid exactly
// while the generation it was resolved at is current, and nesting through tunnels is bounded.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "compiler.hpp"
#include "stats.hpp"

namespace routerd {

// Tunnels are interfaces with port ids of their own, above every ethdev's (Debian's DPDK
// numbers ethdevs from 0, and routerd starts few): per-port counters, addresses, routes
// "dev gre1" and ICMP source selection work for them unchanged.
constexpr uint16_t kTunnelBase = 16;
constexpr uint16_t kMaxTunnels = uint16_t(kMaxPorts) - kTunnelBase;
static_assert(kTunnelBase < kMaxPorts);
constexpr bool is_tunnel_port(uint32_t port) {
  return port >= kTunnelBase && port < kMaxPorts;
}

// A tunnel nested in tunnels (its outer route through another tunnel) is encapsulated at
// most this deep; deeper, or back through a tunnel already on the way, is a loop.
constexpr uint32_t kMaxTunnelNest = 4;

constexpr uint8_t kIpProtoGre = 47;
constexpr uint16_t kGreFlagC = 0x8000;  // checksum present (RFC 2784)
constexpr uint16_t kGreFlagK = 0x2000;  // key present (RFC 2890)
constexpr uint16_t kGreFlagS = 0x1000;  // sequence number present (RFC 2890)
// RFC 2784 2.3: bits 1-5 nonzero (routing, strict source route, recursion of RFC 1701),
// except K and S (RFC 2890), or a version other than 0: discarded.
constexpr uint16_t kGreMustBeZero = 0x4000 | 0x0800 | 0x0400 | 0x0007;

// What a worker reads of one tunnel (IfSnapshot::tunnels, by port id - kTunnelBase).
// Addresses in host order.
struct TunnelFastInfo {
  bool enabled = false;
  bool has_key = false;
  bool csum = false;  // send the GRE checksum (received ones are checked either way)
  bool seq = false;   // send sequence numbers (received ones are accepted, not reordered)
  uint8_t ttl = 64;   // outer TTL; 0: inherit the inner packet's
  uint32_t local = 0, remote = 0;
  uint32_t key = 0;
  uint16_t mtu = 0;   // configured tunnel MTU; 0: derived from the outer path
  uint16_t pmtu = 0;  // path MTU to `remote` learnt from Fragmentation Needed; 0: none
  // pmtu was reported below the floor and raised to it: the outer header goes without DF,
  // so the hop that reported it can fragment what the floor lets through.
  bool pmtu_locked = false;
};
// The outer header's fragment field: DF, unless the path MTU is locked.
constexpr uint16_t outer_frag_field(const TunnelFastInfo& t) {
  return t.pmtu_locked ? 0 : RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
}

// Bytes the tunnel adds in front of the inner packet: outer IPv4 header and GRE header.
constexpr uint32_t gre_overhead(const TunnelFastInfo& t) {
  return uint32_t(sizeof(rte_ipv4_hdr)) + 4 + (t.has_key ? 4 : 0) + (t.csum ? 4 : 0) +
         (t.seq ? 4 : 0);
}

// One worker's view of a tunnel's outer path, resolved from the FIB (and the tunnel's
// learnt PMTU) at generation `gen` and used as-is while the generation stays there.
struct OuterPath {
  enum Kind : uint8_t {
    none,        // no usable route to the remote (or it is the router's own): dropped
    direct,      // resolved: l2 and port as a forward next hop has them
    unresolved,  // the outer next hop needs ARP: encapsulated packets go to control
    via_tunnel,  // the outer route leads into tunnel `via` (port kTunnelBase + via)
    loop,        // the outer route leads back into this tunnel
  };
  uint64_t gen = 0;  // 0: never resolved (generations start at 1)
  Kind kind = none;
  uint8_t l2[14] = {};
  uint16_t port = 0;
  uint16_t mtu = 0;  // outer path MTU: the next hop's, lowered by the learnt PMTU
  uint16_t via = 0;
  uint32_t nh_id = 0;
  // A direct path of a tunnel with a fixed TTL and neither checksum nor sequence numbers
  // (hlen != 0): the whole header, Ethernet + outer IPv4 + GRE, as every packet gets it but
  // for the IPv4 total length, identification and checksum (zero here; sum0 is the one's
  // complement sum of the rest), and the tunnel MTU. gre_encap_fast writes it.
  uint8_t hlen = 0;  // 14 + the tunnel's overhead; 0: no template, use gre_encap
  uint16_t tmtu = 0;
  uint32_t sum0 = 0;
  alignas(16) uint8_t hdr[64] = {};
};

// The inner MTU of a tunnel whose outer path MTU is outer_mtu: the configured one if it is
// smaller, else what fits the outer path after the headers (RFC 4459 3.2: as Linux derives it).
constexpr uint32_t tunnel_mtu(const TunnelFastInfo& t, uint32_t outer_mtu) {
  const uint32_t oh = gre_overhead(t);
  const uint32_t derived = outer_mtu > oh + 68 ? outer_mtu - oh : 68;
  return t.mtu && t.mtu < derived ? t.mtu : derived;
}

// Prepends the GRE header and the outer IPv4 header to the IP packet that follows m's
// 14-byte Ethernet header, and writes `l2` (the outer next hop's Ethernet header) in front.
// inner_type: the inner EtherType in network order (GRE's protocol type); ip_id: the outer
// identification; seq: the sequence number, when t.seq. DF is set on the outer header so
// the underlay's Fragmentation Needed teaches the tunnel its path MTU (unless it is locked). False,
// with m unchanged, when m lacks the headroom (the caller drops it).
ROUTERD_ALWAYS_INLINE bool gre_encap(rte_mbuf* m, const TunnelFastInfo& t, const uint8_t* l2,
                                     uint16_t inner_type, uint16_t ip_id, uint32_t seq) {
  const uint32_t oh = gre_overhead(t);
  const uint32_t inner_len = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN;
  const uint8_t* inner = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
  // The inner TTL or hop limit, for "inherit", read before the headers go over it.
  const uint8_t inner_ttl = inner_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) ? inner[8] : inner[7];
  auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(oh)));
  if (__builtin_expect(eth == nullptr, 0)) return false;
  std::memcpy(eth, l2, RTE_ETHER_HDR_LEN);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + RTE_ETHER_HDR_LEN);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(uint16_t(inner_len + oh));
  ip->packet_id = rte_cpu_to_be_16(ip_id);
  ip->fragment_offset = outer_frag_field(t);
  ip->time_to_live = t.ttl ? t.ttl : inner_ttl;
  ip->next_proto_id = kIpProtoGre;
  ip->hdr_checksum = 0;
  ip->src_addr = rte_cpu_to_be_32(t.local);
  ip->dst_addr = rte_cpu_to_be_32(t.remote);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* gre = reinterpret_cast<uint8_t*>(ip + 1);
  const uint16_t flags =
      uint16_t((t.csum ? kGreFlagC : 0) | (t.has_key ? kGreFlagK : 0) | (t.seq ? kGreFlagS : 0));
  const uint16_t fl_be = rte_cpu_to_be_16(flags);
  std::memcpy(gre, &fl_be, 2);
  std::memcpy(gre + 2, &inner_type, 2);
  uint8_t* opt = gre + 4;
  uint8_t* ck = nullptr;
  if (t.csum) {
    ck = opt;
    std::memset(opt, 0, 4);  // checksum and Reserved1, zero while summing
    opt += 4;
  }
  if (t.has_key) {
    const uint32_t k = rte_cpu_to_be_32(t.key);
    std::memcpy(opt, &k, 4);
    opt += 4;
  }
  if (t.seq) {
    const uint32_t s = rte_cpu_to_be_32(seq);
    std::memcpy(opt, &s, 4);
  }
  if (ck) {
    // RFC 2784 2.5: the one's complement sum of the GRE header and payload.
    const uint16_t sum = rte_raw_cksum(gre, inner_len + oh - sizeof(rte_ipv4_hdr));
    const uint16_t c = uint16_t(~sum);
    std::memcpy(ck, &c, 2);
  }
  return true;
}

// Fills p's header template (see OuterPath) for tunnel t when its options allow one; the
// path's kind, l2 and mtu must be set.
inline void outer_template(OuterPath& p, const TunnelFastInfo& t) {
  p.hlen = 0;
  if (p.kind != OuterPath::direct || t.ttl == 0 || t.csum || t.seq) return;
  p.tmtu = uint16_t(tunnel_mtu(t, p.mtu));
  std::memcpy(p.hdr, p.l2, RTE_ETHER_HDR_LEN);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p.hdr + RTE_ETHER_HDR_LEN);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->fragment_offset = outer_frag_field(t);
  ip->time_to_live = t.ttl;
  ip->next_proto_id = kIpProtoGre;
  ip->src_addr = rte_cpu_to_be_32(t.local);
  ip->dst_addr = rte_cpu_to_be_32(t.remote);
  p.sum0 = rte_raw_cksum(ip, sizeof *ip);
  uint8_t* gre = p.hdr + RTE_ETHER_HDR_LEN + sizeof *ip;
  const uint16_t fl = rte_cpu_to_be_16(t.has_key ? kGreFlagK : 0);
  const uint16_t proto = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  std::memcpy(gre, &fl, 2);
  std::memcpy(gre + 2, &proto, 2);
  if (t.has_key) {
    const uint32_t k = rte_cpu_to_be_32(t.key);
    std::memcpy(gre + 4, &k, 4);
  }
  p.hlen = uint8_t(RTE_ETHER_HDR_LEN + gre_overhead(t));
}

// gre_encap through a path's template: the same bytes for the tunnels it serves, with the
// header copied whole and the checksum finished from sum0. v6: the inner packet is IPv6.
// False, m unchanged, without the headroom.
ROUTERD_ALWAYS_INLINE bool gre_encap_fast(rte_mbuf* m, const OuterPath& p, bool v6,
                                          uint16_t ip_id) {
  const uint32_t total = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN + (p.hlen - RTE_ETHER_HDR_LEN);
  auto* eth =
      reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(p.hlen - RTE_ETHER_HDR_LEN)));
  if (__builtin_expect(eth == nullptr, 0)) return false;
  // 38 to 42 bytes: no checksum, no sequence number. A fixed 32 and the rest, so as not to
  // overwrite the inner packet that follows.
  std::memcpy(eth, p.hdr, 32);
  std::memcpy(eth + 32, p.hdr + 32, size_t(p.hlen) - 32);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + RTE_ETHER_HDR_LEN);
  ip->total_length = rte_cpu_to_be_16(uint16_t(total));
  ip->packet_id = rte_cpu_to_be_16(ip_id);
  uint32_t sum = p.sum0 + ip->total_length + ip->packet_id;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  ip->hdr_checksum = uint16_t(~sum);
  if (v6) reinterpret_cast<uint16_t*>(ip + 1)[1] = RTE_BE16(RTE_ETHER_TYPE_IPV6);
  return true;
}

// A GRE header as received.
struct GreInfo {
  uint16_t proto = 0;  // protocol type, network order
  bool has_key = false;
  uint32_t key = 0;   // host order
  uint32_t hlen = 0;  // GRE header bytes (4 to 16)
};

enum class GreParse : uint8_t { ok, bad_header, bad_checksum };

// Parses the GRE header at gre, len bytes of GRE header and payload, contiguous; checks the
// checksum when present.
ROUTERD_ALWAYS_INLINE GreParse gre_parse(const uint8_t* gre, uint32_t len, GreInfo* out) {
  if (len < 4) return GreParse::bad_header;
  uint16_t fl_be;
  std::memcpy(&fl_be, gre, 2);
  const uint16_t flags = rte_be_to_cpu_16(fl_be);
  if (flags & kGreMustBeZero) return GreParse::bad_header;
  const bool c = flags & kGreFlagC, k = flags & kGreFlagK, s = flags & kGreFlagS;
  const uint32_t hlen = 4 + (c ? 4 : 0) + (k ? 4 : 0) + (s ? 4 : 0);
  if (len < hlen) return GreParse::bad_header;
  if (c && rte_raw_cksum(gre, len) != 0xffff) return GreParse::bad_checksum;
  std::memcpy(&out->proto, gre + 2, 2);
  out->has_key = k;
  out->key = 0;
  if (k) {
    uint32_t kb;
    std::memcpy(&kb, gre + 4 + (c ? 4 : 0), 4);
    out->key = rte_be_to_cpu_32(kb);
  }
  out->hlen = hlen;
  return GreParse::ok;
}

// Which tunnel of t[0..n) a packet from `remote` to `local` with header g belongs to: the
// index, or -1 with *key_mismatch saying whether a tunnel between the two addresses exists
// with another key (or without one), RFC 2890 2.1: the key must match exactly.
ROUTERD_ALWAYS_INLINE int tunnel_match(const TunnelFastInfo* t, uint32_t n, uint32_t local,
                                       uint32_t remote, const GreInfo& g, bool* key_mismatch) {
  bool other_key = false;
  for (uint32_t i = 0; i < n; ++i) {
    if (!t[i].enabled || t[i].local != local || t[i].remote != remote) continue;
    if (t[i].has_key == g.has_key && (!g.has_key || t[i].key == g.key)) return int(i);
    other_key = true;
  }
  *key_mismatch = other_key;
  return -1;
}

}  // namespace routerd
