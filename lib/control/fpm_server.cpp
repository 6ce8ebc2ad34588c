// The FPM server (issue 16 part 2): FRR's zebra (dplane_fpm_nl) connects to
// control_plane.fpm_listen in the control namespace and streams its RIB's winners. Routes
// become daemon routes (proto bgp, ospf, ...) in routerd's RIB, applied in one batch per poll
// (one commit, one generation bump), never over the router's own connected or static
// routes: those win, and a daemon route they hide comes back when they go. zebra replays
// everything on connect without an end marker, so on reconnect what it held is marked
// stale and swept once the replay has been quiet for fpm_sweep_s.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "control.hpp"
#include "fpm.hpp"
#include "kernel_if.hpp"

namespace routerd {

struct Control::Fpm {
  int listen_fd = -1, client_fd = -1;
  std::string listen, peer;
  uint64_t since_ms = 0, last_msg_ms = 0, disconnected_ms = 0, last_resync_ms = 0;
  fpm::FrameReader reader;
  // What zebra asked for, installed or not (hidden by the router's own route, or not
  // resolvable): a hidden one comes back when the router's route goes.
  std::unordered_map<Prefix4, fpm::RouteMsg, Prefix4Hash> routes4;
  std::unordered_map<Prefix6, fpm::RouteMsg, Prefix6Hash> routes6;
  std::unordered_map<uint32_t, fpm::NexthopMsg> nexthops;
  // Prefixes that named each next-hop id when they came (checked again when used).
  std::unordered_map<uint32_t, std::vector<Prefix4>> users4;
  std::unordered_map<uint32_t, std::vector<Prefix6>> users6;
  std::unordered_set<Prefix4, Prefix4Hash> stale4;
  std::unordered_set<Prefix6, Prefix6Hash> stale6;
  bool resync = false;  // a replay is running: sweep the stale once it goes quiet
  uint64_t connects = 0, refused = 0, frames = 0, route_adds = 0, route_dels = 0, nh_adds = 0,
           nh_dels = 0, ignored = 0, errors = 0, unusable = 0, swept = 0, batches = 0,
           batch_failures = 0;
  std::string last_error, last_unusable;
  ~Fpm() {
    if (client_fd >= 0) close(client_fd);
    if (listen_fd >= 0) close(listen_fd);
  }
};

void Control::FpmFree::operator()(Fpm* f) const {
  delete f;
}

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

void Control::fpm_init(const Config& cfg) {
  fpm_sweep_ms_ = uint64_t(cfg.fpm_sweep_s) * 1000;
  fpm_hold_ms_ = uint64_t(cfg.fpm_hold_s) * 1000;
  if (cfg.fpm_listen.empty()) return;
  const std::optional<Endpoint> e = parse_endpoint(cfg.fpm_listen);
  if (!e) throw std::runtime_error("control_plane.fpm_listen: bad endpoint " + cfg.fpm_listen);
  std::unique_ptr<Fpm, FpmFree> f(new Fpm);
  f->listen = cfg.fpm_listen;
  int err = 0;
  // The socket belongs to the namespace it is made in: zebra there reaches it.
  kif::in_netns(cfg.cp_netns, [&] {
    const int fd =
        socket(e->family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      return;
    }
    f->listen_fd = fd;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (e->family == 6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(e->port);
      std::memcpy(&a->sin6_addr, e->addr6.b.data(), 16);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(e->port);
      a->sin_addr.s_addr = htonl(e->addr4.v);
      len = sizeof *a;
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 4) != 0) err = errno;
  });
  if (err != 0)
    throw std::runtime_error("control_plane.fpm_listen: cannot listen on " + cfg.fpm_listen + ": " +
                             std::strerror(err));
  spdlog::info("fpm: listening on {}{}", cfg.fpm_listen,
               cfg.cp_netns.empty() ? "" : " in namespace " + cfg.cp_netns);
  fpm_ = std::move(f);
  fpm_fds();
}

void Control::fpm_fds() {
  kernel_fds_.clear();
  if (kifs_)
    for (size_t i = 0; i < ports_.size(); ++i) kernel_fds_.push_back(kernel_fd(i));
  if (fpm_) {
    kernel_fds_.push_back(fpm_->listen_fd);
    if (fpm_->client_fd >= 0) kernel_fds_.push_back(fpm_->client_fd);
  }
}

// ---------------------------------------------------------------- resolution

// The port of a kernel interface index, from the control-plane interfaces.
std::optional<uint16_t> Control::port_of_ifindex(uint32_t ifindex) const {
  for (size_t i = 0; i < ports_.size(); ++i)
    if (kifs_ && uint32_t(kernel_ifindex(i)) == ifindex) return ports_[i].ref.id;
  return std::nullopt;
}

// The paths a route message means: its own, or those of the next hop (group) it names.
// Empty with *why set when it cannot be used; blackhole set for a blackhole next hop.
template <class A>
std::vector<Control::FpmHop<A>> Control::fpm_paths(const fpm::RouteMsg& m, bool& blackhole,
                                                   std::string& why) {
  constexpr bool v6 = std::is_same_v<A, Ipv6>;
  std::vector<fpm::Path> in;
  if (m.nh_id != 0) {
    auto it = fpm_->nexthops.find(m.nh_id);
    if (it == fpm_->nexthops.end()) {
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
        auto m2 = fpm_->nexthops.find(g.id);
        if (m2 == fpm_->nexthops.end()) {
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
  std::vector<FpmHop<A>> out;
  for (const fpm::Path& p : in) {
    FpmHop<A> bp{};
    bp.weight = p.weight;
    const uint8_t want = v6 ? AF_INET6 : AF_INET;
    if (p.gw_family != 0 && p.gw_family != want) {
      why = v6 ? "IPv4 gateway for an IPv6 prefix"
               : "IPv6 gateway for an IPv4 prefix (RFC 5549: not supported yet)";
      return {};
    }
    const std::optional<uint16_t> port = p.ifindex ? port_of_ifindex(p.ifindex) : std::nullopt;
    if (p.ifindex && !port) {
      why = "interface " + std::to_string(p.ifindex) + " is not a port's kernel interface";
      return {};
    }
    if (p.gw_family == 0) {
      if (!port) {
        why = "neither gateway nor interface";
        return {};
      }
      bp.port = *port;
    } else {
      A gw;
      if constexpr (v6)
        gw = p.gw6;
      else
        gw = p.gw4;
      bp.via = gw;
      bp.has_via = true;
      if (port) {
        bp.port = *port;
      } else {
        // No interface: the port whose subnet holds the gateway.
        try {
          bp.port = gateway_port("fpm", gw, "");
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

// The RIB route a message asks for, or nullopt (why set) when it cannot be installed.
template <class R>
std::optional<R> Control::fpm_route(const fpm::RouteMsg& m, std::string& why) {
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
  std::vector<FpmHop<A>> hops = fpm_paths<A>(m, blackhole, why);
  if (blackhole) {
    r.type = RouteType::blackhole;
    return r;
  }
  if (hops.empty()) return std::nullopt;
  if (hops.size() == 1) {
    if (hops[0].has_via) r.via = hops[0].via;
    r.port = hops[0].port;
  } else {
    std::vector<BasicPath<A>> paths;
    for (const auto& h : hops) {
      if (!h.has_via) {
        why = "a multipath member without a gateway";
        return std::nullopt;
      }
      paths.push_back(BasicPath<A>{h.via, h.port, h.weight});
    }
    std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) {
      return std::tie(a.port, a.via) < std::tie(b.port, b.via);
    });
    r.via = paths[0].via;
    r.port = paths[0].port;
    r.paths = std::make_shared<const std::vector<BasicPath<A>>>(std::move(paths));
  }
  if (m.mtu) r.set_mtu(uint16_t(std::min<uint32_t>(m.mtu, 65535)));
  return r;
}

const Route* Control::fpm_find(const Prefix4& p) {
  if (!fpm_) return nullptr;
  auto it = fpm_->routes4.find(p);
  if (it == fpm_->routes4.end()) return nullptr;
  std::string why;
  fpm_scratch4_ = fpm_route<Route>(it->second, why);
  return fpm_scratch4_ ? &*fpm_scratch4_ : nullptr;
}

const Route6* Control::fpm_find(const Prefix6& p) {
  if (!fpm_) return nullptr;
  auto it = fpm_->routes6.find(p);
  if (it == fpm_->routes6.end()) return nullptr;
  std::string why;
  fpm_scratch6_ = fpm_route<Route6>(it->second, why);
  return fpm_scratch6_ ? &*fpm_scratch6_ : nullptr;
}

void Control::rib_erase_own(const Prefix4& p) {
  rib_.erase(p);
  if (const Route* d = fpm_find(p)) rib_.set(*d);
}

void Control::rib_erase_own(const Prefix6& p) {
  rib6_.erase(p);
  if (const Route6* d = fpm_find(p)) rib6_.set(*d);
}

// ---------------------------------------------------------------- applying messages

// Makes the RIB hold what zebra asked for p (or nothing), unless the router's own route
// holds p: then only the request is kept. Records what the RIB had for rollback.
template <class P>
void Control::fpm_apply_prefix(const P& p, RibChanges& changes) {
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
      return fpm_->routes6;
    else
      return fpm_->routes4;
  }
  ();
  using R = std::remove_cvref_t<decltype(*rib.find(p))>;
  const R* existing = rib.find(p);
  if (existing && existing->proto != RouteProto::daemon) return;  // the router's own wins
  std::optional<R> want;
  if (auto it = routes.find(p); it != routes.end()) {
    std::string why;
    want = fpm_route<R>(it->second, why);
    if (!want) {
      ++fpm_->unusable;
      fpm_->last_unusable = p.str() + ": " + why;
    }
  }
  if (!existing && !want) return;
  if (existing && want && existing->type == want->type && existing->via == want->via &&
      existing->port == want->port && existing->rtproto == want->rtproto &&
      existing->mtu() == want->mtu() &&
      (existing->paths == want->paths ||
       (existing->paths && want->paths && *existing->paths == *want->paths)))
    return;  // a replay of what is installed: nothing to publish
  auto old = existing ? std::optional<R>(*existing) : std::nullopt;
  if constexpr (v6)
    changes.v6.push_back(RibUndo6{p, old});
  else
    changes.v4.push_back(RibUndo{p, old});
  if (want)
    rib.set(*want);
  else
    rib.erase(p);
}

void Control::fpm_nexthop_users(uint32_t id, std::vector<Prefix4>& v4, std::vector<Prefix6>& v6) {
  std::vector<uint32_t> ids{id};
  for (const auto& [gid, n] : fpm_->nexthops)
    for (const auto& m : n.group)
      if (m.id == id) ids.push_back(gid);
  for (uint32_t i : ids) {
    if (auto it = fpm_->users4.find(i); it != fpm_->users4.end()) {
      std::vector<Prefix4> still;
      for (const auto& p : it->second)
        if (auto r = fpm_->routes4.find(p); r != fpm_->routes4.end() && r->second.nh_id == i)
          still.push_back(p);
      v4.insert(v4.end(), still.begin(), still.end());
      it->second = std::move(still);
    }
    if (auto it = fpm_->users6.find(i); it != fpm_->users6.end()) {
      std::vector<Prefix6> still;
      for (const auto& p : it->second)
        if (auto r = fpm_->routes6.find(p); r != fpm_->routes6.end() && r->second.nh_id == i)
          still.push_back(p);
      v6.insert(v6.end(), still.begin(), still.end());
      it->second = std::move(still);
    }
  }
}

void Control::fpm_apply(std::vector<fpm::Message>& msgs, uint64_t now) {
  if (msgs.empty()) return;
  RibChanges changes;
  std::vector<Prefix4> touched4;
  std::vector<Prefix6> touched6;
  for (fpm::Message& msg : msgs) {
    if (auto* r = std::get_if<fpm::RouteMsg>(&msg)) {
      // zebra's default VRF is the main table; others are VRFs routerd does not have.
      if (r->table != RT_TABLE_MAIN && r->table != RT_TABLE_UNSPEC) {
        ++fpm_->ignored;
        continue;
      }
      ++(r->add ? fpm_->route_adds : fpm_->route_dels);
      if (r->family == AF_INET) {
        const Prefix4 p = r->prefix4;
        if (r->add) {
          if (r->nh_id) fpm_->users4[r->nh_id].push_back(p);
          fpm_->routes4[p] = std::move(*r);
        } else {
          fpm_->routes4.erase(p);
        }
        fpm_->stale4.erase(p);
        touched4.push_back(p);
      } else {
        const Prefix6 p = r->prefix6;
        // zebra has the link's fe80::/64 as a connected route: never routed, not taken.
        if (p.addr.is_link_local() || p.addr.is_multicast()) {
          ++fpm_->ignored;
          continue;
        }
        if (r->add) {
          if (r->nh_id) fpm_->users6[r->nh_id].push_back(p);
          fpm_->routes6[p] = std::move(*r);
        } else {
          fpm_->routes6.erase(p);
        }
        fpm_->stale6.erase(p);
        touched6.push_back(p);
      }
    } else if (auto* n = std::get_if<fpm::NexthopMsg>(&msg)) {
      ++(n->add ? fpm_->nh_adds : fpm_->nh_dels);
      if (n->add) {
        const uint32_t id = n->id;
        fpm_->nexthops[id] = std::move(*n);
        // Routes through it (or a group holding it) follow the new next hop.
        fpm_nexthop_users(id, touched4, touched6);
      } else {
        fpm_->nexthops.erase(n->id);
      }
    } else {
      ++fpm_->ignored;
    }
  }
  std::sort(touched4.begin(), touched4.end());
  touched4.erase(std::unique(touched4.begin(), touched4.end()), touched4.end());
  std::sort(touched6.begin(), touched6.end());
  touched6.erase(std::unique(touched6.begin(), touched6.end()), touched6.end());
  for (const auto& p : touched4) fpm_apply_prefix(p, changes);
  for (const auto& p : touched6) fpm_apply_prefix(p, changes);
  fpm_->last_msg_ms = now;
  if (changes.v4.empty() && changes.v6.empty()) return;
  ++fpm_->batches;
  try {
    commit_routes(changes, "fpm", "");
  } catch (const std::exception& e) {
    // The RIB is as it was; the requests stay, and are tried again with the next change
    // of their prefix or a reconnect's replay.
    ++fpm_->batch_failures;
    fpm_->last_error = e.what();
    log_limited("fpm: a batch of " + std::to_string(changes.v4.size() + changes.v6.size()) +
                    " route changes",
                e.what());
  }
}

// ---------------------------------------------------------------- the connection

void Control::fpm_close(const std::string& why) {
  close(fpm_->client_fd);
  fpm_->client_fd = -1;
  fpm_->reader = fpm::FrameReader();
  fpm_->disconnected_ms = now_ms();
  spdlog::warn("fpm: {} {}: keeping its {} IPv4 and {} IPv6 routes until it reconnects", fpm_->peer,
               why, fpm_->routes4.size(), fpm_->routes6.size());
  fpm_fds();
}

bool Control::fpm_poll(uint64_t now) {
  if (!fpm_) return false;
  bool busy = false;
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = accept4(fpm_->listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    busy = true;
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (ss.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    const std::string peer = std::string(host) + ":" + std::to_string(port);
    if (fpm_->client_fd >= 0) {
      // One zebra at a time: a second would replay over the first's routes.
      ++fpm_->refused;
      spdlog::warn("fpm: refused {}: {} is connected", peer, fpm_->peer);
      close(fd);
      continue;
    }
    fpm_->client_fd = fd;
    fpm_->peer = peer;
    fpm_->since_ms = now;
    fpm_->last_msg_ms = now;
    ++fpm_->connects;
    // zebra replays everything and says nothing of what vanished while it was away.
    fpm_->stale4.clear();
    fpm_->stale6.clear();
    for (const auto& [p, r] : fpm_->routes4) fpm_->stale4.insert(p);
    for (const auto& [p, r] : fpm_->routes6) fpm_->stale6.insert(p);
    fpm_->resync = true;
    spdlog::info("fpm: {} connected; {} IPv4 and {} IPv6 routes held are stale until replayed",
                 peer, fpm_->stale4.size(), fpm_->stale6.size());
    fpm_fds();
  }
  if (fpm_->client_fd < 0) return busy;
  std::vector<fpm::Message> msgs;
  uint8_t buf[65536];
  // At most 16 reads a poll: the punt ring and the API get their turn between.
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = read(fpm_->client_fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      fpm_apply(msgs, now);
      fpm_close(n == 0 ? "closed the connection" : std::string("failed: ") + std::strerror(errno));
      return true;
    }
    if (n < 0) break;
    busy = true;
    try {
      fpm_->reader.feed(std::span<const uint8_t>(buf, size_t(n)),
                        [&](std::span<const uint8_t> payload) {
                          ++fpm_->frames;
                          fpm::decode_frame(payload, msgs);
                        });
    } catch (const fpm::FpmError& e) {
      // What came before the bad frame is applied; the bad frame changes nothing.
      ++fpm_->errors;
      fpm_->last_error = e.what();
      fpm_apply(msgs, now);
      fpm_close(std::string("sent a malformed frame (") + e.what() + ")");
      return true;
    }
  }
  fpm_apply(msgs, now);
  return busy;
}

// Every tick: the sweep after a replay, and the hold time without zebra.
void Control::fpm_tick(uint64_t now) {
  if (!fpm_) return;
  std::vector<fpm::Message> dels;
  // A delete for p, as zebra would send it.
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
  if (fpm_->resync && fpm_->client_fd >= 0 && now - fpm_->last_msg_ms >= fpm_sweep_ms_) {
    for (const auto& p : fpm_->stale4) del(p);
    for (const auto& p : fpm_->stale6) del(p);
    fpm_->swept += dels.size();
    fpm_->resync = false;
    fpm_->last_resync_ms = now;
    spdlog::info("fpm: replay from {} complete; {} routes it did not replay removed", fpm_->peer,
                 dels.size());
  } else if (fpm_->client_fd < 0 && fpm_hold_ms_ != 0 && fpm_->disconnected_ms != 0 &&
             now - fpm_->disconnected_ms >= fpm_hold_ms_ &&
             !(fpm_->routes4.empty() && fpm_->routes6.empty())) {
    for (const auto& [p, r] : fpm_->routes4) del(p);
    for (const auto& [p, r] : fpm_->routes6) del(p);
    spdlog::warn("fpm: no zebra for {} s (fpm_hold_s): its {} routes removed", fpm_hold_ms_ / 1000,
                 dels.size());
  }
  if (dels.empty()) return;
  const uint64_t dels_before = fpm_->route_dels;
  fpm_apply(dels, now);
  fpm_->route_dels = dels_before;  // removals of routerd's own doing, not zebra's messages
}

nlohmann::json Control::fpm_json() const {
  if (!fpm_) return nullptr;
  const uint64_t now = now_ms();
  // Counted by the RIBs as routes come and go: this must not walk a full table.
  const size_t installed4 = rib_.count(RouteProto::daemon);
  const size_t installed6 = rib6_.count(RouteProto::daemon);
  nlohmann::json j = {
      {"listen", fpm_->listen},
      {"connected", fpm_->client_fd >= 0},
      {"peer", fpm_->client_fd >= 0 ? nlohmann::json(fpm_->peer) : nlohmann::json(nullptr)},
      {"connected_for_s", fpm_->client_fd >= 0 ? (now - fpm_->since_ms) / 1000 : 0},
      {"connects", fpm_->connects},
      {"refused", fpm_->refused},
      {"frames", fpm_->frames},
      {"messages",
       {{"route_add", fpm_->route_adds},
        {"route_del", fpm_->route_dels},
        {"nexthop_add", fpm_->nh_adds},
        {"nexthop_del", fpm_->nh_dels},
        {"ignored", fpm_->ignored}}},
      {"routes", {{"ipv4", fpm_->routes4.size()}, {"ipv6", fpm_->routes6.size()}}},
      {"installed", {{"ipv4", installed4}, {"ipv6", installed6}}},
      {"nexthops", fpm_->nexthops.size()},
      {"batches", fpm_->batches},
      {"batch_failures", fpm_->batch_failures},
      {"unusable", fpm_->unusable},
      {"errors", fpm_->errors},
      {"resync", fpm_->resync ? "replaying" : "done"},
      {"stale", fpm_->stale4.size() + fpm_->stale6.size()},
      {"swept", fpm_->swept}};
  if (!fpm_->last_error.empty()) j["last_error"] = fpm_->last_error;
  if (!fpm_->last_unusable.empty()) j["last_unusable"] = fpm_->last_unusable;
  if (fpm_->last_resync_ms) j["last_resync_s_ago"] = (now - fpm_->last_resync_ms) / 1000;
  return j;
}

template <>
nlohmann::json Control::handle<Verb::fpm_show>(const Request&) {
  if (!fpm_) throw CommandError("fpm show: no FPM server (control_plane.fpm_listen is not set)");
  return fpm_json();
}

void Control::register_fpm_commands(CommandTable& t) {
  t.control<Verb::fpm_show>();
}

}  // namespace routerd
