// Router Advertisements and DAD of the router's own addresses (ra.cpp) on the control rig:
// frames are handed over as a worker would, the clock is the one poll_once is given, and what
// control sends is read back from its TX ring and parsed by lib/packet.
#include <rte_random.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "control_rig.hpp"
#include "mld.hpp"
#include "ndp.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

const Mac kHost = *Mac::parse("02:00:00:00:01:02");
const Ipv6 kHostLl = *Ipv6::parse("fe80::99");

// p0 advertises (a /64 and a /48), p1 does not.
std::string ra_config(bool p0_ra = true, int interval_s = 30) {
  return std::string("[dataplane]\nsocket = \"/nonexistent/routerd.sock\"\n\n") +
         "[ipv6]\nra_interval_s = " + std::to_string(interval_s) +
         "\n\n"
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
  std::optional<MldReport> mld() const { return mld_parse_report(f.data() + 14, f.size() - 14); }
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
  // Polls every 10 ms up to `to` (the control thread polls about that often when idle):
  // the frames sent, and when.
  std::vector<std::pair<uint64_t, Sent>> poll_until(uint64_t from, uint64_t to) {
    std::vector<std::pair<uint64_t, Sent>> out;
    for (uint64_t now = from; now <= to; now += 10)
      for (auto& s : tick(now)) out.emplace_back(now, s);
    return out;
  }
  uint64_t event(const char* name) { return run({"stats"})["events"][name].get<uint64_t>(); }
  uint64_t dropped(const char* name) { return run({"stats"})["drops"][name].get<uint64_t>(); }
  // The IPv6 neighbour a on port dev, as `neigh show` gives it, or null.
  json neighbour(const Ipv6& a, const std::string& dev) {
    for (const auto& e : run({"neigh", "show"}))
      if (e["family"] == 6 && e["dst"] == a.str() && e["dev"] == dev) return e;
    return nullptr;
  }
  bool tentative() {
    return run({"addr", "show", "dev", "p0"})[0].contains("tentative") ||
           run({"addr", "show", "dev", "p1"})[0].contains("tentative");
  }
  // Ticks every 100 ms from `from` until no address is tentative (the random delay of at
  // most 1 s, then RetransTimer); returns that time, and what was sent on the way in *out.
  uint64_t settle(uint64_t from, std::vector<Sent>* out = nullptr) {
    for (uint64_t now = from;; now += 100) {
      auto s = tick(now);
      if (out) out->insert(out->end(), s.begin(), s.end());
      if (!tentative()) return now;
      REQUIRE(now < from + 2500);
    }
  }
};

// What the router sent but its DAD probes and MLD Reports (whenever their delays put them).
std::vector<Sent> answers(const std::vector<Sent>& v) {
  std::vector<Sent> out;
  for (const auto& s : v)
    if (!testing::is_ipv6_startup(s.f.data(), s.f.size())) out.push_back(s);
  return out;
}

// The probes and the MLD Reports among frames.
std::vector<Sent> probes(const std::vector<Sent>& v) {
  std::vector<Sent> out;
  for (const auto& s : v)
    if (auto m = s.nd(); m && m->type == nd::neighbor_solicit && m->src.is_unspecified())
      out.push_back(s);
  return out;
}
std::vector<Sent> reports(const std::vector<Sent>& v) {
  std::vector<Sent> out;
  for (const auto& s : v)
    if (s.mld()) out.push_back(s);
  return out;
}

std::vector<Sent> ras(const std::vector<Sent>& v) {
  std::vector<Sent> out;
  for (const auto& s : v)
    if (auto m = s.nd(); m && m->type == nd::router_advert) out.push_back(s);
  return out;
}
std::vector<std::pair<uint64_t, Sent>> ras(const std::vector<std::pair<uint64_t, Sent>>& v) {
  std::vector<std::pair<uint64_t, Sent>> out;
  for (const auto& [at, s] : v)
    if (auto m = s.nd(); m && m->type == nd::router_advert) out.emplace_back(at, s);
  return out;
}

}  // namespace

TEST_CASE("DAD probes every own address once, from ::, after a random delay, before RAs start",
          "[control][ipv6][ra]") {
  RaRig r;
  std::vector<std::pair<uint64_t, Sent>> sent;
  for (uint64_t now = 1000; now <= 3500; now += 100) {
    // An RS at 1.5 s finds the link-local address tentative (its probe is at 1 s or later):
    // not answered, and the RA check below sees no RA before DAD is over.
    for (auto& s : now == 1500 ? r.solicit(r.p0(), now) : r.tick(now)) sent.emplace_back(now, s);
    if (now == 1000) CHECK(r.run({"addr", "show", "dev", "p0"})[0]["tentative"].size() == 3);
  }
  std::vector<Ipv6> targets;
  uint64_t probe_at[2] = {0, 0};
  for (const auto& [at, s] : sent) {
    auto m = s.nd();
    if (!m || m->type != nd::neighbor_solicit) continue;
    CHECK(m->src.is_unspecified());
    CHECK(!m->source_lla);
    CHECK(m->dst == m->target.solicited_node());
    targets.push_back(m->target);
    // RFC 4862 5.4.2: the addresses a port comes up with wait a random delay within
    // [0, MAX_RTR_SOLICITATION_DELAY] (1 s) from the first tick, the same for the port.
    const size_t i = s.port == r.p0() ? 0 : 1;
    CHECK(at >= 1000);
    CHECK(at <= 2000);
    if (probe_at[i] == 0) probe_at[i] = at;
    CHECK(at == probe_at[i]);
  }
  // p0: link-local and two globals; p1: link-local and one global.
  CHECK(targets.size() == 5);
  CHECK(std::count(targets.begin(), targets.end(), *Ipv6::parse("2001:db8:7::1")) == 1);
  // RetransTimer (1 s) after its probe p0's link-local address is in use: p0's first RA.
  std::vector<uint64_t> ra_at;
  for (const auto& [at, s] : sent)
    if (auto m = s.nd(); m && m->type == nd::router_advert) ra_at.push_back(at);
  REQUIRE(ra_at.size() == 1);
  CHECK(ra_at[0] == probe_at[0] + 1000);
  CHECK(!r.tentative());
}

TEST_CASE("a tentative address is not assigned: no source, no NA, no delivery (RFC 4862 5.4)",
          "[control][ipv6][ra]") {
  RaRig r;
  r.tick(1000);  // every address tentative, its probe at most 1 s away
  const Ipv6 a = *Ipv6::parse("2001:db8:1::1");
  CHECK(r.run({"addr", "show", "dev", "p0"})[0]["tentative"].size() == 3);
  // Not a source: the router has no assigned address, so none for p0's subnet.
  CHECK(r.run({"route", "get", "2001:db8:1::5"})["src"] == "::");
  // Not delivered: its /128 drops what comes for it, instead of the local entry.
  const NextHopState* nh = r.dp.nexthops.get(r.dp.fib6.lookup(a));
  REQUIRE(nh);
  CHECK(nh->kind == NhKind::blackhole);
  // An NS for it from a unicast source (address resolution) is silently ignored (5.4.3).
  uint8_t f[kNdMaxFrame];
  size_t n = ndp_build_ns(f, kHost, *Ipv6::parse("2001:db8:1::2"), a);
  auto out = r.hand(f, n, r.p0(), 1100);
  for (const auto& s : out) CHECK(!(s.nd() && s.nd()->type == nd::neighbor_advert));
  CHECK(r.event("ndp_advert_sent") == 0);
  CHECK(r.event("ndp_dad_failed") == 0);

  SECTION("once DAD is over it is a source, answered for and local") {
    const uint64_t t = r.settle(1200);
    CHECK(r.run({"route", "get", "2001:db8:1::5"})["src"] == "2001:db8:1::1");
    CHECK(r.dp.nexthops.get(r.dp.fib6.lookup(a))->kind == NhKind::local);
    out = r.hand(f, n, r.p0(), t + 100);
    REQUIRE(out.size() == 1);
    CHECK(out[0].nd()->type == nd::neighbor_advert);
    CHECK(out[0].nd()->src == a);
  }
  SECTION("an NS for it from :: (another node's DAD) makes it a duplicate") {
    n = ndp_build_ns(f, kHost, Ipv6{}, a);
    out = r.hand(f, n, r.p0(), 1200);
    for (const auto& s : out) CHECK(!(s.nd() && s.nd()->type == nd::neighbor_advert));
    CHECK(r.event("ndp_dad_failed") == 1);
    r.settle(1300);
    CHECK(r.run({"addr", "show", "dev", "p0"})[0]["dad_failed"] ==
          json::array({"2001:db8:1::1/64"}));
    CHECK(r.run({"route", "get", "2001:db8:1::5"})["src"] == "2001:db8:7::1");
  }
}

TEST_CASE("while the link-local address is tentative, an echo to all-nodes gets no reply",
          "[control][ipv6][ra]") {
  RaRig r;
  r.run({"neigh", "add", "fe80::99", "lladdr", "02:00:00:00:01:02", "dev", "p0"});
  r.tick(1000);
  // An echo request from the host to ff02::1.
  std::vector<uint8_t> f(14 + 40 + 8);
  const Ipv6 dst = kAllNodes;
  const Mac dmac = dst.multicast_mac();
  std::memcpy(f.data(), dmac.b.data(), 6);
  std::memcpy(f.data() + 6, kHost.b.data(), 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x60;
  ip[5] = 8;
  ip[6] = 58;
  ip[7] = 64;
  std::memcpy(ip + 8, kHostLl.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  ip[40] = 128;
  const uint16_t ck = icmp6_checksum(kHostLl, dst, ip + 40, 8);
  ip[42] = uint8_t(ck >> 8);
  ip[43] = uint8_t(ck);
  auto echo_replies = [](const std::vector<Sent>& v) {
    std::vector<Sent> out;
    for (const auto& s : v)
      if (s.f.size() >= 14 + 41 && s.f[14 + 6] == 58 && s.f[14 + 40] == 129) out.push_back(s);
    return out;
  };
  CHECK(echo_replies(r.hand(f.data(), f.size(), r.p0(), 1100)).empty());
  const uint64_t t = r.settle(1200);
  const auto out = echo_replies(r.hand(f.data(), f.size(), r.p0(), t + 100));
  REQUIRE(out.size() == 1);
  CHECK(Ipv6::from_bytes(out[0].f.data() + 14 + 8) == Ipv6::link_local_eui64(r.ports[0]->mac()));
}

TEST_CASE("an RS is answered with the port's prefixes, MTU and lifetime, at most every 3 s",
          "[control][ipv6][ra]") {
  RaRig r;
  std::vector<Sent> start;
  r.settle(1000, &start);
  REQUIRE(ras(start).size() == 1);  // the first unsolicited one, when DAD is over (<= 3 s)
  const uint64_t sent0 = r.event("ndp_ra_sent");

  // RFC 4861 6.2.6: after a random delay of at most MAX_RA_DELAY_TIME (0.5 s).
  std::vector<std::pair<uint64_t, Sent>> got;
  for (auto& s : ras(r.solicit(r.p0(), 6000))) got.emplace_back(6000, s);
  for (auto& x : ras(r.poll_until(6010, 6600))) got.push_back(x);
  REQUIRE(got.size() == 1);
  const uint64_t answered = got[0].first;
  CHECK(answered <= 6500);
  const Sent& first = got[0].second;
  const auto ra = first.nd();
  CHECK(first.port == r.p0());
  CHECK(ra->dst == kHostLl);  // unicast: the RS gave its link-layer address
  CHECK(std::memcmp(first.f.data(), kHost.b.data(), 6) == 0);
  CHECK(ra->src == Ipv6::link_local_eui64(r.ports[0]->mac()));
  CHECK(ra->src.is_link_local());
  CHECK(ra->router_lifetime == 90);  // 3 x ra_interval_s
  REQUIRE(ra->mtu);
  CHECK(*ra->mtu == 1500);
  CHECK(ra->source_lla == r.ports[0]->mac());
  const auto pfx = prefixes_of(first.f);
  REQUIRE(pfx.size() == 2);
  CHECK(pfx[0].prefix == *Ipv6::parse("2001:db8:1::"));
  CHECK(pfx[0].len == 64);
  CHECK(pfx[0].flags == 0xc0);  // on-link, autonomous
  CHECK(pfx[0].valid == 2592000);
  CHECK(pfx[0].preferred == 604800);
  CHECK(pfx[1].prefix == *Ipv6::parse("2001:db8:7::"));
  CHECK(pfx[1].len == 48);
  CHECK(pfx[1].flags == 0x80);   // on-link only: SLAAC needs a /64
  REQUIRE(ra->n_prefixes == 2);  // ndp_parse keeps them as well
  CHECK(ra->prefixes[1].prefix == *Prefix6::parse("2001:db8:7::/48"));
  CHECK(!ra->prefixes[1].autonomous);
  CHECK(r.event("ndp_ra_sent") == sent0 + 1);

  SECTION("a port without ra = true stays silent") {
    CHECK(ras(r.solicit(r.p1(), 7000)).empty());
    CHECK(ras(r.poll_until(7010, 8000)).empty());
  }
  SECTION("RSs within 3 s of an RA share one multicast RA, 3 s after it plus the delay") {
    CHECK(ras(r.solicit(r.p0(), 7000)).empty());
    CHECK(ras(r.solicit(r.p0(), 8900)).empty());
    const auto out = ras(r.poll_until(8910, answered + 3600));
    REQUIRE(out.size() == 1);
    CHECK(out[0].first >= answered + 3000);
    CHECK(out[0].first <= answered + 3500);
    CHECK(out[0].second.nd()->dst == kAllNodes);
    CHECK(std::memcmp(out[0].second.f.data(), kAllNodes.multicast_mac().b.data(), 6) == 0);
    CHECK(r.event("ndp_ra_sent") == sent0 + 2);
  }
  SECTION("an RS from :: gets a multicast answer") {
    const uint64_t t = answered + 3000;
    auto out = ras(r.solicit(r.p0(), t, /*with_lla=*/false));
    for (auto& x : ras(r.poll_until(t + 10, t + 600))) out.push_back(x.second);
    REQUIRE(out.size() == 1);
    CHECK(out[0].nd()->dst == kAllNodes);
  }
  SECTION("two RSs before the answer share it, multicast") {
    const uint64_t t = answered + 3000;
    auto out = ras(r.solicit(r.p0(), t));
    if (out.empty()) {  // a delay of 0 answers the first at once; else the second joins it
      CHECK(ras(r.solicit(r.p0(), t)).empty());
      for (auto& x : ras(r.poll_until(t + 10, t + 600))) out.push_back(x.second);
      REQUIRE(out.size() == 1);
      CHECK(out[0].nd()->dst == kAllNodes);
    }
    CHECK(r.event("ndp_ra_sent") == sent0 + 2);
  }
}

TEST_CASE("RSs are answered after a random delay within [0, MAX_RA_DELAY_TIME]",
          "[control][ipv6][ra]") {
  rte_srand(4861);                 // the delays are drawn from rte_rand: the same ones every run
  RaRig r(ra_config(true, 1800));  // unsolicited RAs ten minutes apart, after the first three
  std::vector<Sent> start;
  uint64_t last = r.settle(1000, &start);
  size_t unsolicited = ras(start).size();
  for (uint64_t now = last + 100; unsolicited < 3; now += 100) {
    REQUIRE(now < 60000);
    unsolicited += ras(r.tick(now)).size();
    last = now;
  }
  std::vector<uint64_t> delays;
  for (int k = 0; k < 12; ++k) {
    const uint64_t t = last + 3000 + 10 * uint64_t(k);  // 3 s after the last RA
    auto out = ras(r.solicit(r.p0(), t));
    uint64_t at = t;
    if (out.empty()) {
      const auto later = ras(r.poll_until(t + 10, t + 600));
      REQUIRE(later.size() == 1);
      at = later[0].first;
      out.push_back(later[0].second);
    }
    REQUIRE(out.size() == 1);
    CHECK(out[0].nd()->dst == kHostLl);
    delays.push_back(at - t);
    CHECK(at - t <= 500);
    last = at;
  }
  // Random: not one fixed delay (10 ms steps of 0..500 ms, twelve draws).
  std::sort(delays.begin(), delays.end());
  CHECK(std::unique(delays.begin(), delays.end()) - delays.begin() >= 4);
}

TEST_CASE("an unsolicited RA due before the delay is over is the answer", "[control][ipv6][ra]") {
  rte_srand(6206);
  // ra_interval_s 4: unsolicited RAs every 3..4 s, so an RS 3 s after one often finds the
  // next due within its delay.
  RaRig r(ra_config(true, 4));
  uint64_t now = r.settle(1000), last_ra = now;
  size_t multicast_first = 0, unicast_first = 0;
  for (int k = 0; k < 20; ++k) {
    // Polled all along, as the control thread is: the unsolicited RAs go when they are due.
    while (now < last_ra + 3000 + 37 * uint64_t(k % 10)) {
      now += 10;
      if (!ras(r.tick(now)).empty()) last_ra = now;
    }
    const uint64_t t = now += 10;
    std::vector<std::pair<uint64_t, Sent>> out;
    for (auto& s : ras(r.solicit(r.p0(), t))) out.emplace_back(t, s);
    for (auto& x : ras(r.poll_until(t + 10, t + 600))) out.push_back(x);
    now = t + 600;
    // Answered within MAX_RA_DELAY_TIME, one way or the other, and once.
    REQUIRE(!out.empty());
    CHECK(out[0].first <= t + 500);
    if (out[0].second.nd()->dst == kAllNodes) {
      // The unsolicited RA answered: no unicast one as well.
      ++multicast_first;
      CHECK(out.size() == 1);
    } else {
      // The unicast answer came first; the unsolicited one may follow on its own schedule.
      ++unicast_first;
      CHECK(out[0].second.nd()->dst == kHostLl);
    }
    last_ra = out.back().first;
  }
  // Both cases came up (the draws are fixed by the seed).
  CHECK(multicast_first > 0);
  CHECK(unicast_first > 0);
}

TEST_CASE("unsolicited RAs follow RFC 4861 6.2.4's schedule; turning ra off ends with lifetime 0",
          "[control][ipv6][ra]") {
  RaRig r;
  std::vector<uint64_t> at;
  uint64_t ll_probe = 0;
  const Ipv6 ll = Ipv6::link_local_eui64(r.ports[0]->mac());
  for (uint64_t now = 1000; now <= 400000; now += 100) {
    const auto out = r.tick(now);
    for (const auto& s : probes(out))
      if (s.nd()->target == ll) ll_probe = now;
    for (const auto& s : ras(out)) {
      CHECK(s.port == r.p0());
      CHECK(s.nd()->dst == kAllNodes);
      CHECK(s.nd()->router_lifetime == 90);
      at.push_back(now);
    }
  }
  REQUIRE(at.size() >= 14);  // 400 s at most 30 s apart
  REQUIRE(ll_probe >= 1000);
  CHECK(at[0] == ll_probe + 1000);  // as soon as DAD of the link-local address is over
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
  CHECK(answers(r.hand(f, n, r.p1(), 1100)).empty());
  // Another node's answer for 2001:db8:1::1.
  n = ndp_build_na(f, kHost, dup, kAllNodes, kAllNodes.multicast_mac(), dup, false, false, true);
  CHECK(answers(r.hand(f, n, r.p0(), 1200)).empty());
  CHECK(r.event("ndp_dad_failed") == 1);
  // It is the other node's: no longer local, its packets follow the connected subnet.
  const uint32_t id = r.dp.fib6.lookup(dup);
  REQUIRE(id);
  CHECK(r.dp.nexthops.get(id)->kind == NhKind::glean);
  const uint64_t t =
      r.settle(1300) - 2000;  // DAD of the others is over (>= 2 s): t + 2200 is later

  const json p0 = r.run({"addr", "show", "dev", "p0"})[0];
  CHECK(p0["dad_failed"] == json::array({"2001:db8:1::1/64"}));
  CHECK(!p0.contains("tentative"));
  CHECK(!r.run({"addr", "show", "dev", "p1"})[0].contains("dad_failed"));  // the looped probe

  // It is not defended: an NS for it goes unanswered.
  n = ndp_build_ns(f, kHost, *Ipv6::parse("2001:db8:1::2"), dup);
  CHECK(r.hand(f, n, r.p0(), t + 2200).empty());
  // The router's own solicitations on p0 come from its other address.
  n = ndp_build_ns(f, kHost, *Ipv6::parse("2001:db8:1::2"), *Ipv6::parse("2001:db8:7::1"));
  auto out = r.hand(f, n, r.p0(), t + 2300);  // answered: the NA is from 2001:db8:7::1 itself
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
  out = r.tick(t + 2400);
  REQUIRE(out.size() == 1);
  CHECK(out[0].nd()->type == nd::neighbor_solicit);
  CHECK(out[0].nd()->src == *Ipv6::parse("2001:db8:7::1"));

  // An NA for an address that passed DAD does not make it a duplicate.
  n = ndp_build_na(f, kHost, *Ipv6::parse("2001:db8:2::1"), kAllNodes, kAllNodes.multicast_mac(),
                   *Ipv6::parse("2001:db8:2::1"), false, false, true);
  r.hand(f, n, r.p1(), t + 2500);
  CHECK(r.event("ndp_dad_failed") == 1);

  // Deleting it and adding it again runs DAD again.
  r.run({"addr", "del", "2001:db8:1::1/64", "dev", "p0"});
  CHECK(!r.run({"addr", "show", "dev", "p0"})[0].contains("dad_failed"));
  r.tick(t + 2600);
  r.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  out = r.tick(t + 2700);
  REQUIRE(out.size() == 1);
  CHECK(out[0].nd()->target == dup);
  CHECK(out[0].nd()->src.is_unspecified());
  r.tick(t + 3800);
  CHECK(!r.run({"addr", "show", "dev", "p0"})[0].contains("dad_failed"));
}

namespace {

// A Query from a querier (fe80::99) on the link: v2 (28 bytes) or v1 (24), hop limit 1,
// Router Alert, to dst about group (:: for a General Query), Maximum Response Code `code`.
std::vector<uint8_t> mld_query(const Ipv6& dst, const Ipv6& group, bool v2, uint16_t code,
                               const Ipv6& src = kHostLl) {
  const size_t mlen = v2 ? 28 : 24;
  std::vector<uint8_t> f(14 + 40 + 8 + mlen);
  const Mac dmac = dst.multicast_mac();
  std::memcpy(f.data(), dmac.b.data(), 6);
  std::memcpy(f.data() + 6, kHost.b.data(), 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* p = f.data() + 14;
  p[0] = 0x60;
  p[5] = uint8_t(8 + mlen);
  p[6] = 0;  // Hop-by-Hop
  p[7] = 1;
  std::memcpy(p + 8, src.b.data(), 16);
  std::memcpy(p + 24, dst.b.data(), 16);
  const uint8_t hbh[8] = {58, 0, 5, 2, 0, 0, 1, 0};  // Router Alert (MLD), PadN
  std::memcpy(p + 40, hbh, 8);
  uint8_t* m = p + 48;
  m[0] = mld::query;
  m[4] = uint8_t(code >> 8);
  m[5] = uint8_t(code);
  std::memcpy(m + 8, group.b.data(), 16);
  if (v2) m[25] = 125;
  const uint16_t ck = icmp6_checksum(src, dst, m, mlen);
  m[2] = uint8_t(ck >> 8);
  m[3] = uint8_t(ck);
  return f;
}

std::vector<Ipv6> groups_of(const MldReport& r) {
  std::vector<Ipv6> g;
  for (const auto& rec : r.records) g.push_back(rec.group);
  std::sort(g.begin(), g.end(), [](const Ipv6& a, const Ipv6& b) { return a.b < b.b; });
  return g;
}

}  // namespace

TEST_CASE("MLD: a port's groups are reported before its probes, twice, from :: while tentative",
          "[control][ipv6][mld]") {
  RaRig r;
  std::vector<std::pair<uint64_t, Sent>> sent;
  for (uint64_t now = 1000; now <= 3500; now += 100)
    for (auto& s : r.tick(now)) sent.emplace_back(now, s);
  const Ipv6 ll = Ipv6::link_local_eui64(r.ports[0]->mac());
  std::vector<Ipv6> expect{kAllRouters, *Ipv6::parse("ff05::2"), ll.solicited_node(),
                           Ipv6::parse("2001:db8:1::1")->solicited_node()};
  std::sort(expect.begin(), expect.end(), [](const Ipv6& a, const Ipv6& b) { return a.b < b.b; });
  expect.erase(std::unique(expect.begin(), expect.end()), expect.end());  // 1::1 and 7::1 share
  size_t first_probe = sent.size(), first_report = sent.size();
  std::vector<std::pair<uint64_t, MldReport>> p0_reports;
  for (size_t i = 0; i < sent.size(); ++i) {
    const Sent& s = sent[i].second;
    if (s.port != r.p0()) continue;
    if (auto m = s.nd(); m && m->type == nd::neighbor_solicit && first_probe == sent.size())
      first_probe = i;
    if (auto rep = s.mld()) {
      if (first_report == sent.size()) first_report = i;
      p0_reports.emplace_back(sent[i].first, *rep);
    }
  }
  REQUIRE(first_probe < sent.size());
  REQUIRE(first_report < first_probe);  // the join goes before the probe that needs it
  CHECK(sent[first_report].first == sent[first_probe].first);  // in the same tick
  // Robustness Variable 2: the join and one retransmission within 1 s.
  for (const auto& [at, rep] : p0_reports)
    UNSCOPED_INFO("report at " << at << " from " << rep.src.str() << " records "
                               << rep.records.size() << " first type " << int(rep.records[0].type));
  REQUIRE(p0_reports.size() == 2);
  CHECK(p0_reports[1].first > p0_reports[0].first);
  CHECK(p0_reports[1].first <= p0_reports[0].first + 1000);
  for (const auto& [at, rep] : p0_reports) {
    CHECK(rep.type == mld::report_v2);
    CHECK(rep.dst == mld::kAllMldv2Routers);
    CHECK(rep.hop_limit == 1);
    CHECK(rep.router_alert);
    CHECK(rep.src.is_unspecified());  // the link-local address is tentative still
    CHECK(groups_of(rep) == expect);  // never ff02::1
    for (const auto& rec : rep.records) CHECK(rec.type == mld::change_to_exclude);
  }
  size_t frames = 0;
  for (const auto& [at, s] : sent) frames += s.mld() ? 1 : 0;
  CHECK(frames == 4);  // two per port
  CHECK(r.event("mld_reports_sent") == 4);

  SECTION("a removed address's group is left, twice, from the link-local address") {
    const Ipv6 ll1 = Ipv6::link_local_eui64(r.ports[1]->mac());
    const Ipv6 g = Ipv6::parse("2001:db8:2::1")->solicited_node();
    if (g == ll1.solicited_node()) return;  // a MAC ending 00:00:01 shares it
    r.run({"addr", "del", "2001:db8:2::1/64", "dev", "p1"});
    std::vector<MldReport> leaves;
    for (uint64_t now = 3600; now <= 5000; now += 100)
      for (const auto& s : reports(r.tick(now))) leaves.push_back(*s.mld());
    REQUIRE(leaves.size() == 2);
    for (const auto& rep : leaves) {
      CHECK(rep.src == ll1);
      REQUIRE(rep.records.size() == 1);
      CHECK(rep.records[0].type == mld::change_to_include);
      CHECK(rep.records[0].group == g);
    }
  }
}

TEST_CASE("MLD Queries are answered within their Maximum Response Delay", "[control][ipv6][mld]") {
  RaRig r;
  const uint64_t t0 = r.settle(1000) + 1100;  // the unsolicited reports are over
  for (uint64_t now = t0 - 1000; now <= t0; now += 100) r.tick(now);
  const Ipv6 ll = Ipv6::link_local_eui64(r.ports[0]->mac());
  const uint64_t before = r.event("mld_reports_sent");
  // ff02::2, ff05::2, and the solicited-node groups of fe80::<EUI-64> and 2001:db8:1::1
  // (which 2001:db8:7::1 shares; the first too if the MAC ends in 00:00:01).
  const size_t n_groups =
      ll.solicited_node() == Ipv6::parse("2001:db8:1::1")->solicited_node() ? 3 : 4;

  // A General Query (MLDv2, 1 s): one Report of every group, at most 1 s (+ a tick) later.
  auto q = mld_query(kAllNodes, Ipv6{}, true, 1000);
  std::vector<std::pair<uint64_t, MldReport>> got;
  for (const auto& s : reports(r.hand(q.data(), q.size(), r.p0(), t0 + 100)))
    got.emplace_back(t0 + 100, *s.mld());
  for (uint64_t now = t0 + 200; now <= t0 + 2500; now += 100)
    for (const auto& s : reports(r.tick(now))) got.emplace_back(now, *s.mld());
  CHECK(r.event("mld_queries_received") == 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].first <= t0 + 100 + 1000 + 100);
  const MldReport& rep = got[0].second;
  CHECK(rep.src == ll);
  CHECK(rep.records.size() == n_groups);
  for (const auto& rec : rep.records) {
    CHECK(rec.type == mld::mode_is_exclude);
    CHECK(rec.group != kAllNodes);
  }
  CHECK(r.event("mld_reports_sent") == before + 1);

  uint64_t now = t0 + 2600;
  auto answer = [&](const std::vector<uint8_t>& frame) {
    std::vector<MldReport> out;
    for (const auto& s : reports(r.hand(frame.data(), frame.size(), r.p0(), now)))
      out.push_back(*s.mld());
    for (int i = 0; i < 3; ++i)
      for (const auto& s : reports(r.tick(now += 100))) out.push_back(*s.mld());
    now += 100;
    return out;
  };
  const Ipv6 g = ll.solicited_node();
  SECTION("a group-specific Query, delay 0: that group at once") {
    auto out = answer(mld_query(g, g, true, 0));
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].records.size() == 1);
    CHECK(out[0].records[0].group == g);
    CHECK(out[0].records[0].type == mld::mode_is_exclude);
  }
  SECTION("a Query about a group the router does not listen on: nothing") {
    const Ipv6 other = *Ipv6::parse("ff02::1:ff99:9999");
    // Sent to all-nodes (to the group itself it would not even reach the router).
    CHECK(answer(mld_query(kAllNodes, other, true, 0)).empty());
    CHECK(r.event("mld_queries_received") == 2);
  }
  SECTION("an MLDv1 Query: MLDv1 Reports, one per group, each to its group") {
    auto out = answer(mld_query(kAllNodes, Ipv6{}, false, 0));
    REQUIRE(out.size() == n_groups);
    for (const auto& rr : out) {
      CHECK(rr.type == mld::report_v1);
      CHECK(rr.dst == rr.records.at(0).group);
      CHECK(rr.hop_limit == 1);
      CHECK(rr.router_alert);
    }
  }
  SECTION("not a Query: from a global address, or a flipped checksum") {
    CHECK(answer(mld_query(kAllNodes, Ipv6{}, true, 0, *Ipv6::parse("2001:db8:1::9"))).empty());
    auto bad = mld_query(kAllNodes, Ipv6{}, true, 0);
    bad[14 + 48 + 6] ^= 0x10;  // a reserved byte: the checksum no longer matches
    CHECK(answer(bad).empty());
    CHECK(r.event("mld_queries_received") == 1);
  }
  SECTION("a flood of Queries: still one Report per tick at most") {
    std::vector<MldReport> out;
    for (int i = 0; i < 50; ++i) {
      auto f = mld_query(kAllNodes, Ipv6{}, true, 0);
      for (const auto& s : reports(r.hand(f.data(), f.size(), r.p0(), now)))
        out.push_back(*s.mld());
    }
    CHECK(out.size() <= 1);
  }
}

namespace {

const Mac kRtrA = *Mac::parse("02:00:00:00:0a:0a");
const Mac kRtrB = *Mac::parse("02:00:00:00:0b:0b");
const Ipv6 kRtrLl = *Ipv6::parse("fe80::77");

// An RA from another router, as valid as RFC 4861 6.1.2 asks unless a field says otherwise.
struct RaFrame {
  Ipv6 src = kRtrLl;
  Mac mac = kRtrA;
  uint8_t hop_limit = 255, code = 0, cur_hop_limit = 64, flags = 0;
  bool slla = true, bad_checksum = false;
  uint32_t reachable = 0, retrans = 0;
  std::optional<uint32_t> mtu;
  std::vector<RaPrefix> prefixes;
  size_t icmp_len = 0;  // != 0: the message cut to this length (checksummed as such)

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> m(16);
    m[0] = nd::router_advert;
    m[1] = code;
    m[4] = cur_hop_limit;
    m[5] = flags;
    m[6] = 0x07;  // Router Lifetime 1800 s
    m[7] = 0x08;
    auto put32 = [](uint8_t* p, uint32_t v) {
      p[0] = uint8_t(v >> 24);
      p[1] = uint8_t(v >> 16);
      p[2] = uint8_t(v >> 8);
      p[3] = uint8_t(v);
    };
    put32(&m[8], reachable);
    put32(&m[12], retrans);
    if (slla) {
      m.insert(m.end(), {nd::opt_source_lla, 1});
      m.insert(m.end(), mac.b.begin(), mac.b.end());
    }
    if (mtu) {
      const size_t o = m.size();
      m.resize(o + 8);
      m[o] = nd::opt_mtu;
      m[o + 1] = 1;
      put32(&m[o + 4], *mtu);
    }
    for (const RaPrefix& p : prefixes) {
      const size_t o = m.size();
      m.resize(o + 32);
      m[o] = nd::opt_prefix_info;
      m[o + 1] = 4;
      m[o + 2] = p.prefix.len;
      m[o + 3] = 0xc0;
      put32(&m[o + 4], p.valid_lifetime);
      put32(&m[o + 8], p.preferred_lifetime);
      std::memcpy(&m[o + 16], p.prefix.addr.b.data(), 16);
    }
    if (icmp_len) m.resize(icmp_len);
    const uint16_t ck = icmp6_checksum(src, kAllNodes, m.data(), m.size());
    m[2] = uint8_t(ck >> 8);
    m[3] = uint8_t(ck ^ (bad_checksum ? 0x5a : 0));
    std::vector<uint8_t> f(14 + 40 + m.size());
    const Mac dmac = kAllNodes.multicast_mac();
    std::memcpy(f.data(), dmac.b.data(), 6);
    std::memcpy(f.data() + 6, mac.b.data(), 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    f[14] = 0x60;
    f[14 + 4] = uint8_t(m.size() >> 8);
    f[14 + 5] = uint8_t(m.size());
    f[14 + 6] = 58;
    f[14 + 7] = hop_limit;
    std::memcpy(&f[14 + 8], src.b.data(), 16);
    std::memcpy(&f[14 + 24], kAllNodes.b.data(), 16);
    std::memcpy(&f[14 + 40], m.data(), m.size());
    return f;
  }
};

std::vector<Sent> hand_ra(RaRig& r, const RaFrame& ra, uint16_t port, uint64_t now) {
  const auto f = ra.build();
  return r.hand(f.data(), f.size(), port, now);
}

}  // namespace

TEST_CASE("an RA's source link-layer option makes its source a STALE router neighbour",
          "[control][ipv6][ra]") {
  RaRig r;
  const uint64_t t = r.settle(1000);
  // On p1 (no ra = true: nothing to compare with).
  CHECK(answers(hand_ra(r, RaFrame{}, r.p1(), t + 100)).empty());
  CHECK(r.event("ndp_ra_received") == 1);
  json n = r.neighbour(kRtrLl, "p1");
  REQUIRE(n.is_object());
  CHECK(n["state"] == "STALE");
  CHECK(n["lladdr"] == kRtrA.str());
  CHECK(n["router"] == true);
  CHECK(r.neighbour(kRtrLl, "p0").is_null());  // link-local: p1's neighbour only

  SECTION("another link-layer address replaces it, STALE and a router still") {
    RaFrame b;
    b.mac = kRtrB;
    hand_ra(r, b, r.p1(), t + 2000);  // past the locktime (1 s)
    n = r.neighbour(kRtrLl, "p1");
    CHECK(n["state"] == "STALE");
    CHECK(n["lladdr"] == kRtrB.str());
    CHECK(n["router"] == true);
    CHECK(r.event("ndp_ra_received") == 2);
  }
  SECTION("an RS from it says it is a host (RFC 4861 6.2.6); an RA, a router again") {
    // The rig's RS comes from fe80::99: make that the router's address first.
    RaFrame h;
    h.src = kHostLl;
    h.mac = kHost;
    hand_ra(r, h, r.p1(), t + 200);
    CHECK(r.neighbour(kHostLl, "p1")["router"] == true);
    r.solicit(r.p1(), t + 300);
    CHECK(!r.neighbour(kHostLl, "p1").contains("router"));
    h.slla = false;  // without the option too: the entry exists
    hand_ra(r, h, r.p1(), t + 400);
    CHECK(r.neighbour(kHostLl, "p1")["router"] == true);
    CHECK(r.neighbour(kHostLl, "p1")["lladdr"] == kHost.str());
  }
}

TEST_CASE("an RA without a source link-layer option creates no neighbour", "[control][ipv6][ra]") {
  RaRig r;
  const uint64_t t = r.settle(1000);
  RaFrame ra;
  ra.slla = false;
  hand_ra(r, ra, r.p1(), t + 100);
  CHECK(r.event("ndp_ra_received") == 1);
  CHECK(r.neighbour(kRtrLl, "p1").is_null());
  CHECK(r.run({"-6", "neigh", "show"}).empty());
}

TEST_CASE("an invalid RA (RFC 4861 6.1.2) is dropped and changes nothing", "[control][ipv6][ra]") {
  RaRig r;
  const uint64_t t = r.settle(1000);
  const uint64_t invalid0 = r.dropped("ndp_invalid");
  // Each section builds one invalid RA and checks it in the section, so a section that
  // checks nothing fails the run (--warn NoAssertions).
  const auto dropped_then_valid_taken = [&](const RaFrame& ra) {
    CHECK(answers(hand_ra(r, ra, r.p1(), t + 100)).empty());
    CHECK(r.dropped("ndp_invalid") == invalid0 + 1);
    CHECK(r.event("ndp_ra_received") == 0);
    CHECK(r.run({"-6", "neigh", "show"}).empty());
    // The same RA, valid, is taken.
    hand_ra(r, RaFrame{}, r.p1(), t + 200);
    CHECK(r.event("ndp_ra_received") == 1);
    CHECK(r.neighbour(kRtrLl, "p1")["state"] == "STALE");
  };
  RaFrame ra;
  SECTION("hop limit 254") {
    ra.hop_limit = 254;
    dropped_then_valid_taken(ra);
  }
  SECTION("a global source") {
    ra.src = *Ipv6::parse("2001:db8:2::77");
    dropped_then_valid_taken(ra);
  }
  SECTION("a bad checksum") {
    ra.bad_checksum = true;
    dropped_then_valid_taken(ra);
  }
  SECTION("code 1") {
    ra.code = 1;
    dropped_then_valid_taken(ra);
  }
  SECTION("12 bytes, shorter than an RA") {
    ra.slla = false;
    ra.icmp_len = 12;
    dropped_then_valid_taken(ra);
  }
  SECTION("an option running past the end") {
    ra.icmp_len = 16 + 6;  // the source link-layer option cut short
    dropped_then_valid_taken(ra);
  }
  SECTION("a Prefix Information option of the wrong length") {
    ra.prefixes.push_back(RaPrefix{*Prefix6::parse("2001:db8:2::/64"), 100, 50});
    auto f = ra.build();
    f[14 + 40 + 16 + 8 + 1] = 3;  // 3 units instead of 4 (the rest is a 1-unit option)
    f[14 + 40 + 16 + 8 + 24] = 99;
    f[14 + 40 + 16 + 8 + 25] = 1;
    f[14 + 40 + 2] = f[14 + 40 + 3] = 0;
    const uint16_t ck = icmp6_checksum(kRtrLl, kAllNodes, &f[14 + 40], f.size() - 54);
    f[14 + 40 + 2] = uint8_t(ck >> 8);
    f[14 + 40 + 3] = uint8_t(ck);
    r.hand(f.data(), f.size(), r.p1(), t + 100);
    CHECK(r.dropped("ndp_invalid") == invalid0 + 1);
    CHECK(r.event("ndp_ra_received") == 0);
    CHECK(r.neighbour(kRtrLl, "p1").is_null());
  }
}

TEST_CASE("RAs inconsistent with ours on an ra = true port are counted (RFC 4861 6.2.7)",
          "[control][ipv6][ra]") {
  RaRig r;
  uint64_t t = r.settle(1000);
  // What p0 advertises itself: Cur Hop Limit 64, no flags, MTU 1500, 30/7 days.
  RaFrame same;
  same.mtu = 1500;
  same.prefixes = {RaPrefix{*Prefix6::parse("2001:db8:1::/64"), 2592000, 604800},
                   RaPrefix{*Prefix6::parse("2001:db8:99::/64"), 3600, 1800}};  // not ours
  auto in = [&](const RaFrame& f, uint16_t port) {
    hand_ra(r, f, port, t += 100);
    return r.event("ndp_ra_inconsistent");
  };
  CHECK(in(same, r.p0()) == 0);
  RaFrame unspecified = same;
  unspecified.cur_hop_limit = 0;  // unspecified: agrees with anything
  unspecified.reachable = 30000;  // routerd leaves Reachable Time and Retrans Timer unspecified
  unspecified.retrans = 1000;
  unspecified.mtu.reset();
  CHECK(in(unspecified, r.p0()) == 0);
  CHECK(r.event("ndp_ra_received") == 2);

  RaFrame hop = same;
  hop.cur_hop_limit = 32;
  CHECK(in(hop, r.p0()) == 1);
  CHECK(in(hop, r.p1()) == 1);  // p1 does not advertise: nothing to be inconsistent with
  RaFrame m = same;
  m.flags = 0x80;
  CHECK(in(m, r.p0()) == 2);
  RaFrame o = same;
  o.flags = 0x40;
  CHECK(in(o, r.p0()) == 3);
  RaFrame mtu = same;
  mtu.mtu = 1400;
  CHECK(in(mtu, r.p0()) == 4);
  RaFrame valid = same;
  valid.prefixes[0].valid_lifetime = 86400;
  CHECK(in(valid, r.p0()) == 5);
  RaFrame preferred = same;
  preferred.prefixes[0].preferred_lifetime = 3600;
  CHECK(in(preferred, r.p0()) == 6);
  // Its neighbour entry is learnt all the same.
  CHECK(r.neighbour(kRtrLl, "p0")["router"] == true);
  CHECK(r.event("ndp_ra_received") == 9);
}
