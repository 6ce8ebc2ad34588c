#include "route_exception.hpp"

namespace routerd {

template <class K>
BasicRouteExceptionTable<K>::BasicRouteExceptionTable(uint32_t capacity, uint64_t k1, uint64_t k2)
    : slots_(capacity ? capacity : 1), k1_(k1 | 1), k2_(k2) {
  // Twice as many buckets as entries, a power of two.
  uint32_t nb = 2;
  while (nb < 2 * slots_.size()) nb <<= 1;
  buckets_.assign(nb, kNil);
  shift_ = 64 - uint32_t(__builtin_ctz(nb));
  free_.reserve(slots_.size());
  for (uint32_t i = uint32_t(slots_.size()); i-- > 0;) free_.push_back(i);
}

template <class K>
bool BasicRouteExceptionTable<K>::dead(const Entry& e, uint64_t now) {
  bool pmtu = e.pmtu_expires_ms && now < e.pmtu_expires_ms;
  bool redirect = e.redirect_expires_ms && now < e.redirect_expires_ms;
  return !pmtu && !redirect;
}

template <class K>
uint32_t BasicRouteExceptionTable<K>::lookup(const K& dst) const {
  for (uint32_t i = buckets_[bucket_of(dst)]; i != kNil; i = slots_[i].chain)
    if (slots_[i].e.dst == dst) return i;
  return kNil;
}

template <class K>
void BasicRouteExceptionTable<K>::unlink_age(uint32_t i) {
  Slot& s = slots_[i];
  (s.older != kNil ? slots_[s.older].newer : head_) = s.newer;
  (s.newer != kNil ? slots_[s.newer].older : tail_) = s.older;
  s.older = s.newer = kNil;
}

template <class K>
void BasicRouteExceptionTable<K>::push_newest(uint32_t i) {
  Slot& s = slots_[i];
  s.older = tail_;
  s.newer = kNil;
  (tail_ != kNil ? slots_[tail_].newer : head_) = i;
  tail_ = i;
}

template <class K>
void BasicRouteExceptionTable<K>::remove(uint32_t i) {
  Slot& s = slots_[i];
  uint32_t* link = &buckets_[bucket_of(s.e.dst)];
  while (*link != i) link = &slots_[*link].chain;
  *link = s.chain;
  unlink_age(i);
  s = Slot{};
  free_.push_back(i);
  --size_;
}

template <class K>
const typename BasicRouteExceptionTable<K>::Entry* BasicRouteExceptionTable<K>::find(const K& dst,
                                                                                     uint64_t now) {
  uint32_t i = lookup(dst);
  if (i == kNil) return nullptr;
  Entry& e = slots_[i].e;
  if (dead(e, now)) {
    remove(i);
    return nullptr;
  }
  // An expired part reads as unset.
  if (e.pmtu_expires_ms && now >= e.pmtu_expires_ms) {
    e.pmtu_expires_ms = 0;
    e.metrics.mtu = 0;
  }
  if (e.redirect_expires_ms && now >= e.redirect_expires_ms) {
    e.redirect_expires_ms = 0;
    e.gateway = K{};
  }
  return &e;
}

template <class K>
typename BasicRouteExceptionTable<K>::Entry& BasicRouteExceptionTable<K>::upsert(
    const K& dst, const RouteT& route, uint64_t now) {
  uint32_t i = lookup(dst);
  if (i == kNil) {
    if (free_.empty()) {
      remove(head_);  // the least recently updated
      ++evictions_;
    }
    i = free_.back();
    free_.pop_back();
    Slot& s = slots_[i];
    s.used = true;
    s.e = Entry{};
    s.e.dst = dst;
    s.e.route = route.prefix;
    s.e.metrics = *route.metrics;  // the clone's own copy
    uint32_t& b = buckets_[bucket_of(dst)];
    s.chain = b;
    b = i;
    ++size_;
  } else {
    unlink_age(i);
  }
  push_newest(i);
  slots_[i].e.updated_ms = now;
  return slots_[i].e;
}

template <class K>
bool BasicRouteExceptionTable<K>::erase(const K& dst) {
  uint32_t i = lookup(dst);
  if (i == kNil) return false;
  remove(i);
  return true;
}

template <class K>
size_t BasicRouteExceptionTable<K>::expire(uint64_t now) {
  size_t n = 0;
  for (uint32_t i = head_; i != kNil;) {
    uint32_t next = slots_[i].newer;
    if (dead(slots_[i].e, now)) {
      remove(i);
      ++n;
    }
    i = next;
  }
  return n;
}

template <class K>
void BasicRouteExceptionTable<K>::clear() {
  while (head_ != kNil) remove(head_);
}

template class BasicRouteExceptionTable<uint32_t>;
template class BasicRouteExceptionTable<Ipv6>;

}  // namespace routerd
