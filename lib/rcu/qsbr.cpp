#include "qsbr.hpp"
#include "reclaimer.hpp"

#include <rte_common.h>

#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

namespace routerd {

void Qsbr::Free::operator()(rte_rcu_qsbr* p) const {
  std::free(p);
}

Qsbr::Qsbr(uint32_t max_readers) : max_readers_(max_readers) {
  if (max_readers == 0) throw std::invalid_argument("Qsbr needs at least one reader slot");
  size_t sz = rte_rcu_qsbr_get_memsize(max_readers);
  // The variable is plain memory shared by threads of this process; it does not need DPDK
  // memory, which keeps it usable before EAL init and in unit tests.
  size_t rounded = RTE_ALIGN_CEIL(sz, RTE_CACHE_LINE_SIZE);
  auto* p = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, rounded));
  if (!p) throw std::bad_alloc();
  v_.reset(p);
  if (rte_rcu_qsbr_init(p, max_readers) != 0) throw std::runtime_error("rte_rcu_qsbr_init failed");
}

void Qsbr::register_reader(uint32_t id) {
  if (rte_rcu_qsbr_thread_register(v_.get(), id) != 0)
    throw std::runtime_error("rte_rcu_qsbr_thread_register(" + std::to_string(id) + ") failed");
}

void Qsbr::unregister_reader(uint32_t id) {
  rte_rcu_qsbr_thread_unregister(v_.get(), id);
}

void Reclaimer::retire(std::function<void()> destroy) {
  items_.push_back(Item{qsbr_.start(), std::move(destroy)});
}

size_t Reclaimer::poll() {
  size_t n = 0;
  // Tokens grow monotonically, so the first unfinished item ends the scan.
  while (!items_.empty() && qsbr_.check(items_.front().token)) {
    auto destroy = std::move(items_.front().destroy);
    items_.pop_front();
    destroy();
    ++n;
  }
  reclaimed_ += n;
  return n;
}

void Reclaimer::drain() {
  if (items_.empty()) return;
  qsbr_.synchronize();
  while (!items_.empty()) {
    auto destroy = std::move(items_.front().destroy);
    items_.pop_front();
    destroy();
    ++reclaimed_;
  }
}

}  // namespace routerd
