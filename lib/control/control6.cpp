// IPv6 in the control thread: what the IPv6 FIB should hold, Neighbor Discovery (RFC 4861),
// the router's ICMPv6 (echo, errors under RFC 4443's rules and rate limit), and the packets
// workers hand over for either. The IPv4 counterparts are in control.cpp and slowpath.cpp.
#include <rte_ether.h>
#include <rte_ip.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "commands.hpp"
#include "control.hpp"
#include "icmp.hpp"
#include "icmp6.hpp"
#include "ipv4.hpp"
#include "ipv6_ext.hpp"
#include "ndp.hpp"
#include "slowpath.hpp"

namespace routerd {

using namespace slowpath;

namespace {

rte_ipv6_hdr* ip6_of(rte_mbuf* m) {
  return rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, RTE_ETHER_HDR_LEN);
}

Ipv6 src6(rte_mbuf* m) {
  return Ipv6::from_bytes(ip6_of(m)->src_addr);
}

Ipv6 dst6(rte_mbuf* m) {
  return Ipv6::from_bytes(ip6_of(m)->dst_addr);
}

}  // namespace

// ---------------------------------------------------------------- addresses

bool Control::local_address6(const Ipv6& a, uint16_t* port) const {
  for (const auto& p : ports_) {
    bool ours = p.ll == a;
    for (const auto& pa : p.addrs6) ours |= pa.addr == a;
    if (ours) {
      if (port) *port = p.ref.id;
      return true;
    }
  }
  return false;
}

// An address of port `port` for a packet to dst: the link-local one for link-local
// destinations (RFC 6724 rule 2, scope), else the global address sharing the longest prefix
// with dst (rule 8), else any global address of the router, else the link-local one.
std::optional<Ipv6> Control::select_source6(uint16_t port, const Ipv6& dst) const {
  const PortCtl* p = port_by_id(port);
  if (!p) return std::nullopt;
  // Only assigned addresses are sources (RFC 4862 5.4): neither a tentative one (DAD,
  // ra.cpp) nor a duplicate. While the link-local one is tentative, link-local and
  // multicast destinations get no source at all: what needs one waits.
  const std::optional<Ipv6> ll = assigned6(port, p->ll) ? std::optional<Ipv6>(p->ll) : std::nullopt;
  if (dst.is_link_local() || dst.is_multicast()) return ll;
  const PortAddr6* best = nullptr;
  for (const auto& pa : p->addrs6)
    if (assigned6(port, pa.addr) &&
        (!best || common_prefix_len(pa.addr, dst) > common_prefix_len(best->addr, dst)))
      best = &pa;
  if (best) return best->addr;
  for (const auto& q : ports_)
    for (const auto& pa : q.addrs6)
      if (assigned6(q.ref.id, pa.addr)) return pa.addr;
  return ll;
}

void Control::set_link_local(PortCtl& p, const std::optional<Ipv6>& configured) {
  p.ll = configured ? *configured : Ipv6::link_local_eui64(p.ref.mac);
  sync_rx_groups(p);
}

// Every address, tentative and duplicate ones too: DAD listens on the solicited-node group
// of the address it tests (RFC 4862 5.4.2), and a duplicate stays configured.
void Control::sync_rx_groups(PortCtl& p) {
  if (!p.ref.port) return;
  std::vector<Ipv6> addrs{p.ll};
  for (const auto& pa : p.addrs6) addrs.push_back(pa.addr);
  std::vector<Mac> g = ipv6_rx_groups(addrs);
  if (!p.kernel_groups.empty()) {
    g.insert(g.end(), p.kernel_groups.begin(), p.kernel_groups.end());
    std::sort(g.begin(), g.end(), [](const Mac& x, const Mac& y) { return x.b < y.b; });
    g.erase(std::unique(g.begin(), g.end()), g.end());
  }
  p.ref.port->set_rx_groups(g);
}

// ---------------------------------------------------------------- FIB derivation

// As for IPv4: the router's own addresses (link-local ones included: a packet to them is
// delivered whichever port it came in on, the worker never forwards to fe80::/10), then
// the RIB route, then a resolved neighbour on a connected subnet.
uint32_t Control::desired_nh(const Prefix6& p) {
  if (p.len == 128 && in_use6(p.addr)) return pub_.acquire(NhKey{NhType::local, 0, 0, 0, 6, {}});
  // RFC 4862 5.4: packets to a tentative address are not accepted. Silently dropped, not
  // sent on to the subnet: resolving it would solicit our own address from a unicast source.
  if (uint16_t port = 0; p.len == 128 && local_address6(p.addr, &port) && tentative6(port, p.addr))
    return pub_.acquire(reject_key(RouteType::blackhole, 6));
  if (const Route6* r = rib6_.find(p)) {
    if (route_type_rejects(r->type)) return pub_.acquire(reject_key(r->type, 6));
    if (r->paths) {
      std::vector<GroupMember> ms;
      for (const auto& path : *r->paths) {
        neigh6_.use(path.via, path.port);
        ms.push_back({pub_.acquire(NhKey{NhType::adjacency, path.port, 0, r->mtu(), 6, path.via}),
                      path.weight});
      }
      return pub_.acquire_group(std::move(ms), 6, pub_.route(p));
    }
    if (r->via) {
      neigh6_.use(*r->via, r->port);  // one learnt from its own NS is re-confirmed from now on
      return pub_.acquire(NhKey{NhType::adjacency, r->port, 0, r->mtu(), 6, *r->via});
    }
    return pub_.acquire(NhKey{NhType::glean, r->port, 0, r->mtu(), 6, {}});
  }
  // Only neighbours the router uses get a host route: one that merely sent an NS (RFC 4861
  // 7.2.3 records it STALE) must not cost a FIB entry and a generation bump, or a flood of
  // solicitations would churn the FIB (issue 13's ARP lesson).
  if (p.len == 128 && !p.addr.is_link_local()) {
    const auto* n = neigh6_.find(NeighbourTable6::key_of(p.addr, 0));  // global: any port
    if (n && n->usable() && n->used) {
      const Route6* lpm = rib6_.lookup(p.addr);
      if (lpm && lpm->type == RouteType::unicast && !lpm->via && lpm->port == n->port)
        return pub_.acquire(NhKey{NhType::adjacency, n->port, 0, 0, 6, p.addr});
    }
  }
  return Fib6::kNoRoute;
}

void Control::sync(const Prefix6& p) {
  pub_.set_route(p, desired_nh(p));
}

void Control::sync_covered(const Prefix6& p) {
  sync(p);
  // Link-local neighbours get no host route (desired_nh), and no prefix covers them.
  for (const auto& [key, n] : neigh6_.entries())
    if (p.contains(n.ip) && !n.ip.is_link_local()) sync(Prefix6{n.ip, 128});
}

const NextHopState* Control::resolve6(const Ipv6& dst, rte_mbuf* m) const {
  return group_pick(pub_.state(dp_.fib6.lookup(dst)), m, uint32_t(Ipv6Hash{}(dst)));
}

// ---------------------------------------------------------------- punts

void Control::handle_punt6(const PuntEntry& e, uint64_t now) {
  rte_mbuf* m = e.m;
  const uint16_t in = e.in_port;
  switch (Punt(e.reason)) {
    case Punt::ndp:
    case Punt::local:
      return handle_local6(m, in, now);
    case Punt::unresolved:
      return handle_unresolved6(m, in, now);
    case Punt::ttl_exceeded:
      // RFC 4443 3.3: code 0, hop limit exceeded in transit.
      send_icmp6_error(m, icmp6::time_exceeded, 0, 0, in, now);
      return drop(m, Drop::ttl_exceeded, in);
    case Punt::no_route:
      send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_no_route, 0, in, now);
      return drop(m, Drop::no_route, in);
    case Punt::beyond_scope:
      send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_beyond_scope, 0, in, now);
      return drop(m, Drop::beyond_scope, in);
    case Punt::frag_needed:
      // RFC 8200 5 / RFC 4443 3.2: the MTU of the next hop's link.
      send_icmp6_error(m, icmp6::packet_too_big, 0, e.aux, in, now);
      return drop(m, Drop::frag_needed, in);
    case Punt::hop_by_hop:
      return handle_hop_by_hop(m, in, now);
    case Punt::prohibited:
      return reject6(m, NhKind::prohibit, in, now);
    case Punt::unreachable:
      return reject6(m, NhKind::unreachable, in, now);
    case Punt::redirect:
      return handle_redirect6(m, in, now);
    case Punt::link_multicast:
      return kernel_multicast(m, in, now);
    default:
      return drop(m, Drop::local_unhandled, in);
  }
}

void Control::reject6(rte_mbuf* m, NhKind k, uint16_t in_port, uint64_t now) {
  const bool transit = in_port < kMaxPorts;
  switch (k) {
    case NhKind::prohibit:
      // RFC 4443 3.1: code 1, communication with the destination administratively prohibited.
      if (transit)
        send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_admin_prohibited, 0, in_port, now);
      return drop(m, Drop::prohibited, in_port);
    case NhKind::unreachable:
      // Code 0, no route to destination, as Linux answers for an unreachable route.
      if (transit)
        send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_no_route, 0, in_port, now);
      return drop(m, Drop::unreachable, in_port);
    default:  // blackhole: silently
      return drop(m, Drop::blackhole, in_port);
  }
}

// Hop-by-Hop options (RFC 8200 4.3), walked by lib/packet/ipv6_ext before the packet is
// forwarded as the worker would: a malformed header earns Parameter Problem code 0 and an
// unrecognised option what its type's high bits ask for (RFC 8200 4.2); both are dropped.
// Router Alert (RFC 2711) changes nothing for a router without multicast routing (its MLD
// and RSVP are for others): the packet is forwarded, and counted.
void Control::handle_hop_by_hop(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  m->hash.usr = kTransit;
  // A Hop-by-Hop header is at most 2,048 bytes: this prefix holds all of it, in one piece
  // even when the frame came in several segments (the walk is bounded by the packet's own
  // length, so a longer packet cut here is never taken for a short one).
  uint8_t copy[icmp6::ip6_header_len + 2048];
  const uint32_t avail = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN;
  const uint32_t n = std::min<uint32_t>(avail, sizeof copy);
  const auto* ip = static_cast<const uint8_t*>(rte_pktmbuf_read(m, RTE_ETHER_HDR_LEN, n, copy));
  const HbhVerdict v = ip ? ipv6_hop_by_hop(ip, n) : HbhVerdict{HbhAction::malformed};
  if (refused_hop_by_hop(m, v, in_port, now)) return;
  const Ipv6 d = dst6(m);
  const NextHopState* s = resolve6(d, m);
  if (!s) {
    send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_no_route, 0, in_port, now);
    return drop(m, Drop::no_route, in_port);
  }
  if (s->kind == NhKind::local) return handle_local6(m, in_port, now);
  if (nh_rejects(s->kind)) return reject6(m, s->kind, in_port, now);
  if (rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN > s->mtu) {
    send_icmp6_error(m, icmp6::packet_too_big, 0, s->mtu, in_port, now);
    return drop(m, Drop::frag_needed, in_port);
  }
  if (v.router_alert) event(Event::ipv6_router_alert_forwarded);
  send_via6(m, s, d, now);
}

bool Control::refused_hop_by_hop(rte_mbuf* m, const HbhVerdict& v, uint16_t in_port, uint64_t now,
                                 const std::optional<Ipv6>& from) {
  switch (v.action) {
    case HbhAction::forward:
      return false;
    case HbhAction::malformed:
      send_icmp6_error(m, icmp6::param_problem, icmp6::code_erroneous_header, v.pointer, in_port,
                       now, from);
      drop(m, Drop::ipv6_bad_ext_header, in_port);
      return true;
    case HbhAction::unrecognized:
      send_icmp6_error(m, icmp6::param_problem, icmp6::code_unrecognized_option, v.pointer, in_port,
                       now, from);
      drop(m, Drop::ipv6_option_discard, in_port);
      return true;
    case HbhAction::discard:
      drop(m, Drop::ipv6_option_discard, in_port);
      return true;
  }
  return false;
}

// RFC 4007 9, as the worker's decide6 judges it: a packet from a link-local source leaves
// by no port but the one it came in on. True when it was answered (code 2) and dropped.
bool Control::refused_scope6(rte_mbuf* m, const NextHopState* s, uint16_t in_port, uint64_t now) {
  if (!src6(m).is_link_local() || (s->kind != NhKind::tunnel && s->port == in_port)) return false;
  send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_beyond_scope, 0, in_port, now);
  drop(m, Drop::beyond_scope, in_port);
  return true;
}

// A packet that leaves by the port it came in on (RFC 4861 8.2): forwarded, and its source,
// when it is on that link, told about the better first hop: the destination itself when it
// is on the link, else the next router, which must be named by its link-local address (a
// host could not tell routers apart otherwise; Linux does not redirect to a global one
// either). At most one redirect per second per source (a small fixed table).
void Control::handle_redirect6(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  m->hash.usr = kTransit;
  const Ipv6 d = dst6(m), s6 = src6(m);
  // Look again: the slot the worker saw may have been freed and reused since.
  const NextHopState* s = resolve6(d, m);
  if (!s) {
    send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_no_route, 0, in_port, now);
    return drop(m, Drop::no_route, in_port);
  }
  if (nh_rejects(s->kind)) return reject6(m, s->kind, in_port, now);
  if (s->kind != NhKind::local && refused_scope6(m, s, in_port, now)) return;
  const PortCtl* p = port_by_id(in_port);
  if (s->kind == NhKind::forward && s->port == in_port && p) {
    bool on_link = s6.is_link_local();
    for (const auto& pa : p->addrs6) on_link |= pa.subnet.contains(s6);
    const Ipv6 target = s->gateway6 == d ? d : s->gateway6;
    // A Redirect comes from the link-local address, so not while it is tentative.
    if (on_link && (target == d || target.is_link_local()) && assigned6(in_port, p->ll) &&
        redirect_backoff_.allow(key_of(s6), now)) {
      rte_mbuf* r;
      if (uint8_t* out = new_frame(r, kNdRedirectMaxFrame)) {
        const Mac to_mac = [&] {
          Mac x;
          std::memcpy(x.b.data(), rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr.addr_bytes,
                      6);
          return x;
        }();
        const Mac target_mac{{s->l2[0], s->l2[1], s->l2[2], s->l2[3], s->l2[4], s->l2[5]}};
        const size_t n =
            ndp_build_redirect(out, p->ref.mac, p->ll, s6, to_mac, target, d, &target_mac,
                               rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN),
                               rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN);
        rte_pktmbuf_trim(r, uint16_t(kNdRedirectMaxFrame - n));
        event(Event::icmp_redirect_sent);
        transmit(in_port, r);
      }
    } else {
      event(Event::redirect_suppressed);
    }
  }
  if (s->kind == NhKind::local) return handle_local6(m, in_port, now);
  send_via6(m, s, d, now);
}

void Control::handle_unresolved6(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  m->hash.usr = kTransit;
  const Ipv6 d = dst6(m);
  // Look again: the route may have changed while the packet waited in the ring.
  const NextHopState* s = resolve6(d, m);
  if (!s) {
    send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_no_route, 0, in_port, now);
    return drop(m, Drop::no_route, in_port);
  }
  if (s->kind == NhKind::local) return handle_local6(m, in_port, now);
  if (nh_rejects(s->kind)) return reject6(m, s->kind, in_port, now);
  if (refused_scope6(m, s, in_port, now)) return;  // the route moved while it waited
  send_via6(m, s, d, now);
}

// A packet (transit: hop limit not yet decremented) through state s towards dst. Queued
// packets get their hop limit decremented when they are released.
void Control::send_via6(rte_mbuf* m, const NextHopState* s, const Ipv6& dst, uint64_t now) {
  NeighbourTable6::Effects fx;
  switch (s->kind) {
    case NhKind::forward:
      if (m->hash.usr == kTransit) ip6_of(m)->hop_limits--;
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), s->l2, RTE_ETHER_HDR_LEN);
      return transmit(s->port, m);
    case NhKind::unresolved:
      neigh6_.resolve(s->gateway6, s->port, m, now, fx);
      break;
    case NhKind::glean:
      neigh6_.resolve(dst, s->port, m, now, fx);
      // A STALE entry learnt from the host's own solicitation is usable at once, and now
      // used: it gets its host route, so the next packets do not come here.
      if (const auto* n = neigh6_.find(dst, s->port); n && n->usable())
        fx.changed.push_back(NeighbourTable6::key_of(*n));
      break;
    case NhKind::blackhole:
    case NhKind::prohibit:
    case NhKind::unreachable:
      return reject6(m, s->kind, m->hash.usr == kTransit ? m->port : uint16_t(kMaxPorts), now);
    case NhKind::tunnel:  // worker 0 encapsulates it (drain_control_tx)
      if (m->hash.usr == kTransit) ip6_of(m)->hop_limits--;
      return transmit(s->port, m);
    default:
      return drop(m, Drop::local_unhandled, m->port);
  }
  apply_neighbour_effects(fx, now);
}

// A router-made datagram (IPv6 header onwards, Ethernet room in front) to its destination:
// link-local and multicast destinations leave by `port`, others as the FIB says.
void Control::output6(rte_mbuf* m, uint16_t port, uint64_t now) {
  m->hash.usr = kOriginated;
  const Ipv6 d = dst6(m);
  const PortCtl* p = port_by_id(port);
  if (d.is_multicast()) {
    if (!p) return drop(m, Drop::port_down, kMaxPorts);
    write_l2(m, d.multicast_mac(), p->ref.mac, RTE_ETHER_TYPE_IPV6);
    return transmit(port, m);
  }
  if (d.is_link_local()) {
    if (!p) return drop(m, Drop::port_down, kMaxPorts);
    const auto* n = neigh6_.find(d, port);  // this link's d (RFC 4007)
    if (n && n->usable() && n->port == port) {
      write_l2(m, n->mac, p->ref.mac, RTE_ETHER_TYPE_IPV6);
      return transmit(port, m);
    }
    NeighbourTable6::Effects fx;
    neigh6_.resolve(d, port, m, now, fx);
    return apply_neighbour_effects(fx, now);
  }
  const NextHopState* s = resolve6(d, m);
  if (!s) return drop(m, Drop::no_route, kMaxPorts);
  if (s->kind == NhKind::forward || s->kind == NhKind::unresolved || s->kind == NhKind::glean) {
    // The router never fragments its own IPv6 packets (ping refuses a size that does not fit
    // the path MTU before building it; ICMPv6 errors are at most 1,280 bytes, the lowest
    // path MTU there is): what is left is an echo reply larger than a path MTU learnt since
    // the request came in, dropped and counted, as a host with IPV6_DONTFRAG would.
    if (const uint32_t mtu = path_mtu6(d, s, now);
        mtu && rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN > mtu)
      return drop(m, Drop::frag_needed, kMaxPorts);
    if (send_redirected6(m, s, d, now)) return;
  }
  send_via6(m, s, d, now);
}

// ---------------------------------------------------------------- ICMPv6 errors

// RFC 4443 2.4: never about an error, a multicast or unspecified source, or (but for Packet
// Too Big) a multicast destination; limited per destination and in all (2.4 f). The source
// is the router's address on the port the offending packet came in by (RFC 4443 2.2).
void Control::send_icmp6_error(rte_mbuf* orig, uint8_t type, uint8_t code, uint32_t param,
                               uint16_t in_port, uint64_t now, const std::optional<Ipv6>& from) {
  auto* eth = rte_pktmbuf_mtod(orig, rte_ether_hdr*);
  // As much as fits in 1,280 bytes (2.4 c), past the first segment too.
  alignas(8) uint8_t whole[icmp6::min_mtu];
  size_t len;
  const uint8_t* ip = datagram_for_quote(orig, whole, sizeof whole, &len);
  LcoreStats& st = dp_.control_stats();
  if (!icmp6_error_allowed(ip, len, type, code, rte_is_multicast_ether_addr(&eth->dst_addr))) {
    st.drop[size_t(Drop::icmp_suppressed)].add();
    return;
  }
  const Ipv6 to = src6(orig);
  // Packet Too Big is exempt from the per-destination limit, as in Linux (icmpv6_mask_allow):
  // a host opening many flows through a narrower link needs each one, or its flows stall in
  // a black hole. The shared budget still bounds them.
  if (type != icmp6::packet_too_big && !icmp_limit_.allow(key_of(to), now)) {
    st.drop[size_t(Drop::icmp_source_limited)].add();
    return;
  }
  if (!icmp6_budget_.take(now)) {
    st.drop[size_t(Drop::icmp_rate_limited)].add();
    return;
  }
  const std::optional<Ipv6> src = from ? from : select_source6(in_port, to);
  if (!src) {
    st.drop[size_t(Drop::icmp_no_source)].add();
    return;
  }
  rte_mbuf* m;
  uint8_t* out = new_frame(m, RTE_ETHER_HDR_LEN + icmp6::min_mtu);
  if (!out) return;
  const size_t n =
      icmp6_build_error(ip, len, type, code, param, *src, out + RTE_ETHER_HDR_LEN, icmp6::min_mtu);
  if (n == 0) {
    rte_pktmbuf_free(m);
    st.drop[size_t(Drop::icmp_suppressed)].add();
    return;
  }
  rte_pktmbuf_trim(m, uint16_t(icmp6::min_mtu - n));
  event(Event::icmp6_error_sent);
  switch (type) {
    case icmp6::time_exceeded:
      event(Event::icmp6_time_exceeded_sent);
      break;
    case icmp6::dest_unreachable:
      event(Event::icmp6_unreachable_sent);
      break;
    case icmp6::packet_too_big:
      event(Event::icmp6_too_big_sent);
      break;
    default:
      event(Event::icmp6_param_problem_sent);
      break;
  }
  // Back by the port it came in on when the offender is on that link (link-local source),
  // else the way the FIB leads back.
  output6(m, in_port, now);
}

// ---------------------------------------------------------------- to the router

namespace {

// What the router as a host understands after the fixed header: TCP, UDP, ICMPv6, No Next
// Header, and the extension headers RFC 8200 4 lists (it drops what they carry to it).
bool known_next_header(uint8_t nh) {
  switch (nh) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case icmp6::next_header:
    case 59:  // No Next Header
    case ipv6_ext::hop_by_hop:
    case 43:   // Routing
    case 44:   // Fragment
    case 50:   // ESP
    case 51:   // AH
    case 60:   // Destination Options
    case 135:  // Mobility
    case 139:  // HIP
    case 140:  // Shim6
      return true;
    default:
      return false;
  }
}

}  // namespace

void Control::handle_local6(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  auto* ip = ip6_of(m);
  const size_t len = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;
  const size_t total = sizeof(rte_ipv6_hdr) + rte_be_to_cpu_16(ip->payload_len);
  if (total > len) return drop(m, Drop::local_unhandled, in_port);
  const Ipv6 d = dst6(m);
  // Multicast here is link scope (the worker passes nothing else): the groups the router
  // belongs to are all-nodes, all-routers and the solicited-node groups of its addresses.
  if (d.is_multicast() && d != kAllNodes && d != kAllRouters) {
    bool ours = false;
    for (const auto& p : ports_) {
      ours |= p.ll.solicited_node() == d;
      for (const auto& pa : p.addrs6) ours |= pa.addr.solicited_node() == d;
    }
    if (!ours) return drop(m, Drop::multicast_destination, in_port);
  }
  // MLD Queries come behind a Hop-by-Hop header with Router Alert (mld.cpp).
  if (ip->proto == ipv6_ext::hop_by_hop && d.is_multicast()) return handle_mld(m, in_port, now);
  // RFC 8200 4.3: every node examines Hop-by-Hop options, the router too when a datagram is
  // for it. They decide as in transit (handle_hop_by_hop); then the header goes and what
  // follows is delivered (an echo request, TCP for the kernel interfaces). Errors about
  // what follows quote the datagram without it.
  if (ip->proto == ipv6_ext::hop_by_hop) {
    const HbhVerdict v = ipv6_hop_by_hop(reinterpret_cast<const uint8_t*>(ip), len);
    if (refused_hop_by_hop(m, v, in_port, now, d)) return;
    // RFC 8200 4.1: Hop-by-Hop comes first only; another one is an unknown next header.
    if (v.next_header == ipv6_ext::hop_by_hop) {
      send_icmp6_error(m, icmp6::param_problem, icmp6::code_unrecognized_next_header,
                       sizeof(rte_ipv6_hdr), in_port, now, d);
      return drop(m, Drop::ipv6_bad_ext_header, in_port);
    }
    const uint16_t payload = uint16_t(total - sizeof(rte_ipv6_hdr) - v.length);
    auto* front = rte_pktmbuf_mtod(m, uint8_t*);
    std::memmove(front + v.length, front, RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr));
    rte_pktmbuf_adj(m, uint16_t(v.length));
    ip = ip6_of(m);
    ip->proto = v.next_header;
    ip->payload_len = rte_cpu_to_be_16(payload);
    return handle_local6(m, in_port, now);
  }
  if (ip->proto != icmp6::next_header) {
    const uint8_t* l4 = reinterpret_cast<const uint8_t*>(ip) + sizeof(rte_ipv6_hdr);
    if (!d.is_multicast() &&
        kernel_takes(m, ip->proto, l4, total - sizeof(rte_ipv6_hdr), in_port, now))
      return;
    if (ip->proto == IPPROTO_UDP && !d.is_multicast()) {
      // Nothing listens: Port Unreachable, which also ends a traceroute at the router.
      send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_port_unreachable, 0, in_port, now,
                       d);
    } else if (!d.is_multicast() && !known_next_header(ip->proto)) {
      // RFC 8200 4 and RFC 4443 3.4: a next header the router does not know, pointed at in the
      // fixed header (IPv4's Protocol Unreachable). Extension headers and TCP are known:
      // dropped as before, without an error.
      send_icmp6_error(m, icmp6::param_problem, icmp6::code_unrecognized_next_header,
                       offsetof(rte_ipv6_hdr, proto), in_port, now, d);
    }
    // Multicast never reaches kernel_takes: not the allow list's refusal.
    if (d.is_multicast()) return drop(m, Drop::local_unhandled, in_port);
    return drop_not_taken(m, in_port);
  }
  const uint8_t* ic = reinterpret_cast<const uint8_t*>(ip) + sizeof(rte_ipv6_hdr);
  const size_t icmp_len = total - sizeof(rte_ipv6_hdr);
  if (icmp_len < icmp6::header_len) return drop(m, Drop::local_unhandled, in_port);
  const uint8_t type = ic[0];
  if (type >= nd::router_solicit && type <= nd::redirect) {
    // As ARP: the kernel interface resolves from copies of solicitations and adverts. Router
    // Advertisements are copied too: a routing daemon's BGP unnumbered peering (FRR's
    // `neighbor PORT interface`) learns the peer's link-local address from them. The kernel
    // interfaces take nothing from them themselves (accept_ra 0, lib/kernel_if).
    if (cp_enabled() &&
        (type == nd::neighbor_solicit || type == nd::neighbor_advert || type == nd::router_advert))
      kernel_copy(m, in_port, now);
    return handle_ndp(m, in_port, now);
  }
  if (cp_enabled() && !(type == icmp6::echo_request && echo_reply_) &&
      kernel_allows(IPPROTO_ICMPV6, 0, 0))
    kernel_copy(m, in_port, now);
  if (type == icmp6::echo_request && echo_reply_) {
    const Ipv6 s = src6(m);
    if (icmp6_checksum(s, d, ic, icmp_len) != 0 || s.is_unspecified())
      return drop(m, Drop::local_unhandled, in_port);
    // The reply comes from the address pinged; for a group, from the port's own address,
    // and not at all while it is tentative.
    const std::optional<Ipv6> src = d.is_multicast() ? select_source6(in_port, s) : d;
    if (!src) return drop(m, Drop::icmp_no_source, in_port);
    const Ipv6 from = *src;
    std::memcpy(ip->src_addr, from.b.data(), 16);
    std::memcpy(ip->dst_addr, s.b.data(), 16);
    ip->hop_limits = 64;
    auto* w = reinterpret_cast<uint8_t*>(ip) + sizeof(rte_ipv6_hdr);
    w[0] = icmp6::echo_reply;
    w[2] = w[3] = 0;
    const uint16_t ck = icmp6_checksum(from, s, w, icmp_len);
    w[2] = uint8_t(ck >> 8);
    w[3] = uint8_t(ck);
    rte_pktmbuf_trim(m, uint16_t(len - total));
    event(Event::icmp6_echo_reply_sent);
    return output6(m, in_port, now);
  }
  if (type == icmp6::echo_reply || type == icmp6::dest_unreachable ||
      type == icmp6::packet_too_big || type == icmp6::time_exceeded) {
    if (icmp6_checksum(src6(m), d, ic, icmp_len) != 0)
      return drop(m, Drop::local_unhandled, in_port);
    return handle_icmp6_to_us(m, now);
  }
  return drop(m, Drop::local_unhandled, in_port);
}

void Control::handle_ndp(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  PortCtl* p = port_by_id(in_port);
  const auto* ip = reinterpret_cast<const uint8_t*>(ip6_of(m));
  const size_t ip_len = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;
  const std::optional<NdMessage> msg = p ? ndp_parse(ip, ip_len) : std::nullopt;
  if (!msg) {
    // A redirect failing RFC 4861 8.1's checks (hop limit, code, source, target) is also a
    // redirect not accepted: counted where accepted ones are.
    if (ip_len > nd::kIpv6HdrLen && ip[6] == nd::kNextHeaderIcmp6 &&
        ip[nd::kIpv6HdrLen] == nd::redirect)
      event(Event::redirect6_ignored);
    return drop(m, Drop::ndp_invalid, in_port);
  }
  event(Event::ndp_received);
  uint64_t sender = 0;
  std::memcpy(&sender, rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr.addr_bytes, 6);
  if (!arp_limit_.allow(sender, now)) return drop(m, Drop::arp_rate_limited, in_port);
  // Another node claiming a tentative address of ours (DAD, ra.cpp).
  if (dad_hook(in_port, *msg, rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr.addr_bytes)) {
    rte_pktmbuf_free(m);
    return;
  }
  // A message claiming one of the router's addresses is a conflict or a loop: never learn it.
  if (in_use6(msg->src)) return drop(m, Drop::ndp_invalid, in_port);
  // A neighbour is on this link when its address is link-local or in one of the port's
  // subnets; nothing else is learnt from it.
  bool on_link = msg->src.is_link_local();
  for (const auto& pa : p->addrs6) on_link |= pa.subnet.contains(msg->src);
  NeighbourTable6::Effects fx;
  switch (msg->type) {
    case nd::neighbor_solicit: {
      bool target_ours = p->ll == msg->target;
      for (const auto& pa : p->addrs6) target_ours |= pa.addr == msg->target;
      // Only an assigned address is answered for (RFC 4862 5.4.3; dad_hook took the
      // tentative ones DAD knows, this also covers one added since the last tick).
      if (!target_ours || !assigned6(in_port, msg->target)) break;
      if (on_link && msg->source_lla && !msg->src.is_unspecified())
        neigh6_.solicit_from(msg->src, *msg->source_lla, in_port, now, fx);
      // RFC 4861 7.2.4: to the soliciting address, or to all nodes for a DAD probe (whose
      // source is unspecified), without S then.
      const bool dad = msg->src.is_unspecified();
      const Ipv6 to = dad ? kAllNodes : msg->src;
      std::optional<Mac> to_mac =
          dad ? std::optional<Mac>(kAllNodes.multicast_mac()) : msg->source_lla;
      if (!to_mac) {
        if (const auto* n = neigh6_.find(msg->src, in_port); n && n->usable() && n->port == in_port)
          to_mac = n->mac;
      }
      if (!to_mac) {
        // No link-layer address to answer to (RFC 4861 7.2.4 allows resolving first); the
        // sender will retry with its option.
        break;
      }
      rte_mbuf* r;
      if (uint8_t* out = new_frame(r, kNdMaxFrame)) {
        const size_t n =
            ndp_build_na(out, p->ref.mac, msg->target, to, *to_mac, msg->target, true, !dad, true);
        rte_pktmbuf_trim(r, uint16_t(kNdMaxFrame - n));
        event(Event::ndp_advert_sent);
        transmit(in_port, r);
      }
      break;
    }
    case nd::neighbor_advert:
      if (in_use6(msg->target)) {
        log_limited("port " + p->ref.name + ": NA from " + msg->src.str(),
                    "it claims our address " + msg->target.str());
        break;
      }
      neigh6_.advert(msg->target, msg->target_lla, msg->solicited, msg->override_flag, msg->router,
                     in_port, now, fx);
      break;
    case nd::router_solicit:
    case nd::redirect:
      if (on_link && msg->source_lla && !msg->src.is_unspecified())
        neigh6_.solicit_from(msg->src, *msg->source_lla, in_port, now, fx);
      if (msg->type == nd::router_solicit) {
        // RFC 4861 6.2.6: whoever solicits is a host (its entry's IsRouter becomes false).
        if (!msg->src.is_unspecified()) neigh6_.set_router(msg->src, in_port, false);
        ra_solicited(in_port, *msg, now);  // ra.cpp
      }
      if (msg->type == nd::redirect) {  // about the router's own traffic (originate6.cpp)
        Mac l2_src;
        std::memcpy(l2_src.b.data(), rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr.addr_bytes,
                    6);
        learn_redirect6(*msg, in_port, l2_src, now, fx);
      }
      break;
    case nd::router_advert:  // from another router: its neighbour entry only (ra.cpp)
      ra_received(in_port, *msg, now, fx);
      break;
    default:
      break;
  }
  rte_pktmbuf_free(m);
  apply_neighbour_effects(fx, now);
}

// ---------------------------------------------------------------- neighbours

void Control::send_ns(uint16_t port, const Ipv6& target, const std::optional<Mac>& unicast) {
  const PortCtl* p = port_by_id(port);
  if (!p) return;
  const std::optional<Ipv6> src = select_source6(port, target);
  if (!src) return;
  rte_mbuf* m;
  uint8_t* out = new_frame(m, kNdMaxFrame);
  if (!out) return;
  const size_t n = unicast ? ndp_build_ns(out, p->ref.mac, *src, target, &target, &*unicast)
                           : ndp_build_ns(out, p->ref.mac, *src, target);
  rte_pktmbuf_trim(m, uint16_t(kNdMaxFrame - n));
  event(Event::ndp_solicit_sent);
  transmit(port, m);
}

void Control::apply_neighbour_effects(NeighbourTable6::Effects& fx, uint64_t now) {
  for (const auto& r : fx.requests) send_ns(r.port, r.target, r.unicast);
  for (auto& rel : fx.released) {
    const auto* n = neigh6_.find(rel.key);
    const PortCtl* p = n ? port_by_id(n->port) : nullptr;
    for (rte_mbuf* m : rel.packets) {
      if (!n || !n->usable() || !p) {
        drop(m, Drop::neighbour_failed, m->port);
        continue;
      }
      // RFC 5549: IPv4 packets wait for IPv6 gateways of IPv4 routes too.
      const bool v4 = ip_version(m) == 4;
      if (m->hash.usr == kTransit) {
        if (v4 ? ip_of(m)->time_to_live <= 1 : ip6_of(m)->hop_limits <= 1) {
          drop(m, Drop::ttl_exceeded, m->port);
          continue;
        }
        if (v4)
          ipv4_decrement_ttl(ip_of(m));
        else
          ip6_of(m)->hop_limits--;
      }
      write_l2(m, n->mac, p->ref.mac, v4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
      event(Event::neighbour_released);
      transmit(n->port, m);
    }
  }
  for (const ScopedIpv6& key : fx.changed) {
    const auto* n = neigh6_.find(key);
    event(n && n->usable() ? Event::neighbour_resolved : Event::neighbour_failed);
    note_liveness(key, n);
    // A link-local neighbour is the next hop of its own port's slots only; IPv4 slots
    // through it (RFC 5549) are rebuilt with the IPv6 ones.
    pub_.refresh_if([key](const NhKey& k) {
      return k.ndp() && k.type == NhType::adjacency && k.ip6 == key.ip &&
             (key.zone == ScopedIpv6::kNoZone || k.port == key.zone);
    });
  }
  for (rte_mbuf* m : fx.failed) {
    // RFC 4443 3.1 / RFC 4861 7.2.2: code 3, address unreachable. An IPv4 packet through an
    // IPv6 gateway (RFC 5549): Host Unreachable, as when ARP fails (RFC 1812 4.3.3.1).
    if (m->hash.usr == kTransit) {
      if (ip_version(m) == 4)
        send_icmp_error(m, icmp::dest_unreachable, icmp::code_host_unreachable, 0, m->port,
                        std::nullopt, now);
      else
        send_icmp6_error(m, icmp6::dest_unreachable, icmp6::code_address_unreachable, 0, m->port,
                         now);
    }
    drop(m, Drop::neighbour_failed, m->port);
  }
  drop_unsent(fx);
  if (fx.not_learnt) event(Event::ndp_not_learnt, fx.not_learnt);
  try {
    for (const ScopedIpv6& key : fx.changed)
      if (!key.ip.is_link_local()) sync(Prefix6{key.ip, 128});
    pub_.commit();
  } catch (const FibError& e) {
    pub_.rollback();
    event(Event::neighbour_route_skipped);
    log_limited("a neighbour's host route was not installed", e.what());
  }
}

}  // namespace routerd
