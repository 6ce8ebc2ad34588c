#include "neighbour.hpp"

#include <catch2/catch.hpp>

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
  SECTION("silence removes it after the probes") {
    NeighbourTable::Effects fx3;
    for (uint64_t ms = 30000; ms <= 33000; ms += 500) t.tick(ms, fx3);
    CHECK(fx3.requests.size() == 2);
    CHECK(t.find(kGw) == nullptr);
    CHECK(fx3.changed == std::vector<Ipv4>{kGw});
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
