// The IPv6 stages of the fast path (classify6, decide6, rewrite6) on frames built here.
#include <rte_mbuf.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "dpdk.hpp"
#include "forward.hpp"
#include "test_eal.hpp"

using namespace routerd;

namespace {

rte_mempool* pool() {
  testing::test_eal();
  static Mempool p = make_pktmbuf_pool("fwd6_test", 256, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  return p.get();
}

const Mac kRouterMac = *Mac::parse("02:00:00:00:aa:01");
const Mac kHostMac = *Mac::parse("02:00:00:00:00:02");

struct Frame6 {
  Mac dst = kRouterMac;
  uint8_t version = 6, hop_limit = 64, next_header = 17;
  Ipv6 src = *Ipv6::parse("2001:db8:1::2");
  Ipv6 dst_ip = *Ipv6::parse("2001:db8:2::2");
  size_t payload = 30;
  int length_delta = 0;  // added to the payload length field
  size_t pad = 0;

  rte_mbuf* build() const {
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    REQUIRE(m);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + 40 + payload + pad)));
    std::memset(p, 0, 14 + 40 + payload + pad);
    std::memcpy(p, dst.b.data(), 6);
    std::memcpy(p + 6, kHostMac.b.data(), 6);
    p[12] = 0x86;
    p[13] = 0xdd;
    uint8_t* ip = p + 14;
    ip[0] = uint8_t(version << 4);
    const auto plen = uint16_t(int(payload) + length_delta);
    ip[4] = uint8_t(plen >> 8);
    ip[5] = uint8_t(plen);
    ip[6] = next_header;
    ip[7] = hop_limit;
    std::memcpy(ip + 8, src.b.data(), 16);
    std::memcpy(ip + 24, dst_ip.b.data(), 16);
    return m;
  }
};

PortFastInfo port_info() {
  PortFastInfo pi;
  pi.mac = kRouterMac;
  pi.enabled = true;
  return pi;
}

// link_multicast: the port's control-plane interfaces are on.
Verdict classify_frame(const Frame6& f, uint8_t* dst = nullptr, bool link_multicast = false) {
  rte_mbuf* m = f.build();
  uint8_t d[16] = {};
  uint32_t d4 = 0;
  PortFastInfo pi = port_info();
  pi.link_multicast = link_multicast;
  Verdict v = classify(m, pi, true, &d4);
  if (v.action == Verdict::ipv6) v = classify6(m, pi, d);
  if (dst) std::memcpy(dst, d, 16);
  rte_pktmbuf_free(m);
  return v;
}

bool is_drop(const Verdict& v, Drop d) {
  return v.action == Verdict::drop && v.reason == uint8_t(d);
}
bool is_punt(const Verdict& v, Punt p) {
  return v.action == Verdict::punt && v.reason == uint8_t(p);
}

NextHopState state(NhKind kind, uint16_t port = 1, uint16_t mtu = 1500) {
  NextHopState s{};
  s.kind = kind;
  s.port = port;
  s.mtu = mtu;
  s.family = 6;
  s.id = 7;
  std::memcpy(s.l2, kHostMac.b.data(), 6);
  std::memcpy(s.l2 + 6, kRouterMac.b.data(), 6);
  s.l2[12] = 0x86;
  s.l2[13] = 0xdd;
  return s;
}

}  // namespace

TEST_CASE("classify6 passes a valid unicast datagram and gives its destination", "[worker][ipv6]") {
  Frame6 f;
  uint8_t d[16];
  const Verdict v = classify_frame(f, d);
  CHECK(v.action == Verdict::forward);
  CHECK(Ipv6::from_bytes(d) == f.dst_ip);
}

TEST_CASE("classify6: RFC 8200 and RFC 4291 failures are counted drops", "[worker][ipv6]") {
  Frame6 f;
  SECTION("version") {
    f.version = 4;
    CHECK(is_drop(classify_frame(f), Drop::ipv6_bad_version));
  }
  SECTION("payload length beyond the frame") {
    f.length_delta = 1;
    CHECK(is_drop(classify_frame(f), Drop::ipv6_truncated));
  }
  SECTION("shorter than a header") {
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 14 + 39));
    std::memset(p, 0, 14 + 39);
    uint8_t d[16];
    CHECK(is_drop(classify6(m, port_info(), d), Drop::ipv6_too_short));
    rte_pktmbuf_free(m);
  }
  SECTION("multicast, unspecified and loopback sources") {
    for (const char* s : {"ff02::1", "::", "::1"}) {
      f.src = *Ipv6::parse(s);
      INFO(s);
      CHECK(is_drop(classify_frame(f), Drop::ipv6_bad_source));
    }
  }
  SECTION("unspecified, loopback and v4-mapped destinations") {
    for (const char* s : {"::", "::1", "::ffff:10.0.0.1"}) {
      f.dst_ip = *Ipv6::parse(s);
      INFO(s);
      CHECK(is_drop(classify_frame(f), Drop::ipv6_bad_destination));
    }
  }
  SECTION("a unicast destination in a group frame") {
    f.dst = *Mac::parse("33:33:00:00:00:01");
    CHECK(is_drop(classify_frame(f), Drop::l2_bcast_unicast_ip));
  }
}

TEST_CASE("classify6: link-scope ICMPv6 multicast goes to control, other multicast is dropped",
          "[worker][ipv6]") {
  Frame6 f;
  f.dst = *Mac::parse("33:33:ff:00:00:01");
  f.dst_ip = *Ipv6::parse("ff02::1:ff00:1");
  f.next_header = 58;
  CHECK(is_punt(classify_frame(f), Punt::ndp));
  SECTION("a DAD probe from the unspecified address too") {
    f.src = Ipv6();
    CHECK(is_punt(classify_frame(f), Punt::ndp));
  }
  SECTION("behind a Hop-by-Hop header (MLD Queries): control looks") {
    f.dst_ip = kAllNodes;
    f.next_header = 0;
    CHECK(is_punt(classify_frame(f), Punt::ndp));
  }
  SECTION("not from a group or loopback source, which would be answered off the box") {
    for (const char* s : {"::1", "ff02::1", "ff0e::1"}) {
      f.src = *Ipv6::parse(s);
      INFO(s);
      CHECK(is_drop(classify_frame(f), Drop::ipv6_bad_source));
      f.dst_ip = kAllNodes;
      CHECK(is_drop(classify_frame(f), Drop::ipv6_bad_source));
    }
  }
  SECTION("not ICMPv6") {
    f.next_header = 17;
    CHECK(is_drop(classify_frame(f), Drop::multicast_destination));
  }
  SECTION("site scope") {
    f.dst_ip = *Ipv6::parse("ff05::2");
    CHECK(is_drop(classify_frame(f), Drop::multicast_destination));
  }
}

TEST_CASE(
    "classify6: other link-scope multicast goes to control only with control-plane "
    "interfaces on",
    "[worker][ipv6]") {
  // An OSPFv3 Hello as ospf6d sends it: ff02::5 from a link-local address, next header 89.
  Frame6 f;
  f.dst = *Mac::parse("33:33:00:00:00:05");
  f.dst_ip = *Ipv6::parse("ff02::5");
  f.src = *Ipv6::parse("fe80::2");
  f.next_header = 89;
  f.hop_limit = 1;
  {
    rte_mbuf* m = f.build();
    Dst6 d;
    CHECK_FALSE(classify6_fast(m, fast_key6(port_info()), &d));  // multicast: classify6 judges
    rte_pktmbuf_free(m);
  }
  CHECK(is_punt(classify_frame(f, nullptr, true), Punt::link_multicast));
  CHECK(is_drop(classify_frame(f, nullptr, false), Drop::multicast_destination));
  SECTION("every link-scope group, any protocol; a global source too") {
    for (const char* g : {"ff02::6", "ff02::9", "ff02::1:2", "ff12::1234"}) {
      f.dst_ip = *Ipv6::parse(g);
      f.next_header = 17;
      f.src = *Ipv6::parse("2001:db8:1::2");
      INFO(g);
      CHECK(is_punt(classify_frame(f, nullptr, true), Punt::link_multicast));
      CHECK(is_drop(classify_frame(f, nullptr, false), Drop::multicast_destination));
    }
  }
  SECTION("wider scopes and interface-local scope are still dropped") {
    for (const char* g : {"ff05::5", "ff0e::5", "ff01::5", "ff00::5"}) {
      f.dst_ip = *Ipv6::parse(g);
      INFO(g);
      CHECK(is_drop(classify_frame(f, nullptr, true), Drop::multicast_destination));
    }
  }
  SECTION("bad sources are dropped") {
    for (const char* s : {"ff02::1", "::1"}) {
      f.src = *Ipv6::parse(s);
      INFO(s);
      CHECK(is_drop(classify_frame(f, nullptr, true), Drop::ipv6_bad_source));
      CHECK(is_drop(classify_frame(f, nullptr, false), Drop::ipv6_bad_source));
    }
    f.src = Ipv6();
    CHECK(is_drop(classify_frame(f, nullptr, true), Drop::ipv6_bad_source));
    CHECK(is_drop(classify_frame(f, nullptr, false), Drop::multicast_destination));
  }
  SECTION("ICMPv6 and Hop-by-Hop stay NDP's, on or off") {
    for (uint8_t nh : {uint8_t(58), uint8_t(0)}) {
      f.next_header = nh;
      CHECK(is_punt(classify_frame(f, nullptr, true), Punt::ndp));
      CHECK(is_punt(classify_frame(f, nullptr, false), Punt::ndp));
    }
  }
}

TEST_CASE("classify6 trims link-layer padding", "[worker][ipv6]") {
  Frame6 f;
  f.payload = 2;
  f.pad = 10;
  rte_mbuf* m = f.build();
  uint8_t d[16];
  CHECK(classify6(m, port_info(), d).action == Verdict::forward);
  CHECK(rte_pktmbuf_pkt_len(m) == 14 + 40 + 2);
  rte_pktmbuf_free(m);
}

TEST_CASE("decide6: next-hop kinds, hop limit, scope, Hop-by-Hop and MTU", "[worker][ipv6]") {
  Frame6 f;
  const NextHopState fwd = state(NhKind::forward);
  auto decide_frame = [&](const NextHopState* s) {
    rte_mbuf* m = f.build();
    const Verdict v = decide6(m, s, 0);
    rte_pktmbuf_free(m);
    return v;
  };
  CHECK(decide_frame(&fwd).action == Verdict::forward);
  CHECK(is_punt(decide_frame(nullptr), Punt::no_route));
  const NextHopState local = state(NhKind::local);
  SECTION("the router's own: whatever the hop limit") {
    f.hop_limit = 1;
    CHECK(is_punt(decide_frame(&local), Punt::local));
  }
  SECTION("hop limit 1 and 0: Time Exceeded") {
    for (uint8_t h : {uint8_t(1), uint8_t(0)}) {
      f.hop_limit = h;
      CHECK(is_punt(decide_frame(&fwd), Punt::ttl_exceeded));
    }
  }
  SECTION("a link-local destination that is not the router's is dropped, route or not") {
    f.dst_ip = *Ipv6::parse("fe80::2");
    CHECK(is_drop(decide_frame(&fwd), Drop::link_local));
    CHECK(is_drop(decide_frame(nullptr), Drop::link_local));
    CHECK(is_punt(decide_frame(&local), Punt::local));
  }
  SECTION("a link-local source never leaves its link, and may go back out on it") {
    f.src = *Ipv6::parse("fe80::2");
    CHECK(is_punt(decide_frame(&fwd), Punt::beyond_scope));  // in on port 0, out on 1
    const NextHopState back = state(NhKind::forward, 0);
    CHECK(decide_frame(&back).action == Verdict::forward);
    const NextHopState tunnel = state(NhKind::tunnel, 0);
    CHECK(is_punt(decide_frame(&tunnel), Punt::beyond_scope));
    const NextHopState waiting = state(NhKind::unresolved, 0);
    CHECK(is_punt(decide_frame(&waiting), Punt::unresolved));
  }
  SECTION("Hop-by-Hop options go to control") {
    f.next_header = 0;
    CHECK(is_punt(decide_frame(&fwd), Punt::hop_by_hop));
  }
  SECTION("unresolved and glean next hops go to control with the id") {
    const NextHopState un = state(NhKind::unresolved);
    const Verdict v = decide_frame(&un);
    CHECK(is_punt(v, Punt::unresolved));
    CHECK(v.aux == 7);
  }
  SECTION("reject routes: blackhole dropped, prohibit and unreachable to control, any hop limit") {
    const NextHopState bh = state(NhKind::blackhole), pro = state(NhKind::prohibit),
                       un = state(NhKind::unreachable);
    for (uint8_t h : {uint8_t(64), uint8_t(1)}) {
      f.hop_limit = h;
      CHECK(is_drop(decide_frame(&bh), Drop::blackhole));
      CHECK(is_punt(decide_frame(&pro), Punt::prohibited));
      CHECK(is_punt(decide_frame(&un), Punt::unreachable));
    }
    // A link-local destination is dropped as such first, as with no route.
    f.dst_ip = *Ipv6::parse("fe80::2");
    CHECK(is_drop(decide_frame(&pro), Drop::link_local));
  }
  SECTION("larger than the MTU: Packet Too Big with the MTU, never fragmented") {
    f.payload = 1500 - 40 + 1;
    const Verdict v = decide_frame(&fwd);
    CHECK(is_punt(v, Punt::frag_needed));
    CHECK(v.aux == 1500);
    f.payload = 1500 - 40;
    CHECK(decide_frame(&fwd).action == Verdict::forward);
  }
}

TEST_CASE("rewrite6: hop limit minus one, L2 from the next hop", "[worker][ipv6]") {
  Frame6 f;
  rte_mbuf* m = f.build();
  const NextHopState s = state(NhKind::forward);
  rewrite6(m, &s);
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  CHECK(std::memcmp(p, s.l2, 14) == 0);
  CHECK(p[14 + 7] == 63);
  rte_pktmbuf_free(m);
}

TEST_CASE("classify6_fast only ever agrees with classify, classify6 and decide6",
          "[worker][ipv6]") {
  const FastKey6 key = fast_key6(port_info());
  {
    rte_mbuf* m = Frame6{}.build();
    Dst6 d{};
    CHECK(classify6_fast(m, key, &d));
    CHECK(Ipv6::from_bytes(d.b) == Frame6{}.dst_ip);
    rte_pktmbuf_free(m);
  }
  std::mt19937 rng(11);
  const char* const addrs[] = {"2001:db8:2::2",   "2001:db8:1::2", "::",      "::1",
                               "::ffff:10.0.0.1", "::10.0.0.1",    "ff02::1", "ff05::2",
                               "fe80::2",         "febf::1",       "fec0::1", "ff02::1:ff00:1",
                               "64:ff9b::1",      "0:0:0:1::1"};
  constexpr size_t kAddrs = std::size(addrs);
  const Mac macs[] = {kRouterMac, *Mac::parse("02:00:00:00:99:99"),
                      *Mac::parse("ff:ff:ff:ff:ff:ff"), *Mac::parse("33:33:00:00:00:01")};
  // Next hops: forward out of port 1 (with two MTUs), forward back out of the input port 0,
  // and the kinds that are never forwarded as they are.
  const NextHopState hops[] = {state(NhKind::forward),    state(NhKind::forward, 1, 1280),
                               state(NhKind::forward, 0), state(NhKind::local),
                               state(NhKind::unresolved), state(NhKind::blackhole),
                               state(NhKind::prohibit),   state(NhKind::unreachable)};
  int fast = 0, total = 0, forwarded = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Frame6 f;
    f.dst = macs[rng() % 4 == 0 ? rng() % 4 : 0];
    f.version = rng() % 10 == 0 ? uint8_t(rng() % 16) : 6;
    f.hop_limit = uint8_t(rng() % 4 == 0 ? rng() % 3 : 64);
    f.next_header = rng() % 6 == 0 ? uint8_t(rng() % 3 == 0 ? 0 : 58) : 17;
    f.src = *Ipv6::parse(rng() % 3 == 0 ? addrs[rng() % kAddrs] : "2001:db8:1::2");
    f.dst_ip = *Ipv6::parse(rng() % 3 == 0 ? addrs[rng() % kAddrs] : "2001:db8:2::2");
    f.payload = rng() % 4 == 0 ? 1240 + rng() % 40 : rng() % 64;
    f.pad = rng() % 5 == 0 ? rng() % 20 : 0;
    f.length_delta = rng() % 8 == 0 ? int(rng() % 5) - 2 : 0;
    rte_mbuf* m = f.build();
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    switch (rng() % 8) {
      case 0:
        p[12 + rng() % 2] ^= uint8_t(1 + rng() % 255);  // another EtherType
        break;
      case 1:
        p[14 + rng() % 40] ^= uint8_t(1 << (rng() % 8));  // one bit of the header
        break;
      case 2:
        rte_pktmbuf_trim(m, uint16_t(std::min<uint32_t>(rte_pktmbuf_pkt_len(m), 1 + rng() % 30)));
        break;
      default:
        break;
    }
    Dst6 fd{};
    const bool is_fast = classify6_fast(m, key, &fd);
    // The exact path, as a burst without classify6_fast would take it.
    uint32_t d4 = 0;
    uint8_t cd[16] = {};
    Verdict v = classify(m, port_info(), true, &d4);
    if (v.action == Verdict::ipv6) v = classify6(m, port_info(), cd);
    ++total;
    if (!is_fast) {
      rte_pktmbuf_free(m);
      continue;
    }
    ++fast;
    INFO("iteration " << iter << " exact action " << int(v.action) << " reason " << int(v.reason));
    REQUIRE(v.action == Verdict::forward);
    REQUIRE(std::memcmp(fd.b, cd, 16) == 0);
    // For every next hop, the two halves of the fast decision say forward exactly when
    // decide6 does and the next hop does not lead back out of the input port (0).
    for (const NextHopState& s : hops) {
      const bool got = forwards6(m, forward_limit(&s, 0));
      const Verdict dv = decide6(m, &s, 0);
      INFO("kind " << int(s.kind) << " port " << s.port << " mtu " << s.mtu);
      REQUIRE(got == (dv.action == Verdict::forward && s.port != 0));
      forwarded += got;
    }
    REQUIRE_FALSE(forwards6(m, forward_limit(nullptr, 0)));
    rte_pktmbuf_free(m);
  }
  // The generator must exercise both paths, and both answers of the decision.
  CHECK(fast > total / 10);
  CHECK(fast < total * 9 / 10);
  CHECK(forwarded > 0);
  CHECK(forwarded < fast * 8);
}
