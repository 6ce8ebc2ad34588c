// fib6: the IPv6 forwarding table workers look destinations up in (rte_fib6 TRIE), kept
// twice (left-right) like fib.hpp's, and rebuilt around DPDK 22.11's reservation leak.
// DPDK 22.11's rte_fib6 frees and zeroes tbl8 groups under readers (no RCU), and a delete
// of a prefix longer than /24 never gives back its tbl8 reservation (lib/fib/fib6_trie_test):
// churn alone would end in -ENOSPC on an empty table. So Fib6 keeps its routes itself and
// rebuilds the copy no reader uses from them when its leak bound passes kRebuildAt of the
// groups, or when a batch is refused for want of groups.
#pragma once

#include <rte_fib6.h>
#include <rte_prefetch.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "compiler.hpp"
#include "fib.hpp"  // FibError
#include "inet6.hpp"
#include "qsbr.hpp"  // apply() only

namespace routerd {

struct Fib6Undo;
class SpareCore;

struct Fib6Op {
  Prefix6 prefix;  // host bits zero
  bool remove;     // delete the prefix; otherwise add or replace it with nh
  uint32_t nh;
};

class Fib6 {
 public:
  static constexpr uint32_t kNoRoute = 0;
  static constexpr uint32_t kIdBits = 24;
  static constexpr uint32_t kMaxNextHop = (1u << kIdBits) - 1;
  // The share of tbl8 groups the leak bound may reach before the idle copy is rebuilt.
  static constexpr double kRebuildAt = 0.75;

  // As Fib::encode: a more-specific never stores its parent's value. DPDK 22.11's trie does
  // not reserve for a more-specific added with its parent's value, and a later change of
  // its next hop can then fail while returning 0. len - 24 <= 104 fits the 7 bits left of
  // the 4-byte entry's 31.
  static uint64_t encode(uint32_t nh, uint8_t len) {
    return len > 24 ? uint64_t(nh) | uint64_t(len - 24) << kIdBits : nh;
  }
  static uint32_t decode(uint64_t stored) { return uint32_t(stored) & kMaxNextHop; }
  // The tbl8 groups a prefix reserves at most (under a /24 or shorter cover), and so at most
  // leaks when deleted: one per byte beyond the third.
  static uint32_t groups_of(uint8_t len) { return len > 24 ? (len + 7) / 8 - 3 : 0; }

  struct Params {
    uint32_t max_routes;
    uint32_t tbl8_groups;
    int socket;
  };

  Fib6(const char* name, const Params& params);
  ~Fib6();
  Fib6(const Fib6&) = delete;
  Fib6& operator=(const Fib6&) = delete;

  // Reader side: the copy to use for this burst. Must not be held across a quiescent state.
  rte_fib6* reader() const { return copies_[active_.load(std::memory_order_acquire)]; }

  // Reader side, for prefetching only: where the copy in use keeps its trie, whose layout
  // is private to DPDK: tbl24, indexed by the address's first three bytes (tbl24_index),
  // then tbl8 groups of 256 entries, each level indexed by the next byte; an entry is
  // next hop << 1, or group << 1 | 1 ("extended": go on one level down). All null when the
  // self-check made as the copy was created did not confirm that layout (as for
  // Fib::tbl24_for_prefetch, a prefetch through a wrong address is harmless but useless;
  // `groups` bounds every tbl8 index a reader computes). A lookup walks these levels one
  // dependent read after another, each a cache miss for a random destination; fetching
  // them for a whole burst side by side (fib_states in lib/worker) overlaps the misses.
  // The view of a copy changes only when that copy is rebuilt, which it is only while no
  // reader uses it.
  struct TrieView {
    const uint32_t* tbl24 = nullptr;
    const uint32_t* tbl8 = nullptr;
    uint32_t groups = 0;
  };
  static uint32_t tbl24_index(const uint8_t* a) {
    return uint32_t(a[0]) << 16 | uint32_t(a[1]) << 8 | a[2];
  }
  const TrieView& trie_for_prefetch() const {
    return view_[active_.load(std::memory_order_relaxed)];
  }
  const uint32_t* tbl24_for_prefetch() const { return trie_for_prefetch().tbl24; }

  // Reader side: the copy to use for this burst and its trie, from one acquire load, so that
  // a worker can walk the levels itself and take the answer where the walk ends (entry >> 1,
  // as rte_fib6_lookup_bulk returns it) instead of walking them twice. trie.tbl24 is null
  // when the self-check did not confirm the layout: then only rte_fib6_lookup_bulk.
  struct View {
    rte_fib6* fib;
    TrieView trie;
  };
  View view() const {
    const uint32_t a = active_.load(std::memory_order_acquire);
    return {copies_[a], view_[a]};
  }
  // Reader side: what rte_fib6_lookup_bulk would answer for k <= 64 addresses of copy v.
  // The levels are walked for all of them side by side: each level's entries are read and
  // their next level's prefetched, and a walk ends at an entry without the "extended" bit.
  // With random destinations every level is a cache miss; one address at a time (DPDK's
  // loop) they come one after another, here a level's misses overlap. A group index out of
  // bounds (which a confirmed layout never gives) sends that address to DPDK's lookup
  // instead of reading outside the table.
  ROUTERD_ALWAYS_INLINE static void lookup_bulk(const View& v, const uint8_t (*ips)[16],
                                                uint64_t* nh, uint32_t k) {
    auto by_dpdk = [&](uint32_t i) {
      rte_fib6_lookup_bulk(v.fib, const_cast<uint8_t(*)[16]>(ips + i), nh + i, 1);
    };
    if (__builtin_expect(v.trie.tbl24 == nullptr, 0)) {
      rte_fib6_lookup_bulk(v.fib, const_cast<uint8_t(*)[16]>(ips), nh, k);
      return;
    }
    const uint32_t* const tbl8 = v.trie.tbl8;
    const uint32_t groups = v.trie.groups;
    uint32_t at[64];  // tbl8 index of each walking address's entry at this level
    uint8_t who[64];  // which address
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; ++i) {
      const uint32_t e = v.trie.tbl24[tbl24_index(ips[i])];
      if (!(e & 1)) {
        nh[i] = e >> 1;
      } else if (__builtin_expect((e >> 1) >= groups, 0)) {
        by_dpdk(i);
      } else {
        at[m] = (e >> 1) * 256 + ips[i][3];
        who[m++] = uint8_t(i);
        rte_prefetch0(tbl8 + at[m - 1]);
      }
    }
    for (uint32_t byte = 4; m != 0; ++byte) {
      uint32_t m2 = 0;
      for (uint32_t q = 0; q < m; ++q) {
        const uint32_t e = tbl8[at[q]];
        const uint32_t i = who[q];
        if (!(e & 1)) {
          nh[i] = e >> 1;
        } else if (__builtin_expect(byte >= 16 || (e >> 1) >= groups, 0)) {
          by_dpdk(i);
        } else {
          at[m2] = (e >> 1) * 256 + ips[i][byte];
          who[m2++] = uint8_t(i);
          rte_prefetch0(tbl8 + at[m2 - 1]);
        }
      }
      m = m2;
    }
  }

  // Writer side (one thread), the steps and guarantees of Fib's: stage() applies every op to
  // the copy no reader uses or none (FibError); abort(); flip(); catch_up() after every
  // reader passed a quiescent state. stage() and catch_up() may rebuild the copy they write:
  // it has no readers then.
  // readers_left() says that every reader has passed a quiescent state since flip(); from
  // then on the batch may be caught up at once or in slices: catch_up_some() applies at most
  // max_ops more of it (true once done; a rebuild or a copy filled on the spare core is one
  // step), and stage() first finishes whatever is left.
  void stage(std::span<const Fib6Op> ops);
  void abort();
  void flip();
  void readers_left();
  void catch_up();
  bool catch_up_some(size_t max_ops);
  bool caught_up() const { return !pending_; }
  // Ops of the last flipped batch the copy readers left has yet to take (0: caught up).
  size_t behind() const;
  void apply(std::span<const Fib6Op> ops, Qsbr& rcu);

  uint32_t lookup(const Ipv6& ip) const;  // writer side, current copy
  size_t routes() const { return routes_.size(); }
  const Params& params() const { return params_; }
  size_t memory_bytes() const;
  // A batch that touches most of the table (a full table load) has the copy readers use now
  // refilled from scratch on this core meanwhile, instead of caught up after the grace
  // period: the two fills run side by side. nullptr (the default): always one after another.
  void set_spare_core(SpareCore* core) { spare_core_ = core; }
  // Batches whose second copy was filled on the spare core.
  uint64_t parallel_fills() const { return parallel_fills_; }
  // Copies rebuilt so far, and the current bound on the groups each copy leaked.
  uint64_t rebuilds() const { return rebuilds_; }
  uint64_t leak_bound(int copy) const { return leaked_[copy]; }

 private:
  struct Pending;
  struct Fill;
  std::string fresh_name(int copy);
  static rte_fib6* create_named(const std::string& name, const Params& params, TrieView* view,
                                uint64_t* leaked);
  rte_fib6* create(int copy, TrieView* view);
  void start_fill(Fill& f, int copy, std::span<const Fib6Op> ops);
  void rebuild(int copy, std::span<const Fib6Op> extra);
  void restore(int copy, const std::vector<Fib6Undo>& undo);
  bool due(int copy) const;
  bool wide(size_t ops) const;

  std::string name_;
  Params params_;
  std::unique_ptr<Pending> pending_;
  rte_fib6* copies_[2] = {nullptr, nullptr};
  TrieView view_[2];  // see trie_for_prefetch()
  uint64_t leaked_[2] = {0, 0};
  uint64_t probe_leak_ = 0;     // what create()'s self-check leaked (one group), for leaked_
  uint32_t names_[2] = {0, 0};  // rte_fib6 names must be unique: see create()
  std::atomic<uint32_t> active_{0};
  std::map<Prefix6, uint32_t> routes_;  // what the active copy holds, in address order
  uint64_t rebuilds_ = 0;
  SpareCore* spare_core_ = nullptr;
  uint64_t parallel_fills_ = 0;
};

}  // namespace routerd
