#include "tunnel.hpp"

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "dpdk.hpp"
#include "packet_test_util.hpp"
#include "test_eal.hpp"

using namespace routerd;
using namespace routerd::testing;

namespace {

const uint8_t kL2[14] = {2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 1, 0x08, 0x00};

rte_mempool* pool() {
  static Mempool p =
      (testing::test_eal(),
       make_pktmbuf_pool("tunnel_test", 256, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY));
  return p.get();
}

// A frame with an IPv4 (or IPv6) packet of `len` bytes behind a 14-byte Ethernet header.
rte_mbuf* inner(uint16_t len, bool v6 = false, uint8_t ttl = 63) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  REQUIRE(m);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + len)));
  std::memset(p, 0xee, 14);
  for (uint32_t i = 0; i < len; ++i) p[14 + i] = uint8_t(i * 13 + 1);
  if (v6) {
    p[14] = 0x60;
    p[14 + 7] = ttl;
  } else {
    p[14] = 0x45;
    p[14 + 8] = ttl;
  }
  return m;
}

TunnelFastInfo tun(bool key = false, bool csum = false, bool seq = false) {
  TunnelFastInfo t;
  t.enabled = true;
  t.local = 0xc0000201;   // 192.0.2.1
  t.remote = 0xc6336402;  // 198.51.100.2
  t.has_key = key;
  t.key = 0x01020304;
  t.csum = csum;
  t.seq = seq;
  return t;
}

}  // namespace

TEST_CASE("gre_encap: outer IPv4 and a plain GRE header, byte by byte", "[tunnel]") {
  rte_mbuf* m = inner(100);
  const std::vector<uint8_t> before(rte_pktmbuf_mtod(m, uint8_t*) + 14,
                                    rte_pktmbuf_mtod(m, uint8_t*) + 114);
  const TunnelFastInfo t = tun();
  REQUIRE(gre_overhead(t) == 24);
  REQUIRE(gre_encap(m, t, kL2, RTE_BE16(RTE_ETHER_TYPE_IPV4), 0x4242, 0));
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  REQUIRE(rte_pktmbuf_pkt_len(m) == 14 + 24 + 100);
  CHECK(std::memcmp(p, kL2, 14) == 0);
  const uint8_t* ip = p + 14;
  CHECK(ip[0] == 0x45);
  CHECK(get16(ip + 2) == 124);     // total length
  CHECK(get16(ip + 4) == 0x4242);  // identification
  CHECK(get16(ip + 6) == 0x4000);  // DF, offset 0
  CHECK(ip[8] == 64);              // the default TTL
  CHECK(ip[9] == 47);
  CHECK(get32(ip + 12) == 0xc0000201);
  CHECK(get32(ip + 16) == 0xc6336402);
  CHECK(ref_ok(ip, 20));  // header checksum
  const uint8_t* gre = ip + 20;
  CHECK(get16(gre) == 0);  // no C, K or S; version 0
  CHECK(get16(gre + 2) == 0x0800);
  CHECK(std::vector<uint8_t>(gre + 4, gre + 104) == before);
  rte_pktmbuf_free(m);
}

TEST_CASE("gre_encap: key, checksum and sequence number (RFC 2784, RFC 2890)", "[tunnel]") {
  rte_mbuf* m = inner(61, true, 17);  // odd length: the checksum pads
  TunnelFastInfo t = tun(true, true, true);
  t.ttl = 0;  // inherit
  REQUIRE(gre_overhead(t) == 36);
  REQUIRE(gre_encap(m, t, kL2, RTE_BE16(RTE_ETHER_TYPE_IPV6), 1, 0xdeadbeef));
  const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*) + 14;
  CHECK(ip[8] == 17);  // the inner hop limit, inherited
  CHECK(get16(ip + 2) == 20 + 16 + 61);
  const uint8_t* gre = ip + 20;
  CHECK(get16(gre) == 0xb000);  // C, K, S
  CHECK(get16(gre + 2) == 0x86dd);
  CHECK(get16(gre + 6) == 0);  // Reserved1
  CHECK(get32(gre + 8) == 0x01020304);
  CHECK(get32(gre + 12) == 0xdeadbeef);
  CHECK(ref_ok(gre, 16 + 61));  // the GRE checksum covers header and payload
  GreInfo g;
  REQUIRE(gre_parse(gre, 16 + 61, &g) == GreParse::ok);
  CHECK(g.has_key);
  CHECK(g.key == 0x01020304);
  CHECK(g.hlen == 16);
  CHECK(g.proto == RTE_BE16(RTE_ETHER_TYPE_IPV6));
  rte_pktmbuf_free(m);
}

TEST_CASE("gre_encap: refuses a packet without headroom, unchanged", "[tunnel]") {
  rte_mbuf* m = inner(40);
  const uint16_t room = rte_pktmbuf_headroom(m);
  REQUIRE(rte_pktmbuf_prepend(m, uint16_t(room - 10)));  // 10 bytes of headroom left
  const uint32_t len = rte_pktmbuf_pkt_len(m);
  CHECK_FALSE(gre_encap(m, tun(), kL2, RTE_BE16(RTE_ETHER_TYPE_IPV4), 0, 0));
  CHECK(rte_pktmbuf_pkt_len(m) == len);
  rte_pktmbuf_free(m);
}

TEST_CASE("gre_parse: flags, lengths and checksums as received", "[tunnel]") {
  GreInfo g;
  uint8_t b[64] = {};
  put16(b + 2, 0x0800);
  CHECK(gre_parse(b, 4, &g) == GreParse::ok);
  CHECK_FALSE(g.has_key);
  CHECK(g.hlen == 4);
  CHECK(gre_parse(b, 3, &g) == GreParse::bad_header);
  // Routing present (RFC 1701), strict source route, recursion, version 1 (PPTP): dropped.
  for (uint16_t f : {0x4000, 0x0800, 0x0400, 0x0001}) {
    put16(b, f);
    CHECK(gre_parse(b, 20, &g) == GreParse::bad_header);
  }
  // Bits 6-12 are reserved and ignored (RFC 2784 2.3).
  put16(b, 0x0040);
  CHECK(gre_parse(b, 20, &g) == GreParse::ok);
  // A key with no room for it.
  put16(b, kGreFlagK);
  CHECK(gre_parse(b, 7, &g) == GreParse::bad_header);
  put32(b + 4, 77);
  REQUIRE(gre_parse(b, 8, &g) == GreParse::ok);
  CHECK(g.key == 77);
  // Sequence numbers are accepted and skipped.
  put16(b, kGreFlagS);
  REQUIRE(gre_parse(b, 8, &g) == GreParse::ok);
  CHECK_FALSE(g.has_key);
  CHECK(g.hlen == 8);
  // A checksum: right, then one payload byte changed.
  std::memset(b, 0, sizeof b);
  put16(b, kGreFlagC);
  put16(b + 2, 0x0800);
  for (int i = 8; i < 40; ++i) b[i] = uint8_t(i);
  put16(b + 4, uint16_t(~ref_sum(b, 40)));
  CHECK(gre_parse(b, 40, &g) == GreParse::ok);
  CHECK(g.hlen == 8);
  b[20] ^= 1;
  CHECK(gre_parse(b, 40, &g) == GreParse::bad_checksum);
}

TEST_CASE("tunnel_match: endpoints and keys must all match (RFC 2890 2.1)", "[tunnel]") {
  TunnelFastInfo t[3] = {tun(), tun(true), tun()};
  t[2].enabled = false;
  t[1].key = 5;
  GreInfo g;
  bool other = false;
  CHECK(tunnel_match(t, 3, 0xc0000201, 0xc6336402, g, &other) == 0);
  g.has_key = true;
  g.key = 5;
  CHECK(tunnel_match(t, 3, 0xc0000201, 0xc6336402, g, &other) == 1);
  g.key = 6;
  CHECK(tunnel_match(t, 3, 0xc0000201, 0xc6336402, g, &other) == -1);
  CHECK(other);  // a wrong key: gre_bad_key
  t[0].enabled = false;
  g.has_key = false;
  CHECK(tunnel_match(t, 3, 0xc0000201, 0xc6336402, g, &other) == -1);
  CHECK(other);  // keyed tunnel, no key in the packet
  CHECK(tunnel_match(t, 3, 0xc0000201, 0xc6336403, g, &other) == -1);
  CHECK_FALSE(other);  // nobody's remote: gre_no_tunnel
  CHECK(tunnel_match(t, 3, 0xc0000202, 0xc6336402, g, &other) == -1);
  CHECK_FALSE(other);
}

TEST_CASE("tunnel_mtu: the outer MTU less 24 bytes, 28 with a key, or the configured one",
          "[tunnel]") {
  TunnelFastInfo t = tun();
  CHECK(tunnel_mtu(t, 1500) == 1476);
  CHECK(tunnel_mtu(t, 1400) == 1376);
  t.has_key = true;
  CHECK(tunnel_mtu(t, 1500) == 1472);
  t.mtu = 1400;
  CHECK(tunnel_mtu(t, 1500) == 1400);
  CHECK(tunnel_mtu(t, 1300) == 1272);  // the outer path still bounds it
  CHECK(tunnel_mtu(t, 50) == 68);      // never below IPv4's minimum
  CHECK(is_tunnel_port(kTunnelBase));
  CHECK(is_tunnel_port(kMaxPorts - 1));
  CHECK_FALSE(is_tunnel_port(kTunnelBase - 1));
  CHECK_FALSE(is_tunnel_port(kMaxPorts));
}
