#include "fib.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "inet.hpp"
#include "rib_warm.hpp"
#include "test_eal.hpp"

using namespace routerd;

namespace {

uint32_t ip(const char* s) {
  return Ipv4::parse(s)->v;
}

FibOp add(const char* prefix, uint32_t nh) {
  auto p = *Prefix4::parse(prefix);
  return FibOp{p.addr.v, p.len, false, nh};
}
FibOp del(const char* prefix) {
  auto p = *Prefix4::parse(prefix);
  return FibOp{p.addr.v, p.len, true, 0};
}

Fib::Params small() {
  return Fib::Params{1024, 64, SOCKET_ID_ANY};
}

}  // namespace

TEST_CASE("longest prefix match, replace and delete", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib fib("t_lpm", small());
  std::vector<FibOp> ops = {add("0.0.0.0/0", 1), add("10.0.0.0/8", 2), add("10.1.0.0/16", 3),
                            add("10.1.2.128/25", 4), add("10.1.2.200/32", 5)};
  fib.apply(ops, q);
  CHECK(fib.routes() == 5);
  CHECK(fib.lookup(ip("8.8.8.8")) == 1);
  CHECK(fib.lookup(ip("10.200.0.1")) == 2);
  CHECK(fib.lookup(ip("10.1.2.3")) == 3);
  CHECK(fib.lookup(ip("10.1.2.129")) == 4);
  CHECK(fib.lookup(ip("10.1.2.200")) == 5);

  FibOp replace = add("10.1.0.0/16", 7);
  fib.apply({&replace, 1}, q);
  CHECK(fib.routes() == 5);
  CHECK(fib.lookup(ip("10.1.2.3")) == 7);
  CHECK(fib.lookup(ip("10.1.2.200")) == 5);

  std::vector<FibOp> dels = {del("10.1.2.200/32"), del("0.0.0.0/0")};
  fib.apply(dels, q);
  CHECK(fib.routes() == 3);
  CHECK(fib.lookup(ip("10.1.2.200")) == 4);
  CHECK(fib.lookup(ip("8.8.8.8")) == Fib::kNoRoute);
  // Both copies must agree: a lookup through the reader copy sees the same answers.
  uint32_t a = ip("10.1.2.200");
  uint64_t nh = 0;
  rte_fib_lookup_bulk(fib.reader(), &a, &nh, 1);
  CHECK(Fib::decode(nh) == 4);
}

TEST_CASE("a batch that runs out of tbl8 groups changes nothing", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib fib("t_enospc", Fib::Params{1024, 64, SOCKET_ID_ANY});
  std::vector<FibOp> base = {add("10.0.0.0/8", 1), add("10.0.0.1/32", 2)};
  fib.apply(base, q);
  // 64 groups, one in use: a batch asking for 70 more new /24s must fail as a whole.
  std::vector<FibOp> big = {add("10.0.0.0/8", 9), del("10.0.0.1/32")};
  for (uint32_t i = 1; i <= 70; ++i)
    big.push_back(FibOp{ip("11.0.0.1") + (i << 8), 32, false, 100 + i});
  REQUIRE_THROWS_WITH(fib.apply(big, q), Catch::Contains("tbl8"));
  CHECK(fib.routes() == 2);
  CHECK(fib.lookup(ip("10.9.9.9")) == 1);
  CHECK(fib.lookup(ip("10.0.0.1")) == 2);
  CHECK(fib.lookup(ip("11.0.1.1")) == Fib::kNoRoute);
  // The table still accepts a batch that fits.
  std::vector<FibOp> fits(big.begin(), big.begin() + 20);
  fib.apply(fits, q);
  CHECK(fib.lookup(ip("10.9.9.9")) == 9);
  CHECK(fib.lookup(ip("10.0.0.1")) == 9);
}

TEST_CASE("next hop ids outside the 31-bit range and 0 are rejected", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib fib("t_range", small());
  FibOp big = add("10.0.0.0/8", 0x80000000u);
  CHECK_THROWS_AS(fib.apply({&big, 1}, q), FibError);
  FibOp zero = add("10.0.0.0/8", 0);
  CHECK_THROWS_AS(fib.apply({&zero, 1}, q), FibError);
  CHECK(fib.routes() == 0);
}

// Readers look up addresses inside a /24 whose more-specific routes the writer keeps
// adding and deleting, so tbl8 groups are allocated, recycled (zeroed) and reused all the
// time. With a single rte_fib a reader can see next hop 0 or another prefix's next hop;
// through the left-right copies every answer must be one that was valid for the address.
TEST_CASE("concurrent readers never see a zeroed or foreign tbl8 entry", "[fib][stress]") {
  testing::test_eal();
  constexpr uint32_t kReaders = 2;
  Qsbr q(kReaders);
  Fib fib("t_stress", Fib::Params{4096, 256, SOCKET_ID_ANY});
  // Covering routes that never change: every address always has an answer.
  std::vector<FibOp> base;
  for (uint32_t s = 0; s < 16; ++s)
    base.push_back(FibOp{ip("20.0.0.0") + (s << 8), 24, false, 1000 + s});
  fib.apply(base, q);

  // Address 20.0.s.h may resolve to its /24 (1000+s) or to the churned /25 or /32 inside
  // it, whose ids encode the subnet: /25 -> 2000+s, /32 -> 3000+s*256+h.
  auto valid = [](uint32_t addr, uint64_t nh) {
    uint32_t s = (addr >> 8) & 0xff, h = addr & 0xff;
    return nh == 1000 + s || (h >= 128 && nh == 2000 + s) || nh == 3000 + s * 256 + h;
  };

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0}, bad{0};
  std::atomic<uint32_t> readers_started{0};
  std::vector<std::thread> readers;
  for (uint32_t r = 0; r < kReaders; ++r) {
    q.register_reader(r);
    readers.emplace_back([&, r] {
      q.online(r);
      readers_started++;
      std::mt19937 rng(r);
      uint32_t addrs[32];
      uint64_t nhs[32];
      uint64_t n = 0, b = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (auto& a : addrs) a = ip("20.0.0.0") + (rng() & 0xfff);
        rte_fib_lookup_bulk(fib.reader(), addrs, nhs, 32);
        for (int i = 0; i < 32; ++i) b += !valid(addrs[i], Fib::decode(nhs[i]));
        n += 32;
        q.quiescent(r);
      }
      q.offline(r);
      lookups += n;
      bad += b;
    });
  }

  std::mt19937 rng(42);
  // A fixed amount of work, not a time budget: the machine may be busy.
  while (readers_started.load() < kReaders) std::this_thread::yield();
  uint64_t batches = 0;
  for (; batches < 400; ++batches) {
    std::vector<FibOp> ops;
    ops.reserve(32);
    // Toggling one /25 many times in a batch recycles (zeroes) and reallocates the same
    // tbl8 group: the exact window in which a single rte_fib returns next hop 0.
    // (Only the last toggle reaches the tables: it alternates between add and delete, so
    // some batches free groups and switch copies, and the others are applied in place.)
    for (int i = 0; i < 32 + int(batches & 1); ++i)
      ops.push_back(FibOp{ip("20.0.0.128"), 25, (i & 1) == 1, 2000});
    for (int i = 0; i < 8; ++i) {
      uint32_t s = rng() & 15, h = rng() & 0xff;
      uint32_t net = ip("20.0.0.0") + (s << 8);
      bool remove = rng() & 1;
      if (rng() & 1)
        ops.push_back(FibOp{net + 128, 25, remove, 2000 + s});
      else
        ops.push_back(FibOp{net + h, 32, remove, 3000 + s * 256 + h});
    }
    fib.apply(ops, q);
  }
  stop = true;
  for (auto& t : readers) t.join();
  INFO("lookups " << lookups.load() << ", batches " << batches << ", switched " << fib.flips()
                  << ", in place " << fib.in_place());
  CHECK(lookups.load() > 0);
  CHECK(fib.flips() > 0);
  CHECK(fib.in_place() > 0);
  CHECK(bad.load() == 0);
}

TEST_CASE("a more-specific with its parent's next hop keeps tbl8 accounting right", "[fib]") {
  // DPDK 22.11 alone: each add/delete of a /25 with the same value as its /24 releases a
  // tbl8 reservation it never took; the counter wraps and no /25 can be added any more.
  testing::test_eal();
  Qsbr q(1);
  Fib fib("fib_same_nh", Fib::Params{1024, 16, SOCKET_ID_ANY});
  std::vector<FibOp> base = {add("172.16.0.0/24", 5)};
  fib.apply(base, q);
  for (int i = 0; i < 40; ++i) {
    std::vector<FibOp> a = {add("172.16.0.128/25", 5)}, d = {del("172.16.0.128/25")};
    fib.apply(a, q);
    CHECK(fib.lookup(ip("172.16.0.200")) == 5);
    fib.apply(d, q);
  }
  // Every group is still free: /25s in 16 fresh /24s fit (with the wrapped counter of
  // plain 22.11, the first one was refused).
  for (uint32_t i = 0; i < 16; ++i) {
    std::vector<FibOp> a = {FibOp{ip("30.0.0.128") + (i << 8), 25, false, 7}};
    REQUIRE_NOTHROW(fib.apply(a, q));
  }
  CHECK(fib.lookup(ip("30.0.15.200")) == 7);
  CHECK(fib.lookup(ip("30.0.15.100")) == Fib::kNoRoute);
}

TEST_CASE("the trie warmer recognises this DPDK's rte_rib and leaves results unchanged", "[fib]") {
  testing::test_eal();
  // Disabled would still be correct, only slower: fail loudly so a DPDK upgrade that moves
  // rte_rib's fields is noticed.
  REQUIRE(RibWarmer::enabled());
  Fib fib("fib_warm", Fib::Params{8192, 2048, SOCKET_ID_ANY});
  Qsbr q(1);
  std::mt19937 rng(7);
  std::vector<std::pair<uint32_t, uint8_t>> prefixes;
  for (int i = 0; i < 3000; ++i) {
    uint8_t len = uint8_t(8 + rng() % 25);
    prefixes.emplace_back(rng() & (len == 32 ? ~0u : ~(~0u >> len)), len);
  }
  // Batches that add, replace and delete random prefixes, including deletes of absent ones
  // and ops whose paths end in the middle of the trie.
  std::map<std::pair<uint32_t, uint8_t>, uint32_t> want;
  for (int round = 0; round < 20; ++round) {
    std::vector<FibOp> ops;
    std::set<std::pair<uint32_t, uint8_t>> seen;
    for (int k = 0; k < 200; ++k) {
      auto p = prefixes[rng() % prefixes.size()];
      if (!seen.insert(p).second) continue;
      if (rng() % 3 == 0) {
        ops.push_back(FibOp{p.first, p.second, true, 0});
        want.erase(p);
      } else {
        uint32_t nh = 1 + rng() % 1000;
        ops.push_back(FibOp{p.first, p.second, false, nh});
        want[p] = nh;
      }
    }
    fib.apply(ops, q);
  }
  CHECK(fib.routes() == want.size());
  // Every address checked against a longest match over the reference.
  for (int i = 0; i < 20000; ++i) {
    uint32_t a = i % 2 ? rng() : prefixes[rng() % prefixes.size()].first | (rng() & 0xff);
    uint32_t expect = Fib::kNoRoute;
    for (int len = 32; len >= 0 && expect == Fib::kNoRoute; --len) {
      uint32_t m = len == 0 ? 0 : ~0u << (32 - len);
      auto it = want.find({a & m, uint8_t(len)});
      if (it != want.end()) expect = it->second;
    }
    REQUIRE(fib.lookup(a) == expect);
  }
}

TEST_CASE("the tbl24 the workers read is where this DPDK keeps it, in both copies", "[fib]") {
  testing::test_eal();
  // Disabled would still be correct, only slower: fail loudly so
  // a DPDK upgrade that moves dir24_8's table is noticed.
  Qsbr q(1);
  Fib fib("t_t24", small());
  REQUIRE(fib.tbl24_readable());
  std::vector<FibOp> ops = {add("0.0.0.0/0", 1), add("10.0.0.0/8", 2), add("10.1.0.0/16", 3),
                            add("10.1.2.128/25", 4)};
  fib.apply(ops, q);
  // Deleting the /25 frees its group, so readers switch copies; adding it back is done in
  // place. Check both copies.
  for (int round = 0; round < 2; ++round) {
    const Fib::View v = fib.view();
    REQUIRE(v.tbl24 != nullptr);
    REQUIRE(v.fib == fib.reader());
    const uint32_t* t = v.tbl24;
    for (const char* a : {"8.8.8.8", "10.200.0.1", "10.1.7.3"}) {
      INFO(a);
      const uint32_t e = t[ip(a) >> 8];
      CHECK((e & 1) == 0);  // not extended: the entry holds the answer itself
      CHECK(Fib::decode(e >> 1) == fib.lookup(ip(a)));
    }
    CHECK((t[ip("10.1.2.0") >> 8] & 1) == 1);  // the /25 made this /24 extended
    FibOp gone = del("10.1.2.128/25"), back = add("10.1.2.128/25", 4);
    fib.apply({&gone, 1}, q);
    fib.apply({&back, 1}, q);
    CHECK(fib.view().fib != v.fib);
  }
  CHECK(fib.flips() == 2);
}

TEST_CASE("a batch that frees no tbl8 group is applied in place, one that frees one is not",
          "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib fib("t_inplace", small());
  REQUIRE(fib.tbl24_readable());
  std::vector<FibOp> base = {add("10.0.0.0/8", 1), add("10.1.0.0/16", 2), add("10.1.2.0/24", 3)};
  fib.apply(base, q);
  const rte_fib* live = fib.reader();
  CHECK(fib.in_place() == 1);
  CHECK(fib.flips() == 0);

  // Replaces, deletes, adds of /24s and shorter, a new /32 (a group allocated) and its
  // replace: all in place, on the copy readers already use.
  std::vector<FibOp> b1 = {add("10.1.2.0/24", 4), del("10.1.0.0/16"), add("10.2.0.0/15", 5),
                           add("10.1.2.9/32", 6)};
  fib.apply(b1, q);
  FibOp r32 = add("10.1.2.9/32", 7);
  fib.apply({&r32, 1}, q);
  CHECK(fib.reader() == live);
  CHECK(fib.in_place() == 3);
  CHECK(fib.lookup(ip("10.1.2.9")) == 7);
  CHECK(fib.lookup(ip("10.1.2.10")) == 4);
  CHECK(fib.lookup(ip("10.1.3.1")) == 1);
  CHECK(fib.lookup(ip("10.3.0.1")) == 5);
  CHECK(fib.routes() == 4);

  // Deleting the /24's only longer prefix frees its group: readers switch copies.
  FibOp d32 = del("10.1.2.9/32");
  fib.apply({&d32, 1}, q);
  CHECK(fib.reader() != live);
  CHECK(fib.flips() == 1);
  CHECK(fib.lookup(ip("10.1.2.9")) == 4);

  // Within one batch only the last op on a prefix counts, whichever path it takes.
  std::vector<FibOp> b2 = {add("10.9.0.0/16", 8), del("10.9.0.0/16"), add("10.9.0.0/16", 9)};
  fib.apply(b2, q);
  CHECK(fib.lookup(ip("10.9.1.1")) == 9);
  CHECK(fib.routes() == 4);
  std::vector<FibOp> b3 = {add("10.9.0.0/16", 10), del("10.9.0.0/16")};
  fib.apply(b3, q);
  CHECK(fib.lookup(ip("10.9.1.1")) == 1);
  CHECK(fib.routes() == 3);
  CHECK(fib.in_place() == 5);
  // Both copies agree: switch once more and look again.
  FibOp a32 = add("10.1.2.9/32", 6);
  fib.apply({&a32, 1}, q);
  fib.apply({&d32, 1}, q);
  CHECK(fib.flips() == 2);
  CHECK(fib.lookup(ip("10.1.3.1")) == 1);
  CHECK(fib.lookup(ip("10.3.0.1")) == 5);
  CHECK(fib.lookup(ip("10.1.2.9")) == 4);
}

TEST_CASE("a batch larger than kInPlaceMaxOps switches copies, in its own order", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  constexpr uint32_t kOps = Fib::kInPlaceMaxOps + 1;
  Fib fib("t_inplace_max", Fib::Params{2 * kOps, 64, SOCKET_ID_ANY});
  REQUIRE(fib.tbl24_readable());
  // /24s from 20.0.0.0 up: none frees a tbl8 group, so only the size decides.
  std::vector<FibOp> load;
  for (uint32_t i = 0; i < kOps; ++i)
    load.push_back(FibOp{ip("20.0.0.0") + (i << 8), 24, false, 1 + i % 1000});
  fib.apply(load, q);
  CHECK(fib.flips() == 1);
  CHECK(fib.in_place() == 0);
  CHECK(fib.routes() == kOps);
  load.pop_back();
  for (auto& op : load) op.nh = 2000;
  fib.apply(load, q);
  CHECK(fib.flips() == 1);
  CHECK(fib.in_place() == 1);
  CHECK(fib.lookup(ip("20.0.0.1")) == 2000);
  CHECK(fib.lookup(ip("20.0.0.0") + ((kOps - 1) << 8) + 1) == 1 + (kOps - 1) % 1000);
}

// In place, readers see entries change one by one; each must go from its old answer straight
// to its final one. Each batch here would show an answer that is neither to a reader if
// applied in its own order: deleting a /24 before its covering /22 shows the /22's answer,
// adding a /22 before the /24 inside it too.
TEST_CASE("readers of a batch applied in place see only old or final answers", "[fib][stress]") {
  testing::test_eal();
  Qsbr q(1);
  constexpr uint32_t kBlocks = 4096;
  Fib fib("t_inplace_rd", Fib::Params{4 * kBlocks, 64, SOCKET_ID_ANY});
  // Block b: a /20 (answer 1000 + b), a /22 inside it (20000 + b), a /24 inside that
  // (40000 + b). The probe address sits in the /24. A /12 (60000 + g) over every 256
  // blocks: in address order a wrong nesting rule would show its answer for hundreds of
  // ops, not for one.
  auto block = [](uint32_t b) { return ip("40.0.0.0") + (b << 12); };
  std::vector<FibOp> base, full, bare;
  for (uint32_t b = 0; b < kBlocks; ++b) base.push_back(FibOp{block(b), 20, false, 1000 + b});
  for (uint32_t g = 0; g < kBlocks / 256; ++g)
    full.push_back(FibOp{block(g * 256), 12, false, 60000 + g});
  for (uint32_t b = 0; b < kBlocks; ++b) {
    bare.push_back(FibOp{block(b), 24, true, 0});
    full.push_back(FibOp{block(b), 22, false, 20000 + b});
  }
  for (uint32_t b = 0; b < kBlocks; ++b) {
    bare.push_back(FibOp{block(b), 22, true, 0});
    full.push_back(FibOp{block(b), 24, false, 40000 + b});
  }
  for (uint32_t g = 0; g < kBlocks / 256; ++g) bare.push_back(FibOp{block(g * 256), 12, true, 0});
  fib.apply(base, q);
  fib.apply(full, q);

  std::atomic<int> phase{0};  // even: the table is full; odd: a batch is being applied
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> during{0}, bad{0};
  q.register_reader(0);
  std::thread reader([&] {
    q.online(0);
    uint64_t d = 0, b = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint32_t i = 0; i < kBlocks; i += 32) {
        const bool busy = phase.load(std::memory_order_acquire) & 1;
        uint32_t addrs[32];
        uint64_t nhs[32];
        for (uint32_t k = 0; k < 32; ++k) addrs[k] = block(i + k) + 9;
        rte_fib_lookup_bulk(fib.reader(), addrs, nhs, 32);
        for (uint32_t k = 0; k < 32; ++k) {
          const uint64_t nh = Fib::decode(nhs[k]);
          b += nh != 1000 + i + k && nh != 40000 + i + k;
        }
        d += busy;
        q.quiescent(0);
      }
    }
    q.offline(0);
    during = d;
    bad = b;
  });
  for (int round = 0; round < 10; ++round) {
    phase.fetch_add(1, std::memory_order_release);
    fib.apply(bare, q);
    phase.fetch_add(1, std::memory_order_release);
    fib.apply(full, q);
  }
  stop = true;
  reader.join();
  q.unregister_reader(0);
  CHECK(fib.flips() == 0);
  CHECK(fib.in_place() == 22);
  INFO("bursts during batches " << during.load());
  CHECK(during.load() > 0);
  CHECK(bad.load() == 0);
}
