// The proof of safety for IPv6: reader threads run the workers' lookup stages
// (lookup_states6 and lookup_states, with and without route caches) while this thread, as
// the control thread, churns IPv6 routes from /16 to /128 (so rte_fib6's trie allocates and
// frees tbl8 groups and Fib6 rebuilds its copies), gateways global and link-local, neighbour
// MACs, and batches mixing both families. Every answer is checked against the history of
// what was valid for its address while the lookup ran (safety_util.hpp).
#include <fmt/core.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "command.hpp"
#include "control.hpp"
#include "control_rig.hpp"
#include "fib6.hpp"
#include "forward.hpp"
#include "route_cache.hpp"
#include "safety_util.hpp"

using namespace routerd;
using testing::AnswerHistory;
using testing::Seen;

namespace {

// IPv6 gateways on both ports, global and link-local, and two IPv4 ones for the IPv4 lines
// of mixed batches. A replace changes the port, the gateway or both. Each neighbour has two
// possible MACs: changing it republishes the state in place. (Link-local gateways are
// distinct addresses: the neighbour table keys IPv6 neighbours by address alone.)
struct Gateway {
  const char* ip;
  int port;  // index into the rig's ports
  int family;
};
constexpr Gateway kGateways[] = {{"2001:db8:1::2", 0, 6}, {"2001:db8:2::2", 1, 6},
                                 {"fe80::3", 1, 6},       {"fe80::4", 0, 6},
                                 {"10.1.0.2", 0, 4},      {"10.2.0.2", 1, 4}};
constexpr int kNumGw = 6;
constexpr int kGw6 = 4;  // gateways 0..3 are IPv6, 4..5 IPv4

std::string dev(int g) {
  return "p" + std::to_string(kGateways[g].port);
}
std::string gw_mac(int g, int variant) {
  char b[32];
  std::snprintf(b, sizeof b, "02:5b:00:00:%02x:%02x", g + 1, variant + 1);
  return b;
}
// "via GW", with the port a link-local gateway needs.
void add_via(std::vector<std::string>& argv, int g) {
  argv.insert(argv.end(), {"via", kGateways[g].ip});
  if (Ipv6::parse(kGateways[g].ip) && Ipv6::parse(kGateways[g].ip)->is_link_local())
    argv.insert(argv.end(), {"dev", dev(g)});
}

// Answers as in safety_test.cpp: 0 = no route, then per gateway: unresolved, forward with
// MAC 0, forward with MAC 1.
constexpr uint8_t kNoRoute = 0;
constexpr uint8_t kUnknown = 0xff;
constexpr uint8_t answer_unresolved(int g) {
  return uint8_t(1 + 3 * g);
}
constexpr uint8_t answer_forward(int g, int mac) {
  return uint8_t(2 + 3 * g + mac);
}

Ipv6 a6(const char* s) {
  return *Ipv6::parse(s);
}
Prefix6 p6(const Ipv6& a, uint8_t len) {
  return Prefix6{ipv6_mask(a, len), len};
}
Dst6 dst6(const Ipv6& a) {
  Dst6 d;
  std::memcpy(d.b, a.b.data(), 16);
  return d;
}

// The blocks whose more-specifics are churned: block b is the /24 2a01:(10+b)00::/24, with a
// chain /32 > /48 > /64 > /100 > /127 > /128 (one tbl8 level per byte past the third, 13 for
// the /128) and a separate /60 and /128. Emptying a block frees its tbl8 groups; each delete
// past /24 leaks its reservation in DPDK 22.11, which Fib6 answers with rebuilds.
constexpr int kBlocks = 4;
struct Sub {
  uint16_t g1_low;  // the low byte of group 1 (its high byte is the block's)
  uint16_t g[6];    // groups 2..7
  uint8_t len;
};
constexpr Sub kSubs[] = {
    {0x10, {0, 0, 0, 0, 0, 0}, 32},
    {0x10, {0x2030, 0, 0, 0, 0, 0}, 48},
    {0x10, {0x2030, 0x4050, 0, 0, 0, 0}, 64},
    {0x10, {0x2030, 0x4050, 0x6070, 0x8090, 0xa000, 0}, 100},
    {0x10, {0x2030, 0x4050, 0x6070, 0x8090, 0xa0b0, 0xc0d0}, 127},
    {0x10, {0x2030, 0x4050, 0x6070, 0x8090, 0xa0b0, 0xc0d1}, 128},
    {0x80, {0x1111, 0x2220, 0, 0, 0, 0}, 60},
    {0xc0, {1, 2, 3, 4, 5, 6}, 128},
};
constexpr size_t kNumSubs = sizeof kSubs / sizeof kSubs[0];
// Addresses probed in each block: one per depth of the chain (the /128, its /127 sibling,
// then one in each shorter prefix only), one in each separate prefix, the /128's neighbour
// (deep in the same tbl8 path, but only the /24 covers it), and one only the /24 covers.
constexpr Sub kHosts[] = {
    {0x10, {0x2030, 0x4050, 0x6070, 0x8090, 0xa0b0, 0xc0d1}, 128},
    {0x10, {0x2030, 0x4050, 0x6070, 0x8090, 0xa0b0, 0xc0d0}, 128},
    {0x10, {0x2030, 0x4050, 0x6070, 0x8090, 0xa0b0, 0x0001}, 128},
    {0x10, {0x2030, 0x4050, 0x0001, 0, 0, 1}, 128},
    {0x10, {0x2030, 0x0001, 0, 0, 0, 1}, 128},
    {0x10, {0x0001, 0, 0, 0, 0, 1}, 128},
    {0x80, {0x1111, 0x222f, 0, 0, 0, 9}, 128},
    {0xc0, {1, 2, 3, 4, 5, 6}, 128},
    {0xc0, {1, 2, 3, 4, 5, 7}, 128},
    {0xf0, {0, 0, 0, 0, 0, 1}, 128},
};

Ipv6 in_block(int b, const Sub& s) {
  return Ipv6::of(0x2a01, uint16_t((0x10 + b) << 8 | s.g1_low), s.g[0], s.g[1], s.g[2], s.g[3],
                  s.g[4], s.g[5]);
}
Prefix6 sub_prefix(int b, const Sub& s) {
  return p6(in_block(b, s), s.len);
}

struct Universe {
  std::vector<Prefix6> prefixes6;
  std::vector<Prefix4> prefixes4;  // routed only by batches' IPv4 lines
  std::vector<Dst6> addrs6;        // history index i
  std::vector<uint32_t> addrs4;    // history index addrs6.size() + i
  size_t size() const { return addrs6.size() + addrs4.size(); }
};

Universe make_universe() {
  Universe u;
  u.prefixes6.push_back(p6(a6("2a01::"), 16));
  u.prefixes6.push_back(p6(a6("2a01:1000::"), 20));  // every block
  u.prefixes6.push_back(p6(a6("2a01:3000::"), 36));  // deleted and re-added
  for (int b = 0; b < kBlocks; ++b) {
    u.prefixes6.push_back(p6(in_block(b, Sub{0, {}, 24}), 24));
    for (const Sub& s : kSubs) u.prefixes6.push_back(sub_prefix(b, s));
    for (const Sub& h : kHosts) u.addrs6.push_back(dst6(in_block(b, h)));
  }
  u.addrs6.push_back(dst6(a6("2a01:2000::1")));      // the /16 only
  u.addrs6.push_back(dst6(a6("2a01:1f00::1")));      // the /20 or the /16
  u.addrs6.push_back(dst6(a6("2a01:3000:abc::1")));  // the /36 or the /16
  u.addrs6.push_back(dst6(a6("2a02::1")));           // never routed
  for (const char* p :
       {"172.16.0.0/16", "172.16.1.0/24", "172.16.1.128/25", "172.16.1.130/32", "172.17.0.0/16"})
    u.prefixes4.push_back(*Prefix4::parse(p));
  for (Ipv4 a : {Ipv4(172, 16, 0, 1), Ipv4(172, 16, 1, 1), Ipv4(172, 16, 1, 129),
                 Ipv4(172, 16, 1, 130), Ipv4(172, 17, 0, 1), Ipv4(172, 18, 0, 1)})
    u.addrs4.push_back(a.v);
  return u;
}

// What the router should hold: static routes of both families by gateway, and each
// gateway's MAC (-1: no neighbour entry, so routes through it are unresolved).
struct Model {
  std::map<Prefix6, int> routes6;
  std::map<Prefix4, int> routes4;
  std::array<int, kNumGw> mac{};

  uint8_t of_gateway(int gw) const {
    if (gw < 0) return kNoRoute;
    return mac[size_t(gw)] < 0 ? answer_unresolved(gw) : answer_forward(gw, mac[size_t(gw)]);
  }
  template <class Routes, class Addr>
  static int longest(const Routes& routes, const Addr& a) {
    int best = -1, gw = -1;
    for (const auto& [p, g] : routes)
      if (p.contains(a) && p.len > best) {
        best = p.len;
        gw = g;
      }
    return gw;
  }
  uint8_t answer(const Universe& u, size_t i) const {
    if (i < u.addrs6.size()) return of_gateway(longest(routes6, Ipv6::from_bytes(u.addrs6[i].b)));
    return of_gateway(longest(routes4, Ipv4(u.addrs4[i - u.addrs6.size()])));
  }
  int subs_in_block(int b) const {
    int n = 0;
    for (const Sub& s : kSubs) n += int(routes6.count(sub_prefix(b, s)));
    return n;
  }
};

// Maps what a reader saw to an answer number; kUnknown for anything no version allowed.
struct AnswerKey {
  struct Gw {
    int family;
    uint32_t ip4;
    Ipv6 ip6;
    uint16_t port;
    Mac src;
    std::array<Mac, 2> mac;
  };
  std::array<Gw, kNumGw> gw;

  uint8_t classify(const Seen& c) const {
    for (int g = 0; g < kNumGw; ++g) {
      const Gw& k = gw[size_t(g)];
      if (c.family != k.family || c.port != k.port || c.mtu != 1500) continue;
      if (k.family == 6 ? std::memcmp(c.gateway6, k.ip6.b.data(), 16) != 0 : c.gateway != k.ip4)
        continue;
      if (c.kind_byte == uint8_t(NhKind::unresolved)) return answer_unresolved(g);
      if (c.kind_byte != uint8_t(NhKind::forward)) return kUnknown;
      const uint8_t type[2] = {uint8_t(k.family == 6 ? 0x86 : 0x08),
                               uint8_t(k.family == 6 ? 0xdd : 0x00)};
      if (std::memcmp(c.l2 + 6, k.src.b.data(), 6) != 0 || std::memcmp(c.l2 + 12, type, 2) != 0)
        return kUnknown;
      for (int m = 0; m < 2; ++m)
        if (std::memcmp(c.l2, k.mac[size_t(m)].b.data(), 6) == 0) return answer_forward(g, m);
      return kUnknown;
    }
    return kUnknown;
  }
};

struct Tally {
  uint64_t hits = 0, misses = 0, stale = 0;
  void add(const CacheTally& t) {
    hits += t.hits;
    misses += t.misses;
    stale += t.stale;
  }
  void add(const Tally& t) {
    hits += t.hits;
    misses += t.misses;
    stale += t.stale;
  }
};

struct alignas(64) ReaderResult {
  std::atomic<uint64_t> bursts{0};      // read by the writer to know the run is not vacuous
  std::atomic<uint64_t> overlapped{0};  // bursts during which the writer changed something
  uint64_t lookups6 = 0, lookups4 = 0, no_route = 0, invalid = 0, poisoned = 0, bad_kind = 0;
  Tally cache6, cache4;
  std::vector<std::string> errors;  // the first few invalid answers, for the failure message
};

struct RunStats {
  uint64_t lookups6 = 0, lookups4 = 0, overlapped = 0, no_route = 0, invalid = 0, poisoned = 0,
           bad_kind = 0;
  Tally cache6, cache4;
  uint64_t changes = 0, effective = 0, refused = 0, batches = 0, batch_lines = 0;
  uint64_t block_frees = 0, leaked = 0, rebuilds = 0, gen_start = 0, gen_end = 0;
  double seconds = 0;
  std::vector<std::string> errors;
};

constexpr size_t kMaxVersions = 1 << 17;
// The live routes reserve at most about 4 x 63 + 2 groups; Fib6 rebuilds a copy once its
// deletes may have leaked 3/4 of them, so the run goes through many rebuilds, and through
// stages refused for want of groups (which rebuild too) when leak and routes meet.
constexpr uint32_t kTbl8 = 512;
constexpr uint16_t kBurst6 = 32, kBurst4 = 8;
constexpr uint64_t kMinBursts = 2000, kMinOverlapped = 200;

// One reader: the worker loop's read side for both families, minus packets.
void reader_loop(testing::ControlRig& rig, uint32_t id, RouteCache6* cache6, RouteCache* cache4,
                 const Universe& u, const AnswerKey& key, const AnswerHistory& hist,
                 const std::atomic<bool>& stop, ReaderResult& res) {
  const size_t n6 = u.addrs6.size(), n4 = u.addrs4.size();
  constexpr uint16_t kAll = kBurst6 + kBurst4;
  uint64_t x = 0xd1b54a32d192ed03ull * (id + 1);  // xorshift: cheap and reproducible
  Dst6 dst6[kBurst6];
  uint32_t dst4[kBurst4];
  size_t which[kAll];  // history index of each answer: IPv6 first, then IPv4
  const NextHopState* out[kAll];
  Seen seen[kAll];
  bool none[kAll];
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  testing::leave_control_core();
  rig.dp.rcu.online(id);
  while (!stop.load(std::memory_order_relaxed)) {
    for (uint16_t i = 0; i < kBurst6; ++i) {
      which[i] = next() % n6;
      dst6[i] = u.addrs6[which[i]];
    }
    for (uint16_t i = 0; i < kBurst4; ++i) {
      const size_t a = next() % n4;
      which[kBurst6 + i] = n6 + a;
      dst4[i] = u.addrs4[a];
    }
    // The mark before the generation: an answer the caches hold for this generation is then
    // valid at a version no older than the mark says.
    const uint64_t s0 = hist.mark();
    const uint64_t gen = rig.dp.generation.read();
    CacheTally t6, t4;
    lookup_states6(rig.dp, cache6, gen, dst6, kBurst6, out, &t6);
    lookup_states(rig.dp, cache4, gen, dst4, kBurst4, out + kBurst6, &t4);
    for (uint16_t i = 0; i < kAll; ++i) {
      none[i] = out[i] == nullptr;
      seen[i] = none[i] ? Seen{} : testing::copy_state(out[i]);
    }
    const uint64_t s1 = hist.mark();
    // Every pointer from this burst is dead here.
    rig.dp.rcu.quiescent(id);

    for (uint16_t i = 0; i < kAll; ++i) {
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
        if (res.errors.size() < 8) {
          const std::string addr = which[i] < n6 ? Ipv6::from_bytes(u.addrs6[which[i]].b).str()
                                                 : Ipv4(u.addrs4[which[i] - n6]).str();
          res.errors.push_back(fmt::format(
              "{}: answer {} (kind byte {}, family {}, gateway {} / {}) not valid in versions "
              "{}..{}, expected {}",
              addr, a, seen[i].kind_byte, seen[i].family, Ipv6::from_bytes(seen[i].gateway6).str(),
              Ipv4(seen[i].gateway).str(), s0 / 2, (s1 + 1) / 2, hist.newest(s1, which[i])));
        }
      }
    }
    res.lookups6 += kBurst6;
    res.lookups4 += kBurst4;
    res.cache6.add(t6);
    res.cache4.add(t4);
    if (AnswerHistory::overlapped(s0, s1)) res.overlapped.fetch_add(1, std::memory_order_relaxed);
    // Two cores for three threads: offline now and then, as an idle worker sleeps, so that a
    // reader preempted while online does not hold the control thread's grace period.
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
  testing::ControlRig rig(
      testing::ControlRig::Options{.readers = kReaders, .next_hops = 64, .tbl8 = kTbl8});
  rig.run({"addr", "add", "2001:db8:1::1/64", "dev", "p0"});
  rig.run({"addr", "add", "2001:db8:2::1/64", "dev", "p1"});
  const Universe u = make_universe();

  AnswerKey key{};
  for (int g = 0; g < kNumGw; ++g) {
    AnswerKey::Gw& k = key.gw[size_t(g)];
    k.family = kGateways[g].family;
    if (k.family == 6)
      k.ip6 = a6(kGateways[g].ip);
    else
      k.ip4 = Ipv4::parse(kGateways[g].ip)->v;
    k.port = rig.ports[size_t(kGateways[g].port)]->id();
    k.src = rig.ports[size_t(kGateways[g].port)]->mac();
    for (int m = 0; m < 2; ++m) k.mac[size_t(m)] = *Mac::parse(gw_mac(g, m));
  }

  Model model;
  for (int g = 0; g < kNumGw; ++g)
    rig.run({"neigh", "add", kGateways[g].ip, "lladdr", gw_mac(g, 0), "dev", dev(g)});
  auto route_argv = [](const char* verb, const std::string& p, int g) {
    std::vector<std::string> argv = {"route", verb, p};
    add_via(argv, g);
    return argv;
  };
  for (size_t i = 0; i < u.prefixes6.size(); ++i) {
    const int g = int(i % kGw6);
    rig.run(route_argv("add", u.prefixes6[i].str(), g));
    model.routes6[u.prefixes6[i]] = g;
  }
  for (size_t i = 0; i < u.prefixes4.size(); ++i) {
    const int g = kGw6 + int(i % 2);
    rig.run(route_argv("add", u.prefixes4[i].str(), g));
    model.routes4[u.prefixes4[i]] = g;
  }
  // Cross 2^32 during the churn: a generation compared in 32 bits would revalidate stale
  // entries from then on.
  rig.dp.generation.value.store((uint64_t(1) << 32) - 64);

  AnswerHistory hist(u.size(), kMaxVersions);
  hist.start([&](size_t a) { return model.answer(u, a); });
  std::atomic<bool> stop{false};
  ReaderResult res[kReaders];
  std::vector<std::unique_ptr<RouteCache6>> caches6;
  std::vector<std::unique_ptr<RouteCache>> caches4;
  for (uint32_t r = 0; r < kReaders; ++r) {
    caches6.push_back(use_cache
                          ? std::make_unique<RouteCache6>(1024, route_cache_keys(), SOCKET_ID_ANY)
                          : nullptr);
    caches4.push_back(use_cache
                          ? std::make_unique<RouteCache>(1024, route_cache_keys(), SOCKET_ID_ANY)
                          : nullptr);
    res[r].errors.reserve(8);
    rig.dp.rcu.register_reader(r);
  }

  RunStats st;
  st.gen_start = rig.dp.generation.read();
  const uint64_t rebuilds0 = rig.dp.fib6.rebuilds();
  std::vector<std::thread> readers;
  testing::JoinOnExit joiner(stop, readers);
  for (uint32_t r = 0; r < kReaders; ++r)
    readers.emplace_back(reader_loop, std::ref(rig), r, caches6[r].get(), caches4[r].get(),
                         std::cref(u), std::cref(key), std::cref(hist), std::cref(stop),
                         std::ref(res[r]));

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::string first_refusal;
  auto change = [&](const Request& req, const Model& next) {
    const bool differs = hist.begin_change([&](size_t a) { return next.answer(u, a); });
    try {
      rig.ctl->execute(req);
    } catch (const CommandError& e) {
      if (st.refused++ == 0) first_refusal = e.what();
    }
    hist.end_change();
    for (const auto& [p, g] : model.routes6)
      if (!next.routes6.count(p)) st.leaked += Fib6::groups_of(p.len);
    for (int b = 0; b < kBlocks; ++b)
      st.block_frees += model.subs_in_block(b) > 0 && next.subs_in_block(b) == 0;
    model = next;
    ++st.changes;
    st.effective += differs;
    // Runs the Reclaimer; the time only moves the router's timers (DAD, RAs) along.
    rig.ctl->poll_once(1000 + uint64_t(elapsed() * 1000));
  };

  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  auto route_to = [&](const Prefix6& p, int g, bool replace) {
    Model next = model;
    next.routes6[p] = g;
    change(parse_request(route_argv(replace ? "replace" : "add", p.str(), g)), next);
  };
  auto route_del = [&](const Prefix6& p) {
    Model next = model;
    next.routes6.erase(p);
    change(parse_request({"route", "del", p.str()}), next);
  };
  // One line of a batch for prefix p of either family: add it if absent, else replace or
  // delete it.
  auto batch_line = [&](auto& routes, const auto& p, int g, Request& batch) {
    const char* verb = !routes.count(p) ? "add" : (rng() & 1) ? "replace" : "del";
    std::vector<std::string> argv = {"route", verb, p.str()};
    if (verb[0] == 'd') {
      routes.erase(p);
    } else {
      routes[p] = g;
      add_via(argv, g);
    }
    batch.batch.push_back({uint32_t(batch.batch.size() + 1), parse_request(argv), ""});
  };
  // Not a time limit on the result: the run goes on until it has done enough work
  // concurrently with the readers, and stops early only if the machine stalls for long.
  auto enough = [&] {
    for (auto& r : res)
      if (r.bursts.load(std::memory_order_relaxed) < kMinBursts ||
          r.overlapped.load(std::memory_order_relaxed) < kMinOverlapped)
        return false;
    return st.effective >= 300 && st.batches >= 30 && st.block_frees >= 2 * kBlocks &&
           rig.dp.fib6.rebuilds() - rebuilds0 >= 4 && elapsed() >= 1.0;
  };
  while (hist.room(2 * kNumSubs) && !enough() && elapsed() < 30) {
    const uint32_t op = rng() % 100;
    const Prefix6 p = u.prefixes6[pick(u.prefixes6.size())];
    if (op < 30) {
      route_to(p, int(pick(kGw6)), true);
    } else if (op < 45) {
      // Delete and re-add: between the two only covering routes (or nothing) are valid.
      if (model.routes6.count(p)) route_del(p);
      route_to(p, int(pick(kGw6)), false);
    } else if (op < 57) {
      const int g = int(pick(kNumGw));
      Model next = model;
      next.mac[size_t(g)] = model.mac[size_t(g)] == 0 ? 1 : 0;
      change(parse_request({"neigh", "add", kGateways[g].ip, "lladdr",
                            gw_mac(g, next.mac[size_t(g)]), "dev", dev(g)}),
             next);
    } else if (op < 61) {
      const int g = int(pick(kNumGw));
      if (model.mac[size_t(g)] >= 0) {
        Model next = model;
        next.mac[size_t(g)] = -1;
        // A link-local address names a neighbour only with its port.
        change(parse_request({"neigh", "del", kGateways[g].ip, "dev", dev(g)}), next);
      }
    } else if (op < 78) {
      // Empty a block of its more-specifics (its tbl8 groups are freed) or fill it again.
      const int b = int(pick(kBlocks));
      const bool fill = model.subs_in_block(b) == 0;
      for (const Sub& s : kSubs) {
        const Prefix6 q = sub_prefix(b, s);
        if (fill)
          route_to(q, int(pick(kGw6)), false);
        else if (model.routes6.count(q))
          route_del(q);
      }
    } else {
      // A batch of both families: one commit, one version. Distinct prefixes, so that
      // each line's effect is the model's.
      Request batch;
      batch.verb = Verb::batch;
      Model next = model;
      const size_t lines = 2 + pick(4);
      std::vector<Prefix6> used6;
      std::vector<Prefix4> used4;
      for (size_t l = 0; l < lines; ++l) {
        if (l == 0 || (l > 1 && (rng() & 3) == 0)) {
          const Prefix4 q = u.prefixes4[pick(u.prefixes4.size())];
          if (std::find(used4.begin(), used4.end(), q) != used4.end()) continue;
          used4.push_back(q);
          batch_line(next.routes4, q, kGw6 + int(pick(2)), batch);
        } else {
          const Prefix6 q = u.prefixes6[pick(u.prefixes6.size())];
          if (std::find(used6.begin(), used6.end(), q) != used6.end()) continue;
          used6.push_back(q);
          batch_line(next.routes6, q, int(pick(kGw6)), batch);
        }
      }
      st.batch_lines += batch.batch.size();
      ++st.batches;
      change(batch, next);
    }
  }
  st.seconds = elapsed();
  stop = true;
  for (auto& t : readers) t.join();
  for (uint32_t r = 0; r < kReaders; ++r) rig.dp.rcu.unregister_reader(r);

  st.gen_end = rig.dp.generation.read();
  st.rebuilds = rig.dp.fib6.rebuilds() - rebuilds0;
  for (auto& r : res) {
    st.lookups6 += r.lookups6;
    st.lookups4 += r.lookups4;
    st.overlapped += r.overlapped.load();
    st.no_route += r.no_route;
    st.invalid += r.invalid;
    st.poisoned += r.poisoned;
    st.bad_kind += r.bad_kind;
    st.cache6.add(r.cache6);
    st.cache4.add(r.cache4);
    st.errors.insert(st.errors.end(), r.errors.begin(), r.errors.end());
  }
  if (!first_refusal.empty()) st.errors.push_back("refused: " + first_refusal);
  const nlohmann::json js = rig.ctl->stats_json();
  fmt::print(
      "safety6 ({}): {:.2f} s, {} IPv6 + {} IPv4 lookups ({} bursts during a change, {} no "
      "route), {} changes ({} effective, {} batches of {} lines, {} FIB prefix updates), {} "
      "blocks emptied, {} tbl8 groups leaked, {} Fib6 rebuilds, generation {} -> {}, IPv6 cache "
      "hits {} misses {} stale {}, IPv4 cache hits {} misses {} stale {}, reclaim pending {}\n",
      use_cache ? "route caches" : "no cache", st.seconds, st.lookups6, st.lookups4, st.overlapped,
      st.no_route, st.changes, st.effective, st.batches, st.batch_lines,
      js["route_updates"].get<uint64_t>(), st.block_frees, st.leaked, st.rebuilds, st.gen_start,
      st.gen_end, st.cache6.hits, st.cache6.misses, st.cache6.stale, st.cache4.hits,
      st.cache4.misses, st.cache4.stale, js["reclaim_pending"].get<uint64_t>());
  std::fflush(stdout);
  return st;
}

}  // namespace

TEST_CASE("IPv6 readers racing the control thread only ever see valid next hops", "[safety]") {
  for (bool use_cache : {true, false}) {
    RunStats st = churn(use_cache);
    INFO((use_cache ? "with" : "without") << " route caches");
    for (const auto& e : st.errors) UNSCOPED_INFO(e);
    CHECK(st.refused == 0);
    CHECK(st.lookups6 >= 2 * kMinBursts * kBurst6);
    CHECK(st.overlapped >= 2 * kMinOverlapped);
    CHECK(st.effective >= 300);
    CHECK(st.batches >= 30);
    // Every change that altered an answer was published with a generation bump.
    CHECK(st.gen_end - st.gen_start >= st.effective);
    CHECK(st.gen_end > (uint64_t(1) << 32));
    // Blocks emptied (tbl8 groups freed) and refilled, and deletes past /24 leaked more
    // groups than the table has: Fib6 rebuilt its copies under the readers.
    CHECK(st.block_frees >= 2 * kBlocks);
    CHECK(st.leaked > kTbl8);
    CHECK(st.rebuilds >= 4);
    CHECK(st.no_route > 0);
    CHECK(st.invalid == 0);
    CHECK(st.poisoned == 0);
    CHECK(st.bad_kind == 0);
    if (use_cache) {
      CHECK(st.cache6.hits > 0);
      CHECK(st.cache6.stale > 0);
      CHECK(st.cache6.misses > 0);
      CHECK(st.cache4.hits > 0);
    } else {
      CHECK(st.cache6.hits + st.cache6.misses + st.cache6.stale == 0);
      CHECK(st.cache4.hits + st.cache4.misses + st.cache4.stale == 0);
    }
  }
}
