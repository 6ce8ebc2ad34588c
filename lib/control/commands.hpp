// control/commands.hpp: what the routerctl handlers (cmd_*.cpp) share. Internal to lib/control.
// A refused command throws CommandError("VERB: why") before it has changed anything.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "command.hpp"
#include "rib.hpp"

namespace routerd {

// Route counts of one family's RIB: total, connected, static, per prefix length.
template <class A>
nlohmann::json rib_summary(const BasicRib<A>& rib);

[[noreturn]] inline void refuse(const std::string& cmd, const std::string& why) {
  throw CommandError(cmd + ": " + why);
}

}  // namespace routerd
