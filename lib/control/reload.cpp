// The config applied: at startup (load) and again on SIGHUP or routerctl reload, for the
// parts that can change while forwarding (port addresses, static neighbours, routes): what
// the file names and the router lacks is added, what only the previous file named and the
// router still has is removed. All of it or none.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "control.hpp"

namespace routerd {

namespace {

// Both families, as the text routerctl takes ("10.1.0.1/24", "2001:db8:1::1/64"): the
// steps below run routerctl verbs, so one diff serves IPv4 and IPv6.
using AddrKey = std::pair<std::string, std::string>;  // port, address/length

std::set<AddrKey> addresses_of(const Config& c) {
  std::set<AddrKey> s;
  for (const auto& p : c.ports) {
    for (const auto& [a, sn] : p.addresses)
      s.emplace(p.name, a.str() + "/" + std::to_string(sn.len));
    for (const auto& [a, sn] : p.addresses6)
      s.emplace(p.name, a.str() + "/" + std::to_string(sn.len));
  }
  return s;
}

std::vector<std::string> addr_argv(const char* verb, const AddrKey& k) {
  return {"addr", verb, k.second, "dev", k.first};
}

// A static neighbour of either family, keyed by its address's text and, for an IPv6
// link-local address (one per link, RFC 4007), its port: "fe80::2%p1".
struct StaticNeighbour {
  std::string address;
  Mac lladdr;
  std::string port;
  bool operator==(const StaticNeighbour&) const = default;
};

std::map<std::string, StaticNeighbour> neighbours_of(const Config& c) {
  std::map<std::string, StaticNeighbour> m;
  for (const auto& n : c.neighbours) m[n.address.str()] = {n.address.str(), n.lladdr, n.port};
  for (const auto& n : c.neighbours6) {
    const std::string zone = n.address.is_link_local() ? "%" + n.port : "";
    m[n.address.str() + zone] = {n.address.str(), n.lladdr, n.port};
  }
  return m;
}

std::vector<std::string> neigh_add_argv(const StaticNeighbour& n) {
  return {"neigh", "add", n.address, "lladdr", n.lladdr.str(), "dev", n.port};
}

// "via X", or for an IPv6 gateway of an IPv4 prefix (RFC 5549) "via inet6 X", as
// ip-route(8) and routerctl's grammar spell it.
void via_words(std::vector<std::string>& w, const std::string& prefix, const std::string& via) {
  w.emplace_back("via");
  if (via.find(':') != std::string::npos && prefix.find(':') == std::string::npos)
    w.emplace_back("inet6");
  w.push_back(via);
}

// A route of either family as a batch line takes it.
struct RouteLine {
  uint8_t family = 4;
  std::string prefix;  // text: the map key
  std::string via;     // empty: none
  std::string dev;
  uint16_t mtu = 0;
  uint32_t line = 0;
  RouteType type = RouteType::unicast;  // a change of type alone is a replace
  struct Nh {
    std::string via, dev;  // dev empty: as the gateway's subnet says
    uint16_t weight = 1;
  };
  std::vector<Nh> nh;  // ECMP
  // The words "nexthop via X [dev P] weight W" for each next hop.
  void nh_words(std::vector<std::string>& w) const {
    for (const Nh& h : nh) {
      w.emplace_back("nexthop");
      via_words(w, prefix, h.via);
      if (!h.dev.empty()) w.insert(w.end(), {"dev", h.dev});
      w.insert(w.end(), {"weight", std::to_string(h.weight)});
    }
  }
  // The live route (`this`) has what `want` asks: each next hop, with a dev where one is named.
  bool same_nexthops(const RouteLine& want) const {
    if (nh.size() != want.nh.size()) return false;
    for (const Nh& w : want.nh) {
      bool found = false;
      for (const Nh& h : nh)
        found |= h.via == w.via && h.weight == w.weight && (w.dev.empty() || h.dev == w.dev);
      if (!found) return false;
    }
    return true;
  }
};

RouteLine route_line(const RouteSpec& s, const std::vector<NexthopSpec>& nexthops) {
  // An IPv6 route's gateway is via6; an IPv4 route's is via, or via6 (RFC 5549).
  const std::string via = s.via ? s.via->str() : s.via6 ? s.via6->str() : "";
  RouteLine r{s.family, route_prefix_str(s), via, s.dev, s.mtu, s.line, s.type, {}};
  for (const NexthopSpec& h : nexthops)
    r.nh.push_back({h.via6 ? h.via6->str() : h.via ? h.via->str() : "", h.dev, h.weight});
  return r;
}

template <class R>
RouteLine config_line(const R& r, uint8_t family) {
  RouteLine l{family, r.prefix.str(), r.via ? r.via->str() : "", r.dev, 0, 0, r.type, {}};
  if constexpr (std::is_same_v<R, RouteConfig>)
    if (r.via6) l.via = r.via6->str();  // RFC 5549
  for (const auto& h : r.nexthops)
    l.nh.push_back({h.via6 ? h.via6->str() : h.via.str(), h.dev, h.weight});
  return l;
}

// The argv that adds a [[route]] of either family: "route add [TYPE] PREFIX [via X] [dev P]".
template <class R>
std::vector<std::string> route_add_argv(const R& rt) {
  std::vector<std::string> argv = {"route", "add"};
  if (route_type_rejects(rt.type)) argv.emplace_back(route_type_name(rt.type));
  argv.push_back(rt.prefix.str());
  const RouteLine l = config_line(rt, 4);
  if (!l.via.empty()) via_words(argv, l.prefix, l.via);
  if (!rt.dev.empty()) argv.insert(argv.end(), {"dev", rt.dev});
  l.nh_words(argv);
  return argv;
}

// The routes a config asks for, as the startup load applies them: [[route]] entries, then
// the route files in order, a later line replacing an earlier one for the same prefix.
std::map<std::string, RouteLine> routes_of(const Config& c,
                                           const std::vector<Control::RouteFile>& files) {
  std::map<std::string, RouteLine> m;
  for (const auto& r : c.routes) m[r.prefix.str()] = config_line(r, 4);
  for (const auto& r : c.routes6) m[r.prefix.str()] = config_line(r, 6);
  for (const auto& f : files)
    for (size_t i = 0; i < f.specs.size(); ++i) {
      RouteLine l = route_line(f.specs[i], f.nexthops(i));
      std::string prefix = l.prefix;
      m[std::move(prefix)] = std::move(l);
    }
  return m;
}

// Keys that take effect only at startup (they size memory, name devices or start threads).
std::vector<std::string> restart_needed(const Config& a, const Config& b) {
  std::vector<std::string> v;
  auto check = [&](bool differs, const char* key) {
    if (differs) v.emplace_back(key);
  };
  check(a.metrics_listen != b.metrics_listen, "metrics_listen");
  check(a.eal != b.eal, "dataplane.eal");
  check(a.socket != b.socket, "dataplane.socket");
  check(a.mbufs != b.mbufs, "dataplane.mbufs");
  check(a.burst != b.burst, "dataplane.burst");
  check(a.idle_sleep_us != b.idle_sleep_us, "dataplane.idle_sleep_us");
  check(a.heap_reserve_mib != b.heap_reserve_mib, "dataplane.heap_reserve_mib");
  check(a.presets_dir != b.presets_dir, "dataplane.presets_dir");
  check(a.log_level != b.log_level, "dataplane.log_level");
  check(a.max_routes != b.max_routes, "fib.max_routes");
  check(a.tbl8_groups != b.tbl8_groups, "fib.tbl8_groups");
  check(a.max_next_hops != b.max_next_hops, "fib.max_next_hops");
  check(a.drop_martians != b.drop_martians, "ipv4.drop_martians");
  check(a.send_redirects != b.send_redirects, "ipv4.send_redirects");
  check(a.forward_directed_broadcast != b.forward_directed_broadcast,
        "ipv4.forward_directed_broadcast");
  check(a.accept_redirects != b.accept_redirects, "ipv4.accept_redirects");
  check(a.exc_max_entries != b.exc_max_entries, "exceptions.max_entries");
  check(a.pmtu_min != b.pmtu_min, "exceptions.pmtu_min");
  check(a.pmtu_expires_s != b.pmtu_expires_s, "exceptions.pmtu_expires");
  check(a.redirect_expires_s != b.redirect_expires_s, "exceptions.redirect_expires");
  check(a.icmp_rate != b.icmp_rate, "icmp.rate");
  check(a.icmp_burst != b.icmp_burst, "icmp.burst");
  check(a.echo_reply != b.echo_reply, "icmp.echo_reply");
  check(a.route_cache != b.route_cache, "route_cache.enabled");
  check(a.route_cache_sets != b.route_cache_sets, "route_cache.sets");
  check(a.route_cache6_sets != b.route_cache6_sets, "route_cache.sets6");
  check(a.tunnel_outer_path_cache != b.tunnel_outer_path_cache, "route_cache.tunnel_outer_path");
  check(a.arp_reachable_s != b.arp_reachable_s, "arp.reachable_time");
  check(a.arp_retrans_ms != b.arp_retrans_ms, "arp.retrans_time_ms");
  check(a.arp_probes != b.arp_probes, "arp.probes");
  check(a.arp_queue_len != b.arp_queue_len, "arp.queue_len");
  check(a.arp_max_entries != b.arp_max_entries, "arp.max_entries");
  check(a.arp_max_unresolved != b.arp_max_unresolved, "arp.max_unresolved");
  check(a.arp_queue_total != b.arp_queue_total, "arp.queue_total");
  check(a.arp_failed_ms != b.arp_failed_ms, "arp.failed_time_ms");
  check(a.arp_locktime_ms != b.arp_locktime_ms, "arp.locktime_ms");
  check(a.arp_resolve_rate != b.arp_resolve_rate, "arp.resolve_rate");
  check(a.arp_resolve_burst != b.arp_resolve_burst, "arp.resolve_burst");
  check(a.arp_source_rate != b.arp_source_rate, "arp.source_rate");
  check(a.arp_source_burst != b.arp_source_burst, "arp.source_burst");
  check(a.icmp_source_rate != b.icmp_source_rate, "icmp.source_rate");
  check(a.icmp_source_burst != b.icmp_source_burst, "icmp.source_burst");
  check(a.exc_source_rate != b.exc_source_rate, "exceptions.source_rate");
  check(a.exc_source_burst != b.exc_source_burst, "exceptions.source_burst");
  // Ports: everything but their addresses (MTU changes at run time with `link set`).
  bool ports_differ = a.ports.size() != b.ports.size();
  for (size_t i = 0; !ports_differ && i < a.ports.size(); ++i) {
    const auto &x = a.ports[i], &y = b.ports[i];
    ports_differ = x.name != y.name || x.device != y.device || x.preset != y.preset ||
                   x.mtu != y.mtu || x.mac != y.mac || x.link_local != y.link_local ||
                   x.tunnel != y.tunnel;
  }
  check(ports_differ,
        "port or tunnel (name, device, preset, mtu, mac, link_local; a tunnel's "
        "endpoints, key, ttl or mtu)");
  check(a.fib6_max_routes != b.fib6_max_routes, "fib6.max_routes");
  check(a.fib6_tbl8_groups != b.fib6_tbl8_groups, "fib6.tbl8_groups");
  check(a.ipv6_send_redirects != b.ipv6_send_redirects, "ipv6.send_redirects");
  check(a.ipv6_accept_redirects != b.ipv6_accept_redirects, "ipv6.accept_redirects");
  check(a.icmp6_rate != b.icmp6_rate, "ipv6.icmp_rate");
  check(a.icmp6_burst != b.icmp6_burst, "ipv6.icmp_burst");
  check(a.ndp_reachable_ms != b.ndp_reachable_ms || a.ndp_retrans_ms != b.ndp_retrans_ms ||
            a.ndp_probes != b.ndp_probes || a.ndp_delay_ms != b.ndp_delay_ms ||
            a.ndp_stale_ms != b.ndp_stale_ms,
        "ndp");
  // Read once at startup: the flow hash's key and RSS use are in every worker's parameters,
  // the kernel interfaces, the FPM server and the route mirror are set up once.
  check(a.ecmp_hash_key != b.ecmp_hash_key, "ecmp.hash_key");
  check(a.ecmp_use_rss != b.ecmp_use_rss, "ecmp.use_rss");
  check(a.ecmp_follow_link != b.ecmp_follow_link, "ecmp.follow_link");
  check(a.cp_enabled != b.cp_enabled || a.cp_netns != b.cp_netns || a.cp_allow != b.cp_allow ||
            a.cp_follow_link != b.cp_follow_link || a.cp_punt_rate != b.cp_punt_rate ||
            a.cp_punt_burst != b.cp_punt_burst,
        "control_plane (enabled, netns, allow, follow_link, punt_rate, punt_burst)");
  check(a.fpm_listen != b.fpm_listen || a.fpm_sweep_s != b.fpm_sweep_s ||
            a.fpm_hold_s != b.fpm_hold_s,
        "control_plane.fpm_*");
  check(a.kernel_routes != b.kernel_routes || a.kernel_routes_table != b.kernel_routes_table ||
            a.kernel_routes_protocols != b.kernel_routes_protocols,
        "control_plane.kernel_routes*");
  return v;
}

}  // namespace

void Control::load(const Config& cfg, std::vector<RouteFile> route_files) {
  loaded_ = cfg;
  loaded_files_ = std::move(route_files);
  auto run = [&](const std::string& where, const std::vector<std::string>& argv) {
    try {
      execute(parse_request(argv));
    } catch (const CommandError& e) {
      throw ConfigError(cfg.path + ": " + where + ": " + e.what());
    }
  };
  // Every port has its link-local address from the start (RFC 4291 2.1), whatever else.
  for (const auto& pc : cfg.ports)
    if (PortCtl* p = port_by_name(pc.name)) set_link_local(*p, pc.link_local);
  for (const auto& p : ports_) sync(Prefix6{p.ll, 128});
  pub_.commit();
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    // Tunnels come after the ports, whose addresses their local ones are.
    if (const auto& tc = cfg.ports[i].tunnel) {
      TunnelConf t;
      t.local = tc->local;
      t.remote = tc->remote;
      t.key = tc->key;
      t.ttl = tc->ttl;
      t.mtu = tc->mtu;
      try {
        tunnel_create("tunnel", cfg.ports[i].name, t);
      } catch (const CommandError& e) {
        throw ConfigError(cfg.path + ": tunnel " + cfg.ports[i].name + ": " + e.what());
      }
    }
    for (size_t j = 0; j < cfg.ports[i].addresses.size(); ++j) {
      const auto& [a, sn] = cfg.ports[i].addresses[j];
      run("port[" + std::to_string(i) + "].addresses[" + std::to_string(j) + "]",
          {"addr", "add", a.str() + "/" + std::to_string(sn.len), "dev", cfg.ports[i].name});
    }
    for (size_t j = 0; j < cfg.ports[i].addresses6.size(); ++j) {
      const auto& [a, sn] = cfg.ports[i].addresses6[j];
      run("port[" + std::to_string(i) + "].addresses (IPv6 " + std::to_string(j) + ")",
          {"addr", "add", a.str() + "/" + std::to_string(sn.len), "dev", cfg.ports[i].name});
    }
  }
  for (size_t i = 0; i < cfg.neighbours6.size(); ++i) {
    const auto& n = cfg.neighbours6[i];
    run("neighbour (IPv6 " + std::to_string(i) + ")",
        {"neigh", "add", n.address.str(), "lladdr", n.lladdr.str(), "dev", n.port});
  }
  for (size_t i = 0; i < cfg.routes6.size(); ++i)
    run("route (IPv6 " + std::to_string(i) + ")", route_add_argv(cfg.routes6[i]));
  for (size_t i = 0; i < cfg.neighbours.size(); ++i) {
    const auto& n = cfg.neighbours[i];
    run("neighbour[" + std::to_string(i) + "]",
        {"neigh", "add", n.address.str(), "lladdr", n.lladdr.str(), "dev", n.port});
  }
  for (size_t i = 0; i < cfg.routes.size(); ++i)
    run("route[" + std::to_string(i) + "]", route_add_argv(cfg.routes[i]));
  for (const auto& f : loaded_files_) {
    try {
      route_load(f.specs, f.path);
    } catch (const CommandError& e) {
      throw ConfigError(cfg.path + ": route_files: " + e.what());
    }
  }
  for (auto& f : loaded_files_) f.share_nexthops();
}

void Control::RouteFile::share_nexthops() {
  if (!set_.empty()) return;
  set_.assign(specs.size(), 0);
  std::unordered_map<std::string, uint32_t> index;
  std::string key;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::vector<NexthopSpec>& nh = specs[i].nexthops;
    if (nh.empty()) continue;
    if (i > 0 && set_[i - 1] != 0 && sets_[set_[i - 1] - 1] == nh) {
      set_[i] = set_[i - 1];  // a table through one group: consecutive lines share their set
    } else {
      key.clear();
      for (const NexthopSpec& h : nh)
        key += (h.via    ? h.via->str()
                : h.via6 ? h.via6->str()
                         : "") +
               ' ' + h.dev + ' ' + std::to_string(h.weight) + ';';
      const auto [it, fresh] = index.try_emplace(key, uint32_t(sets_.size() + 1));
      if (fresh) sets_.push_back(std::move(nh));
      set_[i] = it->second;
    }
    std::vector<NexthopSpec>().swap(nh);
  }
  if (sets_.empty()) std::vector<uint32_t>().swap(set_);
}

nlohmann::json Control::reload() {
  // Read and validated here, off the control thread, like `route load`: a large route
  // file does not hold up the slow path, and a bad file changes nothing.
  auto next = std::make_shared<std::pair<Config, std::vector<RouteFile>>>();
  try {
    next->first = load_config(config_path_);
    for (const auto& f : next->first.route_files) next->second.emplace_back(f, parse_route_file(f));
  } catch (const ConfigError& e) {
    throw CommandError(std::string("reload: ") + e.what() + "; nothing changed");
  } catch (const CommandError& e) {
    throw CommandError("reload: " + config_path_ + ": route_files: " + e.what() +
                       "; nothing changed");
  }
  return submit([this, next] { return reload_apply(next->first, std::move(next->second)); });
}

nlohmann::json Control::reload_apply(const Config& next, std::vector<RouteFile> files) {
  const auto t0 = std::chrono::steady_clock::now();
  auto run = [&](const std::vector<std::string>& argv) { execute(parse_request(argv)); };
  // Each step that succeeded leaves how to take it back; a failure takes them back newest
  // first, so the router ends as it was.
  std::vector<std::function<void()>> undo;
  size_t addr_added = 0, addr_removed = 0, neigh_set = 0, neigh_removed = 0;
  size_t routes_added = 0, routes_replaced = 0, routes_deleted = 0;

  // What the old config put in place tells what to remove; the live state tells what is
  // already there. Run-time edits therefore never make a reload try to remove what is gone
  // or skip adding what the file names and the router lacks.
  const auto old_addrs = addresses_of(loaded_), new_addrs = addresses_of(next);
  const auto old_neigh = neighbours_of(loaded_), new_neigh = neighbours_of(next);
  const auto old_routes = routes_of(loaded_, loaded_files_), new_routes = routes_of(next, files);
  const auto live_addrs = live_addresses();
  // A static neighbour as the live table has it, or nothing when it is not static. The port
  // names a link-local neighbour's link; other addresses are found on any port.
  auto live_neigh = [this](const std::string& text,
                           const std::string& port) -> std::optional<StaticNeighbour> {
    if (auto a4 = Ipv4::parse(text)) {
      const Neighbour* n = neigh_.find(*a4);
      if (!n || n->state != NeighState::permanent) return std::nullopt;
      return StaticNeighbour{text, n->mac, port_by_id(n->port)->ref.name};
    }
    const Ipv6 a6 = *Ipv6::parse(text);
    const PortCtl* p = port_by_name(port);
    if (a6.is_link_local() && !p) return std::nullopt;
    const auto* n = neigh6_.find(a6, p ? p->ref.id : 0);
    if (!n || n->state != NeighState::permanent) return std::nullopt;
    return StaticNeighbour{text, n->mac, port_by_id(n->port)->ref.name};
  };
  // The static route the RIB holds for a prefix (either family), as a RouteLine.
  auto live_route = [this](const RouteLine& key) -> std::optional<RouteLine> {
    auto line = [this](const auto& rt, uint8_t fam) {
      RouteLine l{fam,
                  rt.prefix.str(),
                  rt.via    ? rt.via->str()
                  : rt.via6 ? rt.via6->str()
                            : "",
                  route_type_rejects(rt.type) ? "" : port_by_id(rt.port)->ref.name,
                  rt.mtu(),
                  0,
                  rt.type,
                  {}};
      if (rt.paths) {
        l.via.clear();
        l.dev.clear();
        for (const auto& p : *rt.paths)
          l.nh.push_back(
              {p.via6 ? p.via6->str() : p.via.str(), port_by_id(p.port)->ref.name, p.weight});
      }
      return l;
    };
    if (key.family == 6) {
      const Route6* rt = rib6_.find(*Prefix6::parse(key.prefix));
      if (!rt || rt->proto != RouteProto::static_route) return std::nullopt;
      return line(*rt, 6);
    }
    const Route* rt = rib_.find(*Prefix4::parse(key.prefix));
    if (!rt || rt->proto != RouteProto::static_route) return std::nullopt;
    return line(*rt, 4);
  };
  try {
    // New addresses first: new routes and neighbours may need their subnets.
    for (const auto& k : new_addrs) {
      if (live_addrs.count(k)) continue;
      fault("addr add");
      run(addr_argv("add", k));
      undo.emplace_back([run, k] { run(addr_argv("del", k)); });
      ++addr_added;
    }
    for (const auto& [key, n] : new_neigh) {
      const auto now = live_neigh(n.address, n.port);
      if (now && *now == n) continue;
      fault("neigh add");
      run(neigh_add_argv(n));
      if (now)
        undo.emplace_back([run, o = *now] { run(neigh_add_argv(o)); });
      else
        undo.emplace_back([run, addr = n.address, port = n.port] {
          run({"neigh", "del", addr, "dev", port});
        });
      ++neigh_set;
    }

    // Routes: one batch (both families), so one generation bump and atomic for packets; its
    // inverse is built from the RIB as it is now.
    Request fwd, inv;
    fwd.verb = inv.verb = Verb::batch;
    // Where a route came from, for errors: "FILE:LINE" or the config's [[route]].
    std::map<std::string, std::string> source;
    for (const auto& r : next.routes)
      source[r.prefix.str()] = config_path_ + ": [[route]] " + r.prefix.str();
    for (const auto& r : next.routes6)
      source[r.prefix.str()] = config_path_ + ": [[route]] " + r.prefix.str();
    for (const auto& f : files)
      for (const auto& sp : f.specs)
        source[route_prefix_str(sp)] = f.path + ":" + std::to_string(sp.line);
    // A batch line through the grammar routerctl uses, so either family parses as typed.
    auto line_of = [&source](const RouteLine& r, bool del) {
      std::vector<std::string> w = {"route", del ? "del" : "replace"};
      if (!del && route_type_rejects(r.type)) w.emplace_back(route_type_name(r.type));
      w.push_back(r.prefix);
      if (!del) {
        if (!r.via.empty()) via_words(w, r.prefix, r.via);
        if (!r.dev.empty()) w.insert(w.end(), {"dev", r.dev});
        if (r.mtu) w.insert(w.end(), {"mtu", std::to_string(r.mtu)});
        r.nh_words(w);
      }
      auto it = source.find(r.prefix);
      return BatchLine{r.line, parse_request(w),
                       it != source.end() ? it->second : "route " + r.prefix};
    };
    auto restore_line = [&](const RouteLine& key) {
      const auto now = live_route(key);
      return now ? line_of(*now, false) : line_of(key, true);
    };
    for (const auto& [p, r] : old_routes) {
      if (new_routes.count(p) || !live_route(r)) continue;  // kept, or already gone
      inv.batch.push_back(restore_line(r));
      fwd.batch.push_back(line_of(r, true));
      ++routes_deleted;
    }
    for (const auto& [p, r] : new_routes) {
      const auto now = live_route(r);
      if (now && now->type == r.type && now->via == r.via && (r.dev.empty() || now->dev == r.dev) &&
          now->mtu == r.mtu && now->same_nexthops(r))
        continue;
      inv.batch.push_back(restore_line(r));
      fwd.batch.push_back(line_of(r, false));
      ++(now ? routes_replaced : routes_added);
    }
    if (!fwd.batch.empty()) {
      fault("routes");
      route_batch(fwd);
      undo.emplace_back([this, inv] {
        if (!inv.batch.empty()) route_batch(inv);
      });
    }

    for (const auto& [key, n] : old_neigh) {
      const auto now = live_neigh(n.address, n.port);
      if (new_neigh.count(key) || !now) continue;
      fault("neigh del");
      run({"neigh", "del", n.address, "dev", now->port});
      undo.emplace_back([run, o = *now] { run(neigh_add_argv(o)); });
      ++neigh_removed;
    }
    // Removed addresses last: removing one also removes the routes through it and the
    // static neighbours on it, so taking it back restores those too.
    for (const auto& k : old_addrs) {
      if (new_addrs.count(k) || !live_addrs.count(k)) continue;
      std::vector<StaticNeighbour> statics;
      auto keep_statics = [&](const auto& table) {
        for (const auto& [key, n] : table.entries())
          if (n.state == NeighState::permanent && port_by_id(n.port)->ref.name == k.first)
            statics.push_back(StaticNeighbour{n.ip.str(), n.mac, k.first});
      };
      keep_statics(neigh_);
      keep_statics(neigh6_);
      fault("addr del");
      const nlohmann::json out = execute(parse_request(addr_argv("del", k)));
      Request back;
      back.verb = Verb::batch;
      for (const auto& rt : out.value("removed_routes", nlohmann::json::array())) {
        RouteLine r;
        r.prefix = rt.at("prefix").get<std::string>();
        r.via = rt.value("via", std::string());
        r.dev = rt.value("dev", std::string());
        r.mtu = rt.value("mtu", uint16_t(0));
        for (const auto& h : rt.value("nexthops", nlohmann::json::array()))
          r.nh.push_back({h.at("via").get<std::string>(), h.at("dev").get<std::string>(),
                          h.at("weight").get<uint16_t>()});
        back.batch.push_back(line_of(r, false));
      }
      undo.emplace_back([this, run, k, back, statics, live_neigh] {
        run(addr_argv("add", k));
        for (const auto& n : statics)
          if (!live_neigh(n.address, n.port)) run(neigh_add_argv(n));
        if (!back.batch.empty()) route_batch(back);
      });
      ++addr_removed;
    }
    fault("done");
  } catch (const std::exception& e) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      try {
        (*it)();
      } catch (const std::exception& u) {
        spdlog::error("reload: could not take back a step: {}", u.what());
      }
    }
    throw CommandError(std::string("reload: ") + e.what() + "; nothing changed");
  }

  const std::vector<std::string> restart = restart_needed(loaded_, next);
  loaded_ = next;
  loaded_files_ = std::move(files);
  for (auto& f : loaded_files_) f.share_nexthops();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("reload {}: addresses +{} -{}, neighbours ~{} -{}, routes +{} ~{} -{} in {:.3f} s{}",
               config_path_, addr_added, addr_removed, neigh_set, neigh_removed, routes_added,
               routes_replaced, routes_deleted, secs,
               restart.empty()
                   ? ""
                   : "; not applied until restart: " + fmt::format("{}", fmt::join(restart, ", ")));
  return {{"file", config_path_},
          {"addresses_added", addr_added},
          {"addresses_removed", addr_removed},
          {"neighbours_set", neigh_set},
          {"neighbours_removed", neigh_removed},
          {"routes_added", routes_added},
          {"routes_replaced", routes_replaced},
          {"routes_deleted", routes_deleted},
          {"restart_needed", restart},
          {"seconds", secs}};
}

std::set<std::pair<std::string, std::string>> Control::live_addresses() const {
  std::set<AddrKey> s;
  for (const auto& p : ports_) {
    for (const auto& pa : p.addrs)
      s.emplace(p.ref.name, pa.addr.str() + "/" + std::to_string(pa.subnet.len));
    for (const auto& pa : p.addrs6)
      s.emplace(p.ref.name, pa.addr.str() + "/" + std::to_string(pa.subnet.len));
  }
  return s;
}

void Control::fault(const char* step) {
  if (reload_fault && reload_fault(step))
    throw CommandError(std::string("injected failure before ") + step);
}

template <>
nlohmann::json Control::handle_on_caller<Verb::reload>(const Request&) {
  return reload();
}

void Control::register_reload_commands(CommandTable& t) {
  t.caller<Verb::reload>();
}

}  // namespace routerd
