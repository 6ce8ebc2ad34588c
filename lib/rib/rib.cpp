#include "rib.hpp"

#include <algorithm>

namespace routerd {

const std::shared_ptr<const RouteMetrics>& default_metrics() {
  static const auto d = std::make_shared<const RouteMetrics>();
  return d;
}

void Route::set_mtu(uint16_t mtu) {
  if (metrics->mtu == mtu) return;
  auto own = std::make_shared<RouteMetrics>(*metrics);
  own->mtu = mtu;
  metrics = std::move(own);
}

const char* route_proto_name(RouteProto p) {
  return p == RouteProto::connected ? "connected" : "static";
}

const Route* Rib::find(const Prefix4& p) const {
  auto it = routes_.find(p);
  return it == routes_.end() ? nullptr : &it->second;
}

const Route* Rib::lookup(Ipv4 a) const {
  for (int len = 32; len >= 0; --len) {
    if (!per_len_[len]) continue;
    if (const Route* r = find(Prefix4{Ipv4(a.v & prefix_mask(len)), uint8_t(len)})) return r;
  }
  return nullptr;
}

const Route* Rib::lookup_parent(const Prefix4& p) const {
  for (int len = int(p.len) - 1; len >= 0; --len) {
    if (!per_len_[len]) continue;
    if (const Route* r = find(Prefix4{Ipv4(p.addr.v & prefix_mask(len)), uint8_t(len)})) return r;
  }
  return nullptr;
}

void Rib::set(const Route& r) {
  auto [it, inserted] = routes_.insert_or_assign(r.prefix, r);
  if (inserted) per_len_[r.prefix.len]++;
}

bool Rib::erase(const Prefix4& p) {
  if (!routes_.erase(p)) return false;
  per_len_[p.len]--;
  return true;
}

std::vector<const Route*> Rib::sorted() const {
  std::vector<const Route*> v;
  v.reserve(routes_.size());
  for (const auto& [p, r] : routes_) v.push_back(&r);
  std::sort(v.begin(), v.end(),
            [](const Route* a, const Route* b) { return a->prefix < b->prefix; });
  return v;
}

}  // namespace routerd
