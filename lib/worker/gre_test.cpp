// GRE tunnels end to end through Worker::process on real ports: packets routed into a tunnel
// leave p1 (net_ring, read back) encapsulated; GRE from the remote is decapsulated and
// forwarded as if it came in on the tunnel. Also the outer-path cache against the generation,
// tunnel PMTU (FN, PTB, fragmentation, learnt from the underlay) and loops.
#include <rte_ethdev.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "control_rig.hpp"
#include "forward.hpp"
#include "packet_test_util.hpp"
#include "tunnel.hpp"
#include "worker.hpp"

using namespace routerd;
using namespace routerd::testing;

namespace {

const Mac kNbr2 = *Mac::parse("02:5a:00:00:00:02");  // 10.2.0.2
const Mac kNbr3 = *Mac::parse("02:5a:00:00:00:03");  // 10.2.0.3
constexpr uint32_t kRemote = 0x0a140002;             // 10.20.0.2
constexpr uint32_t kLocal = 0x0a020001;              // 10.2.0.1, p1's address
constexpr uint16_t kGre1 = kTunnelBase;              // the first tunnel's port id

struct GreRig : ControlRig {
  std::unique_ptr<Worker> worker;

  // tbl8: every tunnel's link-local /128 takes IPv6 tbl8 groups of its own.
  explicit GreRig(uint32_t tbl8 = 64)
      : ControlRig(Options{.tbl8 = tbl8, .mbufs = 4096, .p1_driver = "net_ring"}) {
    run({"neigh", "add", "10.2.0.2", "lladdr", kNbr2.str(), "dev", "p1"});
    run({"neigh", "add", "10.2.0.3", "lladdr", kNbr3.str(), "dev", "p1"});
    run({"route", "add", "10.20.0.0/24", "via", "10.2.0.2"});
    run({"route", "add", "10.9.0.0/16", "via", "10.2.0.2"});
    run({"tunnel", "add", "gre1", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.2", "key",
         "42"});
    run({"addr", "add", "10.99.0.1/30", "dev", "gre1"});
    run({"route", "add", "10.50.0.0/16", "dev", "gre1"});
    run({"-6", "route", "add", "2001:db8:50::/48", "dev", "gre1"});
    dp.pool = pool.get();  // fragments are allocated here
    worker = std::make_unique<Worker>(dp, 0, std::vector<Worker::RxQueue>{{p0(), 0}}, 0);
  }
  ~GreRig() {
    worker.reset();
    punts();
  }
  uint16_t p0() const { return ports[0]->id(); }
  uint16_t p1() const { return ports[1]->id(); }

  // One burst through the worker, then what it sent on p1 (the caller frees it).
  std::vector<rte_mbuf*> through(uint16_t in_port, std::vector<rte_mbuf*> burst) {
    worker->process(in_port, burst.data(), uint16_t(burst.size()));
    worker->flush();
    std::vector<rte_mbuf*> out;
    rte_mbuf* b[64];
    while (uint16_t n = rte_eth_rx_burst(p1(), 0, b, 64)) out.insert(out.end(), b, b + n);
    return out;
  }
  // What workers handed to control since the last call (freed).
  std::vector<PuntEntry> punts() {
    std::vector<PuntEntry> out;
    PuntEntry e[64];
    while (unsigned n = rte_ring_dequeue_burst_elem(punt.get(), e, sizeof(PuntEntry), 64, nullptr))
      out.insert(out.end(), e, e + n);
    for (auto& x : out) rte_pktmbuf_free(x.m);
    return out;
  }
  uint64_t drop(Drop d) const { return dp.stats[0].drop[size_t(d)].get(); }
  uint64_t resolved() const { return dp.stats[0].event[size_t(Event::tunnel_path_resolved)].get(); }
};

void put_ip(uint8_t* ip, uint32_t src, uint32_t dst, uint8_t proto, uint16_t total, uint8_t ttl,
            bool df) {
  ip[0] = 0x45;
  put16(ip + 2, total);
  put16(ip + 4, 0x1234);
  put16(ip + 6, df ? 0x4000 : 0);
  ip[8] = ttl;
  ip[9] = proto;
  put32(ip + 12, src);
  put32(ip + 16, dst);
  put16(ip + 10, 0);
  put16(ip + 10, uint16_t(~ref_sum(ip, 20)));
}

// An Ethernet frame to `mac` with an IPv4 UDP datagram of `total` bytes.
rte_mbuf* ipv4(rte_mempool* mp, const Mac& mac, uint32_t src, uint32_t dst, uint16_t total = 60,
               bool df = true, uint8_t ttl = 64) {
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  REQUIRE(m);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + total)));
  REQUIRE(p);
  std::memset(p, 0, 14 + total);
  std::memcpy(p, mac.b.data(), 6);
  p[6] = 0x02;
  p[12] = 0x08;
  for (uint32_t i = 28; i < total; ++i) p[14 + i] = uint8_t(i);
  put_ip(p + 14, src, dst, 17, total, ttl, df);
  return m;
}

rte_mbuf* ipv6(rte_mempool* mp, const Mac& mac, const char* dst, uint16_t payload = 40) {
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  REQUIRE(m);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + 40 + payload)));
  std::memset(p, 0, 14 + 40 + payload);
  std::memcpy(p, mac.b.data(), 6);
  p[6] = 0x02;
  p[12] = 0x86;
  p[13] = 0xdd;
  uint8_t* ip = p + 14;
  ip[0] = 0x60;
  put16(ip + 4, payload);
  ip[6] = 17;
  ip[7] = 64;
  std::memcpy(ip + 8, Ipv6::parse("2001:db8:1::2")->b.data(), 16);
  std::memcpy(ip + 24, Ipv6::parse(dst)->b.data(), 16);
  return m;
}

// A GRE packet from the remote to the router on p1 carrying `inner` (an IP packet).
rte_mbuf* gre(rte_mempool* mp, const Mac& mac, const std::vector<uint8_t>& inner, uint16_t proto,
              std::optional<uint32_t> key, bool csum = false, uint32_t src = kRemote) {
  const uint16_t glen = uint16_t(4 + (csum ? 4 : 0) + (key ? 4 : 0));
  const uint16_t total = uint16_t(20 + glen + inner.size());
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  REQUIRE(m);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + total)));
  std::memset(p, 0, 14 + total);
  std::memcpy(p, mac.b.data(), 6);
  std::memcpy(p + 6, kNbr2.b.data(), 6);
  p[12] = 0x08;
  put_ip(p + 14, src, kLocal, 47, total, 60, true);
  uint8_t* g = p + 34;
  put16(g, uint16_t((csum ? kGreFlagC : 0) | (key ? kGreFlagK : 0)));
  put16(g + 2, proto);
  if (key) put32(g + 4 + (csum ? 4 : 0), *key);
  std::memcpy(g + glen, inner.data(), inner.size());
  if (csum) put16(g + 4, uint16_t(~ref_sum(g, glen + inner.size())));
  return m;
}

std::vector<uint8_t> ip_bytes(rte_mbuf* m) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*) + 14;
  std::vector<uint8_t> v(p, p + rte_pktmbuf_pkt_len(m) - 14);
  rte_pktmbuf_free(m);
  return v;
}

void free_all(const std::vector<rte_mbuf*>& v) {
  for (rte_mbuf* m : v) rte_pktmbuf_free(m);
}

}  // namespace

TEST_CASE("gre: IPv4 and IPv6 routed into a tunnel leave encapsulated toward the remote",
          "[tunnel][worker]") {
  GreRig rig;
  const Mac p0mac = rig.ports[0]->mac(), p1mac = rig.ports[1]->mac();
  rte_mbuf* a = ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 100);
  rte_mbuf* b = ipv6(rig.pool.get(), p0mac, "2001:db8:50::7");
  auto out = rig.through(rig.p0(), {a, b});
  REQUIRE(out.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    INFO("packet " << i);
    const uint8_t* p = rte_pktmbuf_mtod(out[i], const uint8_t*);
    CHECK(std::memcmp(p, kNbr2.b.data(), 6) == 0);  // the remote's next hop
    CHECK(std::memcmp(p + 6, p1mac.b.data(), 6) == 0);
    CHECK(get16(p + 12) == 0x0800);
    const uint8_t* ip = p + 14;
    CHECK(ref_ok(ip, 20));
    CHECK(ip[9] == 47);
    CHECK(get16(ip + 6) == 0x4000);  // DF
    CHECK(ip[8] == 64);
    CHECK(get32(ip + 12) == kLocal);
    CHECK(get32(ip + 16) == kRemote);
    CHECK(get16(ip + 2) == rte_pktmbuf_pkt_len(out[i]) - 14);
    const uint8_t* g = ip + 20;
    CHECK(get16(g) == kGreFlagK);
    CHECK(get16(g + 2) == (i == 0 ? 0x0800 : 0x86dd));
    CHECK(get32(g + 4) == 42);
    // The inner packet, forwarded: TTL (hop limit) one lower.
    if (i == 0) {
      CHECK(g[8 + 8] == 63);
      CHECK(ref_ok(g + 8, 20));
      CHECK(get32(g + 8 + 16) == 0x0a320007);
    } else {
      CHECK(g[8 + 7] == 63);
    }
  }
  free_all(out);
  CHECK(rig.dp.stats[0].tx[kGre1].get() == 2);
  CHECK(rig.resolved() == 1);  // one resolution, both packets through it
}

TEST_CASE("gre: a tunnel's IPv6 addresses skip DAD: usable at once, nothing probes the tunnel",
          "[tunnel][control]") {
  GreRig rig;
  // The ports' own addresses (and gre1's link-local) have been through DAD by then.
  for (uint64_t t = 100; t < 5000; t += 100) rig.ctl->poll_once(t);
  auto solicits = [&] {
    return rig.dp.control_stats().event[size_t(Event::ndp_solicit_sent)].get();
  };
  const uint64_t before = solicits();
  rig.run({"addr", "add", "2001:db8:99::1/64", "dev", "gre1"});
  const std::string shown = rig.run({"addr", "show", "dev", "gre1"}).dump();
  INFO(shown);
  CHECK(shown.find("2001:db8:99::1") != std::string::npos);
  CHECK(shown.find("tentative") == std::string::npos);
  const std::string got = rig.run({"route", "get", "2001:db8:99::1"}).dump();
  INFO(got);
  CHECK(got.find("local") != std::string::npos);
  for (uint64_t t = 5000; t < 9000; t += 100) rig.ctl->poll_once(t);
  CHECK(solicits() == before);
}

TEST_CASE("gre: the outer path is resolved once per generation and follows a route change",
          "[tunnel][worker]") {
  GreRig rig;
  const Mac p0mac = rig.ports[0]->mac();
  auto burst = [&] {
    std::vector<rte_mbuf*> v;
    v.reserve(8);
    for (int i = 0; i < 8; ++i)
      v.push_back(ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320000 + uint32_t(i)));
    return rig.through(rig.p0(), v);
  };
  for (int round = 0; round < 3; ++round) {
    auto out = burst();
    REQUIRE(out.size() == 8);
    for (rte_mbuf* m : out)
      CHECK(std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), kNbr2.b.data(), 6) == 0);
    free_all(out);
  }
  CHECK(rig.resolved() == 1);  // 24 packets, one lookup of the remote
  rig.run({"route", "replace", "10.20.0.0/24", "via", "10.2.0.3"});
  auto out = burst();
  REQUIRE(out.size() == 8);
  for (rte_mbuf* m : out)  // the first burst after the change takes the new next hop
    CHECK(std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), kNbr3.b.data(), 6) == 0);
  free_all(out);
  CHECK(rig.resolved() == 2);
  // A neighbour change under the remote (the MAC of 10.2.0.3) is a new generation too.
  const Mac moved = *Mac::parse("02:5a:00:00:00:33");
  rig.run({"neigh", "del", "10.2.0.3"});
  rig.run({"neigh", "add", "10.2.0.3", "lladdr", moved.str(), "dev", "p1"});
  out = burst();
  REQUIRE(out.size() == 8);
  for (rte_mbuf* m : out) CHECK(std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), moved.b.data(), 6) == 0);
  free_all(out);
  // No route to the remote: dropped and counted, nothing sent.
  rig.run({"route", "del", "10.20.0.0/24"});
  out = burst();
  CHECK(out.empty());
  CHECK(rig.drop(Drop::tunnel_no_route) == 8);
}

TEST_CASE("gre: with route_cache.tunnel_outer_path = false every packet resolves, same bytes",
          "[tunnel][worker]") {
  GreRig rig;
  const Mac p0mac = rig.ports[0]->mac();
  auto frames = [&](Worker& w) {
    std::vector<rte_mbuf*> v;
    v.reserve(9);
    for (int i = 0; i < 8; ++i)
      v.push_back(ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320000 + uint32_t(i)));
    v.push_back(ipv6(rig.pool.get(), p0mac, "2001:db8:50::7"));
    w.process(rig.p0(), v.data(), uint16_t(v.size()));
    w.flush();
    std::vector<std::vector<uint8_t>> out;
    rte_mbuf* b[64];
    while (uint16_t n = rte_eth_rx_burst(rig.p1(), 0, b, 64)) {
      for (uint16_t i = 0; i < n; ++i) {
        const uint8_t* d = rte_pktmbuf_mtod(b[i], const uint8_t*);
        out.emplace_back(d, d + rte_pktmbuf_pkt_len(b[i]));
        rte_pktmbuf_free(b[i]);
      }
    }
    return out;
  };
  const auto cached = frames(*rig.worker);
  REQUIRE(cached.size() == 9);
  CHECK(rig.resolved() == 1);
  rig.dp.params.tunnel_outer_path_cache = false;
  Worker uncached(rig.dp, 0, std::vector<Worker::RxQueue>{{rig.p0(), 0}}, 0);
  const auto resolved = frames(uncached);
  // The same bytes (the outer identification counts per worker, from 0 in both): the slow
  // path writes the header the template writes.
  CHECK(resolved == cached);
  CHECK(rig.resolved() == 1 + 9);  // one FIB lookup of the remote per packet
  auto again = frames(uncached);   // and so on, at an unchanged generation
  CHECK(again.size() == 9);
  CHECK(rig.resolved() == 1 + 18);
}

TEST_CASE("gre: received packets are matched by endpoints and key, checksum checked, and forwarded",
          "[tunnel][worker]") {
  GreRig rig;
  const Mac p1mac = rig.ports[1]->mac();
  // Inner: from behind the tunnel to 10.9.1.1 (via 10.2.0.2 on p1: read back there).
  auto inner = [&](uint8_t ttl) {
    rte_mbuf* m = ipv4(rig.pool.get(), p1mac, 0x0a320005, 0x0a090101, 48, true, ttl);
    return ip_bytes(m);
  };
  const Ipv6 d6 = *Ipv6::parse("2001:db8:1::9");
  rig.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  rig.run({"-6", "neigh", "add", "2001:db8:2::2", "lladdr", kNbr2.str(), "dev", "p1"});
  rig.run({"-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:2::2"});
  std::vector<uint8_t> in6 = ip_bytes(ipv6(rig.pool.get(), p1mac, "2001:db8:1::9"));
  std::memcpy(in6.data() + 8, Ipv6::parse("2001:db8:50::5")->b.data(), 16);  // its source
  std::vector<rte_mbuf*> burst = {
      gre(rig.pool.get(), p1mac, inner(64), 0x0800, 42),                      // forwarded
      gre(rig.pool.get(), p1mac, inner(64), 0x0800, 42, true),                // checksum right
      gre(rig.pool.get(), p1mac, in6, 0x86dd, 42),                            // IPv6 inside
      gre(rig.pool.get(), p1mac, inner(64), 0x0800, 43),                      // another key
      gre(rig.pool.get(), p1mac, inner(64), 0x0800, std::nullopt),            // no key
      gre(rig.pool.get(), p1mac, inner(64), 0x0800, 42, false, kRemote + 1),  // unknown remote
      gre(rig.pool.get(), p1mac, inner(64), 0x0880, 42),                      // not IP
  };
  rte_mbuf* bad = gre(rig.pool.get(), p1mac, inner(64), 0x0800, 42, true);
  rte_pktmbuf_mtod(bad, uint8_t*)[14 + 20 + 12 + 30] ^= 0x40;  // an inner byte: sum wrong
  burst.push_back(bad);
  burst.push_back(gre(rig.pool.get(), p1mac, inner(1), 0x0800, 42));  // inner TTL expires
  auto out = rig.through(rig.p1(), burst);
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < 2; ++i) {
    const uint8_t* p = rte_pktmbuf_mtod(out[i], const uint8_t*);
    CHECK(std::memcmp(p, kNbr2.b.data(), 6) == 0);
    CHECK(rte_pktmbuf_pkt_len(out[i]) == 14 + 48);
    CHECK(p[14 + 8] == 63);
    CHECK(get32(p + 14 + 16) == 0x0a090101);
    CHECK(ref_ok(p + 14, 20));
  }
  const uint8_t* p6 = rte_pktmbuf_mtod(out[2], const uint8_t*);
  CHECK(get16(p6 + 12) == 0x86dd);
  CHECK(std::memcmp(p6 + 14 + 24, d6.b.data(), 16) == 0);
  CHECK(p6[14 + 7] == 63);
  free_all(out);
  CHECK(rig.drop(Drop::gre_bad_key) == 2);
  CHECK(rig.drop(Drop::gre_no_tunnel) == 1);
  CHECK(rig.drop(Drop::gre_bad_protocol) == 1);
  CHECK(rig.drop(Drop::gre_bad_checksum) == 1);
  // Decapsulated packets count as received on the tunnel; the expired one is its ICMP's,
  // handed to control as from the tunnel.
  CHECK(rig.dp.stats[0].rx[kGre1].get() == 4);
  auto punted = rig.punts();
  REQUIRE(punted.size() == 1);
  CHECK(punted[0].reason == uint8_t(Punt::ttl_exceeded));
  CHECK(punted[0].in_port == kGre1);
}

TEST_CASE("gre: without tunnels GRE to the router goes to control as before", "[tunnel][worker]") {
  GreRig rig;
  rig.run({"tunnel", "del", "gre1"});
  const Mac p1mac = rig.ports[1]->mac();
  auto in = ip_bytes(ipv4(rig.pool.get(), p1mac, 0x0a320005, 0x0a090101));
  auto out = rig.through(rig.p1(), {gre(rig.pool.get(), p1mac, in, 0x0800, 42)});
  CHECK(out.empty());
  auto punted = rig.punts();
  REQUIRE(punted.size() == 1);
  CHECK(punted[0].reason == uint8_t(Punt::local));
}

namespace {

// A Frag Needed from 10.2.0.2 (the underlay's next hop) quoting an outer packet of gre1's,
// reporting `mtu`, handed to control at t = 1000 ms.
void underlay_frag_needed(GreRig& rig, uint16_t mtu) {
  rte_mbuf* fn = rte_pktmbuf_alloc(rig.pool.get());
  REQUIRE(fn);
  const uint16_t total = 20 + 8 + 28;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(fn, 14 + total));
  std::memset(p, 0, 14 + total);
  std::memcpy(p, rig.ports[1]->mac().b.data(), 6);
  p[12] = 0x08;
  put_ip(p + 14, 0x0a020002, kLocal, 1, total, 64, false);
  uint8_t* ic = p + 34;
  ic[0] = 3;
  ic[1] = 4;
  put16(ic + 6, mtu);
  put_ip(ic + 8, kLocal, kRemote, 47, 1500, 64, true);
  put16(ic + 2, uint16_t(~ref_sum(ic, 8 + 28)));
  PuntEntry e{fn, 0, uint8_t(Punt::local), 0, rig.p1()};
  REQUIRE(rte_ring_enqueue_elem(rig.punt.get(), &e, sizeof e) == 0);
  rig.ctl->poll_once(1000);
}

}  // namespace

TEST_CASE(
    "gre: tunnel MTU: Frag Needed, Packet Too Big, fragments, and a PMTU the underlay "
    "teaches",
    "[tunnel][worker]") {
  GreRig rig;
  const Mac p0mac = rig.ports[0]->mac();
  // Key: 28 bytes of overhead, 1472 of tunnel MTU on a 1500 path.
  auto out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 1472)});
  REQUIRE(out.size() == 1);
  CHECK(rte_pktmbuf_pkt_len(out[0]) == 14 + 1500);
  free_all(out);
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 1473),
                               ipv6(rig.pool.get(), p0mac, "2001:db8:50::7", 1473 - 40)});
  CHECK(out.empty());
  auto punted = rig.punts();
  REQUIRE(punted.size() == 2);
  for (const auto& e : punted) {
    CHECK(e.reason == uint8_t(Punt::frag_needed));
    CHECK(e.aux == 1472);
  }
  // Without DF: fragmented to 1472, then each fragment encapsulated.
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 2000, false)});
  REQUIRE(out.size() == 2);
  uint32_t carried = 0;
  for (rte_mbuf* m : out) {
    const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*) + 14;
    CHECK(rte_pktmbuf_pkt_len(m) <= 14 + 1500);
    CHECK(get32(ip + 24) == 42);
    const uint8_t* in = ip + 28;
    CHECK(in[8] == 63);
    carried += get16(in + 2) - 20u;
  }
  CHECK(carried == 2000 - 20);
  free_all(out);

  // The underlay says 1400.
  underlay_frag_needed(rig, 1400);
  CHECK(rig.run({"tunnel", "show", "gre1"})[0]["pmtu"] == 1400);
  CHECK(rig.run({"tunnel", "show", "gre1"})[0]["mtu"] == 1372);
  const uint64_t before = rig.resolved();
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 1373)});
  CHECK(out.empty());
  CHECK(rig.resolved() == before + 1);  // the learnt PMTU came with a new generation
  punted = rig.punts();
  REQUIRE(punted.size() == 1);
  CHECK(punted[0].aux == 1372);
  // It expires with exceptions.pmtu_expires (600 s by default): the tunnel MTU comes back.
  rig.ctl->poll_once(1000 + 600000 + 200);
  CHECK(rig.run({"tunnel", "show", "gre1"})[0]["pmtu"].is_null());
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 1472)});
  CHECK(out.size() == 1);
  free_all(out);
}

TEST_CASE("gre: a path MTU reported under the floor is raised to it and locked: outer DF off",
          "[tunnel][worker]") {
  GreRig rig;
  const Mac p0mac = rig.ports[0]->mac();
  auto outer_frag = [](rte_mbuf* m) { return get16(rte_pktmbuf_mtod(m, const uint8_t*) + 20); };
  auto out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 500)});
  REQUIRE(out.size() == 1);
  CHECK(outer_frag(out[0]) == 0x4000);  // DF, so the underlay can report its MTU
  free_all(out);
  // 300 is under exceptions.pmtu_min (552, RFC 1191's floor as Linux keeps it): the tunnel
  // takes 552 - 28, and its outer packets go without DF, so that the hop that cannot carry
  // 552 fragments them rather than dropping them all (Linux's "mtu lock").
  underlay_frag_needed(rig, 300);
  const auto t = rig.run({"tunnel", "show", "gre1"})[0];
  CHECK(t["pmtu"] == 552);
  CHECK(t["pmtu_locked"] == true);
  CHECK(t["mtu"] == 524);
  const auto g = rig.run({"route", "get", "10.20.0.2"});
  INFO(g.dump());
  CHECK(g["exception"]["mtu"] == 552);
  CHECK(g["exception"]["mtu_locked"] == true);
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 524)});
  REQUIRE(out.size() == 1);
  CHECK(outer_frag(out[0]) == 0);
  CHECK(rte_pktmbuf_pkt_len(out[0]) == 14 + 552);
  free_all(out);
  // The lock goes with the learnt MTU when it expires: DF again.
  rig.ctl->poll_once(1000 + 600000 + 200);
  CHECK(rig.run({"tunnel", "show", "gre1"})[0]["pmtu_locked"] == false);
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007, 500)});
  REQUIRE(out.size() == 1);
  CHECK(outer_frag(out[0]) == 0x4000);
  free_all(out);
}

TEST_CASE("gre: a remote routed into its own tunnel, or through a chain back, is a counted loop",
          "[tunnel][worker]") {
  GreRig rig;
  const Mac p0mac = rig.ports[0]->mac();
  rig.run({"route", "replace", "10.20.0.0/24", "dev", "gre1"});
  auto out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007)});
  CHECK(out.empty());
  CHECK(rig.drop(Drop::tunnel_loop) == 1);
  // gre1's remote through gre2, gre2's remote through gre1.
  rig.run({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.1", "remote", "10.21.0.2"});
  rig.run({"route", "replace", "10.20.0.0/24", "dev", "gre2"});
  rig.run({"route", "add", "10.21.0.0/24", "dev", "gre1"});
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007)});
  CHECK(out.empty());
  CHECK(rig.drop(Drop::tunnel_loop) == 2);
  // A chain that ends on the wire is nesting, not a loop: gre2's remote via p1.
  rig.run({"route", "replace", "10.21.0.0/24", "via", "10.2.0.2"});
  out = rig.through(rig.p0(), {ipv4(rig.pool.get(), p0mac, 0x0a010002, 0x0a320007)});
  REQUIRE(out.size() == 1);
  const uint8_t* ip = rte_pktmbuf_mtod(out[0], const uint8_t*) + 14;
  CHECK(get32(ip + 16) == 0x0a150002);    // outer: gre2's remote
  CHECK(get32(ip + 24 + 16) == kRemote);  // inside it, gre1's packet
  CHECK(get32(ip + 24 + 28 + 16) == 0x0a320007);
  free_all(out);
  CHECK(rig.drop(Drop::tunnel_loop) == 2);
}

TEST_CASE("gre: tunnel add and del refuse bad input and change nothing", "[tunnel][control]") {
  GreRig rig(1024);
  auto fails = [&](const std::vector<std::string>& argv) { return rig.fails(argv); };
  CHECK(fails({"tunnel", "add", "gre1", "mode", "gre", "local", "10.2.0.1", "remote",
               "10.20.0.9"}) == "tunnel add: gre1 exists (a tunnel)");
  CHECK(fails({"tunnel", "add", "p0", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.9"}) ==
        "tunnel add: p0 exists (a port)");
  CHECK(fails({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.9", "remote",
               "10.20.0.9"}) == "tunnel add: local 10.2.0.9 is not an IPv4 address of the router");
  CHECK(fails({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.1", "remote",
               "10.1.0.1"}) == "tunnel add: remote 10.1.0.1 is an address of the router");
  CHECK(fails({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.2",
               "key", "42"})
            .find("has the same local, remote and key") != std::string::npos);
  CHECK(fails({"tunnel", "add", "gre2", "mode", "ipip", "local", "10.2.0.1", "remote",
               "10.20.0.9"}) == "tunnel add: mode 'ipip' is not supported (gre)");
  CHECK(fails({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.9",
               "key", "4294967296"}) ==
        "tunnel add: key '4294967296' is not a key (0..4294967295, or a dotted quad)");
  CHECK(fails({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.9",
               "ttl", "0"}) == "tunnel add: ttl '0' is not a TTL (1..255, or inherit)");
  CHECK(fails({"tunnel", "add", "gre2", "mode", "gre", "remote", "10.20.0.9"}) ==
        "tunnel add: missing 'local ADDRESS'");
  CHECK(fails({"tunnel", "del", "gre9"}) == "tunnel del: unknown tunnel 'gre9'");
  CHECK(fails({"tunnel", "del", "p1"}) == "tunnel del: p1 is a port, not a tunnel");
  CHECK(fails({"tunnel", "show", "gre9"}) == "tunnel show: unknown tunnel 'gre9'");
  CHECK(rig.run({"tunnel", "show"}).size() == 1);
  // A key as a dotted quad, ttl inherit; 16 tunnels at most.
  rig.run({"tunnel", "add", "gre2", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.2",
           "key", "0.0.1.0", "ttl", "inherit"});
  const auto t = rig.run({"tunnel", "show", "gre2"})[0];
  CHECK(t["key"] == 256);
  CHECK(t["ttl"] == "inherit");
  CHECK(t["port_id"] == kTunnelBase + 1);
  for (int i = 3; i <= 16; ++i)
    rig.run({"tunnel", "add", "gre" + std::to_string(i), "mode", "gre", "local", "10.2.0.1",
             "remote", "10.30.0." + std::to_string(i)});
  CHECK(fails({"tunnel", "add", "gre17", "mode", "gre", "local", "10.2.0.1", "remote",
               "10.30.0.17"}) == "tunnel add: the router has the maximum of 16 tunnels");
  // Deleting takes its addresses and routes with it.
  rig.run({"tunnel", "del", "gre1"});
  CHECK(rig.run({"route", "show"}).dump().find("10.50.0.0") == std::string::npos);
  CHECK(rig.run({"addr", "show", "dev", "p1"}).dump().find("10.99.0.1") == std::string::npos);
}

// Not run by default ([.]): cycles per packet of plain forwarding against encapsulation and
// decapsulation, on the same packets (32-packet bursts of distinct destinations), p1 a
// net_null port.
TEST_CASE("gre: cycles per packet, plain against into and out of a tunnel", "[.][gre-perf]") {
  testing::ControlRig rig(testing::ControlRig::Options{.mbufs = 8192});
  rig.run({"neigh", "add", "10.2.0.2", "lladdr", kNbr2.str(), "dev", "p1"});
  rig.run({"route", "add", "10.20.0.0/24", "via", "10.2.0.2"});
  rig.run({"route", "add", "10.9.0.0/16", "via", "10.2.0.2"});
  rig.run({"tunnel", "add", "gre1", "mode", "gre", "local", "10.2.0.1", "remote", "10.20.0.2"});
  rig.run({"route", "add", "10.50.0.0/16", "dev", "gre1"});
  rig.dp.pool = rig.pool.get();
  const uint16_t p0 = rig.ports[0]->id();
  Worker w(rig.dp, 0, std::vector<Worker::RxQueue>{{p0, 0}}, 0);
  // What the outer-path cache saves: the same tunnel with the outer path resolved in the
  // FIB for every packet (route_cache.tunnel_outer_path = false).
  rig.dp.params.tunnel_outer_path_cache = false;
  Worker w_uncached(rig.dp, 0, std::vector<Worker::RxQueue>{{p0, 0}}, 0);
  const Mac mac = rig.ports[0]->mac();
  // plain: to 10.9/16; gre: to 10.50/16, into gre1; decap: plain's packets inside GRE
  // from gre1's remote.
  for (const char* what : {"plain", "gre", "gre-uncached", "decap"}) {
    const bool decap = std::string(what) == "decap";
    const bool uncached = std::string(what) == "gre-uncached";
    const uint32_t net = std::string(what).starts_with("gre") ? 0x0a320000u : 0x0a090000u;
    std::vector<std::vector<uint8_t>> tmpl;
    for (uint32_t i = 0; i < 32; ++i) {
      rte_mbuf* m = ipv4(rig.pool.get(), mac, 0x0a010002, net + i * 97 + 1, 64);
      if (decap) m = gre(rig.pool.get(), mac, ip_bytes(m), 0x0800, std::nullopt);
      const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
      tmpl.emplace_back(p, p + rte_pktmbuf_pkt_len(m));
      rte_pktmbuf_free(m);
    }
    uint64_t cycles = 0, pkts = 0;
    for (int round = 0; round < 20000; ++round) {
      rte_mbuf* b[32];
      REQUIRE(rte_pktmbuf_alloc_bulk(rig.pool.get(), b, 32) == 0);
      for (int i = 0; i < 32; ++i) {
        auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(b[i], uint16_t(tmpl[i].size())));
        std::memcpy(d, tmpl[i].data(), tmpl[i].size());
      }
      Worker& wk = uncached ? w_uncached : w;
      const uint64_t t0 = rte_rdtsc();
      wk.process(p0, b, 32);
      wk.flush();
      if (round >= 1000) {
        cycles += rte_rdtsc() - t0;
        pkts += 32;
      }
    }
    WARN(what << ": " << double(cycles) / double(pkts) << " cycles/packet");
  }
}
