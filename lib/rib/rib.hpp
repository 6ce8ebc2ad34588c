// rib: the control plane's routes of one family, one per prefix (connected or static).
// Control-thread only; the FIB is derived from it. Longest-prefix match probes only the
// prefix lengths that hold routes.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "inet.hpp"
#include "inet6.hpp"
#include "prefix_map.hpp"
#include "route_type.hpp"

namespace routerd {

// daemon: from a routing daemon (FPM); the route's rtproto says which (186 bgp, ...). The
// router's own routes (connected, static) always win over a daemon's for the same prefix.
enum class RouteProto : uint8_t { connected, static_route, daemon };
const char* route_proto_name(RouteProto p);

// Route metrics, read-only and shared by every route with the same values (nearly all use
// the defaults); writing a metric gives the route its own copy first. The fast path never
// reads these: next-hop states carry what they imply (the effective MTU).
struct RouteMetrics {
  uint16_t mtu = 0;  // 0: the egress port's MTU
  bool operator==(const RouteMetrics&) const = default;
};
const std::shared_ptr<const RouteMetrics>& default_metrics();

// What the templates below need of an address family.
template <class A>
struct Family;
template <>
struct Family<Ipv4> {
  using Prefix = Prefix4;
  using Hash = Prefix4Hash;
  static constexpr int kBits = 32;
  static Prefix4 prefix(Ipv4 a, int len) { return {Ipv4(a.v & prefix_mask(len)), uint8_t(len)}; }
};
template <>
struct Family<Ipv6> {
  using Prefix = Prefix6;
  using Hash = Prefix6Hash;
  static constexpr int kBits = 128;
  static Prefix6 prefix(const Ipv6& a, int len) {
    return {ipv6_mask(a, unsigned(len)), uint8_t(len)};
  }
};

// One next hop of an ECMP route: a gateway, its port and its weight (1-256). RFC 5549: a
// path of an IPv4 route may have an IPv6 gateway instead (via6; via is then 0.0.0.0).
template <class A>
struct BasicPath {
  A via;
  uint16_t port = 0;
  uint16_t weight = 1;
  std::optional<Ipv6> via6{};  // IPv4 routes only
  bool operator==(const BasicPath&) const = default;
  // The order of a route's paths: by port, then gateway.
  bool operator<(const BasicPath& o) const {
    return std::tie(port, via, via6) < std::tie(o.port, o.via, o.via6);
  }
};

template <class A>
struct BasicRoute {
  typename Family<A>::Prefix prefix;
  RouteProto proto = RouteProto::static_route;
  std::optional<A> via;  // gateway; none: destinations are on the link (ARP/NDP for them)
  uint16_t port = 0;     // egress port
  A src{};               // connected: the router's address on that subnet
  std::shared_ptr<const RouteMetrics> metrics = default_metrics();
  // ECMP: the next hops (two or more, sorted, shared read-only by copies of the route); via
  // (or via6) and port then hold the first of them, for what needs one gateway (the first
  // hop of the router's own packets when no flow picks one, a gateway check on address
  // removal).
  std::shared_ptr<const std::vector<BasicPath<A>>> paths{};
  // Not unicast (static routes only): no via, no port, no metrics; packets are rejected.
  RouteType type = RouteType::unicast;
  uint8_t rtproto = 0;  // daemon routes: the daemon's rtm_protocol
  // RFC 5549 (IPv4 routes only; BGP unnumbered): an IPv6 gateway, resolved by NDP; via is
  // then empty. Beside type and rtproto (moved after paths for it): a route grows by 8
  // bytes, where appending it alone would have cost 16.
  std::optional<Ipv6> via6{};
  bool has_gateway() const { return via || via6; }
  uint16_t mtu() const { return metrics->mtu; }
  void set_mtu(uint16_t mtu) {  // copy-on-write
    if (metrics->mtu == mtu) return;
    auto own = std::make_shared<RouteMetrics>(*metrics);
    own->mtu = mtu;
    metrics = std::move(own);
  }
};
// Whether gw is the route's gateway, or one of them.
template <class A>
bool route_uses_gateway(const BasicRoute<A>& r, const A& gw) {
  if (!r.paths) return r.via == gw;
  for (const auto& p : *r.paths)
    if (!p.via6 && p.via == gw) return true;
  return false;
}
// RFC 5549: whether an IPv4 route has an IPv6 gateway (any of its next hops).
template <class A>
bool route_has_gateway6(const BasicRoute<A>& r) {
  if (r.via6) return true;
  if (r.paths)
    for (const auto& p : *r.paths)
      if (p.via6) return true;
  return false;
}
// RFC 5549: whether gw is an IPv4 route's IPv6 gateway, or one of them.
template <class A>
bool route_uses_gateway6(const BasicRoute<A>& r, const Ipv6& gw) {
  if (!r.paths) return r.via6 == gw;
  for (const auto& p : *r.paths)
    if (p.via6 == gw) return true;
  return false;
}
using Route = BasicRoute<Ipv4>;
using Route6 = BasicRoute<Ipv6>;

template <class A>
class BasicRib {
 public:
  using F = Family<A>;
  using Prefix = typename F::Prefix;
  using R = BasicRoute<A>;

  // A route's address stays good until the route is erased (PrefixStore).
  const R* find(const Prefix& p) const { return routes_.find(p); }
  void prefetch(const Prefix& p) const { routes_.prefetch(p); }
  // The route itself, a few prefixes after prefetch(p).
  void prefetch_route(const Prefix& p) const { routes_.prefetch_value(p); }
  const R* lookup(const A& a) const {  // longest match
    return longest(a, F::kBits);
  }
  // Longest match strictly shorter than p (what p's addresses fall back to without it).
  const R* lookup_parent(const Prefix& p) const { return longest(p.addr, int(p.len) - 1); }
  void set(const R& r) {  // insert or replace; one probe either way
    auto [have, inserted] = routes_.try_emplace(r.prefix, r);
    if (inserted) {
      per_len_[r.prefix.len]++;
    } else {
      uncount(*have);
      *have = r;
    }
    count(r, 1);
  }
  bool erase(const Prefix& p) {
    const R* have = routes_.find(p);
    if (!have) return false;
    uncount(*have);
    routes_.erase(p);
    per_len_[p.len]--;
    return true;
  }
  // Routes by source, and a routing daemon's by its protocol: kept as routes come and go,
  // so a summary or `fpm show` never walks a full table on the control thread.
  size_t count(RouteProto p) const { return per_proto_[size_t(p)]; }
  // Routes with an IPv6 gateway (RFC 5549: IPv4 routes only).
  size_t count_via_ipv6() const { return via6_; }
  const std::array<uint32_t, 256>& daemon_per_protocol() const { return per_rtproto_; }
  size_t size() const { return routes_.size(); }
  const std::array<uint32_t, F::kBits + 1>& per_length() const { return per_len_; }
  void reserve(size_t n) { routes_.reserve(n); }
  // Sorted by prefix address then length, for display.
  std::vector<const R*> sorted() const {
    std::vector<const R*> v;
    v.reserve(routes_.size());
    for_each([&v](const R& r) { v.push_back(&r); });
    std::sort(v.begin(), v.end(), [](const R* a, const R* b) { return a->prefix < b->prefix; });
    return v;
  }
  template <typename Fn>
  void for_each(Fn&& f) const {
    routes_.for_each([&](const Prefix&, const R& r) { f(r); });
  }

 private:
  // Probes only the prefix lengths that hold routes, longest first.
  const R* longest(const A& a, int from) const {
    for (int len = from; len >= 0; --len) {
      if (!per_len_[len]) continue;
      if (const R* r = find(F::prefix(a, len))) return r;
    }
    return nullptr;
  }

  void count(const R& r, int d) {
    per_proto_[size_t(r.proto)] += uint32_t(d);
    if (r.proto == RouteProto::daemon) per_rtproto_[r.rtproto] += uint32_t(d);
    if (route_has_gateway6(r)) via6_ += uint32_t(d);
  }
  void uncount(const R& r) { count(r, -1); }

  PrefixStore<Prefix, R> routes_;
  std::array<uint32_t, F::kBits + 1> per_len_{};
  std::array<uint32_t, 3> per_proto_{};
  std::array<uint32_t, 256> per_rtproto_{};
  uint32_t via6_ = 0;
};
using Rib = BasicRib<Ipv4>;
using Rib6 = BasicRib<Ipv6>;

}  // namespace routerd
