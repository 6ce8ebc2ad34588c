// route_exception: per-destination clones of a route, for traffic the router itself sends, learnt
// from ICMP (RFC 1191 / RFC 8201 path MTU, RFC 792 / RFC 4861 redirects). A fixed pool: no
// allocation per entry, narrow (32-bit) links, a keyed hash, oldest-first eviction when full;
// expiry on a clock the caller passes in, so tests can use a fake one. Control-thread only.
// One template serves both families: the key is an IPv4 address (host order) or an IPv6 one.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "inet6.hpp"
#include "rib.hpp"

namespace routerd {

// What the table needs of a key type: the route it clones, "no gateway", and a keyed hash.
template <class K>
struct ExceptionKey;
template <>
struct ExceptionKey<uint32_t> {  // IPv4, host order
  using Prefix = Prefix4;
  using Route = routerd::Route;
  static uint64_t hash(uint32_t dst, uint64_t k1, uint64_t k2) { return (uint64_t(dst) ^ k2) * k1; }
};
template <>
struct ExceptionKey<Ipv6> {
  using Prefix = Prefix6;
  using Route = Route6;
  // NH (UMAC's pair-multiply hash, as lib/route_cache's IPv6 sets) over the four 32-bit
  // words with secrets derived from k1 and k2, then the IPv4 key's multiply: every word
  // reaches the bucket bits, and no sender can aim at one bucket without the secrets.
  static uint64_t hash(const Ipv6& dst, uint64_t k1, uint64_t k2) {
    uint32_t x[4];
    std::memcpy(x, dst.b.data(), 16);
    const uint64_t h =
        uint64_t(uint32_t(x[0] + uint32_t(k2))) * uint32_t(x[1] + uint32_t(k2 >> 32)) +
        uint64_t(uint32_t(x[2] + uint32_t(k1 >> 17))) * uint32_t(x[3] + uint32_t(k1 >> 43));
    return ((h ^ (h >> 29)) ^ k2) * k1;
  }
};

template <class K>
struct BasicRouteException {
  K dst{};                                 // IPv4: host order
  typename ExceptionKey<K>::Prefix route;  // the route this one was cloned from
  RouteMetrics metrics;                    // its own copy (mtu: the learnt path MTU, 0: none)
  K gateway{};                             // learnt first hop (redirect); K{}: none
  // The route's own first hop when the redirect was learnt: the redirect stands for that
  // route through that gateway only (route_redirect_current), as Linux keeps it on the
  // next hop it came for.
  K replaced{};
  uint64_t pmtu_expires_ms = 0, redirect_expires_ms = 0;  // 0: not set
  uint64_t updated_ms = 0;
  // IPv4: the path MTU was reported below the floor (exceptions.pmtu_min) and raised to
  // it. As Linux's "mtu lock", the router's own DF packets to dst go without DF then, so
  // the hop that cannot carry them fragments them (RFC 1191 7: never below 68).
  bool mtu_locked = false;
  bool has_gateway() const { return !(gateway == K{}); }
};
// Whether e's learnt gateway still applies to dst: the route that covers dst now is the one
// it was learnt for, through the same first hop (its gateway, or dst itself on a connected
// route). A route replaced or removed since, or moved to another gateway, makes it stale.
template <class K, class R, class A>
bool route_redirect_current(const BasicRouteException<K>& e, const R* rt, const A& first_of_dst) {
  return rt && rt->prefix == e.route && first_of_dst == e.replaced;
}

using RouteException = BasicRouteException<uint32_t>;
using RouteException6 = BasicRouteException<Ipv6>;

template <class K>
class BasicRouteExceptionTable {
 public:
  using Entry = BasicRouteException<K>;
  using RouteT = typename ExceptionKey<K>::Route;

  // capacity >= 1; k1, k2: hash secrets, so a sender cannot aim at one bucket.
  BasicRouteExceptionTable(uint32_t capacity, uint64_t k1, uint64_t k2);

  // The live entry for dst, or nullptr. Parts that have expired read as unset; an entry
  // with nothing left is removed.
  const Entry* find(const K& dst, uint64_t now_ms);
  // The entry for dst, created (a clone of `route`, metrics copied) when absent, evicting
  // the least recently updated entry when full. Marks it updated now.
  Entry& upsert(const K& dst, const RouteT& route, uint64_t now_ms);
  bool erase(const K& dst);
  size_t expire(uint64_t now_ms);  // removes dead entries; returns how many
  void clear();

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  uint64_t evictions() const { return evictions_; }
  template <class F>
  void for_each(F&& f) const {
    for (uint32_t i = head_; i != kNil; i = slots_[i].newer) f(slots_[i].e);
  }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Slot {
    Entry e;
    uint32_t chain = kNil;                // next in the hash bucket
    uint32_t older = kNil, newer = kNil;  // age list, oldest at head_
    bool used = false;
  };
  uint32_t bucket_of(const K& dst) const {
    return uint32_t(ExceptionKey<K>::hash(dst, k1_, k2_) >> shift_);
  }
  static bool dead(const Entry& e, uint64_t now);
  void unlink_age(uint32_t i);
  void push_newest(uint32_t i);
  void remove(uint32_t i);
  uint32_t lookup(const K& dst) const;

  std::vector<Slot> slots_;
  std::vector<uint32_t> buckets_;
  std::vector<uint32_t> free_;
  uint32_t head_ = kNil, tail_ = kNil;  // oldest, newest
  uint32_t shift_;
  uint64_t k1_, k2_;
  size_t size_ = 0;
  uint64_t evictions_ = 0;
};

using RouteExceptionTable = BasicRouteExceptionTable<uint32_t>;
using RouteExceptionTable6 = BasicRouteExceptionTable<Ipv6>;
extern template class BasicRouteExceptionTable<uint32_t>;
extern template class BasicRouteExceptionTable<Ipv6>;

}  // namespace routerd
