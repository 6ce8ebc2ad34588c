// route_cache: per-lcore caches of destination -> next-hop state (IPv4: 4 ways, IPv6: 2 ways
// of 128-bit keys), valid only while the generation they were filled in is current. Fixed
// size, one cache line per set, indexed by hashes keyed with per-process secrets; a miss
// never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "compiler.hpp"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace routerd {

// Only pointed to: the cache never looks inside a state, and without nexthop.hpp (and the
// address types it brings) this header pulls in no STL containers.
struct NextHopState;

// One cache line. The generation is per set, not per entry: an entry is valid only while the
// set's generation is current, and the first fill after a bump empties the set (its other
// entries were stale anyway). That leaves room for four ways and makes a lookup one 64-bit
// compare and one 4-lane compare.
struct alignas(64) RouteCacheSet {
  uint64_t gen;  // 0: never filled (the generation starts at 1)
  uint32_t dst[4];
  const NextHopState* nh[4];  // nullptr: an empty way
  uint32_t victim;            // next way to replace (round robin)
};
static_assert(sizeof(RouteCacheSet) == 64, "one cache line per set");

// Hash secrets: k1 and k3 multiply (odd), k2 is XORed in first; w are added to the four
// 32-bit words of an IPv6 destination before they are multiplied in pairs.
struct RouteCacheKeys {
  uint64_t k1 = 1, k2 = 0, k3 = 1;
  uint32_t w[4] = {};
};

class RouteCache {
 public:
  static constexpr uint32_t kWays = 4;

  // sets: a power of two; keys: the hash secrets (multipliers made odd).
  RouteCache(uint32_t sets, const RouteCacheKeys& keys, int socket);
  ~RouteCache();
  RouteCache(const RouteCache&) = delete;
  RouteCache& operator=(const RouteCache&) = delete;

  // Multiply-shift hashing (Dietzfelbinger) with secret keys: which destinations share a
  // set cannot be computed without the keys, so an attacker cannot aim at one set. (CRC,
  // being affine, would not resist that whatever its seed.) One multiply alone turns an
  // arithmetic progression of destinations (a block of hosts, one host per /24) into a
  // Weyl sequence, which for about 1 key in 100 piled 4 to 16 times the mean into one set;
  // folding the product and multiplying again removes that structure (worst set over eight
  // such patterns and 1,500 keys: 32 destinations for a mean of 10, near a random spread).
  uint32_t set_of(uint32_t dst) const {
    uint64_t h = (uint64_t(dst) ^ k2_) * k1_;
    return uint32_t(((h ^ (h >> 32)) * k3_) >> shift_);
  }
  void prefetch(uint32_t dst) const { prefetch_set(set_of(dst)); }
  void prefetch_set(uint32_t set) const { prefetch_line(sets_ + set); }

  // The cached state for dst if it was filled in generation `gen`; else nullptr, with
  // *stale set when dst was present from an older generation.
  const NextHopState* lookup(uint32_t dst, uint64_t gen, bool* stale) const {
    return lookup_in(set_of(dst), dst, gen, stale);
  }
  // The same with the set already computed (the worker hashes once per packet).
  const NextHopState* lookup_in(uint32_t set, uint32_t dst, uint64_t gen, bool* stale) const {
    const RouteCacheSet& s = sets_[set];
    uint32_t m = match(s, dst);
    bool current = s.gen == gen;
    *stale |= (m != 0) & !current;
    const NextHopState* nh = s.nh[__builtin_ctz(m | 0x10) & 3];
    return ((m != 0) & current) ? nh : nullptr;
  }

  // gen must be the generation read before the lookup that produced nh.
  void fill(uint32_t dst, uint64_t gen, const NextHopState* nh) {
    fill_in(set_of(dst), dst, gen, nh);
  }
  void fill_in(uint32_t set, uint32_t dst, uint64_t gen, const NextHopState* nh) {
    RouteCacheSet& s = sets_[set];
    if (s.gen != gen) {
      // Never move a set back to an older generation (a caller holding an old one): its
      // entries would be wiped for an answer that is already out of date.
      if (s.gen > gen) return;
      s.gen = gen;
      for (uint32_t w = 0; w < kWays; ++w) {
        s.dst[w] = 0;
        s.nh[w] = nullptr;
      }
    }
    uint32_t m = match(s, dst);
    uint32_t w;
    if (m) {
      w = uint32_t(__builtin_ctz(m));
    } else {
      w = s.victim & (kWays - 1);
      s.victim = w + 1;
    }
    s.dst[w] = dst;
    s.nh[w] = nh;
  }

  uint32_t sets() const { return nsets_; }
  size_t bytes() const { return size_t(nsets_) * sizeof(RouteCacheSet); }

 private:
  // Bit w set when way w holds dst (an empty way never matches: its nh is nullptr, and an
  // entry with a null nh is never returned anyway).
  static uint32_t match(const RouteCacheSet& s, uint32_t dst) {
#ifdef __SSE2__
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.dst));
    __m128i eq = _mm_cmpeq_epi32(v, _mm_set1_epi32(int(dst)));
    return uint32_t(_mm_movemask_ps(_mm_castsi128_ps(eq)));
#else
    uint32_t m = 0;
    for (uint32_t w = 0; w < kWays; ++w) m |= uint32_t(s.dst[w] == dst) << w;
    return m;
#endif
  }

  RouteCacheSet* sets_;
  uint32_t nsets_;
  uint32_t shift_;
  uint64_t k1_, k2_, k3_;
};

// The IPv6 sibling: one cache line holds the set's generation and two 128-bit
// destinations with their states. (Four ways would take two lines per lookup; a second way
// already absorbs the collisions of a keyed hash, and the lines saved hold more sets.)
struct alignas(64) RouteCache6Set {
  uint64_t gen;  // 0: never filled
  uint32_t victim;
  uint32_t pad;
  uint8_t dst[2][16];
  const NextHopState* nh[2];
};
static_assert(sizeof(RouteCache6Set) == 64, "one cache line per set");

class RouteCache6 {
 public:
  static constexpr uint32_t kWays = 2;

  RouteCache6(uint32_t sets, const RouteCacheKeys& keys, int socket);
  ~RouteCache6();
  RouteCache6(const RouteCache6&) = delete;
  RouteCache6& operator=(const RouteCache6&) = delete;

  // NH (UMAC's pair-multiply hash: keyed, almost universal over the four words), then the
  // IPv4 cache's fold and second multiply, so the set bits depend on every word.
  uint32_t set_of(const uint8_t* dst) const {
    uint32_t x[4];
    std::memcpy(x, dst, 16);
    const uint64_t h = uint64_t(uint32_t(x[0] + w_[0])) * uint32_t(x[1] + w_[1]) +
                       uint64_t(uint32_t(x[2] + w_[2])) * uint32_t(x[3] + w_[3]);
    const uint64_t g = (h ^ k2_) * k1_;
    return uint32_t(((g ^ (g >> 32)) * k3_) >> shift_);
  }
  void prefetch_set(uint32_t set) const { prefetch_line(sets_ + set); }

  // The cached state for dst if it was filled in generation `gen`; else nullptr, with
  // *stale set when dst was present from an older generation.
  const NextHopState* lookup(const uint8_t* dst, uint64_t gen, bool* stale) const {
    return lookup_in(set_of(dst), dst, gen, stale);
  }
  const NextHopState* lookup_in(uint32_t set, const uint8_t* dst, uint64_t gen, bool* stale) const {
    const RouteCache6Set& s = sets_[set];
    const uint32_t m = match(s, dst);
    const bool current = s.gen == gen;
    *stale |= (m != 0) & !current;
    const NextHopState* nh = s.nh[(m >> 1) & 1];
    return ((m != 0) & current) ? nh : nullptr;
  }

  // gen must be the generation read before the lookup that produced nh.
  void fill(const uint8_t* dst, uint64_t gen, const NextHopState* nh) {
    fill_in(set_of(dst), dst, gen, nh);
  }
  void fill_in(uint32_t set, const uint8_t* dst, uint64_t gen, const NextHopState* nh) {
    RouteCache6Set& s = sets_[set];
    if (s.gen != gen) {
      if (s.gen > gen) return;  // as in RouteCache::fill_in
      s.gen = gen;
      std::memset(s.dst, 0, sizeof s.dst);
      s.nh[0] = s.nh[1] = nullptr;
    }
    const uint32_t m = match(s, dst);
    uint32_t w;
    if (m) {
      w = (m >> 1) & 1;
    } else {
      w = s.victim & 1;
      s.victim = w + 1;
    }
    std::memcpy(s.dst[w], dst, 16);
    s.nh[w] = nh;
  }

  uint32_t sets() const { return nsets_; }
  size_t bytes() const { return size_t(nsets_) * sizeof(RouteCache6Set); }

 private:
  // Bit w set when way w holds dst (an empty way is all zeros, which no forwarded
  // destination is: the unspecified address is dropped in classify6; and its nh is null).
  static uint32_t match(const RouteCache6Set& s, const uint8_t* dst) {
#ifdef __SSE2__
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst));
    const __m128i* ways = reinterpret_cast<const __m128i*>(s.dst);
    const uint32_t e0 = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(ways), d)));
    const uint32_t e1 = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(ways + 1), d)));
    return uint32_t(e0 == 0xffff) | uint32_t(e1 == 0xffff) << 1;
#else
    return uint32_t(std::memcmp(s.dst[0], dst, 16) == 0) |
           uint32_t(std::memcmp(s.dst[1], dst, 16) == 0) << 1;
#endif
  }

  RouteCache6Set* sets_;
  uint32_t nsets_;
  uint32_t shift_;
  uint64_t k1_, k2_, k3_;
  uint32_t w_[4];
};

// Random secrets for the hash, from the kernel's generator.
RouteCacheKeys route_cache_keys();

// What one burst's lookups did with the route cache.
struct CacheTally {
  uint32_t hits = 0, misses = 0, stale = 0;
};

}  // namespace routerd
