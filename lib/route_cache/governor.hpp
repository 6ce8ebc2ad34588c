// route_cache/governor: decides, burst by burst and by measurement, whether a worker's route
// cache pays. Owned by one worker and used only by it: no locks, no allocation, the TSC read
// only while probing; thresholds are constants.
#pragma once

#include <rte_cycles.h>

#include <cstdint>

#include "compiler.hpp"
#include "route_cache.hpp"
#include "stats.hpp"

namespace routerd {

// A DIR-24-8 lookup whose tbl24 lines are in the CPU cache is already cheap, and then the
// route cache can lose. So for kProbeBursts bursts the governor alternates between looking
// up with and without it, timing the lookup stage, then uses the faster way for kRunBursts
// bursts and probes again. A hit rate under one half (random destinations) means off
// without comparing times, and is known after kEarlyBursts. Each "off" in a row doubles the
// next run, up to kMaxRunShift doublings, so a cache that keeps losing costs ever less
// probing; an "on" resets it.
class RouteCacheGovernor {
 public:
  static constexpr uint32_t kProbeBursts = 512;
  static constexpr uint32_t kEarlyBursts = 64;
  static constexpr uint32_t kRunBursts = 16384;
  static constexpr uint32_t kMaxRunShift = 3;
  enum class Mode : uint8_t { probe, on, off };

  // enabled: the worker has a route cache. Without one every burst is looked up without it
  // and nothing is counted. st: that cache's counters in the worker's LcoreStats.
  RouteCacheGovernor(bool enabled, CacheCounters& st) : enabled_(enabled), st_(st) {}

  Mode mode() const { return mode_; }
  // While on, the FIB is read only for the cache's misses, so prefetching FIB lines for
  // every destination would be wasted.
  bool on() const { return enabled_ && mode_ == Mode::on; }

  // What the next begin() will say, without starting anything: so that the burst's first
  // stage can fetch what that lookup will read (the cache sets, or the FIB's lines) and each
  // probe arm is timed with its own memory fetched ahead alike.
  bool next_uses_cache() const {
    return enabled_ && (mode_ == Mode::on || (mode_ == Mode::probe && (probe_i_ & 1) == 0));
  }

  // While probing, the TSC now, for a begin() after the burst's first stage: when that stage
  // does one arm's work (hashing and fetching the cache sets for the cache arm), the probe
  // must time it too. Zero when not probing (no TSC read).
  ROUTERD_ALWAYS_INLINE uint64_t stamp() const {
    return enabled_ && mode_ == Mode::probe ? rte_rdtsc() : 0;
  }
  // Before a governed lookup: whether this burst looks up with the cache. A probe arm is
  // timed from `since` (a stamp()) if given, else from here.
  ROUTERD_ALWAYS_INLINE bool begin(uint64_t since = 0) {
    if (!enabled_) return false;
    if (mode_ != Mode::probe) return mode_ == Mode::on;
    arm_ = probe_i_++ & 1;
    tsc0_ = since ? since : rte_rdtsc();
    return arm_ == 0;
  }
  // After it: k destinations looked up, t what the cache did (zero when begin() said no).
  ROUTERD_ALWAYS_INLINE void end(uint16_t k, const CacheTally& t) {
    end(k, t, enabled_ && mode_ == Mode::probe ? rte_rdtsc() - tsc0_ : 0);
  }
  // The same with the TSC at the end given, for tests of begin(since) with a clock of their own.
  void end_at(uint16_t k, const CacheTally& t, uint64_t now) {
    end(k, t, enabled_ && mode_ == Mode::probe ? now - tsc0_ : 0);
  }
  // The same with the lookup's cost given in cycles, so tests can drive the governor with
  // timings of their choosing.
  ROUTERD_ALWAYS_INLINE void end(uint16_t k, const CacheTally& t, uint64_t cycles) {
    if (!enabled_) return;
    const bool with = mode_ == Mode::on || (mode_ == Mode::probe && arm_ == 0);
    if (mode_ == Mode::probe) {
      probe_cycles_[arm_] += cycles;
      probe_pkts_[arm_] += k;
      probe_hits_ += t.hits;
    }
    if (with) {
      st_.hits.add(t.hits);
      st_.misses.add(t.misses);
      st_.stale.add(t.stale);
    } else {
      st_.bypassed_bursts.add();
    }
    // Random destinations show after a few bursts: no need to probe the whole length.
    if (mode_ == Mode::probe && probe_i_ == kEarlyBursts && probe_hits_ * 2 < probe_pkts_[0])
      left_ = 1;
    if (--left_ == 0) next_mode();
  }
  // A burst the worker looked up without asking (one destination: a single FIB lookup, which
  // the cache cannot improve on).
  ROUTERD_ALWAYS_INLINE void bypassed() {
    if (enabled_) st_.bypassed_bursts.add();
  }

 private:
  void next_mode();

  bool enabled_;
  CacheCounters& st_;
  Mode mode_ = Mode::probe;
  uint32_t left_ = kProbeBursts;  // bursts until the mode is reconsidered
  uint32_t probe_i_ = 0;
  uint32_t arm_ = 0;  // this burst's probe arm: 0 with the cache, 1 without
  uint64_t tsc0_ = 0;
  uint64_t probe_cycles_[2] = {}, probe_pkts_[2] = {};  // by arm
  uint64_t probe_hits_ = 0;
  uint32_t run_shift_ = 0;  // doublings of the next "off" run
};

}  // namespace routerd
