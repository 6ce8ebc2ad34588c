// rib: the control plane's IPv4 routes, one per prefix (connected or static).
// Control-thread only; the FIB is derived from it. Longest-prefix match probes only the
// prefix lengths that hold routes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "inet.hpp"

namespace routerd {

enum class RouteProto : uint8_t { connected, static_route };
const char* route_proto_name(RouteProto p);

// Route metrics, read-only and shared by every route with the same values (nearly all use
// the defaults); writing a metric gives the route its own copy first. The fast path never
// reads these: next-hop states carry what they imply (the effective MTU).
struct RouteMetrics {
  uint16_t mtu = 0;  // 0: the egress port's MTU
  bool operator==(const RouteMetrics&) const = default;
};
const std::shared_ptr<const RouteMetrics>& default_metrics();

struct Route {
  Prefix4 prefix;
  RouteProto proto = RouteProto::static_route;
  std::optional<Ipv4> via;  // gateway; none: destinations are on the link (ARP for them)
  uint16_t port = 0;        // egress port
  Ipv4 src;                 // connected: the router's address on that subnet
  std::shared_ptr<const RouteMetrics> metrics = default_metrics();

  uint16_t mtu() const { return metrics->mtu; }
  void set_mtu(uint16_t mtu);  // copy-on-write
};

class Rib {
 public:
  const Route* find(const Prefix4& p) const;
  const Route* lookup(Ipv4 a) const;  // longest match
  // Longest match strictly shorter than p (what p's addresses fall back to without it).
  const Route* lookup_parent(const Prefix4& p) const;
  void set(const Route& r);  // insert or replace
  bool erase(const Prefix4& p);
  size_t size() const { return routes_.size(); }
  const std::array<uint32_t, 33>& per_length() const { return per_len_; }
  void reserve(size_t n) { routes_.reserve(n); }
  // Sorted by prefix address then length, for display.
  std::vector<const Route*> sorted() const;
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [p, r] : routes_) f(r);
  }

 private:
  std::unordered_map<Prefix4, Route, Prefix4Hash> routes_;
  std::array<uint32_t, 33> per_len_{};
};

}  // namespace routerd
