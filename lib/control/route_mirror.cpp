// The kernel route mirror (issue 16 part 3, control_plane.kernel_routes): for daemons that
// install routes only into the kernel (BIRD), routerd copies one table of the control
// namespace's kernel, of the protocols configured, as daemon routes. A dump (next hops, then
// IPv4, then IPv6 routes) gives the table; notifications on the same socket give the changes,
// in the same one-commit-per-poll batches as FPM. Anything that makes the copy doubtful (the
// socket overran, a dump raced a change, the kernel flushed routes without saying so) starts
// a resync: a fresh dump, after which what it did not name is swept.
// <net/if.h> before any <linux/...> header (see kernel_if.cpp), in a block of its own.
#include <net/if.h>

#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "control.hpp"
#include "kernel_if.hpp"
#include "route_feed.hpp"

namespace routerd {

// A full table's notifications while BIRD loads it (about 1.1 M routes at ~150 bytes): a
// smaller buffer overruns, and each overrun costs a resync.
constexpr int kMirrorRcvbuf = 256 << 20;
// Datagrams read per poll: the punt ring and the API get their turn between.
constexpr int kMirrorReads = 64;

struct Control::RouteMirror {
  std::string netns;
  uint32_t table = RT_TABLE_MAIN;
  std::array<bool, 256> protocols{};  // by rtm_protocol: mirrored or not
  std::unique_ptr<kif::RouteMonitor> mon;
  RouteFeed feed{"kernel"};
  // The dump in progress, in this order; none between dumps.
  enum class Phase : uint8_t { none, nexthops, ipv4, ipv6 } phase = Phase::none;
  uint32_t dump_seq = 0;
  bool interrupted = false;   // an answer of this dump said NLM_F_DUMP_INTR
  std::string resync_wanted;  // why a resync should start at the next poll ("" : none)
  uint64_t since_ms = 0, datagrams = 0, overruns = 0, resyncs = 0, dump_routes = 0,
           flush_events = 0;
  // One datagram: a dump's are at most 32 KiB, a notification one message.
  std::vector<uint8_t> buf = std::vector<uint8_t>(1 << 16);
};

void Control::RouteMirrorFree::operator()(RouteMirror* m) const {
  delete m;
}

int Control::mirror_fd() const {
  return mirror_->mon->fd();
}

void Control::mirror_init(const Config& cfg) {
  if (!cfg.kernel_routes) return;
  std::unique_ptr<RouteMirror, RouteMirrorFree> m(new RouteMirror);
  m->netns = cfg.cp_netns;
  m->table = cfg.kernel_routes_table;
  if (cfg.kernel_routes_protocols.empty()) {
    m->protocols.fill(true);
    m->protocols[RTPROT_KERNEL] = false;  // the kernel's connected routes: routerd has its own
  } else {
    for (uint8_t p : cfg.kernel_routes_protocols) m->protocols[p] = true;
  }
  m->feed.by_priority = true;
  try {
    m->mon = std::make_unique<kif::RouteMonitor>(cfg.cp_netns, kMirrorRcvbuf);
  } catch (const kif::KernelError& e) {
    throw std::runtime_error(std::string("control_plane.kernel_routes: ") + e.what());
  }
  m->since_ms = now_ms();
  spdlog::info("kernel routes: mirroring table {} of {} (receive buffer {} MiB)", m->table,
               cfg.cp_netns.empty() ? "routerd's namespace" : "namespace " + cfg.cp_netns,
               m->mon->rcvbuf() >> 20);
  mirror_ = std::move(m);
  feed_ = &mirror_->feed;
  mirror_->resync_wanted = "start";
  fpm_fds();
}

// Starts a fresh dump: what the feed holds is stale until the dump names it again.
void Control::mirror_start_resync(const std::string& why) {
  RouteMirror& m = *mirror_;
  if (m.resyncs > 0) spdlog::info("kernel routes: resync ({})", why);
  ++m.resyncs;
  m.feed.mark_stale();
  // The dump sends every route of a prefix again: the shadow is rebuilt from it.
  m.feed.shadow4.clear();
  m.feed.shadow6.clear();
  m.interrupted = false;
  m.dump_routes = 0;
  m.phase = RouteMirror::Phase::nexthops;
  m.dump_seq = m.mon->request_dump(RTM_GETNEXTHOP, AF_UNSPEC);
}

// What the mirror takes of a batch: routes of its table, of its protocols, of the types
// routerd has. A route that leaves the protocols (replaced by another protocol's, which the
// kernel does without a delete) is a delete of the one held.
void Control::mirror_filter(std::vector<fpm::Message>& msgs) {
  RouteMirror& m = *mirror_;
  std::vector<fpm::Message> out;
  out.reserve(msgs.size());
  // IPv6 multipath routes this batch added, for a delete of one of their paths later in it.
  std::unordered_map<Prefix6, fpm::RouteMsg, Prefix6Hash> multipath6;
  for (fpm::Message& msg : msgs) {
    if (auto* ig = std::get_if<fpm::IgnoredMsg>(&msg)) {
      // Routes and next hops routerd does not take are counted; the dump's end, errors, and
      // the link and address changes the socket also hears are not routes.
      if (ig->type == RTM_NEWROUTE || ig->type == RTM_DELROUTE || ig->type == RTM_NEWNEXTHOP ||
          ig->type == RTM_DELNEXTHOP)
        ++m.feed.ignored;
      continue;
    }
    auto* r = std::get_if<fpm::RouteMsg>(&msg);
    if (!r) {
      out.push_back(std::move(msg));
      continue;
    }
    const bool type_ok = r->type == RTN_UNICAST || r->type == RTN_BLACKHOLE ||
                         r->type == RTN_UNREACHABLE || r->type == RTN_PROHIBIT;
    if (r->table != m.table || !type_ok) {
      ++m.feed.ignored;
      continue;
    }
    if (!m.protocols[r->protocol]) {
      ++m.feed.ignored;
      const fpm::RouteMsg* held = nullptr;
      if (r->family == AF_INET) {
        held = m.feed.routes4.find(r->prefix4);
      } else {
        held = m.feed.routes6.find(r->prefix6);
      }
      if (!r->add || !held || held->priority != r->priority) continue;
      r->add = false;
    }
    if (r->family == AF_INET6) {
      if (r->add && r->paths.size() > 1) multipath6[r->prefix6] = *r;
      // The kernel deletes one path of an IPv6 multipath route (`ip -6 route del P via G`)
      // with an RTM_DELROUTE naming only that path, and keeps the others: the route held
      // loses that path. (A new or appended route is always notified whole.)
      if (!r->add && r->paths.size() == 1 && r->nh_id == 0) {
        const fpm::RouteMsg* held = nullptr;
        if (auto it = multipath6.find(r->prefix6); it != multipath6.end()) {
          held = &it->second;
        } else {
          held = m.feed.routes6.find(r->prefix6);
        }
        if (held && held->priority == r->priority && held->paths.size() > 1) {
          fpm::RouteMsg rest = *held;
          const fpm::Path& gone = r->paths[0];
          std::erase_if(rest.paths, [&](const fpm::Path& x) {
            return x.gw6 == gone.gw6 && x.ifindex == gone.ifindex;
          });
          if (rest.paths.size() == held->paths.size()) continue;  // not one of its paths
          if (!rest.paths.empty()) {
            rest.add = true;
            if (rest.paths.size() > 1)
              multipath6[rest.prefix6] = rest;
            else
              multipath6.erase(rest.prefix6);
            *r = std::move(rest);
          }
        }
      }
    }
    out.push_back(std::move(msg));
  }
  msgs = std::move(out);
}

bool Control::mirror_poll(uint64_t now) {
  if (!mirror_) return false;
  RouteMirror& m = *mirror_;
  if (!m.resync_wanted.empty() && m.phase == RouteMirror::Phase::none) {
    const std::string why = std::move(m.resync_wanted);
    m.resync_wanted.clear();
    mirror_start_resync(why);
  }
  bool busy = false;
  std::vector<fpm::Message> msgs;
  for (int i = 0; i < kMirrorReads; ++i) {
    bool overrun = false;
    const size_t n = m.mon->recv(m.buf.data(), m.buf.size(), overrun);
    if (overrun) {
      // Notifications were lost: nothing read from here on can be trusted to be complete,
      // and a dump in progress would be interleaved with a new one. A new socket starts
      // clean.
      ++m.overruns;
      spdlog::warn(
          "kernel routes: the kernel's notifications overran the receive buffer ({} "
          "MiB): resync",
          m.mon->rcvbuf() >> 20);
      mirror_filter(msgs);
      feed_apply(msgs, m.table, now);
      m.mon = std::make_unique<kif::RouteMonitor>(m.netns, kMirrorRcvbuf);
      fpm_fds();
      m.phase = RouteMirror::Phase::none;
      m.resync_wanted = "overrun";
      return true;
    }
    if (n == 0) break;
    busy = true;
    ++m.datagrams;
    bool dump_done = false;
    // Netlink's own messages first: the end of a dump, a dump's error, a raced dump, and the
    // changes after which the kernel removes routes without a notification.
    for (size_t off = 0; off + sizeof(nlmsghdr) <= n;) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(m.buf.data() + off);
      if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > n - off) break;  // decode says why
      off += NLMSG_ALIGN(h->nlmsg_len);
      const bool ours = m.phase != RouteMirror::Phase::none && h->nlmsg_seq == m.dump_seq;
      if (ours && (h->nlmsg_flags & NLM_F_DUMP_INTR)) m.interrupted = true;
      if (ours && (h->nlmsg_type == RTM_NEWROUTE)) ++m.dump_routes;
      if (ours && h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h));
        // A kernel without next-hop objects (before 5.3) refuses that dump: no loss.
        if (m.phase != RouteMirror::Phase::nexthops)
          spdlog::warn("kernel routes: the dump failed: {}", std::strerror(-e->error));
        dump_done = true;
      }
      if (ours && h->nlmsg_type == NLMSG_DONE) dump_done = true;
      // IPv4 routes through an interface that goes down, or through an address's subnet
      // when the address goes, are removed by the kernel without RTM_DELROUTE.
      if (h->nlmsg_type == RTM_DELADDR || h->nlmsg_type == RTM_DELLINK ||
          (h->nlmsg_type == RTM_NEWLINK &&
           !(static_cast<const ifinfomsg*>(NLMSG_DATA(h))->ifi_flags & IFF_UP))) {
        ++m.flush_events;
        m.resync_wanted = "an interface or address went away in the namespace";
      }
    }
    try {
      fpm::decode_frame(std::span<const uint8_t>(m.buf.data(), n), msgs);
    } catch (const fpm::FpmError& e) {
      // The kernel's own messages: a decode failure is routerd's misunderstanding. The
      // datagram is lost to the copy, so the copy is redone.
      m.feed.last_error = e.what();
      log_limited("kernel routes: a netlink message routerd cannot read", e.what());
      m.resync_wanted = "unreadable message";
    }
    if (dump_done) {
      // What came before the end belongs to this dump: apply it, then ask for the next.
      mirror_filter(msgs);
      feed_apply(msgs, m.table, now);
      msgs.clear();
      switch (m.phase) {
        case RouteMirror::Phase::nexthops:
          m.phase = RouteMirror::Phase::ipv4;
          m.dump_seq = m.mon->request_dump(RTM_GETROUTE, AF_INET);
          break;
        case RouteMirror::Phase::ipv4:
          m.phase = RouteMirror::Phase::ipv6;
          m.dump_seq = m.mon->request_dump(RTM_GETROUTE, AF_INET6);
          break;
        default: {
          m.phase = RouteMirror::Phase::none;
          if (m.interrupted) {
            m.resync_wanted = "the table changed during the dump";
            break;
          }
          const size_t swept = feed_remove(true, now);
          spdlog::info(
              "kernel routes: dump complete: {} routes in the kernel, {} IPv4 and {} "
              "IPv6 held, {} no longer there removed",
              m.dump_routes, m.feed.routes4.size(), m.feed.routes6.size(), swept);
          break;
        }
      }
    }
  }
  mirror_filter(msgs);
  feed_apply(msgs, m.table, now);
  return busy;
}

nlohmann::json Control::mirror_json() const {
  if (!mirror_) return nullptr;
  const RouteMirror& m = *mirror_;
  nlohmann::json protocols = nlohmann::json::array();
  for (unsigned p = 0; p < 256; ++p)
    if (m.protocols[p]) protocols.push_back(rtproto_name(uint8_t(p)));
  // All 255 but kernel is the default: say so rather than list them.
  const bool all_but_kernel = protocols.size() == 255 && !m.protocols[RTPROT_KERNEL];
  nlohmann::json j = {{"netns", m.netns},
                      {"table", m.table},
                      {"protocols", all_but_kernel ? nlohmann::json("all but kernel") : protocols},
                      {"receive_buffer", m.mon->rcvbuf()},
                      {"dumping", m.phase != RouteMirror::Phase::none},
                      {"datagrams", m.datagrams},
                      {"overruns", m.overruns},
                      {"resyncs", m.resyncs},
                      {"flush_events", m.flush_events}};
  j.update(feed_json());
  return j;
}

template <>
nlohmann::json Control::handle<Verb::mirror_show>(const Request&) {
  if (!mirror_)
    throw CommandError("mirror show: no kernel route mirror (control_plane.kernel_routes is off)");
  return mirror_json();
}

void Control::register_mirror_commands(CommandTable& t) {
  t.control<Verb::mirror_show>();
}

}  // namespace routerd
