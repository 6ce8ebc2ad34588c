// MLD as a listener (RFC 3810, with RFC 2710 compatibility): the router tells snooping
// switches and queriers which groups each port listens on (its solicited-node groups and
// all-routers), so they deliver them now that ports filter multicast exactly. Runs from
// the DAD tick (ra.cpp) and from handle_local6; never changes the FIB.
#include <rte_ether.h>
#include <rte_random.h>

#include <algorithm>
#include <vector>

#include "control.hpp"
#include "ipv6_ext.hpp"
#include "mld.hpp"

namespace routerd {

namespace {

// ff05::2, all routers of the site (RFC 4291 2.7.1): joined by a router, reported like the rest.
constexpr Ipv6 kAllSiteRouters = Ipv6::of(0xff05, 0, 0, 0, 0, 0, 0, 2);

uint64_t mld_random_ms(uint64_t lo, uint64_t hi) {
  return lo + rte_rand_max(hi - lo + 1);
}

}  // namespace

// The groups a port listens on now: all-routers (link and site) and the solicited-node group
// of every address whose DAD has started (tentative and duplicate ones too: DAD needs the
// group, and a duplicate stays configured). Never ff02::1 (RFC 3810 6: not reported).
std::vector<Ipv6> Control::mld_groups(const PortCtl& p, uint64_t now) const {
  std::vector<Ipv6> g;
  auto add = [&](const Ipv6& a) {
    if (std::find(g.begin(), g.end(), a) == g.end()) g.push_back(a);
  };
  for (const auto& e : dad_) {
    if (e.port != p.ref.id || now < e.start_ms) continue;
    if (e.addr == p.ll) {
      add(kAllRouters);
      add(kAllSiteRouters);
    }
    add(e.addr.solicited_node());
  }
  return g;
}

// Reports go from the link-local address, or from :: while it is not assigned (RFC 3810
// 5.2.13, RFC 4862 5.4.2: the join before DAD of the link-local address itself).
void Control::mld_send(const PortCtl& p, const std::vector<MldRecord>& records, bool v1) {
  const Ipv6 src = assigned6(p.ref.id, p.ll) ? p.ll : Ipv6{};
  const size_t per_frame = v1 ? 1 : mld::kMaxRecords;
  for (size_t i = 0; i < records.size(); i += per_frame) {
    rte_mbuf* m;
    uint8_t* out = new_frame(m, mld::kMaxFrame);
    if (!out) return;
    size_t n;
    if (v1) {
      // RFC 2710 compatibility (RFC 3810 8.3.2): a Report per group, Done for a leave.
      const MldRecord& r = records[i];
      n = mld_build_v1(out, p.ref.mac, src,
                       r.type == mld::change_to_include ? mld::done_v1 : mld::report_v1, r.group);
    } else {
      const size_t k = std::min(per_frame, records.size() - i);
      n = mld_build_report_v2(out, p.ref.mac, src, std::span(records).subspan(i, k));
    }
    rte_pktmbuf_trim(m, uint16_t(mld::kMaxFrame - n));
    event(Event::mld_reports_sent);
    transmit(p.ref.id, m);
  }
}

// RFC 3810 6.1: a change of the listening set is reported at once and [Robustness Variable]
// - 1 more times at random in (0, Unsolicited Report Interval]; a newer change of a group
// replaces its pending one. Answers to Queries (6.2) go when their random delay is over.
// Everything leaves from this 100 ms tick, so a port sends at most one round of Reports per
// tick however many Queries come in.
void Control::mld_tick(uint64_t now) {
  mld_.resize(ports_.size());
  for (size_t i = 0; i < ports_.size(); ++i) {
    const PortCtl& p = ports_[i];
    if (p.tunnel) continue;  // GRE tunnels carry no link-layer multicast to report for
    MldPort& s = mld_[i];
    const std::vector<Ipv6> want = mld_groups(p, now);
    auto change = [&](const Ipv6& g, bool join) {
      auto it = std::find_if(s.changes.begin(), s.changes.end(),
                             [&](const MldChange& c) { return c.group == g; });
      const MldChange c{g, join, mld::kRobustness, now};
      if (it == s.changes.end())
        s.changes.push_back(c);
      else
        *it = c;
    };
    for (const Ipv6& g : want)
      if (std::find(s.listening.begin(), s.listening.end(), g) == s.listening.end()) {
        s.listening.push_back(g);
        change(g, true);
      }
    std::erase_if(s.listening, [&](const Ipv6& g) {
      if (std::find(want.begin(), want.end(), g) != want.end()) return false;
      change(g, false);
      return true;
    });

    std::vector<MldRecord> records;
    auto add = [&](uint8_t type, const Ipv6& g) {
      for (const auto& r : records)
        if (r.group == g) return;
      records.push_back({type, g});
    };
    // One draw per round: the changes sent together are retransmitted together.
    const uint64_t next = now + mld_random_ms(1, mld::kUnsolicitedReportIntervalMs);
    for (auto& c : s.changes) {
      if (now < c.next_ms) continue;
      add(c.join ? mld::change_to_exclude : mld::change_to_include, c.group);
      --c.left;
      c.next_ms = next;
    }
    std::erase_if(s.changes, [](const MldChange& c) { return c.left == 0; });
    if (s.general_due && now >= *s.general_due) {
      for (const Ipv6& g : s.listening) add(mld::mode_is_exclude, g);
      s.general_due.reset();
      s.specific_due.clear();  // answered by this one
    }
    std::erase_if(s.specific_due, [&](const std::pair<Ipv6, uint64_t>& q) {
      if (now < q.second) return false;
      if (std::find(s.listening.begin(), s.listening.end(), q.first) != s.listening.end())
        add(mld::mode_is_exclude, q.first);
      return true;
    });
    if (!records.empty()) mld_send(p, records, now < s.v1_until_ms);
  }
}

// A Query (RFC 3810 6.2, RFC 2710 4): answered after a random delay up to its Maximum
// Response Delay, unless an answer that covers it is already due sooner. A specific Query
// about a group the port does not listen on is not answered. An MLDv1 Query puts the port
// in MLDv1 mode for the Older Version Querier Present Timeout (RFC 3810 8.2.1).
void Control::handle_mld(rte_mbuf* m, uint16_t in_port, uint64_t now) {
  const PortCtl* p = port_by_id(in_port);
  const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
  const std::optional<MldQuery> q =
      p ? mld_parse_query(ip, rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN) : std::nullopt;
  // Anything else (other listeners' Reports, bad Queries) is not the router's business.
  if (!q) return drop(m, Drop::local_unhandled, in_port);
  rte_pktmbuf_free(m);
  event(Event::mld_queries_received);
  mld_.resize(ports_.size());
  MldPort& s = mld_[size_t(p - ports_.data())];
  if (!q->v2) s.v1_until_ms = now + mld::kOlderQuerierPresentMs;
  const uint64_t due = now + mld_random_ms(0, q->max_response_ms);
  if (s.general_due && *s.general_due <= due) return;
  if (q->group.is_unspecified()) {
    s.general_due = due;
    return;
  }
  if (std::find(s.listening.begin(), s.listening.end(), q->group) == s.listening.end()) return;
  for (auto& [g, t] : s.specific_due)
    if (g == q->group) {
      t = std::min(t, due);
      return;
    }
  s.specific_due.emplace_back(q->group, due);  // at most one per listened group
}

}  // namespace routerd
