#include "prefix_map.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <unordered_map>

using namespace routerd;

namespace {

// Random inserts, overwrites and erases against std::unordered_map, over few enough keys
// that probe runs are long, wrap around the end of the table and lose entries from their
// middle.
template <class P, class Hash, class Make>
void against_reference(Make make, int keys, int ops, uint32_t seed) {
  PrefixMap<P> m;
  std::unordered_map<P, uint32_t, Hash> ref;
  std::mt19937 rng(seed);
  for (int i = 0; i < ops; ++i) {
    const P p = make(int(rng() % uint32_t(keys)));
    const uint32_t v = rng();
    switch (rng() % 4) {
      case 0:
      case 1: {
        auto [val, inserted] = m.try_emplace(p, v);
        auto [it, rinserted] = ref.try_emplace(p, v);
        REQUIRE(inserted == rinserted);
        REQUIRE(*val == it->second);
        break;
      }
      case 2:
        m[p] = v;
        ref[p] = v;
        break;
      case 3:
        REQUIRE(m.erase(p) == (ref.erase(p) == 1));
        break;
    }
    REQUIRE(m.size() == ref.size());
    if (i % 97 == 0) {  // every key, present or not
      for (int k = 0; k < keys; ++k) {
        const P q = make(k);
        const uint32_t* got = m.find(q);
        auto it = ref.find(q);
        REQUIRE((got != nullptr) == (it != ref.end()));
        if (got) REQUIRE(*got == it->second);
      }
      size_t seen = 0;
      m.for_each([&](const P& q, uint32_t val) {
        ++seen;
        REQUIRE(ref.at(q) == val);
      });
      REQUIRE(seen == ref.size());
    }
  }
}

}  // namespace

TEST_CASE("a prefix map holds what std::unordered_map holds, through inserts and erases",
          "[prefix_map]") {
  SECTION("IPv4, with the same address at different lengths") {
    against_reference<Prefix4, Prefix4Hash>(
        [](int k) {
          return Prefix4{Ipv4(uint32_t(k / 3) << 8), uint8_t(22 + k % 3)};
        },
        300, 40000, 1);
  }
  SECTION("IPv4, large") {
    against_reference<Prefix4, Prefix4Hash>(
        [](int k) {
          return Prefix4{Ipv4(uint32_t(k) << 8), 24};
        },
        5000, 60000, 2);
  }
  SECTION("IPv6") {
    against_reference<Prefix6, Prefix6Hash>(
        [](int k) {
          Prefix6 p;
          p.addr.b[0] = 0x20;
          p.addr.b[1] = 0x01;
          p.addr.b[5] = uint8_t(k);
          p.addr.b[4] = uint8_t(k >> 8);
          p.len = uint8_t(48 + k % 2 * 16);
          return p;
        },
        700, 40000, 3);
  }
}

TEST_CASE("a prefix map reserves once, and refuses the length it uses as a marker",
          "[prefix_map]") {
  PrefixMap<Prefix4> m;
  CHECK(m.find(Prefix4{Ipv4(10, 0, 0, 0), 8}) == nullptr);
  CHECK_FALSE(m.erase(Prefix4{Ipv4(10, 0, 0, 0), 8}));
  m.reserve(1000);
  const size_t cap = m.capacity();
  CHECK(cap >= 2000);
  for (uint32_t i = 0; i < 1000; ++i) m.try_emplace(Prefix4{Ipv4(i << 8), 24}, i);
  CHECK(m.capacity() == cap);
  CHECK(*m.find(Prefix4{Ipv4(999u << 8), 24}) == 999);
  CHECK_THROWS_AS(m.try_emplace(Prefix4{Ipv4(0), PrefixMap<Prefix4>::kEmpty}, 1),
                  std::invalid_argument);
  m.clear();
  CHECK(m.empty());
  CHECK(m.find(Prefix4{Ipv4(999u << 8), 24}) == nullptr);
}

// Loops prefetch the slots of prefixes a few ahead, whether the map has them or not, and on
// a map with no slots at all (its table is null): that must neither fault (UBSan's null
// check included) nor change anything.
TEST_CASE("a prefix map's prefetch changes nothing, also on an empty map", "[prefix_map]") {
  PrefixMap<Prefix6> empty;
  empty.prefetch(Prefix6{Ipv6::parse("2001:db8::").value(), 32});
  CHECK(empty.empty());
  CHECK(empty.capacity() == 0);
  PrefixStore<Prefix4, int> s;
  s.prefetch(Prefix4{Ipv4(10, 0, 0, 0), 8});
  s.try_emplace(Prefix4{Ipv4(10, 0, 0, 0), 8}, 7);
  for (uint32_t i = 0; i < 64; ++i) s.prefetch(Prefix4{Ipv4(i << 24), 8});
  CHECK(s.size() == 1);
  CHECK(*s.find(Prefix4{Ipv4(10, 0, 0, 0), 8}) == 7);
}

TEST_CASE("a prefix store keeps each value where it is until its prefix goes, and destroys it",
          "[prefix_map]") {
  auto token = std::make_shared<int>(0);
  auto pfx = [](uint32_t i) { return Prefix4{Ipv4(i << 8), 24}; };
  {
    PrefixStore<Prefix4, std::shared_ptr<int>> s;
    auto [first, made] = s.try_emplace(pfx(0), token);
    CHECK(made);
    for (uint32_t i = 1; i < 10000; ++i) s[pfx(i)] = token;  // several chunks and rebuilds
    CHECK(s.find(pfx(0)) == first);
    CHECK(token.use_count() == 10001);
    CHECK_FALSE(s.try_emplace(pfx(0), nullptr).second);
    CHECK(*first == token);
    for (uint32_t i = 1; i < 10000; i += 2) CHECK(s.erase(pfx(i)));
    CHECK_FALSE(s.erase(pfx(1)));
    CHECK(token.use_count() == 5001);
    CHECK(s.size() == 5000);
    CHECK(s.find(pfx(0)) == first);
    for (uint32_t i = 10000; i < 15000; ++i) s[pfx(i)] = token;  // into the erased places
    CHECK(token.use_count() == 10001);
    size_t n = 0;
    s.for_each([&](const Prefix4& p, const std::shared_ptr<int>& v) {
      ++n;
      CHECK(v == token);
      CHECK(s.find(p) == &v);
    });
    CHECK(n == 10000);
    s.clear();
    CHECK(token.use_count() == 1);
    s[pfx(3)] = token;
  }
  CHECK(token.use_count() == 1);  // the destructor destroys what is left
}
