// ECMP routes through the control thread: the nexthop grammar, one published group per
// member set, what route show and route get say, minimal disruption when the set changes,
// and members leaving their group when their gateway stops answering, and coming back.
#include <rte_ethdev.h>
#include <rte_ip.h>

#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "control.hpp"
#include "control_rig.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

struct EcmpRig : testing::ControlRig {
  explicit EcmpRig(uint32_t next_hops = 64, const std::string& p1_driver = "net_null")
      : ControlRig(
            Options{.readers = 1, .next_hops = next_hops, .tbl8 = 64, .p1_driver = p1_driver}) {
    ctl->poll_once(100);  // DAD of the link-local addresses starts; its frames are dropped
    drain();
  }
  void drain() {
    TxEntry t;
    while (rte_ring_dequeue_elem(ctl_tx.get(), &t, sizeof t) == 0) rte_pktmbuf_free(t.m);
  }
  // Which gateway route get says a UDP flow from 10.1.0.2:sport takes.
  std::string via_of(const std::string& dst, uint16_t sport, const std::string& src = "10.1.0.2") {
    return run({"route", "get", dst, "from", src, "proto", "udp", "sport", std::to_string(sport),
                "dport", "53"})["via"];
  }
  json route(const std::string& prefix, int family = 4) {
    for (const auto& r : run({family == 6 ? "-6" : "-4", "route", "show"}))
      if (r["prefix"] == prefix) return r;
    return nullptr;
  }
};

std::map<std::string, int> spread(EcmpRig& r, const std::string& dst, int flows,
                                  const std::string& src = "10.1.0.2") {
  std::map<std::string, int> n;
  for (int i = 0; i < flows; ++i) n[r.via_of(dst, uint16_t(10000 + i), src)]++;
  return n;
}

}  // namespace

TEST_CASE("ECMP: nexthop routes publish one weighted group, shown and looked up per flow",
          "[control][ecmp]") {
  EcmpRig r;
  const uint64_t g0 = r.dp.generation.read();
  r.run({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2",
         "weight", "3"});
  CHECK(r.dp.generation.read() == g0 + 1);  // one commit
  const uint32_t id = r.dp.fib.lookup(Ipv4::parse("10.9.1.1")->v);
  const NextHopState* s = r.dp.nexthops.get(id);
  REQUIRE(s);
  CHECK(s->kind == NhKind::group);
  CHECK(s->group->members == 2);

  // A second route with the same set shares the group.
  r.run({"route", "add", "10.8.0.0/16", "nexthop", "via", "10.2.0.2", "weight", "3", "nexthop",
         "via", "10.1.0.2"});
  CHECK(r.dp.fib.lookup(Ipv4::parse("10.8.1.1")->v) == id);
  CHECK(r.run({"stats"})["ecmp_groups"] == 1);

  const json rt = r.route("10.9.0.0/16");
  REQUIRE(rt["nexthops"].size() == 2);
  CHECK_FALSE(rt.contains("via"));
  CHECK(rt["group"] == id);
  uint32_t total = 0;
  for (const auto& m : rt["nexthops"]) {
    CHECK(m["state"] == "unresolved");
    total += m["buckets"].get<uint32_t>();
  }
  CHECK(total == s->group->mask + 1);
  CHECK(rt["nexthops"][0]["via"] == "10.1.0.2");
  CHECK(rt["nexthops"][0]["dev"] == "p0");
  CHECK(rt["nexthops"][0]["weight"] == 1);
  CHECK(rt["nexthops"][1]["weight"] == 3);
  CHECK(std::abs(rt["nexthops"][1]["buckets"].get<double>() - total * 0.75) < 1);

  // route get follows the flow: 3:1 over 2,000 flows, and a flow always gets one answer.
  auto n = spread(r, "10.9.7.7", 2000);
  CHECK(n["10.2.0.2"] + n["10.1.0.2"] == 2000);
  CHECK(std::abs(n["10.2.0.2"] / 2000.0 - 0.75) < 0.05);
  for (uint16_t sp : {10001, 10500, 11999})
    CHECK(r.via_of("10.9.7.7", sp) == r.via_of("10.9.7.7", sp));
  const json g = r.run({"route", "get", "10.9.7.7", "proto", "udp", "sport", "7", "dport", "9"});
  CHECK(g["group"]["id"] == id);
  CHECK(g["group"]["members"] == 2);
  CHECK(g["group"]["bucket"].get<uint32_t>() < g["group"]["buckets"].get<uint32_t>());
  CHECK(g["nexthop"]["neighbour"] == g["via"]);

  // Resolved members say so; the group object is not republished for a MAC.
  const NextHopState* before = r.dp.nexthops.get(id);
  r.run({"neigh", "add", "10.2.0.2", "lladdr", "02:00:00:00:01:02", "dev", "p1"});
  CHECK(r.dp.nexthops.get(id) == before);
  CHECK(r.route("10.9.0.0/16")["nexthops"][1]["state"] == "alive");

  // Deleting both routes releases the group and its members.
  r.run({"route", "del", "10.9.0.0/16", "via", "10.1.0.2"});  // any member names it
  r.run({"route", "del", "10.8.0.0/16"});
  CHECK(r.run({"stats"})["ecmp_groups"] == 0);
}

TEST_CASE("ECMP: IPv6 routes, link-local members with dev", "[control][ecmp][ipv6]") {
  EcmpRig r;
  r.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  r.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  r.run({"route", "add", "2001:db8:9::/48", "nexthop", "via", "2001:db8:1::2", "nexthop", "via",
         "fe80::2", "dev", "p1", "weight", "2"});
  const uint32_t id = r.dp.fib6.lookup(*Ipv6::parse("2001:db8:9::1"));
  REQUIRE(r.dp.nexthops.get(id));
  CHECK(r.dp.nexthops.get(id)->kind == NhKind::group);
  const json rt = r.route("2001:db8:9::/48", 6);
  REQUIRE(rt["nexthops"].size() == 2);
  std::set<std::string> vias;
  for (const auto& m : rt["nexthops"]) vias.insert(m["via"]);
  CHECK(vias == std::set<std::string>{"2001:db8:1::2", "fe80::2"});
  std::map<std::string, int> n;
  for (int i = 0; i < 1500; ++i)
    n[r.run({"route", "get", "2001:db8:9::5", "from", "2001:db8:1::77", "proto", "tcp", "sport",
             std::to_string(20000 + i), "dport", "443"})["via"]]++;
  CHECK(std::abs(n["fe80::2"] / 1500.0 - 2.0 / 3) < 0.05);
  // The flow label is part of an IPv6 flow.
  std::set<std::string> by_label;
  for (int l = 0; l < 64; ++l)
    by_label.insert(
        r.run({"route", "get", "2001:db8:9::5", "flowlabel", std::to_string(l)})["via"]);
  CHECK(by_label.size() == 2);
  CHECK_THAT(r.fails({"route", "add", "2001:db8:8::/48", "nexthop", "via", "fe80::2", "nexthop",
                      "via", "2001:db8:1::2"}),
             Catch::Contains("nexthop 1: a link-local gateway (fe80::2) needs dev PORT"));
}

TEST_CASE("ECMP: bad nexthop sets are refused with the reason and change nothing",
          "[control][ecmp]") {
  EcmpRig r(256);
  const uint64_t g0 = r.dp.generation.read();
  using Catch::Contains;
  CHECK_THAT(r.fails({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via",
                      "10.1.0.2", "weight", "2"}),
             Contains("are the same gateway"));
  CHECK_THAT(r.fails({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "weight", "0",
                      "nexthop", "via", "10.2.0.2"}),
             Contains("weight '0' is not 1..256"));
  CHECK_THAT(r.fails({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "weight", "257",
                      "nexthop", "via", "10.2.0.2"}),
             Contains("weight '257' is not 1..256"));
  CHECK_THAT(r.fails({"route", "add", "10.9.0.0/16", "nexthop", "dev", "p0", "nexthop", "via",
                      "10.2.0.2"}),
             Contains("nexthop 1 needs 'via GATEWAY'"));
  CHECK_THAT(r.fails({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via",
                      "10.77.0.2"}),
             Contains("nexthop 2: gateway 10.77.0.2 is not on a connected subnet"));
  CHECK_THAT(
      r.fails({"route", "add", "10.9.0.0/16", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2"}),
      Contains("in its own 'nexthop'"));
  CHECK_THAT(r.fails({"route", "add", "blackhole", "10.9.0.0/16", "nexthop", "via", "10.2.0.2"}),
             Contains("does not apply to a blackhole route"));
  CHECK_THAT(r.fails({"route", "add", "10.9.0.0/16", "nexthop", "via", "2001:db8::1", "nexthop",
                      "via", "10.2.0.2"}),
             Contains("is IPv6 but 10.9.0.0/16 is IPv4 (an IPv4 route through an IPv6 gateway, "
                      "RFC 5549, is written 'via inet6 2001:db8::1')"));
  std::vector<std::string> many = {"route", "add", "10.9.0.0/16"};
  for (int i = 0; i < 65; ++i)
    many.insert(many.end(), {"nexthop", "via", "10.2.0." + std::to_string(i + 2)});
  CHECK_THAT(r.fails(many), Contains("more than 64 nexthops"));
  CHECK(r.dp.generation.read() == g0);
  CHECK(r.route("10.9.0.0/16").is_null());
  // 64 is the limit, not below it; a single nexthop is a plain route.
  many.resize(3 + 3 * 64);
  CHECK(r.fails(many).empty());
  CHECK(r.route("10.9.0.0/16")["nexthops"].size() == 64);
  r.run({"route", "add", "10.7.0.0/16", "nexthop", "via", "10.2.0.2", "weight", "5"});
  CHECK(r.route("10.7.0.0/16")["via"] == "10.2.0.2");
  CHECK_FALSE(r.route("10.7.0.0/16").contains("nexthops"));
}

TEST_CASE("ECMP: replacing the set moves only the flows of the member that left",
          "[control][ecmp]") {
  EcmpRig r;
  r.run({"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2",
         "nexthop", "via", "10.2.0.3"});
  std::vector<std::string> before;
  before.reserve(1000);
  for (int i = 0; i < 1000; ++i) before.push_back(r.via_of("10.9.3.3", uint16_t(i)));
  r.run({"route", "replace", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via",
         "10.2.0.2"});
  int moved = 0, gone = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string now = r.via_of("10.9.3.3", uint16_t(i));
    CHECK(now != "10.2.0.3");
    if (before[size_t(i)] == "10.2.0.3")
      ++gone;
    else
      CHECK(now == before[size_t(i)]);
    moved += now != before[size_t(i)];
  }
  CHECK(moved == gone);
  CHECK(gone > 250);  // about a third
  // And a member joining takes only its share from the others.
  std::vector<std::string> two;
  two.reserve(1000);
  for (int i = 0; i < 1000; ++i) two.push_back(r.via_of("10.9.3.3", uint16_t(i)));
  r.run({"route", "replace", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via",
         "10.2.0.2", "nexthop", "via", "10.2.0.4"});
  int to_new = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string now = r.via_of("10.9.3.3", uint16_t(i));
    if (now != two[size_t(i)]) {
      CHECK(now == "10.2.0.4");
      ++to_new;
    }
  }
  CHECK(std::abs(to_new / 1000.0 - 1.0 / 3) < 0.06);
}

TEST_CASE("ECMP: a member whose gateway stops answering ARP leaves its group until it answers",
          "[control][ecmp]") {
  EcmpRig r;
  r.run(
      {"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2"});
  r.run({"neigh", "add", "10.1.0.2", "lladdr", "02:00:00:00:00:02", "dev", "p0"});
  // Traffic for the other member asks for it; nobody answers.
  uint64_t now = 1000;
  bool punted = false;
  for (uint8_t host = 3; host < 250 && !punted; ++host) {
    const std::string src = "10.1.0." + std::to_string(host);
    if (r.run({"route", "get", "10.9.1.1", "from", src, "proto", "icmp"})["via"] != "10.2.0.2")
      continue;
    // An echo request of that flow, as a worker hands it over (its member needs ARP).
    PuntEntry e = testing::ip_to(r.pool.get(), Ipv4(10, 1, 0, host), Ipv4(10, 9, 1, 1));
    REQUIRE(rte_ring_enqueue_elem(r.punt.get(), &e, sizeof e) == 0);
    punted = true;
  }
  REQUIRE(punted);
  r.ctl->poll_once(now);
  for (; now < 10000; now += 100) r.ctl->poll_once(now);
  r.drain();
  json rt = r.route("10.9.0.0/16");
  CHECK(rt["nexthops"][1]["state"] == "dead");
  CHECK(rt["nexthops"][1]["buckets"] == 0);
  CHECK(rt["nexthops"][0]["state"] == "alive");
  json st = r.run({"stats"});
  CHECK(st["ecmp_member_downs"] == 1);
  for (int i = 0; i < 300; ++i) CHECK(r.via_of("10.9.1.1", uint16_t(i)) == "10.1.0.2");
  // The router keeps asking, once a second; an answer brings it back.
  r.ctl->poll_once(now += 1500);
  r.drain();
  PuntEntry a = testing::arp_from(r.pool.get(), Ipv4(10, 2, 0, 2), 7, ArpPacket::reply);
  REQUIRE(rte_ring_enqueue_elem(r.punt.get(), &a, sizeof a) == 0);
  r.ctl->poll_once(now += 10);
  r.drain();
  rt = r.route("10.9.0.0/16");
  CHECK(rt["nexthops"][1]["state"] == "alive");
  CHECK(rt["nexthops"][1]["buckets"].get<uint32_t>() > 0);
  CHECK(r.run({"stats"})["ecmp_member_ups"] == 1);
}

TEST_CASE("ECMP: members on a port whose link goes down leave their groups until it is up",
          "[control][ecmp]") {
  EcmpRig r(64, "net_ring");  // net_ring takes set_link_down (net_null does not)
  r.run({"neigh", "add", "10.1.0.2", "lladdr", "02:00:00:00:00:02", "dev", "p0"});
  r.run({"neigh", "add", "10.2.0.2", "lladdr", "02:00:00:00:00:03", "dev", "p1"});
  r.run(
      {"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2"});
  uint64_t now = 1000;
  r.ctl->poll_once(now);
  REQUIRE(r.route("10.9.0.0/16")["nexthops"][1]["state"] == "alive");
  // What a NIC reports when its cable is pulled.
  const uint16_t p1 = r.ports[1]->id();
  REQUIRE(rte_eth_dev_set_link_down(p1) == 0);
  r.ctl->poll_once(now += 200);
  json rt = r.route("10.9.0.0/16");
  CHECK(rt["nexthops"][1]["state"] == "dead");
  CHECK(rt["nexthops"][1]["buckets"] == 0);
  CHECK(rt["nexthops"][0]["state"] == "alive");
  CHECK(r.run({"stats"})["ecmp_member_downs"] == 1);
  for (int i = 0; i < 300; ++i) CHECK(r.via_of("10.9.1.1", uint16_t(i)) == "10.1.0.2");
  REQUIRE(rte_eth_dev_set_link_up(p1) == 0);
  r.ctl->poll_once(now += 200);
  rt = r.route("10.9.0.0/16");
  CHECK(rt["nexthops"][1]["state"] == "alive");
  CHECK(rt["nexthops"][1]["buckets"].get<uint32_t>() > 0);
  CHECK(r.run({"stats"})["ecmp_member_ups"] == 1);
  r.drain();
}

TEST_CASE("ECMP: a batch mixing families and ECMP lines is one commit, or nothing",
          "[control][ecmp]") {
  EcmpRig r;
  r.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  r.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  const uint64_t g0 = r.dp.generation.read();
  const json j = r.run({"batch", "route add 10.9.0.0/16 nexthop via 10.1.0.2 nexthop via 10.2.0.2",
                        "route add 2001:db8:9::/48 nexthop via 2001:db8:1::2 nexthop via fe80::9 "
                        "dev p1 weight 4",
                        "route add 10.8.0.0/16 via 10.2.0.2"});
  CHECK(j["added"] == 3);
  CHECK(r.dp.generation.read() == g0 + 1);
  CHECK(r.run({"stats"})["ecmp_groups"] == 2);
  // A bad ECMP line refuses the whole batch, naming its line.
  CHECK_THAT(r.fails({"batch", "route del 10.8.0.0/16",
                      "route replace 10.9.0.0/16 nexthop via 10.2.0.2 weight 300 nexthop via "
                      "10.1.0.2"}),
             Catch::Contains("line 2"));
  CHECK(r.dp.generation.read() == g0 + 1);
  CHECK_FALSE(r.route("10.8.0.0/16").is_null());
  CHECK(r.route("10.9.0.0/16")["nexthops"][0]["weight"] == 1);
}

TEST_CASE(
    "ECMP: a route's new weights or members republish its group, not its FIB entry; a "
    "refused batch restores them",
    "[control][ecmp]") {
  EcmpRig r;
  r.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  r.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  r.run(
      {"route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2"});
  r.run({"route", "add", "2001:db8:9::/48", "nexthop", "via", "2001:db8:1::2", "nexthop", "via",
         "2001:db8:2::2"});
  const json g4 = r.route("10.9.0.0/16")["group"];
  const json g6 = r.route("2001:db8:9::/48", 6)["group"];
  auto updates = [&] { return r.run({"stats"})["route_updates"].get<uint64_t>(); };
  const uint64_t u0 = updates();
  const uint64_t gen0 = r.dp.generation.read();

  // Weights 1:3, and a third member for IPv6: the same groups, no FIB change, one bump each.
  r.run({"route", "replace", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via",
         "10.2.0.2", "weight", "3"});
  r.run({"route", "replace", "2001:db8:9::/48", "nexthop", "via", "2001:db8:1::2", "nexthop", "via",
         "2001:db8:2::2", "nexthop", "via", "2001:db8:2::3"});
  CHECK(updates() == u0);
  CHECK(r.dp.generation.read() == gen0 + 2);
  CHECK(r.route("10.9.0.0/16")["group"] == g4);
  CHECK(r.route("2001:db8:9::/48", 6)["group"] == g6);
  CHECK(r.route("10.9.0.0/16")["nexthops"][1]["weight"] == 3);
  CHECK(r.route("2001:db8:9::/48", 6)["nexthops"].size() == 3);
  auto n = spread(r, "10.9.3.3", 1000);
  CHECK(std::abs(n["10.2.0.2"] / 1000.0 - 0.75) < 0.06);

  // A batch that the FIB refuses (more /25s than tbl8 groups) restores the weights too.
  std::vector<std::string> batch{"batch",
                                 "route replace 10.9.0.0/16 nexthop via 10.1.0.2 weight 5 nexthop "
                                 "via 10.2.0.2"};
  for (int i = 0; i < 80; ++i)
    batch.push_back("route add 10.77." + std::to_string(i) + ".0/25 via 10.1.0.2");
  CHECK_THAT(r.fails(batch), Catch::Contains("tbl8"));
  CHECK(r.route("10.9.0.0/16")["nexthops"][0]["weight"] == 1);
  CHECK(r.route("10.9.0.0/16")["group"] == g4);
  n = spread(r, "10.9.3.3", 1000);
  CHECK(std::abs(n["10.2.0.2"] / 1000.0 - 0.75) < 0.06);
  CHECK(updates() == u0);

  // Another route with the same set shares the group; changing one of them gives it a group
  // of its own and leaves the other alone.
  r.run({"route", "add", "10.8.0.0/16", "nexthop", "via", "10.1.0.2", "nexthop", "via", "10.2.0.2",
         "weight", "3"});
  CHECK(r.route("10.8.0.0/16")["group"] == g4);
  r.run({"route", "replace", "10.8.0.0/16", "nexthop", "via", "10.1.0.2"});
  CHECK(r.route("10.8.0.0/16")["group"].is_null());
  CHECK(r.route("10.9.0.0/16")["group"] == g4);
  CHECK(r.route("10.9.0.0/16")["nexthops"][1]["weight"] == 3);
  CHECK(r.run({"stats"})["ecmp_groups"] == 2);
}
