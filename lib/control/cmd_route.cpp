// routerctl route ...: static routes (add, replace, del, batch, load) validated against the RIB
// and committed as one batch each, and the views of routes, next hops and route exceptions.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <type_traits>

#include "commands.hpp"
#include "control.hpp"

namespace routerd {

// Either family: {"type", "family", "prefix", ["via"], ["dev"], "proto", ...}. A route that
// rejects has no via nor dev, as `ip route` shows "blackhole 10.9.0.0/16".
template <class R>
nlohmann::json route_json_common(const R& rt, const std::string& dev, const char* origin) {
  nlohmann::json j = {{"type", route_type_name(rt.type)},
                      {"family", std::is_same_v<R, Route6> ? 6 : 4},
                      {"prefix", rt.prefix.str()}};
  if (rt.via) j["via"] = rt.via->str();
  if (rt.via6) {  // RFC 5549: an IPv4 route's IPv6 gateway
    j["via"] = rt.via6->str();
    j["via_family"] = 6;
  }
  if (!route_type_rejects(rt.type)) j["dev"] = dev;
  // A daemon's route shows as the daemon's protocol ("bgp"), as `ip route` does, and says it
  // came from the routing daemon.
  if (rt.proto == RouteProto::daemon) {
    j["proto"] = rtproto_name(rt.rtproto);
    j["origin"] = origin;
  } else {
    j["proto"] = route_proto_name(rt.proto);
  }
  return j;
}
template nlohmann::json route_json_common(const Route&, const std::string&, const char*);
template nlohmann::json route_json_common(const Route6&, const std::string&, const char*);

nlohmann::json Control::route_json(const Route& rt) const {
  const PortCtl* p = port_by_id(rt.port);
  nlohmann::json j = route_json_common(rt, p ? p->ref.name : "?", feed_origin());
  if (rt.proto == RouteProto::connected) j["src"] = rt.src.str();
  if (rt.mtu()) j["mtu"] = rt.mtu();
  if (rt.paths) paths_json(rt, j);
  return j;
}

// ip route del checks a type given too.
void check_del_type(const std::string& where, const Request& r, RouteType have,
                    const std::string& prefix) {
  if (r.type_given && r.type != have)
    refuse(where, "the route for " + prefix + " is " + std::string(route_type_name(have)) +
                      ", not " + std::string(route_type_name(r.type)));
}

uint16_t Control::gateway_port(const std::string& where, Ipv4 gw, const std::string& dev) {
  if (local_address_port(gw))
    refuse(where, "gateway " + gw.str() + " is an address of this router");
  const PortCtl* gp = port_for_gateway(gw, dev);
  if (!gp)
    refuse(where, "gateway " + gw.str() + " is not on a connected subnet" +
                      (dev.empty() ? std::string() : " of " + dev));
  return gp->ref.id;
}

uint16_t Control::gateway_port(const std::string& where, const Ipv6& gw, const std::string& dev) {
  if (local_address6(gw)) refuse(where, "gateway " + gw.str() + " is an address of this router");
  if (gw.is_link_local()) {
    // Link-local addresses mean something only with their link (RFC 4007).
    if (dev.empty()) refuse(where, "a link-local gateway (" + gw.str() + ") needs dev PORT");
    return port_named(where, dev).ref.id;
  }
  const PortCtl* best = nullptr;
  int best_len = -1;
  for (const auto& p : ports_) {
    if (!dev.empty() && p.ref.name != dev) continue;
    for (const auto& pa : p.addrs6)
      if (pa.subnet.contains(gw) && pa.subnet.len > best_len) {
        best = &p;
        best_len = pa.subnet.len;
      }
  }
  if (!best)
    refuse(where, "gateway " + gw.str() + " is not on a connected subnet" +
                      (dev.empty() ? std::string() : " of " + dev));
  return best->ref.id;
}

// An ECMP route's next hops from the request, each checked as a lone gateway would be. An
// IPv4 route's may be IPv6 (RFC 5549).
template <class R>
void Control::set_paths(R& nr, const Request& r, const std::string& where) {
  using A = std::remove_cvref_t<decltype(nr.via.value())>;
  auto paths = std::make_shared<std::vector<BasicPath<A>>>();
  for (size_t i = 0; i < r.nexthops.size(); ++i) {
    const NexthopSpec& h = r.nexthops[i];
    const std::string at = where + ": nexthop " + std::to_string(i + 1);
    if (!h.dev.empty()) port_named(at, h.dev);
    BasicPath<A> p;
    std::string gw;
    if constexpr (std::is_same_v<A, Ipv6>) {
      p.via = *h.via6;
      p.port = gateway_port(at, p.via, h.dev);
      gw = p.via.str();
    } else if (h.via6) {
      p.via6 = h.via6;
      p.port = gateway_port(at, *h.via6, h.dev);
      gw = "inet6 " + h.via6->str();
    } else {
      p.via = *h.via;
      p.port = gateway_port(at, p.via, h.dev);
      gw = p.via.str();
    }
    p.weight = h.weight;
    for (const auto& q : *paths)
      if (q.via == p.via && q.via6 == p.via6 && q.port == p.port)
        refuse(where, "gateway " + gw + " is named twice (give it one nexthop with the " +
                          "sum of the weights)");
    paths->push_back(p);
  }
  std::sort(paths->begin(), paths->end());
  if (paths->front().via6)
    nr.via6 = paths->front().via6;
  else
    nr.via = paths->front().via;
  nr.port = paths->front().port;
  // Routes with the same next hops share one read-only list: a full table through one
  // group took 1.1 GiB more heap with a list per route (ECMP bench). The last list built
  // is the one a table load repeats.
  auto& last = [this]() -> auto& {
    if constexpr (std::is_same_v<A, Ipv6>)
      return last_paths6_;
    else
      return last_paths4_;
  }
  ();
  if (last && *last == *paths) {
    nr.paths = last;
  } else {
    nr.paths = std::move(paths);
    last = nr.paths;
  }
}
template void Control::set_paths(Route&, const Request&, const std::string&);
template void Control::set_paths(Route6&, const Request&, const std::string&);

// Validates one route change against the RIB as the earlier changes of its batch left it,
// applies it to the RIB and records what it replaced. Throws CommandError, prefixed with
// `where`, changing nothing.
void Control::rib_apply(const Request& r, const std::string& where, RibChanges& changes,
                        BatchCounts& n) {
  if (r.family == 6) return rib_apply6(r, where, changes, n);
  const Route* existing = rib_.find(r.prefix);
  if (r.verb == Verb::route_del) {
    if (!existing) refuse(where, "no route for " + r.prefix.str());
    if (existing->proto == RouteProto::daemon)
      refuse(where, r.prefix.str() + " is a " + rtproto_name(existing->rtproto) +
                        " route from the routing daemon; withdraw it there");
    if (existing->proto == RouteProto::connected)
      refuse(where, r.prefix.str() + " is a connected route; delete the address instead");
    check_del_type(where, r, existing->type, r.prefix.str());
    if (r.via && !route_uses_gateway(*existing, *r.via))
      refuse(where, "the route for " + r.prefix.str() + " is not via " + r.via->str());
    if (r.via6 && !route_uses_gateway6(*existing, *r.via6))
      refuse(where, "the route for " + r.prefix.str() + " is not via inet6 " + r.via6->str());
    if (!r.dev.empty() &&
        (route_type_rejects(existing->type) || port_by_id(existing->port)->ref.name != r.dev))
      refuse(where, "the route for " + r.prefix.str() + " does not use " + r.dev);
    changes.record(r.prefix, existing);
    rib_erase_own(r.prefix);
    ++n.deleted;
    return;
  }
  const bool replace = r.verb == Verb::route_replace;
  if (existing && existing->proto == RouteProto::connected)
    refuse(where, r.prefix.str() + " is the connected route of " +
                      port_by_id(existing->port)->ref.name + "; it follows the port's addresses");
  // The router's own route wins over a daemon's, which comes back when this one goes.
  if (existing && !replace && existing->proto != RouteProto::daemon)
    refuse(where, "a route for " + r.prefix.str() + " exists (use route replace)");
  if (r.prefix.len == 32 && local_address_port(r.prefix.addr))
    refuse(where, r.prefix.addr.str() + " is an address of this router");
  if (!r.dev.empty()) port_named(where, r.dev);
  Route nr;
  nr.prefix = r.prefix;
  nr.proto = RouteProto::static_route;
  nr.type = r.type;
  if (route_type_rejects(r.type)) {
    // No gateway, no port (the grammar refuses via, dev and mtu for these types).
  } else if (!r.nexthops.empty()) {
    set_paths(nr, r, where);
  } else if (r.via) {
    nr.via = r.via;
    nr.port = gateway_port(where, *r.via, r.dev);
  } else if (r.via6) {  // RFC 5549: resolved by NDP, a link-local one on dev
    nr.via6 = r.via6;
    nr.port = gateway_port(where, *r.via6, r.dev);
  } else {
    nr.port = port_by_name(r.dev)->ref.id;
  }
  if (r.mtu) nr.set_mtu(r.mtu);
  changes.record(r.prefix, existing);
  ++(existing ? n.replaced : n.added);
  rib_.set(nr);
}

void Control::rib_undo(const RibChanges& undo) {
  // The families' RIBs are independent: each is undone newest first.
  for (auto it = undo.v4.rbegin(); it != undo.v4.rend(); ++it) {
    if (it->old != it->kNew)
      rib_.set(undo.old4[it->old]);
    else
      rib_.erase(it->prefix);
  }
  for (auto it = undo.v6.rbegin(); it != undo.v6.rend(); ++it) {
    if (it->old != it->kNew)
      rib6_.set(undo.old6[it->old]);
    else
      rib6_.erase(it->prefix);
  }
}

// Derives the FIB from the RIB changes of a batch and commits them as one change (one
// generation bump). On failure the RIB is restored, nothing is published, and CommandError
// says why, prefixed with `where` and followed by `suffix`.
void Control::commit_routes(RibChanges& changes, const std::string& where,
                            const std::string& suffix, bool synced) {
  // Host routes of neighbours depend on their longest match: recheck those under a change
  // (every neighbour once when the batch is large).
  auto recheck = [this, synced](const auto& undo, const auto& neighbours, auto host) {
    if (!synced)
      for (size_t i = 0; i < undo.size(); ++i) {
        // A second pass over the batch's prefixes: their RIB and publisher entries are out
        // of cache again on a large table.
        prefetch_ahead(i, undo.size(), [&undo](size_t j) { return undo[j].prefix; });
        sync(undo[i].prefix);
      }
    if (undo.size() <= 16) {
      for (const auto& [key, nb] : neighbours)
        for (const auto& u : undo)
          if (u.prefix.contains(nb.ip)) {
            sync(host(nb.ip));
            break;
          }
    } else {
      for (const auto& [key, nb] : neighbours) sync(host(nb.ip));
    }
  };
  try {
    recheck(changes.v4, neigh_.entries(), [](Ipv4 ip) { return Prefix4{ip, 32}; });
    recheck(changes.v6, neigh6_.entries(), [](const Ipv6& ip) { return Prefix6{ip, 128}; });
    pub_.commit();
  } catch (const std::exception& e) {  // FibError: no room in the FIB or the next-hop table
    pub_.rollback();
    rib_undo(changes);
    refuse(where, e.what() + suffix);
  }
}

// route add, replace and del: a batch of one.
template <>
nlohmann::json Control::handle<Verb::route_add>(const Request& r) {
  const std::string cmd = verb_name(r.verb);
  RibChanges undo;
  BatchCounts n;
  rib_apply(r, cmd, undo, n);
  commit_routes(undo, cmd, "");
  return nlohmann::json::object();
}

template <>
nlohmann::json Control::handle<Verb::route_replace>(const Request& r) {
  return handle<Verb::route_add>(r);
}

template <>
nlohmann::json Control::handle<Verb::route_del>(const Request& r) {
  return handle<Verb::route_add>(r);
}

nlohmann::json Control::route_batch(const Request& r) {
  auto t0 = std::chrono::steady_clock::now();
  RibChanges undo;
  BatchCounts n;
  const uint64_t fib_before = pub_.route_updates();
  // Counted here, not from two reads of `stats`: a neighbour or address event between those
  // bumps the generation too. Nothing else runs on this thread during the batch.
  const uint64_t bumps_before = pub_.commits();
  try {
    // Each line's name is needed only if it fails, but is built for every line: in one
    // reused string, as "line 1234: route replace" is past the short-string size.
    std::string where;
    for (size_t i = 0; i < r.batch.size(); ++i) {
      // The churn a routing daemon sends hits random routes of a full table: cache misses
      // in the RIB and the publisher's route map per line, unless fetched ahead.
      prefetch_changes(i, r.batch.size(),
                       [&r](size_t j) -> const Request& { return r.batch[j].req; });
      const BatchLine& b = r.batch[i];
      where.clear();
      if (b.where.empty()) {
        where += "line ";
        where += std::to_string(b.line);
      } else {
        where += b.where;
      }
      where += ": ";
      where += verb_name(b.req.verb);
      rib_apply(b.req, where, undo, n);
    }
  } catch (const CommandError& e) {
    rib_undo(undo);
    throw CommandError(std::string(e.what()) + "; nothing in the batch was applied");
  }
  // Every line is checked before any FIB entry is derived (commit_routes): a refused line
  // leaves the publisher, and so the generation, untouched.
  commit_routes(undo, "batch", "; nothing in the batch was applied");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {{"changes", r.batch.size()},
          {"added", n.added},
          {"replaced", n.replaced},
          {"deleted", n.deleted},
          {"fib_changes", pub_.route_updates() - fib_before},
          {"generation", pub_.generation()},
          {"generation_bumps", pub_.commits() - bumps_before},
          {"seconds", secs}};
}

nlohmann::json Control::route_load(const std::vector<RouteSpec>& specs, const std::string& source) {
  auto t0 = std::chrono::steady_clock::now();
  RibChanges undo;
  // One rehash of each table up front instead of a dozen along the way.
  const size_t n6 = size_t(
      std::count_if(specs.begin(), specs.end(), [](const RouteSpec& s) { return s.family == 6; }));
  const size_t n4 = specs.size() - n6;
  undo.v4.reserve(n4);
  undo.v6.reserve(n6);
  // At most one replaced route per route in the file, and no more than the RIB holds: a
  // reload of a full table replaces them all, and growing these by doubling moved each
  // route up to 17 times (a full IPv6 reload: 0.10-0.15 -> 0.16-0.22 s). Reserving writes nothing.
  undo.old4.reserve(std::min(n4, rib_.size()));
  undo.old6.reserve(std::min(n6, rib6_.size()));
  if (n4) rib_.reserve(rib_.size() + n4);
  if (n6) rib6_.reserve(rib6_.size() + n6);
  pub_.reserve(n4, n6);
  BatchCounts n;
  try {
    // One request and one location string reused: a table load is a million of them.
    Request r;
    r.verb = Verb::route_replace;
    std::string where = source + ":";
    const size_t where_len = where.size();
    for (size_t i = 0; i < specs.size(); ++i) {
      prefetch_changes(i, specs.size(),
                       [&specs](size_t j) -> const RouteSpec& { return specs[j]; });
      const RouteSpec& s = specs[i];
      r.family = s.family;
      r.prefix = s.prefix;
      r.via = s.via;
      r.prefix6 = s.prefix6;
      r.via6 = s.via6;
      r.dev = s.dev;
      r.mtu = s.mtu;
      r.type = s.type;
      r.nexthops = s.nexthops;
      where.resize(where_len);
      where += std::to_string(s.line);
      rib_apply(r, where, undo, n);
      // Its FIB entry now rather than in commit_routes' pass: the route's RIB entry was just
      // written and is in cache, where a second pass over a full table misses on every one
      // (a third of that pass's time, perf). A later line for the same prefix syncs again;
      // the last one wins, as in the publisher's batch.
      if (s.family == 6)
        sync(s.prefix6);
      else
        sync(s.prefix);
    }
  } catch (const CommandError& e) {
    pub_.rollback();
    rib_undo(undo);
    throw CommandError(std::string(e.what()) + "; nothing from the file was applied");
  } catch (const std::exception& e) {  // FibError: no room in the next-hop table
    pub_.rollback();
    rib_undo(undo);
    refuse(source, e.what() + std::string("; nothing from the file was applied"));
  }
  commit_routes(undo, source, "; nothing from the file was applied", /*synced=*/true);
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

template <class A>
nlohmann::json rib_summary(const BasicRib<A>& rib) {
  nlohmann::json by_len = nlohmann::json::object();
  const auto& per_len = rib.per_length();
  for (size_t len = 0; len < per_len.size(); ++len)
    if (per_len[len]) by_len[std::to_string(len)] = per_len[len];
  std::map<std::string, size_t> by_proto;  // routing daemons' by their protocol's name
  const auto& per = rib.daemon_per_protocol();
  for (size_t p = 0; p < per.size(); ++p)
    if (per[p]) by_proto[rtproto_name(uint8_t(p))] += per[p];
  return {{"routes", rib.size()},
          {"connected", rib.count(RouteProto::connected)},
          {"static", rib.count(RouteProto::static_route)},
          {"daemon", nlohmann::json(by_proto)},
          {"by_length", by_len}};
}
template nlohmann::json rib_summary(const BasicRib<Ipv4>&);
template nlohmann::json rib_summary(const BasicRib<Ipv6>&);

template <>
nlohmann::json Control::handle<Verb::route_summary>(const Request&) {
  nlohmann::json j = rib_summary(rib_);
  j.update(nlohmann::json{{"via_ipv6", rib_.count_via_ipv6()},  // RFC 5549
                          {"fib_prefixes", dp_.fib.routes()},
                          {"ipv6", route_summary6()},
                          {"next_hops", pub_.slots_used()},
                          {"generation", pub_.generation()},
                          {"commits", pub_.commits()},
                          {"route_updates", pub_.route_updates()}});
  return j;
}

template <>
nlohmann::json Control::handle<Verb::route_show>(const Request& r) {
  nlohmann::json out = nlohmann::json::array();
  // proto NAME: "connected", "static" (routerd's own and FRR staticd's alike), "bgp", ...
  auto keep = [&](const nlohmann::json& j) { return r.proto.empty() || j["proto"] == r.proto; };
  if (r.family != 6)
    for (const Route* rt : rib_.sorted())
      if (auto j = route_json(*rt); keep(j)) out.push_back(std::move(j));
  if (r.family != 4)
    for (const Route6* rt : rib6_.sorted())
      if (auto j = route_json(*rt); keep(j)) out.push_back(std::move(j));
  return out;
}

template <>
nlohmann::json Control::handle<Verb::route_get>(const Request& r) {
  if (r.family == 6) return route_get6(r);
  const Ipv4 a = r.addr;
  nlohmann::json j = {{"dst", a.str()}};
  uint16_t lp;
  uint32_t id = dp_.fib.lookup(a.v);
  auto nh_json = [&](uint32_t nid) {
    nlohmann::json n = {{"id", nid}};
    const NextHopState* s = pub_.state(nid);
    if (!s) return n;
    n["state"] = nh_kind_name(s->kind);
    if (s->kind == NhKind::forward)
      n["lladdr"] = Mac{{s->l2[0], s->l2[1], s->l2[2], s->l2[3], s->l2[4], s->l2[5]}}.str();
    if (s->kind != NhKind::local && s->kind != NhKind::broadcast && !nh_rejects(s->kind))
      n["mtu"] = s->mtu;
    if (s->gateway.v) n["neighbour"] = s->gateway.str();
    if (!s->gateway6.is_unspecified()) n["neighbour"] = s->gateway6.str();  // RFC 5549
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
    // Not a route type: nothing matches (Net Unreachable), unlike an unreachable route.
    j["type"] = "none";
    return j;
  }
  j["type"] = route_type_name(rt->type);
  j["route"] = rt->prefix.str();
  j["proto"] =
      rt->proto == RouteProto::daemon ? rtproto_name(rt->rtproto) : route_proto_name(rt->proto);
  if (route_type_rejects(rt->type)) {
    j["nexthop"] = nh_json(id);
    return j;
  }
  Ipv4 via = rt->via.value_or(Ipv4());
  std::optional<Ipv6> via6 = rt->via6;  // RFC 5549
  uint16_t port = rt->port;
  if (const NextHopState* s = pub_.state(id); s && s->kind == NhKind::group) {
    id = flow_member(r, id, j);  // the member this flow takes
    const NhKey& k = pub_.key(id);
    via = Ipv4(k.ip);
    via6 = k.ndp() ? std::optional<Ipv6>(k.ip6) : std::nullopt;
    port = k.port;
  }
  if (via6) {
    j["via"] = via6->str();
    j["via_family"] = 6;
  } else if (rt->has_gateway()) {
    j["via"] = via.str();
  }
  j["dev"] = port_by_id(port)->ref.name;
  if (rt->mtu()) j["route_mtu"] = rt->mtu();
  if (auto src = source_for(port, rt->has_gateway() && !via6 ? via : a)) j["src"] = src->str();
  j["nexthop"] = nh_json(id);
  // find() may drop an expired entry: exceptions are control-thread state, and route get
  // runs there.
  if (const RouteException* e = exc_.find(a.v, now_ms())) {
    // A redirect learnt for another route, or another first hop, is not used: not shown.
    RouteException shown = *e;
    if (!redirect_current(shown, a)) shown.gateway = {};
    if (shown.metrics.mtu || shown.has_gateway()) j["exception"] = exception_json(shown, now_ms());
  }
  return j;
}

namespace {
// Either family: {"dst", "family", "route", ["mtu", "mtu_expires_s"], ["gateway",
// "gateway_expires_s"]}, the learnt parts that are still live at `now`.
template <class K, class Str>
nlohmann::json exception_json_of(const BasicRouteException<K>& e, uint64_t now, Str str) {
  nlohmann::json j = {
      {"dst", str(e.dst)}, {"family", std::is_same_v<K, Ipv6> ? 6 : 4}, {"route", e.route.str()}};
  if (e.metrics.mtu) {
    j["mtu"] = e.metrics.mtu;
    j["mtu_expires_s"] = (e.pmtu_expires_ms - now + 999) / 1000;
    if (e.mtu_locked) j["mtu_locked"] = true;
  }
  if (e.has_gateway()) {
    j["gateway"] = str(e.gateway);
    j["gateway_expires_s"] = (e.redirect_expires_ms - now + 999) / 1000;
  }
  return j;
}

// Oldest first; entries whose time is up are shown until the next expiry pass (100 ms).
template <class Table, class Json>
void show_exceptions(const Table& t, uint64_t now, nlohmann::json& out, Json json) {
  t.for_each([&](const auto& e) {
    auto live = e;
    if (live.pmtu_expires_ms && now >= live.pmtu_expires_ms) live.metrics.mtu = 0;
    if (live.redirect_expires_ms && now >= live.redirect_expires_ms) live.gateway = {};
    if (live.metrics.mtu || live.has_gateway()) out.push_back(json(live));
  });
}
}  // namespace

nlohmann::json Control::exception_json(const RouteException& e, uint64_t now) const {
  return exception_json_of(e, now, [](uint32_t a) { return Ipv4(a).str(); });
}

nlohmann::json Control::exception_json(const RouteException6& e, uint64_t now) const {
  return exception_json_of(e, now, [](const Ipv6& a) { return a.str(); });
}

// route show cache, route flush cache: iproute2's names for the route exceptions. Show
// takes -4/-6; flush empties both families' pools.
template <>
nlohmann::json Control::handle<Verb::route_show_exceptions>(const Request& r) {
  const uint64_t now = now_ms();
  nlohmann::json out = nlohmann::json::array();
  auto json = [&](const auto& e) { return exception_json(e, now); };
  if (r.family != 6) show_exceptions(exc_, now, out, json);
  if (r.family != 4) show_exceptions(exc6_, now, out, json);
  return out;
}

template <>
nlohmann::json Control::handle<Verb::route_flush_exceptions>(const Request&) {
  const size_t n = exc_.size() + exc6_.size();
  exc_.clear();
  exc6_.clear();
  return {{"flushed", n}};
}

template <>
nlohmann::json Control::handle<Verb::batch>(const Request& r) {
  return route_batch(r);
}

template <>
nlohmann::json Control::handle<Verb::route_load>(const Request& r) {
  return route_load(parse_route_file(r.path), r.path);
}

// Reading and parsing a large file happens on the caller's thread, so the control thread keeps
// serving the slow path until the batch is ready.
template <>
nlohmann::json Control::handle_on_caller<Verb::route_load>(const Request& r) {
  auto specs = std::make_shared<std::vector<RouteSpec>>(parse_route_file(r.path));
  return submit([this, specs, path = r.path] { return route_load(*specs, path); });
}

void Control::register_route_commands(CommandTable& t) {
  t.control<Verb::route_add>();
  t.control<Verb::route_replace>();
  t.control<Verb::route_del>();
  t.control<Verb::route_show>();
  t.control<Verb::route_summary>();
  t.control<Verb::route_get>();
  t.control<Verb::route_show_exceptions>();
  t.control<Verb::route_flush_exceptions>();
  t.control<Verb::batch>();
  t.control<Verb::route_load>();
  t.caller<Verb::route_load>();
}

}  // namespace routerd
