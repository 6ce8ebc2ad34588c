// doorbell: wakes the control thread when it sleeps. Workers ring it after punting, callers
// after queueing a command; a ring costs one atomic exchange, and a write(2) only when the
// control thread has announced that it is going to sleep (so at most one per sleep).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace routerd {

class Doorbell {
 public:
  Doorbell();  // throws std::system_error when no eventfd can be made
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  // Any thread, after making work visible (a ring enqueue, a queue push).
  void ring() noexcept {
    // Both sides exchange the same flag (acq_rel), so their exchanges are ordered: either
    // ours comes second and sees the announcement (we kick), or the sleeper's comes second,
    // reads our write and so sees the work we published before it. No wake-up is lost, and
    // no fence is needed (which ThreadSanitizer could not follow).
    if (asleep_.exchange(false, std::memory_order_acq_rel)) kick();
  }

  // The control thread: prepare(), look for work once more (cancel() if there is some), then
  // wait(). wait() returns when rung, after timeout_ms, or on a signal.
  void prepare() noexcept { asleep_.exchange(true, std::memory_order_acq_rel); }
  void cancel() noexcept { asleep_.store(false, std::memory_order_relaxed); }
  void wait(int timeout_ms) noexcept;
  // The same, also woken when one of `fds` is readable (the kernel interfaces' TAPs).
  void wait(int timeout_ms, const std::vector<int>& fds) noexcept;
  static constexpr size_t kMaxExtraFds = 64;  // beyond, the timeout still polls them

  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  void kick() noexcept;

  int fd_ = -1;
  std::atomic<bool> asleep_{false};
  std::atomic<uint64_t> wakeups_{0};  // kicks sent: how often a sleeping control thread was woken
};

}  // namespace routerd
