#include "publisher.hpp"

#include <rte_cycles.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "buckets.hpp"

namespace routerd {

Publisher::Publisher(Published& pub, const LcoreStats* workers, uint32_t nworkers,
                     StateBuilder build)
    : pub_(pub),
      workers_(workers),
      nworkers_(nworkers),
      build_(std::move(build)),
      reclaimer_(pub.rcu),
      slots_(pub.nexthops.size()) {}

Publisher::~Publisher() {
  // The workers have stopped: nothing reads the published state any more.
  reclaimer_.drain();
  for (uint32_t id = 0; id < slots_.size(); ++id) {
    if (!slots_[id].state) continue;
    pub_.nexthops.publish(id, nullptr);
    retire_free(slots_[id].state);
  }
  pub_.ifs.store(nullptr, std::memory_order_release);
  delete ifs_;
}

// ---------------------------------------------------------------- next-hop slots

uint32_t Publisher::take_slot() {
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else if (next_ < slots_.size()) {
    id = next_++;
  } else {
    throw FibError("next-hop table full (" + std::to_string(slots_.size() - 1) +
                   " slots; raise fib.max_next_hops)");
  }
  // A reused slot's counter still holds what groups sent through its last next hop.
  slots_[id].via_base = via_counted(id);
  return id;
}

uint64_t Publisher::via_counted(uint32_t id) const {
  uint64_t n = 0;
  for (uint32_t w = 0; workers_ && w < nworkers_; ++w)
    if (workers_[w].via_group) n += workers_[w].via_group[id].get();
  return n;
}

uint32_t Publisher::acquire(const NhKey& key) {
  if (key.type == NhType::group)
    throw std::invalid_argument("acquire: a group needs acquire_group");
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  const uint32_t id = take_slot();
  Slot& s = slots_[id];
  s.key = key;
  s.refs = 0;
  s.used = true;
  s.state = build_(id, key);
  ++used_;
  pub_.nexthops.publish(id, s.state);
  by_key_[key] = id;
  maybe_unused_.push_back(id);
  return id;
}

void Publisher::refresh_if(const std::function<bool(const NhKey&)>& match) {
  std::vector<uint32_t> groups;  // whose members' liveness changed
  for (uint32_t id = 1; id < next_; ++id) {
    Slot& s = slots_[id];
    if (!s.used || s.is_group() || !match(s.key)) continue;
    NextHopState* fresh = build_(id, s.key);
    NextHopState* old = s.state;
    if (std::memcmp(fresh->l2, old->l2, sizeof fresh->l2) == 0 && fresh->kind == old->kind &&
        fresh->port == old->port && fresh->mtu == old->mtu && fresh->gateway == old->gateway &&
        fresh->gateway6 == old->gateway6 && fresh->dead == old->dead) {
      delete fresh;
      continue;
    }
    if (fresh->dead != old->dead) {
      groups.insert(groups.end(), s.groups.begin(), s.groups.end());
      (fresh->dead ? member_downs_ : member_ups_) += s.groups.size();
    }
    s.state = fresh;
    pub_.nexthops.publish(id, fresh);
    // A worker may still be forwarding with the old state, or hold it in its route cache.
    retire([old] { retire_free(old); });
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  for (uint32_t g : groups) rebuild_group(g);
}

// ---------------------------------------------------------------- ECMP groups

void Publisher::check_members(std::vector<GroupMember>& members, uint32_t next,
                              const std::vector<Slot>& slots) {
  std::sort(members.begin(), members.end());
  if (members.empty() || members.size() > NhGroup::kMaxMembers)
    throw std::invalid_argument("a group has 1 to " + std::to_string(NhGroup::kMaxMembers) +
                                " members");
  for (size_t i = 0; i < members.size(); ++i) {
    const GroupMember& m = members[i];
    if (m.id == 0 || m.id >= next || !slots[m.id].used || slots[m.id].is_group())
      throw std::invalid_argument("a group member must be a next-hop slot");
    if (m.weight < 1 || m.weight > ecmp::kMaxWeight)
      throw std::invalid_argument("a member's weight is 1 to 256");
    if (i && members[i - 1].id == m.id)
      throw std::invalid_argument("a group names each next hop once");
  }
}

std::vector<uint8_t> Publisher::renamed(const Slot& from, const std::vector<GroupMember>& to) {
  std::vector<uint8_t> rename(from.members.size(), ecmp::kNone);
  for (size_t i = 0; i < from.members.size(); ++i)
    for (size_t j = 0; j < to.size(); ++j)
      if (to[j].id == from.members[i].id) rename[i] = uint8_t(j);
  std::vector<uint8_t> prev;
  prev.reserve(from.buckets.size());
  for (uint8_t b : from.buckets) prev.push_back(b < rename.size() ? rename[b] : ecmp::kNone);
  return prev;
}

// Whether a route that had `prev` (a bucket table in this set's member indexes, kNone where
// the member left) keeps every flow of a staying member by switching to group slot g.
bool Publisher::keeps_flows(const Slot& g, const std::vector<uint8_t>& prev) {
  if (prev.empty()) return true;
  // A flow's bucket is its hash masked by the table's size; a table at least as large
  // refines prev's, so bucket b of g holds the flows of prev's b % prev.size().
  if (g.buckets.size() < prev.size()) return false;
  for (size_t b = 0; b < g.buckets.size(); ++b) {
    const uint8_t p = prev[b % prev.size()];
    if (p != ecmp::kNone && g.buckets[b] != p) return false;
  }
  return true;
}

void Publisher::forget_group(const Slot& s, uint32_t id) {
  auto [lo, hi] = groups_by_set_.equal_range(std::make_pair(s.key.family, s.members));
  for (auto it = lo; it != hi; ++it)
    if (it->second == id) {
      groups_by_set_.erase(it);
      return;
    }
}

uint32_t Publisher::acquire_group(std::vector<GroupMember> members, uint8_t family, uint32_t seed) {
  check_members(members, next_, slots_);
  auto key = std::make_pair(family, members);
  const bool seeded = seed && seed < next_ && slots_[seed].is_group();
  // Routes with one member set share a group, unless the route would then move flows whose
  // member stays: a group of that set with another history (filled fresh, or from another
  // route's old set) may give their buckets to other members. Resilience comes first.
  std::vector<uint8_t> prev;
  if (seeded) prev = renamed(slots_[seed], members);
  auto [lo, hi] = groups_by_set_.equal_range(key);
  for (auto it = lo; it != hi; ++it)
    if (keeps_flows(slots_[it->second], prev)) return it->second;
  if (seeded && slots_[seed].refs == 1 && slots_[seed].key.family == family) {
    // The route is the seed's only user: change the group, not the route.
    Slot& s = slots_[seed];
    regrouped_.push_back({seed, s.members, s.buckets});
    rekey(seed, std::move(members), prev);
    return seed;
  }
  const uint32_t id = take_slot();
  Slot& s = slots_[id];
  s.key = NhKey{NhType::group, 0, 0, 0, family, {}};
  s.refs = 0;
  s.used = true;
  s.members = std::move(members);
  // prev: the seed's buckets, renamed to this group's member indexes; a member the seed had
  // and this group has not leaves its buckets for the fill to hand out (kNone).
  s.state = build_group(id, s, prev, s.buckets);
  for (const GroupMember& m : s.members) {
    slots_[m.id].refs++;
    slots_[m.id].groups.push_back(id);
  }
  ++used_;
  pub_.nexthops.publish(id, s.state);
  groups_by_set_.emplace(std::move(key), id);
  maybe_unused_.push_back(id);
  return id;
}

void Publisher::rekey(uint32_t id, std::vector<GroupMember> members,
                      const std::vector<uint8_t>& prev) {
  Slot& s = slots_[id];
  auto has = [](const std::vector<GroupMember>& v, uint32_t m) {
    return std::any_of(v.begin(), v.end(), [m](const GroupMember& x) { return x.id == m; });
  };
  // Joiners are referenced before leavers are dropped: a member in both is never at zero.
  for (const GroupMember& m : members)
    if (!has(s.members, m.id)) {
      slots_[m.id].refs++;
      slots_[m.id].groups.push_back(id);
    }
  for (const GroupMember& m : s.members)
    if (!has(members, m.id)) {
      Slot& ms = slots_[m.id];
      std::erase(ms.groups, id);
      if (--ms.refs == 0) maybe_unused_.push_back(m.id);
    }
  forget_group(s, id);
  s.members = std::move(members);
  groups_by_set_.emplace(std::make_pair(s.key.family, s.members), id);
  std::vector<uint8_t> table;
  NextHopState* fresh = build_group(id, s, prev, table);
  NextHopState* old = s.state;
  s.buckets = std::move(table);
  s.state = fresh;
  pub_.nexthops.publish(id, fresh);
  // Route caches may hold the old object: it goes after the bump and a grace period.
  retire([old] { retire_free(old); });
}

// A group's state: its members' slots and a bucket table filled from `prev` (resilient:
// only what must move moves). A member whose state says dead gets no buckets, unless every
// member is dead: then they all keep theirs, so that traffic still asks for resolution and
// is answered Host Unreachable as for a lone next hop.
NextHopState* Publisher::build_group(uint32_t id, const Slot& s, const std::vector<uint8_t>& prev,
                                     std::vector<uint8_t>& table) const {
  std::vector<ecmp::Member> ms;
  ms.reserve(s.members.size());
  bool any = false;
  for (const GroupMember& m : s.members) {
    const NextHopState* st = slots_[m.id].state;
    const bool alive = st && !st->dead;
    any |= alive;
    ms.push_back(ecmp::Member{m.weight, alive});
  }
  if (!any)
    for (auto& m : ms) m.alive = true;
  // Never smaller than the table it starts from: halving folds two buckets into one, and a
  // flow whose two halves had different members would move although its member stayed.
  const uint32_t nb = std::max<uint32_t>(ecmp::bucket_count(ms.size()), uint32_t(prev.size()));
  table = ecmp::fill(ms, prev, nb);
  NhGroup* g = NhGroup::make(nb);
  g->members = uint16_t(s.members.size());
  uint16_t alive = 0;
  for (size_t i = 0; i < s.members.size(); ++i) {
    g->member_id[i] = s.members[i].id;
    alive = uint16_t(alive + ms[i].alive);
  }
  g->alive = any ? alive : 0;
  for (uint32_t b = 0; b < nb; ++b) g->bucket_slot()[b] = g->member_id[table[b]];
  auto* st = new NextHopState{};
  st->kind = NhKind::group;
  st->family = s.key.family;
  st->id = id;
  st->group = g;
  return st;
}

void Publisher::rebuild_group(uint32_t id) {
  Slot& s = slots_[id];
  std::vector<uint8_t> table;
  NextHopState* fresh = build_group(id, s, s.buckets, table);
  NextHopState* old = s.state;
  if (table == s.buckets && fresh->group->alive == old->group->alive) {
    retire_free(fresh);
    return;
  }
  s.buckets = std::move(table);
  s.state = fresh;
  pub_.nexthops.publish(id, fresh);
  retire([old] { retire_free(old); });
}

// A slot whose last FIB reference went away is cleared; its id is reused only after a grace
// period, so a worker can never hold an id that has come to mean something else.
void Publisher::release_unused_slots() {
  // By index: a group released here may leave members unused, appended as it goes.
  for (size_t i = 0; i < maybe_unused_.size(); ++i) {
    const uint32_t id = maybe_unused_[i];
    Slot& s = slots_[id];
    if (!s.used || s.refs != 0) continue;
    if (s.is_group()) {
      forget_group(s, id);
      for (const GroupMember& m : s.members) {
        Slot& ms = slots_[m.id];
        std::erase(ms.groups, id);
        if (--ms.refs == 0) maybe_unused_.push_back(m.id);
      }
    } else {
      by_key_.erase(s.key);
    }
    pub_.nexthops.publish(id, nullptr);
    NextHopState* old = s.state;
    s = Slot{};
    --used_;
    retire([this, old, id] {
      retire_free(old);
      free_.push_back(id);
    });
  }
  maybe_unused_.clear();
}

// ---------------------------------------------------------------- FIB entries

uint32_t Publisher::route(const Prefix4& p) const {
  const uint32_t* nh = fib_.find(p);
  return nh ? *nh : Fib::kNoRoute;
}

void Publisher::ref_changed(uint32_t have, uint32_t want) {
  if (want != Fib::kNoRoute) slots_[want].refs++;
  if (have != Fib::kNoRoute && --slots_[have].refs == 0) maybe_unused_.push_back(have);
}

void Publisher::set_route(const Prefix4& p, uint32_t want) {
  uint32_t have;
  if (want != Fib::kNoRoute) {
    // One probe whether p is new or not.
    auto [nh, inserted] = fib_.try_emplace(p, want);
    have = inserted ? Fib::kNoRoute : *nh;
    if (want == have) return;
    *nh = want;
    ops_.push_back(FibOp{p.addr.v, p.len, false, want});
  } else {
    const uint32_t* nh = fib_.find(p);
    if (!nh) return;
    have = *nh;
    fib_.erase(p);
    ops_.push_back(FibOp{p.addr.v, p.len, true, 0});
  }
  journal_.push_back({p, have, want});
  ref_changed(have, want);
}

uint32_t Publisher::route(const Prefix6& p) const {
  const uint32_t* nh = fib6_.find(p);
  return nh ? *nh : Fib6::kNoRoute;
}

void Publisher::set_route(const Prefix6& p, uint32_t want) {
  uint32_t have;
  if (want != Fib6::kNoRoute) {
    // One probe whether p is new or not.
    auto [nh, inserted] = fib6_.try_emplace(p, want);
    have = inserted ? Fib6::kNoRoute : *nh;
    if (want == have) return;
    *nh = want;
    ops6_.push_back(Fib6Op{p, false, want});
  } else {
    const uint32_t* nh = fib6_.find(p);
    if (!nh) return;
    have = *nh;
    fib6_.erase(p);
    ops6_.push_back(Fib6Op{p, true, 0});
  }
  journal6_.push_back({p, have, want});
  ref_changed(have, want);
}

void Publisher::reserve(size_t prefixes4, size_t prefixes6) {
  if (prefixes4) fib_.reserve(fib_.size() + prefixes4);
  if (prefixes6) fib6_.reserve(fib6_.size() + prefixes6);
}

template <class Map, class Journ>
void Publisher::undo(Map& fib, Journ& journal) {
  for (auto it = journal.rbegin(); it != journal.rend(); ++it) {
    if (it->new_nh != Fib::kNoRoute && --slots_[it->new_nh].refs == 0)
      maybe_unused_.push_back(it->new_nh);
    if (it->old_nh != Fib::kNoRoute) {
      fib[it->prefix] = it->old_nh;
      slots_[it->old_nh].refs++;
    } else {
      fib.erase(it->prefix);
    }
  }
  journal.clear();
}

void Publisher::undo_staged() {
  undo(fib_, journal_);
  undo(fib6_, journal6_);
  // Newest first: a group changed twice in one change ends with its first set and table.
  for (auto it = regrouped_.rbegin(); it != regrouped_.rend(); ++it)
    rekey(it->id, std::move(it->members), it->buckets);
  regrouped_.clear();
  ops_.clear();
  ops6_.clear();
}

// ---------------------------------------------------------------- snapshots

void Publisher::replace_ifs(IfSnapshot* fresh) {
  const IfSnapshot* old = ifs_;
  ifs_ = fresh;
  pub_.ifs.store(fresh, std::memory_order_release);
  if (old) retire([old] { delete old; });
  dirty_ = true;
}

// ---------------------------------------------------------------- the commit

void Publisher::retire(std::function<void()> destroy) {
  retired_.push_back(std::move(destroy));
  dirty_ = true;
}

void Publisher::commit() {
  if (!ops_.empty() || !ops6_.empty()) {
    // Both tables are staged before either is flipped, so a batch that fails in one leaves
    // both as they were.
    try {
      if (!ops_.empty()) pub_.fib.stage(ops_);
      try {
        if (!ops6_.empty()) pub_.fib6.stage(ops6_);
      } catch (const FibError&) {
        if (!ops_.empty()) pub_.fib.abort();
        throw;
      }
    } catch (const FibError&) {
      undo_staged();
      release_unused_slots();
      finish();
      throw;
    }
    log_caught_up("by the next batch");  // stage() finished what was left
    if (!ops_.empty()) pub_.fib.flip();
    if (!ops6_.empty()) pub_.fib6.flip();
    // The copies readers left may be written only once every reader has passed a quiescent
    // state after the flip: the wait is here, and readers_left() says it is over. An IPv4
    // batch applied in place left no copy behind, but the wait stays: release_unused_slots()
    // below unpublishes the slots the batch stopped using, and a reader may hold such an id
    // from an entry it read just before that entry was rewritten (without the wait the
    // safety test saw "no route" answers).
    pub_.rcu.synchronize();
    // The catch-up itself comes later, by catch_up_some() when the control loop is idle or
    // by the next batch's stage(), on this thread either way (docs/architecture.md): the
    // batch is what readers see already, and a full IPv6 table's catch-up is a third of its
    // load (docs/performance.md).
    if (!pub_.fib.caught_up()) pub_.fib.readers_left();
    if (!pub_.fib6.caught_up()) pub_.fib6.readers_left();
    if (pub_.fib.behind() + pub_.fib6.behind() >= kCatchUpLogOps) {
      behind_since_ = std::chrono::steady_clock::now();
      behind_logged_ = false;
    }
    dirty_ = true;  // the FIB changed: route caches must not trust what they hold
    route_updates_ += ops_.size() + ops6_.size();
  }
  ops_.clear();
  journal_.clear();
  ops6_.clear();
  journal6_.clear();
  regrouped_.clear();
  release_unused_slots();
  finish();
}

bool Publisher::catch_up_some() {
  const size_t before = pub_.fib.behind() + pub_.fib6.behind();
  if (before == 0) return false;
  if (!pub_.fib.caught_up())
    pub_.fib.catch_up_some(kCatchUpSlice4);
  else
    pub_.fib6.catch_up_some(kCatchUpSlice6);
  log_caught_up("while idle");
  return true;
}

void Publisher::log_caught_up(const char* how) {
  if (behind_logged_ || pub_.fib.behind() != 0 || pub_.fib6.behind() != 0) return;
  behind_logged_ = true;
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - behind_since_).count();
  spdlog::info("FIB standby copies caught up {:.3f} s after the commit ({})", s, how);
}

void Publisher::rollback() {
  undo_staged();
  release_unused_slots();
  finish();
}

void Publisher::finish() {
  if (!dirty_) return;  // retire() sets dirty_: nothing can be waiting without a bump
  hand_over(bump());
}

Publisher::Bumped Publisher::bump() {
  // The time is taken before the bump, so a latency is never understated.
  const uint64_t t0 = rte_rdtsc();
  const uint64_t g = pub_.generation.bump();
  ++commits_;
  dirty_ = false;
  pending_gens_.push_back({g, t0});
  if (pending_gens_.size() > 4096) {
    pending_gens_.pop_front();
    ++inval_unobserved_;
  }
  return Bumped{};
}

// Route caches keep next-hop pointers across quiescent states and trust them only while their
// generation is current. So replaced objects are queued for reclamation only with proof of a
// bump: a worker that has passed the grace period acquired the RCU token taken after the
// bump, so it sees the new generation and no longer trusts entries that may point at them.
void Publisher::hand_over(const Bumped&) {
  for (auto& r : retired_) reclaimer_.retire(std::move(r));
  retired_.clear();
}

// ---------------------------------------------------------------- reclamation and latency

void Publisher::poll() {
  reclaimer_.poll();
  measure_invalidation();
}

// A worker records the first time it reads each generation (worker.cpp). A commit has
// reached every worker when each has seen it or a later one; the latency is the slowest.
void Publisher::measure_invalidation() {
  const uint64_t hz = rte_get_tsc_hz();
  while (!pending_gens_.empty()) {
    const GenCommit c = pending_gens_.front();
    uint64_t worst = 0;
    bool all = true;
    for (uint32_t w = 0; w < nworkers_ && all; ++w) {
      uint64_t first = UINT64_MAX;
      for (const auto& slot : workers_[w].gen_seen)
        if (slot.gen.load(std::memory_order_acquire) >= c.gen)
          first = std::min(first, slot.tsc.load(std::memory_order_relaxed));
      if (first == UINT64_MAX)
        all = false;
      else
        worst = std::max(worst, first > c.tsc ? first - c.tsc : 0);
    }
    if (!all) {
      if (rte_rdtsc() - c.tsc < hz) return;  // try again on the next loop
      ++inval_unobserved_;
    } else {
      auto ns = uint32_t(std::min<uint64_t>(worst * 1000000000 / hz, UINT32_MAX));
      if (inval_ns_.size() < kLatencySamples)
        inval_ns_.push_back(ns);
      else
        inval_ns_[inval_next_] = ns;
      inval_next_ = (inval_next_ + 1) % kLatencySamples;
    }
    pending_gens_.pop_front();
  }
}

InvalidationStats Publisher::invalidation() const {
  std::vector<uint32_t> v = inval_ns_;
  auto pct = [&](double q) -> uint64_t {
    if (v.empty()) return 0;
    size_t i = std::min(v.size() - 1, size_t(q * double(v.size())));
    std::nth_element(v.begin(), v.begin() + ptrdiff_t(i), v.end());
    return v[i];
  };
  InvalidationStats s;
  s.samples = v.size();
  s.p50_ns = pct(0.50);
  s.p99_ns = pct(0.99);
  s.max_ns = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  s.unobserved = inval_unobserved_;
  return s;
}

}  // namespace routerd
