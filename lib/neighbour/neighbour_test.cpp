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
  t.learn(kGw, kMac, 0, true, 500, fx2);
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

TEST_CASE("failed entries are forgotten after a lifetime", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.resolve(kGw, 0, pkt(1), 0, fx);
  for (uint64_t ms = 0; ms <= 3000; ms += 1000) t.tick(ms, fx);
  REQUIRE(t.find(kGw)->state == NeighState::failed);
  t.tick(3000 + 30000, fx);
  CHECK(t.find(kGw) == nullptr);
  CHECK(t.dynamic_count() == 0);
}

TEST_CASE("aging re-confirms with unicast requests, keeps forwarding meanwhile", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.learn(kGw, kMac, 0, true, 0, fx);
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
    t.learn(kGw, kMac, 0, true, 30100, fx3);
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
  t.learn(kGw, kMac, 0, true, 0, fx);
  NeighbourTable::Effects fx2;
  t.learn(kGw, kMac2, 0, false, 10, fx2);  // gratuitous ARP refreshes an existing entry
  CHECK(fx2.changed == std::vector<Ipv4>{kGw});
  CHECK(t.find(kGw)->mac == kMac2);
}

TEST_CASE("strangers cannot create entries; the table is bounded", "[neighbour]") {
  NeighbourTable t(params());
  NeighbourTable::Effects fx;
  t.learn(Ipv4(10, 1, 0, 99), kMac, 0, false, 0, fx);
  CHECK(t.find(Ipv4(10, 1, 0, 99)) == nullptr);
  t.learn(Ipv4(10, 1, 0, 98), *Mac::parse("ff:ff:ff:ff:ff:ff"), 0, true, 0, fx);
  CHECK(t.find(Ipv4(10, 1, 0, 98)) == nullptr);

  // Scanning a subnet: at most max_entries unresolved neighbours, the rest dropped.
  for (uint32_t i = 0; i < 20; ++i)
    t.resolve(Ipv4(10, 2, 0, uint8_t(i + 1)), 1, pkt(100 + i), 0, fx);
  CHECK(t.dynamic_count() == 8);
  CHECK(fx.table_full.size() == 12);
  CHECK(t.queued_packets() == 8);
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
  t.learn(kGw, kMac2, 0, true, 1, fx3);
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
