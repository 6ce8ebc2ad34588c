// api/command: the iproute2-like command grammar routerctl speaks, one table row per verb.
// parse_request() turns the words after "routerctl" into a Request or throws CommandError
// with one line that says what is wrong; it never looks at router state.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "inet.hpp"
#include "inet6.hpp"
#include "route_type.hpp"

namespace routerd {

class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every command, one row each: X(enumerator, parser, words, synopsis, help).
//   parser    fills the Request from the words after the object and action (command.cpp);
//             nullptr: reached through another row's parser ("route show cache" through
//             "route show", which shares its first two words)
//   words     as typed, canonical forms: verb_name(), and (the first two) what
//             parse_request() looks the row up by ("route flush cache": "route flush")
//   synopsis  help  `routerctl help`; command_test checks docs/cli.md names every verb.
//             help nullptr: covered by another row's line ("route show [cache]")
// The Verb enum and the help list keep this order: lib/control may index tables by Verb.
// Adding a verb: a row here, its parser, its handler in lib/control, its routerctl format.
#define ROUTERD_VERBS(X)                                                                           \
  X(addr_add, parse_addr_change, "addr add", "ADDRESS/LEN dev PORT",                               \
    "add an address (and its connected route) to a port")                                          \
  X(addr_del, parse_addr_change, "addr del", "ADDRESS/LEN dev PORT",                               \
    "remove an address, its connected route and the routes through it")                            \
  X(addr_show, parse_dev_filter, "addr show", "[dev PORT]", "list port addresses")                 \
  X(route_add, parse_route_set, "route add",                                                       \
    "PREFIX via GATEWAY [dev PORT] [mtu N] | PREFIX dev PORT [mtu N] | "                           \
    "{blackhole|prohibit|unreachable} PREFIX",                                                     \
    "add a static route")                                                                          \
  X(route_replace, parse_route_set, "route replace",                                               \
    "PREFIX via GATEWAY [dev PORT] [mtu N] | PREFIX dev PORT [mtu N] | "                           \
    "{blackhole|prohibit|unreachable} PREFIX",                                                     \
    "add or replace a static route")                                                               \
  X(route_del, parse_route_del, "route del", "[TYPE] PREFIX [via GATEWAY] [dev PORT]",             \
    "delete a static route")                                                                       \
  X(route_show, parse_route_show, "route show", "[cache | proto NAME]",                            \
    "list routes (connected, static, a routing daemon's); cache: the exceptions")                  \
  X(route_show_exceptions, nullptr, "route show cache", "", nullptr)                               \
  X(route_summary, parse_nothing, "route summary", "",                                             \
    "route counts per prefix length, FIB prefixes, next hops, generation")                         \
  X(route_flush_exceptions, parse_route_flush, "route flush cache", "",                            \
    "forget every learnt exception (path MTU, redirect)")                                          \
  X(route_get, parse_route_get, "route get", "ADDRESS",                                            \
    "show the route and next hop a packet to ADDRESS takes")                                       \
  X(route_load, parse_route_load, "route load", "FILE",                                            \
    "add or replace every route in FILE (one 'route add' per line) as one batch")                  \
  X(neigh_add, parse_neigh_add, "neigh add", "ADDRESS lladdr MAC dev PORT",                        \
    "add a static (permanent) neighbour")                                                          \
  X(neigh_del, parse_neigh_del, "neigh del", "ADDRESS [dev PORT]",                                 \
    "delete a neighbour (an IPv6 link-local one needs dev)")                                       \
  X(neigh_show, parse_dev_filter, "neigh show", "[dev PORT]", "list neighbours and their state")   \
  X(link_show, parse_link_show, "link show", "[PORT]", "list ports: MAC, MTU, link state, queues") \
  X(link_set, parse_link_set, "link set", "PORT mtu N", "change a port's MTU at run time")         \
  X(ping, parse_ping, "ping", "ADDRESS [size N] [df] [count N]",                                   \
    "send echo requests from the router and print the replies and errors (df: IPv4 only)")         \
  X(stats, parse_nothing, "stats", "", "packet counters per port, per drop reason, per lcore")     \
  X(batch, parse_batch, "batch", "FILE",                                                           \
    "apply the route add/replace/del commands in FILE (one per line, '-' for stdin) as one "       \
    "atomic batch")                                                                                \
  X(reload, parse_nothing, "reload", "",                                                           \
    "re-read the config file and apply its changes to addresses, neighbours and routes")           \
  X(fpm_show, parse_nothing, "fpm show", "",                                                       \
    "the FPM session with zebra: peer, messages, routes held and installed, resync")               \
  X(mirror_show, parse_nothing, "mirror show", "",                                                 \
    "the kernel route mirror (BIRD): table, protocols, messages, routes held and installed, "      \
    "resyncs")                                                                                     \
  X(tunnel_add, parse_tunnel_add, "tunnel add",                                                    \
    "NAME mode gre local ADDRESS remote ADDRESS [key N] [ttl N|inherit] [mtu N]",                  \
    "add a GRE tunnel interface (RFC 2784, keys of RFC 2890)")                                     \
  X(tunnel_del, parse_tunnel_name, "tunnel del", "NAME",                                           \
    "delete a tunnel with its addresses and the routes through it")                                \
  X(tunnel_show, parse_tunnel_show, "tunnel show", "[NAME]",                                       \
    "list tunnels: endpoints, key, TTL, MTU and each one's outer path")

#define ROUTERD_VERB_ENUMERATOR_(name, parser, words, synopsis, help) name,
enum class Verb { ROUTERD_VERBS(ROUTERD_VERB_ENUMERATOR_) };
#undef ROUTERD_VERB_ENUMERATOR_

#define ROUTERD_VERB_ONE_(name, parser, words, synopsis, help) 1,
constexpr size_t kVerbCount = std::initializer_list<int>{ROUTERD_VERBS(ROUTERD_VERB_ONE_)}.size();
#undef ROUTERD_VERB_ONE_

// The verb's words in canonical form: "route add", "route show cache", "stats".
const char* verb_name(Verb v);

struct BatchLine;

// Addresses of either family: family says which fields hold them. IPv4 commands fill
// prefix/addr/via exactly as before IPv6 existed; IPv6 ones fill prefix6/addr6/via6 instead.
// One next hop of an ECMP route ("nexthop via GATEWAY [dev PORT] [weight N]", ip-route(8)):
// via (family 4) or via6 (6), and its weight, 1-256.
struct NexthopSpec {
  std::optional<Ipv4> via;
  std::optional<Ipv6> via6;
  std::string dev;
  uint16_t weight = 1;
  bool operator==(const NexthopSpec&) const = default;
};
constexpr size_t kMaxNexthops = 64;
constexpr uint16_t kMaxNexthopWeight = 256;

struct Request {
  Verb verb = Verb::stats;
  Prefix4 prefix;                // route add/replace/del; addr add/del: the subnet
  Ipv4 addr;                     // addr add/del: the address; route get, neigh add/del: the target
  std::optional<Ipv4> via;       // route add/replace
  uint16_t mtu = 0;              // route add/replace: the route's MTU (0: none); link set
  std::string dev;               // port: required for addr add/del and neigh add, else a filter
  std::string proto;             // route show proto NAME: connected, static, bgp, ospf, ...
  Mac lladdr;                    // neigh add
  std::string path;              // route load: an absolute file name
  std::vector<BatchLine> batch;  // batch: the route changes, in file order
  uint16_t size = 56;            // ping: ICMP payload bytes
  bool df = false;               // ping: set Don't Fragment
  uint16_t count = 3;            // ping: echo requests
  // 4 or 6: the family of the addresses given (6: the *6 fields hold them). The verbs that
  // takes_family_filter(): the -4/-6 filter (0: both families). Others: 0.
  uint8_t family = 0;
  Prefix6 prefix6{};           // route add/replace/del; addr add/del: the subnet
  Ipv6 addr6{};                // addr add/del: the address; route get, neigh add/del, ping
  std::optional<Ipv6> via6{};  // route add/replace/del
  // route add/replace: the route's type; route del: what it must be, when type_given.
  RouteType type = RouteType::unicast;
  bool type_given = false;
  // route add/replace: an ECMP route's next hops (two or more; via, via6 and dev unset).
  std::vector<NexthopSpec> nexthops;
  // route get: the flow whose ECMP member to show ([from SRC] [proto P] [sport N] [dport N]
  // [flowlabel N]); the source and ports are 0 when not given.
  struct Flow {
    Ipv4 src;
    Ipv6 src6{};
    uint8_t proto = 0;
    uint16_t sport = 0, dport = 0;
    uint32_t flowlabel = 0;
  } flow;
  // tunnel add (the name in dev): the endpoints, the key (RFC 2890), the outer TTL (0:
  // inherit the inner packet's) and the MTU in `mtu` (0: derived from the outer path).
  struct Tunnel {
    Ipv4 local, remote;
    std::optional<uint32_t> key;
    uint8_t ttl = 64;
  } tunnel;
};

// The verbs -4/-6 filter (addr show, route show [cache], route summary, neigh show): their
// Request::family is the filter. Verbs that take an address accept a -4/-6 that matches it;
// every other verb refuses one.
bool takes_family_filter(Verb v);

// One route change of a batch and the line (1-based) it came from.
struct BatchLine {
  uint32_t line;
  Request req;        // route_add, route_replace or route_del
  std::string where;  // what errors name it by; empty: "line N"
};

// Most lines one batch may hold (a batch is one JSON request and is applied atomically).
constexpr size_t kMaxBatchLines = 1u << 20;

// Splits a command line into words as a shell would for routerctl's grammar: on blanks;
// '#' starts a comment.
std::vector<std::string> split_command_line(std::string_view line);

// What "route add" takes after the verb, and what one line of a route file holds:
// [unicast] PREFIX via GATEWAY [dev PORT] [mtu N] | [unicast] PREFIX dev PORT [mtu N] |
// [unicast] PREFIX [mtu N] nexthop via GATEWAY [dev PORT] [weight N] nexthop ... (ECMP) |
// {blackhole|prohibit|unreachable} PREFIX (ip-route(8): the type comes before the prefix).
// family 4: prefix and via hold the route; 6: prefix6 and via6 do (an IPv6 route with a
// link-local gateway always has a dev).
struct RouteSpec {
  Prefix4 prefix;
  std::optional<Ipv4> via;
  std::string dev;
  uint16_t mtu = 0;   // "mtu N"; 0: none
  uint32_t line = 0;  // in a route file; 0 otherwise
  uint8_t family = 4;
  Prefix6 prefix6{};
  std::optional<Ipv6> via6{};
  RouteType type = RouteType::unicast;  // not unicast: no via, dev or mtu
  std::vector<NexthopSpec> nexthops;    // ECMP: two or more; via, via6 and dev unset
};
// `cmd` prefixes error messages ("route add", "routes.txt:12"). Allocates only on error.
// The family of the route is that of its prefix; "default" is IPv4 unless `family` (the
// -4/-6 given, 0: none) or an IPv6 gateway says otherwise. A gateway of the other family,
// a -4/-6 that contradicts the prefix, a link-local gateway without dev, or a via, dev or
// mtu on a route type that rejects is refused.
RouteSpec parse_route_spec(const std::string& cmd, std::span<const std::string_view> words,
                           uint8_t family = 0);
// Strict weak order over routes of both families, by prefix: IPv4 (by address, then length)
// before IPv6 (likewise). Two specs are equivalent exactly when they are for the same prefix.
bool route_prefix_less(const RouteSpec& a, const RouteSpec& b);
bool same_route_prefix(const RouteSpec& a, const RouteSpec& b);
// The route's prefix as text ("10.0.0.0/8", "2001:db8::/32").
std::string route_prefix_str(const RouteSpec& s);

// words: what follows "routerctl", options removed except -4 and -6, which (as in iproute2)
// come first: "-6 route show".
Request parse_request(const std::vector<std::string>& words);

struct VerbHelp {
  const char* command;  // "route add"
  const char* args;     // "PREFIX via GW [dev PORT] | PREFIX dev PORT"
  const char* what;
};
// The ROUTERD_VERBS rows that have a help line, in table order: `routerctl help`.
const std::vector<VerbHelp>& command_help();

}  // namespace routerd
