// neighbour: the ARP state machine (RFC 826, RFC 1122 2.3.2.1) with bounded memory.
// It never sends or frees anything itself: each call fills Effects with the requests to
// send and the packets to release, fail or drop, so time and I/O stay with the caller.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "inet.hpp"

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
  uint64_t confirmed_ms = 0;  // last time the MAC was confirmed
  uint64_t last_request_ms = 0;
  uint64_t next_ms = 0;         // next timer: retransmit, probe or expiry
  uint32_t requests = 0;        // requests sent in the current attempt
  std::deque<rte_mbuf*> queue;  // packets waiting for the MAC, oldest first

  bool usable() const {
    return state == NeighState::reachable || state == NeighState::probe ||
           state == NeighState::permanent;
  }
};

class NeighbourTable {
 public:
  struct Params {
    uint64_t reachable_ms = 60000;
    uint64_t retrans_ms = 1000;  // at most one request per target per interval
    uint32_t probes = 3;
    uint32_t queue_len = 8;
    uint32_t max_entries = 4096;  // dynamic entries (static ones are not counted)
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
    std::vector<rte_mbuf*> failed;      // answer Host Unreachable, then free
    std::vector<rte_mbuf*> overflowed;  // oldest queued packets pushed out: free, count
    std::vector<rte_mbuf*> table_full;  // no room to resolve: free, count
    std::vector<Ipv4> changed;          // usable() or MAC or port changed: republish
  };

  explicit NeighbourTable(const Params& p) : p_(p) {}

  // A packet needs `ip` resolved on `port`.
  void resolve(Ipv4 ip, uint16_t port, rte_mbuf* pkt, uint64_t now_ms, Effects& fx);

  // An ARP packet from (ip, mac) arrived on port. `for_us`: a request for one of our
  // addresses or a reply to us, which may create an entry; other packets only refresh
  // entries that already exist (RFC 826 merge rule), so a stranger cannot fill the table.
  void learn(Ipv4 ip, const Mac& mac, uint16_t port, bool for_us, uint64_t now_ms, Effects& fx);

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
  size_t queued_packets() const;

 private:
  void make_usable(Neighbour& n, const Mac& mac, uint64_t now_ms, Effects& fx);
  void fail(Neighbour& n, uint64_t now_ms, Effects& fx);
  void send_request(Neighbour& n, uint64_t now_ms, Effects& fx, bool unicast);
  void erase(std::unordered_map<uint32_t, Neighbour>::iterator it);

  Params p_;
  std::unordered_map<uint32_t, Neighbour> map_;
  size_t dynamic_ = 0;
};

}  // namespace routerd
