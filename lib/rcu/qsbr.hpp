// rcu/qsbr: the quiescent-state variable workers report to and the control thread waits on.
// Readers report once per poll loop, with no pointer into shared state held across the report;
// a writer's token is past once every reader that was online at start() has reported.
#pragma once

#include <rte_rcu_qsbr.h>

#include <cstdint>
#include <memory>

namespace routerd {

// Owns an rte_rcu_qsbr variable. Reader calls are inline and safe from worker lcores;
// start/check/synchronize are for the single writer.
class Qsbr {
 public:
  explicit Qsbr(uint32_t max_readers);
  Qsbr(const Qsbr&) = delete;
  Qsbr& operator=(const Qsbr&) = delete;

  uint32_t max_readers() const { return max_readers_; }
  void register_reader(uint32_t id);
  void unregister_reader(uint32_t id);

  // Reader side.
  void online(uint32_t id) { rte_rcu_qsbr_thread_online(v_.get(), id); }
  void offline(uint32_t id) { rte_rcu_qsbr_thread_offline(v_.get(), id); }
  void quiescent(uint32_t id) { rte_rcu_qsbr_quiescent(v_.get(), id); }

  // Writer side: a token for "now"; check() is true once every reader that was online at
  // start() has since reported a quiescent state or gone offline.
  uint64_t start() { return rte_rcu_qsbr_start(v_.get()); }
  bool check(uint64_t token) { return rte_rcu_qsbr_check(v_.get(), token, false) == 1; }
  // What rte_rcu_qsbr_synchronize does, inline: ThreadSanitizer then sees its acquire loads
  // (the library copy is not instrumented, so every free after it looked like a race).
  void synchronize() { rte_rcu_qsbr_check(v_.get(), rte_rcu_qsbr_start(v_.get()), true); }

  rte_rcu_qsbr* get() { return v_.get(); }

 private:
  struct Free {
    void operator()(rte_rcu_qsbr* p) const;
  };
  uint32_t max_readers_;
  std::unique_ptr<rte_rcu_qsbr, Free> v_;
};

}  // namespace routerd
