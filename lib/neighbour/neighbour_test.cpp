#include "neighbour.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace routerd;

namespace {

rte_mbuf* pkt(uintptr_t n) {
  return reinterpret_cast<rte_mbuf*>(n * 64);
}  // never dereferenced

NeighbourTable::Params params() {
  NeighbourTable::Params p;
  p.reachable_ms = 30000;
  p.retrans_ms = 1000;
  p.probes = 3;
  p.queue_len = 4;
  p.max_entries = 8;
  p.max_unresolved = 8;
  p.queue_total = 64;
  p.failed_ms = 5000;
  p.locktime_ms = 1000;
  p.resolve_rate = 1000;
  p.resolve_burst = 1000;
  return p;
}

const Ipv4 kGw(10, 1, 0, 2);
const Mac kMac = *Mac::parse("02:00:00:00:01:02");
const Mac kMac2 = *Mac::parse("02:00:00:00:01:03");

}  // namespace

TEST_CASE("first packet sends one broadcast request and queues", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  REQUIRE(fx.requests.size() == 1);
  CHECK(fx.requests[0].target == kGw);
  CHECK_FALSE(fx.requests[0].unicast);
  CHECK(t.find(kGw)->state == NeighState::incomplete);
  // More packets within the interval: queued, no further request (RFC 1122 2.3.2.1).
  NeighbourTable::Effects fx2;
  t.resolve(kGw, 0, pkt(2), 10, fx2);
  t.resolve(kGw, 0, pkt(3), 999, fx2);
  t.tick(999, fx2);
  CHECK(fx2.requests.empty());
  CHECK(t.find(kGw)->queue.size() == 3);
}

TEST_CASE("the queue is bounded and replaces the oldest", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  for (uintptr_t i = 1; i <= 6; ++i) t.resolve(kGw, 0, pkt(i), 0, fx);
  CHECK(fx.overflowed == std::vector<rte_mbuf*>{pkt(1), pkt(2)});
  CHECK(t.queued_packets() == 4);
}

TEST_CASE("a reply releases queued packets in order", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  for (uintptr_t i = 1; i <= 3; ++i) t.resolve(kGw, 0, pkt(i), 0, fx);
  NeighbourTable::Effects fx2;
  t.learn(kGw, kMac, 0, 500, fx2);
  REQUIRE(fx2.released.size() == 1);
  CHECK(fx2.released[0].packets == std::vector<rte_mbuf*>{pkt(1), pkt(2), pkt(3)});
  CHECK(fx2.changed == std::vector<Ipv4>{kGw});
  const Neighbour* n = t.find(kGw);
  CHECK(n->state == NeighState::reachable);
  CHECK(n->mac == kMac);
  CHECK(n->queue.empty());
}

TEST_CASE("no answer: one request per second, then Host Unreachable for the queue", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  t.resolve(kGw, 0, pkt(2), 0, fx);
  size_t requests = fx.requests.size();
  for (uint64_t ms = 0; ms <= 2999; ms += 100) t.tick(ms, fx);
  CHECK(fx.requests.size() - requests == 2);  // at 1000 and 2000
  CHECK(fx.failed.empty());
  t.tick(3000, fx);
  CHECK(fx.failed == std::vector<rte_mbuf*>{pkt(1), pkt(2)});
  CHECK(t.find(kGw)->state == NeighState::failed);

  // Within a second of the last request a new packet fails at once, without a request.
  NeighbourTable::Effects fx2;
  t.resolve(kGw, 0, pkt(3), 2500, fx2);
  CHECK(fx2.failed == std::vector<rte_mbuf*>{pkt(3)});
  CHECK(fx2.requests.empty());
  // Later, a new packet starts a fresh attempt.
  NeighbourTable::Effects fx3;
  t.resolve(kGw, 0, pkt(4), 3500, fx3);
  CHECK(fx3.requests.size() == 1);
  CHECK(t.find(kGw)->state == NeighState::incomplete);
}

// Issue 13, defect 3: FAILED entries lived a whole reachable time (60 s), so a slow scan
// kept the table full of them.
TEST_CASE("failed entries are forgotten after failed_ms, not a reachable time", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  for (uint64_t ms = 0; ms <= 3000; ms += 1000) t.tick(ms, fx);
  REQUIRE(t.find(kGw)->state == NeighState::failed);
  CHECK(t.unresolved_count() == 1);
  t.tick(3000 + 4999, fx);
  CHECK(t.find(kGw) != nullptr);
  t.tick(3000 + 5000, fx);
  CHECK(t.find(kGw) == nullptr);
  CHECK(t.dynamic_count() == 0);
  CHECK(t.unresolved_count() == 0);
}

TEST_CASE("aging re-confirms with unicast requests, keeps forwarding meanwhile", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  t.learn(kGw, kMac, 0, 0, fx);
  REQUIRE(t.find(kGw)->usable());
  NeighbourTable::Effects fx2;
  t.tick(29999, fx2);
  CHECK(fx2.requests.empty());
  t.tick(30000, fx2);
  REQUIRE(fx2.requests.size() == 1);
  CHECK(fx2.requests[0].unicast == kMac);
  CHECK(t.find(kGw)->state == NeighState::probe);
  CHECK(t.find(kGw)->usable());
  CHECK(fx2.changed.empty());

  SECTION("a reply makes it reachable again") {
    NeighbourTable::Effects fx3;
    t.learn(kGw, kMac, 0, 30100, fx3);
    CHECK(t.find(kGw)->state == NeighState::reachable);
    CHECK(fx3.changed.empty());  // same MAC: nothing to republish
  }
  SECTION("silence makes it FAILED after the probes, then forgets it") {
    NeighbourTable::Effects fx3;
    for (uint64_t ms = 30000; ms <= 33000; ms += 500) t.tick(ms, fx3);
    CHECK(fx3.requests.size() == 2);
    // FAILED, as Linux's ARP: a new packet within failed_ms is answered Host Unreachable
    // rather than held for a fresh broadcast resolution.
    REQUIRE(t.find(kGw) != nullptr);
    CHECK(t.find(kGw)->state == NeighState::failed);
    CHECK(fx3.changed == std::vector<Ipv4>{kGw});
    NeighbourTable::Effects fx4;
    t.tick(33000 + params().failed_ms, fx4);
    CHECK(t.find(kGw) == nullptr);
  }
}

TEST_CASE("a MAC change is reported so the next hop is republished", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  t.learn(kGw, kMac, 0, 0, fx);
  NeighbourTable::Effects fx2;
  t.learn(kGw, kMac2, 0, 1000, fx2);  // gratuitous ARP, past the locktime: refreshes it
  CHECK(fx2.changed == std::vector<Ipv4>{kGw});
  CHECK(t.find(kGw)->mac == kMac2);
  CHECK(fx2.mac_locked == 0);
}

// Issue 13, defect 8: 5,000 unsolicited replies for 10.2.0.2 replaced its MAC.
TEST_CASE("a MAC set or confirmed within the locktime is not replaced", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  t.learn(kGw, kMac, 0, 100, fx);  // the first answer wins...
  REQUIRE(t.find(kGw)->mac == kMac);
  NeighbourTable::Effects fx2;
  for (uint64_t ms = 100; ms < 1100; ms += 10) t.learn(kGw, kMac2, 0, ms, fx2);  // ...a flood
  t.learn(kGw, kMac, 1, 500, fx2);  // nor may another port take it
  CHECK(t.find(kGw)->mac == kMac);
  CHECK(t.find(kGw)->port == 0);
  CHECK(fx2.changed.empty());
  CHECK(fx2.mac_locked == 101);
  // A confirmation with the same MAC restarts the lock.
  t.learn(kGw, kMac, 0, 1050, fx2);
  t.learn(kGw, kMac2, 0, 2049, fx2);
  CHECK(t.find(kGw)->mac == kMac);
  t.learn(kGw, kMac2, 0, 2050, fx2);
  CHECK(t.find(kGw)->mac == kMac2);
  CHECK(fx2.changed == std::vector<Ipv4>{kGw});
}

// Issue 13, defect 3: ARP requests (and unsolicited replies) from 5,000 on-link senders
// made 4,093 REACHABLE entries, each with a host route and a generation bump.
TEST_CASE("ARP never creates an entry, only updates one the router asked for", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  for (uint8_t i = 1; i < 100; ++i) t.learn(Ipv4(10, 1, 0, i), kMac, 0, uint64_t(i), fx);
  CHECK(t.entries().empty());
  CHECK(fx.changed.empty());
  // An entry the router is resolving is completed by the answer.
  t.resolve(kGw, 0, pkt(1), 200, fx);
  t.learn(kGw, kMac, 0, 201, fx);
  CHECK(t.find(kGw)->state == NeighState::reachable);
  t.resolve(Ipv4(10, 1, 0, 98), 0, pkt(2), 300, fx);
  t.learn(Ipv4(10, 1, 0, 98), *Mac::parse("ff:ff:ff:ff:ff:ff"), 0, 301, fx);
  CHECK(t.find(Ipv4(10, 1, 0, 98))->state == NeighState::incomplete);
}

TEST_CASE("strangers cannot create entries; the table is bounded", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;

  // Scanning a subnet: at most max_entries unresolved neighbours; each newer one takes the
  // place of the oldest, whose packet is dropped.
  for (uint32_t i = 0; i < 20; ++i)
    t.resolve(Ipv4(10, 2, 0, uint8_t(i + 1)), 1, pkt(100 + i), 0, fx);
  CHECK(t.dynamic_count() == 8);
  CHECK(fx.evictions == 12);
  CHECK(fx.evicted.size() == 12);
  CHECK(fx.evicted.front() == pkt(100));
  CHECK(t.queued_packets() == 8);
  CHECK(t.find(Ipv4(10, 2, 0, 20)) != nullptr);
  CHECK(t.find(Ipv4(10, 2, 0, 1)) == nullptr);
}

// Issue 13, defect 2: a scan of 2,500 absent addresses queued 13,315 packets (8 x 4,096
// allowed), exhausting the mbuf pool.
TEST_CASE("a scan is bounded: unresolved entries, queued packets, resolutions per port",
          "[neighbour]") {
  NeighbourTable::Params p = params();
  p.max_entries = 64;
  p.max_unresolved = 6;
  p.queue_total = 10;
  p.resolve_rate = 10;  // per port and second
  p.resolve_burst = 8;
  NeighbourTable t(p);
  NeighbourTable::Effects fx;
  uintptr_t k = 1;
  // 100 addresses, 4 packets each, within a millisecond, on port 1.
  for (uint32_t i = 0; i < 100; ++i)
    for (int j = 0; j < 4; ++j) t.resolve(Ipv4(10, 2, 1, uint8_t(i)), 1, pkt(k++), 0, fx);
  CHECK(fx.requests.size() == 8);        // the port's burst of new resolutions
  CHECK(fx.rate_limited.size() == 368);  // the other 92 addresses: dropped, nothing kept
  CHECK(t.unresolved_count() == 6);      // two of the eight made way for newer ones
  CHECK(fx.evictions == 2);
  CHECK(t.queued_packets() == 10);  // never more than queue_total in all
  CHECK(fx.evicted.size() + fx.queue_full.size() + fx.overflowed.size() + t.queued_packets() +
            fx.rate_limited.size() ==
        400);
  CHECK(fx.queue_full.size() == 22);  // the oldest entries' packets made way for newer ones
  CHECK(fx.evicted.empty());          // so the entries evicted held none any more

  // Another port's budget is its own: a host there still gets resolved.
  NeighbourTable::Effects fx2;
  t.resolve(kGw, 0, pkt(1000), 1, fx2);
  REQUIRE(fx2.requests.size() == 1);
  CHECK(fx2.requests[0].target == kGw);
  // On port 1, a second later, ten more resolutions; the oldest unresolved make way.
  NeighbourTable::Effects fx3;
  for (uint32_t i = 100; i < 150; ++i)
    t.resolve(Ipv4(10, 2, 1, uint8_t(i)), 1, pkt(k++), 1000, fx3);
  CHECK(fx3.requests.size() == 8);  // the burst again (10 tokens, capped at 8)
  CHECK(t.unresolved_count() == 6);
  CHECK(t.queued_packets() <= 10);
}

TEST_CASE("a full table evicts FAILED, then INCOMPLETE, then stale entries, never reachable",
          "[neighbour]") {
  NeighbourTable::Params p = params();
  p.max_entries = 4;
  p.max_unresolved = 4;
  NeighbourTable t(p);
  NeighbourTable::Effects fx;
  const Ipv4 a(10, 1, 0, 10), b(10, 1, 0, 11), c(10, 1, 0, 12), d(10, 1, 0, 13);
  // a: reachable; b: stale (lifetime over, being re-confirmed); c: failed; d: incomplete.
  t.resolve(b, 0, pkt(2), 0, fx);
  t.learn(b, kMac2, 0, 0, fx);
  t.resolve(a, 0, pkt(1), 10000, fx);
  t.learn(a, kMac, 0, 10000, fx);
  t.resolve(c, 0, pkt(3), 27000, fx);
  for (uint64_t ms = 28000; ms <= 30000; ms += 1000) t.tick(ms, fx);  // c fails, b goes stale
  t.resolve(d, 0, pkt(4), 30000, fx);
  REQUIRE(t.find(a)->state == NeighState::reachable);
  REQUIRE(t.find(b)->state == NeighState::probe);
  REQUIRE(t.find(c)->state == NeighState::failed);
  REQUIRE(t.find(d)->state == NeighState::incomplete);

  NeighbourTable::Effects e1, e2, e3, e4;
  t.resolve(Ipv4(10, 1, 0, 20), 0, pkt(5), 30001, e1);
  CHECK(t.find(c) == nullptr);
  t.resolve(Ipv4(10, 1, 0, 21), 0, pkt(6), 30001, e2);
  CHECK(t.find(d) == nullptr);
  CHECK(e2.evicted == std::vector<rte_mbuf*>{pkt(4)});
  // Now two incomplete entries and a: the oldest incomplete goes before b...
  t.resolve(Ipv4(10, 1, 0, 22), 0, pkt(7), 30001, e3);
  CHECK(t.find(Ipv4(10, 1, 0, 20)) == nullptr);
  CHECK(t.find(b) != nullptr);
  t.learn(Ipv4(10, 1, 0, 21), kMac, 0, 30002, e3);
  t.learn(Ipv4(10, 1, 0, 22), kMac, 0, 30002, e3);
  // ...and with no unresolved entry left, the stale one goes, reported so its host route goes.
  t.resolve(Ipv4(10, 1, 0, 23), 0, pkt(8), 30003, e4);
  CHECK(t.find(b) == nullptr);
  CHECK(e4.changed == std::vector<Ipv4>{b});
  // Reachable entries only: nothing can be evicted, the packet is dropped.
  t.learn(Ipv4(10, 1, 0, 23), kMac, 0, 30004, e4);
  NeighbourTable::Effects e5;
  t.resolve(Ipv4(10, 1, 0, 24), 0, pkt(9), 30005, e5);
  CHECK(e5.table_full == std::vector<rte_mbuf*>{pkt(9)});
  CHECK(t.find(a)->state == NeighState::reachable);
  CHECK(t.dynamic_count() == 4);
}

TEST_CASE("static entries never age and win over dynamic ones", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  NeighbourTable::Effects fx2;
  t.add_static(kGw, 0, kMac, fx2);
  REQUIRE(fx2.released.size() == 1);
  CHECK(fx2.released[0].packets == std::vector<rte_mbuf*>{pkt(1)});
  CHECK(t.dynamic_count() == 0);
  NeighbourTable::Effects fx3;
  t.learn(kGw, kMac2, 0, 1, fx3);
  t.tick(10'000'000, fx3);
  CHECK(t.find(kGw)->state == NeighState::permanent);
  CHECK(t.find(kGw)->mac == kMac);
  CHECK(fx3.requests.empty());
  NeighbourTable::Effects fx4;
  CHECK(t.remove(kGw, fx4));
  CHECK(fx4.changed == std::vector<Ipv4>{kGw});
  CHECK_FALSE(t.remove(kGw, fx4));
}

TEST_CASE("removing a port fails what its neighbours held", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  t.resolve(Ipv4(10, 2, 0, 2), 1, pkt(2), 0, fx);
  NeighbourTable::Effects fx2;
  t.remove_port(0, fx2);
  CHECK(fx2.failed == std::vector<rte_mbuf*>{pkt(1)});
  CHECK(t.find(kGw) == nullptr);
  CHECK(t.find(Ipv4(10, 2, 0, 2)) != nullptr);
}

// ---- NDP: the same table over Ipv6, RFC 4861 7.2 and 7.3 ----

namespace {

NeighbourTable6::Params params6() {
  NeighbourTable6::Params p;
  p.reachable_ms = 30000;
  p.retrans_ms = 1000;
  p.probes = 3;
  p.queue_len = 4;
  p.max_entries = 8;
  p.max_unresolved = 8;
  p.queue_total = 64;
  p.failed_ms = 5000;
  p.locktime_ms = 1000;
  p.resolve_rate = 1000;
  p.resolve_burst = 1000;
  p.delay_ms = 5000;
  p.stale_ms = 60000;
  return p;
}

const Ipv6 kGw6 = Ipv6::of(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const Ipv6 kLl6 = Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 2);
Ipv6 host6(uint32_t i) {
  return Ipv6::of(0x2001, 0xdb8, 2, 0, 0, 0, uint16_t(i >> 16), uint16_t(i));
}

// The addresses of changed entries, in order.
std::vector<Ipv6> ips(const std::vector<ScopedIpv6>& keys) {
  std::vector<Ipv6> v;
  v.reserve(keys.size());
  for (const auto& k : keys) v.push_back(k.ip);
  return v;
}

// kGw6 resolved at `at`: solicited NA with kMac, Router flag set.
void reachable6(NeighbourTable6& t, uint64_t at, NeighbourTable6::Effects& fx) {
  t.resolve(kGw6, 0, pkt(1), at, fx);
  t.advert(kGw6, kMac, true, true, true, 0, at, fx);
}

}  // namespace

TEST_CASE("state names, old and new", "[neighbour][ndp]") {
  CHECK(std::string(neigh_state_name(NeighState::incomplete)) == "INCOMPLETE");
  CHECK(std::string(neigh_state_name(NeighState::reachable)) == "REACHABLE");
  CHECK(std::string(neigh_state_name(NeighState::stale)) == "STALE");
  CHECK(std::string(neigh_state_name(NeighState::delay)) == "DELAY");
  CHECK(std::string(neigh_state_name(NeighState::probe)) == "PROBE");
  CHECK(std::string(neigh_state_name(NeighState::failed)) == "FAILED");
  CHECK(std::string(neigh_state_name(NeighState::permanent)) == "PERMANENT");
}

TEST_CASE("NDP: a first packet sends a multicast NS; unanswered, the queue fails",
          "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  t.resolve(kGw6, 0, pkt(1), 0, fx);
  t.resolve(kGw6, 0, pkt(2), 10, fx);
  REQUIRE(fx.requests.size() == 1);
  CHECK(fx.requests[0].target == kGw6);
  CHECK(fx.requests[0].port == 0);
  CHECK_FALSE(fx.requests[0].unicast);  // to the solicited-node group
  const Neighbour6* n = t.find(kGw6, 0);
  REQUIRE(n);
  CHECK(n->state == NeighState::incomplete);
  CHECK(n->used);
  CHECK_FALSE(n->usable());
  CHECK(n->queue.size() == 2);
  // MAX_MULTICAST_SOLICIT (probes) solicitations, RetransTimer apart.
  for (uint64_t ms = 0; ms <= 2999; ms += 100) t.tick(ms, fx);
  CHECK(fx.requests.size() == 3);
  for (const auto& r : fx.requests) CHECK_FALSE(r.unicast);
  CHECK(fx.failed.empty());
  t.tick(3000, fx);
  CHECK(fx.failed == std::vector<rte_mbuf*>{pkt(1), pkt(2)});  // Address Unreachable
  CHECK(t.find(kGw6, 0)->state == NeighState::failed);
  // Reported although never usable: an ECMP member whose gateway never answered leaves its
  // group (control decides what a failure means).
  CHECK(ips(fx.changed) == std::vector<Ipv6>{kGw6});
  CHECK(t.queued_packets() == 0);
  t.tick(3000 + 5000, fx);
  CHECK(t.find(kGw6, 0) == nullptr);
  CHECK(t.dynamic_count() == 0);
}

TEST_CASE("NDP: a solicited NA completes resolution and releases the queue in order",
          "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  for (uintptr_t i = 1; i <= 3; ++i) t.resolve(kGw6, 0, pkt(i), 0, fx);
  NeighbourTable6::Effects fx2;
  t.advert(kGw6, kMac, true, false, true, 0, 400, fx2);
  REQUIRE(fx2.released.size() == 1);
  CHECK(fx2.released[0].key.ip == kGw6);
  CHECK(fx2.released[0].packets == std::vector<rte_mbuf*>{pkt(1), pkt(2), pkt(3)});
  CHECK(ips(fx2.changed) == std::vector<Ipv6>{kGw6});
  const Neighbour6* n = t.find(kGw6, 0);
  CHECK(n->state == NeighState::reachable);
  CHECK(n->mac == kMac);
  CHECK(n->router);
  CHECK(t.queued_packets() == 0);
  CHECK(t.unresolved_count() == 0);
}

TEST_CASE("NDP: REACHABLE, STALE, DELAY, PROBE and back, for a used entry", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  reachable6(t, 0, fx);
  NeighbourTable6::Effects fx2;
  t.tick(29999, fx2);
  CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
  t.tick(30000, fx2);  // ReachableTime since the confirmation
  CHECK(t.find(kGw6, 0)->state == NeighState::stale);
  CHECK(fx2.requests.empty());
  // The workers forward through its next hop without telling the table: a used STALE entry
  // goes DELAY at the next tick.
  t.tick(31000, fx2);
  CHECK(t.find(kGw6, 0)->state == NeighState::delay);
  CHECK(fx2.requests.empty());
  t.tick(35999, fx2);
  CHECK(t.find(kGw6, 0)->state == NeighState::delay);
  t.tick(36000, fx2);  // delay_ms later, no confirmation: PROBE, a unicast NS
  CHECK(t.find(kGw6, 0)->state == NeighState::probe);
  REQUIRE(fx2.requests.size() == 1);
  CHECK(fx2.requests[0].target == kGw6);
  CHECK(fx2.requests[0].unicast == kMac);
  CHECK(t.find(kGw6, 0)->usable());  // forwarding goes on meanwhile
  CHECK(fx2.changed.empty());        // STALE, DELAY, PROBE: all usable, same MAC

  SECTION("a solicited NA (no TLLA needed) makes it REACHABLE again") {
    NeighbourTable6::Effects fx3;
    t.advert(kGw6, std::nullopt, true, false, true, 0, 36100, fx3);
    CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
    CHECK(fx3.changed.empty());
    t.tick(36100 + 29999, fx3);
    CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
    t.tick(36100 + 30000, fx3);
    CHECK(t.find(kGw6, 0)->state == NeighState::stale);
    CHECK(fx3.requests.empty());
  }
  SECTION("a confirmation in DELAY saves the probe") {
    NeighbourTable6 u(params6());
    NeighbourTable6::Effects fy;
    reachable6(u, 0, fy);
    u.tick(30000, fy);
    u.tick(31000, fy);
    REQUIRE(u.find(kGw6, 0)->state == NeighState::delay);
    NeighbourTable6::Effects fy2;
    u.advert(kGw6, kMac, true, false, true, 0, 32000, fy2);
    CHECK(u.find(kGw6, 0)->state == NeighState::reachable);
    u.tick(36000, fy2);
    CHECK(fy2.requests.empty());
  }
  SECTION("silence: FAILED after the probes, reported; the next packet asks afresh") {
    NeighbourTable6::Effects fx3;
    for (uint64_t ms = 36250; ms <= 38999; ms += 250) t.tick(ms, fx3);
    CHECK(fx3.requests.size() == 2);  // 37000 and 38000: MAX_UNICAST_SOLICIT (3) in all
    for (const auto& r : fx3.requests) CHECK(r.unicast == kMac);
    CHECK(t.find(kGw6, 0)->state == NeighState::probe);
    CHECK(fx3.changed.empty());
    t.tick(39000, fx3);
    CHECK(t.find(kGw6, 0)->state == NeighState::failed);
    CHECK_FALSE(t.find(kGw6, 0)->usable());
    CHECK(ips(fx3.changed) == std::vector<Ipv6>{kGw6});  // the caller withdraws the next hop
    // A new packet starts a new resolution, multicast; unanswered, it fails the packet
    // (the caller answers Address Unreachable).
    NeighbourTable6::Effects fx4;
    t.resolve(kGw6, 0, pkt(7), 39000, fx4);
    REQUIRE(fx4.requests.size() == 1);
    CHECK_FALSE(fx4.requests[0].unicast);
    CHECK(t.find(kGw6, 0)->state == NeighState::incomplete);
    for (uint64_t ms = 40000; ms <= 42000; ms += 1000) t.tick(ms, fx4);
    CHECK(fx4.requests.size() == 3);
    CHECK(fx4.failed == std::vector<rte_mbuf*>{pkt(7)});
    CHECK(ips(fx4.changed) == std::vector<Ipv6>{kGw6});  // failed again
  }
  SECTION("a FAILED entry is forgotten after failed_ms") {
    NeighbourTable6::Effects fx3;
    for (uint64_t ms = 37000; ms <= 39000; ms += 1000) t.tick(ms, fx3);
    REQUIRE(t.find(kGw6, 0)->state == NeighState::failed);
    t.tick(39000 + 4999, fx3);
    CHECK(t.find(kGw6, 0) != nullptr);
    t.tick(39000 + 5000, fx3);
    CHECK(t.find(kGw6, 0) == nullptr);
    CHECK(t.dynamic_count() == 0);
    CHECK(t.unresolved_count() == 0);
  }
}

TEST_CASE("NDP: a packet to a STALE entry goes out at once and starts DELAY", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  t.solicit_from(kLl6, kMac, 0, 0, fx);  // a neighbour's NS: STALE, unused
  REQUIRE(t.find(kLl6, 0)->state == NeighState::stale);
  CHECK_FALSE(t.find(kLl6, 0)->used);
  NeighbourTable6::Effects fx2;
  t.resolve(kLl6, 0, pkt(1), 100, fx2);
  REQUIRE(fx2.released.size() == 1);
  CHECK(fx2.released[0].packets == std::vector<rte_mbuf*>{pkt(1)});
  CHECK(fx2.requests.empty());
  CHECK(t.find(kLl6, 0)->state == NeighState::delay);
  CHECK(t.find(kLl6, 0)->used);
  CHECK(t.unused_count() == 0);
  t.tick(5099, fx2);
  CHECK(t.find(kLl6, 0)->state == NeighState::delay);
  t.tick(5100, fx2);
  CHECK(t.find(kLl6, 0)->state == NeighState::probe);
  REQUIRE(fx2.requests.size() == 1);
  CHECK(fx2.requests[0].unicast == kMac);
  // Packets to DELAY and PROBE entries go out at once too.
  NeighbourTable6::Effects fx3;
  t.resolve(kLl6, 0, pkt(2), 5200, fx3);
  CHECK(fx3.released.size() == 1);
  CHECK(t.find(kLl6, 0)->state == NeighState::probe);
}

TEST_CASE("NDP: used and unused STALE entries", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  const Ipv6 x = host6(1);
  t.solicit_from(x, kMac2, 0, 0, fx);  // learnt from its NS; nothing sends to it
  reachable6(t, 0, fx);                // kGw6: a next hop
  CHECK(ips(fx.changed) == std::vector<Ipv6>{x, kGw6});
  CHECK(t.unused_count() == 1);
  NeighbourTable6::Effects fx2;
  for (uint64_t ms = 0; ms < 60000; ms += 1000) t.tick(ms, fx2);
  // kGw6 went STALE at 30 s and is being re-confirmed; x was never asked for.
  for (const auto& r : fx2.requests) CHECK(r.target == kGw6);
  CHECK(fx2.requests.size() == 3);
  CHECK(t.find(x, 0)->state == NeighState::stale);
  CHECK(ips(fx2.changed) == std::vector<Ipv6>{kGw6});  // kGw6's probes failed at 39 s
  NeighbourTable6::Effects fx3;
  t.tick(59999, fx3);
  CHECK(t.find(x, 0) != nullptr);
  t.tick(60000, fx3);  // stale_ms without use: forgotten, and its next hop withdrawn
  CHECK(t.find(x, 0) == nullptr);
  CHECK(ips(fx3.changed) == std::vector<Ipv6>{x});
  CHECK(fx3.requests.empty());
  CHECK(t.unused_count() == 0);

  SECTION("use() makes an unused STALE entry a next hop: DELAY at the next tick") {
    NeighbourTable6 u(params6());
    NeighbourTable6::Effects fy;
    u.solicit_from(x, kMac2, 0, 0, fy);
    u.tick(100, fy);
    CHECK(u.find(x, 0)->state == NeighState::stale);
    CHECK(u.use(x, 0));
    CHECK_FALSE(u.use(kGw6, 0));
    CHECK(u.unused_count() == 0);
    u.tick(101, fy);
    CHECK(u.find(x, 0)->state == NeighState::delay);
    u.tick(5101, fy);
    CHECK(u.find(x, 0)->state == NeighState::probe);
    REQUIRE(fy.requests.size() == 1);
    CHECK(fy.requests[0].unicast == kMac2);
  }
}

// RFC 4861 7.2.5 (and appendix C): what an NA does to an entry that is not INCOMPLETE,
// for each state that applies, every flag combination and TLLA (none, same, different).
TEST_CASE("NDP: RFC 4861 7.2.5, row by row", "[neighbour][ndp]") {
  enum Tlla { none, same, different };
  enum Outcome {
    stale_if_reachable,  // I.a: REACHABLE becomes STALE, nothing else changes; I.b otherwise
    reachable,           // II: solicited
    stale,               // II: unsolicited, new address
    kept,                // II: unsolicited, same or no address: state unchanged (R flag recorded)
  };
  struct Row {
    bool s, o;
    Tlla tlla;
    Outcome out;
    bool mac_updated;
  };
  const Row rows[] = {
      {false, false, none, kept, false},
      {false, false, same, kept, false},
      {false, false, different, stale_if_reachable, false},
      {false, true, none, kept, false},
      {false, true, same, kept, false},
      {false, true, different, stale, true},
      {true, false, none, reachable, false},
      {true, false, same, reachable, false},
      {true, false, different, stale_if_reachable, false},
      {true, true, none, reachable, false},
      {true, true, same, reachable, false},
      {true, true, different, reachable, true},
  };
  const NeighState starts[] = {NeighState::reachable, NeighState::stale, NeighState::delay,
                               NeighState::probe};
  for (NeighState start : starts) {
    for (const Row& r : rows) {
      CAPTURE(neigh_state_name(start), r.s, r.o, int(r.tlla));
      NeighbourTable6 t(params6());
      NeighbourTable6::Effects fx;
      reachable6(t, 0, fx);  // Router flag set
      uint64_t now = 0;
      if (start != NeighState::reachable) now = 30000;  // STALE
      if (start == NeighState::delay || start == NeighState::probe) now = 31000;
      if (start == NeighState::probe) now = 36000;
      for (uint64_t ms = 30000; ms <= now; ms += 1000) t.tick(ms, fx);
      REQUIRE(t.find(kGw6, 0)->state == start);
      now += 500;                                      // before any further timer...
      if (start == NeighState::reachable) now = 2000;  // ...and past the locktime
      std::optional<Mac> tlla;
      if (r.tlla == same) tlla = kMac;
      if (r.tlla == different) tlla = kMac2;
      NeighbourTable6::Effects e;
      t.advert(kGw6, tlla, r.s, r.o, false, 0, now, e);
      const Neighbour6* n = t.find(kGw6, 0);
      NeighState want = start;
      switch (r.out) {
        case kept:
          break;
        case stale_if_reachable:
          if (start == NeighState::reachable) want = NeighState::stale;
          break;
        case reachable:
          want = NeighState::reachable;
          break;
        case stale:
          want = NeighState::stale;
          break;
      }
      CHECK(n->state == want);
      CHECK(n->mac == (r.mac_updated ? kMac2 : kMac));
      // The IsRouter flag is set from the NA whenever case II applies; never in case I.
      CHECK(n->router == (r.out == stale_if_reachable));
      CHECK(e.changed.size() == (r.mac_updated ? 1u : 0u));
      CHECK(e.mac_locked == 0);
      CHECK(e.requests.empty());
    }
  }
}

TEST_CASE("NDP: an NA for an INCOMPLETE entry", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  t.resolve(kGw6, 0, pkt(1), 0, fx);
  t.resolve(kGw6, 0, pkt(2), 0, fx);

  SECTION("without a TLLA it is discarded, whatever the flags") {
    NeighbourTable6::Effects e;
    for (int f = 0; f < 8; ++f)
      t.advert(kGw6, std::nullopt, (f & 1) != 0, (f & 2) != 0, (f & 4) != 0, 0, 10, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::incomplete);
    CHECK(t.find(kGw6, 0)->queue.size() == 2);
    CHECK(e.changed.empty());
    CHECK(e.released.empty());
  }
  SECTION("solicited: REACHABLE, queue sent") {
    NeighbourTable6::Effects e;
    t.advert(kGw6, kMac, true, false, false, 0, 10, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
    CHECK(t.find(kGw6, 0)->mac == kMac);
    CHECK_FALSE(t.find(kGw6, 0)->router);
    REQUIRE(e.released.size() == 1);
    CHECK(e.released[0].packets == std::vector<rte_mbuf*>{pkt(1), pkt(2)});
    CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});
  }
  SECTION("unsolicited: STALE, queue sent; used, so DELAY at the next tick") {
    NeighbourTable6::Effects e;
    t.advert(kGw6, kMac, false, true, true, 0, 10, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::stale);
    CHECK(t.find(kGw6, 0)->router);
    REQUIRE(e.released.size() == 1);
    CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});
    t.tick(11, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::delay);
  }
  SECTION("a FAILED entry is treated like an INCOMPLETE one") {
    NeighbourTable6::Effects e;
    for (uint64_t ms = 1000; ms <= 3000; ms += 1000) t.tick(ms, e);
    REQUIRE(t.find(kGw6, 0)->state == NeighState::failed);
    CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});  // the failure
    e.changed.clear();
    t.advert(kGw6, std::nullopt, true, true, false, 0, 3100, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::failed);
    t.advert(kGw6, kMac, true, false, false, 0, 3200, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
    CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});
  }
}

// As for ARP (issue 13, defects 3 and 8): NAs nobody asked for create nothing, and a
// flood of overriding NAs flips a MAC at most once per locktime.
TEST_CASE("NDP: NAs never create entries; overrides respect the locktime", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  for (uint32_t i = 0; i < 100; ++i) t.advert(host6(i), kMac, true, true, true, 0, i, fx);
  CHECK(t.entries().empty());
  CHECK(fx.changed.empty());

  reachable6(t, 1000, fx);
  NeighbourTable6::Effects e;
  for (uint64_t ms = 1000; ms < 2000; ms += 10) t.advert(kGw6, kMac2, true, true, false, 0, ms, e);
  t.advert(kGw6, kMac, true, true, false, 1, 1500, e);  // nor another port
  CHECK(t.find(kGw6, 0)->mac == kMac);
  CHECK(t.find(kGw6, 0)->port == 0);
  CHECK(e.mac_locked == 101);
  CHECK(e.changed.empty());
  t.advert(kGw6, kMac2, false, true, false, 0, 2000, e);  // past it: override, unsolicited
  CHECK(t.find(kGw6, 0)->mac == kMac2);
  CHECK(t.find(kGw6, 0)->state == NeighState::stale);
  CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});
  // An NA without TLLA from another port confirms nothing.
  t.advert(kGw6, std::nullopt, true, false, false, 1, 2100, e);
  CHECK(t.find(kGw6, 0)->state == NeighState::stale);
}

TEST_CASE("NDP: a solicitation's source link-layer address (7.2.3)", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;

  SECTION("no entry: a STALE, unused one, reported") {
    t.solicit_from(kLl6, kMac, 2, 0, fx);
    const Neighbour6* n = t.find(kLl6, 2);
    REQUIRE(n);
    CHECK(n->state == NeighState::stale);
    CHECK(n->mac == kMac);
    CHECK(n->port == 2);
    CHECK_FALSE(n->used);
    CHECK_FALSE(n->router);
    CHECK(ips(fx.changed) == std::vector<Ipv6>{kLl6});
    CHECK(fx.requests.empty());
    CHECK(t.dynamic_count() == 1);
    CHECK(t.unresolved_count() == 0);
    // The same address again: nothing changes, no timer restarts.
    NeighbourTable6::Effects e;
    t.solicit_from(kLl6, kMac, 2, 30000, e);
    CHECK(e.changed.empty());
    t.tick(60000, e);
    CHECK(t.find(kLl6, 2) == nullptr);
  }
  SECTION("a different address: replaced, STALE, except within the locktime") {
    reachable6(t, 0, fx);
    NeighbourTable6::Effects e;
    t.solicit_from(kGw6, kMac2, 0, 500, e);
    CHECK(e.mac_locked == 1);
    CHECK(t.find(kGw6, 0)->mac == kMac);
    CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
    t.solicit_from(kGw6, kMac2, 0, 1000, e);
    CHECK(t.find(kGw6, 0)->mac == kMac2);
    CHECK(t.find(kGw6, 0)->state == NeighState::stale);
    CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});
    // Still used (resolve() created it): re-confirmed from the next tick.
    t.tick(1001, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::delay);
    // The same address in any usable state changes nothing (7.2.3).
    NeighbourTable6::Effects e2;
    t.solicit_from(kGw6, kMac2, 0, 2000, e2);
    CHECK(t.find(kGw6, 0)->state == NeighState::delay);
    CHECK(e2.changed.empty());
  }
  SECTION("INCOMPLETE: STALE with the address, the queue sent") {
    t.resolve(kGw6, 0, pkt(1), 0, fx);
    t.resolve(kGw6, 0, pkt(2), 0, fx);
    NeighbourTable6::Effects e;
    t.solicit_from(kGw6, kMac, 0, 100, e);
    CHECK(t.find(kGw6, 0)->state == NeighState::stale);
    REQUIRE(e.released.size() == 1);
    CHECK(e.released[0].packets == std::vector<rte_mbuf*>{pkt(1), pkt(2)});
    CHECK(ips(e.changed) == std::vector<Ipv6>{kGw6});
    CHECK(t.unresolved_count() == 0);
    CHECK(t.queued_packets() == 0);
  }
  SECTION("multicast or zero addresses are ignored") {
    t.solicit_from(kLl6, *Mac::parse("33:33:00:00:00:01"), 0, 0, fx);
    t.solicit_from(kLl6, Mac{}, 0, 0, fx);
    CHECK(t.entries().empty());
  }
}

TEST_CASE("NDP: static entries are PERMANENT and NDP messages leave them alone",
          "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  t.resolve(kGw6, 0, pkt(1), 0, fx);
  NeighbourTable6::Effects fx2;
  t.add_static(kGw6, 0, kMac, fx2);
  REQUIRE(fx2.released.size() == 1);
  CHECK(t.dynamic_count() == 0);
  NeighbourTable6::Effects fx3;
  t.advert(kGw6, kMac2, true, true, true, 0, 10000, fx3);
  t.advert(kGw6, kMac2, false, false, true, 0, 10000, fx3);
  t.solicit_from(kGw6, kMac2, 1, 10000, fx3);
  t.tick(10'000'000, fx3);
  const Neighbour6* n = t.find(kGw6, 0);
  CHECK(n->state == NeighState::permanent);
  CHECK(n->mac == kMac);
  CHECK(n->port == 0);
  CHECK(fx3.changed.empty());
  CHECK(fx3.requests.empty());
  NeighbourTable6::Effects fx4;
  t.resolve(kGw6, 0, pkt(2), 10'000'001, fx4);
  CHECK(fx4.released.size() == 1);
  CHECK(t.find(kGw6, 0)->state == NeighState::permanent);
}

// An NS flood from distinct addresses (the ARP request flood of issue 13, defect 3, in
// IPv6): the table stays at max_entries and the flood displaces only its own entries.
TEST_CASE("NDP: a flood of NS from distinct addresses stays within the bounds",
          "[neighbour][ndp]") {
  NeighbourTable6::Params p = params6();
  p.max_entries = 8;
  p.max_unresolved = 4;
  p.queue_len = 4;
  p.queue_total = 10;
  p.resolve_rate = 100;
  p.resolve_burst = 8;
  NeighbourTable6 t(p);
  NeighbourTable6::Effects fx;
  reachable6(t, 0, fx);                                                 // a REACHABLE next hop
  for (uintptr_t i = 2; i < 9; ++i) t.resolve(kLl6, 0, pkt(i), 0, fx);  // INCOMPLETE, queue full
  const Ipv6 used = Ipv6::of(0x2001, 0xdb8, 1, 0, 0, 0, 0, 3);
  t.solicit_from(used, kMac2, 0, 0, fx);  // STALE, then used: a next hop
  t.resolve(used, 0, pkt(9), 0, fx);
  REQUIRE(t.find(used, 0)->state == NeighState::delay);
  REQUIRE(t.queued_packets() == 4);

  NeighbourTable6::Effects e;
  for (uint32_t i = 0; i < 10000; ++i) {
    t.solicit_from(host6(i), kMac, 1, 1 + i / 10, e);
    REQUIRE(t.dynamic_count() <= p.max_entries);
  }
  CHECK(t.dynamic_count() == p.max_entries);  // full, and never more
  CHECK(t.unused_count() == 5);               // the flood's own entries, the newest five
  CHECK(t.find(host6(9999), 0) != nullptr);
  CHECK(t.find(host6(9994), 0) == nullptr);
  CHECK(e.evictions == 10000 - 5);  // each newer sender took an older one's place
  CHECK(e.not_learnt == 0);
  // Nothing the router resolves or uses made way for a stranger.
  CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
  CHECK(t.find(used, 0)->state == NeighState::delay);
  CHECK(t.find(kLl6, 0)->state == NeighState::incomplete);
  CHECK(t.find(kLl6, 0)->queue.size() == 4);
  CHECK(e.evicted.empty());
  CHECK(e.requests.empty());  // and it cost the link nothing

  // The flood goes on, now with a scan of absent addresses through port 1 and the timers
  // running: every bound holds at every step, every packet is accounted for.
  NeighbourTable6::Effects e2;
  uintptr_t k = 100;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint64_t now = 1001 + i;
    t.solicit_from(host6(20000 + i), kMac, 1, now, e2);
    if (i % 5 == 0) t.resolve(host6(1'000'000 + i), 1, pkt(k++), now, e2);  // 200/s
    if (i % 100 == 0) t.tick(now, e2);
    REQUIRE(t.dynamic_count() <= p.max_entries);
    REQUIRE(t.unresolved_count() <= p.max_unresolved);
    REQUIRE(t.queued_packets() <= p.queue_total);
    for (const auto& [ip, n] : t.entries()) REQUIRE(n.queue.size() <= p.queue_len);
  }
  CHECK(t.dynamic_count() == p.max_entries);
  CHECK(t.find(kGw6, 0)->state == NeighState::reachable);
  size_t released = 0;
  for (const auto& r : e2.released) released += r.packets.size();
  CHECK(released == 0);  // nobody answered
  // The scan's 2,000 packets and the 4 kLl6 held.
  CHECK(e2.rate_limited.size() + e2.table_full.size() + e2.evicted.size() + e2.queue_full.size() +
            e2.overflowed.size() + e2.failed.size() + t.queued_packets() ==
        2000 + 4);
  CHECK(e2.rate_limited.size() >= 2000 - 8 - 1000);  // the port's budget: 100 a second
}

TEST_CASE("NDP: a full table evicts FAILED, unused STALE, INCOMPLETE, then stale entries",
          "[neighbour][ndp]") {
  NeighbourTable6::Params p = params6();
  p.max_entries = 5;
  p.max_unresolved = 5;
  NeighbourTable6 t(p);
  NeighbourTable6::Effects fx;
  const Ipv6 a = host6(10), b = host6(11), c = host6(12), d = host6(13), u = host6(14);
  // a: REACHABLE; b: used, gone stale (DELAY); c: FAILED; d: INCOMPLETE; u: unused STALE.
  t.resolve(b, 0, pkt(2), 0, fx);
  t.advert(b, kMac2, true, false, false, 0, 0, fx);
  t.resolve(a, 0, pkt(1), 10000, fx);
  t.advert(a, kMac, true, false, false, 0, 10000, fx);
  t.resolve(c, 0, pkt(3), 27000, fx);
  for (uint64_t ms = 28000; ms <= 30001; ms += 1000) t.tick(ms, fx);
  t.tick(30001, fx);
  t.resolve(d, 0, pkt(4), 30001, fx);
  t.solicit_from(u, kMac, 0, 30001, fx);
  REQUIRE(t.find(a, 0)->state == NeighState::reachable);
  REQUIRE(t.find(b, 0)->state == NeighState::delay);
  REQUIRE(t.find(c, 0)->state == NeighState::failed);
  REQUIRE(t.find(d, 0)->state == NeighState::incomplete);
  REQUIRE(t.find(u, 0)->state == NeighState::stale);
  REQUIRE(t.dynamic_count() == 5);

  NeighbourTable6::Effects e1, e2, e3, e4, e5;
  t.resolve(host6(20), 0, pkt(5), 30002, e1);
  CHECK(t.find(c, 0) == nullptr);
  t.resolve(host6(21), 0, pkt(6), 30002, e2);
  CHECK(t.find(u, 0) == nullptr);  // nothing used it
  CHECK(ips(e2.changed) == std::vector<Ipv6>{u});
  t.resolve(host6(22), 0, pkt(7), 30002, e3);
  CHECK(t.find(d, 0) == nullptr);
  CHECK(e3.evicted == std::vector<rte_mbuf*>{pkt(4)});
  CHECK(t.find(b, 0) != nullptr);
  t.advert(host6(20), kMac, true, false, false, 0, 30003, e4);
  t.advert(host6(21), kMac, true, false, false, 0, 30003, e4);
  t.advert(host6(22), kMac, true, false, false, 0, 30003, e4);
  t.resolve(host6(23), 0, pkt(8), 30004, e4);
  CHECK(t.find(b, 0) == nullptr);  // the used stale entry, last
  CHECK(e4.changed.back().ip == b);
  t.advert(host6(23), kMac, true, false, false, 0, 30005, e4);
  // REACHABLE entries only: a new resolution is refused, and so is a stranger's NS.
  t.resolve(host6(24), 0, pkt(9), 30006, e5);
  CHECK(e5.table_full == std::vector<rte_mbuf*>{pkt(9)});
  t.solicit_from(host6(25), kMac, 0, 30006, e5);
  CHECK(e5.not_learnt == 1);
  CHECK(t.find(host6(25), 0) == nullptr);
  CHECK(t.find(a, 0)->state == NeighState::reachable);
  CHECK(t.dynamic_count() == 5);
}

TEST_CASE("NDP: removing a port fails what its neighbours held", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  t.resolve(kGw6, 0, pkt(1), 0, fx);
  t.solicit_from(kLl6, kMac, 1, 0, fx);
  NeighbourTable6::Effects fx2;
  t.remove_port(0, fx2);
  CHECK(fx2.failed == std::vector<rte_mbuf*>{pkt(1)});
  CHECK(t.find(kGw6, 0) == nullptr);
  CHECK(t.find(kLl6, 1) != nullptr);
  NeighbourTable6::Effects fx3;
  CHECK(t.remove(NeighbourTable6::key_of(kLl6, 1), fx3));
  CHECK(ips(fx3.changed) == std::vector<Ipv6>{kLl6});
  CHECK(t.entries().empty());
}

TEST_CASE("NDP: a failed re-confirmation never takes the unresolved entries past their limit",
          "[neighbour][ndp]") {
  NeighbourTable6::Params p = params6();
  p.max_unresolved = 1;
  p.failed_ms = 20000;
  NeighbourTable6 t(p);
  NeighbourTable6::Effects fx;
  reachable6(t, 0, fx);
  t.resolve(kLl6, 0, pkt(2), 30000, fx);  // the one unresolved entry allowed
  for (uint64_t ms = 30000; ms <= 39000; ms += 1000) t.tick(ms, fx);
  // kLl6 failed at 33000; kGw6's probes failed at 39000: deleted (RFC 4861 7.3.3), not FAILED.
  REQUIRE(t.find(kLl6, 0) != nullptr);
  CHECK(t.find(kLl6, 0)->state == NeighState::failed);
  CHECK(t.find(kGw6, 0) == nullptr);
  CHECK(t.unresolved_count() == 1);
  CHECK(fx.changed.back().ip == kGw6);
}

TEST_CASE("NDP: ReachableTime is drawn from 0.5 to 1.5 x the base for each confirmation",
          "[neighbour][ndp]") {
  NeighbourTable6::Params p = params6();
  p.max_entries = 512;
  p.max_unresolved = 512;
  p.queue_total = 1024;
  p.randomize_reachable = true;
  NeighbourTable6 t(p);
  uint64_t lo = UINT64_MAX, hi = 0, below = 0, above = 0;
  const uint64_t at = 1000;
  for (uint32_t i = 1; i <= 400; ++i) {
    NeighbourTable6::Effects fx;
    t.resolve(host6(i), 0, pkt(i), at, fx);
    t.advert(host6(i), kMac, true, true, false, 0, at, fx);  // solicited, override
    const Neighbour6* n = t.find(host6(i), 0);
    REQUIRE(n->state == NeighState::reachable);
    const uint64_t period = n->next_ms - at;
    lo = std::min(lo, period);
    hi = std::max(hi, period);
    below += period < p.reachable_ms;
    above += period > p.reachable_ms;
  }
  INFO("periods " << lo << " .. " << hi << " ms; " << below << " below the base, " << above
                  << " above");
  CHECK(lo >= p.reachable_ms / 2);
  CHECK(hi <= p.reachable_ms * 3 / 2);
  // Spread over the range, not clustered: 400 draws leave no fifth of it empty by chance.
  CHECK(lo < p.reachable_ms * 7 / 10);
  CHECK(hi > p.reachable_ms * 13 / 10);
  CHECK(below > 150);
  CHECK(above > 150);
}

TEST_CASE("NDP: a link-local address is one neighbour per port (RFC 4007 zones)",
          "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  t.resolve(kLl6, 0, pkt(1), 0, fx);
  t.resolve(kLl6, 1, pkt(2), 0, fx);
  REQUIRE(fx.requests.size() == 2);  // one NS on each link
  CHECK(fx.requests[0].port == 0);
  CHECK(fx.requests[1].port == 1);
  CHECK(t.entries().size() == 2);
  CHECK(t.dynamic_count() == 2);
  REQUIRE(t.find(kLl6, 0));
  REQUIRE(t.find(kLl6, 1));
  CHECK(t.find(kLl6, 0) != t.find(kLl6, 1));
  CHECK(t.find(kLl6, 2) == nullptr);

  // The NA on port 0 completes port 0's entry and releases its packet only.
  NeighbourTable6::Effects e;
  t.advert(kLl6, kMac, true, true, true, 0, 100, e);
  REQUIRE(e.released.size() == 1);
  CHECK(e.released[0].key == NeighbourTable6::key_of(kLl6, 0));
  CHECK(e.released[0].packets == std::vector<rte_mbuf*>{pkt(1)});
  CHECK(e.changed == std::vector<ScopedIpv6>{{kLl6, 0}});
  CHECK(t.find(kLl6, 0)->state == NeighState::reachable);
  CHECK(t.find(kLl6, 0)->mac == kMac);
  CHECK(t.find(kLl6, 1)->state == NeighState::incomplete);
  CHECK(t.find(kLl6, 1)->queue.size() == 1);

  // Port 1's neighbour has another MAC: its own NA, no locktime (a different neighbour),
  // and port 0's entry keeps its MAC.
  NeighbourTable6::Effects e2;
  t.advert(kLl6, kMac2, true, true, false, 1, 200, e2);
  CHECK(e2.mac_locked == 0);
  CHECK(e2.changed == std::vector<ScopedIpv6>{{kLl6, 1}});
  CHECK(t.find(kLl6, 1)->mac == kMac2);
  CHECK(t.find(kLl6, 1)->port == 1);
  CHECK(t.find(kLl6, 0)->mac == kMac);
  CHECK(t.find(kLl6, 0)->port == 0);
  CHECK(t.find(kLl6, 0)->router);
  CHECK_FALSE(t.find(kLl6, 1)->router);

  // An NA on a port without an entry creates nothing; an NS there creates that port's.
  NeighbourTable6::Effects e3;
  t.advert(kLl6, kMac, true, true, false, 2, 300, e3);
  CHECK(t.find(kLl6, 2) == nullptr);
  t.solicit_from(kLl6, kMac, 2, 300, e3);
  REQUIRE(t.find(kLl6, 2));
  CHECK(t.find(kLl6, 2)->state == NeighState::stale);
  CHECK(t.entries().size() == 3);
  // An unsolicited override NA on port 1, after the locktime: port 1's entry only.
  const Mac kMac3 = *Mac::parse("02:00:00:00:00:33");
  t.advert(kLl6, kMac3, false, true, false, 1, 5000, e3);
  CHECK(t.find(kLl6, 1)->mac == kMac3);
  CHECK(t.find(kLl6, 1)->state == NeighState::stale);
  CHECK(t.find(kLl6, 0)->mac == kMac);
  CHECK(t.find(kLl6, 0)->state == NeighState::reachable);
  CHECK(t.find(kLl6, 2)->mac == kMac);

  // A static entry on port 1 replaces port 1's only.
  NeighbourTable6::Effects e4;
  t.add_static(kLl6, 1, kMac2, e4);
  CHECK(t.find(kLl6, 1)->state == NeighState::permanent);
  CHECK(t.find(kLl6, 0)->state == NeighState::reachable);
  CHECK(t.dynamic_count() == 2);

  // Deleting one leaves the others; removing a port removes its own.
  NeighbourTable6::Effects e5;
  CHECK(t.remove(NeighbourTable6::key_of(kLl6, 1), e5));
  CHECK(e5.changed == std::vector<ScopedIpv6>{{kLl6, 1}});
  CHECK_FALSE(t.remove(NeighbourTable6::key_of(kLl6, 1), e5));
  CHECK(t.find(kLl6, 1) == nullptr);
  CHECK(t.find(kLl6, 0)->mac == kMac);
  t.remove_port(2, e5);
  CHECK(t.find(kLl6, 2) == nullptr);
  CHECK(t.find(kLl6, 0) != nullptr);
  CHECK(t.entries().size() == 1);
}

TEST_CASE("NDP: a global address is one neighbour whatever the port", "[neighbour][ndp]") {
  NeighbourTable6 t(params6());
  NeighbourTable6::Effects fx;
  CHECK(NeighbourTable6::key_of(kGw6, 0) == NeighbourTable6::key_of(kGw6, 3));
  CHECK_FALSE(NeighbourTable6::key_of(kLl6, 0) == NeighbourTable6::key_of(kLl6, 3));
  reachable6(t, 0, fx);
  t.resolve(kGw6, 1, pkt(2), 10, fx);  // the known entry: no second one
  CHECK(t.entries().size() == 1);
  CHECK(t.find(kGw6, 1) == t.find(kGw6, 0));
  // After the locktime an override NA from another port moves it, as before.
  NeighbourTable6::Effects e;
  t.advert(kGw6, kMac2, true, true, false, 1, 2000, e);
  CHECK(t.entries().size() == 1);
  CHECK(t.find(kGw6, 0)->port == 1);
  CHECK(t.find(kGw6, 0)->mac == kMac2);
  CHECK(e.changed == std::vector<ScopedIpv6>{NeighbourTable6::key_of(kGw6, 1)});
}
