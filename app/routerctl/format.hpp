// routerctl text output: turns the daemon's JSON answers into iproute2-style lines.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "command.hpp"

namespace routerd {

// verb: what parse_request() made of the command; data: the "data" member of the daemon's
// answer to it.
std::string format_text(Verb verb, const nlohmann::json& data);

}  // namespace routerd
