// worker/forward: the per-packet stages of the IPv4 fast path, as inline functions that
// give each packet a verdict: forward, drop with a reason, or hand to control with a reason.
// They touch only the packet and immutable shared state; no locks, no allocation, no logs.
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "flow_hash.hpp"
#include "inet6.hpp"
#include "ipv4.hpp"
#include "nexthop.hpp"
#include "route_cache.hpp"
#include "shared_state.hpp"
#include "stats.hpp"
#include "tunnel.hpp"

namespace routerd {

struct Verdict {
  // ipv6: classify() found an IPv6 frame; classify6() judges it. tunnel: into the tunnel
  // the next hop names (lib/tunnel: encapsulated there); decap: GRE for the router, to be
  // matched to a tunnel and decapsulated.
  enum Action : uint8_t { forward, drop, punt, fragment, ipv6, tunnel, decap } action;
  uint8_t reason;  // Drop or Punt, by action
  uint32_t aux;    // punt: see PuntEntry; fragment: the MTU
};

inline Verdict v_drop(Drop d) {
  return {Verdict::drop, uint8_t(d), 0};
}
inline Verdict v_punt(Punt p, uint32_t aux = 0) {
  return {Verdict::punt, uint8_t(p), aux};
}
constexpr Verdict kForward{Verdict::forward, 0, 0};

// How a punt is counted when the worker drops it instead. A punt that would make control
// send an ICMP error is refused once the worker's budget for those (Worker::icmp_token) is
// spent, and is then counted under the drop reason that names the same condition.
// Drop::count marks a punt that is never refused: no error is due, or (a redirect) the
// packet is forwarded without one beyond the budget. A full punt ring drops every punt,
// whatever its reason, as punt_ring_full.
struct PuntAsDrop {
  Punt punt;
  Drop drop;
};
inline constexpr PuntAsDrop kIcmpRefusedAs[] = {
    {Punt::arp, Drop::count},
    {Punt::local, Drop::count},
    {Punt::ttl_exceeded, Drop::ttl_exceeded},
    {Punt::no_route, Drop::no_route},
    {Punt::unresolved, Drop::count},
    {Punt::frag_needed, Drop::frag_needed},
    {Punt::param_problem, Drop::bad_options},
    {Punt::redirect, Drop::count},
    {Punt::ndp, Drop::count},
    {Punt::beyond_scope, Drop::beyond_scope},
    {Punt::hop_by_hop, Drop::count},
    {Punt::prohibited, Drop::prohibited},
    {Punt::unreachable, Drop::unreachable},
    {Punt::link_multicast, Drop::count},
    {Punt::broadcast, Drop::count},
};
static_assert(sizeof(kIcmpRefusedAs) / sizeof(kIcmpRefusedAs[0]) == kPuntCount,
              "one row per Punt value");
static_assert(
    [] {
      for (size_t i = 0; i < kPuntCount; ++i)
        if (kIcmpRefusedAs[i].punt != Punt(i)) return false;
      return true;
    }(),
    "row i is Punt(i), so that the table can be indexed by the enum");

ROUTERD_ALWAYS_INLINE Drop icmp_refused_as(Punt p) {
  return kIcmpRefusedAs[size_t(p)].drop;
}

ROUTERD_ALWAYS_INLINE bool mac_equal(const rte_ether_addr& a, const Mac& b) {
  return std::memcmp(a.addr_bytes, b.b.data(), 6) == 0;
}

// A subnet broadcast address never identifies a sender (RFC 1812 5.3.7), whichever of the
// router's subnets it belongs to; nor does one of the router's own addresses.
ROUTERD_ALWAYS_INLINE bool ipv4_source_refused(uint32_t s, const PortFastInfo& in) {
  for (uint8_t i = 0; i < in.nbcast; ++i)
    if (s == in.bcast[i]) return true;
  return in.refused_src->contains(s);
}

// Stage 1: L2 checks, RFC 1812 validation, address checks, options. On `forward` the
// packet is a valid IPv4 datagram (padding trimmed) whose destination is in *dst.
ROUTERD_ALWAYS_INLINE Verdict classify(rte_mbuf* m, const PortFastInfo& in, bool drop_martians,
                                       uint32_t* dst) {
  uint32_t seg = rte_pktmbuf_data_len(m);
  uint32_t len = rte_pktmbuf_pkt_len(m);
  if (seg < RTE_ETHER_HDR_LEN) return v_drop(Drop::l2_too_short);
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  bool l2_group = rte_is_multicast_ether_addr(&eth->dst_addr);
  // RFC 1812 5.3.4 (and plain Ethernet): a unicast frame for another station is not ours.
  if (!l2_group && !mac_equal(eth->dst_addr, in.mac)) return v_drop(Drop::l2_other_host);
  if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) return v_punt(Punt::arp);
  if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) return {Verdict::ipv6, 0, 0};
  if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4)) return v_drop(Drop::ethertype_unsupported);

  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  Ipv4Verdict iv = ipv4_validate(ip, seg - RTE_ETHER_HDR_LEN, len - RTE_ETHER_HDR_LEN,
                                 m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK);
  if (!iv.ok) return v_drop(iv.reason);
  uint32_t total = rte_be_to_cpu_16(ip->total_length);
  // RFC 791: a datagram is at most 65,535 bytes, so no fragment of one ends past that. One
  // that does (the "ping of death") would overflow a reassembly buffer downstream, and
  // refragmenting it here would wrap the 13-bit offset.
  if (ipv4_is_later_fragment(ip) && ipv4_fragment_end(ip) > 65535)
    return v_drop(Drop::ipv4_bad_fragment);
  if (len - RTE_ETHER_HDR_LEN > total) {
    // RFC 1812 5.2.2: link-layer padding is not part of the datagram.
    if (rte_pktmbuf_trim(m, uint16_t(len - RTE_ETHER_HDR_LEN - total)) != 0)
      return v_drop(Drop::ipv4_headers_split);
  }

  uint32_t s = rte_be_to_cpu_32(ip->src_addr);
  uint32_t d = rte_be_to_cpu_32(ip->dst_addr);
  Ipv4Verdict av = ipv4_check_addresses(s, d);
  // The martian switch lets a martian source through to be forwarded, not what its
  // destination is, and not to the kernel interfaces.
  const bool martian_src = !av.ok && av.reason == Drop::martian_source;
  if (martian_src && !drop_martians) av = ipv4_check_destination(d);
  if (!av.ok) {
    // 224.0.0.0/24 is link-local multicast, never forwarded (RFC 5771): OSPF, VRRP, RIP to
    // the kernel interfaces when they are on (control checks the allow list). So is
    // 255.255.255.255, which is for the router alone (RFC 1812 5.3.5.1): DHCP, RIPv1.
    const bool for_kernel =
        !martian_src && ((av.reason == Drop::multicast_destination && (d >> 8) == 0xe00000) ||
                         av.reason == Drop::limited_broadcast);
    if (for_kernel && in.link_multicast)
      return ipv4_source_refused(s, in) ? v_drop(Drop::martian_source)
                                        : v_punt(Punt::link_multicast);
    // 169.254/16 is not a martian the switch may let through: RFC 3927 7 forbids forwarding
    // it whatever the configuration.
    if (drop_martians || av.reason != Drop::martian_destination) return v_drop(av.reason);
  }
  if (ipv4_source_refused(s, in)) return v_drop(Drop::martian_source);
  // 5.3.4: a link-layer broadcast must not be forwarded unless the IP destination is
  // multicast, which was dropped above. A broadcast to this link's own subnet is for the
  // router (5.3.5.2), like 255.255.255.255.
  if (l2_group) {
    for (uint8_t i = 0; i < in.nbcast; ++i)
      if (d == in.bcast[i])
        return in.link_multicast && !martian_src ? v_punt(Punt::link_multicast)
                                                 : v_drop(Drop::link_broadcast);
    return v_drop(Drop::l2_bcast_unicast_ip);
  }
  if (__builtin_expect(ip->version_ihl != RTE_IPV4_VHL_DEF, 0)) {
    OptionsVerdict ov = ipv4_check_options(ip);
    if (ov.kind == OptionsVerdict::source_route) return v_drop(Drop::source_route);
    if (ov.kind == OptionsVerdict::malformed) return v_punt(Punt::param_problem, ov.pointer);
  }
  *dst = d;
  return kForward;
}

// What classify_fast needs of the input port, built once per burst.
struct FastKey {
  // Bytes 0-15 of the frame as the fast path wants them where kL2Bytes says: destination
  // MAC = the port's, EtherType IPv4, version 4 with IHL 5.
  alignas(16) uint8_t want[16];
  static constexpr uint32_t kL2Bytes = 0x703f;  // bytes 0-5, 12, 13, 14
  // Source and destination as [src, dst, src, src] (network order) are bad where, under
  // amask, they equal awant: 169.254/16 twice, then the port's two subnet broadcasts.
  alignas(16) uint32_t amask[4];
  alignas(16) uint32_t awant[4];
  uint64_t mac48;                // the MAC again, for the scalar build
  uint32_t bcast0, bcast1;       // subnet broadcasts, host order (0 when unused)
  uint32_t slow;                 // nonzero: the port has more than two broadcasts, ask classify()
  const uint64_t* refused_bits;  // RefusedSources::bits of every port's broadcasts
};

inline FastKey fast_key(const PortFastInfo& in) {
  FastKey k{};
  std::memcpy(k.want, in.mac.b.data(), 6);
  k.want[12] = 0x08;
  k.want[13] = 0x00;
  k.want[14] = RTE_IPV4_VHL_DEF;
  std::memcpy(&k.mac48, in.mac.b.data(), 6);
  k.bcast0 = in.bcast[0];
  k.bcast1 = in.bcast[1];
  k.slow = in.nbcast > 2;
  k.refused_bits = in.refused_src->bits;
  k.amask[0] = k.amask[1] = rte_cpu_to_be_32(0xffff0000u);
  k.awant[0] = k.awant[1] = rte_cpu_to_be_32(0xa9fe0000u);
  k.amask[2] = k.amask[3] = 0xffffffffu;
  k.awant[2] = rte_cpu_to_be_32(in.bcast[0]);
  k.awant[3] = rte_cpu_to_be_32(in.bcast[1]);
  return k;
}

// 1 when a == b, else 0, without a flag-to-register round trip per comparison.
ROUTERD_ALWAYS_INLINE uint64_t eq_bit(uint32_t a, uint32_t b) {
  return (uint64_t(a ^ b) - 1) >> 63;
}

// What the RX checksum flags of a whole burst say, so the loop tests only what it must.
enum class CkFlags : uint8_t {
  none,   // every packet UNKNOWN (software devices): verify every sum
  good,   // every packet GOOD (a NIC with RX checksum offload): no sums
  mixed,  // anything else: per packet
};

// Also prefetches each packet's first data line: the flags sit in the mbuf line that
// locates the data.
ROUTERD_ALWAYS_INLINE CkFlags scan_burst(rte_mbuf* const* pkts, uint16_t n) {
  uint64_t any = 0, all = RTE_MBUF_F_RX_IP_CKSUM_MASK;
  for (uint16_t i = 0; i < n; ++i) {
    rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    const uint64_t f = pkts[i]->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    any |= f;
    all &= f;
  }
  if (any == 0) return CkFlags::none;
  if (any == RTE_MBUF_F_RX_IP_CKSUM_GOOD && all == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
    return CkFlags::good;
  return CkFlags::mixed;
}

// Stage 1, fast path: the common case as one accumulated "bad" word, no branch: a unicast
// IPv4 frame for this port, IHL 5, checksum right (or GOOD from the NIC), total length
// exactly the frame's, ordinary unicast addresses. True means classify() would say
// `forward` with the same destination (a unit test holds it to that); false means "ask
// classify()", which names the reason. Ck must be what scan_burst says of m's burst.
template <CkFlags Ck = CkFlags::mixed>
ROUTERD_ALWAYS_INLINE bool classify_fast(const rte_mbuf* m, const FastKey& key, uint32_t* dst) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  // Reading 34 bytes is safe whatever data_len says: RX mbufs come from routerd's pool,
  // whose buffers are larger; the length test below rejects short frames.
  uint64_t h0, h1;
  uint32_t h2;
  std::memcpy(&h0, p + 14, 8);  // version/IHL, TOS, total length, id, fragment
  std::memcpy(&h1, p + 22, 8);  // TTL, protocol, checksum, source
  std::memcpy(&h2, p + 30, 4);  // destination
  const uint32_t total = rte_be_to_cpu_16(uint16_t(h0 >> 16));
  // A later fragment (offset not 0) asks classify(), which checks where it ends.
  uint64_t later = (h0 >> 48) & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK);
#if defined(__SSE2__)
  // Nine bytes of L2 and IP header compared at once, then four address equalities.
  const __m128i l2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const uint32_t same =
      uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(l2, *reinterpret_cast<const __m128i*>(key.want))));
  uint64_t bad = ~same & FastKey::kL2Bytes;
  const __m128i a = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18)),
                                      _MM_SHUFFLE(2, 2, 3, 2));
  const __m128i hit =
      _mm_cmpeq_epi32(_mm_and_si128(a, *reinterpret_cast<const __m128i*>(key.amask)),
                      *reinterpret_cast<const __m128i*>(key.awant));
  bad |= uint32_t(_mm_movemask_ps(_mm_castsi128_ps(hit)));
#else
  uint64_t d0;
  uint16_t et;
  std::memcpy(&d0, p, 8);
  std::memcpy(&et, p + 12, 2);
  uint64_t bad = ((d0 ^ key.mac48) & 0xffffffffffffull) | (et ^ RTE_BE16(RTE_ETHER_TYPE_IPV4)) |
                 ((h0 & 0xff) ^ RTE_IPV4_VHL_DEF);
  const uint32_t src = rte_be_to_cpu_32(uint32_t(h1 >> 32));
  bad |= eq_bit(src >> 16, 0xa9fe) | eq_bit(rte_be_to_cpu_32(h2) >> 16, 0xa9fe) |
         eq_bit(src, key.bcast0) | eq_bit(src, key.bcast1);
#endif
  if constexpr (Ck != CkFlags::good) {
    // The one's-complement sum (RFC 1071) of a right header is 0xffff, that is, the plain
    // sum of its words is a nonzero multiple of 0xffff (2^16 = 1 mod 0xffff, so 32-bit
    // words do). Nonzero: byte 14 is 0x45 whenever the rest passes.
    const uint64_t sum = (h0 & 0xffffffff) + (h0 >> 32) + (h1 & 0xffffffff) + (h1 >> 32) + h2;
    const uint64_t sum_bad = sum % 0xffff != 0;
    if constexpr (Ck == CkFlags::none) {
      bad |= sum_bad;
    } else {
      const uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
      bad |= uint64_t(ck == RTE_MBUF_F_RX_IP_CKSUM_BAD) |
             (uint64_t(ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD) & sum_bad);
    }
  }
  // pkt_len >= data_len >= 34 with pkt_len = total + 14 also gives total >= 20.
  bad |= ((uint64_t(rte_pktmbuf_data_len(m)) - (RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr))) >> 63) |
         (rte_pktmbuf_pkt_len(m) ^ (total + RTE_ETHER_HDR_LEN));
  // The first octets of source (byte 26) and destination (byte 30).
  bad |= kFirstOctet.c[p[26]] | kFirstOctet.c[p[30]] | key.slow | later;
  // A source that may be a broadcast or address of the router (one L1-resident bit; see
  // RefusedSources).
  const uint32_t bslot = RefusedSources::slot(rte_be_to_cpu_32(uint32_t(h1 >> 32)));
  bad |= (key.refused_bits[bslot / 64] >> (bslot % 64)) & 1;
  *dst = rte_be_to_cpu_32(h2);
  return bad == 0;
}

// The flow hash of a classified IPv4 packet: the NIC's RSS hash, keyed, when the port
// delivered one and `rss` allows it, else routerd's own. A fragment always gets routerd's
// L3-only hash, whatever the NIC did (NICs hash a first fragment with its ports and the
// rest without), so a datagram's fragments never split across paths.
ROUTERD_ALWAYS_INLINE uint32_t flow_hash4(const rte_mbuf* m, const ecmp::FlowKey& key, bool rss) {
  auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  const bool frag = (ip->fragment_offset & RTE_BE16(0x3fff)) != 0;
  if (rss && (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) && !frag)
    return ecmp::mix_rss(key, m->hash.rss);
  return ecmp::flow_hash4(key, ip, rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN);
}
// Stage 1 hashes every packet with routerd's own hash (the branch-free variants), unless the
// burst's first packet carries an RSS hash (rss_burst): then it mixes each packet's RSS
// hash (rss_flow) and marks the packets that need routerd's own instead, a fragment or one
// without an RSS hash, for redo_flows. A burst whose first packet had none but others do is
// hashed again by flow_hash4(m) / flow_hash6(m) (rss_flows, `hash`), which use them as they
// would anywhere; other bursts pay one OR a packet for that check, off the loop.
ROUTERD_ALWAYS_INLINE bool rss_burst(rte_mbuf* const* pkts, uint16_t n, const uint32_t* flows,
                                     bool rss) {
  return flows && rss && n != 0 && (pkts[0]->ol_flags & RTE_MBUF_F_RX_RSS_HASH) != 0;
}
// flows[i] from packet i's RSS hash; bit i of the answer set when that is not the flow's hash.
ROUTERD_ALWAYS_INLINE uint64_t rss_flow(const rte_mbuf* m, const ecmp::FlowKey& key, bool frag,
                                        uint32_t* flow, uint16_t i) {
  *flow = ecmp::mix_rss(key, m->hash.rss);
  return uint64_t(((m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) == 0) | frag) << i;
}
template <class Hash>
ROUTERD_ALWAYS_INLINE void redo_flows(rte_mbuf* const* pkts, uint64_t redo, uint32_t* flows,
                                      Hash hash) {
  for (; redo != 0; redo &= redo - 1) {
    const unsigned i = unsigned(__builtin_ctzll(redo));
    flows[i] = hash(pkts[i]);
  }
}
template <class Hash>
ROUTERD_ALWAYS_INLINE void rss_flows(rte_mbuf* const* pkts, uint16_t n, uint32_t* flows,
                                     Hash hash) {
  uint64_t any = 0;
  for (uint16_t i = 0; i < n; ++i) any |= pkts[i]->ol_flags;
  if (__builtin_expect((any & RTE_MBUF_F_RX_RSS_HASH) != 0, 0))
    for (uint16_t i = 0; i < n; ++i) flows[i] = hash(pkts[i]);
}
// Stage 1 over a burst, fast path only: dst[i] for every packet, and a bit per packet that
// classify_fast did not pass (for classify() to judge). With `cache`, the burst is to be
// looked up through that route cache: sets[i] is destination i's set, already being fetched
// (the lookup takes them rather than hashing every destination again).
// With `flows`, flows[i] is packet i's ECMP flow hash (flow_hash4 under fkey and rss; only
// meaningful for the packets it passes): here each hash's multiplies overlap independent
// work, where after the lookup they lengthen the chain that picks the member.
template <CkFlags Ck>
ROUTERD_ALWAYS_INLINE uint64_t classify_burst(rte_mbuf* const* pkts, uint16_t n, const FastKey& key,
                                              uint32_t* dst, const RouteCache* cache = nullptr,
                                              uint32_t* sets = nullptr, uint32_t* flows = nullptr,
                                              const ecmp::FlowKey* fkey = nullptr,
                                              bool rss = false) {
  uint64_t slow = 0;
  // A burst from a port that delivers RSS hashes (its first packet has one) takes them
  // instead of routerd's own hash, most of what ECMP costs a packet (docs/performance.md,
  // "ECMP").
  const bool from_rss = rss_burst(pkts, n, flows, rss);
  uint64_t redo = 0;
  for (uint16_t i = 0; i < n; ++i) {
    slow |= uint64_t(!classify_fast<Ck>(pkts[i], key, &dst[i])) << i;
    if (cache) {
      sets[i] = cache->set_of(dst[i]);
      cache->prefetch_set(sets[i]);
    }
    // flow_hash4(m) for the packets classify_fast passes (IHL 5), with no branch per packet.
    if (flows) {
      auto* ip = rte_pktmbuf_mtod_offset(pkts[i], const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
      if (from_rss)
        redo |=
            rss_flow(pkts[i], *fkey, (ip->fragment_offset & RTE_BE16(0x3fff)) != 0, &flows[i], i);
      else
        flows[i] =
            ecmp::flow_hash4_ihl5(*fkey, ip, rte_pktmbuf_data_len(pkts[i]) - RTE_ETHER_HDR_LEN);
    }
  }
  auto own = [fkey](const rte_mbuf* m) { return flow_hash4(m, *fkey, true); };
  if (from_rss)
    redo_flows(pkts, redo, flows, own);
  else if (flows && rss)
    rss_flows(pkts, n, flows, own);
  return slow;
}

// A flow's train of packets, as the first packet of a burst defines it: a packet belongs
// when its first 34 bytes are the first packet's except the IP identification and
// checksum, its lengths are the same and its checksum is right. If classify_fast<Ck> said
// yes to the first packet, each packet the train admits passes every check the first one
// passed, with the same destination, TTL and length, so it gets the same next hop and the
// same treatment. Ck must be none or good (with mixed flags it admits nothing).
struct Train {
#if defined(__SSE2__)
  __m128i a0, b0;  // bytes 0-15 and 16-31 of the first packet
#endif
  uint64_t len0;  // pkt_len and data_len of the first packet
  uint64_t t0;    // its identification + checksum, plus 2 x 0xffff
  uint16_t c0;    // its bytes 32-33

  // pkt_len, data_len (and vlan_tci) of the mbuf: one 8-byte load from pkt_len on.
  static ROUTERD_ALWAYS_INLINE uint64_t lens(const rte_mbuf* m) {
    static_assert(offsetof(rte_mbuf, data_len) == offsetof(rte_mbuf, pkt_len) + 4);
    uint64_t v;
    std::memcpy(&v, &m->pkt_len, 8);
    return v & 0xffffffffffffull;
  }
  // With everything else equal, a header's word sum differs from the first packet's (a
  // multiple of 0xffff) by the change in identification plus checksum (as little-endian
  // words: a congruence mod 0xffff does not mind the byte order). So a right checksum is
  // one whose identification + checksum is congruent to the first packet's.
  static ROUTERD_ALWAYS_INLINE uint64_t idck(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p + 18, 8);  // identification .. checksum
    return (v & 0xffff) + (v >> 48);
  }

  explicit Train(const rte_mbuf* first) {
    const uint8_t* p = rte_pktmbuf_mtod(first, const uint8_t*);
#if defined(__SSE2__)
    a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
#endif
    std::memcpy(&c0, p + 32, 2);
    len0 = lens(first);
    t0 = idck(p) + 2 * 0xffff;  // keeps the difference in admits() non-negative
  }

  template <CkFlags Ck>
  ROUTERD_ALWAYS_INLINE bool admits(const rte_mbuf* m) const {
#if defined(__SSE2__)
    if constexpr (Ck == CkFlags::mixed) return false;
    const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
    // Bytes 18-19 (identification) and 24-25 (checksum) may differ: they compare as equal.
    const __m128i free_b = _mm_setr_epi8(0, 0, -1, -1, 0, 0, 0, 0, -1, -1, 0, 0, 0, 0, 0, 0);
    const __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), a0);
    const __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), b0);
    uint16_t c;
    std::memcpy(&c, p + 32, 2);
    uint64_t bad = uint32_t(_mm_movemask_epi8(_mm_and_si128(a, _mm_or_si128(b, free_b)))) ^ 0xffff;
    bad |= uint64_t(c ^ c0) | (lens(m) ^ len0);
    if constexpr (Ck == CkFlags::none) bad |= (t0 - idck(p)) % 0xffff;
    return bad == 0;
#else
    (void)m;
    return false;
#endif
  }
};

// The next-hop table's address and size, read once for a loop of lookups: each acquire
// load would otherwise make the compiler read both again (worker-bench: 1.1-2.2 % of the
// uniform rate, with one next hop and with ECMP).
struct States {
  const std::atomic<const NextHopState*>* slots;
  uint32_t size;
  explicit States(const SharedState& dp) : slots(dp.nexthops.slots()), size(dp.nexthops.size()) {}
  ROUTERD_ALWAYS_INLINE const NextHopState* of(uint64_t stored) const {
    const uint32_t id = Fib::decode(stored);
    return id != Fib::kNoRoute && id < size ? slots[id].load(std::memory_order_acquire) : nullptr;
  }
};
// The next-hop state of a FIB answer: nullptr for "no route" (and for an id whose slot is
// empty, which a reader can see only for an id the FIB no longer maps).
ROUTERD_ALWAYS_INLINE const NextHopState* state_of(const SharedState& dp, uint64_t stored) {
  return States(dp).of(stored);
}

// ---------------------------------------------------------------- ECMP

// IPv6: a Fragment header straight after the fixed one makes it a fragment.
ROUTERD_ALWAYS_INLINE uint32_t flow_hash6(const rte_mbuf* m, const ecmp::FlowKey& key, bool rss) {
  auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, RTE_ETHER_HDR_LEN);
  if (rss && (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) && ip->proto != IPPROTO_FRAGMENT)
    return ecmp::mix_rss(key, m->hash.rss);
  return ecmp::flow_hash6(key, ip, rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN);
}
// The member of group state g that a flow hashing to h takes, its slot id appended to
// picked[] for count_members() after the burst. nullptr when the member's slot has just
// been released (the reader then sees "no route" and control, as for any empty slot,
// decides again with the current tables).
ROUTERD_ALWAYS_INLINE const NextHopState* group_member(const States& states, const NextHopState* g,
                                                       uint32_t h, uint32_t* picked,
                                                       uint16_t& npicked) {
  const uint32_t id = g->group->pick(h);
  picked[npicked++] = id;
  return states.slots[id].load(std::memory_order_acquire);
}
// Counted once per burst, off the packets' path: a counter store per packet may alias
// st's fields, which made the compiler reload the array pointer for every packet, and two
// packets to one member made a load-store chain (about a third of ECMP's added cycles).
ROUTERD_ALWAYS_INLINE void count_members(LcoreStats& st, const uint32_t* picked, uint16_t n) {
  if (n == 0) return;
  Counter* const via = st.via_group.get();
  for (uint16_t i = 0; i < n; ++i) via[picked[i]].add();
}

// An IPv6 destination as rte_fib6_lookup_bulk reads it (uint8_t[16], network order).
struct Dst6 {
  uint8_t b[16];
};
static_assert(sizeof(Dst6) == 16);

ROUTERD_ALWAYS_INLINE uint32_t cache_key(uint32_t d) {
  return d;
}
ROUTERD_ALWAYS_INLINE const uint8_t* cache_key(const Dst6& d) {
  return d.b;
}
// A cache hit's state, nullptr on a miss. The IPv6 cache holds next-hop ids: a hit reads the
// id's slot as a FIB answer would (an empty slot then reads as a miss).
ROUTERD_ALWAYS_INLINE const NextHopState* cache_get(const States&, const RouteCache& c,
                                                    uint32_t set, uint32_t dst, uint64_t gen,
                                                    bool* stale) {
  return c.lookup_in(set, dst, gen, stale);
}
ROUTERD_ALWAYS_INLINE const NextHopState* cache_get(const States& states, const RouteCache6& c,
                                                    uint32_t set, const uint8_t* dst, uint64_t gen,
                                                    bool* stale) {
  bool hit = false;
  const NextHopState* s =
      states.slots[c.lookup_in(set, dst, gen, &hit, stale)].load(std::memory_order_acquire);
  return hit ? s : nullptr;
}
ROUTERD_ALWAYS_INLINE void cache_put(RouteCache& c, uint32_t set, uint32_t dst, uint64_t gen,
                                     const NextHopState* s) {
  c.fill_in(set, dst, gen, s);
}
ROUTERD_ALWAYS_INLINE void cache_put(RouteCache6& c, uint32_t set, const uint8_t* dst, uint64_t gen,
                                     const NextHopState* s) {
  c.fill_in(set, dst, gen, s->id);
}
// The next-hop states of k <= 64 IPv4 destinations straight from the FIB. A tbl24 entry
// without the "extended" bit is the answer (next hop << 1), read here with each line
// prefetched kAhead destinations early; only the others (prefixes longer than /24) go
// through DPDK's lookup. One pass instead of rte_fib_lookup_bulk's plus a decoding one,
// and no call: on uniform destinations, prefetching all tbl24 lines of a burst before the
// lookup stalled on the prefetches themselves (docs/performance.md, "issue 18").
ROUTERD_ALWAYS_INLINE void fib_states(const SharedState& dp, const uint32_t* dst, uint16_t k,
                                      const NextHopState** out) {
  const Fib::View v = dp.fib.view();
  if (__builtin_expect(v.tbl24 == nullptr, 0)) {
    uint64_t nh[64];
    rte_fib_lookup_bulk(v.fib, const_cast<uint32_t*>(dst), nh, k);
    const States states(dp);
    for (uint16_t i = 0; i < k; ++i) out[i] = states.of(nh[i]);
    return;
  }
  const States states(dp);
  constexpr uint16_t kAhead = 8;
  for (uint16_t i = 0; i < k && i < kAhead; ++i) rte_prefetch0(v.tbl24 + (dst[i] >> 8));
  for (uint16_t i = 0; i < k; ++i) {
    if (i + kAhead < k) rte_prefetch0(v.tbl24 + (dst[i + kAhead] >> 8));
    // The control thread may be writing this entry (Fib::flip in place): one 4-byte load.
    const uint32_t e = __atomic_load_n(v.tbl24 + (dst[i] >> 8), __ATOMIC_RELAXED);
    uint64_t stored = e >> 1;
    if (__builtin_expect(e & 1, 0))
      rte_fib_lookup_bulk(v.fib, const_cast<uint32_t*>(dst + i), &stored, 1);
    out[i] = states.of(stored);
  }
}
// The next-hop states of k <= 64 IPv6 destinations straight from the FIB (Fib6::lookup_bulk:
// the trie's levels walked for the whole burst side by side).
ROUTERD_ALWAYS_INLINE void fib_states(const SharedState& dp, const Dst6* dst, uint16_t k,
                                      const NextHopState** out) {
  uint64_t nh[64];
  Fib6::lookup_bulk(dp.fib6.view(), reinterpret_cast<const uint8_t(*)[16]>(dst), nh, k);
  const States states(dp);
  for (uint16_t i = 0; i < k; ++i) out[i] = states.of(nh[i]);
}

// Stage 2: the next-hop states of k <= 64 destinations (Key: uint32_t with RouteCache, Dst6
// with RouteCache6). With a cache: answered from it where it holds the destination for
// generation `gen`, the rest from the FIB in one bulk lookup and filled in. `gen` must have
// been read before this call (and before any FIB lookup whose answer is cached): an entry
// then never claims a newer generation than its answer. Nothing here allocates or waits; a
// state stays valid until the caller's next quiescent state.
// With `sets` the caller has already hashed (and prefetched) each destination's set.
template <class Cache, class Key>
ROUTERD_ALWAYS_INLINE void lookup_states_in(const SharedState& dp, Cache* cache, uint64_t gen,
                                            const Key* dst, uint16_t k, const NextHopState** out,
                                            CacheTally* t, const uint32_t* sets = nullptr) {
  if (cache == nullptr) {
    fib_states(dp, dst, k, out);
    return;
  }
  uint32_t own[64];
  const uint32_t* set = sets;
  if (set == nullptr) {
    for (uint16_t i = 0; i < k; ++i) {
      own[i] = cache->set_of(cache_key(dst[i]));
      cache->prefetch_set(own[i]);
    }
    set = own;
  }
  uint16_t miss_at[64];
  uint16_t nm = 0;
  uint32_t stale = 0;
  const States states(dp);
  for (uint16_t i = 0; i < k; ++i) {
    bool st = false;
    const NextHopState* s = cache_get(states, *cache, set[i], cache_key(dst[i]), gen, &st);
    out[i] = s;
    miss_at[nm] = i;
    nm = uint16_t(nm + (s == nullptr));  // branch-free append of a miss
    stale += st;
  }
  if (nm) {
    Key miss_dst[64];
    const NextHopState* miss_state[64];
    for (uint16_t j = 0; j < nm; ++j) miss_dst[j] = dst[miss_at[j]];
    fib_states(dp, miss_dst, nm, miss_state);
    for (uint16_t j = 0; j < nm; ++j) {
      const NextHopState* s = miss_state[j];
      const uint16_t i = miss_at[j];
      out[i] = s;
      // "No route" is not cached: it is rare on a router with a default route, and is
      // handed to control anyway.
      if (s) cache_put(*cache, set[i], cache_key(dst[i]), gen, s);
    }
  }
  t->hits += k - nm;
  t->misses += nm;
  t->stale += stale;
}

ROUTERD_ALWAYS_INLINE void lookup_states(const SharedState& dp, RouteCache* cache, uint64_t gen,
                                         const uint32_t* dst, uint16_t k, const NextHopState** out,
                                         CacheTally* t, const uint32_t* sets = nullptr) {
  lookup_states_in(dp, cache, gen, dst, k, out, t, sets);
}
ROUTERD_ALWAYS_INLINE void lookup_states6(const SharedState& dp, RouteCache6* cache, uint64_t gen,
                                          const Dst6* dst, uint16_t k, const NextHopState** out,
                                          CacheTally* t, const uint32_t* sets = nullptr) {
  lookup_states_in(dp, cache, gen, dst, k, out, t, sets);
}

// A reject route's verdict (nh_rejects(k)). Like "no route" it comes before the TTL check:
// Linux answers from the route lookup too (ip_error(), ip6_pkt_prohibit()).
ROUTERD_ALWAYS_INLINE Verdict reject_verdict(NhKind k) {
  if (k == NhKind::blackhole) return v_drop(Drop::blackhole);
  return v_punt(k == NhKind::prohibit ? Punt::prohibited : Punt::unreachable);
}

// Stage 2: what the looked-up next hop means for this packet. On `forward` the caller
// rewrites and sends it on nh->port; on `fragment` it decrements the TTL and sends it in
// fragments of at most aux bytes.
ROUTERD_ALWAYS_INLINE Verdict decide(const rte_mbuf* m, const NextHopState* nh) {
  if (nh == nullptr) return v_punt(Punt::no_route);
  auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  switch (nh->kind) {
    case NhKind::local:
      // RFC 1812 5.3.1: datagrams for the router are accepted whatever their TTL. GRE that
      // is not a fragment goes to the tunnels (the worker falls back to control when the
      // router has none).
      if (ip->next_proto_id == kIpProtoGre && !ipv4_is_fragment(ip)) return {Verdict::decap, 0, 0};
      return v_punt(Punt::local);
    case NhKind::broadcast:
      return v_drop(Drop::directed_broadcast);
    case NhKind::blackhole:
    case NhKind::prohibit:
    case NhKind::unreachable:
      return reject_verdict(nh->kind);
    default:
      break;
  }
  // 5.3.1: a router must not forward a datagram whose TTL would reach zero.
  if (ip->time_to_live <= 1) return v_punt(Punt::ttl_exceeded);
  // The tunnel's MTU depends on its outer path, which the worker knows: checked there.
  if (nh->kind == NhKind::tunnel) return {Verdict::tunnel, 0, 0};
  if (nh->kind != NhKind::forward) return v_punt(Punt::unresolved, nh->id);
  if (rte_be_to_cpu_16(ip->total_length) > nh->mtu) {
    if (ipv4_df(ip)) return v_punt(Punt::frag_needed, nh->mtu);
    return {Verdict::fragment, 0, nh->mtu};
  }
  return kForward;
}

// The forward decision every path through a burst shares: a packet m through nh that came in
// on in_port is forwarded as it is exactly when forwards(m, forward_limit(nh, in_port))
// holds, which is when decide() says `forward` (a unit test holds it to that) and nh does
// not lead back out of in_port (that may call for a redirect). Every other packet needs its
// exact verdict. In two halves, so that a burst with one next hop makes its half once.
// Lengths are the frame's: past classify() a frame is exactly its datagram (padding trimmed,
// truncation dropped), and the mbuf's length needs no byte swap.
//
// The next hop's half: the longest frame it forwards as it is, 0 for none (no frame past
// classify() is that short).
ROUTERD_ALWAYS_INLINE uint32_t forward_limit(const NextHopState* nh, uint16_t in_port) {
  return nh != nullptr && nh->kind == NhKind::forward && nh->port != in_port
             ? uint32_t(nh->mtu) + RTE_ETHER_HDR_LEN
             : 0;
}
// The packet's half: a TTL to spare, and a frame within the limit.
ROUTERD_ALWAYS_INLINE bool forwards(const rte_mbuf* m, uint32_t limit) {
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  return (ip->time_to_live > 1) & (rte_pktmbuf_pkt_len(m) <= limit);
}

// Stage 3: TTL and L2 rewrite for a packet `decide` said to forward (so its TTL is above 1).
ROUTERD_ALWAYS_INLINE void rewrite(rte_mbuf* m, const NextHopState* nh) {
  auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
  ipv4_decrement_live_ttl(reinterpret_cast<rte_ipv4_hdr*>(eth + RTE_ETHER_HDR_LEN));
  std::memcpy(eth, nh->l2, RTE_ETHER_HDR_LEN);
}

// The Ethernet header of one next hop held in two registers, for a burst that all leaves
// through it: two overlapping 8-byte stores per packet.
struct L2Words {
  uint64_t lo = 0, hi = 0;  // bytes 0-7 and 6-13
  L2Words() = default;
  explicit L2Words(const NextHopState* nh) {
    std::memcpy(&lo, nh->l2, 8);
    std::memcpy(&hi, nh->l2 + 6, 8);
  }
  ROUTERD_ALWAYS_INLINE void write(uint8_t* eth) const {
    std::memcpy(eth, &lo, 8);
    std::memcpy(eth + 6, &hi, 8);
  }
};

// Stage 3 with the next hop's Ethernet header already in registers.
ROUTERD_ALWAYS_INLINE void rewrite(rte_mbuf* m, const L2Words& l2) {
  auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
  ipv4_decrement_live_ttl(reinterpret_cast<rte_ipv4_hdr*>(eth + RTE_ETHER_HDR_LEN));
  l2.write(eth);
}

// ---------------------------------------------------------------- IPv6 (RFC 8200, RFC 4291)

constexpr uint8_t kIpProtoHopByHop = 0;
constexpr uint8_t kIpProtoIcmp6 = 58;

// Stage 1 for a frame classify() found to be IPv6. On `forward` the packet is a whole IPv6
// datagram (padding trimmed) whose destination is copied to dst. Link-scope multicast ICMPv6
// (NDP, and echo to all-nodes) is handed to control, which checks it in full; so is other
// link-scope multicast when control-plane interfaces are on; other multicast is not routed.
ROUTERD_ALWAYS_INLINE Verdict classify6(rte_mbuf* m, const PortFastInfo& in, uint8_t* dst) {
  const uint32_t seg = rte_pktmbuf_data_len(m);
  const uint32_t len = rte_pktmbuf_pkt_len(m);
  if (len < RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr)) return v_drop(Drop::ipv6_too_short);
  if (seg < RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr)) return v_drop(Drop::ipv4_headers_split);
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  const bool l2_group = rte_is_multicast_ether_addr(&eth->dst_addr);
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
  if ((reinterpret_cast<const uint8_t*>(ip)[0] >> 4) != 6) return v_drop(Drop::ipv6_bad_version);
  const uint32_t total = sizeof(rte_ipv6_hdr) + rte_be_to_cpu_16(ip->payload_len);
  if (total > len - RTE_ETHER_HDR_LEN) return v_drop(Drop::ipv6_truncated);
  if (len - RTE_ETHER_HDR_LEN > total &&
      rte_pktmbuf_trim(m, uint16_t(len - RTE_ETHER_HDR_LEN - total)) != 0)
    return v_drop(Drop::ipv4_headers_split);
  const Ipv6 src = Ipv6::from_bytes(ip->src_addr);
  const Ipv6 d = Ipv6::from_bytes(ip->dst_addr);
  if (d.is_multicast()) {
    // A group or loopback source never comes from a wire (RFC 4291 2.5.3, 2.7); answered,
    // ::1 would be routed off the box. The unspecified source is valid here: DAD (RFC 4862
    // 5.4.2) and MLD (RFC 3810 5.2.13) use it, and control judges it per message.
    const bool scoped = (d.b[1] & 0x0f) <= 2;
    if (scoped && (src.is_multicast() || src.is_loopback())) return v_drop(Drop::ipv6_bad_source);
    // Scope 1 (interface) and 2 (link): for the router, if it is ICMPv6 at all, or may be
    // (MLD Queries come behind a Hop-by-Hop header, RFC 3810 5).
    if (scoped && (ip->proto == kIpProtoIcmp6 || ip->proto == kIpProtoHopByHop))
      return v_punt(Punt::ndp);
    // Other link-scope groups (OSPFv3's ff02::5/6, RIPng's ff02::9) go to the kernel
    // interfaces when they are on; scope 1 (interface-local) never comes from the wire.
    if (in.link_multicast && (d.b[1] & 0x0f) == 2) {
      if (src.is_unspecified()) return v_drop(Drop::ipv6_bad_source);
      return v_punt(Punt::link_multicast);
    }
    return v_drop(Drop::multicast_destination);
  }
  if (src.is_multicast() || src.is_unspecified() || src.is_loopback())
    return v_drop(Drop::ipv6_bad_source);
  if (d.is_unspecified() || d.is_loopback() || d.is_v4_mapped())
    return v_drop(Drop::ipv6_bad_destination);
  // RFC 4861 and plain Ethernet: a unicast datagram in a group frame is not forwarded.
  if (l2_group) return v_drop(Drop::l2_bcast_unicast_ip);
  std::memcpy(dst, ip->dst_addr, 16);
  return kForward;
}

// Stage 2 for IPv6: what the looked-up next hop means, for a packet in on in_port. Hop-by-Hop
// options are looked at by control (RFC 8200 4.3: the only header a router examines), after
// the checks every forwarded packet passes.
ROUTERD_ALWAYS_INLINE Verdict decide6(const rte_mbuf* m, const NextHopState* nh, uint16_t in_port) {
  auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, RTE_ETHER_HDR_LEN);
  const bool dst_ll = ip->dst_addr[0] == 0xfe && (ip->dst_addr[1] & 0xc0) == 0x80;
  if (nh != nullptr && nh->kind == NhKind::local) return v_punt(Punt::local);
  // A link-local destination that is not the router's is on no link it may reach.
  if (dst_ll) return v_drop(Drop::link_local);
  if (nh == nullptr) return v_punt(Punt::no_route);
  if (nh_rejects(nh->kind)) return reject_verdict(nh->kind);
  if (ip->hop_limits <= 1) return v_punt(Punt::ttl_exceeded);
  // RFC 4007 9: a packet from a link-local source never leaves its link; back out of the
  // port it came in on it stays there (and its source may hear of a better first hop).
  if (ip->src_addr[0] == 0xfe && (ip->src_addr[1] & 0xc0) == 0x80 &&
      (nh->kind == NhKind::tunnel || nh->port != in_port))
    return v_punt(Punt::beyond_scope);
  if (ip->proto == kIpProtoHopByHop) return v_punt(Punt::hop_by_hop);
  if (nh->kind == NhKind::tunnel) return {Verdict::tunnel, 0, 0};
  if (nh->kind != NhKind::forward) return v_punt(Punt::unresolved, nh->id);
  // RFC 8200 5: routers never fragment; the source learns the MTU from Packet Too Big.
  if (rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN > nh->mtu)
    return v_punt(Punt::frag_needed, nh->mtu);
  return kForward;
}

// What classify6_fast needs of the input port, built once per burst: bytes 0-15 of the frame
// as the fast path wants them where kL2Bytes says (destination MAC = the port's, EtherType
// IPv6).
struct FastKey6 {
  alignas(16) uint8_t want[16];
  static constexpr uint32_t kL2Bytes = 0x303f;  // bytes 0-5, 12, 13
  uint64_t mac48;                               // the MAC again, for the scalar build
};

inline FastKey6 fast_key6(const PortFastInfo& in) {
  FastKey6 k{};
  std::memcpy(k.want, in.mac.b.data(), 6);
  k.want[12] = 0x86;
  k.want[13] = 0xdd;
  std::memcpy(&k.mac48, in.mac.b.data(), 6);
  return k;
}

// Stage 1 and the packet's half of stage 2 for IPv6, fast path: the common case as one
// accumulated "bad" word, no branch. True means: classify() says ipv6, classify6() says
// `forward` with the same destination (copied to *dst) and trims nothing, and decide6()
// says `forward` for any next hop of kind forward whose MTU the datagram fits (the frame is
// unicast to this port, version 6, exactly as long as its payload length says, hop limit
// above 1, no Hop-by-Hop header, and neither address multicast, link-local or in ::/64,
// which holds ::, ::1 and the v4-mapped block). So a packet it passes is forwarded exactly
// when forwards6(m, forward_limit(nh, in_port)) holds; a unit test holds it to that. False
// means "ask classify6() and decide6()", which name the reason. *dst is written either way.
// Reading 54 bytes is safe whatever data_len says (as for classify_fast: RX mbufs come from
// routerd's pool); the length tests reject short frames.
ROUTERD_ALWAYS_INLINE bool classify6_fast(const rte_mbuf* m, const FastKey6& key, Dst6* dst) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  uint64_t h0, s_hi, d_hi;
  std::memcpy(&h0, p + 14, 8);    // version .. flow label, payload length, next header, hop limit
  std::memcpy(&s_hi, p + 22, 8);  // the source's first half
  std::memcpy(&d_hi, p + 38, 8);  // the destination's
#if defined(__SSE2__)
  const __m128i l2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const uint32_t same =
      uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(l2, *reinterpret_cast<const __m128i*>(key.want))));
  uint64_t bad = ~same & FastKey6::kL2Bytes;
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst->b),
                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 38)));
#else
  uint64_t d0;
  uint16_t et;
  std::memcpy(&d0, p, 8);
  std::memcpy(&et, p + 12, 2);
  uint64_t bad = ((d0 ^ key.mac48) & 0xffffffffffffull) | (et ^ RTE_BE16(RTE_ETHER_TYPE_IPV6));
  std::memcpy(dst->b, p + 38, 16);
#endif
  bad |= (h0 & 0xf0) ^ 0x60;  // version 6 (the high nibble of byte 14)
  const uint32_t payload = rte_be_to_cpu_16(uint16_t(h0 >> 32));
  // pkt_len = payload + 54: neither truncated nor padded (and at least a header long);
  // data_len >= 54: the header is in the first segment.
  bad |= rte_pktmbuf_pkt_len(m) ^ (payload + RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr));
  bad |= (uint64_t(rte_pktmbuf_data_len(m)) - (RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr))) >> 63;
  const uint64_t next = (h0 >> 48) & 0xff, hops = h0 >> 56;
  bad |= uint64_t(next == kIpProtoHopByHop) | ((hops - 2) >> 63);  // hop limit 0 or 1: bit 63
  const uint64_t s = rte_be_to_cpu_64(s_hi), d = rte_be_to_cpu_64(d_hi);
  // ff00::/8 is the top byte 0xff, fe80::/10 the top ten bits 0x3fa.
  bad |= uint64_t((s >> 56) == 0xff) | uint64_t((s >> 54) == 0x3fa) | uint64_t(s == 0);
  bad |= uint64_t((d >> 56) == 0xff) | uint64_t((d >> 54) == 0x3fa) | uint64_t(d == 0);
  return bad == 0;
}

// The packet's half of the IPv6 forward decision for a packet classify6_fast passed (see
// forward_limit for the next hop's half): the frame fits the next hop's MTU.
ROUTERD_ALWAYS_INLINE bool forwards6(const rte_mbuf* m, uint32_t limit) {
  return rte_pktmbuf_pkt_len(m) <= limit;
}

// Stage 3 for IPv6: hop limit and L2 rewrite (no checksum in the IPv6 header).
ROUTERD_ALWAYS_INLINE void rewrite6(rte_mbuf* m, const NextHopState* nh) {
  auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
  reinterpret_cast<rte_ipv6_hdr*>(eth + RTE_ETHER_HDR_LEN)->hop_limits--;
  std::memcpy(eth, nh->l2, RTE_ETHER_HDR_LEN);
}

// Stage 3 for IPv6 with the next hop's Ethernet header already in registers.
ROUTERD_ALWAYS_INLINE void rewrite6(rte_mbuf* m, const L2Words& l2) {
  auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
  reinterpret_cast<rte_ipv6_hdr*>(eth + RTE_ETHER_HDR_LEN)->hop_limits--;
  l2.write(eth);
}

// Whether a frame's EtherType says IPv6 (14 bytes are readable in any RX mbuf: see
// classify_fast), to send a burst whose first frame is IPv6 to the IPv6 stage first.
ROUTERD_ALWAYS_INLINE bool ethertype_ipv6(const rte_mbuf* m) {
  uint16_t et;
  std::memcpy(&et, rte_pktmbuf_mtod(m, const uint8_t*) + 12, 2);
  return et == RTE_BE16(RTE_ETHER_TYPE_IPV6);
}

}  // namespace routerd
