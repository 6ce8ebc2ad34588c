// Test-only: runs a process out of file descriptors (a lowered RLIMIT_NOFILE filled with
// dups), and measures the CPU the process burns meanwhile, for the accept-loop back-off tests.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

namespace routerd::testing {

class FdExhaustion {
 public:
  // Lowers the limit to `limit` and dups `model` until EMFILE; `exhausted()` says it got there.
  FdExhaustion(int model, rlim_t limit) {
    ok_ = getrlimit(RLIMIT_NOFILE, &old_) == 0;
    rlimit low = old_;
    low.rlim_cur = limit;
    ok_ = ok_ && setrlimit(RLIMIT_NOFILE, &low) == 0;
    for (int fd; ok_ && (fd = dup(model)) >= 0;) fds_.push_back(fd);
    exhausted_ = ok_ && errno == EMFILE;
  }
  ~FdExhaustion() { release(); }
  FdExhaustion(const FdExhaustion&) = delete;
  FdExhaustion& operator=(const FdExhaustion&) = delete;

  bool exhausted() const { return exhausted_; }
  // Descriptors back and the limit restored; true when the limit could be restored.
  bool release() {
    for (int fd : fds_) close(fd);
    fds_.clear();
    if (!ok_) return true;
    ok_ = false;
    return setrlimit(RLIMIT_NOFILE, &old_) == 0;
  }

 private:
  rlimit old_{};
  bool ok_ = false, exhausted_ = false;
  std::vector<int> fds_;
};

// Microseconds of CPU (user + system, all threads) the process uses while sleeping `d`.
inline long cpu_us_while_sleeping(std::chrono::milliseconds d) {
  auto cpu_us = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000L + u.ru_utime.tv_usec +
           u.ru_stime.tv_usec;
  };
  const long before = cpu_us();
  std::this_thread::sleep_for(d);
  return cpu_us() - before;
}

}  // namespace routerd::testing
