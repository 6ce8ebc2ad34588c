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
