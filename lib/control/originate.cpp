// Packets the router itself sends (ICMP errors, echo replies, its own pings) and what ICMP
// sent back to it teaches: path MTUs and, when allowed, better first hops (route exceptions).
#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "arp.hpp"
#include "control.hpp"
#include "fragment.hpp"
#include "ipv4.hpp"
#include "slowpath.hpp"

namespace routerd {

using namespace slowpath;

void Control::send_icmp_error(rte_mbuf* orig, uint8_t type, uint8_t code, uint32_t rest,
                              uint16_t in_port, std::optional<Ipv4> src, uint64_t now) {
  (void)in_port;
  auto* eth = rte_pktmbuf_mtod(orig, rte_ether_hdr*);
  alignas(8) uint8_t whole[icmp::max_error_len];
  size_t len;
  const uint8_t* ip = datagram_for_quote(orig, whole, sizeof whole, &len);
  auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
  Ipv4 s(rte_be_to_cpu_32(h->src_addr)), d(rte_be_to_cpu_32(h->dst_addr));
  LcoreStats& st = dp_.control_stats();
  if (!icmp_error_allowed(ip, len, rte_is_multicast_ether_addr(&eth->dst_addr),
                          is_subnet_broadcast(d), is_subnet_broadcast(s))) {
    st.drop[size_t(Drop::icmp_suppressed)].add();
    return;
  }
  // Per destination first (Linux: icmp_ratelimit per peer), then the shared budget (Linux:
  // icmp_msgs_per_sec): a source flooding packets that earn errors spends only its own share.
  // Frag Needed is exempt from the first, as in Linux (icmpv4_mask_allow): a host opening
  // many flows through a narrower link needs each one, or its flows stall in a black hole.
  const bool pmtud = type == icmp::dest_unreachable && code == icmp::code_frag_needed;
  if (!pmtud && !icmp_limit_.allow(s.v, now)) {
    st.drop[size_t(Drop::icmp_source_limited)].add();
    return;
  }
  if (!icmp_budget_.take(now)) {
    st.drop[size_t(Drop::icmp_rate_limited)].add();
    return;
  }
  // RFC 1812 4.3.2.4: the source is an address of the interface the error leaves by, which
  // is wherever the route back to the sender points.
  if (!src) {
    const NextHopState* back = resolve(s);
    if (back && back->kind != NhKind::local && back->kind != NhKind::broadcast)
      src = source_for(back->port, s);
  }
  if (!src) {
    st.drop[size_t(Drop::icmp_no_source)].add();
    return;
  }
  rte_mbuf* m;
  uint8_t* out = new_frame(m, RTE_ETHER_HDR_LEN + icmp::max_error_len);
  if (!out) return;
  size_t n = icmp_build_error(ip, len, IcmpError{type, code, rest, *src, ip_id_++},
                              out + RTE_ETHER_HDR_LEN, icmp::max_error_len);
  rte_pktmbuf_trim(m, uint16_t(icmp::max_error_len - n));
  event(Event::icmp_error_sent);
  if (type == icmp::time_exceeded) event(Event::icmp_time_exceeded_sent);
  if (type == icmp::param_problem) event(Event::icmp_param_problem_sent);
  if (type == icmp::redirect) event(Event::icmp_redirect_sent);
  if (type == icmp::dest_unreachable) {
    switch (code) {
      case icmp::code_net_unreachable:
        event(Event::icmp_net_unreachable_sent);
        break;
      case icmp::code_host_unreachable:
        event(Event::icmp_host_unreachable_sent);
        break;
      case icmp::code_frag_needed:
        event(Event::icmp_frag_needed_sent);
        break;
      case icmp::code_admin_prohibited:
        event(Event::icmp_prohibited_sent);
        break;
      default:
        event(Event::icmp_port_unreachable_sent);
        break;
    }
  }
  output(m, now);
}

// The MTU for a packet the router sends to dst: the next hop's, lowered by a learnt path
// MTU. (Forwarded traffic never looks at exceptions.)
uint16_t Control::path_mtu(Ipv4 dst, const NextHopState* s, uint64_t now) {
  uint16_t mtu = s ? s->mtu : 0;
  if (const RouteException* e = exc_.find(dst.v, now))
    if (e->metrics.mtu && (mtu == 0 || e->metrics.mtu < mtu)) mtu = e->metrics.mtu;
  return mtu;
}

uint16_t Control::output_originated(rte_mbuf* m, uint64_t now) {
  m->hash.usr = kOriginated;
  rte_ipv4_hdr* ip = ip_of(m);
  Ipv4 d(rte_be_to_cpu_32(ip->dst_addr));
  const NextHopState* s = resolve(d, m);
  if (!s) {
    drop(m, Drop::no_route, 0);
    return 0;
  }
  const RouteException* e = exc_.find(d.v, now);
  const uint16_t mtu = path_mtu(d, s, now);
  const uint16_t total = rte_be_to_cpu_16(ip->total_length);
  if (mtu && total > mtu && ipv4_df(ip)) {
    rte_pktmbuf_free(m);
    return mtu;
  }
  // A learnt first hop (accept_redirects) replaces the route's gateway for this destination,
  // while the route is the one it was learnt for.
  if (e && e->gateway && (s->kind == NhKind::forward || s->kind == NhKind::unresolved) &&
      redirect_current(*e, d)) {
    const Neighbour* n = neigh_.find(Ipv4(e->gateway));
    const PortCtl* p = port_by_id(s->port);
    if (n && n->usable() && p && n->port == s->port) {
      uint8_t* l2 = rte_pktmbuf_mtod(m, uint8_t*);
      std::memcpy(l2, n->mac.b.data(), 6);
      std::memcpy(l2 + 6, p->ref.mac.b.data(), 6);
      l2[12] = RTE_ETHER_TYPE_IPV4 >> 8;
      l2[13] = RTE_ETHER_TYPE_IPV4 & 0xff;
      transmit(s->port, m);
    } else {
      NeighbourTable::Effects fx;
      neigh_.resolve(Ipv4(e->gateway), s->port, m, now, fx);
      apply_neighbour_effects(fx, now);
    }
    return 0;
  }
  output(m, now);
  return 0;
}

// Everything the router sends goes out here: cut to the path MTU when it does not fit and
// DF is clear (as transit traffic is, with the same code), then sent or queued for ARP.
void Control::output(rte_mbuf* m, uint64_t now) {
  m->hash.usr = kOriginated;
  const rte_ipv4_hdr* ip = ip_of(m);
  Ipv4 d(rte_be_to_cpu_32(ip->dst_addr));
  const NextHopState* s = resolve(d, m);
  if (!s) return drop(m, Drop::no_route, 0);
  // An error or reply to a source behind a reject route is dropped too (no error about it).
  if (nh_rejects(s->kind)) return reject(m, s->kind, kMaxPorts, now);
  const uint16_t mtu = path_mtu(d, s, now);
  if (mtu && rte_be_to_cpu_16(ip->total_length) > mtu && s->kind != NhKind::local &&
      s->kind != NhKind::broadcast) {
    if (ipv4_df(ip)) return drop(m, Drop::frag_needed, 0);
    rte_mbuf* frags[kMaxFragments];
    // Each fragment gets m's L2 header; send_via writes the neighbour's when it is known.
    const int n = fragment_ipv4(m, mtu, rte_pktmbuf_mtod(m, const uint8_t*), pool_, frags);
    rte_pktmbuf_free(m);
    if (n <= 0) {
      dp_.control_stats().drop[size_t(Drop::fragment_failed)].add();
      return;
    }
    for (int i = 0; i < n; ++i) {
      frags[i]->hash.usr = kOriginated;
      if (!send_via(frags[i], s, d, now)) drop(frags[i], Drop::local_unhandled, 0);
    }
    return;
  }
  if (!send_via(m, s, d, now)) drop(m, Drop::local_unhandled, 0);
}

// Sends m toward dst by next hop s: its L2 header written and transmitted when the neighbour
// is resolved, else queued for ARP. False when s is no way out (local, broadcast, rejects).
bool Control::send_via(rte_mbuf* m, const NextHopState* s, Ipv4 dst, uint64_t now) {
  NeighbourTable::Effects fx;
  switch (s->kind) {
    case NhKind::forward:
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), s->l2, RTE_ETHER_HDR_LEN);
      transmit(s->port, m);
      return true;
    case NhKind::unresolved:
      if (!s->gateway6.is_unspecified()) {
        // RFC 5549: the IPv4 packet waits for NDP; released with its own EtherType.
        NeighbourTable6::Effects fx6;
        neigh6_.resolve(s->gateway6, s->port, m, now, fx6);
        apply_neighbour_effects(fx6, now);
        return true;
      }
      neigh_.resolve(s->gateway, s->port, m, now, fx);
      break;
    case NhKind::glean:
      neigh_.resolve(dst, s->port, m, now, fx);
      break;
    case NhKind::tunnel:  // worker 0 encapsulates it (drain_control_tx)
      transmit(s->port, m);
      return true;
    case NhKind::local:
    case NhKind::broadcast:
    case NhKind::blackhole:  // callers reject() these first
    case NhKind::prohibit:
    case NhKind::unreachable:
    case NhKind::group:  // resolve() picks a member first
      return false;
  }
  apply_neighbour_effects(fx, now);
  return true;
}

// An ICMP message to one of the router's addresses: echo replies and errors for its own
// pings go to the waiting routerctl; errors about packets it sent teach path MTUs and
// (when allowed) first hops. Only the quoted header decides what a message is about.
void Control::handle_icmp_to_us(rte_mbuf* m, uint64_t now) {
  auto* ip = ip_of(m);
  const size_t ihl = size_t(ip->version_ihl & 0xf) * 4;
  const size_t total = rte_be_to_cpu_16(ip->total_length);
  const uint8_t* ic = reinterpret_cast<const uint8_t*>(ip) + ihl;
  const Ipv4 from(rte_be_to_cpu_32(ip->src_addr));
  auto session = [&](uint16_t ident) -> std::shared_ptr<PingSession> {
    std::lock_guard<std::mutex> g(ping_mu_);
    auto it = pings_.find(ident);
    return it == pings_.end() ? nullptr : it->second;
  };
  if (ic[0] == icmp::echo_reply) {
    uint16_t ident = uint16_t(ic[4] << 8 | ic[5]), seq = uint16_t(ic[6] << 8 | ic[7]);
    if (auto s = session(ident)) {
      PingEvent ev{seq, true, from, ip->time_to_live, 0, 0, 0, uint32_t(total - ihl), 0};
      if (total - ihl >= icmp::header_len + 8) std::memcpy(&ev.tsc, ic + icmp::header_len, 8);
      s->events.push(ev);
      rte_pktmbuf_free(m);
    } else {
      drop(m, Drop::local_unhandled, 0);  // no ping of ours is waiting for it
    }
    return;
  }
  // An error quotes the offending header (RFC 792): it must be one the router sent.
  const uint8_t* q = ic + icmp::header_len;
  const size_t qlen = total - ihl - icmp::header_len;
  if (total < ihl + icmp::header_len + 20 || (q[0] >> 4) != 4 || qlen < size_t(q[0] & 0xf) * 4) {
    drop(m, Drop::local_unhandled, 0);
    return;
  }
  const size_t qihl = size_t(q[0] & 0xf) * 4;
  const Ipv4 qsrc(uint32_t(q[12]) << 24 | uint32_t(q[13]) << 16 | uint32_t(q[14]) << 8 | q[15]);
  const Ipv4 qdst(uint32_t(q[16]) << 24 | uint32_t(q[17]) << 16 | uint32_t(q[18]) << 8 | q[19]);
  if (!local_address_port(qsrc)) {  // not about our packet: nothing to learn
    drop(m, Drop::local_unhandled, 0);
    return;
  }
  event(Event::icmp_error_received);
  const uint8_t type = ic[0], code = ic[1];
  const uint16_t mtu = uint16_t(ic[6] << 8 | ic[7]);
  if (q[9] == IPPROTO_ICMP && qlen >= qihl + 8 && q[qihl] == icmp::echo_request) {
    uint16_t ident = uint16_t(q[qihl + 4] << 8 | q[qihl + 5]);
    uint16_t seq = uint16_t(q[qihl + 6] << 8 | q[qihl + 7]);
    if (auto s = session(ident))
      s->events.push(PingEvent{seq, false, from, ip->time_to_live, type, code, mtu, 0, 0});
  }
  if (type == icmp::dest_unreachable && code == icmp::code_frag_needed)
    learn_pmtu(qdst, mtu, from, now);
  if (type == icmp::redirect && (code == 1 || code == 0)) {
    const Ipv4 gw(uint32_t(ic[4]) << 24 | uint32_t(ic[5]) << 16 | uint32_t(ic[6]) << 8 | ic[7]);
    learn_redirect(qdst, gw, from, now);
  }
  rte_pktmbuf_free(m);
}

void Control::learn_pmtu(Ipv4 dst, uint16_t mtu, Ipv4 from, uint64_t now) {
  // Per sender: forged PTBs from one source cost at most its share of lookups and updates.
  if (!learn_limit_.allow(from.v, now)) {
    event(Event::icmp_learn_limited);
    return;
  }
  const Route* rt = rib_.lookup(dst);
  const NextHopState* s = resolve(dst);
  const uint16_t cur = path_mtu(dst, s, now);
  // RFC 1191: a report that would raise the path MTU (or carries none) is ignored; a very
  // low one is raised to the floor, and then only if that still lowers it.
  if (!rt || route_type_rejects(rt->type) || mtu == 0 || (cur && mtu >= cur)) {
    event(Event::pmtu_ignored);
    return;
  }
  const bool locked = mtu < pmtu_min_;
  mtu = std::max(mtu, pmtu_min_);
  if (cur && mtu >= cur) {
    event(Event::pmtu_ignored);
    return;
  }
  RouteException& e = exc_.upsert(dst.v, *rt, now);
  e.metrics.mtu = mtu;
  e.mtu_locked = locked;
  e.pmtu_expires_ms = now + uint64_t(pmtu_expires_s_) * 1000;
  event(Event::pmtu_learned);
  // A tunnel to dst carries its packets in DF outer packets: the tunnel MTU drops now.
  tunnel_pmtu_sync(now);
}

// Whether e's learnt first hop still applies to dst (route_redirect_current): an RFC 5549
// route has no IPv4 first hop a redirect could stand for.
bool Control::redirect_current(const RouteException& e, Ipv4 dst) const {
  const Route* rt = rib_.lookup(dst);
  return rt && !rt->via6 && route_redirect_current(e, rt, rt->via ? rt->via->v : dst.v);
}

void Control::learn_redirect(Ipv4 dst, Ipv4 gw, Ipv4 from, uint64_t now) {
  if (!learn_limit_.allow(from.v, now)) {
    event(Event::icmp_learn_limited);
    return;
  }
  const Route* rt = rib_.lookup(dst);
  // RFC 1122 3.2.2.2: only from the current first hop, naming a gateway on the same link.
  // A route through an IPv6 gateway (RFC 5549) has no IPv4 first hop a redirect could come
  // from: none is taken for it.
  const Ipv4 first = rt && rt->via ? *rt->via : dst;
  const PortCtl* gp = rt ? port_for_gateway(gw, "") : nullptr;
  if (!accept_redirects_ || !rt || route_type_rejects(rt->type) || rt->via6 || from != first ||
      !gp || gp->ref.id != rt->port || local_address_port(gw)) {
    event(Event::redirect_ignored);
    return;
  }
  RouteException& e = exc_.upsert(dst.v, *rt, now);
  e.gateway = gw.v;
  e.replaced = first.v;
  e.redirect_expires_ms = now + uint64_t(redirect_expires_s_) * 1000;
  event(Event::redirect_learned);
}

}  // namespace routerd
