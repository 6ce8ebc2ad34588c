#include "shared_state.hpp"

namespace routerd {

SharedState::SharedState(const DataplaneParams& p, uint32_t nworkers, uint32_t next_hops,
                         const Fib::Params& fp, const Fib6::Params& fp6, rte_ring* punt_ring,
                         rte_ring* ctl_tx_ring)
    : Published(nworkers, next_hops, fp, fp6),
      params(p),
      workers(nworkers),
      punt(punt_ring),
      ctl_tx(ctl_tx_ring),
      stats(std::make_unique<LcoreStats[]>(nworkers + 1)) {
  for (uint32_t i = 0; i <= nworkers; ++i)
    stats[i].via_group = std::make_unique<Counter[]>(next_hops);
}

}  // namespace routerd
