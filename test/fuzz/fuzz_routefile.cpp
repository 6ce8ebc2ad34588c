// Fuzz target: route files (lib/api/routefile), as `route load`, `batch` and the config's
// route_files read them.
// Invariants: only CommandError escapes, naming the file and a line that exists; an accepted
// file gives routes sorted by prefix (IPv4 first) with no prefix twice, each with a gateway or
// a port, only its own family's fields (but an IPv4 route's IPv6 gateway), no host bits, an MTU of
// 0 or 68..65535 (IPv6: 1280..), a port for a link-local gateway, each from a line that exists; the
// routes written back one per line parse to the same routes.
#include <tbb/global_control.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "routefile.hpp"

using namespace routerd;

namespace {

std::string line_of(const RouteSpec& s) {
  if (s.type != RouteType::unicast)
    return std::string(route_type_name(s.type)) + " " + route_prefix_str(s);
  std::string l = route_prefix_str(s);
  // RFC 5549: an IPv4 route's IPv6 gateway is written "via inet6 X".
  const std::string via6 = s.family == 4 ? " via inet6 " : " via ";
  for (const NexthopSpec& n : s.nexthops) {
    l += " nexthop";
    if (n.via) l += " via " + n.via->str();
    if (n.via6) l += via6 + n.via6->str();
    if (!n.dev.empty()) l += " dev " + n.dev;
    l += " weight " + std::to_string(n.weight);
  }
  if (s.via) l += " via " + s.via->str();
  if (s.via6) l += via6 + s.via6->str();
  if (!s.dev.empty() || (!s.via && !s.via6 && s.nexthops.empty())) l += " dev " + s.dev;
  if (s.mtu) l += " mtu " + std::to_string(s.mtu);
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One thread: the machine is shared, and a crash must not depend on scheduling.
  static tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t lines = 0;
  for (size_t i = 0; i < size;) {
    ++lines;
    const size_t nl = text.find('\n', i);
    i = nl == std::string_view::npos ? size : nl + 1;
  }
  std::vector<RouteSpec> specs;
  try {
    specs = parse_route_text(text, "f");
  } catch (const CommandError& e) {
    const std::string what = e.what();
    FUZZ_CHECK(what.rfind("f:", 0) == 0, "an error without the file name: %s", what.c_str());
    const unsigned long n = std::strtoul(what.c_str() + 2, nullptr, 10);
    FUZZ_CHECK(n >= 1 && n <= lines, "an error naming line %lu of %zu: %s", n, lines, what.c_str());
    return 0;
  }
  std::string again;
  for (size_t i = 0; i < specs.size(); ++i) {
    const RouteSpec& s = specs[i];
    FUZZ_CHECK(i == 0 || route_prefix_less(specs[i - 1], s), "not sorted, or a prefix twice");
    // A rejecting type has neither; an ECMP route has them in its next hops.
    FUZZ_CHECK(
        s.via || s.via6 || !s.dev.empty() || s.type != RouteType::unicast || s.nexthops.size() >= 2,
        "a unicast route with neither gateway nor port");
    FUZZ_CHECK(s.type == RouteType::unicast || (!s.via && !s.via6 && s.dev.empty()),
               "a rejecting route with a gateway or port");
    FUZZ_CHECK(s.mtu == 0 || s.mtu >= (s.family == 6 ? 1280 : 68));
    FUZZ_CHECK(s.line >= 1 && s.line <= lines, "route from line %u of %zu", s.line, lines);
    if (s.family == 4) {
      FUZZ_CHECK((s.prefix.addr.v & ~prefix_mask(s.prefix.len)) == 0 && s.prefix.len <= 32);
      // An IPv6 gateway (RFC 5549) is the only IPv6 field an IPv4 route may have.
      FUZZ_CHECK(s.prefix6 == Prefix6{}, "an IPv4 route with an IPv6 prefix");
      FUZZ_CHECK(!(s.via && s.via6), "an IPv4 route with two gateways");
    } else {
      FUZZ_CHECK(s.family == 6, "family %u", unsigned(s.family));
      FUZZ_CHECK(ipv6_mask(s.prefix6.addr, s.prefix6.len) == s.prefix6.addr &&
                 s.prefix6.len <= 128);
      FUZZ_CHECK(!s.via && s.prefix == Prefix4{}, "an IPv6 route with IPv4 fields");
    }
    FUZZ_CHECK(!s.via6 || !s.via6->is_link_local() || !s.dev.empty(),
               "a link-local gateway without a port");
    again += line_of(s) + "\n";
  }
  std::vector<RouteSpec> back;
  try {
    back = parse_route_text(again, "g");
  } catch (const CommandError& e) {
    FUZZ_CHECK(false, "the routes written back are refused: %s", e.what());
  }
  FUZZ_CHECK(back.size() == specs.size());
  for (size_t i = 0; i < back.size(); ++i)
    FUZZ_CHECK(back[i].family == specs[i].family && back[i].prefix == specs[i].prefix &&
                   back[i].via == specs[i].via && back[i].prefix6 == specs[i].prefix6 &&
                   back[i].via6 == specs[i].via6 && back[i].dev == specs[i].dev &&
                   back[i].mtu == specs[i].mtu && back[i].type == specs[i].type &&
                   back[i].nexthops.size() == specs[i].nexthops.size(),
               "route %zu changed when written back: %s", i, line_of(specs[i]).c_str());
  return 0;
}
