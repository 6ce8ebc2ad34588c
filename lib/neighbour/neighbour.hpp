// neighbour: the ARP state machine (RFC 826, RFC 1122 2.3.2.1) and IPv6 Neighbor
// Unreachability Detection (RFC 4861 7.2, 7.3), one template over the address, with bounded
// memory: bounded entries, unresolved entries, packets held per entry and in all, and new
// resolutions per port and second; a stranger can neither create an ARP entry nor displace
// an entry the router uses; an IPv6 link-local address is one neighbour per port (RFC 4007).
// It never sends or frees anything itself: each call fills Effects with the requests to
// send and the packets to release, fail or drop, so time and I/O stay with the caller.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "inet.hpp"
#include "inet6.hpp"
#include "ratelimit.hpp"

struct rte_mbuf;

namespace routerd {

enum class NeighState : uint8_t {
  incomplete,  // request sent, packets queued
  reachable,   // MAC confirmed within reachable_ms
  stale,       // NDP: reachability unknown; used as is (RFC 4861 7.3.2)
  delay,       // NDP: a stale entry in use; probed after delay_ms unless confirmed first
  probe,       // lifetime over: still used while unicast requests re-confirm it
  failed,      // no answer: packets get Host (Address) Unreachable until the next attempt
  permanent,   // static: never ages
};
const char* neigh_state_name(NeighState s);

template <class Addr>
struct BasicNeighbour {
  Addr ip;
  uint16_t port = 0;
  Mac mac;
  NeighState state = NeighState::incomplete;
  bool router = false;  // NDP: IsRouter, from the last NA's R flag, an RA or an RS (RFC 4861)
  // A next hop depends on the entry: resolve() created or used it (or use() said so). NDP
  // re-confirms a used entry that went stale; an unused one is forgotten after stale_ms.
  // ARP entries are always used (only resolve() creates them).
  bool used = false;
  uint64_t confirmed_ms = 0;  // last time the MAC was set or confirmed (locktime counts from it)
  uint64_t last_request_ms = 0;
  uint64_t next_ms = 0;         // next timer: retransmit, probe or expiry
  uint32_t requests = 0;        // requests sent in the current attempt
  std::deque<rte_mbuf*> queue;  // packets waiting for the MAC, oldest first

  bool usable() const {
    return state == NeighState::reachable || state == NeighState::stale ||
           state == NeighState::delay || state == NeighState::probe ||
           state == NeighState::permanent;
  }

  // BasicNeighbourTable's eviction lists (oldest first); not for other readers.
  BasicNeighbour* lru_prev = nullptr;
  BasicNeighbour* lru_next = nullptr;
  int8_t lru = -1;  // which list, or -1
};
using Neighbour = BasicNeighbour<Ipv4>;
using Neighbour6 = BasicNeighbour<Ipv6>;

// The table's key. IPv4: the address. IPv6: the address and its zone (RFC 4007). A
// link-local address is unique only on its link (every link may have its fe80::1), so its
// zone is the port: the same address on two ports is two neighbours, and a message on one
// port never touches the other's entry. Any other address is unique: its zone is kNoZone,
// so its entry is found whatever the port and may move between ports (subject to the
// locktime), as before. The port is the zone rather than part of every key so that IPv4,
// and global IPv6, keep their one-entry-per-address rules.
struct ScopedIpv6 {
  static constexpr uint16_t kNoZone = 0xffff;
  Ipv6 ip;
  uint16_t zone = kNoZone;
  bool operator==(const ScopedIpv6&) const = default;
  auto operator<=>(const ScopedIpv6&) const = default;
};
struct ScopedIpv6Hash {
  size_t operator()(const ScopedIpv6& k) const noexcept {
    return Ipv6Hash{}(k.ip) ^ (size_t(k.zone) * 0x9e3779b97f4a7c15ull);
  }
};
struct NeighbourIpv4Hash {
  size_t operator()(Ipv4 a) const noexcept { return std::hash<uint32_t>{}(a.v); }
};
template <class Addr>
struct NeighbourKey;
template <>
struct NeighbourKey<Ipv4> {
  using type = Ipv4;
  using hash = NeighbourIpv4Hash;
  static Ipv4 of(Ipv4 ip, uint16_t /*port*/) { return ip; }
};
template <>
struct NeighbourKey<Ipv6> {
  using type = ScopedIpv6;
  using hash = ScopedIpv6Hash;
  static ScopedIpv6 of(const Ipv6& ip, uint16_t port) {
    return ScopedIpv6{ip, ip.is_link_local() ? port : ScopedIpv6::kNoZone};
  }
};

// Ipv4: ARP. Ipv6: NDP, which adds STALE and DELAY, FAILED after a failed re-confirmation,
// and entries learnt from a neighbour's own solicitation (see docs/architecture.md,
// "Neighbor Discovery").
template <class Addr>
class BasicNeighbourTable {
 public:
  static constexpr bool kNdp = std::is_same_v<Addr, Ipv6>;
  using Entry = BasicNeighbour<Addr>;
  // Ipv4, or ScopedIpv6 (see NeighbourKey): what names an entry.
  using Key = typename NeighbourKey<Addr>::type;
  using Map = std::unordered_map<Key, Entry, typename NeighbourKey<Addr>::hash>;
  // The key of ip seen on (or sent to) port: the port counts only for IPv6 link-local.
  static Key key_of(const Addr& ip, uint16_t port) { return NeighbourKey<Addr>::of(ip, port); }
  static Key key_of(const Entry& n) { return key_of(n.ip, n.port); }

  struct Params {
    uint64_t reachable_ms = 60000;
    uint64_t retrans_ms = 1000;  // at most one request per target per interval
    uint32_t probes = 3;
    uint32_t queue_len = 8;
    uint32_t max_entries = 4096;    // dynamic entries (static ones are not counted)
    uint32_t max_unresolved = 256;  // INCOMPLETE and FAILED entries together
    uint32_t queue_total = 1024;    // packets held by all entries together
    uint64_t failed_ms = 3000;      // a FAILED entry is forgotten after this (>= retrans_ms)
    uint64_t locktime_ms = 1000;    // a MAC set or confirmed this recently is not replaced
    uint32_t resolve_rate = 1000;   // new resolutions (broadcast requests) per port per second
    uint32_t resolve_burst = 1000;
    uint64_t delay_ms = 5000;   // NDP: DELAY_FIRST_PROBE_TIME (unused by ARP)
    uint64_t stale_ms = 60000;  // NDP: an unused STALE entry is forgotten after this (ARP: unused)
    // RFC 4861 6.3.2: each REACHABLE period is drawn uniformly from 0.5..1.5 x reachable_ms,
    // so neighbours confirmed together do not all expire, and probe, together. Off: exactly
    // reachable_ms (tests that step the clock).
    bool randomize_reachable = false;
  };

  // ARP: a request. NDP: a Neighbor Solicitation, to the target's solicited-node group
  // unless unicast is set.
  struct Request {
    uint16_t port;
    Addr target;
    std::optional<Mac> unicast;  // re-confirming a known MAC: unicast, else broadcast/multicast
  };
  using ArpSend = Request;
  using Solicit = Request;
  struct Release {
    Key key;
    std::vector<rte_mbuf*> packets;  // send these to the neighbour's MAC, in order
  };

  struct Effects {
    std::vector<Request> requests;
    std::vector<Release> released;
    std::vector<rte_mbuf*> failed;        // answer Host (NDP: Address) Unreachable, then free
    std::vector<rte_mbuf*> overflowed;    // oldest queued packets pushed out: free, count
    std::vector<rte_mbuf*> table_full;    // no room to resolve: free, count
    std::vector<rte_mbuf*> queue_full;    // pushed out: all queues together at queue_total
    std::vector<rte_mbuf*> rate_limited;  // the port's new-resolution budget is spent
    std::vector<rte_mbuf*> evicted;       // held by an entry evicted for a newer one
    std::vector<Key> changed;             // usable() or MAC or port changed, or FAILED: republish
    uint32_t evictions = 0;               // entries evicted to make room
    uint32_t mac_locked = 0;              // MAC changes refused within locktime_ms
    uint32_t not_learnt = 0;  // NDP: a solicitation's sender not recorded, no room (count)
  };

  explicit BasicNeighbourTable(const Params& p)
      : p_(p), rng_(0x9e3779b97f4a7c15ull ^ (uint64_t(reinterpret_cast<uintptr_t>(this)) << 7)) {}
  ~BasicNeighbourTable() = default;
  BasicNeighbourTable(const BasicNeighbourTable&) = delete;  // entries link to each other
  BasicNeighbourTable& operator=(const BasicNeighbourTable&) = delete;

  // A packet needs `ip` resolved on `port`: the only way an ARP entry is created. A new
  // resolution takes a token from the port's budget, and room from FAILED, then unused
  // STALE (NDP), then INCOMPLETE, then stale (ARP: PROBE; NDP: used STALE, DELAY, PROBE)
  // entries, oldest first, when the table or the unresolved entries are at their limit.
  // Reachable and static entries are never evicted. NDP: a STALE entry releases the packet
  // and goes DELAY (RFC 4861 7.3.3). The entry is marked used. Every call names its entry
  // by key_of(ip, port): a link-local IPv6 ip on another port is another neighbour.
  // pkt may be nullptr: a probe with nothing to hold (an ECMP member out of its group).
  void resolve(Addr ip, uint16_t port, rte_mbuf* pkt, uint64_t now_ms, Effects& fx);

  // ARP only. An ARP packet from (ip, mac) arrived on port. It updates an entry that exists
  // (RFC 826's merge rule; an INCOMPLETE entry is one the router is asking for) and never
  // creates one, so strangers cannot fill the table (see docs/architecture.md). A different
  // MAC or port is refused within locktime_ms of the entry's last confirmation (Linux's
  // locktime): the first answer wins, and a flood of forged replies can flip it at most once
  // per locktime.
  void learn(Addr ip, const Mac& mac, uint16_t port, uint64_t now_ms, Effects& fx) requires(!kNdp) {
    arp_merge(ip, mac, port, now_ms, fx);
  }

  // NDP only. A Neighbor Advertisement for ip arrived on port: RFC 4861 7.2.5. It never
  // creates an entry (for a link-local ip: an entry on this port). INCOMPLETE (and
  // FAILED): needs a TLLA, then REACHABLE if solicited, else STALE, and the queue is
  // released. Otherwise a different MAC (or port) is taken only with the Override flag and,
  // as for ARP, not within locktime_ms of the last confirmation; without Override it only
  // turns REACHABLE into STALE. Static entries are left alone.
  void advert(Addr ip, std::optional<Mac> tlla, bool solicited, bool override_, bool router,
              uint16_t port, uint64_t now_ms, Effects& fx) requires kNdp {
    na_received(ip, tlla, solicited, override_, router, port, now_ms, fx);
  }

  // NDP only. An NS, RS or redirect from ip carried its link-layer address (RFC 4861 7.2.3,
  // 7.3.3): a new entry is STALE and unused; an existing one takes a different MAC (or
  // port: a global ip's entry may move, a link-local one's never does) as STALE, subject
  // to locktime_ms; INCOMPLETE (and FAILED) become STALE and release
  // their queue. A new entry takes room only from FAILED and unused STALE entries: a flood
  // of solicitations from distinct addresses cannot displace an entry the router resolves
  // or uses. Without room the sender is not recorded (fx.not_learnt).
  void solicit_from(Addr ip, const Mac& slla, uint16_t port, uint64_t now_ms,
                    Effects& fx) requires kNdp {
    slla_received(ip, slla, port, now_ms, fx);
  }

  // NDP only. The IsRouter flag of ip's entry on port, if there is one: true for the source
  // of a Router Advertisement (RFC 4861 6.3.4), false for that of a Router Solicitation
  // (6.2.6). Nothing else changes and nothing is created. False: no entry.
  bool set_router(const Addr& ip, uint16_t port, bool router) requires kNdp {
    auto it = map_.find(key_of(ip, port));
    if (it == map_.end()) return false;
    it->second.router = router;
    return true;
  }

  // A next hop now depends on the entry (for example a route via it): it is marked used,
  // so NDP re-confirms it when it goes stale instead of forgetting it. False: no entry.
  bool use(const Key& k);
  bool use(const Addr& ip, uint16_t port) { return use(key_of(ip, port)); }

  // Runs timers due at now_ms.
  void tick(uint64_t now_ms, Effects& fx);

  // Static entries. add replaces the dynamic entry of key_of(ip, port) and releases what it
  // held.
  void add_static(Addr ip, uint16_t port, const Mac& mac, Effects& fx);
  // Removes the entry; its queued packets are reported as failed.
  bool remove(const Key& k, Effects& fx);
  // Removes every entry; queued packets are reported as failed (shutdown).
  void clear(Effects& fx);
  // Removes every entry on a port (the port lost the subnet or stopped).
  void remove_port(uint16_t port, Effects& fx);

  const Entry* find(const Key& k) const;
  const Entry* find(const Addr& ip, uint16_t port) const { return find(key_of(ip, port)); }
  const Map& entries() const { return map_; }
  size_t dynamic_count() const { return dynamic_; }
  size_t unresolved_count() const { return lists_[kFailed].n + lists_[kIncomplete].n; }
  size_t unused_count() const { return lists_[kUnused].n; }  // NDP: unused STALE entries
  size_t queued_packets() const { return queued_; }

 private:
  // The bodies of learn, advert and solicit_from, out of line for every Addr (clang 14
  // cannot match out-of-line definitions of constrained members).
  void arp_merge(Addr ip, const Mac& mac, uint16_t port, uint64_t now_ms, Effects& fx);
  void na_received(Addr ip, std::optional<Mac> tlla, bool solicited, bool override_, bool router,
                   uint16_t port, uint64_t now_ms, Effects& fx);
  void slla_received(Addr ip, const Mac& slla, uint16_t port, uint64_t now_ms, Effects& fx);

  // Eviction candidates, each list oldest first. kUnused (NDP only) holds STALE entries
  // nothing uses; kStale the stale entries that are used.
  enum List : int8_t { kFailed, kUnused, kIncomplete, kStale, kLists };
  struct Lru {
    Entry* head = nullptr;
    Entry* tail = nullptr;
    size_t n = 0;
  };
  void relist(Entry& n);  // after a state change: moves n to its state's list
  void unlist(Entry& n);
  bool make_room(Effects& fx);
  bool evict_oldest(List l, Effects& fx);
  void enqueue(Entry& n, rte_mbuf* pkt, Effects& fx);
  void drain(Entry& n, std::vector<rte_mbuf*>& to);
  void set_mac(Entry& n, const Mac& mac, uint16_t port, NeighState st, uint64_t now_ms,
               Effects& fx);
  void enter(Entry& n, NeighState st, uint64_t now_ms);
  bool locked(const Entry& n, const Mac& mac, uint16_t port, uint64_t now_ms, Effects& fx) const;
  void fail(Entry& n, uint64_t now_ms, Effects& fx);
  void send_request(Entry& n, uint64_t now_ms, Effects& fx, bool unicast);
  void erase(typename Map::iterator it);
  TokenBucket& port_budget(uint16_t port);

  uint64_t reachable_period();

  Params p_;
  uint64_t rng_;  // xorshift state for reachable_period(); never 0
  Map map_;       // node-based: entries never move
  size_t dynamic_ = 0;
  size_t queued_ = 0;
  Lru lists_[kLists];
  std::vector<TokenBucket> budgets_;  // by port id, grown to the highest port resolved on
};

using NeighbourTable = BasicNeighbourTable<Ipv4>;   // ARP
using NeighbourTable6 = BasicNeighbourTable<Ipv6>;  // NDP
extern template class BasicNeighbourTable<Ipv4>;
extern template class BasicNeighbourTable<Ipv6>;

}  // namespace routerd
