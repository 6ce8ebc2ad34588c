#include "ratelimit.hpp"

#include <catch2/catch.hpp>

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
