// api/line_io: one JSON line each way on a stream socket, with a deadline for the whole line.
// A signal (net_tap signals the process for every packet it receives) never fails a call;
// a peer that dribbles bytes or stops reading cannot hold the caller past its deadline.
#pragma once

#include <string>

namespace routerd {

// Reads until a newline (returned without it), EOF after some bytes, or failure: the size
// limit (1 MiB), an error, or timeout_ms passing before the line is complete.
bool read_line(int fd, std::string& out, int timeout_ms);

// Sends all of s; false on error or when the peer takes nothing for timeout_ms.
bool write_all(int fd, const std::string& s, int timeout_ms);

}  // namespace routerd
