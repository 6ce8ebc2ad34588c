// The IPv6 halves of routerctl's addr, route and neigh verbs: the same rules as IPv4's
// (cmd_addr.cpp, cmd_route.cpp, cmd_neigh.cpp), over the IPv6 RIB and neighbour table, and
// committed through the same publisher, so a batch of both families is one change.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <tuple>

#include "commands.hpp"
#include "control.hpp"

namespace routerd {

namespace {
// IPv6 addresses a port may hold besides its link-local one: the config's limit.
constexpr size_t kMaxAddrs6 = kMaxPortAddresses;
}  // namespace

nlohmann::json Control::route_json(const Route6& rt) const {
  const PortCtl* p = port_by_id(rt.port);
  nlohmann::json j = route_json_common(rt, p ? p->ref.name : "?", feed_origin());
  if (rt.proto == RouteProto::connected) j["src"] = rt.src.str();
  if (rt.mtu()) j["mtu"] = rt.mtu();
  if (rt.paths) paths_json(rt, j);
  return j;
}

// ---------------------------------------------------------------- addr

nlohmann::json Control::addr_add6(const Request& r) {
  const std::string cmd = "addr add";
  PortCtl* p = &port_named(cmd, r.dev);
  const Ipv6 a = r.addr6;
  const Prefix6 sn = r.prefix6;
  uint16_t owner;
  if (local_address6(a, &owner))
    refuse(cmd, a.str() + " is already an address of " + port_by_id(owner)->ref.name);
  for (const auto& q : ports_) {
    if (&q == p) continue;
    for (const auto& pa : q.addrs6)
      if (pa.subnet.overlaps(sn))
        refuse(cmd, sn.str() + " overlaps " + pa.subnet.str() + " on " + q.ref.name);
  }
  if (p->addrs6.size() >= kMaxAddrs6)
    refuse(cmd, "port " + p->ref.name + " already has the maximum of " +
                    std::to_string(kMaxAddrs6) + " IPv6 addresses");
  const Route6* existing = rib6_.find(sn);
  if (existing && existing->proto == RouteProto::static_route)
    refuse(cmd, "a static route for " + sn.str() + " exists; delete it first");

  p->addrs6.push_back(PortAddr6{a, sn});
  const bool new_route = existing == nullptr || existing->proto == RouteProto::daemon;
  if (new_route) rib6_.set(Route6{sn, RouteProto::connected, std::nullopt, p->ref.id, a});
  try {
    sync(Prefix6{a, 128});
    sync_covered(sn);
    pub_.commit();
  } catch (const FibError& e) {
    pub_.rollback();
    p->addrs6.pop_back();
    if (new_route) rib_erase_own(sn);
    refuse(cmd, e.what());
  }
  sync_rx_groups(*p);
  spdlog::info("address {}/{} added to {}", a.str(), sn.len, p->ref.name);
  return nlohmann::json::object();
}

nlohmann::json Control::addr_del6(const Request& r) {
  const std::string cmd = "addr del";
  PortCtl* p = &port_named(cmd, r.dev);
  auto it = std::find_if(p->addrs6.begin(), p->addrs6.end(), [&](const PortAddr6& pa) {
    return pa.addr == r.addr6 && pa.subnet == r.prefix6;
  });
  if (it == p->addrs6.end())
    refuse(cmd, r.addr6.str() + "/" + std::to_string(r.prefix6.len) + " is not an address of " +
                    p->ref.name);
  const PortAddr6 gone = *it;
  const auto at = it - p->addrs6.begin();
  const Route6 connected = *rib6_.find(gone.subnet);
  p->addrs6.erase(it);
  const PortAddr6* other = nullptr;
  for (const auto& pa : p->addrs6)
    if (pa.subnet == gone.subnet) other = &pa;
  if (other)
    rib6_.set(Route6{gone.subnet, RouteProto::connected, std::nullopt, p->ref.id, other->addr});
  else
    rib_erase_own(gone.subnet);

  // As in Linux, static routes whose (global) gateway is no longer on the port's subnets
  // go too; link-local gateways stay reachable while the port is up.
  nlohmann::json removed = nlohmann::json::array();
  std::vector<Route6> dead;
  auto reachable = [&](uint16_t port, const Ipv6& gw) {
    if (port != p->ref.id || gw.is_link_local()) return true;
    bool on = false;
    for (const auto& pa : p->addrs6) on |= pa.subnet.contains(gw);
    return on;
  };
  rib6_.for_each([&](const Route6& rt) {
    if (rt.proto != RouteProto::static_route || !rt.via) return;
    bool ok = reachable(rt.port, *rt.via);
    if (rt.paths)
      for (const auto& path : *rt.paths) ok &= reachable(path.port, path.via);
    if (!ok) dead.push_back(rt);
  });
  // IPv4 routes through global IPv6 gateways (RFC 5549) go the same way.
  std::vector<Route> dead4;
  rib_.for_each([&](const Route& rt) {
    if (rt.proto != RouteProto::static_route) return;
    bool ok = !rt.via6 || reachable(rt.port, *rt.via6);
    if (rt.paths)
      for (const auto& path : *rt.paths) ok &= !path.via6 || reachable(path.port, *path.via6);
    if (!ok) dead4.push_back(rt);
  });
  for (const auto& d : dead) {
    removed.push_back(route_json(d));
    rib6_.erase(d.prefix);
  }
  for (const auto& d : dead4) {
    removed.push_back(route_json(d));
    rib_.erase(d.prefix);
  }
  try {
    sync(Prefix6{gone.addr, 128});
    sync_covered(gone.subnet);
    for (const auto& d : dead) sync_covered(d.prefix);
    for (const auto& d : dead4) sync_covered(d.prefix);
    pub_.commit();
  } catch (const FibError& e) {
    pub_.rollback();
    p->addrs6.insert(p->addrs6.begin() + at, gone);
    rib6_.set(connected);
    for (const auto& d : dead) rib6_.set(d);
    for (const auto& d : dead4) rib_.set(d);
    pub_.commit();
    refuse(cmd, e.what());
  }
  sync_rx_groups(*p);
  NeighbourTable6::Effects fx;
  std::vector<ScopedIpv6> orphans;
  for (const auto& [key, n] : neigh6_.entries()) {
    if (n.port != p->ref.id || n.ip.is_link_local()) continue;
    bool on_link = false;
    for (const auto& pa : p->addrs6) on_link |= pa.subnet.contains(n.ip);
    if (!on_link) orphans.push_back(key);
  }
  for (const ScopedIpv6& key : orphans) neigh6_.remove(key, fx);
  apply_neighbour_effects(fx, now_ms());
  return nlohmann::json{{"removed_routes", removed}};
}

// ---------------------------------------------------------------- route

void Control::rib_apply6(const Request& r, const std::string& where, RibChanges& changes,
                         BatchCounts& n) {
  const Prefix6& pf = r.prefix6;
  const Route6* existing = rib6_.find(pf);
  if (r.verb == Verb::route_del) {
    if (!existing) refuse(where, "no route for " + pf.str());
    if (existing->proto == RouteProto::daemon)
      refuse(where, pf.str() + " is a " + rtproto_name(existing->rtproto) +
                        " route from the routing daemon; withdraw it there");
    if (existing->proto == RouteProto::connected)
      refuse(where, pf.str() + " is a connected route; delete the address instead");
    check_del_type(where, r, existing->type, pf.str());
    if (r.via6 && !route_uses_gateway(*existing, *r.via6))
      refuse(where, "the route for " + pf.str() + " is not via " + r.via6->str());
    if (!r.dev.empty() &&
        (route_type_rejects(existing->type) || port_by_id(existing->port)->ref.name != r.dev))
      refuse(where, "the route for " + pf.str() + " does not use " + r.dev);
    changes.record(pf, existing);
    rib_erase_own(pf);
    ++n.deleted;
    return;
  }
  const bool replace = r.verb == Verb::route_replace;
  if (existing && existing->proto == RouteProto::connected)
    refuse(where, pf.str() + " is the connected route of " + port_by_id(existing->port)->ref.name +
                      "; it follows the port's addresses");
  if (existing && !replace && existing->proto != RouteProto::daemon)
    refuse(where, "a route for " + pf.str() + " exists (use route replace)");
  if (pf.addr.is_link_local() || pf.addr.is_multicast())
    refuse(where, pf.str() + " is link-local or multicast: not routed");
  if (pf.len == 128 && local_address6(pf.addr))
    refuse(where, pf.addr.str() + " is an address of this router");
  if (!r.dev.empty()) port_named(where, r.dev);
  Route6 nr;
  nr.prefix = pf;
  nr.proto = RouteProto::static_route;
  nr.type = r.type;
  if (route_type_rejects(r.type)) {
    // No gateway, no port (the grammar refuses via, dev and mtu for these types).
  } else if (!r.nexthops.empty()) {
    set_paths(nr, r, where);
  } else if (r.via6) {
    nr.via = *r.via6;
    nr.port = gateway_port(where, *r.via6, r.dev);
  } else {
    nr.port = port_by_name(r.dev)->ref.id;
  }
  if (r.mtu) nr.set_mtu(r.mtu);
  changes.record(pf, existing);
  ++(existing ? n.replaced : n.added);
  rib6_.set(nr);
}

nlohmann::json Control::route_get6(const Request& r) {
  const Ipv6 a = r.addr6;
  nlohmann::json j = {{"dst", a.str()}, {"family", 6}};
  uint32_t id = dp_.fib6.lookup(a);
  const bool group = pub_.state(id) && pub_.state(id)->kind == NhKind::group;
  if (group) id = flow_member(r, id, j);  // the member this flow takes
  nlohmann::json nh = {{"id", id}};
  if (const NextHopState* s = pub_.state(id)) {
    nh["state"] = nh_kind_name(s->kind);
    if (s->kind == NhKind::forward)
      nh["lladdr"] = Mac{{s->l2[0], s->l2[1], s->l2[2], s->l2[3], s->l2[4], s->l2[5]}}.str();
    if (s->kind != NhKind::local && !nh_rejects(s->kind)) nh["mtu"] = s->mtu;
    if (!s->gateway6.is_unspecified()) nh["neighbour"] = s->gateway6.str();
  }
  uint16_t lp;
  if (local_address6(a, &lp)) {
    j["type"] = "local";
    j["dev"] = port_by_id(lp)->ref.name;
    j["nexthop"] = nh;
    return j;
  }
  const Route6* rt = a.is_link_local() ? nullptr : rib6_.lookup(a);
  if (!rt) {
    j["type"] = "none";  // as IPv4's: no route matches
    return j;
  }
  // As IPv4's answer: the route's prefix and proto beside its type.
  j["type"] = route_type_name(rt->type);
  j["route"] = rt->prefix.str();
  j["proto"] =
      rt->proto == RouteProto::daemon ? rtproto_name(rt->rtproto) : route_proto_name(rt->proto);
  if (route_type_rejects(rt->type)) {
    j["nexthop"] = nh;
    return j;
  }
  const PortCtl* p = port_by_id(group ? pub_.key(id).port : rt->port);
  j["dev"] = p ? p->ref.name : "?";
  if (rt->via) j["via"] = group ? pub_.key(id).ip6.str() : rt->via->str();
  if (p) j["src"] = select_source6(p->ref.id, a).value_or(Ipv6()).str();
  j["nexthop"] = nh;
  // What the router's own packets to a use instead (originate6.cpp), as IPv4's answer shows.
  if (const RouteException6* e = exc6_.find(a, now_ms())) {
    RouteException6 shown = *e;  // as IPv4's: a stale redirect is not used, nor shown
    if (!rt->via || !route_redirect_current(shown, rt, *rt->via)) shown.gateway = {};
    if (shown.metrics.mtu || shown.has_gateway()) j["exception"] = exception_json(shown, now_ms());
  }
  return j;
}

nlohmann::json Control::route_summary6() const {
  nlohmann::json j = rib_summary(rib6_);
  j["fib_prefixes"] = dp_.fib6.routes();
  j["fib_rebuilds"] = dp_.fib6.rebuilds();
  j["fib_parallel_fills"] = dp_.fib6.parallel_fills();
  return j;
}

// ---------------------------------------------------------------- neigh

nlohmann::json Control::neigh_add6(const Request& r) {
  const std::string cmd = "neigh add";
  PortCtl* p = &port_named(cmd, r.dev);
  const Ipv6& a = r.addr6;
  if (local_address6(a)) refuse(cmd, a.str() + " is an address of this router");
  if (a.is_multicast() || a.is_unspecified() || a.is_loopback())
    refuse(cmd, a.str() + " is not a unicast address");
  bool on_link = a.is_link_local();
  for (const auto& pa : p->addrs6) on_link |= pa.subnet.contains(a);
  if (!on_link) refuse(cmd, a.str() + " is not link-local nor on a subnet of " + p->ref.name);
  NeighbourTable6::Effects fx;
  neigh6_.add_static(a, p->ref.id, r.lladdr, fx);
  apply_neighbour_effects(fx, now_ms());
  return nlohmann::json::object();
}

// A link-local neighbour is named by its address and port (the grammar requires dev for
// it): the same address on another port is another neighbour, left alone.
nlohmann::json Control::neigh_del6(const Request& r) {
  const std::string cmd = "neigh del";
  const bool scoped = r.addr6.is_link_local();
  const uint16_t port = scoped ? port_named(cmd, r.dev).ref.id : 0;
  const ScopedIpv6 key = NeighbourTable6::key_of(r.addr6, port);
  const auto* n = neigh6_.find(key);
  if (!n) refuse(cmd, "no neighbour " + r.addr6.str() + (scoped ? " on " + r.dev : ""));
  if (!r.dev.empty() && port_by_id(n->port)->ref.name != r.dev)
    refuse(cmd, "neighbour " + r.addr6.str() + " is not on " + r.dev);
  NeighbourTable6::Effects fx;
  neigh6_.remove(key, fx);
  apply_neighbour_effects(fx, now_ms());
  return nlohmann::json::object();
}

void Control::neigh_show6(const Request& r, nlohmann::json& out) const {
  using N = std::remove_cvref_t<decltype(neigh6_.entries().begin()->second)>;
  std::vector<const N*> v;
  for (const auto& [key, n] : neigh6_.entries()) v.push_back(&n);
  // By address, then port: a link-local address may be a neighbour on several ports.
  std::sort(v.begin(), v.end(), [](const N* a, const N* b) {
    return std::tie(a->ip, a->port) < std::tie(b->ip, b->port);
  });
  for (const N* n : v) {
    const PortCtl* p = port_by_id(n->port);
    if (!r.dev.empty() && (!p || p->ref.name != r.dev)) continue;
    nlohmann::json j = {{"family", 6},
                        {"dst", n->ip.str()},
                        {"dev", p ? p->ref.name : "?"},
                        {"state", neigh_state_name(n->state)},
                        {"queued", n->queue.size()}};
    if (n->usable()) j["lladdr"] = n->mac.str();
    if (n->router) j["router"] = true;
    out.push_back(j);
  }
}

}  // namespace routerd
