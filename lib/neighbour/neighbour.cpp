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

void NeighbourTable::send_request(Neighbour& n, uint64_t now_ms, Effects& fx, bool unicast) {
  fx.requests.push_back(ArpSend{n.port, n.ip, unicast ? std::optional<Mac>(n.mac) : std::nullopt});
  n.last_request_ms = now_ms;
  n.requests++;
  n.next_ms = now_ms + p_.retrans_ms;
}

void NeighbourTable::make_usable(Neighbour& n, const Mac& mac, uint64_t now_ms, Effects& fx) {
  bool was_usable = n.usable();
  bool changed = !was_usable || n.mac != mac;
  n.mac = mac;
  n.state = NeighState::reachable;
  n.confirmed_ms = now_ms;
  n.requests = 0;
  n.next_ms = now_ms + p_.reachable_ms;
  if (changed) fx.changed.push_back(n.ip);
  if (!n.queue.empty()) {
    fx.released.push_back(Release{n.ip, std::vector<rte_mbuf*>(n.queue.begin(), n.queue.end())});
    n.queue.clear();
  }
}

void NeighbourTable::fail(Neighbour& n, uint64_t now_ms, Effects& fx) {
  bool was_usable = n.usable();
  n.state = NeighState::failed;
  n.requests = 0;
  // A failed entry is forgotten after one more lifetime; until then it remembers when the
  // last request went out so a new packet cannot trigger more than one per interval.
  n.next_ms = now_ms + p_.reachable_ms;
  fx.failed.insert(fx.failed.end(), n.queue.begin(), n.queue.end());
  n.queue.clear();
  if (was_usable) fx.changed.push_back(n.ip);
}

void NeighbourTable::erase(std::unordered_map<uint32_t, Neighbour>::iterator it) {
  if (it->second.state != NeighState::permanent) --dynamic_;
  map_.erase(it);
}

void NeighbourTable::resolve(Ipv4 ip, uint16_t port, rte_mbuf* pkt, uint64_t now_ms, Effects& fx) {
  auto it = map_.find(ip.v);
  if (it == map_.end()) {
    if (dynamic_ >= p_.max_entries) {
      fx.table_full.push_back(pkt);
      return;
    }
    Neighbour n;
    n.ip = ip;
    n.port = port;
    it = map_.emplace(ip.v, std::move(n)).first;
    ++dynamic_;
    it->second.queue.push_back(pkt);
    send_request(it->second, now_ms, fx, false);
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
    n.state = NeighState::incomplete;
    n.port = port;
    n.queue.push_back(pkt);
    send_request(n, now_ms, fx, false);
    return;
  }
  // Incomplete: queue, replacing the oldest when full (RFC 4861 7.2.2 does the same).
  if (n.queue.size() >= p_.queue_len) {
    fx.overflowed.push_back(n.queue.front());
    n.queue.pop_front();
  }
  n.queue.push_back(pkt);
}

void NeighbourTable::learn(Ipv4 ip, const Mac& mac, uint16_t port, bool for_us, uint64_t now_ms,
                           Effects& fx) {
  if (mac.is_multicast() || mac.is_zero()) return;
  auto it = map_.find(ip.v);
  if (it == map_.end()) {
    if (!for_us || dynamic_ >= p_.max_entries) return;
    Neighbour n;
    n.ip = ip;
    n.port = port;
    it = map_.emplace(ip.v, std::move(n)).first;
    ++dynamic_;
  }
  Neighbour& n = it->second;
  if (n.state == NeighState::permanent) return;  // static entries are not overridden
  if (n.port != port) {
    n.port = port;
    if (n.usable()) fx.changed.push_back(ip);
  }
  make_usable(n, mac, now_ms, fx);
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
  n.requests = 0;
  if (changed) fx.changed.push_back(ip);
  if (!n.queue.empty()) {
    fx.released.push_back(Release{ip, std::vector<rte_mbuf*>(n.queue.begin(), n.queue.end())});
    n.queue.clear();
  }
}

bool NeighbourTable::remove(Ipv4 ip, Effects& fx) {
  auto it = map_.find(ip.v);
  if (it == map_.end()) return false;
  fx.failed.insert(fx.failed.end(), it->second.queue.begin(), it->second.queue.end());
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
    fx.failed.insert(fx.failed.end(), it->second.queue.begin(), it->second.queue.end());
    if (it->second.usable()) fx.changed.push_back(it->second.ip);
    erase(it++);
  }
}

void NeighbourTable::clear(Effects& fx) {
  for (auto& [ip, n] : map_) fx.failed.insert(fx.failed.end(), n.queue.begin(), n.queue.end());
  map_.clear();
  dynamic_ = 0;
}

const Neighbour* NeighbourTable::find(Ipv4 ip) const {
  auto it = map_.find(ip.v);
  return it == map_.end() ? nullptr : &it->second;
}

size_t NeighbourTable::queued_packets() const {
  size_t n = 0;
  for (auto& [k, v] : map_) n += v.queue.size();
  return n;
}

}  // namespace routerd
