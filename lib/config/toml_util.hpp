// Private to the config module: file reading and TOML parsing with errors in the module's
// one-line "<file>:<line>:<col>: <problem>" format, shared by config.cpp and preset.cpp.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <string_view>

namespace routerd::config_detail {
std::string read_text_file(const std::string& path);
toml::table parse_toml(const std::string& text, const std::string& path);
// Control characters escaped, so user text cannot split an error over two lines.
std::string printable(std::string_view s);
}  // namespace routerd::config_detail
