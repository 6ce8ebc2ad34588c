// Daemon routes from a route feed (route_feed.hpp): a message becomes a RIB route through the
// next hops it names and the ports' kernel interfaces; each poll's messages are one batch
// (one commit, one generation bump), never over the router's own connected or static routes:
// those win, and a daemon route they hide comes back when they go.
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "control.hpp"
#include "route_feed.hpp"

namespace routerd {

namespace {

RouteType route_type_of(uint8_t rtm_type) {
  switch (rtm_type) {
    case RTN_BLACKHOLE:
      return RouteType::blackhole;
    case RTN_UNREACHABLE:
      return RouteType::unreachable;
    case RTN_PROHIBIT:
      return RouteType::prohibit;
    default:
      return RouteType::unicast;
  }
}

}  // namespace

// ---------------------------------------------------------------- resolution

// The port of a kernel interface index, from the control-plane interfaces.
std::optional<uint16_t> Control::port_of_ifindex(uint32_t ifindex) const {
  for (size_t i = 0; kernel_mirrors(i); ++i)
    if (uint32_t(kernel_ifindex(i)) == ifindex) return ports_[i].ref.id;
  return std::nullopt;
}

// The paths a route message means: its own, or those of the next hop (group) it names.
// Empty with *why set when it cannot be used; blackhole set for a blackhole next hop.
template <class A>
std::vector<Control::FeedHop<A>> Control::feed_paths(const fpm::RouteMsg& m, bool& blackhole,
                                                     std::string& why) {
  constexpr bool v6 = std::is_same_v<A, Ipv6>;
  std::vector<fpm::Path> in;
  if (m.nh_id != 0) {
    auto it = feed_->nexthops.find(m.nh_id);
    if (it == feed_->nexthops.end()) {
      why = "next hop " + std::to_string(m.nh_id) + " unknown";
      return {};
    }
    auto single = [&](const fpm::NexthopMsg& n, uint16_t weight) {
      if (n.blackhole) blackhole = true;
      fpm::Path p;
      p.gw_family = n.gw_family;
      p.gw4 = n.gw4;
      p.gw6 = n.gw6;
      p.ifindex = n.ifindex;
      p.weight = weight;
      p.onlink = n.onlink;
      in.push_back(p);
    };
    if (it->second.group.empty()) {
      single(it->second, 1);
    } else {
      for (const fpm::GroupMember& g : it->second.group) {
        auto m2 = feed_->nexthops.find(g.id);
        if (m2 == feed_->nexthops.end()) {
          why =
              "group " + std::to_string(m.nh_id) + ": member " + std::to_string(g.id) + " unknown";
          return {};
        }
        single(m2->second, g.weight);
      }
    }
  } else {
    in = m.paths;
  }
  if (blackhole) return {};
  std::vector<FeedHop<A>> out;
  for (const fpm::Path& p : in) {
    FeedHop<A> bp{};
    bp.weight = p.weight;
    const uint8_t want = v6 ? AF_INET6 : AF_INET;
    // RFC 5549 (BGP unnumbered): an IPv4 route may go through an IPv6 gateway (RTA_VIA).
    const bool v4_over_v6 = !v6 && p.gw_family == AF_INET6;
    if (p.gw_family != 0 && p.gw_family != want && !v4_over_v6) {
      why = "IPv4 gateway for an IPv6 prefix";
      return {};
    }
    const std::optional<uint16_t> port = p.ifindex ? port_of_ifindex(p.ifindex) : std::nullopt;
    if (p.ifindex && !port) {
      why = "interface " + std::to_string(p.ifindex) + " is not a port's kernel interface";
      return {};
    }
    // FRR's zebra writes an IPv4 route through an IPv6 next hop (RFC 5549), when it does not
    // use next-hop objects, as "via 169.254.0.1 onlink dev P" and keeps the peer's MAC in a
    // kernel neighbour entry. Nobody holds 169.254.0.1: the route goes through the IPv6
    // neighbour on P with that MAC instead, as an RFC 5549 route.
    if (!v6 && p.gw_family == AF_INET && p.onlink && p.gw4 == Ipv4(169, 254, 0, 1)) {
      if (!port) {
        why = "169.254.0.1 onlink without an interface";
        return {};
      }
      const std::optional<Ipv6> gw = ipv4ll_gateway(*port, why);
      if (!gw) {
        feed_->ipv4ll_unresolved = true;
        return {};
      }
      feed_->ipv4ll_used = true;
      bp.has_via = true;
      bp.via6 = *gw;
      bp.port = *port;
      out.push_back(bp);
      continue;
    }
    if (p.gw_family == 0) {
      if (!port) {
        why = "neither gateway nor interface";
        return {};
      }
      bp.port = *port;
    } else {
      bp.has_via = true;
      if constexpr (v6)
        bp.via = p.gw6;
      else if (v4_over_v6)
        bp.via6 = p.gw6;
      else
        bp.via = p.gw4;
      if (port) {
        bp.port = *port;
      } else {
        // No interface: the port whose subnet holds the gateway (a link-local one needs it).
        try {
          bp.port = bp.via6 ? gateway_port(feed_->origin, *bp.via6, "")
                            : gateway_port(feed_->origin, bp.via, "");
        } catch (const std::exception& e) {
          why = e.what();
          return {};
        }
      }
    }
    out.push_back(bp);
  }
  if (out.empty()) why = "no path";
  return out;
}

// The gateway of FRR's "via 169.254.0.1 onlink dev P": the usable IPv6 neighbour on P whose
// MAC is the one zebra gave 169.254.0.1 in the kernel (the BGP unnumbered peer's), a
// link-local one first. Asked of the kernel at most once a second per port: a full table
// arrives through the same neighbour.
std::optional<Ipv6> Control::ipv4ll_gateway(uint16_t port, std::string& why) {
  RouteFeed::Ipv4ll& c = feed_->ipv4ll[port];
  const uint64_t now = now_ms();
  if (c.checked_ms == 0 || now - c.checked_ms >= 1000) {
    c.checked_ms = now;
    c.via6.reset();
    c.why.clear();
    const PortCtl* pc = port_by_id(port);
    const std::string name = pc ? pc->ref.name : std::to_string(port);
    std::optional<Mac> mac;
    try {
      mac = kernel_neighbour_mac(port, Ipv4(169, 254, 0, 1));
      if (!mac) c.why = "no kernel neighbour entry for it on " + name + " yet";
    } catch (const std::exception& e) {
      c.why = e.what();
    }
    if (mac) {
      for (const auto& [key, nb] : neigh6_.entries())
        if (nb.port == port && nb.mac == *mac && nb.usable() &&
            (!c.via6 || (nb.ip.is_link_local() && !c.via6->is_link_local())))
          c.via6 = nb.ip;
      if (!c.via6) c.why = "no IPv6 neighbour on " + name + " has its MAC " + mac->str() + " yet";
    }
  }
  if (!c.via6) why = "169.254.0.1 onlink (FRR's form of an IPv6 next hop): " + c.why;
  return c.via6;
}

// Routes that wait for their 169.254.0.1 gateway: tried again once a second, as one batch.
void Control::feed_retry(uint64_t now) {
  if (!feed_ || feed_->ipv4ll_wait.empty() || now - feed_->ipv4ll_retry_ms < 1000) return;
  feed_->ipv4ll_retry_ms = now;
  std::vector<Prefix4> wait(feed_->ipv4ll_wait.begin(), feed_->ipv4ll_wait.end());
  std::sort(wait.begin(), wait.end());
  const uint64_t unusable = feed_->unusable;
  feed_commit(wait, {});
  feed_->unusable = unusable;  // counted once, when the route came
}

// One batch of a feed's route changes: one commit, one generation bump. Coalescing what
// arrives within a few milliseconds into one batch is routerd's doing, not the daemon's:
// zebra installs each route on its own, so one route the FIB has no room for must not keep
// out the thousands it was coalesced with (a full IPv6 table into a FIB sized for less
// held back 20,000 IPv4 routes that way). A refused batch is split, first by family, then
// in halves, down to the routes that do not fit.
void Control::feed_commit(const std::vector<Prefix4>& v4, const std::vector<Prefix6>& v6) {
  std::string why;
  if (feed_try_commit(v4, v6, why)) return;
  ++feed_->batch_failures;
  feed_->last_error = why;
  log_limited(std::string(feed_->origin) + ": a batch of " + std::to_string(v4.size() + v6.size()) +
                  " prefixes (split, to install what fits)",
              why);
  int tries = kFeedSplitTries;
  feed_split(v4, v6, tries);
}

// Each part of a refused batch that fits is committed. A route refused on its own keeps
// its request: it is tried again with the next change of its prefix or the next replay.
// A refused try is not cheap (a full IPv6 FIB refusing one costs a rebuild of the idle
// copy to tell a leak from a full table, 0.1-0.2 s with the whole table), so a batch gets
// at most `tries` of them: what is still refused then is refused as it stands.
void Control::feed_split(std::span<const Prefix4> v4, std::span<const Prefix6> v6, int& tries) {
  if (v4.size() + v6.size() <= 1 || tries <= 0) {
    feed_->routes_refused += v4.size() + v6.size();
    return;
  }
  auto part = [this, &tries](std::span<const Prefix4> a, std::span<const Prefix6> b) {
    std::string why;
    pub_.reclaim_now();
    if (feed_try_commit(a, b, why)) return;
    --tries;
    feed_->last_error = why;
    if (a.size() + b.size() == 1)
      log_limited(std::string(feed_->origin) + ": a route the FIB refused", why);
    feed_split(a, b, tries);
  };
  if (!v4.empty() && !v6.empty()) {
    part(v4, {});
    part({}, v6);
  } else if (!v4.empty()) {
    part(v4.first(v4.size() / 2), {});
    part(v4.subspan(v4.size() / 2), {});
  } else {
    part({}, v6.first(v6.size() / 2));
    part({}, v6.subspan(v6.size() / 2));
  }
}

bool Control::feed_try_commit(std::span<const Prefix4> v4, std::span<const Prefix6> v6,
                              std::string& why) {
  RibChanges changes;
  try {
    try {
      // A full table's batches: each prefix's slots in the RIB, the feed's requests and the
      // publisher's record are misses (as in route_load).
      auto apply = [&](const auto& v, const auto& rib, const auto& routes) {
        for (size_t i = 0; i < v.size(); ++i) {
          if (i + kPrefetchAhead < v.size()) {
            rib.prefetch(v[i + kPrefetchAhead]);
            routes.prefetch(v[i + kPrefetchAhead]);
            pub_.prefetch_route(v[i + kPrefetchAhead]);
          }
          if (i + kPrefetchAhead / 2 < v.size()) prefetch_route(v[i + kPrefetchAhead / 2]);
          feed_apply_prefix(v[i], changes);
        }
      };
      apply(v4, rib_, feed_->routes4);
      apply(v6, rib6_, feed_->routes6);
    } catch (const std::exception&) {  // FibError from a sync: no room for a next hop
      ++feed_->batches;
      pub_.rollback();
      rib_undo(changes);
      throw;
    }
    if (changes.v4.empty() && changes.v6.empty()) return true;
    ++feed_->batches;
    commit_routes(changes, feed_->origin, "", /*synced=*/true);
    return true;
  } catch (const std::exception& e) {
    // The RIB is as it was; the requests stay.
    why = e.what();
    return false;
  }
}

// The RIB route a message asks for, or nullopt (why set) when it cannot be installed.
template <class R>
std::optional<R> Control::feed_route(const fpm::RouteMsg& m, std::string& why) {
  using A = std::remove_cvref_t<decltype(*R{}.via)>;
  R r;
  if constexpr (std::is_same_v<A, Ipv6>)
    r.prefix = m.prefix6;
  else
    r.prefix = m.prefix4;
  r.proto = RouteProto::daemon;
  r.rtproto = m.protocol;
  r.type = route_type_of(m.type);
  if (m.type != RTN_UNICAST && !route_type_rejects(r.type)) {
    why = "route type " + std::to_string(m.type) + " not supported";
    return std::nullopt;
  }
  if (route_type_rejects(r.type)) return r;
  bool blackhole = false;
  std::vector<FeedHop<A>> hops = feed_paths<A>(m, blackhole, why);
  if (blackhole) {
    r.type = RouteType::blackhole;
    return r;
  }
  if (hops.empty()) return std::nullopt;
  if (hops.size() == 1) {
    if (hops[0].via6)
      r.via6 = hops[0].via6;
    else if (hops[0].has_via)
      r.via = hops[0].via;
    r.port = hops[0].port;
  } else {
    std::vector<BasicPath<A>> paths;
    for (const auto& h : hops) {
      if (!h.has_via) {
        why = "a multipath member without a gateway";
        return std::nullopt;
      }
      paths.push_back(BasicPath<A>{h.via, h.port, h.weight, h.via6});
    }
    std::sort(paths.begin(), paths.end());
    if (paths[0].via6)
      r.via6 = paths[0].via6;
    else
      r.via = paths[0].via;
    r.port = paths[0].port;
    r.paths = std::make_shared<const std::vector<BasicPath<A>>>(std::move(paths));
  }
  if (m.mtu) r.set_mtu(uint16_t(std::min<uint32_t>(m.mtu, 65535)));
  return r;
}

const Route* Control::feed_find(const Prefix4& p) {
  if (!feed_) return nullptr;
  const fpm::RouteMsg* m = feed_->routes4.find(p);
  if (!m) return nullptr;
  std::string why;
  feed_scratch4_ = feed_route<Route>(*m, why);
  return feed_scratch4_ ? &*feed_scratch4_ : nullptr;
}

const Route6* Control::feed_find(const Prefix6& p) {
  if (!feed_) return nullptr;
  const fpm::RouteMsg* m = feed_->routes6.find(p);
  if (!m) return nullptr;
  std::string why;
  feed_scratch6_ = feed_route<Route6>(*m, why);
  return feed_scratch6_ ? &*feed_scratch6_ : nullptr;
}

void Control::rib_erase_own(const Prefix4& p) {
  rib_.erase(p);
  if (const Route* d = feed_find(p)) rib_.set(*d);
}

void Control::rib_erase_own(const Prefix6& p) {
  rib6_.erase(p);
  if (const Route6* d = feed_find(p)) rib6_.set(*d);
}

// ---------------------------------------------------------------- applying messages

// Makes the RIB hold what the daemon asked for p (or nothing), unless the router's own route
// holds p: then only the request is kept. Records what the RIB had for rollback.
template <class P>
void Control::feed_apply_prefix(const P& p, RibChanges& changes) {
  constexpr bool v6 = std::is_same_v<P, Prefix6>;
  auto& rib = [this]() -> auto& {
    if constexpr (v6)
      return rib6_;
    else
      return rib_;
  }
  ();
  auto& routes = [this]() -> auto& {
    if constexpr (v6)
      return feed_->routes6;
    else
      return feed_->routes4;
  }
  ();
  using R = std::remove_cvref_t<decltype(*rib.find(p))>;
  const R* existing = rib.find(p);
  if (existing && existing->proto != RouteProto::daemon) return;  // the router's own wins
  std::optional<R> want;
  if (const fpm::RouteMsg* m = routes.find(p)) {
    std::string why;
    feed_->ipv4ll_unresolved = feed_->ipv4ll_used = false;
    want = feed_route<R>(*m, why);
    if (!want) {
      ++feed_->unusable;
      feed_->last_unusable = p.str() + ": " + why;
    }
    if constexpr (!v6) {
      if (want && feed_->ipv4ll_used) ++feed_->ipv4ll_mapped;
      if (!want && feed_->ipv4ll_unresolved)
        feed_->ipv4ll_wait.insert(p);
      else if (!feed_->ipv4ll_wait.empty())  // a full table passes here
        feed_->ipv4ll_wait.erase(p);
    }
  } else if constexpr (!v6) {
    if (!feed_->ipv4ll_wait.empty()) feed_->ipv4ll_wait.erase(p);
  }
  if (!existing && !want) return;
  if (existing && want && existing->type == want->type && existing->via == want->via &&
      existing->via6 == want->via6 && existing->port == want->port &&
      existing->rtproto == want->rtproto && existing->mtu() == want->mtu() &&
      (existing->paths == want->paths ||
       (existing->paths && want->paths && *existing->paths == *want->paths)))
    return;  // a replay of what is installed: nothing to publish
  changes.record(p, existing);
  if (want)
    rib.set(*want);
  else
    rib.erase(p);
  // Its FIB entry now, while the route is in cache, as route_load does: a pass over the
  // batch in commit_routes missed on every route again (desired_nh's RIB find, 5 % of a
  // full-table FPM load, perf). Prefixes come in address order, so a covering prefix is
  // already set when a more-specific one is synced; commit_routes still rechecks the host
  // routes of neighbours under the batch.
  sync(p);
}

void Control::feed_nexthop_users(uint32_t id, std::vector<Prefix4>& v4, std::vector<Prefix6>& v6) {
  std::vector<uint32_t> ids{id};
  for (const auto& [gid, n] : feed_->nexthops)
    for (const auto& m : n.group)
      if (m.id == id) ids.push_back(gid);
  for (uint32_t i : ids) {
    if (auto it = feed_->users4.find(i); it != feed_->users4.end()) {
      std::vector<Prefix4> still;
      for (const auto& p : it->second)
        if (const fpm::RouteMsg* r = feed_->routes4.find(p); r && r->nh_id == i) still.push_back(p);
      v4.insert(v4.end(), still.begin(), still.end());
      it->second = std::move(still);
    }
    if (auto it = feed_->users6.find(i); it != feed_->users6.end()) {
      std::vector<Prefix6> still;
      for (const auto& p : it->second)
        if (const fpm::RouteMsg* r = feed_->routes6.find(p); r && r->nh_id == i) still.push_back(p);
      v6.insert(v6.end(), still.begin(), still.end());
      it->second = std::move(still);
    }
  }
}

namespace {

// Takes the lowest-metric route out of a prefix's shadow entry (erased once empty).
template <class Shadow>
fpm::RouteMsg take_best(Shadow& shadow, typename Shadow::iterator sh) {
  auto best =
      std::min_element(sh->second.begin(), sh->second.end(),
                       [](const auto& a, const auto& b) { return a.priority < b.priority; });
  fpm::RouteMsg r = std::move(*best);
  sh->second.erase(best);
  if (sh->second.empty()) shadow.erase(sh);
  return r;
}

// Whether r (for a by_priority feed) is about the route the kernel uses for its prefix, and so
// goes on to the RIB; a route behind it goes to or leaves the shadow instead. A delete of the
// used route brings the best shadowed one forward: r becomes its add.
template <class Routes, class Shadow, class P>
bool through_shadow(Routes& routes, Shadow& shadow, const P& p, fpm::RouteMsg& r) {
  auto put = [](std::vector<fpm::RouteMsg>& v, fpm::RouteMsg&& m) {
    for (auto& x : v)
      if (x.priority == m.priority) {
        x = std::move(m);
        return;
      }
    v.push_back(std::move(m));
  };
  fpm::RouteMsg* cur = routes.find(p);
  if (r.add) {
    if (!cur || cur->priority == r.priority) return true;
    if (r.priority < cur->priority) {
      put(shadow[p], std::move(*cur));
      return true;
    }
    put(shadow[p], std::move(r));
    return false;
  }
  auto sh = shadow.find(p);
  if (cur && cur->priority == r.priority) {
    if (sh != shadow.end()) r = take_best(shadow, sh);
    return true;
  }
  if (sh != shadow.end()) {
    std::erase_if(sh->second, [&](const fpm::RouteMsg& x) { return x.priority == r.priority; });
    if (sh->second.empty()) shadow.erase(sh);
  }
  return false;
}

}  // namespace

void Control::feed_apply(std::vector<fpm::Message>& msgs, uint32_t table, uint64_t now) {
  if (msgs.empty()) return;
  std::vector<Prefix4> touched4;
  std::vector<Prefix6> touched6;
  for (fpm::Message& msg : msgs) {
    if (auto* r = std::get_if<fpm::RouteMsg>(&msg)) {
      // zebra's default VRF is the main table; others are VRFs routerd does not have. (zebra's
      // deletes name no table.)
      if (!feed_->sweeping && r->table != table && r->table != RT_TABLE_UNSPEC) {
        ++feed_->ignored;
        continue;
      }
      ++(r->add ? feed_->route_adds : feed_->route_dels);
      if (r->family == AF_INET) {
        const Prefix4 p = r->prefix4;
        if (feed_->by_priority && !feed_->sweeping &&
            !through_shadow(feed_->routes4, feed_->shadow4, p, *r))
          continue;
        if (r->add) {
          if (r->nh_id) feed_->users4[r->nh_id].push_back(p);
          feed_->routes4[p] = std::move(*r);
        } else {
          feed_->routes4.erase(p);
        }
        feed_->stale4.erase(p);
        touched4.push_back(p);
      } else {
        const Prefix6 p = r->prefix6;
        // zebra and the kernel have the link's fe80::/64 as a connected route: never routed.
        if (p.addr.is_link_local() || p.addr.is_multicast()) {
          ++feed_->ignored;
          continue;
        }
        if (feed_->by_priority && !feed_->sweeping &&
            !through_shadow(feed_->routes6, feed_->shadow6, p, *r))
          continue;
        if (r->add) {
          if (r->nh_id) feed_->users6[r->nh_id].push_back(p);
          feed_->routes6[p] = std::move(*r);
        } else {
          feed_->routes6.erase(p);
        }
        feed_->stale6.erase(p);
        touched6.push_back(p);
      }
    } else if (auto* n = std::get_if<fpm::NexthopMsg>(&msg)) {
      ++(n->add ? feed_->nh_adds : feed_->nh_dels);
      if (n->add) {
        const uint32_t id = n->id;
        feed_->nexthops[id] = std::move(*n);
        // Routes through it (or a group holding it) follow the new next hop.
        feed_nexthop_users(id, touched4, touched6);
      } else {
        feed_->nexthops.erase(n->id);
      }
    } else {
      ++feed_->ignored;
    }
  }
  std::sort(touched4.begin(), touched4.end());
  touched4.erase(std::unique(touched4.begin(), touched4.end()), touched4.end());
  std::sort(touched6.begin(), touched6.end());
  touched6.erase(std::unique(touched6.begin(), touched6.end()), touched6.end());
  feed_->last_msg_ms = now;
  feed_commit(touched4, touched6);
}

// Removes what the feed holds as if the daemon had sent the deletes: only the stale (a resync
// has ended: those were not sent again) or everything (the daemon is gone for good).
size_t Control::feed_remove(bool stale_only, uint64_t now) {
  std::vector<fpm::Message> dels;
  auto del = [&dels](const auto& p) {
    fpm::RouteMsg d;
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(p)>, Prefix6>) {
      d.family = AF_INET6;
      d.prefix6 = p;
    } else {
      d.family = AF_INET;
      d.prefix4 = p;
    }
    dels.emplace_back(std::move(d));
  };
  // A stale route with another behind it (kernel): that one takes its place.
  auto replace = [&dels](auto& shadow, const auto& p) {
    auto sh = shadow.find(p);
    if (sh == shadow.end()) return false;
    dels.emplace_back(take_best(shadow, sh));
    return true;
  };
  if (stale_only) {
    for (const auto& p : feed_->stale4)
      if (!replace(feed_->shadow4, p)) del(p);
    for (const auto& p : feed_->stale6)
      if (!replace(feed_->shadow6, p)) del(p);
    feed_->swept += dels.size();
    feed_->resync = false;
    feed_->last_resync_ms = now;
  } else {
    feed_->routes4.for_each([&](const Prefix4& p, const fpm::RouteMsg&) { del(p); });
    feed_->routes6.for_each([&](const Prefix6& p, const fpm::RouteMsg&) { del(p); });
    feed_->shadow4.clear();
    feed_->shadow6.clear();
  }
  const size_t n = dels.size();
  const uint64_t adds_before = feed_->route_adds, dels_before = feed_->route_dels;
  feed_->sweeping = true;  // as they are: past the shadow
  feed_apply(dels, 0, now);
  feed_->sweeping = false;
  // Removals of routerd's own doing, not the daemon's messages.
  feed_->route_adds = adds_before;
  feed_->route_dels = dels_before;
  return n;
}

const char* Control::feed_origin() const {
  return feed_ ? feed_->origin : "fpm";
}

nlohmann::json Control::feed_stats_json() const {
  return {{"feed", feed_->origin},
          {"connected", feed_connected()},
          {"held", {{"ipv4", feed_->routes4.size()}, {"ipv6", feed_->routes6.size()}}},
          {"installed",
           {{"ipv4", rib_.count(RouteProto::daemon)}, {"ipv6", rib6_.count(RouteProto::daemon)}}},
          {"batches", feed_->batches},
          {"batch_failures", feed_->batch_failures},
          {"routes_refused", feed_->routes_refused},
          {"unusable", feed_->unusable},
          {"stale", feed_->stale4.size() + feed_->stale6.size()},
          {"swept", feed_->swept}};
}

// What `fpm show` and `mirror show` have in common.
nlohmann::json Control::feed_json() const {
  // Counted by the RIBs as routes come and go: this must not walk a full table.
  nlohmann::json j = {
      {"messages",
       {{"route_add", feed_->route_adds},
        {"route_del", feed_->route_dels},
        {"nexthop_add", feed_->nh_adds},
        {"nexthop_del", feed_->nh_dels},
        {"ignored", feed_->ignored}}},
      {"routes", {{"ipv4", feed_->routes4.size()}, {"ipv6", feed_->routes6.size()}}},
      {"installed",
       {{"ipv4", rib_.count(RouteProto::daemon)}, {"ipv6", rib6_.count(RouteProto::daemon)}}},
      {"nexthops", feed_->nexthops.size()},
      {"batches", feed_->batches},
      {"batch_failures", feed_->batch_failures},
      {"routes_refused", feed_->routes_refused},
      {"unusable", feed_->unusable},
      {"ipv4ll", {{"mapped", feed_->ipv4ll_mapped}, {"waiting", feed_->ipv4ll_wait.size()}}},
      {"resync", feed_->resync ? "replaying" : "done"},
      {"stale", feed_->stale4.size() + feed_->stale6.size()},
      {"swept", feed_->swept}};
  if (!feed_->last_error.empty()) j["last_error"] = feed_->last_error;
  if (!feed_->last_unusable.empty()) j["last_unusable"] = feed_->last_unusable;
  if (feed_->last_resync_ms) j["last_resync_s_ago"] = (now_ms() - feed_->last_resync_ms) / 1000;
  return j;
}

}  // namespace routerd
