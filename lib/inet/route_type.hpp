// inet/route_type: the route types of ip-route(8) that routerd has, for either family.
// Names parse and print exactly as iproute2 spells them; unicast is the default type.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace routerd {

// What a route does with the packets it matches (ip-route(8) TYPE, Linux's RTN_*).
//   unicast      forwarded via a gateway or on a link (the ordinary route)
//   blackhole    dropped silently, no ICMP (RTN_BLACKHOLE)
//   prohibit     dropped, ICMP Communication Administratively Prohibited (RTN_PROHIBIT)
//   unreachable  dropped, ICMP Host Unreachable / ICMPv6 No Route (RTN_UNREACHABLE)
// The last three have neither gateway nor port: they reject.
enum class RouteType : uint8_t { unicast, blackhole, prohibit, unreachable };

constexpr std::string_view route_type_name(RouteType t) {
  switch (t) {
    case RouteType::unicast:
      return "unicast";
    case RouteType::blackhole:
      return "blackhole";
    case RouteType::prohibit:
      return "prohibit";
    case RouteType::unreachable:
      return "unreachable";
  }
  return "?";
}

constexpr std::optional<RouteType> parse_route_type(std::string_view s) {
  for (RouteType t :
       {RouteType::unicast, RouteType::blackhole, RouteType::prohibit, RouteType::unreachable})
    if (s == route_type_name(t)) return t;
  return std::nullopt;
}

// For error messages: every name parse_route_type() takes.
constexpr std::string_view kRouteTypeNames = "unicast, blackhole, prohibit, unreachable";

// "a blackhole route", "an unreachable route": for messages.
constexpr std::string_view route_type_article(RouteType t) {
  return t == RouteType::unreachable ? "an" : "a";
}

constexpr bool route_type_rejects(RouteType t) {
  return t != RouteType::unicast;
}

}  // namespace routerd
