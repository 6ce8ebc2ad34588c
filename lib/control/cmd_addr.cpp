// routerctl addr add|del|show: port addresses, with their connected routes, local and
// broadcast entries, all published as one commit.
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "commands.hpp"
#include "control.hpp"

namespace routerd {

namespace {

const char* reserved_kind(Ipv4 a) {
  uint8_t o = uint8_t(a.v >> 24);
  if (o == 0) return "a \"this network\" address (0/8)";
  if (o == 127) return "a loopback address (127/8)";
  if (o >= 224 && o < 240) return "a multicast address (224/4)";
  if (o >= 240) return "a reserved address (240/4)";
  return nullptr;
}

}  // namespace

template <>
nlohmann::json Control::handle<Verb::addr_add>(const Request& r) {
  if (r.family == 6) return addr_add6(r);
  const std::string cmd = "addr add";
  PortCtl* p = &port_named(cmd, r.dev);
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
  // A routing daemon's route for the subnet gives way, and comes back with the address.
  bool new_route = existing == nullptr || existing->proto == RouteProto::daemon;
  if (new_route) rib_.set(Route{sn, RouteProto::connected, std::nullopt, p->ref.id, a});
  publish_ifs();
  try {
    sync(Prefix4{a, 32});
    if (sn.len <= 30) sync(Prefix4{sn.broadcast(), 32});
    sync_covered(sn);
    pub_.commit();
  } catch (const FibError& e) {  // no room in the FIB or the next-hop table
    pub_.rollback();
    p->addrs.pop_back();
    if (new_route) rib_erase_own(sn);
    publish_ifs();
    pub_.commit();
    refuse(cmd, e.what());
  }
  spdlog::info("address {}/{} added to {}", a.str(), sn.len, p->ref.name);
  return nlohmann::json::object();
}

template <>
nlohmann::json Control::handle<Verb::addr_del>(const Request& r) {
  if (r.family == 6) return addr_del6(r);
  const std::string cmd = "addr del";
  PortCtl* p = &port_named(cmd, r.dev);
  auto it = std::find_if(p->addrs.begin(), p->addrs.end(), [&](const PortAddr& pa) {
    return pa.addr == r.addr && pa.subnet == r.prefix;
  });
  if (it == p->addrs.end())
    refuse(cmd, r.addr.str() + "/" + std::to_string(r.prefix.len) + " is not an address of " +
                    p->ref.name);
  const PortAddr gone = *it;
  const auto at = it - p->addrs.begin();
  const Route connected = *rib_.find(gone.subnet);
  p->addrs.erase(it);

  // The connected route stays while another address of the port covers the subnet.
  const PortAddr* other = nullptr;
  for (const auto& pa : p->addrs)
    if (pa.subnet == gone.subnet) other = &pa;
  if (other)
    rib_.set(Route{gone.subnet, RouteProto::connected, std::nullopt, p->ref.id, other->addr});
  else
    rib_erase_own(gone.subnet);

  // As in Linux, routes whose gateway is no longer on one of the port's subnets go too.
  nlohmann::json removed = nlohmann::json::array();
  std::vector<Route> dead;
  // An ECMP route goes when any of its gateways does (its set is what was asked for).
  // IPv6 gateways (RFC 5549) do not depend on IPv4 addresses.
  auto reachable = [&](uint16_t port, Ipv4 gw) {
    if (port != p->ref.id) return true;
    bool on = false;
    for (const auto& pa : p->addrs) on |= pa.subnet.contains(gw);
    return on;
  };
  rib_.for_each([&](const Route& rt) {
    if (rt.proto != RouteProto::static_route || !rt.has_gateway()) return;
    bool ok = !rt.via || reachable(rt.port, *rt.via);
    if (rt.paths)
      for (const auto& path : *rt.paths) ok &= path.via6 || reachable(path.port, path.via);
    if (!ok) dead.push_back(rt);
  });
  for (const auto& d : dead) {
    removed.push_back(route_json(d));
    rib_.erase(d.prefix);
  }
  publish_ifs();
  try {
    sync(Prefix4{gone.addr, 32});
    if (gone.subnet.len <= 30) sync(Prefix4{gone.subnet.broadcast(), 32});
    sync_covered(gone.subnet);
    for (const auto& d : dead) sync_covered(d.prefix);
    pub_.commit();
  } catch (const FibError& e) {
    // Removing mostly frees room, but the subnet may fall back to a route whose next hop
    // has no slot yet: then the address, its connected route and its routes all stay.
    pub_.rollback();
    p->addrs.insert(p->addrs.begin() + at, gone);
    rib_.set(connected);
    for (const auto& d : dead) rib_.set(d);
    publish_ifs();
    pub_.commit();
    refuse(cmd, e.what());
  }

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

template <>
nlohmann::json Control::handle<Verb::addr_show>(const Request& r) {
  if (!r.dev.empty()) port_named("addr show", r.dev);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : ports_) {
    if (!r.dev.empty() && p.ref.name != r.dev) continue;
    nlohmann::json addrs = nlohmann::json::array();
    if (r.family != 6)
      for (const auto& pa : p.addrs)
        addrs.push_back(pa.addr.str() + "/" + std::to_string(pa.subnet.len));
    if (r.family != 4) {
      for (const auto& pa : p.addrs6)
        addrs.push_back(pa.addr.str() + "/" + std::to_string(pa.subnet.len));
      addrs.push_back(p.ll.str() + "/64");
    }
    out.push_back({{"dev", p.ref.name}, {"addresses", addrs}});
    if (r.family != 4) dad_show(p, out.back());
  }
  return out;
}

void Control::register_addr_commands(CommandTable& t) {
  t.control<Verb::addr_add>();
  t.control<Verb::addr_del>();
  t.control<Verb::addr_show>();
}

}  // namespace routerd
