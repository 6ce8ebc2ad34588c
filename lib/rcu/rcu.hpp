// rcu: quiescent-state based reclamation for objects workers read without locks.
// Readers report a quiescent state once per poll loop; the control thread frees a retired
// object only after every online reader has reported since the object was retired.
#pragma once

#include <rte_rcu_qsbr.h>

#include <cstdint>
#include <deque>
#include <functional>
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

// Deferred destruction, owned by the control thread. retire() queues a destructor behind a
// grace period; poll() runs those whose grace period has ended, in retirement order.
class Reclaimer {
 public:
  explicit Reclaimer(Qsbr& qsbr) : qsbr_(qsbr) {}
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;
  ~Reclaimer() { drain(); }

  void retire(std::function<void()> destroy);
  size_t poll();  // non-blocking; returns how many ran
  void drain();   // waits for a grace period and runs everything
  size_t pending() const { return items_.size(); }
  uint64_t reclaimed() const { return reclaimed_; }

 private:
  struct Item {
    uint64_t token;
    std::function<void()> destroy;
  };
  Qsbr& qsbr_;
  std::deque<Item> items_;
  uint64_t reclaimed_ = 0;
};

}  // namespace routerd
