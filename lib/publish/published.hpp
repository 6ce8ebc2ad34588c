// publish/published: the reader side of everything the publisher publishes, in one place.
// Workers read these without locks; only Publisher (publisher.hpp) writes them, and every
// object reachable from here is immutable once published and freed after a grace period.
#pragma once

#include <atomic>
#include <cstdint>

#include "fib.hpp"
#include "inet.hpp"
#include "nexthop.hpp"
#include "qsbr.hpp"
#include "stats.hpp"

namespace routerd {

// The 64-bit generation: bumped once per commit that published anything, so a reader that
// saw generation g before a lookup knows whether anything changed since (route caches).
// 64 bits: at a million bumps per second it wraps after half a million years.
struct alignas(64) Generation {
  std::atomic<uint64_t> value{1};
  uint64_t read() const { return value.load(std::memory_order_acquire); }

 private:
  friend class Publisher;  // the only place the generation is bumped
  uint64_t bump() { return value.fetch_add(1, std::memory_order_acq_rel) + 1; }
};

// What the fast path needs to know about an input port. Published as a whole; replaced
// (never edited) when addresses change.
struct PortFastInfo {
  Mac mac;
  bool enabled = false;
  uint8_t nbcast = 0;
  // Subnet broadcast addresses of this port (martian sources); unused entries are 0, which
  // the fast path may compare against harmlessly (0/8 sources are martian anyway).
  uint32_t bcast[8] = {};
};

struct IfSnapshot {
  PortFastInfo ports[kMaxPorts];
};

// Everything a worker reads that the control thread publishes.
struct Published {
  Published(uint32_t readers, uint32_t next_hops, const Fib::Params& fp)
      : rcu(readers), fib("routerd_fib", fp), nexthops(next_hops) {}

  Qsbr rcu;  // one reader slot per worker
  Fib fib;
  NextHopTable nexthops;
  Generation generation;
  std::atomic<const IfSnapshot*> ifs{nullptr};
};

}  // namespace routerd
