#include "config.hpp"

#include <netinet/in.h>
#include <sys/un.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string_view>

#include "toml_util.hpp"

namespace routerd {

namespace {

using config_detail::printable;

// The accepted keys of each table. Unknown-key checks and config_keys() both read these
// lists, so the parser, the documentation test and the documentation cannot drift apart.
constexpr std::string_view kDataplaneKeys[] = {"eal",         "socket",        "mbufs",
                                               "burst",       "idle_sleep_us", "heap_reserve_mib",
                                               "presets_dir", "log_level"};
constexpr std::string_view kFibKeys[] = {"max_routes", "tbl8_groups", "max_next_hops"};
constexpr std::string_view kFib6Keys[] = {"max_routes", "tbl8_groups"};
constexpr std::string_view kIpv4Keys[] = {"drop_martians", "send_redirects", "accept_redirects",
                                          "forward_directed_broadcast"};
constexpr std::string_view kIpv6Keys[] = {"send_redirects", "accept_redirects", "icmp_rate",
                                          "icmp_burst",     "ra_interval_s",    "ra_lifetime_s",
                                          "ra_mtu",         "dad_transmits"};
constexpr std::string_view kNdpKeys[] = {"reachable_ms", "retrans_ms", "probes", "delay_ms",
                                         "stale_ms"};
constexpr std::string_view kExceptionKeys[] = {"max_entries",      "pmtu_min",    "pmtu_expires",
                                               "redirect_expires", "source_rate", "source_burst"};
constexpr std::string_view kRouteCacheKeys[] = {"enabled", "sets", "sets6", "tunnel_outer_path"};
constexpr std::string_view kIcmpKeys[] = {"rate", "burst", "echo_reply", "source_rate",
                                          "source_burst"};
constexpr std::string_view kArpKeys[] = {
    "reachable_time", "retrans_time_ms", "probes",         "queue_len",   "max_entries",
    "max_unresolved", "queue_total",     "failed_time_ms", "locktime_ms", "resolve_rate",
    "resolve_burst",  "source_rate",     "source_burst"};
constexpr std::string_view kPortKeys[] = {"name", "device",    "preset",     "mtu",
                                          "mac",  "addresses", "link_local", "ra"};
constexpr std::string_view kTunnelKeys[] = {"name", "type", "local", "remote",
                                            "key",  "ttl",  "mtu",   "addresses"};
constexpr std::string_view kRouteKeys[] = {"prefix", "via", "dev", "type", "nexthops"};
constexpr std::string_view kNexthopKeys[] = {"via", "dev", "weight"};
constexpr std::string_view kEcmpKeys[] = {"hash_key", "use_rss", "follow_link"};
constexpr std::string_view kControlPlaneKeys[] = {"enabled",
                                                  "netns",
                                                  "allow",
                                                  "follow_link",
                                                  "punt_rate",
                                                  "punt_burst",
                                                  "fpm_listen",
                                                  "fpm_sweep_s",
                                                  "fpm_hold_s",
                                                  "kernel_routes",
                                                  "kernel_routes_table",
                                                  "kernel_routes_protocols"};
// Keys outside any table (TOML wants them before the first [section]).
constexpr std::string_view kTopKeys[] = {"route_files", "metrics_listen"};
constexpr std::string_view kNeighbourKeys[] = {"address", "lladdr", "port"};

struct Section {
  std::string_view name;
  std::span<const std::string_view> keys;
  bool array;  // [[name]] rather than [name]
};

constexpr Section kSections[] = {
    {"dataplane", kDataplaneKeys, false},
    {"fib", kFibKeys, false},
    {"fib6", kFib6Keys, false},
    {"ipv4", kIpv4Keys, false},
    {"ipv6", kIpv6Keys, false},
    {"icmp", kIcmpKeys, false},
    {"arp", kArpKeys, false},
    {"ndp", kNdpKeys, false},
    {"route_cache", kRouteCacheKeys, false},
    {"ecmp", kEcmpKeys, false},
    {"control_plane", kControlPlaneKeys, false},
    {"exceptions", kExceptionKeys, false},
    {"port", kPortKeys, true},
    {"tunnel", kTunnelKeys, true},
    {"route", kRouteKeys, true},
    {"neighbour", kNeighbourKeys, true},
};

constexpr std::span<const std::string_view> section_keys(std::string_view name) {
  for (const auto& s : kSections)
    if (s.name == name) return s.keys;
  return {};
}

constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};

// Addresses that can never be a port's own (RFC 1122 3.2.1.3, RFC 5771, RFC 1112 4).
struct Reserved {
  Prefix4 net;
  const char* what;
};
constexpr Reserved kReserved[] = {
    {{Ipv4(0, 0, 0, 0), 8}, "\"this network\""},
    {{Ipv4(127, 0, 0, 0), 8}, "loopback"},
    {{Ipv4(224, 0, 0, 0), 4}, "multicast"},
    {{Ipv4(240, 0, 0, 0), 4}, "reserved"},
};

// IPv6 addresses that are never a port's global address nor a next hop (RFC 4291 2.5.2,
// 2.5.3, 2.5.5.2, 2.7); link-local ones have keys of their own (port.link_local).
struct Reserved6 {
  Prefix6 net;
  const char* what;
};
constexpr Reserved6 kReserved6[] = {
    {{Ipv6(), 128}, "unspecified"},
    {{Ipv6::of(0, 0, 0, 0, 0, 0, 0, 1), 128}, "loopback"},
    {{Ipv6::of(0, 0, 0, 0, 0, 0xffff, 0, 0), 96}, "IPv4-mapped"},
    {{Ipv6::of(0xff00, 0, 0, 0, 0, 0, 0, 0), 8}, "multicast"},
};
constexpr Prefix6 kLinkLocal10{Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10};
constexpr Prefix6 kLinkLocal64{Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64};

std::optional<std::string> reserved6(const Ipv6& a) {
  for (const auto& r : kReserved6)
    if (r.net.contains(a)) return a.str() + " is in " + r.net.str() + " (" + r.what + ")";
  return std::nullopt;
}

// The Subnet-Router anycast address (RFC 4291 2.6.1), the prefix with a zero interface
// identifier, belongs to every router on the link: it is no one's own address and no next
// hop. /127 (RFC 6164 6) and /128 have none.
std::optional<std::string> subnet_router_anycast(const Ipv6& a, const Prefix6& net) {
  if (net.len >= 127 || a != net.addr) return std::nullopt;
  return a.str() + " is the subnet-router anycast address of " + net.str();
}

// Strings with a ':' are IPv6: no IPv4 address or prefix holds one.
bool looks_ipv6(std::string_view s) {
  return s.find(':') != std::string_view::npos;
}

std::string quoted(std::string_view s) {
  return "'" + printable(s) + "'";
}

bool is_bare_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// A key as the user would write it, so "a.b" = 1 is not mistaken for a nested key.
std::string key_text(std::string_view k) {
  return is_bare_key(k) ? std::string(k) : "\"" + printable(k) + "\"";
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? key_text(key) : path + "." + key_text(key);
}

std::string indexed(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Interface-style subnets only: /31 (RFC 3021) and /32 have no network or broadcast address.
std::optional<std::string> network_or_broadcast(Ipv4 a, const Prefix4& net) {
  if (net.len > 30) return std::nullopt;
  if (a == net.addr) return a.str() + " is the network address of " + net.str();
  if (a == net.broadcast()) return a.str() + " is the broadcast address of " + net.str();
  return std::nullopt;
}

bool valid_port_name(std::string_view s) {
  if (s.empty() || s.size() > 15 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return is_bare_key(s);
}

bool valid_preset_name(std::string_view s) {
  return is_bare_key(s);
}

// DPDK names a device by what precedes the first comma ("net_tap0,iface=x" is net_tap0),
// so two ports with the same name and different arguments are the same device.
std::string_view device_name(std::string_view dev) {
  return dev.substr(0, dev.find(','));
}

class Parser {
 public:
  explicit Parser(const std::string& file) : file_(file) {}

  Config parse(const toml::table& root) {
    Config c;
    c.path = file_;
    check_keys(root, "", {});
    if (root.get("route_files")) {
      // Relative names are relative to the config file, wherever routerd runs from.
      size_t slash = file_.rfind('/');
      std::string dir = slash == std::string::npos ? "" : file_.substr(0, slash + 1);
      for (auto& f : read_strings(root, "", "route_files")) {
        if (f.empty()) fail("route_files", "empty file name");
        c.route_files.push_back(f[0] == '/' ? f : dir + f);
      }
    }
    if (auto s = read_string(root, "", "metrics_listen")) {
      // IPv4 address and port: the endpoint is meant for a local or management address.
      const size_t colon = s->rfind(':');
      std::optional<Ipv4> a =
          colon == std::string::npos ? std::nullopt : Ipv4::parse(s->substr(0, colon));
      uint32_t port = 0;
      bool port_ok = false;
      if (colon != std::string::npos && colon + 1 < s->size() && s->size() - colon - 1 <= 5) {
        port_ok = true;
        for (char ch : s->substr(colon + 1)) {
          port_ok = port_ok && ch >= '0' && ch <= '9';
          port = port * 10 + uint32_t(ch - '0');
        }
        port_ok = port_ok && port >= 1 && port <= 65535;
      }
      if (!a || !port_ok)
        fail("metrics_listen", quoted(*s) +
                                   " is not ADDRESS:PORT (an IPv4 address and a port "
                                   "1-65535, e.g. \"127.0.0.1:9100\")");
      c.metrics_listen = *s;
    }
    if (auto* t = section(root, "dataplane")) dataplane(*t, c);
    if (auto* t = section(root, "fib")) fib(*t, c);
    if (auto* t = section(root, "fib6")) fib6(*t, c);
    if (auto* t = section(root, "ipv4")) {
      read_bool(*t, "ipv4", "drop_martians", c.drop_martians);
      read_bool(*t, "ipv4", "send_redirects", c.send_redirects);
      read_bool(*t, "ipv4", "forward_directed_broadcast", c.forward_directed_broadcast);
      read_bool(*t, "ipv4", "accept_redirects", c.accept_redirects);
    }
    if (auto* t = section(root, "ipv6")) {
      read_bool(*t, "ipv6", "send_redirects", c.ipv6_send_redirects);
      read_bool(*t, "ipv6", "accept_redirects", c.ipv6_accept_redirects);
      read_int(*t, "ipv6", "icmp_rate", 0, 1000000, c.icmp6_rate);
      read_int(*t, "ipv6", "icmp_burst", 1, 1000000, c.icmp6_burst);
      // RFC 4861 6.2.1: MaxRtrAdvInterval 4..1800 s; AdvDefaultLifetime 0 (not a default
      // router) or MaxRtrAdvInterval..9000 s, by default 3 x MaxRtrAdvInterval.
      read_int(*t, "ipv6", "ra_interval_s", 4, 1800, c.ra_interval_s);
      c.ra_lifetime_s = 3 * c.ra_interval_s;
      read_int(*t, "ipv6", "ra_lifetime_s", 0, 9000, c.ra_lifetime_s);
      if (c.ra_lifetime_s != 0 && c.ra_lifetime_s < c.ra_interval_s)
        fail("ipv6.ra_lifetime_s", "must be 0 or at least ipv6.ra_interval_s (" +
                                       std::to_string(c.ra_interval_s) + ", RFC 4861 6.2.1)");
      read_bool(*t, "ipv6", "ra_mtu", c.ra_mtu);
      // RFC 4862 5.1 DupAddrDetectTransmits; 0 turns DAD off (addresses usable at once).
      read_int(*t, "ipv6", "dad_transmits", 0, 10, c.dad_transmits);
    }
    if (auto* t = section(root, "icmp")) icmp(*t, c);
    if (auto* t = section(root, "arp")) arp(*t, c);
    if (auto* t = section(root, "ndp")) ndp(*t, c);
    if (auto* t = section(root, "exceptions")) {
      read_int(*t, "exceptions", "max_entries", 16, 1 << 22, c.exc_max_entries);
      read_int(*t, "exceptions", "pmtu_min", 68, 65535, c.pmtu_min);
      read_int(*t, "exceptions", "pmtu_expires", 1, 86400, c.pmtu_expires_s);
      read_int(*t, "exceptions", "redirect_expires", 1, 86400, c.redirect_expires_s);
      read_int(*t, "exceptions", "source_rate", 0, 1000000, c.exc_source_rate);
      read_int(*t, "exceptions", "source_burst", 1, 1000000, c.exc_source_burst);
    }
    if (auto* t = section(root, "route_cache")) {
      read_bool(*t, "route_cache", "enabled", c.route_cache);
      read_int(*t, "route_cache", "sets", 2, 1 << 22, c.route_cache_sets);
      if (c.route_cache_sets & (c.route_cache_sets - 1))
        fail("route_cache.sets", std::to_string(c.route_cache_sets) + " is not a power of two");
      read_int(*t, "route_cache", "sets6", 2, 1 << 22, c.route_cache6_sets);
      if (c.route_cache6_sets & (c.route_cache6_sets - 1))
        fail("route_cache.sets6", std::to_string(c.route_cache6_sets) + " is not a power of two");
      read_bool(*t, "route_cache", "tunnel_outer_path", c.tunnel_outer_path_cache);
    }
    if (auto* t = section(root, "ecmp")) {
      read_bool(*t, "ecmp", "use_rss", c.ecmp_use_rss);
      read_bool(*t, "ecmp", "follow_link", c.ecmp_follow_link);
      if (auto k = read_string(*t, "ecmp", "hash_key")) c.ecmp_hash_key = hash_key(*k);
    }
    if (auto* t = section(root, "control_plane")) {
      read_bool(*t, "control_plane", "enabled", c.cp_enabled);
      if (auto ns = read_string(*t, "control_plane", "netns")) {
        // What `ip netns` accepts as a file name under /run/netns.
        if (ns->empty() || ns->size() > 64 || *ns == "." || *ns == ".." ||
            ns->find('/') != std::string::npos)
          fail("control_plane.netns", quoted(*ns) +
                                          " is not a namespace name (1-64 characters, "
                                          "no '/', not . or ..)");
        c.cp_netns = *ns;
      }
      if (t->get("allow")) {
        c.cp_allow_names = read_strings(*t, "control_plane", "allow");
        try {
          c.cp_allow = punt_rules(c.cp_allow_names);
        } catch (const std::invalid_argument& e) {
          fail("control_plane.allow", e.what());
        }
      }
      read_bool(*t, "control_plane", "follow_link", c.cp_follow_link);
      read_int(*t, "control_plane", "punt_rate", 1, 10000000, c.cp_punt_rate);
      read_int(*t, "control_plane", "punt_burst", 1, 10000000, c.cp_punt_burst);
      if (auto l = read_string(*t, "control_plane", "fpm_listen")) {
        if (!parse_endpoint(*l))
          fail("control_plane.fpm_listen",
               quoted(*l) + " is not ADDRESS:PORT (IPv4, or [IPv6]:PORT; port 1-65535)");
        c.fpm_listen = *l;
      }
      read_int(*t, "control_plane", "fpm_sweep_s", 1, 3600, c.fpm_sweep_s);
      read_int(*t, "control_plane", "fpm_hold_s", 0, 86400, c.fpm_hold_s);
      // zebra names interfaces by ifindex: only the kernel interfaces map them to ports.
      if (!c.fpm_listen.empty() && !c.cp_enabled)
        fail("control_plane.fpm_listen",
             "needs control_plane.enabled = true (zebra's routes "
             "name the ports' kernel interfaces)");
      read_bool(*t, "control_plane", "kernel_routes", c.kernel_routes);
      // 0 is no table, 255 the kernel's local table: its own addresses, never routes to copy.
      read_int(*t, "control_plane", "kernel_routes_table", 1, 254, c.kernel_routes_table);
      if (t->get("kernel_routes_protocols")) {
        c.kernel_routes_protocols.clear();
        const auto names = read_strings(*t, "control_plane", "kernel_routes_protocols");
        if (names.empty())
          fail("control_plane.kernel_routes_protocols",
               "is empty: no route would be mirrored (leave it out for all but proto kernel)");
        for (size_t i = 0; i < names.size(); ++i) {
          const auto v = rtproto_numbers(names[i]);
          if (v.empty())
            fail(indexed("control_plane.kernel_routes_protocols", i),
                 quoted(names[i]) + " is not a route protocol (a name as `ip route` prints it, " +
                     "like bird, bgp, ospf, static, boot, or a number 0-255)");
          c.kernel_routes_protocols.insert(c.kernel_routes_protocols.end(), v.begin(), v.end());
        }
      }
      if (c.kernel_routes && !c.cp_enabled)
        fail("control_plane.kernel_routes",
             "needs control_plane.enabled = true (the kernel's routes name the ports' kernel "
             "interfaces)");
      // zebra installs into the kernel what it sends over FPM: both would give every route
      // twice, from two sources that disagree while one lags.
      if (c.kernel_routes && !c.fpm_listen.empty())
        fail("control_plane.kernel_routes",
             "and fpm_listen are both set: use one (FRR: fpm_listen; BIRD or anything that "
             "installs into the kernel: kernel_routes)");
    }
    for_each_entry(root, "port",
                   [&](const toml::table& t, const std::string& p) { port(t, p, c); });
    // After the ports: a tunnel's local address is one of theirs.
    for_each_entry(root, "tunnel",
                   [&](const toml::table& t, const std::string& p) { tunnel(t, p, c); });
    for_each_entry(root, "route",
                   [&](const toml::table& t, const std::string& p) { route(t, p, c); });
    for_each_entry(root, "neighbour",
                   [&](const toml::table& t, const std::string& p) { neighbour(t, p, c); });
    // Packets waiting for ARP hold mbufs the ports need to receive: at most a quarter.
    if (c.arp_queue_total > c.mbufs / 4)
      fail("arp.queue_total", std::to_string(c.arp_queue_total) +
                                  " is more than a quarter of dataplane.mbufs (" +
                                  std::to_string(c.mbufs) +
                                  "): packets waiting for ARP would "
                                  "starve the ports of buffers");
    // Every neighbour, ARP's and NDP's (both tables hold up to arp.max_entries), may take a
    // next-hop slot of its own (its host route), besides the fixed ids (below) and one per
    // connected subnet: 8 IPv4 and 8 IPv6 addresses per port, and fe80::/64. A table
    // smaller than that turns an ARP or NS flood into "next-hop table full" errors.
    // Fixed: "no route", local (IPv4, IPv6), IPv4 broadcast, and blackhole, prohibit and
    // unreachable per family.
    constexpr uint64_t fixed = 1 + 2 + 1 + 3 * 2;
    constexpr uint64_t per_port = 2 * kMaxPortAddresses + 1;
    const uint64_t need =
        2 * uint64_t(c.arp_max_entries) + fixed + per_port * uint64_t(c.ports.size());
    if (c.max_next_hops < need)
      fail("fib.max_next_hops",
           std::to_string(c.max_next_hops) + " is less than 2 * arp.max_entries (ARP and NDP, " +
               std::to_string(c.arp_max_entries) + " each) + " + std::to_string(fixed) + " + " +
               std::to_string(per_port) + " per port = " + std::to_string(need) +
               ": every neighbour may need a next hop of its own");
    return c;
  }

 private:
  // One address owned by the router, for the duplicate and overlap checks.
  struct Owned {
    Ipv4 addr;
    Prefix4 net;
    std::string port;
  };
  struct Owned6 {
    Ipv6 addr;
    Prefix6 net;
    std::string port;
  };

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    throw ConfigError(printable(file_) + ": " + path + ": " + problem);
  }

  // At the top level (path empty) the keys are the section names.
  void check_keys(const toml::table& t, const std::string& path,
                  std::span<const std::string_view> allowed) const {
    for (auto&& [k, v] : t) {
      bool known = false;
      if (path.empty()) {
        for (const auto& s : kSections) known = known || s.name == k.str();
        for (auto tk : kTopKeys) known = known || tk == k.str();
      } else {
        for (auto a : allowed) known = known || a == k.str();
      }
      if (!known) fail(join(path, k.str()), "unknown key");
    }
  }

  const toml::table* section(const toml::table& root, std::string_view name) const {
    const toml::node* n = root.get(name);
    if (!n) return nullptr;
    const toml::table* t = n->as_table();
    if (!t) fail(std::string(name), "expected a table ([" + std::string(name) + "])");
    check_keys(*t, std::string(name), section_keys(name));
    return t;
  }

  template <typename F>
  void for_each_entry(const toml::table& root, std::string_view name, F&& f) const {
    const toml::node* n = root.get(name);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) fail(std::string(name), "expected an array of tables ([[" + std::string(name) + "]])");
    for (size_t i = 0; i < a->size(); ++i) {
      std::string path = indexed(std::string(name), i);
      const toml::table* t = (*a)[i].as_table();
      if (!t) fail(path, "expected a table");
      check_keys(*t, path, section_keys(name));
      f(*t, path);
    }
  }

  template <typename T>
  bool read_int(const toml::table& t, const std::string& path, std::string_view key, int64_t lo,
                int64_t hi, T& out) const {
    const toml::node* n = t.get(key);
    if (!n) return false;
    const auto* v = n->as_integer();
    if (!v) fail(join(path, key), "expected an integer");
    int64_t x = v->get();
    if (x < lo || x > hi)
      fail(join(path, key), std::to_string(x) + " is out of range " + std::to_string(lo) + ".." +
                                std::to_string(hi));
    out = static_cast<T>(x);
    return true;
  }

  bool read_bool(const toml::table& t, const std::string& path, std::string_view key,
                 bool& out) const {
    const toml::node* n = t.get(key);
    if (!n) return false;
    const auto* v = n->as_boolean();
    if (!v) fail(join(path, key), "expected a boolean");
    out = v->get();
    return true;
  }

  std::optional<std::string> read_string(const toml::table& t, const std::string& path,
                                         std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* v = n->as_string();
    if (!v) fail(join(path, key), "expected a string");
    return v->get();
  }

  std::string require_string(const toml::table& t, const std::string& path,
                             std::string_view key) const {
    auto s = read_string(t, path, key);
    if (!s) fail(join(path, key), "missing (required)");
    return *s;
  }

  std::vector<std::string> read_strings(const toml::table& t, const std::string& path,
                                        std::string_view key) const {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) fail(join(path, key), "expected an array of strings");
    for (size_t i = 0; i < a->size(); ++i) {
      const auto* s = (*a)[i].as_string();
      if (!s) fail(indexed(join(path, key), i), "expected a string");
      out.push_back(s->get());
    }
    return out;
  }

  Ipv4 address(const std::string& path, const std::string& s) const {
    auto a = Ipv4::parse(s);
    if (!a) fail(path, quoted(s) + " is not an IPv4 address");
    return *a;
  }

  // role: "gateway" or "neighbour", for the error.
  Ipv6 address6(const std::string& path, const std::string& s, const char* role) const {
    auto a = Ipv6::parse(s);
    if (!a) fail(path, quoted(s) + " is not an IPv6 address");
    if (auto r = reserved6(*a)) fail(path, *r + ", not usable as a " + role);
    return *a;
  }

  Mac unicast_mac(const std::string& path, const std::string& s) const {
    auto m = Mac::parse(s);
    if (!m) fail(path, quoted(s) + " is not a MAC address (xx:xx:xx:xx:xx:xx)");
    if (m->is_multicast()) fail(path, m->str() + " is a multicast address");
    if (m->is_zero()) fail(path, m->str() + " is the all-zeros address");
    return *m;
  }

  const PortConfig& existing_port(const Config& c, const std::string& path,
                                  const std::string& name) const {
    const PortConfig* p = c.find_port(name);
    if (!p) fail(path, "unknown port " + quoted(name));
    return *p;
  }

  const Owned* owner_of(Ipv4 a) const {
    for (const auto& o : owned_)
      if (o.addr == a) return &o;
    return nullptr;
  }

  static bool on_port_subnet(const PortConfig& p, Ipv4 a) {
    for (const auto& [addr, net] : p.addresses)
      if (net.contains(a)) return true;
    return false;
  }

  const Owned6* owner_of6(const Ipv6& a) const {
    for (const auto& o : owned6_)
      if (o.addr == a) return &o;
    return nullptr;
  }

  static bool on_port_subnet6(const PortConfig& p, const Ipv6& a) {
    for (const auto& [addr, net] : p.addresses6)
      if (net.contains(a)) return true;
    return false;
  }

  // Shared by route.via and neighbour.address: a next hop on the link, not the router.
  void check_on_link(const std::string& path, Ipv4 a, const PortConfig* port,
                     const Config& c) const {
    if (const Owned* o = owner_of(a)) fail(path, a.str() + " is an address of port " + o->port);
    const PortConfig* found = nullptr;
    if (port) {
      if (on_port_subnet(*port, a)) found = port;
    } else {
      for (const auto& p : c.ports)
        if (!found && on_port_subnet(p, a)) found = &p;
    }
    if (!found) {
      fail(path, a.str() + (port ? " is not on a subnet of port " + port->name
                                 : std::string(" is not on any port subnet")));
    }
    for (const auto& [addr, net] : found->addresses)
      if (net.contains(a))
        if (auto problem = network_or_broadcast(a, net)) fail(path, *problem);
  }

  // check_on_link for a global IPv6 next hop: on a subnet of port (of any port without one).
  void check_on_link6(const std::string& path, const Ipv6& a, const PortConfig* port,
                      const Config& c) const {
    if (const Owned6* o = owner_of6(a)) fail(path, a.str() + " is an address of port " + o->port);
    const PortConfig* found = nullptr;
    if (port) {
      if (on_port_subnet6(*port, a)) found = port;
    } else {
      for (const auto& p : c.ports)
        if (!found && on_port_subnet6(p, a)) found = &p;
    }
    if (!found) {
      fail(path, a.str() + (port ? " is not on a subnet of port " + port->name
                                 : std::string(" is not on any port subnet")));
    }
    for (const auto& [addr, net] : found->addresses6)
      if (net.contains(a))
        if (auto problem = subnet_router_anycast(a, net)) fail(path, *problem);
  }

  // A link-local next hop is on whichever link it is named with; it only must not be the
  // port's own link-local address (configured, or the EUI-64 of a configured MAC).
  void check_link_local_peer(const std::string& path, const Ipv6& a, const PortConfig& port) const {
    if (auto problem = subnet_router_anycast(a, kLinkLocal64)) fail(path, *problem);
    if (port.link_local && *port.link_local == a)
      fail(path, a.str() + " is the link-local address of port " + port.name);
    if (!port.link_local && port.mac && Ipv6::link_local_eui64(*port.mac) == a)
      fail(path, a.str() + " is the link-local address of port " + port.name +
                     " (the EUI-64 of its MAC)");
  }

  void dataplane(const toml::table& t, Config& c) const {
    const std::string path = "dataplane";
    if (t.get("eal")) c.eal = read_strings(t, path, "eal");
    if (auto s = read_string(t, path, "socket")) {
      if (s->empty() || (*s)[0] != '/')
        fail(path + ".socket", quoted(*s) + " is not an absolute path");
      // The control socket is AF_UNIX; sun_path holds the path and its terminating NUL.
      constexpr size_t max_len = sizeof(sockaddr_un{}.sun_path) - 1;
      if (s->size() > max_len)
        fail(path + ".socket", "path is " + std::to_string(s->size()) + " bytes, longer than the " +
                                   std::to_string(max_len) + " a Unix socket allows");
      c.socket = *s;
    }
    read_int(t, path, "mbufs", 1024, 16777216, c.mbufs);
    read_int(t, path, "burst", 1, 64, c.burst);
    read_int(t, path, "idle_sleep_us", 0, 100000, c.idle_sleep_us);
    read_int(t, path, "heap_reserve_mib", 0, 1048576, c.heap_reserve_mib);
    if (auto s = read_string(t, path, "presets_dir")) c.presets_dir = *s;
    if (auto s = read_string(t, path, "log_level")) {
      bool known = false;
      std::string names;
      for (auto l : kLogLevels) {
        known = known || l == *s;
        names += (names.empty() ? "" : ", ") + std::string(l);
      }
      if (!known) fail(path + ".log_level", quoted(*s) + " is not one of " + names);
      c.log_level = *s;
    }
  }

  void fib(const toml::table& t, Config& c) const {
    read_int(t, "fib", "max_routes", 1, 16777216, c.max_routes);
    // rte_fib's DIR-24-8 takes up to 2^24 tbl8 groups of 256 entries each; past 2^20 the
    // table alone would be gigabytes, which is a typo rather than a plan.
    read_int(t, "fib", "tbl8_groups", 1, 1 << 20, c.tbl8_groups);
    read_int(t, "fib", "max_next_hops", 16, 1 << 24, c.max_next_hops);
  }

  void fib6(const toml::table& t, Config& c) const {
    read_int(t, "fib6", "max_routes", 1, 16777216, c.fib6_max_routes);
    // A group is 1 KiB with 4-byte next hops: 2^20 are 1 GiB per copy, two copies. More is
    // a typo rather than a plan (the 2024 full table reserves about 218,000 in DPDK 22.11).
    read_int(t, "fib6", "tbl8_groups", 1, 1 << 20, c.fib6_tbl8_groups);
  }

  void ndp(const toml::table& t, Config& c) const {
    // RFC 4861 6.3.2: an advertised BaseReachableTime is at most MAX_REACHABLE_TIME, 1 hour.
    read_int(t, "ndp", "reachable_ms", 1000, 3600000, c.ndp_reachable_ms);
    read_int(t, "ndp", "retrans_ms", 100, 60000, c.ndp_retrans_ms);
    read_int(t, "ndp", "probes", 1, 10, c.ndp_probes);
    read_int(t, "ndp", "delay_ms", 100, 60000, c.ndp_delay_ms);
    read_int(t, "ndp", "stale_ms", 1000, 86400000, c.ndp_stale_ms);
  }

  void icmp(const toml::table& t, Config& c) const {
    read_int(t, "icmp", "rate", 0, 1000000, c.icmp_rate);
    read_int(t, "icmp", "burst", 1, 1000000, c.icmp_burst);
    read_bool(t, "icmp", "echo_reply", c.echo_reply);
    read_int(t, "icmp", "source_rate", 0, 1000000, c.icmp_source_rate);
    read_int(t, "icmp", "source_burst", 1, 1000000, c.icmp_source_burst);
  }

  void arp(const toml::table& t, Config& c) const {
    read_int(t, "arp", "reachable_time", 1, 86400, c.arp_reachable_s);
    read_int(t, "arp", "retrans_time_ms", 100, 60000, c.arp_retrans_ms);
    read_int(t, "arp", "probes", 1, 100, c.arp_probes);
    read_int(t, "arp", "queue_len", 1, 256, c.arp_queue_len);
    read_int(t, "arp", "max_entries", 16, 1048576, c.arp_max_entries);
    // Left out, these two follow the keys they are bounded by.
    if (!read_int(t, "arp", "max_unresolved", 1, 1048576, c.arp_max_unresolved))
      c.arp_max_unresolved = std::min(c.arp_max_unresolved, c.arp_max_entries);
    if (!read_int(t, "arp", "failed_time_ms", 100, 3600000, c.arp_failed_ms))
      c.arp_failed_ms = std::max(c.arp_failed_ms, c.arp_retrans_ms);
    read_int(t, "arp", "queue_total", 0, 1048576, c.arp_queue_total);
    read_int(t, "arp", "locktime_ms", 0, 60000, c.arp_locktime_ms);
    read_int(t, "arp", "resolve_rate", 1, 1000000, c.arp_resolve_rate);
    read_int(t, "arp", "resolve_burst", 1, 1000000, c.arp_resolve_burst);
    read_int(t, "arp", "source_rate", 0, 1000000, c.arp_source_rate);
    read_int(t, "arp", "source_burst", 1, 1000000, c.arp_source_burst);
    if (c.arp_max_unresolved > c.arp_max_entries)
      fail("arp.max_unresolved", std::to_string(c.arp_max_unresolved) +
                                     " is more than arp.max_entries (" +
                                     std::to_string(c.arp_max_entries) + ")");
    // A FAILED entry is what keeps new packets from asking again within retrans_time_ms
    // (RFC 1122 2.3.2.1): it must live at least that long.
    if (c.arp_failed_ms < c.arp_retrans_ms)
      fail("arp.failed_time_ms", std::to_string(c.arp_failed_ms) +
                                     " is less than arp.retrans_time_ms (" +
                                     std::to_string(c.arp_retrans_ms) + ")");
  }

  void tunnel(const toml::table& t, const std::string& path, Config& c) {
    PortConfig p;
    p.name = require_string(t, path, "name");
    if (!valid_port_name(p.name))
      fail(path + ".name", quoted(p.name) +
                               " is not an interface name (a letter, then up to 14 letters, "
                               "digits, '_' or '-')");
    size_t tunnels = 0;
    for (const auto& o : c.ports) {
      if (o.name == p.name)
        fail(path + ".name", "duplicate name " + quoted(p.name) + " (also a " +
                                 (o.tunnel ? "tunnel" : "port") + ")");
      tunnels += o.tunnel.has_value();
    }
    if (tunnels == kMaxConfigTunnels)
      fail(path, "at most " + std::to_string(kMaxConfigTunnels) + " tunnels");
    const std::string type = require_string(t, path, "type");
    if (type != "gre") fail(path + ".type", quoted(type) + " is not a tunnel type (gre)");
    TunnelConfig tc;
    tc.local = address(path + ".local", require_string(t, path, "local"));
    if (!owner_of(tc.local))
      fail(path + ".local", tc.local.str() + " is not an address of the router (a [[port]]'s)");
    tc.remote = address(path + ".remote", require_string(t, path, "remote"));
    for (const auto& r : kReserved)
      if (r.net.contains(tc.remote))
        fail(path + ".remote", tc.remote.str() + " is in " + r.net.str() + " (" + r.what + ")");
    if (const Owned* o = owner_of(tc.remote))
      fail(path + ".remote",
           tc.remote.str() + " is an address of the router (port " + o->port + ")");
    int64_t key = 0;
    if (read_int(t, path, "key", 0, int64_t(UINT32_MAX), key)) tc.key = uint32_t(key);
    if (const toml::node* n = t.get("ttl")) {
      if (const auto* s = n->as_string()) {
        if (s->get() != "inherit")
          fail(path + ".ttl", quoted(s->get()) + " is not a TTL (1..255, or \"inherit\")");
        tc.ttl = 0;
      } else {
        read_int(t, path, "ttl", 1, 255, tc.ttl);
      }
    }
    read_int(t, path, "mtu", 68, 65535, tc.mtu);
    for (const auto& o : c.ports)
      if (o.tunnel && o.tunnel->local == tc.local && o.tunnel->remote == tc.remote &&
          o.tunnel->key == tc.key)
        fail(path, "tunnel " + o.name +
                       " has the same local, remote and key: received packets could not tell "
                       "them apart");
    p.tunnel = tc;
    p.preset = "default";  // unused: a tunnel has no device, but presets are loaded per entry
    auto addresses = read_strings(t, path, "addresses");
    for (size_t i = 0; i < addresses.size(); ++i) {
      const std::string ap = indexed(path + ".addresses", i);
      if (looks_ipv6(addresses[i])) {
        if (p.addresses6.size() == kMaxPortAddresses)
          fail(ap, "tunnel " + p.name + " already has the maximum of " +
                       std::to_string(kMaxPortAddresses) + " IPv6 addresses");
        p.addresses6.push_back(interface_address6(ap, addresses[i], path, p));
      } else {
        if (p.addresses.size() == kMaxPortAddresses)
          fail(ap, "tunnel " + p.name + " already has the maximum of " +
                       std::to_string(kMaxPortAddresses) + " IPv4 addresses");
        p.addresses.push_back(interface_address(ap, addresses[i], p));
      }
    }
    c.ports.push_back(std::move(p));
  }

  void port(const toml::table& t, const std::string& path, Config& c) {
    PortConfig p;
    p.name = require_string(t, path, "name");
    if (!valid_port_name(p.name))
      fail(path + ".name", quoted(p.name) +
                               " is not a port name (a letter, then up to 14 letters, digits, "
                               "'_' or '-')");
    for (size_t i = 0; i < c.ports.size(); ++i)
      if (c.ports[i].name == p.name)
        fail(path + ".name",
             "duplicate port name " + quoted(p.name) + " (also port[" + std::to_string(i) + "])");

    p.device = require_string(t, path, "device");
    if (p.device.empty()) fail(path + ".device", "must not be empty");
    for (const auto& other : c.ports)
      if (device_name(other.device) == device_name(p.device))
        fail(path + ".device",
             "device " + quoted(device_name(p.device)) + " is also used by port " + other.name);

    p.preset = read_string(t, path, "preset").value_or("default");
    if (!valid_preset_name(p.preset))
      fail(path + ".preset",
           quoted(p.preset) + " is not a preset name (letters, digits, '_' and '-')");

    read_int(t, path, "mtu", kMinPortMtu, 9000, p.mtu);  // the floor: inet6.hpp
    if (auto s = read_string(t, path, "mac")) p.mac = unicast_mac(path + ".mac", *s);

    if (auto s = read_string(t, path, "link_local"))
      p.link_local = link_local_address(path + ".link_local", *s);
    read_bool(t, path, "ra", p.ra);

    // One list for both families, told apart by the ':' only IPv6 has.
    auto addresses = read_strings(t, path, "addresses");
    for (size_t i = 0; i < addresses.size(); ++i) {
      const std::string ap = indexed(path + ".addresses", i);
      if (looks_ipv6(addresses[i])) {
        if (p.addresses6.size() == kMaxPortAddresses)
          fail(ap, "port " + p.name + " already has the maximum of " +
                       std::to_string(kMaxPortAddresses) + " IPv6 addresses");
        p.addresses6.push_back(interface_address6(ap, addresses[i], path, p));
      } else {
        if (p.addresses.size() == kMaxPortAddresses)
          fail(ap, "port " + p.name + " already has the maximum of " +
                       std::to_string(kMaxPortAddresses) + " IPv4 addresses");
        p.addresses.push_back(interface_address(ap, addresses[i], p));
      }
    }
    c.ports.push_back(std::move(p));
  }

  Ipv6 link_local_address(const std::string& path, const std::string& s) const {
    auto a = Ipv6::parse(s);
    if (!a) {
      const size_t slash = s.find('/');
      if (slash != std::string::npos && Ipv6::parse(s.substr(0, slash)))
        fail(path, quoted(s) +
                       " has a prefix length: give the address alone (a link-local "
                       "address is always in fe80::/64)");
      fail(path, quoted(s) + " is not an IPv6 address");
    }
    // RFC 4291 2.5.6: fe80::/10 with the next 54 bits zero.
    if (!kLinkLocal64.contains(*a)) fail(path, a->str() + " is not in fe80::/64 (link-local)");
    if (auto problem = subnet_router_anycast(*a, kLinkLocal64)) fail(path, *problem);
    return *a;
  }

  std::pair<Ipv6, Prefix6> interface_address6(const std::string& path, const std::string& s,
                                              const std::string& port_path, const PortConfig& p) {
    Ipv6 a;
    auto net = Prefix6::parse_interface(s, &a);
    if (!net) fail(path, quoted(s) + " is not an IPv6 address with prefix length");
    if (net->len == 0) fail(path, quoted(s) + ": prefix length 0 is out of range 1..128");
    if (auto r = reserved6(a)) fail(path, *r + ", not usable on a port");
    if (kLinkLocal10.contains(a))
      fail(path, a.str() + " is in " + kLinkLocal10.str() + " (link-local): set it with " +
                     port_path + ".link_local, not in addresses");
    if (auto problem = subnet_router_anycast(a, *net)) fail(path, *problem);
    if (const Owned6* o = owner_of6(a))
      fail(path, "duplicate address " + a.str() + " (also on port " + o->port + ")");
    for (const auto& o : owned6_)
      if (o.port != p.name && o.net.overlaps(*net))
        fail(path, "subnet " + net->str() + " overlaps " + o.net.str() + " on port " + o.port);
    owned6_.push_back({a, *net, p.name});
    return {a, *net};
  }

  std::pair<Ipv4, Prefix4> interface_address(const std::string& path, const std::string& s,
                                             const PortConfig& p) {
    Ipv4 a;
    auto net = Prefix4::parse_interface(s, &a);
    if (!net) fail(path, quoted(s) + " is not an IPv4 address with prefix length");
    for (const auto& r : kReserved)
      if (r.net.contains(a))
        fail(path, a.str() + " is in " + r.net.str() + " (" + r.what + "), not usable on a port");
    if (auto problem = network_or_broadcast(a, *net)) fail(path, *problem);
    if (const Owned* o = owner_of(a))
      fail(path, "duplicate address " + a.str() + " (also on port " + o->port + ")");
    // A subnet on two ports would make the connected route ambiguous; on one port it is
    // just a secondary address.
    for (const auto& o : owned_)
      if (o.port != p.name && o.net.overlaps(*net))
        fail(path, "subnet " + net->str() + " overlaps " + o.net.str() + " on port " + o.port);
    owned_.push_back({a, *net, p.name});
    return {a, *net};
  }

  // The index of the [[route]] or [[neighbour]] being read: every one read before it was
  // accepted into one of the two lists, or parsing would have stopped.
  static size_t route_index(const Config& c) { return c.routes.size() + c.routes6.size(); }
  static size_t neighbour_index(const Config& c) {
    return c.neighbours.size() + c.neighbours6.size();
  }

  // ecmp.hash_key: 32 hex digits, the flow hash's 128-bit secret.
  std::array<uint64_t, 2> hash_key(const std::string& s) const {
    if (s.size() != 32 || s.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      fail("ecmp.hash_key", quoted(s) + " is not 32 hexadecimal digits (a 128-bit key)");
    std::array<uint64_t, 2> k{};
    for (size_t i = 0; i < 2; ++i) k[i] = std::stoull(s.substr(i * 16, 16), nullptr, 16);
    if (k[0] == 0 && k[1] == 0) fail("ecmp.hash_key", "an all-zero key is no secret");
    return k;
  }

  // route.nexthops: [{ via = "...", dev = "...", weight = N }, ...], one to 64 of them (one is
  // a plain route, as `routerctl route add P nexthop via G` makes one); each is checked as a
  // lone gateway would be by read(via, dev).
  template <class A, class Read>
  std::vector<NexthopConfig<A>> nexthops(const toml::table& t, const std::string& path,
                                         Read&& read) const {
    std::vector<NexthopConfig<A>> out;
    const toml::node* n = t.get("nexthops");
    if (!n) return out;
    const toml::array* a = n->as_array();
    const std::string key = join(path, "nexthops");
    if (!a) fail(key, "expected an array of tables ({ via = \"...\", weight = N })");
    if (a->empty() || a->size() > 64)
      fail(key, std::to_string(a->size()) + " next hops: a route has 1 to 64");
    for (size_t i = 0; i < a->size(); ++i) {
      const std::string at = indexed(key, i);
      const toml::table* e = (*a)[i].as_table();
      if (!e) fail(at, "expected a table ({ via = \"...\", weight = N })");
      check_keys(*e, at, kNexthopKeys);
      NexthopConfig<A> h;
      const std::string via = require_string(*e, at, "via");
      if (auto dev = read_string(*e, at, "dev")) h.dev = *dev;
      read_int(*e, at, "weight", 1, 256, h.weight);
      read(at, via, h);  // sets via, or (an IPv4 route's IPv6 gateway) via6
      for (const auto& o : out)
        if (o.via == h.via && o.via6 == h.via6 &&
            (o.dev == h.dev || o.dev.empty() || h.dev.empty()))
          fail(at + ".via", (h.via6 ? h.via6->str() : h.via.str()) +
                                " is named twice (give it one next hop with the sum " +
                                "of the weights)");
      out.push_back(std::move(h));
    }
    return out;
  }

  // route.type: ip-route(8)'s TYPE. One that rejects (blackhole, prohibit, unreachable) sends
  // nothing anywhere, so a gateway or port given with it is a mistake, not a detail.
  RouteType route_type(const toml::table& t, const std::string& path,
                       const std::optional<std::string>& via,
                       const std::optional<std::string>& dev) const {
    const auto s = read_string(t, path, "type");
    if (!s) return RouteType::unicast;
    const auto type = parse_route_type(*s);
    if (!type)
      fail(path + ".type",
           quoted(*s) + " is not a route type (" + std::string(kRouteTypeNames) + ")");
    if (route_type_rejects(*type) && (via || dev))
      fail(path + (via ? ".via" : ".dev"), std::string(route_type_article(*type)) + " " + *s +
                                               " route has no " + (via ? "gateway" : "port") +
                                               " (its packets leave by no port): remove " +
                                               (via ? "via" : "dev"));
    return *type;
  }

  void route(const toml::table& t, const std::string& path, Config& c) {
    RouteConfig r;
    std::string prefix = require_string(t, path, "prefix");
    auto via = read_string(t, path, "via");
    auto dev = read_string(t, path, "dev");
    const RouteType type = route_type(t, path, via, dev);
    if (looks_ipv6(prefix)) return route6(t, path, prefix, via, dev, type, c);

    auto parsed = Prefix4::parse(prefix);
    if (!parsed) {
      Ipv4 host;
      if (Prefix4::parse_interface(prefix, &host))
        fail(path + ".prefix", quoted(prefix) + " has host bits set");
      fail(path + ".prefix", quoted(prefix) + " is not an IPv4 prefix");
    }
    r.prefix = *parsed;
    if (auto it = routes_.find(r.prefix); it != routes_.end())
      fail(path + ".prefix", "duplicate route " + r.prefix.str() + " (also route[" +
                                 std::to_string(it->second) + "])");

    r.type = type;
    r.nexthops = nexthops<Ipv4>(
        t, path, [&](const std::string& at, const std::string& v, NexthopConfig<Ipv4>& h) {
          const PortConfig* port = h.dev.empty() ? nullptr : &existing_port(c, at + ".dev", h.dev);
          if (looks_ipv6(v)) {
            h.via6 = gateway6(at + ".via", v, port, c);  // RFC 5549
            return;
          }
          h.via = address(at + ".via", v);
          check_on_link(at + ".via", h.via, port, c);
        });
    check_nexthops(path, !r.nexthops.empty(), via, dev, type);
    if (!via && !dev && type == RouteType::unicast && r.nexthops.empty())
      fail(path, "needs 'via', 'dev' or both");
    if (r.nexthops.size() == 1) {  // checked as a next hop already; its weight means nothing
      if (r.nexthops[0].via6)
        r.via6 = r.nexthops[0].via6;
      else
        r.via = r.nexthops[0].via;
      r.dev = r.nexthops[0].dev;
      r.nexthops.clear();
    }
    const PortConfig* port = nullptr;
    if (dev) {
      port = &existing_port(c, path + ".dev", *dev);
      r.dev = *dev;
    }
    if (via && looks_ipv6(*via)) {
      // RFC 5549 (BGP unnumbered): an IPv4 route through an IPv6 gateway, resolved by NDP.
      r.via6 = gateway6(path + ".via", *via, port, c);
    } else if (via) {
      r.via = address(path + ".via", *via);
      check_on_link(path + ".via", *r.via, port, c);
    }
    routes_.emplace(r.prefix, route_index(c));
    c.routes.push_back(std::move(r));
  }

  // Only an IPv4 route may have a gateway of the other family (RFC 5549); the reverse has
  // no standard and no use.
  static std::string ipv4_gateway_of_ipv6(const std::string& via, const std::string& prefix) {
    return quoted(via) + " is IPv4 but prefix " + quoted(prefix) +
           " is IPv6 (an IPv6 route needs an IPv6 gateway; only IPv4 routes may have one of the "
           "other family, RFC 5549)";
  }

  // An IPv6 gateway (of an IPv6 route, or of an IPv4 one: RFC 5549): a global one on a
  // subnet of port (of any port without one), a link-local one with its port.
  Ipv6 gateway6(const std::string& at, const std::string& v, const PortConfig* port,
                const Config& c) const {
    const Ipv6 gw = address6(at, v, "gateway");
    if (kLinkLocal10.contains(gw)) {
      // fe80::/64 is on every link: only the port says which one (RFC 4291 2.5.6).
      if (!port) fail(at, gw.str() + " is link-local: a link-local gateway needs dev (its port)");
      check_link_local_peer(at, gw, *port);
    } else {
      check_on_link6(at, gw, port, c);
    }
    return gw;
  }

  // nexthops replace via and dev, and a reject type has neither.
  void check_nexthops(const std::string& path, bool have, const std::optional<std::string>& via,
                      const std::optional<std::string>& dev, RouteType type) const {
    if (!have) return;
    if (via || dev)
      fail(path + (via ? ".via" : ".dev"),
           "give the gateways and ports in 'nexthops' only (remove " +
               std::string(via ? "via" : "dev") + ")");
    if (route_type_rejects(type))
      fail(path + ".nexthops", std::string(route_type_article(type)) + " " +
                                   std::string(route_type_name(type)) +
                                   " route has no next hops (its packets leave by no port)");
  }

  void route6(const toml::table& t, const std::string& path, const std::string& prefix,
              const std::optional<std::string>& via, const std::optional<std::string>& dev,
              RouteType type, Config& c) {
    Route6Config r;
    r.type = type;
    auto parsed = Prefix6::parse(prefix);
    if (!parsed) {
      Ipv6 host;
      if (Prefix6::parse_interface(prefix, &host))
        fail(path + ".prefix", quoted(prefix) + " has host bits set");
      fail(path + ".prefix", quoted(prefix) + " is not an IPv6 prefix");
    }
    r.prefix = *parsed;
    if (auto it = routes6_.find(r.prefix); it != routes6_.end())
      fail(path + ".prefix", "duplicate route " + r.prefix.str() + " (also route[" +
                                 std::to_string(it->second) + "])");

    r.nexthops = nexthops<Ipv6>(
        t, path, [&](const std::string& at, const std::string& v, NexthopConfig<Ipv6>& h) {
          const PortConfig* port = h.dev.empty() ? nullptr : &existing_port(c, at + ".dev", h.dev);
          if (Ipv4::parse(v)) fail(at + ".via", ipv4_gateway_of_ipv6(v, prefix));
          h.via = gateway6(at + ".via", v, port, c);
        });
    check_nexthops(path, !r.nexthops.empty(), via, dev, type);
    if (!via && !dev && type == RouteType::unicast && r.nexthops.empty())
      fail(path, "needs 'via', 'dev' or both");
    if (r.nexthops.size() == 1) {  // as for IPv4
      r.via = r.nexthops[0].via;
      r.dev = r.nexthops[0].dev;
      r.nexthops.clear();
    }
    const PortConfig* port = nullptr;
    if (dev) {
      port = &existing_port(c, path + ".dev", *dev);
      r.dev = *dev;
    }
    if (via) {
      if (Ipv4::parse(*via)) fail(path + ".via", ipv4_gateway_of_ipv6(*via, prefix));
      r.via = gateway6(path + ".via", *via, port, c);
    }
    routes6_.emplace(r.prefix, route_index(c));
    c.routes6.push_back(std::move(r));
  }

  void neighbour(const toml::table& t, const std::string& path, Config& c) {
    NeighbourConfig n;
    std::string addr = require_string(t, path, "address");
    std::string lladdr = require_string(t, path, "lladdr");
    n.port = require_string(t, path, "port");
    if (looks_ipv6(addr)) return neighbour6(path, addr, lladdr, n.port, c);

    n.address = address(path + ".address", addr);
    n.lladdr = unicast_mac(path + ".lladdr", lladdr);
    const PortConfig& port = existing_port(c, path + ".port", n.port);
    if (auto it = neighbours_.find(n.address); it != neighbours_.end())
      fail(path + ".address", "duplicate neighbour " + n.address.str() + " (also neighbour[" +
                                  std::to_string(it->second) + "])");
    check_on_link(path + ".address", n.address, &port, c);
    neighbours_.emplace(n.address, neighbour_index(c));
    c.neighbours.push_back(std::move(n));
  }

  void neighbour6(const std::string& path, const std::string& addr, const std::string& lladdr,
                  const std::string& port_name, Config& c) {
    Neighbour6Config n;
    n.address = address6(path + ".address", addr, "neighbour");
    n.lladdr = unicast_mac(path + ".lladdr", lladdr);
    n.port = port_name;
    const PortConfig& port = existing_port(c, path + ".port", n.port);
    // A link-local address is unique on its link only: the same one may be on two ports.
    const bool link_local = kLinkLocal10.contains(n.address);
    const std::pair<Ipv6, std::string> key{n.address, link_local ? n.port : ""};
    if (auto it = neighbours6_.find(key); it != neighbours6_.end())
      fail(path + ".address", "duplicate neighbour " + n.address.str() +
                                  (link_local ? " on port " + n.port : "") + " (also neighbour[" +
                                  std::to_string(it->second) + "])");
    if (link_local)
      check_link_local_peer(path + ".address", n.address, port);
    else
      check_on_link6(path + ".address", n.address, &port, c);
    neighbours6_.emplace(key, neighbour_index(c));
    c.neighbours6.push_back(std::move(n));
  }

  std::string file_;
  std::vector<Owned> owned_;
  std::map<Prefix4, size_t> routes_;   // prefix -> index in [[route]]
  std::map<Ipv4, size_t> neighbours_;  // address -> index in [[neighbour]]
  std::vector<Owned6> owned6_;         // global addresses only
  std::map<Prefix6, size_t> routes6_;  // prefix -> index in [[route]]
  // (address, port if link-local else "") -> index in [[neighbour]]
  std::map<std::pair<Ipv6, std::string>, size_t> neighbours6_;
};

}  // namespace

namespace config_detail {

std::string printable(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  auto cannot_read = [&](int err) {
    return ConfigError(printable(path) + ": cannot read: " + std::strerror(err));
  };
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw cannot_read(errno);
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
  // fopen() succeeds on a directory; the read is what fails (EISDIR).
  if (std::ferror(f.get())) throw cannot_read(errno);
  return text;
}

toml::table parse_toml(const std::string& text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError(printable(path) + ":" + std::to_string(at.line) + ":" +
                      std::to_string(at.column) + ": " + printable(e.description()));
  }
}

}  // namespace config_detail

const PortConfig* Config::find_port(const std::string& name) const {
  for (const auto& p : ports)
    if (p.name == name) return &p;
  return nullptr;
}

Config parse_config(const std::string& text, const std::string& path_for_errors) {
  toml::table root = config_detail::parse_toml(text, path_for_errors);
  return Parser(path_for_errors).parse(root);
}

Config load_config(const std::string& path) {
  return parse_config(config_detail::read_text_file(path), path);
}

std::optional<Endpoint> parse_endpoint(std::string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= s.size()) return std::nullopt;
  uint32_t port = 0;
  const std::string_view digits = s.substr(colon + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535)
    return std::nullopt;
  const std::string_view host = s.substr(0, colon);
  Endpoint e;
  e.port = uint16_t(port);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto a = Ipv6::parse(host.substr(1, host.size() - 2));
    if (!a) return std::nullopt;
    e.family = 6;
    e.addr6 = *a;
  } else {
    auto a = Ipv4::parse(host);
    if (!a) return std::nullopt;
    e.addr4 = *a;
  }
  return e;
}

std::vector<PuntRule> punt_rules(const std::vector<std::string>& names) {
  std::vector<PuntRule> out;
  auto number = [](const std::string& name, std::string_view digits, uint32_t lo, uint32_t hi) {
    uint32_t v = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || end != digits.data() + digits.size() || v < lo || v > hi)
      throw std::invalid_argument("\"" + name + "\": the number must be " + std::to_string(lo) +
                                  ".." + std::to_string(hi));
    return v;
  };
  for (const std::string& n : names) {
    if (n == "bgp") {
      out.push_back({IPPROTO_TCP, 179});
    } else if (n == "ospf") {
      out.push_back({89, 0});
    } else if (n == "bfd") {  // RFC 5881 single hop, its echo, RFC 5883 multihop
      for (uint16_t port : {3784, 3785, 4784}) out.push_back({IPPROTO_UDP, port});
    } else if (n == "ssh") {
      out.push_back({IPPROTO_TCP, 22});
    } else if (n == "icmp") {
      out.push_back({IPPROTO_ICMP, 0});
    } else if (n == "vrrp") {
      out.push_back({112, 0});
    } else if (n == "ldp") {
      out.push_back({IPPROTO_TCP, 646});
      out.push_back({IPPROTO_UDP, 646});
    } else if (n == "rip") {
      out.push_back({IPPROTO_UDP, 520});
    } else if (n == "ripng") {
      out.push_back({IPPROTO_UDP, 521});
    } else if (n.starts_with("tcp:")) {
      out.push_back({IPPROTO_TCP, uint16_t(number(n, std::string_view(n).substr(4), 1, 65535))});
    } else if (n.starts_with("udp:")) {
      out.push_back({IPPROTO_UDP, uint16_t(number(n, std::string_view(n).substr(4), 1, 65535))});
    } else if (n.starts_with("proto:")) {
      const uint32_t p = number(n, std::string_view(n).substr(6), 0, 255);
      if (p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_ICMP || p == IPPROTO_ICMPV6)
        throw std::invalid_argument("\"" + n +
                                    "\": name TCP and UDP ports (tcp:N, udp:N) and "
                                    "ICMP (icmp) rather than the whole protocol");
      out.push_back({uint8_t(p), 0});
    } else {
      throw std::invalid_argument("\"" + n +
                                  "\" is not a service: bgp, ospf, bfd, ssh, icmp, vrrp, ldp, "
                                  "rip, ripng, tcp:N, udp:N or proto:N");
    }
  }
  std::sort(out.begin(), out.end(), [](const PuntRule& a, const PuntRule& b) {
    return a.proto != b.proto ? a.proto < b.proto : a.port < b.port;
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (auto k : kTopKeys) out.emplace_back(k);
    for (const auto& s : kSections)
      for (auto k : s.keys) out.push_back(std::string(s.name) + "." + std::string(k));
    return out;
  }();
  return keys;
}

}  // namespace routerd
