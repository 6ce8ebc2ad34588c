// publish/publisher: the one way forwarding state changes while workers read it.
// A change stages FIB entries and replaces immutable objects; commit() applies the FIB batch
// all or nothing, bumps the generation once, and only then retires what was replaced, freed
// after a grace period. Control thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include "fib.hpp"
#include "fib6.hpp"
#include "inet.hpp"
#include "inet6.hpp"
#include "nexthop.hpp"
#include "prefix_map.hpp"
#include "published.hpp"
#include "reclaimer.hpp"
#include "stats.hpp"

namespace routerd {

// What a next-hop slot stands for. One slot (and one state) per distinct key, shared by every
// FIB prefix that resolves the same way: an adjacency (port, neighbour), a connected subnet
// on a port (glean), the router itself (local), a directed broadcast, a reject route type
// (blackhole, prohibit, unreachable: one slot per type and family, port 0). Routes with their
// own MTU get their own slot, since the MTU is in the state.
enum class NhType : uint8_t {
  group,  // an ECMP group (acquire_group): its members are slots of the other types
  adjacency,
  glean,
  local,
  broadcast,
  blackhole,
  prohibit,
  unreachable
};
// IPv6 slots (family 6) are never shared with IPv4 ones: their states carry the IPv6
// EtherType and neighbour. RFC 5549: an IPv4 adjacency (family 4) may name an IPv6
// neighbour (ip6, and ip 0): its state carries the IPv4 EtherType and the MAC NDP found.
struct NhKey {
  NhType type;
  uint16_t port;
  uint32_t ip;
  uint16_t mtu = 0;  // the route's MTU metric; 0: none
  uint8_t family = 4;
  Ipv6 ip6{};  // family 6, or an IPv4 adjacency through an IPv6 gateway: the neighbour
  bool operator==(const NhKey&) const = default;
  // The neighbour (of an adjacency) is an IPv6 one: resolved by NDP, whatever the family.
  bool ndp() const { return family == 6 || !ip6.is_unspecified(); }
};
struct NhKeyHash {
  size_t operator()(const NhKey& k) const noexcept {
    return std::hash<uint64_t>{}(uint64_t(k.ip) << 32 ^ uint64_t(k.mtu) << 16 ^
                                 uint64_t(k.port) << 3 ^ uint64_t(k.type) ^
                                 uint64_t(k.family) << 8) ^
           (k.ip6.is_unspecified() ? 0 : Ipv6Hash{}(k.ip6) * 3);
  }
};

// From a commit's generation bump to the last worker seeing it, over recent commits.
struct InvalidationStats {
  size_t samples = 0;
  uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0;
  uint64_t unobserved = 0;  // not seen by every worker within a second
};

// One member of an ECMP group: a next-hop slot (adjacency or glean) and its weight (1-256).
struct GroupMember {
  uint32_t id;
  uint16_t weight;
  bool operator==(const GroupMember&) const = default;
  bool operator<(const GroupMember& o) const { return id != o.id ? id < o.id : weight < o.weight; }
};

class Publisher {
 public:
  // Builds the state slot `id` should hold for `key` now. Called when a slot is taken and on
  // refresh(); the publisher owns what it returns.
  using StateBuilder = std::function<NextHopState*(uint32_t id, const NhKey& key)>;

  // `workers` points at the workers' counter blocks, whose first-seen generations time
  // invalidation.
  Publisher(Published& pub, const LcoreStats* workers, uint32_t nworkers, StateBuilder build);
  ~Publisher();  // the workers have stopped: frees everything still published or retired
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // ---- next-hop slots
  // The slot for key. A new one gets its state published at once (no FIB entry points at it
  // yet); one nothing references by the end of the change is released at commit. Throws
  // FibError when every slot is taken.
  uint32_t acquire(const NhKey& key);
  // Rebuilds the state of every slot whose key matches and publishes those that differ; the
  // replaced states are retired after the next bump.
  void refresh_if(const std::function<bool(const NhKey&)>& match);
  const NextHopState* state(uint32_t id) const {
    return id < slots_.size() ? slots_[id].state : nullptr;
  }
  // The key a slot stands for (type group for a group slot).
  const NhKey& key(uint32_t id) const { return slots_[id].key; }

  // ---- ECMP groups
  // The group slot for this member set (1 to 64 members, distinct slots from acquire(),
  // weights 1-256): shared by the routes with the same set and family, released like any
  // slot when no FIB entry uses it. A new group holds a reference on each member, and its
  // buckets start from those of `seed` (the group slot the route had before, or 0), so a
  // route whose set changes moves only the flows it must; an existing group of the set is
  // shared only if it gives every bucket of a staying member to that member, else the route
  // gets a group of its own with the same set. Throws FibError (table full) or
  // std::invalid_argument (a bad set).
  //
  // When no such group exists and the route is the seed's only user, the seed itself
  // takes the new set: a new group object is published under the same slot id, so the
  // route's FIB entry is not rewritten (a member or weight change costs one bump, no FIB
  // batch). commit() keeps it; rollback() or a failed commit() restores the old set and
  // table. Call it only for the prefix whose FIB entry is `seed` and set that prefix to
  // the id it returns in the same change.
  uint32_t acquire_group(std::vector<GroupMember> members, uint8_t family, uint32_t seed = 0);
  // A group slot's members (sorted by slot) and bucket table (member index per bucket);
  // nullptr for any other slot.
  const std::vector<GroupMember>* group_members(uint32_t id) const {
    return id < slots_.size() && slots_[id].is_group() ? &slots_[id].members : nullptr;
  }
  const std::vector<uint8_t>& group_buckets(uint32_t id) const { return slots_[id].buckets; }
  // Group slots in use, and the groups a member slot belongs to.
  size_t groups_used() const { return groups_by_set_.size(); }
  const std::vector<uint32_t>& groups_of(uint32_t member) const { return slots_[member].groups; }
  // Calls f(id) for every group slot in use.
  template <class F>
  void for_each_group(F&& f) const {
    for (const auto& [k, id] : groups_by_set_) f(id);
  }
  // Packets ECMP groups sent through next-hop slot id since it took its present next hop
  // (the workers count per slot, whichever of the slot's groups picked it).
  uint64_t via_packets(uint32_t id) const {
    return id < slots_.size() && slots_[id].used ? via_counted(id) - slots_[id].via_base : 0;
  }
  // Members taken out of (or put back into) their groups' buckets since startup.
  uint64_t member_downs() const { return member_downs_; }
  uint64_t member_ups() const { return member_ups_; }
  size_t slots_used() const { return used_; }

  // ---- FIB entries, staged until commit()
  void set_route(const Prefix4& p, uint32_t nh);  // nh from acquire(); Fib::kNoRoute removes
  uint32_t route(const Prefix4& p) const;         // what the FIB holds once staged ones commit
  // Room for this many more prefixes of each family, before a large change (a table load).
  void reserve(size_t prefixes4, size_t prefixes6);
  // Starts loading p's entry in the record of the FIB, for a set_route a few routes later.
  void prefetch_route(const Prefix4& p) const { fib_.prefetch(p); }
  void prefetch_route(const Prefix6& p) const { fib6_.prefetch(p); }
  // The same for the IPv6 FIB; one commit applies both tables or neither.
  void set_route(const Prefix6& p, uint32_t nh);
  uint32_t route(const Prefix6& p) const;

  // ---- snapshots: published at once, the old one retired after the bump
  void replace_ifs(IfSnapshot* fresh);

  // ---- the one commit
  // Applies the staged FIB entries as one batch, or none of them: on FibError everything
  // staged is rolled back and the error rethrown. Either way, if anything was published
  // the generation is bumped once, and only then are the replaced objects retired.
  void commit();
  // Drops the staged FIB entries (the caller's own change failed before it could commit);
  // what was published meanwhile (states, snapshots) is still bumped and retired.
  void rollback();

  // Runs what is past its grace period and times invalidations; on every control loop.
  void poll();
  // A batch that switched readers to the other FIB copy leaves the copy they left to be
  // caught up: a slice of that (a few milliseconds) per call, from the control loop when it
  // is idle; the next commit's stage() finishes what is left first. False: nothing to do.
  bool catch_up_some();
  // Ops the copies readers left have yet to take.
  size_t fib_behind() const { return pub_.fib.behind(); }
  size_t fib6_behind() const { return pub_.fib6.behind(); }
  // Waits for a grace period and runs everything retired: the next-hop slots a refused
  // change took are free again before the control loop comes round (a batch split after a
  // refusal tries its parts at once).
  void reclaim_now() { reclaimer_.drain(); }
  // Startup commits happen before workers run: they would time worker startup.
  void forget_latency_samples() { pending_gens_.clear(); }

  uint64_t generation() const { return pub_.generation.read(); }
  uint64_t commits() const { return commits_; }
  uint64_t route_updates() const { return route_updates_; }
  size_t reclaim_pending() const { return reclaimer_.pending(); }
  InvalidationStats invalidation() const;

 private:
  struct Slot {
    NhKey key{};
    uint32_t refs = 0;  // FIB prefixes (and groups) pointing at it
    NextHopState* state = nullptr;
    bool used = false;
    std::vector<GroupMember> members;  // a group: its members, sorted by id
    std::vector<uint8_t> buckets;      // a group: the published bucket table
    std::vector<uint32_t> groups;      // a member: the group slots holding it
    uint64_t via_base = 0;             // via_counted() when the slot was taken
    bool is_group() const { return used && key.type == NhType::group; }
  };
  uint32_t take_slot();
  uint64_t via_counted(uint32_t id) const;  // the workers' group counters for slot id
  NextHopState* build_group(uint32_t id, const Slot& s, const std::vector<uint8_t>& prev,
                            std::vector<uint8_t>& table) const;
  void rebuild_group(uint32_t id);
  static void check_members(std::vector<GroupMember>& members, uint32_t next,
                            const std::vector<Slot>& slots);
  // `from`'s bucket table in the member indexes of `to` (kNone for members `to` lacks).
  static std::vector<uint8_t> renamed(const Slot& from, const std::vector<GroupMember>& to);
  static bool keeps_flows(const Slot& g, const std::vector<uint8_t>& prev);
  // Removes group slot id (with s's current set) from groups_by_set_.
  void forget_group(const Slot& s, uint32_t id);
  // Gives group slot id a new member set, its buckets filled from prev (in the new set's
  // indexes), and publishes it under the same id.
  void rekey(uint32_t id, std::vector<GroupMember> members, const std::vector<uint8_t>& prev);
  // Groups given a new set in place during the current change, for rollback.
  struct Regrouped {
    uint32_t id;
    std::vector<GroupMember> members;
    std::vector<uint8_t> buckets;
  };
  std::vector<Regrouped> regrouped_;
  // A FIB prefix changed during the current change, for rollback.
  template <class P>
  struct Journal {
    P prefix;
    uint32_t old_nh;
    uint32_t new_nh;
  };
  // Proof that the generation was bumped: the only way to hand retired objects over.
  class Bumped {
    friend class Publisher;
    Bumped() = default;
  };

  void retire(std::function<void()> destroy);  // after the next bump
  void undo_staged();
  void release_unused_slots();
  void finish();  // bump if anything was published, then retire
  Bumped bump();
  // Logs, once, that a large catch-up (kCatchUpLogOps) is done.
  void log_caught_up(const char* how);
  void hand_over(const Bumped&);
  void measure_invalidation();

  Published& pub_;
  const LcoreStats* workers_;
  uint32_t nworkers_;
  StateBuilder build_;
  Reclaimer reclaimer_;

  std::vector<Slot> slots_;
  std::unordered_map<NhKey, uint32_t, NhKeyHash> by_key_;
  // Group slots by (family, member set): usually one each; more when sharing one would have
  // moved a route's flows (acquire_group).
  std::multimap<std::pair<uint8_t, std::vector<GroupMember>>, uint32_t> groups_by_set_;
  uint64_t member_downs_ = 0, member_ups_ = 0;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> maybe_unused_;  // refs dropped to 0 or never taken: check at commit
  uint32_t next_ = 1;                   // 0 is "no route"
  size_t used_ = 0;

  void ref_changed(uint32_t have, uint32_t want);
  template <class Map, class Journ>
  void undo(Map& fib, Journ& journal);

  PrefixMap<Prefix4> fib_;  // what the FIB holds
  std::vector<FibOp> ops_;
  std::vector<Journal<Prefix4>> journal_;
  PrefixMap<Prefix6> fib6_;  // what the IPv6 FIB holds
  std::vector<Fib6Op> ops6_;
  std::vector<Journal<Prefix6>> journal6_;

  const IfSnapshot* ifs_ = nullptr;

  bool dirty_ = false;                          // published something: bump the generation
  std::vector<std::function<void()>> retired_;  // replaced objects, retired after the bump

  struct GenCommit {
    uint64_t gen;
    uint64_t tsc;
  };
  std::deque<GenCommit> pending_gens_;  // commits whose observation is not yet timed
  // About 2-5 ms of catch-up per slice (fib-bench: 0.2-0.3 us per IPv4 op, 1.1 us per IPv6
  // op on a full table), so punts and commands wait no longer than that.
  static constexpr size_t kCatchUpSlice4 = 16384;
  static constexpr size_t kCatchUpSlice6 = 4096;
  static constexpr size_t kCatchUpLogOps = 65536;  // a catch-up this large is logged when done
  std::chrono::steady_clock::time_point behind_since_;
  bool behind_logged_ = true;
  uint64_t route_updates_ = 0;  // FIB prefix changes applied
  uint64_t commits_ = 0;        // generation bumps
  static constexpr size_t kLatencySamples = 8192;
  std::vector<uint32_t> inval_ns_;  // a ring of the most recent kLatencySamples
  size_t inval_next_ = 0;
  uint64_t inval_unobserved_ = 0;
};

}  // namespace routerd
