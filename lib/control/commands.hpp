// control/commands.hpp: what the routerctl handlers (cmd_*.cpp) share. Internal to lib/control.
// A refused command throws CommandError("VERB: why") before it has changed anything.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "command.hpp"
#include "port.hpp"
#include "rib.hpp"

namespace routerd {

// Route counts of one family's RIB: total, connected, static, per prefix length.
template <class A>
nlohmann::json rib_summary(const BasicRib<A>& rib);

[[noreturn]] inline void refuse(const std::string& cmd, const std::string& why) {
  throw CommandError(cmd + ": " + why);
}

// route show/get's JSON of a route of either family (cmd_route.cpp); dev: its port's name;
// origin: where a daemon's route came from ("fpm", "kernel").
template <class R>
nlohmann::json route_json_common(const R& rt, const std::string& dev, const char* origin);

// route del TYPE PREFIX: refuses the delete when the type given is not the route's `have`.
void check_del_type(const std::string& where, const Request& r, RouteType have,
                    const std::string& prefix);

// How a port receives multicast, for link show and stats (cmd_link.cpp): {"mode", "groups",
// "reason" when the mode is not the exact filter}; null without a device.
nlohmann::json rx_multicast_json(const Port* port);
// What RSS hashes on and what ECMP takes from it, for link show and stats (cmd_link.cpp):
// {"types": the device's hash types by name ([] without RSS), "ecmp": the families (4, 6)
// whose hash ECMP takes instead of its own}; null without a device (a tunnel).
nlohmann::json rss_json(const Port* port, uint8_t ecmp_families);

}  // namespace routerd
