// Router Advertisements and DAD of the router's own addresses (ra.cpp) on the control rig:
// frames are handed over as a worker would, the clock is the one poll_once is given, and what
// control sends is read back from its TX ring and parsed by lib/packet.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "control_rig.hpp"
#include "ndp.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

const Mac kHost = *Mac::parse("02:00:00:00:01:02");
const Ipv6 kHostLl = *Ipv6::parse("fe80::99");

// p0 advertises (a /64 and a /48), p1 does not.
std::string ra_config(bool p0_ra = true) {
  return std::string("[dataplane]\nsocket = \"/nonexistent/routerd.sock\"\n\n") +
         "[ipv6]\nra_interval_s = 30\n\n"
         "[[port]]\nname = \"p0\"\ndevice = \"net_null_a\"\n"
         "addresses = [\"2001:db8:1::1/64\", \"2001:db8:7::1/48\"]\nra = " +
         (p0_ra ? "true" : "false") +
         "\n\n"
         "[[port]]\nname = \"p1\"\ndevice = \"net_null_b\"\naddresses = [\"2001:db8:2::1/64\"]\n";
}

struct Sent {
  uint16_t port;
  std::vector<uint8_t> f;
  std::optional<NdMessage> nd() const { return ndp_parse(f.data() + 14, f.size() - 14); }
};

struct PrefixOpt {
  uint8_t len, flags;
  uint32_t valid, preferred;
  Ipv6 prefix;
};

// The Prefix Information options of an RA frame (ndp_parse checks them, but keeps none).
std::vector<PrefixOpt> prefixes_of(const std::vector<uint8_t>& f) {
  std::vector<PrefixOpt> v;
  auto be32 = [](const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
  };
  for (size_t o = 14 + 40 + 16; o + 8 <= f.size() && f[o + 1] != 0; o += size_t(f[o + 1]) * 8)
    if (f[o] == nd::opt_prefix_info)
      v.push_back(
          {f[o + 2], f[o + 3], be32(&f[o + 4]), be32(&f[o + 8]), Ipv6::from_bytes(&f[o + 16])});
  return v;
}

struct RaRig : testing::ControlRig {
  explicit RaRig(const std::string& toml = ra_config())
      : ControlRig(Options{.readers = 1, .next_hops = 64, .tbl8 = 512, .config_toml = toml}) {}
  uint16_t p0() const { return ports[0]->id(); }
  uint16_t p1() const { return ports[1]->id(); }
  std::vector<Sent> tick(uint64_t now) {
    ctl->poll_once(now);
    return sent();
  }
  std::vector<Sent> hand(const uint8_t* frame, size_t n, uint16_t port, uint64_t now) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
    REQUIRE(m);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(n)), frame, n);
    m->port = port;
    PuntEntry e{m, 0, uint8_t(Punt::ndp), 0, port};
    REQUIRE(rte_ring_enqueue_elem(punt.get(), &e, sizeof e) == 0);
    return tick(now);
  }
  std::vector<Sent> sent() {
    std::vector<Sent> out;
    TxEntry t;
    while (rte_ring_dequeue_elem(ctl_tx.get(), &t, sizeof t) == 0) {
      const auto* p = rte_pktmbuf_mtod(t.m, const uint8_t*);
      out.push_back({t.port, std::vector<uint8_t>(p, p + rte_pktmbuf_data_len(t.m))});
      rte_pktmbuf_free(t.m);
    }
    return out;
  }
  // An RS from the host (fe80::99, kHost), with or without its link-layer address.
  std::vector<Sent> solicit(uint16_t port, uint64_t now, bool with_lla = true) {
    uint8_t f[kNdMaxFrame] = {};
    const Ipv6 src = with_lla ? kHostLl : Ipv6{};
    const Ipv6 dst = *Ipv6::parse("ff02::2");
    const Mac dmac = dst.multicast_mac();
    std::memcpy(f, dmac.b.data(), 6);
    std::memcpy(f + 6, kHost.b.data(), 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t* ip = f + 14;
    ip[0] = 0x60;
    const uint16_t len = with_lla ? 16 : 8;
    ip[5] = uint8_t(len);
    ip[6] = 58;
    ip[7] = 255;
    std::memcpy(ip + 8, src.b.data(), 16);
    std::memcpy(ip + 24, dst.b.data(), 16);
    uint8_t* rs = ip + 40;
    rs[0] = nd::router_solicit;
    if (with_lla) {
      rs[8] = nd::opt_source_lla;
      rs[9] = 1;
      std::memcpy(rs + 10, kHost.b.data(), 6);
    }
    const uint16_t ck = icmp6_checksum(src, dst, rs, len);
    rs[2] = uint8_t(ck >> 8);
    rs[3] = uint8_t(ck);
    return hand(f, 14 + 40 + len, port, now);
  }
  uint64_t event(const char* name) { return run({"stats"})["events"][name].get<uint64_t>(); }
};

std::vector<Sent> ras(const std::vector<Sent>& v) {
  std::vector<Sent> out;
  for (const auto& s : v)
    if (auto m = s.nd(); m && m->type == nd::router_advert) out.push_back(s);
  return out;
}

}  // namespace

TEST_CASE("DAD probes every own address once, from ::, before RAs start", "[control][ipv6][ra]") {
  RaRig r;
  const auto probes = r.tick(1000);
  std::vector<Ipv6> targets;
  for (const auto& s : probes) {
    auto m = s.nd();
    REQUIRE(m);
    CHECK(m->type == nd::neighbor_solicit);
    CHECK(m->src.is_unspecified());
    CHECK(!m->source_lla);
    CHECK(m->dst == m->target.solicited_node());
    targets.push_back(m->target);
  }
  // p0: link-local and two globals; p1: link-local and one global.
  CHECK(targets.size() == 5);
  CHECK(std::count(targets.begin(), targets.end(), *Ipv6::parse("2001:db8:7::1")) == 1);
  CHECK(r.run({"addr", "show", "dev", "p0"})[0]["tentative"].size() == 3);
  // An RS while the link-local address is tentative is not answered yet.
  CHECK(ras(r.solicit(r.p0(), 1500)).empty());
  // RetransTimer (1 s) later the addresses are in use and p0 sends its first RA.
  const auto first = ras(r.tick(2100));
  REQUIRE(first.size() == 1);
  CHECK(first[0].port == r.p0());
  CHECK(!r.run({"addr", "show", "dev", "p0"})[0].contains("tentative"));
}

TEST_CASE("an RS is answered with the port's prefixes, MTU and lifetime, at most every 3 s",
          "[control][ipv6][ra]") {
  RaRig r;
  r.tick(1000);
  REQUIRE(ras(r.tick(2100)).size() == 1);  // the first unsolicited one, at 2.1 s
  const uint64_t sent0 = r.event("ndp_ra_sent");

  auto out = ras(r.solicit(r.p0(), 6000));
  REQUIRE(out.size() == 1);
  const auto ra = out[0].nd();
  CHECK(out[0].port == r.p0());
  CHECK(ra->dst == kHostLl);  // unicast: the RS gave its link-layer address
  CHECK(std::memcmp(out[0].f.data(), kHost.b.data(), 6) == 0);
  CHECK(ra->src == Ipv6::link_local_eui64(r.ports[0]->mac()));
  CHECK(ra->src.is_link_local());
  CHECK(ra->router_lifetime == 90);  // 3 x ra_interval_s
  REQUIRE(ra->mtu);
  CHECK(*ra->mtu == 1500);
  CHECK(ra->source_lla == r.ports[0]->mac());
  const auto pfx = prefixes_of(out[0].f);
  REQUIRE(pfx.size() == 2);
  CHECK(pfx[0].prefix == *Ipv6::parse("2001:db8:1::"));
  CHECK(pfx[0].len == 64);
  CHECK(pfx[0].flags == 0xc0);  // on-link, autonomous
  CHECK(pfx[0].valid == 2592000);
  CHECK(pfx[0].preferred == 604800);
  CHECK(pfx[1].prefix == *Ipv6::parse("2001:db8:7::"));
  CHECK(pfx[1].len == 48);
  CHECK(pfx[1].flags == 0x80);  // on-link only: SLAAC needs a /64
  CHECK(r.event("ndp_ra_sent") == sent0 + 1);

  SECTION("a port without ra = true stays silent") {
    CHECK(ras(r.solicit(r.p1(), 6000)).empty());
  }
  SECTION("a second RS within 3 s is answered by a multicast RA when the 3 s are over") {
    CHECK(ras(r.solicit(r.p0(), 7000)).empty());
    CHECK(ras(r.solicit(r.p0(), 8900)).empty());
    out = ras(r.tick(9000));
    REQUIRE(out.size() == 1);
    CHECK(out[0].nd()->dst == kAllNodes);
    CHECK(std::memcmp(out[0].f.data(), kAllNodes.multicast_mac().b.data(), 6) == 0);
    CHECK(r.event("ndp_ra_sent") == sent0 + 2);
  }
  SECTION("an RS from :: gets a multicast answer") {
    out = ras(r.solicit(r.p0(), 6000 + 3000, /*with_lla=*/false));
    REQUIRE(out.size() == 1);
    CHECK(out[0].nd()->dst == kAllNodes);
  }
}

TEST_CASE("unsolicited RAs follow RFC 4861 6.2.4's schedule; turning ra off ends with lifetime 0",
          "[control][ipv6][ra]") {
  RaRig r;
  std::vector<uint64_t> at;
  for (uint64_t now = 1000; now <= 400000; now += 100) {
    for (const auto& s : ras(r.tick(now))) {
      CHECK(s.port == r.p0());
      CHECK(s.nd()->dst == kAllNodes);
      CHECK(s.nd()->router_lifetime == 90);
      at.push_back(now);
    }
  }
  REQUIRE(at.size() >= 14);  // 400 s at most 30 s apart
  CHECK(at[0] == 2000);      // as soon as DAD of the link-local address is over
  for (size_t i = 1; i < at.size(); ++i) {
    const uint64_t gap = at[i] - at[i - 1];
    CHECK(gap >= 9900);  // MinRtrAdvInterval: 0.33 x 30 s
    // The first three at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart; a tick is 100 ms.
    CHECK(gap <= (i < 3 ? 16000u : 30000u) + 100);
  }

  // A reload that turns ra off: one last RA with Router Lifetime 0, then nothing.
  r.ctl->reload_apply(parse_config(ra_config(false), "t.toml"), {});
  auto out = ras(r.tick(400100));
  REQUIRE(out.size() == 1);
  CHECK(out[0].nd()->router_lifetime == 0);
  for (uint64_t now = 400200; now <= 500000; now += 100) CHECK(ras(r.tick(now)).empty());
  CHECK(ras(r.solicit(r.p0(), 500100)).empty());
}

TEST_CASE("DAD: an NA for a tentative address makes it a duplicate, never used as a source",
          "[control][ipv6][ra]") {
  RaRig r;
  r.tick(1000);  // probes sent: every address tentative
  const Ipv6 dup = *Ipv6::parse("2001:db8:1::1");
  uint8_t f[kNdMaxFrame];
  // Our own probe looped back by the link (our MAC) is no conflict.
  size_t n = ndp_build_ns(f, r.ports[1]->mac(), Ipv6{}, *Ipv6::parse("2001:db8:2::1"));
  CHECK(r.hand(f, n, r.p1(), 1100).empty());
  // Another node's answer for 2001:db8:1::1.
  n = ndp_build_na(f, kHost, dup, kAllNodes, kAllNodes.multicast_mac(), dup, false, false, true);
  CHECK(r.hand(f, n, r.p0(), 1200).empty());
  CHECK(r.event("ndp_dad_failed") == 1);
  // It is the other node's: no longer local, its packets follow the connected subnet.
  const uint32_t id = r.dp.fib6.lookup(dup);
  REQUIRE(id);
  CHECK(r.dp.nexthops.get(id)->kind == NhKind::glean);
  r.tick(2100);  // DAD of the others is over

  const json p0 = r.run({"addr", "show", "dev", "p0"})[0];
  CHECK(p0["dad_failed"] == json::array({"2001:db8:1::1/64"}));
  CHECK(!p0.contains("tentative"));
  CHECK(!r.run({"addr", "show", "dev", "p1"})[0].contains("dad_failed"));  // the looped probe

  // It is not defended: an NS for it goes unanswered.
  n = ndp_build_ns(f, kHost, *Ipv6::parse("2001:db8:1::2"), dup);
  CHECK(r.hand(f, n, r.p0(), 2200).empty());
  // The router's own solicitations on p0 come from its other address.
  n = ndp_build_ns(f, kHost, *Ipv6::parse("2001:db8:1::2"), *Ipv6::parse("2001:db8:7::1"));
  auto out = r.hand(f, n, r.p0(), 2300);  // answered: the NA is from 2001:db8:7::1 itself
  REQUIRE(out.size() == 1);
  r.run({"route", "add", "2001:db8:99::/48", "via", "2001:db8:1::5"});
  std::vector<uint8_t> pkt(14 + 40 + 8);
  pkt[12] = 0x86;
  pkt[13] = 0xdd;
  pkt[14] = 0x60;
  pkt[14 + 5] = 8;
  pkt[14 + 6] = 17;
  pkt[14 + 7] = 64;
  const Ipv6 src = *Ipv6::parse("2001:db8:2::2"), dst = *Ipv6::parse("2001:db8:99::5");
  std::memcpy(&pkt[14 + 8], src.b.data(), 16);
  std::memcpy(&pkt[14 + 24], dst.b.data(), 16);
  rte_mbuf* m = rte_pktmbuf_alloc(r.pool.get());
  std::memcpy(rte_pktmbuf_append(m, uint16_t(pkt.size())), pkt.data(), pkt.size());
  m->port = r.p1();
  PuntEntry e{m, 0, uint8_t(Punt::unresolved), 0, r.p1()};
  REQUIRE(rte_ring_enqueue_elem(r.punt.get(), &e, sizeof e) == 0);
  out = r.tick(2400);
  REQUIRE(out.size() == 1);
  CHECK(out[0].nd()->type == nd::neighbor_solicit);
  CHECK(out[0].nd()->src == *Ipv6::parse("2001:db8:7::1"));

  // An NA for an address that passed DAD does not make it a duplicate.
  n = ndp_build_na(f, kHost, *Ipv6::parse("2001:db8:2::1"), kAllNodes, kAllNodes.multicast_mac(),
                   *Ipv6::parse("2001:db8:2::1"), false, false, true);
  r.hand(f, n, r.p1(), 2500);
  CHECK(r.event("ndp_dad_failed") == 1);

  // Deleting it and adding it again runs DAD again.
  r.run({"addr", "del", "2001:db8:1::1/64", "dev", "p0"});
  CHECK(!r.run({"addr", "show", "dev", "p0"})[0].contains("dad_failed"));
  r.tick(2600);
  r.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  out = r.tick(2700);
  REQUIRE(out.size() == 1);
  CHECK(out[0].nd()->target == dup);
  CHECK(out[0].nd()->src.is_unspecified());
  r.tick(3800);
  CHECK(!r.run({"addr", "show", "dev", "p0"})[0].contains("dad_failed"));
}
