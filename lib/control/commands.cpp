// routerctl commands, executed on the control thread. Each validates everything before it
// changes anything, and undoes its own change if the FIB cannot take the batch.
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "control.hpp"

namespace routerd {

namespace {

[[noreturn]] void refuse(const std::string& cmd, const std::string& why) {
  throw CommandError(cmd + ": " + why);
}

const char* reserved_kind(Ipv4 a) {
  uint8_t o = uint8_t(a.v >> 24);
  if (o == 0) return "a \"this network\" address (0/8)";
  if (o == 127) return "a loopback address (127/8)";
  if (o >= 224 && o < 240) return "a multicast address (224/4)";
  if (o >= 240) return "a reserved address (240/4)";
  return nullptr;
}

}  // namespace

nlohmann::json Control::execute(const Request& r) {
  switch (r.verb) {
    case Verb::addr_add:
      return addr_add(r);
    case Verb::addr_del:
      return addr_del(r);
    case Verb::addr_show:
      return addr_show(r);
    case Verb::route_add:
      return route_set(r, false);
    case Verb::route_replace:
      return route_set(r, true);
    case Verb::route_del:
      return route_del(r);
    case Verb::route_show:
      return route_show();
    case Verb::reload:
      refuse("reload", "runs through Control::call (the file is read off the control thread)");
    case Verb::route_summary:
      return route_summary();
    case Verb::route_show_cache:
      return route_show_cache(now_ms());
    case Verb::route_flush_cache:
      return route_flush_cache();
    case Verb::ping:
      // Needs to wait for replies: Control::call runs it on the caller's thread.
      throw CommandError("ping: only through the control socket");
    case Verb::route_get:
      return route_get(r);
    case Verb::route_load:
      return route_load(parse_route_file(r.path), r.path);
    case Verb::batch:
      return route_batch(r);
    case Verb::neigh_add:
      return neigh_add(r);
    case Verb::neigh_del:
      return neigh_del(r);
    case Verb::neigh_show:
      return neigh_show(r);
    case Verb::link_show:
      return link_show(r);
    case Verb::link_set:
      return link_set(r);
    case Verb::stats:
      return stats_json();
  }
  throw CommandError("unknown command");
}

void Control::load(const Config& cfg, const std::vector<RouteFile>& route_files) {
  loaded_ = cfg;
  loaded_files_ = route_files;
  auto run = [&](const std::string& where, const std::vector<std::string>& argv) {
    try {
      execute(parse_request(argv));
    } catch (const CommandError& e) {
      throw ConfigError(cfg.path + ": " + where + ": " + e.what());
    }
  };
  for (size_t i = 0; i < cfg.ports.size(); ++i)
    for (size_t j = 0; j < cfg.ports[i].addresses.size(); ++j) {
      const auto& [a, sn] = cfg.ports[i].addresses[j];
      run("port[" + std::to_string(i) + "].addresses[" + std::to_string(j) + "]",
          {"addr", "add", a.str() + "/" + std::to_string(sn.len), "dev", cfg.ports[i].name});
    }
  for (size_t i = 0; i < cfg.neighbours.size(); ++i) {
    const auto& n = cfg.neighbours[i];
    run("neighbour[" + std::to_string(i) + "]",
        {"neigh", "add", n.address.str(), "lladdr", n.lladdr.str(), "dev", n.port});
  }
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& rt = cfg.routes[i];
    std::vector<std::string> argv = {"route", "add", rt.prefix.str()};
    if (rt.via) argv.insert(argv.end(), {"via", rt.via->str()});
    if (!rt.dev.empty()) argv.insert(argv.end(), {"dev", rt.dev});
    run("route[" + std::to_string(i) + "]", argv);
  }
  for (const auto& [path, specs] : route_files) {
    try {
      route_load(specs, path);
    } catch (const CommandError& e) {
      throw ConfigError(cfg.path + ": route_files: " + e.what());
    }
  }
}

// ---------------------------------------------------------------- addresses

nlohmann::json Control::addr_add(const Request& r) {
  const std::string cmd = "addr add";
  PortCtl* p = port_by_name(r.dev);
  if (!p) refuse(cmd, "unknown port '" + r.dev + "'");
  const Ipv4 a = r.addr;
  const Prefix4 sn = r.prefix;
  if (const char* k = reserved_kind(a)) refuse(cmd, a.str() + " is " + k);
  if (sn.len <= 30 && a == sn.addr) refuse(cmd, a.str() + " is the network address of " + sn.str());
  if (sn.len <= 30 && a == sn.broadcast())
    refuse(cmd, a.str() + " is the broadcast address of " + sn.str());
  uint16_t owner;
  if (local_address_port(a, &owner))
    refuse(cmd, a.str() + " is already an address of " + port_by_id(owner)->ref.name);
  for (const auto& q : ports_) {
    if (&q == p) continue;
    for (const auto& pa : q.addrs)
      if (pa.subnet.overlaps(sn))
        refuse(cmd, sn.str() + " overlaps " + pa.subnet.str() + " on " + q.ref.name);
  }
  if (p->addrs.size() >= std::size(PortFastInfo{}.bcast))
    refuse(cmd, "port " + p->ref.name + " already has the maximum of " +
                    std::to_string(std::size(PortFastInfo{}.bcast)) + " addresses");
  const Route* existing = rib_.find(sn);
  if (existing && existing->proto == RouteProto::static_route)
    refuse(cmd, "a static route for " + sn.str() + " exists; delete it first");

  p->addrs.push_back(PortAddr{a, sn});
  bool new_route = existing == nullptr;
  if (new_route) rib_.set(Route{sn, RouteProto::connected, std::nullopt, p->ref.id, a});
  publish_ifs();
  sync(Prefix4{a, 32});
  if (sn.len <= 30) sync(Prefix4{sn.broadcast(), 32});
  sync_covered(sn);
  try {
    commit();
  } catch (const FibError& e) {
    p->addrs.pop_back();
    if (new_route) rib_.erase(sn);
    publish_ifs();
    commit();
    refuse(cmd, e.what());
  }
  spdlog::info("address {}/{} added to {}", a.str(), sn.len, p->ref.name);
  return nlohmann::json::object();
}

nlohmann::json Control::addr_del(const Request& r) {
  const std::string cmd = "addr del";
  PortCtl* p = port_by_name(r.dev);
  if (!p) refuse(cmd, "unknown port '" + r.dev + "'");
  auto it = std::find_if(p->addrs.begin(), p->addrs.end(), [&](const PortAddr& pa) {
    return pa.addr == r.addr && pa.subnet == r.prefix;
  });
  if (it == p->addrs.end())
    refuse(cmd, r.addr.str() + "/" + std::to_string(r.prefix.len) + " is not an address of " +
                    p->ref.name);
  const PortAddr gone = *it;
  p->addrs.erase(it);

  // The connected route stays while another address of the port covers the subnet.
  const PortAddr* other = nullptr;
  for (const auto& pa : p->addrs)
    if (pa.subnet == gone.subnet) other = &pa;
  if (other)
    rib_.set(Route{gone.subnet, RouteProto::connected, std::nullopt, p->ref.id, other->addr});
  else
    rib_.erase(gone.subnet);

  // As in Linux, routes whose gateway is no longer on one of the port's subnets go too.
  nlohmann::json removed = nlohmann::json::array();
  std::vector<Prefix4> dead;
  rib_.for_each([&](const Route& rt) {
    if (rt.proto != RouteProto::static_route || !rt.via || rt.port != p->ref.id) return;
    bool reachable = false;
    for (const auto& pa : p->addrs) reachable |= pa.subnet.contains(*rt.via);
    if (!reachable) dead.push_back(rt.prefix);
  });
  for (const auto& d : dead) {
    removed.push_back(route_json(*rib_.find(d)));
    rib_.erase(d);
  }
  publish_ifs();
  sync(Prefix4{gone.addr, 32});
  if (gone.subnet.len <= 30) sync(Prefix4{gone.subnet.broadcast(), 32});
  sync_covered(gone.subnet);
  for (const auto& d : dead) sync_covered(d);
  // Removing routes only frees FIB space, so this commit cannot run out of it.
  commit();

  // Neighbours left off every subnet of the port can no longer be reached through it.
  NeighbourTable::Effects fx;
  std::vector<Ipv4> orphans;
  for (const auto& [ip, n] : neigh_.entries()) {
    if (n.port != p->ref.id) continue;
    bool on_link = false;
    for (const auto& pa : p->addrs) on_link |= pa.subnet.contains(Ipv4(ip));
    if (!on_link) orphans.emplace_back(ip);
  }
  for (Ipv4 ip : orphans) neigh_.remove(ip, fx);
  apply_neighbour_effects(fx, now_ms());
  if (!dead.empty())
    spdlog::info("address {}/{} removed from {}; {} routes through it removed", gone.addr.str(),
                 gone.subnet.len, p->ref.name, dead.size());
  return nlohmann::json{{"removed_routes", removed}};
}

nlohmann::json Control::addr_show(const Request& r) const {
  if (!r.dev.empty() && !const_cast<Control*>(this)->port_by_name(r.dev))
    refuse("addr show", "unknown port '" + r.dev + "'");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : ports_) {
    if (!r.dev.empty() && p.ref.name != r.dev) continue;
    nlohmann::json addrs = nlohmann::json::array();
    for (const auto& pa : p.addrs)
      addrs.push_back(pa.addr.str() + "/" + std::to_string(pa.subnet.len));
    out.push_back({{"dev", p.ref.name}, {"addresses", addrs}});
  }
  return out;
}

// ---------------------------------------------------------------- routes

nlohmann::json Control::route_json(const Route& rt) const {
  nlohmann::json j = {{"prefix", rt.prefix.str()}};
  if (rt.via) j["via"] = rt.via->str();
  const PortCtl* p = port_by_id(rt.port);
  j["dev"] = p ? p->ref.name : "?";
  j["proto"] = route_proto_name(rt.proto);
  if (rt.proto == RouteProto::connected) j["src"] = rt.src.str();
  if (rt.mtu()) j["mtu"] = rt.mtu();
  return j;
}

// Validates one route change against the RIB as the earlier changes of its batch left it,
// applies it to the RIB and records what it replaced. Throws CommandError, prefixed with
// `where`, changing nothing.
void Control::rib_apply(const Request& r, const std::string& where, std::vector<RibUndo>& undo,
                        BatchCounts& n) {
  const Route* existing = rib_.find(r.prefix);
  if (r.verb == Verb::route_del) {
    if (!existing) refuse(where, "no route for " + r.prefix.str());
    if (existing->proto == RouteProto::connected)
      refuse(where, r.prefix.str() + " is a connected route; delete the address instead");
    if (r.via && existing->via != r.via)
      refuse(where, "the route for " + r.prefix.str() + " is not via " + r.via->str());
    if (!r.dev.empty() && port_by_id(existing->port)->ref.name != r.dev)
      refuse(where, "the route for " + r.prefix.str() + " does not use " + r.dev);
    undo.push_back(RibUndo{r.prefix, *existing});
    rib_.erase(r.prefix);
    ++n.deleted;
    return;
  }
  const bool replace = r.verb == Verb::route_replace;
  if (existing && existing->proto == RouteProto::connected)
    refuse(where, r.prefix.str() + " is the connected route of " +
                      port_by_id(existing->port)->ref.name + "; it follows the port's addresses");
  if (existing && !replace)
    refuse(where, "a route for " + r.prefix.str() + " exists (use route replace)");
  if (r.prefix.len == 32 && local_address_port(r.prefix.addr))
    refuse(where, r.prefix.addr.str() + " is an address of this router");
  if (!r.dev.empty() && !port_by_name(r.dev)) refuse(where, "unknown port '" + r.dev + "'");
  Route nr;
  nr.prefix = r.prefix;
  nr.proto = RouteProto::static_route;
  if (r.via) {
    if (local_address_port(*r.via))
      refuse(where, "gateway " + r.via->str() + " is an address of this router");
    const PortCtl* gp = port_for_gateway(*r.via, r.dev);
    if (!gp)
      refuse(where, "gateway " + r.via->str() + " is not on a connected subnet" +
                        (r.dev.empty() ? std::string() : " of " + r.dev));
    nr.via = r.via;
    nr.port = gp->ref.id;
  } else {
    nr.port = port_by_name(r.dev)->ref.id;
  }
  if (r.mtu) nr.set_mtu(r.mtu);
  undo.push_back(RibUndo{r.prefix, existing ? std::optional<Route>(*existing) : std::nullopt});
  ++(existing ? n.replaced : n.added);
  rib_.set(nr);
}

void Control::rib_undo(const std::vector<RibUndo>& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    if (it->old)
      rib_.set(*it->old);
    else
      rib_.erase(it->prefix);
  }
}

// Derives the FIB from the RIB changes of a batch and commits them as one change (one
// generation bump). On failure the RIB is restored, nothing is published, and CommandError
// says why, prefixed with `where` and followed by `suffix`.
void Control::commit_routes(std::vector<RibUndo>& undo, const std::string& where,
                            const std::string& suffix) {
  try {
    for (const RibUndo& u : undo) sync(u.prefix);
    // Host routes of neighbours depend on their longest match: recheck those under a change
    // (every neighbour once when the batch is large).
    const auto& ns = neigh_.entries();
    if (undo.size() <= 16) {
      for (const auto& [ip, nb] : ns)
        for (const RibUndo& u : undo)
          if (u.prefix.contains(Ipv4(ip))) {
            sync(Prefix4{Ipv4(ip), 32});
            break;
          }
    } else {
      for (const auto& [ip, nb] : ns) sync(Prefix4{Ipv4(ip), 32});
    }
    commit();
  } catch (const std::exception& e) {  // FibError, or CommandError for a full next-hop table
    rollback();
    rib_undo(undo);
    collect_unused_nexthops();
    refuse(where, e.what() + suffix);
  }
}

nlohmann::json Control::route_set(const Request& r, bool replace) {
  const std::string cmd = replace ? "route replace" : "route add";
  std::vector<RibUndo> undo;
  BatchCounts n;
  rib_apply(r, cmd, undo, n);
  commit_routes(undo, cmd, "");
  return nlohmann::json::object();
}

nlohmann::json Control::route_del(const Request& r) {
  std::vector<RibUndo> undo;
  BatchCounts n;
  rib_apply(r, "route del", undo, n);
  commit_routes(undo, "route del", "");
  return nlohmann::json::object();
}

nlohmann::json Control::route_batch(const Request& r) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<RibUndo> undo;
  undo.reserve(r.batch.size());
  BatchCounts n;
  const uint64_t fib_before = route_updates_;
  try {
    for (const BatchLine& b : r.batch) {
      static const char* const kVerb[] = {"route add", "route replace", "route del"};
      const char* verb = kVerb[b.req.verb == Verb::route_add       ? 0
                               : b.req.verb == Verb::route_replace ? 1
                                                                   : 2];
      rib_apply(b.req, (b.where.empty() ? "line " + std::to_string(b.line) : b.where) + ": " + verb,
                undo, n);
    }
  } catch (const CommandError& e) {
    rib_undo(undo);
    throw CommandError(std::string(e.what()) + "; nothing in the batch was applied");
  }
  commit_routes(undo, "batch", "; nothing in the batch was applied");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {{"changes", r.batch.size()},
          {"added", n.added},
          {"replaced", n.replaced},
          {"deleted", n.deleted},
          {"fib_changes", route_updates_ - fib_before},
          {"seconds", secs}};
}

nlohmann::json Control::route_load(const std::vector<RouteSpec>& specs, const std::string& source) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<RibUndo> undo;
  undo.reserve(specs.size());
  rib_.reserve(rib_.size() + specs.size());
  fib_state_.reserve(fib_state_.size() + specs.size());
  BatchCounts n;
  try {
    for (const RouteSpec& s : specs) {
      Request r;
      r.verb = Verb::route_replace;
      r.prefix = s.prefix;
      r.via = s.via;
      r.dev = s.dev;
      r.mtu = s.mtu;
      rib_apply(r, source + ":" + std::to_string(s.line), undo, n);
    }
  } catch (const CommandError& e) {
    rib_undo(undo);
    throw CommandError(std::string(e.what()) + "; nothing from the file was applied");
  }
  commit_routes(undo, source, "; nothing from the file was applied");
  const size_t added = n.added;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("route load {}: {} routes ({} new, {} replaced) in {:.3f} s", source, specs.size(),
               added, specs.size() - added, secs);
  return {{"file", source},
          {"routes", specs.size()},
          {"added", added},
          {"replaced", specs.size() - added},
          {"seconds", secs}};
}

nlohmann::json Control::route_summary() const {
  nlohmann::json by_len = nlohmann::json::object();
  const auto& per_len = rib_.per_length();
  for (size_t len = 0; len < per_len.size(); ++len)
    if (per_len[len]) by_len[std::to_string(len)] = per_len[len];
  size_t connected = 0;
  rib_.for_each([&](const Route& rt) { connected += rt.proto == RouteProto::connected; });
  size_t nh_used = 0;
  for (const auto& s : nh_) nh_used += s.used;
  return {{"routes", rib_.size()},
          {"connected", connected},
          {"static", rib_.size() - connected},
          {"by_length", by_len},
          {"fib_prefixes", dp_.fib.routes()},
          {"next_hops", nh_used},
          {"generation", dp_.generation.read()},
          {"commits", commits_},
          {"route_updates", route_updates_}};
}

nlohmann::json Control::route_show() const {
  nlohmann::json out = nlohmann::json::array();
  for (const Route* rt : rib_.sorted()) out.push_back(route_json(*rt));
  return out;
}

nlohmann::json Control::route_get(const Request& r) const {
  const Ipv4 a = r.addr;
  nlohmann::json j = {{"dst", a.str()}};
  uint16_t lp;
  uint32_t id = dp_.fib.lookup(a.v);
  auto nh_json = [&](uint32_t nid) {
    nlohmann::json n = {{"id", nid}};
    const NextHopState* s = nid != Fib::kNoRoute ? nh_[nid].state : nullptr;
    if (!s) return n;
    n["state"] = nh_kind_name(s->kind);
    if (s->kind == NhKind::forward)
      n["lladdr"] = Mac{{s->l2[0], s->l2[1], s->l2[2], s->l2[3], s->l2[4], s->l2[5]}}.str();
    if (s->kind != NhKind::local && s->kind != NhKind::broadcast) n["mtu"] = s->mtu;
    if (s->gateway.v) n["neighbour"] = s->gateway.str();
    return n;
  };
  if (local_address_port(a, &lp)) {
    j["type"] = "local";
    j["dev"] = port_by_id(lp)->ref.name;
    j["nexthop"] = nh_json(id);
    return j;
  }
  if (is_subnet_broadcast(a)) {
    j["type"] = "broadcast";
    j["nexthop"] = nh_json(id);
    return j;
  }
  const Route* rt = rib_.lookup(a);
  if (!rt) {
    j["type"] = "unreachable";
    return j;
  }
  j["type"] = "unicast";
  j["route"] = rt->prefix.str();
  j["proto"] = route_proto_name(rt->proto);
  if (rt->via) j["via"] = rt->via->str();
  j["dev"] = port_by_id(rt->port)->ref.name;
  if (rt->mtu()) j["route_mtu"] = rt->mtu();
  if (auto src = icmp_select_source(port_addresses(rt->port), rt->via ? *rt->via : a))
    j["src"] = src->str();
  j["nexthop"] = nh_json(id);
  // find() may drop an expired entry: exceptions are control-thread state, and route get
  // runs there, so the const_cast only lets a read tidy up.
  if (const RouteException* e = const_cast<RouteExceptionTable&>(exc_).find(a.v, now_ms()))
    j["exception"] = exception_json(*e, now_ms());
  return j;
}

// ---------------------------------------------------------------- neighbours

nlohmann::json Control::neigh_add(const Request& r) {
  const std::string cmd = "neigh add";
  PortCtl* p = port_by_name(r.dev);
  if (!p) refuse(cmd, "unknown port '" + r.dev + "'");
  if (local_address_port(r.addr)) refuse(cmd, r.addr.str() + " is an address of this router");
  bool on_link = false;
  for (const auto& pa : p->addrs)
    on_link |= pa.subnet.contains(r.addr) && pa.subnet.broadcast() != r.addr;
  if (!on_link) refuse(cmd, r.addr.str() + " is not on a subnet of " + p->ref.name);
  NeighbourTable::Effects fx;
  neigh_.add_static(r.addr, p->ref.id, r.lladdr, fx);
  apply_neighbour_effects(fx, now_ms());
  return nlohmann::json::object();
}

nlohmann::json Control::neigh_del(const Request& r) {
  const Neighbour* n = neigh_.find(r.addr);
  if (!n) refuse("neigh del", "no neighbour " + r.addr.str());
  if (!r.dev.empty() && port_by_id(n->port)->ref.name != r.dev)
    refuse("neigh del", "neighbour " + r.addr.str() + " is not on " + r.dev);
  NeighbourTable::Effects fx;
  neigh_.remove(r.addr, fx);
  apply_neighbour_effects(fx, now_ms());
  return nlohmann::json::object();
}

nlohmann::json Control::neigh_show(const Request& r) const {
  if (!r.dev.empty() && !const_cast<Control*>(this)->port_by_name(r.dev))
    refuse("neigh show", "unknown port '" + r.dev + "'");
  std::vector<const Neighbour*> v;
  for (const auto& [ip, n] : neigh_.entries()) v.push_back(&n);
  std::sort(v.begin(), v.end(),
            [](const Neighbour* a, const Neighbour* b) { return a->ip < b->ip; });
  nlohmann::json out = nlohmann::json::array();
  for (const Neighbour* n : v) {
    const PortCtl* p = port_by_id(n->port);
    if (!r.dev.empty() && (!p || p->ref.name != r.dev)) continue;
    nlohmann::json j = {{"dst", n->ip.str()},
                        {"dev", p ? p->ref.name : "?"},
                        {"state", neigh_state_name(n->state)},
                        {"queued", n->queue.size()}};
    if (n->usable()) j["lladdr"] = n->mac.str();
    out.push_back(j);
  }
  return out;
}

// ---------------------------------------------------------------- links and counters

nlohmann::json Control::exception_json(const RouteException& e, uint64_t now) const {
  nlohmann::json j = {{"dst", Ipv4(e.dst).str()}, {"route", e.route.str()}};
  if (e.metrics.mtu) {
    j["mtu"] = e.metrics.mtu;
    j["mtu_expires_s"] = (e.pmtu_expires_ms - now + 999) / 1000;
  }
  if (e.gateway) {
    j["gateway"] = Ipv4(e.gateway).str();
    j["gateway_expires_s"] = (e.redirect_expires_ms - now + 999) / 1000;
  }
  return j;
}

nlohmann::json Control::route_show_cache(uint64_t now) const {
  nlohmann::json out = nlohmann::json::array();
  // Oldest first; entries whose time is up are shown until the next expiry pass (100 ms).
  exc_.for_each([&](const RouteException& e) {
    RouteException live = e;
    if (live.pmtu_expires_ms && now >= live.pmtu_expires_ms) live.metrics.mtu = 0;
    if (live.redirect_expires_ms && now >= live.redirect_expires_ms) live.gateway = 0;
    if (live.metrics.mtu || live.gateway) out.push_back(exception_json(live, now));
  });
  return out;
}

nlohmann::json Control::route_flush_cache() {
  size_t n = exc_.size();
  exc_.clear();
  if (n) {
    dirty_ = true;
    commit();
  }
  return {{"flushed", n}};
}

nlohmann::json Control::link_set(const Request& r) {
  const std::string cmd = "link set";
  PortCtl* p = port_by_name(r.dev);
  if (!p) refuse(cmd, "unknown port '" + r.dev + "'");
  const uint16_t old = p->ref.mtu;
  std::string warning;
  try {
    warning = p->ref.port->set_mtu(r.mtu, pool_);
  } catch (const std::runtime_error& e) {
    refuse(cmd, p->ref.name + ": " + e.what());
  }
  if (!warning.empty()) spdlog::warn("{}: {}", p->ref.name, warning);
  p->ref.mtu = r.mtu;
  // Every next hop out of this port carries the MTU: republish them, one generation bump.
  for (uint32_t id = 1; id < nh_next_; ++id)
    if (nh_[id].used && nh_[id].key.port == p->ref.id) nh_refresh(id);
  commit();
  spdlog::info("{}: MTU {} -> {}", p->ref.name, old, r.mtu);
  nlohmann::json j = {{"port", p->ref.name}, {"mtu", r.mtu}, {"old_mtu", old}};
  if (!warning.empty()) j["warning"] = warning;
  return j;
}

nlohmann::json Control::link_show(const Request& r) const {
  if (!r.dev.empty() && !const_cast<Control*>(this)->port_by_name(r.dev))
    refuse("link show", "unknown port '" + r.dev + "'");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : ports_) {
    if (!r.dev.empty() && p.ref.name != r.dev) continue;
    const Port* port = p.ref.port;
    out.push_back({{"name", p.ref.name},
                   {"port_id", p.ref.id},
                   {"driver", port ? port->driver() : "?"},
                   {"device", port ? port->device() : "?"},
                   {"mac", p.ref.mac.str()},
                   {"mtu", p.ref.mtu},
                   {"link", port && port->link_up() ? "up" : "down"},
                   {"speed_mbps", port ? port->link_speed_mbps() : 0},
                   {"rx_queues", port ? port->queues().rx : 0},
                   {"tx_queues", port ? port->queues().tx : 0}});
  }
  return out;
}

nlohmann::json Control::stats_json() const {
  const uint32_t blocks = dp_.workers + 1;
  auto sum = [&](auto pick) {
    uint64_t s = 0;
    for (uint32_t i = 0; i < blocks; ++i) s += pick(dp_.stats[i]);
    return s;
  };
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : ports_) {
    uint16_t id = p.ref.id;
    nlohmann::json hw;
    rte_eth_stats es;
    if (rte_eth_stats_get(id, &es) == 0)
      hw = {{"ipackets", es.ipackets}, {"opackets", es.opackets},  {"ibytes", es.ibytes},
            {"obytes", es.obytes},     {"imissed", es.imissed},    {"ierrors", es.ierrors},
            {"oerrors", es.oerrors},   {"rx_nombuf", es.rx_nombuf}};
    ports.push_back({{"name", p.ref.name},
                     {"rx_packets", sum([&](const LcoreStats& s) { return s.rx[id].get(); })},
                     {"tx_packets", sum([&](const LcoreStats& s) { return s.tx[id].get(); })},
                     {"dropped", sum([&](const LcoreStats& s) { return s.dropped[id].get(); })},
                     {"hw", hw}});
  }
  nlohmann::json drops = nlohmann::json::object(), punts = nlohmann::json::object(),
                 events = nlohmann::json::object();
  for (size_t d = 0; d < kDropCount; ++d)
    drops[std::string(drop_name(Drop(d)))] =
        sum([&](const LcoreStats& s) { return s.drop[d].get(); });
  for (size_t p = 0; p < kPuntCount; ++p)
    punts[std::string(punt_name(Punt(p)))] =
        sum([&](const LcoreStats& s) { return s.punt[p].get(); });
  for (size_t e = 0; e < kEventCount; ++e)
    events[std::string(event_name(Event(e)))] =
        sum([&](const LcoreStats& s) { return s.event[e].get(); });
  nlohmann::json lcores = nlohmann::json::array();
  for (uint32_t i = 0; i < dp_.workers; ++i) {
    const LcoreStats& s = dp_.stats[i];
    const uint32_t lcore = s.lcore.load(std::memory_order_relaxed);
    lcores.push_back(
        {{"worker", i},
         {"lcore", lcore == UINT32_MAX ? nlohmann::json(nullptr) : nlohmann::json(lcore)},
         {"polls", s.polls.get()},
         {"busy_polls", s.busy_polls.get()},
         {"cache_hits", s.cache_hits.get()},
         {"cache_misses", s.cache_misses.get()},
         {"cache_stale", s.cache_stale.get()},
         {"cache_bypassed_bursts", s.cache_bypassed_bursts.get()},
         {"cache_runs_on", s.cache_runs_on.get()},
         {"cache_runs_off", s.cache_runs_off.get()}});
  }
  nlohmann::json cache = {
      {"enabled", dp_.params.route_cache},
      {"sets", dp_.params.route_cache ? dp_.params.route_cache_sets : 0},
      {"hits", sum([](const LcoreStats& s) { return s.cache_hits.get(); })},
      {"misses", sum([](const LcoreStats& s) { return s.cache_misses.get(); })},
      {"stale", sum([](const LcoreStats& s) { return s.cache_stale.get(); })},
      {"bypassed_bursts", sum([](const LcoreStats& s) { return s.cache_bypassed_bursts.get(); })},
      {"runs_on", sum([](const LcoreStats& s) { return s.cache_runs_on.get(); })},
      {"runs_off", sum([](const LcoreStats& s) { return s.cache_runs_off.get(); })}};
  size_t nh_used = 0;
  for (const auto& s : nh_) nh_used += s.used;
  return {{"generation", dp_.generation.read()},
          {"commits", commits_},
          {"route_updates", route_updates_},
          {"invalidation", invalidation_json()},
          {"route_cache", cache},
          {"routes", rib_.size()},
          {"fib_prefixes", dp_.fib.routes()},
          {"next_hops", nh_used},
          {"neighbours", neigh_.entries().size()},
          {"neighbour_queued", neigh_.queued_packets()},
          {"punt_ring_used", rte_ring_count(dp_.punt)},
          {"reclaim_pending", reclaimer_.pending()},
          {"fragmented", sum([](const LcoreStats& s) { return s.fragmented.get(); })},
          {"fragments", sum([](const LcoreStats& s) { return s.fragments.get(); })},
          {"ports", ports},
          {"drops", drops},
          {"punts", punts},
          {"events", events},
          {"workers", lcores}};
}

std::string Control::stats_summary() const {
  nlohmann::json s = stats_json();
  std::string out;
  for (const auto& p : s["ports"])
    out += fmt::format("{}: rx {} tx {} dropped {}; ", p["name"].get<std::string>(),
                       p["rx_packets"].get<uint64_t>(), p["tx_packets"].get<uint64_t>(),
                       p["dropped"].get<uint64_t>());
  std::string reasons;
  for (const auto& [k, v] : s["drops"].items())
    if (v.get<uint64_t>()) reasons += fmt::format(" {}={}", k, v.get<uint64_t>());
  return out + "drops:" + (reasons.empty() ? " none" : reasons);
}

}  // namespace routerd
