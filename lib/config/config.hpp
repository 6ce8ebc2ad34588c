// config: the routerd TOML configuration, parsed and fully validated up front.
// load() either returns a complete Config or throws ConfigError naming the file, the key and
// the problem; nothing is started until a Config exists.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "inet.hpp"
#include "inet6.hpp"
#include "route_type.hpp"

namespace routerd {

// Most addresses of each family in one port's `addresses` (link-local not counted): what
// `routerctl addr add` allows a port at run time (PortFastInfo::bcast has room for 8).
constexpr size_t kMaxPortAddresses = 8;

// One line: "<file>: <key path>: <problem>", e.g.
// "routerd.toml: port[1].addresses[0]: '10.1.0.1/33' is not an IPv4 address with prefix length".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Most [[tunnel]] entries (lib/tunnel's kMaxTunnels: the port ids they take).
constexpr size_t kMaxConfigTunnels = 16;

// A [[tunnel]]: a GRE interface (RFC 2784, RFC 2890 keys) between one of the router's
// addresses and a remote one. It is a PortConfig whose `tunnel` is set (name and addresses
// as a port's; no device).
struct TunnelConfig {
  Ipv4 local, remote;
  std::optional<uint32_t> key;  // RFC 2890; none: no key
  uint8_t ttl = 64;             // outer TTL; 0: "inherit" the inner packet's
  uint16_t mtu = 0;             // 0: derived from the outer path (its MTU - 24, - 28 with a key)
  bool operator==(const TunnelConfig&) const = default;
};

struct PortConfig {
  std::string name;        // routerctl name, e.g. "p0": [A-Za-z][A-Za-z0-9_-]{0,14}
  std::string device;      // vdev arguments ("net_tap0,iface=x") or a PCI address ("0000:03:00.0")
  std::string preset;      // name of a file drivers-config/<preset>.toml (default "default")
  uint16_t mtu = 1500;     // 68..9000
  std::optional<Mac> mac;  // unicast; none: keep the device's address
  std::vector<std::pair<Ipv4, Prefix4>> addresses;   // (address, its subnet)
  std::vector<std::pair<Ipv6, Prefix6>> addresses6;  // IPv6 entries of the same `addresses` list
  std::optional<Ipv6> link_local;  // key `link_local`, in fe80::/64; none: EUI-64 of the MAC
                                   // (decided at runtime)
  bool ra = false;  // key `ra`: send Router Advertisements on this port (RFC 4861 6.2)
  std::optional<TunnelConfig> tunnel;  // a [[tunnel]]: no ethdev, device empty
};

// One of a [[route]]'s `nexthops` (ECMP): a gateway, optionally its port, and its weight.
// RFC 5549: an IPv4 route's may be IPv6 (via6; via is then 0.0.0.0).
template <class A>
struct NexthopConfig {
  A via;
  std::string dev;
  uint16_t weight = 1;
  std::optional<Ipv6> via6{};  // IPv4 routes only
};

struct RouteConfig {
  Prefix4 prefix;
  std::optional<Ipv4> via;              // exactly one of via and dev is set...
  std::string dev;                      // ...except that both may be set (gateway on that port)
  RouteType type = RouteType::unicast;  // key `type`; not unicast: neither via nor dev
  std::vector<NexthopConfig<Ipv4>> nexthops;  // ECMP: two or more; then neither via nor dev
  // RFC 5549: `via` is an IPv6 address (a link-local one with dev); via is then empty.
  std::optional<Ipv6> via6{};
};

struct NeighbourConfig {
  Ipv4 address;
  Mac lladdr;
  std::string port;
};

// A [[route]] whose prefix is IPv6. A link-local via (fe80::/10) always comes with dev.
struct Route6Config {
  Prefix6 prefix;
  std::optional<Ipv6> via;
  std::string dev;
  RouteType type = RouteType::unicast;
  std::vector<NexthopConfig<Ipv6>> nexthops;
};

// A [[neighbour]] whose address is IPv6: global on a subnet of port, or link-local.
struct Neighbour6Config {
  Ipv6 address;
  Mac lladdr;
  std::string port;
};

// One entry of [control_plane] allow: packets for the router with this IP protocol (and,
// for TCP and UDP, this port at either end; 0: any) go to the port's kernel interface.
// IPPROTO_ICMP stands for ICMPv6 too.
struct PuntRule {
  uint8_t proto;
  uint16_t port;
  bool operator==(const PuntRule&) const = default;
};
// The rules of allow-list names: "bgp" (TCP 179), "ospf" (IP protocol 89), "bfd" (UDP 3784,
// 3785, 4784), "ssh" (TCP 22), "icmp", "vrrp" (112), "ldp" (TCP and UDP 646), "rip" (UDP
// 520), "ripng" (UDP 521), "tcp:N", "udp:N", "proto:N". Throws std::invalid_argument naming
// what is wrong with an unknown or malformed name.
std::vector<PuntRule> punt_rules(const std::vector<std::string>& names);

// "ADDR:PORT" or "[IPv6]:PORT", port 1-65535; nullopt when malformed.
struct Endpoint {
  uint8_t family = 4;
  Ipv4 addr4;
  Ipv6 addr6;
  uint16_t port = 0;
};
std::optional<Endpoint> parse_endpoint(std::string_view s);

struct Config {
  std::string path;  // the file it came from

  // Route files (one `route add` per line) loaded at startup; relative to the config file.
  std::vector<std::string> route_files;

  // Prometheus metrics over HTTP ("ADDRESS:PORT"); empty: off.
  std::string metrics_listen;

  // [dataplane]
  std::vector<std::string> eal;  // EAL arguments used when the command line gives none
  std::string socket = "/run/routerd/routerd.sock";
  uint32_t mbufs = 16384;         // mbufs per NUMA socket in use
  uint16_t burst = 32;            // 1..64
  uint32_t idle_sleep_us = 0;     // 0: workers poll without pause
  uint32_t heap_reserve_mib = 0;  // control heap faulted in at startup for table loads; 0: none
  std::string presets_dir;        // empty: the installed or source drivers-config/
  std::string log_level = "info";

  // [fib]
  uint32_t max_routes = 1u << 16;  // per FIB copy: ~94 MiB with 4096 tbl8 groups
  uint32_t tbl8_groups = 1u << 12;
  uint32_t max_next_hops = 1u << 16;

  // [fib6]: the IPv6 table (rte_fib6 TRIE), kept twice like the IPv4 one
  uint32_t fib6_max_routes = 1u << 18;  // full table (160,147 prefixes) with margin
  // The full table uses 38,096 groups but reserves 217,715 (DPDK 22.11 counts reservations).
  uint32_t fib6_tbl8_groups = 1u << 18;

  // [ipv4]
  bool drop_martians = true;
  bool send_redirects = true;  // RFC 1812 5.2.7.2
  // RFC 1812 5.3.5.2: forward directed broadcasts; off by default (RFC 2644).
  bool forward_directed_broadcast = false;
  bool accept_redirects = false;  // for the router's own traffic (RFC 1812 5.2.7.2: off)

  // [ipv6]
  bool ipv6_send_redirects = true;     // RFC 4861 8.2
  bool ipv6_accept_redirects = false;  // for the router's own traffic
  uint32_t icmp6_rate = 1000;          // key ipv6.icmp_rate: ICMPv6 errors per second
  uint32_t icmp6_burst = 50;           // key ipv6.icmp_burst
  // Router Advertisements on ports with `ra = true` (RFC 4861 6.2.1)
  uint32_t ra_interval_s = 600;   // MaxRtrAdvInterval; MinRtrAdvInterval is a third of it (>= 3 s)
  uint32_t ra_lifetime_s = 1800;  // AdvDefaultLifetime; default 3 x ra_interval_s
  bool ra_mtu = true;             // include the MTU option (the port's MTU)
  uint32_t dad_transmits = 1;     // DupAddrDetectTransmits (RFC 4862 5.1); 0: no DAD

  // [exceptions]: what the router learns from ICMP about destinations it sends to
  uint32_t exc_max_entries = 4096;
  uint32_t pmtu_min = 552;        // a PTB never lowers a path MTU below this
  uint32_t pmtu_expires_s = 600;  // RFC 1191: 10 minutes
  uint32_t redirect_expires_s = 300;
  uint32_t exc_source_rate = 10;  // PTBs/redirects considered per second per sender; 0: off
  uint32_t exc_source_burst = 20;

  // [icmp]
  uint32_t icmp_rate = 1000;  // errors per second, all destinations together
  uint32_t icmp_burst = 50;
  uint32_t icmp_source_rate = 100;  // errors per second to one destination; 0: no such limit
  uint32_t icmp_source_burst = 20;
  bool echo_reply = true;

  // [ecmp]: the flow hash's secret (none: random at startup) and whether a port's RSS hash
  // stands in for routerd's own hash.
  std::optional<std::array<uint64_t, 2>> ecmp_hash_key;
  bool ecmp_use_rss = true;
  // Members on a port whose link is down are out of their groups until it is up again.
  bool ecmp_follow_link = true;
  // [control_plane] (docs/config.md): a kernel interface per port in namespace cp_netns
  // ("": routerd's own), and the traffic for the router that is handed to it.
  bool cp_enabled = false;
  std::string cp_netns;
  std::vector<std::string> cp_allow_names{"bgp", "ospf", "bfd", "ssh", "icmp"};
  std::vector<PuntRule> cp_allow = punt_rules(cp_allow_names);
  bool cp_follow_link = true;     // kernel interfaces go down with their port's link
  uint32_t cp_punt_rate = 10000;  // frames per second each way; a flood beyond is dropped
  uint32_t cp_punt_burst = 1000;
  // FPM server for FRR's zebra (dplane_fpm_nl): "ADDR:PORT" ("[v6]:port"), opened in cp_netns;
  // empty: none. Routes not replayed within fpm_sweep_s of the replay going quiet are
  // removed; with no client for fpm_hold_s (0: forever) every FPM route is.
  std::string fpm_listen;
  uint32_t fpm_sweep_s = 30;
  uint32_t fpm_hold_s = 0;
  // The kernel route mirror (BIRD, or anything that installs into cp_netns's kernel): the
  // routes of one table, of these rtm_protocol values (empty: all but proto kernel, the
  // kernel's own connected routes).
  bool kernel_routes = false;
  uint32_t kernel_routes_table = 254;  // main
  std::vector<uint8_t> kernel_routes_protocols;
  // [route_cache]
  bool route_cache = true;
  uint32_t route_cache_sets = 4096;   // power of two, 4 entries per set
  uint32_t route_cache6_sets = 4096;  // power of two, 3 IPv6 entries per set
  // false: every packet into a tunnel resolves the outer path in the FIB (to measure what
  // the per-tunnel outer-path cache saves).
  bool tunnel_outer_path_cache = true;

  // [arp]
  uint32_t arp_reachable_s = 60;   // dynamic entry lifetime before it is re-probed
  uint32_t arp_retrans_ms = 1000;  // at most one request per target per this interval
  uint32_t arp_probes = 3;         // unanswered requests before the neighbour is failed
  uint32_t arp_queue_len = 8;      // packets held per unresolved neighbour (oldest dropped)
  uint32_t arp_max_entries = 4096;
  uint32_t arp_max_unresolved = 256;  // INCOMPLETE + FAILED entries
  uint32_t arp_queue_total = 0;       // packets waiting for ARP in all; 0: mbufs / 16
  uint32_t arp_failed_ms = 3000;      // FAILED entry lifetime (>= retrans_time_ms)
  uint32_t arp_locktime_ms = 1000;    // a MAC is not replaced this soon after its confirmation
  uint32_t arp_resolve_rate = 1000;   // new resolutions per port per second
  uint32_t arp_resolve_burst = 1000;
  uint32_t arp_source_rate = 100;  // ARP packets per second per sender MAC; 0: no limit
  uint32_t arp_source_burst = 100;

  // [ndp]: the IPv6 neighbour timers (RFC 4861 10); the [arp] size limits apply to both
  uint32_t ndp_reachable_ms = 30000;  // RFC 4861 REACHABLE_TIME
  uint32_t ndp_retrans_ms = 1000;     // RetransTimer
  uint32_t ndp_probes = 3;            // MAX_MULTICAST_SOLICIT / MAX_UNICAST_SOLICIT
  uint32_t ndp_delay_ms = 5000;       // DELAY_FIRST_PROBE_TIME
  uint32_t ndp_stale_ms = 60000;      // an unused STALE entry is forgotten after this

  // arp.queue_total as it applies to a pool of pool_size buffers.
  uint32_t arp_queue_total_for(uint32_t pool_size) const {
    return arp_queue_total ? arp_queue_total : std::max<uint32_t>(pool_size / 16, 1);
  }

  std::vector<PortConfig> ports;
  std::vector<RouteConfig> routes;
  std::vector<NeighbourConfig> neighbours;
  std::vector<Route6Config> routes6;          // [[route]] whose prefix is IPv6
  std::vector<Neighbour6Config> neighbours6;  // [[neighbour]] whose address is IPv6

  const PortConfig* find_port(const std::string& name) const;
};

// Parses and validates; throws ConfigError. Does not touch the system.
Config load_config(const std::string& path);
Config parse_config(const std::string& text, const std::string& path_for_errors);

// Every key load_config accepts, as dotted paths ("dataplane.eal", "port.mtu"); the
// documentation test checks docs/config.md names each one.
const std::vector<std::string>& config_keys();

}  // namespace routerd
