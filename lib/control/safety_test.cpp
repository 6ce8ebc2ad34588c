// The proof of safety: reader threads run the workers' lookup stage (lookup_states, with and
// without a route cache) while this thread, as the control thread, churns routes and
// neighbours through Control. Every answer a reader gets is checked against the history of
// what was valid for its address while the lookup ran; retired states are poisoned before
// they are freed, and under ASan a reader touching one is reported as a use after free.
#include <fmt/core.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "control.hpp"
#include "control_rig.hpp"
#include "dpdk.hpp"
#include "forward.hpp"
#include "route_cache.hpp"
#include "safety_util.hpp"
#include "test_eal.hpp"

using namespace routerd;
using testing::AnswerHistory;
using testing::Seen;

namespace {

// Control over two net_null ports, with `readers` RCU reader slots. DAD is off: these tests
// count generations exactly, and a link-local address becoming assigned is a commit of its own.
Config safety_config() {
  Config c;
  c.dad_transmits = 0;
  return c;
}
struct SafetyRig : testing::ControlRig {
  SafetyRig(uint32_t readers, uint32_t tbl8)
      : ControlRig(Options{
            .readers = readers, .next_hops = 64, .tbl8 = tbl8, .config = safety_config()}) {}
};

// Two gateways on p1 and one on p0, so a replace changes the port, the gateway or both.
// Each neighbour has two possible MACs: changing it republishes the state in place.
struct Gateway {
  const char* ip;
  int port;  // index into SafetyRig::ports
};
constexpr Gateway kGateways[] = {{"10.1.0.2", 0}, {"10.2.0.2", 1}, {"10.2.0.3", 1}};
constexpr int kNumGw = 3;

std::string gw_mac(int g, int variant) {
  char b[32];
  std::snprintf(b, sizeof b, "02:5a:00:00:%02x:%02x", g + 1, variant + 1);
  return b;
}

// Every answer a test address can legitimately get, numbered so that a version's answers
// fit in one byte per address: 0 = no route, then per gateway: unresolved, forward with
// MAC 0, forward with MAC 1.
constexpr uint8_t kNoRoute = 0;
constexpr uint8_t kUnknown = 0xff;  // no legitimate answer looks like this
constexpr uint8_t answer_unresolved(int g) {
  return uint8_t(1 + 3 * g);
}
constexpr uint8_t answer_forward(int g, int mac) {
  return uint8_t(2 + 3 * g + mac);
}

// The blocks whose more-specifics are churned: each /24 with a /25 > /26 > /27 > /28 chain
// and a separate /27, so deleting all of them frees the block's tbl8 group.
constexpr int kBlocks = 8;
constexpr std::array<std::pair<uint8_t, uint8_t>, 5> kSubs = {
    {{0, 25}, {64, 26}, {96, 27}, {112, 28}, {192, 27}}};
// Host parts probed in each block: one per sub-prefix depth, and one only the /24 covers.
constexpr std::array<uint8_t, 6> kHosts = {5, 70, 100, 115, 200, 150};

struct Universe {
  std::vector<Prefix4> prefixes;
  std::vector<uint32_t> addrs;
};

Universe make_universe() {
  Universe u;
  u.prefixes.push_back(Prefix4{Ipv4(172, 0, 0, 0), 8});
  u.prefixes.push_back(Prefix4{Ipv4(172, 16, 0, 0), 16});
  u.prefixes.push_back(Prefix4{Ipv4(172, 17, 0, 0), 24});
  for (int b = 0; b < kBlocks; ++b) {
    u.prefixes.push_back(Prefix4{Ipv4(172, 16, uint8_t(b), 0), 24});
    for (auto [host, len] : kSubs)
      u.prefixes.push_back(Prefix4{Ipv4(172, 16, uint8_t(b), host), len});
    for (uint8_t h : kHosts) u.addrs.push_back(Ipv4(172, 16, uint8_t(b), h).v);
  }
  u.addrs.push_back(Ipv4(172, 16, 77, 1).v);  // the /16 or the /8
  u.addrs.push_back(Ipv4(172, 17, 0, 9).v);   // its /24 is deleted and re-added
  u.addrs.push_back(Ipv4(172, 99, 0, 1).v);   // the /8 only
  u.addrs.push_back(Ipv4(192, 0, 2, 1).v);    // never routed
  return u;
}

// What the router should hold: static routes by gateway, and each gateway's MAC (-1: no
// neighbour entry, so routes through it are unresolved).
struct Model {
  std::map<Prefix4, int> routes;
  std::array<int, kNumGw> mac{};

  uint8_t answer(uint32_t a) const {
    int best = -1, gw = -1;
    for (const auto& [p, g] : routes)
      if (p.contains(Ipv4(a)) && p.len > best) {
        best = p.len;
        gw = g;
      }
    if (gw < 0) return kNoRoute;
    return mac[size_t(gw)] < 0 ? answer_unresolved(gw) : answer_forward(gw, mac[size_t(gw)]);
  }
  // The gateway of the longest route strictly covering p; -1 if none.
  int covering_gw(const Prefix4& p) const {
    int best = -1, gw = -1;
    for (const auto& [q, g] : routes)
      if (q.len < p.len && q.contains(p) && q.len > best) {
        best = q.len;
        gw = g;
      }
    return gw;
  }
  int subs_in_block(int b) const {
    int n = 0;
    for (auto [host, len] : kSubs) n += routes.count(Prefix4{Ipv4(172, 16, uint8_t(b), host), len});
    return n;
  }
};

// Maps what a reader saw to an answer number; kUnknown for anything no version allowed.
struct AnswerKey {
  std::array<uint32_t, kNumGw> gw;
  std::array<uint16_t, kNumGw> port;
  std::array<std::array<Mac, 2>, kNumGw> mac;
  std::array<Mac, kNumGw> src;

  uint8_t classify(const Seen& c) const {
    for (int g = 0; g < kNumGw; ++g) {
      if (c.family != 4 || c.gateway != gw[size_t(g)] || c.port != port[size_t(g)] || c.mtu != 1500)
        continue;
      if (c.kind_byte == uint8_t(NhKind::unresolved)) return answer_unresolved(g);
      if (c.kind_byte != uint8_t(NhKind::forward)) return kUnknown;
      if (std::memcmp(c.l2 + 6, src[size_t(g)].b.data(), 6) != 0 || c.l2[12] != 0x08 ||
          c.l2[13] != 0x00)
        return kUnknown;
      for (int m = 0; m < 2; ++m)
        if (std::memcmp(c.l2, mac[size_t(g)][size_t(m)].b.data(), 6) == 0)
          return answer_forward(g, m);
      return kUnknown;
    }
    return kUnknown;
  }
};

struct alignas(64) ReaderResult {
  std::atomic<uint64_t> bursts{0};      // read by the writer to know the run is not vacuous
  std::atomic<uint64_t> overlapped{0};  // bursts during which the writer changed something
  uint64_t lookups = 0, no_route = 0, invalid = 0, poisoned = 0, bad_kind = 0;
  uint64_t hits = 0, misses = 0, stale = 0;
  std::vector<std::string> errors;  // the first few invalid answers, for the failure message
};

struct RunStats {
  uint64_t lookups = 0, overlapped = 0, no_route = 0, invalid = 0, poisoned = 0, bad_kind = 0;
  uint64_t hits = 0, misses = 0, stale = 0;
  uint64_t changes = 0, effective = 0, refused = 0, tbl8_allocs = 0, gen_start = 0, gen_end = 0;
  uint64_t in_place = 0, flips = 0;  // IPv4 FIB batches by each way of publishing
  double seconds = 0;
  std::vector<std::string> errors;
};

constexpr size_t kMaxVersions = 1 << 17;
// rte_fib rounds the tbl8 group count up to a multiple of 64, so this is exact. The run
// allocates several times as many (counted by the model), so freed groups are reused.
constexpr uint32_t kTbl8 = 64;
constexpr uint16_t kBurst = 32;

// One reader: the worker loop's read side, minus packets.
void reader_loop(SafetyRig& rig, uint32_t id, RouteCache* cache, const Universe& u,
                 const AnswerKey& key, const AnswerHistory& hist, const std::atomic<bool>& stop,
                 ReaderResult& res) {
  const size_t naddr = u.addrs.size();
  uint64_t x = 0x9e3779b97f4a7c15ull * (id + 1);  // xorshift: cheap and reproducible
  uint32_t dst[kBurst];
  uint16_t which[kBurst];
  const NextHopState* out[kBurst];
  Seen seen[kBurst];
  bool none[kBurst];
  testing::leave_control_core();
  rig.dp.rcu.online(id);
  while (!stop.load(std::memory_order_relaxed)) {
    for (uint16_t i = 0; i < kBurst; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      which[i] = uint16_t(x % naddr);
      dst[i] = u.addrs[which[i]];
    }
    // seq before the generation: an answer the cache holds for this generation is then
    // valid at a version no older than seq says.
    const uint64_t s0 = hist.mark();
    const uint64_t gen = rig.dp.generation.read();
    CacheTally t;
    lookup_states(rig.dp, cache, gen, dst, kBurst, out, &t);
    for (uint16_t i = 0; i < kBurst; ++i) {
      none[i] = out[i] == nullptr;
      seen[i] = none[i] ? Seen{} : testing::copy_state(out[i]);
    }
    // A published state never changes, so where the field copies land does not matter.
    const uint64_t s1 = hist.mark();
    // Every pointer from this burst is dead here.
    rig.dp.rcu.quiescent(id);

    for (uint16_t i = 0; i < kBurst; ++i) {
      uint8_t a = kNoRoute;
      if (!none[i]) {
        if (testing::poisoned(seen[i])) {
          ++res.poisoned;
          continue;
        }
        if (seen[i].kind_byte > uint8_t(NhKind::broadcast)) {
          ++res.bad_kind;
          continue;
        }
        a = key.classify(seen[i]);
      }
      res.no_route += a == kNoRoute;
      if (!hist.valid(s0, s1, which[i], a)) {
        ++res.invalid;
        if (res.errors.size() < 8)
          res.errors.push_back(Ipv4(dst[i]).str() + ": answer " + std::to_string(a) +
                               " (kind byte " + std::to_string(seen[i].kind_byte) + ", gateway " +
                               Ipv4(seen[i].gateway).str() + ") not valid in versions " +
                               std::to_string(s0 / 2) + ".." + std::to_string((s1 + 1) / 2) +
                               ", expected " + std::to_string(hist.newest(s1, which[i])));
      }
    }
    res.lookups += kBurst;
    res.hits += t.hits;
    res.misses += t.misses;
    res.stale += t.stale;
    if (AnswerHistory::overlapped(s0, s1)) res.overlapped.fetch_add(1, std::memory_order_relaxed);
    // Two cores for three threads: a reader preempted while online holds the control thread
    // in its grace-period wait for a whole scheduler slice. Offline, it holds nothing, as
    // an idle worker does while it sleeps.
    if ((res.bursts.fetch_add(1, std::memory_order_relaxed) & 15) == 15) {
      rig.dp.rcu.offline(id);
      std::this_thread::yield();
      rig.dp.rcu.online(id);
    }
  }
  rig.dp.rcu.offline(id);
}

RunStats churn(bool use_cache) {
  constexpr uint32_t kReaders = 2;
  SafetyRig rig(kReaders, kTbl8);
  const Universe u = make_universe();
  const size_t naddr = u.addrs.size();

  AnswerKey key{};
  for (int g = 0; g < kNumGw; ++g) {
    key.gw[size_t(g)] = Ipv4::parse(kGateways[g].ip)->v;
    key.port[size_t(g)] = rig.ports[size_t(kGateways[g].port)]->id();
    key.src[size_t(g)] = rig.ports[size_t(kGateways[g].port)]->mac();
    for (int m = 0; m < 2; ++m) key.mac[size_t(g)][size_t(m)] = *Mac::parse(gw_mac(g, m));
  }
  auto dev = [](int g) { return "p" + std::to_string(kGateways[g].port); };

  Model model;
  for (int g = 0; g < kNumGw; ++g)
    rig.run({"neigh", "add", kGateways[g].ip, "lladdr", gw_mac(g, 0), "dev", dev(g)});
  for (size_t i = 0; i < u.prefixes.size(); ++i) {
    int g = int(i % kNumGw);
    rig.run({"route", "add", u.prefixes[i].str(), "via", kGateways[g].ip});
    model.routes[u.prefixes[i]] = g;
  }
  // Cross 2^32 during the churn: a generation compared in 32 bits would revalidate stale
  // entries from then on.
  rig.dp.generation.value.store((uint64_t(1) << 32) - 64);

  AnswerHistory hist(naddr, kMaxVersions);
  hist.start([&](size_t a) { return model.answer(u.addrs[a]); });
  std::atomic<bool> stop{false};
  ReaderResult res[kReaders];
  std::vector<std::unique_ptr<RouteCache>> caches;
  for (uint32_t r = 0; r < kReaders; ++r) {
    caches.push_back(use_cache
                         ? std::make_unique<RouteCache>(4096, route_cache_keys(), SOCKET_ID_ANY)
                         : nullptr);
    res[r].errors.reserve(8);
    rig.dp.rcu.register_reader(r);
  }

  RunStats st;
  st.gen_start = rig.dp.generation.read();
  std::vector<std::thread> readers;
  testing::JoinOnExit joiner(stop, readers);
  for (uint32_t r = 0; r < kReaders; ++r)
    readers.emplace_back(reader_loop, std::ref(rig), r, caches[r].get(), std::cref(u),
                         std::cref(key), std::cref(hist), std::cref(stop), std::ref(res[r]));

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::string first_refusal;
  auto change = [&](const std::vector<std::string>& argv, const Model& next) {
    const bool differs = hist.begin_change([&](size_t a) { return next.answer(u.addrs[a]); });
    try {
      rig.ctl->execute(parse_request(argv));
    } catch (const CommandError& e) {
      if (st.refused++ == 0) first_refusal = e.what();
    }
    hist.end_change();
    for (int b = 0; b < kBlocks; ++b)
      st.tbl8_allocs += model.subs_in_block(b) == 0 && next.subs_in_block(b) > 0;
    model = next;
    ++st.changes;
    st.effective += differs;
    rig.ctl->poll_once(uint64_t(elapsed() * 1000));  // runs the Reclaimer
  };

  std::mt19937 rng(20221103);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  auto route_to = [&](const Prefix4& p, int g, bool replace) {
    // A more-specific through its covering route's gateway is allowed on purpose: it is
    // the case that broke DPDK 22.11's tbl8 accounting (see the case at the end).
    Model next = model;
    next.routes[p] = g;
    change({"route", replace ? "replace" : "add", p.str(), "via", kGateways[g].ip}, next);
  };
  auto route_del = [&](const Prefix4& p) {
    Model next = model;
    next.routes.erase(p);
    change({"route", "del", p.str()}, next);
  };
  // Not a time limit on the result: the run goes on until it has done enough work
  // concurrently with the readers, and stops early only if the machine stalls for long.
  auto enough = [&] {
    for (auto& r : res)
      if (r.bursts.load(std::memory_order_relaxed) < 2000 ||
          r.overlapped.load(std::memory_order_relaxed) < 200)
        return false;
    return st.effective >= 300 && st.tbl8_allocs >= 3 * kTbl8 && elapsed() >= 1.0;
  };
  while (hist.room(2 * kSubs.size()) && !enough() && elapsed() < 30) {
    const uint32_t op = rng() % 100;
    const Prefix4 p = u.prefixes[pick(u.prefixes.size())];
    if (op < 40) {
      route_to(p, int(pick(kNumGw)), true);
    } else if (op < 60) {
      // Delete and re-add: between the two only covering routes (or nothing) are valid.
      if (model.routes.count(p)) route_del(p);
      route_to(p, int(pick(kNumGw)), false);
    } else if (op < 75) {
      int g = int(pick(kNumGw));
      Model next = model;
      next.mac[size_t(g)] = model.mac[size_t(g)] == 0 ? 1 : 0;
      change({"neigh", "add", kGateways[g].ip, "lladdr", gw_mac(g, next.mac[size_t(g)]), "dev",
              dev(g)},
             next);
    } else if (op < 80) {
      int g = int(pick(kNumGw));
      if (model.mac[size_t(g)] >= 0) {
        Model next = model;
        next.mac[size_t(g)] = -1;
        change({"neigh", "del", kGateways[g].ip}, next);
      }
    } else {
      // Empty a block of its more-specifics (its tbl8 group is freed) or fill it again.
      int b = int(pick(kBlocks));
      bool fill = model.subs_in_block(b) == 0;
      for (auto [host, len] : kSubs) {
        Prefix4 s{Ipv4(172, 16, uint8_t(b), host), len};
        if (fill)
          route_to(s, int(pick(kNumGw)), false);
        else if (model.routes.count(s))
          route_del(s);
      }
    }
  }
  st.seconds = elapsed();
  stop = true;
  for (auto& t : readers) t.join();
  for (uint32_t r = 0; r < kReaders; ++r) rig.dp.rcu.unregister_reader(r);

  st.gen_end = rig.dp.generation.read();
  for (auto& r : res) {
    st.lookups += r.lookups;
    st.overlapped += r.overlapped.load();
    st.no_route += r.no_route;
    st.invalid += r.invalid;
    st.poisoned += r.poisoned;
    st.bad_kind += r.bad_kind;
    st.hits += r.hits;
    st.misses += r.misses;
    st.stale += r.stale;
    st.errors.insert(st.errors.end(), r.errors.begin(), r.errors.end());
  }
  if (!first_refusal.empty()) st.errors.push_back("refused: " + first_refusal);
  nlohmann::json js = rig.ctl->stats_json();
  st.in_place = js["fib_in_place"].get<uint64_t>();
  st.flips = js["fib_flips"].get<uint64_t>();
  fmt::print(
      "safety ({}): {:.2f} s, {} lookups ({} bursts during a change, {} no route), {} changes "
      "({} effective, {} FIB prefix updates, {} tbl8 allocations; FIB batches {} in place, {} "
      "by switching copies), generation {} -> {}, cache hits {} misses {} stale {}, reclaim "
      "pending {}\n",
      use_cache ? "route cache" : "no cache", st.seconds, st.lookups, st.overlapped, st.no_route,
      st.changes, st.effective, js["route_updates"].get<uint64_t>(), st.tbl8_allocs, st.in_place,
      st.flips, st.gen_start, st.gen_end, st.hits, st.misses, st.stale,
      js["reclaim_pending"].get<uint64_t>());
  std::fflush(stdout);
  return st;
}

}  // namespace

TEST_CASE("readers racing the control thread only ever see valid next hops", "[safety]") {
  for (bool use_cache : {true, false}) {
    RunStats st = churn(use_cache);
    INFO((use_cache ? "with" : "without") << " route caches");
    // One message for all of them: UNSCOPED_INFO would go with the first check, which passes.
    std::string errors;
    for (const auto& e : st.errors) errors += e + "\n";
    INFO(errors);
    CHECK(st.refused == 0);
    CHECK(st.lookups >= 2 * 2000 * kBurst);
    CHECK(st.overlapped >= 2 * 200);
    CHECK(st.effective >= 300);
    // Every change that altered an answer was published with a generation bump.
    CHECK(st.gen_end - st.gen_start >= st.effective);
    CHECK(st.gen_end > (uint64_t(1) << 32));
    // Several times more allocations than the table has groups: freed groups were reused.
    CHECK(st.tbl8_allocs >= 3 * kTbl8);
    // Both ways of publishing an IPv4 batch ran under the readers.
    CHECK(st.in_place > 0);
    CHECK(st.flips > 0);
    CHECK(st.no_route > 0);
    CHECK(st.invalid == 0);
    CHECK(st.poisoned == 0);
    CHECK(st.bad_kind == 0);
    if (use_cache) {
      CHECK(st.hits > 0);
      CHECK(st.stale > 0);
      CHECK(st.misses > 0);
    } else {
      CHECK(st.hits + st.misses + st.stale == 0);
    }
  }
}

TEST_CASE("a cache entry from before a 2^32 generation step is not trusted", "[safety]") {
  SafetyRig rig(1, kTbl8);
  auto dev = [](int g) { return "p" + std::to_string(kGateways[g].port); };
  for (int g = 0; g < kNumGw; ++g)
    rig.run({"neigh", "add", kGateways[g].ip, "lladdr", gw_mac(g, 0), "dev", dev(g)});
  rig.run({"route", "add", "172.16.0.0/16", "via", kGateways[0].ip});
  RouteCache cache(64, RouteCacheKeys{0x9e3779b97f4a7c15ull, 7, 0x94d049bb133111ebull},
                   SOCKET_ID_ANY);
  rig.dp.rcu.register_reader(0);
  uint64_t now = 0;

  struct Got {
    uint32_t gateway = 0;
    uint8_t mac_last = 0;  // the MAC variant, from the last byte of the destination MAC
    CacheTally t;
  };
  // One burst of one destination, as a worker would do it, then offline: the control
  // thread (this thread) must not wait for a grace period on itself.
  auto lookup = [&](uint32_t d) {
    Got got;
    const NextHopState* s = nullptr;
    rig.dp.rcu.online(0);
    lookup_states(rig.dp, &cache, rig.dp.generation.read(), &d, 1, &s, &got.t);
    Seen c = s ? testing::copy_state(s) : Seen{};
    rig.dp.rcu.quiescent(0);
    rig.dp.rcu.offline(0);
    // Checked offline: a failure unwinds into Control's destructor, which waits for a grace
    // period.
    REQUIRE(s != nullptr);
    REQUIRE_FALSE(testing::poisoned(c));
    REQUIRE(c.kind_byte == uint8_t(NhKind::forward));
    got.gateway = c.gateway;
    got.mac_last = c.l2[5];
    return got;
  };
  auto change = [&](const std::vector<std::string>& argv) {
    rig.run(argv);
    rig.ctl->poll_once(now += 1000);
  };
  const uint32_t gw_a = Ipv4::parse(kGateways[0].ip)->v, gw_b = Ipv4::parse(kGateways[1].ip)->v,
                 gw_c = Ipv4::parse(kGateways[2].ip)->v;

  // `early`'s entry must survive the refills of `probe`'s set (a fill at a newer generation
  // empties the set), so they must not share one.
  const uint32_t probe = Ipv4(172, 16, 0, 1).v;
  uint32_t early = probe + 1;
  while (cache.set_of(early) == cache.set_of(probe)) ++early;

  const uint64_t g1 = (uint64_t(1) << 32) - 3;
  rig.dp.generation.value.store(g1);
  // Both filled at g1 with gateway A's state; `early`'s entry is never refreshed.
  CHECK(lookup(probe).gateway == gw_a);
  CHECK(lookup(early).gateway == gw_a);
  Got again = lookup(early);
  CHECK(again.t.hits == 1);

  // Step across 2^32 one real commit at a time; each must be seen at once.
  change({"route", "replace", "172.16.0.0/16", "via", kGateways[1].ip});
  Got b = lookup(probe);
  CHECK(b.gateway == gw_b);
  CHECK(b.t.stale == 1);
  change({"neigh", "add", kGateways[1].ip, "lladdr", gw_mac(1, 1), "dev", dev(1)});
  CHECK(lookup(probe).mac_last == 2);
  CHECK(rig.dp.generation.read() == (uint64_t(1) << 32) - 1);
  change({"route", "replace", "172.16.0.0/16", "via", kGateways[0].ip});
  CHECK(rig.dp.generation.read() == uint64_t(1) << 32);
  CHECK(lookup(probe).gateway == gw_a);
  change({"route", "replace", "172.16.0.0/16", "via", kGateways[1].ip});
  CHECK(lookup(probe).gateway == gw_b);
  // Gateway A's state, which `early`'s entry points at, is republished; the old one is
  // poisoned and freed once this reader is past its grace period.
  change({"neigh", "add", kGateways[0].ip, "lladdr", gw_mac(0, 1), "dev", dev(0)});
  CHECK(rig.ctl->stats_json()["reclaim_pending"] == 0);

  // 2^32 bumps later (skipped by storing), one more real commit lands exactly on g1 + 2^32:
  // equal to g1 in 32 bits.
  rig.dp.generation.value.store(g1 + (uint64_t(1) << 32) - 1);
  change({"route", "replace", "172.16.0.0/16", "via", kGateways[2].ip});
  REQUIRE(rig.dp.generation.read() == g1 + (uint64_t(1) << 32));
  REQUIRE(uint32_t(rig.dp.generation.read()) == uint32_t(g1));
  Got late = lookup(early);
  CHECK(late.t.hits == 0);
  CHECK(late.t.stale == 1);
  CHECK(late.gateway == gw_c);
  rig.dp.rcu.unregister_reader(0);
}

// DPDK 22.11's dir24_8_modify() (lib/fib/dir24_8.c) returns early, before rsvd_tbl8s++, when
// a new /25../32 has the same next hop as its covering route, but still does rsvd_tbl8s--
// when that prefix is deleted as the last more-specific of its /24. routerd gives both the
// same next-hop id when they share a gateway. Each such add/del pair lowers the counter by
// one; below zero it wraps, and from then on every more-specific in a /24 that has none yet
// is refused with "no free tbl8 group" although all 64 groups are free. lib/fib now stores
// longer prefixes with their length above the id (Fib::encode), so the two never match.
TEST_CASE("a more-specific through its covering route's gateway leaks no tbl8 group", "[safety]") {
  SafetyRig rig(1, kTbl8);
  rig.run({"route", "add", "172.16.0.0/24", "via", "10.2.0.2"});
  // The connected /24s hold the counter at 2; three pairs take it past zero.
  for (int i = 0; i < 3; ++i) {
    rig.run({"route", "add", "172.16.0.128/25", "via", "10.2.0.2"});
    rig.run({"route", "del", "172.16.0.128/25"});
  }
  CHECK_NOTHROW(rig.run({"route", "add", "172.16.1.128/25", "via", "10.2.0.3"}));
  // The same limit refuses the /32 of a new address.
  CHECK_NOTHROW(rig.run({"addr", "add", "10.3.0.1/24", "dev", "p1"}));
}
