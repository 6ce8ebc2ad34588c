// fib/nexthop: resolved next-hop states and the table of slots workers read them through.
// A published state is never modified: a change publishes a new state into the slot with a
// release store, and the old one is freed only after an RCU grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "inet.hpp"
#include "inet6.hpp"

namespace routerd {

enum class NhKind : uint8_t {
  forward,     // resolved neighbour: rewrite L2 and send on `port`
  unresolved,  // neighbour `gateway` (or gateway6) on `port` needs ARP (NDP): hand to control
  glean,       // connected subnet on `port`: the destination itself needs ARP
  local,       // an address of the router: deliver to control
  broadcast,   // directed broadcast of a connected subnet: not forwarded
  // Reject routes (RouteType): one shared state per kind and family, no port, no gateway.
  blackhole,    // dropped, no ICMP
  prohibit,     // control sends Administratively Prohibited (ICMP 3/13, ICMPv6 1/1)
  unreachable,  // control sends Host Unreachable (ICMP 3/1) or No Route (ICMPv6 1/0)
  // ECMP: the packet's flow picks one member slot out of `group` (pick_member); every other
  // kind is the packet's own next hop.
  group,
  // A tunnel (port is its port id, lib/tunnel): encapsulated by the worker, which resolves
  // the outer path itself; mtu is control's estimate of the tunnel MTU, for its own packets.
  tunnel,
};

const char* nh_kind_name(NhKind k);  // the reject kinds as iproute2 names their route types

// Packets through this kind never leave the router: they are dropped, or answered with an
// ICMP error by control.
constexpr bool nh_rejects(NhKind k) {
  return k == NhKind::blackhole || k == NhKind::prohibit || k == NhKind::unreachable;
}

// What a retired state is filled with just before it is freed: a reader that (wrongly)
// still used it would see kind 0xdd, which no NhKind has, and port 0xdddd.
constexpr uint8_t kPoisonByte = 0xdd;

// An ECMP group's published table: immutable, owned by the group's NextHopState and freed
// with it. A flow hashes to a bucket, the bucket names its member's next-hop slot (the
// member's id copied in, not its index: one dependent load fewer per packet); members are
// slots rather than states so that a member's neighbour changing its MAC republishes only
// that member's state. Allocated with its buckets after it (make()).
struct NhGroup {
  static constexpr uint32_t kMaxMembers = 64;
  uint32_t mask;     // buckets - 1 (a power of two, at most 4096)
  uint16_t members;  // member_id[0 .. members-1]
  uint16_t alive;    // members with buckets
  uint32_t member_id[kMaxMembers];
  const uint32_t* bucket_slot() const { return reinterpret_cast<const uint32_t*>(this + 1); }
  uint32_t* bucket_slot() { return reinterpret_cast<uint32_t*>(this + 1); }
  uint32_t pick(uint32_t hash) const { return bucket_slot()[hash & mask]; }
  static NhGroup* make(uint32_t buckets);
  static void destroy(const NhGroup* g);
};

struct alignas(64) NextHopState {
  uint8_t l2[14];  // Ethernet header written as-is: dst, src, type IPv4 or IPv6 (forward only)
  NhKind kind;
  uint8_t family = 4;  // 4: in the IPv4 FIB; 6: in the IPv6 FIB (gateway6 is the neighbour)
  uint16_t port;       // egress port
  uint16_t mtu;        // IP MTU of the egress port
  uint32_t id;         // slot index, for handing packets to control
  Ipv4 gateway;        // the neighbour this state resolves (0 for glean, local, broadcast, rejects)
  // Family 6: the same. Family 4: an IPv6 neighbour (RFC 5549: an IPv4 route via an IPv6
  // gateway, resolved by NDP), then gateway is 0.
  Ipv6 gateway6;
  // The neighbour's resolution failed: an ECMP group gives this member no buckets until it
  // answers again (its state is still `unresolved`).
  bool dead = false;
  const NhGroup* group = nullptr;  // kind group only: owned, freed with this state
};
static_assert(sizeof(NextHopState) == 64, "one cache line per next hop");

// Frees a state (and a group's table) after its grace period, poisoned first (see
// kPoisonByte).
void retire_free(const NextHopState* s);

// Fixed array of slots indexed by the id stored in the FIB. Id 0 is the FIB's default: "no
// route". Readers: get(); the single writer: publish().
class NextHopTable {
 public:
  explicit NextHopTable(uint32_t size)
      : size_(size), slots_(std::make_unique<std::atomic<const NextHopState*>[]>(size)) {}

  uint32_t size() const { return size_; }
  const NextHopState* get(uint32_t id) const { return slots_[id].load(std::memory_order_acquire); }
  // For a loop of get()s: each acquire load would otherwise reload the table's address.
  const std::atomic<const NextHopState*>* slots() const { return slots_.get(); }
  void publish(uint32_t id, const NextHopState* s) {
    slots_[id].store(s, std::memory_order_release);
  }

 private:
  uint32_t size_;
  std::unique_ptr<std::atomic<const NextHopState*>[]> slots_;
};

}  // namespace routerd
