#include "route_cache.hpp"

#include <rte_memory.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "nexthop.hpp"
#include "test_eal.hpp"

using namespace routerd;

namespace {
NextHopState state(uint32_t id) {
  NextHopState s{};
  s.id = id;
  return s;
}
}  // namespace

TEST_CASE("a hit needs the generation the entry was filled in", "[route_cache]") {
  testing::test_eal();
  RouteCache c(1024, RouteCacheKeys{0x9e3779b97f4a7c15ull, 42, 0x94d049bb133111ebull},
               SOCKET_ID_ANY);
  NextHopState a = state(1), b = state(2);
  bool stale = false;
  CHECK(c.lookup(0x0a000001, 7, &stale) == nullptr);
  CHECK_FALSE(stale);
  c.fill(0x0a000001, 7, &a);
  CHECK(c.lookup(0x0a000001, 7, &stale) == &a);
  CHECK(c.lookup(0x0a000002, 7, &stale) == nullptr);
  stale = false;
  CHECK(c.lookup(0x0a000001, 8, &stale) == nullptr);  // the generation moved on
  CHECK(stale);
  c.fill(0x0a000001, 8, &b);  // refreshes the same way, not a second copy
  CHECK(c.lookup(0x0a000001, 8, &stale) == &b);
  CHECK(c.lookup(0x0a000001, 7, &stale) == nullptr);
}

TEST_CASE("a generation past 2^32 never revalidates an old entry", "[route_cache]") {
  testing::test_eal();
  RouteCache c(64, RouteCacheKeys{12345, 678, 91011}, SOCKET_ID_ANY);
  NextHopState a = state(1);
  const uint64_t g = 5;
  c.fill(0x0b000001, g, &a);
  bool stale = false;
  // A 32-bit generation would wrap here and take the old entry for a current one.
  CHECK(c.lookup(0x0b000001, g + (uint64_t(1) << 32), &stale) == nullptr);
  CHECK(stale);
  const uint64_t big = (uint64_t(1) << 32) - 2;
  c.fill(0x0b000002, big, &a);
  CHECK(c.lookup(0x0b000002, big, &stale) == &a);
  for (uint64_t step = 1; step < 6; ++step)
    CHECK(c.lookup(0x0b000002, big + step, &stale) == nullptr);
}

TEST_CASE("a set keeps its four most recent destinations", "[route_cache]") {
  testing::test_eal();
  RouteCache c(256, RouteCacheKeys{0xdeadbeefcafef00dull, 99, 0xbf58476d1ce4e5b9ull},
               SOCKET_ID_ANY);
  // Find five destinations that share a set.
  std::map<uint32_t, std::vector<uint32_t>> by_set;
  std::vector<uint32_t> same;
  for (uint32_t d = 1; same.empty(); ++d) {
    auto& v = by_set[c.set_of(d)];
    v.push_back(d);
    if (v.size() == 5) same = v;
  }
  std::vector<NextHopState> st = {state(1), state(2), state(3), state(4), state(5)};
  for (int i = 0; i < 5; ++i) c.fill(same[i], 3, &st[i]);
  bool stale = false;
  CHECK(c.lookup(same[0], 3, &stale) == nullptr);  // the oldest was replaced
  for (int i = 1; i < 5; ++i) CHECK(c.lookup(same[i], 3, &stale) == &st[i]);
  // The first fill after a bump empties the set: nothing else in it is current any more.
  c.fill(same[1], 4, &st[0]);
  CHECK(c.lookup(same[1], 4, &stale) == &st[0]);
  for (int i = 2; i < 5; ++i) CHECK(c.lookup(same[i], 4, &stale) == nullptr);
  // A fill with an older generation than the set's changes nothing.
  c.fill(same[2], 3, &st[2]);
  CHECK(c.lookup(same[2], 3, &stale) == nullptr);
  CHECK(c.lookup(same[1], 4, &stale) == &st[0]);
}

TEST_CASE("set placement depends on the secret keys", "[route_cache]") {
  testing::test_eal();
  RouteCacheKeys ka = route_cache_keys(), kb = route_cache_keys();
  CHECK((ka.k1 & 1) == 1);
  CHECK((ka.k3 & 1) == 1);
  CHECK((ka.k1 != kb.k1 || ka.k2 != kb.k2 || ka.k3 != kb.k3));
  RouteCache a(4096, ka, SOCKET_ID_ANY), b(4096, kb, SOCKET_ID_ANY);
  int same = 0;
  for (uint32_t d = 0; d < 40960; ++d) same += a.set_of(0x0a000000 + d) == b.set_of(0x0a000000 + d);
  CHECK(same < 40960 / 100);  // about 1 in 4096 by chance
}

TEST_CASE("arithmetic progressions of destinations spread over the sets, whatever the keys",
          "[route_cache]") {
  testing::test_eal();
  // Blocks of hosts, one host per /24 or /20, odd strides: 40,960 destinations, 10 per set
  // on average. With a single multiply, about 1 key in 100 put 40 to 160 of them into one
  // set (this test failed in CI once); a random spread puts about 22 into the fullest set.
  const std::pair<uint32_t, uint32_t> patterns[] = {
      {0x0a000000, 1},  {0xc0a81234, 1}, {0x55000000, 256}, {0x01020304, 4096},
      {0x0b000000, 16}, {0x0a000000, 3}, {0, 65536}};
  for (int round = 0; round < 20; ++round) {
    RouteCache c(4096, route_cache_keys(), SOCKET_ID_ANY);
    for (auto [base, stride] : patterns) {
      std::vector<uint32_t> load(4096);
      for (uint32_t i = 0; i < 40960; ++i) load[c.set_of(base + i * stride)]++;
      uint32_t worst = *std::max_element(load.begin(), load.end());
      INFO("base " << base << " stride " << stride << ": fullest set " << worst);
      CHECK(worst < 40);
    }
  }
  // Fixed keys, so a failure here reproduces. With this k1 a single multiply put 91 of the
  // sequential block into one set.
  RouteCache fixed(4096, RouteCacheKeys{0x6a1ea1b8cfb47235, 0, 0xbf58476d1ce4e5b9}, SOCKET_ID_ANY);
  std::vector<uint32_t> load(4096);
  for (uint32_t i = 0; i < 40960; ++i) load[fixed.set_of(0x0a000000 + i)]++;
  CHECK(*std::max_element(load.begin(), load.end()) < 40);
}

namespace {
std::array<uint8_t, 16> v6(uint64_t hi, uint64_t lo) {
  std::array<uint8_t, 16> a{};
  for (int i = 0; i < 8; ++i) {
    a[size_t(i)] = uint8_t(hi >> (56 - 8 * i));
    a[size_t(i) + 8] = uint8_t(lo >> (56 - 8 * i));
  }
  return a;
}

// The id the IPv6 cache holds for d in generation gen, kMiss when it holds none.
constexpr uint32_t kMiss = ~0u;
uint32_t get6(const RouteCache6& c, const std::array<uint8_t, 16>& d, uint64_t gen, bool* stale) {
  bool hit = false;
  const uint32_t id = c.lookup(d.data(), gen, &hit, stale);
  return hit ? id : kMiss;
}
}  // namespace

TEST_CASE("IPv6 cache: a hit needs all 128 bits and the generation", "[route_cache][ipv6]") {
  testing::test_eal();
  RouteCache6 c(1024, route_cache_keys(), SOCKET_ID_ANY);
  const auto d = v6(0x20010db800000001ull, 0x1);
  bool stale = false;
  CHECK(get6(c, d, 3, &stale) == kMiss);
  c.fill(d.data(), 3, 11);
  CHECK(get6(c, d, 3, &stale) == 11);
  CHECK_FALSE(stale);
  // Any one bit different is another destination.
  for (int bit = 0; bit < 128; ++bit) {
    auto e = d;
    e[size_t(bit / 8)] ^= uint8_t(0x80 >> (bit % 8));
    INFO("bit " << bit);
    CHECK(get6(c, e, 3, &stale) == kMiss);
  }
  CHECK_FALSE(stale);
  CHECK(get6(c, d, 4, &stale) == kMiss);  // the generation moved on
  CHECK(stale);
  c.fill(d.data(), 4, 12);
  CHECK(get6(c, d, 4, &stale) == 12);
  c.fill(d.data(), 3, 11);  // an older generation's answer changes nothing
  CHECK(get6(c, d, 4, &stale) == 12);
  // Id 0 is an id like any other (the cache tells empty ways by their zero destination).
  c.fill(d.data(), 4, 0);
  CHECK(get6(c, d, 4, &stale) == 0);
}

TEST_CASE("IPv6 cache: a generation 2^30 or 2^32 later never revalidates an old entry",
          "[route_cache][ipv6]") {
  testing::test_eal();
  // A set keeps only the generation's low 30 bits: the cache must tell the rest itself.
  RouteCache6 c(64, route_cache_keys(), SOCKET_ID_ANY);
  const auto d = v6(0x20010db800000001ull, 0x1), e = v6(0x20010db800000002ull, 0x2);
  const uint64_t g = 5;
  bool stale = false;
  c.fill(d.data(), g, 7);
  CHECK(get6(c, d, g, &stale) == 7);
  for (uint64_t later : {g + (1ull << 30), g + (1ull << 32), g + (3ull << 30)}) {
    INFO("generation " << later);
    CHECK(get6(c, d, later, &stale) == kMiss);
  }
  // The first fill in a new epoch empties every set, the untouched ones included.
  c.fill(e.data(), g + (1ull << 30), 8);
  CHECK(get6(c, e, g + (1ull << 30), &stale) == 8);
  CHECK(get6(c, d, g + (1ull << 30), &stale) == kMiss);
  CHECK(get6(c, d, g, &stale) == kMiss);
  // An older epoch's answer changes nothing.
  c.fill(d.data(), g, 7);
  CHECK(get6(c, d, g, &stale) == kMiss);
  CHECK(get6(c, e, g + (1ull << 30), &stale) == 8);
}

TEST_CASE("IPv6 cache: a set keeps its three most recent destinations", "[route_cache][ipv6]") {
  testing::test_eal();
  RouteCache6 c(64, route_cache_keys(), SOCKET_ID_ANY);
  std::map<uint32_t, std::vector<std::array<uint8_t, 16>>> by_set;
  std::vector<std::array<uint8_t, 16>> same;
  for (uint64_t i = 1; same.empty(); ++i) {
    auto d = v6(0x20010db8ull << 32, i);
    auto& v = by_set[c.set_of(d.data())];
    v.push_back(d);
    if (v.size() == 5) same = v;
  }
  for (uint32_t i = 0; i < 4; ++i) c.fill(same[i].data(), 9, 100 + i);
  bool stale = false;
  CHECK(get6(c, same[0], 9, &stale) == kMiss);  // the oldest was replaced
  CHECK(get6(c, same[1], 9, &stale) == 101);
  CHECK(get6(c, same[2], 9, &stale) == 102);
  CHECK(get6(c, same[3], 9, &stale) == 103);
  // Refilling a present destination updates its way, not a second copy.
  c.fill(same[2].data(), 9, 200);
  CHECK(get6(c, same[2], 9, &stale) == 200);
  CHECK(get6(c, same[1], 9, &stale) == 101);
  CHECK(get6(c, same[3], 9, &stale) == 103);
  // Round robin goes on where it was: the next new one replaces the second oldest.
  c.fill(same[4].data(), 9, 104);
  CHECK(get6(c, same[1], 9, &stale) == kMiss);
  CHECK(get6(c, same[2], 9, &stale) == 200);
  CHECK(get6(c, same[3], 9, &stale) == 103);
  CHECK(get6(c, same[4], 9, &stale) == 104);
  CHECK_FALSE(stale);
  // A new generation empties the set at its first fill.
  c.fill(same[0].data(), 10, 100);
  CHECK(get6(c, same[0], 10, &stale) == 100);
  CHECK(get6(c, same[3], 10, &stale) == kMiss);
}

TEST_CASE("IPv6 cache: structured destinations spread over the sets, whatever the keys",
          "[route_cache][ipv6]") {
  testing::test_eal();
  // 40,960 destinations over 4,096 sets (10 per set on average): hosts of one /64 counting
  // up, one host per /64 or per /48, and strides in the interface identifier.
  struct Pattern {
    uint64_t hi, lo, hi_step, lo_step;
  };
  const Pattern patterns[] = {{0x20010db800000000ull, 1, 0, 1},
                              {0x20010db800000000ull, 1, 1, 0},
                              {0x20010db800000000ull, 1, 1ull << 16, 0},
                              {0x2a00145000000000ull, 0, 0, 1ull << 32},
                              {0x2a00145000000000ull, 0x0200000000000001ull, 0, 256},
                              {0x2001000000000000ull, 0, 1ull << 32, 1}};
  for (int round = 0; round < 20; ++round) {
    RouteCache6 c(4096, route_cache_keys(), SOCKET_ID_ANY);
    for (const Pattern& p : patterns) {
      std::vector<uint32_t> load(4096);
      for (uint64_t i = 0; i < 40960; ++i)
        load[c.set_of(v6(p.hi + i * p.hi_step, p.lo + i * p.lo_step).data())]++;
      const uint32_t worst = *std::max_element(load.begin(), load.end());
      INFO("pattern " << std::hex << p.hi << " " << p.lo << ": fullest set " << std::dec << worst);
      CHECK(worst < 40);
    }
  }
}
