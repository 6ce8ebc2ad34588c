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
NeighbourTable::Params neighbour_params(const Config& c) {
  NeighbourTable::Params p;
  p.reachable_ms = uint64_t(c.arp_reachable_s) * 1000;
  p.retrans_ms = c.arp_retrans_ms;
  p.probes = c.arp_probes;
  p.queue_len = c.arp_queue_len;
  p.max_entries = c.arp_max_entries;
  return p;
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
      neigh_(neighbour_params(cfg)),
      reclaimer_(dp.rcu),
      nh_(dp.nexthops.size()),
      exc_(cfg.exc_max_entries, exception_key(0), exception_key(1)),
      accept_redirects_(cfg.accept_redirects),
      pmtu_min_(uint16_t(cfg.pmtu_min)),
      pmtu_expires_s_(cfg.pmtu_expires_s),
      redirect_expires_s_(cfg.redirect_expires_s),
      icmp_rate_(cfg.icmp_rate),
      icmp_burst_(cfg.icmp_burst),
      echo_reply_(cfg.echo_reply),
      epoch_(std::chrono::steady_clock::now()) {
  for (auto& p : ports) ports_.push_back(PortCtl{std::move(p), {}});
  // 64 buckets x 4 entries, at most 256 datagrams in reassembly, each kept 2 s at most.
  frag_tbl_.reset(rte_ip_frag_table_create(64, 4, 256, rte_get_tsc_hz() * 2, SOCKET_ID_ANY));
  if (!frag_tbl_) throw std::runtime_error("cannot create the reassembly table");
  icmp_tokens_ = uint64_t(icmp_burst_) * 1000;
  publish_ifs();
}

Control::~Control() {
  // Workers have stopped: nothing reads the published state any more.
  NeighbourTable::Effects fx;
  neigh_.clear(fx);
  for (auto* v : {&fx.failed, &fx.overflowed, &fx.table_full})
    for (rte_mbuf* m : *v) rte_pktmbuf_free(m);
  for (auto& r : fx.released)
    for (rte_mbuf* m : r.packets) rte_pktmbuf_free(m);
  rte_ip_frag_free_death_row(&death_row_, 0);
  reclaimer_.drain();
  for (uint32_t id = 0; id < nh_.size(); ++id) {
    if (!nh_[id].state) continue;
    dp_.nexthops.publish(id, nullptr);
    delete nh_[id].state;
  }
  dp_.ifs.store(nullptr, std::memory_order_release);
  delete ifs_;
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
  const PortCtl* p = port_by_id(key.port);
  s->mtu = p ? p->ref.mtu : 0;
  if (key.mtu && key.mtu < s->mtu) s->mtu = key.mtu;  // the smaller of route and port
  switch (key.type) {
    case NhType::local:
      s->kind = NhKind::local;
      break;
    case NhType::broadcast:
      s->kind = NhKind::broadcast;
      break;
    case NhType::glean:
      s->kind = NhKind::glean;
      break;
    case NhType::adjacency: {
      const Neighbour* n = neigh_.find(Ipv4(key.ip));
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

uint32_t Control::nh_acquire(const NhKey& key) {
  if (auto it = nh_by_key_.find(key); it != nh_by_key_.end()) return it->second;
  uint32_t id;
  if (!nh_free_.empty()) {
    id = nh_free_.back();
    nh_free_.pop_back();
  } else if (nh_next_ < nh_.size()) {
    id = nh_next_++;
  } else {
    throw CommandError("next-hop table full (" + std::to_string(nh_.size() - 1) +
                       " slots; raise fib.max_next_hops)");
  }
  NhSlot& s = nh_[id];
  s.key = key;
  s.refs = 0;
  s.used = true;
  s.state = nh_build(id, key);
  dp_.nexthops.publish(id, s.state);
  nh_by_key_[key] = id;
  nh_maybe_unused_.push_back(id);
  return id;
}

void Control::nh_refresh(uint32_t id) {
  NhSlot& s = nh_[id];
  NextHopState* fresh = nh_build(id, s.key);
  NextHopState* old = s.state;
  bool same = std::memcmp(fresh->l2, old->l2, sizeof fresh->l2) == 0 && fresh->kind == old->kind &&
              fresh->port == old->port && fresh->mtu == old->mtu && fresh->gateway == old->gateway;
  if (same) {
    delete fresh;
    return;
  }
  s.state = fresh;
  dp_.nexthops.publish(id, fresh);
  // A worker may still be forwarding with the old state: free it after a grace period.
  retire_after_bump([old] { retire_free(old); });
  dirty_ = true;
}

void Control::nh_refresh_neighbour(Ipv4 ip) {
  // One state per (port, neighbour, route MTU): refresh every one for this neighbour.
  for (uint32_t id = 1; id < nh_next_; ++id)
    if (nh_[id].used && nh_[id].key.type == NhType::adjacency && nh_[id].key.ip == ip.v)
      nh_refresh(id);
}

void Control::collect_unused_nexthops() {
  for (uint32_t id : nh_maybe_unused_) {
    NhSlot& s = nh_[id];
    if (!s.used || s.refs != 0) continue;
    nh_by_key_.erase(s.key);
    dp_.nexthops.publish(id, nullptr);
    NextHopState* old = s.state;
    s = NhSlot{};
    // The id is reusable only once no worker can still hold it from a lookup.
    retire_after_bump([this, old, id] {
      retire_free(old);
      nh_free_.push_back(id);
    });
  }
  nh_maybe_unused_.clear();
}

// ---------------------------------------------------------------- FIB derivation

// What the FIB should hold for prefix p: the router's own addresses first, then directed
// broadcasts, then the RIB route, then (for a /32) a resolved neighbour on a connected
// subnet, so traffic to hosts on a link is forwarded without a trip to control.
uint32_t Control::desired_nh(const Prefix4& p) {
  if (p.len == 32) {
    if (local_address_port(p.addr)) return nh_acquire(NhKey{NhType::local, 0, 0});
    if (is_subnet_broadcast(p.addr)) return nh_acquire(NhKey{NhType::broadcast, 0, 0});
  }
  if (const Route* r = rib_.find(p)) {
    if (r->via) return nh_acquire(NhKey{NhType::adjacency, r->port, r->via->v, r->mtu()});
    return nh_acquire(NhKey{NhType::glean, r->port, 0, r->mtu()});
  }
  if (p.len == 32) {
    const Neighbour* n = neigh_.find(p.addr);
    if (n && n->usable()) {
      const Route* lpm = rib_.lookup(p.addr);
      if (lpm && !lpm->via && lpm->port == n->port)
        return nh_acquire(NhKey{NhType::adjacency, n->port, p.addr.v});
    }
  }
  return Fib::kNoRoute;
}

void Control::sync(const Prefix4& p) {
  uint32_t want = desired_nh(p);
  auto it = fib_state_.find(p);
  uint32_t have = it == fib_state_.end() ? Fib::kNoRoute : it->second;
  if (want == have) return;
  journal_.push_back(Journal{p, have, want});
  if (want != Fib::kNoRoute) {
    fib_state_[p] = want;
    nh_[want].refs++;
    ops_.push_back(FibOp{p.addr.v, p.len, false, want});
  } else {
    fib_state_.erase(it);
    ops_.push_back(FibOp{p.addr.v, p.len, true, 0});
  }
  if (have != Fib::kNoRoute && --nh_[have].refs == 0) nh_maybe_unused_.push_back(have);
}

void Control::sync_covered(const Prefix4& p) {
  sync(p);
  // A route change can move a neighbour in or out of its connected subnet's reach.
  for (const auto& [ip, n] : neigh_.entries())
    if (p.contains(Ipv4(ip))) sync(Prefix4{Ipv4(ip), 32});
}

void Control::rollback() {
  for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
    if (it->new_nh != Fib::kNoRoute && --nh_[it->new_nh].refs == 0)
      nh_maybe_unused_.push_back(it->new_nh);
    if (it->old_nh != Fib::kNoRoute) {
      fib_state_[it->prefix] = it->old_nh;
      nh_[it->old_nh].refs++;
    } else {
      fib_state_.erase(it->prefix);
    }
  }
  journal_.clear();
  ops_.clear();
}

void Control::retire_after_bump(std::function<void()> destroy) {
  retired_.push_back(std::move(destroy));
  dirty_ = true;
}

// Route caches keep next-hop pointers across quiescent states and trust them only while
// their generation is current. So the generation is bumped first and only then are the
// replaced objects queued for reclamation: a worker that has passed the grace period has
// acquired the RCU token taken after the bump, so it sees the new generation and no
// longer trusts entries that may point at them.
void Control::bump_and_retire() {
  if (dirty_) {
    // The time is taken before the bump, so a latency is never understated.
    const uint64_t t0 = rte_rdtsc();
    uint64_t g = dp_.generation.bump();
    ++commits_;
    pending_gens_.push_back({g, t0});
    if (pending_gens_.size() > 4096) {
      pending_gens_.pop_front();
      ++inval_unobserved_;
    }
  }
  dirty_ = false;
  for (auto& r : retired_) reclaimer_.retire(std::move(r));
  retired_.clear();
}

void Control::commit() {
  if (!ops_.empty()) {
    try {
      dp_.fib.apply(ops_, dp_.rcu);
    } catch (const FibError&) {
      rollback();
      collect_unused_nexthops();
      bump_and_retire();
      throw;
    }
    dirty_ = true;
    route_updates_ += ops_.size();
  }
  ops_.clear();
  journal_.clear();
  collect_unused_nexthops();
  bump_and_retire();
}

void Control::publish_ifs() {
  auto* s = new IfSnapshot{};
  for (const auto& p : ports_) {
    PortFastInfo& f = s->ports[p.ref.id];
    f.mac = p.ref.mac;
    f.enabled = true;
    for (const auto& pa : p.addrs)
      if (pa.subnet.len <= 30 && f.nbcast < std::size(f.bcast))
        f.bcast[f.nbcast++] = pa.subnet.broadcast().v;
  }
  const IfSnapshot* old = ifs_;
  ifs_ = s;
  dp_.ifs.store(s, std::memory_order_release);
  if (old) retire_after_bump([old] { delete old; });
  dirty_ = true;
}

// ---------------------------------------------------------------- loop and calls

nlohmann::json Control::call(const std::vector<std::string>& argv) {
  Request r = parse_request(argv);
  // ping waits for replies on the caller's thread; the control thread only sends and
  // receives.
  if (r.verb == Verb::ping) return ping(r);
  if (r.verb == Verb::reload) return reload();
  if (r.verb == Verb::route_load) {
    // Reading and parsing a large file happens here, on the caller's thread, so the
    // control thread keeps serving the slow path until the batch is ready.
    auto specs = std::make_shared<std::vector<RouteSpec>>(parse_route_file(r.path));
    return submit([this, specs, path = r.path] { return route_load(*specs, path); });
  }
  return submit([this, r] { return execute(r); });
}

nlohmann::json Control::ping(const Request& r) {
  auto sess = std::make_shared<PingSession>();
  uint16_t ident;
  {
    std::lock_guard<std::mutex> g(ping_mu_);
    do ident = ++ping_ident_;
    while (ident == 0 || pings_.count(ident));
    pings_[ident] = sess;
  }
  struct Unregister {
    Control* c;
    uint16_t id;
    ~Unregister() {
      std::lock_guard<std::mutex> g(c->ping_mu_);
      c->pings_.erase(id);
    }
  } unregister{this, ident};

  const double tsc_per_ms = double(rte_get_tsc_hz()) / 1000.0;
  nlohmann::json results = nlohmann::json::array();
  uint32_t received = 0;
  Ipv4 src;
  for (uint16_t seq = 1; seq <= r.count; ++seq) {
    auto t0 = std::chrono::steady_clock::now();
    nlohmann::json sent = submit([=, this] { return ping_send(ident, seq, r.addr, r.size, r.df); });
    if (sent.contains("error")) throw CommandError("ping: " + sent["error"].get<std::string>());
    if (sent.contains("src")) src = *Ipv4::parse(sent["src"].get<std::string>());
    nlohmann::json res = {{"seq", seq}};
    if (sent.contains("local_error_mtu")) {
      res["result"] = "local_error";
      res["mtu"] = sent["local_error_mtu"];
    } else {
      res["result"] = "timeout";
      // One second for the answer to this request; late ones for earlier requests are
      // skipped.
      while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1)) {
        PingEvent ev;
        if (!sess->events.try_pop(ev)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        if (ev.seq != seq) continue;
        res["from"] = ev.from.str();
        if (ev.reply) {
          res["result"] = "reply";
          res["bytes"] = ev.bytes;
          res["ttl"] = ev.ttl;
          res["time_ms"] = double(rte_rdtsc() - ev.tsc) / tsc_per_ms;
          ++received;
        } else {
          res["result"] = "error";
          res["type"] = ev.type;
          res["code"] = ev.code;
          if (ev.type == icmp::dest_unreachable && ev.code == icmp::code_frag_needed)
            res["mtu"] = ev.mtu;
        }
        break;
      }
    }
    results.push_back(res);
    if (seq < r.count) std::this_thread::sleep_until(t0 + std::chrono::milliseconds(500));
  }
  return {{"dst", r.addr.str()},    {"src", src.str()},     {"size", r.size},    {"df", r.df},
          {"transmitted", r.count}, {"received", received}, {"results", results}};
}

nlohmann::json Control::submit(std::function<nlohmann::json()> fn) {
  auto t = std::make_shared<Task>();
  t->fn = std::move(fn);
  auto fut = t->result.get_future();
  tasks_.push(t);
  // Wait in slices so a call racing with shutdown fails at once instead of timing out.
  for (int i = 0; i < 1200; ++i) {
    if (fut.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) return fut.get();
    if (!running_.load()) throw CommandError("routerd is shutting down");
  }
  throw CommandError("the control thread did not answer within 120 s");
}

bool Control::poll_once(uint64_t now) {
  bool busy = false;
  PuntEntry punts[64];
  unsigned n = rte_ring_sc_dequeue_burst_elem(dp_.punt, punts, sizeof(PuntEntry), 64, nullptr);
  for (unsigned i = 0; i < n; ++i) handle_punt(punts[i], now);
  busy |= n > 0;

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
    NeighbourTable::Effects fx;
    neigh_.tick(now, fx);
    apply_neighbour_effects(fx, now);
    if (exc_.expire(now)) {
      dirty_ = true;  // an exception ending is a change too
      commit();
    }
  }
  reclaimer_.poll();
  measure_invalidation();
  return busy;
}

// A worker records the first time it reads each generation (worker.cpp). A commit has
// reached every worker when each has seen it or a later one; the latency is the slowest.
void Control::measure_invalidation() {
  const uint64_t hz = rte_get_tsc_hz();
  while (!pending_gens_.empty()) {
    const GenCommit c = pending_gens_.front();
    uint64_t worst = 0;
    bool all = true;
    for (uint32_t w = 0; w < dp_.workers && all; ++w) {
      uint64_t first = UINT64_MAX;
      for (const auto& slot : dp_.stats[w].gen_seen)
        if (slot.gen.load(std::memory_order_acquire) >= c.gen)
          first = std::min(first, slot.tsc.load(std::memory_order_relaxed));
      if (first == UINT64_MAX)
        all = false;
      else
        worst = std::max(worst, first > c.tsc ? first - c.tsc : 0);
    }
    if (!all) {
      if (rte_rdtsc() - c.tsc < hz) return;  // try again on the next loop
      ++inval_unobserved_;
    } else {
      auto ns = uint32_t(std::min<uint64_t>(worst * 1000000000 / hz, UINT32_MAX));
      if (inval_ns_.size() < kLatencySamples)
        inval_ns_.push_back(ns);
      else
        inval_ns_[inval_next_] = ns;
      inval_next_ = (inval_next_ + 1) % kLatencySamples;
    }
    pending_gens_.pop_front();
  }
}

nlohmann::json Control::invalidation_json() const {
  std::vector<uint32_t> v = inval_ns_;
  auto pct = [&](double q) -> uint64_t {
    if (v.empty()) return 0;
    size_t i = std::min(v.size() - 1, size_t(q * double(v.size())));
    std::nth_element(v.begin(), v.begin() + ptrdiff_t(i), v.end());
    return v[i];
  };
  uint64_t p50 = pct(0.50), p99 = pct(0.99);
  uint64_t mx = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  return {{"samples", v.size()},
          {"p50_ns", p50},
          {"p99_ns", p99},
          {"max_ns", mx},
          {"unobserved", inval_unobserved_}};
}

void Control::run(const std::atomic<bool>& stop) {
  // Commits made before the workers started (startup load) would time worker startup.
  pending_gens_.clear();
  while (!stop.load(std::memory_order_relaxed)) {
    // The control thread is not a poll-mode worker: when idle it sleeps briefly so it does
    // not take a core from the system (the slow path is latency-tolerant).
    if (!poll_once(now_ms())) usleep(200);
  }
  running_ = false;
  std::shared_ptr<Task> t;
  while (tasks_.try_pop(t))
    t->result.set_exception(std::make_exception_ptr(CommandError("routerd is shutting down")));
}

}  // namespace routerd
