// doorbell: wakes the control thread when it sleeps. Workers ring it after punting, callers
// after queueing a command; a ring costs a fenced load, and a write(2) only when the control
// thread has announced that it is going to sleep (so at most one per sleep).
#pragma once

#include <atomic>
#include <cstdint>

namespace routerd {

class Doorbell {
 public:
  Doorbell();  // throws std::system_error when no eventfd can be made
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  // Any thread, after making work visible (a ring enqueue, a queue push).
  void ring() noexcept {
    // Orders the work before the check; the sleeper orders its announcement before its last
    // look for work. One of the two sees the other (Dekker), so no wake-up is lost.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (asleep_.load(std::memory_order_relaxed) && asleep_.exchange(false)) kick();
  }

  // The control thread: prepare(), look for work once more (cancel() if there is some), then
  // wait(). wait() returns when rung, after timeout_ms, or on a signal.
  void prepare() noexcept {
    asleep_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  void cancel() noexcept { asleep_.store(false, std::memory_order_relaxed); }
  void wait(int timeout_ms) noexcept;

  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  void kick() noexcept;

  int fd_ = -1;
  std::atomic<bool> asleep_{false};
  std::atomic<uint64_t> wakeups_{0};  // kicks sent: how often a sleeping control thread was woken
};

}  // namespace routerd
