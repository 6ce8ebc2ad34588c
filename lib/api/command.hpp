// api/command: the iproute2-like command grammar routerctl speaks, parsed in one place.
// parse_request() turns the words after "routerctl" into a Request or throws CommandError
// with one line that says what is wrong; it never looks at router state.
#pragma once

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "inet.hpp"

namespace routerd {

class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Verb {
  addr_add,
  addr_del,
  addr_show,
  route_add,
  route_replace,
  route_del,
  route_show,
  route_show_cache,
  route_summary,
  route_flush_cache,
  route_get,
  route_load,
  neigh_add,
  neigh_del,
  neigh_show,
  link_show,
  link_set,
  ping,
  stats,
  batch,
  reload,
};
constexpr size_t kVerbCount = size_t(Verb::reload) + 1;
const char* verb_name(Verb v);  // its words, e.g. "route add"

struct BatchLine;

struct Request {
  Verb verb = Verb::stats;
  Prefix4 prefix;                // route add/replace/del; addr add/del: the subnet
  Ipv4 addr;                     // addr add/del: the address; route get, neigh add/del: the target
  std::optional<Ipv4> via;       // route add/replace
  uint16_t mtu = 0;              // route add/replace: the route's MTU (0: none); link set
  std::string dev;               // port: required for addr add/del and neigh add, else a filter
  Mac lladdr;                    // neigh add
  std::string path;              // route load: an absolute file name
  std::vector<BatchLine> batch;  // batch: the route changes, in file order
  uint16_t size = 56;            // ping: ICMP payload bytes
  bool df = false;               // ping: set Don't Fragment
  uint16_t count = 3;            // ping: echo requests
};

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
// PREFIX via GATEWAY [dev PORT] [mtu N] | PREFIX dev PORT [mtu N].
struct RouteSpec {
  Prefix4 prefix;
  std::optional<Ipv4> via;
  std::string dev;
  uint16_t mtu = 0;   // "mtu N"; 0: none
  uint32_t line = 0;  // in a route file; 0 otherwise
};
// `cmd` prefixes error messages ("route add", "routes.txt:12"). Allocates only on error.
RouteSpec parse_route_spec(const std::string& cmd, std::span<const std::string_view> words);

Request parse_request(const std::vector<std::string>& words);

struct VerbHelp {
  const char* command;  // "route add"
  const char* args;     // "PREFIX via GW [dev PORT] | PREFIX dev PORT"
  const char* what;
};
// Every command, for `routerctl help` and the test that checks docs/cli.md names each one.
const std::vector<VerbHelp>& command_help();

}  // namespace routerd
