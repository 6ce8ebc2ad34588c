#include "fib.hpp"

#include <rte_atomic.h>
#include <rte_errno.h>
#include <rte_prefetch.h>
#include <rte_rib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "inet.hpp"
#include "rib_warm.hpp"

namespace routerd {

// How to revert one op on one copy (not in the anonymous namespace: Fib::Pending holds them).
struct Fib4Undo {
  uint32_t prefix;
  uint8_t len;
  bool existed;
  uint64_t old_nh;
};

namespace {

// Reverts a copy, newest first: each inverse either deletes what was added or restores a
// prefix that existed, neither of which needs a tbl8 group the batch did not free first.
void undo_all(rte_fib* fib, const std::vector<Fib4Undo>& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    int urc = it->existed ? rte_fib_add(fib, it->prefix, it->len, it->old_nh)
                          : rte_fib_delete(fib, it->prefix, it->len);
    if (urc != 0 && urc != -ENOENT)
      throw std::logic_error("FIB undo failed for " + Prefix4{Ipv4(it->prefix), it->len}.str());
  }
}

std::string op_str(const FibOp& op) {
  return Prefix4{Ipv4(op.prefix), op.len}.str();
}

}  // namespace

struct Fib::Pending {
  std::vector<FibOp> ops;
  std::vector<Fib4Undo> undo;  // emptied by flip(): from then on only catch_up() may follow
  int64_t delta = 0;
  bool flipped = false;
  bool in_place = false;  // staging freed no tbl8 group: flip() writes the live copy itself
  bool left = false;      // readers_left(): the copy readers left may be written
  size_t caught = 0;      // ops of the batch that copy has taken
};

namespace {

// DPDK 22.11 keeps a dir24_8 table as a private struct whose cache-aligned last member is
// tbl24 (after four 32-bit fields, the default next hop and two pointers: 40 bytes, so
// at offset 64), with entries of nh_sz bytes holding next hop << 1 | "extended". Trusted
// only when a route added to the fresh table shows up there as that says, and goes away
// again when deleted.
constexpr size_t kTbl24Offset = 64;

const uint32_t* find_tbl24(rte_fib* fib) {
  auto* t = reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(rte_fib_get_dp(fib)) +
                                              kTbl24Offset);
  const uint32_t probe = 0x0a000000;  // 10.0.0.0/24
  const uint32_t i = probe >> 8;
  if (t[i] != 0 || t[i + 1] != 0) return nullptr;
  if (rte_fib_add(fib, probe, 24, 0x2a5) != 0) return nullptr;
  const bool seen = t[i] == 0x2a5u << 1 && t[i + 1] == 0 && t[i - 1] == 0;
  const bool gone = rte_fib_delete(fib, probe, 24) == 0 && t[i] == 0;
  return seen && gone ? t : nullptr;
}

}  // namespace

Fib::Fib(const char* name, const Params& params) : params_(params) {
  for (int i = 0; i < 2; ++i) {
    rte_fib_conf conf;
    std::memset(&conf, 0, sizeof conf);
    conf.type = RTE_FIB_DIR24_8;
    conf.default_nh = kNoRoute;
    conf.max_routes = int(params.max_routes);
    conf.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
    conf.dir24_8.num_tbl8 = params.tbl8_groups;
    std::string n = std::string(name) + (i ? "_b" : "_a");
    copies_[i] = rte_fib_create(n.c_str(), params.socket, &conf);
    if (!copies_[i]) {
      int err = rte_errno;
      if (i == 1) rte_fib_free(copies_[0]);
      throw FibError("cannot create FIB '" + n + "' (" + std::to_string(params.max_routes) +
                     " routes, " + std::to_string(params.tbl8_groups) + " tbl8 groups, about " +
                     std::to_string(memory_bytes() >> 20) + " MiB for both copies): " +
                     rte_strerror(err) + "; raise EAL -m or lower fib.max_routes/tbl8_groups");
    }
  }
  tbl24_[0] = find_tbl24(copies_[0]);
  tbl24_[1] = tbl24_[0] ? find_tbl24(copies_[1]) : nullptr;
  if (!tbl24_[1]) tbl24_[0] = nullptr;
}

Fib::~Fib() {
  pending_.reset();
  rte_fib_free(copies_[0]);
  rte_fib_free(copies_[1]);
}

size_t Fib::memory_bytes() const {
  // Per copy: tbl24 (2^24 4-byte entries), tbl8 groups (256 entries each) and RIB nodes.
  size_t per = (size_t(1) << 24) * 4 + size_t(params_.tbl8_groups + 1) * 256 * 4 +
               size_t(params_.max_routes) * 2 * 64;
  return 2 * per;
}

uint32_t Fib::lookup(uint32_t ip) const {
  uint64_t nh = kNoRoute;
  rte_fib_lookup_bulk(copies_[active_.load(std::memory_order_relaxed)], &ip, &nh, 1);
  return decode(nh);
}

namespace {

// Applies ops to one copy and returns the change in route count; on failure undoes what it
// did to that copy and throws. Without `undo_out` (the second copy, which the same ops were
// already applied to successfully) nothing is recorded and rte_fib does its own lookups.
// `tbl24` (that copy's, when readable) is prefetched ahead of the ops. With `freed` too,
// sets *freed when an op released a tbl8 group. Only
// a prefix longer than /24 can: it lives in its /24's group, whose tbl24 entry then loses
// the "extended" bit. A shorter prefix writes into groups only around longer ones, whose
// entries (Fib::encode) never equal its own, so the group never becomes uniform. Nor is a
// group freed and refilled within one op: an op writes several ranges of its /24 only around
// longer prefixes inside its own, whose entries differ from what it writes.
int64_t apply_to(rte_fib* fib, std::span<const FibOp> ops, std::vector<Fib4Undo>* undo_out,
                 const uint32_t* tbl24 = nullptr, bool* freed = nullptr) {
  const bool undoable = undo_out != nullptr;
  int64_t delta = 0;
  rte_rib* rib = rte_fib_get_rib(fib);
  std::vector<Fib4Undo> undo;
  if (undoable) undo.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    // Each rte_fib call walks the trie from the root, one dependent miss per level on a
    // large table; walking a group's paths side by side first makes those walks hit.
    // (Walking the next group a level per op of this one instead hid none of the time:
    // the ops' own walks then missed as much.)
    if (i % RibWarmer::kGroup == 0) {
      const auto group = ops.subspan(i, std::min(RibWarmer::kGroup, ops.size() - i));
      RibWarmer::warm(rib, group);
      // Each op then writes (or, past /24, reads) its first tbl24 entry: 64 MiB of table,
      // one miss per op unless fetched with the trie paths.
      if (tbl24)
        for (const FibOp& g : group) rte_prefetch0_write(&tbl24[g.prefix >> 8]);
    }
    const FibOp& op = ops[i];
    // The second copy needs no undo record: its lookups are left to rte_fib itself.
    rte_rib_node* node = undoable ? rte_rib_lookup_exact(rib, op.prefix, op.len) : nullptr;
    Fib4Undo u{op.prefix, op.len, node != nullptr, 0};
    if (node) rte_rib_get_nh(node, &u.old_nh);
    const bool watch = freed && op.len > 24;
    const bool extended = watch && (tbl24[op.prefix >> 8] & 1) != 0;
    int rc;
    if (op.remove) {
      rc = node || !undoable ? rte_fib_delete(fib, op.prefix, op.len) : 0;
      if (rc == -ENOENT && !undoable) rc = 0;
    } else if (op.nh > Fib::kMaxNextHop || op.nh == Fib::kNoRoute) {
      rc = -EINVAL;
    } else {
      rc = rte_fib_add(fib, op.prefix, op.len, Fib::encode(op.nh, op.len));
    }
    if (rc != 0) {
      // Undo in reverse: each inverse either deletes what was added or restores a prefix
      // that existed, neither of which needs a tbl8 group the batch did not free first.
      undo_all(fib, undo);
      std::string why = rc == -ENOSPC   ? "no free tbl8 group (raise fib.tbl8_groups)"
                        : rc == -ENOMEM ? "FIB route limit reached (raise fib.max_routes)"
                                        : std::string(rte_strerror(-rc));
      throw FibError("cannot install " + op_str(op) + ": " + why);
    }
    if (extended && (tbl24[op.prefix >> 8] & 1) == 0) *freed = true;
    if (undoable) {
      undo.push_back(u);
      if (op.remove && node) --delta;
      if (!op.remove && !node) ++delta;
    }
  }
  if (undo_out) *undo_out = std::move(undo);
  return delta;
}

uint32_t last_address(const FibOp& op) {
  // A shift by 32 is undefined (x86 makes it 0, which put every /32 last).
  return op.len >= 32 ? op.prefix : op.prefix | (~uint32_t(0) >> op.len);
}

// The batch as the live copy can take it in place: one op per prefix (the last, which alone
// decides the result), adds and replaces before deletes; an add after every add inside its
// prefix, a delete before every delete inside its prefix. Then each tbl24 or tbl8 entry is
// written at most once, from its old answer to its final one: an add writes only where no
// longer prefix covers the entry (those came first), and a delete writes the covering answer
// only once no shorter delete is left to change it. Only nested prefixes need an order, so
// adds go by last address (longer first on a tie) and deletes by first address (shorter
// first): in address order otherwise, which keeps consecutive trie walks on shared paths.
// (Longest first over the whole batch made a sorted full-table load 2-3x slower than the
// same load by switching copies: one pass over the trie per prefix length.)
std::vector<FibOp> in_place_order(std::span<const FibOp> ops) {
  // Two sorts of packed 64-bit keys, no allocation per op: a third of the time of a hash
  // map of the prefixes (37 against 149 us for 2,000 ops, as the churn bench sends).
  constexpr uint64_t kIdx = 0xffffff;  // batches of at most kInPlaceMaxOps < 2^24 ops
  std::vector<uint64_t> k(ops.size());
  for (size_t i = 0; i < ops.size(); ++i)
    k[i] = (uint64_t(ops[i].prefix) << 8 | ops[i].len) << 24 | i;
  std::sort(k.begin(), k.end());
  std::vector<uint64_t> rank;
  rank.reserve(k.size());
  for (size_t i = 0; i < k.size(); ++i) {
    if (i + 1 < k.size() && k[i + 1] >> 24 == k[i] >> 24) continue;  // a later op on it
    const FibOp& op = ops[k[i] & kIdx];
    const uint64_t r = op.remove ? uint64_t(1) << 38 | uint64_t(op.prefix) << 6 | op.len
                                 : uint64_t(last_address(op)) << 6 | (32 - op.len);
    rank.push_back(r << 24 | (k[i] & kIdx));
  }
  std::sort(rank.begin(), rank.end());
  std::vector<FibOp> seq;
  seq.reserve(rank.size());
  for (const uint64_t r : rank) seq.push_back(ops[r & kIdx]);
  return seq;
}

}  // namespace

void Fib::stage(std::span<const FibOp> ops) {
  if (pending_ && pending_->left) catch_up();
  if (pending_) throw std::logic_error("Fib::stage: the previous batch is not caught up");
  auto p = std::make_unique<Pending>();
  const uint32_t spare = active_.load(std::memory_order_relaxed) ^ 1;
  // A larger batch is a table load or resync: in place it took the control thread 0.51 s
  // for the full table against 0.38 s in its own order by switching (fib-bench), and one
  // switch costs the workers a moment of refilled tbl24 lines, once.
  if (tbl24_readable() && ops.size() <= kInPlaceMaxOps) {
    std::vector<FibOp> seq = in_place_order(ops);
    const auto adds =
        size_t(std::count_if(seq.begin(), seq.end(), [](auto& o) { return !o.remove; }));
    // Adds go first, so the table must hold them all before any delete makes room (rte_rib
    // has two nodes per route).
    if (routes_ + adds <= params_.max_routes) {
      bool freed = false;
      try {
        p->delta = apply_to(copies_[spare], seq, &p->undo, tbl24_[spare], &freed);
        p->ops = std::move(seq);
        // The live copy holds the same routes, so the same ops take the same paths there,
        // freeing no group either.
        p->in_place = !freed;
        pending_ = std::move(p);
        return;
      } catch (const FibError&) {
        // The copy is unchanged. Adds first can need more tbl8 groups at once than the
        // batch's own order: that order decides.
      }
    }
  }
  p->delta = apply_to(copies_[spare], ops, &p->undo);  // throws with the copy unchanged
  p->ops.assign(ops.begin(), ops.end());
  pending_ = std::move(p);
}

void Fib::abort() {
  if (!pending_ || pending_->flipped) throw std::logic_error("Fib::abort: nothing staged");
  undo_all(copies_[active_.load(std::memory_order_relaxed) ^ 1], pending_->undo);
  pending_.reset();
}

void Fib::flip() {
  if (!pending_ || pending_->flipped) throw std::logic_error("Fib::flip: nothing staged");
  if (pending_->in_place) {
    // Next-hop slots the batch names were published before the commit: keep those stores
    // ahead of the entries that name them (a compiler barrier on x86; readers depend on the
    // id's address). DPDK's barrier rather than a C++ fence, which TSan builds refuse.
    rte_smp_wmb();
    try {
      const uint32_t live = active_.load(std::memory_order_relaxed);
      apply_to(copies_[live], pending_->ops, nullptr, tbl24_[live]);
    } catch (const FibError& e) {
      throw std::logic_error(std::string("FIB copies diverged: ") + e.what());
    }
    routes_ = size_t(int64_t(routes_) + pending_->delta);
    ++in_place_;
    pending_.reset();
    return;
  }
  active_.store(active_.load(std::memory_order_relaxed) ^ 1, std::memory_order_release);
  routes_ = size_t(int64_t(routes_) + pending_->delta);
  pending_->flipped = true;
  pending_->undo = {};
  ++flips_;
}

bool Fib::caught_up() const {
  return !pending_;
}

void Fib::readers_left() {
  if (!pending_ || !pending_->flipped) throw std::logic_error("Fib::readers_left: nothing flipped");
  pending_->left = true;
}

size_t Fib::behind() const {
  return pending_ && pending_->flipped ? pending_->ops.size() - pending_->caught : 0;
}

bool Fib::catch_up_some(size_t max_ops) {
  if (!pending_ || !pending_->left)
    throw std::logic_error("Fib::catch_up: no flipped batch whose readers left");
  Pending& p = *pending_;
  const uint32_t behind = active_.load(std::memory_order_relaxed) ^ 1;
  const size_t n = std::min(max_ops, p.ops.size() - p.caught);
  try {
    apply_to(copies_[behind], std::span<const FibOp>(p.ops).subspan(p.caught, n), nullptr,
             tbl24_[behind]);
  } catch (const FibError& e) {
    // Both copies held the same routes, so the same ops cannot fail here.
    throw std::logic_error(std::string("FIB copies diverged: ") + e.what());
  }
  p.caught += n;
  if (p.caught < p.ops.size()) return false;
  pending_.reset();
  return true;
}

void Fib::catch_up() {
  catch_up_some(SIZE_MAX);
}

void Fib::apply(std::span<const FibOp> ops, Qsbr& rcu) {
  if (ops.empty()) return;
  stage(ops);
  flip();
  if (caught_up()) return;  // applied in place
  // Readers that loaded the old copy before the flip finish their burst, report quiescent,
  // and never see it again; only then may it be written.
  rcu.synchronize();
  readers_left();
  catch_up();
}

}  // namespace routerd
