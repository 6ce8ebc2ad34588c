// Router Advertisements (RFC 4861 6.2) on ports with `ra = true`, RAs from other routers
// (6.3.4: their neighbour entries; 6.2.7: checked against ours), and Duplicate Address
// Detection (RFC 4862 5.4) of the router's own IPv6 addresses. They run from the control
// thread's 100 ms tick, its poll (answers to solicitations) and handle_ndp's hooks; what
// they change in the FIB goes through sync() (DAD) and the neighbour effects (RAs).
#include <rte_ether.h>
#include <rte_random.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "control.hpp"
#include "ndp.hpp"

namespace routerd {

namespace {

// RFC 4861 10, router constants.
constexpr uint64_t kMaxInitialRtrAdvertIntervalMs = 16000;
constexpr uint32_t kMaxInitialRtrAdvertisements = 3;
constexpr uint64_t kMinDelayBetweenRasMs = 3000;
constexpr uint64_t kMaxRaDelayTimeMs = 500;
// RFC 4861 10, host constant, which RFC 4862 5.4.2 borrows for the delay before DAD.
constexpr uint64_t kMaxRtrSolicitationDelayMs = 1000;
// RFC 4861 6.2.1's AdvValidLifetime and AdvPreferredLifetime defaults: 30 and 7 days.
constexpr uint32_t kValidLifetime = 2592000, kPreferredLifetime = 604800;
// An inconsistent RA from another router is counted every time, logged at most this often
// per port: a misconfigured neighbour keeps sending them.
constexpr uint64_t kInconsistentLogMs = 60000;

uint64_t random_between(uint64_t lo, uint64_t hi) {
  return lo + rte_rand_max(hi - lo + 1);
}

}  // namespace

void Control::ra_init(const Config& cfg) {
  ra_boot_ = cfg;
  ra_.assign(ports_.size(), RaPort{});
}

// load() and reload keep loaded_; a Control that was never loaded (tests) has only what its
// constructor was given. Reading it on every tick makes a reload's `ra` changes take effect.
const Config& Control::ra_config() const {
  return loaded_.ports.empty() ? ra_boot_ : loaded_;
}

// ---------------------------------------------------------------- DAD

bool Control::dad_failed(uint16_t port, const Ipv6& a) const {
  for (const auto& e : dad_)
    if (e.port == port && e.addr == a) return e.state == DadState::failed;
  return false;
}

// An address DAD has not seen yet (added since the last tick) is tentative too, unless DAD
// is off, or the address is a tunnel's (dad_tick never probes those).
bool Control::assigned6(uint16_t port, const Ipv6& a) const {
  for (const auto& e : dad_)
    if (e.port == port && e.addr == a) return e.state == DadState::ok;
  return ra_config().dad_transmits == 0 || is_tunnel_port(port);
}

bool Control::tentative6(uint16_t port, const Ipv6& a) const {
  for (const auto& e : dad_)
    if (e.port == port && e.addr == a) return e.state == DadState::tentative;
  return ra_config().dad_transmits != 0 && !is_tunnel_port(port);
}

bool Control::in_use6(const Ipv6& a) const {
  uint16_t port;
  return local_address6(a, &port) && assigned6(port, a);
}

// New addresses (startup, `addr add`, a new link-local one) are found here, by comparing the
// ports' addresses with what DAD knows, so no command needs a hook; an address deleted and
// added again between two ticks keeps its earlier result. Each tick: new addresses are
// found, MLD reports their groups (mld.cpp), then the due probes go, so a group is always
// reported before the probe that needs it (RFC 4862 5.4.2).
void Control::dad_tick(uint64_t now) {
  std::erase_if(dad_, [&](const DadEntry& e) {
    const PortCtl* p = port_by_id(e.port);
    if (!p) return true;
    if (p->ll == e.addr) return false;
    for (const auto& pa : p->addrs6)
      if (pa.addr == e.addr) return false;
    return true;
  });
  const Config& c = ra_config();
  const uint64_t wait = c.ndp_retrans_ms;  // RetransTimer
  dad_port_seen_.resize(ports_.size());
  for (size_t i = 0; i < ports_.size(); ++i) {
    const PortCtl& p = ports_[i];
    // RFC 4862 5.4.2: the addresses a port has when it comes up join their groups and are
    // probed after a random delay in [0, MAX_RTR_SOLICITATION_DELAY], so routers restarted
    // together do not probe (and report) at once; one added later is probed at once.
    const bool init = !dad_port_seen_[i];
    dad_port_seen_[i] = 1;
    const uint64_t start = init ? now + random_between(0, kMaxRtrSolicitationDelayMs) : now;
    std::vector<Ipv6> addrs{p.ll};
    for (const auto& pa : p.addrs6) addrs.push_back(pa.addr);
    // A tunnel has no link-layer neighbours to collide with: no DAD, as Linux skips it on
    // its NOARP GRE devices (addrconf_dad_begin), so no solicitation goes into the tunnel.
    const uint32_t transmits = p.tunnel ? 0 : c.dad_transmits;
    for (const Ipv6& a : addrs) {
      const bool known = std::any_of(dad_.begin(), dad_.end(), [&](const DadEntry& e) {
        return e.port == p.ref.id && e.addr == a;
      });
      if (known) continue;
      dad_.push_back(DadEntry{a, p.ref.id, transmits ? DadState::tentative : DadState::ok, start,
                              start, transmits});
    }
  }
  mld_tick(now);
  std::vector<Ipv6> assigned;
  for (auto& e : dad_) {
    if (e.state != DadState::tentative || now < e.deadline_ms) continue;
    if (e.probes_left == 0) {
      e.state = DadState::ok;
      assigned.push_back(e.addr);
      continue;
    }
    const PortCtl* p = port_by_id(e.port);
    --e.probes_left;
    e.deadline_ms = now + wait;
    // DupAddrDetectTransmits solicitations, RetransTimer apart, from the unspecified address
    // to the address's solicited-node group, without a source link-layer option (5.4.2).
    rte_mbuf* m;
    uint8_t* out = new_frame(m, kNdMaxFrame);
    // Not sent: counted, and the address waits as if it had been (no answer can come).
    if (!out) continue;
    const size_t n = ndp_build_ns(out, p->ref.mac, Ipv6{}, e.addr);
    rte_pktmbuf_trim(m, uint16_t(kNdMaxFrame - n));
    event(Event::ndp_solicit_sent);
    transmit(p->ref.id, m);
  }
  if (assigned.empty()) return;
  // Assigned now: its local /128 (a tentative address had a blackhole one, desired_nh).
  try {
    for (const Ipv6& a : assigned) sync(Prefix6{a, 128});
    pub_.commit();
  } catch (const FibError& e) {
    pub_.rollback();
    log_limited("the local route of a new IPv6 address waits", e.what());
  }
}

// RFC 4862 5.4.3, 5.4.4: while an address is tentative, an NA for it or a DAD probe (NS from
// the unspecified address) for it from another node means someone else has it. Our own
// probe, looped back by the link, carries our MAC and is ignored. A duplicate address is not
// defended afterwards: its NSs go unanswered, its NAs are not logged again.
bool Control::dad_hook(uint16_t port, const NdMessage& m, const uint8_t* eth_src) {
  if (m.type != nd::neighbor_solicit && m.type != nd::neighbor_advert) return false;
  const PortCtl* p = port_by_id(port);
  if (!p) return false;
  auto it = std::find_if(dad_.begin(), dad_.end(),
                         [&](const DadEntry& e) { return e.port == port && e.addr == m.target; });
  if (it == dad_.end()) return false;
  // A duplicate is not defended (its NSs go unanswered), and the other node's NAs for it
  // are learnt like any neighbour's.
  if (it->state == DadState::failed) return m.type == nd::neighbor_solicit;
  // Our own frame, looped back by the link: nothing to learn, nothing to answer.
  if (std::memcmp(eth_src, p->ref.mac.b.data(), 6) == 0) return true;
  if (it->state != DadState::tentative) return false;
  // RFC 4862 5.4.3: an NS for a tentative target from a unicast source is address
  // resolution or a reachability probe for an address that is not ours yet: silently
  // discarded, neither answered nor learnt from.
  if (m.type == nd::neighbor_solicit && !m.src.is_unspecified()) return true;
  it->state = DadState::failed;
  event(Event::ndp_dad_failed);
  // It is the other node's now: its local /128 goes, so packets for it follow the connected
  // subnet to that node (as Linux, which installs no local route for such an address).
  try {
    sync(Prefix6{m.target, 128});
    pub_.commit();
  } catch (const FibError& e) {
    pub_.rollback();
    log_limited("the local route of duplicate " + m.target.str() + " stays", e.what());
  }
  Mac from;
  std::memcpy(from.b.data(), eth_src, 6);
  spdlog::error(
      "port {}: {} is a duplicate address ({} from {} during DAD, RFC 4862 5.4): it is not "
      "used as a source; remove it (routerctl addr del) and fix the conflict",
      p->ref.name, m.target.str(),
      m.type == nd::neighbor_advert ? "Neighbor Advertisement" : "DAD probe", from.str());
  return true;
}

void Control::dad_show(const PortCtl& p, nlohmann::json& out) const {
  nlohmann::json failed = nlohmann::json::array(), tentative = nlohmann::json::array();
  // The port's addresses as they are now (an entry of a deleted one lives until the tick).
  auto mark = [&](const Ipv6& a, uint8_t len) {
    const std::string s = a.str() + "/" + std::to_string(len);
    if (dad_failed(p.ref.id, a)) failed.push_back(s);
    if (tentative6(p.ref.id, a)) tentative.push_back(s);
  };
  for (const auto& pa : p.addrs6) mark(pa.addr, pa.subnet.len);
  mark(p.ll, 64);
  if (!failed.empty()) out["dad_failed"] = failed;
  if (!tentative.empty()) out["tentative"] = tentative;
}

// ---------------------------------------------------------------- Router Advertisements

// From the port's link-local address (RFC 4861 6.1.2), with its MAC, its MTU and a Prefix
// Information option per subnet: autonomous only for /64s, which SLAAC can fill (RFC 4862
// 5.5.3 ignores others), on-link for all.
void Control::send_ra(const PortCtl& p, const Ipv6& dst, const Mac& dst_mac, uint16_t lifetime) {
  std::vector<RaPrefix> prefixes;
  for (const auto& pa : p.addrs6) {
    const bool seen = std::any_of(prefixes.begin(), prefixes.end(),
                                  [&](const RaPrefix& r) { return r.prefix == pa.subnet; });
    if (!seen)
      prefixes.push_back(
          RaPrefix{pa.subnet, kValidLifetime, kPreferredLifetime, pa.subnet.len == 64});
  }
  rte_mbuf* m;
  uint8_t* out = new_frame(m, kNdMaxFrame);
  if (!out) return;
  const uint32_t mtu = ra_config().ra_mtu ? p.ref.mtu : 0;
  const size_t n = ndp_build_ra(out, p.ref.mac, p.ll, dst, dst_mac, lifetime, mtu, prefixes);
  rte_pktmbuf_trim(m, uint16_t(kNdMaxFrame - n));
  event(Event::ndp_ra_sent);
  transmit(p.ref.id, m);
}

bool Control::ra_ll_ready(const PortCtl& p) const {
  return std::any_of(dad_.begin(), dad_.end(), [&](const DadEntry& e) {
    return e.port == p.ref.id && e.addr == p.ll && e.state == DadState::ok;
  });
}

// RFC 4861 6.2.4: the wait before the next unsolicited RA, random in [MinRtrAdvInterval,
// MaxRtrAdvInterval], the first MAX_INITIAL_RTR_ADVERTISEMENTS at most
// MAX_INITIAL_RTR_ADVERT_INTERVAL apart.
uint64_t Control::ra_next_wait(const RaPort& s) const {
  const uint64_t max_ms = uint64_t(ra_config().ra_interval_s) * 1000;
  const uint64_t min_ms = std::max<uint64_t>(kMinDelayBetweenRasMs, max_ms * 33 / 100);
  uint64_t wait = random_between(min_ms, max_ms);
  if (s.sent < kMaxInitialRtrAdvertisements) wait = std::min(wait, kMaxInitialRtrAdvertIntervalMs);
  return wait;
}

// RFC 4861 6.2.4: unsolicited RAs at random times (ra_next_wait). They wait for the
// link-local address to pass DAD; a port whose link-local address is a duplicate sends none
// (RFC 4862 5.4.5).
void Control::ra_tick(uint64_t now) {
  dad_tick(now);
  const Config& c = ra_config();
  const auto lifetime = uint16_t(c.ra_lifetime_s);
  ra_.resize(ports_.size());
  for (size_t i = 0; i < ports_.size(); ++i) {
    const PortCtl& p = ports_[i];
    RaPort& s = ra_[i];
    const PortConfig* pc = c.find_port(p.ref.name);
    const bool want = pc && pc->ra;
    if (want != s.on) {
      // RFC 4861 6.2.5: a port that stops advertising says so with Router Lifetime 0.
      if (!want && s.sent > 0 && !dad_failed(p.ref.id, p.ll))
        send_ra(p, kAllNodes, kAllNodes.multicast_mac(), 0);
      s = RaPort{};
      s.on = want;
      s.next_ms = now;
    }
    if (!s.on || now < s.next_ms) continue;
    if (!ra_ll_ready(p)) continue;
    send_ra(p, kAllNodes, kAllNodes.multicast_mac(), lifetime);
    s.last_ms = now;
    s.answer_ms = 0;  // a multicast RA answers every pending solicitation too
    if (s.sent < kMaxInitialRtrAdvertisements) ++s.sent;
    s.next_ms = now + ra_next_wait(s);
  }
}

// RFC 4861 6.2.6: a solicitation is answered after a random delay in [0, MAX_RA_DELAY_TIME]
// (so routers on one link do not answer at once), unicast when it gave its link-layer
// address. Answers are at most one per MIN_DELAY_BETWEEN_RAS per port (routerd counts unicast
// ones too, so a flood of solicitations cannot make it a flood of RAs): a solicitation within
// that time of the last RA is answered by a multicast RA that long after it, plus the delay;
// those that come while an answer is pending share it, multicast then, the delay counting
// from the first. When the next unsolicited RA is due before the answer would be, it is the
// answer.
void Control::ra_solicited(uint16_t port, const NdMessage& rs, uint64_t now) {
  const PortCtl* p = port_by_id(port);
  if (!p) return;
  const size_t i = size_t(p - ports_.data());
  if (i >= ra_.size() || !ra_[i].on) return;
  RaPort& s = ra_[i];
  if (!ra_ll_ready(*p)) return;  // the first unsolicited RA follows as soon as it is
  if (s.answer_ms != 0) {
    s.answer_ip.reset();
    s.answer_mac.reset();
    return;
  }
  const uint64_t delay = random_between(0, kMaxRaDelayTimeMs);
  uint64_t at = now + delay;
  bool unicast = rs.source_lla && !rs.src.is_unspecified();
  if (s.last_ms != 0 && now < s.last_ms + kMinDelayBetweenRasMs) {
    at = s.last_ms + kMinDelayBetweenRasMs + delay;
    unicast = false;
  }
  if (s.next_ms <= at) {
    // The next unsolicited RA comes first: it is the answer, sent when it is due from here,
    // at the poll's precision rather than the tick's.
    at = std::max(now, s.next_ms);
    unicast = false;
  }
  s.answer_ms = at;
  s.answer_ip = unicast ? std::optional<Ipv6>(rs.src) : std::nullopt;
  s.answer_mac = unicast ? rs.source_lla : std::nullopt;
  ra_answer_due_ = ra_answer_due_ == 0 ? at : std::min(ra_answer_due_, at);
}

// Run from poll_once, not the 100 ms tick, so the delay drawn is the delay kept. A multicast
// answer restarts the unsolicited schedule, as if it were one (6.2.6), and counts among the
// first MAX_INITIAL_RTR_ADVERTISEMENTS (hosts heard it as well).
void Control::ra_answer(uint64_t now) {
  const auto lifetime = uint16_t(ra_config().ra_lifetime_s);
  ra_answer_due_ = 0;
  for (size_t i = 0; i < ra_.size() && i < ports_.size(); ++i) {
    RaPort& s = ra_[i];
    if (s.answer_ms == 0) continue;
    if (now < s.answer_ms) {
      ra_answer_due_ = ra_answer_due_ == 0 ? s.answer_ms : std::min(ra_answer_due_, s.answer_ms);
      continue;
    }
    s.answer_ms = 0;
    const PortCtl& p = ports_[i];
    if (!s.on || !ra_ll_ready(p)) continue;
    if (s.answer_ip && s.answer_mac) {
      send_ra(p, *s.answer_ip, *s.answer_mac, lifetime);
    } else {
      send_ra(p, kAllNodes, kAllNodes.multicast_mac(), lifetime);
      if (s.sent < kMaxInitialRtrAdvertisements) ++s.sent;
      s.next_ms = now + ra_next_wait(s);
    }
    s.last_ms = now;
  }
}

// ---------------------------------------------------------------- RAs from other routers

// RFC 4861 6.2.7: what another router advertises on a link this port advertises on should
// agree with what routerd says; a value left unspecified (0) by either side agrees with
// anything. Empty: consistent; else what differs, for the log.
std::string Control::ra_inconsistency(const PortCtl& p, const NdMessage& ra) const {
  std::string out;
  auto differ = [&](const std::string& what, uint64_t theirs, uint64_t ours) {
    out += (out.empty() ? "" : ", ") + what + " " + std::to_string(theirs) + " (ours " +
           std::to_string(ours) + ")";
  };
  auto both_set = [](uint64_t a, uint64_t b) { return a != 0 && b != 0 && a != b; };
  if (both_set(ra.cur_hop_limit, nd::kRaCurHopLimit))
    differ("Cur Hop Limit", ra.cur_hop_limit, nd::kRaCurHopLimit);
  if (ra.managed) differ("M flag", 1, 0);
  if (ra.other) differ("O flag", 1, 0);
  if (both_set(ra.reachable_time, nd::kRaReachableTime))
    differ("Reachable Time", ra.reachable_time, nd::kRaReachableTime);
  if (both_set(ra.retrans_timer, nd::kRaRetransTimer))
    differ("Retrans Timer", ra.retrans_timer, nd::kRaRetransTimer);
  if (ra.mtu && ra_config().ra_mtu && *ra.mtu != p.ref.mtu) differ("MTU", *ra.mtu, p.ref.mtu);
  for (size_t k = 0; k < ra.n_prefixes; ++k) {
    const RaPrefix& x = ra.prefixes[k];
    const bool ours = std::any_of(p.addrs6.begin(), p.addrs6.end(),
                                  [&](const PortAddr6& pa) { return pa.subnet == x.prefix; });
    if (!ours) continue;
    if (x.valid_lifetime != kValidLifetime)
      differ(x.prefix.str() + " valid lifetime", x.valid_lifetime, kValidLifetime);
    if (x.preferred_lifetime != kPreferredLifetime)
      differ(x.prefix.str() + " preferred lifetime", x.preferred_lifetime, kPreferredLifetime);
  }
  return out;
}

// A valid RA (ndp_parse: RFC 4861 6.1.2) from another router. routerd is a router: it takes
// no prefix, MTU, hop limit or default route from it. What it does take is the neighbour
// (6.3.4): the source link-layer option creates a STALE entry or replaces a different
// address (STALE again), as an NS's does (7.2.3), and the entry, new or not, is a router's;
// without the option nothing is created. On a port that advertises too, the RA is checked
// against routerd's own (6.2.7).
void Control::ra_received(uint16_t port, const NdMessage& ra, uint64_t now,
                          NeighbourTable6::Effects& fx) {
  event(Event::ndp_ra_received);
  if (ra.source_lla) neigh6_.solicit_from(ra.src, *ra.source_lla, port, now, fx);
  neigh6_.set_router(ra.src, port, true);
  const PortCtl* p = port_by_id(port);
  const size_t i = p ? size_t(p - ports_.data()) : ra_.size();
  if (i >= ra_.size() || !ra_[i].on) return;
  const std::string why = ra_inconsistency(*p, ra);
  if (why.empty()) return;
  event(Event::ndp_ra_inconsistent);
  RaPort& s = ra_[i];
  if (s.inconsistent_logged_ms != 0 && now - s.inconsistent_logged_ms < kInconsistentLogMs) return;
  s.inconsistent_logged_ms = now;
  log_limited("port " + p->ref.name + ": Router Advertisement from " + ra.src.str() +
                  " is inconsistent with ours (RFC 4861 6.2.7)",
              why);
}

}  // namespace routerd
