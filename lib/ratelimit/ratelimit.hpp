// ratelimit: token buckets on an injected millisecond clock, one for a whole budget and a
// fixed hashed array of them for "per source" budgets. Memory is fixed at construction:
// however many sources send, nothing grows. Control-plane only (no atomics).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace routerd {

// `rate` tokens per second up to `burst`, counted in thousandths so that rates below one
// per millisecond stay exact. A new bucket is full.
class TokenBucket {
 public:
  TokenBucket(uint32_t rate = 0, uint32_t burst = 1)
      : rate_(rate), cap_(uint64_t(burst) * 1000), milli_(cap_) {}

  // Takes one token if there is one. A rate of 0 never refills (only the burst passes).
  bool take(uint64_t now_ms) {
    refill(now_ms);
    if (milli_ < 1000) return false;
    milli_ -= 1000;
    return true;
  }
  // True when the bucket has refilled to its burst by now_ms (it has been idle long enough).
  bool full(uint64_t now_ms) const {
    return milli_ + (now_ms > last_ms_ ? (now_ms - last_ms_) * rate_ : 0) >= cap_;
  }

 private:
  void refill(uint64_t now_ms) {
    if (now_ms > last_ms_) milli_ = std::min(cap_, milli_ + (now_ms - last_ms_) * rate_);
    last_ms_ = std::max(last_ms_, now_ms);
  }
  uint64_t rate_, cap_, milli_;
  uint64_t last_ms_ = 0;
};

// One token bucket per source, in 2^kSlotsLog2 slots chosen by a keyed hash (secrets from
// the caller, so a sender cannot pick sources that share a slot). A source takes over a
// slot only when the slot's bucket has refilled, i.e. its owner has been quiet: a source
// that lands on a busy slot shares that bucket. So alternating or random sources cannot
// escape a limit by resetting buckets, and all sources together get at most
// slots x (burst + rate); the price is that a quiet source sharing a flooder's slot is
// limited with it. rate 0 turns the limit off.
class SourceLimiter {
 public:
  static constexpr uint32_t kSlotsLog2 = 12;

  SourceLimiter(uint32_t rate, uint32_t burst, uint64_t k1, uint64_t k2)
      : rate_(rate), burst_(burst), k1_(k1 | 1), k2_(k2), slots_(rate ? 1u << kSlotsLog2 : 0) {}

  bool allow(uint64_t source, uint64_t now_ms) {
    if (rate_ == 0) return true;
    uint64_t h = (source ^ k2_) * k1_;
    h ^= h >> 29;
    Slot& s = slots_[size_t((h * 0x9e3779b97f4a7c15ull) >> (64 - kSlotsLog2))];
    if (!s.used || (s.source != source && s.bucket.full(now_ms))) {
      s.used = true;
      s.source = source;
      s.bucket = TokenBucket(rate_, burst_);
    }
    return s.bucket.take(now_ms);
  }
  bool enabled() const { return rate_ != 0; }

 private:
  struct Slot {
    uint64_t source = 0;
    TokenBucket bucket;
    bool used = false;
  };
  uint32_t rate_, burst_;
  uint64_t k1_, k2_;
  std::vector<Slot> slots_;  // sized once
};

}  // namespace routerd
