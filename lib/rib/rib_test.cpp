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
