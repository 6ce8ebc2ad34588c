// routerctl link show|set: ports as ethdevs (driver, queues, link, how they receive multicast,
// what RSS hashes on) and their MTU, which every next hop out of the port carries.
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "commands.hpp"
#include "control.hpp"

namespace routerd {

nlohmann::json rx_multicast_json(const Port* port) {
  if (!port) return nullptr;
  const RxMulticast& m = port->rx_multicast();
  nlohmann::json j = {{"mode", rx_multicast_mode_name(m.mode)}, {"groups", m.groups}};
  if (!m.why.empty()) j["reason"] = m.why;
  return j;
}

nlohmann::json rss_json(const Port* port, uint8_t ecmp_families) {
  if (!port) return nullptr;
  nlohmann::json ecmp = nlohmann::json::array();
  if (port->rss_hf() != 0) {
    if (ecmp_families & kRssFlows4) ecmp.push_back(4);
    if (ecmp_families & kRssFlows6) ecmp.push_back(6);
  }
  return {{"types", rss_type_names(port->rss_hf())}, {"ecmp", ecmp}};
}

static_assert(kRssFlows4 == kEcmpRss4 && kRssFlows6 == kEcmpRss6);

uint8_t Control::ecmp_rss_families(const Port* port) const {
  return port ? routerd::ecmp_rss_families(dp_.params.ecmp_use_rss, port->rss_hf()) : 0;
}

template <>
nlohmann::json Control::handle<Verb::link_set>(const Request& r) {
  const std::string cmd = "link set";
  PortCtl* p = &port_named(cmd, r.dev);
  const uint16_t old = p->ref.mtu;
  if (p->tunnel) {
    // A tunnel's MTU is its own setting (the derived one stays the bound): published for the
    // workers, and carried by control's next hops into it.
    p->tunnel->mtu = r.mtu;
    p->ref.mtu = tunnel_mtu_estimate(*p->tunnel);
    publish_ifs();
    pub_.refresh_if([port = p->ref.id](const NhKey& k) { return k.port == port; });
    pub_.commit();
    spdlog::info("{}: MTU {} -> {}", p->ref.name, old, p->ref.mtu);
    return {{"port", p->ref.name}, {"mtu", p->ref.mtu}, {"old_mtu", old}};
  }
  std::string warning;
  try {
    warning = p->ref.port->set_mtu(r.mtu, pool_);
  } catch (const std::runtime_error& e) {
    refuse(cmd, p->ref.name + ": " + e.what());
  }
  if (!warning.empty()) spdlog::warn("{}: {}", p->ref.name, warning);
  p->ref.mtu = r.mtu;
  // Every next hop out of this port carries the MTU: republish them, one generation bump.
  pub_.refresh_if([port = p->ref.id](const NhKey& k) { return k.port == port; });
  pub_.commit();
  spdlog::info("{}: MTU {} -> {}", p->ref.name, old, r.mtu);
  nlohmann::json j = {{"port", p->ref.name}, {"mtu", r.mtu}, {"old_mtu", old}};
  if (!warning.empty()) j["warning"] = warning;
  return j;
}

template <>
nlohmann::json Control::handle<Verb::link_show>(const Request& r) {
  if (!r.dev.empty()) port_named("link show", r.dev);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : ports_) {
    if (!r.dev.empty() && p.ref.name != r.dev) continue;
    const Port* port = p.ref.port;
    if (p.tunnel) {
      out.push_back({{"name", p.ref.name},
                     {"port_id", p.ref.id},
                     {"driver", "gre"},
                     {"device", p.tunnel->local.str() + " -> " + p.tunnel->remote.str()},
                     {"mac", p.ref.mac.str()},
                     {"mtu", tunnel_mtu_estimate(*p.tunnel)},
                     {"link", "up"},
                     {"speed_mbps", 0},
                     {"rx_queues", 0},
                     {"tx_queues", 0},
                     {"multicast", nullptr},
                     {"rss", nullptr},
                     {"kernel", nullptr},
                     {"tunnel", tunnel_json(p)}});
      continue;
    }
    out.push_back({{"name", p.ref.name},
                   {"port_id", p.ref.id},
                   {"driver", port ? port->driver() : "?"},
                   {"device", port ? port->device() : "?"},
                   {"mac", p.ref.mac.str()},
                   {"mtu", p.ref.mtu},
                   {"link", port && port->link_up() ? "up" : "down"},
                   {"speed_mbps", port ? port->link_speed_mbps() : 0},
                   {"rx_queues", port ? port->queues().rx : 0},
                   {"tx_queues", port ? port->queues().tx : 0},
                   {"multicast", rx_multicast_json(port)},
                   {"rss", rss_json(port, ecmp_rss_families(port))},
                   {"kernel", kernel_json(p.ref.id)}});
  }
  return out;
}

void Control::register_link_commands(CommandTable& t) {
  t.control<Verb::link_show>();
  t.control<Verb::link_set>();
}

}  // namespace routerd
