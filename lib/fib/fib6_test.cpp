#include "fib6.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "rib_warm.hpp"
#include "spare_core.hpp"
#include "test_eal.hpp"

using namespace routerd;

namespace {

Ipv6 a6(const char* s) {
  return *Ipv6::parse(s);
}
Fib6Op add6(const char* prefix, uint32_t nh) {
  return Fib6Op{*Prefix6::parse(prefix), false, nh};
}
Fib6Op del6(const char* prefix) {
  return Fib6Op{*Prefix6::parse(prefix), true, 0};
}
// The i-th /24 under 2001:db8::/16-ish space, and a prefix of length len inside it.
Prefix6 under_own_24(uint32_t i, uint8_t len) {
  Ipv6 a = a6("2400::");
  a.b[1] = uint8_t(i >> 8);
  a.b[2] = uint8_t(i);
  a.b[15] = 1;  // a host inside, masked below
  return Prefix6{ipv6_mask(a, len), len};
}

}  // namespace

TEST_CASE("Fib6: longest prefix match, replace and delete", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib6 fib("t6_lpm", Fib6::Params{1024, 64, SOCKET_ID_ANY});
  std::vector<Fib6Op> ops = {add6("::/0", 1), add6("2001:db8::/32", 2), add6("2001:db8:1::/48", 3),
                             add6("2001:db8:1:2::/64", 4), add6("2001:db8:1:2::5/128", 5)};
  fib.apply(ops, q);
  CHECK(fib.routes() == 5);
  CHECK(fib.lookup(a6("3000::1")) == 1);
  CHECK(fib.lookup(a6("2001:db8:ffff::1")) == 2);
  CHECK(fib.lookup(a6("2001:db8:1:ffff::1")) == 3);
  CHECK(fib.lookup(a6("2001:db8:1:2::6")) == 4);
  CHECK(fib.lookup(a6("2001:db8:1:2::5")) == 5);
  std::vector<Fib6Op> change = {add6("2001:db8:1::/48", 7), del6("2001:db8:1:2::/64")};
  fib.apply(change, q);
  CHECK(fib.routes() == 4);
  CHECK(fib.lookup(a6("2001:db8:1:2::6")) == 7);
  CHECK(fib.lookup(a6("2001:db8:1:2::5")) == 5);
  // The same on the copy readers use after the next flip: both copies agree.
  std::vector<Fib6Op> none = {add6("2001:db8:9::/48", 9)};
  fib.apply(none, q);
  CHECK(fib.lookup(a6("2001:db8:1:2::6")) == 7);
  CHECK(fib.lookup(a6("2001:db8:9::1")) == 9);
}

TEST_CASE("Fib6: a more-specific with its parent's next hop can still be changed", "[fib]") {
  // DPDK 22.11 reserves nothing for it and a later change can fail while returning 0
  // (fib6_trie_test); the length-encoded value avoids that path.
  testing::test_eal();
  Qsbr q(1);
  Fib6 fib("t6_same", Fib6::Params{1024, 64, SOCKET_ID_ANY});
  std::vector<Fib6Op> ops = {add6("2001:db8::/32", 2)};
  for (int i = 0; i < 20; ++i)
    ops.push_back(Fib6Op{
        Prefix6{ipv6_mask(Ipv6::of(0x2001, 0xdb8, uint16_t(i), 0, 0, 0, 0, 0), 48), 48}, false, 2});
  fib.apply(ops, q);
  for (int i = 0; i < 20; ++i) {
    std::vector<Fib6Op> c = {Fib6Op{ops[size_t(i) + 1].prefix, false, uint32_t(100 + i)}};
    fib.apply(c, q);
  }
  for (int i = 0; i < 20; ++i)
    CHECK(fib.lookup(Ipv6::of(0x2001, 0xdb8, uint16_t(i), 0, 0, 0, 0, 1)) == uint32_t(100 + i));
}

TEST_CASE("Fib6: churn of long prefixes outlives DPDK 22.11's reservation leak", "[fib]") {
  // With rte_fib6 alone, 64 groups are gone after 9 add/delete cycles (fib6_trie_test).
  testing::test_eal();
  Qsbr q(1);
  constexpr uint32_t kGroups = 64;
  Fib6 fib("t6_churn", Fib6::Params{1024, kGroups, SOCKET_ID_ANY});
  // Routes that stay through the churn: their answers must survive every rebuild.
  std::vector<Fib6Op> keep = {add6("2001:db8::/32", 1), add6("2001:db8:1::/48", 2),
                              add6("2001:db8:1:2::7/128", 3)};
  fib.apply(keep, q);
  const uint8_t lens[] = {48, 64, 128};
  uint32_t added = 0;
  for (uint32_t i = 0; i < 10 * kGroups; ++i) {
    const Prefix6 p = under_own_24(i, lens[i % 3]);
    std::vector<Fib6Op> a = {Fib6Op{p, false, 1000 + i}};
    REQUIRE_NOTHROW(fib.apply(a, q));
    ++added;
    Ipv6 inside = p.addr;
    inside.b[15] |= 1;
    REQUIRE(fib.lookup(inside) == 1000 + i);
    std::vector<Fib6Op> d = {Fib6Op{p, true, 0}};
    REQUIRE_NOTHROW(fib.apply(d, q));
    REQUIRE(fib.lookup(inside) == Fib6::kNoRoute);
    REQUIRE(fib.lookup(a6("2001:db8:1:2::7")) == 3);
  }
  INFO(fib.rebuilds() << " rebuilds");
  CHECK(added == 10 * kGroups);
  CHECK(fib.rebuilds() > 0);
  CHECK(fib.routes() == 3);
  CHECK(fib.lookup(a6("2001:db8:ffff::1")) == 1);
  CHECK(fib.lookup(a6("2001:db8:1::1")) == 2);
  // A rebuilt copy is located again: the workers' prefetch table is its own.
  for (int round = 0; round < 2; ++round) {
    const uint32_t* t = fib.tbl24_for_prefetch();
    REQUIRE(t != nullptr);
    const Ipv6 a = a6("2001:db8:ffff::1");
    CHECK((t[Fib6::tbl24_index(a.b.data())] & 1) == 1);  // the /32 made 2001:0d:: extended
    std::vector<Fib6Op> again = {add6("2001:db8::/32", 1)};
    fib.apply(again, q);
  }
}

TEST_CASE("Fib6: the tbl24 the workers prefetch is where this DPDK keeps it, in both copies",
          "[fib]") {
  testing::test_eal();
  // Disabled would still be correct, only slower with random destinations: fail loudly so
  // a DPDK upgrade that moves the trie's table is noticed.
  Qsbr q(1);
  Fib6 fib("t6_t24", Fib6::Params{1024, 64, SOCKET_ID_ANY});
  std::vector<Fib6Op> ops = {add6("::/0", 1), add6("2001::/16", 2), add6("2400:cb00::/24", 3),
                             add6("2001:db8:1::/48", 4)};
  fib.apply(ops, q);
  // Each apply swaps the copy readers use: check both.
  for (int round = 0; round < 2; ++round) {
    const uint32_t* t = fib.tbl24_for_prefetch();
    REQUIRE(t != nullptr);
    for (const char* s : {"3000::1", "2001:4860::8888", "2400:cb00:2048::1"}) {
      INFO(s);
      const Ipv6 a = a6(s);
      const uint32_t e = t[Fib6::tbl24_index(a.b.data())];
      CHECK((e & 1) == 0);  // not extended: the entry holds the answer itself
      CHECK(Fib6::decode(e >> 1) == fib.lookup(a6(s)));
    }
    const Ipv6 under48 = a6("2001:db8:1::1");
    CHECK((t[Fib6::tbl24_index(under48.b.data())] & 1) == 1);  // the /48
    // The walk through the tbl8 groups the workers prefetch ends at each lookup's answer.
    const Fib6::TrieView& v = fib.trie_for_prefetch();
    REQUIRE(v.tbl8 != nullptr);
    CHECK(v.groups == 64);
    for (const char* s : {"2001:db8:1::1", "2001:db8:1:ffff::1", "2001:db8:2::1", "3000::1"}) {
      INFO(s);
      const Ipv6 a = a6(s);
      uint32_t e = v.tbl24[Fib6::tbl24_index(a.b.data())];
      for (size_t byte = 3; (e & 1) != 0; ++byte) {
        REQUIRE(byte < 16);
        REQUIRE((e >> 1) < v.groups);
        e = v.tbl8[(e >> 1) * 256 + a.b[byte]];
      }
      CHECK(Fib6::decode(e >> 1) == fib.lookup(a));
    }
    std::vector<Fib6Op> again = {add6("2001::/16", 2)};
    fib.apply(again, q);
  }
}

TEST_CASE("Fib6::lookup_bulk answers what rte_fib6_lookup_bulk answers", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib6 fib("t6_walk", Fib6::Params{8192, 8192, SOCKET_ID_ANY});
  // Nested prefixes of every length from /8 to /128 in a few /16s, so that walks end at
  // every trie level, next to addresses under no route at all.
  std::mt19937_64 rng(7);
  std::vector<Fib6Op> ops = {add6("2001::/16", 1)};
  std::vector<Ipv6> near;
  for (uint32_t i = 0; i < 400; ++i) {
    Ipv6 a = a6("2001::");
    a.b[1] = uint8_t(rng() % 4);
    for (size_t b = 2; b < 16; ++b) a.b[b] = uint8_t(rng() % 3);
    const auto len = uint8_t(8 + rng() % 121);
    ops.push_back(Fib6Op{Prefix6{ipv6_mask(a, len), len}, false, 2 + i});
    near.push_back(a);
  }
  fib.apply(ops, q);
  for (int round = 0; round < 2; ++round) {  // each apply swaps copies: check both
    const Fib6::View v = fib.view();
    REQUIRE(v.trie.tbl24 != nullptr);
    std::vector<uint8_t> addrs;
    for (uint32_t i = 0; i < 64 * 200; ++i) {
      Ipv6 a = near[rng() % near.size()];
      if (i % 3 == 0) a.b[15 - rng() % 14] ^= uint8_t(1u << (rng() % 8));  // off a prefix's end
      if (i % 7 == 0) a.b[0] = uint8_t(rng());                             // mostly no route
      addrs.insert(addrs.end(), a.b.begin(), a.b.end());
    }
    const auto* ips = reinterpret_cast<const uint8_t(*)[16]>(addrs.data());
    size_t differ = 0;
    size_t extended = 0;
    for (uint32_t at = 0; at < 64 * 200; at += 64) {
      const uint32_t k = 1 + uint32_t(rng() % 64);
      uint64_t ours[64];
      uint64_t dpdk[64];
      Fib6::lookup_bulk(v, ips + at, ours, k);
      rte_fib6_lookup_bulk(v.fib, const_cast<uint8_t(*)[16]>(ips + at), dpdk, k);
      for (uint32_t i = 0; i < k; ++i) {
        differ += ours[i] != dpdk[i];
        extended += v.trie.tbl24[Fib6::tbl24_index(ips[at + i])] & 1;
      }
    }
    CHECK(differ == 0);
    CHECK(extended > 1000);  // the walks went below tbl24
    std::vector<Fib6Op> again = {add6("2001::/16", 1)};
    fib.apply(again, q);
  }
}

TEST_CASE("Fib6: a batch too big for the groups is refused and changes nothing", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib6 fib("t6_full", Fib6::Params{1024, 64, SOCKET_ID_ANY});
  std::vector<Fib6Op> keep = {add6("2001:db8::/32", 1)};
  fib.apply(keep, q);
  // 30 /48s under their own /24s: 3 groups each, 90 of 64.
  std::vector<Fib6Op> big;
  for (uint32_t i = 0; i < 30; ++i) big.push_back(Fib6Op{under_own_24(i, 48), false, 100 + i});
  try {
    fib.stage(big);
    FAIL("a batch needing 90 of 64 tbl8 groups was staged");
  } catch (const FibError& e) {
    CHECK(std::string(e.what()).find("no free tbl8 group") != std::string::npos);
  }
  CHECK(fib.caught_up());
  CHECK(fib.routes() == 1);
  // Nothing of the batch on either copy: apply a small batch (flip) and look again.
  std::vector<Fib6Op> small = {Fib6Op{under_own_24(0, 48), false, 7}};
  fib.apply(small, q);
  CHECK(fib.lookup(under_own_24(0, 48).addr) == 7);
  CHECK(fib.lookup(under_own_24(1, 48).addr) == Fib6::kNoRoute);
  std::vector<Fib6Op> none = {add6("2001:db8:5::/48", 5)};
  fib.apply(none, q);
  CHECK(fib.lookup(under_own_24(1, 48).addr) == Fib6::kNoRoute);
  CHECK(fib.lookup(a6("2001:db8:ffff::1")) == 1);
  CHECK(fib.routes() == 3);
}

TEST_CASE("Fib6: abort leaves the staged copy as it was, rebuilt or not", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib6 fib("t6_abort", Fib6::Params{1024, 64, SOCKET_ID_ANY});
  std::vector<Fib6Op> keep = {add6("2001:db8::/32", 1)};
  fib.apply(keep, q);
  std::vector<Fib6Op> b = {add6("2001:db8:1::/48", 2), del6("2001:db8::/32")};
  fib.stage(b);
  fib.abort();
  std::vector<Fib6Op> flip = {add6("2001:db8:9::/48", 9)};
  fib.apply(flip, q);  // readers now on the copy the aborted batch was staged on
  CHECK(fib.lookup(a6("2001:db8:1::1")) == 1);
  CHECK(fib.lookup(a6("2001:db8:9::1")) == 9);
}

// Readers on the worker's path (reader(), a bulk lookup, a quiescent report) while the
// writer churns long prefixes through rebuilds: every answer must be one that was valid.
TEST_CASE("Fib6: concurrent readers never see a zeroed, foreign or freed entry", "[fib][stress]") {
  testing::test_eal();
  constexpr uint32_t kReaders = 2;
  Qsbr q(kReaders);
  // 1,024 groups: the live routes reserve at most about 800 (16 x 1 + 64 x 2 + 64 x 10).
  Fib6 fib("t6_stress", Fib6::Params{4096, 1024, SOCKET_ID_ANY});
  // 16 /32s that never change (next hop 100+s), with /48s churned inside (200+s) and /128s
  // (300+s): every address always has an answer, and its answer names its /32.
  std::vector<Fib6Op> base;
  for (uint16_t s = 0; s < 16; ++s)
    base.push_back(Fib6Op{Prefix6{Ipv6::of(0x2001, uint16_t(0x100 + s), 0, 0, 0, 0, 0, 0), 32},
                          false, uint32_t(100 + s)});
  fib.apply(base, q);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0}, bad{0};
  std::atomic<uint32_t> started{0};
  std::vector<std::thread> readers;
  for (uint32_t r = 0; r < kReaders; ++r) {
    q.register_reader(r);
    readers.emplace_back([&, r] {
      q.online(r);
      started++;
      std::mt19937 rng(r);
      uint8_t ips[16][RTE_FIB6_IPV6_ADDR_SIZE];
      uint16_t subnet[16];
      uint64_t nhs[16];
      uint64_t n = 0, b = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 16; ++i) {
          subnet[i] = uint16_t(rng() & 15);
          const Ipv6 a = Ipv6::of(0x2001, uint16_t(0x100 + subnet[i]), uint16_t(rng() & 3), 0, 0, 0,
                                  0, uint16_t(rng() & 1));
          std::memcpy(ips[i], a.b.data(), 16);
        }
        rte_fib6_lookup_bulk(fib.reader(), ips, nhs, 16);
        for (int i = 0; i < 16; ++i) {
          const uint32_t nh = Fib6::decode(nhs[i]), s = subnet[i];
          b += !(nh == 100 + s || nh == 200 + s || nh == 300 + s);
        }
        n += 16;
        q.quiescent(r);
      }
      q.offline(r);
      lookups += n;
      bad += b;
    });
  }
  while (started.load() < kReaders) std::this_thread::yield();
  std::mt19937 rng(42);
  std::string failure;  // an exception here must not leave the readers running
  for (int batch = 0; batch < 300; ++batch) {
    std::vector<Fib6Op> ops;
    for (int i = 0; i < 8; ++i) {
      const uint16_t s = uint16_t(rng() & 15), g = uint16_t(rng() & 3);
      const bool remove = rng() & 1;
      if (rng() & 1)
        ops.push_back(Fib6Op{Prefix6{Ipv6::of(0x2001, uint16_t(0x100 + s), g, 0, 0, 0, 0, 0), 48},
                             remove, uint32_t(200 + s)});
      else
        ops.push_back(Fib6Op{Prefix6{Ipv6::of(0x2001, uint16_t(0x100 + s), g, 0, 0, 0, 0, 1), 128},
                             remove, uint32_t(300 + s)});
    }
    try {
      fib.apply(ops, q);
    } catch (const std::exception& e) {
      failure = e.what();
      break;
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(failure.empty());
  INFO(failure);
  INFO("lookups " << lookups.load() << ", rebuilds " << fib.rebuilds());
  CHECK(lookups.load() > 0);
  CHECK(bad.load() == 0);
  CHECK(fib.rebuilds() > 0);  // the churn went through rebuilds while readers read
}

TEST_CASE("Fib6: a batch leaves each prefix as its last op says, on both copies", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  Fib6 fib("t6_net", Fib6::Params{1024, 64, SOCKET_ID_ANY});
  fib.apply(std::vector<Fib6Op>{add6("2001:db8:7::/48", 7)}, q);
  // Several ops on one prefix, in an order no address sort would give.
  std::vector<Fib6Op> ops = {add6("2001:db8:2::/48", 1), add6("2001:db8:1::/48", 2),
                             del6("2001:db8:2::/48"),    add6("2001:db8:2::/48", 3),
                             del6("2001:db8:1::/48"),    add6("2001:db8:1:5::/64", 4),
                             del6("2001:db8:7::/48"),    add6("2001:db8:7::/48", 8),
                             add6("2001:db8:9::/48", 9), del6("2001:db8:9::/48")};
  for (int pass = 0; pass < 2; ++pass) {
    INFO("pass " << pass << " (the second reads the other copy)");
    if (pass == 0)
      fib.apply(ops, q);
    else
      fib.apply(std::vector<Fib6Op>{add6("2001:db8:ff::/48", 5)}, q);
    CHECK(fib.lookup(a6("2001:db8:2::1")) == 3);
    CHECK(fib.lookup(a6("2001:db8:1::1")) == 0);
    CHECK(fib.lookup(a6("2001:db8:1:5::1")) == 4);
    CHECK(fib.lookup(a6("2001:db8:7::1")) == 8);
    CHECK(fib.lookup(a6("2001:db8:9::1")) == 0);
  }
  CHECK(fib.routes() == 4);

  // One bad op refuses the whole batch before either copy is touched.
  std::vector<Fib6Op> bad = {add6("2001:db8:3::/48", 3),
                             Fib6Op{*Prefix6::parse("2001:db8:4::/48"), false, Fib6::kNoRoute}};
  CHECK_THROWS_WITH(fib.apply(bad, q), Catch::Contains("2001:db8:4::/48"));
  CHECK(fib.caught_up());
  CHECK(fib.lookup(a6("2001:db8:3::1")) == 0);
  CHECK(fib.routes() == 4);
  fib.apply(std::vector<Fib6Op>{add6("2001:db8:3::/48", 3)}, q);
  CHECK(fib.lookup(a6("2001:db8:3::1")) == 3);
}

namespace {

// Random prefixes of /16 to /48 under 2400::/8, next hops 1..50.
std::vector<Fib6Op> random_table(std::mt19937& rng, size_t n) {
  std::vector<Fib6Op> ops;
  for (size_t i = 0; i < n; ++i) {
    Ipv6 a{};
    a.b[0] = 0x24;
    for (int k = 1; k < 8; ++k) a.b[size_t(k)] = uint8_t(rng());
    const auto len = uint8_t(16 + rng() % 33);
    ops.push_back(Fib6Op{Prefix6{ipv6_mask(a, len), len}, false, uint32_t(1 + rng() % 50)});
  }
  return ops;
}

// Every prefix's first and last address and random ones: the two tables answer alike.
void check_same(const Fib6& fib, const Fib6& ref, const std::vector<Fib6Op>& ops,
                std::mt19937& rng) {
  size_t differ = 0;
  for (const Fib6Op& op : ops) {
    Ipv6 last = op.prefix.addr;
    for (int bit = op.prefix.len; bit < 128; ++bit)
      last.b[size_t(bit / 8)] |= uint8_t(0x80 >> (bit % 8));
    differ += fib.lookup(op.prefix.addr) != ref.lookup(op.prefix.addr);
    differ += fib.lookup(last) != ref.lookup(last);
  }
  for (int i = 0; i < 20000; ++i) {
    Ipv6 a{};
    a.b[0] = 0x24;
    for (size_t k = 1; k < 16; ++k) a.b[k] = uint8_t(rng());
    differ += fib.lookup(a) != ref.lookup(a);
  }
  CHECK(differ == 0);
}

// Flips readers to the other copy with a change no check looks at, so lookup() reads it.
void flip_to_other(Fib6& fib, Qsbr& q) {
  static uint32_t nh = 1;
  std::vector<Fib6Op> op = {add6("3fff::/16", nh++ % 50 + 1)};
  fib.apply(op, q);
}

// Says it is free (or not) and then refuses every job: a lcore taken between the two calls.
struct RefusingCore : SpareCore {
  bool free = true;
  int offered = 0;
  bool start(std::function<void()>) override {
    ++offered;
    return false;
  }
  bool available() const override { return free; }
  void wait() override {}
};

}  // namespace

TEST_CASE("Fib6: a catch-up in slices, or finished by the next stage, leaves both copies alike",
          "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  std::mt19937 rng(20261206);
  Fib6 fib("t6_slice", Fib6::Params{1 << 14, 1 << 15, SOCKET_ID_ANY});
  Fib6 ref("t6_sliceref", Fib6::Params{1 << 14, 1 << 15, SOCKET_ID_ANY});
  std::vector<Fib6Op> table = random_table(rng, 3000);
  ref.apply(table, q);
  fib.stage(table);
  fib.flip();
  // Before the grace period the copy readers left must not be written.
  CHECK_THROWS_AS(fib.catch_up_some(100), std::logic_error);
  CHECK_THROWS_AS(fib.stage(std::vector<Fib6Op>{add6("3fff::/16", 1)}), std::logic_error);
  q.synchronize();
  fib.readers_left();
  const size_t net = fib.behind();
  CHECK(net > 2900);  // a few random prefixes repeat
  CHECK(net <= table.size());
  int slices = 1;
  while (!fib.catch_up_some(100)) {
    ++slices;
    CHECK(fib.behind() == net - size_t(slices - 1) * 100);
  }
  CHECK(slices == int((net + 99) / 100));
  CHECK(fib.behind() == 0);
  CHECK(fib.caught_up());
  check_same(fib, ref, table, rng);
  flip_to_other(fib, q);
  flip_to_other(ref, q);
  check_same(fib, ref, table, rng);  // the copy caught up in slices

  // Half of the next batch caught up, then the batch after it staged: stage() finishes it.
  std::vector<Fib6Op> again;
  for (size_t i = 0; i < table.size(); ++i)
    again.push_back(i % 3 ? Fib6Op{table[i].prefix, false, table[i].nh % 50 + 1}
                          : Fib6Op{table[i].prefix, true, 0});
  ref.apply(again, q);
  fib.stage(again);
  fib.flip();
  q.synchronize();
  fib.readers_left();
  CHECK_FALSE(fib.catch_up_some(fib.behind() / 2));
  CHECK(fib.behind() > 0);
  flip_to_other(fib, q);  // its stage() catches the rest up first
  flip_to_other(ref, q);
  CHECK(fib.caught_up());
  check_same(fib, ref, again, rng);
  flip_to_other(fib, q);
  flip_to_other(ref, q);
  check_same(fib, ref, again, rng);
}

TEST_CASE("Fib6: a full-table batch fills the copy readers leave on a spare core", "[fib]") {
  testing::test_eal();
  Qsbr q(1);
  std::mt19937 rng(20261203);
  SpareThread core;
  Fib6 fib("t6_fill", Fib6::Params{1 << 14, 1 << 15, SOCKET_ID_ANY});
  Fib6 ref("t6_fillref", Fib6::Params{1 << 14, 1 << 15, SOCKET_ID_ANY});
  fib.set_spare_core(&core);

  std::vector<Fib6Op> table = random_table(rng, 10000);
  fib.apply(table, q);
  ref.apply(table, q);
  CHECK(fib.parallel_fills() == 1);
  CHECK(fib.routes() == ref.routes());
  check_same(fib, ref, table, rng);
  flip_to_other(fib, q);
  flip_to_other(ref, q);
  check_same(fib, ref, table, rng);  // the copy the spare core filled
  CHECK(fib.parallel_fills() == 1);  // one route changed: caught up as usual

  // Most of the table again: every next hop changes, every other prefix goes.
  std::vector<Fib6Op> again;
  for (size_t i = 0; i < table.size(); ++i)
    again.push_back(i % 2 ? Fib6Op{table[i].prefix, true, 0}
                          : Fib6Op{table[i].prefix, false, table[i].nh % 50 + 1});
  fib.apply(again, q);
  ref.apply(again, q);
  CHECK(fib.parallel_fills() == 2);
  CHECK(fib.routes() == ref.routes());
  check_same(fib, ref, table, rng);
  flip_to_other(fib, q);
  flip_to_other(ref, q);
  check_same(fib, ref, table, rng);

  SECTION("a batch the table has no room for is refused on both copies") {
    const size_t before = fib.routes();
    std::vector<Fib6Op> big = random_table(rng, 40000);  // over max_routes
    CHECK_THROWS_AS(fib.apply(big, q), FibError);
    CHECK(fib.routes() == before);
    CHECK(fib.parallel_fills() == 2);
    check_same(fib, ref, table, rng);
    flip_to_other(fib, q);
    flip_to_other(ref, q);
    check_same(fib, ref, table, rng);
  }
  SECTION("with no core free the batch is caught up after the grace period") {
    RefusingCore busy;
    fib.set_spare_core(&busy);
    fib.apply(table, q);
    ref.apply(table, q);
    CHECK(busy.offered == 1);
    CHECK(fib.parallel_fills() == 2);
    check_same(fib, ref, table, rng);
    flip_to_other(fib, q);
    flip_to_other(ref, q);
    check_same(fib, ref, table, rng);
  }
  SECTION("a core that says it is busy is not offered the fill at all") {
    RefusingCore busy;
    busy.free = false;
    fib.set_spare_core(&busy);
    fib.apply(table, q);  // wide: the section above has it offered
    ref.apply(table, q);
    CHECK(busy.offered == 0);
    CHECK(fib.parallel_fills() == 2);
    check_same(fib, ref, table, rng);
    flip_to_other(fib, q);
    flip_to_other(ref, q);
    check_same(fib, ref, table, rng);
  }
}

TEST_CASE("Fib6: the trie warmer recognises this DPDK's rte_rib6 and leaves results unchanged",
          "[fib]") {
  testing::test_eal();
  // Disabled would still be correct, only slower: fail loudly so that a DPDK upgrade that
  // moves rte_rib6's fields is noticed.
  REQUIRE(Rib6Warmer::enabled());
  Qsbr q(1);
  Fib6 fib("t6_warm", Fib6::Params{8192, 16384, SOCKET_ID_ANY});
  std::mt19937 rng(11);
  // Nested prefixes of every length, /0 and /128 included, under a few /16s, so that paths
  // end at inner nodes, at leaves and below them.
  std::vector<Prefix6> prefixes;
  for (int i = 0; i < 2000; ++i) {
    Ipv6 a{};
    a.b[0] = 0x24;
    a.b[1] = uint8_t(rng() % 4);
    for (size_t k = 2; k < 16; ++k) a.b[k] = uint8_t(rng() % 3 ? rng() % 4 : rng());
    const auto len = uint8_t(i % 97 == 0 ? rng() % 17 : 16 + rng() % 113);
    prefixes.push_back(Prefix6{ipv6_mask(a, len), len});
  }
  std::map<Prefix6, uint32_t> want;
  auto expect = [&](const Ipv6& a) {
    for (int len = 128; len >= 0; --len) {
      auto it = want.find(Prefix6{ipv6_mask(a, uint8_t(len)), uint8_t(len)});
      if (it != want.end()) return it->second;
    }
    return Fib6::kNoRoute;
  };
  for (int round = 0; round < 20; ++round) {
    // Adds, replaces, deletes (of absent prefixes too), several ops per prefix.
    std::vector<Fib6Op> ops;
    for (int k = 0; k < 300; ++k) {
      const Prefix6& p = prefixes[rng() % prefixes.size()];
      if (rng() % 3 == 0) {
        ops.push_back(Fib6Op{p, true, 0});
        want.erase(p);
      } else {
        const uint32_t nh = 1 + rng() % 1000;
        ops.push_back(Fib6Op{p, false, nh});
        want[p] = nh;
      }
    }
    fib.apply(ops, q);
  }
  REQUIRE(fib.routes() == want.size());
  for (int copy = 0; copy < 2; ++copy) {
    INFO("copy " << copy);
    size_t differ = 0;
    for (const Prefix6& p : prefixes) {
      Ipv6 last = p.addr;
      for (int b = p.len; b < 128; ++b) last.b[size_t(b / 8)] |= uint8_t(0x80 >> (b % 8));
      differ += fib.lookup(p.addr) != expect(p.addr);
      differ += fib.lookup(last) != expect(last);
    }
    CHECK(differ == 0);
    // Readers to the other copy; a short prefix above may cover this one's addresses.
    const Fib6Op other = add6("3fff::/16", 77);
    fib.apply(std::vector<Fib6Op>{other}, q);
    want[other.prefix] = other.nh;
  }
}
