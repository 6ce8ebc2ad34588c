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

// The shared ICMP budget: `rate` messages a second on average up to `burst`, where each
// message costs 0, 1 or 2 tokens at random, as Linux's icmp_global_allow has since
// CVE-2020-25705. With a fixed cost, a sender that counts the errors it gets back for
// probes of its own learns how many others earned (SAD DNS: which UDP ports are open); the
// random cost hides that. A message needs one whole token: a burst passes `burst` messages
// on average, never a count a sender can rely on. rate 0: nothing passes (ICMP errors off).
class JitteredBucket {
 public:
  JitteredBucket(uint32_t rate, uint32_t burst, uint64_t seed)
      : rate_(rate), cap_(int64_t(burst) * 1000), milli_(cap_), rng_(seed | 1) {}

  bool take(uint64_t now_ms) {
    if (rate_ == 0) return false;
    if (now_ms > last_ms_) milli_ = std::min(cap_, milli_ + int64_t(now_ms - last_ms_) * rate_);
    last_ms_ = std::max(last_ms_, now_ms);
    if (milli_ < 1000) return false;
    // A cost of 2 may leave one token owed: refilled before the next message, so the
    // average cost stays 1 (Linux clamps at 0 instead, and under steady demand passes about
    // 1.5 x its rate).
    milli_ -= int64_t(next() % 3) * 1000;
    return true;
  }

 private:
  uint64_t next() {  // xorshift64: not for secrets, only to make the cost unpredictable
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }
  int64_t rate_, cap_, milli_;
  uint64_t last_ms_ = 0;
  uint64_t rng_;
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

// Redirects per source with Linux's backoff (ip_rt_send_redirect): the first at once, the
// n-th after a gap of 20 ms << n, at most 9 in a row; then none while the source keeps
// earning them, until it has earned none for 20.48 s, so a host that ignores redirects is
// not told again and again. Unlike Linux, no gap is under a second (routerd's limit
// before it had a backoff, and what RFC 1812 5.2.7.2 implementations commonly keep): 9
// redirects span about 14 s. Fixed hashed slots keyed as SourceLimiter's: a source takes a
// slot over only from an owner silent that long, so alternating sources cannot reset a
// backoff; a quiet source that lands on a busy slot shares it.
class RedirectBackoff {
 public:
  static constexpr uint32_t kSlotsLog2 = 12;
  static constexpr uint32_t kNumber = 9;   // ip_rt_redirect_number
  static constexpr uint64_t kLoadMs = 20;  // ip_rt_redirect_load (HZ/50)
  static constexpr uint64_t kMinGapMs = 1000;
  static constexpr uint64_t kSilenceMs = 20480;  // ip_rt_redirect_silence (load << 10)

  RedirectBackoff(uint64_t k1, uint64_t k2) : k1_(k1 | 1), k2_(k2), slots_(1u << kSlotsLog2) {}

  // Whether a redirect to `source` may be sent now (and, if so, it counts as sent).
  bool allow(uint64_t source, uint64_t now_ms) {
    uint64_t h = (source ^ k2_) * k1_;
    h ^= h >> 29;
    Slot& s = slots_[size_t((h * 0x9e3779b97f4a7c15ull) >> (64 - kSlotsLog2))];
    const bool silent = now_ms > s.last_ms + kSilenceMs;
    if (!s.used || (s.source != source && silent)) {
      s = Slot{source, 0, 0, true};
    } else if (silent) {
      s.sent = 0;
    }
    if (s.sent >= kNumber) {
      s.last_ms = now_ms;  // still earning them: the silence starts again
      return false;
    }
    if (s.sent != 0 && now_ms < s.last_ms + std::max(kMinGapMs, kLoadMs << s.sent)) return false;
    s.last_ms = now_ms;
    ++s.sent;
    return true;
  }

 private:
  struct Slot {
    uint64_t source = 0;
    uint64_t last_ms = 0;
    uint32_t sent = 0;
    bool used = false;
  };
  uint64_t k1_, k2_;
  std::vector<Slot> slots_;  // sized once
};

}  // namespace routerd
