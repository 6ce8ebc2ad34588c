#include "route_exception.hpp"

#include <catch2/catch.hpp>

using namespace routerd;

namespace {
Route route_of(const char* p, uint16_t mtu = 0) {
  Route r;
  r.prefix = *Prefix4::parse(p);
  r.via = Ipv4(10, 2, 0, 2);
  if (mtu) r.set_mtu(mtu);
  return r;
}
}  // namespace

TEST_CASE("exceptions: insert clones the route, update keeps one entry", "[route_exception]") {
  RouteExceptionTable t(8, 0x9e3779b97f4a7c15ull, 7);
  Route r = route_of("10.9.0.0/16", 1500);
  RouteException& e = t.upsert(0x0a090001, r, 1000);
  CHECK(e.route == r.prefix);
  CHECK(e.metrics.mtu == 1500);  // the route's metrics, copied
  e.metrics.mtu = 1300;          // writing the clone's copy...
  e.pmtu_expires_ms = 1000 + 600000;
  CHECK(r.mtu() == 1500);  // ...leaves the route alone
  CHECK(t.size() == 1);
  RouteException& again = t.upsert(0x0a090001, r, 2000);
  CHECK(&again == &e);
  CHECK(again.metrics.mtu == 1300);
  CHECK(t.size() == 1);
  const RouteException* f = t.find(0x0a090001, 3000);
  REQUIRE(f);
  CHECK(f->metrics.mtu == 1300);
  CHECK(t.find(0x0a090002, 3000) == nullptr);
}

TEST_CASE("exceptions expire on the clock, part by part", "[route_exception]") {
  RouteExceptionTable t(8, 3, 4);
  Route r = route_of("10.9.0.0/16");
  RouteException& e = t.upsert(1, r, 0);
  e.metrics.mtu = 1300;
  e.pmtu_expires_ms = 600000;
  e.gateway = 0x0a020003;
  e.redirect_expires_ms = 300000;
  const RouteException* f = t.find(1, 299999);
  REQUIRE(f);
  CHECK(f->gateway == 0x0a020003);
  f = t.find(1, 300000);  // the redirect is over, the PMTU is not
  REQUIRE(f);
  CHECK(f->gateway == 0);
  CHECK(f->metrics.mtu == 1300);
  CHECK(t.find(1, 600000) == nullptr);  // nothing left: gone
  CHECK(t.size() == 0);
  RouteException& g = t.upsert(2, r, 0);
  g.pmtu_expires_ms = 10;
  CHECK(t.expire(5) == 0);
  CHECK(t.expire(10) == 1);
  CHECK(t.size() == 0);
}

TEST_CASE("exceptions: full table evicts the least recently updated", "[route_exception]") {
  RouteExceptionTable t(4, 11, 12);
  Route r = route_of("10.9.0.0/16");
  for (uint32_t d = 1; d <= 4; ++d) t.upsert(d, r, d).pmtu_expires_ms = 1000000;
  t.upsert(1, r, 10);  // 1 is now the most recent; 2 is the oldest
  t.upsert(5, r, 11).pmtu_expires_ms = 1000000;
  CHECK(t.size() == 4);
  CHECK(t.evictions() == 1);
  CHECK(t.find(2, 20) == nullptr);
  for (uint32_t d : {1u, 3u, 4u, 5u}) CHECK(t.find(d, 20) != nullptr);
}

TEST_CASE("a million PTBs for different destinations keep the table at its size",
          "[route_exception]") {
  RouteExceptionTable t(4096, 0x1234567887654321ull, 99);
  Route r = route_of("0.0.0.0/0");
  const size_t cap = t.capacity();
  for (uint32_t d = 0; d < 1000000; ++d) {
    RouteException& e = t.upsert(0x0b000000 + d * 7919u, r, d);
    e.metrics.mtu = 1280;
    e.pmtu_expires_ms = uint64_t(d) + 600000;
  }
  CHECK(t.size() == 4096);
  CHECK(t.capacity() == cap);  // the pool never grew
  CHECK(t.evictions() == 1000000 - 4096);
  size_t n = 0;
  t.for_each([&](const RouteException&) { ++n; });
  CHECK(n == 4096);
  // The newest survive.
  CHECK(t.find(0x0b000000 + 999999u * 7919u, 1000000) != nullptr);
  CHECK(t.find(0x0b000000, 1000000) == nullptr);
  t.clear();
  CHECK(t.size() == 0);
}

// ---- the same table keyed by 128-bit IPv6 destinations (RouteExceptionTable6)

namespace {
Route6 route6_of(const char* p, uint16_t mtu = 0) {
  Route6 r;
  r.prefix = *Prefix6::parse(p);
  r.via = *Ipv6::parse("fe80::2");
  if (mtu) r.set_mtu(mtu);
  return r;
}
Ipv6 v6(const char* s) {
  return *Ipv6::parse(s);
}
}  // namespace

TEST_CASE("IPv6 exceptions: keyed by all 128 bits, clone the route", "[route_exception]") {
  RouteExceptionTable6 t(8, 0x9e3779b97f4a7c15ull, 7);
  Route6 r = route6_of("2001:db8:9::/48", 1500);
  RouteException6& e = t.upsert(v6("2001:db8:9::1"), r, 1000);
  CHECK(e.route == r.prefix);
  CHECK(e.metrics.mtu == 1500);
  CHECK_FALSE(e.has_gateway());
  e.metrics.mtu = 1280;
  e.pmtu_expires_ms = 1000 + 600000;
  CHECK(r.mtu() == 1500);  // the route keeps its own metrics
  // Addresses differing only in the high or only in the low 64 bits are different keys.
  for (const char* other : {"2001:db8:9::2", "2001:db8:8::1", "3001:db8:9::1", "2001:db8:9:0:1::1"})
    CHECK(t.find(v6(other), 2000) == nullptr);
  const RouteException6* f = t.find(v6("2001:db8:9::1"), 2000);
  REQUIRE(f);
  CHECK(f == &e);
  CHECK(f->metrics.mtu == 1280);
  CHECK(t.size() == 1);
  CHECK(t.erase(v6("2001:db8:9::1")));
  CHECK_FALSE(t.erase(v6("2001:db8:9::1")));
  CHECK(t.size() == 0);
}

TEST_CASE("IPv6 exceptions expire part by part; the gateway reads as unset", "[route_exception]") {
  RouteExceptionTable6 t(8, 3, 4);
  Route6 r = route6_of("2001:db8:9::/48");
  RouteException6& e = t.upsert(v6("2001:db8:9::1"), r, 0);
  e.metrics.mtu = 1280;
  e.pmtu_expires_ms = 600000;
  e.gateway = v6("fe80::3");
  e.redirect_expires_ms = 300000;
  const RouteException6* f = t.find(v6("2001:db8:9::1"), 299999);
  REQUIRE(f);
  CHECK(f->gateway == v6("fe80::3"));
  f = t.find(v6("2001:db8:9::1"), 300000);
  REQUIRE(f);
  CHECK_FALSE(f->has_gateway());
  CHECK(f->gateway.is_unspecified());
  CHECK(f->metrics.mtu == 1280);
  CHECK(t.find(v6("2001:db8:9::1"), 600000) == nullptr);
  CHECK(t.size() == 0);
  t.upsert(v6("2001:db8:9::2"), r, 0).pmtu_expires_ms = 10;
  CHECK(t.expire(9) == 0);
  CHECK(t.expire(10) == 1);
}

TEST_CASE("IPv6 exceptions: a full pool evicts the least recently updated", "[route_exception]") {
  RouteExceptionTable6 t(4, 11, 12);
  Route6 r = route6_of("::/0");
  auto d = [](uint16_t i) { return Ipv6::of(0x2001, 0xdb8, 0, 0, 0, 0, 0, i); };
  for (uint16_t i = 1; i <= 4; ++i) t.upsert(d(i), r, i).pmtu_expires_ms = 1000000;
  t.upsert(d(1), r, 10);
  t.upsert(d(5), r, 11).pmtu_expires_ms = 1000000;
  CHECK(t.size() == 4);
  CHECK(t.evictions() == 1);
  CHECK(t.find(d(2), 20) == nullptr);
  for (uint16_t i : {1, 3, 4, 5}) CHECK(t.find(d(i), 20) != nullptr);
}

TEST_CASE("a million IPv6 PTBs for different destinations keep the pool at its size",
          "[route_exception]") {
  RouteExceptionTable6 t(4096, 0x1234567887654321ull, 99);
  Route6 r = route6_of("::/0");
  // One /64 (only the low bits vary) and then distinct /64s (only the high bits vary): both
  // kinds of flood stay inside the pool.
  auto dst = [](uint32_t i, bool high) {
    return high ? Ipv6::of(0x2001, 0xdb8, uint16_t(i >> 16), uint16_t(i), 0, 0, 0, 1)
                : Ipv6::of(0x2001, 0xdb8, 0, 0, 0, 0, uint16_t(i >> 16), uint16_t(i));
  };
  for (bool high : {false, true}) {
    for (uint32_t i = 0; i < 500000; ++i) {
      RouteException6& e = t.upsert(dst(i, high), r, i);
      e.metrics.mtu = 1280;
      e.pmtu_expires_ms = uint64_t(i) + 600000;
    }
    CHECK(t.size() == 4096);
    CHECK(t.capacity() == 4096);
    CHECK(t.find(dst(499999, high), 500000) != nullptr);  // the newest survive
    CHECK(t.find(dst(0, high), 500000) == nullptr);
  }
  CHECK(t.evictions() == 1000000 - 4096);
  size_t n = 0;
  t.for_each([&](const RouteException6&) { ++n; });
  CHECK(n == 4096);
  t.clear();
  CHECK(t.size() == 0);
}
