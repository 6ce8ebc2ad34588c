#include "buckets.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

using namespace routerd::ecmp;
namespace ecmp = routerd::ecmp;  // ecmp::fill: std::fill would be found through ADL

namespace {

using Table = std::vector<uint8_t>;

std::vector<uint32_t> counts_of(const Table& t, size_t members) {
  std::vector<uint32_t> c(members, 0);
  for (uint8_t v : t) {
    if (v < members) ++c[v];
  }
  return c;
}

uint64_t alive_weight(const std::vector<Member>& ms) {
  uint64_t w = 0;
  for (const auto& m : ms) w += m.alive ? m.weight : 0;
  return w;
}

// |count - buckets * w / W| < 1, in integers: |count * W - buckets * w| < W.
bool within_share(uint32_t count, uint32_t buckets, uint32_t weight, uint64_t total) {
  const int64_t diff = int64_t(count) * int64_t(total) - int64_t(buckets) * int64_t(weight);
  return diff < int64_t(total) && -diff < int64_t(total);
}

// Every alive member within one bucket of its exact share, dead members at 0, no kNone.
void check_shares(const std::vector<Member>& ms, const Table& t) {
  const uint64_t total = alive_weight(ms);
  REQUIRE(total > 0);
  const auto c = counts_of(t, ms.size());
  uint64_t sum = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    INFO("member " << i << " weight " << ms[i].weight << " alive " << ms[i].alive << " count "
                   << c[i] << " of " << t.size());
    if (ms[i].alive) {
      CHECK(within_share(c[i], uint32_t(t.size()), ms[i].weight, total));
    } else {
      CHECK(c[i] == 0);
    }
    sum += c[i];
  }
  CHECK(sum == t.size());
}

size_t moved(const Table& a, const Table& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

// The disruption rule, checked bucket by bucket against the start table (prev already in the
// new indexes and size): a bucket changes only when its member was gone or dead or held more
// than it holds now, it goes to a member that now holds more than it held, and the number of
// changes is the sum of the surpluses.
void check_minimal(const std::vector<Member>& ms, const Table& start, const Table& next) {
  REQUIRE(start.size() == next.size());
  const auto held = counts_of(start, ms.size());
  const auto now = counts_of(next, ms.size());
  auto valid = [&](uint8_t v) { return v < ms.size() && ms[v].alive; };
  size_t expected = 0;
  for (size_t b = 0; b < start.size(); ++b) {
    if (!valid(start[b])) ++expected;
  }
  for (size_t i = 0; i < ms.size(); ++i) {
    if (ms[i].alive && held[i] > now[i]) expected += held[i] - now[i];
  }
  size_t changes = 0;
  for (size_t b = 0; b < start.size(); ++b) {
    if (start[b] == next[b]) continue;
    ++changes;
    INFO("bucket " << b << " " << int(start[b]) << " -> " << int(next[b]));
    CHECK((!valid(start[b]) || held[start[b]] > now[start[b]]));
    REQUIRE(next[b] < ms.size());
    CHECK(now[next[b]] > held[next[b]]);
  }
  CHECK(changes == expected);
}

// The apportionment the module would make without its hysteresis: plain largest remainder,
// written here from its definition, to bound the disruption from above.
std::vector<uint32_t> largest_remainder(const std::vector<Member>& ms, uint32_t buckets) {
  const uint64_t total = alive_weight(ms);
  std::vector<uint32_t> t(ms.size(), 0);
  std::vector<std::pair<uint64_t, size_t>> rems;
  uint64_t given = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (!ms[i].alive) continue;
    t[i] = uint32_t(uint64_t(buckets) * ms[i].weight / total);
    given += t[i];
    rems.emplace_back(uint64_t(buckets) * ms[i].weight % total, i);
  }
  std::stable_sort(rems.begin(), rems.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (uint64_t k = 0; k < buckets - given; ++k) ++t[rems[k].second];
  return t;
}

std::vector<Member> random_members(std::mt19937& rng, size_t n, bool some_dead) {
  std::uniform_int_distribution<uint32_t> weight(1, kMaxWeight);
  std::vector<Member> ms;
  for (size_t i = 0; i < n; ++i) ms.push_back(Member{weight(rng), !some_dead || rng() % 4 != 0});
  if (some_dead) ms[rng() % n].alive = true;
  return ms;
}

}  // namespace

TEST_CASE("bucket count: 64 per member, a power of two, at most 4096", "[ecmp]") {
  for (size_t n = 1; n <= kMaxMembers; ++n) {
    const uint32_t b = bucket_count(n);
    INFO(n << " members: " << b);
    CHECK((b & (b - 1)) == 0);
    CHECK(b >= std::min<size_t>(64 * n, kMaxBuckets));
    CHECK(b < 2 * 64 * n);
    CHECK(b <= kMaxBuckets);
  }
  // Weight 4 or more: a share of at least one bucket, so at least one bucket.
  std::mt19937 rng(9);
  for (int trial = 0; trial < 1000; ++trial) {
    const size_t n = 1 + rng() % kMaxMembers;
    std::vector<Member> ms(n, Member{kMaxWeight, true});
    const size_t light = rng() % n;
    ms[light].weight = 4;
    CHECK(counts_of(ecmp::fill(ms, {}, bucket_count(n)), n)[light] >= 1);
  }
  CHECK(bucket_count(0) == bucket_count(1));
  CHECK_THROWS_AS(bucket_count(kMaxMembers + 1), std::invalid_argument);
}

TEST_CASE("targets follow the weights of the alive members", "[ecmp]") {
  std::mt19937 rng(1);
  SECTION("fresh tables, random groups and sizes") {
    for (int trial = 0; trial < 3000; ++trial) {
      const size_t n = 1 + rng() % kMaxMembers;
      const auto ms = random_members(rng, n, trial % 2 == 1);
      const uint32_t buckets = trial % 3 == 0 ? 1u << (rng() % 13) : bucket_count(n);
      const Table t = ecmp::fill(ms, {}, buckets);
      REQUIRE(t.size() == buckets);
      check_shares(ms, t);
    }
  }
  SECTION("tables rebuilt from a previous one keep the shares") {
    for (int trial = 0; trial < 1000; ++trial) {
      const size_t n = 1 + rng() % kMaxMembers;
      auto ms = random_members(rng, n, false);
      const uint32_t buckets = bucket_count(n);
      const Table before = ecmp::fill(ms, {}, buckets);
      ms = random_members(rng, n, true);
      check_shares(ms, ecmp::fill(ms, before, buckets));
    }
  }
  SECTION("3:1 between two members") {
    const std::vector<Member> ms{{3, true}, {1, true}};
    const uint32_t buckets = bucket_count(2);
    const auto c = counts_of(ecmp::fill(ms, {}, buckets), 2);
    CHECK(c[0] == buckets * 3 / 4);
    CHECK(c[1] == buckets / 4);
  }
  SECTION("a member too light for one bucket gets none, only then") {
    // 64 buckets for 256:256:1 (513): shares 31.94, 31.94 and 0.125. The two large remainders
    // take the two buckets left after the floors.
    const std::vector<Member> ms{{256, true}, {256, true}, {1, true}};
    const auto c = counts_of(ecmp::fill(ms, {}, 64), 3);
    CHECK(c[0] == 32);
    CHECK(c[1] == 32);
    CHECK(c[2] == 0);
    // 4096 buckets for 63 x 256 and 1 (16129): the light one's 0.254 is the largest
    // remainder, and it takes the one bucket left.
    std::vector<Member> many(64, Member{256, true});
    many[5].weight = 1;
    CHECK(counts_of(ecmp::fill(many, {}, 4096), 64)[5] == 1);
  }
}

TEST_CASE("a fresh table interleaves the members", "[ecmp]") {
  std::mt19937 rng(2);
  for (int trial = 0; trial < 500; ++trial) {
    const size_t n = 2 + rng() % 15;
    const auto ms = random_members(rng, n, false);
    const uint32_t buckets = bucket_count(n);
    const Table t = ecmp::fill(ms, {}, buckets);
    const auto total = counts_of(t, n);
    // Each quarter of the table holds about a quarter of each member's buckets: a member in
    // contiguous blocks would have most of them in one quarter.
    for (uint32_t q = 0; q < 4; ++q) {
      const Table part(t.begin() + q * buckets / 4, t.begin() + (q + 1) * buckets / 4);
      const auto c = counts_of(part, n);
      for (size_t i = 0; i < n; ++i) {
        INFO("trial " << trial << " member " << i << " quarter " << q);
        CHECK(c[i] + 2 >= total[i] / 4);
        CHECK(c[i] <= (total[i] + 3) / 4 + 2);
      }
    }
  }
  SECTION("equal weights alternate") {
    const std::vector<Member> ms(4, Member{7, true});
    const Table t = ecmp::fill(ms, {}, 256);
    for (size_t b = 0; b < t.size(); ++b) CHECK(t[b] == b % 4);
  }
}

TEST_CASE("removing a member moves only its buckets", "[ecmp]") {
  std::mt19937 rng(3);
  SECTION("one of three members, any weights") {
    for (int trial = 0; trial < 2000; ++trial) {
      const auto ms = random_members(rng, 3, false);
      const uint32_t buckets = 256;
      const Table before = ecmp::fill(ms, {}, buckets);
      const size_t gone = rng() % 3;
      std::vector<Member> left;
      for (size_t i = 0; i < 3; ++i) {
        if (i != gone) left.push_back(ms[i]);
      }
      Table prev = before;
      for (auto& v : prev) v = v == gone ? kNone : v > gone ? v - 1 : v;
      const Table after = ecmp::fill(left, prev, buckets);
      check_shares(left, after);
      INFO("trial " << trial);
      CHECK(moved(prev, after) == counts_of(before, 3)[gone]);
      for (size_t b = 0; b < buckets; ++b) {
        if (prev[b] != kNone) CHECK(after[b] == prev[b]);
      }
    }
  }
  SECTION("a member whose share grew keeps its rounded-up bucket") {
    // 1:1:181 over 256 buckets: exact shares 1.40, 1.40 and 253.2; the floors leave one
    // bucket, and the tied remainders give it to the first member: 2, 1, 253.
    const std::vector<Member> ms{{1, true}, {1, true}, {181, true}};
    const Table before = ecmp::fill(ms, {}, 256);
    REQUIRE(counts_of(before, 3) == std::vector<uint32_t>{2, 1, 253});
    // Without the second: 1.41 and 254.59. Largest remainder alone would round the second up
    // (1 and 255), taking a bucket from the first although its share grew; 2 and 254 are
    // just as close to the shares.
    const std::vector<Member> left{{1, true}, {181, true}};
    Table prev = before;
    for (auto& v : prev) v = v == 1 ? kNone : v == 2 ? 1 : v;
    const Table after = ecmp::fill(left, prev, 256);
    CHECK(counts_of(after, 2) == std::vector<uint32_t>{2, 254});
    CHECK(moved(prev, after) == 1);
  }
  SECTION("unless the shares leave no choice") {
    // 2:3:3:3:137 over 32 buckets (148): shares 0.43, 0.65 x 3 and 29.6; floors 0,0,0,0,29
    // leave 3 buckets for the three largest remainders, the 3s: 0:1:1:1:29.
    const std::vector<Member> ms{{2, true}, {3, true}, {3, true}, {3, true}, {137, true}};
    const Table before = ecmp::fill(ms, {}, 32);
    REQUIRE(counts_of(before, 5) == std::vector<uint32_t>{0, 1, 1, 1, 29});
    // Without the 2 (146): 0.66 x 3 and 30.03. The 137 must get 30, so one of the 3s loses
    // its bucket although the member that left had none: the one move is forced.
    const std::vector<Member> left(ms.begin() + 1, ms.end());
    Table prev = before;
    for (auto& v : prev) v = v == 0 ? kNone : uint8_t(v - 1);
    const Table after = ecmp::fill(left, prev, 32);
    check_shares(left, after);
    check_minimal(left, prev, after);
    CHECK(counts_of(after, 4)[3] == 30);
    CHECK(moved(prev, after) == 1);
  }
  SECTION("one of many: the rule holds, and no more than plain largest remainder moves") {
    for (int trial = 0; trial < 1000; ++trial) {
      const size_t n = 2 + rng() % 20;
      const auto ms = random_members(rng, n, false);
      const uint32_t buckets = bucket_count(n);
      const Table before = ecmp::fill(ms, {}, buckets);
      const size_t gone = rng() % n;
      std::vector<Member> left = ms;
      left.erase(left.begin() + gone);
      Table prev = before;
      for (auto& v : prev) v = v == gone ? kNone : v > gone ? v - 1 : v;
      const Table after = ecmp::fill(left, prev, buckets);
      check_minimal(left, prev, after);
      const auto held = counts_of(prev, left.size());
      const auto lr = largest_remainder(left, buckets);
      size_t bound = counts_of(before, n)[gone];
      for (size_t i = 0; i < left.size(); ++i) bound += held[i] > lr[i] ? held[i] - lr[i] : 0;
      CHECK(moved(prev, after) <= bound);
    }
  }
}

TEST_CASE("a member dies and comes back", "[ecmp]") {
  std::mt19937 rng(4);
  for (int trial = 0; trial < 500; ++trial) {
    const size_t n = 2 + rng() % 8;
    auto ms = random_members(rng, n, false);
    const uint32_t buckets = bucket_count(n);
    const Table before = ecmp::fill(ms, {}, buckets);
    const size_t victim = rng() % n;
    ms[victim].alive = false;
    const Table dead = ecmp::fill(ms, before, buckets);
    check_shares(ms, dead);
    check_minimal(ms, before, dead);
    INFO("trial " << trial);
    // Only the dead member's buckets moved.
    CHECK(moved(before, dead) == counts_of(before, n)[victim]);
    ms[victim].alive = true;
    const Table back = ecmp::fill(ms, dead, buckets);
    check_shares(ms, back);
    check_minimal(ms, dead, back);
    // Coming back, it takes buckets from the others and nobody else trades.
    for (size_t b = 0; b < buckets; ++b) {
      if (dead[b] != back[b]) CHECK(back[b] == victim);
    }
  }
}

TEST_CASE("weight changes and joins move the minimum", "[ecmp]") {
  std::mt19937 rng(5);
  SECTION("a weight from 1 to 3") {
    for (int trial = 0; trial < 500; ++trial) {
      const size_t n = 2 + rng() % 10;
      auto ms = random_members(rng, n, false);
      const size_t who = rng() % n;
      ms[who].weight = 1;
      const uint32_t buckets = bucket_count(n);
      const Table before = ecmp::fill(ms, {}, buckets);
      ms[who].weight = 3;
      const Table after = ecmp::fill(ms, before, buckets);
      check_shares(ms, after);
      check_minimal(ms, before, after);
      const auto held = counts_of(before, n);
      const auto lr = largest_remainder(ms, buckets);
      size_t bound = 0;
      for (size_t i = 0; i < n; ++i) bound += held[i] > lr[i] ? held[i] - lr[i] : 0;
      CHECK(moved(before, after) <= bound);
    }
  }
  SECTION("a fixed example: 1:1:1:1 to 1:1:1:3") {
    std::vector<Member> ms(4, Member{1, true});
    const Table before = ecmp::fill(ms, {}, 256);
    ms[2].weight = 3;
    const Table after = ecmp::fill(ms, before, 256);
    // 64 each before; 256 * 1/6 = 42.67 and 256 * 3/6 = 128 after: three members give up
    // 64 - 43 or 64 - 42 buckets each, 128 - 64 = 64 in all, all to member 2.
    const auto c = counts_of(after, 4);
    CHECK(c[2] == 128);
    CHECK(moved(before, after) == 64);
    for (size_t b = 0; b < 256; ++b) {
      if (before[b] != after[b]) CHECK(after[b] == 2);
    }
  }
  SECTION("a member joins") {
    for (int trial = 0; trial < 500; ++trial) {
      const size_t n = 1 + rng() % 20;
      auto ms = random_members(rng, n, false);
      const uint32_t buckets = 1024;
      const Table before = ecmp::fill(ms, {}, buckets);
      ms.push_back(Member{1 + uint32_t(rng() % kMaxWeight), true});
      const Table after = ecmp::fill(ms, before, buckets);
      check_shares(ms, after);
      check_minimal(ms, before, after);
      for (size_t b = 0; b < buckets; ++b) {
        if (before[b] != after[b]) CHECK(after[b] == n);
      }
    }
  }
}

TEST_CASE("resizing keeps flows on their member", "[ecmp]") {
  std::mt19937 rng(6);
  std::mt19937_64 hashes(7);
  SECTION("growing: a flow's new bucket was carved from its old one") {
    for (int trial = 0; trial < 200; ++trial) {
      const size_t n = 1 + rng() % 16;
      const auto ms = random_members(rng, n, false);
      const uint32_t m = 1u << (6 + rng() % 4);
      const uint32_t big = m << (1 + rng() % 3);
      const Table small = ecmp::fill(ms, {}, m);
      const Table grown = ecmp::fill(ms, small, big);
      check_shares(ms, grown);
      // The start the rule talks about: every new bucket with its old bucket's member.
      Table start(big);
      for (uint32_t b = 0; b < big; ++b) start[b] = small[b % m];
      check_minimal(ms, start, grown);
      // Flow by flow: a flow changes member exactly when its new bucket was rebalanced.
      for (int f = 0; f < 2000; ++f) {
        const uint64_t h = hashes();
        const uint32_t b = uint32_t(h & (big - 1));
        const bool kept = grown[b] == small[h & (m - 1)];
        CHECK(kept == (grown[b] == start[b]));
      }
    }
  }
  SECTION("growing with exact shares moves no flow at all") {
    const std::vector<Member> ms{{1, true}, {1, true}, {2, true}};
    const Table small = ecmp::fill(ms, {}, 256);
    const Table grown = ecmp::fill(ms, small, 2048);
    for (int f = 0; f < 10000; ++f) {
      const uint64_t h = hashes();
      CHECK(grown[h & 2047] == small[h & 255]);
    }
  }
  SECTION("shrinking: each new bucket starts with the commonest member it folds") {
    for (int trial = 0; trial < 200; ++trial) {
      const size_t n = 1 + rng() % 16;
      auto ms = random_members(rng, n, false);
      const uint32_t big = 1u << (8 + rng() % 5);
      const uint32_t m = big >> (1 + rng() % 3);
      // A table that has been through changes, so the folded buckets disagree.
      Table old = ecmp::fill(ms, {}, big);
      ms[rng() % n].weight = 1 + rng() % kMaxWeight;
      old = ecmp::fill(ms, old, big);
      const Table shrunk = ecmp::fill(ms, old, m);
      check_shares(ms, shrunk);
      Table start(m);
      for (uint32_t b = 0; b < m; ++b) {
        std::vector<uint32_t> votes(n, 0);
        for (uint32_t i = b; i < big; i += m) ++votes[old[i]];
        start[b] = uint8_t(std::max_element(votes.begin(), votes.end()) - votes.begin());
      }
      check_minimal(ms, start, shrunk);
    }
  }
}

TEST_CASE("no member alive, and members that are gone", "[ecmp]") {
  SECTION("all dead: every bucket is kNone") {
    const std::vector<Member> ms{{5, false}, {9, false}};
    const Table before = ecmp::fill({{5, true}, {9, true}}, {}, 128);
    for (uint8_t v : ecmp::fill(ms, before, 128)) CHECK(v == kNone);
    for (uint8_t v : ecmp::fill({}, {}, 64)) CHECK(v == kNone);
  }
  SECTION("back from all dead: a full table again") {
    const std::vector<Member> ms{{5, true}, {9, true}};
    const Table none(128, kNone);
    check_shares(ms, ecmp::fill(ms, none, 128));
  }
  SECTION("indexes beyond the member list count as gone") {
    const std::vector<Member> ms{{1, true}, {1, true}};
    Table prev = ecmp::fill({{1, true}, {1, true}, {1, true}, {1, true}}, {}, 128);
    const Table after = ecmp::fill(ms, prev, 128);
    check_shares(ms, after);
    for (size_t b = 0; b < prev.size(); ++b) {
      if (prev[b] < 2) CHECK(after[b] == prev[b]);
    }
  }
}

TEST_CASE("fill is deterministic", "[ecmp]") {
  std::mt19937 rng(8);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 1 + rng() % kMaxMembers;
    const auto ms = random_members(rng, n, true);
    const uint32_t buckets = bucket_count(n);
    Table prev(1u << (rng() % 13));
    for (auto& v : prev) v = uint8_t(rng() % (n + 2));
    CHECK(ecmp::fill(ms, prev, buckets) == ecmp::fill(ms, prev, buckets));
    CHECK(ecmp::fill(ms, {}, buckets) == ecmp::fill(ms, {}, buckets));
  }
}

TEST_CASE("bad arguments are refused", "[ecmp]") {
  const std::vector<Member> ok{{1, true}, {2, true}};
  CHECK_THROWS_AS(ecmp::fill(std::vector<Member>(kMaxMembers + 1, Member{1, true}), {}, 4096),
                  std::invalid_argument);
  CHECK_THROWS_AS(ecmp::fill({{0, true}}, {}, 64), std::invalid_argument);
  CHECK_THROWS_AS(ecmp::fill({{kMaxWeight + 1, true}}, {}, 64), std::invalid_argument);
  CHECK_THROWS_AS(ecmp::fill(ok, {}, 0), std::invalid_argument);
  CHECK_THROWS_AS(ecmp::fill(ok, {}, 96), std::invalid_argument);
  CHECK_THROWS_AS(ecmp::fill(ok, {}, 2 * kMaxBuckets), std::invalid_argument);
  CHECK_THROWS_AS(ecmp::fill(ok, Table(3, 0), 64), std::invalid_argument);
  CHECK_THROWS_WITH(ecmp::fill({{0, true}}, {}, 64), Catch::Contains("weight 0"));
}
