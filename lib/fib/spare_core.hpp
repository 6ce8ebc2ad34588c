// spare_core: lends the FIB writer another core for one job at a time, when one is idle.
// start() either runs the job there and returns true, or runs nothing and returns false.
#pragma once

#include <functional>
#include <thread>

namespace routerd {

// Why: filling a second copy of a full table is as long as filling the first, and at
// startup the worker cores sit idle while the control thread does both in turn.
class SpareCore {
 public:
  virtual ~SpareCore() = default;
  // Starts job elsewhere (true), or returns false at once without running it. The job must
  // not throw.
  virtual bool start(std::function<void()> job) = 0;
  // Whether start() would take a job now: a caller asks before preparing one that costs.
  virtual bool available() const = 0;
  // After a true start(): returns once the job has returned.
  virtual void wait() = 0;
};

// An EAL worker lcore that waits for work: one before the workers are launched, or one no
// worker uses. Called from the main lcore only (DPDK's launch rule); elsewhere it refuses.
class IdleLcore final : public SpareCore {
 public:
  bool start(std::function<void()> job) override;
  bool available() const override;
  void wait() override;

 private:
  static int run(void* self);
  std::function<void()> job_;
  unsigned lcore_ = 0;
  bool busy_ = false;
};

// A plain thread: for tests and tools that have no idle lcore.
class SpareThread final : public SpareCore {
 public:
  ~SpareThread() override { wait(); }
  bool start(std::function<void()> job) override {
    if (t_.joinable()) return false;
    t_ = std::thread(std::move(job));
    return true;
  }
  bool available() const override { return !t_.joinable(); }
  void wait() override {
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread t_;
};

}  // namespace routerd
