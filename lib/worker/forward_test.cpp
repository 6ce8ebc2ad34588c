#include "forward.hpp"

#include <rte_mbuf.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "dpdk.hpp"
#include "test_eal.hpp"

using namespace routerd;

namespace {

rte_mempool* pool() {
  testing::test_eal();
  static Mempool p = make_pktmbuf_pool("fwd_test", 1024, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  return p.get();
}

const Mac kRouterMac = *Mac::parse("02:00:00:00:aa:01");
const Mac kHostMac = *Mac::parse("02:00:00:00:00:02");

// Reference RFC 1071 checksum, independent of the code under test.
uint16_t ref_cksum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

struct Frame {
  Mac dst = kRouterMac;
  uint16_t ethertype = RTE_ETHER_TYPE_IPV4;
  uint8_t ihl = 5, ttl = 64, proto = 17;
  uint16_t frag = 0;  // flags+offset, host order
  Ipv4 src = Ipv4(10, 1, 0, 2), dst_ip = Ipv4(10, 2, 0, 2);
  size_t payload = 30;
  std::vector<uint8_t> options;
  size_t pad = 0;

  rte_mbuf* build() const {
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    REQUIRE(m);
    size_t ip_len = ihl * 4u + payload;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + ip_len + pad)));
    std::memset(p, 0, 14 + ip_len + pad);
    std::memcpy(p, dst.b.data(), 6);
    std::memcpy(p + 6, kHostMac.b.data(), 6);
    p[12] = uint8_t(ethertype >> 8);
    p[13] = uint8_t(ethertype);
    uint8_t* ip = p + 14;
    ip[0] = uint8_t(0x40 | ihl);
    ip[2] = uint8_t(ip_len >> 8);
    ip[3] = uint8_t(ip_len);
    ip[6] = uint8_t(frag >> 8);
    ip[7] = uint8_t(frag);
    ip[8] = ttl;
    ip[9] = proto;
    for (int i = 0; i < 4; ++i) {
      ip[12 + i] = uint8_t(src.v >> (24 - 8 * i));
      ip[16 + i] = uint8_t(dst_ip.v >> (24 - 8 * i));
    }
    if (!options.empty()) std::memcpy(ip + 20, options.data(), options.size());
    uint16_t c = ref_cksum(ip, ihl * 4u);
    ip[10] = uint8_t(c >> 8);
    ip[11] = uint8_t(c);
    return m;
  }
};

PortFastInfo port_info() {
  PortFastInfo pi;
  pi.mac = kRouterMac;
  pi.enabled = true;
  pi.nbcast = 1;
  pi.bcast[0] = Ipv4(10, 1, 0, 255).v;
  return pi;
}

Verdict run_classify(const Frame& f, bool martians = true, uint32_t* dst_out = nullptr) {
  rte_mbuf* m = f.build();
  uint32_t dst = 0;
  Verdict v = classify(m, port_info(), martians, &dst);
  if (dst_out) *dst_out = dst;
  rte_pktmbuf_free(m);
  return v;
}

void check_drop(const Frame& f, Drop d) {
  Verdict v = run_classify(f);
  INFO("expected " << drop_name(d) << ", got action " << int(v.action) << " reason "
                   << int(v.reason));
  CHECK(v.action == Verdict::drop);
  CHECK(Drop(v.reason) == d);
}

NextHopState state(NhKind kind, uint16_t mtu = 1500) {
  NextHopState s{};
  s.kind = kind;
  s.port = 1;
  s.mtu = mtu;
  s.id = 7;
  std::memcpy(s.l2, "\x02\x00\x00\x00\x01\x02\x02\x00\x00\x00\xaa\x02\x08\x00", 14);
  return s;
}

}  // namespace

TEST_CASE("classify forwards a valid unicast datagram", "[worker]") {
  uint32_t dst = 0;
  Verdict v = run_classify(Frame{}, true, &dst);
  CHECK(v.action == Verdict::forward);
  CHECK(dst == Ipv4(10, 2, 0, 2).v);
}

TEST_CASE("classify: L2 decisions", "[worker]") {
  Frame other;
  other.dst = *Mac::parse("02:00:00:00:99:99");
  check_drop(other, Drop::l2_other_host);
  Frame bcast;
  bcast.dst = *Mac::parse("ff:ff:ff:ff:ff:ff");
  check_drop(bcast, Drop::l2_bcast_unicast_ip);  // RFC 1812 5.3.4
  Frame lldp;
  lldp.ethertype = 0x88cc;
  check_drop(lldp, Drop::ethertype_unsupported);
  Frame v6;  // judged by classify6 (forward6_test.cpp)
  v6.ethertype = 0x86dd;
  CHECK(run_classify(v6).action == Verdict::ipv6);
  Frame arp;
  arp.ethertype = RTE_ETHER_TYPE_ARP;
  arp.dst = *Mac::parse("ff:ff:ff:ff:ff:ff");
  Verdict v = run_classify(arp);
  CHECK(v.action == Verdict::punt);
  CHECK(Punt(v.reason) == Punt::arp);

  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  rte_pktmbuf_append(m, 10);
  uint32_t d;
  Verdict s = classify(m, port_info(), true, &d);
  CHECK(Drop(s.reason) == Drop::l2_too_short);
  rte_pktmbuf_free(m);
}

TEST_CASE("classify: RFC 1812 5.2.2 failures are silent drops", "[worker]") {
  Frame ihl;
  ihl.ihl = 4;
  check_drop(ihl, Drop::ipv4_bad_ihl);
  // A corrupted checksum: build, then flip a header byte.
  rte_mbuf* m = Frame{}.build();
  rte_pktmbuf_mtod(m, uint8_t*)[14 + 10] ^= 0x55;
  uint32_t d;
  CHECK(Drop(classify(m, port_info(), true, &d).reason) == Drop::ipv4_bad_checksum);
  // The NIC's BAD verdict is trusted even when the bytes are right.
  rte_pktmbuf_mtod(m, uint8_t*)[14 + 10] ^= 0x55;
  m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_BAD;
  CHECK(Drop(classify(m, port_info(), true, &d).reason) == Drop::ipv4_bad_checksum);
  rte_pktmbuf_free(m);
  // Total length beyond the frame.
  m = Frame{}.build();
  rte_pktmbuf_trim(m, 10);
  CHECK(Drop(classify(m, port_info(), true, &d).reason) == Drop::ipv4_truncated);
  rte_pktmbuf_free(m);
}

TEST_CASE("classify trims link-layer padding (RFC 1812 5.2.2)", "[worker]") {
  Frame f;
  f.payload = 8;  // a 28-byte datagram in a 60-byte frame
  f.pad = 18;
  rte_mbuf* m = f.build();
  uint32_t d;
  CHECK(classify(m, port_info(), true, &d).action == Verdict::forward);
  CHECK(rte_pktmbuf_pkt_len(m) == 14 + 28);
  rte_pktmbuf_free(m);
}

TEST_CASE("classify: martians, broadcasts, multicast", "[worker]") {
  auto with_src = [](Ipv4 s) {
    Frame f;
    f.src = s;
    return f;
  };
  auto with_dst = [](Ipv4 d) {
    Frame f;
    f.dst_ip = d;
    return f;
  };
  check_drop(with_src(Ipv4(127, 0, 0, 1)), Drop::martian_source);
  check_drop(with_src(Ipv4(0, 1, 2, 3)), Drop::martian_source);
  check_drop(with_src(Ipv4(224, 0, 0, 1)), Drop::martian_source);
  check_drop(with_src(Ipv4(10, 1, 0, 255)), Drop::martian_source);  // the port's subnet broadcast
  {
    // Another port's subnet broadcast is no sender either (RFC 1812 5.3.7), and the fast
    // path must not pass it.
    RefusedSources all;
    REQUIRE(all.add(Ipv4(10, 1, 0, 255).v));
    REQUIRE(all.add(Ipv4(10, 3, 0, 255).v));
    REQUIRE(all.add(Ipv4(10, 3, 0, 1).v));  // an address of the router's
    PortFastInfo pi = port_info();
    pi.refused_src = &all;
    rte_mbuf* m = with_src(Ipv4(10, 3, 0, 255)).build();
    uint32_t d = 0;
    CHECK_FALSE(classify_fast(m, fast_key(pi), &d));
    CHECK(Drop(classify(m, pi, true, &d).reason) == Drop::martian_source);
    CHECK(classify(m, pi, false, &d).action == Verdict::drop);  // not a martian switch
    rte_pktmbuf_free(m);
    m = with_src(Ipv4(10, 3, 0, 1)).build();
    CHECK_FALSE(classify_fast(m, fast_key(pi), &d));
    CHECK(Drop(classify(m, pi, true, &d).reason) == Drop::martian_source);
    rte_pktmbuf_free(m);
  }
  check_drop(with_dst(Ipv4(0, 1, 2, 3)), Drop::martian_destination);
  check_drop(with_dst(Ipv4(240, 0, 0, 1)), Drop::martian_destination);
  check_drop(with_dst(Ipv4(255, 255, 255, 255)), Drop::limited_broadcast);
  check_drop(with_dst(Ipv4(239, 1, 1, 1)), Drop::multicast_destination);
  check_drop(with_dst(Ipv4(169, 254, 1, 1)), Drop::link_local);
  // With the martian checks off, martians pass but broadcasts and multicast still do not.
  CHECK(run_classify(with_src(Ipv4(127, 0, 0, 1)), false).action == Verdict::forward);
  CHECK(Drop(run_classify(with_dst(Ipv4(255, 255, 255, 255)), false).reason) ==
        Drop::limited_broadcast);
  // 169.254/16 is never forwarded, whatever the switch says (RFC 3927 7).
  CHECK(Drop(run_classify(with_dst(Ipv4(169, 254, 1, 1)), false).reason) == Drop::link_local);
  CHECK(Drop(run_classify(with_src(Ipv4(169, 254, 1, 1)), false).reason) == Drop::link_local);
}

namespace {

// classify() on port_info() with control-plane interfaces on or off, for a frame that never
// takes the fast path (multicast and broadcasts do not: classify() judges them).
Verdict classify_on_port(const Frame& f, bool link_multicast, bool martians) {
  PortFastInfo pi = port_info();
  pi.link_multicast = link_multicast;
  rte_mbuf* m = f.build();
  uint32_t d = 0;
  CHECK_FALSE(classify_fast(m, fast_key(pi), &d));
  const Verdict v = classify(m, pi, martians, &d);
  rte_pktmbuf_free(m);
  return v;
}

}  // namespace

TEST_CASE("classify: a fragment that ends past byte 65,535 is dropped", "[worker]") {
  // Offset 8189 x 8 = 65,512, with 30 bytes of payload: ends at 65,542.
  auto verdict = [](uint16_t frag, size_t payload, bool* fast) {
    Frame f;
    f.frag = frag;
    f.payload = payload;
    rte_mbuf* m = f.build();
    uint32_t d = 0;
    *fast = classify_fast(m, fast_key(port_info()), &d);
    const Verdict v = classify(m, port_info(), true, &d);
    rte_pktmbuf_free(m);
    return v;
  };
  bool fast = true;
  Verdict v = verdict(8189, 30, &fast);
  CHECK_FALSE(fast);
  CHECK(v.action == Verdict::drop);
  CHECK(Drop(v.reason) == Drop::ipv4_bad_fragment);
  // MF set too (a middle fragment): the same.
  CHECK(Drop(verdict(0x2000 | 8189, 30, &fast).reason) == Drop::ipv4_bad_fragment);
  // One that ends exactly at 65,535 is whole (8189 x 8 + 23).
  v = verdict(8189, 23, &fast);
  CHECK(v.action == Verdict::forward);
  CHECK_FALSE(fast);  // later fragments ask classify()
  // First fragments (offset 0, MF) stay on the fast path.
  v = verdict(0x2000, 30, &fast);
  CHECK(v.action == Verdict::forward);
  CHECK(fast);
}

TEST_CASE("classify: broadcasts for the router go to the kernel interfaces when they are on",
          "[worker]") {
  auto verdict = [](const Frame& f, bool on, bool martians = true) {
    return classify_on_port(f, on, martians);
  };
  auto is = [](const Verdict& v, Verdict::Action a, uint8_t reason) {
    INFO("action " << int(v.action) << " reason " << int(v.reason));
    return v.action == a && v.reason == reason;
  };
  // A DHCP discover: 255.255.255.255 in a broadcast frame (RFC 1812 5.3.5.1: local only).
  Frame dhcp;
  dhcp.dst = *Mac::parse("ff:ff:ff:ff:ff:ff");
  dhcp.dst_ip = Ipv4(255, 255, 255, 255);
  CHECK(is(verdict(dhcp, true), Verdict::punt, uint8_t(Punt::link_multicast)));
  CHECK(is(verdict(dhcp, false), Verdict::drop, uint8_t(Drop::limited_broadcast)));
  // A RIPv1 update to this port's subnet broadcast, in a broadcast frame (5.3.5.2).
  Frame rip = dhcp;
  rip.dst_ip = Ipv4(10, 1, 0, 255);
  CHECK(is(verdict(rip, true), Verdict::punt, uint8_t(Punt::link_multicast)));
  CHECK(is(verdict(rip, false), Verdict::drop, uint8_t(Drop::link_broadcast)));
  // Another subnet's broadcast in a broadcast frame is still not for this link.
  Frame other = dhcp;
  other.dst_ip = Ipv4(10, 2, 0, 255);
  CHECK(is(verdict(other, true), Verdict::drop, uint8_t(Drop::l2_bcast_unicast_ip)));
  // With the martian switch off a martian source passes, but 255.255.255.255, a group and
  // 169.254/16 are still never forwarded (they were, in a frame to the router's MAC).
  Frame lab;
  lab.src = Ipv4(127, 0, 0, 1);
  lab.dst_ip = Ipv4(255, 255, 255, 255);
  CHECK(is(verdict(lab, false, false), Verdict::drop, uint8_t(Drop::limited_broadcast)));
  lab.dst_ip = Ipv4(239, 1, 1, 1);
  CHECK(is(verdict(lab, false, false), Verdict::drop, uint8_t(Drop::multicast_destination)));
  lab.dst_ip = Ipv4(169, 254, 1, 1);
  CHECK(is(verdict(lab, false, false), Verdict::drop, uint8_t(Drop::link_local)));
  lab.dst_ip = Ipv4(10, 2, 0, 2);
  CHECK(verdict(lab, false, false).action == Verdict::forward);
}

TEST_CASE("classify: link-local multicast goes to control only with control-plane interfaces on",
          "[worker]") {
  // An OSPF Hello as ospfd sends it: 224.0.0.5 in a group frame, protocol 89, TTL 1.
  Frame hello;
  hello.dst = *Mac::parse("01:00:5e:00:00:05");
  hello.dst_ip = Ipv4(224, 0, 0, 5);
  hello.proto = 89;
  hello.ttl = 1;
  auto verdict = [](const Frame& f, bool on, bool martians = true) {
    return classify_on_port(f, on, martians);
  };
  auto punted = [](const Verdict& v) {
    return v.action == Verdict::punt && Punt(v.reason) == Punt::link_multicast;
  };
  auto dropped = [](const Verdict& v, Drop d) {
    INFO("action " << int(v.action) << " reason " << int(v.reason));
    return v.action == Verdict::drop && Drop(v.reason) == d;
  };
  CHECK(punted(verdict(hello, true)));
  CHECK(dropped(verdict(hello, false), Drop::multicast_destination));
  CHECK(dropped(verdict(hello, false, false), Drop::multicast_destination));
  // The whole of 224.0.0.0/24, whatever the protocol (the allow list is control's): OSPF's
  // AllDRouters, VRRP, RIPv2, the top of the block; also in a frame to the router's MAC.
  for (const auto& [d, proto] : std::vector<std::pair<Ipv4, uint8_t>>{{Ipv4(224, 0, 0, 6), 89},
                                                                      {Ipv4(224, 0, 0, 18), 112},
                                                                      {Ipv4(224, 0, 0, 9), 17},
                                                                      {Ipv4(224, 0, 0, 255), 17},
                                                                      {Ipv4(224, 0, 0, 0), 2}}) {
    Frame f = hello;
    f.dst_ip = d;
    f.proto = proto;
    INFO(d.str());
    CHECK(punted(verdict(f, true)));
    CHECK(dropped(verdict(f, false), Drop::multicast_destination));
  }
  Frame to_mac = hello;
  to_mac.dst = kRouterMac;
  CHECK(punted(verdict(to_mac, true)));
  // Beyond 224.0.0.0/24 multicast may be routed elsewhere, never here: still dropped.
  for (Ipv4 d : {Ipv4(224, 0, 1, 1), Ipv4(224, 0, 1, 5), Ipv4(224, 1, 0, 5), Ipv4(239, 0, 0, 5),
                 Ipv4(225, 0, 0, 5)}) {
    Frame f = hello;
    f.dst_ip = d;
    INFO(d.str());
    CHECK(dropped(verdict(f, true), Drop::multicast_destination));
  }
  // A link-local source is a sender on the link (OSPF from an unnumbered neighbour).
  Frame ll = hello;
  ll.src = Ipv4(169, 254, 7, 7);
  CHECK(punted(verdict(ll, true)));
  // Bad sources are dropped as they are for unicast, drop_martians or not.
  RefusedSources own;
  REQUIRE(own.add(Ipv4(10, 1, 0, 1).v));  // the router's address
  for (Ipv4 s : {Ipv4(0, 0, 0, 0), Ipv4(127, 0, 0, 1), Ipv4(224, 0, 0, 5), Ipv4(240, 0, 0, 1),
                 Ipv4(255, 255, 255, 255), Ipv4(10, 1, 0, 255)}) {
    Frame f = hello;
    f.src = s;
    INFO(s.str());
    CHECK(dropped(verdict(f, true), Drop::martian_source));
    CHECK_FALSE(punted(verdict(f, true, false)));
  }
  {
    PortFastInfo pi = port_info();
    pi.link_multicast = true;
    pi.refused_src = &own;
    Frame f = hello;
    f.src = Ipv4(10, 1, 0, 1);  // looped back, or spoofed
    rte_mbuf* m = f.build();
    uint32_t d = 0;
    CHECK(Drop(classify(m, pi, true, &d).reason) == Drop::martian_source);
    rte_pktmbuf_free(m);
  }
  // A broken header is dropped before any of this.
  rte_mbuf* m = hello.build();
  rte_pktmbuf_mtod(m, uint8_t*)[14 + 10] ^= 0x55;
  PortFastInfo pi = port_info();
  pi.link_multicast = true;
  uint32_t d = 0;
  CHECK(Drop(classify(m, pi, true, &d).reason) == Drop::ipv4_bad_checksum);
  rte_pktmbuf_free(m);
}

TEST_CASE("classify: IPv4 options", "[worker]") {
  Frame rr;
  rr.ihl = 6;
  rr.options = {7, 3, 4, 0};  // Record Route with no room: well-formed, passes unchanged
  CHECK(run_classify(rr).action == Verdict::forward);
  Frame lsrr;
  lsrr.ihl = 7;
  lsrr.options = {0x83, 7, 4, 10, 2, 0, 2, 0};
  check_drop(lsrr, Drop::source_route);  // RFC 7126
  Frame bad;
  bad.ihl = 6;
  bad.options = {0x44, 0, 0, 0};  // timestamp with length 0
  Verdict v = run_classify(bad);
  CHECK(v.action == Verdict::punt);
  CHECK(Punt(v.reason) == Punt::param_problem);
  CHECK(v.aux == 21);  // pointer to the length byte
}

TEST_CASE("decide: next-hop kinds, TTL and MTU", "[worker]") {
  rte_mbuf* m = Frame{}.build();
  CHECK(Punt(decide(m, nullptr).reason) == Punt::no_route);
  NextHopState fwd = state(NhKind::forward);
  CHECK(decide(m, &fwd).action == Verdict::forward);
  NextHopState unres = state(NhKind::unresolved);
  Verdict v = decide(m, &unres);
  CHECK(Punt(v.reason) == Punt::unresolved);
  CHECK(v.aux == 7);
  NextHopState glean = state(NhKind::glean);
  CHECK(Punt(decide(m, &glean).reason) == Punt::unresolved);
  NextHopState bc = state(NhKind::broadcast);
  CHECK(Drop(decide(m, &bc).reason) == Drop::directed_broadcast);
  rte_pktmbuf_free(m);

  Frame ttl1;
  ttl1.ttl = 1;
  m = ttl1.build();
  CHECK(Punt(decide(m, &fwd).reason) == Punt::ttl_exceeded);
  NextHopState local = state(NhKind::local);
  CHECK(Punt(decide(m, &local).reason) == Punt::local);  // RFC 1812 5.3.1: TTL 1 to us is fine
  rte_pktmbuf_free(m);
  Frame ttl0;
  ttl0.ttl = 0;
  m = ttl0.build();
  CHECK(Punt(decide(m, &fwd).reason) == Punt::ttl_exceeded);
  rte_pktmbuf_free(m);

  Frame big;
  big.payload = 1500 - 20;  // exactly the MTU: forwarded
  m = big.build();
  CHECK(decide(m, &fwd).action == Verdict::forward);
  rte_pktmbuf_free(m);
  big.payload += 1;  // one byte over
  m = big.build();
  v = decide(m, &fwd);
  CHECK(v.action == Verdict::fragment);  // DF clear: fragmented to the MTU
  CHECK(v.aux == 1500);
  rte_pktmbuf_free(m);
  big.frag = RTE_IPV4_HDR_DF_FLAG;
  m = big.build();
  v = decide(m, &fwd);
  CHECK(Punt(v.reason) == Punt::frag_needed);
  CHECK(v.aux == 1500);
  rte_pktmbuf_free(m);
}

TEST_CASE("decide: reject routes drop or go to control for their ICMP, whatever the TTL",
          "[worker][route-type]") {
  for (uint8_t ttl : {uint8_t(64), uint8_t(1)}) {
    INFO("ttl " << int(ttl));
    Frame f;
    f.ttl = ttl;
    rte_mbuf* m = f.build();
    const NextHopState bh = state(NhKind::blackhole);
    const Verdict v = decide(m, &bh);
    CHECK(v.action == Verdict::drop);
    CHECK(Drop(v.reason) == Drop::blackhole);
    const NextHopState pro = state(NhKind::prohibit);
    CHECK(decide(m, &pro).action == Verdict::punt);
    CHECK(Punt(decide(m, &pro).reason) == Punt::prohibited);
    const NextHopState un = state(NhKind::unreachable);
    CHECK(decide(m, &un).action == Verdict::punt);
    CHECK(Punt(decide(m, &un).reason) == Punt::unreachable);
    // The shared forward decision never lets them through, whatever their port and MTU.
    for (const NextHopState* s : {&bh, &pro, &un}) CHECK(forward_limit(s, 3) == 0);
    rte_pktmbuf_free(m);
  }
  // Beyond the worker's ICMP budget, the two that earn an error are dropped under their names.
  CHECK(icmp_refused_as(Punt::prohibited) == Drop::prohibited);
  CHECK(icmp_refused_as(Punt::unreachable) == Drop::unreachable);
}

TEST_CASE("rewrite: TTL minus one, valid checksum, L2 from the next hop", "[worker]") {
  rte_mbuf* m = Frame{}.build();
  NextHopState fwd = state(NhKind::forward);
  rewrite(m, &fwd);
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  CHECK(std::memcmp(p, fwd.l2, 14) == 0);
  CHECK(p[14 + 8] == 63);
  CHECK(ref_cksum(p + 14, 20) == 0);
  rte_pktmbuf_free(m);
}

TEST_CASE("rewrite with the header in registers writes what rewrite does", "[worker]") {
  rte_mbuf* a = Frame{}.build();
  rte_mbuf* b = Frame{}.build();
  NextHopState fwd = state(NhKind::forward);
  rewrite(a, &fwd);
  rewrite(b, L2Words(&fwd));
  REQUIRE(rte_pktmbuf_pkt_len(a) == rte_pktmbuf_pkt_len(b));
  CHECK(std::memcmp(rte_pktmbuf_mtod(a, const uint8_t*), rte_pktmbuf_mtod(b, const uint8_t*),
                    rte_pktmbuf_pkt_len(a)) == 0);
  rte_pktmbuf_free(a);
  rte_pktmbuf_free(b);
}

TEST_CASE("the forward decision passes exactly decide's forwards out of another port", "[worker]") {
  const NhKind kinds[] = {NhKind::forward, NhKind::unresolved, NhKind::glean, NhKind::local,
                          NhKind::broadcast};
  int passed = 0, total = 0;
  for (int kind = -1; kind < int(std::size(kinds)); ++kind) {
    NextHopState st = state(kind < 0 ? NhKind::forward : kinds[kind], 1500);
    const NextHopState* nh = kind < 0 ? nullptr : &st;  // -1: no route
    for (uint8_t ttl : {0, 1, 2, 64, 255}) {
      for (size_t total_len :
           {size_t(20), size_t(576), size_t(1499), size_t(1500), size_t(1501), size_t(2000)}) {
        for (uint16_t df : {uint16_t(0), uint16_t(RTE_IPV4_HDR_DF_FLAG)}) {
          Frame f;
          f.ttl = ttl;
          f.payload = total_len - 20;
          f.frag = df;
          rte_mbuf* m = f.build();
          const Verdict v = decide(m, nh);
          for (uint16_t in_port : {uint16_t(0), uint16_t(1)}) {  // the next hop's port is 1
            INFO("kind " << kind << " ttl " << int(ttl) << " length " << total_len << " df " << df
                         << " in_port " << in_port);
            const bool want = v.action == Verdict::forward && nh->port != in_port;
            const bool got = forwards(m, forward_limit(nh, in_port));
            CHECK(got == want);
            passed += got;
            ++total;
          }
          rte_pktmbuf_free(m);
        }
      }
    }
  }
  CHECK(passed > 0);
  CHECK(passed < total);
}

TEST_CASE("a punt the ICMP budget refuses is counted under the drop naming its condition",
          "[worker]") {
  // Indexed by the enum: row i is Punt(i) (also a static_assert in forward.hpp).
  for (size_t i = 0; i < kPuntCount; ++i) {
    INFO(punt_name(Punt(i)));
    CHECK(kIcmpRefusedAs[i].punt == Punt(i));
    CHECK(icmp_refused_as(Punt(i)) == kIcmpRefusedAs[i].drop);
  }
  // Every punt that asks control for an ICMP error maps to a named drop reason...
  CHECK(icmp_refused_as(Punt::ttl_exceeded) == Drop::ttl_exceeded);
  CHECK(icmp_refused_as(Punt::no_route) == Drop::no_route);
  CHECK(icmp_refused_as(Punt::frag_needed) == Drop::frag_needed);
  CHECK(icmp_refused_as(Punt::param_problem) == Drop::bad_options);
  CHECK(icmp_refused_as(Punt::beyond_scope) == Drop::beyond_scope);
  CHECK(icmp_refused_as(Punt::prohibited) == Drop::prohibited);
  CHECK(icmp_refused_as(Punt::unreachable) == Drop::unreachable);
  // ...and no other is ever refused.
  for (Punt p : {Punt::arp, Punt::local, Punt::unresolved, Punt::redirect, Punt::ndp,
                 Punt::hop_by_hop, Punt::link_multicast}) {
    INFO(punt_name(p));
    CHECK(icmp_refused_as(p) == Drop::count);
  }
  size_t named = 0;
  for (const PuntAsDrop& row : kIcmpRefusedAs) {
    if (row.drop == Drop::count) continue;
    ++named;
    CHECK_FALSE(drop_name(row.drop).empty());
  }
  CHECK(named == 7);
}

TEST_CASE("classify_fast only ever agrees with classify", "[worker]") {
  // Valid frames take the fast path.
  {
    rte_mbuf* m = Frame{}.build();
    uint32_t d = 0;
    CHECK(classify_fast(m, fast_key(port_info()), &d));
    CHECK(d == Ipv4(10, 2, 0, 2).v);
    rte_pktmbuf_free(m);
  }
  std::mt19937 rng(7);
  const Ipv4 addrs[] = {Ipv4(10, 2, 0, 2),        Ipv4(8, 8, 8, 8),     Ipv4(127, 0, 0, 1),
                        Ipv4(0, 1, 2, 3),         Ipv4(224, 0, 0, 5),   Ipv4(240, 0, 0, 1),
                        Ipv4(255, 255, 255, 255), Ipv4(169, 254, 3, 4), Ipv4(10, 1, 0, 255),
                        Ipv4(223, 255, 255, 255), Ipv4(10, 3, 0, 255),  Ipv4(10, 9, 255, 255)};
  constexpr size_t kAddrs = std::size(addrs);
  const Mac macs[] = {kRouterMac, *Mac::parse("02:00:00:00:99:99"),
                      *Mac::parse("ff:ff:ff:ff:ff:ff"), *Mac::parse("01:00:5e:00:00:05")};
  int fast = 0, total = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Frame f;
    f.dst = macs[rng() % 4 == 0 ? rng() % 4 : 0];
    f.ethertype = rng() % 8 == 0 ? uint16_t(rng()) : uint16_t(RTE_ETHER_TYPE_IPV4);
    f.ihl = rng() % 6 == 0 ? uint8_t(rng() % 16) : 5;
    if (f.ihl > 5) f.options.assign((f.ihl - 5) * 4, uint8_t(rng() % 3 == 0 ? 0x44 : 1));
    f.ttl = uint8_t(rng() % 4 == 0 ? rng() % 3 : 64);
    f.src = rng() % 3 == 0 ? addrs[rng() % kAddrs] : Ipv4(10, 1, 0, 2);
    f.dst_ip = rng() % 3 == 0 ? addrs[rng() % kAddrs] : Ipv4(10, 2, 0, 2);
    f.payload = rng() % 64;
    f.pad = rng() % 4 == 0 ? rng() % 20 : 0;
    // Fragments: first (MF), later, and later ones ending past 65,535.
    if (rng() % 8 == 0) f.frag = uint16_t(rng() % 3 == 0 ? 0x2000 : 8180 + rng() % 12);
    rte_mbuf* m = f.build();
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    switch (rng() % 10) {
      case 0:
        p[14 + rng() % 20] ^= uint8_t(1 + rng() % 255);
        break;  // corrupt the header
      case 1:
        rte_pktmbuf_trim(m, uint16_t(std::min<uint32_t>(rte_pktmbuf_pkt_len(m), 1 + rng() % 40)));
        break;
      case 2:
        m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_BAD;
        break;
      case 3:
        m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        break;
      default:
        break;
    }
    PortFastInfo pi = port_info();
    pi.nbcast = uint8_t(rng() % 4);
    for (int b = 0; b < 8; ++b) pi.bcast[b] = b < pi.nbcast ? addrs[rng() % kAddrs].v : 0;
    // Every port's broadcasts: this port's, and some of other ports'.
    RefusedSources all;
    for (int b = 0; b < pi.nbcast; ++b) REQUIRE(all.add(pi.bcast[b]));
    for (int b = int(rng() % 3); b > 0; --b) REQUIRE(all.add(addrs[rng() % kAddrs].v));
    pi.refused_src = &all;
    uint32_t fd = 0, cd = 0;
    bool is_fast = classify_fast(m, fast_key(pi), &fd);
    // The variants for bursts of one flag kind answer as the general one where they apply.
    uint32_t vd = 0;
    if (m->ol_flags == 0) REQUIRE(classify_fast<CkFlags::none>(m, fast_key(pi), &vd) == is_fast);
    if (m->ol_flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
      REQUIRE(classify_fast<CkFlags::good>(m, fast_key(pi), &vd) == is_fast);
    if (is_fast) REQUIRE(vd == fd);
    Verdict v = classify(m, pi, true, &cd);
    ++total;
    if (is_fast) {
      ++fast;
      INFO("iteration " << iter << " exact action " << int(v.action) << " reason "
                        << int(v.reason));
      REQUIRE(v.action == Verdict::forward);
      REQUIRE(fd == cd);
    }
    rte_pktmbuf_free(m);
  }
  // The generator must exercise both paths, or the test proves nothing.
  CHECK(fast > total / 10);
  CHECK(fast < total * 9 / 10);
}

namespace {

// Sets the IP identification of a built frame and, when `fix`, its checksum to match.
void set_ident(rte_mbuf* m, uint16_t id, bool fix) {
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, 14);
  ip[4] = uint8_t(id >> 8);
  ip[5] = uint8_t(id);
  if (!fix) return;
  ip[10] = ip[11] = 0;
  uint16_t c = ref_cksum(ip, 20);
  ip[10] = uint8_t(c >> 8);
  ip[11] = uint8_t(c);
}

}  // namespace

TEST_CASE("a Train admits only packets that pass every check its first packet passed", "[worker]") {
  std::mt19937 rng(11);
  const FastKey key = fast_key(port_info());
  int whole = 0, cut = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const bool good = rng() % 4 == 0;  // NIC said GOOD for every packet
    const uint16_t n = uint16_t(2 + rng() % 31);
    Frame f;
    f.payload = 18 + rng() % 40;
    f.ttl = uint8_t(rng() % 8 == 0 ? 1 + rng() % 2 : 64);
    std::vector<rte_mbuf*> pkts;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = f.build();
      set_ident(m, uint16_t(rng()), true);
      if (good) m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
      pkts.push_back(m);
    }
    // Spoil one packet after the first, in one of several ways, or none.
    const uint16_t j = uint16_t(1 + rng() % (n - 1));
    uint8_t* pj = rte_pktmbuf_mtod(pkts[j], uint8_t*);
    switch (rng() % 8) {
      case 0:  // any byte of the first 34, checksum left as it was (or fixed)
      case 1: {
        const uint32_t at = rng() % 34;
        pj[at] ^= uint8_t(1 + rng() % 255);
        if (rng() % 2 && at >= 14) set_ident(pkts[j], uint16_t(pj[18] << 8 | pj[19]), true);
        break;
      }
      case 2:  // identification changed, checksum not
        set_ident(pkts[j], uint16_t(rng()), false);
        break;
      case 3: {  // a longer frame with the same header bytes
        rte_pktmbuf_append(pkts[j], 4);
        break;
      }
      default:
        break;
    }
    uint32_t d0 = 0;
    const bool first_ok = good ? classify_fast<CkFlags::good>(pkts[0], key, &d0)
                               : classify_fast<CkFlags::none>(pkts[0], key, &d0);
    if (first_ok) {
      // How forward_train walks a burst: from the first packet to the first not admitted.
      const Train train(pkts[0]);
      uint16_t len = 1;
      while (len < n && (good ? train.admits<CkFlags::good>(pkts[len])
                              : train.admits<CkFlags::none>(pkts[len])))
        ++len;
      REQUIRE(len >= 1);
      REQUIRE(len <= n);
      if (len < j) FAIL("an untouched packet ended the train at " << len << " of " << n);
      len == n ? ++whole : ++cut;
      const auto* ip0 = rte_pktmbuf_mtod_offset(pkts[0], const rte_ipv4_hdr*, 14);
      for (uint16_t i = 0; i < len; ++i) {
        INFO("iteration " << iter << " packet " << i << " of a train of " << len);
        uint32_t d = 0;
        Verdict v = classify(pkts[i], port_info(), true, &d);
        // With GOOD flags classify trusts the NIC about the checksum, as the train does.
        REQUIRE(v.action == Verdict::forward);
        REQUIRE(d == d0);
        const auto* ip = rte_pktmbuf_mtod_offset(pkts[i], const rte_ipv4_hdr*, 14);
        REQUIRE(ip->time_to_live == ip0->time_to_live);
        REQUIRE(rte_pktmbuf_pkt_len(pkts[i]) == rte_pktmbuf_pkt_len(pkts[0]));
      }
    }
    for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
  }
  // Both outcomes must occur, or the test proves nothing.
  CHECK(whole > 400);
  CHECK(cut > 400);
}
