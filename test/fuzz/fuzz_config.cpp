// Fuzz target: the TOML configuration (lib/config), through parse_config as load_config
// and reload use it.
// Invariants: the only exception is ConfigError, one line starting with the file name; an
// accepted config holds what docs/config.md promises: values in their ranges, valid and
// unique port names, port addresses inside their subnets and usable (IPv6: global unicast,
// link-local only in link_local), routes with a gateway or a port (a link-local gateway always
// with its port), neighbours on a configured port; and parsing is deterministic.
#include <set>
#include <string>

#include "config.hpp"
#include "fuzz_util.hpp"

using namespace routerd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Config c;
  try {
    c = parse_config(text, "/etc/routerd/fuzz.toml");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    FUZZ_CHECK(what.rfind("/etc/routerd/fuzz.toml", 0) == 0, "error without the file: %s",
               what.c_str());
    FUZZ_CHECK(what.find('\n') == std::string::npos, "error of more than one line: %s",
               what.c_str());
    return 0;
  }
  FUZZ_CHECK(c.burst >= 1 && c.burst <= 64 && c.mbufs >= 1024);
  FUZZ_CHECK(c.route_cache_sets >= 2 && (c.route_cache_sets & (c.route_cache_sets - 1)) == 0);
  FUZZ_CHECK(c.route_cache6_sets >= 2 && (c.route_cache6_sets & (c.route_cache6_sets - 1)) == 0);
  FUZZ_CHECK(c.pmtu_min >= 68 && c.pmtu_min <= 65535 && c.arp_queue_len >= 1);
  FUZZ_CHECK(!c.socket.empty() && c.socket[0] == '/');
  std::set<std::string> names;
  for (const PortConfig& p : c.ports) {
    FUZZ_CHECK(!p.name.empty() && p.name.size() <= 15 && names.insert(p.name).second,
               "port name '%s'", p.name.c_str());
    FUZZ_CHECK(p.mtu >= 68 && p.mtu <= 9000 && !p.device.empty());
    if (p.mac) FUZZ_CHECK(!p.mac->is_multicast() && !p.mac->is_zero());
    for (const auto& [a, net] : p.addresses) {
      FUZZ_CHECK(net.contains(a), "%s outside %s", a.str().c_str(), net.str().c_str());
      const uint8_t first = uint8_t(a.v >> 24);
      FUZZ_CHECK(first != 0 && first != 127 && first < 224, "%s on a port", a.str().c_str());
      if (net.len <= 30) FUZZ_CHECK(a != net.addr && a != net.broadcast());
    }
    FUZZ_CHECK(p.addresses.size() <= kMaxPortAddresses && p.addresses6.size() <= kMaxPortAddresses);
    for (const auto& [a, net] : p.addresses6) {
      FUZZ_CHECK(net.contains(a) && net.len >= 1, "%s outside %s", a.str().c_str(),
                 net.str().c_str());
      FUZZ_CHECK(!a.is_unspecified() && !a.is_loopback() && !a.is_multicast() &&
                     !a.is_link_local() && !a.is_v4_mapped(),
                 "%s on a port", a.str().c_str());
      if (net.len <= 126) FUZZ_CHECK(a != net.addr, "%s: subnet-router anycast", a.str().c_str());
    }
    if (p.link_local)
      FUZZ_CHECK(ipv6_mask(*p.link_local, 64) == Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 0) &&
                     *p.link_local != Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 0),
                 "link_local %s", p.link_local->str().c_str());
  }
  for (const RouteConfig& r : c.routes) {
    FUZZ_CHECK(r.via || !r.dev.empty());
    if (!r.dev.empty()) FUZZ_CHECK(c.find_port(r.dev) != nullptr, "route via unknown port");
  }
  for (const NeighbourConfig& n : c.neighbours)
    FUZZ_CHECK(c.find_port(n.port) != nullptr && !n.lladdr.is_multicast());
  for (const Route6Config& r : c.routes6) {
    FUZZ_CHECK(r.via || !r.dev.empty());
    if (!r.dev.empty()) FUZZ_CHECK(c.find_port(r.dev) != nullptr, "route via unknown port");
    if (r.via) {
      FUZZ_CHECK(!r.via->is_multicast() && !r.via->is_unspecified() && !r.via->is_v4_mapped());
      if (r.via->is_link_local()) FUZZ_CHECK(!r.dev.empty(), "link-local gateway without dev");
    }
  }
  for (const Neighbour6Config& n : c.neighbours6)
    FUZZ_CHECK(c.find_port(n.port) != nullptr && !n.lladdr.is_multicast() &&
               !n.address.is_multicast() && !n.address.is_unspecified());
  const Config again = parse_config(text, "/etc/routerd/fuzz.toml");
  FUZZ_CHECK(again.ports.size() == c.ports.size() && again.routes.size() == c.routes.size() &&
             again.neighbours.size() == c.neighbours.size() &&
             again.routes6.size() == c.routes6.size() &&
             again.neighbours6.size() == c.neighbours6.size());
  return 0;
}
