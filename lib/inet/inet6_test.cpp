#include "inet6.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace routerd;

TEST_CASE("Ipv6 parses RFC 4291 text and nothing else", "[inet]") {
  CHECK(Ipv6::parse("2001:db8::1") == Ipv6::of(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
  CHECK(Ipv6::parse("2001:DB8:0:0:0:0:0:1") == Ipv6::of(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
  CHECK(Ipv6::parse("::") == Ipv6());
  CHECK(Ipv6::parse("::1") == Ipv6::of(0, 0, 0, 0, 0, 0, 0, 1));
  CHECK(Ipv6::parse("fe80::") == Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 0));
  CHECK(Ipv6::parse("1:2:3:4:5:6:7::") == Ipv6::of(1, 2, 3, 4, 5, 6, 7, 0));
  CHECK(Ipv6::parse("::2:3:4:5:6:7:8") == Ipv6::of(0, 2, 3, 4, 5, 6, 7, 8));
  CHECK(Ipv6::parse("::ffff:192.0.2.1") == Ipv6::of(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201));
  CHECK(Ipv6::parse("64:ff9b::10.1.0.1") == Ipv6::of(0x64, 0xff9b, 0, 0, 0, 0, 0x0a01, 1));
  CHECK(Ipv6::parse("1:2:3:4:5:6:1.2.3.4") == Ipv6::of(1, 2, 3, 4, 5, 6, 0x0102, 0x0304));
  for (const char* bad : {"",
                          ":",
                          ":::",
                          "1",
                          "1:2:3:4:5:6:7",
                          "1:2:3:4:5:6:7:8:9",
                          "1::2::3",
                          "1:::2",
                          ":1::2",
                          "1::2:",
                          "12345::",
                          "g::1",
                          "1:2:3:4:5:6:7::8",
                          "::1.2.3",
                          "1.2.3.4::",
                          "::1.2.3.4:5",
                          "fe80::1%eth0",
                          " ::1",
                          "::1 ",
                          "2001:db8::/32",
                          "-1::",
                          "+1::",
                          "::01.2.3.4",
                          "1:2:3:4:5:6:7:1.2.3.4",
                          "0x1::"}) {
    INFO(bad);
    CHECK_FALSE(Ipv6::parse(bad));
  }
}

TEST_CASE("Ipv6 prints RFC 5952's canonical form", "[inet]") {
  auto canon = [](const char* s) {
    auto a = Ipv6::parse(s);
    REQUIRE(a);
    return a->str();
  };
  CHECK(canon("2001:0db8:0000:0000:0000:0000:0000:0001") == "2001:db8::1");  // 4.1, 4.2.1
  CHECK(canon("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1");     // 4.2.3: the first of a tie
  CHECK(canon("2001:0:0:1:0:0:0:1") == "2001:0:0:1::1");           // 4.2.3: the longest run
  CHECK(canon("2001:db8:0:1:1:1:1:1") == "2001:db8:0:1:1:1:1:1");  // 4.2.2: one group stays
  CHECK(canon("2001:DB8::AAAA") == "2001:db8::aaaa");              // 4.3: lowercase
  CHECK(canon("::") == "::");
  CHECK(canon("::1") == "::1");
  CHECK(canon("1::") == "1::");
  CHECK(canon("0:0:0:0:0:ffff:c000:201") == "::ffff:192.0.2.1");  // 5: IPv4-mapped
  CHECK(canon("fe80:0:0:0:200:5eff:fe00:5301") == "fe80::200:5eff:fe00:5301");

  // Round trip: every address prints to a text that parses back to it.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    Ipv6 a;
    for (auto& x : a.b) {
      const unsigned r = unsigned(rng());
      x = (r & 3) ? 0 : uint8_t(r >> 8);  // mostly zeros: many "::" shapes
    }
    auto back = Ipv6::parse(a.str());
    INFO(a.str());
    REQUIRE(back);
    CHECK(*back == a);
    CHECK(back->str() == a.str());
  }
}

TEST_CASE("Ipv6 classifies scopes and derives ND addresses", "[inet]") {
  CHECK(Ipv6::parse("fe80::1")->is_link_local());
  CHECK(Ipv6::parse("febf::1")->is_link_local());
  CHECK_FALSE(Ipv6::parse("fec0::1")->is_link_local());
  CHECK(Ipv6::parse("ff02::1")->is_multicast());
  CHECK(Ipv6().is_unspecified());
  CHECK(Ipv6::parse("::1")->is_loopback());
  CHECK(Ipv6::parse("::ffff:10.0.0.1")->is_v4_mapped());
  CHECK_FALSE(Ipv6::parse("::10.0.0.1")->is_v4_mapped());

  // RFC 4291 2.7.1: the low 24 bits under ff02::1:ff00:0/104.
  CHECK(Ipv6::parse("2001:db8::abcd:1234:5678")->solicited_node().str() == "ff02::1:ff34:5678");
  CHECK(Ipv6::parse("ff02::1:ff34:5678")->multicast_mac().str() == "33:33:ff:34:56:78");
  CHECK(Ipv6::parse("ff02::1")->multicast_mac().str() == "33:33:00:00:00:01");
  // RFC 4291 appendix A: 34-56-78-9A-BC-DE becomes 3656:78ff:fe9a:bcde.
  CHECK(Ipv6::link_local_eui64(*Mac::parse("34:56:78:9a:bc:de")).str() ==
        "fe80::3656:78ff:fe9a:bcde");
  CHECK(Ipv6::link_local_eui64(*Mac::parse("02:00:00:00:01:02")).str() == "fe80::ff:fe00:102");
}

TEST_CASE("Prefix6 rejects host bits and bad lengths", "[inet]") {
  auto p = Prefix6::parse("2001:db8::/32");
  REQUIRE(p);
  CHECK(p->len == 32);
  CHECK(p->contains(*Ipv6::parse("2001:db8:ffff::1")));
  CHECK_FALSE(p->contains(*Ipv6::parse("2001:db9::")));
  CHECK(p->contains(*Prefix6::parse("2001:db8:1::/48")));
  CHECK_FALSE(Prefix6::parse("2001:db8:1::/48")->contains(*p));
  CHECK(p->overlaps(*Prefix6::parse("2001:db8:1::/48")));
  CHECK(Prefix6::parse("::/0"));
  CHECK(Prefix6::parse("::/0")->contains(*Ipv6::parse("ffff::1")));
  CHECK(Prefix6::parse("2001:db8::1/128"));
  CHECK(Prefix6::parse("2001:db8:0:1::/63") == std::nullopt);  // host bit in group 3
  CHECK(Prefix6::parse("2001:db8:0:2::/63"));
  for (const char* bad : {"2001:db8::1/64", "2001:db8::/129", "2001:db8::", "2001:db8::/",
                          "2001:db8::/032", "2001:db8::/-1", "/64", "2001:db8::/64/1"}) {
    INFO(bad);
    CHECK_FALSE(Prefix6::parse(bad));
  }
  Ipv6 host;
  auto ifa = Prefix6::parse_interface("2001:db8:1::1/64", &host);
  REQUIRE(ifa);
  CHECK(ifa->str() == "2001:db8:1::/64");
  CHECK(host.str() == "2001:db8:1::1");
  CHECK(Prefix6::parse("2001:db8::/32")->str() == "2001:db8::/32");
}

TEST_CASE("ipv6_mask and common_prefix_len count bits exactly", "[inet]") {
  const Ipv6 a = *Ipv6::parse("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(ipv6_mask(a, 0) == Ipv6());
  CHECK(ipv6_mask(a, 32).str() == "2001:db8::");
  CHECK(ipv6_mask(a, 33).str() == "2001:db8:8000::");
  CHECK(ipv6_mask(a, 127).str() == "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe");
  CHECK(ipv6_mask(a, 128) == a);
  CHECK(common_prefix_len(a, a) == 128);
  CHECK(common_prefix_len(*Ipv6::parse("2001:db8::"), *Ipv6::parse("2001:db8:8000::")) == 32);
  CHECK(common_prefix_len(*Ipv6::parse("::"), *Ipv6::parse("8000::")) == 0);
  CHECK(common_prefix_len(*Ipv6::parse("::"), *Ipv6::parse("::1")) == 127);
}
