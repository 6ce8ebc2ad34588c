#include "neighbour.hpp"

namespace routerd {

const char* neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::incomplete:
      return "INCOMPLETE";
    case NeighState::reachable:
      return "REACHABLE";
    case NeighState::stale:
      return "STALE";
    case NeighState::delay:
      return "DELAY";
    case NeighState::probe:
      return "PROBE";
    case NeighState::failed:
      return "FAILED";
    case NeighState::permanent:
      return "PERMANENT";
  }
  return "?";
}

template <class Addr>
void BasicNeighbourTable<Addr>::unlist(Entry& n) {
  if (n.lru < 0) return;
  Lru& l = lists_[n.lru];
  (n.lru_prev ? n.lru_prev->lru_next : l.head) = n.lru_next;
  (n.lru_next ? n.lru_next->lru_prev : l.tail) = n.lru_prev;
  n.lru_prev = n.lru_next = nullptr;
  n.lru = -1;
  --l.n;
}

template <class Addr>
void BasicNeighbourTable<Addr>::relist(Entry& n) {
  int8_t want = -1;
  switch (n.state) {
    case NeighState::failed:
      want = kFailed;
      break;
    case NeighState::incomplete:
      want = kIncomplete;
      break;
    case NeighState::stale:  // NDP
    case NeighState::delay:  // NDP
    case NeighState::probe:  // ARP: routerd's STALE, lifetime over, being re-confirmed
      // An entry nothing uses (NDP: learnt from a solicitation) goes first: it costs the
      // router nothing to forget it.
      want = n.used ? kStale : kUnused;
      break;
    case NeighState::reachable:
    case NeighState::permanent:
      break;
  }
  if (want == n.lru) return;  // same state class: keeps its age
  unlist(n);
  if (want < 0) return;
  Lru& l = lists_[want];
  n.lru_prev = l.tail;
  n.lru_next = nullptr;
  (l.tail ? l.tail->lru_next : l.head) = &n;
  l.tail = &n;
  n.lru = want;
  ++l.n;
}

template <class Addr>
void BasicNeighbourTable<Addr>::drain(Entry& n, std::vector<rte_mbuf*>& to) {
  to.insert(to.end(), n.queue.begin(), n.queue.end());
  queued_ -= n.queue.size();
  n.queue.clear();
}

template <class Addr>
bool BasicNeighbourTable<Addr>::evict_oldest(List l, Effects& fx) {
  Entry* v = lists_[l].head;
  if (!v) return false;
  drain(*v, fx.evicted);  // dropped without Host Unreachable: eviction happens under load
  if (v->usable()) fx.changed.push_back(key_of(*v));
  ++fx.evictions;
  erase(map_.find(key_of(*v)));
  return true;
}

// Room for one more unresolved entry: within max_unresolved (the oldest FAILED, else the
// oldest INCOMPLETE makes way, so a scan cannot keep a real host from being asked for) and
// within max_entries (then an unused STALE entry (NDP), then a stale entry may go too).
// Reachable entries never do.
template <class Addr>
bool BasicNeighbourTable<Addr>::make_room(Effects& fx) {
  if (unresolved_count() >= p_.max_unresolved && !evict_oldest(kFailed, fx) &&
      !evict_oldest(kIncomplete, fx))
    return false;
  if (dynamic_ >= p_.max_entries && !evict_oldest(kFailed, fx) && !evict_oldest(kUnused, fx) &&
      !evict_oldest(kIncomplete, fx) && !evict_oldest(kStale, fx))
    return false;
  return true;
}

// Queues pkt on n: at most queue_len per entry (beyond it the entry's own oldest packet
// makes way, as RFC 4861 7.2.2 does) and queue_total in all (beyond it the oldest packet of
// the entry asking longest makes way: a scan's old packets go before a new host's first).
template <class Addr>
void BasicNeighbourTable<Addr>::enqueue(Entry& n, rte_mbuf* pkt, Effects& fx) {
  if (n.queue.size() >= p_.queue_len) {
    fx.overflowed.push_back(n.queue.front());
    n.queue.pop_front();
    --queued_;
  } else if (queued_ >= p_.queue_total) {
    // Only INCOMPLETE entries hold packets; at most max_unresolved of them to walk.
    Entry* v = lists_[kIncomplete].head;
    while (v && v->queue.empty()) v = v->lru_next;
    if (!v) {
      fx.queue_full.push_back(pkt);
      return;
    }
    fx.queue_full.push_back(v->queue.front());
    v->queue.pop_front();
    --queued_;
  }
  n.queue.push_back(pkt);
  ++queued_;
}

template <class Addr>
TokenBucket& BasicNeighbourTable<Addr>::port_budget(uint16_t port) {
  if (budgets_.size() <= port)
    budgets_.resize(size_t(port) + 1, TokenBucket(p_.resolve_rate, p_.resolve_burst));
  return budgets_[port];
}

template <class Addr>
void BasicNeighbourTable<Addr>::send_request(Entry& n, uint64_t now_ms, Effects& fx, bool unicast) {
  fx.requests.push_back(Request{n.port, n.ip, unicast ? std::optional<Mac>(n.mac) : std::nullopt});
  n.last_request_ms = now_ms;
  n.requests++;
  n.next_ms = now_ms + p_.retrans_ms;
}

template <class Addr>
uint64_t BasicNeighbourTable<Addr>::reachable_period() {
  if (!p_.randomize_reachable) return p_.reachable_ms;
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  // MIN_RANDOM_FACTOR 0.5 .. MAX_RANDOM_FACTOR 1.5, in thousandths.
  return p_.reachable_ms / 2 + p_.reachable_ms * (rng_ % 1001) / 1000;
}

// Puts n in state st (not INCOMPLETE, PROBE or FAILED, which send or drain) with its timer.
template <class Addr>
void BasicNeighbourTable<Addr>::enter(Entry& n, NeighState st, uint64_t now_ms) {
  n.state = st;
  relist(n);
  n.requests = 0;
  switch (st) {
    case NeighState::reachable:
      n.next_ms = now_ms + reachable_period();
      break;
    case NeighState::stale:
      // RFC 4861 7.3.3: a packet sent to a STALE entry starts DELAY. The workers forward
      // through published next hops without telling the table, so a used entry goes DELAY
      // at the next tick; an unused one is forgotten after stale_ms (Linux's gc_stale_time).
      n.next_ms = n.used ? now_ms : now_ms + p_.stale_ms;
      break;
    case NeighState::delay:
      n.next_ms = now_ms + p_.delay_ms;
      break;
    default:
      break;
  }
}

// The MAC (and port) of n are set, or confirmed, in state st; the queue goes out.
template <class Addr>
void BasicNeighbourTable<Addr>::set_mac(Entry& n, const Mac& mac, uint16_t port, NeighState st,
                                        uint64_t now_ms, Effects& fx) {
  const bool changed = !n.usable() || n.mac != mac || n.port != port;
  n.mac = mac;
  n.port = port;
  enter(n, st, now_ms);
  n.confirmed_ms = now_ms;
  if (changed) fx.changed.push_back(key_of(n));
  if (!n.queue.empty()) {
    fx.released.push_back(Release{key_of(n), {}});
    drain(n, fx.released.back().packets);
  }
}

// A usable entry's MAC or port set or confirmed within locktime_ms is not replaced.
template <class Addr>
bool BasicNeighbourTable<Addr>::locked(const Entry& n, const Mac& mac, uint16_t port,
                                       uint64_t now_ms, Effects& fx) const {
  if (n.usable() && (n.mac != mac || n.port != port) && now_ms < n.confirmed_ms + p_.locktime_ms) {
    ++fx.mac_locked;
    return true;
  }
  return false;
}

template <class Addr>
void BasicNeighbourTable<Addr>::fail(Entry& n, uint64_t now_ms, Effects& fx) {
  n.state = NeighState::failed;
  relist(n);
  n.requests = 0;
  // Until it is forgotten (failed_ms, at least retrans_ms) it remembers when the last
  // request went out, so a new packet cannot trigger more than one per interval.
  n.next_ms = now_ms + p_.failed_ms;
  drain(n, fx.failed);
  // Reported even when it never resolved: an ECMP member is taken out of its group when
  // its resolution fails, not only when a resolved neighbour stops answering.
  fx.changed.push_back(key_of(n));
}

template <class Addr>
void BasicNeighbourTable<Addr>::erase(typename Map::iterator it) {
  unlist(it->second);
  queued_ -= it->second.queue.size();  // callers drain first; keep the count right anyway
  if (it->second.state != NeighState::permanent) --dynamic_;
  map_.erase(it);
}

template <class Addr>
void BasicNeighbourTable<Addr>::resolve(Addr ip, uint16_t port, rte_mbuf* pkt, uint64_t now_ms,
                                        Effects& fx) {
  const Key key = key_of(ip, port);
  auto it = map_.find(key);
  if (it == map_.end()) {
    // A new resolution broadcasts a request: the port's budget bounds what a scan of
    // absent addresses costs the link and the control thread.
    if (!port_budget(port).take(now_ms)) {
      if (pkt) fx.rate_limited.push_back(pkt);
      return;
    }
    if (!make_room(fx)) {
      if (pkt) fx.table_full.push_back(pkt);
      return;
    }
    Entry fresh;
    fresh.ip = ip;
    fresh.port = port;
    fresh.used = true;
    Entry& n = map_.emplace(key, std::move(fresh)).first->second;
    ++dynamic_;
    relist(n);
    send_request(n, now_ms, fx, false);
    if (pkt) enqueue(n, pkt, fx);
    return;
  }
  Entry& n = it->second;
  n.used = true;
  relist(n);  // an unused STALE entry (NDP) now counts as used
  if (n.usable()) {
    // RFC 4861 7.3.3: "the first time a node sends a packet to a neighbor whose entry is
    // STALE, the sender changes the state to DELAY".
    if (n.state == NeighState::stale) enter(n, NeighState::delay, now_ms);
    // The worker handed this over before it saw the published state: send it now.
    if (pkt) fx.released.push_back(Release{key, {pkt}});
    return;
  }
  if (n.state == NeighState::failed) {
    if (now_ms - n.last_request_ms < p_.retrans_ms) {
      if (pkt) fx.failed.push_back(pkt);
      return;
    }
    if (!port_budget(port).take(now_ms)) {
      if (pkt) fx.rate_limited.push_back(pkt);
      return;
    }
    n.state = NeighState::incomplete;
    relist(n);
    n.port = port;
    if (pkt) enqueue(n, pkt, fx);
    send_request(n, now_ms, fx, false);
    return;
  }
  if (pkt) enqueue(n, pkt, fx);  // incomplete
}

template <class Addr>
void BasicNeighbourTable<Addr>::arp_merge(Addr ip, const Mac& mac, uint16_t port, uint64_t now_ms,
                                          Effects& fx) {
  if (mac.is_multicast() || mac.is_zero()) return;
  auto it = map_.find(key_of(ip, port));
  if (it == map_.end()) return;
  Entry& n = it->second;
  if (n.state == NeighState::permanent) return;  // static entries are not overridden
  if (locked(n, mac, port, now_ms, fx)) return;
  set_mac(n, mac, port, NeighState::reachable, now_ms, fx);
}

template <class Addr>
void BasicNeighbourTable<Addr>::na_received(Addr ip, std::optional<Mac> tlla, bool solicited,
                                            bool override_, bool router, uint16_t port,
                                            uint64_t now_ms, Effects& fx) {
  if (tlla && (tlla->is_multicast() || tlla->is_zero())) return;
  // A link-local target names the entry of this port only (RFC 4007).
  auto it = map_.find(key_of(ip, port));
  // "If no entry exists, the advertisement SHOULD be silently discarded": strangers cannot
  // fill the table.
  if (it == map_.end()) return;
  Entry& n = it->second;
  if (n.state == NeighState::permanent) return;  // static entries are not overridden
  if (n.state == NeighState::incomplete || n.state == NeighState::failed) {
    // "If the target's Neighbor Cache entry is in the INCOMPLETE state when the
    // advertisement is received ... If the link layer has addresses and no Target
    // Link-Layer Address option is included, the receiving node SHOULD silently discard the
    // received advertisement. Otherwise, the receiving node performs the following steps:
    // - It records the link-layer address in the Neighbor Cache entry. - If the
    // advertisement's Solicited flag is set, the state of the entry is set to REACHABLE;
    // otherwise, it is set to STALE. - It sets the IsRouter flag in the cache entry based
    // on the Router flag in the received advertisement. - It sends any packets queued for
    // the neighbor awaiting address resolution." FAILED (Linux's state, not the RFC's) holds
    // no address it trusts: the same.
    if (!tlla) return;
    n.router = router;
    set_mac(n, *tlla, port, solicited ? NeighState::reachable : NeighState::stale, now_ms, fx);
    return;
  }
  // Without a TLLA nothing names the link-layer address: an NA from another port does not
  // confirm this one.
  if (!tlla && port != n.port) return;
  const bool differs = tlla && (*tlla != n.mac || port != n.port);
  if (differs && !override_) {
    // "I. If the Override flag is clear and the supplied link-layer address differs from
    // that in the cache, then ... a. If the state of the entry is REACHABLE, set it to
    // STALE, but do not update the entry in any other way. b. Otherwise, the received
    // advertisement should be ignored and MUST NOT update the cache."
    if (n.state == NeighState::reachable) enter(n, NeighState::stale, now_ms);
    return;
  }
  // "II. If the Override flag is set, or the supplied link-layer address is the same as
  // that in the cache, or no Target Link-Layer Address option was supplied": the address
  // is inserted if it differs (routerd: not within locktime_ms, as for ARP); solicited:
  // REACHABLE; unsolicited with a new address: STALE; otherwise the state stays.
  if (differs) {
    if (locked(n, *tlla, port, now_ms, fx)) return;
    n.router = router;
    set_mac(n, *tlla, port, solicited ? NeighState::reachable : NeighState::stale, now_ms, fx);
    return;
  }
  n.router = router;
  if (solicited) {
    n.confirmed_ms = now_ms;
    enter(n, NeighState::reachable, now_ms);
  }
}

template <class Addr>
void BasicNeighbourTable<Addr>::slla_received(Addr ip, const Mac& slla, uint16_t port,
                                              uint64_t now_ms, Effects& fx) {
  if (slla.is_multicast() || slla.is_zero()) return;
  const Key key = key_of(ip, port);
  auto it = map_.find(key);
  if (it == map_.end()) {
    // 7.2.3: "If an entry does not already exist, the node SHOULD create a new one and set
    // its reachability state to STALE". Room comes only from FAILED and unused STALE
    // entries, never from what the router resolves or uses.
    if (dynamic_ >= p_.max_entries && !evict_oldest(kFailed, fx) && !evict_oldest(kUnused, fx)) {
      ++fx.not_learnt;
      return;
    }
    Entry fresh;
    fresh.ip = ip;
    fresh.port = port;
    Entry& n = map_.emplace(key, std::move(fresh)).first->second;
    ++dynamic_;
    set_mac(n, slla, port, NeighState::stale, now_ms, fx);
    return;
  }
  Entry& n = it->second;
  if (n.state == NeighState::permanent) return;
  if (n.state == NeighState::incomplete || n.state == NeighState::failed) {
    set_mac(n, slla, port, NeighState::stale, now_ms, fx);  // 7.2.3: and send the queue
    return;
  }
  // "If an entry already exists, and the cached link-layer address differs from the one in
  // the received Source Link-Layer option, the cached address should be replaced by the
  // received address, and the entry's reachability state MUST be set to STALE." The same
  // address changes nothing.
  if (slla == n.mac && port == n.port) return;
  if (locked(n, slla, port, now_ms, fx)) return;
  set_mac(n, slla, port, NeighState::stale, now_ms, fx);
}

template <class Addr>
bool BasicNeighbourTable<Addr>::use(const Key& k) {
  auto it = map_.find(k);
  if (it == map_.end()) return false;
  Entry& n = it->second;
  if (!n.used && n.state == NeighState::stale) n.next_ms = 0;  // DELAY at the next tick
  n.used = true;
  relist(n);
  return true;
}

template <class Addr>
void BasicNeighbourTable<Addr>::tick(uint64_t now_ms, Effects& fx) {
  for (auto it = map_.begin(); it != map_.end();) {
    Entry& n = it->second;
    if (n.state == NeighState::permanent || now_ms < n.next_ms) {
      ++it;
      continue;
    }
    switch (n.state) {
      case NeighState::incomplete:
        if (n.requests < p_.probes)
          send_request(n, now_ms, fx, false);
        else
          fail(n, now_ms, fx);
        ++it;
        break;
      case NeighState::reachable:
        if constexpr (kNdp) {
          // 7.3.3: "When ReachableTime milliseconds have passed since receipt of the last
          // reachability confirmation for a neighbor, the Neighbor Cache entry's state
          // changes from REACHABLE to STALE." Nothing to republish: still usable.
          enter(n, NeighState::stale, now_ms);
        } else {
          // Lifetime over: keep forwarding with the known MAC while asking it directly.
          n.state = NeighState::probe;
          relist(n);
          n.requests = 0;
          send_request(n, now_ms, fx, true);
        }
        ++it;
        break;
      case NeighState::stale:  // NDP only
        if (n.used) {
          enter(n, NeighState::delay, now_ms);
          ++it;
        } else {
          fx.changed.push_back(it->first);
          erase(it++);
        }
        break;
      case NeighState::delay:  // NDP only
        // 7.3.3: "If the entry is still in the DELAY state when the timer expires, the
        // entry's state changes to PROBE" and a unicast solicitation goes out.
        n.state = NeighState::probe;
        relist(n);
        n.requests = 0;
        send_request(n, now_ms, fx, true);
        ++it;
        break;
      case NeighState::probe:
        if (n.requests < p_.probes) {
          send_request(n, now_ms, fx, true);
          ++it;
        } else if (unresolved_count() < p_.max_unresolved) {
          // NDP 7.3.3: "If no response is received after waiting RetransTimer milliseconds
          // after sending the MAX_UNICAST_SOLICIT solicitations, retransmissions cease and
          // the entry SHOULD be deleted." Either family keeps it FAILED for failed_ms, as
          // after a failed resolution (Linux's ARP goes PROBE -> FAILED too): a deleted
          // entry would make the next packet start a fresh broadcast resolution, and an
          // ECMP member would hold its flows' packets through it instead of leaving its
          // group at once. At the unresolved limit it is deleted, so max_unresolved holds
          // (failures cannot take room the way new entries do).
          fail(n, now_ms, fx);
          ++it;
        } else {
          fx.changed.push_back(it->first);
          erase(it++);
        }
        break;
      case NeighState::failed:
        erase(it++);
        break;
      case NeighState::permanent:
        ++it;
        break;
    }
  }
}

template <class Addr>
void BasicNeighbourTable<Addr>::add_static(Addr ip, uint16_t port, const Mac& mac, Effects& fx) {
  const Key key = key_of(ip, port);
  auto it = map_.find(key);
  if (it == map_.end()) {
    Entry n;
    n.ip = ip;
    it = map_.emplace(key, std::move(n)).first;
  } else if (it->second.state != NeighState::permanent) {
    --dynamic_;
  }
  Entry& n = it->second;
  bool changed = !n.usable() || n.mac != mac || n.port != port;
  n.port = port;
  n.mac = mac;
  n.state = NeighState::permanent;
  relist(n);
  n.requests = 0;
  if (changed) fx.changed.push_back(key);
  if (!n.queue.empty()) {
    fx.released.push_back(Release{key, {}});
    drain(n, fx.released.back().packets);
  }
}

template <class Addr>
bool BasicNeighbourTable<Addr>::remove(const Key& k, Effects& fx) {
  auto it = map_.find(k);
  if (it == map_.end()) return false;
  drain(it->second, fx.failed);
  if (it->second.usable()) fx.changed.push_back(k);
  erase(it);
  return true;
}

template <class Addr>
void BasicNeighbourTable<Addr>::remove_port(uint16_t port, Effects& fx) {
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.port != port) {
      ++it;
      continue;
    }
    drain(it->second, fx.failed);
    if (it->second.usable()) fx.changed.push_back(it->first);
    erase(it++);
  }
}

template <class Addr>
void BasicNeighbourTable<Addr>::clear(Effects& fx) {
  for (auto& [key, n] : map_) drain(n, fx.failed);
  map_.clear();
  for (Lru& l : lists_) l = Lru{};
  dynamic_ = 0;
  queued_ = 0;
}

template <class Addr>
const typename BasicNeighbourTable<Addr>::Entry* BasicNeighbourTable<Addr>::find(
    const Key& k) const {
  auto it = map_.find(k);
  return it == map_.end() ? nullptr : &it->second;
}

template class BasicNeighbourTable<Ipv4>;
template class BasicNeighbourTable<Ipv6>;

}  // namespace routerd
