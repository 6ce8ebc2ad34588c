// rib_warm: prefetches the rte_rib and rte_rib6 trie paths of a group of prefixes in
// parallel, so that rte_fib(6)_add/delete on them walk warm nodes instead of one cache miss
// per trie level. Only ever reads; enabled only when a self-check confirms the node layout.
#pragma once

#include <rte_rib.h>
#include <rte_rib6.h>

#include <cstdint>
#include <span>

namespace routerd {

struct FibOp;
struct Prefix6;

class RibWarmer {
 public:
  // How many paths are walked side by side: enough to keep the core's outstanding misses
  // busy, few enough that a group's nodes stay in L1/L2 until its ops run.
  static constexpr size_t kGroup = 16;
  // At most this many nodes a level below a group's own nodes are warmed: a short prefix
  // can cover thousands of routes, and the scan over those is long anyway.
  static constexpr size_t kSubtreeNodes = 256;

  // Runs the layout self-check once per process; false means warm() does nothing.
  static bool enabled();

  // Touches the nodes rte_rib_lookup_exact would visit for each op's prefix.
  static void warm(rte_rib* rib, std::span<const FibOp> ops);

 private:
  static bool check_layout();
};

// The same for rte_rib6, whose binary trie is deeper still: a full IPv6 table's paths run
// 20-30 nodes, and rte_fib6_add walks one up to four times (the covering scan, the lookups
// of the parent and of the prefix itself, the insert).
class Rib6Warmer {
 public:
  static constexpr size_t kGroup = 16;
  static constexpr size_t kSubtreeNodes = 256;

  static bool enabled();

  // Touches the nodes rte_rib6_lookup_exact would visit for each prefix (host bits zero),
  // and below each the nodes rte_rib6_get_nxt(COVER) scans; at most kGroup prefixes.
  static void warm(rte_rib6* rib, std::span<const Prefix6> prefixes);

 private:
  static bool check_layout();
};

}  // namespace routerd
