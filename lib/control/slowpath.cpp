// The slow path: packets workers hand over (ARP, packets for the router, ICMP errors to send,
// packets waiting for ARP), and what neighbour changes set off.
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

uint8_t* Control::new_frame(rte_mbuf*& m, size_t len) {
  m = rte_pktmbuf_alloc(pool_);
  auto* out = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(len))) : nullptr;
  if (!out) {
    rte_pktmbuf_free(m);  // a pool whose buffers are smaller than len, or none left
    m = nullptr;
    dp_.control_stats().drop[size_t(Drop::no_mbuf)].add();
  }
  return out;
}

void Control::transmit(uint16_t port, rte_mbuf* m) {
  // Worker 0 sends it (and counts it as sent); ports have no queue of the control thread's.
  TxEntry e{m, port, {0, 0, 0}};
  if (rte_ring_sp_enqueue_elem(dp_.ctl_tx, &e, sizeof e) != 0) drop(m, Drop::tx_full, port);
}

void Control::handle_punt(const PuntEntry& e, uint64_t now) {
  rte_mbuf* m = e.m;
  if (rte_pktmbuf_mtod(m, const rte_ether_hdr*)->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6))
    return handle_punt6(e, now);
  switch (Punt(e.reason)) {
    case Punt::arp:
      // The kernel interface's stack resolves its own neighbours from the copies.
      if (cp_enabled()) kernel_copy(m, e.in_port, now);
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
      handle_redirect(m, e.in_port, now);
      return;
    case Punt::param_problem:
      // RFC 1812 5.2.5 / RFC 792: the pointer names the offending octet.
      send_icmp_error(m, icmp::param_problem, 0, (e.aux & 0xff) << 24, e.in_port, std::nullopt,
                      now);
      drop(m, Drop::bad_options, e.in_port);
      return;
    case Punt::prohibited:
      return reject(m, NhKind::prohibit, e.in_port, now);
    case Punt::unreachable:
      return reject(m, NhKind::unreachable, e.in_port, now);
    case Punt::link_multicast:
      return kernel_multicast(m, e.in_port, now);
    case Punt::broadcast:
      return handle_broadcast(m, e.in_port, now);
    case Punt::ndp:  // IPv6 only
    case Punt::beyond_scope:
    case Punt::hop_by_hop:
    case Punt::count:
      break;
  }
  drop(m, Drop::local_unhandled, e.in_port);
}

void Control::reject(rte_mbuf* m, NhKind k, uint16_t in_port, uint64_t now) {
  const bool transit = in_port < kMaxPorts;
  switch (k) {
    case NhKind::prohibit:
      // RFC 1812 5.2.7.1: code 13, the router administratively filters the destination.
      if (transit)
        send_icmp_error(m, icmp::dest_unreachable, icmp::code_admin_prohibited, 0, in_port,
                        std::nullopt, now);
      return drop(m, Drop::prohibited, in_port);
    case NhKind::unreachable:
      // Host Unreachable, as Linux answers for an unreachable route (EHOSTUNREACH).
      if (transit)
        send_icmp_error(m, icmp::dest_unreachable, icmp::code_host_unreachable, 0, in_port,
                        std::nullopt, now);
      return drop(m, Drop::unreachable, in_port);
    default:  // blackhole: silently
      return drop(m, Drop::blackhole, in_port);
  }
}

void Control::handle_redirect(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  // Look again rather than trust the next-hop id the worker saw: while the packet waited
  // in the ring, that slot may have been freed and given to another next hop.
  const NextHopState* s = resolve(Ipv4(rte_be_to_cpu_32(ip->dst_addr)), m);
  // The route changed since: the packet takes the path the FIB gives now, no redirect, as
  // a punted unresolved one does (its TTL taken once: a packet that waits for the
  // neighbour has it taken when it is released).
  if (!s || s->kind != NhKind::forward || s->port != in_port)
    return handle_unresolved(m, in_port, now);
  const Ipv4 src(rte_be_to_cpu_32(ip->src_addr));
  // RFC 1812 5.2.7.2: only to a source on the subnet the packet came from, whose better
  // first hop is on that subnet too; at most one per second per source and 9 in a row
  // (RedirectBackoff: a fixed table, bounded however many sources there are).
  // An IPv4 redirect names an IPv4 gateway: a route through an IPv6 one (RFC 5549) gets
  // none, its packets are only forwarded.
  std::optional<Ipv4> our_addr;
  if (const PortCtl* p = port_by_id(in_port); p && s->gateway6.is_unspecified())
    for (const auto& pa : p->addrs)
      if (pa.subnet.contains(src) && pa.subnet.contains(s->gateway)) our_addr = pa.addr;
  if (our_addr && redirect_backoff_.allow(src.v, now)) {
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

void Control::handle_unresolved(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  m->hash.usr = kTransit;
  Ipv4 d(rte_be_to_cpu_32(ip_of(m)->dst_addr));
  // Look again rather than trust the id the worker saw: the route may have changed since.
  const NextHopState* s = resolve(d, m);
  if (!s) {
    send_icmp_error(m, icmp::dest_unreachable, icmp::code_net_unreachable, 0, in_port, std::nullopt,
                    now);
    return drop(m, Drop::no_route, in_port);
  }
  // Resolved since the worker looked: forward it as the worker would have (queued packets
  // get their TTL decremented when they are released; worker 0 puts a tunnel's packets in
  // their outer header as it does the router's own, TTL untouched).
  if (nh_rejects(s->kind)) return reject(m, s->kind, in_port, now);
  if (s->kind == NhKind::forward || s->kind == NhKind::tunnel) ipv4_decrement_ttl(ip_of(m));
  if (send_via(m, s, d, now)) return;
  if (s->kind == NhKind::local) return handle_local(m, in_port, now);
  drop(m, Drop::directed_broadcast, in_port);
}

void Control::handle_broadcast(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  m->hash.usr = kTransit;
  rte_ipv4_hdr* ip = ip_of(m);
  const Ipv4 d(rte_be_to_cpu_32(ip->dst_addr));
  const PortCtl* out = nullptr;
  for (const auto& p : ports_)
    for (const auto& pa : p.addrs)
      if (!p.tunnel && pa.subnet.len <= 30 && pa.subnet.broadcast() == d) out = &p;
  // The route moved while the packet waited: it goes where the FIB says now.
  if (!out) return handle_unresolved(m, in_port, now);
  // The router is one of the subnet's hosts (RFC 1812 5.3.5.2), and Linux delivers its own
  // copy too; the kernel's allow list decides as for unicast (no cp_denied count: the
  // datagram was for the subnet, not aimed at the router).
  if (cp_enabled()) {
    const size_t ihl = size_t(ip->version_ihl & 0xf) * 4;
    const auto* l4 = reinterpret_cast<const uint8_t*>(ip) + ihl;
    const size_t l4_len = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN - ihl;
    uint16_t sport = 0, dport = 0;
    if ((ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) && l4_len >= 4 &&
        !ipv4_is_later_fragment(ip)) {
      sport = uint16_t(l4[0] << 8 | l4[1]);
      dport = uint16_t(l4[2] << 8 | l4[3]);
    }
    if (kernel_allows(ip->next_proto_id, sport, dport)) kernel_copy(m, in_port, now);
  }
  // Off (RFC 2644's default), or already on its subnet's own link: no further.
  if (!dp_.params.forward_directed_broadcast || out->ref.id == in_port)
    return drop(m, Drop::directed_broadcast, in_port);
  // Forwarded as any datagram is, except that no ICMP error is ever about a broadcast
  // (RFC 1812 4.3.2.7): an expired TTL or DF on one too big is dropped, counted.
  if (ip->time_to_live <= 1) return drop(m, Drop::ttl_exceeded, in_port);
  ipv4_decrement_ttl(ip);
  uint8_t l2[RTE_ETHER_HDR_LEN];
  std::memset(l2, 0xff, 6);
  std::memcpy(l2 + 6, out->ref.mac.b.data(), 6);
  l2[12] = 0x08;
  l2[13] = 0x00;
  if (rte_be_to_cpu_16(ip->total_length) > out->ref.mtu) {
    if (ipv4_df(ip)) return drop(m, Drop::frag_needed, in_port);
    rte_mbuf* frags[kMaxFragments];
    const int n = fragment_ipv4(m, out->ref.mtu, l2, pool_, frags);
    rte_pktmbuf_free(m);
    if (n <= 0) {
      dp_.control_stats().drop[size_t(Drop::fragment_failed)].add();
      return;
    }
    for (int i = 0; i < n; ++i) {
      frags[i]->hash.usr = kTransit;
      transmit(out->ref.id, frags[i]);
    }
    event(Event::directed_broadcast_forwarded);
    return;
  }
  std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), l2, RTE_ETHER_HDR_LEN);
  transmit(out->ref.id, m);
  event(Event::directed_broadcast_forwarded);
}

void Control::apply_neighbour_effects(NeighbourTable::Effects& fx, uint64_t now) {
  for (const auto& r : fx.requests) send_arp_request(r.port, r.target, r.unicast);
  // Queued packets go out before the resolved state is published, so they are not
  // overtaken by packets the workers forward once they see it.
  for (auto& rel : fx.released) {
    const Neighbour* n = neigh_.find(rel.key);
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
    note_liveness(ip, n);
    // One state per (port, neighbour, route MTU): the FIB does not change.
    pub_.refresh_if([ip](const NhKey& k) { return k.type == NhType::adjacency && k.ip == ip.v; });
  }
  for (rte_mbuf* m : fx.failed) {
    // RFC 1812 4.3.3.1 / RFC 4861 7.2.2: the last hop could not resolve the destination.
    if (m->hash.usr == kTransit)
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_host_unreachable, 0, m->port,
                      std::nullopt, now);
    drop(m, Drop::neighbour_failed, m->port);
  }
  drop_unsent(fx);
  try {
    for (Ipv4 ip : fx.changed) sync(Prefix4{ip, 32});
    pub_.commit();
  } catch (const FibError& e) {
    // The neighbour's host route is an optimisation: without it, its traffic goes through
    // the slow path until the table has room.
    pub_.rollback();
    event(Event::neighbour_route_skipped);
    log_limited("a neighbour's host route was not installed", e.what());
  }
}

// What a neighbour table gave up on (either family): freed and counted by reason.
template <class Fx>
void Control::drop_unsent(Fx& fx) {
  for (rte_mbuf* m : fx.overflowed) drop(m, Drop::neighbour_queue_overflow, m->port);
  for (rte_mbuf* m : fx.table_full) drop(m, Drop::neighbour_table_full, m->port);
  for (rte_mbuf* m : fx.queue_full) drop(m, Drop::neighbour_queue_full, m->port);
  for (rte_mbuf* m : fx.rate_limited) drop(m, Drop::neighbour_rate_limited, m->port);
  for (rte_mbuf* m : fx.evicted) drop(m, Drop::neighbour_evicted, m->port);
  if (fx.evictions) event(Event::neighbour_evictions, fx.evictions);
  if (fx.mac_locked) event(Event::arp_mac_locked, fx.mac_locked);
}
template void Control::drop_unsent(NeighbourTable::Effects&);
template void Control::drop_unsent(NeighbourTable6::Effects&);

void Control::send_arp_request(uint16_t port, Ipv4 target, const std::optional<Mac>& unicast) {
  const PortCtl* p = port_by_id(port);
  if (!p) return;
  auto src = icmp_select_source(port_addresses(port), target);
  if (!src) return;
  rte_mbuf* m;
  uint8_t* out = new_frame(m, kMinFrameLen);
  if (!out) return;
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
  // Per sender (the frame's source MAC): one host flooding ARP, forged replies say, is cut
  // to its share before it costs a reply, a log line or a neighbour update.
  uint64_t sender = 0;
  std::memcpy(&sender, rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr.addr_bytes, 6);
  if (!arp_limit_.allow(sender, now)) return drop(m, Drop::arp_rate_limited, in_port);
  bool target_ours = false, sender_on_link = false;
  for (const auto& pa : p->addrs) {
    target_ours |= pa.addr == a->tpa;
    sender_on_link |= pa.subnet.contains(a->spa);
  }
  // A packet claiming one of our own addresses is a conflict or a loop: never learn it.
  if (local_address_port(a->spa)) {
    log_limited("port " + p->ref.name + ": ARP from " + a->sha.str(),
                "it claims our address " + a->spa.str());
    return drop(m, Drop::arp_invalid, in_port);
  }
  if (a->op == ArpPacket::request && target_ours) {
    rte_mbuf* r;
    if (uint8_t* out = new_frame(r, kMinFrameLen)) {
      arp_build_frame(out, a->sha, p->ref.mac, arp_reply_to(*a, p->ref.mac));
      event(Event::arp_reply_sent);
      transmit(in_port, r);
    }
  }
  NeighbourTable::Effects fx;
  // RFC 826's merge rule: update an entry that exists; never create one from ARP, not even
  // from a request for our address (RFC 826 would add the sender; Linux makes it STALE).
  // Only the router's own need for a MAC creates an entry, so strangers cannot fill the
  // table, add host routes or bump the generation; the price is one request and reply when
  // the router first sends to a host that asked for it (docs/architecture.md, "Slow path").
  if (sender_on_link && a->spa.v != 0) neigh_.learn(a->spa, a->sha, in_port, now, fx);
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
    free_reassembly_drops();
    if (!whole) return;  // kept for later, or dropped by the table
    if (whole->nb_segs > 1 && rte_pktmbuf_linearize(whole) != 0) {
      // Larger than one pool buffer: copy into one that holds any IPv4 datagram.
      const uint32_t len = rte_pktmbuf_pkt_len(whole);
      rte_mbuf* flat = rte_pktmbuf_alloc(big_pool_.get());
      char* to = flat && len <= rte_pktmbuf_tailroom(flat) ? rte_pktmbuf_append(flat, uint16_t(len))
                                                           : nullptr;
      if (!to) {
        rte_pktmbuf_free(flat);
        return drop(whole, Drop::no_mbuf, in_port);
      }
      const void* from = rte_pktmbuf_read(whole, 0, len, to);
      if (from != to) std::memcpy(to, from, len);
      flat->port = whole->port;
      rte_pktmbuf_free(whole);
      whole = flat;
    }
    m = whole;
    ip = ip_of(m);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = ipv4_header_checksum(ip);
    total = rte_be_to_cpu_16(ip->total_length);
  }
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + total)
    return drop(m, Drop::local_unhandled, in_port);
  const uint8_t* l4 = reinterpret_cast<const uint8_t*>(ip) + ihl;
  switch (ip->next_proto_id) {
    case IPPROTO_ICMP: {
      auto* icmp_hdr = reinterpret_cast<uint8_t*>(ip) + ihl;
      // routerd answers echo itself; anything else may be the kernel's (its own pings'
      // replies, errors about its sessions), so the kernel gets a copy when allowed.
      if (cp_enabled() && total >= ihl + icmp::header_len &&
          !(echo_reply_ && icmp_hdr[0] == icmp::echo_request) && kernel_allows(IPPROTO_ICMP, 0, 0))
        kernel_copy(m, in_port, now);
      if (echo_reply_ && total >= ihl + icmp::header_len && icmp_hdr[0] == icmp::echo_request &&
          icmp_echo_to_reply(reinterpret_cast<uint8_t*>(ip), total)) {
        event(Event::icmp_echo_reply_sent);
        // The reply is as long as the request, which may have come in fragments: it leaves
        // as the router's own traffic does, fragmented to the path MTU (DF is clear).
        output_originated(m, now);
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
      if (kernel_takes(m, IPPROTO_UDP, l4, total - ihl, in_port, now)) return;
      // Nothing listens: Port Unreachable, which also ends a traceroute at the router.
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_port_unreachable, 0, in_port, dst, now);
      return drop_not_taken(m, in_port);
    case IPPROTO_TCP:
      if (kernel_takes(m, IPPROTO_TCP, l4, total - ihl, in_port, now)) return;
      return drop_not_taken(m, in_port);
    default:
      if (kernel_takes(m, ip->next_proto_id, l4, total - ihl, in_port, now)) return;
      send_icmp_error(m, icmp::dest_unreachable, icmp::code_protocol_unreachable, 0, in_port, dst,
                      now);
      return drop_not_taken(m, in_port);
  }
}

}  // namespace routerd
