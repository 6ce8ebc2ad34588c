// route_cache: per-lcore caches of destination -> next hop (IPv4: 4 ways of states, IPv6: 3
// ways of next-hop ids), valid only while the generation they were filled in is current.
// Fixed size, one cache line per set, indexed by hashes keyed with per-process secrets; a
// miss never allocates.
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

// The IPv6 sibling: one cache line holds three 128-bit destinations, their next-hop ids and
// the set's generation. Three ways, not two: a zipf mix of 4,000 hot destinations over 4,096
// sets of two ways kept evicting the few sets that drew three or more (1.7 % of lookups
// missed, each a walk of cold trie lines); three ways in the same line miss 0.3-0.5 %.
// To fit, a way holds the next hop's id (the worker reads the slot, as after a FIB lookup)
// and the set holds the generation's low 30 bits with the replacement pointer; the cache
// remembers the rest (the epoch) and empties itself when it changes, once in 2^30 bumps.
struct alignas(64) RouteCache6Set {
  uint8_t dst[3][16];  // all zeros: empty (the unspecified address is never forwarded)
  uint32_t id[3];      // next-hop ids
  uint32_t tag;        // generation bits 0-29 << 2 | the next way to replace (0-2)
};
static_assert(sizeof(RouteCache6Set) == 64, "one cache line per set");

class RouteCache6 {
 public:
  static constexpr uint32_t kWays = 3;

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

  // The next-hop id cached for dst in generation `gen`, with *hit set; else *hit false (and
  // some way's id returned, which is still a valid id to read), with *stale set when dst was
  // present from an older generation.
  uint32_t lookup(const uint8_t* dst, uint64_t gen, bool* hit, bool* stale) const {
    return lookup_in(set_of(dst), dst, gen, hit, stale);
  }
  uint32_t lookup_in(uint32_t set, const uint8_t* dst, uint64_t gen, bool* hit, bool* stale) const {
    const RouteCache6Set& s = sets_[set];
    const uint32_t m = match(s, dst);
    const bool current =
        ((s.tag >> 2) == (uint32_t(gen) & kGenMask)) & ((gen >> kGenBits) == epoch_);
    *stale |= (m != 0) & !current;
    *hit = (m != 0) & current;
    return s.id[__builtin_ctz(m | 4)];  // m == 0 reads way 2, discarded
  }

  // gen must be the generation read before the lookup that produced id.
  void fill(const uint8_t* dst, uint64_t gen, uint32_t id) { fill_in(set_of(dst), dst, gen, id); }
  void fill_in(uint32_t set, const uint8_t* dst, uint64_t gen, uint32_t id) {
    if ((gen >> kGenBits) != epoch_) {
      // Never back to an older epoch (as below); a newer one empties every set, so that no
      // entry's low bits can stand for a generation 2^30 later.
      if ((gen >> kGenBits) < epoch_) return;
      new_epoch(gen >> kGenBits);
    }
    RouteCache6Set& s = sets_[set];
    const uint32_t g = uint32_t(gen) & kGenMask;
    if ((s.tag >> 2) != g) {
      // As in RouteCache::fill_in: an older generation's answer never wipes a newer set.
      if ((s.tag >> 2) > g) return;
      std::memset(s.dst, 0, sizeof s.dst);
      s.id[0] = s.id[1] = s.id[2] = 0;
      s.tag = g << 2;
    }
    const uint32_t m = match(s, dst);
    uint32_t w;
    if (m) {
      w = uint32_t(__builtin_ctz(m));
    } else {
      w = s.tag & 3;
      s.tag = (s.tag & ~3u) | (w == 2 ? 0 : w + 1);
    }
    std::memcpy(s.dst[w], dst, 16);
    s.id[w] = id;
  }

  uint32_t sets() const { return nsets_; }
  size_t bytes() const { return size_t(nsets_) * sizeof(RouteCache6Set); }

 private:
  static constexpr uint32_t kGenBits = 30;
  static constexpr uint32_t kGenMask = (1u << kGenBits) - 1;

  void new_epoch(uint64_t epoch);

  // Bit w set when way w holds dst (an empty way is all zeros, which no forwarded
  // destination is: the unspecified address is dropped in classify6).
  static uint32_t match(const RouteCache6Set& s, const uint8_t* dst) {
#ifdef __SSE2__
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst));
    const __m128i* ways = reinterpret_cast<const __m128i*>(s.dst);
    const uint32_t e0 = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(ways), d)));
    const uint32_t e1 = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(ways + 1), d)));
    const uint32_t e2 = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(ways + 2), d)));
    return uint32_t(e0 == 0xffff) | uint32_t(e1 == 0xffff) << 1 | uint32_t(e2 == 0xffff) << 2;
#else
    return uint32_t(std::memcmp(s.dst[0], dst, 16) == 0) |
           uint32_t(std::memcmp(s.dst[1], dst, 16) == 0) << 1 |
           uint32_t(std::memcmp(s.dst[2], dst, 16) == 0) << 2;
#endif
  }

  RouteCache6Set* sets_;
  uint32_t nsets_;
  uint32_t shift_;
  uint64_t epoch_ = 0;  // the generation's bits from 30 up that the sets' tags belong to
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
