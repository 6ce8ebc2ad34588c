// IPv6 in the control thread: addresses and routes through the publisher, NDP both ways,
// echo and errors, with frames built by lib/packet and read back from the TX ring.
#include <rte_ethdev.h>
#include <rte_ip.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "config.hpp"
#include "control_rig.hpp"
#include "icmp6.hpp"
#include "ndp.hpp"
#include "packet_test_util.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

// These tests look at what the router does with addresses it holds: DAD is off
// (ipv6.dad_transmits 0, so they are assigned at once; ra_test.cpp tests DAD), and the
// MLD Reports of its groups are left out of sent() (ra_test.cpp tests them too).
Config without_dad(Config c) {
  c.dad_transmits = 0;
  return c;
}

struct Rig6 : testing::ControlRig {
  explicit Rig6(const Config& cfg = {})
      : ControlRig(Options{.readers = 1, .next_hops = 64, .tbl8 = 64, .config = without_dad(cfg)}) {
    run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
    run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
    ctl->poll_once(100);
    sent();
  }
  const NextHopState* nh(const char* a) {
    const uint32_t id = dp.fib6.lookup(*Ipv6::parse(a));
    return id ? dp.nexthops.get(id) : nullptr;
  }
  // Hands a frame to control as a worker would and returns what control sent.
  std::vector<std::vector<uint8_t>> hand(const std::vector<uint8_t>& frame, Punt why, uint16_t port,
                                         uint64_t now = 1000) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
    REQUIRE(m);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(frame.size())), frame.data(), frame.size());
    m->port = port;
    PuntEntry e{m, 0, uint8_t(why), 0, port};
    REQUIRE(rte_ring_enqueue_elem(punt.get(), &e, sizeof e) == 0);
    ctl->poll_once(now);
    return sent();
  }
  std::vector<std::vector<uint8_t>> sent() { return sent_frames(&sent_ports); }
  std::vector<uint16_t> sent_ports;  // the port of each frame the last sent() returned
};

const Mac kHost = *Mac::parse("02:00:00:00:01:02");

std::vector<uint8_t> frame(size_t n) {
  return std::vector<uint8_t>(n);
}

}  // namespace

TEST_CASE("IPv6 addresses install local and connected entries; bad ones are refused",
          "[control][ipv6]") {
  Rig6 r;
  CHECK(r.nh("2001:db8:1::1")->kind == NhKind::local);
  CHECK(r.nh("2001:db8:1::1")->family == 6);
  CHECK(r.nh("2001:db8:1::77")->kind == NhKind::glean);
  CHECK(r.nh("2001:db8:1::77")->port == r.ports[0]->id());
  CHECK(r.nh("2001:db8:9::1") == nullptr);
  CHECK(r.fails({"addr", "add", "2001:db8:1::5/64", "dev", "p1"}).find("overlaps") !=
        std::string::npos);
  CHECK(r.fails({"addr", "add", "2001:db8:1::1/64", "dev", "p0"}).find("already") !=
        std::string::npos);
  const json show = r.run({"addr", "show", "dev", "p0"});
  const std::string all = show.dump();
  CHECK(all.find("2001:db8:1::1/64") != std::string::npos);
  CHECK(all.find("10.1.0.1/24") != std::string::npos);
}

TEST_CASE("a port's multicast groups follow its IPv6 addresses", "[control][ipv6][multicast]") {
  Rig6 r;
  auto mc = [&](const char* port) { return r.run({"link", "show", port})[0]["multicast"]; };
  auto groups = [&](const char* port) { return mc(port)["groups"].get<size_t>(); };
  // p0: all-nodes, all-routers, and the solicited-node groups of fe80::<EUI-64> and
  // 2001:db8:1::1 (distinct unless the MAC ends in 00:00:01).
  const Mac m0 = r.ports[0]->mac();
  const bool ll_shares = m0.b[3] == 0 && m0.b[4] == 0 && m0.b[5] == 1;
  const size_t n0 = ll_shares ? 3 : 4;
  CHECK(groups("p0") == n0);
  CHECK(r.ports[0]->rx_multicast().groups == n0);
  r.run({"addr", "add", "2001:db8:1::ab:cdef/64", "dev", "p0"});
  CHECK(groups("p0") == n0 + 1);
  // The same low 24 bits: the same group, not one more.
  r.run({"addr", "add", "2001:db8:1:0:1::ab:cdef/64", "dev", "p0"});
  CHECK(groups("p0") == n0 + 1);
  r.run({"addr", "del", "2001:db8:1::ab:cdef/64", "dev", "p0"});
  CHECK(groups("p0") == n0 + 1);  // the other address still needs the group
  r.run({"addr", "del", "2001:db8:1:0:1::ab:cdef/64", "dev", "p0"});
  CHECK(groups("p0") == n0);
  // A refused address changes nothing.
  CHECK(r.fails({"addr", "add", "2001:db8:2::9/64", "dev", "p0"}).find("overlaps") !=
        std::string::npos);
  CHECK(groups("p0") == n0);
  // IPv4 addresses need no group.
  r.run({"addr", "add", "10.9.0.1/24", "dev", "p0"});
  CHECK(groups("p0") == n0);
  // net_null (DPDK 22.11) has no multicast filter but takes all-multicast: the first
  // fallback, with its reason.
  const json j = mc("p0");
  CHECK(j["mode"] == "allmulticast");
  CHECK(j["reason"] == "the device has no multicast filter");
  CHECK(r.ports[0]->rx_multicast().mode == RxMulticastMode::allmulticast);
  CHECK(rte_eth_allmulticast_get(r.ports[0]->id()) == 1);
  // stats carries the same.
  const json st = r.run({"stats"});
  CHECK(st["ports"][0]["multicast"] == j);
}

TEST_CASE("an IPv6 route via a gateway resolves with NDP and then forwards", "[control][ipv6]") {
  Rig6 r;
  r.run({"route", "add", "2001:db8:77::/48", "via", "2001:db8:2::2"});
  const NextHopState* s = r.nh("2001:db8:77::5");
  REQUIRE(s);
  CHECK(s->kind == NhKind::unresolved);
  CHECK(s->gateway6 == *Ipv6::parse("2001:db8:2::2"));

  // A packet to the route makes control ask for the gateway: a multicast NS on p1.
  std::vector<uint8_t> pkt = frame(14 + 40 + 8);
  pkt[12] = 0x86;
  pkt[13] = 0xdd;
  pkt[14] = 0x60;
  pkt[14 + 5] = 8;
  pkt[14 + 6] = 17;
  pkt[14 + 7] = 64;
  const Ipv6 src = *Ipv6::parse("2001:db8:1::2"), dst = *Ipv6::parse("2001:db8:77::5");
  std::memcpy(&pkt[14 + 8], src.b.data(), 16);
  std::memcpy(&pkt[14 + 24], dst.b.data(), 16);
  auto out = r.hand(pkt, Punt::unresolved, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  auto ns = ndp_parse(out[0].data() + 14, out[0].size() - 14);
  REQUIRE(ns);
  CHECK(ns->type == nd::neighbor_solicit);
  CHECK(ns->target == *Ipv6::parse("2001:db8:2::2"));
  CHECK(ns->dst == ns->target.solicited_node());
  const Mac p1 = *ns->source_lla;

  // The solicited answer resolves it: the queued packet leaves with hop limit 63, and the
  // next hop forwards with the IPv6 EtherType.
  uint8_t na[kNdMaxFrame];
  const size_t n = ndp_build_na(na, kHost, *Ipv6::parse("2001:db8:2::2"), ns->src, p1,
                                *Ipv6::parse("2001:db8:2::2"), false, true, true);
  const json s0 = r.run({"stats"});
  out = r.hand(std::vector<uint8_t>(na, na + n), Punt::local, r.ports[1]->id());
  REQUIRE(out.size() == 1);
  CHECK(std::memcmp(out[0].data(), kHost.b.data(), 6) == 0);
  CHECK(out[0][14 + 7] == 63);
  s = r.nh("2001:db8:77::5");
  REQUIRE(s);
  CHECK(s->kind == NhKind::forward);
  CHECK(s->l2[12] == 0x86);
  CHECK(s->l2[13] == 0xdd);
  CHECK(std::memcmp(s->l2, kHost.b.data(), 6) == 0);
  const json neigh = r.run({"neigh", "show"});
  bool reachable = false;
  for (const auto& e : neigh)
    reachable |= e["family"] == 6 && e["dst"] == "2001:db8:2::2" && e["state"] == "REACHABLE";
  CHECK(reachable);
  CHECK(r.run({"stats"})["generation"].get<uint64_t>() > s0["generation"].get<uint64_t>());
}

TEST_CASE("a solicitation for the router's address is answered with its MAC", "[control][ipv6]") {
  Rig6 r;
  uint8_t ns[kNdMaxFrame];
  const Ipv6 host = *Ipv6::parse("2001:db8:1::2"), ours = *Ipv6::parse("2001:db8:1::1");
  const size_t n = ndp_build_ns(ns, kHost, host, ours);
  auto out = r.hand(std::vector<uint8_t>(ns, ns + n), Punt::ndp, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  auto na = ndp_parse(out[0].data() + 14, out[0].size() - 14);
  REQUIRE(na);
  CHECK(na->type == nd::neighbor_advert);
  CHECK(na->target == ours);
  CHECK(na->dst == host);
  CHECK(na->solicited);
  CHECK(na->router);
  CHECK(std::memcmp(out[0].data(), kHost.b.data(), 6) == 0);
  SECTION("a solicitation for someone else's address is not answered") {
    const size_t m = ndp_build_ns(ns, kHost, host, *Ipv6::parse("2001:db8:1::9"));
    CHECK(r.hand(std::vector<uint8_t>(ns, ns + m), Punt::ndp, r.ports[0]->id()).empty());
  }
  SECTION("a malformed one is counted") {
    std::vector<uint8_t> bad(ns, ns + n);
    bad.back() ^= 1;  // checksum
    const json s0 = r.run({"stats"});
    CHECK(r.hand(bad, Punt::ndp, r.ports[0]->id()).empty());
    const json s1 = r.run({"stats"});
    CHECK(s1["drops"]["ndp_invalid"].get<uint64_t>() ==
          s0["drops"]["ndp_invalid"].get<uint64_t>() + 1);
  }
}

TEST_CASE("echo to the router is answered; hop limit 1 and no route earn ICMPv6 errors",
          "[control][ipv6]") {
  Rig6 r;
  const Ipv6 host = *Ipv6::parse("2001:db8:1::2");
  // The host must be resolvable for the answers to leave: a static neighbour.
  r.run({"neigh", "add", "2001:db8:1::2", "lladdr", "02:00:00:00:01:02", "dev", "p0"});
  auto icmp_frame = [&](const Ipv6& to, uint8_t type, uint8_t hop) {
    std::vector<uint8_t> f = frame(14 + 40 + 16);
    f[12] = 0x86;
    f[13] = 0xdd;
    f[14] = 0x60;
    f[14 + 5] = 16;
    f[14 + 6] = 58;
    f[14 + 7] = hop;
    std::memcpy(&f[14 + 8], host.b.data(), 16);
    std::memcpy(&f[14 + 24], to.b.data(), 16);
    f[54] = type;
    f[58] = 0x12;  // ident
    const uint16_t ck = icmp6_checksum(host, to, &f[54], 16);
    f[56] = uint8_t(ck >> 8);
    f[57] = uint8_t(ck);
    return f;
  };
  auto out = r.hand(icmp_frame(*Ipv6::parse("2001:db8:2::1"), icmp6::echo_request, 64), Punt::local,
                    r.ports[0]->id());
  REQUIRE(out.size() == 1);
  const uint8_t* ip = out[0].data() + 14;
  CHECK(ip[40] == icmp6::echo_reply);
  CHECK(Ipv6::from_bytes(ip + 8) == *Ipv6::parse("2001:db8:2::1"));
  CHECK(Ipv6::from_bytes(ip + 24) == host);
  CHECK(icmp6_checksum(Ipv6::from_bytes(ip + 8), host, ip + 40, out[0].size() - 54) == 0);

  out = r.hand(icmp_frame(*Ipv6::parse("2001:db8:2::9"), icmp6::echo_request, 1),
               Punt::ttl_exceeded, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  ip = out[0].data() + 14;
  CHECK(ip[40] == icmp6::time_exceeded);
  CHECK(Ipv6::from_bytes(ip + 8) == *Ipv6::parse("2001:db8:1::1"));  // the input port's address

  out = r.hand(icmp_frame(*Ipv6::parse("2001:db8:99::9"), icmp6::echo_request, 64), Punt::no_route,
               r.ports[0]->id());
  REQUIRE(out.size() == 1);
  CHECK(out[0][14 + 40] == icmp6::dest_unreachable);
  CHECK(out[0][14 + 41] == icmp6::code_no_route);

  out = r.hand(icmp_frame(*Ipv6::parse("2001:db8:2::9"), icmp6::echo_request, 64),
               Punt::beyond_scope, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  CHECK(out[0][14 + 41] == icmp6::code_beyond_scope);

  // A next header the router does not know (RFC 8200 4): Parameter Problem code 1 pointing
  // at the fixed header's Next Header field; TCP, No Next Header and an extension header
  // are known and get nothing.
  auto with_next = [&](uint8_t nh) {
    std::vector<uint8_t> f = icmp_frame(*Ipv6::parse("2001:db8:2::1"), icmp6::echo_request, 64);
    f[14 + 6] = nh;
    return f;
  };
  out = r.hand(with_next(253), Punt::local, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  ip = out[0].data() + 14;
  CHECK(ip[40] == icmp6::param_problem);
  CHECK(ip[41] == icmp6::code_unrecognized_next_header);
  CHECK(ip[44] == 0);
  CHECK(ip[47] == 6);  // the pointer: Next Header is byte 6 of the datagram
  CHECK(Ipv6::from_bytes(ip + 8) == *Ipv6::parse("2001:db8:2::1"));
  CHECK(Ipv6::from_bytes(ip + 24) == host);
  CHECK(ip[48 + 6] == 253);  // the quote
  // UDP nobody listens to: Port Unreachable, also from the address the datagram was for
  // (RFC 4443 2.2 (a)), not from the input port's.
  out = r.hand(with_next(17), Punt::local, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  ip = out[0].data() + 14;
  CHECK(ip[40] == icmp6::dest_unreachable);
  CHECK(ip[41] == icmp6::code_port_unreachable);
  CHECK(Ipv6::from_bytes(ip + 8) == *Ipv6::parse("2001:db8:2::1"));
  for (uint8_t nh : {uint8_t(6), uint8_t(59), uint8_t(60)}) {
    INFO(int(nh));
    CHECK(r.hand(with_next(nh), Punt::local, r.ports[0]->id()).empty());
  }
}

TEST_CASE("Packet Too Big is held to the shared ICMPv6 budget only, not the sender's share",
          "[control][ipv6]") {
  Rig6 r;
  r.run({"neigh", "add", "2001:db8:1::2", "lladdr", "02:00:00:00:01:02", "dev", "p0"});
  const Ipv6 host = *Ipv6::parse("2001:db8:1::2"), far = *Ipv6::parse("2001:db8:2::2");
  // 1,400 bytes of UDP from one host that the worker found too big for p1.
  std::vector<uint8_t> f = frame(14 + 1400);
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[14 + 4] = (1400 - 40) >> 8;
  f[14 + 5] = (1400 - 40) & 0xff;
  f[14 + 6] = 17;
  f[14 + 7] = 64;
  std::memcpy(&f[14 + 8], host.b.data(), 16);
  std::memcpy(&f[14 + 24], far.b.data(), 16);
  auto count = [&](const char* group, const char* name) {
    return r.run({"stats"})[group][name].get<uint64_t>();
  };
  const uint64_t ptb0 = count("events", "icmp6_too_big_sent");
  const uint64_t src0 = count("drops", "icmp_source_limited");
  size_t frames = 0;
  for (int i = 0; i < 100; ++i) frames += r.hand(f, Punt::frag_needed, r.ports[0]->id()).size();
  // More than the sender's share (icmp.source_burst, 20), as Linux sends (icmpv6_mask_allow);
  // the shared burst of 50 holds them.
  const uint64_t sent = count("events", "icmp6_too_big_sent") - ptb0;
  INFO("sent " << sent);
  CHECK(sent > 20);
  CHECK(sent == frames);
  CHECK(count("drops", "icmp_source_limited") == src0);
}

TEST_CASE("a batch mixing families is one commit, or nothing of it", "[control][ipv6]") {
  Rig6 r;
  const uint64_t g0 = r.run({"stats"})["generation"];
  Request b;
  b.verb = Verb::batch;
  auto line = [](const std::vector<std::string>& w) { return parse_request(w); };
  b.batch.push_back({1, line({"route", "add", "2001:db8:50::/48", "via", "2001:db8:2::2"}), ""});
  b.batch.push_back({2, line({"route", "add", "10.50.0.0/16", "via", "10.2.0.2"}), ""});
  r.ctl->execute(b);
  CHECK(r.run({"stats"})["generation"].get<uint64_t>() == g0 + 1);
  CHECK(r.nh("2001:db8:50::1") != nullptr);

  // A bad IPv6 line undoes the IPv4 one before it.
  Request bad;
  bad.verb = Verb::batch;
  bad.batch.push_back({1, line({"route", "add", "10.60.0.0/16", "via", "10.2.0.2"}), ""});
  bad.batch.push_back({2, line({"route", "add", "2001:db8:60::/48", "via", "2001:db8:9::2"}), ""});
  CHECK_THROWS_WITH(r.ctl->execute(bad), Catch::Contains("nothing in the batch was applied"));
  CHECK(r.run({"stats"})["generation"].get<uint64_t>() == g0 + 1);
  CHECK(r.dp.fib.lookup(Ipv4(10, 60, 0, 1).v) == Fib::kNoRoute);
}

TEST_CASE("a packet back out of its input port is forwarded and its source redirected",
          "[control][ipv6]") {
  Rig6 r;
  r.run({"neigh", "add", "fe80::3", "lladdr", "02:00:00:00:00:03", "dev", "p0"});
  r.run({"neigh", "add", "2001:db8:1::2", "lladdr", "02:00:00:00:01:02", "dev", "p0"});
  r.run({"route", "add", "2001:db8:70::/48", "via", "fe80::3", "dev", "p0"});
  r.run({"neigh", "add", "2001:db8:1::4", "lladdr", "02:00:00:00:00:04", "dev", "p0"});
  r.run({"route", "add", "2001:db8:71::/48", "via", "2001:db8:1::4"});
  auto packet = [](const char* to, const char* from = "2001:db8:1::2") {
    std::vector<uint8_t> f = frame(14 + 40 + 16);
    std::memcpy(f.data() + 6, kHost.b.data(), 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    f[14] = 0x60;
    f[14 + 5] = 16;
    f[14 + 6] = 17;
    f[14 + 7] = 64;
    const Ipv6 s = *Ipv6::parse(from), d = *Ipv6::parse(to);
    std::memcpy(&f[14 + 8], s.b.data(), 16);
    std::memcpy(&f[14 + 24], d.b.data(), 16);
    return f;
  };
  const json s0 = r.run({"stats"});
  auto out = r.hand(packet("2001:db8:70::1"), Punt::redirect, r.ports[0]->id());
  REQUIRE(out.size() == 2);
  auto red = ndp_parse(out[0].data() + 14, out[0].size() - 14);
  REQUIRE(red);
  CHECK(red->type == nd::redirect);
  CHECK(red->target == *Ipv6::parse("fe80::3"));
  CHECK(red->redirect_dst == *Ipv6::parse("2001:db8:70::1"));
  CHECK(red->dst == *Ipv6::parse("2001:db8:1::2"));
  CHECK(red->src.is_link_local());
  CHECK(red->target_lla == *Mac::parse("02:00:00:00:00:03"));
  CHECK(std::memcmp(out[0].data(), kHost.b.data(), 6) == 0);
  // ...and the packet itself goes on to the better first hop, hop limit decremented.
  CHECK(std::memcmp(out[1].data(), Mac::parse("02:00:00:00:00:03")->b.data(), 6) == 0);
  CHECK(out[1][14 + 7] == 63);
  SECTION("at most one redirect per second per source") {
    out = r.hand(packet("2001:db8:70::2"), Punt::redirect, r.ports[0]->id(), 1500);
    CHECK(out.size() == 1);
    out = r.hand(packet("2001:db8:70::2"), Punt::redirect, r.ports[0]->id(), 2100);
    CHECK(out.size() == 2);
  }
  SECTION("from a link-local source too: it stays on its link (RFC 4007 9)") {
    out = r.hand(packet("2001:db8:70::5", "fe80::9"), Punt::redirect, r.ports[0]->id(), 7000);
    REQUIRE(out.size() == 2);
    red = ndp_parse(out[0].data() + 14, out[0].size() - 14);
    REQUIRE(red);
    CHECK(red->type == nd::redirect);
    CHECK(red->dst == *Ipv6::parse("fe80::9"));
    CHECK(out[1][14 + 7] == 63);
    // Its route moved to p1 while it waited: it may not leave its link, code 2 (to a
    // neighbour known already, so that the error leaves at once).
    r.run({"neigh", "add", "fe80::9", "lladdr", "02:00:00:00:00:09", "dev", "p0"});
    r.run({"neigh", "add", "2001:db8:2::7", "lladdr", "02:00:00:00:02:07", "dev", "p1"});
    r.run({"route", "replace", "2001:db8:70::/48", "via", "2001:db8:2::7"});
    out = r.hand(packet("2001:db8:70::5", "fe80::9"), Punt::redirect, r.ports[0]->id(), 9000);
    REQUIRE(out.size() == 1);
    CHECK(out[0][14 + 40] == icmp6::dest_unreachable);
    CHECK(out[0][14 + 41] == icmp6::code_beyond_scope);
    CHECK(Ipv6::from_bytes(out[0].data() + 14 + 24) == *Ipv6::parse("fe80::9"));
  }
  SECTION("a router named by a global address is not a redirect target (RFC 4861 8.2)") {
    out = r.hand(packet("2001:db8:71::1"), Punt::redirect, r.ports[0]->id(), 5000);
    REQUIRE(out.size() == 1);
    CHECK(out[0][14 + 7] == 63);
    const json s1 = r.run({"stats"});
    CHECK(s1["events"]["redirect_suppressed"].get<uint64_t>() >=
          s0["events"]["redirect_suppressed"].get<uint64_t>() + 1);
  }
}

namespace {

std::string config6(const std::string& p1_extra_addrs, const std::string& extra) {
  return "[dataplane]\nsocket = \"/nonexistent/routerd.sock\"\n\n"
         "[[port]]\nname = \"p0\"\ndevice = \"net_null_a\"\n"
         "addresses = [\"10.1.0.1/24\", \"2001:db8:1::1/64\"]\n\n"
         "[[port]]\nname = \"p1\"\ndevice = \"net_null_b\"\n"
         "addresses = [\"10.2.0.1/24\"" +
         p1_extra_addrs + "]\n\n" + extra;
}

}  // namespace

TEST_CASE("reload applies IPv6 addresses, neighbours and routes, or takes them all back",
          "[control][reload][ipv6]") {
  testing::ControlRig r(testing::ControlRig::Options{
      .readers = 1, .next_hops = 64, .tbl8 = 64, .config_toml = config6("", "")});
  auto fib6 = [&](const char* a) { return r.dp.fib6.lookup(*Ipv6::parse(a)); };
  auto addrs = [&](const char* dev) {
    return r.run({"-6", "addr", "show", "dev", dev})[0]["addresses"].dump();
  };
  const Config next = parse_config(
      config6(", \"2001:db8:2::1/64\"",
              "[[neighbour]]\naddress = \"2001:db8:2::9\"\nlladdr = \"02:00:00:00:09:09\"\n"
              "port = \"p1\"\n\n"
              "[[route]]\nprefix = \"2001:db8:70::/48\"\nvia = \"2001:db8:2::9\"\n\n"
              "[[route]]\nprefix = \"2001:db8:71::/48\"\nvia = \"fe80::7\"\ndev = \"p1\"\n\n"
              "[[route]]\nprefix = \"10.70.0.0/16\"\nvia = \"10.2.0.9\"\n"),
      "next.toml");
  const std::string before = addrs("p1");
  const uint64_t g0 = r.run({"stats"})["generation"];
  for (const char* step : {"neigh add", "routes", "done"}) {
    INFO("failing at " << step);
    r.ctl->reload_fault = [step](std::string_view s) { return s == step; };
    CHECK_THROWS_WITH(r.ctl->reload_apply(next, {}), Catch::Contains("nothing changed"));
    CHECK(addrs("p1") == before);
    CHECK(fib6("2001:db8:70::1") == Fib6::kNoRoute);
    CHECK(r.run({"neigh", "show"}).dump().find("2001:db8:2::9") == std::string::npos);
  }
  r.ctl->reload_fault = nullptr;
  const json out = r.ctl->reload_apply(next, {});
  CHECK(out["addresses_added"] == 1);
  CHECK(out["neighbours_set"] == 1);
  CHECK(out["routes_added"] == 3);
  CHECK(addrs("p1").find("2001:db8:2::1/64") != std::string::npos);
  CHECK(fib6("2001:db8:70::1") != Fib6::kNoRoute);
  CHECK(fib6("2001:db8:71::1") != Fib6::kNoRoute);
  CHECK(r.dp.fib.lookup(Ipv4(10, 70, 0, 1).v) != Fib::kNoRoute);
  CHECK(r.run({"stats"})["generation"].get<uint64_t>() > g0);
  // Nothing left to do the second time; and back to the first file removes it all.
  const json again = r.ctl->reload_apply(next, {});
  CHECK(again["addresses_added"] == 0);
  CHECK(again["routes_added"] == 0);
  CHECK(again["routes_replaced"] == 0);
  const json back = r.ctl->reload_apply(parse_config(config6("", ""), "first.toml"), {});
  CHECK(back["addresses_removed"] == 1);
  CHECK(back["neighbours_removed"] == 1);
  CHECK(back["routes_deleted"] == 3);
  CHECK(fib6("2001:db8:70::1") == Fib6::kNoRoute);
  CHECK(fib6("2001:db8:71::1") == Fib6::kNoRoute);
  CHECK(addrs("p1") == before);
}

TEST_CASE("Hop-by-Hop options: Router Alert forwarded, unrecognised and malformed ones dropped",
          "[control][ipv6][ipv6_ext]") {
  Rig6 r;
  r.run({"neigh", "add", "2001:db8:1::2", "lladdr", "02:00:00:00:00:02", "dev", "p0"});
  r.run({"neigh", "add", "2001:db8:2::2", "lladdr", "02:00:00:00:01:02", "dev", "p1"});
  // scapy 2.5: UDP 2001:db8:1::2 -> 2001:db8:2::2 behind IPv6ExtHdrHopByHop with
  // [RouterAlert(value=0)], and with [Pad1(), HBHOptUnknown(otype=0x9e, optdata=b"ab")]; and
  // the Parameter Problem (code 2, pointer 43) from 2001:db8:1::1 about the second
  // (lib/packet/ipv6_ext_test.cpp has the same packets).
  const auto ra = testing::from_hex(
      "600000000017004020010db800010000000000000000000220010db8000200000000000000000002110005020000"
      "01009c409ca4000fba1b726f7574657264");
  const auto unknown = testing::from_hex(
      "600000000017004020010db800010000000000000000000220010db80002000000000000000000021100009e0261"
      "62009c409ca4000fba1b726f7574657264");
  const auto param_problem = testing::from_hex(
      "6000000000473a4020010db800010000000000000000000120010db80001000000000000000000020402c9a30000"
      "002b600000000017004020010db800010000000000000000000220010db800020000000000000000000211000"
      "09e026162009c409ca4000fba1b726f7574657264");
  const Mac router0 = r.ports[0]->mac();
  auto eth = [&](const std::vector<uint8_t>& ip) {
    std::vector<uint8_t> f(14);
    std::memcpy(f.data(), router0.b.data(), 6);
    std::memcpy(f.data() + 6, Mac::parse("02:00:00:00:00:02")->b.data(), 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    f.insert(f.end(), ip.begin(), ip.end());
    return f;
  };
  auto count = [&](const char* group, const char* name) {
    return r.run({"stats"})[group][name].get<uint64_t>();
  };
  const uint16_t p0 = r.ports[0]->id();

  SECTION("Router Alert: forwarded unchanged but for the hop limit, and counted") {
    const uint64_t before = count("events", "ipv6_router_alert_forwarded");
    const auto out = r.hand(eth(ra), Punt::hop_by_hop, p0);
    REQUIRE(out.size() == 1);
    CHECK(std::memcmp(out[0].data(), Mac::parse("02:00:00:00:01:02")->b.data(), 6) == 0);
    auto want = ra;
    want[7] = 63;
    CHECK(std::vector<uint8_t>(out[0].begin() + 14, out[0].end()) == want);
    CHECK(count("events", "ipv6_router_alert_forwarded") == before + 1);
  }
  SECTION("action 10: dropped, Parameter Problem code 2 at the option type, as scapy builds it") {
    const uint64_t before = count("drops", "ipv6_option_discard");
    const auto out = r.hand(eth(unknown), Punt::hop_by_hop, p0);
    REQUIRE(out.size() == 1);
    CHECK(std::memcmp(out[0].data(), Mac::parse("02:00:00:00:00:02")->b.data(), 6) == 0);
    CHECK(std::vector<uint8_t>(out[0].begin() + 14, out[0].end()) == param_problem);
    CHECK(count("drops", "ipv6_option_discard") == before + 1);
  }
  SECTION("action 01: dropped silently") {
    auto silent = unknown;
    silent[43] = 0x5e;
    const uint64_t before = count("drops", "ipv6_option_discard");
    const uint64_t pp = count("events", "icmp6_param_problem_sent");
    CHECK(r.hand(eth(silent), Punt::hop_by_hop, p0).empty());
    CHECK(count("drops", "ipv6_option_discard") == before + 1);
    CHECK(count("events", "icmp6_param_problem_sent") == pp);
  }
  SECTION("to the router: options walked, then the echo request behind them answered") {
    // 2001:db8:1::2 -> 2001:db8:1::1 (p0's address): Hop-by-Hop with PadN, then an echo
    // request of 16 bytes, its checksum over those 16 (RFC 8200 8.1).
    const Ipv6 host = *Ipv6::parse("2001:db8:1::2"), us = *Ipv6::parse("2001:db8:1::1");
    auto echo = [&](uint8_t option) {
      std::vector<uint8_t> ip(40 + 8 + 16, 0);
      ip[0] = 0x60;
      ip[5] = 24;
      ip[6] = 0;  // Hop-by-Hop
      ip[7] = 64;
      std::memcpy(&ip[8], host.b.data(), 16);
      std::memcpy(&ip[24], us.b.data(), 16);
      ip[40] = icmp6::next_header;
      ip[42] = option;  // 0x01: PadN of 4 zero bytes; else an unknown type, 4 bytes of data
      ip[43] = 4;
      ip[48] = icmp6::echo_request;
      ip[52] = 0x12;  // ident
      const uint16_t ck = icmp6_checksum(host, us, &ip[48], 16);
      ip[50] = uint8_t(ck >> 8);
      ip[51] = uint8_t(ck);
      return eth(ip);
    };
    auto out = r.hand(echo(0x01), Punt::local, p0);
    REQUIRE(out.size() == 1);
    const uint8_t* ip = out[0].data() + 14;
    CHECK(ip[6] == icmp6::next_header);
    CHECK(ip[40] == icmp6::echo_reply);
    CHECK(ip[44] == 0x12);
    CHECK(Ipv6::from_bytes(ip + 8) == us);
    CHECK(Ipv6::from_bytes(ip + 24) == host);
    CHECK(icmp6_checksum(us, host, ip + 40, out[0].size() - 54) == 0);
    // An unknown option of action 10: Parameter Problem code 2 at its type byte (42), from
    // the address the datagram was for; nothing else.
    const uint64_t before = count("drops", "ipv6_option_discard");
    out = r.hand(echo(0x9e), Punt::local, p0);
    REQUIRE(out.size() == 1);
    ip = out[0].data() + 14;
    CHECK(ip[40] == icmp6::param_problem);
    CHECK(ip[41] == icmp6::code_unrecognized_option);
    CHECK(testing::get32(ip + 44) == 42);
    CHECK(Ipv6::from_bytes(ip + 8) == us);
    CHECK(count("drops", "ipv6_option_discard") == before + 1);
    // Action 01: dropped, no answer.
    CHECK(r.hand(echo(0x5e), Punt::local, p0).empty());
    CHECK(count("drops", "ipv6_option_discard") == before + 2);
  }
  SECTION("an option past the header's end: Parameter Problem code 0 at its length byte") {
    auto bad = unknown;
    bad[44] = 5;
    const uint64_t before = count("drops", "ipv6_bad_ext_header");
    const auto out = r.hand(eth(bad), Punt::hop_by_hop, p0);
    REQUIRE(out.size() == 1);
    const uint8_t* ip = out[0].data() + 14;
    CHECK(ip[40] == icmp6::param_problem);
    CHECK(ip[41] == icmp6::code_erroneous_header);
    CHECK(testing::get32(ip + 44) == 44);
    CHECK(Ipv6::from_bytes(ip + 24) == *Ipv6::parse("2001:db8:1::2"));
    CHECK(icmp6_checksum(Ipv6::from_bytes(ip + 8), Ipv6::from_bytes(ip + 24), ip + 40,
                         out[0].size() - 54) == 0);
    CHECK(count("drops", "ipv6_bad_ext_header") == before + 1);
  }
}

TEST_CASE("IPv6 reject routes: ICMPv6 administratively prohibited, no route, or nothing",
          "[control][ipv6][route-type]") {
  Rig6 r;
  const Ipv6 host = *Ipv6::parse("2001:db8:1::2");
  r.run({"neigh", "add", "2001:db8:1::2", "lladdr", "02:00:00:00:01:02", "dev", "p0"});
  r.run({"route", "add", "blackhole", "2001:db8:90::/48"});
  r.run({"route", "add", "prohibit", "2001:db8:91::/48"});
  r.run({"route", "add", "unreachable", "2001:db8:92::/48"});
  r.sent();
  REQUIRE(r.nh("2001:db8:90::1"));
  CHECK(r.nh("2001:db8:90::1")->kind == NhKind::blackhole);
  CHECK(r.nh("2001:db8:90::1")->family == 6);
  CHECK(r.nh("2001:db8:91::1")->kind == NhKind::prohibit);
  CHECK(r.nh("2001:db8:92::1")->kind == NhKind::unreachable);
  CHECK(r.fails({"route", "add", "blackhole", "fe80::/64"}).find("link-local") !=
        std::string::npos);

  json g = r.run({"route", "get", "2001:db8:91::7"});
  CHECK(g["type"] == "prohibit");
  CHECK(g["route"] == "2001:db8:91::/48");
  CHECK(g["nexthop"]["state"] == "prohibit");
  CHECK(r.run({"route", "get", "2001:db8:99::1"})["type"] == "none");
  bool shown = false;
  for (const auto& j : r.run({"-6", "route", "show"}))
    if (j["prefix"] == "2001:db8:90::/48") {
      shown = true;
      CHECK(j["type"] == "blackhole");
      CHECK(j["family"] == 6);
      CHECK_FALSE(j.contains("dev"));
    }
  CHECK(shown);

  auto udp_to = [&](const char* to, uint8_t hop = 64) {
    std::vector<uint8_t> f = frame(14 + 40 + 8);
    f[12] = 0x86;
    f[13] = 0xdd;
    f[14] = 0x60;
    f[14 + 5] = 8;
    f[14 + 6] = 17;
    f[14 + 7] = hop;
    std::memcpy(&f[14 + 8], host.b.data(), 16);
    std::memcpy(&f[14 + 24], Ipv6::parse(to)->b.data(), 16);
    return f;
  };
  const json s0 = r.run({"stats"});
  auto out = r.hand(udp_to("2001:db8:91::1"), Punt::prohibited, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  const uint8_t* ip = out[0].data() + 14;
  CHECK(ip[6] == icmp6::next_header);
  CHECK(Ipv6::from_bytes(ip + 24) == host);
  CHECK(ip[40] == icmp6::dest_unreachable);
  CHECK(ip[41] == icmp6::code_admin_prohibited);  // RFC 4443 3.1: code 1
  CHECK(icmp6_checksum(Ipv6::from_bytes(ip + 8), host, ip + 40, out[0].size() - 54) == 0);

  out = r.hand(udp_to("2001:db8:92::1", 1), Punt::unreachable, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  CHECK(out[0][14 + 40] == icmp6::dest_unreachable);
  CHECK(out[0][14 + 41] == icmp6::code_no_route);  // code 0, as Linux
  // Punted for NDP, but the route is a reject route by the time control looks.
  CHECK(r.hand(udp_to("2001:db8:90::1"), Punt::unresolved, r.ports[0]->id()).empty());
  out = r.hand(udp_to("2001:db8:91::1"), Punt::unresolved, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  CHECK(out[0][14 + 41] == icmp6::code_admin_prohibited);
  // Hop-by-Hop to a reject route: the route's answer, never a Packet Too Big with MTU 0.
  auto hbh = udp_to("2001:db8:92::1");
  hbh[14 + 6] = 0;       // Hop-by-Hop options...
  hbh[14 + 40] = 59;     // ...then No Next Header (RFC 8200 4.7)
  hbh[14 + 40 + 2] = 1;  // PadN over the header's last 6 bytes
  hbh[14 + 40 + 3] = 4;
  out = r.hand(hbh, Punt::hop_by_hop, r.ports[0]->id());
  REQUIRE(out.size() == 1);
  CHECK(out[0][14 + 40] == icmp6::dest_unreachable);
  CHECK(out[0][14 + 41] == icmp6::code_no_route);

  const json s1 = r.run({"stats"});
  auto drops = [](const json& s, const char* n) { return s["drops"][n].get<uint64_t>(); };
  CHECK(drops(s1, "prohibited") - drops(s0, "prohibited") == 2);
  CHECK(drops(s1, "unreachable") - drops(s0, "unreachable") == 2);
  CHECK(drops(s1, "blackhole") - drops(s0, "blackhole") == 1);
  CHECK(s1["events"]["icmp6_unreachable_sent"].get<uint64_t>() -
            s0["events"]["icmp6_unreachable_sent"].get<uint64_t>() ==
        4);
}

// ---------------------------------------------------------------- route exceptions (issue 14)

namespace {

const Ipv6 kRtr2 = *Ipv6::parse("2001:db8:2::1");  // the router's address on p1
const Mac kGw = *Mac::parse("02:00:00:00:00:02");  // fe80::2, the route's first hop
const Mac kBetter = *Mac::parse("02:00:00:00:00:03");

uint64_t ev(const json& stats, const char* name) {
  return stats["events"][name].get<uint64_t>();
}

// An ICMPv6 error from `from` to the router quoting an echo request qsrc -> qdst.
std::vector<uint8_t> icmp6_error_to_us(uint8_t type, uint32_t param, const Ipv6& from,
                                       const Ipv6& qsrc, const Ipv6& qdst) {
  const size_t plen = 8 + 40 + 8;
  std::vector<uint8_t> f = frame(14 + 40 + plen);
  std::memcpy(f.data() + 6, kGw.b.data(), 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[14 + 5] = uint8_t(plen);
  f[14 + 6] = 58;
  f[14 + 7] = 64;
  std::memcpy(&f[14 + 8], from.b.data(), 16);
  std::memcpy(&f[14 + 24], kRtr2.b.data(), 16);
  uint8_t* ic = &f[54];
  ic[0] = type;
  testing::put32(ic + 4, param);
  uint8_t* q = ic + 8;
  q[0] = 0x60;
  q[5] = 8;
  q[6] = 58;
  q[7] = 64;
  std::memcpy(q + 8, qsrc.b.data(), 16);
  std::memcpy(q + 24, qdst.b.data(), 16);
  q[40] = icmp6::echo_request;
  const uint16_t ck = icmp6_checksum(from, kRtr2, ic, plen);
  ic[2] = uint8_t(ck >> 8);
  ic[3] = uint8_t(ck);
  return f;
}

std::vector<uint8_t> ptb6(uint32_t mtu, const char* qdst = "2001:db8:9::5",
                          const Ipv6& qsrc = kRtr2) {
  return icmp6_error_to_us(icmp6::packet_too_big, mtu, *Ipv6::parse("fe80::2"), qsrc,
                           *Ipv6::parse(qdst));
}

// A Redirect from (src, l2_src) to the router: packets to dst should go to target.
std::vector<uint8_t> redirect6(const char* src, const Mac& l2_src, const char* target,
                               const char* dst, const Mac* target_lla = &kBetter) {
  uint8_t out[kNdRedirectMaxFrame];
  uint8_t orig[48] = {0x60};
  const size_t n =
      ndp_build_redirect(out, l2_src, *Ipv6::parse(src), kRtr2, kHost, *Ipv6::parse(target),
                         *Ipv6::parse(dst), target_lla, orig, sizeof orig);
  return {out, out + n};
}

// An echo request from a host beyond the route to the router (in on p1): its reply is a
// router-made packet to that host.
std::vector<uint8_t> echo_from_beyond(size_t payload = 8) {
  const Ipv6 s = *Ipv6::parse("2001:db8:9::5");
  std::vector<uint8_t> f = frame(14 + 40 + 8 + payload);
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[14 + 4] = uint8_t((8 + payload) >> 8);
  f[14 + 5] = uint8_t(8 + payload);
  f[14 + 6] = 58;
  f[14 + 7] = 60;
  std::memcpy(&f[14 + 8], s.b.data(), 16);
  std::memcpy(&f[14 + 24], kRtr2.b.data(), 16);
  f[54] = icmp6::echo_request;
  const uint16_t ck = icmp6_checksum(s, kRtr2, &f[54], 8 + payload);
  f[56] = uint8_t(ck >> 8);
  f[57] = uint8_t(ck);
  return f;
}

// The rig with 2001:db8:9::/48 via fe80::2 on p1 (resolved).
void route_beyond(Rig6& r, const char* via = "fe80::2") {
  r.run({"neigh", "add", "fe80::2", "lladdr", "02:00:00:00:00:02", "dev", "p1"});
  r.run({"route", "add", "2001:db8:9::/48", "via", via, "dev", "p1"});
}

json route_get(Rig6& r, const char* a = "2001:db8:9::5") {
  return r.run({"route", "get", a});
}

}  // namespace

TEST_CASE(
    "a Packet Too Big about the router's packet teaches a path MTU: floor 1280, only "
    "lowered, shown, flushed and expired",
    "[control][ipv6][route_exception]") {
  Rig6 r;
  route_beyond(r);
  const uint16_t p1 = r.ports[1]->id();
  const json s0 = r.run({"stats"});
  CHECK(route_get(r).count("exception") == 0);

  r.hand(ptb6(1400), Punt::local, p1);
  json g = route_get(r);
  REQUIRE(g.count("exception") == 1);
  CHECK(g["exception"]["mtu"] == 1400);
  CHECK(g["exception"]["family"] == 6);
  CHECK(g["exception"]["dst"] == "2001:db8:9::5");
  CHECK(g["exception"]["route"] == "2001:db8:9::/48");
  CHECK(g["exception"]["mtu_expires_s"].get<int>() > 590);  // exceptions.pmtu_expires: 600 s
  CHECK(g["exception"]["mtu_expires_s"].get<int>() <= 601);
  CHECK_FALSE(g["exception"].contains("gateway"));
  // Only the destination quoted: its neighbours in the same /48 keep the port's MTU.
  CHECK(route_get(r, "2001:db8:9::6").count("exception") == 0);
  // Forwarding is untouched: no generation bump, the route's next hop keeps the link MTU.
  json s1 = r.run({"stats"});
  CHECK(s1["generation"] == s0["generation"]);
  CHECK(r.nh("2001:db8:9::5")->mtu == 1500);
  CHECK(ev(s1, "pmtu6_learned") == ev(s0, "pmtu6_learned") + 1);
  CHECK(ev(s1, "icmp_error_received") == ev(s0, "icmp_error_received") + 1);

  // A higher report never raises it.
  r.hand(ptb6(1480), Punt::local, p1);
  CHECK(route_get(r)["exception"]["mtu"] == 1400);
  json s2 = r.run({"stats"});
  CHECK(ev(s2, "pmtu6_ignored") == ev(s1, "pmtu6_ignored") + 1);
  // A report below the IPv6 minimum sets the minimum; one at it again changes nothing.
  r.hand(ptb6(600), Punt::local, p1);
  CHECK(route_get(r)["exception"]["mtu"] == 1280);
  r.hand(ptb6(1000), Punt::local, p1);
  CHECK(route_get(r)["exception"]["mtu"] == 1280);
  json s3 = r.run({"stats"});
  CHECK(ev(s3, "pmtu6_learned") == ev(s0, "pmtu6_learned") + 2);
  CHECK(ev(s3, "pmtu6_ignored") == ev(s0, "pmtu6_ignored") + 2);

  // About somebody else's packet (the quoted source is not the router's): nothing learnt.
  r.hand(ptb6(1300, "2001:db8:9::7", *Ipv6::parse("2001:db8:1::2")), Punt::local, p1);
  CHECK(route_get(r, "2001:db8:9::7").count("exception") == 0);
  CHECK(ev(r.run({"stats"}), "icmp_error_received") == ev(s3, "icmp_error_received"));
  // Nor for a destination no route leads to.
  r.hand(ptb6(1300, "2001:db8:77::1"), Punt::local, p1);
  CHECK(route_get(r, "2001:db8:77::1").count("exception") == 0);

  // route show cache lists both families, -4 and -6 pick one.
  r.hand(ptb6(1300, "2001:db8:9::8"), Punt::local, p1);
  json all = r.run({"route", "show", "cache"});
  REQUIRE(all.size() == 2);
  CHECK(all[0]["dst"] == "2001:db8:9::5");
  CHECK(all[1]["dst"] == "2001:db8:9::8");
  CHECK(all[1]["mtu"] == 1300);
  CHECK(r.run({"-4", "route", "show", "cache"}).empty());
  CHECK(r.run({"-6", "route", "show", "cache"}).size() == 2);

  SECTION("route flush cache empties it") {
    CHECK(r.run({"route", "flush", "cache"})["flushed"] == 2);
    CHECK(route_get(r).count("exception") == 0);
    CHECK(r.run({"route", "show", "cache"}).empty());
  }
  SECTION("after exceptions.pmtu_expires the entry is gone") {
    r.ctl->poll_once(1000 + 600000 + 100);  // a timer tick past the expiry
    CHECK(route_get(r).count("exception") == 0);
    CHECK(r.run({"route", "show", "cache"}).empty());
  }
}

TEST_CASE("the router's own IPv6 packets keep to a learnt path MTU",
          "[control][ipv6][route_exception]") {
  Rig6 r;
  route_beyond(r);
  const uint16_t p1 = r.ports[1]->id();
  r.hand(ptb6(1280), Punt::local, p1);
  REQUIRE(route_get(r)["exception"]["mtu"] == 1280);

  SECTION("ping larger than the path MTU: a local error, nothing sent") {
    auto f = std::async(std::launch::async, [&r] {
      return r.ctl->call({"ping", "2001:db8:9::5", "size", "1300", "count", "1"});
    });
    while (f.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready)
      r.ctl->poll_once(2000);
    const json a = f.get();
    REQUIRE(a["results"].size() == 1);
    CHECK(a["results"][0]["result"] == "local_error");
    CHECK(a["results"][0]["mtu"] == 1280);
    CHECK(r.sent().empty());
  }
  SECTION("an echo reply larger than the path MTU is not sent; one that fits is") {
    const json s0 = r.run({"stats"});
    CHECK(r.hand(echo_from_beyond(1300), Punt::local, p1).empty());
    CHECK(r.run({"stats"})["drops"]["frag_needed"].get<uint64_t>() ==
          s0["drops"]["frag_needed"].get<uint64_t>() + 1);
    const auto out = r.hand(echo_from_beyond(1200), Punt::local, p1);
    REQUIRE(out.size() == 1);
    CHECK(out[0].size() == 14 + 40 + 8 + 1200);
    CHECK(std::memcmp(out[0].data(), kGw.b.data(), 6) == 0);
  }
}

TEST_CASE("IPv6 redirects about the router's own traffic: learnt only when accepted and valid",
          "[control][ipv6][route_exception]") {
  SECTION("ipv6.accept_redirects off (the default): counted, ignored") {
    Rig6 r;
    route_beyond(r);
    const json s0 = r.run({"stats"});
    r.hand(redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5"), Punt::local, r.ports[1]->id());
    CHECK(route_get(r).count("exception") == 0);
    const json s1 = r.run({"stats"});
    CHECK(ev(s1, "redirect6_ignored") == ev(s0, "redirect6_ignored") + 1);
    CHECK(ev(s1, "redirect6_learned") == ev(s0, "redirect6_learned"));
    // The echo reply still goes to the route's first hop.
    const auto out = r.hand(echo_from_beyond(), Punt::local, r.ports[1]->id());
    REQUIRE(out.size() == 1);
    CHECK(std::memcmp(out[0].data(), kGw.b.data(), 6) == 0);
  }
  Config cfg;
  cfg.ipv6_accept_redirects = true;
  SECTION("on: a valid redirect from the first hop moves the router's own packets") {
    Rig6 r(cfg);
    route_beyond(r);
    const uint16_t p1 = r.ports[1]->id();
    const json s0 = r.run({"stats"});
    r.hand(redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5"), Punt::local, p1);
    json g = route_get(r);
    REQUIRE(g.count("exception") == 1);
    CHECK(g["exception"]["gateway"] == "fe80::3");
    CHECK(g["exception"]["gateway_expires_s"].get<int>() > 290);  // exceptions.redirect_expires
    CHECK_FALSE(g["exception"].contains("mtu"));
    CHECK(g["via"] == "fe80::2");  // the route itself is unchanged (RFC 4861 8: hosts only)
    const json s1 = r.run({"stats"});
    CHECK(ev(s1, "redirect6_learned") == ev(s0, "redirect6_learned") + 1);
    CHECK(s1["generation"] == s0["generation"]);
    // The target's link-layer option went into the neighbour cache: the reply leaves at once,
    // to the better first hop.
    auto out = r.hand(echo_from_beyond(), Punt::local, p1);
    REQUIRE(out.size() == 1);
    CHECK(std::memcmp(out[0].data(), kBetter.b.data(), 6) == 0);
    CHECK(out[0][14 + 40] == icmp6::echo_reply);
    // Other destinations of the route keep its first hop; the new first hop may redirect again.
    r.hand(redirect6("fe80::2", kGw, "fe80::4", "2001:db8:9::5"), Punt::local, p1);
    CHECK(route_get(r)["exception"]["gateway"] == "fe80::3");  // fe80::2 is no longer first
    r.hand(redirect6("fe80::3", kBetter, "2001:db8:9::5", "2001:db8:9::5"), Punt::local, p1);
    CHECK(route_get(r)["exception"]["gateway"] == "2001:db8:9::5");  // on-link, says fe80::3
    CHECK(r.run({"route", "show", "cache"}).size() == 1);
    CHECK(r.run({"route", "flush", "cache"})["flushed"] == 1);
    CHECK(route_get(r).count("exception") == 0);
  }
  SECTION("on: a redirect stands only while its route keeps the first hop it replaced") {
    Rig6 r(cfg);
    route_beyond(r);
    const uint16_t p1 = r.ports[1]->id();
    r.hand(redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5"), Punt::local, p1);
    REQUIRE(route_get(r)["exception"]["gateway"] == "fe80::3");
    // The route moves to another gateway: the router's own packets follow the route, not
    // the redirect learnt for the old one.
    const Mac other = *Mac::parse("02:00:00:00:00:04");
    r.run({"neigh", "add", "fe80::4", "lladdr", "02:00:00:00:00:04", "dev", "p1"});
    r.run({"route", "replace", "2001:db8:9::/48", "via", "fe80::4", "dev", "p1"});
    auto out = r.hand(echo_from_beyond(), Punt::local, p1);
    REQUIRE(out.size() == 1);
    CHECK(std::memcmp(out[0].data(), other.b.data(), 6) == 0);
    // ...and a redirect from the old first hop is not taken as from the current one.
    r.hand(redirect6("fe80::3", kBetter, "fe80::5", "2001:db8:9::5"), Punt::local, p1);
    out = r.hand(echo_from_beyond(), Punt::local, p1);
    REQUIRE(out.size() == 1);
    CHECK(std::memcmp(out[0].data(), other.b.data(), 6) == 0);
  }
  SECTION("on: redirects failing RFC 4861 8.1 are ignored and counted") {
    Rig6 r(cfg);
    route_beyond(r);
    const uint16_t p1 = r.ports[1]->id();
    const json s0 = r.run({"stats"});
    // Not from the current first hop.
    r.hand(redirect6("fe80::7", *Mac::parse("02:00:00:00:00:07"), "fe80::3", "2001:db8:9::5"),
           Punt::local, p1);
    // Hop limit 254: it crossed a router.
    auto bad_hop = redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5");
    bad_hop[14 + 7] = 254;
    r.hand(bad_hop, Punt::local, p1);
    // Code 1.
    auto bad_code = redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5");
    bad_code[14 + 41] = 1;
    r.hand(bad_code, Punt::local, p1);
    // A global target that is not the destination.
    r.hand(redirect6("fe80::2", kGw, "2001:db8:2::9", "2001:db8:9::5"), Punt::local, p1);
    // In on another port than the route's.
    r.hand(redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5"), Punt::local, r.ports[0]->id());
    // For a destination no route with a gateway leads to (on-link).
    r.hand(redirect6("fe80::2", kGw, "fe80::3", "2001:db8:2::9"), Punt::local, p1);
    CHECK(r.run({"route", "show", "cache"}).empty());
    const json s1 = r.run({"stats"});
    CHECK(ev(s1, "redirect6_ignored") == ev(s0, "redirect6_ignored") + 6);
    CHECK(ev(s1, "redirect6_learned") == ev(s0, "redirect6_learned"));
  }
  SECTION("on: a route via a global gateway takes redirects from the node it resolved to") {
    Rig6 r(cfg);
    r.run({"neigh", "add", "2001:db8:2::2", "lladdr", "02:00:00:00:00:02", "dev", "p1"});
    r.run({"route", "add", "2001:db8:9::/48", "via", "2001:db8:2::2"});
    const uint16_t p1 = r.ports[1]->id();
    // Its link-local address, but another link-layer address: not the first hop.
    r.hand(redirect6("fe80::2", *Mac::parse("02:00:00:00:00:07"), "fe80::3", "2001:db8:9::5"),
           Punt::local, p1);
    CHECK(route_get(r).count("exception") == 0);
    r.hand(redirect6("fe80::2", kGw, "fe80::3", "2001:db8:9::5"), Punt::local, p1);
    CHECK(route_get(r)["exception"]["gateway"] == "fe80::3");
  }
}

namespace {

// An IPv6/UDP frame from 2001:db8:9::2 to `to`, as a worker would punt it.
std::vector<uint8_t> udp6_to(const char* to) {
  std::vector<uint8_t> f = frame(14 + 40 + 8);
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[14 + 5] = 8;
  f[14 + 6] = 17;
  f[14 + 7] = 64;
  const Ipv6 s = *Ipv6::parse("2001:db8:1::2"), d = *Ipv6::parse(to);
  std::memcpy(&f[14 + 8], s.b.data(), 16);
  std::memcpy(&f[14 + 24], d.b.data(), 16);
  return f;
}

// The "neigh show" entries for address a: port name -> the entry.
std::map<std::string, json> neigh_of(Rig6& r, const char* a) {
  std::map<std::string, json> m;
  for (const auto& e : r.run({"neigh", "show"}))
    if (e["dst"] == a) m[e["dev"].get<std::string>()] = e;
  return m;
}

}  // namespace

TEST_CASE("one link-local address on two ports is two neighbours (RFC 4007)",
          "[control][ipv6][neighbour]") {
  Rig6 r;
  const uint16_t p0 = r.ports[0]->id(), p1 = r.ports[1]->id();
  const Ipv6 gw = *Ipv6::parse("fe80::2");
  const Mac a = *Mac::parse("02:00:00:00:0a:02"), b = *Mac::parse("02:00:00:00:0b:02");
  r.run({"route", "add", "2001:db8:a::/48", "via", "fe80::2", "dev", "p0"});
  r.run({"route", "add", "2001:db8:b::/48", "via", "fe80::2", "dev", "p1"});
  const NextHopState* sa = r.nh("2001:db8:a::1");
  const NextHopState* sb = r.nh("2001:db8:b::1");
  REQUIRE(sa);
  REQUIRE(sb);
  CHECK(sa->id != sb->id);
  CHECK(sa->port == p0);
  CHECK(sb->port == p1);
  CHECK(sa->kind == NhKind::unresolved);
  CHECK(sb->kind == NhKind::unresolved);

  // A packet for each route: one NS for fe80::2 on each port, two INCOMPLETE entries.
  auto out = r.hand(udp6_to("2001:db8:a::5"), Punt::unresolved, p1, 1000);
  REQUIRE(out.size() == 1);
  CHECK(r.sent_ports == std::vector<uint16_t>{p0});
  auto ns = ndp_parse(out[0].data() + 14, out[0].size() - 14);
  REQUIRE(ns);
  CHECK(ns->type == nd::neighbor_solicit);
  CHECK(ns->target == gw);
  out = r.hand(udp6_to("2001:db8:b::5"), Punt::unresolved, p0, 1000);
  REQUIRE(out.size() == 1);
  CHECK(r.sent_ports == std::vector<uint16_t>{p1});
  auto n = neigh_of(r, "fe80::2");
  REQUIRE(n.size() == 2);
  CHECK(n["p0"]["state"] == "INCOMPLETE");
  CHECK(n["p1"]["state"] == "INCOMPLETE");

  // fe80::2 answers on p0 with MAC a: only p0's entry, only the route via p0, and only the
  // packet waiting on p0 goes out.
  auto na_from = [&](const Mac& mac, uint16_t port, uint64_t now, bool solicited = true) {
    const Mac router = port == p0 ? r.ports[0]->mac() : r.ports[1]->mac();
    uint8_t na[kNdMaxFrame];
    const size_t len = ndp_build_na(na, mac, gw, Ipv6::link_local_eui64(router), router, gw, true,
                                    solicited, true);
    return r.hand(std::vector<uint8_t>(na, na + len), Punt::ndp, port, now);
  };
  out = na_from(a, p0, 1100);
  REQUIRE(out.size() == 1);
  CHECK(r.sent_ports == std::vector<uint16_t>{p0});
  CHECK(std::memcmp(out[0].data(), a.b.data(), 6) == 0);
  sa = r.nh("2001:db8:a::1");
  sb = r.nh("2001:db8:b::1");
  CHECK(sa->kind == NhKind::forward);
  CHECK(std::memcmp(sa->l2, a.b.data(), 6) == 0);
  CHECK(sb->kind == NhKind::unresolved);
  n = neigh_of(r, "fe80::2");
  CHECK(n["p0"]["state"] == "REACHABLE");
  CHECK(n["p0"]["lladdr"] == a.str());
  CHECK(n["p1"]["state"] == "INCOMPLETE");

  // ...and on p1 with MAC b: p1's entry, and p0's keeps a (no locktime refusal: another
  // neighbour, not a change of this one's MAC).
  const json s0 = r.run({"stats"});
  out = na_from(b, p1, 1200);
  REQUIRE(out.size() == 1);
  CHECK(r.sent_ports == std::vector<uint16_t>{p1});
  CHECK(std::memcmp(out[0].data(), b.b.data(), 6) == 0);
  CHECK(r.run({"stats"})["events"]["arp_mac_locked"].get<uint64_t>() ==
        s0["events"]["arp_mac_locked"].get<uint64_t>());
  sa = r.nh("2001:db8:a::1");
  sb = r.nh("2001:db8:b::1");
  REQUIRE(sa->kind == NhKind::forward);
  REQUIRE(sb->kind == NhKind::forward);
  CHECK(std::memcmp(sa->l2, a.b.data(), 6) == 0);
  CHECK(std::memcmp(sb->l2, b.b.data(), 6) == 0);
  CHECK(std::memcmp(sa->l2 + 6, r.ports[0]->mac().b.data(), 6) == 0);
  CHECK(std::memcmp(sb->l2 + 6, r.ports[1]->mac().b.data(), 6) == 0);
  n = neigh_of(r, "fe80::2");
  REQUIRE(n.size() == 2);
  CHECK(n["p0"]["lladdr"] == a.str());
  CHECK(n["p1"]["lladdr"] == b.str());
  CHECK(n["p1"]["state"] == "REACHABLE");
  const json ga = r.run({"route", "get", "2001:db8:a::1"});
  const json gb = r.run({"route", "get", "2001:db8:b::1"});
  CHECK(ga["dev"] == "p0");
  CHECK(ga["nexthop"]["lladdr"] == a.str());
  CHECK(ga["nexthop"]["neighbour"] == "fe80::2");
  CHECK(gb["dev"] == "p1");
  CHECK(gb["nexthop"]["lladdr"] == b.str());

  SECTION("an NA with a new MAC on one port changes that port's neighbour only") {
    const Mac c = *Mac::parse("02:00:00:00:0c:02");
    na_from(c, p1, 5000, false);  // unsolicited, override: STALE with the new MAC
    n = neigh_of(r, "fe80::2");
    CHECK(n["p1"]["lladdr"] == c.str());
    // STALE, and DELAY at once at the same poll's tick: a route uses it (RFC 4861 7.3.3).
    CHECK(n["p1"]["state"] == "DELAY");
    CHECK(n["p0"]["lladdr"] == a.str());
    CHECK(n["p0"]["state"] == "REACHABLE");
    CHECK(std::memcmp(r.nh("2001:db8:b::1")->l2, c.b.data(), 6) == 0);
    CHECK(std::memcmp(r.nh("2001:db8:a::1")->l2, a.b.data(), 6) == 0);
  }
  SECTION("an NS from fe80::2 on one port updates that port's neighbour only") {
    const Mac c = *Mac::parse("02:00:00:00:0c:02");
    uint8_t nsf[kNdMaxFrame];
    const size_t len =
        ndp_build_ns(nsf, c, gw, Ipv6::link_local_eui64(r.ports[0]->mac()));  // for our LL
    out = r.hand(std::vector<uint8_t>(nsf, nsf + len), Punt::ndp, p0, 5000);
    REQUIRE(out.size() == 1);  // the NA, to c on p0
    CHECK(r.sent_ports == std::vector<uint16_t>{p0});
    CHECK(std::memcmp(out[0].data(), c.b.data(), 6) == 0);
    n = neigh_of(r, "fe80::2");
    CHECK(n["p0"]["lladdr"] == c.str());
    CHECK(n["p0"]["state"] == "DELAY");  // STALE, then DELAY: used by the route via p0
    CHECK(n["p1"]["lladdr"] == b.str());
    CHECK(n["p1"]["state"] == "REACHABLE");
  }
  SECTION("deleting one leaves the other; a link-local neighbour is named with its port") {
    CHECK(r.fails({"neigh", "del", "fe80::2"}).find("needs dev") != std::string::npos);
    r.run({"neigh", "del", "fe80::2", "dev", "p1"});
    n = neigh_of(r, "fe80::2");
    REQUIRE(n.size() == 1);
    CHECK(n.count("p0") == 1);
    CHECK(r.nh("2001:db8:b::1")->kind == NhKind::unresolved);
    CHECK(r.nh("2001:db8:a::1")->kind == NhKind::forward);
    CHECK(r.fails({"neigh", "del", "fe80::2", "dev", "p1"}) ==
          "neigh del: no neighbour fe80::2 on p1");
    // Traffic via p0 still goes straight to a.
    out = r.hand(udp6_to("2001:db8:a::6"), Punt::unresolved, p1, 5000);
    REQUIRE(out.size() == 1);
    CHECK(r.sent_ports == std::vector<uint16_t>{p0});
    CHECK(std::memcmp(out[0].data(), a.b.data(), 6) == 0);
  }
  SECTION("a static neighbour on one port leaves the other's learnt one alone") {
    const Mac c = *Mac::parse("02:00:00:00:0c:02");
    r.run({"neigh", "add", "fe80::2", "lladdr", c.str(), "dev", "p1"});
    n = neigh_of(r, "fe80::2");
    CHECK(n["p1"]["state"] == "PERMANENT");
    CHECK(n["p1"]["lladdr"] == c.str());
    CHECK(n["p0"]["state"] == "REACHABLE");
    CHECK(n["p0"]["lladdr"] == a.str());
    CHECK(std::memcmp(r.nh("2001:db8:b::1")->l2, c.b.data(), 6) == 0);
    CHECK(std::memcmp(r.nh("2001:db8:a::1")->l2, a.b.data(), 6) == 0);
  }
}
