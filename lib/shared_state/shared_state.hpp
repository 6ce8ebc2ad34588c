// shared_state: what workers read and only the control thread writes (not datapath code).
// Everything reachable from here is either published (lib/publish: immutable once seen, freed
// after a grace period), a ring with one producer side per thread, or a single-writer counter
// block.
#pragma once

#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "doorbell.hpp"
#include "flow_hash.hpp"
#include "published.hpp"
#include "route_cache.hpp"
#include "stats.hpp"

struct rte_mempool;
struct rte_mbuf;  // at global scope: the members below must not declare routerd::rte_mbuf

namespace routerd {

// A packet the control thread wants sent: worker 0 transmits it on its own TX queue, so
// ports need no queue for the control thread (some devices, e.g. net_pcap, have one).
struct TxEntry {
  struct rte_mbuf* m;
  uint16_t port;
  uint16_t pad[3];
};
static_assert(sizeof(TxEntry) == 16);

// A packet handed from a worker to the control thread.
struct PuntEntry {
  struct rte_mbuf* m;
  uint32_t aux;    // frag_needed: MTU; param_problem: pointer
  uint8_t reason;  // Punt
  uint8_t pad;
  uint16_t in_port;
};
static_assert(sizeof(PuntEntry) == 16);

struct DataplaneParams {
  uint16_t burst = 32;
  uint32_t idle_sleep_us = 0;
  bool drop_martians = true;
  bool send_redirects = true;
  bool forward_directed_broadcast = false;  // RFC 2644: off
  bool send_redirects6 = true;              // RFC 4861 8.2
  uint32_t icmp_rate = 1000;                // the control thread's bucket; workers pre-filter at 2x
  uint32_t icmp_burst = 50;
  bool route_cache = true;
  uint32_t route_cache_sets = 4096;     // 4 ways each: 16,384 destinations, 256 KiB per worker
  uint32_t route_cache6_sets = 4096;    // 3 ways each: 12,288 destinations, 256 KiB per worker
  RouteCacheKeys route_cache_keys;      // hash secrets
  bool tunnel_outer_path_cache = true;  // false: tunnels resolve the outer path per packet
  // ECMP: the flow hash's secret (random at startup unless configured), and whether a NIC's
  // RSS hash stands in for it when the port delivers one.
  ecmp::FlowKey flow_key{0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full};
  bool ecmp_use_rss = true;
};

// The published part (rcu, fib, nexthops, generation, ifs) is a base so that workers name
// it as before; lib/publish is its only writer.
struct SharedState : Published {
  SharedState(const DataplaneParams& p, uint32_t workers, uint32_t next_hops, const Fib::Params& fp,
              const Fib6::Params& fp6, rte_ring* punt_ring, rte_ring* ctl_tx_ring);

  DataplaneParams params;
  uint32_t workers;
  rte_ring* punt;               // workers -> control, MP/SC, owned by the caller
  rte_ring* ctl_tx;             // control -> worker 0, SP/SC, owned by the caller
  rte_mempool* pool = nullptr;  // packet buffers (fragments are allocated here), not owned
  std::atomic<bool> stop{false};
  Doorbell doorbell;  // workers ring it after punting: the control thread sleeps when idle
  // Index: worker index, then one block for the control thread.
  std::unique_ptr<LcoreStats[]> stats;
  LcoreStats& control_stats() { return stats[workers]; }
};

}  // namespace routerd
