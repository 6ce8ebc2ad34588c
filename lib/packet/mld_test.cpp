// MLD frames as routerd sends them (built, then read back byte by byte and by the parser),
// and Queries as a querier sends them, valid and not.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "icmp6.hpp"
#include "mld.hpp"

using namespace routerd;

namespace {

const Mac kMac = *Mac::parse("02:00:00:00:00:01");
const Ipv6 kLl = *Ipv6::parse("fe80::1");

// A Query from src to dst about group: v2 (28 bytes) or v1 (24), with a Hop-by-Hop header
// carrying Router Alert when `alert`, hop limit `hops`. Returns the IPv6 packet.
std::vector<uint8_t> query(const Ipv6& src, const Ipv6& dst, const Ipv6& group, bool v2,
                           uint16_t code, bool alert = true, uint8_t hops = 1) {
  const size_t mlen = v2 ? 28 : 24;
  std::vector<uint8_t> p(40 + 8 + mlen);
  p[0] = 0x60;
  p[5] = uint8_t(8 + mlen);
  p[6] = 0;
  p[7] = hops;
  std::memcpy(&p[8], src.b.data(), 16);
  std::memcpy(&p[24], dst.b.data(), 16);
  p[40] = 58;
  p[41] = 0;
  if (alert) {
    p[42] = 5, p[43] = 2, p[44] = 0, p[45] = 0;
  } else {
    p[42] = 1, p[43] = 2;  // PadN
  }
  p[46] = 1, p[47] = 0;
  uint8_t* m = &p[48];
  m[0] = 130;
  m[4] = uint8_t(code >> 8);
  m[5] = uint8_t(code);
  std::memcpy(m + 8, group.b.data(), 16);
  if (v2) m[25] = 125;  // QQIC
  const uint16_t ck = icmp6_checksum(src, dst, m, mlen);
  m[2] = uint8_t(ck >> 8);
  m[3] = uint8_t(ck);
  return p;
}

}  // namespace

TEST_CASE("an MLDv2 Report is link scope, hop limit 1, Router Alert, checksummed",
          "[packet][mld]") {
  const Ipv6 g1 = *Ipv6::parse("ff02::1:ff00:1"), g2 = kAllRouters;
  const MldRecord recs[] = {{mld::change_to_exclude, g1}, {mld::change_to_include, g2}};
  uint8_t f[mld::kMaxFrame];
  const size_t n = mld_build_report_v2(f, kMac, kLl, recs);
  REQUIRE(n == 14 + 40 + 8 + 8 + 2 * 20);
  // Ethernet: 33:33:00:00:00:16 from our MAC.
  CHECK(f[0] == 0x33);
  CHECK(f[1] == 0x33);
  CHECK(f[5] == 0x16);
  CHECK(std::memcmp(f + 6, kMac.b.data(), 6) == 0);
  const uint8_t* ip = f + 14;
  CHECK(ip[6] == 0);  // Hop-by-Hop first
  CHECK(ip[7] == 1);  // hop limit 1
  CHECK(ip[5] == 8 + 8 + 40);
  CHECK(ip[40] == 58);
  CHECK(ip[42] == 5);  // Router Alert, value 0 (MLD)
  CHECK(ip[43] == 2);
  CHECK(ip[44] == 0);
  CHECK(ip[45] == 0);
  const uint8_t* m = ip + 48;
  CHECK(m[0] == 143);
  CHECK(icmp6_checksum(kLl, mld::kAllMldv2Routers, m, 48) == 0);  // pseudo-header included
  CHECK(icmp6_checksum(kLl, kAllNodes, m, 48) != 0);
  const auto r = mld_parse_report(ip, n - 14);
  REQUIRE(r);
  CHECK(r->type == mld::report_v2);
  CHECK(r->dst == mld::kAllMldv2Routers);
  CHECK(r->src == kLl);
  CHECK(r->hop_limit == 1);
  CHECK(r->router_alert);
  REQUIRE(r->records.size() == 2);
  CHECK(r->records[0].type == mld::change_to_exclude);
  CHECK(r->records[0].group == g1);
  CHECK(r->records[1].type == mld::change_to_include);
  CHECK(r->records[1].group == g2);
  // A flipped bit fails the checksum.
  std::vector<uint8_t> bad(ip, ip + n - 14);
  bad[48 + 8 + 4 + 15] ^= 1;
  CHECK(!mld_parse_report(bad.data(), bad.size()));
}

TEST_CASE("MLDv1 Report goes to its group, Done to all-routers", "[packet][mld]") {
  const Ipv6 g = *Ipv6::parse("ff02::1:ff00:1");
  uint8_t f[mld::kMaxFrame];
  size_t n = mld_build_v1(f, kMac, Ipv6{}, mld::report_v1, g);
  auto r = mld_parse_report(f + 14, n - 14);
  REQUIRE(r);
  CHECK(r->dst == g);
  CHECK(r->src.is_unspecified());
  CHECK(r->records.at(0).group == g);
  n = mld_build_v1(f, kMac, kLl, mld::done_v1, g);
  r = mld_parse_report(f + 14, n - 14);
  REQUIRE(r);
  CHECK(r->dst == kAllRouters);
  CHECK(r->type == mld::done_v1);
}

TEST_CASE("MLD queries: versions, delays, and what is not a query", "[packet][mld]") {
  const Ipv6 g = *Ipv6::parse("ff02::1:ff00:1");
  auto p = query(kLl, kAllNodes, Ipv6{}, true, 10000);
  auto q = mld_parse_query(p.data(), p.size());
  REQUIRE(q);
  CHECK(q->v2);
  CHECK(q->group.is_unspecified());
  CHECK(q->max_response_ms == 10000);
  // RFC 3810 5.1.3's exponential form: mant 0x234, exp 1 -> (0x1234) << 4.
  p = query(kLl, kAllNodes, Ipv6{}, true, 0x8000 | 0x1000 | 0x234);
  q = mld_parse_query(p.data(), p.size());
  REQUIRE(q);
  CHECK(q->max_response_ms == (0x1234u << 4));
  p = query(kLl, g, g, false, 500);
  q = mld_parse_query(p.data(), p.size());
  REQUIRE(q);
  CHECK(!q->v2);
  CHECK(q->group == g);
  CHECK(q->max_response_ms == 500);

  SECTION("not a query") {
    p = query(*Ipv6::parse("2001:db8::1"), kAllNodes, Ipv6{}, true, 1000);  // global source
    CHECK(!mld_parse_query(p.data(), p.size()));
    p = query(kLl, kAllNodes, Ipv6{}, true, 1000, /*alert=*/false);
    CHECK(!mld_parse_query(p.data(), p.size()));
    p = query(kLl, kAllNodes, Ipv6{}, true, 1000, true, /*hops=*/2);
    CHECK(!mld_parse_query(p.data(), p.size()));
    p = query(kLl, kAllRouters, Ipv6{}, true, 1000);  // a general query not to all-nodes
    CHECK(!mld_parse_query(p.data(), p.size()));
    p = query(kLl, kAllNodes, Ipv6{}, true, 1000);
    p[48 + 6] ^= 1;  // a reserved byte: the checksum no longer matches
    CHECK(!mld_parse_query(p.data(), p.size()));
    p = query(kLl, kAllNodes, Ipv6{}, true, 1000);
    CHECK(!mld_parse_query(p.data(), p.size() - 1));  // truncated
  }
}
