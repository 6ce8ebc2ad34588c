#include "ndp.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "packet_test_util.hpp"

using namespace routerd;
using routerd::testing::from_hex;

namespace {

Ipv6 a6(const char* s) {
  return *Ipv6::parse(s);
}
const Mac kMac = *Mac::parse("02:00:00:00:01:01");

// Frames written by scapy 2.5 (Debian 12), the independent reference for layout and checksum.
const char* kScapyNs =
    "3333ff00000202000000010186dd6000000000203afffe80000000000000000000fffe000101ff0200000000"
    "000000000001ff00000287004a5e0000000020010db80001000000000000000000020101020000000101";
const char* kScapyNa =
    "02000000020202000000010186dd6000000000203aff20010db800010000000000000000000120010db80001"
    "0000000000000000000288000970e000000020010db80001000000000000000000010201020000000101";

// Re-checksums an edited frame so that only the edit is wrong.
void fix_checksum(std::vector<uint8_t>& f) {
  uint8_t* ip = f.data() + 14;
  const size_t plen = size_t(ip[4] << 8 | ip[5]);
  uint8_t* msg = ip + 40;
  msg[2] = msg[3] = 0;
  const uint16_t c = icmp6_checksum(Ipv6::from_bytes(ip + 8), Ipv6::from_bytes(ip + 24), msg, plen);
  msg[2] = uint8_t(c >> 8);
  msg[3] = uint8_t(c);
}

std::optional<NdMessage> parse(const std::vector<uint8_t>& f) {
  return ndp_parse(f.data() + 14, f.size() - 14);
}

}  // namespace

TEST_CASE("NS and NA are built byte for byte as scapy builds them", "[packet][ndp]") {
  uint8_t out[kNdMaxFrame];
  size_t n = ndp_build_ns(out, kMac, a6("fe80::ff:fe00:101"), a6("2001:db8:1::2"));
  CHECK(std::vector<uint8_t>(out, out + n) == from_hex(kScapyNs));
  n = ndp_build_na(out, kMac, a6("2001:db8:1::1"), a6("2001:db8:1::2"),
                   *Mac::parse("02:00:00:00:02:02"), a6("2001:db8:1::1"), true, true, true);
  CHECK(std::vector<uint8_t>(out, out + n) == from_hex(kScapyNa));
}

TEST_CASE("ndp_parse reads what scapy writes", "[packet][ndp]") {
  auto ns = parse(from_hex(kScapyNs));
  REQUIRE(ns);
  CHECK(ns->type == nd::neighbor_solicit);
  CHECK(ns->target == a6("2001:db8:1::2"));
  CHECK(ns->dst == a6("ff02::1:ff00:2"));
  REQUIRE(ns->source_lla);
  CHECK(*ns->source_lla == kMac);
  auto na = parse(from_hex(kScapyNa));
  REQUIRE(na);
  CHECK(na->type == nd::neighbor_advert);
  CHECK((na->router && na->solicited && na->override_flag));
  REQUIRE(na->target_lla);
  CHECK(*na->target_lla == kMac);
}

TEST_CASE("ndp_parse refuses what RFC 4861 says to discard", "[packet][ndp]") {
  const auto good = from_hex(kScapyNs);
  REQUIRE(parse(good));
  auto edited = [&](auto edit, bool rechecksum = true) {
    auto f = good;
    edit(f);
    if (rechecksum) fix_checksum(f);
    return parse(f);
  };
  // 14 Ethernet + 40 IPv6: the ICMPv6 message starts at 54, the target at 62.
  CHECK_FALSE(edited([](auto& f) { f[14 + 7] = 254; }));         // hop limit not 255
  CHECK_FALSE(edited([](auto& f) { f[54 + 1] = 1; }));           // code not 0
  CHECK_FALSE(edited([](auto& f) { f[54 + 30] ^= 1; }, false));  // checksum wrong
  CHECK_FALSE(edited([](auto& f) { f[14 + 6] = 0; }));           // not ICMPv6 (hop-by-hop)
  CHECK_FALSE(edited([](auto& f) { f[14] = 0x40; }));            // not version 6
  CHECK_FALSE(edited([](auto& f) { f[62] = 0xff; }));            // multicast target
  CHECK_FALSE(edited([](auto& f) { f[54 + 25] = 0; }));          // option of length 0
  CHECK_FALSE(edited([](auto& f) { f[54 + 25] = 2; }));          // option past the message
  CHECK_FALSE(edited([](auto& f) { f[14 + 8] = 0xff; }));        // multicast source
  // Payload length beyond the frame, and a message shorter than an NS.
  CHECK_FALSE(edited([](auto& f) { f[14 + 5] = 0x40; }, false));
  CHECK_FALSE(ndp_parse(good.data() + 14, 40 + 20));
  {
    auto f = good;
    f[14 + 5] = 20;  // payload length 20 < 24
    fix_checksum(f);
    CHECK_FALSE(parse(f));
  }
  CHECK_FALSE(ndp_parse(good.data() + 14, 39));
}

TEST_CASE("duplicate address detection: an unspecified source only as RFC 4862 sends it",
          "[packet][ndp]") {
  uint8_t out[kNdMaxFrame];
  const size_t n = ndp_build_ns(out, kMac, Ipv6(), a6("2001:db8:1::7"));
  std::vector<uint8_t> f(out, out + n);
  auto m = parse(f);
  REQUIRE(m);
  CHECK(m->src.is_unspecified());
  CHECK_FALSE(m->source_lla);  // none from the unspecified address
  CHECK(m->dst == a6("ff02::1:ff00:7"));
  // To anything but the target's solicited-node group: discarded.
  auto g = f;
  std::memcpy(g.data() + 14 + 24, a6("ff02::1").b.data(), 16);
  fix_checksum(g);
  CHECK_FALSE(parse(g));
  // With a source link-layer option from the unspecified address: discarded.
  const size_t n2 = ndp_build_ns(out, kMac, a6("fe80::1"), a6("2001:db8:1::7"));
  std::vector<uint8_t> h(out, out + n2);
  std::memset(h.data() + 14 + 8, 0, 16);
  fix_checksum(h);
  CHECK_FALSE(parse(h));
}

TEST_CASE("an NA to a multicast group must not claim to be solicited", "[packet][ndp]") {
  uint8_t out[kNdMaxFrame];
  const Ipv6 all = a6("ff02::1");
  size_t n = ndp_build_na(out, kMac, a6("fe80::1"), all, all.multicast_mac(), a6("2001:db8::1"),
                          true, false, true);
  auto ok = ndp_parse(out + 14, n - 14);
  REQUIRE(ok);
  CHECK((ok->router && !ok->solicited && ok->override_flag));
  n = ndp_build_na(out, kMac, a6("fe80::1"), all, all.multicast_mac(), a6("2001:db8::1"), true,
                   true, true);
  CHECK_FALSE(ndp_parse(out + 14, n - 14));
}

TEST_CASE("a Router Advertisement carries its prefixes, MTU and link-layer address",
          "[packet][ndp]") {
  uint8_t out[kNdMaxFrame];
  const RaPrefix pfx[] = {{*Prefix6::parse("2001:db8:1::/64"), 2592000, 604800},
                          {*Prefix6::parse("2001:db8:2::/48"), 86400, 14400, false}};
  const Ipv6 all = a6("ff02::1");
  const size_t n = ndp_build_ra(out, kMac, Ipv6::link_local_eui64(kMac), all, all.multicast_mac(),
                                1800, 1500, pfx);
  CHECK(n == 14 + 40 + 16 + 8 + 8 + 2 * 32);
  CHECK(Mac{{out[0], out[1], out[2], out[3], out[4], out[5]}}.str() == "33:33:00:00:00:01");
  auto m = ndp_parse(out + 14, n - 14);
  REQUIRE(m);
  CHECK(m->type == nd::router_advert);
  CHECK(m->router_lifetime == 1800);
  CHECK(m->cur_hop_limit == 64);
  REQUIRE(m->mtu);
  CHECK(*m->mtu == 1500);
  REQUIRE(m->source_lla);
  CHECK(*m->source_lla == kMac);
  // The first Prefix Information option: length 64, L and A, lifetimes, the prefix.
  const uint8_t* o = out + 14 + 40 + 16 + 8 + 8;
  CHECK((o[0] == 3 && o[1] == 4 && o[2] == 64 && o[3] == 0xc0));
  CHECK(Ipv6::from_bytes(o + 16) == a6("2001:db8:1::"));
  // The second: on-link only (L without A), as for a prefix SLAAC cannot fill.
  CHECK((o[32] == 3 && o[34] == 48 && o[35] == 0x80));
  // ndp_parse keeps them, for the consistency check of RAs from other routers (6.2.7).
  REQUIRE(m->n_prefixes == 2);
  CHECK(m->prefixes[0].prefix == *Prefix6::parse("2001:db8:1::/64"));
  CHECK(m->prefixes[0].valid_lifetime == 2592000);
  CHECK(m->prefixes[0].preferred_lifetime == 604800);
  CHECK(m->prefixes[0].autonomous);
  CHECK(m->prefixes[1].prefix == *Prefix6::parse("2001:db8:2::/48"));
  CHECK(m->prefixes[1].valid_lifetime == 86400);
  CHECK(!m->prefixes[1].autonomous);
  CHECK(m->reachable_time == 0);
  CHECK(m->retrans_timer == 0);
  CHECK((!m->managed && !m->other));
  // A Prefix Information option of 3 units, or with a prefix length over 128: malformed.
  std::vector<uint8_t> bad(out + 14, out + n);
  auto reparse = [&](std::initializer_list<std::pair<size_t, uint8_t>> edits) {
    std::vector<uint8_t> b = bad;
    for (const auto& [at, v] : edits) b[at] = v;
    b[40 + 2] = b[40 + 3] = 0;
    const uint16_t ck = icmp6_checksum(Ipv6::from_bytes(&b[8]), all, &b[40], b.size() - 40);
    b[40 + 2] = uint8_t(ck >> 8);
    b[40 + 3] = uint8_t(ck);
    return ndp_parse(b.data(), b.size());
  };
  const size_t opt = 40 + 16 + 8 + 8;
  CHECK(reparse({{opt + 2, 64}}));  // unchanged: still valid
  CHECK_FALSE(reparse({{opt + 2, 129}}));
  // 3 units, the 8 bytes left made an option of their own (type 0, one unit): only the
  // prefix option's length is wrong.
  CHECK(reparse({{opt + 24, 0}, {opt + 25, 1}}));
  CHECK_FALSE(reparse({{opt + 1, 3}, {opt + 24, 0}, {opt + 25, 1}}));
  // From a global source: discarded (RFC 4861 6.1.2).
  const size_t n2 =
      ndp_build_ra(out, kMac, a6("2001:db8::1"), all, all.multicast_mac(), 1800, 0, {});
  CHECK_FALSE(ndp_parse(out + 14, n2 - 14));
}

// The fuzz seeds (test/fuzz/make-seeds builds them in Python, checksums included): the valid
// ones parse, the broken ones do not.
TEST_CASE("ndp_parse agrees with the Python-built seeds", "[packet][ndp]") {
  auto load = [](const char* name) {
    const std::string path = std::string(ROUTERD_SOURCE_ROOT) + "/test/fuzz/corpus/ndp/" + name;
    FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f);
    std::vector<uint8_t> v(4096);
    v.resize(std::fread(v.data(), 1, v.size(), f));
    std::fclose(f);
    return v;
  };
  for (const char* ok : {"ns", "ns-dad", "ns-unicast", "na-solicited", "rs", "ra", "redirect"}) {
    INFO(ok);
    const auto v = load(ok);
    CHECK(ndp_parse(v.data(), v.size()));
  }
  for (const char* bad : {"na-multicast-solicited", "ns-hlim-64", "ns-zero-option"}) {
    INFO(bad);
    const auto v = load(bad);
    CHECK_FALSE(ndp_parse(v.data(), v.size()));
  }
  const auto ra = load("ra");
  auto m = ndp_parse(ra.data(), ra.size());
  REQUIRE(m);
  CHECK((m->mtu && *m->mtu == 1500 && m->router_lifetime == 1800));
}
