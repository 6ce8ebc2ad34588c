#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "forward.hpp"
#include "fragment.hpp"
#include "unmap_fence.hpp"

namespace routerd {

Worker::Worker(SharedState& dp, uint32_t index, std::span<const RxQueue> rx, uint16_t tx_queue)
    : dp_(dp),
      index_(index),
      rx_(std::make_unique<RxQueue[]>(rx.size())),
      nrx_(uint32_t(rx.size())),
      txq_(tx_queue),
      st_(dp.stats[index]),
      governor_(dp.params.route_cache, st_.cache),
      governor6_(dp.params.route_cache, st_.cache6) {
  std::copy(rx.begin(), rx.end(), rx_.get());
  uint64_t rate = uint64_t(dp.params.icmp_rate) * 2;
  token_max_ = rate ? uint64_t(dp.params.icmp_burst) * 2 : 0;
  tokens_ = token_max_;
  redirects_ = dp.params.send_redirects;
  redirects6_ = dp.params.send_redirects6;
  directed_bcast_ = dp.params.forward_directed_broadcast;
  // A stamp no generation equals: encap_fast never matches and outer_path resolves again.
  outer_stamp_mask_ = dp.params.tunnel_outer_path_cache ? 0 : ~uint64_t(0);
  tsc_per_token_ = rate ? std::max<uint64_t>(1, rte_get_tsc_hz() / rate) : 1;
  last_tsc_ = rte_rdtsc();
  if (dp.params.route_cache) {
    cache_ = std::make_unique<RouteCache>(dp.params.route_cache_sets, dp.params.route_cache_keys,
                                          int(rte_socket_id()));
    cache6_ = std::make_unique<RouteCache6>(dp.params.route_cache6_sets, dp.params.route_cache_keys,
                                            int(rte_socket_id()));
  }
}

uint64_t Worker::observe_generation() {
  uint64_t g = dp_.generation.read();
  if (__builtin_expect(g != st_.last_gen, 0)) {
    st_.last_gen = g;
    auto& slot = st_.gen_seen[g % LcoreStats::kGenSlots];
    // tsc before gen: a reader that matches gen then reads a tsc at least this new.
    slot.tsc.store(rte_rdtsc(), std::memory_order_relaxed);
    slot.gen.store(g, std::memory_order_release);
  }
  return g;
}

bool Worker::icmp_token() {
  if (token_max_ == 0) return false;
  if (tokens_ == 0) {
    uint64_t now = rte_rdtsc();
    uint64_t earned = (now - last_tsc_) / tsc_per_token_;
    if (earned == 0) return false;
    tokens_ = std::min(token_max_, earned);
    last_tsc_ = now;
  }
  --tokens_;
  return true;
}

ROUTERD_ALWAYS_INLINE void Worker::send(uint16_t port, rte_mbuf* m) {
  TxBuf& b = tx_[port];
  b.pkts[b.n++] = m;
  dirty_ |= 1u << port;
  if (b.n == kMaxBurst) flush_port(port);
}

// Appends a run of packets for one port: the count stays in a register for the run instead
// of being loaded and stored back per packet.
ROUTERD_ALWAYS_INLINE void Worker::send_run(uint16_t port, rte_mbuf* const* m, uint16_t n) {
  while (n) {
    TxBuf& b = tx_[port];
    uint16_t room = uint16_t(kMaxBurst - b.n), take = n < room ? n : room;
    std::copy_n(m, take, b.pkts + b.n);
    b.n = uint16_t(b.n + take);
    dirty_ |= 1u << port;
    if (b.n == kMaxBurst) flush_port(port);
    m += take;
    n = uint16_t(n - take);
  }
}

void Worker::flush_port(uint16_t port) {
  TxBuf& b = tx_[port];
  uint16_t sent = b.n ? rte_eth_tx_burst(port, txq_, b.pkts, b.n) : 0;
  st_.tx[port].add(sent);
  if (sent < b.n) {
    // The TX ring is full: drop rather than wait, and say so.
    st_.drop[size_t(Drop::tx_full)].add(b.n - sent);
    st_.dropped[port].add(b.n - sent);
    rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
  }
  b.n = 0;
  dirty_ &= ~(1u << port);
}

void Worker::fragment(rte_mbuf* m, const NextHopState* s, uint16_t mtu, uint16_t in_port) {
  // TTL first: every fragment carries the decremented TTL with its own checksum.
  ipv4_decrement_ttl(rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN));
  rte_mbuf* frags[kMaxFragments];
  int n = dp_.pool ? fragment_ipv4(m, mtu, s->l2, dp_.pool, frags) : -ENOMEM;
  if (n <= 0) {
    st_.count_drop(Drop::fragment_failed, in_port);
    rte_pktmbuf_free(m);
    return;
  }
  rte_pktmbuf_free(m);
  st_.fragmented.add();
  st_.fragments.add(uint64_t(n));
  for (int i = 0; i < n; ++i) send(s->port, frags[i]);
}

void Worker::flush() {
  while (dirty_) flush_port(uint16_t(__builtin_ctz(dirty_)));
  flush_punts();
}

// A packet for control, unless it would make control send an ICMP error and the worker's
// budget for those is spent: then it is dropped, counted under the reason kIcmpRefusedAs
// gives it and once more as rate limited.
void Worker::punt(rte_mbuf* m, const Verdict& v, uint16_t in_port) {
  const Drop refused_as = icmp_refused_as(Punt(v.reason));
  if (refused_as != Drop::count && !icmp_token()) {
    st_.count_drop(refused_as, in_port);
    st_.drop[size_t(Drop::icmp_rate_limited)].add();
    rte_pktmbuf_free(m);
    return;
  }
  punts_[npunts_++] = PuntEntry{m, v.aux, v.reason, 0, in_port};
}

void Worker::flush_punts() {
  if (!npunts_) return;
  unsigned done =
      rte_ring_mp_enqueue_burst_elem(dp_.punt, punts_, sizeof(PuntEntry), npunts_, nullptr);
  for (unsigned i = 0; i < done; ++i) st_.punt[punts_[i].reason].add();
  if (done) dp_.doorbell.ring();
  for (unsigned i = done; i < npunts_; ++i) {
    st_.count_drop(Drop::punt_ring_full, punts_[i].in_port);
    rte_pktmbuf_free(punts_[i].m);
  }
  npunts_ = 0;
}

void Worker::drain_control_tx() {
  TxEntry e[32];
  unsigned n = rte_ring_sc_dequeue_burst_elem(dp_.ctl_tx, e, sizeof(TxEntry), 32, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    st_.originated[e[i].port].add();
    // The control thread's packets into a tunnel (ICMP errors, pings, replies through it)
    // are encapsulated here: the outer path is the workers' to know.
    if (is_tunnel_port(e[i].port))
      tunnel_out(e[i].m, e[i].port, e[i].port, false, true);
    else
      send(e[i].port, e[i].m);
  }
}

void Worker::drop_packet(rte_mbuf* m, Drop d, uint16_t in_port) {
  st_.count_drop(d, in_port);
  rte_pktmbuf_free(m);
}

// ---------------------------------------------------------------- tunnels

// The outer path of tunnel t at generation gen: the cached one while gen is its generation,
// else resolved again from the FIB (the route and neighbour to the remote) and the tunnel's
// learnt PMTU. A route or neighbour change bumps the generation, so the first packet after
// it, within one burst, takes the new path.
const OuterPath& Worker::outer_path(uint32_t t, uint64_t gen, const IfSnapshot& ifs) {
  OuterPath& p = outer_[t];
  if (__builtin_expect(p.gen == gen, 1)) return p;
  st_.event[size_t(Event::tunnel_path_resolved)].add();
  p = OuterPath{};
  p.gen = gen ^ outer_stamp_mask_;
  // Handed to control or to another tunnel, the outer packet is an IPv4 frame.
  p.l2[12] = RTE_ETHER_TYPE_IPV4 >> 8;
  p.l2[13] = RTE_ETHER_TYPE_IPV4 & 0xff;
  const TunnelFastInfo& ti = ifs.tunnels[t];
  if (!ti.enabled) return p;
  const uint32_t d = ti.remote;
  const NextHopState* s = nullptr;
  CacheTally tally;
  lookup_states(dp_, nullptr, gen, &d, 1, &s, &tally);
  // An ECMP group: one member for the tunnel, as for one flow (the outer header's
  // addresses never change).
  if (s != nullptr && s->kind == NhKind::group)
    s = dp_.nexthops.get(s->group->pick(d * 0x9e3779b1u));
  if (s == nullptr) return p;
  switch (s->kind) {
    case NhKind::forward:
      p.kind = OuterPath::direct;
      std::memcpy(p.l2, s->l2, sizeof p.l2);
      break;
    case NhKind::unresolved:
    case NhKind::glean:
      p.kind = OuterPath::unresolved;
      p.nh_id = s->id;
      break;
    case NhKind::tunnel:
      p.via = uint16_t(s->port - kTunnelBase);
      p.kind = p.via == t ? OuterPath::loop : OuterPath::via_tunnel;
      return p;
    default:  // local, broadcast, reject routes: no way to the remote
      return p;
  }
  p.port = s->port;
  p.mtu = s->mtu;
  if (ti.pmtu && ti.pmtu < p.mtu) p.mtu = ti.pmtu;
  if (outer_stamp_mask_ == 0) outer_template(p, ti);  // used only while the stamp holds
  return p;
}

// The common case of tunnel_out, inline in the forwarding loops: a transit packet into a
// tunnel whose outer path is resolved at the current generation, direct, with a header
// template, and that fits the tunnel MTU with a TTL (hop limit) to spare. Its TTL is
// decremented and the header written; returns the egress port. -1, having changed nothing:
// anything else, for exact() and tunnel_out.
ROUTERD_ALWAYS_INLINE int Worker::encap_fast(rte_mbuf* m, uint16_t tport) {
  const uint32_t t = tport - kTunnelBase;
  const OuterPath& op = outer_[t];
  if (op.gen != dp_.generation.read() || op.hlen == 0) return -1;
  uint8_t* inner = rte_pktmbuf_mtod_offset(m, uint8_t*, RTE_ETHER_HDR_LEN);
  const bool v6 = (inner[0] >> 4) == 6;
  const uint8_t ttl = v6 ? inner[7] : inner[8];
  if ((rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN > op.tmtu) | (ttl <= 1) |
      (rte_pktmbuf_headroom(m) < uint32_t(op.hlen - RTE_ETHER_HDR_LEN)))
    return -1;
  if (v6)
    inner[7] = uint8_t(ttl - 1);
  else
    ipv4_decrement_live_ttl(reinterpret_cast<rte_ipv4_hdr*>(inner));
  gre_encap_fast(m, op, v6, outer_id_++);  // cannot fail: the headroom is there
  st_.tx[tport].add();
  return op.port;
}

void Worker::tunnel_out(rte_mbuf* m, uint16_t tport, uint16_t in_port, bool forwarded,
                        bool originated) {
  // The generation first: the snapshot and FIB read after it are at least as new, so a
  // path stamped with it never holds older state than the stamp says.
  const uint64_t gen = dp_.generation.read();
  const IfSnapshot& ifs = *dp_.ifs.load(std::memory_order_acquire);
  uint32_t t = tport - kTunnelBase;
  uint32_t seen = 0;  // tunnels this packet went into, to catch a chain back to one
  for (uint32_t depth = 0; depth < kMaxTunnelNest; ++depth) {
    seen |= 1u << t;
    const TunnelFastInfo& ti = ifs.tunnels[t];
    const OuterPath& op = outer_path(t, gen, ifs);
    if (op.kind == OuterPath::none) return drop_packet(m, Drop::tunnel_no_route, in_port);
    if (op.kind == OuterPath::loop || (op.kind == OuterPath::via_tunnel && ((seen >> op.via) & 1)))
      break;
    const uint8_t* inner = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
    const bool v6 = (inner[0] >> 4) == 6;
    const uint32_t len = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN;
    // Through another tunnel, that tunnel checks the outer packet against its own MTU.
    const uint32_t mtu = tunnel_mtu(ti, op.kind == OuterPath::via_tunnel ? 65535 : op.mtu);
    if (__builtin_expect(len > mtu, 0)) {
      if (depth > 0 || !forwarded) return drop_packet(m, Drop::frag_needed, in_port);
      auto* ip4 = reinterpret_cast<rte_ipv4_hdr*>(const_cast<uint8_t*>(inner));
      if (v6 || ipv4_df(ip4)) {
        // Fragmentation Needed (IPv4 DF) or Packet Too Big (IPv6) with the tunnel's MTU.
        if (npunts_ == kMaxBurst) flush_punts();
        return punt(m, v_punt(Punt::frag_needed, mtu), in_port);
      }
      // IPv4 without DF: fragmented to the tunnel's MTU, then each fragment encapsulated.
      ipv4_decrement_ttl(ip4);
      rte_mbuf* frags[kMaxFragments];
      const int n = dp_.pool ? fragment_ipv4(m, uint16_t(mtu), op.l2, dp_.pool, frags) : -ENOMEM;
      rte_pktmbuf_free(m);
      if (n <= 0) {
        st_.count_drop(Drop::fragment_failed, in_port);
        return;
      }
      st_.fragmented.add();
      st_.fragments.add(uint64_t(n));
      for (int i = 0; i < n; ++i) tunnel_out(frags[i], tport, in_port, false);
      return;
    }
    if (depth == 0 && forwarded) {
      // Routed into the tunnel: TTL or hop limit as for any forwarded packet (decide() and
      // decide6() saw it above 1).
      if (v6)
        rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, RTE_ETHER_HDR_LEN)->hop_limits--;
      else
        ipv4_decrement_live_ttl(rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN));
    }
    const uint16_t type = v6 ? RTE_BE16(RTE_ETHER_TYPE_IPV6) : RTE_BE16(RTE_ETHER_TYPE_IPV4);
    if (__builtin_expect(!gre_encap(m, ti, op.l2, type, outer_id_++, gre_seq_[t]++), 0))
      return drop_packet(m, Drop::no_mbuf, in_port);
    st_.tx[kTunnelBase + t].add();
    if (op.kind == OuterPath::direct) {
      if (originated) st_.originated[op.port].add();
      return send(op.port, m);
    }
    if (op.kind == OuterPath::unresolved) {
      // Control resolves the outer next hop and sends the packet when it answers.
      if (npunts_ == kMaxBurst) flush_punts();
      return punt(m, v_punt(Punt::unresolved, op.nh_id), in_port);
    }
    t = op.via;  // nested: the outer packet goes into the next tunnel
  }
  // A loop (control logs it, rate-limited, from the counter).
  drop_packet(m, Drop::tunnel_loop, uint16_t(kTunnelBase + t));
}

void Worker::tunnel_in(rte_mbuf* m, uint16_t in_port) {
  const IfSnapshot& ifs = *dp_.ifs.load(std::memory_order_acquire);
  if (ifs.tunnel_slots == 0) {  // no tunnels: GRE is the kernel's business, as before
    if (npunts_ == kMaxBurst) flush_punts();
    return punt(m, v_punt(Punt::local), in_port);
  }
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  const uint32_t ihl = uint32_t(ip->version_ihl & 0xf) * 4;
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  // classify() trimmed the frame to the datagram; the GRE header and payload must be in
  // the first segment (the checksum is summed over them).
  if (rte_pktmbuf_data_len(m) != rte_pktmbuf_pkt_len(m))
    return drop_packet(m, Drop::gre_bad_header, in_port);
  GreInfo g;
  const GreParse r = gre_parse(reinterpret_cast<const uint8_t*>(ip) + ihl, total - ihl, &g);
  if (r != GreParse::ok)
    return drop_packet(
        m, r == GreParse::bad_checksum ? Drop::gre_bad_checksum : Drop::gre_bad_header, in_port);
  bool other_key = false;
  const int t = tunnel_match(ifs.tunnels, ifs.tunnel_slots, rte_be_to_cpu_32(ip->dst_addr),
                             rte_be_to_cpu_32(ip->src_addr), g, &other_key);
  if (t < 0) return drop_packet(m, other_key ? Drop::gre_bad_key : Drop::gre_no_tunnel, in_port);
  if (g.proto != RTE_BE16(RTE_ETHER_TYPE_IPV4) && g.proto != RTE_BE16(RTE_ETHER_TYPE_IPV6))
    return drop_packet(m, Drop::gre_bad_protocol, in_port);
  const uint16_t tport = uint16_t(kTunnelBase + t);
  // The outer headers go; an Ethernet header addressed to the tunnel's interface takes the
  // last 14 bytes of their room, so the inner packet enters the stages like a received one.
  rte_pktmbuf_adj(m, uint16_t(ihl + g.hlen));
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  std::memcpy(eth->dst_addr.addr_bytes, ifs.ports[tport].mac.b.data(), 6);
  std::memset(eth->src_addr.addr_bytes, 0, 6);
  eth->ether_type = g.proto;
  // The NIC's checksum flags and RSS hash were the outer packet's: ECMP must hash the inner
  // flows, not the tunnel's one outer flow.
  m->ol_flags &=
      ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK | RTE_MBUF_F_RX_RSS_HASH);
  decap_[ndecap_] = m;
  decap_port_[ndecap_++] = tport;
}

// The exact verdict for a looked-up packet that forwards() did not pass: decide()'s, except
// that a forward back out of its input port becomes a redirect within the ICMP budget (RFC
// 1812 5.2.7.2: control forwards it and tells the source about the better next hop, having
// checked that the source is on-link). Beyond the budget it is just forwarded.
Verdict Worker::exact(const rte_mbuf* m, const NextHopState* s, uint16_t in_port) {
  const Verdict v = decide(m, s);
  // A subnet broadcast of the router's: control forwards it when that is on, and hands it
  // to the kernel interfaces when they are on (RFC 1812 5.3.5.2); else it is dropped here.
  if (v.action == Verdict::drop && Drop(v.reason) == Drop::directed_broadcast &&
      (directed_bcast_ || dp_.ifs.load(std::memory_order_acquire)->ports[in_port].link_multicast))
    return v_punt(Punt::broadcast);
  if (v.action == Verdict::forward && s->port == in_port && redirects_ && icmp_token() &&
      npunts_ < kMaxBurst)
    return v_punt(Punt::redirect, s->id);
  return v;
}

// Every verdict but `forward`, whichever stage gave it, is carried out here and only here.
void Worker::divert(rte_mbuf* m, const Verdict& v, const NextHopState* s, uint16_t in_port) {
  if (v.action == Verdict::fragment) {
    fragment(m, s, uint16_t(v.aux), in_port);
  } else if (v.action == Verdict::drop) {
    st_.count_drop(Drop(v.reason), in_port);
    rte_pktmbuf_free(m);
  } else if (v.action == Verdict::tunnel) {
    tunnel_out(m, s->port, in_port, true);
  } else if (v.action == Verdict::decap) {
    tunnel_in(m, in_port);
  } else {
    punt(m, v, in_port);
  }
}

// Stages 2 and 3 for k looked-up packets, keeping their order: a packet the forward decision
// passes is rewritten and buffered, any other gets its exact verdict. With OneHop every
// packet goes through nhs[0], a next hop forward_limit() passes (the burst has one
// destination, a TCP flow whose lengths vary, say): its half of the decision and its
// Ethernet header are made once, and whatever is forwarded leaves as one run on its port.
template <bool OneHop>
ROUTERD_ALWAYS_INLINE void Worker::forward_looked_up(uint16_t in_port, rte_mbuf* const* cand,
                                                     uint16_t k, const NextHopState* const* nhs,
                                                     const uint32_t* flows) {
  const NextHopState* const s0 = nhs[0];
  const uint32_t limit0 = OneHop ? forward_limit(s0, in_port) : 0;
  [[maybe_unused]] const L2Words l2 = OneHop ? L2Words(s0) : L2Words();
  rte_mbuf* out[kMaxBurst];
  uint16_t out_port[kMaxBurst];
  uint16_t nout = 0;
  uint32_t picked[kMaxBurst];
  uint16_t npicked = 0;
  // ECMP: each group's member for its packet's flow, picked in a pass of its own, so that one
  // packet's bucket read overlaps the next one's instead of waiting inside the forward loop.
  // One pass that tests and picks (plain next hops are copied) cost 1.3-2.6 cycles a packet
  // less than finding the groups first and picking over their bits (worker-bench), and the
  // same for bursts without groups.
  const NextHopState* const* hops = nhs;
  [[maybe_unused]] const NextHopState* members[kMaxBurst];
  if constexpr (!OneHop) {
    const States states(dp_);
    uint64_t groups = 0;
    for (uint16_t i = 0; i < k; ++i) {
      const NextHopState* s = nhs[i];
      const bool group = s != nullptr && s->kind == NhKind::group;
      groups |= uint64_t(group) << i;
      if (group) {
        const uint32_t h =
            flows ? flows[i] : flow_hash4(cand[i], dp_.params.flow_key, (rss_ & kEcmpRss4) != 0);
        s = group_member(states, s, h, picked, npicked);
      }
      members[i] = s;
    }
    hops = members;
    // The next burst's stage 1 hashes the flows when this one had group routes.
    hash_flows_ = groups != 0;
  }
  for (uint16_t i = 0; i < k; ++i) {
    rte_mbuf* m = cand[i];
    const NextHopState* s = OneHop ? s0 : hops[i];
    if (__builtin_expect(!forwards(m, OneHop ? limit0 : forward_limit(s, in_port)), 0)) {
      // An ECMP group fails the next hop's half of the decision (it is no next hop itself):
      // its member for this flow is decided here, off the path single next hops take.
      bool pass = false;
      if (!OneHop && s != nullptr && s->kind == NhKind::group) {
        s = group_member(States(dp_), s,
                         flow_hash4(m, dp_.params.flow_key, (rss_ & kEcmpRss4) != 0), picked,
                         npicked);
        pass = forwards(m, forward_limit(s, in_port));
      }
      // Into a tunnel: encapsulated here when its cached outer path allows (tunnel_out
      // through divert() otherwise), and sent in the run of its egress port.
      if (!OneHop && !pass && s != nullptr && s->kind == NhKind::tunnel) {
        const int eg = encap_fast(m, s->port);
        if (eg >= 0) {
          out_port[nout] = uint16_t(eg);
          out[nout++] = m;
          continue;
        }
      }
      if (!pass) {
        const Verdict v = exact(m, s, in_port);
        if (v.action != Verdict::forward) {
          divert(m, v, s, in_port);
          continue;
        }
      }
    }
    if constexpr (OneHop) {
      rewrite(m, l2);  // s is s0: the same header
    } else {
      rewrite(m, s);
      out_port[nout] = s->port;
    }
    out[nout++] = m;
  }
  if constexpr (OneHop) {
    send_run(s0->port, out, nout);
  } else {
    count_members(st_, picked, npicked);
    send_runs(out, out_port, nout);
  }
}

// Hands n rewritten packets to the TX buffers in runs of one port (usually the whole burst).
ROUTERD_ALWAYS_INLINE void Worker::send_runs(rte_mbuf* const* out, const uint16_t* out_port,
                                             uint16_t n) {
  for (uint16_t i = 0; i < n;) {
    uint16_t j = i + 1;
    while (j < n && out_port[j] == out_port[i]) ++j;
    send_run(out_port[i], out + i, uint16_t(j - i));
    i = j;
  }
}

// The leading packets of a burst that form one flow's train (see Train) when at least
// two do: the first checked in full, one FIB lookup, then each packet checked against
// the first and rewritten in the same pass. Returns how many it forwarded (handed to TX
// in order): 0, having changed nothing, when there is no such train or the forward
// decision does not pass its first packet.
template <CkFlags Ck>
ROUTERD_ALWAYS_INLINE uint16_t Worker::forward_train(uint16_t in_port, rte_mbuf** pkts, uint16_t n,
                                                     const FastKey& key) {
  uint32_t d;
  if (!classify_fast<Ck>(pkts[0], key, &d)) return 0;
  const Train train(pkts[0]);
  if (!train.admits<Ck>(pkts[1])) return 0;
  const uint64_t gen = observe_generation();
  const NextHopState* s = nullptr;
  CacheTally t;
  lookup_states(dp_, nullptr, gen, &d, 1, &s, &t);
  // The packets share TTL and length, so the decision on pkts[0] holds for all of them.
  if (!forwards(pkts[0], forward_limit(s, in_port))) return 0;
  governor_.bypassed();
  const L2Words l2(s);
  uint16_t i = 0;
  do {
    rewrite(pkts[i], l2);
    ++i;
  } while (i < n && (i == 1 || train.admits<Ck>(pkts[i])));
  send_run(s->port, pkts, i);
  return i;
}

// Stage 2 for a burst of several destinations, with the route cache or without it as the
// governor says.
ROUTERD_ALWAYS_INLINE void Worker::lookup_governed(const uint32_t* dst, uint16_t k, uint64_t gen,
                                                   const NextHopState** nhs, uint64_t since,
                                                   const uint32_t* sets) {
  RouteCache* cache = governor_.begin(since) ? cache_.get() : nullptr;
  CacheTally t;
  lookup_states(dp_, cache, gen, dst, k, nhs, &t, cache ? sets : nullptr);
  governor_.end(k, t);
}

void Worker::process(uint16_t in_port, rte_mbuf** pkts, uint16_t n) {
  process_burst(in_port, pkts, n);
  // What tunnels decapsulated enters again, in runs of one tunnel: each round peels one
  // level of nesting, and a packet still nested after kMaxTunnelNest rounds is a loop.
  for (uint32_t round = 0; ndecap_ != 0; ++round) {
    rte_mbuf* in[kMaxBurst];
    uint16_t port[kMaxBurst];
    const uint16_t k = ndecap_;
    std::copy_n(decap_, k, in);
    std::copy_n(decap_port_, k, port);
    ndecap_ = 0;
    if (round == kMaxTunnelNest) {
      for (uint16_t i = 0; i < k; ++i) drop_packet(in[i], Drop::tunnel_loop, port[i]);
      break;
    }
    for (uint16_t i = 0; i < k;) {
      uint16_t j = uint16_t(i + 1);
      while (j < k && port[j] == port[i]) ++j;
      process_burst(port[i], in + i, uint16_t(j - i));
      i = j;
    }
  }
}

void Worker::process_burst(uint16_t in_port, rte_mbuf** pkts, uint16_t n) {
  const IfSnapshot* ifs = dp_.ifs.load(std::memory_order_acquire);
  const PortFastInfo& in = ifs->ports[in_port];
  const bool martians = dp_.params.drop_martians;
  st_.rx[in_port].add(n);
  rss_ = in.ecmp_rss;

  const CkFlags ck = scan_burst(pkts, n);
  // A burst that starts with IPv6 is most likely all IPv6: its own stage 1 takes it, rather
  // than the IPv4 one failing on every packet first.
  if (ethertype_ipv6(pkts[0])) {
    process6(in_port, in, pkts, n);
    return;
  }
  const FastKey key = fast_key(in);
  if (ck != CkFlags::mixed && n > 1) {
    const uint16_t done = ck == CkFlags::none ? forward_train<CkFlags::none>(in_port, pkts, n, key)
                                              : forward_train<CkFlags::good>(in_port, pkts, n, key);
    pkts += done;
    n = uint16_t(n - done);
    if (n == 0) return;
  }

  // Stage 1 without a branch per packet, then classify() for the few it could not pass,
  // compacting in place so that packets keep their order.
  uint32_t dst[kMaxBurst];
  uint64_t slow;
  // Through the route cache, stage 1 fetches each destination's cache set. The FIB's lines
  // are fetched by fib_states, a few destinations ahead: fetching a whole burst's during
  // stage 1 stalled on the prefetches (docs/performance.md, "issue 18").
  const RouteCache* warm = governor_.next_uses_cache() ? cache_.get() : nullptr;
  // A probe times from here: stage 1 hashes and fetches the sets for the cache arm (the FIB
  // arm fetches its lines inside the lookup). Timed from the lookup alone, the cache won
  // every probe of a zipf trace whose whole rate it lowered by 6 %.
  const uint64_t probe_since = governor_.stamp();
  uint32_t set_buf[kMaxBurst];
  uint32_t* const sets = warm ? set_buf : nullptr;
  uint32_t fh[kMaxBurst];
  uint32_t* const flows = hash_flows_ ? fh : nullptr;
  const ecmp::FlowKey* const fkey = &dp_.params.flow_key;
  const bool rss = (rss_ & kEcmpRss4) != 0;
  switch (ck) {
    case CkFlags::none:
      slow = classify_burst<CkFlags::none>(pkts, n, key, dst, warm, sets, flows, fkey, rss);
      break;
    case CkFlags::good:
      slow = classify_burst<CkFlags::good>(pkts, n, key, dst, warm, sets, flows, fkey, rss);
      break;
    default:
      slow = classify_burst<CkFlags::mixed>(pkts, n, key, dst, warm, sets, flows, fkey, rss);
      break;
  }
  rte_mbuf** cand = pkts;
  uint16_t k = n;
  rte_mbuf* v6[kMaxBurst];
  uint16_t n6 = 0;
  if (__builtin_expect(slow != 0, 0)) {
    k = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      if (!((slow >> i) & 1)) {
        dst[k] = dst[i];
        if (sets) sets[k] = sets[i];
        if (flows) flows[k] = flows[i];
        cand[k++] = m;
        continue;
      }
      const Verdict v = classify(m, in, martians, &dst[k]);
      if (v.action == Verdict::forward) {
        if (sets) {
          sets[k] = warm->set_of(dst[k]);
          warm->prefetch_set(sets[k]);
        }
        // Its stage-1 hash read a header classify_fast did not vouch for.
        if (flows) flows[k] = flow_hash4(m, *fkey, rss);
        cand[k++] = m;
      } else if (v.action == Verdict::ipv6)
        v6[n6++] = m;
      else
        divert(m, v, nullptr, in_port);
    }
    // IPv6 goes after the burst's IPv4 packets: each family keeps its own order.
    if (n6) {
      if (k) process4_looked_up(in_port, cand, dst, k, probe_since, flows, sets);
      process6(in_port, in, v6, n6);
      return;
    }
  }
  if (k == 0) return;
  process4_looked_up(in_port, cand, dst, k, probe_since, flows, sets);
}

// Stages 2 and 3 for the burst's k classified IPv4 packets.
ROUTERD_ALWAYS_INLINE void Worker::process4_looked_up(uint16_t in_port, rte_mbuf** cand,
                                                      const uint32_t* dst, uint16_t k,
                                                      uint64_t probe_since, const uint32_t* flows,
                                                      const uint32_t* sets) {
  const uint64_t gen = observe_generation();
  const NextHopState* nhs[kMaxBurst];
  uint32_t differ = 0;
  for (uint16_t i = 1; i < k; ++i) differ |= dst[i] ^ dst[0];
  if (differ == 0 && k > 1) {
    // One FIB lookup for the burst; the route cache has nothing to add to it.
    CacheTally t;
    lookup_states(dp_, nullptr, gen, dst, 1, nhs, &t);
    governor_.bypassed();
    if (forward_limit(nhs[0], in_port) != 0) {
      forward_looked_up<true>(in_port, cand, k, nhs, nullptr);
      return;
    }
    for (uint16_t i = 1; i < k; ++i) nhs[i] = nhs[0];
  } else {
    lookup_governed(dst, k, gen, nhs, probe_since, sets);
  }
  forward_looked_up<false>(in_port, cand, k, nhs, flows);
}

// The exact verdict for an IPv6 packet the forward decision did not pass (classify6_fast did
// not pass it, or its next hop's half of the decision failed): decide6()'s, carried out.
// True when the packet is to be forwarded after all. A packet back out of its input port is
// handed to control, which forwards it and tells the source about the better first hop (RFC
// 4861 8.2), within the ICMP budget; beyond it, it is just forwarded.
bool Worker::exact6(rte_mbuf* m, const NextHopState* s, uint16_t in_port) {
  const Verdict v = decide6(m, s, in_port);
  if (v.action != Verdict::forward) {
    divert(m, v, s, in_port);
    return false;
  }
  if (s->port == in_port && redirects6_ && npunts_ < kMaxBurst && icmp_token()) {
    punt(m, v_punt(Punt::redirect, s->id), in_port);
    return false;
  }
  return true;
}

// The IPv6 stages for the frames of a burst from its first IPv6 frame on (process() sends
// the whole burst here when it starts with one), or for the frames classify() found to be
// IPv6. Stage 1 is classify6_fast over all of them without a branch per packet; the few it
// does not pass get classify() (the IPv4 ones among them go through the IPv4 stages first:
// each family keeps its own order) and classify6(). Then the next hops (one FIB lookup when
// the burst has one destination, else through the route cache as governor6_ says), the
// forward decision in two halves as for IPv4, and the forwarded packets to TX in runs.
void Worker::process6(uint16_t in_port, const PortFastInfo& in, rte_mbuf** pkts, uint16_t n) {
  const FastKey6 key = fast_key6(in);
  Dst6 dst[kMaxBurst];
  uint32_t set[kMaxBurst];
  // The cache sets are hashed and prefetched as destinations come out of stage 1, a loop
  // ahead of their lookup (prefetched only there, the set's first read stalled: perf, zipf).
  RouteCache6* const warm = governor6_.next_uses_cache() ? cache6_.get() : nullptr;
  // Without the cache, each destination's tbl24 entry in the trie instead: with random
  // destinations the first miss of every lookup overlaps the rest of the burst's stage 1
  // instead of stalling the trie walk's first level.
  const uint32_t* const tbl24 = warm ? nullptr : dp_.fib6.tbl24_for_prefetch();
  // A probe times from here, each arm with only its own fetches, as for IPv4 (a33dfb7).
  // With both arms' fetches in stage 1 and the time taken from the lookup, the cache arm
  // was timed without its sets' hashing and fetching, and its misses found their tbl24
  // lines fetched, which they are not once the cache is on.
  const uint64_t probe_since = governor6_.stamp();
  // ECMP, as for IPv4 (classify_burst): the flows hashed here when the last burst had groups.
  uint32_t fh[kMaxBurst];
  uint32_t* const flows = hash_flows6_ ? fh : nullptr;
  const ecmp::FlowKey& fkey = dp_.params.flow_key;
  const bool rss = (rss_ & kEcmpRss6) != 0;
  uint64_t slow = 0;
  const bool from_rss = rss_burst(pkts, n, flows, rss);  // as for IPv4 (classify_burst)
  uint64_t redo = 0;
  for (uint16_t i = 0; i < n; ++i) {
    slow |= uint64_t(!classify6_fast(pkts[i], key, &dst[i])) << i;
    if (flows) {
      auto* ip = rte_pktmbuf_mtod_offset(pkts[i], const rte_ipv6_hdr*, RTE_ETHER_HDR_LEN);
      if (from_rss)
        redo |= rss_flow(pkts[i], fkey, ip->proto == IPPROTO_FRAGMENT, &flows[i], i);
      else
        flows[i] =
            ecmp::flow_hash6_padded(fkey, ip, rte_pktmbuf_data_len(pkts[i]) - RTE_ETHER_HDR_LEN);
    }
    if (warm) {
      set[i] = warm->set_of(dst[i].b);
      warm->prefetch_set(set[i]);
    }
    if (tbl24) rte_prefetch0(tbl24 + Fib6::tbl24_index(dst[i].b));
  }
  auto own = [&fkey](const rte_mbuf* m) { return flow_hash6(m, fkey, true); };
  if (from_rss)
    redo_flows(pkts, redo, flows, own);
  else if (flows && rss)
    rss_flows(pkts, n, flows, own);
  rte_mbuf** cand = pkts;
  uint16_t k = n;
  uint64_t exact = 0;  // bit i: candidate i needs decide6()'s exact verdict
  if (__builtin_expect(slow != 0, 0)) {
    // Compacted in place, keeping order.
    rte_mbuf* cand4[kMaxBurst];
    uint32_t dst4[kMaxBurst];
    uint16_t k4 = 0;
    k = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      if (!((slow >> i) & 1)) {
        dst[k] = dst[i];
        if (warm) set[k] = set[i];
        if (flows) flows[k] = flows[i];
        cand[k++] = m;
        continue;
      }
      Verdict v = classify(m, in, dp_.params.drop_martians, &dst4[k4]);
      if (v.action == Verdict::forward) {
        cand4[k4++] = m;
        continue;
      }
      if (v.action == Verdict::ipv6) v = classify6(m, in, dst[k].b);
      if (v.action != Verdict::forward) {
        divert(m, v, nullptr, in_port);
        continue;
      }
      if (warm) {
        set[k] = warm->set_of(dst[k].b);
        warm->prefetch_set(set[k]);
      }
      if (flows) flows[k] = flow_hash6(m, fkey, rss);  // classify6() may have trimmed it
      exact |= uint64_t(1) << k;
      cand[k++] = m;
    }
    if (k4) process4_looked_up(in_port, cand4, dst4, k4);
    if (k == 0) return;
  }
  const uint64_t gen = observe_generation();
  const NextHopState* nhs[kMaxBurst];
  uint64_t differ = 0;
  uint64_t d0[2];
  std::memcpy(d0, dst[0].b, 16);
  for (uint16_t i = 1; i < k; ++i) {
    uint64_t di[2];
    std::memcpy(di, dst[i].b, 16);
    differ |= (di[0] ^ d0[0]) | (di[1] ^ d0[1]);
  }
  CacheTally t;
  if (differ == 0) {
    // One destination (or one packet): a single FIB lookup, which no cache improves on.
    lookup_states6(dp_, nullptr, gen, dst, 1, nhs, &t);
    governor6_.bypassed();
    const NextHopState* const s0 = nhs[0];
    const uint32_t limit0 = forward_limit(s0, in_port);
    if (limit0 != 0) {
      // The next hop's half of the decision and its Ethernet header made once; what is
      // forwarded leaves as one run on its port.
      const L2Words l2(s0);
      rte_mbuf* out[kMaxBurst];
      uint16_t nout = 0;
      for (uint16_t i = 0; i < k; ++i) {
        rte_mbuf* m = cand[i];
        if (__builtin_expect(((exact >> i) & 1) | !forwards6(m, limit0), 0) &&
            !exact6(m, s0, in_port))
          continue;
        rewrite6(m, l2);
        out[nout++] = m;
      }
      send_run(s0->port, out, nout);
      return;
    }
    for (uint16_t i = 1; i < k; ++i) nhs[i] = s0;
  } else {
    RouteCache6* cache = governor6_.begin(probe_since) ? cache6_.get() : nullptr;
    lookup_states6(dp_, cache, gen, dst, k, nhs, &t, warm ? set : nullptr);
    governor6_.end(k, t);
  }
  rte_mbuf* out[kMaxBurst];
  uint16_t out_port[kMaxBurst];
  uint16_t nout = 0;
  uint32_t picked[kMaxBurst];
  uint16_t npicked = 0;
  // ECMP: the members in a pass of their own, as in forward_looked_up.
  const States states(dp_);
  uint64_t groups = 0;
  for (uint16_t i = 0; i < k; ++i) {
    const NextHopState* s = nhs[i];
    const bool group = s != nullptr && s->kind == NhKind::group;
    groups |= uint64_t(group) << i;
    if (group)
      nhs[i] = group_member(states, s, flows ? flows[i] : flow_hash6(cand[i], fkey, rss), picked,
                            npicked);
  }
  hash_flows6_ = groups != 0;
  for (uint16_t i = 0; i < k; ++i) {
    rte_mbuf* m = cand[i];
    const NextHopState* s = nhs[i];
    if (__builtin_expect(((exact >> i) & 1) | !forwards6(m, forward_limit(s, in_port)), 0)) {
      // As for IPv4: a group's member is picked off the single next hop's path.
      if (s != nullptr && s->kind == NhKind::group)
        s = group_member(states, s, flow_hash6(m, fkey, rss), picked, npicked);
      // As for IPv4; a packet classify6_fast passed needs no other check of decide6()'s.
      if (s != nullptr && s->kind == NhKind::tunnel && !((exact >> i) & 1)) {
        const int eg = encap_fast(m, s->port);
        if (eg >= 0) {
          out[nout] = m;
          out_port[nout++] = uint16_t(eg);
          continue;
        }
      }
      if ((((exact >> i) & 1) | !forwards6(m, forward_limit(s, in_port))) && !exact6(m, s, in_port))
        continue;
    }
    rewrite6(m, s);
    out[nout] = m;
    out_port[nout++] = s->port;
  }
  count_members(st_, picked, npicked);
  send_runs(out, out_port, nout);
}

void Worker::run() {
  st_.lcore.store(rte_lcore_id(), std::memory_order_relaxed);
  dp_.rcu.register_reader(index_);
  UnmapFence::this_thread_is_reader(true);
  dp_.rcu.online(index_);
  const uint16_t burst = std::min<uint16_t>(dp_.params.burst, kMaxBurst);
  const uint32_t idle_sleep = dp_.params.idle_sleep_us;
  uint32_t idle_loops = 0;
  rte_mbuf* pkts[kMaxBurst];
  while (!dp_.stop.load(std::memory_order_relaxed)) {
    uint32_t got = 0;
    for (uint32_t i = 0; i < nrx_; ++i) {
      const RxQueue& q = rx_[i];
      uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, burst);
      if (n == 0) continue;
      got += n;
      process(q.port, pkts, n);
      flush();
    }
    // The control thread's ARP, ICMP and released packets leave through worker 0's queues.
    if (index_ == 0 && !rte_ring_empty(dp_.ctl_tx)) {
      drain_control_tx();
      flush();
    }
    if (!got) observe_generation();  // an idle lcore still acknowledges updates
    st_.polls.add();
    if (got) {
      st_.busy_polls.add();
      idle_loops = 0;
    }
    // Every pointer into shared state from this loop is dead here.
    dp_.rcu.quiescent(index_);
    if (!got && idle_sleep && ++idle_loops > 1000) {
      // Offline while asleep, so a writer waiting for a grace period is not held up.
      dp_.rcu.offline(index_);
      usleep(idle_sleep);
      dp_.rcu.online(index_);
    }
  }
  if (index_ == 0) drain_control_tx();
  flush();
  dp_.rcu.offline(index_);
  UnmapFence::this_thread_is_reader(false);
  dp_.rcu.unregister_reader(index_);
}

}  // namespace routerd
