// The publish protocol's invariants, on the publisher alone: nothing replaced is handed to the
// reclaimer before the generation bump, nothing is freed while a reader that could hold it has
// not reported, a failed batch leaves no trace, and the generation is 64 bits wide.
#include "publisher.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "test_eal.hpp"

using namespace routerd;

namespace {

// The states a test's builder makes: what the key maps to, by key.ip (the MTU, so a test can
// change what a slot should hold).
struct Fixture {
  bool eal = (testing::test_eal(), true);  // before anything that needs DPDK memory
  Published pub{1, 16, Fib::Params{1024, 64, SOCKET_ID_ANY}, Fib6::Params{1024, 64, SOCKET_ID_ANY}};
  LcoreStats workers[1];
  std::map<uint32_t, uint16_t> mtu_of;
  std::set<uint32_t> dead;  // gateways whose resolution failed (ECMP liveness)
  Publisher publisher{pub, workers, 1, [this](uint32_t id, const NhKey& k) {
                        auto* s = new NextHopState{};
                        s->id = id;
                        s->kind = dead.count(k.ip) ? NhKind::unresolved : NhKind::forward;
                        s->dead = dead.count(k.ip) != 0;
                        s->port = k.port;
                        s->mtu = mtu_of[k.ip];
                        s->gateway = Ipv4(k.ip);
                        return s;
                      }};
  Fixture() { pub.rcu.register_reader(0); }
  ~Fixture() {
    pub.rcu.offline(0);
    pub.rcu.unregister_reader(0);
  }
  static NhKey key(uint32_t ip) { return NhKey{NhType::adjacency, 0, ip}; }
  static Prefix4 prefix(const char* s) { return *Prefix4::parse(s); }
  // A worker's burst: online, one lookup, the state's contents copied, quiescent, offline.
  NextHopState read(uint32_t dst) {
    pub.rcu.online(0);
    uint64_t nh = 0;
    rte_fib_lookup_bulk(pub.fib.reader(), &dst, &nh, 1);
    const NextHopState* s = pub.nexthops.get(Fib::decode(nh));
    NextHopState copy{};
    if (s) std::memcpy(static_cast<void*>(&copy), s, sizeof copy);
    pub.rcu.quiescent(0);
    pub.rcu.offline(0);
    return copy;
  }
};

}  // namespace

TEST_CASE("replaced objects reach the reclaimer only after the generation bump", "[publish]") {
  Fixture f;
  f.mtu_of[0x0a000002] = 1500;
  const uint32_t id = f.publisher.acquire(Fixture::key(0x0a000002));
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), id);
  f.publisher.commit();
  const uint64_t g0 = f.publisher.generation();
  CHECK(f.read(0x0a090001).mtu == 1500);
  REQUIRE(f.publisher.reclaim_pending() == 0);

  // A worker holds the state (as its route cache would) and stays online without reporting.
  f.pub.rcu.online(0);
  const NextHopState* held = f.pub.nexthops.get(id);
  f.mtu_of[0x0a000002] = 1400;
  f.publisher.refresh_if([](const NhKey&) { return true; });
  // Published at once, but nothing retired yet: the generation has not moved.
  CHECK(f.pub.nexthops.get(id)->mtu == 1400);
  CHECK(f.publisher.generation() == g0);
  CHECK(f.publisher.reclaim_pending() == 0);

  f.publisher.commit();
  CHECK(f.publisher.generation() == g0 + 1);
  CHECK(f.publisher.reclaim_pending() == 1);
  // The reader has not reported: the old state is still intact (not poisoned, not freed).
  f.publisher.poll();
  CHECK(f.publisher.reclaim_pending() == 1);
  CHECK(held->mtu == 1500);
  CHECK(uint8_t(held->kind) != kPoisonByte);

  f.pub.rcu.quiescent(0);
  f.pub.rcu.offline(0);
  f.publisher.poll();
  CHECK(f.publisher.reclaim_pending() == 0);
  CHECK(f.read(0x0a090001).mtu == 1400);
}

TEST_CASE("a batch the FIB cannot hold leaves entries, slots and readers as they were",
          "[publish]") {
  Fixture f;
  f.mtu_of[0x0a000002] = 1500;
  const uint32_t a = f.publisher.acquire(Fixture::key(0x0a000002));
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), a);
  f.publisher.commit();
  const size_t slots = f.publisher.slots_used();
  const uint64_t updates = f.publisher.route_updates();

  // 64 tbl8 groups: /32s in 70 different /24s cannot all be installed.
  const uint32_t b = f.publisher.acquire(Fixture::key(0x0a000003));
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), b);
  for (uint32_t i = 1; i <= 70; ++i)
    f.publisher.set_route(Prefix4{Ipv4(0x0a010001 + (i << 8)), 32}, b);
  CHECK_THROWS_AS(f.publisher.commit(), FibError);

  CHECK(f.publisher.route(Fixture::prefix("10.9.0.0/16")) == a);
  CHECK(f.publisher.route(Fixture::prefix("10.1.2.1/32")) == Fib::kNoRoute);
  CHECK(f.publisher.route_updates() == updates);
  CHECK(f.pub.fib.lookup(0x0a090001) == a);
  CHECK(f.pub.fib.lookup(0x0a010201) == Fib::kNoRoute);
  CHECK(f.read(0x0a090001).gateway == Ipv4(0x0a000002));
  // The slot taken for the failed batch is released (its id reusable after a grace period).
  CHECK(f.publisher.slots_used() == slots);
  f.publisher.poll();
  CHECK(f.publisher.reclaim_pending() == 0);

  // And the table still takes a batch that fits.
  f.publisher.set_route(Fixture::prefix("10.1.1.1/32"),
                        f.publisher.acquire(Fixture::key(0x0a000003)));
  f.publisher.commit();
  CHECK(f.read(0x0a010101).gateway == Ipv4(0x0a000003));
}

TEST_CASE("both FIB copies agree after every commit", "[publish]") {
  Fixture f;
  f.mtu_of[1] = f.mtu_of[2] = 1500;
  // A slot no entry uses is released at commit: each change acquires what it points at.
  auto one = [&] { return f.publisher.acquire(Fixture::key(1)); };
  auto two = [&] { return f.publisher.acquire(Fixture::key(2)); };
  f.publisher.set_route(Fixture::prefix("10.0.0.0/8"), one());
  f.publisher.commit();
  // Back to back: the second commit catches the first up before staging.
  f.publisher.set_route(Fixture::prefix("10.0.0.0/8"), two());
  f.publisher.commit();
  f.publisher.set_route(Fixture::prefix("10.1.0.0/16"), one());
  f.publisher.commit();
  f.publisher.poll();
  for (int copy = 0; copy < 2; ++copy) {
    CHECK(f.read(0x0a020001).gateway == Ipv4(2));
    CHECK(f.read(0x0a010001).gateway == Ipv4(1));
    // One unrelated change flips readers to the other copy.
    f.publisher.set_route(Fixture::prefix("192.0.2.0/24"), copy == 0 ? one() : Fib::kNoRoute);
    f.publisher.commit();
    f.publisher.poll();
  }
}

TEST_CASE("a batch that switched copies is caught up when the control loop is idle", "[publish]") {
  Fixture f;
  f.mtu_of[1] = 1500;
  const uint32_t one = f.publisher.acquire(Fixture::key(1));
  f.publisher.set_route(Fixture::prefix("10.0.0.0/25"), one);
  f.publisher.commit();
  CHECK_FALSE(f.publisher.catch_up_some());  // in place: no copy left behind
  // Deleting the /25 frees its tbl8 group: readers switch copies.
  f.publisher.set_route(Fixture::prefix("10.0.0.0/25"), Fib::kNoRoute);
  f.publisher.commit();
  CHECK(f.publisher.fib_behind() == 1);
  CHECK(f.read(0x0a000001).mtu == 0);  // readers see the batch already
  CHECK(f.publisher.catch_up_some());
  CHECK(f.publisher.fib_behind() == 0);
  CHECK_FALSE(f.publisher.catch_up_some());
  // The copy caught up holds the batch too: the next switch shows it to readers.
  f.publisher.set_route(Fixture::prefix("10.0.0.0/25"), f.publisher.acquire(Fixture::key(1)));
  f.publisher.commit();
  f.publisher.set_route(Fixture::prefix("10.0.0.0/25"), Fib::kNoRoute);
  f.publisher.commit();
  CHECK(f.publisher.fib_behind() == 1);
  f.publisher.set_route(Fixture::prefix("10.1.0.0/16"), f.publisher.acquire(Fixture::key(1)));
  f.publisher.commit();  // its stage() catches the delete up first
  CHECK(f.read(0x0a000001).mtu == 0);
  CHECK(f.read(0x0a010001).mtu == 1500);
}

TEST_CASE("the generation counts past 2^32 and a commit that published nothing keeps it",
          "[publish]") {
  Fixture f;
  f.mtu_of[1] = 1500;
  f.publisher.commit();
  const uint64_t g = f.publisher.generation();
  f.publisher.commit();
  CHECK(f.publisher.generation() == g);  // nothing published: workers keep their caches
  f.pub.generation.value.store((uint64_t(1) << 32) - 1);
  f.publisher.replace_ifs(new IfSnapshot{});
  f.publisher.commit();
  CHECK(f.publisher.generation() == uint64_t(1) << 32);
  CHECK(uint32_t(f.publisher.generation()) == 0);
  f.publisher.set_route(Fixture::prefix("10.0.0.0/8"), f.publisher.acquire(Fixture::key(1)));
  f.publisher.commit();
  CHECK(f.publisher.generation() == (uint64_t(1) << 32) + 1);
}

namespace {
// Buckets per member slot id in a group's published table.
std::map<uint32_t, uint32_t> shares(const Publisher& p, uint32_t group) {
  std::map<uint32_t, uint32_t> n;
  const auto& members = *p.group_members(group);
  for (uint8_t b : p.group_buckets(group)) n[members.at(b).id]++;
  return n;
}
// The member slot id each bucket names.
std::vector<uint32_t> owners(const Publisher& p, uint32_t group) {
  std::vector<uint32_t> v;
  const auto& members = *p.group_members(group);
  for (uint8_t b : p.group_buckets(group)) v.push_back(members.at(b).id);
  return v;
}
}  // namespace

TEST_CASE(
    "ECMP groups: shared by member set, published whole, resilient, released with their "
    "last route",
    "[publish][ecmp]") {
  Fixture f;
  for (uint32_t ip : {2u, 3u, 4u}) f.mtu_of[ip] = 1500;
  const uint32_t a = f.publisher.acquire(Fixture::key(2));
  const uint32_t b = f.publisher.acquire(Fixture::key(3));
  const uint32_t c = f.publisher.acquire(Fixture::key(4));
  const uint32_t g = f.publisher.acquire_group({{a, 1}, {b, 1}, {c, 2}}, 4);
  // The same set in another order is the same group.
  CHECK(f.publisher.acquire_group({{c, 2}, {a, 1}, {b, 1}}, 4) == g);
  CHECK(f.publisher.acquire_group({{a, 1}, {b, 1}, {c, 1}}, 4) != g);  // other weights
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), g);
  f.publisher.set_route(Fixture::prefix("10.8.0.0/16"), g);
  f.publisher.commit();
  CHECK(f.publisher.groups_used() == 1);  // the 1:1:1 one had no route: released
  CHECK(f.publisher.groups_of(a) == std::vector<uint32_t>{g});

  // Readers find the group in the FIB; its table names the members by weight.
  CHECK(f.read(0x0a090001).kind == NhKind::group);
  const NextHopState* gs = f.pub.nexthops.get(g);
  REQUIRE(gs->group != nullptr);
  const uint32_t nb = gs->group->mask + 1;
  CHECK(nb == f.publisher.group_buckets(g).size());
  auto n = shares(f.publisher, g);
  CHECK(std::abs(double(n[a]) - nb / 4.0) < 1);
  CHECK(std::abs(double(n[b]) - nb / 4.0) < 1);
  CHECK(std::abs(double(n[c]) - nb / 2.0) < 1);
  for (uint32_t h = 0; h < 5000; ++h) {
    const uint32_t id = gs->group->pick(h * 2654435761u);
    CHECK((id == a || id == b || id == c));
  }

  // b's gateway stops answering: only b's buckets move, to a and c by their weights.
  const auto before = owners(f.publisher, g);
  f.dead.insert(3);
  f.publisher.refresh_if([](const NhKey&) { return true; });
  f.publisher.commit();
  CHECK(f.publisher.member_downs() == 1);
  const auto after = owners(f.publisher, g);
  REQUIRE(after.size() == before.size());
  size_t moved = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i] != b);
    if (before[i] != b) CHECK(after[i] == before[i]);
    moved += after[i] != before[i];
  }
  CHECK(moved == n[b]);
  CHECK(f.pub.nexthops.get(g)->group->alive == 2);
  n = shares(f.publisher, g);
  CHECK(std::abs(double(n[a]) - nb / 3.0) < 1);

  // It answers again: it takes back its share, and only that many buckets move.
  f.dead.erase(3);
  f.publisher.refresh_if([](const NhKey&) { return true; });
  f.publisher.commit();
  CHECK(f.publisher.member_ups() == 1);
  const auto back = owners(f.publisher, g);
  size_t moved_back = 0;
  for (size_t i = 0; i < back.size(); ++i) moved_back += back[i] != after[i];
  n = shares(f.publisher, g);
  CHECK(moved_back == n[b]);
  CHECK(std::abs(double(n[b]) - nb / 4.0) < 1);

  // A route whose set loses c, seeded from the group it had: only c's buckets move.
  const auto full = owners(f.publisher, g);
  const uint32_t g2 = f.publisher.acquire_group({{a, 1}, {b, 1}}, 4, g);
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), g2);
  f.publisher.commit();
  const auto two = owners(f.publisher, g2);
  REQUIRE(two.size() == full.size());  // not shrunk: halving would move flows
  for (size_t i = 0; i < two.size(); ++i)
    if (full[i] != c) CHECK(two[i] == full[i]);

  // Every member dead: they all keep buckets, so traffic still asks for resolution.
  f.dead = {2, 3};
  f.publisher.refresh_if([](const NhKey&) { return true; });
  f.publisher.commit();
  CHECK(f.pub.nexthops.get(g2)->group->alive == 0);
  CHECK(shares(f.publisher, g2).size() == 2);

  // The last routes go: the groups and then their members are released.
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), Fib::kNoRoute);
  f.publisher.set_route(Fixture::prefix("10.8.0.0/16"), Fib::kNoRoute);
  f.publisher.commit();
  CHECK(f.publisher.groups_used() == 0);
  CHECK(f.publisher.slots_used() == 0);
  CHECK(f.publisher.group_members(g) == nullptr);
}

TEST_CASE("ECMP groups: a route whose new set another route's group already has keeps its flows",
          "[publish][ecmp]") {
  Fixture f;
  for (uint32_t ip : {2u, 3u, 4u}) f.mtu_of[ip] = 1500;
  const uint32_t a = f.publisher.acquire(Fixture::key(2));
  const uint32_t b = f.publisher.acquire(Fixture::key(3));
  const uint32_t c = f.publisher.acquire(Fixture::key(4));
  const Prefix4 p = Fixture::prefix("10.9.0.0/16"), q = Fixture::prefix("10.8.0.0/16");
  // q's {a, b} was filled fresh; p's {a, b, c} is 1:1:1, so about a third of p's buckets of
  // a and b sit where q's group has the other one.
  const uint32_t two = f.publisher.acquire_group({{a, 1}, {b, 1}}, 4);
  f.publisher.set_route(q, two);
  const uint32_t three = f.publisher.acquire_group({{a, 1}, {b, 1}, {c, 1}}, 4);
  f.publisher.set_route(p, three);
  f.publisher.commit();
  const auto before = owners(f.publisher, three);
  const auto other = owners(f.publisher, two);
  // (Tables of different sizes: a flow in p's bucket i is in q's bucket i % q's size.)
  size_t differ = 0;
  for (size_t i = 0; i < before.size(); ++i)
    differ += before[i] != c && before[i] != other[i % other.size()];
  REQUIRE(differ > 0);  // else this test shows nothing

  // c leaves p: p must not take q's group, which would move `differ` flows of a and b.
  const uint32_t g = f.publisher.acquire_group({{a, 1}, {b, 1}}, 4, three);
  f.publisher.set_route(p, g);
  f.publisher.commit();
  CHECK(g != two);
  const auto after = owners(f.publisher, g);
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i)
    if (before[i] != c) CHECK(after[i] == before[i]);
  CHECK(owners(f.publisher, two) == other);  // q's flows did not move either
  CHECK(f.publisher.groups_used() == 2);     // two groups of one set

  // A new route with that set shares one of them; when one route goes, its group goes
  // and the set's other group stays found.
  const uint32_t r = f.publisher.acquire_group({{a, 1}, {b, 1}}, 4);
  CHECK((r == g || r == two));
  f.publisher.set_route(p, Fib::kNoRoute);
  f.publisher.commit();
  CHECK(f.publisher.groups_used() == 1);
  CHECK(f.publisher.acquire_group({{a, 1}, {b, 1}}, 4) == two);
  // A route moving to a set whose group keeps its flows shares it: q's own set again.
  CHECK(f.publisher.acquire_group({{a, 1}, {b, 1}}, 4, two) == two);
}

TEST_CASE("ECMP groups: a member's packet count starts at zero, also in a reused slot",
          "[publish][ecmp]") {
  Fixture f;
  for (uint32_t ip : {2u, 3u, 4u}) f.mtu_of[ip] = 1500;
  f.workers[0].via_group = std::make_unique<Counter[]>(16);
  const Prefix4 p = Fixture::prefix("10.9.0.0/16");
  const uint32_t a = f.publisher.acquire(Fixture::key(2));
  const uint32_t b = f.publisher.acquire(Fixture::key(3));
  f.publisher.set_route(p, f.publisher.acquire_group({{a, 1}, {b, 1}}, 4));
  f.publisher.commit();
  f.workers[0].via_group[b].add(500);  // what the workers counted for b
  CHECK(f.publisher.via_packets(b) == 500);
  CHECK(f.publisher.via_packets(a) == 0);
  // b leaves; its slot goes back after the grace period and is taken by a new gateway.
  f.publisher.set_route(p, f.publisher.acquire_group({{a, 1}}, 4, f.publisher.route(p)));
  f.publisher.commit();
  f.publisher.reclaim_now();  // a grace period, and b's slot is free
  const uint32_t c = f.publisher.acquire(Fixture::key(4));
  REQUIRE(c == b);  // the same slot, which is the point
  f.publisher.set_route(p, f.publisher.acquire_group({{a, 1}, {c, 1}}, 4, f.publisher.route(p)));
  f.publisher.commit();
  CHECK(f.publisher.via_packets(c) == 0);  // not b's 500
  f.workers[0].via_group[c].add(7);
  CHECK(f.publisher.via_packets(c) == 7);
}

TEST_CASE("ECMP groups: a bad member set is refused and changes nothing", "[publish][ecmp]") {
  Fixture f;
  const uint32_t a = f.publisher.acquire(Fixture::key(2));
  const size_t used = f.publisher.slots_used();
  CHECK_THROWS_AS(f.publisher.acquire_group({}, 4), std::invalid_argument);
  CHECK_THROWS_AS(f.publisher.acquire_group({{a, 1}, {a, 2}}, 4), std::invalid_argument);
  CHECK_THROWS_AS(f.publisher.acquire_group({{a, 0}}, 4), std::invalid_argument);
  CHECK_THROWS_AS(f.publisher.acquire_group({{a, 257}}, 4), std::invalid_argument);
  CHECK_THROWS_AS(f.publisher.acquire_group({{a, 1}, {15, 1}}, 4), std::invalid_argument);
  CHECK_THROWS_AS(f.publisher.acquire(NhKey{NhType::group, 0, 0}), std::invalid_argument);
  CHECK(f.publisher.slots_used() == used);
  CHECK(f.publisher.groups_used() == 0);
  f.publisher.commit();
  CHECK(f.publisher.slots_used() == 0);
}

TEST_CASE(
    "ECMP groups: a route that is its group's only user changes the group in place, not its "
    "FIB entry; rollback restores the set and table",
    "[publish][ecmp]") {
  Fixture f;
  for (uint32_t ip : {2u, 3u, 4u}) f.mtu_of[ip] = 1500;
  const uint32_t a = f.publisher.acquire(Fixture::key(2));
  const uint32_t b = f.publisher.acquire(Fixture::key(3));
  const uint32_t c = f.publisher.acquire(Fixture::key(4));
  const Prefix4 p = Fixture::prefix("10.9.0.0/16");
  const uint32_t g = f.publisher.acquire_group({{a, 1}, {b, 1}, {c, 1}}, 4);
  f.publisher.set_route(p, g);
  f.publisher.commit();
  const auto three = owners(f.publisher, g);
  const NextHopState* old_state = f.pub.nexthops.get(g);
  const uint64_t updates = f.publisher.route_updates();
  const uint64_t gen = f.publisher.generation();

  // New weights: the same slot, a new object, no FIB write, one bump.
  CHECK(f.publisher.acquire_group({{a, 1}, {b, 1}, {c, 2}}, 4, g) == g);
  f.publisher.set_route(p, g);
  f.publisher.commit();
  CHECK(f.publisher.route_updates() == updates);
  CHECK(f.publisher.generation() == gen + 1);
  CHECK(f.pub.nexthops.get(g) != old_state);
  CHECK(f.publisher.group_members(g)->at(2).weight == 2);
  auto n = shares(f.publisher, g);
  const double nb = double(f.publisher.group_buckets(g).size());
  CHECK(std::abs(double(n[c]) - nb / 2) < 1);
  // Only c's surplus moved: a and b each gave up the buckets c gained.
  const auto weighted = owners(f.publisher, g);
  size_t moved = 0;
  for (size_t i = 0; i < weighted.size(); ++i) {
    if (weighted[i] != three[i]) CHECK(weighted[i] == c);
    moved += weighted[i] != three[i];
  }
  CHECK(moved == n[c] - size_t(std::count(three.begin(), three.end(), c)));
  CHECK(f.read(0x0a090001).kind == NhKind::group);

  // A member leaves: still the same slot; the member's reference goes with it.
  CHECK(f.publisher.acquire_group({{a, 1}, {b, 1}}, 4, g) == g);
  f.publisher.set_route(p, g);
  f.publisher.commit();
  CHECK(f.publisher.route_updates() == updates);
  CHECK(f.publisher.groups_of(c).empty());
  CHECK(f.pub.nexthops.get(c) == nullptr);  // unpublished, freed after the grace period
  CHECK(f.publisher.slots_used() == 3);     // a, b and the group: c was released

  // A change that is rolled back leaves the set and every bucket as they were.
  const auto two = owners(f.publisher, g);
  const uint32_t d = f.publisher.acquire(Fixture::key(4));
  CHECK(f.publisher.acquire_group({{a, 1}, {d, 3}}, 4, g) == g);
  CHECK(f.publisher.group_members(g)->size() == 2);
  f.publisher.rollback();
  CHECK(owners(f.publisher, g) == two);
  CHECK(*f.publisher.group_members(g) == std::vector<GroupMember>{{a, 1}, {b, 1}});
  CHECK(f.publisher.groups_of(b) == std::vector<uint32_t>{g});
  CHECK(f.publisher.slots_used() == 3);  // d, taken for the change, was released
  CHECK(f.pub.nexthops.get(g)->group->members == 2);

  // A group two routes share is not changed under the other one: the changed route gets
  // a group of its own.
  const Prefix4 q = Fixture::prefix("10.8.0.0/16");
  f.publisher.set_route(q, g);
  f.publisher.commit();
  const uint32_t g2 = f.publisher.acquire_group({{a, 2}, {b, 1}}, 4, g);
  CHECK(g2 != g);
  f.publisher.set_route(q, g2);
  f.publisher.commit();
  CHECK(*f.publisher.group_members(g) == std::vector<GroupMember>{{a, 1}, {b, 1}});
  CHECK(f.publisher.groups_used() == 2);
  CHECK(f.publisher.route_updates() == updates + 2);
}

TEST_CASE("RFC 5549: an IPv4 adjacency through an IPv6 neighbour is a slot of its own",
          "[publish][rfc5549]") {
  Fixture f;
  const Ipv6 gw = *Ipv6::parse("fe80::2");
  const NhKey v4_over_v6{NhType::adjacency, 1, 0, 0, 4, gw};
  const NhKey v6{NhType::adjacency, 1, 0, 0, 6, gw};
  CHECK(v4_over_v6.ndp());
  CHECK(v6.ndp());
  CHECK_FALSE(Fixture::key(7).ndp());
  // Equal keys hash alike; the families never share a slot (their EtherTypes differ).
  CHECK(NhKeyHash{}(v4_over_v6) == NhKeyHash{}(NhKey{NhType::adjacency, 1, 0, 0, 4, gw}));
  const uint32_t a = f.publisher.acquire(v4_over_v6);
  const uint32_t b = f.publisher.acquire(v6);
  CHECK(a != b);
  CHECK(f.publisher.acquire(NhKey{NhType::adjacency, 1, 0, 0, 4, gw}) == a);
  CHECK(f.publisher.acquire(NhKey{NhType::adjacency, 2, 0, 0, 4, gw}) != a);  // another port
  CHECK(f.publisher.key(a) == v4_over_v6);
  // An IPv4 group may hold it beside an IPv4 gateway's slot.
  const uint32_t c = f.publisher.acquire(Fixture::key(9));
  const uint32_t g = f.publisher.acquire_group({{a, 1}, {c, 2}}, 4);
  f.publisher.set_route(Fixture::prefix("10.9.0.0/16"), g);
  f.publisher.set_route(*Prefix6::parse("2001:db8::/32"), b);
  f.publisher.commit();
  REQUIRE(f.publisher.group_members(g));
  CHECK(f.publisher.group_members(g)->size() == 2);
  CHECK(f.publisher.groups_of(a) == std::vector<uint32_t>{g});
  CHECK(f.publisher.groups_of(b).empty());
}
