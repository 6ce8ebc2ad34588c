// prefix_map: hash maps keyed by an IPv4 or IPv6 prefix for the control plane's tables of full
// Internet tables: PrefixMap (to a 32-bit value; a pointer into it is good until the next
// insert or erase) and PrefixStore (to any value, which never moves until erased).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "compiler.hpp"
#include "inet.hpp"
#include "inet6.hpp"

namespace routerd {

// murmur3's 64-bit finalizer: every input bit moves every output bit, so the low bits that
// pick a slot depend on the whole prefix (std::hash<uint64_t> is the identity).
constexpr uint64_t prefix_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}
inline uint64_t prefix_hash(const Prefix4& p) {
  return prefix_mix(uint64_t(p.addr.v) << 8 | p.len);
}
inline uint64_t prefix_hash(const Prefix6& p) {
  uint64_t hi, lo;
  std::memcpy(&hi, p.addr.b.data(), 8);
  std::memcpy(&lo, p.addr.b.data() + 8, 8);
  return prefix_mix(hi ^ prefix_mix(lo ^ p.len));
}

// Linear probing at most half full, deletion by moving later entries back (no tombstones,
// so a table under churn never needs a rebuild). The reason it exists: std::unordered_map
// costs a heap node per prefix and three dependent cache misses per lookup (bucket, the
// node before, the node); here a lookup is one slot, usually in one cache line.
template <class P>
class PrefixMap {
 public:
  static constexpr uint8_t kEmpty = 0xff;  // a length no prefix has

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return slots_.size(); }

  const uint32_t* find(const P& p) const {
    if (!size_) return nullptr;
    for (size_t i = home(p);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key.len == kEmpty) return nullptr;
      if (same(s.key, p)) return &s.value;
    }
  }
  uint32_t* find(const P& p) { return const_cast<uint32_t*>(std::as_const(*this).find(p)); }
  // Starts loading p's home slot for a find or insert a few prefixes later: over a full
  // table each probe is a cache and TLB miss, which a loop over many prefixes can overlap.
  void prefetch(const P& p) const {
    // An empty map prefetches address 0, which cannot fault.
    prefetch_line(slots_.data() + home(p));
  }
  // Inserts p -> v unless p is there. Returns p's value and whether it was inserted.
  std::pair<uint32_t*, bool> try_emplace(const P& p, uint32_t v) {
    if (p.len == kEmpty) throw std::invalid_argument("PrefixMap: a prefix length of 255");
    if ((size_ + 1) * 2 > slots_.size()) rebuild(slots_.empty() ? 16 : slots_.size() * 2);
    size_t i = home(p);
    for (; slots_[i].key.len != kEmpty; i = (i + 1) & mask_)
      if (same(slots_[i].key, p)) return {&slots_[i].value, false};
    slots_[i] = Slot{p, v};
    ++size_;
    return {&slots_[i].value, true};
  }
  uint32_t& operator[](const P& p) { return *try_emplace(p, 0).first; }
  bool erase(const P& p) {
    if (!size_) return false;
    size_t hole = home(p);
    for (;; hole = (hole + 1) & mask_) {
      if (slots_[hole].key.len == kEmpty) return false;
      if (same(slots_[hole].key, p)) break;
    }
    // Entries after the hole whose probe passed through it move back into it, so every
    // entry stays reachable from its home slot without a gap.
    for (size_t j = (hole + 1) & mask_; slots_[j].key.len != kEmpty; j = (j + 1) & mask_) {
      const size_t h = home(slots_[j].key);
      if (((j - h) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole].key.len = kEmpty;
    --size_;
    return true;
  }
  // Room for n entries in all without growing.
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    if (cap > slots_.size()) rebuild(cap);
  }
  void clear() {
    slots_.clear();
    slots_.shrink_to_fit();
    mask_ = size_ = 0;
  }
  template <class Fn>
  void for_each(Fn&& f) const {
    if (size_)
      for (const Slot& s : slots_)
        if (s.key.len != kEmpty) f(s.key, s.value);
  }

 private:
  struct Slot {
    P key;
    uint32_t value;
  };
  size_t home(const P& p) const { return size_t(prefix_hash(p)) & mask_; }
  static bool same(const P& a, const P& b) { return a.len == b.len && a.addr == b.addr; }
  void rebuild(size_t cap) {
    Slot empty{};
    empty.key.len = kEmpty;
    std::vector<Slot> old(cap, empty);
    old.swap(slots_);
    mask_ = cap - 1;
    for (const Slot& s : old) {
      if (s.key.len == kEmpty) continue;
      size_t i = home(s.key);
      while (slots_[i].key.len != kEmpty) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;  // a power of two of them; none until the first insert
  size_t mask_ = 0;
  size_t size_ = 0;
};

// A value per prefix, kept in fixed chunks that never move: a value's address stays good
// until its prefix is erased (what code written for std::unordered_map relies on), and an
// erased value's place is reused. A PrefixMap finds the place.
template <class P, class V>
class PrefixStore {
 public:
  PrefixStore() = default;
  PrefixStore(const PrefixStore&) = delete;
  PrefixStore& operator=(const PrefixStore&) = delete;
  ~PrefixStore() { clear(); }

  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  void reserve(size_t n) { index_.reserve(n); }
  void prefetch(const P& p) const { index_.prefetch(p); }
  // The second step, a few lookups after prefetch(p): p's value, found through the slot
  // that is in cache by then (values live apart from the slots, a second miss).
  void prefetch_value(const P& p) const {
    if (const uint32_t* i = index_.find(p)) prefetch_line(&at(*i));
  }

  const V* find(const P& p) const {
    const uint32_t* i = index_.find(p);
    return i ? &at(*i) : nullptr;
  }
  V* find(const P& p) { return const_cast<V*>(std::as_const(*this).find(p)); }
  // p's value, made from args if p had none. Returns it and whether it was made.
  template <class... Args>
  std::pair<V*, bool> try_emplace(const P& p, Args&&... args) {
    auto [i, inserted] = index_.try_emplace(p, 0);
    if (!inserted) return {&at(*i), false};
    try {
      *i = take(std::forward<Args>(args)...);
    } catch (...) {  // no room for the value: nor for its prefix
      index_.erase(p);
      throw;
    }
    return {&at(*i), true};
  }
  V& operator[](const P& p) { return *try_emplace(p).first; }
  bool erase(const P& p) {
    const uint32_t* i = index_.find(p);
    if (!i) return false;
    const uint32_t place = *i;
    std::destroy_at(&at(place));
    free_.push_back(place);
    index_.erase(p);
    return true;
  }
  void clear() {
    index_.for_each([this](const P&, uint32_t i) { std::destroy_at(&at(i)); });
    for (V* c : chunks_) std::allocator<V>().deallocate(c, kChunk);
    chunks_.clear();
    free_.clear();
    used_ = 0;
    index_.clear();
  }
  // f(prefix, value), in no particular order; f must not insert or erase.
  template <class Fn>
  void for_each(Fn&& f) const {
    index_.for_each([&](const P& p, uint32_t i) { f(p, at(i)); });
  }
  template <class Fn>
  void for_each(Fn&& f) {
    index_.for_each([&](const P& p, uint32_t i) { f(p, at(i)); });
  }

 private:
  static constexpr uint32_t kChunk = 4096;

  V& at(uint32_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const V& at(uint32_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  template <class... Args>
  uint32_t take(Args&&... args) {
    uint32_t i;
    if (!free_.empty()) {
      i = free_.back();
      std::construct_at(&at(i), std::forward<Args>(args)...);
      free_.pop_back();
      return i;
    }
    if (used_ == chunks_.size() * kChunk) {
      chunks_.reserve(chunks_.size() + 1);  // so push_back cannot throw and leak the chunk
      chunks_.push_back(std::allocator<V>().allocate(kChunk));
    }
    std::construct_at(&at(used_), std::forward<Args>(args)...);
    return used_++;
  }

  PrefixMap<P> index_;          // prefix -> place in chunks_
  std::vector<V*> chunks_;      // kChunk places each, constructed only while in use
  std::vector<uint32_t> free_;  // places of erased values
  uint32_t used_ = 0;           // places ever handed out
};

}  // namespace routerd
