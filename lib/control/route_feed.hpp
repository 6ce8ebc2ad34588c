// route_feed: what a routing daemon asked routerd to route, as it asked (FRR's zebra over FPM,
// or the kernel's table through the route mirror), with the counters `fpm show` and
// `mirror show` print. Control thread only; route_feed.cpp turns it into daemon routes.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "control.hpp"
#include "fpm.hpp"
#include "prefix_map.hpp"

namespace routerd {

struct Control::RouteFeed {
  explicit RouteFeed(const char* o) : origin(o) {}
  const char* origin;  // "fpm" or "kernel": routerctl's `origin`, and log lines
  // What the daemon asked for, installed or not (hidden by the router's own route, or not
  // resolvable): a hidden one comes back when the router's route goes.
  PrefixStore<Prefix4, fpm::RouteMsg> routes4;
  PrefixStore<Prefix6, fpm::RouteMsg> routes6;
  std::unordered_map<uint32_t, fpm::NexthopMsg> nexthops;
  // Prefixes that named each next-hop id when they came (checked again when used).
  std::unordered_map<uint32_t, std::vector<Prefix4>> users4;
  std::unordered_map<uint32_t, std::vector<Prefix6>> users6;
  // Held before a resync began and not sent again since: removed when it ends.
  std::unordered_set<Prefix4, Prefix4Hash> stale4;
  std::unordered_set<Prefix6, Prefix6Hash> stale6;
  bool resync = false;
  // The kernel holds several routes for a prefix when their metrics differ and forwards by
  // the lowest (rtm_priority): with by_priority, routes4/routes6 hold that one and the
  // others wait here until it goes. zebra sends only its choice: FPM leaves this off.
  bool by_priority = false;
  bool sweeping = false;  // feed_remove's own messages pass the shadow as they are
  std::unordered_map<Prefix4, std::vector<fpm::RouteMsg>, Prefix4Hash> shadow4;
  std::unordered_map<Prefix6, std::vector<fpm::RouteMsg>, Prefix6Hash> shadow6;
  uint64_t last_msg_ms = 0, last_resync_ms = 0;
  uint64_t route_adds = 0, route_dels = 0, nh_adds = 0, nh_dels = 0, ignored = 0, unusable = 0,
           swept = 0, batches = 0, batch_failures = 0;
  // Routes a refused batch was split down to and that the FIB refused on their own.
  uint64_t routes_refused = 0;
  std::string last_error, last_unusable;
  // FRR's "via 169.254.0.1 onlink dev P" (RFC 5549 without next-hop objects): the IPv6
  // gateway found for each port, looked up again at most once a second, and the routes that
  // wait for one (tried again each second: zebra may send the route before the neighbour).
  struct Ipv4ll {
    uint64_t checked_ms = 0;
    std::optional<Ipv6> via6;
    std::string why;
  };
  std::unordered_map<uint16_t, Ipv4ll> ipv4ll;
  std::unordered_set<Prefix4, Prefix4Hash> ipv4ll_wait;
  bool ipv4ll_unresolved = false;  // the last feed_route needed one and found none
  bool ipv4ll_used = false;        // the last feed_route went through one
  uint64_t ipv4ll_mapped = 0, ipv4ll_retry_ms = 0;

  // Everything held becomes stale until sent again (a reconnect's replay, a new dump).
  void mark_stale() {
    stale4.clear();
    stale6.clear();
    routes4.for_each([this](const Prefix4& p, const fpm::RouteMsg&) { stale4.insert(p); });
    routes6.for_each([this](const Prefix6& p, const fpm::RouteMsg&) { stale6.insert(p); });
    resync = true;
  }
};

}  // namespace routerd
