#include "rib.hpp"

#include <catch2/catch.hpp>

using namespace routerd;

namespace {
Route route(const char* p, uint16_t port) {
  Route r;
  r.prefix = *Prefix4::parse(p);
  r.port = port;
  return r;
}
}  // namespace

TEST_CASE("longest match and parents", "[rib]") {
  Rib rib;
  CHECK(rib.lookup(Ipv4(10, 1, 2, 3)) == nullptr);
  rib.set(route("0.0.0.0/0", 1));
  rib.set(route("10.0.0.0/8", 2));
  rib.set(route("10.1.0.0/16", 3));
  rib.set(route("10.1.2.3/32", 4));
  CHECK(rib.lookup(Ipv4(10, 1, 2, 3))->port == 4);
  CHECK(rib.lookup(Ipv4(10, 1, 2, 4))->port == 3);
  CHECK(rib.lookup(Ipv4(10, 2, 0, 0))->port == 2);
  CHECK(rib.lookup(Ipv4(192, 0, 2, 1))->port == 1);
  CHECK(rib.lookup_parent(*Prefix4::parse("10.1.2.3/32"))->port == 3);
  CHECK(rib.lookup_parent(*Prefix4::parse("0.0.0.0/0")) == nullptr);
  CHECK(rib.erase(*Prefix4::parse("10.1.0.0/16")));
  CHECK_FALSE(rib.erase(*Prefix4::parse("10.1.0.0/16")));
  CHECK(rib.lookup(Ipv4(10, 1, 2, 4))->port == 2);
  CHECK(rib.size() == 3);
  rib.set(route("10.0.0.0/8", 9));  // replace keeps the count
  CHECK(rib.size() == 3);
  CHECK(rib.lookup(Ipv4(10, 1, 2, 4))->port == 9);
  auto s = rib.sorted();
  REQUIRE(s.size() == 3);
  CHECK(s[0]->prefix.str() == "0.0.0.0/0");
  CHECK(s[2]->prefix.str() == "10.1.2.3/32");
}

TEST_CASE("metrics are shared until written, then copied", "[rib]") {
  Route a, b;
  a.prefix = *Prefix4::parse("10.1.0.0/16");
  b.prefix = *Prefix4::parse("10.2.0.0/16");
  // Every route starts on the one read-only default block.
  CHECK(a.metrics == default_metrics());
  CHECK(b.metrics == default_metrics());
  const RouteMetrics* shared = a.metrics.get();
  a.set_mtu(1400);
  CHECK(a.mtu() == 1400);
  CHECK(a.metrics != default_metrics());  // a got its own copy...
  CHECK(b.metrics.get() == shared);       // ...and nobody else saw the write
  CHECK(default_metrics()->mtu == 0);
  CHECK(b.mtu() == 0);
  // A copy of a route shares its block until one of them writes.
  Route c = a;
  CHECK(c.metrics == a.metrics);
  c.set_mtu(1300);
  CHECK(a.mtu() == 1400);
  CHECK(c.mtu() == 1300);
  // Writing the value it already has copies nothing.
  const RouteMetrics* own = c.metrics.get();
  c.set_mtu(1300);
  CHECK(c.metrics.get() == own);
}

TEST_CASE("routes are counted by source and daemon protocol as they come and go", "[rib]") {
  Rib rib;
  auto route = [](const char* p, RouteProto proto, uint8_t rtproto = 0) {
    Route r;
    r.prefix = *Prefix4::parse(p);
    r.proto = proto;
    r.rtproto = rtproto;
    return r;
  };
  rib.set(route("10.1.0.0/24", RouteProto::connected));
  rib.set(route("10.9.0.0/16", RouteProto::static_route));
  rib.set(route("10.50.0.0/16", RouteProto::daemon, 186));
  rib.set(route("10.60.0.0/16", RouteProto::daemon, 186));
  rib.set(route("10.70.0.0/16", RouteProto::daemon, 188));
  CHECK(rib.count(RouteProto::connected) == 1);
  CHECK(rib.count(RouteProto::static_route) == 1);
  CHECK(rib.count(RouteProto::daemon) == 3);
  CHECK(rib.daemon_per_protocol()[186] == 2);
  CHECK(rib.daemon_per_protocol()[188] == 1);
  // Replacing moves the count from the old source to the new one.
  rib.set(route("10.50.0.0/16", RouteProto::static_route));
  CHECK(rib.count(RouteProto::daemon) == 2);
  CHECK(rib.count(RouteProto::static_route) == 2);
  CHECK(rib.daemon_per_protocol()[186] == 1);
  CHECK(rib.erase(*Prefix4::parse("10.70.0.0/16")));
  CHECK_FALSE(rib.erase(*Prefix4::parse("10.70.0.0/16")));
  CHECK(rib.daemon_per_protocol()[188] == 0);
  CHECK(rib.count(RouteProto::daemon) == 1);
  CHECK(rib.size() == 4);
}

TEST_CASE("RFC 5549: IPv6 gateways of IPv4 routes, counted as routes come and go",
          "[rib][rfc5549]") {
  Rib rib;
  const Ipv6 ll = *Ipv6::parse("fe80::2");
  Route a = route("10.9.0.0/16", 1);
  a.via6 = ll;
  CHECK(a.has_gateway());
  CHECK(route_has_gateway6(a));
  CHECK(route_uses_gateway6(a, ll));
  CHECK_FALSE(route_uses_gateway(a, Ipv4()));  // via is empty, not 0.0.0.0
  rib.set(a);
  CHECK(rib.count_via_ipv6() == 1);
  // An ECMP route with one IPv6 member: counted once; its IPv4 member is found by address.
  Route b = route("10.8.0.0/16", 1);
  b.paths = std::make_shared<const std::vector<BasicPath<Ipv4>>>(
      std::vector<BasicPath<Ipv4>>{{Ipv4(10, 1, 0, 2), 1, 1, std::nullopt}, {Ipv4(), 2, 3, ll}});
  b.via = Ipv4(10, 1, 0, 2);
  CHECK(route_has_gateway6(b));
  CHECK(route_uses_gateway6(b, ll));
  CHECK(route_uses_gateway(b, Ipv4(10, 1, 0, 2)));
  CHECK_FALSE(route_uses_gateway(b, Ipv4()));  // the IPv6 member's 0.0.0.0 is no gateway
  rib.set(b);
  CHECK(rib.count_via_ipv6() == 2);
  // Replaced by an IPv4 gateway, then erased: the count follows.
  Route c = route("10.9.0.0/16", 1);
  c.via = Ipv4(10, 1, 0, 3);
  CHECK_FALSE(route_has_gateway6(c));
  rib.set(c);
  CHECK(rib.count_via_ipv6() == 1);
  CHECK(rib.erase(b.prefix));
  CHECK(rib.count_via_ipv6() == 0);
  // The paths' order: by port, then gateway (an IPv6 one after 0.0.0.0 of the same port).
  const BasicPath<Ipv4> p1{Ipv4(), 1, 1, ll}, p2{Ipv4(10, 1, 0, 2), 1, 1, std::nullopt};
  CHECK(p1 < p2);
  CHECK_FALSE(p2 < p1);
}

TEST_CASE("a route stays where it is while others come and go; erased places are reused", "[rib]") {
  Rib rib;
  auto pfx = [](uint32_t i) { return Prefix4{Ipv4((10u << 24) | (i << 8)), 24}; };
  auto make = [&](uint32_t i, uint16_t port) {
    Route r;
    r.prefix = pfx(i);
    r.port = port;
    r.via = Ipv4(i);
    return r;
  };
  rib.set(make(0, 7));
  const Route* first = rib.find(pfx(0));
  // Past several chunks and several index rebuilds.
  for (uint32_t i = 1; i < 20000; ++i) rib.set(make(i, uint16_t(i % 5)));
  CHECK(rib.find(pfx(0)) == first);
  CHECK(first->port == 7);
  for (uint32_t i = 1; i < 20000; i += 2) CHECK(rib.erase(pfx(i)));
  CHECK(rib.size() == 10000);
  CHECK(rib.find(pfx(0)) == first);
  for (uint32_t i = 1; i < 20000; i += 2) CHECK(rib.find(pfx(i)) == nullptr);
  // Replacing in place keeps the address; the erased places take the new routes.
  rib.set(make(0, 9));
  CHECK(rib.find(pfx(0)) == first);
  CHECK(first->port == 9);
  for (uint32_t i = 20000; i < 30000; ++i) rib.set(make(i, 1));
  CHECK(rib.size() == 20000);
  size_t seen = 0;
  rib.for_each([&](const Route& r) {
    ++seen;
    const uint32_t i = (r.prefix.addr.v >> 8) & 0xffff;
    CHECK(r.via == Ipv4(i));
    CHECK((i % 2 == 0 || i >= 20000));
  });
  CHECK(seen == 20000);
  const auto sorted = rib.sorted();
  REQUIRE(sorted.size() == 20000);
  CHECK(std::is_sorted(sorted.begin(), sorted.end(),
                       [](const Route* a, const Route* b) { return a->prefix < b->prefix; }));
  CHECK(rib.per_length()[24] == 20000);
  CHECK(rib.count(RouteProto::static_route) == 20000);
}
