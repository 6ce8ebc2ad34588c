// ECMP groups on the control side: which gateways of group members failed resolution (they
// stay out of their groups' buckets, probed once a second, until they answer), and how
// routes with several next hops are shown.
#include <rte_ip.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "control.hpp"

namespace routerd {

bool Control::group_gateway(uint8_t family, uint16_t port, const Ipv6& ip6, uint32_t ip4) const {
  bool found = false;
  pub_.for_each_group([&](uint32_t g) {
    if (found) return;
    for (const GroupMember& m : *pub_.group_members(g)) {
      const NhKey& k = pub_.key(m.id);
      // family: the neighbour's (an IPv4 group's member may have an IPv6 one, RFC 5549).
      if (k.type != NhType::adjacency || k.ndp() != (family == 6)) continue;
      if (family == 4 ? k.ip == ip4
                      : k.ip6 == ip6 && (port == ScopedIpv6::kNoZone || k.port == port)) {
        found = true;
        return;
      }
    }
  });
  return found;
}

// Called for each neighbour change before the next hops are rebuilt (nh_build reads the
// sets): a failed gateway of a group member leaves its groups, an answering one comes back.
// Only group gateways are remembered, so the sets stay as small as the groups.
void Control::note_liveness(Ipv4 ip, const Neighbour* n) {
  if (n && n->usable()) {
    if (dead4_.erase(ip.v))
      spdlog::info("ecmp: gateway {} answers again: back in its groups", ip.str());
  } else if (n && n->state == NeighState::failed && !dead4_.count(ip.v) &&
             group_gateway(4, 0, Ipv6(), ip.v)) {
    dead4_.insert(ip.v);
    spdlog::warn("ecmp: gateway {} does not answer ARP: out of its groups until it does", ip.str());
  }
}

void Control::note_liveness(const ScopedIpv6& key, const Neighbour6* n) {
  if (n && n->usable()) {
    if (dead6_.erase(key))
      spdlog::info("ecmp: gateway {} answers again: back in its groups", key.ip.str());
  } else if (n && n->state == NeighState::failed && !dead6_.count(key) &&
             group_gateway(6, key.zone, key.ip, 0)) {
    dead6_.insert(key);
    spdlog::warn("ecmp: gateway {} does not answer NDP: out of its groups until it does",
                 key.ip.str());
  }
}

// A port whose link went down takes its next hops out of their groups (the same `dead` as a
// gateway that stopped answering), and back when it comes up: a lost link would otherwise
// blackhole its members' flows until their neighbours time out (a minute and more). A link
// the device cannot read (Port::LinkState::unknown) counts as up.
void Control::follow_links() {
  if (!follow_link_) return;
  for (const PortCtl& p : ports_) {
    if (!p.ref.port || p.ref.id >= kMaxPorts) continue;  // a tunnel has no link of its own
    const bool down = p.ref.port->link_state() == Port::LinkState::down;
    if (down == link_down_[p.ref.id]) continue;
    link_down_[p.ref.id] = down;
    if (down)
      spdlog::warn("ecmp: port {} link down: its next hops are out of their groups until it is up",
                   p.ref.name);
    else
      spdlog::info("ecmp: port {} link up: its next hops are back in their groups", p.ref.name);
    const uint16_t id = p.ref.id;
    pub_.refresh_if([id](const NhKey& k) { return k.type == NhType::adjacency && k.port == id; });
    pub_.commit();
  }
}

// A dead member carries no traffic, so nothing would ask for its resolution again: ask once
// a second (the neighbour table spaces requests by its retransmit timer). A gateway no group
// uses any more is forgotten.
void Control::probe_dead_members(uint64_t now) {
  if ((dead4_.empty() && dead6_.empty()) || now - dead_probe_ms_ < 1000) return;
  dead_probe_ms_ = now;
  NeighbourTable::Effects fx;
  for (auto it = dead4_.begin(); it != dead4_.end();) {
    bool used = false;
    pub_.for_each_group([&](uint32_t g) {
      for (const GroupMember& m : *pub_.group_members(g)) {
        const NhKey& k = pub_.key(m.id);
        if (k.type == NhType::adjacency && !k.ndp() && k.ip == *it) {
          if (!used) neigh_.resolve(Ipv4(*it), k.port, nullptr, now, fx);
          used = true;
        }
      }
    });
    it = used ? std::next(it) : dead4_.erase(it);
  }
  apply_neighbour_effects(fx, now);
  NeighbourTable6::Effects fx6;
  for (auto it = dead6_.begin(); it != dead6_.end();) {
    bool used = false;
    pub_.for_each_group([&](uint32_t g) {
      for (const GroupMember& m : *pub_.group_members(g)) {
        const NhKey& k = pub_.key(m.id);
        if (k.type == NhType::adjacency && k.ndp() && k.ip6 == it->ip &&
            (it->zone == ScopedIpv6::kNoZone || it->zone == k.port)) {
          if (!used) neigh6_.resolve(it->ip, k.port, nullptr, now, fx6);
          used = true;
        }
      }
    });
    it = used ? std::next(it) : dead6_.erase(it);
  }
  apply_neighbour_effects(fx6, now);
}

// A group slot as route show and stats show it: each member's gateway, port, weight, state
// (alive: resolved; unresolved: not yet; dead: out of the buckets), its share of the
// buckets, and the packets groups sent to it.
nlohmann::json Control::group_json(uint32_t id) const {
  const auto* members = pub_.group_members(id);
  if (!members) return nullptr;
  const auto& buckets = pub_.group_buckets(id);
  std::vector<uint32_t> count(members->size(), 0);
  for (uint8_t b : buckets)
    if (b < count.size()) count[b]++;
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < members->size(); ++i) {
    const GroupMember& m = (*members)[i];
    const NhKey& k = pub_.key(m.id);
    const NextHopState* s = pub_.state(m.id);
    const PortCtl* p = port_by_id(k.port);
    const uint64_t packets = pub_.via_packets(m.id);
    out.push_back({{"via", k.ndp() ? k.ip6.str() : Ipv4(k.ip).str()},
                   {"dev", p ? p->ref.name : "?"},
                   {"weight", m.weight},
                   {"state", !s                           ? "?"
                             : s->dead                    ? "dead"
                             : s->kind == NhKind::forward ? "alive"
                                                          : "unresolved"},
                   {"buckets", count[i]},
                   {"packets", packets},
                   {"id", m.id}});
    if (k.family == 4 && k.ndp()) out.back()["via_family"] = 6;  // RFC 5549
  }
  return {{"id", id}, {"buckets", buckets.size()}, {"members", out}};
}

// route get's flow through the group in slot gid: the member it takes, as a worker's own
// hash picks it, with the group's part of the answer in j["group"]; its "rss_ports" are the
// ports whose NIC hash a worker takes instead, where the flow may take another member.
uint32_t Control::flow_member(const Request& r, uint32_t gid, nlohmann::json& j) const {
  const NextHopState* g = pub_.state(gid);
  if (!g || g->kind != NhKind::group) return gid;
  alignas(8) uint8_t buf[sizeof(rte_ipv6_hdr) + 8] = {};
  uint32_t h;
  if (r.family == 6) {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(buf);
    ip->vtc_flow = rte_cpu_to_be_32(6u << 28 | r.flow.flowlabel);
    ip->payload_len = rte_cpu_to_be_16(8);
    ip->proto = r.flow.proto;
    ip->hop_limits = 64;
    std::memcpy(ip->src_addr, r.flow.src6.b.data(), 16);
    std::memcpy(ip->dst_addr, r.addr6.b.data(), 16);
    const uint16_t ports[2] = {rte_cpu_to_be_16(r.flow.sport), rte_cpu_to_be_16(r.flow.dport)};
    std::memcpy(buf + sizeof(rte_ipv6_hdr), ports, 4);
    h = ecmp::flow_hash6(dp_.params.flow_key, ip, sizeof buf);
  } else {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(buf);
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(28);
    ip->time_to_live = 64;
    ip->next_proto_id = r.flow.proto;
    ip->src_addr = rte_cpu_to_be_32(r.flow.src.v);
    ip->dst_addr = rte_cpu_to_be_32(r.addr.v);
    const uint16_t ports[2] = {rte_cpu_to_be_16(r.flow.sport), rte_cpu_to_be_16(r.flow.dport)};
    std::memcpy(buf + sizeof(rte_ipv4_hdr), ports, 4);
    h = ecmp::flow_hash4(dp_.params.flow_key, ip, sizeof(rte_ipv4_hdr) + 8);
  }
  const NhGroup& grp = *g->group;
  // The ports where a worker takes the NIC's hash for this family instead: there this
  // answer may not hold, and the user should be told so rather than trust it.
  nlohmann::json rss_ports = nlohmann::json::array();
  for (const auto& p : ports_)
    if (p.ref.port && p.ref.port->rss_hf() != 0 &&
        (ecmp_rss_families(p.ref.port) & (r.family == 6 ? kEcmpRss6 : kEcmpRss4)))
      rss_ports.push_back(p.ref.name);
  j["group"] = {{"id", gid},
                {"bucket", h & grp.mask},
                {"buckets", grp.mask + 1},
                {"members", grp.members},
                {"alive", grp.alive},
                {"rss_ports", rss_ports}};
  return grp.pick(h);
}

nlohmann::json Control::groups_json(uint8_t family) const {
  nlohmann::json out = nlohmann::json::array();
  pub_.for_each_group([&](uint32_t g) {
    if (pub_.key(g).family == family) out.push_back(group_json(g));
  });
  return out;
}

// An ECMP route: its next hops as the group the FIB holds for it shows them, in the route's
// order (by port, then gateway).
template <class R>
void Control::paths_json(const R& rt, nlohmann::json& j) const {
  j.erase("via");
  j.erase("via_family");
  j.erase("dev");
  const nlohmann::json g = group_json(pub_.route(rt.prefix));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& path : *rt.paths) {
    const PortCtl* p = port_by_id(path.port);
    nlohmann::json m = {{"via", path.via6 ? path.via6->str() : path.via.str()},
                        {"dev", p ? p->ref.name : "?"},
                        {"weight", path.weight}};
    if (path.via6) m["via_family"] = 6;  // RFC 5549: an IPv4 route's IPv6 gateway
    if (!g.is_null())
      for (const auto& gm : g["members"])
        if (gm["via"] == m["via"] && gm["dev"] == m["dev"]) {
          for (const char* f : {"state", "buckets", "packets"}) m[f] = gm[f];
          break;
        }
    out.push_back(std::move(m));
  }
  j["nexthops"] = std::move(out);
  if (!g.is_null()) j["group"] = g["id"];
}
template void Control::paths_json(const Route&, nlohmann::json&) const;
template void Control::paths_json(const Route6&, nlohmann::json&) const;

}  // namespace routerd
