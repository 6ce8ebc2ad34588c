// api/line_io: one JSON line each way on a stream socket, with a deadline for the whole line
// and a size limit the caller chooses. A signal (net_tap signals the process for every packet
// it receives) never fails a call; a peer that dribbles bytes or stops reading cannot hold the
// caller past its deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace routerd {

enum class ReadResult {
  line,       // a whole line (or the bytes before EOF)
  closed,     // EOF before any byte
  timed_out,  // the deadline passed before the line was complete
  too_large,  // more than max_bytes without a newline; `out` holds what was read
  failed,     // a socket error
};

// Reads until a newline (returned without it) or EOF, appending to `out` (which may already
// hold the start of the line, from an earlier call that returned too_large).
ReadResult read_line(int fd, std::string& out, int timeout_ms, size_t max_bytes);

// Sends all of s; false on error, when the peer takes nothing for stall_ms, or when the
// deadline (if given) passes first.
bool write_all(
    int fd, std::string_view s, int stall_ms,
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

}  // namespace routerd
