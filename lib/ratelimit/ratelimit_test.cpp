#include "ratelimit.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <vector>

using namespace routerd;

TEST_CASE("a token bucket passes its burst, then its rate", "[ratelimit]") {
  TokenBucket b(10, 5);  // 10 per second, 5 at once
  int passed = 0;
  for (int i = 0; i < 20; ++i) passed += b.take(1000);
  CHECK(passed == 5);
  CHECK_FALSE(b.take(1099));  // 0.99 tokens after 99 ms
  CHECK(b.take(1100));
  CHECK_FALSE(b.take(1100));
  CHECK_FALSE(b.full(1100));
  CHECK(b.full(1600));
  // A clock that steps back takes nothing extra.
  CHECK_FALSE(b.take(900));
}

TEST_CASE("per-source limits: one flooder does not use up another's budget", "[ratelimit]") {
  SourceLimiter l(10, 5, 0x1234567, 0x89abcdef);
  int flooder = 0;
  for (int i = 0; i < 1000; ++i) flooder += l.allow(1, 5000);
  CHECK(flooder == 5);
  int other = 0;
  for (int i = 0; i < 5; ++i) other += l.allow(2, 5000);
  CHECK(other == 5);
  // One second later the flooder has its rate again, and no more.
  flooder = 0;
  for (int i = 0; i < 1000; ++i) flooder += l.allow(1, 6000);
  CHECK(flooder == 5);  // refilled to the burst (10 tokens capped at 5)
}

TEST_CASE("per-source limits are bounded however many sources send", "[ratelimit]") {
  SourceLimiter l(1, 1, 0x1234567, 0x89abcdef);
  // A million distinct sources within one millisecond: each slot passes its burst once,
  // then every source landing on it shares its empty bucket.
  uint64_t passed = 0;
  for (uint64_t s = 0; s < 1000000; ++s) passed += l.allow(s, 100);
  CHECK(passed <= (1u << SourceLimiter::kSlotsLog2));
  CHECK(passed > (1u << SourceLimiter::kSlotsLog2) / 2);
  SourceLimiter off(0, 1, 1, 2);
  for (int i = 0; i < 100; ++i) CHECK(off.allow(7, 0));
}

TEST_CASE("redirect backoff: at most one a second, 9 in a row, again after 20 s of silence",
          "[ratelimit]") {
  RedirectBackoff b(0x1234567, 0x89abcdef);
  // A host that ignores redirects and keeps sending every 100 ms for a minute.
  std::vector<uint64_t> sent;
  for (uint64_t t = 1000; t < 61000; t += 100)
    if (b.allow(7, t)) sent.push_back(t);
  // Gaps of max(1 s, 20 ms << n): 1 s five times, then 1.28, 2.56 and 5.12 s.
  REQUIRE(sent.size() == RedirectBackoff::kNumber);
  const std::vector<uint64_t> gaps = {1000, 1000, 1000, 1000, 1000, 1300, 2600, 5200};
  for (size_t i = 1; i < sent.size(); ++i) {
    INFO("redirect " << i);
    CHECK(sent[i] - sent[i - 1] == gaps[i - 1]);
  }
  // Still sending for two silences more: the silence never came, so none.
  int more = 0;
  for (uint64_t t = 61000; t < 61000 + 2 * RedirectBackoff::kSilenceMs; t += 100)
    more += b.allow(7, t);
  CHECK(more == 0);
  // Quiet for longer than the silence: it starts over.
  const uint64_t back = 61000 + 3 * RedirectBackoff::kSilenceMs + 1;
  CHECK(b.allow(7, back));
  CHECK_FALSE(b.allow(7, back + 999));
  CHECK(b.allow(7, back + 1000));
  // Another source has a backoff of its own.
  CHECK(b.allow(8, back + 1001));
}

TEST_CASE("redirect backoff: alternating sources cannot reset each other's", "[ratelimit]") {
  RedirectBackoff b(3, 5);
  // Many sources, each asking every 50 ms for 30 s: none gets more than 9, whichever slot
  // it shares (a shared slot gives its sources 9 between them).
  std::map<uint64_t, int> got;
  for (uint64_t t = 0; t < 30000; t += 50)
    for (uint64_t s = 0; s < 20000; s += 997) got[s] += b.allow(s, t);
  for (const auto& [s, n] : got) {
    INFO("source " << s);
    CHECK(n <= int(RedirectBackoff::kNumber));
  }
  CHECK(got[0] == int(RedirectBackoff::kNumber));
}

TEST_CASE("the shared ICMP budget: the configured rate on average, never a fixed count",
          "[ratelimit]") {
  // rate 0 turns ICMP errors off.
  JitteredBucket off(0, 50, 1);
  CHECK_FALSE(off.take(1));
  CHECK_FALSE(off.take(100000));

  // A burst at once from a full bucket: about 50, and not the same count for every seed
  // (Linux since CVE-2020-25705; with a fixed cost a prober can count others' errors).
  std::set<int> bursts;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    JitteredBucket b(1000, 50, seed * 0x9e3779b97f4a7c15ull);
    int n = 0;
    for (int i = 0; i < 1000; ++i) n += b.take(0);
    INFO("seed " << seed);
    CHECK(n >= 25);
    CHECK(n <= 100);
    bursts.insert(n);
  }
  CHECK(bursts.size() > 1);

  // Constant demand for 20 s at 1000/s: about 20,000 pass.
  JitteredBucket b(1000, 50, 12345);
  int n = 0;
  for (uint64_t t = 0; t < 20000; ++t)
    for (int i = 0; i < 5; ++i) n += b.take(t);
  CHECK(n > 19000);
  CHECK(n < 21100);
}
