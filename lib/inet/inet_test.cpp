#include "inet.hpp"

#include <catch2/catch.hpp>

using namespace routerd;

TEST_CASE("Ipv4 parses dotted quads strictly") {
  CHECK(Ipv4::parse("10.1.0.1") == Ipv4(10, 1, 0, 1));
  CHECK(Ipv4::parse("0.0.0.0") == Ipv4(0u));
  CHECK(Ipv4::parse("255.255.255.255") == Ipv4(0xffffffffu));
  for (const char* bad : {"", "10.1.0", "10.1.0.1.", "10.1.0.256", "10.01.0.1", "a.b.c.d",
                          "10.1.0.1/24", " 10.1.0.1", "1.2.3.-4", "1..2.3"}) {
    INFO(bad);
    CHECK_FALSE(Ipv4::parse(bad));
  }
  CHECK(Ipv4(192, 168, 1, 254).str() == "192.168.1.254");
}

TEST_CASE("Prefix4 rejects host bits and bad lengths") {
  auto p = Prefix4::parse("10.9.0.0/16");
  REQUIRE(p);
  CHECK(p->len == 16);
  CHECK(p->contains(Ipv4(10, 9, 200, 1)));
  CHECK_FALSE(p->contains(Ipv4(10, 10, 0, 0)));
  CHECK(p->broadcast() == Ipv4(10, 9, 255, 255));
  CHECK(Prefix4::parse("0.0.0.0/0"));
  CHECK(Prefix4::parse("1.2.3.4/32"));
  CHECK_FALSE(Prefix4::parse("10.9.0.1/16"));
  CHECK_FALSE(Prefix4::parse("10.9.0.0/33"));
  CHECK_FALSE(Prefix4::parse("10.9.0.0"));
  CHECK_FALSE(Prefix4::parse("10.9.0.0/"));
  Ipv4 host;
  auto ifp = Prefix4::parse_interface("10.1.0.1/24", &host);
  REQUIRE(ifp);
  CHECK(host == Ipv4(10, 1, 0, 1));
  CHECK(ifp->str() == "10.1.0.0/24");
}

TEST_CASE("Prefix4 overlap") {
  auto a = *Prefix4::parse("10.0.0.0/8"), b = *Prefix4::parse("10.1.0.0/16"),
       c = *Prefix4::parse("11.0.0.0/8");
  CHECK(a.overlaps(b));
  CHECK(b.overlaps(a));
  CHECK_FALSE(a.overlaps(c));
}

TEST_CASE("Mac parses colon hex") {
  auto m = Mac::parse("02:00:00:00:01:0a");
  REQUIRE(m);
  CHECK(m->b[5] == 0x0a);
  CHECK(m->str() == "02:00:00:00:01:0a");
  CHECK_FALSE(m->is_multicast());
  CHECK(Mac::parse("ff:ff:ff:ff:ff:ff")->is_multicast());
  for (const char* bad :
       {"", "02:00:00:00:01", "02-00-00-00-01-02", "02:00:00:00:01:0g", "02:00:00:00:01:020"}) {
    INFO(bad);
    CHECK_FALSE(Mac::parse(bad));
  }
}
