#include "buckets.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace routerd::ecmp {

namespace {

using Counts = std::array<uint32_t, kMaxMembers>;

bool power_of_two(size_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

void validate(const std::vector<Member>& members, const std::vector<uint8_t>& prev,
              uint32_t buckets) {
  if (members.size() > kMaxMembers)
    throw std::invalid_argument("ecmp: " + std::to_string(members.size()) + " members, at most " +
                                std::to_string(kMaxMembers));
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].weight < 1 || members[i].weight > kMaxWeight)
      throw std::invalid_argument("ecmp: member " + std::to_string(i) + " has weight " +
                                  std::to_string(members[i].weight) + ", must be 1.." +
                                  std::to_string(kMaxWeight));
  }
  if (!power_of_two(buckets) || buckets > kMaxBuckets)
    throw std::invalid_argument("ecmp: " + std::to_string(buckets) +
                                " buckets, must be a power of two up to " +
                                std::to_string(kMaxBuckets));
  if (!prev.empty() && (!power_of_two(prev.size()) || prev.size() > kMaxBuckets))
    throw std::invalid_argument("ecmp: previous table has " + std::to_string(prev.size()) +
                                " buckets, must be empty or a power of two up to " +
                                std::to_string(kMaxBuckets));
}

bool holds(const std::vector<Member>& members, uint8_t m) {
  return m < members.size() && members[m].alive;
}

// The previous table brought to the new size, with kNone for every bucket whose member is
// gone or dead, so that what follows only sees members that may keep buckets.
std::vector<uint8_t> resized(const std::vector<Member>& members, const std::vector<uint8_t>& prev,
                             uint32_t buckets) {
  std::vector<uint8_t> out(buckets, kNone);
  const size_t m = prev.size();
  if (m == 0) return out;
  if (buckets >= m) {
    for (uint32_t b = 0; b < buckets; ++b) out[b] = prev[b & (m - 1)];
  } else {
    // Each new bucket folds m / buckets old ones together: the member holding most of them
    // keeps the most flows. The counters are cleared through the same strided walk, so the
    // whole pass is O(m).
    Counts votes{};
    for (uint32_t b = 0; b < buckets; ++b) {
      uint8_t best = kNone;
      uint32_t best_votes = 0;
      for (size_t i = b; i < m; i += buckets) {
        const uint8_t v = prev[i];
        if (!holds(members, v)) continue;
        const uint32_t c = ++votes[v];
        if (c > best_votes || (c == best_votes && v < best)) {
          best = v;
          best_votes = c;
        }
      }
      for (size_t i = b; i < m; i += buckets) {
        if (holds(members, prev[i])) votes[prev[i]] = 0;
      }
      out[b] = best;
    }
  }
  for (auto& v : out) {
    if (!holds(members, v)) v = kNone;
  }
  return out;
}

// Largest-remainder apportionment of `buckets` among the alive members; `held` breaks the
// choice of round-ups in favour of members that already hold the rounded-up count.
Counts targets(const std::vector<Member>& members, const Counts& held, uint32_t buckets,
               uint64_t alive_weight) {
  Counts t{};
  std::array<uint64_t, kMaxMembers> rem{};
  std::array<uint8_t, kMaxMembers> up{};
  size_t n_up = 0;
  uint64_t given = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    if (!members[i].alive) continue;
    const uint64_t share = uint64_t(buckets) * members[i].weight;
    t[i] = uint32_t(share / alive_weight);
    rem[i] = share % alive_weight;
    given += t[i];
    if (rem[i] != 0) up[n_up++] = uint8_t(i);
  }
  // The fractional parts sum to exactly the buckets left over and each is below one, so
  // there are at least that many members with a remainder: none gets more than ceil(e_i).
  const size_t left = buckets - given;
  std::sort(up.begin(), up.begin() + n_up, [&](uint8_t a, uint8_t b) {
    const bool ka = held[a] > t[a];
    const bool kb = held[b] > t[b];
    if (ka != kb) return ka;
    if (rem[a] != rem[b]) return rem[a] > rem[b];
    return a < b;
  });
  for (size_t k = 0; k < left; ++k) ++t[up[k]];
  return t;
}

// A sequence in which member i appears need[i] times, its k-th time near position
// (k + 1/2) * total / need[i]: members interleaved in proportion, not in blocks. A counting
// sort on that position keeps it O(total + members); ties go to the lower index.
std::vector<uint8_t> interleave(const Counts& need, size_t members, uint32_t total) {
  std::vector<uint32_t> start(size_t(total) + 1, 0);
  auto pos = [&](size_t i, uint32_t k) {
    return uint32_t((uint64_t(2 * k + 1) * total) / (2 * uint64_t(need[i])));
  };
  for (size_t i = 0; i < members; ++i) {
    for (uint32_t k = 0; k < need[i]; ++k) ++start[pos(i, k) + 1];
  }
  for (uint32_t p = 0; p < total; ++p) start[p + 1] += start[p];
  std::vector<uint8_t> seq(total, kNone);
  for (size_t i = 0; i < members; ++i) {
    for (uint32_t k = 0; k < need[i]; ++k) seq[start[pos(i, k)]++] = uint8_t(i);
  }
  return seq;
}

}  // namespace

uint32_t bucket_count(size_t members) {
  if (members > kMaxMembers)
    throw std::invalid_argument("ecmp: " + std::to_string(members) + " members, at most " +
                                std::to_string(kMaxMembers));
  const uint32_t want = 64 * uint32_t(std::max<size_t>(members, 1));
  uint32_t b = 1;
  while (b < want) b <<= 1;
  return std::min(b, kMaxBuckets);
}

std::vector<uint8_t> fill(const std::vector<Member>& members, const std::vector<uint8_t>& prev,
                          uint32_t buckets) {
  validate(members, prev, buckets);
  uint64_t alive_weight = 0;
  for (const auto& m : members) {
    if (m.alive) alive_weight += m.weight;
  }
  if (alive_weight == 0) return std::vector<uint8_t>(buckets, kNone);

  std::vector<uint8_t> out = resized(members, prev, buckets);
  Counts held{};
  for (uint8_t v : out) {
    if (v != kNone) ++held[v];
  }
  const Counts target = targets(members, held, buckets, alive_weight);

  // Surplus buckets leave evenly spread over their member's buckets in table order.
  Counts seen{};
  for (auto& v : out) {
    if (v == kNone || held[v] <= target[v]) continue;
    const uint32_t c = held[v];
    const uint32_t d = c - target[v];
    const uint32_t j = seen[v]++;
    if ((j + 1) * d / c != j * d / c) v = kNone;
  }

  Counts need{};
  uint32_t total = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    need[i] = target[i] - std::min(held[i], target[i]);
    total += need[i];
  }
  // Every freed bucket now has exactly one taker: targets sum to `buckets`, and the kept
  // buckets number sum(min(held, target)).
  const std::vector<uint8_t> seq = interleave(need, members.size(), total);
  size_t k = 0;
  for (auto& v : out) {
    if (v == kNone) v = seq[k++];
  }
  return out;
}

}  // namespace routerd::ecmp
