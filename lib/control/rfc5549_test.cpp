// RFC 5549 (BGP unnumbered) through the control thread: an IPv4 route whose gateway is an
// IPv6 address, resolved by NDP, published as an IPv4 next hop with the neighbour's MAC, shown
// by route show and route get, an ECMP member that leaves its group when NDP fails and comes
// back when the gateway answers, and the IPv4 errors its packets earn.
#include <rte_ip.h>

#include <cstring>
#include <set>

#include <catch2/catch.hpp>

#include "control.hpp"
#include "control_rig.hpp"
#include "ndp.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

// DAD off (ipv6.dad_transmits 0): the link-local addresses are assigned at once, so NDP
// sends from them from the start.
Config without_dad() {
  Config c;
  c.dad_transmits = 0;
  return c;
}

const Ipv6 kGw = *Ipv6::parse("fe80::2");
const Mac kGwMac = *Mac::parse("02:00:00:00:05:49");

struct Rig : testing::ControlRig {
  Rig() : ControlRig(Options{.readers = 1, .next_hops = 64, .tbl8 = 64, .config = without_dad()}) {
    ctl->poll_once(100);
    sent();
  }
  uint16_t p0() const { return ports[0]->id(); }
  uint16_t p1() const { return ports[1]->id(); }
  const NextHopState* nh(const char* a) {
    const uint32_t id = dp.fib.lookup(Ipv4::parse(a)->v);
    return id ? dp.nexthops.get(id) : nullptr;
  }
  // What control sent since the last call (the router's own IPv6 start-up traffic left out).
  std::vector<std::vector<uint8_t>> sent() { return sent_frames(&sent_ports); }
  std::vector<uint16_t> sent_ports;
  // An echo request src -> dst that came in on p0, handed over because its next hop needs
  // resolution; returns what control sent.
  std::vector<std::vector<uint8_t>> punt_echo(Ipv4 src, Ipv4 dst, uint64_t now,
                                              Punt why = Punt::unresolved) {
    PuntEntry e = testing::ip_to(pool.get(), src, dst, why);
    e.m->port = e.in_port = p0();
    REQUIRE(rte_ring_enqueue_elem(punt.get(), &e, sizeof e) == 0);
    ctl->poll_once(now);
    return sent();
  }
  // fe80::2's solicited Neighbor Advertisement on p1, to the router's link-local address.
  std::vector<std::vector<uint8_t>> advert(uint64_t now) {
    const Mac router = ports[1]->mac();
    uint8_t na[kNdMaxFrame];
    const size_t len = ndp_build_na(na, kGwMac, kGw, Ipv6::link_local_eui64(router), router, kGw,
                                    true, true, true);
    rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
    REQUIRE(m);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(len)), na, len);
    m->port = p1();
    PuntEntry e{m, 0, uint8_t(Punt::ndp), 0, p1()};
    REQUIRE(rte_ring_enqueue_elem(punt.get(), &e, sizeof e) == 0);
    ctl->poll_once(now);
    return sent();
  }
  json route(const std::string& prefix) {
    for (const auto& rt : run({"-4", "route", "show"}))
      if (rt["prefix"] == prefix) return rt;
    return nullptr;
  }
  json neighbour(const std::string& dst) {
    for (const auto& n : run({"neigh", "show"}))
      if (n["dst"] == dst) return n;
    return nullptr;
  }
};

bool is_ns_for(const std::vector<uint8_t>& f, const Ipv6& target) {
  if (f.size() < 14 || f[12] != 0x86 || f[13] != 0xdd) return false;
  auto nd = ndp_parse(f.data() + 14, f.size() - 14);
  return nd && nd->type == nd::neighbor_solicit && nd->target == target;
}

}  // namespace

TEST_CASE("RFC 5549: an IPv4 route through a link-local IPv6 gateway resolves by NDP",
          "[control][rfc5549]") {
  Rig r;
  const uint64_t g0 = r.dp.generation.read();
  r.run({"route", "add", "10.9.0.0/16", "via", "inet6", "fe80::2", "dev", "p1"});
  CHECK(r.dp.generation.read() == g0 + 1);  // one commit
  const NextHopState* s = r.nh("10.9.1.1");
  REQUIRE(s);
  CHECK(s->kind == NhKind::unresolved);
  CHECK(s->family == 4);
  CHECK(s->port == r.p1());
  CHECK(s->gateway.v == 0);
  CHECK(s->gateway6 == kGw);

  // A packet for the route makes control solicit the gateway on p1, and wait for it.
  auto out = r.punt_echo(Ipv4(10, 1, 0, 2), Ipv4(10, 9, 1, 1), 1000);
  REQUIRE(out.size() == 1);
  CHECK(is_ns_for(out[0], kGw));
  CHECK(r.sent_ports == std::vector<uint16_t>{r.p1()});
  json n = r.neighbour("fe80::2");
  REQUIRE(n.is_object());
  CHECK(n["family"] == 6);
  CHECK(n["dev"] == "p1");
  CHECK(n["state"] == "INCOMPLETE");
  CHECK(n["queued"] == 1);

  // The answer releases it as an IPv4 packet to the gateway's MAC, TTL decremented, and the
  // next hop forwards with the IPv4 EtherType from then on.
  out = r.advert(1100);
  REQUIRE(out.size() == 1);
  CHECK(r.sent_ports == std::vector<uint16_t>{r.p1()});
  const auto& f = out[0];
  REQUIRE(f.size() >= 14 + 20);
  CHECK(std::memcmp(f.data(), kGwMac.b.data(), 6) == 0);
  CHECK(std::memcmp(f.data() + 6, r.ports[1]->mac().b.data(), 6) == 0);
  CHECK(f[12] == 0x08);
  CHECK(f[13] == 0x00);
  CHECK(f[14] == 0x45);
  CHECK(f[14 + 8] == 63);
  CHECK(rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(f.data() + 14)) == 0);
  s = r.nh("10.9.1.1");
  REQUIRE(s);
  CHECK(s->kind == NhKind::forward);
  CHECK(std::memcmp(s->l2, kGwMac.b.data(), 6) == 0);
  CHECK(s->l2[12] == 0x08);
  CHECK(s->l2[13] == 0x00);
  CHECK(r.neighbour("fe80::2")["state"] == "REACHABLE");

  // route get and route show name the gateway with its family.
  json g = r.run({"route", "get", "10.9.1.1"});
  CHECK(g["type"] == "unicast");
  CHECK(g["via"] == "fe80::2");
  CHECK(g["via_family"] == 6);
  CHECK(g["dev"] == "p1");
  CHECK(g["src"] == "10.2.0.1");
  CHECK(g["route"] == "10.9.0.0/16");
  CHECK(g["nexthop"]["state"] == "forward");
  CHECK(g["nexthop"]["neighbour"] == "fe80::2");
  CHECK(g["nexthop"]["lladdr"] == kGwMac.str());
  json rt = r.route("10.9.0.0/16");
  CHECK(rt["via"] == "fe80::2");
  CHECK(rt["via_family"] == 6);
  CHECK(rt["family"] == 4);
  CHECK(rt["dev"] == "p1");
  CHECK(rt["proto"] == "static");
  CHECK(r.run({"route", "summary"})["via_ipv6"] == 1);
  CHECK(r.run({"stats"})["routes_via_ipv6"] == 1);
  // An IPv4 gateway shows no via_family.
  r.run({"route", "add", "10.6.0.0/16", "via", "10.2.0.2"});
  CHECK_FALSE(r.route("10.6.0.0/16").contains("via_family"));

  // Every route through the same gateway shares its slot; fe80::2 on p0 is another
  // neighbour (RFC 4007), with a slot of its own.
  const uint32_t id = r.dp.fib.lookup(Ipv4(10, 9, 1, 1).v);
  r.run({"route", "add", "10.8.0.0/16", "via", "inet6", "fe80::2", "dev", "p1"});
  CHECK(r.dp.fib.lookup(Ipv4(10, 8, 1, 1).v) == id);
  r.run({"route", "add", "10.7.0.0/16", "via", "inet6", "fe80::2", "dev", "p0"});
  CHECK(r.dp.fib.lookup(Ipv4(10, 7, 1, 1).v) != id);
  CHECK(r.nh("10.7.1.1")->kind == NhKind::unresolved);
  // An IPv6 route through the gateway has an IPv6 slot: never the IPv4 one.
  r.run({"route", "add", "2001:db8:9::/48", "via", "fe80::2", "dev", "p1"});
  const uint32_t id6 = r.dp.fib6.lookup(*Ipv6::parse("2001:db8:9::1"));
  CHECK(id6 != id);
  REQUIRE(r.dp.nexthops.get(id6));
  CHECK(r.dp.nexthops.get(id6)->l2[12] == 0x86);

  // Refusals: a global gateway off every subnet, the router's own link-local address, a
  // delete naming another gateway; nothing changes.
  const uint64_t g1 = r.dp.generation.read();
  CHECK(r.fails({"route", "add", "10.5.0.0/16", "via", "inet6", "2001:db8:5::2"}) ==
        "route add: gateway 2001:db8:5::2 is not on a connected subnet");
  const std::string own = Ipv6::link_local_eui64(r.ports[1]->mac()).str();
  CHECK(r.fails({"route", "add", "10.5.0.0/16", "via", "inet6", own, "dev", "p1"}) ==
        "route add: gateway " + own + " is an address of this router");
  CHECK(r.fails({"route", "del", "10.9.0.0/16", "via", "inet6", "fe80::3"}) ==
        "route del: the route for 10.9.0.0/16 is not via inet6 fe80::3");
  CHECK(r.fails({"route", "del", "10.9.0.0/16", "via", "10.2.0.2"}) ==
        "route del: the route for 10.9.0.0/16 is not via 10.2.0.2");
  CHECK(r.dp.generation.read() == g1);

  // A global gateway on a subnet of p1 is found without dev; deleting the address takes
  // the route with it, as for an IPv6 route.
  r.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  r.run({"route", "add", "10.4.0.0/16", "via", "inet6", "2001:db8:2::7"});
  CHECK(r.route("10.4.0.0/16")["dev"] == "p1");
  const json removed = r.run({"addr", "del", "2001:db8:2::1/64", "dev", "p1"})["removed_routes"];
  REQUIRE(removed.size() == 1);
  CHECK(removed[0]["prefix"] == "10.4.0.0/16");
  CHECK(removed[0]["via"] == "2001:db8:2::7");
  CHECK(r.route("10.4.0.0/16").is_null());
  CHECK(r.nh("10.4.1.1") == nullptr);
  // Deleting an IPv4 address keeps IPv4 routes through IPv6 gateways.
  r.run({"addr", "del", "10.2.0.1/24", "dev", "p1"});
  CHECK(r.route("10.9.0.0/16").is_object());

  r.run({"route", "del", "10.9.0.0/16", "via", "inet6", "fe80::2", "dev", "p1"});
  CHECK(r.nh("10.9.1.1") == nullptr);
  CHECK(r.route("10.9.0.0/16").is_null());
}

TEST_CASE("RFC 5549: an ECMP member through an IPv6 gateway leaves its group when NDP fails",
          "[control][rfc5549][ecmp]") {
  Rig r;
  r.run({"neigh", "add", "10.1.0.2", "lladdr", "02:00:00:00:00:02", "dev", "p0"});
  r.run({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "inet6",
         "fe80::2", "dev", "p1", "weight", "2"});
  json rt = r.route("10.9.0.0/16");
  REQUIRE(rt["nexthops"].size() == 2);
  CHECK(rt["nexthops"][0]["via"] == "10.1.0.2");
  CHECK_FALSE(rt["nexthops"][0].contains("via_family"));
  CHECK(rt["nexthops"][0]["state"] == "alive");
  CHECK(rt["nexthops"][1]["via"] == "fe80::2");
  CHECK(rt["nexthops"][1]["via_family"] == 6);
  CHECK(rt["nexthops"][1]["dev"] == "p1");
  CHECK(rt["nexthops"][1]["weight"] == 2);
  CHECK(rt["nexthops"][1]["state"] == "unresolved");
  // A set whose first member (by port) is the IPv6 one: the route itself names no gateway.
  r.run({"route", "add", "10.8.0.0/16", "nexthop", "via", "inet6", "fe80::2", "dev", "p0",
         "nexthop", "via", "10.2.0.2"});
  const json r8 = r.route("10.8.0.0/16");
  CHECK_FALSE(r8.contains("via"));
  CHECK_FALSE(r8.contains("via_family"));
  REQUIRE(r8["nexthops"].size() == 2);
  CHECK(r8["nexthops"][0]["via"] == "fe80::2");
  CHECK(r8["nexthops"][0]["dev"] == "p0");
  CHECK(r8["nexthops"][0]["via_family"] == 6);
  CHECK(r8["nexthops"][1]["via"] == "10.2.0.2");
  r.run({"route", "del", "10.8.0.0/16", "via", "inet6", "fe80::2"});

  // A flow from 10.1.0.2 that takes the IPv6 member: route get says so, and its packet
  // asks NDP.
  std::string dst;
  for (int host = 1; host < 250 && dst.empty(); ++host) {
    const std::string a = "10.9.1." + std::to_string(host);
    const json g = r.run({"route", "get", a, "from", "10.1.0.2", "proto", "icmp"});
    if (g["via"] == "fe80::2") {
      CHECK(g["via_family"] == 6);
      CHECK(g["dev"] == "p1");
      CHECK(g["nexthop"]["neighbour"] == "fe80::2");
      dst = a;
    }
  }
  REQUIRE_FALSE(dst.empty());
  uint64_t now = 1000;
  auto out = r.punt_echo(Ipv4(10, 1, 0, 2), *Ipv4::parse(dst), now);
  REQUIRE(out.size() == 1);
  CHECK(is_ns_for(out[0], kGw));

  // Nobody answers: the queued packet earns an IPv4 Host Unreachable (not an ICMPv6 one),
  // sent back to 10.1.0.2, and the member leaves its group.
  bool host_unreachable = false;
  for (; now < 10000; now += 100) {
    r.ctl->poll_once(now);
    for (const auto& f : r.sent())
      if (f.size() >= 14 + 20 + 8 && f[12] == 0x08 && f[13] == 0x00 && f[14 + 9] == 1 &&
          f[34] == 3 && f[35] == 1) {
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(f.data() + 14);
        CHECK(Ipv4(rte_be_to_cpu_32(ip->dst_addr)) == Ipv4(10, 1, 0, 2));
        host_unreachable = true;
      }
  }
  CHECK(host_unreachable);
  rt = r.route("10.9.0.0/16");
  CHECK(rt["nexthops"][1]["state"] == "dead");
  CHECK(rt["nexthops"][1]["buckets"] == 0);
  CHECK(rt["nexthops"][0]["state"] == "alive");
  CHECK(r.run({"stats"})["ecmp_member_downs"] == 1);
  for (int i = 0; i < 200; ++i)
    CHECK(r.run({"route", "get", "10.9.1.1", "from", "10.1.0.7", "proto", "udp", "sport",
                 std::to_string(1000 + i), "dport", "53"})["via"] == "10.1.0.2");

  // The router keeps soliciting it, once a second; its answer brings it back.
  r.ctl->poll_once(now += 1500);
  bool probed = false;
  for (const auto& f : r.sent()) probed |= is_ns_for(f, kGw);
  CHECK(probed);
  r.advert(now += 10);
  rt = r.route("10.9.0.0/16");
  CHECK(rt["nexthops"][1]["state"] == "alive");
  CHECK(rt["nexthops"][1]["buckets"].get<uint32_t>() > 0);
  CHECK(r.run({"stats"})["ecmp_member_ups"] == 1);
  std::set<std::string> vias;
  for (int i = 0; i < 200; ++i)
    vias.insert(r.run({"route", "get", "10.9.1.1", "from", "10.1.0.7", "proto", "udp", "sport",
                       std::to_string(1000 + i), "dport", "53"})["via"]);
  CHECK(vias == std::set<std::string>{"10.1.0.2", "fe80::2"});
}

TEST_CASE("RFC 5549: no ICMP redirect names an IPv6 gateway", "[control][rfc5549]") {
  Rig r;
  r.run({"neigh", "add", "fe80::2", "lladdr", kGwMac.str(), "dev", "p0"});
  r.run({"route", "add", "10.9.0.0/16", "via", "inet6", "fe80::2", "dev", "p0"});
  const NextHopState* s = r.nh("10.9.1.1");
  REQUIRE(s);
  CHECK(s->kind == NhKind::forward);
  // A packet from p0's subnet back out of p0, as a worker hands it over for a redirect: it
  // is forwarded to the gateway, and no redirect is sent (there is no IPv4 address to name).
  const json s0 = r.run({"stats"});
  const auto out = r.punt_echo(Ipv4(10, 1, 0, 2), Ipv4(10, 9, 1, 1), 1100, Punt::redirect);
  REQUIRE(out.size() == 1);
  CHECK(std::memcmp(out[0].data(), kGwMac.b.data(), 6) == 0);
  CHECK(out[0][12] == 0x08);
  CHECK(out[0][14 + 9] == 1);  // the echo request itself, not an ICMP redirect (type 5)
  CHECK(out[0][34] == 8);
  const json s1 = r.run({"stats"});
  CHECK(s1["events"]["icmp_redirect_sent"] == s0["events"]["icmp_redirect_sent"]);
  CHECK(s1["events"]["redirect_suppressed"].get<uint64_t>() ==
        s0["events"]["redirect_suppressed"].get<uint64_t>() + 1);
}
