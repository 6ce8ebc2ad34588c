// routerctl text output: turns the daemon's JSON answers into iproute2-style lines.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace routerd {

// argv: the command words as typed; data: the "data" member of the daemon's answer.
std::string format_text(const std::vector<std::string>& argv, const nlohmann::json& data);

}  // namespace routerd
