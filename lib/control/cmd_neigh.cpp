// routerctl neigh add|del|show: the ARP table. Static entries and removals go through the
// same neighbour effects as ARP itself, so next hops are republished the same way.
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "commands.hpp"
#include "control.hpp"

namespace routerd {

template <>
nlohmann::json Control::handle<Verb::neigh_add>(const Request& r) {
  if (r.family == 6) return neigh_add6(r);
  const std::string cmd = "neigh add";
  PortCtl* p = &port_named(cmd, r.dev);
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

template <>
nlohmann::json Control::handle<Verb::neigh_del>(const Request& r) {
  if (r.family == 6) return neigh_del6(r);
  const Neighbour* n = neigh_.find(r.addr);
  if (!n) refuse("neigh del", "no neighbour " + r.addr.str());
  if (!r.dev.empty() && port_by_id(n->port)->ref.name != r.dev)
    refuse("neigh del", "neighbour " + r.addr.str() + " is not on " + r.dev);
  NeighbourTable::Effects fx;
  neigh_.remove(r.addr, fx);
  apply_neighbour_effects(fx, now_ms());
  return nlohmann::json::object();
}

template <>
nlohmann::json Control::handle<Verb::neigh_show>(const Request& r) {
  if (!r.dev.empty()) port_named("neigh show", r.dev);
  std::vector<const Neighbour*> v;
  for (const auto& [ip, n] : neigh_.entries()) v.push_back(&n);
  std::sort(v.begin(), v.end(),
            [](const Neighbour* a, const Neighbour* b) { return a->ip < b->ip; });
  nlohmann::json out = nlohmann::json::array();
  for (const Neighbour* n : v) {
    const PortCtl* p = port_by_id(n->port);
    if (r.family == 6 || (!r.dev.empty() && (!p || p->ref.name != r.dev))) continue;
    nlohmann::json j = {{"family", 4},
                        {"dst", n->ip.str()},
                        {"dev", p ? p->ref.name : "?"},
                        {"state", neigh_state_name(n->state)},
                        {"queued", n->queue.size()}};
    if (n->usable()) j["lladdr"] = n->mac.str();
    out.push_back(j);
  }
  if (r.family != 4) neigh_show6(r, out);
  return out;
}

void Control::register_neigh_commands(CommandTable& t) {
  t.control<Verb::neigh_add>();
  t.control<Verb::neigh_del>();
  t.control<Verb::neigh_show>();
}

}  // namespace routerd
