#include "neighbour.hpp"

namespace routerd {

const char* neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::incomplete:
      return "INCOMPLETE";
    case NeighState::reachable:
      return "REACHABLE";
    case NeighState::probe:
      return "PROBE";
    case NeighState::failed:
      return "FAILED";
    case NeighState::permanent:
      return "PERMANENT";
  }
  return "?";
}

void NeighbourTable::unlist(Neighbour& n) {
  if (n.lru < 0) return;
  Lru& l = lists_[n.lru];
  (n.lru_prev ? n.lru_prev->lru_next : l.head) = n.lru_next;
  (n.lru_next ? n.lru_next->lru_prev : l.tail) = n.lru_prev;
  n.lru_prev = n.lru_next = nullptr;
  n.lru = -1;
  --l.n;
}

void NeighbourTable::relist(Neighbour& n) {
  int8_t want = -1;
  switch (n.state) {
    case NeighState::failed:
      want = kFailed;
      break;
    case NeighState::incomplete:
      want = kIncomplete;
      break;
    case NeighState::probe:  // routerd's STALE: lifetime over, being re-confirmed
      want = kStale;
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

void NeighbourTable::drain(Neighbour& n, std::vector<rte_mbuf*>& to) {
  to.insert(to.end(), n.queue.begin(), n.queue.end());
  queued_ -= n.queue.size();
  n.queue.clear();
}

bool NeighbourTable::evict_oldest(List l, Effects& fx) {
  Neighbour* v = lists_[l].head;
  if (!v) return false;
  drain(*v, fx.evicted);  // dropped without Host Unreachable: eviction happens under load
  if (v->usable()) fx.changed.push_back(v->ip);
  ++fx.evictions;
  erase(map_.find(v->ip.v));
  return true;
}

// Room for one more unresolved entry: within max_unresolved (the oldest FAILED, else the
// oldest INCOMPLETE makes way, so a scan cannot keep a real host from being asked for) and
// within max_entries (then a stale entry may go too). Reachable entries never do.
bool NeighbourTable::make_room(Effects& fx) {
  if (unresolved_count() >= p_.max_unresolved && !evict_oldest(kFailed, fx) &&
      !evict_oldest(kIncomplete, fx))
    return false;
  if (dynamic_ >= p_.max_entries && !evict_oldest(kFailed, fx) && !evict_oldest(kIncomplete, fx) &&
      !evict_oldest(kStale, fx))
    return false;
  return true;
}

// Queues pkt on n: at most queue_len per entry (beyond it the entry's own oldest packet
// makes way, as RFC 4861 7.2.2 does) and queue_total in all (beyond it the oldest packet of
// the entry asking longest makes way: a scan's old packets go before a new host's first).
void NeighbourTable::enqueue(Neighbour& n, rte_mbuf* pkt, Effects& fx) {
  if (n.queue.size() >= p_.queue_len) {
    fx.overflowed.push_back(n.queue.front());
    n.queue.pop_front();
    --queued_;
  } else if (queued_ >= p_.queue_total) {
    // Only INCOMPLETE entries hold packets; at most max_unresolved of them to walk.
    Neighbour* v = lists_[kIncomplete].head;
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

TokenBucket& NeighbourTable::port_budget(uint16_t port) {
  if (budgets_.size() <= port)
    budgets_.resize(size_t(port) + 1, TokenBucket(p_.resolve_rate, p_.resolve_burst));
  return budgets_[port];
}

void NeighbourTable::send_request(Neighbour& n, uint64_t now_ms, Effects& fx, bool unicast) {
  fx.requests.push_back(ArpSend{n.port, n.ip, unicast ? std::optional<Mac>(n.mac) : std::nullopt});
  n.last_request_ms = now_ms;
  n.requests++;
  n.next_ms = now_ms + p_.retrans_ms;
}

void NeighbourTable::make_usable(Neighbour& n, const Mac& mac, uint64_t now_ms, bool moved,
                                 Effects& fx) {
  bool changed = !n.usable() || n.mac != mac || moved;
  n.mac = mac;
  n.state = NeighState::reachable;
  relist(n);
  n.confirmed_ms = now_ms;
  n.requests = 0;
  n.next_ms = now_ms + p_.reachable_ms;
  if (changed) fx.changed.push_back(n.ip);
  if (!n.queue.empty()) {
    fx.released.push_back(Release{n.ip, {}});
    drain(n, fx.released.back().packets);
  }
}

void NeighbourTable::fail(Neighbour& n, uint64_t now_ms, Effects& fx) {
  bool was_usable = n.usable();
  n.state = NeighState::failed;
  relist(n);
  n.requests = 0;
  // Until it is forgotten (failed_ms, at least retrans_ms) it remembers when the last
  // request went out, so a new packet cannot trigger more than one per interval.
  n.next_ms = now_ms + p_.failed_ms;
  drain(n, fx.failed);
  if (was_usable) fx.changed.push_back(n.ip);
}

void NeighbourTable::erase(std::unordered_map<uint32_t, Neighbour>::iterator it) {
  unlist(it->second);
  queued_ -= it->second.queue.size();  // callers drain first; keep the count right anyway
  if (it->second.state != NeighState::permanent) --dynamic_;
  map_.erase(it);
}

void NeighbourTable::resolve(Ipv4 ip, uint16_t port, rte_mbuf* pkt, uint64_t now_ms, Effects& fx) {
  auto it = map_.find(ip.v);
  if (it == map_.end()) {
    // A new resolution broadcasts a request: the port's budget bounds what a scan of
    // absent addresses costs the link and the control thread.
    if (!port_budget(port).take(now_ms)) {
      fx.rate_limited.push_back(pkt);
      return;
    }
    if (!make_room(fx)) {
      fx.table_full.push_back(pkt);
      return;
    }
    Neighbour fresh;
    fresh.ip = ip;
    fresh.port = port;
    Neighbour& n = map_.emplace(ip.v, std::move(fresh)).first->second;
    ++dynamic_;
    relist(n);
    send_request(n, now_ms, fx, false);
    enqueue(n, pkt, fx);
    return;
  }
  Neighbour& n = it->second;
  if (n.usable()) {
    // The worker handed this over before it saw the published state: send it now.
    fx.released.push_back(Release{ip, {pkt}});
    return;
  }
  if (n.state == NeighState::failed) {
    if (now_ms - n.last_request_ms < p_.retrans_ms) {
      fx.failed.push_back(pkt);
      return;
    }
    if (!port_budget(port).take(now_ms)) {
      fx.rate_limited.push_back(pkt);
      return;
    }
    n.state = NeighState::incomplete;
    relist(n);
    n.port = port;
    enqueue(n, pkt, fx);
    send_request(n, now_ms, fx, false);
    return;
  }
  enqueue(n, pkt, fx);  // incomplete
}

void NeighbourTable::learn(Ipv4 ip, const Mac& mac, uint16_t port, uint64_t now_ms, Effects& fx) {
  if (mac.is_multicast() || mac.is_zero()) return;
  auto it = map_.find(ip.v);
  if (it == map_.end()) return;
  Neighbour& n = it->second;
  if (n.state == NeighState::permanent) return;  // static entries are not overridden
  const bool moved = n.port != port;
  if (n.usable() && (n.mac != mac || moved) && now_ms < n.confirmed_ms + p_.locktime_ms) {
    ++fx.mac_locked;
    return;
  }
  n.port = port;
  make_usable(n, mac, now_ms, moved, fx);
}

void NeighbourTable::tick(uint64_t now_ms, Effects& fx) {
  for (auto it = map_.begin(); it != map_.end();) {
    Neighbour& n = it->second;
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
        // Lifetime over: keep forwarding with the known MAC while asking it directly.
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
        } else {
          fx.changed.push_back(n.ip);
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

void NeighbourTable::add_static(Ipv4 ip, uint16_t port, const Mac& mac, Effects& fx) {
  auto it = map_.find(ip.v);
  if (it == map_.end()) {
    Neighbour n;
    n.ip = ip;
    it = map_.emplace(ip.v, std::move(n)).first;
  } else if (it->second.state != NeighState::permanent) {
    --dynamic_;
  }
  Neighbour& n = it->second;
  bool changed = !n.usable() || n.mac != mac || n.port != port;
  n.port = port;
  n.mac = mac;
  n.state = NeighState::permanent;
  relist(n);
  n.requests = 0;
  if (changed) fx.changed.push_back(ip);
  if (!n.queue.empty()) {
    fx.released.push_back(Release{ip, {}});
    drain(n, fx.released.back().packets);
  }
}

bool NeighbourTable::remove(Ipv4 ip, Effects& fx) {
  auto it = map_.find(ip.v);
  if (it == map_.end()) return false;
  drain(it->second, fx.failed);
  if (it->second.usable()) fx.changed.push_back(ip);
  erase(it);
  return true;
}

void NeighbourTable::remove_port(uint16_t port, Effects& fx) {
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.port != port) {
      ++it;
      continue;
    }
    drain(it->second, fx.failed);
    if (it->second.usable()) fx.changed.push_back(it->second.ip);
    erase(it++);
  }
}

void NeighbourTable::clear(Effects& fx) {
  for (auto& [ip, n] : map_) drain(n, fx.failed);
  map_.clear();
  for (Lru& l : lists_) l = Lru{};
  dynamic_ = 0;
  queued_ = 0;
}

const Neighbour* NeighbourTable::find(Ipv4 ip) const {
  auto it = map_.find(ip.v);
  return it == map_.end() ? nullptr : &it->second;
}

}  // namespace routerd
