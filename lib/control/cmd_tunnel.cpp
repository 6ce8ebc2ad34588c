// routerctl tunnel add|del|show, and what control keeps of tunnels: GRE interfaces in
// ports_ (port ids from kTunnelBase) whose packets the workers encapsulate (lib/tunnel),
// the PMTU learnt for their remotes, and the rate-limited log line about tunnel loops.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "commands.hpp"
#include "control.hpp"
#include "tunnel.hpp"

namespace routerd {

namespace {

TunnelFastInfo fast_info(const Control::TunnelConf& t) {
  TunnelFastInfo f;
  f.enabled = true;
  f.has_key = t.key.has_value();
  f.key = t.key.value_or(0);
  f.ttl = t.ttl;
  f.mtu = t.mtu;
  f.local = t.local.v;
  f.remote = t.remote.v;
  f.pmtu = t.pmtu;
  return f;
}

}  // namespace

uint16_t Control::tunnel_mtu_estimate(const TunnelConf& t) const {
  uint32_t outer = 1500;  // the remote has no route yet: as Linux assumes for its tunnels
  if (const NextHopState* s = resolve(t.remote))
    if (s->kind == NhKind::forward || s->kind == NhKind::unresolved || s->kind == NhKind::glean)
      outer = s->mtu;
  if (t.pmtu && t.pmtu < outer) outer = t.pmtu;
  return uint16_t(tunnel_mtu(fast_info(t), outer));
}

void Control::tunnel_create(const std::string& cmd, const std::string& name, const TunnelConf& t) {
  if (const PortCtl* p = port_by_name(name))
    refuse(cmd, name + " exists (a " + (p->tunnel ? "tunnel" : "port") + ")");
  if (!local_address_port(t.local))
    refuse(cmd, "local " + t.local.str() + " is not an IPv4 address of the router");
  if (local_address_port(t.remote))
    refuse(cmd, "remote " + t.remote.str() + " is an address of the router");
  bool used[kMaxTunnels] = {};
  for (const auto& p : ports_) {
    if (!p.tunnel) continue;
    used[p.ref.id - kTunnelBase] = true;
    if (p.tunnel->local == t.local && p.tunnel->remote == t.remote && p.tunnel->key == t.key)
      refuse(cmd, "tunnel " + p.ref.name + " has the same local, remote and key (" +
                      (t.key ? std::to_string(*t.key) : std::string("none")) +
                      "): received packets could not tell them apart");
  }
  const auto free = std::find(std::begin(used), std::end(used), false);
  if (free == std::end(used))
    refuse(cmd, "the router has the maximum of " + std::to_string(kMaxTunnels) + " tunnels");
  const auto slot = uint16_t(free - std::begin(used));
  // A locally administered MAC: inner packets carry it as they re-enter on the tunnel, and
  // the link-local address (EUI-64) is derived from it.
  const Mac mac{{0x02, 0x00, 0x47, 0x52, 0x45, uint8_t(slot)}};
  PortCtl p{PortRef{nullptr, uint16_t(kTunnelBase + slot), name, mac, 0}, {}, {}, {}, {}, t};
  p.ref.mtu = tunnel_mtu_estimate(t);
  ports_.push_back(std::move(p));
  PortCtl& added = ports_.back();
  set_link_local(added, std::nullopt);
  publish_ifs();
  try {
    sync(Prefix6{added.ll, 128});
    pub_.commit();
  } catch (const FibError& e) {
    pub_.rollback();
    ports_.pop_back();
    publish_ifs();
    pub_.commit();
    refuse(cmd, e.what());
  }
  spdlog::info("tunnel {}: gre local {} remote {}{} ttl {}", name, t.local.str(), t.remote.str(),
               t.key ? " key " + std::to_string(*t.key) : std::string(),
               t.ttl ? std::to_string(t.ttl) : std::string("inherit"));
}

void Control::tunnel_delete(const std::string& cmd, const std::string& name) {
  PortCtl* p = port_by_name(name);
  if (!p) refuse(cmd, "unknown tunnel '" + name + "'");
  if (!p->tunnel) refuse(cmd, name + " is a port, not a tunnel");
  const uint16_t id = p->ref.id;
  // Its addresses go as `addr del` takes them (with their connected routes and the routes
  // through their subnets), each committed on its own.
  std::vector<std::vector<std::string>> dels;
  for (const auto& pa : p->addrs)
    dels.push_back(
        {"addr", "del", pa.addr.str() + "/" + std::to_string(pa.subnet.len), "dev", name});
  for (const auto& pa : p->addrs6)
    dels.push_back(
        {"addr", "del", pa.addr.str() + "/" + std::to_string(pa.subnet.len), "dev", name});
  for (const auto& argv : dels) execute(parse_request(argv));
  // Then every route still through it ("dev gre1" without a gateway, ECMP members).
  auto through = [id](const auto& rt) {
    if (route_type_rejects(rt.type)) return false;
    bool hit = rt.port == id;
    if (rt.paths)
      for (const auto& path : *rt.paths) hit |= path.port == id;
    return hit;
  };
  std::vector<Prefix4> gone4;
  std::vector<Prefix6> gone6;
  rib_.for_each([&](const Route& rt) {
    if (through(rt)) gone4.push_back(rt.prefix);
  });
  rib6_.for_each([&](const Route6& rt) {
    if (through(rt)) gone6.push_back(rt.prefix);
  });
  for (const auto& g : gone4) rib_.erase(g);
  for (const auto& g : gone6) rib6_.erase(g);
  p = port_by_name(name);  // execute() may have moved nothing, but look again
  const Ipv6 ll = p->ll;
  const size_t at = size_t(p - ports_.data());
  std::erase_if(dad_, [id](const DadEntry& e) { return e.port == id; });
  if (at < mld_.size()) mld_.erase(mld_.begin() + long(at));
  if (at < ra_.size()) ra_.erase(ra_.begin() + long(at));
  if (at < dad_port_seen_.size()) dad_port_seen_.erase(dad_port_seen_.begin() + long(at));
  ports_.erase(ports_.begin() + long(at));
  publish_ifs();
  for (const auto& g : gone4) sync_covered(g);
  for (const auto& g : gone6) sync_covered(g);
  sync(Prefix6{ll, 128});
  pub_.commit();
  spdlog::info("tunnel {} deleted ({} routes through it removed)", name,
               gone4.size() + gone6.size());
}

void Control::tunnel_pmtu_sync(uint64_t now) {
  bool changed = false;
  for (auto& p : ports_) {
    if (!p.tunnel) continue;
    const RouteException* e = exc_.find(p.tunnel->remote.v, now);
    const uint16_t v = e && e->pmtu_expires_ms ? e->metrics.mtu : 0;
    const bool locked = v && e->mtu_locked;
    if (v == p.tunnel->pmtu && locked == p.tunnel->pmtu_locked) continue;
    spdlog::info("tunnel {}: path MTU to {} {}{}", p.ref.name, p.tunnel->remote.str(),
                 v ? "learnt: " + std::to_string(v) : std::string("expired"),
                 locked ? " (reported lower: outer packets without DF)" : "");
    p.tunnel->pmtu = v;
    p.tunnel->pmtu_locked = locked;
    changed = true;
  }
  if (!changed) return;
  for (auto& p : ports_)
    if (p.tunnel) p.ref.mtu = tunnel_mtu_estimate(*p.tunnel);
  // The workers' outer paths see the new PMTU after this commit's generation bump; control's
  // own next hops into tunnels carry its estimate of their MTU.
  publish_ifs();
  pub_.refresh_if([](const NhKey& k) { return is_tunnel_port(k.port); });
  pub_.commit();
}

void Control::tunnel_tick(uint64_t now) {
  tunnel_pmtu_sync(now);
  uint64_t loops = 0;
  for (uint32_t i = 0; i < dp_.workers + 1; ++i)
    loops += dp_.stats[i].drop[size_t(Drop::tunnel_loop)].get();
  if (loops == tunnel_loops_seen_ ||
      (tunnel_loop_logged_ms_ != 0 && now - tunnel_loop_logged_ms_ < 10000))
    return;
  // Workers only count: the log line, at most one per 10 s, names the tunnels whose remote
  // is routed into a tunnel.
  std::string why;
  for (const auto& p : ports_) {
    if (!p.tunnel) continue;
    const NextHopState* s = resolve(p.tunnel->remote);
    if (!s || s->kind != NhKind::tunnel) continue;
    const PortCtl* via = port_by_id(s->port);
    why += "; " + p.ref.name + "'s remote " + p.tunnel->remote.str() + " is routed into " +
           (via ? via->ref.name : std::string("?"));
  }
  spdlog::warn(
      "tunnel_loop: {} packets dropped, their tunnel's outer route leads back into a "
      "tunnel they went through{}",
      loops - tunnel_loops_seen_, why);
  tunnel_loops_seen_ = loops;
  tunnel_loop_logged_ms_ = now;
}

nlohmann::json Control::tunnel_json(const PortCtl& p) const {
  const TunnelConf& t = *p.tunnel;
  const uint16_t id = p.ref.id;
  auto sum = [&](auto pick) {
    uint64_t s = 0;
    for (uint32_t i = 0; i < dp_.workers + 1; ++i) s += pick(dp_.stats[i]);
    return s;
  };
  nlohmann::json outer = nullptr;
  if (const NextHopState* s = resolve(t.remote)) {
    const PortCtl* via = port_by_id(s->port);
    outer = {{"kind", nh_kind_name(s->kind)},
             {"dev", via && !nh_rejects(s->kind) ? nlohmann::json(via->ref.name) : nullptr},
             {"gateway", s->gateway.v ? nlohmann::json(s->gateway.str()) : nullptr},
             {"mtu", s->mtu}};
  }
  return {{"name", p.ref.name},
          {"mode", "gre"},
          {"port_id", id},
          {"local", t.local.str()},
          {"remote", t.remote.str()},
          {"key", t.key ? nlohmann::json(*t.key) : nullptr},
          {"ttl", t.ttl ? nlohmann::json(t.ttl) : nlohmann::json("inherit")},
          {"mtu", tunnel_mtu_estimate(t)},
          {"mtu_configured", t.mtu ? nlohmann::json(t.mtu) : nullptr},
          {"pmtu", t.pmtu ? nlohmann::json(t.pmtu) : nullptr},
          {"pmtu_locked", t.pmtu_locked},
          {"overhead", gre_overhead(fast_info(t))},
          {"outer", outer},
          {"rx_packets", sum([&](const LcoreStats& s) { return s.rx[id].get(); })},
          {"tx_packets", sum([&](const LcoreStats& s) { return s.tx[id].get(); })},
          {"dropped", sum([&](const LcoreStats& s) { return s.dropped[id].get(); })}};
}

template <>
nlohmann::json Control::handle<Verb::tunnel_add>(const Request& r) {
  TunnelConf t;
  t.local = r.tunnel.local;
  t.remote = r.tunnel.remote;
  t.key = r.tunnel.key;
  t.ttl = r.tunnel.ttl;
  t.mtu = r.mtu;
  tunnel_create("tunnel add", r.dev, t);
  return tunnel_json(*port_by_name(r.dev));
}

template <>
nlohmann::json Control::handle<Verb::tunnel_del>(const Request& r) {
  tunnel_delete("tunnel del", r.dev);
  return nlohmann::json::object();
}

template <>
nlohmann::json Control::handle<Verb::tunnel_show>(const Request& r) {
  if (!r.dev.empty()) {
    const PortCtl* p = port_by_name(r.dev);
    if (!p || !p->tunnel) refuse("tunnel show", "unknown tunnel '" + r.dev + "'");
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : ports_)
    if (p.tunnel && (r.dev.empty() || p.ref.name == r.dev)) out.push_back(tunnel_json(p));
  return out;
}

void Control::register_tunnel_commands(CommandTable& t) {
  t.control<Verb::tunnel_add>();
  t.control<Verb::tunnel_del>();
  t.control<Verb::tunnel_show>();
}

}  // namespace routerd
