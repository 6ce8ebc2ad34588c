// route_cache: a per-lcore cache of destination -> next-hop state, valid only while the
// generation it was filled in is current. Fixed size, 3-way set-associative, one cache line
// per set; indexed by a hash keyed with per-process secrets; a miss never allocates.
#pragma once

#include <cstdint>
#include <memory>

#include "nexthop.hpp"

namespace routerd {

struct alignas(64) RouteCacheSet {
  uint32_t dst[3];
  uint32_t victim;  // next way to replace (round robin)
  uint64_t gen[3];  // 0: empty (the generation starts at 1)
  const NextHopState* nh[3];
};
static_assert(sizeof(RouteCacheSet) == 64, "one cache line per set");

class RouteCache {
 public:
  static constexpr uint32_t kWays = 3;

  // sets: a power of two. k1 (made odd) and k2 are the hash secrets.
  RouteCache(uint32_t sets, uint64_t k1, uint64_t k2, int socket);
  ~RouteCache();
  RouteCache(const RouteCache&) = delete;
  RouteCache& operator=(const RouteCache&) = delete;

  // Multiply-shift hashing (Dietzfelbinger) with secret keys: which destinations share a
  // set cannot be computed without k1 and k2, so an attacker cannot aim at one set. (CRC,
  // being affine, would not resist that whatever its seed.)
  uint32_t set_of(uint32_t dst) const { return uint32_t(((uint64_t(dst) ^ k2_) * k1_) >> shift_); }
  void prefetch(uint32_t dst) const { __builtin_prefetch(&sets_[set_of(dst)]); }

  // The cached state for dst if it was filled in generation `gen`; else nullptr, with
  // *stale set when dst was present from an older generation.
  const NextHopState* lookup(uint32_t dst, uint64_t gen, bool* stale) const {
    const RouteCacheSet& s = sets_[set_of(dst)];
    for (uint32_t w = 0; w < kWays; ++w) {
      if (s.dst[w] == dst && s.gen[w] != 0) {
        if (s.gen[w] == gen) return s.nh[w];
        *stale = true;
      }
    }
    return nullptr;
  }

  // gen must be the generation read before the lookup that produced nh.
  void fill(uint32_t dst, uint64_t gen, const NextHopState* nh) {
    RouteCacheSet& s = sets_[set_of(dst)];
    uint32_t w = 0;
    while (w < kWays && s.dst[w] != dst) ++w;  // refresh dst's way if present
    if (w == kWays) {
      w = s.victim;
      s.victim = s.victim + 1 == kWays ? 0 : s.victim + 1;
    }
    s.dst[w] = dst;
    s.gen[w] = gen;
    s.nh[w] = nh;
  }

  uint32_t sets() const { return nsets_; }
  size_t bytes() const { return size_t(nsets_) * sizeof(RouteCacheSet); }

 private:
  RouteCacheSet* sets_;
  uint32_t nsets_;
  uint32_t shift_;
  uint64_t k1_, k2_;
};

// Random secrets for the hash, from the kernel's generator.
void route_cache_keys(uint64_t* k1, uint64_t* k2);

}  // namespace routerd
