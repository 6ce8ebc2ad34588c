// fib: the IPv4 forwarding table workers look destinations up in (rte_fib DIR-24-8).
// rte_fib in DPDK 22.11 frees and zeroes tbl8 groups under concurrent readers, so the table
// is kept twice (left-right): a batch is staged on the copy no reader uses; if staging freed
// no tbl8 group it is then applied to the copy readers use, in place, each entry going from
// its old answer to its final one; otherwise readers are flipped to the staged copy and only
// after a grace period is the other copy caught up. The publisher (lib/publish) drives the
// steps; Fib itself never waits for readers.
#pragma once

#include <rte_fib.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>

#include "qsbr.hpp"  // apply() only

namespace routerd {

class FibError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FibOp {
  uint32_t prefix;  // host order, host bits zero
  uint8_t len;
  bool remove;  // delete the prefix; otherwise add or replace it with nh
  uint32_t nh;
};

class Fib {
 public:
  static constexpr uint32_t kNoRoute = 0;  // what a lookup returns when nothing matches
  static constexpr uint32_t kIdBits = 24;
  static constexpr uint32_t kMaxNextHop = (1u << kIdBits) - 1;
  // Batches of at most this many ops may be written into the copy readers use (apply());
  // larger ones always switch copies.
  static constexpr size_t kInPlaceMaxOps = size_t(1) << 16;

  // What the table stores for next hop `nh` at prefix length `len`: prefixes longer than
  // /24 carry their length above the id, so a more-specific never stores the same value as
  // the prefix covering it. DPDK 22.11's dir24_8 skips its tbl8 reservation when a
  // more-specific is added with its parent's value, but releases one when it is deleted;
  // the counter underflows and every later tbl8 allocation fails (found by safety_test).
  // Readers decode what they look up: one AND.
  static uint64_t encode(uint32_t nh, uint8_t len) {
    return len > 24 ? uint64_t(nh) | uint64_t(len - 24) << kIdBits : nh;
  }
  static uint32_t decode(uint64_t stored) { return uint32_t(stored) & kMaxNextHop; }

  struct Params {
    uint32_t max_routes;
    uint32_t tbl8_groups;
    int socket;
  };

  Fib(const char* name, const Params& params);
  ~Fib();
  Fib(const Fib&) = delete;
  Fib& operator=(const Fib&) = delete;

  // Reader side: the copy to use for this burst. Must not be held across a quiescent state.
  rte_fib* reader() const { return copies_[active_.load(std::memory_order_acquire)]; }

  // Whether workers read tbl24 themselves (view().tbl24 non-null): the startup self-check
  // confirmed where DPDK keeps it (its layout is private). Without it every lookup goes
  // through rte_fib_lookup_bulk: the same answers, a little slower.
  bool tbl24_readable() const { return tbl24_[0] != nullptr; }

  // Reader side: the copy to use for this burst together with its tbl24 (nullptr unless
  // tbl24_readable()), from one acquire load, so that a worker can read the entries of /24
  // and shorter prefixes itself, where tbl24[a >> 8] is next hop << 1 | "extended", and ask
  // DPDK only for the rest (see fib_states). Not to be held across a quiescent state.
  struct View {
    rte_fib* fib;
    const uint32_t* tbl24;
  };
  View view() const {
    const uint32_t a = active_.load(std::memory_order_acquire);
    return {copies_[a], tbl24_[a]};
  }

  // Writer side (one thread), in steps, so that one grace period can cover several tables:
  //   stage(ops)  applies every op to the copy no reader uses, or none: on failure that copy
  //               is unchanged and FibError says which op failed and why;
  //   abort()     undoes a staged batch (another table of the same commit failed);
  //   flip()      makes the staged batch what readers see: in place on their copy when
  //               staging freed no tbl8 group (then both copies are done: caught_up()), else
  //               by switching readers to the staged copy (one release store);
  //   readers_left() says that every reader has passed a quiescent state since flip();
  //   catch_up()  after a switch and readers_left(), applies the batch to the copy readers
  //               left, or catch_up_some() at most max_ops more of it (true once done).
  // One batch at a time: stage() after flip() finishes the catch-up first, so a commit can
  // leave the catch-up to idle moments of the writer's thread (Publisher::catch_up_some).
  // Why in place at all: after a switch readers find none of their lines in the CPU caches
  // (7.3 % of the uniform forwarding rate at 100 switches a second: worker-bench
  // --turn-switch), and a batch that frees no tbl8 group writes nothing a reader could see
  // torn: 4-byte entries, and new groups filled before the tbl24 entry that points at them
  // (as rte_lpm's readers rely on).
  void stage(std::span<const FibOp> ops);
  void abort();
  void flip();
  void readers_left();
  void catch_up();
  bool catch_up_some(size_t max_ops);
  bool caught_up() const;
  // Ops of the last switched batch the copy readers left has yet to take (0: caught up).
  size_t behind() const;
  // The four in a row, waiting for the grace period on `rcu`: for tests and tools.
  void apply(std::span<const FibOp> ops, Qsbr& rcu);

  // Writer-side lookup on the current copy.
  uint32_t lookup(uint32_t ip) const;
  size_t routes() const { return routes_; }
  // Batches published by switching readers to the other copy, and in place.
  uint64_t flips() const { return flips_; }
  uint64_t in_place() const { return in_place_; }
  size_t memory_bytes() const;
  const Params& params() const { return params_; }

 private:
  struct Pending;  // the batch between stage() and catch_up(): ops and undo records

  Params params_;
  std::unique_ptr<Pending> pending_;
  rte_fib* copies_[2] = {nullptr, nullptr};
  const uint32_t* tbl24_[2] = {nullptr, nullptr};
  std::atomic<uint32_t> active_{0};
  size_t routes_ = 0;
  uint64_t flips_ = 0;
  uint64_t in_place_ = 0;
};

}  // namespace routerd
