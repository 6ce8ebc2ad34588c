// ecmp/buckets: the resilient bucket table of a weighted next-hop group (control plane).
// Each alive member gets its weighted share of the buckets to within one, and a new table
// moves only the buckets it must: flows on an unchanged member keep their next hop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace routerd::ecmp {

constexpr uint32_t kMaxMembers = 64;
constexpr uint32_t kMaxWeight = 256;
constexpr uint32_t kMaxBuckets = 4096;
// A bucket with no member: only when no member of the group is alive.
constexpr uint8_t kNone = 0xff;

struct Member {
  uint32_t weight;  // 1..kMaxWeight
  bool alive;       // a dead member keeps its index (and its place in the list) but no bucket
};

// 64 buckets per member, rounded up to a power of two, at most kMaxBuckets (reached at 64
// members): a member's traffic share is then exact to within 1/64 of an even share, and a
// member of weight 4 or more always gets a bucket (its share is at least weight/4 buckets).
// 0 members gets the one-member size (the table is then all kNone). More than kMaxMembers
// throws std::invalid_argument.
uint32_t bucket_count(size_t members);

// The group's new table: `buckets` entries (a power of two, 1..kMaxBuckets), each an index
// into `members`, or kNone everywhere when no member is alive.
//
// prev is the group's previous table in the indexes of THIS members vector: the caller remaps
// it when the member list changes, with kNone (or any index >= members.size()) for buckets
// whose member left. Any power-of-two size up to kMaxBuckets, or empty for a fresh group.
//
// Targets. Member i gets floor(e_i) or ceil(e_i) buckets, e_i = buckets * w_i / (sum of the
// alive weights), and the targets sum to `buckets` (largest-remainder apportionment). Dead
// members get 0. An alive member gets 0 only when e_i < 1. The round-ups go first to members
// that already hold more than floor(e_i) buckets in the (resized) prev, then by largest
// remainder, ties to the lowest index: of all targets within one bucket of the shares, these
// move the fewest buckets. Plain largest remainder would sometimes take a bucket from a
// member whose share just GREW: 1:1:181 over 256 buckets is 2:1:253; without the second
// member, 1:181 would be 1:255 and the first member would lose a bucket (here: 2:254).
//
// Resizing. With prev of M entries and N != M: if N > M, bucket b starts as prev[b & (M-1)]
// (a flow in bucket hash & (N-1) was in hash & (M-1): its member is unchanged); if N < M, it
// starts as the most frequent alive member among prev[b + k*N] (ties: lowest index), the one
// that keeps the most of the flows folded into it.
//
// Minimal disruption. From that start, a bucket keeps its member unless the member is gone
// or dead, or holds more buckets than its target. A member above target gives up exactly its
// surplus d of its c buckets, spread evenly in table order (its j-th bucket goes when
// floor((j+1)*d/c) > floor(j*d/c)), and the freed buckets go, in table order, to the members
// below target, interleaved as a fresh fill is: members stay spread across the table, so a
// later halving mostly folds buckets of the same member together. The number of buckets that
// change member is (buckets of gone or dead members) + sum of max(0, held - target). So
// removing or killing a member moves only its buckets, unless no targets within one bucket
// of the new shares allow it (rare, only with three or more members left: 2:3:3:3:137 over
// 32 buckets is 0:1:1:1:29, and without the first, the 137 must reach 30).
//
// Fresh fill (prev empty): each member's k-th bucket sits near (k + 1/2) * buckets / target,
// so the members are interleaved across the table, not in blocks. Deterministic: the same
// arguments always give the same table. O(buckets + prev + members log members) time.
//
// Call it ecmp::fill: with std::vector arguments an unqualified fill also finds std::fill
// through ADL. Bad arguments (more than kMaxMembers members, a weight outside 1..kMaxWeight,
// a size that is not a power of two or above kMaxBuckets) throw std::invalid_argument.
std::vector<uint8_t> fill(const std::vector<Member>& members, const std::vector<uint8_t>& prev,
                          uint32_t buckets);

}  // namespace routerd::ecmp
