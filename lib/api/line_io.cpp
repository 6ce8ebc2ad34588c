#include "line_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace routerd {

namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until the deadline, trying again after a signal with the time
// that is left. False when the deadline passed or poll failed.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, int(std::min<long long>(left, 1 << 30)));
    if (r > 0) return true;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace

ReadResult read_line(int fd, std::string& out, int timeout_ms, size_t max_bytes) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // Only new bytes are searched for the newline: a 100 MiB batch is scanned once.
  size_t scanned = 0;
  for (;;) {
    if (const size_t nl = out.find('\n', scanned); nl != std::string::npos) {
      out.resize(nl);
      return ReadResult::line;
    }
    scanned = out.size();
    if (out.size() >= max_bytes) return ReadResult::too_large;
    if (!wait_for(fd, POLLIN, deadline)) return ReadResult::timed_out;
    const size_t want = std::min<size_t>(max_bytes - out.size(), 64 << 10);
    out.resize(scanned + want);
    const ssize_t n = recv(fd, out.data() + scanned, want, MSG_DONTWAIT);
    out.resize(scanned + size_t(std::max<ssize_t>(n, 0)));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return ReadResult::failed;
    if (n == 0) return out.empty() ? ReadResult::closed : ReadResult::line;
  }
}

bool write_all(int fd, std::string_view s, int stall_ms, Clock::time_point deadline) {
  // The stall limit is on each wait, not on the whole answer: a large `route show` to a
  // client that reads steadily gets through; `deadline` bounds the whole.
  size_t off = 0;
  while (off < s.size()) {
    const auto stall = Clock::now() + std::chrono::milliseconds(stall_ms);
    if (!wait_for(fd, POLLOUT, std::min(stall, deadline))) return false;
    const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

}  // namespace routerd
