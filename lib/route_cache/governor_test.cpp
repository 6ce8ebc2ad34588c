// RouteCacheGovernor driven with synthetic timings: when it turns the cache on, when it
// steps aside, how long each run lasts, and what it counts.
#include "governor.hpp"

#include <catch2/catch.hpp>

#include <memory>

using namespace routerd;
using Mode = RouteCacheGovernor::Mode;

namespace {

constexpr uint16_t kK = 32;  // destinations per burst

// What the traffic makes of the cache: hits per burst with it, and the lookup's cycles with
// and without it.
struct Traffic {
  uint32_t hits;
  uint64_t with, without;
};
constexpr Traffic kCachePays{kK, 100, 200};
constexpr Traffic kCacheLoses{kK, 300, 200};

// One governed burst; true when it looked up with the cache.
bool burst(RouteCacheGovernor& g, const Traffic& tr) {
  const bool use = g.begin();
  CacheTally t;
  if (use) {
    t.hits = tr.hits;
    t.misses = kK - tr.hits;
    t.stale = 1;
  }
  g.end(kK, t, use ? tr.with : tr.without);
  return use;
}

// Bursts until the mode changes (at most `limit`); *used counts those with the cache.
uint32_t run_length(RouteCacheGovernor& g, const Traffic& tr, uint32_t* used = nullptr,
                    uint32_t limit = 1u << 20) {
  const Mode m = g.mode();
  uint32_t n = 0;
  while (g.mode() == m && n < limit) {
    const bool u = burst(g, tr);
    if (used) *used += u;
    ++n;
  }
  return n;
}

struct Rig {
  std::unique_ptr<LcoreStats> st = std::make_unique<LcoreStats>();
  RouteCacheGovernor g{true, st->cache};
};

}  // namespace

TEST_CASE("governor: a probe alternates, then the faster way runs", "[route_cache]") {
  Rig r;
  CHECK(r.g.mode() == Mode::probe);
  uint32_t used = 0;
  CHECK(run_length(r.g, kCachePays, &used) == RouteCacheGovernor::kProbeBursts);
  CHECK(used == RouteCacheGovernor::kProbeBursts / 2);
  CHECK(r.g.mode() == Mode::on);
  CHECK(r.g.on());
  CHECK(r.st->cache.runs_on.get() == 1);
  CHECK(r.st->cache.runs_off.get() == 0);
  CHECK(r.st->cache.hits.get() == uint64_t(used) * kK);
  CHECK(r.st->cache.misses.get() == 0);
  CHECK(r.st->cache.stale.get() == used);
  CHECK(r.st->cache.bypassed_bursts.get() == RouteCacheGovernor::kProbeBursts - used);

  // On: every burst with the cache, for one run, then a probe again.
  used = 0;
  CHECK(run_length(r.g, kCachePays, &used) == RouteCacheGovernor::kRunBursts);
  CHECK(used == RouteCacheGovernor::kRunBursts);
  CHECK(r.g.mode() == Mode::probe);
  CHECK_FALSE(r.g.on());

  // The cache stops paying: the probe says off, and an off run never uses it.
  CHECK(run_length(r.g, kCacheLoses) == RouteCacheGovernor::kProbeBursts);
  CHECK(r.g.mode() == Mode::off);
  CHECK(r.st->cache.runs_off.get() == 1);
  const uint64_t bypassed = r.st->cache.bypassed_bursts.get();
  used = 0;
  CHECK(run_length(r.g, kCacheLoses, &used) == RouteCacheGovernor::kRunBursts);
  CHECK(used == 0);
  CHECK(r.st->cache.bypassed_bursts.get() == bypassed + RouteCacheGovernor::kRunBursts);

  // It pays again: back on after one probe.
  CHECK(run_length(r.g, kCachePays) == RouteCacheGovernor::kProbeBursts);
  CHECK(r.g.mode() == Mode::on);
  CHECK(r.st->cache.runs_on.get() == 2);
}

TEST_CASE("governor: each off in a row doubles the next run, up to a cap; on resets it",
          "[route_cache]") {
  Rig r;
  const uint32_t run = RouteCacheGovernor::kRunBursts;
  for (uint32_t want : {run, 2 * run, 4 * run, 8 * run, 8 * run}) {
    CHECK(run_length(r.g, kCacheLoses) == RouteCacheGovernor::kProbeBursts);
    REQUIRE(r.g.mode() == Mode::off);
    CHECK(run_length(r.g, kCacheLoses) == want);
  }
  CHECK(r.st->cache.runs_off.get() == 5);
  CHECK(run_length(r.g, kCachePays) == RouteCacheGovernor::kProbeBursts);
  REQUIRE(r.g.mode() == Mode::on);
  CHECK(run_length(r.g, kCachePays) == run);
  CHECK(run_length(r.g, kCacheLoses) == RouteCacheGovernor::kProbeBursts);
  REQUIRE(r.g.mode() == Mode::off);
  CHECK(run_length(r.g, kCacheLoses) == run);
}

TEST_CASE("governor: a low hit rate means off early, however fast the hits", "[route_cache]") {
  Rig r;
  const Traffic random{kK / 2 - 1, 1, 1000};  // just under one half
  CHECK(run_length(r.g, random) == RouteCacheGovernor::kEarlyBursts);
  CHECK(r.g.mode() == Mode::off);
  CHECK(r.st->cache.runs_off.get() == 1);
  CHECK(r.st->cache.runs_on.get() == 0);

  // Exactly one half is enough when the cache is faster; a tie in time is not.
  Rig half;
  CHECK(run_length(half.g, Traffic{kK / 2, 100, 200}) == RouteCacheGovernor::kProbeBursts);
  CHECK(half.g.mode() == Mode::on);
  Rig tie;
  CHECK(run_length(tie.g, Traffic{kK, 200, 200}) == RouteCacheGovernor::kProbeBursts);
  CHECK(tie.g.mode() == Mode::off);
}

TEST_CASE("governor: without a route cache nothing is used or counted", "[route_cache]") {
  auto st = std::make_unique<LcoreStats>();
  RouteCacheGovernor g(false, st->cache);
  uint32_t used = 0;
  CHECK(run_length(g, kCachePays, &used, 100000) == 100000);
  CHECK(used == 0);
  g.bypassed();
  CHECK(g.mode() == Mode::probe);
  CHECK_FALSE(g.on());
  CHECK(st->cache.hits.get() == 0);
  CHECK(st->cache.bypassed_bursts.get() == 0);
  CHECK(st->cache.runs_on.get() + st->cache.runs_off.get() == 0);
}

TEST_CASE("governor: next_uses_cache foretells every begin(), in every mode", "[route_cache]") {
  Rig r;
  // Through a probe that the cache wins, its run, the next probe that it loses and the off
  // run after it: each burst's begin() says what next_uses_cache() said just before.
  const Traffic phases[] = {kCachePays, kCachePays, kCacheLoses, kCacheLoses};
  uint32_t checked = 0, with = 0;
  for (const Traffic& tr : phases) {
    const Mode m = r.g.mode();
    while (r.g.mode() == m) {
      const bool foretold = r.g.next_uses_cache();
      REQUIRE(burst(r.g, tr) == foretold);
      with += foretold;
      ++checked;
    }
  }
  CHECK(r.g.mode() == Mode::probe);
  CHECK(with > RouteCacheGovernor::kRunBursts);  // the on run
  CHECK(checked > 2 * RouteCacheGovernor::kRunBursts);
  // Without a cache nothing is ever foretold.
  std::unique_ptr<LcoreStats> st = std::make_unique<LcoreStats>();
  RouteCacheGovernor off{false, st->cache};
  CHECK_FALSE(off.next_uses_cache());
}

// The worker stamps the TSC before its first stage, which hashes and fetches the cache sets
// only for the cache arm: a probe must time from that stamp, or that arm's share is free.
TEST_CASE("governor: a probe times from the stamp it is given", "[route_cache]") {
  // Each arm's burst on a clock of the test's own: `before` cycles from the stamp to
  // begin() (its first stage), then `during` in the lookup. Returns the mode the probe
  // ends in.
  auto probe = [](uint64_t cache_before, uint64_t cache_during, uint64_t fib_before,
                  uint64_t fib_during) {
    Rig r;
    uint64_t clock = 1'000'000;
    for (uint32_t i = 0; i < RouteCacheGovernor::kProbeBursts; ++i) {
      const bool cache_arm = r.g.next_uses_cache();
      const uint64_t since = clock;
      clock += cache_arm ? cache_before : fib_before;
      REQUIRE(r.g.begin(since) == cache_arm);
      clock += cache_arm ? cache_during : fib_during;
      CacheTally t;
      t.hits = cache_arm ? kK : 0;
      r.g.end_at(kK, t, clock);
      clock += 100;
    }
    return r.g.mode();
  };
  // The cache arm's lookup is faster, but its first stage costs more than it saves: off.
  CHECK(probe(20000, 1000, 0, 5000) == Mode::off);
  // The other way round: on. Timed from begin() alone, both would come out the opposite.
  CHECK(probe(0, 5000, 20000, 1000) == Mode::on);
  // stamp() reads the TSC only while probing.
  Rig r;
  CHECK(r.g.stamp() != 0);
  run_length(r.g, kCachePays);
  REQUIRE(r.g.mode() == Mode::on);
  CHECK(r.g.stamp() == 0);
}
