#include "spare_core.hpp"

#include <rte_launch.h>
#include <rte_lcore.h>

namespace routerd {

bool IdleLcore::start(std::function<void()> job) {
  if (busy_ || rte_lcore_id() != rte_get_main_lcore()) return false;
  unsigned l;
  RTE_LCORE_FOREACH_WORKER(l) {
    if (rte_eal_get_lcore_state(l) != WAIT) continue;
    job_ = std::move(job);
    if (rte_eal_remote_launch(&IdleLcore::run, this, l) == 0) {
      lcore_ = l;
      busy_ = true;
      return true;
    }
    job = std::move(job_);  // refused after all: offer it to the next lcore
  }
  return false;
}

bool IdleLcore::available() const {
  if (busy_ || rte_lcore_id() != rte_get_main_lcore()) return false;
  unsigned l;
  RTE_LCORE_FOREACH_WORKER(l) {
    if (rte_eal_get_lcore_state(l) == WAIT) return true;
  }
  return false;
}

void IdleLcore::wait() {
  if (!busy_) return;
  rte_eal_wait_lcore(lcore_);
  busy_ = false;
  job_ = nullptr;
}

int IdleLcore::run(void* self) {
  static_cast<IdleLcore*>(self)->job_();
  return 0;
}

}  // namespace routerd
