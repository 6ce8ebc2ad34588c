#include "fib6.hpp"

#include <rte_errno.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rib_warm.hpp"
#include "spare_core.hpp"

namespace routerd {

// What reverts one op of a staged batch.
struct Fib6Undo {
  Prefix6 prefix;
  bool existed;
  uint32_t old_nh;
};

namespace {

std::string why(int rc) {
  return rc == -ENOSPC   ? "no free tbl8 group (raise fib6.tbl8_groups)"
         : rc == -ENOMEM ? "IPv6 FIB route limit reached (raise fib6.max_routes)"
                         : std::string(rte_strerror(-rc));
}

// Each rte_fib6 add or delete walks the copy's RIB from the root several times (the
// covering scan, the lookups of the parent and of the prefix, the insert), a dependent miss
// per level of a trie 20-30 nodes deep on a full table: the paths of the first
// Rib6Warmer::kGroup ops are walked side by side first, and the tbl24 entry each op writes
// (or, past /24, reads first) is fetched.
void warm_ahead(rte_fib6* fib, const uint32_t* tbl24, std::span<const Fib6Op> ops) {
  std::array<Prefix6, Rib6Warmer::kGroup> group;
  const size_t k = std::min(group.size(), ops.size());
  for (size_t j = 0; j < k; ++j) group[j] = ops[j].prefix;
  Rib6Warmer::warm(rte_fib6_get_rib(fib), std::span<const Prefix6>(group.data(), k));
  if (tbl24)
    for (size_t j = 0; j < k; ++j)
      rte_prefetch0_write(&tbl24[Fib6::tbl24_index(group[j].addr.b.data())]);
}

}  // namespace

namespace {

// DPDK 22.11 keeps a trie as a private struct (lib/fib/trie.h, struct rte_trie_tbl): the
// number of tbl8 groups at offset 0, the tbl8 pointer at 32 (after three 32-bit fields, the
// default next hop and the next-hop size), and as its cache-aligned last member tbl24, at
// offset 64 (after the pool pointer and a 32-bit field: 52 bytes). Trusted only when, in the
// fresh, empty table, a /24 shows up in tbl24 as Fib6::TrieView says and goes away again when
// deleted, and a /32 makes its tbl24 entry extended with its next hop at byte 3's place in
// that group. DPDK 22.11 never gives back the tbl8 reservation of a deleted prefix longer
// than /24 (fib6.hpp): *leaked counts the /32's.
constexpr size_t kTrieGroupsOffset = 0;
constexpr size_t kTrieTbl8Offset = 32;
constexpr size_t kTrieTbl24Offset = 64;

Fib6::TrieView find_trie6(rte_fib6* fib, uint32_t groups, uint64_t* leaked) {
  const auto* dp = static_cast<const uint8_t*>(rte_fib6_get_dp(fib));
  Fib6::TrieView v;
  uint32_t n = 0;
  std::memcpy(&n, dp + kTrieGroupsOffset, 4);
  uint64_t tbl8 = 0;
  std::memcpy(&tbl8, dp + kTrieTbl8Offset, 8);
  const auto* t = reinterpret_cast<const uint32_t*>(dp + kTrieTbl24Offset);
  if (n != groups || tbl8 == 0) return {};
  uint8_t probe[RTE_FIB6_IPV6_ADDR_SIZE] = {0x3f, 0xfe, 0x42};  // 3ffe:4200::/24
  const uint32_t i = 0x3ffe42;
  if (t[i] != 0 || t[i + 1] != 0 || t[i - 1] != 0) return {};
  if (rte_fib6_add(fib, probe, 24, 0x2a5) != 0) return {};
  const bool seen = t[i] == 0x2a5u << 1 && t[i + 1] == 0 && t[i - 1] == 0;
  const bool gone = rte_fib6_delete(fib, probe, 24) == 0 && t[i] == 0;
  if (!seen || !gone) return {};
  probe[2] = 0x43;  // 3ffe:4300::/32
  if (rte_fib6_add(fib, probe, 32, 0x2a6) != 0) return {};
  ++*leaked;
  const uint32_t e = t[0x3ffe43];
  const auto* g = reinterpret_cast<const uint32_t*>(tbl8);
  const bool ext = (e & 1) != 0 && (e >> 1) < groups && g[(e >> 1) * 256] == 0x2a6u << 1 &&
                   g[(e >> 1) * 256 + 1] == 0;
  if (rte_fib6_delete(fib, probe, 32) != 0 || !ext) return {};
  v.tbl24 = t;
  v.tbl8 = g;
  v.groups = groups;
  return v;
}

}  // namespace

struct Fib6::Pending {
  struct Free {
    void operator()(rte_fib6* f) const { rte_fib6_free(f); }
  };
  std::vector<Fib6Op> ops;
  std::vector<Fib6Undo> undo;  // emptied by flip()
  bool rebuilt = false;        // stage() rebuilt the copy with the batch: abort() rebuilds again
  bool flipped = false;
  bool dense = false;  // most of the table: not warmed (see apply_to)
  bool left = false;   // readers_left(): the copy readers left may be written
  size_t caught = 0;   // ops of the batch that copy has taken
  // The whole table after the batch, filled on the spare core: catch_up() puts it in place
  // of the copy readers left instead of applying the batch there.
  std::unique_ptr<rte_fib6, Free> fresh;
  TrieView fresh_view;      // its self-check's answer (see trie_for_prefetch)
  uint64_t fresh_leak = 0;  // and what that self-check leaked
};

// A copy being filled on the spare core while stage() writes the other. Its destructor waits
// for the job, so no exit from stage() leaves it running on memory about to be freed.
struct Fib6::Fill {
  std::vector<std::pair<Prefix6, uint32_t>> want;  // address order, covers first
  rte_fib6* fib = nullptr;                         // created by the writer: see start_fill()
  TrieView view;
  uint64_t leak = 0;
  int rc = 0;
  SpareCore* core = nullptr;  // while the job may run

  Fill() = default;
  Fill(const Fill&) = delete;
  Fill& operator=(const Fill&) = delete;
  ~Fill() {
    finish();
    if (fib) rte_fib6_free(fib);
  }
  void finish() {
    if (core) core->wait();
    core = nullptr;
  }
  void run() {
    for (const auto& [p, nh] : want) {
      const int r = rte_fib6_add(fib, p.addr.b.data(), p.len, Fib6::encode(nh, p.len));
      if (r != 0) {
        rc = r;
        return;
      }
    }
  }
};

Fib6::Fib6(const char* name, const Params& params) : name_(name), params_(params) {
  for (int i = 0; i < 2; ++i) {
    probe_leak_ = 0;
    copies_[i] = create(i, &view_[i]);
    leaked_[i] = probe_leak_;
    if (!copies_[i]) {
      const int err = rte_errno;
      if (i == 1) rte_fib6_free(copies_[0]);
      throw FibError(
          "cannot create IPv6 FIB '" + name_ + "' (" + std::to_string(params.max_routes) +
          " routes, " + std::to_string(params.tbl8_groups) + " tbl8 groups, about " +
          std::to_string(memory_bytes() >> 20) + " MiB for both copies): " + rte_strerror(err) +
          "; raise EAL -m or lower fib6.max_routes/tbl8_groups");
    }
  }
}

Fib6::~Fib6() {
  rte_fib6_free(copies_[0]);
  rte_fib6_free(copies_[1]);
}

std::string Fib6::fresh_name(int copy) {
  // A rebuilt or refilled copy is made before the old one is freed, and a failed rebuild may
  // be followed by another while the copy stays: a name is never used twice.
  return name_ + (copy ? "_b" : "_a") + std::to_string(names_[copy]++);
}

rte_fib6* Fib6::create_named(const std::string& name, const Params& params, TrieView* view,
                             uint64_t* leaked) {
  rte_fib6_conf conf;
  std::memset(&conf, 0, sizeof conf);
  conf.type = RTE_FIB6_TRIE;
  conf.default_nh = kNoRoute;
  conf.max_routes = int(params.max_routes);
  conf.trie.nh_sz = RTE_FIB6_TRIE_4B;
  conf.trie.num_tbl8 = params.tbl8_groups;
  rte_fib6* fib = rte_fib6_create(name.c_str(), params.socket, &conf);
  *view = fib ? find_trie6(fib, params.tbl8_groups, leaked) : TrieView{};
  return fib;
}

rte_fib6* Fib6::create(int copy, TrieView* view) {
  return create_named(fresh_name(copy), params_, view, &probe_leak_);
}

size_t Fib6::memory_bytes() const {
  // Per copy: tbl24 (2^24 4-byte entries), tbl8 groups (256 entries each), RIB nodes.
  const size_t per = (size_t(1) << 24) * 4 + size_t(params_.tbl8_groups + 1) * 256 * 4 +
                     size_t(params_.max_routes) * 2 * 96;
  return 2 * per;
}

uint32_t Fib6::lookup(const Ipv6& ip) const {
  uint8_t ips[1][RTE_FIB6_IPV6_ADDR_SIZE];
  std::memcpy(ips[0], ip.b.data(), 16);
  uint64_t nh = kNoRoute;
  rte_fib6_lookup_bulk(copies_[active_.load(std::memory_order_relaxed)], ips, &nh, 1);
  return decode(nh);
}

bool Fib6::due(int copy) const {
  return double(leaked_[copy]) >= kRebuildAt * double(params_.tbl8_groups);
}

bool Fib6::wide(size_t ops) const {
  // Filling a copy from scratch costs about one add per route; catching it up, one per op.
  // Worth a second core only for a batch of most of the table, and not for a small one.
  return ops >= 4096 && ops * 2 >= routes_.size();
}

namespace {

// Applies ops to one copy. With undo_out, records how to revert each op from `routes` (what
// the copy holds); on failure it throws ApplyError carrying rte's code, with what it did
// recorded in *undo_out for the caller to revert. Without it (catch-up of ops that already
// succeeded on the other copy) deletes of absent prefixes are ignored. Adds to *leaked the
// groups each delete may have leaked.
struct ApplyError : FibError {
  int rc;
  ApplyError(const std::string& what, int code) : FibError(what), rc(code) {}
};

void undo_all(rte_fib6* fib, const std::vector<Fib6Undo>& undo, uint64_t* leaked) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    const int rc = it->existed ? rte_fib6_add(fib, it->prefix.addr.b.data(), it->prefix.len,
                                              Fib6::encode(it->old_nh, it->prefix.len))
                               : rte_fib6_delete(fib, it->prefix.addr.b.data(), it->prefix.len);
    if (rc != 0 && rc != -ENOENT)
      throw std::logic_error("IPv6 FIB undo failed for " + it->prefix.str() + ": " + why(rc));
    if (!it->existed) *leaked += Fib6::groups_of(it->prefix.len);
  }
}

// The first entry of m not before p, given that every entry before `from` is before p: a walk
// when the batch is dense in m (a full table load), a search when it is sparse (one route).
template <class Map, class It>
It seek(Map& m, It from, const Prefix6& p, bool walk) {
  if (!walk) return m.lower_bound(p);
  while (from != m.end() && from->first < p) ++from;
  return from;
}

bool dense(size_t ops, size_t routes) {
  return ops * 16 >= routes;
}

// ops must be net_ops()'s: one per prefix, in address order.
// `walk`: the batch (ops may be a slice of it) is dense(), so its ops are not warmed.
void apply_to(rte_fib6* fib, const uint32_t* tbl24, std::span<const Fib6Op> ops,
              const std::map<Prefix6, uint32_t>& routes, std::vector<Fib6Undo>* undo_out,
              uint64_t* leaked, bool walk) {
  std::vector<Fib6Undo> undo;
  if (undo_out) undo.reserve(ops.size());
  // ops and routes are both in address order: one merged walk finds each prefix's state
  // before the batch (a catch-up, with no undo to record, needs none).
  auto r = routes.begin();
  for (size_t i = 0; i < ops.size(); ++i) {
    // A dense batch (a table load) walks paths the previous op just warmed: in address
    // order consecutive prefixes share most of theirs (fib-bench: warming a full-table
    // insert made it 3 % slower; random churn 1.2-1.6x faster).
    if (!walk && i % Rib6Warmer::kGroup == 0) warm_ahead(fib, tbl24, ops.subspan(i));
    const Fib6Op& op = ops[i];
    bool present = false;
    uint32_t old_nh = 0;
    if (undo_out) {
      r = seek(routes, r, op.prefix, walk);
      present = r != routes.end() && r->first == op.prefix;
      if (present) old_nh = r->second;
    }
    int rc;
    if (op.remove) {
      rc = present || !undo_out ? rte_fib6_delete(fib, op.prefix.addr.b.data(), op.prefix.len) : 0;
      if (rc == -ENOENT && !undo_out) rc = 0;
    } else {
      rc = rte_fib6_add(fib, op.prefix.addr.b.data(), op.prefix.len,
                        Fib6::encode(op.nh, op.prefix.len));
    }
    if (rc != 0) {
      if (undo_out) *undo_out = std::move(undo);
      throw ApplyError("cannot install " + op.prefix.str() + ": " + why(rc), rc);
    }
    if (op.remove && (present || !undo_out)) *leaked += Fib6::groups_of(op.prefix.len);
    if (undo_out) undo.push_back(Fib6Undo{op.prefix, present, old_nh});
  }
  if (undo_out) *undo_out = std::move(undo);
}

// A batch as the copies apply it: every op checked, then only the last op on each prefix
// (what the batch leaves; no reader sees a copy between two ops of one batch), in address
// order with each covering prefix before its more-specifics. That order walks the trie's
// tbl24 sequentially and reserves the fewest tbl8 groups (see rebuild()); the RIB hands
// routes over in hash order.
std::vector<Fib6Op> net_ops(std::span<const Fib6Op> ops) {
  for (const Fib6Op& op : ops)
    if (op.prefix.len > 128 || !(ipv6_mask(op.prefix.addr, op.prefix.len) == op.prefix.addr) ||
        (!op.remove && (op.nh > Fib6::kMaxNextHop || op.nh == Fib6::kNoRoute)))
      throw ApplyError("cannot install " + op.prefix.str() + ": " + why(-EINVAL), -EINVAL);
  std::vector<Fib6Op> net(ops.begin(), ops.end());
  std::stable_sort(net.begin(), net.end(),
                   [](const Fib6Op& a, const Fib6Op& b) { return a.prefix < b.prefix; });
  // Keep the last of each run of equal prefixes.
  size_t out = 0;
  for (size_t i = 0; i < net.size(); ++i) {
    if (i + 1 < net.size() && net[i + 1].prefix == net[i].prefix) continue;
    net[out++] = net[i];
  }
  net.resize(out);
  return net;
}

}  // namespace

void Fib6::rebuild(int copy, std::span<const Fib6Op> extra) {
  std::map<Prefix6, uint32_t> want = routes_;
  for (const Fib6Op& op : extra) {
    if (op.remove)
      want.erase(op.prefix);
    else
      want[op.prefix] = op.nh;
  }
  TrieView view;
  probe_leak_ = 0;
  rte_fib6* fresh = create(copy, &view);
  if (!fresh)
    throw FibError("cannot rebuild IPv6 FIB '" + name_ + "': " + rte_strerror(rte_errno) +
                   " (a rebuild needs room for a third copy for a moment; raise EAL -m)");
  // Address order with each covering prefix before its more-specifics: the order that
  // reserves the fewest tbl8 groups (217,715 for the 2024 table; 299,322 in the RIB's).
  for (const auto& [p, nh] : want) {
    const int rc = rte_fib6_add(fresh, p.addr.b.data(), p.len, encode(nh, p.len));
    if (rc != 0) {
      rte_fib6_free(fresh);
      throw ApplyError("cannot install " + p.str() + " while rebuilding: " + why(rc), rc);
    }
  }
  rte_fib6_free(copies_[copy]);
  copies_[copy] = fresh;
  view_[copy] = view;  // no reader uses this copy
  leaked_[copy] = probe_leak_;
  ++rebuilds_;
}

void Fib6::restore(int copy, const std::vector<Fib6Undo>& undo) {
  // 22.11's delete can itself fail with -ENOSPC when the groups run short (it rewrites the
  // covering path): then the copy, which has no readers, is rebuilt from routes_ instead.
  try {
    undo_all(copies_[copy], undo, &leaked_[copy]);
  } catch (const std::logic_error&) {
    rebuild(copy, {});
  }
}

void Fib6::start_fill(Fill& f, int copy, std::span<const Fib6Op> ops) {
  // routes_ and ops are both in address order: one merged walk gives the table after the
  // batch in the order rebuild() adds it.
  f.want.reserve(routes_.size() + ops.size());
  auto r = routes_.begin();
  for (const Fib6Op& op : ops) {
    for (; r != routes_.end() && r->first < op.prefix; ++r)
      f.want.emplace_back(r->first, r->second);
    if (r != routes_.end() && r->first == op.prefix) ++r;
    if (!op.remove) f.want.emplace_back(op.prefix, op.nh);
  }
  for (; r != routes_.end(); ++r) f.want.emplace_back(r->first, r->second);
  // Created here, not by the job: DPDK 22.11 creates and frees tables under its tailq lock,
  // which ThreadSanitizer cannot see, and the writer may rebuild (create and free) its own
  // copy meanwhile. The job then touches only this table.
  f.fib = create_named(fresh_name(copy), params_, &f.view, &f.leak);
  if (!f.fib) return;  // no room for a third copy now: the catch-up runs as usual
  Fill* fp = &f;
  if (spare_core_->start([fp] { fp->run(); })) {
    f.core = spare_core_;
  } else {
    rte_fib6_free(f.fib);
    f.fib = nullptr;
  }
}

void Fib6::stage(std::span<const Fib6Op> batch) {
  if (pending_ && pending_->left) catch_up();
  if (pending_) throw std::logic_error("Fib6::stage: the previous batch is not caught up");
  auto p = std::make_unique<Pending>();
  p->ops = net_ops(batch);
  const std::span<const Fib6Op> ops(p->ops);
  const int spare = int(active_.load(std::memory_order_relaxed) ^ 1);
  // Every way out of stage() waits for the fill first (Fill's destructor).
  Fill fill;
  // Asked first: with the workers running no lcore is idle, and building the table for a
  // fill nobody takes cost 5 % of a full-table load (a third fib6 created and freed).
  if (spare_core_ && wide(ops.size()) && spare_core_->available()) start_fill(fill, spare ^ 1, ops);
  // The spare copy has had no readers since the grace period before the last catch_up().
  if (due(spare)) rebuild(spare, {});
  p->dense = dense(ops.size(), routes_.size());
  try {
    apply_to(copies_[spare], view_[spare].tbl24, ops, routes_, &p->undo, &leaked_[spare], p->dense);
  } catch (const ApplyError& e) {
    restore(spare, p->undo);
    if (e.rc != -ENOSPC) throw;
    // Maybe only the leak: a fresh copy with the batch decides. If even that has no room,
    // the batch is too big: the copy stays as apply_to() left it (undone), and the error is
    // the batch's own.
    const ApplyError first = e;
    try {
      rebuild(spare, ops);
    } catch (const ApplyError&) {
      throw first;
    }
    p->rebuilt = true;
  }
  fill.finish();
  // A fill that failed (a refused batch is refused on the copy above first) leaves the
  // catch-up to the usual path.
  if (fill.fib && fill.rc == 0) {
    p->fresh.reset(std::exchange(fill.fib, nullptr));
    p->fresh_view = fill.view;
    p->fresh_leak = fill.leak;
  }
  pending_ = std::move(p);
}

void Fib6::abort() {
  if (!pending_ || pending_->flipped) throw std::logic_error("Fib6::abort: nothing staged");
  const int spare = int(active_.load(std::memory_order_relaxed) ^ 1);
  if (pending_->rebuilt)
    rebuild(spare, {});
  else
    restore(spare, pending_->undo);
  pending_.reset();
}

void Fib6::flip() {
  if (!pending_ || pending_->flipped) throw std::logic_error("Fib6::flip: nothing staged");
  active_.store(active_.load(std::memory_order_relaxed) ^ 1, std::memory_order_release);
  // The ops are in address order: each lands at or after the previous one's place.
  auto at = routes_.begin();
  const bool walk = dense(pending_->ops.size(), routes_.size());
  for (const Fib6Op& op : pending_->ops) {
    at = seek(routes_, at, op.prefix, walk);
    if (op.remove) {
      if (at != routes_.end() && at->first == op.prefix) at = routes_.erase(at);
    } else {
      at = routes_.insert_or_assign(at, op.prefix, op.nh);
    }
  }
  pending_->flipped = true;
  pending_->undo = {};
}

bool Fib6::catch_up_some(size_t max_ops) {
  if (!pending_ || !pending_->left)
    throw std::logic_error("Fib6::catch_up: no flipped batch whose readers left");
  const int behind = int(active_.load(std::memory_order_relaxed) ^ 1);
  Pending& p = *pending_;
  // routes_ already holds the batch: a rebuild needs no ops, and replaces a copy that had
  // part of the batch as well as one that had none.
  if (p.fresh) {
    rte_fib6_free(copies_[behind]);
    copies_[behind] = p.fresh.release();
    view_[behind] = p.fresh_view;  // no reader uses this copy
    leaked_[behind] = p.fresh_leak;
    ++parallel_fills_;
  } else if (p.rebuilt || (p.caught == 0 && due(behind))) {
    rebuild(behind, {});
  } else {
    const size_t n = std::min(max_ops, p.ops.size() - p.caught);
    try {
      apply_to(copies_[behind], view_[behind].tbl24,
               std::span<const Fib6Op>(p.ops).subspan(p.caught, n), routes_, nullptr,
               &leaked_[behind], p.dense);
    } catch (const ApplyError& e) {
      // The copies' leaks differ after a rebuild: this one may lack groups the other had.
      if (e.rc != -ENOSPC)
        throw std::logic_error(std::string("IPv6 FIB copies diverged: ") + e.what());
      rebuild(behind, {});
      pending_.reset();
      return true;
    }
    p.caught += n;
    if (p.caught < p.ops.size()) return false;
  }
  pending_.reset();
  return true;
}

void Fib6::readers_left() {
  if (!pending_ || !pending_->flipped)
    throw std::logic_error("Fib6::readers_left: nothing flipped");
  pending_->left = true;
}

size_t Fib6::behind() const {
  if (!pending_ || !pending_->flipped) return 0;
  return pending_->ops.size() - pending_->caught;
}

void Fib6::catch_up() {
  catch_up_some(SIZE_MAX);
}

void Fib6::apply(std::span<const Fib6Op> ops, Qsbr& rcu) {
  if (ops.empty()) return;
  stage(ops);
  flip();
  rcu.synchronize();
  readers_left();
  catch_up();
}

}  // namespace routerd
