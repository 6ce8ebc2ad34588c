// neighbour: the ARP state machine (RFC 826, RFC 1122 2.3.2.1) with bounded memory: bounded
// entries, unresolved entries, packets held per entry and in all, and new resolutions per
// port and second; only the router's own need for a MAC creates an entry. It never sends or
// frees anything itself: each call fills Effects with the requests to send and the packets
// to release, fail or drop, so time and I/O stay with the caller.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "inet.hpp"
#include "ratelimit.hpp"

struct rte_mbuf;

namespace routerd {

enum class NeighState : uint8_t {
  incomplete,  // request sent, packets queued
  reachable,   // MAC confirmed within reachable_ms
  probe,       // lifetime over: still used while unicast requests re-confirm it
  failed,      // no answer: packets get Host Unreachable until the next attempt
  permanent,   // static: never ages
};
const char* neigh_state_name(NeighState s);

struct Neighbour {
  Ipv4 ip;
  uint16_t port = 0;
  Mac mac;
  NeighState state = NeighState::incomplete;
  uint64_t confirmed_ms = 0;  // last time the MAC was set or confirmed (locktime counts from it)
  uint64_t last_request_ms = 0;
  uint64_t next_ms = 0;         // next timer: retransmit, probe or expiry
  uint32_t requests = 0;        // requests sent in the current attempt
  std::deque<rte_mbuf*> queue;  // packets waiting for the MAC, oldest first

  bool usable() const {
    return state == NeighState::reachable || state == NeighState::probe ||
           state == NeighState::permanent;
  }

  // NeighbourTable's eviction lists (oldest first); not for other readers.
  Neighbour* lru_prev = nullptr;
  Neighbour* lru_next = nullptr;
  int8_t lru = -1;  // which list, or -1
};

class NeighbourTable {
 public:
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
  };

  struct ArpSend {
    uint16_t port;
    Ipv4 target;
    std::optional<Mac> unicast;  // re-confirming a known MAC: unicast, else broadcast
  };
  struct Release {
    Ipv4 ip;
    std::vector<rte_mbuf*> packets;  // send these to the neighbour's MAC, in order
  };

  struct Effects {
    std::vector<ArpSend> requests;
    std::vector<Release> released;
    std::vector<rte_mbuf*> failed;        // answer Host Unreachable, then free
    std::vector<rte_mbuf*> overflowed;    // oldest queued packets pushed out: free, count
    std::vector<rte_mbuf*> table_full;    // no room to resolve: free, count
    std::vector<rte_mbuf*> queue_full;    // pushed out: all queues together at queue_total
    std::vector<rte_mbuf*> rate_limited;  // the port's new-resolution budget is spent
    std::vector<rte_mbuf*> evicted;       // held by an entry evicted for a newer one
    std::vector<Ipv4> changed;            // usable() or MAC or port changed: republish
    uint32_t evictions = 0;               // entries evicted to make room
    uint32_t mac_locked = 0;              // MAC changes refused within locktime_ms
  };

  explicit NeighbourTable(const Params& p) : p_(p) {}
  ~NeighbourTable() = default;
  NeighbourTable(const NeighbourTable&) = delete;  // entries link to each other
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  // A packet needs `ip` resolved on `port`: the only way an entry is created. A new
  // resolution takes a token from the port's budget, and room from FAILED, then INCOMPLETE,
  // then stale (PROBE) entries, oldest first, when the table or the unresolved entries are
  // at their limit. Reachable and static entries are never evicted.
  void resolve(Ipv4 ip, uint16_t port, rte_mbuf* pkt, uint64_t now_ms, Effects& fx);

  // An ARP packet from (ip, mac) arrived on port. It updates an entry that exists (RFC 826's
  // merge rule; an INCOMPLETE entry is one the router is asking for) and never creates one,
  // so strangers cannot fill the table (see docs/architecture.md). A different MAC or port
  // is refused within locktime_ms of the entry's last confirmation (Linux's locktime): the
  // first answer wins, and a flood of forged replies can flip it at most once per locktime.
  void learn(Ipv4 ip, const Mac& mac, uint16_t port, uint64_t now_ms, Effects& fx);

  // Runs timers due at now_ms.
  void tick(uint64_t now_ms, Effects& fx);

  // Static entries. add replaces any dynamic entry and releases what it held.
  void add_static(Ipv4 ip, uint16_t port, const Mac& mac, Effects& fx);
  // Removes any entry; its queued packets are reported as failed.
  bool remove(Ipv4 ip, Effects& fx);
  // Removes every entry; queued packets are reported as failed (shutdown).
  void clear(Effects& fx);
  // Removes every entry on a port (the port lost the subnet or stopped).
  void remove_port(uint16_t port, Effects& fx);

  const Neighbour* find(Ipv4 ip) const;
  const std::unordered_map<uint32_t, Neighbour>& entries() const { return map_; }
  size_t dynamic_count() const { return dynamic_; }
  size_t unresolved_count() const { return lists_[kFailed].n + lists_[kIncomplete].n; }
  size_t queued_packets() const { return queued_; }

 private:
  // Eviction candidates, each list oldest first.
  enum List : int8_t { kFailed, kIncomplete, kStale, kLists };
  struct Lru {
    Neighbour* head = nullptr;
    Neighbour* tail = nullptr;
    size_t n = 0;
  };
  void relist(Neighbour& n);  // after a state change: moves n to its state's list
  void unlist(Neighbour& n);
  bool make_room(Effects& fx);
  bool evict_oldest(List l, Effects& fx);
  void enqueue(Neighbour& n, rte_mbuf* pkt, Effects& fx);
  void drain(Neighbour& n, std::vector<rte_mbuf*>& to);
  void make_usable(Neighbour& n, const Mac& mac, uint64_t now_ms, bool moved, Effects& fx);
  void fail(Neighbour& n, uint64_t now_ms, Effects& fx);
  void send_request(Neighbour& n, uint64_t now_ms, Effects& fx, bool unicast);
  void erase(std::unordered_map<uint32_t, Neighbour>::iterator it);
  TokenBucket& port_budget(uint16_t port);

  Params p_;
  std::unordered_map<uint32_t, Neighbour> map_;  // node-based: entries never move
  size_t dynamic_ = 0;
  size_t queued_ = 0;
  Lru lists_[kLists];
  std::vector<TokenBucket> budgets_;  // by port id, grown to the highest port resolved on
};

}  // namespace routerd
