// api/routefile: route files, one `route add` (without the verb) per line, either family.
// Parsed in parallel (TBB) and sorted by prefix, IPv4 before IPv6; the first bad line is
// reported with its number and the file is then rejected as a whole.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"

namespace routerd {

// Blank lines and lines starting with '#' are skipped; CRLF line ends are accepted. Throws
// CommandError("<name>:<line>: <problem>"), also for a prefix given on two lines.
std::vector<RouteSpec> parse_route_text(std::string_view text, const std::string& name);
// Only a regular file of at most kMaxRouteFileBytes; errors quote at most a short excerpt of
// a line (the file may be one the caller could not read itself). Read piece_bytes at a time
// (tests pass small pieces), and so a line longer than that is refused.
constexpr size_t kMaxRouteFileBytes = size_t(256) << 20;  // a full table is about 20 MiB
constexpr size_t kRouteFilePieceBytes = size_t(4) << 20;  // the longest valid line is ~6 KiB
std::vector<RouteSpec> parse_route_file(const std::string& path,
                                        size_t piece_bytes = kRouteFilePieceBytes);

}  // namespace routerd
