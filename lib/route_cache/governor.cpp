#include "governor.hpp"

#include <algorithm>

namespace routerd {

void RouteCacheGovernor::next_mode() {
  if (mode_ != Mode::probe) {
    mode_ = Mode::probe;
    left_ = kProbeBursts;
    probe_i_ = 0;
    probe_cycles_[0] = probe_cycles_[1] = probe_pkts_[0] = probe_pkts_[1] = probe_hits_ = 0;
    return;
  }
  // Cycles per packet with the cache (arm 0) against without (arm 1), cross-multiplied.
  const bool hits_enough = probe_hits_ * 2 >= probe_pkts_[0];
  const bool faster = probe_pkts_[0] && probe_pkts_[1] &&
                      probe_cycles_[0] * probe_pkts_[1] < probe_cycles_[1] * probe_pkts_[0];
  mode_ = hits_enough && faster ? Mode::on : Mode::off;
  (mode_ == Mode::on ? st_.runs_on : st_.runs_off).add();
  if (mode_ == Mode::on) {
    run_shift_ = 0;
    left_ = kRunBursts;
  } else {
    left_ = kRunBursts << run_shift_;
    run_shift_ = std::min(run_shift_ + 1, kMaxRunShift);
  }
}

}  // namespace routerd
