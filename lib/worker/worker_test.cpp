// Worker::process end to end on real ports: bursts go in as an RX burst from p0 would, and
// what the worker transmits on p1 (a net_ring port, whose TX ring is also its RX ring) is
// read back and compared, packet by packet and in order, with what each packet should
// have become. Covers the train, single-destination and general paths and their mixes.
#include "worker.hpp"

#include <rte_ethdev.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "control_rig.hpp"
#include "forward.hpp"

using namespace routerd;

namespace {

const Mac kNbr2 = *Mac::parse("02:5a:00:00:00:02");  // 10.2.0.2: routes 10.9/16
const Mac kNbr3 = *Mac::parse("02:5a:00:00:00:03");  // 10.2.0.3: routes 10.8/16
const Mac kHost = *Mac::parse("02:5a:00:00:01:01");

uint16_t ref_sum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}

// The shared rig with p1 on net_ring, two neighbours on p1 and a route via each, and a
// worker polling p0.
struct WorkerRig : testing::ControlRig {
  std::unique_ptr<Worker> worker;

  WorkerRig() : ControlRig(Options{.mbufs = 4096, .p1_driver = "net_ring"}) {
    run({"neigh", "add", "10.2.0.2", "lladdr", kNbr2.str(), "dev", "p1"});
    run({"neigh", "add", "10.2.0.3", "lladdr", kNbr3.str(), "dev", "p1"});
    run({"route", "add", "10.9.0.0/16", "via", "10.2.0.2"});
    run({"route", "add", "10.8.0.0/16", "via", "10.2.0.3"});
    // Real secrets, as routerd draws them: the default keys leave the cache's hash
    // degenerate (every IPv6 destination that differs only in its last word in one set).
    dp.params.route_cache_keys = route_cache_keys();
    worker = std::make_unique<Worker>(dp, 0, std::vector<Worker::RxQueue>{{p0(), 0}}, 0);
  }
  ~WorkerRig() {
    worker.reset();
    drain_punts();
  }

  uint16_t p0() const { return ports[0]->id(); }
  uint16_t p1() const { return ports[1]->id(); }

  // What the worker sent on p1, in order.
  std::vector<rte_mbuf*> sent() {
    std::vector<rte_mbuf*> out;
    rte_mbuf* b[64];
    while (uint16_t n = rte_eth_rx_burst(p1(), 0, b, 64)) out.insert(out.end(), b, b + n);
    return out;
  }
  size_t drain_punts() {
    PuntEntry e[64];
    size_t total = 0;
    while (unsigned n =
               rte_ring_dequeue_burst_elem(punt.get(), e, sizeof(PuntEntry), 64, nullptr)) {
      for (unsigned i = 0; i < n; ++i) rte_pktmbuf_free(e[i].m);
      total += n;
    }
    return total;
  }
  // Dropped packets by input port (by reason, icmp_rate_limited also names packets already
  // counted under their own reason).
  uint64_t drops() const { return dp.stats[0].dropped[p0()].get(); }
  uint64_t punts() const {
    uint64_t d = 0;
    for (size_t i = 0; i < size_t(Punt::count); ++i) d += dp.stats[0].punt[i].get();
    return d;
  }
};

// One frame as routerd receives it on p0.
struct Pkt {
  Mac dst_mac = Mac{};
  uint32_t src = Ipv4(10, 1, 0, 2).v, dst = Ipv4(10, 9, 1, 1).v;
  uint8_t ttl = 64;
  uint16_t id = 0;
  uint16_t sport = 1000;
  size_t payload = 26;  // UDP header + data
  size_t pad = 0;
  bool bad_cksum = false;
  uint64_t flags = 0;

  rte_mbuf* build(rte_mempool* mp) const {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    REQUIRE(m);
    const size_t ip_len = 20 + payload;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + ip_len + pad)));
    REQUIRE(p);
    std::memset(p, 0, 14 + ip_len + pad);
    std::memcpy(p, dst_mac.b.data(), 6);
    std::memcpy(p + 6, kHost.b.data(), 6);
    p[12] = 0x08;
    uint8_t* ip = p + 14;
    ip[0] = 0x45;
    ip[2] = uint8_t(ip_len >> 8);
    ip[3] = uint8_t(ip_len);
    ip[4] = uint8_t(id >> 8);
    ip[5] = uint8_t(id);
    ip[8] = ttl;
    ip[9] = 17;
    for (int i = 0; i < 4; ++i) {
      ip[12 + i] = uint8_t(src >> (24 - 8 * i));
      ip[16 + i] = uint8_t(dst >> (24 - 8 * i));
    }
    ip[20] = uint8_t(sport >> 8);
    ip[21] = uint8_t(sport);
    uint16_t c = uint16_t(~ref_sum(ip, 20));
    if (bad_cksum) c ^= 0x0100;
    ip[10] = uint8_t(c >> 8);
    ip[11] = uint8_t(c);
    m->ol_flags = flags;
    return m;
  }
};

// What a forwarded packet must look like: its input bytes with the TTL one lower, the
// checksum updated, the next hop's Ethernet header, and no padding.
struct Expect {
  rte_mbuf* m;
  std::vector<uint8_t> bytes;
};

Expect expect_forwarded(rte_mbuf* m, const Mac& nbr, const Mac& port_mac) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  const size_t total = size_t(p[16] << 8 | p[17]);
  std::vector<uint8_t> b(p, p + 14 + total);
  std::memcpy(b.data(), nbr.b.data(), 6);
  std::memcpy(b.data() + 6, port_mac.b.data(), 6);
  b[14 + 8] = uint8_t(b[14 + 8] - 1);
  // RFC 1624 eqn. 3 from the received checksum: for a right header this is what a full
  // recompute gives, and a wrong one the NIC vouched for stays exactly as wrong.
  uint32_t c = uint16_t(~(b[14 + 10] << 8 | b[14 + 11])) + 0xfeffu;
  c = (c & 0xffff) + (c >> 16);
  c = (c & 0xffff) + (c >> 16);
  b[14 + 10] = uint8_t(~c >> 8);
  b[14 + 11] = uint8_t(~c);
  return {m, b};
}

void check_sent(const std::vector<rte_mbuf*>& sent, const std::vector<Expect>& want) {
  REQUIRE(sent.size() == want.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    INFO("packet " << i << " of " << sent.size() << " sent");
    REQUIRE(sent[i] == want[i].m);  // the same packets, in the same order
    const uint8_t* p = rte_pktmbuf_mtod(sent[i], const uint8_t*);
    REQUIRE(rte_pktmbuf_pkt_len(sent[i]) == want[i].bytes.size());
    REQUIRE(std::vector<uint8_t>(p, p + want[i].bytes.size()) == want[i].bytes);
  }
}

// One burst through the worker as an RX burst from p0; what it sent on p1 must be `want`, in
// order (and is freed).
void forward_burst(WorkerRig& rig, std::vector<rte_mbuf*>& burst, const std::vector<Expect>& want) {
  rig.worker->process(rig.p0(), burst.data(), uint16_t(burst.size()));
  rig.worker->flush();
  const auto sent = rig.sent();
  check_sent(sent, want);
  for (rte_mbuf* m : sent) rte_pktmbuf_free(m);
}

}  // namespace

TEST_CASE("worker: a flow's train leaves whole, in order, each packet rewritten", "[worker]") {
  WorkerRig rig;
  const Mac p1mac = rig.ports[1]->mac();
  for (uint64_t flags : {uint64_t(0), uint64_t(RTE_MBUF_F_RX_IP_CKSUM_GOOD)}) {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < 32; ++i) {
      Pkt k;
      k.dst_mac = rig.ports[0]->mac();
      k.id = uint16_t(0x4000 + i * 7919);
      k.flags = flags;
      burst.push_back(k.build(rig.pool.get()));
      want.push_back(expect_forwarded(burst.back(), kNbr2, p1mac));
    }
    forward_burst(rig, burst, want);
  }
  CHECK(rig.dp.stats[0].rx[rig.p0()].get() == 64);
  CHECK(rig.dp.stats[0].tx[rig.p1()].get() == 64);
  CHECK(rig.drops() == 0);
}

TEST_CASE("worker: mixed bursts keep their order and account for every packet", "[worker]") {
  WorkerRig rig;
  const Mac p0mac = rig.ports[0]->mac(), p1mac = rig.ports[1]->mac();
  std::mt19937 rng(5);
  uint64_t in = 0, forwarded = 0;
  size_t trains = 0, generals = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const uint16_t n = uint16_t(1 + rng() % 32);
    const int mode = int(rng() % 3);  // flags: all UNKNOWN, all GOOD, mixed
    // A run of one flow at the start (the train), then anything.
    const uint16_t lead = uint16_t(rng() % (n + 1));
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < n; ++i) {
      Pkt k;
      k.dst_mac = p0mac;
      k.id = uint16_t(rng());
      k.flags = mode == 1                ? RTE_MBUF_F_RX_IP_CKSUM_GOOD
                : mode == 2 && rng() % 2 ? RTE_MBUF_F_RX_IP_CKSUM_GOOD
                                         : 0;
      bool fwd = true;
      const Mac* nbr = &kNbr2;
      if (i >= lead) {
        switch (rng() % 9) {
          case 0:  // another flow, same next hop
            k.sport = uint16_t(2000 + rng() % 3);
            break;
          case 1:  // another destination and next hop
            k.dst = Ipv4(10, 8, 0, uint8_t(rng())).v;
            nbr = &kNbr3;
            break;
          case 2:  // TTL 1: handed to control (or dropped by the ICMP budget)
            k.ttl = 1;
            fwd = false;
            break;
          case 3:  // wrong checksum: dropped, unless the NIC vouched for it
            k.bad_cksum = true;
            fwd = k.flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
            break;
          case 4:  // padded to a longer frame: trimmed and forwarded
            k.pad = 1 + rng() % 20;
            break;
          case 5:  // another length, same flow
            k.payload = 26 + rng() % 100;
            break;
          case 6:  // for another station
            k.dst_mac = kHost;
            fwd = false;
            break;
          case 7:  // no route: handed to control
            k.dst = Ipv4(10, 7, 0, 1).v;
            fwd = false;
            break;
          default:  // the lead flow again
            break;
        }
      }
      burst.push_back(k.build(rig.pool.get()));
      if (fwd) want.push_back(expect_forwarded(burst.back(), *nbr, p1mac));
    }
    (lead >= 2 && mode != 2 ? trains : generals)++;
    INFO("iteration " << iter << ": " << n << " packets, lead " << lead << ", flags mode " << mode);
    forward_burst(rig, burst, want);
    rig.drain_punts();
    in += n;
    forwarded += want.size();
  }
  const LcoreStats& st = rig.dp.stats[0];
  CHECK(st.rx[rig.p0()].get() == in);
  CHECK(st.tx[rig.p1()].get() == forwarded);
  CHECK(in == forwarded + rig.drops() + rig.punts());
  CHECK(trains > 500);
  CHECK(generals > 500);
}

TEST_CASE("worker: IPv4 bursts through the route cache, with packets stage 1 could not pass",
          "[worker]") {
  WorkerRig rig;
  const Mac p0mac = rig.ports[0]->mac(), p1mac = rig.ports[1]->mac();
  const LcoreStats& st = rig.dp.stats[0];
  // 32 packets to 16 destinations; every third one padded, which stage 1's fast path leaves
  // to classify(): its cache set is not stage 1's, and a lookup in the wrong set would miss
  // (and fill the wrong set) on every burst. The governor probes, so every other burst of the
  // 100 goes through the cache.
  uint64_t in = 0;
  for (int b = 0; b < 100; ++b) {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < 32; ++i) {
      Pkt k;
      k.dst_mac = p0mac;
      k.id = uint16_t(b * 32 + i);
      k.sport = uint16_t(1000 + i);
      const bool padded = i % 3 == 0;
      // Padded packets and the others go to different destinations, so that each kind's
      // lookups must hit on their own.
      k.dst = Ipv4(10, padded ? 8 : 9, 1, uint8_t(i % 16 + 1)).v;
      k.pad = padded ? 7 : 0;
      // One for another station, dropped: the packets after it move up a place (from a
      // place that changes, so that a set left behind would be wrong for another packet).
      const bool other = i == 1 + b % 7;
      if (other) k.dst_mac = kHost;
      burst.push_back(k.build(rig.pool.get()));
      if (!other) want.push_back(expect_forwarded(burst.back(), padded ? kNbr3 : kNbr2, p1mac));
    }
    INFO("burst " << b);
    forward_burst(rig, burst, want);
    in += 32;
  }
  CHECK(rig.worker->cache_mode() == RouteCacheGovernor::Mode::probe);
  // 50 bursts through the cache, and only the first misses (its lookups all precede its
  // fills): 31 misses, where sets taken wrongly would miss on every burst.
  CHECK(st.cache.hits.get() + st.cache.misses.get() == 50 * 31);
  CHECK(st.cache.misses.get() <= 31);
  CHECK(st.rx[rig.p0()].get() == in);
  CHECK(st.tx[rig.p1()].get() == in - 100);
  CHECK(rig.drops() == 100);
}

namespace {

// One IPv6/UDP frame from the host on p0 to dst.
rte_mbuf* build6(rte_mempool* mp, const Mac& dst_mac, const Ipv6& dst, uint8_t hop_limit = 64) {
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  REQUIRE(m);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 14 + 40 + 16));
  REQUIRE(p);
  std::memset(p, 0, 14 + 40 + 16);
  std::memcpy(p, dst_mac.b.data(), 6);
  std::memcpy(p + 6, kHost.b.data(), 6);
  p[12] = 0x86;
  p[13] = 0xdd;
  uint8_t* ip = p + 14;
  ip[0] = 0x60;
  ip[5] = 16;  // payload length
  ip[6] = 17;
  ip[7] = hop_limit;
  const Ipv6 src = *Ipv6::parse("2001:db8:1::2");
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  return m;
}

Expect expect_forwarded6(rte_mbuf* m, const Mac& nbr, const Mac& port_mac) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  std::vector<uint8_t> b(p, p + rte_pktmbuf_pkt_len(m));
  REQUIRE(b.size() >= 14 + 40);
  std::copy_n(nbr.b.begin(), 6, b.begin());
  std::copy_n(port_mac.b.begin(), 6, b.begin() + 6);
  b[14 + 7] = uint8_t(b[14 + 7] - 1);
  return {m, b};
}

}  // namespace

TEST_CASE("worker: IPv6 bursts go through the route cache and see a route change at once",
          "[worker][ipv6]") {
  WorkerRig rig;
  rig.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  rig.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  rig.run({"neigh", "add", "2001:db8:2::2", "lladdr", kNbr2.str(), "dev", "p1"});
  rig.run({"neigh", "add", "2001:db8:2::3", "lladdr", kNbr3.str(), "dev", "p1"});
  rig.run({"route", "add", "2001:db8:90::/48", "via", "2001:db8:2::2"});
  const Mac p0mac = rig.ports[0]->mac(), p1mac = rig.ports[1]->mac();
  const LcoreStats& st = rig.dp.stats[0];
  uint64_t in = 0;

  // Bursts of 32 packets to 16 destinations: the governor probes, so every other burst is
  // looked up through the IPv6 cache (100 bursts stay inside the 512-burst probe).
  auto bursts = [&](int count, const Mac& nbr) {
    for (int b = 0; b < count; ++b) {
      std::vector<rte_mbuf*> burst;
      std::vector<Expect> want;
      for (uint16_t i = 0; i < 32; ++i) {
        Ipv6 d = *Ipv6::parse("2001:db8:90::");
        d.b[15] = uint8_t(i % 16 + 1);
        d.b[7] = uint8_t(b % 3);
        burst.push_back(build6(rig.pool.get(), p0mac, d));
        want.push_back(expect_forwarded6(burst.back(), nbr, p1mac));
      }
      INFO("burst " << b);
      forward_burst(rig, burst, want);
      in += 32;
    }
  };
  bursts(100, kNbr2);
  CHECK(rig.worker->cache6_mode() == RouteCacheGovernor::Mode::probe);
  const uint64_t hits = st.cache6.hits.get();
  CHECK(hits > 40 * 32);  // 50 bursts through the cache, 48 destinations in all
  CHECK(st.cache6.misses.get() >= 48);
  CHECK(st.cache.hits.get() == 0);  // the IPv4 cache saw nothing

  // The route now leads to the other neighbour: the very next bursts follow it, and the
  // cache's entries, from the older generation, count as stale.
  rig.run({"route", "replace", "2001:db8:90::/48", "via", "2001:db8:2::3"});
  bursts(4, kNbr3);
  CHECK(st.cache6.stale.get() > 0);

  // One destination in the whole burst: one FIB lookup, the cache bypassed.
  const uint64_t bypassed = st.cache6.bypassed_bursts.get();
  {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (int i = 0; i < 8; ++i) {
      burst.push_back(build6(rig.pool.get(), p0mac, *Ipv6::parse("2001:db8:90::7")));
      want.push_back(expect_forwarded6(burst.back(), kNbr3, p1mac));
    }
    forward_burst(rig, burst, want);
    in += 8;
  }
  CHECK(st.cache6.bypassed_bursts.get() == bypassed + 1);
  CHECK(st.rx[rig.p0()].get() == in);
  CHECK(st.tx[rig.p1()].get() == in);
  CHECK(rig.drops() == 0);
}

TEST_CASE("worker: bursts of both families keep each family's order, whichever comes first",
          "[worker][ipv6]") {
  WorkerRig rig;
  rig.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  rig.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  rig.run({"neigh", "add", "2001:db8:2::2", "lladdr", kNbr2.str(), "dev", "p1"});
  rig.run({"neigh", "add", "2001:db8:2::3", "lladdr", kNbr3.str(), "dev", "p1"});
  rig.run({"route", "add", "2001:db8:90::/48", "via", "2001:db8:2::2"});
  rig.run({"route", "add", "2001:db8:80::/48", "via", "2001:db8:2::3"});
  const Mac p0mac = rig.ports[0]->mac(), p1mac = rig.ports[1]->mac();
  std::mt19937 rng(9);
  uint64_t in = 0, forwarded = 0;
  size_t v6_first = 0, v4_first = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const uint16_t n = uint16_t(1 + rng() % 32);
    const unsigned v4_share = rng() % 3;  // none, some, half of the packets IPv4
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want4, want6;
    for (uint16_t i = 0; i < n; ++i) {
      if (rng() % 4 < v4_share) {
        Pkt k;
        k.dst_mac = p0mac;
        k.id = uint16_t(rng());
        const bool ttl_out = rng() % 8 == 0;
        if (ttl_out) k.ttl = 1;
        burst.push_back(k.build(rig.pool.get()));
        if (!ttl_out) want4.push_back(expect_forwarded(burst.back(), kNbr2, p1mac));
        continue;
      }
      Ipv6 d = *Ipv6::parse("2001:db8:90::");
      d.b[15] = uint8_t(rng() % 8 + 1);
      const Mac* nbr = &kNbr2;
      bool fwd = true;
      uint8_t hop_limit = 64;
      Mac l2 = p0mac;
      size_t pad = 0;
      switch (rng() % 8) {
        case 0:  // another destination and next hop
          d.b[5] = 0x80;
          nbr = &kNbr3;
          break;
        case 1:  // hop limit 1: handed to control (or dropped by the ICMP budget)
          hop_limit = 1;
          fwd = false;
          break;
        case 2:  // no route: handed to control
          d.b[5] = 0x70;
          fwd = false;
          break;
        case 3:  // for another station
          l2 = kHost;
          fwd = false;
          break;
        case 4:  // padded: trimmed and forwarded
          pad = 1 + rng() % 20;
          break;
        default:
          break;
      }
      rte_mbuf* m = build6(rig.pool.get(), l2, d, hop_limit);
      if (fwd) want6.push_back(expect_forwarded6(m, *nbr, p1mac));
      if (pad) REQUIRE(rte_pktmbuf_append(m, uint16_t(pad)));
      burst.push_back(m);
    }
    (rte_pktmbuf_mtod(burst[0], const uint8_t*)[12] == 0x86 ? v6_first : v4_first)++;
    rig.worker->process(rig.p0(), burst.data(), n);
    rig.worker->flush();
    auto sent = rig.sent();
    // The burst's IPv4 packets leave first, then its IPv6 ones, each in arrival order.
    std::vector<Expect> want = want4;
    want.insert(want.end(), want6.begin(), want6.end());
    INFO("iteration " << iter << ": " << n << " packets");
    check_sent(sent, want);
    for (rte_mbuf* m : sent) rte_pktmbuf_free(m);
    rig.drain_punts();
    in += n;
    forwarded += want.size();
  }
  const LcoreStats& st = rig.dp.stats[0];
  CHECK(st.rx[rig.p0()].get() == in);
  CHECK(st.tx[rig.p1()].get() == forwarded);
  CHECK(in == forwarded + rig.drops() + rig.punts());
  CHECK(v6_first > 1000);
  CHECK(v4_first > 300);
}

TEST_CASE("worker: an ECMP group spreads flows as route get says, fragments on one path",
          "[worker][ecmp]") {
  WorkerRig rig;
  rig.run({"route", "add", "10.7.0.0/16", "nexthop", "via", "10.2.0.2", "nexthop", "via",
           "10.2.0.3", "weight", "3"});
  rig.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  rig.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  rig.run({"neigh", "add", "2001:db8:2::2", "lladdr", kNbr2.str(), "dev", "p1"});
  rig.run({"neigh", "add", "2001:db8:2::3", "lladdr", kNbr3.str(), "dev", "p1"});
  rig.run({"route", "add", "2001:db8:70::/48", "nexthop", "via", "2001:db8:2::2", "nexthop", "via",
           "2001:db8:2::3"});
  const Mac p0mac = rig.ports[0]->mac(), p1mac = rig.ports[1]->mac();
  auto mac_of = [](const std::string& via) {
    return via == "10.2.0.2" || via == "2001:db8:2::2" ? kNbr2 : kNbr3;
  };

  // IPv4: 64 bursts of 32 UDP flows. Even bursts have one destination (which the
  // single-destination path would send as one run without the group), odd ones a destination
  // per packet; in every other odd burst each fifth frame carries Ethernet padding, which
  // stage 1's fast path does not pass (classify() trims it). After the first burst with a
  // group, stage 1 hashes the flows ahead of the lookup; either way each packet leaves by the
  // member route get names for its flow.
  uint64_t sent4 = 0, to3 = 0, bad4 = 0;  // bad4: dropped, of both families
  for (int b = 0; b < 64; ++b) {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < 32; ++i) {
      Pkt k;
      k.dst_mac = p0mac;
      k.dst = (b % 2 ? Ipv4(10, 7, uint8_t(i), uint8_t(b)) : Ipv4(10, 7, 0, uint8_t(b))).v;
      k.sport = uint16_t(b * 32 + i);
      const std::string via =
          rig.run({"route", "get", Ipv4(k.dst).str(), "from", "10.1.0.2", "proto", "udp", "sport",
                   std::to_string(k.sport), "dport", "0"})["via"];
      burst.push_back(k.build(rig.pool.get()));
      if (b % 4 == 3 && i % 7 == 3) {  // a bad checksum: dropped, the rest move up
        rte_pktmbuf_mtod(burst.back(), uint8_t*)[14 + 10] ^= 0x5a;
        ++bad4;
        continue;
      }
      if (b % 4 == 3 && i % 5 == 0) REQUIRE(rte_pktmbuf_append(burst.back(), 6) != nullptr);
      to3 += via == "10.2.0.3";
      sent4 += 1;
      want.push_back(expect_forwarded(burst.back(), mac_of(via), p1mac));
    }
    INFO("burst " << b);
    forward_burst(rig, burst, want);
  }
  CHECK(std::abs(double(to3) / double(sent4) - 0.75) < 0.05);

  // The fragments of one datagram: the first carries the ports, the others do not (their
  // payload is anything). All leave by one member, whatever their "ports" look like.
  std::set<std::string> frag_macs;
  for (uint16_t f = 0; f < 8; ++f) {
    Pkt k;
    k.dst_mac = p0mac;
    k.dst = Ipv4(10, 7, 3, 3).v;
    k.id = 0x1234;
    k.sport = uint16_t(f * 4099);  // later fragments: payload bytes, not ports
    rte_mbuf* m = k.build(rig.pool.get());
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    ip->fragment_offset = rte_cpu_to_be_16(uint16_t((f < 7 ? RTE_IPV4_HDR_MF_FLAG : 0) | f * 4));
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    rte_mbuf* one[1] = {m};
    rig.worker->process(rig.p0(), one, 1);
    rig.worker->flush();
    auto sent = rig.sent();
    REQUIRE(sent.size() == 1);
    Mac to;
    std::memcpy(to.b.data(), rte_pktmbuf_mtod(sent[0], const uint8_t*), 6);
    frag_macs.insert(to.str());
    rte_pktmbuf_free(sent[0]);
    sent4 += 1;
  }
  CHECK(frag_macs.size() == 1);

  // IPv6: flows differ by source port (bytes 0-1 of the UDP header). As for IPv4: even
  // bursts have one destination, odd ones a destination per packet, and every other odd
  // burst has padded frames and frames of a bad version (dropped) among its own.
  uint64_t sent6 = 0;
  std::set<std::string> used6;
  for (int b = 0; b < 16; ++b) {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < 32; ++i) {
      const uint16_t sport = uint16_t(b * 32 + i);
      const std::string dst = b % 2 ? "2001:db8:70::" + std::to_string(i + 1) : "2001:db8:70::9";
      rte_mbuf* m = build6(rig.pool.get(), p0mac, *Ipv6::parse(dst));
      uint8_t* udp = rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 40);
      udp[0] = uint8_t(sport >> 8);
      udp[1] = uint8_t(sport);
      const std::string via = rig.run({"route", "get", dst, "from", "2001:db8:1::2", "proto", "udp",
                                       "sport", std::to_string(sport), "dport", "0"})["via"];
      burst.push_back(m);
      if (b % 4 == 3 && i % 7 == 3) {
        rte_pktmbuf_mtod(m, uint8_t*)[14] = 0x50;  // version 5
        ++bad4;
        continue;
      }
      used6.insert(via);
      want.push_back(expect_forwarded6(m, mac_of(via), p1mac));
      if (b % 4 == 3 && i % 5 == 0) REQUIRE(rte_pktmbuf_append(m, 6) != nullptr);
      sent6 += 1;
    }
    INFO("IPv6 burst " << b);
    forward_burst(rig, burst, want);
  }
  CHECK(used6.size() == 2);

  // A port that delivers RSS hashes: a packet with one takes the member of the keyed RSS
  // hash, one without it (or a fragment) the member route get names. Bursts mix both, after
  // bursts of group routes (stage 1 hashes) and after one without (the pick pass hashes).
  auto group_of = [&rig](uint8_t family) {
    for (uint32_t id = 1; id < 64; ++id) {
      const NextHopState* s = rig.dp.nexthops.get(id);
      if (s && s->kind == NhKind::group && s->family == family) return s;
    }
    return static_cast<const NextHopState*>(nullptr);
  };
  const NextHopState* group4 = group_of(4);
  REQUIRE(group4 != nullptr);
  std::set<std::string> rss_macs;
  uint64_t plain = 0;  // sent through a plain route: not counted per member
  for (int b = 0; b < 8; ++b) {
    if (b == 4) {  // a burst with no group route: the next one's stage 1 does not hash
      Pkt k;
      k.dst_mac = p0mac;
      k.dst = Ipv4(10, 9, 1, 1).v;
      rte_mbuf* one[1] = {k.build(rig.pool.get())};
      rig.worker->process(rig.p0(), one, 1);
      rig.worker->flush();
      for (rte_mbuf* m : rig.sent()) rte_pktmbuf_free(m);
      ++plain;
    }
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < 32; ++i) {
      Pkt k;
      k.dst_mac = p0mac;
      k.dst = Ipv4(10, 7, uint8_t(i), uint8_t(100 + b)).v;
      k.sport = uint16_t(7000 + b * 32 + i);
      // Even bursts start with an RSS hash (stage 1 skips routerd's own hash), odd ones
      // without (stage 1 hashes, then the RSS packets are hashed again).
      const bool rss = b % 2 == 0 ? i % 3 != 2 : i % 3 != 0;
      // Some are fragments, with or without an RSS hash: routerd's L3-only hash either way.
      const bool frag = i % 8 == 5;
      if (rss) k.flags = RTE_MBUF_F_RX_RSS_HASH;
      rte_mbuf* m = k.build(rig.pool.get());
      Mac to;
      if (frag) {
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
        ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | 4);
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        const uint32_t l3 = group4->group->pick(
            ecmp::flow_hash4(rig.dp.params.flow_key, ip, rte_pktmbuf_data_len(m) - 14));
        // An RSS hash that would pick another member: taking it would show.
        if (rss)
          while (group4->group->pick(ecmp::mix_rss(rig.dp.params.flow_key, m->hash.rss)) == l3)
            ++m->hash.rss;
        const NextHopState* ms = rig.dp.nexthops.get(l3);
        REQUIRE(ms != nullptr);
        std::memcpy(to.b.data(), ms->l2, 6);
      } else if (rss) {
        m->hash.rss = uint32_t(0x9e3779b9u * uint32_t(b * 32 + i + 1));
        const NextHopState* ms = rig.dp.nexthops.get(
            group4->group->pick(ecmp::mix_rss(rig.dp.params.flow_key, m->hash.rss)));
        REQUIRE(ms != nullptr);
        std::memcpy(to.b.data(), ms->l2, 6);
        rss_macs.insert(to.str());
      } else {
        const std::string via =
            rig.run({"route", "get", Ipv4(k.dst).str(), "from", "10.1.0.2", "proto", "udp", "sport",
                     std::to_string(k.sport), "dport", "0"})["via"];
        to = mac_of(via);
      }
      burst.push_back(m);
      want.push_back(expect_forwarded(m, to, p1mac));
      sent4 += 1;
    }
    INFO("RSS burst " << b);
    forward_burst(rig, burst, want);
  }
  CHECK(rss_macs.size() == 2);

  // The same over IPv6.
  const NextHopState* group6 = group_of(6);
  REQUIRE(group6 != nullptr);
  std::set<std::string> rss6_macs;
  for (int b = 0; b < 4; ++b) {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want;
    for (uint16_t i = 0; i < 32; ++i) {
      const uint16_t sport = uint16_t(9000 + b * 32 + i);
      const std::string dst = "2001:db8:70::" + std::to_string(i + 1);
      rte_mbuf* m = build6(rig.pool.get(), p0mac, *Ipv6::parse(dst));
      uint8_t* udp = rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 40);
      udp[0] = uint8_t(sport >> 8);
      udp[1] = uint8_t(sport);
      const bool rss = b % 2 == 0 ? i % 3 != 2 : i % 3 != 0;
      Mac to;
      if (rss) {
        m->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
        m->hash.rss = uint32_t(0x85ebca6bu * uint32_t(b * 32 + i + 1));
        const NextHopState* ms = rig.dp.nexthops.get(
            group6->group->pick(ecmp::mix_rss(rig.dp.params.flow_key, m->hash.rss)));
        REQUIRE(ms != nullptr);
        std::memcpy(to.b.data(), ms->l2, 6);
        rss6_macs.insert(to.str());
      } else {
        to = mac_of(rig.run({"route", "get", dst, "from", "2001:db8:1::2", "proto", "udp", "sport",
                             std::to_string(sport), "dport", "0"})["via"]);
      }
      burst.push_back(m);
      want.push_back(expect_forwarded6(m, to, p1mac));
      sent6 += 1;
    }
    INFO("IPv6 RSS burst " << b);
    forward_burst(rig, burst, want);
  }
  CHECK(rss6_macs.size() == 2);

  // A port whose hash ECMP must not take (ecmp.use_rss off here; a device that hashes UDP on
  // its addresses alone is the same to the worker: PortFastInfo::ecmp_rss): every packet
  // takes the member route get names, whatever RSS hash it carries, in both families. A
  // burst that starts with IPv4 sends its IPv4 packets first, then its IPv6 ones.
  rig.dp.params.ecmp_use_rss = false;
  rig.run({"addr", "add", "10.1.0.9/24", "dev", "p0"});  // republishes the ports
  // The worker goes by what was published for the port, as for a device whose hash falls
  // short, not by the switch itself.
  rig.dp.params.ecmp_use_rss = true;
  for (int b = 0; b < 2; ++b) {
    std::vector<rte_mbuf*> burst;
    std::vector<Expect> want, want6;
    for (uint16_t i = 0; i < 32; ++i) {
      const uint16_t sport = uint16_t(11000 + b * 32 + i);
      rte_mbuf* m;
      std::string via;
      if (i % 2 == 0) {
        Pkt k;
        k.dst_mac = p0mac;
        k.dst = Ipv4(10, 7, uint8_t(i), uint8_t(200 + b)).v;
        k.sport = sport;
        k.flags = RTE_MBUF_F_RX_RSS_HASH;
        m = k.build(rig.pool.get());
        via = rig.run({"route", "get", Ipv4(k.dst).str(), "from", "10.1.0.2", "proto", "udp",
                       "sport", std::to_string(sport), "dport", "0"})["via"];
        const uint32_t own = group4->group->pick(
            ecmp::flow_hash4(rig.dp.params.flow_key, rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14),
                             rte_pktmbuf_data_len(m) - 14));
        while (group4->group->pick(ecmp::mix_rss(rig.dp.params.flow_key, m->hash.rss)) == own)
          ++m->hash.rss;
        want.push_back(expect_forwarded(m, mac_of(via), p1mac));
        sent4 += 1;
      } else {
        const std::string dst = "2001:db8:70::" + std::to_string(i + 100);
        m = build6(rig.pool.get(), p0mac, *Ipv6::parse(dst));
        uint8_t* udp = rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 40);
        udp[0] = uint8_t(sport >> 8);
        udp[1] = uint8_t(sport);
        m->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
        via = rig.run({"route", "get", dst, "from", "2001:db8:1::2", "proto", "udp", "sport",
                       std::to_string(sport), "dport", "0"})["via"];
        const uint32_t own = group6->group->pick(
            ecmp::flow_hash6(rig.dp.params.flow_key, rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, 14),
                             rte_pktmbuf_data_len(m) - 14));
        while (group6->group->pick(ecmp::mix_rss(rig.dp.params.flow_key, m->hash.rss)) == own)
          ++m->hash.rss;
        want6.push_back(expect_forwarded6(m, mac_of(via), p1mac));
        sent6 += 1;
      }
      burst.push_back(m);
    }
    want.insert(want.end(), want6.begin(), want6.end());
    INFO("burst " << b << " with RSS hashes ECMP must not take");
    forward_burst(rig, burst, want);
  }

  // Every packet counted against the member it took, and shown per member.
  uint64_t counted = 0;
  const nlohmann::json st = rig.run({"stats"});
  for (const char* fam : {"ipv4", "ipv6"})
    for (const auto& g : st["ecmp"][fam])
      for (const auto& m : g["members"]) counted += m["packets"].get<uint64_t>();
  CHECK(counted == sent4 + sent6);
  CHECK(rig.dp.stats[0].tx[rig.p1()].get() == sent4 + sent6 + plain);
  CHECK(rig.drops() == bad4);  // the bad checksums and versions, nothing else
  CHECK(rig.punts() == 0);
}
