// The slow path: packets workers hand over (ARP, packets for the router, ICMP errors,
// packets waiting for ARP) and packets the router originates.
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

namespace routerd {

namespace {
// Who a packet held by the slow path belongs to, kept in the mbuf's application field:
// transit packets still need their TTL decremented when released; router-made ones do not.
constexpr uint32_t kTransit = 0x7472616e;     // "tran"
constexpr uint32_t kOriginated = 0x6f726967;  // "orig"

rte_ipv4_hdr* ip_of(rte_mbuf* m) {
  return rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
}

void write_l2(rte_mbuf* m, const Mac& dst, const Mac& src) {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  std::memcpy(eth->dst_addr.addr_bytes, dst.b.data(), 6);
  std::memcpy(eth->src_addr.addr_bytes, src.b.data(), 6);
  eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
}
}  // namespace

void Control::event(Event e, uint64_t n) {
  dp_.control_stats().event[size_t(e)].add(n);
}

void Control::drop(rte_mbuf* m, Drop d, uint16_t in_port) {
  LcoreStats& st = dp_.control_stats();
  if (in_port < kMaxPorts)
    st.count_drop(d, in_port);
  else
    st.drop[size_t(d)].add();  // router-made packet: no input port to charge
  rte_pktmbuf_free(m);
}

void Control::transmit(uint16_t port, rte_mbuf* m) {
  // Worker 0 sends it (and counts it as sent); ports have no queue of the control thread's.
  TxEntry e{m, port, {0, 0, 0}};
  if (rte_ring_sp_enqueue_elem(dp_.ctl_tx, &e, sizeof e) != 0) drop(m, Drop::tx_full, port);
}

bool Control::icmp_bucket(uint64_t now) {
  if (icmp_rate_ == 0) return false;
  // Milli-tokens: rate tokens per second is rate milli-tokens per millisecond.
  uint64_t cap = uint64_t(icmp_burst_) * 1000;
  icmp_tokens_ = std::min(cap, icmp_tokens_ + (now - icmp_last_ms_) * icmp_rate_);
  icmp_last_ms_ = now;
  if (icmp_tokens_ < 1000) return false;
  icmp_tokens_ -= 1000;
  return true;
}

void Control::handle_punt(const PuntEntry& e, uint64_t now) {
  rte_mbuf* m = e.m;
  switch (Punt(e.reason)) {
    case Punt::arp:
      handle_arp(m, e.in_port, now);
      return;
    case Punt::local:
      handle_local(m, e.in_port, now);
      return;
    case Punt::unresolved:
      handle_unresolved(m, e.in_port, now);
      return;
    case Punt::ttl_exceeded:
      // RFC 1812 5.3.1 / RFC 792: Time Exceeded, code 0 (in transit).
      send_icmp_error(m, icmp::time_exceeded, 0, 0, e.in_port, std::nullopt, now);
      drop(m, Drop::ttl_exceeded, e.in_port);
      return;
    case Punt::no_route:
      // RFC 1812 5.2.7.1: Network Unreachable when no route matches.
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_net_unreachable, 0, e.in_port,
                      std::nullopt, now);
      drop(m, Drop::no_route, e.in_port);
      return;
    case Punt::frag_needed:
      // RFC 1191 4: the next-hop MTU goes in the low 16 bits of the second word.
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_frag_needed, e.aux & 0xffff, e.in_port,
                      std::nullopt, now);
      drop(m, Drop::frag_needed, e.in_port);
      return;
    case Punt::redirect:
      handle_redirect(m, e.aux, e.in_port, now);
      return;
    case Punt::param_problem:
      // RFC 1812 5.2.5 / RFC 792: the pointer names the offending octet.
      send_icmp_error(m, icmp::param_problem, 0, (e.aux & 0xff) << 24, e.in_port, std::nullopt,
                      now);
      drop(m, Drop::bad_options, e.in_port);
      return;
    case Punt::count:
      break;
  }
  drop(m, Drop::local_unhandled, e.in_port);
}

void Control::handle_redirect(rte_mbuf* m, uint32_t nh_id, uint16_t in_port, uint64_t now) {
  const NextHopState* s = nh_id < nh_.size() ? nh_[nh_id].state : nullptr;
  if (!s || s->kind != NhKind::forward) {
    // The next hop changed since the worker looked: let the packet take the normal path
    // on its next trip; this one is dropped rather than forwarded on stale data.
    drop(m, Drop::no_route, in_port);
    return;
  }
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  const Ipv4 src(rte_be_to_cpu_32(ip->src_addr));
  // RFC 1812 5.2.7.2: only to a source on the subnet the packet came from, whose better
  // first hop is on that subnet too; at most one per second per source (a small fixed
  // table: memory stays bounded however many sources there are).
  std::optional<Ipv4> our_addr;
  if (const PortCtl* p = port_by_id(in_port))
    for (const auto& pa : p->addrs)
      if (pa.subnet.contains(src) && pa.subnet.contains(s->gateway)) our_addr = pa.addr;
  auto& slot = redirect_last_[(src.v * 2654435761u) >> (32 - kRedirectSlotsLog2)];
  if (our_addr && !(slot.ip == src.v && now - slot.ms < 1000)) {
    slot = {src.v, now};
    // Code 1: redirect for the host; the gateway goes in the second word.
    send_icmp_error(m, icmp::redirect, 1, s->gateway.v, in_port, our_addr, now);
  } else {
    event(Event::redirect_suppressed);
  }
  // Forward it as the worker would have.
  rte_ipv4_hdr* h = ip;
  ipv4_decrement_ttl(h);
  std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), s->l2, RTE_ETHER_HDR_LEN);
  transmit(s->port, m);
}

void Control::send_icmp_error(rte_mbuf* orig, uint8_t type, uint8_t code, uint32_t rest,
                              uint16_t in_port, std::optional<Ipv4> src, uint64_t now) {
  (void)in_port;
  auto* eth = rte_pktmbuf_mtod(orig, rte_ether_hdr*);
  const auto* ip = reinterpret_cast<const uint8_t*>(eth + 1);
  size_t len = rte_pktmbuf_data_len(orig) - RTE_ETHER_HDR_LEN;
  auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
  Ipv4 s(rte_be_to_cpu_32(h->src_addr)), d(rte_be_to_cpu_32(h->dst_addr));
  LcoreStats& st = dp_.control_stats();
  if (!icmp_error_allowed(ip, len, rte_is_multicast_ether_addr(&eth->dst_addr),
                          is_subnet_broadcast(d), is_subnet_broadcast(s))) {
    st.drop[size_t(Drop::icmp_suppressed)].add();
    return;
  }
  if (!icmp_bucket(now)) {
    st.drop[size_t(Drop::icmp_rate_limited)].add();
    return;
  }
  // RFC 1812 4.3.2.4: the source is an address of the interface the error leaves by, which
  // is wherever the route back to the sender points.
  if (!src) {
    uint32_t id = dp_.fib.lookup(s.v);
    const NextHopState* back = id != Fib::kNoRoute ? nh_[id].state : nullptr;
    if (back && back->kind != NhKind::local && back->kind != NhKind::broadcast)
      src = icmp_select_source(port_addresses(back->port), s);
  }
  if (!src) {
    st.drop[size_t(Drop::icmp_no_source)].add();
    return;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    st.drop[size_t(Drop::no_mbuf)].add();
    return;
  }
  auto* out =
      reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, RTE_ETHER_HDR_LEN + icmp::max_error_len));
  if (!out) {
    rte_pktmbuf_free(m);
    st.drop[size_t(Drop::no_mbuf)].add();
    return;
  }
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
  uint32_t id = dp_.fib.lookup(d.v);
  const NextHopState* s = id != Fib::kNoRoute ? nh_[id].state : nullptr;
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
  // A learnt first hop (accept_redirects) replaces the route's gateway for this destination.
  if (e && e->gateway && (s->kind == NhKind::forward || s->kind == NhKind::unresolved)) {
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
  if (mtu && total > mtu && s->kind == NhKind::forward) {
    rte_mbuf* frags[kMaxFragments];
    int n = fragment_ipv4(m, mtu, s->l2, pool_, frags);
    rte_pktmbuf_free(m);
    if (n <= 0) {
      dp_.control_stats().drop[size_t(Drop::fragment_failed)].add();
      return 0;
    }
    for (int i = 0; i < n; ++i) transmit(s->port, frags[i]);
    return 0;
  }
  output(m, now);
  return 0;
}

void Control::output(rte_mbuf* m, uint64_t now) {
  m->hash.usr = kOriginated;
  Ipv4 d(rte_be_to_cpu_32(ip_of(m)->dst_addr));
  uint32_t id = dp_.fib.lookup(d.v);
  const NextHopState* s = id != Fib::kNoRoute ? nh_[id].state : nullptr;
  if (!s) return drop(m, Drop::no_route, 0);
  NeighbourTable::Effects fx;
  switch (s->kind) {
    case NhKind::forward:
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), s->l2, RTE_ETHER_HDR_LEN);
      transmit(s->port, m);
      return;
    case NhKind::unresolved:
      neigh_.resolve(s->gateway, s->port, m, now, fx);
      break;
    case NhKind::glean:
      neigh_.resolve(d, s->port, m, now, fx);
      break;
    default:
      return drop(m, Drop::local_unhandled, 0);
  }
  apply_neighbour_effects(fx, now);
}

nlohmann::json Control::ping_send(uint16_t ident, uint16_t seq, Ipv4 dst, uint16_t size, bool df) {
  const uint64_t now = now_ms();
  uint32_t id = dp_.fib.lookup(dst.v);
  const NextHopState* s = id != Fib::kNoRoute ? nh_[id].state : nullptr;
  if (!s) return {{"error", "no route to " + dst.str()}};
  if (s->kind == NhKind::local || s->kind == NhKind::broadcast)
    return {{"error", dst.str() + " is an address of this router or a broadcast"}};
  const Ipv4 first_hop = s->gateway.v ? s->gateway : dst;
  auto src = icmp_select_source(port_addresses(s->port), first_hop);
  if (!src) return {{"error", "the egress port has no address"}};
  const uint32_t ip_len = 20 + icmp::header_len + size;
  const uint32_t room = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  if (RTE_ETHER_HDR_LEN + ip_len > room)
    return {{"error", "size " + std::to_string(size) +
                          " does not fit the packet buffers (at most " +
                          std::to_string(room - RTE_ETHER_HDR_LEN - 28) + ")"}};
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return {{"error", "no packet buffer free"}};
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(RTE_ETHER_HDR_LEN + ip_len)));
  if (!p) {
    rte_pktmbuf_free(m);
    return {{"error", "no packet buffer free"}};
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + RTE_ETHER_HDR_LEN);
  std::memset(ip, 0, 20);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(uint16_t(ip_len));
  ip->packet_id = rte_cpu_to_be_16(ip_id_++);
  ip->fragment_offset = df ? RTE_BE16(RTE_IPV4_HDR_DF_FLAG) : 0;
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = rte_cpu_to_be_32(src->v);
  ip->dst_addr = rte_cpu_to_be_32(dst.v);
  ip->hdr_checksum = ipv4_header_checksum(ip);
  uint8_t* ic = p + RTE_ETHER_HDR_LEN + 20;
  std::memset(ic, 0, icmp::header_len + size);
  ic[0] = icmp::echo_request;
  ic[4] = uint8_t(ident >> 8);
  ic[5] = uint8_t(ident);
  ic[6] = uint8_t(seq >> 8);
  ic[7] = uint8_t(seq);
  // The send time rides in the payload and comes back in the reply, as with ping(8).
  uint64_t tsc = rte_rdtsc();
  std::memcpy(ic + icmp::header_len, &tsc, std::min<size_t>(size, sizeof tsc));
  for (uint32_t i = sizeof tsc; i < size; ++i) ic[icmp::header_len + i] = uint8_t(i);
  uint16_t c = icmp_checksum(ic, icmp::header_len + size);
  std::memcpy(ic + 2, &c, 2);
  nlohmann::json j = {{"src", src->str()}};
  if (uint16_t mtu = output_originated(m, now)) j["local_error_mtu"] = mtu;
  return j;
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
    }
    rte_pktmbuf_free(m);
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
  const uint8_t type = ic[0], code = ic[1];
  const uint16_t mtu = uint16_t(ic[6] << 8 | ic[7]);
  if (q[9] == IPPROTO_ICMP && qlen >= qihl + 8 && q[qihl] == icmp::echo_request) {
    uint16_t ident = uint16_t(q[qihl + 4] << 8 | q[qihl + 5]);
    uint16_t seq = uint16_t(q[qihl + 6] << 8 | q[qihl + 7]);
    if (auto s = session(ident))
      s->events.push(PingEvent{seq, false, from, ip->time_to_live, type, code, mtu, 0, 0});
  }
  if (type == icmp::dest_unreachable && code == icmp::code_frag_needed) learn_pmtu(qdst, mtu, now);
  if (type == icmp::redirect && (code == 1 || code == 0)) {
    const Ipv4 gw(uint32_t(ic[4]) << 24 | uint32_t(ic[5]) << 16 | uint32_t(ic[6]) << 8 | ic[7]);
    learn_redirect(qdst, gw, from, now);
  }
  rte_pktmbuf_free(m);
}

void Control::learn_pmtu(Ipv4 dst, uint16_t mtu, uint64_t now) {
  const Route* rt = rib_.lookup(dst);
  uint32_t id = dp_.fib.lookup(dst.v);
  const NextHopState* s = id != Fib::kNoRoute ? nh_[id].state : nullptr;
  const uint16_t cur = path_mtu(dst, s, now);
  // RFC 1191: a report that would raise the path MTU (or carries none) is ignored; a very
  // low one is raised to the floor, and then only if that still lowers it.
  if (!rt || mtu == 0 || (cur && mtu >= cur)) {
    event(Event::pmtu_ignored);
    return;
  }
  mtu = std::max(mtu, pmtu_min_);
  if (cur && mtu >= cur) {
    event(Event::pmtu_ignored);
    return;
  }
  RouteException& e = exc_.upsert(dst.v, *rt, now);
  e.metrics.mtu = mtu;
  e.pmtu_expires_ms = now + uint64_t(pmtu_expires_s_) * 1000;
  event(Event::pmtu_learned);
  dirty_ = true;
  commit();
}

void Control::learn_redirect(Ipv4 dst, Ipv4 gw, Ipv4 from, uint64_t now) {
  const Route* rt = rib_.lookup(dst);
  // RFC 1122 3.2.2.2: only from the current first hop, naming a gateway on the same link.
  const Ipv4 first = rt && rt->via ? *rt->via : dst;
  const PortCtl* gp = rt ? port_for_gateway(gw, "") : nullptr;
  if (!accept_redirects_ || !rt || from != first || !gp || gp->ref.id != rt->port ||
      local_address_port(gw)) {
    event(Event::redirect_ignored);
    return;
  }
  RouteException& e = exc_.upsert(dst.v, *rt, now);
  e.gateway = gw.v;
  e.redirect_expires_ms = now + uint64_t(redirect_expires_s_) * 1000;
  event(Event::redirect_learned);
  dirty_ = true;
  commit();
}

void Control::handle_unresolved(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  m->hash.usr = kTransit;
  Ipv4 d(rte_be_to_cpu_32(ip_of(m)->dst_addr));
  // Look again rather than trust the id the worker saw: the route may have changed since.
  uint32_t id = dp_.fib.lookup(d.v);
  const NextHopState* s = id != Fib::kNoRoute ? nh_[id].state : nullptr;
  NeighbourTable::Effects fx;
  if (!s) {
    send_icmp_error(m, icmp::dest_unreachable, icmp::code_net_unreachable, 0, in_port, std::nullopt,
                    now);
    return drop(m, Drop::no_route, in_port);
  }
  switch (s->kind) {
    case NhKind::forward:
      ipv4_decrement_ttl(ip_of(m));
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), s->l2, RTE_ETHER_HDR_LEN);
      transmit(s->port, m);
      return;
    case NhKind::unresolved:
      neigh_.resolve(s->gateway, s->port, m, now, fx);
      break;
    case NhKind::glean:
      neigh_.resolve(d, s->port, m, now, fx);
      break;
    case NhKind::local:
      return handle_local(m, in_port, now);
    case NhKind::broadcast:
      return drop(m, Drop::directed_broadcast, in_port);
  }
  apply_neighbour_effects(fx, now);
}

void Control::apply_neighbour_effects(NeighbourTable::Effects& fx, uint64_t now) {
  for (const auto& r : fx.requests) send_arp_request(r.port, r.target, r.unicast);
  // Queued packets go out before the resolved state is published, so they are not
  // overtaken by packets the workers forward once they see it.
  for (auto& rel : fx.released) {
    const Neighbour* n = neigh_.find(rel.ip);
    const PortCtl* p = n ? port_by_id(n->port) : nullptr;
    for (rte_mbuf* m : rel.packets) {
      if (!n || !n->usable() || !p) {
        drop(m, Drop::neighbour_failed, m->port);
        continue;
      }
      if (m->hash.usr == kTransit) {
        auto* ip = ip_of(m);
        if (ip->time_to_live <= 1) {  // cannot happen for worker punts; be safe anyway
          drop(m, Drop::ttl_exceeded, m->port);
          continue;
        }
        ipv4_decrement_ttl(ip);
      }
      write_l2(m, n->mac, p->ref.mac);
      event(Event::neighbour_released);
      transmit(n->port, m);
    }
  }
  for (Ipv4 ip : fx.changed) {
    const Neighbour* n = neigh_.find(ip);
    event(n && n->usable() ? Event::neighbour_resolved : Event::neighbour_failed);
    nh_refresh_neighbour(ip);
    sync(Prefix4{ip, 32});
  }
  for (rte_mbuf* m : fx.failed) {
    // RFC 1812 4.3.3.1 / RFC 4861 7.2.2: the last hop could not resolve the destination.
    if (m->hash.usr == kTransit)
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_host_unreachable, 0, m->port,
                      std::nullopt, now);
    drop(m, Drop::neighbour_failed, m->port);
  }
  for (rte_mbuf* m : fx.overflowed) drop(m, Drop::neighbour_queue_overflow, m->port);
  for (rte_mbuf* m : fx.table_full) drop(m, Drop::neighbour_table_full, m->port);
  try {
    commit();
  } catch (const FibError& e) {
    // The neighbour's host route is an optimisation: without it, its traffic goes through
    // the slow path until the table has room.
    spdlog::warn("neighbour host route not installed: {}", e.what());
  }
}

void Control::send_arp_request(uint16_t port, Ipv4 target, const std::optional<Mac>& unicast) {
  const PortCtl* p = port_by_id(port);
  if (!p) return;
  auto src = icmp_select_source(port_addresses(port), target);
  if (!src) return;
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    dp_.control_stats().drop[size_t(Drop::no_mbuf)].add();
    return;
  }
  auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kMinFrameLen));
  Mac bcast;
  bcast.b.fill(0xff);
  arp_build_frame(out, unicast ? *unicast : bcast, p->ref.mac,
                  arp_request(p->ref.mac, *src, target));
  event(Event::arp_request_sent);
  transmit(port, m);
}

void Control::handle_arp(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  PortCtl* p = port_by_id(in_port);
  std::optional<ArpPacket> a;
  if (p && rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + kArpLen)
    a = arp_parse(rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN),
                  rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN);
  if (!a) return drop(m, Drop::arp_invalid, in_port);
  event(Event::arp_received);
  bool target_ours = false, sender_on_link = false;
  for (const auto& pa : p->addrs) {
    target_ours |= pa.addr == a->tpa;
    sender_on_link |= pa.subnet.contains(a->spa);
  }
  // A packet claiming one of our own addresses is a conflict or a loop: never learn it.
  if (local_address_port(a->spa)) {
    spdlog::warn("port {}: ARP from {} claims our address {}", p->ref.name, a->sha.str(),
                 a->spa.str());
    return drop(m, Drop::arp_invalid, in_port);
  }
  if (a->op == ArpPacket::request && target_ours) {
    if (rte_mbuf* r = rte_pktmbuf_alloc(pool_)) {
      auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, kMinFrameLen));
      arp_build_frame(out, a->sha, p->ref.mac, arp_reply_to(*a, p->ref.mac));
      event(Event::arp_reply_sent);
      transmit(in_port, r);
    } else {
      dp_.control_stats().drop[size_t(Drop::no_mbuf)].add();
    }
  }
  NeighbourTable::Effects fx;
  // RFC 826 merge: refresh what we know; create entries only from exchanges with us.
  if (sender_on_link && a->spa.v != 0) neigh_.learn(a->spa, a->sha, in_port, target_ours, now, fx);
  rte_pktmbuf_free(m);
  apply_neighbour_effects(fx, now);
}

void Control::handle_local(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  auto* ip = ip_of(m);
  size_t ihl = size_t(ip->version_ihl & 0xf) * 4;
  size_t total = rte_be_to_cpu_16(ip->total_length);
  Ipv4 dst(rte_be_to_cpu_32(ip->dst_addr));
  if (ipv4_is_fragment(ip)) {
    // Replies to the router's own large pings come back in fragments. The table is small
    // and fixed (kReassembly*), entries time out after two seconds: fragments cannot make
    // the control thread hold more than that.
    m->l2_len = RTE_ETHER_HDR_LEN;
    m->l3_len = uint16_t(ihl);
    rte_mbuf* whole =
        rte_ipv4_frag_reassemble_packet(frag_tbl_.get(), &death_row_, m, rte_rdtsc(), ip);
    rte_ip_frag_free_death_row(&death_row_, 0);
    if (!whole) return;  // kept for later, or dropped by the table
    if (rte_pktmbuf_linearize(whole) != 0) return drop(whole, Drop::local_unhandled, in_port);
    m = whole;
    ip = ip_of(m);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = ipv4_header_checksum(ip);
    total = rte_be_to_cpu_16(ip->total_length);
  }
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + total)
    return drop(m, Drop::local_unhandled, in_port);
  switch (ip->next_proto_id) {
    case IPPROTO_ICMP: {
      auto* icmp_hdr = reinterpret_cast<uint8_t*>(ip) + ihl;
      if (echo_reply_ && total >= ihl + icmp::header_len && icmp_hdr[0] == icmp::echo_request &&
          icmp_echo_to_reply(reinterpret_cast<uint8_t*>(ip), total)) {
        event(Event::icmp_echo_reply_sent);
        output(m, now);
        return;
      }
      if (total >= ihl + icmp::header_len &&
          (icmp_hdr[0] == icmp::echo_reply || icmp_hdr[0] == icmp::dest_unreachable ||
           icmp_hdr[0] == icmp::redirect || icmp_hdr[0] == icmp::time_exceeded)) {
        handle_icmp_to_us(m, now);
        return;
      }
      return drop(m, Drop::local_unhandled, in_port);
    }
    case IPPROTO_UDP:
      // Nothing listens: Port Unreachable, which also ends a traceroute at the router.
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_port_unreachable, 0, in_port, dst, now);
      return drop(m, Drop::local_unhandled, in_port);
    case IPPROTO_TCP:
      return drop(m, Drop::local_unhandled, in_port);
    default:
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_protocol_unreachable, 0, in_port, dst,
                      now);
      return drop(m, Drop::local_unhandled, in_port);
  }
}

}  // namespace routerd
