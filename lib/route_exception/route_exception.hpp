// route_exception: per-destination clones of a route, for traffic the router itself sends, learnt
// from ICMP (RFC 1191 path MTU, RFC 792 redirects). A fixed pool: no allocation per entry,
// narrow (32-bit) links, a keyed hash, oldest-first eviction when full; expiry on a clock
// the caller passes in, so tests can use a fake one. Control-thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "rib.hpp"

namespace routerd {

struct RouteException {
  uint32_t dst = 0;      // host order
  Prefix4 route;         // the route this one was cloned from
  RouteMetrics metrics;  // its own copy (mtu: the learnt path MTU, 0: none)
  uint32_t gateway = 0;  // learnt first hop (redirect), 0: none
  uint64_t pmtu_expires_ms = 0, redirect_expires_ms = 0;  // 0: not set
  uint64_t updated_ms = 0;
};

class RouteExceptionTable {
 public:
  // capacity >= 1; k1, k2: hash secrets, so a sender cannot aim at one bucket.
  RouteExceptionTable(uint32_t capacity, uint64_t k1, uint64_t k2);

  // The live entry for dst, or nullptr. Parts that have expired read as unset; an entry
  // with nothing left is removed.
  const RouteException* find(uint32_t dst, uint64_t now_ms);
  // The entry for dst, created (a clone of `route`, metrics copied) when absent, evicting
  // the least recently updated entry when full. Marks it updated now.
  RouteException& upsert(uint32_t dst, const Route& route, uint64_t now_ms);
  bool erase(uint32_t dst);
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
    RouteException e;
    uint32_t chain = kNil;                // next in the hash bucket
    uint32_t older = kNil, newer = kNil;  // age list, oldest at head_
    bool used = false;
  };
  uint32_t bucket_of(uint32_t dst) const {
    return uint32_t(((uint64_t(dst) ^ k2_) * k1_) >> shift_);
  }
  static bool dead(const RouteException& e, uint64_t now);
  void unlink_age(uint32_t i);
  void push_newest(uint32_t i);
  void remove(uint32_t i);
  uint32_t lookup(uint32_t dst) const;

  std::vector<Slot> slots_;
  std::vector<uint32_t> buckets_;
  std::vector<uint32_t> free_;
  uint32_t head_ = kNil, tail_ = kNil;  // oldest, newest
  uint32_t shift_;
  uint64_t k1_, k2_;
  size_t size_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace routerd
