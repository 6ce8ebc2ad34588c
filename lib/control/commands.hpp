// control/commands.hpp: what the routerctl handlers (cmd_*.cpp) share. Internal to lib/control.
// A refused command throws CommandError("VERB: why") before it has changed anything.
#pragma once

#include <string>

#include "command.hpp"

namespace routerd {

[[noreturn]] inline void refuse(const std::string& cmd, const std::string& why) {
  throw CommandError(cmd + ": " + why);
}

}  // namespace routerd
