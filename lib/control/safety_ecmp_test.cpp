// ECMP groups under churn: reader threads run the workers' lookup stage and pick each
// packet's member as the worker does, while this thread replaces routes between member
// sets, flips weights and neighbours, and turns routes plain and back. A group table or
// member state a reader uses must never have been freed (retired objects are poisoned
// first; ASan and TSan see the rest), a group never escapes the pick, and every member a
// reader gets is one of the gateways.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "control.hpp"
#include "control_rig.hpp"
#include "forward.hpp"
#include "safety_util.hpp"

using namespace routerd;

namespace {

constexpr const char* kEcmpGw[] = {"10.1.0.2", "10.2.0.2", "10.2.0.3", "10.2.0.4"};
constexpr const char* kEcmpDev[] = {"p0", "p1", "p1", "p1"};

struct EcmpReader {
  std::atomic<uint64_t> lookups{0}, picks{0}, poisoned{0}, escaped{0}, foreign{0}, no_route{0};
};

void ecmp_reader(testing::ControlRig& rig, uint32_t id, const std::atomic<bool>& stop,
                 EcmpReader& res) {
  uint32_t gw[4];
  for (int g = 0; g < 4; ++g) gw[g] = Ipv4::parse(kEcmpGw[g])->v;
  uint64_t x = 0x9e3779b97f4a7c15ull * (id + 1);
  constexpr uint16_t kBurst = 32;
  uint32_t dst[kBurst];
  const NextHopState* out[kBurst];
  testing::leave_control_core();
  rig.dp.rcu.online(id);
  uint64_t bursts = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    for (auto& d : dst) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      d = Ipv4(10, 9, uint8_t(x >> 8), uint8_t(x)).v;
    }
    const uint64_t gen = rig.dp.generation.read();
    CacheTally t;
    lookup_states(rig.dp, nullptr, gen, dst, kBurst, out, &t);
    uint32_t picked[kBurst];
    uint16_t npicked = 0;
    for (uint16_t i = 0; i < kBurst; ++i) {
      const NextHopState* s = out[i];
      if (s && s->kind == NhKind::group) {
        s = group_member(States(rig.dp), s, uint32_t(x >> 32) * (i + 1), picked, npicked);
        res.picks.fetch_add(1, std::memory_order_relaxed);
      }
      if (!s) {
        res.no_route.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const testing::Seen seen = testing::copy_state(s);
      if (testing::poisoned(seen)) {
        res.poisoned.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (seen.kind_byte == uint8_t(NhKind::group)) res.escaped.fetch_add(1);
      bool known = false;
      for (uint32_t g : gw) known |= seen.gateway == g;
      if (!known) res.foreign.fetch_add(1, std::memory_order_relaxed);
    }
    count_members(rig.dp.stats[id], picked, npicked);
    res.lookups.fetch_add(kBurst, std::memory_order_relaxed);
    rig.dp.rcu.quiescent(id);
    if ((++bursts & 15) == 15) {
      rig.dp.rcu.offline(id);
      std::this_thread::yield();
      rig.dp.rcu.online(id);
    }
  }
  rig.dp.rcu.offline(id);
}

}  // namespace

TEST_CASE("safety: readers picking ECMP members while groups and their members churn",
          "[safety][ecmp]") {
  constexpr uint32_t kReaders = 2;
  Config cfg;
  cfg.dad_transmits = 0;
  testing::ControlRig rig(testing::ControlRig::Options{
      .readers = kReaders, .next_hops = 64, .tbl8 = 64, .config = cfg});
  for (int g = 0; g < 4; ++g)
    rig.run({"neigh", "add", kEcmpGw[g], "lladdr", "02:5a:00:00:00:0" + std::to_string(g + 1),
             "dev", kEcmpDev[g]});
  rig.run(
      {"route", "add", "10.9.0.0/16", "nexthop", "via", kEcmpGw[0], "nexthop", "via", kEcmpGw[1]});

  std::atomic<bool> stop{false};
  EcmpReader res[kReaders];
  std::vector<std::thread> readers;
  testing::JoinOnExit join(stop, readers);
  for (uint32_t i = 0; i < kReaders; ++i) {
    rig.dp.rcu.register_reader(i);
    readers.emplace_back(ecmp_reader, std::ref(rig), i, std::cref(stop), std::ref(res[i]));
  }
  std::mt19937 rng(11);
  bool present[4] = {true, true, true, true};
  uint64_t changes = 0;
  const uint64_t g0 = rig.dp.generation.read();
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
  {
    while (std::chrono::steady_clock::now() < until) {
      std::vector<std::string> cmd = {"route", "replace", "10.9.0.0/16"};
      switch (rng() % 5) {
        case 0:  // a plain route for a while
          cmd.insert(cmd.end(), {"via", kEcmpGw[rng() % 4]});
          break;
        case 1: {  // the neighbour of a member comes and goes: its state is republished
          const int g = int(rng() % 4);
          if (present[g]) {
            rig.run({"neigh", "del", kEcmpGw[g]});
            present[g] = false;
          } else {
            present[g] = true;
            rig.run({"neigh", "add", kEcmpGw[g], "lladdr",
                     "02:5a:00:00:01:0" + std::to_string(g + 1), "dev", kEcmpDev[g]});
          }
          ++changes;
          rig.ctl->poll_once(uint64_t(changes));
          continue;
        }
        default: {  // another member set or weights: a new group seeded from the old
          const uint32_t mask = 1 + rng() % 15;
          int n = 0;
          for (int g = 0; g < 4; ++g)
            if (mask >> g & 1) {
              cmd.insert(cmd.end(),
                         {"nexthop", "via", kEcmpGw[g], "weight", std::to_string(1 + rng() % 8)});
              ++n;
            }
          if (n == 1) cmd = {"route", "replace", "10.9.0.0/16", "via", kEcmpGw[rng() % 4]};
          break;
        }
      }
      rig.run(cmd);
      ++changes;
      rig.ctl->poll_once(uint64_t(changes));  // the reclaimer frees what readers left
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  for (uint32_t i = 0; i < kReaders; ++i) rig.dp.rcu.unregister_reader(i);

  uint64_t lookups = 0, picks = 0;
  for (const auto& r : res) {
    lookups += r.lookups;
    picks += r.picks;
    CHECK(r.poisoned == 0);
    CHECK(r.escaped == 0);
    CHECK(r.foreign == 0);
  }
  INFO(lookups << " lookups, " << picks << " member picks, " << changes << " changes");
  CHECK(picks > 0);
  CHECK(changes > 50);
  CHECK(rig.dp.generation.read() > g0 + 50);
  std::printf("safety (ecmp): %llu lookups, %llu member picks, %llu changes, generation +%llu\n",
              static_cast<unsigned long long>(lookups), static_cast<unsigned long long>(picks),
              static_cast<unsigned long long>(changes),
              static_cast<unsigned long long>(rig.dp.generation.read() - g0));
}
