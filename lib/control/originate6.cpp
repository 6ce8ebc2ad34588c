// What ICMPv6 sent back to the router teaches about its own IPv6 traffic (route exceptions):
// path MTUs from Packet Too Big (RFC 8201) and, with ipv6.accept_redirects, better first
// hops from Redirects (RFC 4861 8.1, 8.3). The IPv4 counterparts are in originate.cpp.
#include <rte_ether.h>

#include <algorithm>

#include "control.hpp"
#include "icmp6.hpp"
#include "ndp.hpp"
#include "slowpath.hpp"

namespace routerd {

using namespace slowpath;

uint32_t Control::path_mtu6(const Ipv6& dst, const NextHopState* s, uint64_t now) {
  uint32_t mtu = s ? s->mtu : 0;
  if (const RouteException6* e = exc6_.find(dst, now))
    if (e->metrics.mtu && (mtu == 0 || e->metrics.mtu < mtu)) mtu = e->metrics.mtu;
  return mtu;
}

// Learnt only for what a route leads to: the clone needs a route, and a reject route sends
// nothing to learn about. As Linux (rt6_do_update_pmtu), a report below the IPv6 minimum
// link MTU sets the minimum (RFC 8201 5: never below 1280), and a report that would not
// lower the path MTU changes nothing.
void Control::learn_pmtu6(const Ipv6& dst, uint32_t mtu, const Ipv6& from, uint64_t now) {
  if (!learn_limit_.allow(key_of(from), now)) {
    event(Event::icmp_learn_limited);
    return;
  }
  const Route6* rt = dst.is_link_local() || dst.is_multicast() ? nullptr : rib6_.lookup(dst);
  const NextHopState* s = rt ? resolve6(dst) : nullptr;
  const uint32_t cur = path_mtu6(dst, s, now);
  mtu = std::max<uint32_t>(mtu, icmp6::min_mtu);
  if (!rt || route_type_rejects(rt->type) || (cur && mtu >= cur)) {
    event(Event::pmtu6_ignored);
    return;
  }
  RouteException6& e = exc6_.upsert(dst, *rt, now);
  e.metrics.mtu = uint16_t(mtu);  // below cur, which is at most a port's MTU
  e.pmtu_expires_ms = now + uint64_t(pmtu_expires_s_) * 1000;
  event(Event::pmtu6_learned);
}

// RFC 4861 8.1: ndp_parse already checked hop limit 255, code 0, a link-local source, a
// unicast destination and a target that is link-local or the destination itself. Here: the
// switch, and that the sender is the current first hop for the destination (the gateway a
// redirect taught before, else the route's): the same address, or, when the route names
// its gateway by a global address, the node NDP resolved it to (the same link-layer
// address on the same port), since a router sends redirects from its link-local address.
void Control::learn_redirect6(const NdMessage& msg, uint16_t port, const Mac& sender, uint64_t now,
                              NeighbourTable6::Effects& fx) {
  if (!accept_redirects6_) {
    event(Event::redirect6_ignored);
    return;
  }
  if (!learn_limit_.allow(key_of(msg.src), now)) {
    event(Event::icmp_learn_limited);
    return;
  }
  const Ipv6& dst = msg.redirect_dst;
  const Route6* rt = dst.is_link_local() ? nullptr : rib6_.lookup(dst);
  const RouteException6* old = rt ? exc6_.find(dst, now) : nullptr;
  const bool usable_route = rt && !route_type_rejects(rt->type) && rt->via && rt->port == port;
  const bool chained =
      usable_route && old && old->has_gateway() && route_redirect_current(*old, rt, *rt->via);
  const Ipv6 first = !usable_route ? Ipv6() : chained ? old->gateway : *rt->via;
  bool from_first = usable_route && msg.src == first;
  if (usable_route && !from_first && !first.is_link_local()) {
    const auto* n = neigh6_.find(first, port);
    from_first = n && n->usable() && n->port == port && n->mac == sender;
  }
  if (!from_first || local_address6(msg.target) || local_address6(dst)) {
    event(Event::redirect6_ignored);
    return;
  }
  RouteException6& e = exc6_.upsert(dst, *rt, now);
  e.gateway = msg.target;
  e.replaced = *rt->via;
  e.redirect_expires_ms = now + uint64_t(redirect_expires_s_) * 1000;
  event(Event::redirect6_learned);
  // RFC 4861 8.3: the target's link-layer address, when given, goes into the neighbour
  // cache (STALE, as from a solicitation), so the first packet need not wait for NDP.
  if (msg.target_lla) neigh6_.solicit_from(msg.target, *msg.target_lla, port, now, fx);
}

bool Control::send_redirected6(rte_mbuf* m, const NextHopState* s, const Ipv6& d, uint64_t now) {
  if (s->kind != NhKind::forward && s->kind != NhKind::unresolved) return false;
  const RouteException6* e = exc6_.find(d, now);
  if (!e || !e->has_gateway()) return false;
  // Only while the route is the one it was learnt for (route_redirect_current).
  const Route6* rt = rib6_.lookup(d);
  if (!rt || !rt->via || !route_redirect_current(*e, rt, *rt->via)) return false;
  const PortCtl* p = port_by_id(s->port);
  if (!p) return false;
  const auto* n = neigh6_.find(e->gateway, s->port);  // a link-local gateway: this port's
  if (n && n->usable() && n->port == s->port) {
    write_l2(m, n->mac, p->ref.mac, RTE_ETHER_TYPE_IPV6);
    transmit(s->port, m);
    return true;
  }
  NeighbourTable6::Effects fx;
  neigh6_.resolve(e->gateway, s->port, m, now, fx);
  apply_neighbour_effects(fx, now);
  return true;
}

}  // namespace routerd
