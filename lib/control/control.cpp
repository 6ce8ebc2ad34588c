#include "control.hpp"

#include <rte_cycles.h>
#include <rte_ether.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <thread>

#include "route_cache.hpp"

namespace routerd {

namespace {
NeighbourTable::Params neighbour_params(const Config& c, const rte_mempool* pool) {
  NeighbourTable::Params p;
  p.reachable_ms = uint64_t(c.arp_reachable_s) * 1000;
  p.retrans_ms = c.arp_retrans_ms;
  p.probes = c.arp_probes;
  p.queue_len = c.arp_queue_len;
  p.max_entries = c.arp_max_entries;
  p.max_unresolved = std::min(c.arp_max_unresolved, c.arp_max_entries);
  // Packets waiting for ARP hold buffers the ports receive into: a small share of the pool
  // they come from (issue 13: 8 x 4,096 allowed was twice the pool).
  p.queue_total = c.arp_queue_total_for(pool ? pool->size : c.mbufs);
  p.failed_ms = std::max<uint64_t>(c.arp_failed_ms, c.arp_retrans_ms);
  p.locktime_ms = c.arp_locktime_ms;
  p.resolve_rate = c.arp_resolve_rate;
  p.resolve_burst = c.arp_resolve_burst;
  p.randomize_reachable = true;  // as Linux does for ARP too (neigh_rand_reach_time)
  return p;
}

NeighbourTable6::Params ndp_params(const Config& c, const rte_mempool* pool) {
  NeighbourTable6::Params p;
  const NeighbourTable::Params arp = neighbour_params(c, pool);
  // Bounds and budgets are the [arp] ones: one set of limits for both families' tables.
  p.queue_len = arp.queue_len;
  p.max_entries = arp.max_entries;
  p.max_unresolved = arp.max_unresolved;
  p.queue_total = arp.queue_total;
  p.locktime_ms = arp.locktime_ms;
  p.resolve_rate = arp.resolve_rate;
  p.resolve_burst = arp.resolve_burst;
  p.reachable_ms = c.ndp_reachable_ms;
  p.retrans_ms = c.ndp_retrans_ms;
  p.probes = c.ndp_probes;
  p.failed_ms = std::max<uint64_t>(arp.failed_ms, c.ndp_retrans_ms);
  p.delay_ms = c.ndp_delay_ms;
  p.stale_ms = c.ndp_stale_ms;
  p.randomize_reachable = true;
  return p;
}

// Fresh hash secrets for one per-source table.
SourceLimiter source_limiter(uint32_t rate, uint32_t burst) {
  const RouteCacheKeys k = route_cache_keys();
  return SourceLimiter(rate, burst, k.k1, k.k2);
}
RedirectBackoff redirect_backoff() {
  const RouteCacheKeys k = route_cache_keys();
  return RedirectBackoff(k.k1, k.k2);
}
}  // namespace

namespace {
// Hash secrets for the exception table, so a sender of ICMP cannot aim at one bucket.
uint64_t exception_key(int which) {
  static const RouteCacheKeys keys = route_cache_keys();
  return which == 0 ? keys.k1 : keys.k2;
}
}  // namespace

Control::Control(SharedState& dp, const Config& cfg, std::vector<PortRef> ports, rte_mempool* pool)
    : dp_(dp),
      pool_(pool),
      config_path_(cfg.path),
      heap_reserved_bytes_(uint64_t(cfg.heap_reserve_mib) << 20),
      neigh_(neighbour_params(cfg, pool)),
      neigh6_(ndp_params(cfg, pool)),
      pub_(dp, dp.stats.get(), dp.workers,
           [this](uint32_t id, const NhKey& key) { return nh_build(id, key); }),
      // NOLINTNEXTLINE(bugprone-throw-keyword-missing): a table of route exceptions, no throwable
      exc_(cfg.exc_max_entries, exception_key(0), exception_key(1)),
      // NOLINTNEXTLINE(bugprone-throw-keyword-missing): as exc_
      exc6_(cfg.exc_max_entries, exception_key(1), exception_key(0)),
      follow_link_(cfg.ecmp_follow_link),
      accept_redirects_(cfg.accept_redirects),
      accept_redirects6_(cfg.ipv6_accept_redirects),
      pmtu_min_(uint16_t(cfg.pmtu_min)),
      pmtu_expires_s_(cfg.pmtu_expires_s),
      redirect_expires_s_(cfg.redirect_expires_s),
      arp_limit_(source_limiter(cfg.arp_source_rate, cfg.arp_source_burst)),
      icmp_limit_(source_limiter(cfg.icmp_source_rate, cfg.icmp_source_burst)),
      learn_limit_(source_limiter(cfg.exc_source_rate, cfg.exc_source_burst)),
      redirect_backoff_(redirect_backoff()),
      icmp_budget_(cfg.icmp_rate, cfg.icmp_burst, route_cache_keys().k1),
      icmp6_budget_(cfg.icmp6_rate, cfg.icmp6_burst, route_cache_keys().k1),
      echo_reply_(cfg.echo_reply),
      epoch_(std::chrono::steady_clock::now()) {
  for (auto& p : ports) {
    // Tunnels take the port ids from kTunnelBase up (lib/tunnel).
    if (p.id >= kTunnelBase)
      throw std::runtime_error("port " + p.name + " has ethdev id " + std::to_string(p.id) +
                               "; routerd supports ids below " + std::to_string(kTunnelBase));
    ports_.push_back(PortCtl{std::move(p), {}, {}, {}, {}, std::nullopt});
  }
  // 64 buckets x 4 entries, at most 256 datagrams in reassembly, each kept 2 s at most.
  frag_tbl_.reset(rte_ip_frag_table_create(64, 4, 256, rte_get_tsc_hz() * 2, SOCKET_ID_ANY));
  if (!frag_tbl_) throw std::runtime_error("cannot create the reassembly table");
  // Reassembled datagrams come as mbuf chains; the slow path reads them whole, so each is
  // copied into one buffer from here (IPv4's 64 KiB at most; the table holds 256).
  static std::atomic<unsigned> instances{0};
  big_pool_ =
      make_pktmbuf_pool("ctl_big" + std::to_string(instances++), 31, UINT16_MAX, SOCKET_ID_ANY);
  for (auto& p : ports_) set_link_local(p, std::nullopt);
  ra_init(cfg);
  register_addr_commands(commands_);
  register_route_commands(commands_);
  register_neigh_commands(commands_);
  register_link_commands(commands_);
  register_stats_commands(commands_);
  register_ping_commands(commands_);
  register_reload_commands(commands_);
  register_fpm_commands(commands_);
  register_mirror_commands(commands_);
  register_tunnel_commands(commands_);
  for (size_t v = 0; v < kVerbCount; ++v)
    if (!commands_.on_control[v] && !commands_.on_caller[v])
      throw std::logic_error(std::string("routerctl verb '") + verb_name(Verb(v)) +
                             "' has no handler");
  kernel_init(cfg);  // first: publish_ifs tells the workers whether the kernel takes multicast
  publish_ifs();
  fpm_init(cfg);
  mirror_init(cfg);
}

Control::~Control() {
  // Workers have stopped: nothing reads the published state any more.
  auto free_all = [](auto& fx) {
    for (auto* v : {&fx.failed, &fx.overflowed, &fx.table_full, &fx.queue_full, &fx.rate_limited,
                    &fx.evicted})
      for (rte_mbuf* m : *v) rte_pktmbuf_free(m);
    for (auto& r : fx.released)
      for (rte_mbuf* m : r.packets) rte_pktmbuf_free(m);
  };
  NeighbourTable::Effects fx;
  neigh_.clear(fx);
  free_all(fx);
  NeighbourTable6::Effects fx6;
  neigh6_.clear(fx6);
  free_all(fx6);
  rte_ip_frag_free_death_row(&death_row_, 0);
  // pub_ frees what is published as it is destroyed (after this body).
  std::shared_ptr<Task> t;
  while (tasks_.try_pop(t))
    t->result.set_exception(std::make_exception_ptr(CommandError("routerd is shutting down")));
}

uint64_t Control::now_ms() const {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - epoch_)
                      .count());
}

// ---------------------------------------------------------------- lookups

Control::PortCtl* Control::port_by_name(const std::string& name) {
  for (auto& p : ports_)
    if (p.ref.name == name) return &p;
  return nullptr;
}

Control::PortCtl& Control::port_named(const std::string& cmd, const std::string& dev) {
  PortCtl* p = port_by_name(dev);
  if (!p) throw CommandError(cmd + ": unknown port '" + dev + "'");
  return *p;
}

Control::PortCtl* Control::port_by_id(uint16_t id) {
  for (auto& p : ports_)
    if (p.ref.id == id) return &p;
  return nullptr;
}

const Control::PortCtl* Control::port_by_id(uint16_t id) const {
  return const_cast<Control*>(this)->port_by_id(id);
}

std::optional<Ipv4> Control::local_address_port(Ipv4 a, uint16_t* port) const {
  for (const auto& p : ports_)
    for (const auto& pa : p.addrs)
      if (pa.addr == a) {
        if (port) *port = p.ref.id;
        return pa.addr;
      }
  return std::nullopt;
}

bool Control::is_subnet_broadcast(Ipv4 a) const {
  for (const auto& p : ports_)
    for (const auto& pa : p.addrs)
      if (pa.subnet.len <= 30 && pa.subnet.broadcast() == a) return true;
  return false;
}

const Control::PortCtl* Control::port_for_gateway(Ipv4 gw, const std::string& dev) const {
  const PortCtl* best = nullptr;
  int best_len = -1;
  for (const auto& p : ports_) {
    if (!dev.empty() && p.ref.name != dev) continue;
    for (const auto& pa : p.addrs)
      if (pa.subnet.contains(gw) && pa.subnet.len > best_len) {
        best = &p;
        best_len = pa.subnet.len;
      }
  }
  return best;
}

std::optional<Ipv4> Control::source_for(uint16_t port, Ipv4 dst) const {
  if (auto a = icmp_select_source(port_addresses(port), dst)) return a;
  // An unnumbered port (BGP unnumbered: IPv4 routes through IPv6 gateways, RFC 5549) has no
  // IPv4 address: the router's first one on another port, as Linux's inet_select_addr()
  // takes one from any interface, rather than no packet at all (RFC 1812 2.2.7).
  for (const auto& p : ports_)
    if (!p.addrs.empty()) return p.addrs.front().addr;
  return std::nullopt;
}

std::vector<PortAddress> Control::port_addresses(uint16_t port) const {
  std::vector<PortAddress> v;
  if (const PortCtl* p = port_by_id(port))
    for (const auto& pa : p->addrs) v.push_back(PortAddress{pa.addr, pa.subnet});
  return v;
}

// ---------------------------------------------------------------- next hops

NextHopState* Control::nh_build(uint32_t id, const NhKey& key) const {
  auto* s = new NextHopState{};
  s->id = id;
  s->port = key.port;
  s->gateway = Ipv4(key.ip);
  s->family = key.family;
  s->gateway6 = key.ip6;
  // A reject slot (port 0 in its key) leads to no port: no MTU.
  const bool rejects = key.type == NhType::blackhole || key.type == NhType::prohibit ||
                       key.type == NhType::unreachable;
  const PortCtl* p = rejects ? nullptr : port_by_id(key.port);
  s->mtu = p ? p->ref.mtu : 0;
  if (p && p->tunnel) s->mtu = tunnel_mtu_estimate(*p->tunnel);
  if (key.mtu && key.mtu < s->mtu) s->mtu = key.mtu;  // the smaller of route and port
  // Into a tunnel, a gateway or a connected subnet alike: no neighbour to resolve, the
  // worker encapsulates.
  if (p && p->tunnel && (key.type == NhType::adjacency || key.type == NhType::glean)) {
    s->kind = NhKind::tunnel;
    return s;
  }
  switch (key.type) {
    case NhType::blackhole:
      s->kind = NhKind::blackhole;
      break;
    case NhType::prohibit:
      s->kind = NhKind::prohibit;
      break;
    case NhType::unreachable:
      s->kind = NhKind::unreachable;
      break;
    case NhType::local:
      s->kind = NhKind::local;
      break;
    case NhType::broadcast:
      s->kind = NhKind::broadcast;
      break;
    case NhType::glean:
      s->kind = NhKind::glean;
      break;
    case NhType::group:  // the publisher builds group states itself (acquire_group)
      s->kind = NhKind::unresolved;
      break;
    case NhType::adjacency: {
      if (key.ndp()) {
        // An IPv6 neighbour: of an IPv6 route, or (RFC 5549) of an IPv4 one, whose packets
        // keep their IPv4 EtherType.
        const auto* n = neigh6_.find(key.ip6, key.port);  // a link-local one: this port's
        s->dead = (n && n->state == NeighState::failed) ||
                  dead6_.count(NeighbourTable6::key_of(key.ip6, key.port)) ||
                  (key.port < kMaxPorts && link_down_[key.port]);
        if (p && n && n->usable() && n->port == key.port) {
          const uint16_t type = key.family == 6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4;
          s->kind = NhKind::forward;
          std::memcpy(s->l2, n->mac.b.data(), 6);
          std::memcpy(s->l2 + 6, p->ref.mac.b.data(), 6);
          s->l2[12] = uint8_t(type >> 8);
          s->l2[13] = uint8_t(type & 0xff);
        } else {
          s->kind = NhKind::unresolved;
        }
        break;
      }
      const Neighbour* n = neigh_.find(Ipv4(key.ip));
      s->dead = (n && n->state == NeighState::failed) || dead4_.count(key.ip) ||
                (key.port < kMaxPorts && link_down_[key.port]);
      if (p && n && n->usable() && n->port == key.port) {
        s->kind = NhKind::forward;
        std::memcpy(s->l2, n->mac.b.data(), 6);
        std::memcpy(s->l2 + 6, p->ref.mac.b.data(), 6);
        s->l2[12] = RTE_ETHER_TYPE_IPV4 >> 8;
        s->l2[13] = RTE_ETHER_TYPE_IPV4 & 0xff;
      } else {
        s->kind = NhKind::unresolved;
      }
      break;
    }
  }
  return s;
}

// ---------------------------------------------------------------- FIB derivation

NhKey Control::reject_key(RouteType t, uint8_t family) {
  const NhType type = t == RouteType::blackhole  ? NhType::blackhole
                      : t == RouteType::prohibit ? NhType::prohibit
                                                 : NhType::unreachable;
  return NhKey{type, 0, 0, 0, family, {}};
}

// What the FIB should hold for prefix p: the router's own addresses first, then directed
// broadcasts, then the RIB route, then (for a /32) a resolved neighbour on a connected
// subnet, so traffic to hosts on a link is forwarded without a trip to control.
uint32_t Control::desired_nh(const Prefix4& p) {
  if (p.len == 32) {
    if (local_address_port(p.addr)) return pub_.acquire(NhKey{NhType::local, 0, 0});
    if (is_subnet_broadcast(p.addr)) return pub_.acquire(NhKey{NhType::broadcast, 0, 0});
  }
  if (const Route* r = rib_.find(p)) {
    if (route_type_rejects(r->type)) return pub_.acquire(reject_key(r->type, 4));
    // RFC 5549: a gateway may be IPv6 (via6), an adjacency with an IPv6 neighbour, which
    // (as for an IPv6 route) NDP re-confirms from now on, even if it was learnt from its NS.
    auto adjacency = [&](uint16_t port, Ipv4 via, const std::optional<Ipv6>& via6) {
      if (!via6) return NhKey{NhType::adjacency, port, via.v, r->mtu()};
      neigh6_.use(*via6, port);
      return NhKey{NhType::adjacency, port, 0, r->mtu(), 4, *via6};
    };
    if (r->paths) {
      std::vector<GroupMember> ms;
      for (const auto& path : *r->paths)
        ms.push_back({pub_.acquire(adjacency(path.port, path.via, path.via6)), path.weight});
      // Seeded from the group the prefix has now: a changed set moves only what it must.
      return pub_.acquire_group(std::move(ms), 4, pub_.route(p));
    }
    if (r->has_gateway()) return pub_.acquire(adjacency(r->port, r->via.value_or(Ipv4()), r->via6));
    return pub_.acquire(NhKey{NhType::glean, r->port, 0, r->mtu()});
  }
  if (p.len == 32) {
    const Neighbour* n = neigh_.find(p.addr);
    if (n && n->usable()) {
      const Route* lpm = rib_.lookup(p.addr);
      // Not under a reject route, whose port (0) means nothing.
      if (lpm && lpm->type == RouteType::unicast && !lpm->has_gateway() && lpm->port == n->port)
        return pub_.acquire(NhKey{NhType::adjacency, n->port, p.addr.v});
    }
  }
  return Fib::kNoRoute;
}

void Control::sync(const Prefix4& p) {
  pub_.set_route(p, desired_nh(p));
}

void Control::sync_covered(const Prefix4& p) {
  sync(p);
  // A route change can move a neighbour in or out of its connected subnet's reach.
  for (const auto& [ip, n] : neigh_.entries())
    if (p.contains(Ipv4(ip))) sync(Prefix4{Ipv4(ip), 32});
}

void Control::publish_ifs() {
  auto* s = new IfSnapshot{};
  for (const auto& p : ports_) {
    PortFastInfo& f = s->ports[p.ref.id];
    f.mac = p.ref.mac;
    f.enabled = true;
    f.link_multicast = cp_enabled();
    f.ecmp_rss = ecmp_rss_families(p.ref.port);
    for (const auto& pa : p.addrs)
      if (pa.subnet.len <= 30 && f.nbcast < std::size(f.bcast)) {
        f.bcast[f.nbcast++] = pa.subnet.broadcast().v;
        // Cannot fail: addr add holds each port to as many addresses as `bcast` has room.
        s->refused.add(pa.subnet.broadcast().v);
      }
    for (const auto& pa : p.addrs) s->refused.add(pa.addr.v);
    if (p.tunnel) {
      f.link_multicast = false;  // no kernel interface
      const uint32_t slot = p.ref.id - kTunnelBase;
      TunnelFastInfo& t = s->tunnels[slot];
      t.enabled = true;
      t.local = p.tunnel->local.v;
      t.remote = p.tunnel->remote.v;
      t.has_key = p.tunnel->key.has_value();
      t.key = p.tunnel->key.value_or(0);
      t.ttl = p.tunnel->ttl;
      t.mtu = p.tunnel->mtu;
      t.pmtu = p.tunnel->pmtu;
      t.pmtu_locked = p.tunnel->pmtu_locked;
      s->tunnel_slots = std::max(s->tunnel_slots, slot + 1);
    }
  }
  for (auto& f : s->ports) f.refused_src = &s->refused;
  pub_.replace_ifs(s);
}

const NextHopState* Control::resolve(Ipv4 dst, rte_mbuf* m) const {
  return group_pick(pub_.state(dp_.fib.lookup(dst.v)), m, dst.v * 0x9e3779b1u);
}

// A group's member for the packet m (its flow, as a worker hashes it without RSS: the slow
// path's packets have lost their RSS hash), or without one for `fallback`, a hash of the
// destination; any other state as it is.
const NextHopState* Control::group_pick(const NextHopState* s, rte_mbuf* m,
                                        uint32_t fallback) const {
  if (!s || s->kind != NhKind::group) return s;
  uint32_t h = fallback;
  if (m && rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr)) {
    const auto* eth = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t l3 = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;
    if (s->family == 6 && l3 >= sizeof(rte_ipv6_hdr))
      h = ecmp::flow_hash6(dp_.params.flow_key,
                           reinterpret_cast<const rte_ipv6_hdr*>(eth + RTE_ETHER_HDR_LEN), l3);
    else if (s->family == 4)
      h = ecmp::flow_hash4(dp_.params.flow_key,
                           reinterpret_cast<const rte_ipv4_hdr*>(eth + RTE_ETHER_HDR_LEN), l3);
  }
  return pub_.state(s->group->pick(h));
}

// ---------------------------------------------------------------- loop and calls

nlohmann::json Control::call(const std::vector<std::string>& argv) {
  Request r = parse_request(argv);
  // Verbs that wait (ping) or read files (route load, reload) do that part here, on the
  // caller's thread, and submit only the change: the control thread keeps serving the slow path.
  if (Handler h = commands_.on_caller[size_t(r.verb)]) return (this->*h)(r);
  // Moved, not copied: a batch's lines are a full copy of the request otherwise.
  return submit([this, r = std::move(r)] { return execute(r); });
}

nlohmann::json Control::execute(const Request& r) {
  Handler h = commands_.on_control[size_t(r.verb)];
  if (!h) throw CommandError(std::string(verb_name(r.verb)) + ": only through the control socket");
  return (this->*h)(r);
}

nlohmann::json Control::submit(std::function<nlohmann::json()> fn) {
  auto t = std::make_shared<Task>();
  t->fn = std::move(fn);
  auto fut = t->result.get_future();
  tasks_.push(t);
  dp_.doorbell.ring();
  // Wait in slices so a call racing with shutdown fails at once instead of timing out.
  for (int i = 0; i < 1200; ++i) {
    if (fut.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) return fut.get();
    if (!running_.load()) throw CommandError("routerd is shutting down");
  }
  throw CommandError("the control thread did not answer within 120 s");
}

// One packet or timer that fails must not end the loop: the workers would run on while the
// control thread unwound. What failed is counted and logged.
template <class F>
void Control::guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    pub_.rollback();  // whatever it had staged is not half-committed later
    event(Event::control_error);
    log_limited(std::string(what) + " failed", e.what());
  }
}

// Every line a packet can cause goes through here: at most one a second, however fast a
// neighbour sends, with the count of those not written.
void Control::log_limited(const std::string& what, const std::string& why) {
  const uint64_t now = now_ms();
  if (error_logged_ms_ != 0 && now - error_logged_ms_ < 1000) {
    ++errors_unlogged_;
    return;
  }
  spdlog::warn("control: {}: {} ({} more lines suppressed since the last one)", what, why,
               errors_unlogged_);
  error_logged_ms_ = now;
  errors_unlogged_ = 0;
}

// What the reassembly table gave up (no room, timed out, a bad fragment) is freed and
// counted, so a flood of fragments that never complete shows in the drop counters.
void Control::free_reassembly_drops() {
  if (death_row_.cnt == 0) return;
  dp_.control_stats().drop[size_t(Drop::reassembly_dropped)].add(death_row_.cnt);
  rte_ip_frag_free_death_row(&death_row_, 0);
}

bool Control::poll_once(uint64_t now) {
  bool busy = false;
  PuntEntry punts[64];
  unsigned n = rte_ring_sc_dequeue_burst_elem(dp_.punt, punts, sizeof(PuntEntry), 64, nullptr);
  for (unsigned i = 0; i < n; ++i) guarded("a punted packet", [&] { handle_punt(punts[i], now); });
  busy |= n > 0;

  busy |= kernel_poll(now);
  guarded("the FPM session", [&] { busy |= fpm_poll(now); });
  guarded("the kernel route mirror", [&] { busy |= mirror_poll(now); });

  // Answers to Router Solicitations keep their random delay to the poll, not the tick.
  if (ra_answer_due_ != 0 && now >= ra_answer_due_)
    guarded("router advertisements", [&] { ra_answer(now); });

  std::shared_ptr<Task> t;
  for (int i = 0; i < 8 && tasks_.try_pop(t); ++i) {
    busy = true;
    try {
      t->result.set_value(t->fn());
    } catch (...) {
      t->result.set_exception(std::current_exception());
    }
  }

  if (now - last_tick_ms_ >= 100) {
    last_tick_ms_ = now;
    guarded("the neighbour timers", [&] {
      NeighbourTable::Effects fx;
      neigh_.tick(now, fx);
      apply_neighbour_effects(fx, now);
      NeighbourTable6::Effects fx6;
      neigh6_.tick(now, fx6);
      apply_neighbour_effects(fx6, now);
    });
    guarded("router advertisements and DAD", [&] { ra_tick(now); });
    guarded("probing dead ECMP members", [&] { probe_dead_members(now); });
    guarded("following the ports' links", [&] { follow_links(); });
    guarded("mirroring the ports onto their kernel interfaces", [&] { kernel_sync(); });
    guarded("the FPM sweep", [&] { fpm_tick(now); });
    guarded("routes waiting for their 169.254.0.1 gateway", [&] { feed_retry(now); });
    // Route exceptions are read only by the router's own traffic: their changes publish
    // nothing, so they bump no generation and flush no worker's cache.
    exc_.expire(now);
    exc6_.expire(now);
    guarded("tunnels", [&] { tunnel_tick(now); });
    // The reassembly table reclaims an expired entry only when a fragment lands in its
    // bucket: without this sweep, fragments whose rest never came would hold mbufs forever.
    // Each call stops when the death row is full: sweep until it finds nothing more.
    const uint64_t tsc = rte_rdtsc();
    do {
      free_reassembly_drops();
      rte_ip_frag_table_del_expired_entries(frag_tbl_.get(), &death_row_, tsc);
    } while (death_row_.cnt != 0);
  }
  pub_.poll();
  return busy;
}

void Control::run(const std::atomic<bool>& stop) {
  // However run() ends, callers waiting in submit() are answered at once, not after 120 s.
  struct Closing {
    Control& c;
    ~Closing() {
      c.running_ = false;
      std::shared_ptr<Task> t;
      while (c.tasks_.try_pop(t))
        t->result.set_exception(std::make_exception_ptr(CommandError("routerd is shutting down")));
    }
  } closing{*this};
  pub_.forget_latency_samples();
  while (!stop.load(std::memory_order_relaxed)) {
    if (poll_once(now_ms())) continue;
    // Only with nothing else to do: punts and commands wait at most one slice.
    if (pub_.catch_up_some()) continue;
    // The control thread is not a poll-mode worker: when idle it sleeps until a worker punts
    // or a caller submits (the doorbell), or the next timer tick. Sleeping a fixed 200 us
    // instead cost most of a core on a 2-core VM (issue 13's soak), in context switches alone.
    dp_.doorbell.prepare();
    if (rte_ring_count(dp_.punt) != 0 || !tasks_.empty()) {
      dp_.doorbell.cancel();
      continue;
    }
    dp_.doorbell.wait(kIdleWaitMs, kernel_fds_);
  }
}

DataplaneParams dataplane_params(const Config& cfg) {
  DataplaneParams dpp;
  dpp.burst = cfg.burst;
  dpp.idle_sleep_us = cfg.idle_sleep_us;
  dpp.drop_martians = cfg.drop_martians;
  dpp.icmp_rate = cfg.icmp_rate;
  dpp.icmp_burst = cfg.icmp_burst;
  dpp.send_redirects = cfg.send_redirects;
  dpp.forward_directed_broadcast = cfg.forward_directed_broadcast;
  dpp.send_redirects6 = cfg.ipv6_send_redirects;
  dpp.route_cache = cfg.route_cache;
  dpp.route_cache_sets = cfg.route_cache_sets;
  dpp.tunnel_outer_path_cache = cfg.tunnel_outer_path_cache;
  dpp.route_cache6_sets = cfg.route_cache6_sets;
  dpp.route_cache_keys = route_cache_keys();
  // Random unless configured: two routerd in a row must not split flows the same way.
  if (cfg.ecmp_hash_key) {
    dpp.flow_key = ecmp::FlowKey{(*cfg.ecmp_hash_key)[0], (*cfg.ecmp_hash_key)[1]};
  } else {
    const RouteCacheKeys r = route_cache_keys();  // getrandom()
    dpp.flow_key = ecmp::FlowKey{r.k2, (uint64_t(r.w[0]) << 32 | r.w[1]) ^ r.k1};
  }
  dpp.ecmp_use_rss = cfg.ecmp_use_rss;
  return dpp;
}

}  // namespace routerd
