// rcu/reclaimer: deferred destruction, owned by the control thread (never the fast path).
// retire() queues a destructor behind a grace period; poll() runs those whose grace period
// has ended, in retirement order.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "qsbr.hpp"

namespace routerd {

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
