#include "doorbell.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <iterator>
#include <system_error>

namespace routerd {

Doorbell::Doorbell() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Doorbell::~Doorbell() {
  close(fd_);
}

void Doorbell::kick() noexcept {
  wakeups_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the sleeper will wake anyway.
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

void Doorbell::wait(int timeout_ms) noexcept {
  wait(timeout_ms, {});
}

void Doorbell::wait(int timeout_ms, const std::vector<int>& fds) noexcept {
  pollfd p[1 + kMaxExtraFds];
  p[0] = pollfd{fd_, POLLIN, 0};
  nfds_t used = 1;
  for (int fd : fds)
    if (used < std::size(p)) p[used++] = pollfd{fd, POLLIN, 0};
  poll(p, used, timeout_ms);  // EINTR is a wake-up like any other: the caller polls again
  uint64_t v;
  [[maybe_unused]] ssize_t n = read(fd_, &v, sizeof v);  // EAGAIN: nothing to drain
  asleep_.store(false, std::memory_order_relaxed);
}

}  // namespace routerd
