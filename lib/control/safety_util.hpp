// safety_util: what the safety tests (safety_test.cpp, safety6_test.cpp) share: the history
// of valid answers with the writer's version counter, and copying and judging what a reader
// saw. Test code only; the writer is one thread, readers only read.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "nexthop.hpp"

namespace routerd::testing {

// Every answer each test address could legitimately get, per version of what the control
// thread holds, one byte per address; and the counter that tells readers which versions
// were in force while they looked. seq 2v: version v is in force; 2v-1: the change to
// version v is being applied.
class AnswerHistory {
 public:
  AnswerHistory(size_t addrs, size_t max_versions)
      : naddr_(addrs), max_(max_versions), hist_((max_versions + 1) * addrs) {}

  size_t addrs() const { return naddr_; }
  uint64_t version() const { return version_; }
  // Room for `more` versions.
  bool room(size_t more) const { return version_ + more < max_; }

  // Writer: version 0's answers, before any reader starts.
  template <class Answer>
  void start(Answer&& answer) {
    for (size_t a = 0; a < naddr_; ++a) hist_[a] = answer(a);
  }
  // Writer: the next version's answers are published before seq says a change is under
  // way, so a reader never looks at a row the writer is still filling. Returns whether any
  // answer differs from the version before. Then the change, then end_change().
  template <class Answer>
  bool begin_change(Answer&& answer) {
    ++version_;
    bool differs = false;
    for (size_t a = 0; a < naddr_; ++a) {
      hist_[version_ * naddr_ + a] = answer(a);
      differs |= hist_[version_ * naddr_ + a] != hist_[(version_ - 1) * naddr_ + a];
    }
    seq_.store(2 * version_ - 1, std::memory_order_release);
    return differs;
  }
  void end_change() { seq_.store(2 * version_, std::memory_order_release); }

  // Reader: read before the generation and the lookups (s0) and after them (s1). The
  // answers were found through acquire loads (FIB copy, next-hop slot) sequenced before s1:
  // whatever change published them, s1 is at least its odd seq.
  uint64_t mark() const { return seq_.load(std::memory_order_acquire); }
  static bool overlapped(uint64_t s0, uint64_t s1) { return s0 != s1 || (s0 & 1); }
  // Whether answer `a` for address `addr` was valid in some version between the marks.
  bool valid(uint64_t s0, uint64_t s1, size_t addr, uint8_t a) const {
    for (uint64_t v = s0 / 2; v <= (s1 + 1) / 2; ++v)
      if (hist_[v * naddr_ + addr] == a) return true;
    return false;
  }
  // The answer of the newest version the marks allow, for failure messages.
  uint8_t newest(uint64_t s1, size_t addr) const { return hist_[(s1 + 1) / 2 * naddr_ + addr]; }

 private:
  size_t naddr_, max_;
  std::vector<uint8_t> hist_;
  uint64_t version_ = 0;  // writer only
  std::atomic<uint64_t> seq_{0};
};

// What a reader copied out of a state before its quiescent report.
struct Seen {
  uint8_t kind_byte, family;
  uint16_t port, mtu;
  uint32_t gateway;
  uint8_t gateway6[16];
  uint8_t l2[14];
};

inline Seen copy_state(const NextHopState* s) {
  Seen c{};
  std::memcpy(&c.kind_byte, &s->kind, 1);
  c.family = s->family;
  c.port = s->port;
  c.mtu = s->mtu;
  c.gateway = s->gateway.v;
  std::memcpy(c.gateway6, s->gateway6.b.data(), 16);
  std::memcpy(c.l2, s->l2, sizeof c.l2);
  return c;
}

// A state retire_free() filled with kPoisonByte.
inline bool poisoned(const Seen& c) {
  static constexpr uint8_t kPoison6[16] = {0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd,
                                           0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd};
  return c.kind_byte == kPoisonByte || c.family == kPoisonByte || c.port == 0xdddd ||
         c.gateway == 0xddddddddu || std::memcmp(c.gateway6, kPoison6, 16) == 0;
}

// Threads inherit the affinity EAL gave the test thread (-l 0): readers would all share
// core 0 with the control thread and interleave only at preemption, and the control thread
// would spin through whole scheduler slices waiting for a grace period from a reader queued
// behind it. Readers take the other cores.
inline void leave_control_core() {
  cpu_set_t others;
  CPU_ZERO(&others);
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = ncpu > 1 ? 1 : 0; c < ncpu && c < CPU_SETSIZE; ++c) CPU_SET(int(c), &others);
  pthread_setaffinity_np(pthread_self(), sizeof others, &others);
}

// Stops and joins reader threads whatever happens, so a failing REQUIRE cannot leave them
// running.
struct JoinOnExit {
  std::atomic<bool>& stop;
  std::vector<std::thread>& threads;
  JoinOnExit(std::atomic<bool>& s, std::vector<std::thread>& t) : stop(s), threads(t) {}
  JoinOnExit(const JoinOnExit&) = delete;
  JoinOnExit& operator=(const JoinOnExit&) = delete;
  ~JoinOnExit() {
    stop = true;
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

}  // namespace routerd::testing
