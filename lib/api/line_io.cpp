#include "line_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace routerd {

namespace {

constexpr size_t kMaxRequest = 1 << 20;

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until the deadline, trying again after a signal with the time
// that is left. False when the deadline passed or poll failed.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, int(left));
    if (r > 0) return true;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace

bool read_line(int fd, std::string& out, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (out.find('\n') == std::string::npos) {
    if (!wait_for(fd, POLLIN, deadline)) return false;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return !out.empty();
    out.append(buf, size_t(n));
    if (out.size() > kMaxRequest) return false;
  }
  out.resize(out.find('\n'));
  return true;
}

bool write_all(int fd, const std::string& s, int timeout_ms) {
  // The limit is on a stall, not on the whole answer: a large `route show` to a client that
  // reads steadily but slowly still gets through.
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t off = 0;
  while (off < s.size()) {
    if (!wait_for(fd, POLLOUT, deadline)) return false;
    const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    off += size_t(n);
    deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  return true;
}

}  // namespace routerd
