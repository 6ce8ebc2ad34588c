// routerctl ping: echo requests the router sends itself (through the same output path as its
// ICMP errors, so path MTUs and redirects it learnt apply) and the replies or errors.
#include <rte_cycles.h>
#include <rte_ip.h>

#include <sys/random.h>

#include <cstring>
#include <thread>

#include "commands.hpp"
#include "control.hpp"
#include "icmp6.hpp"
#include "ipv4.hpp"

namespace routerd {

namespace {

uint16_t random_ident() {
  uint16_t v = 0;
  while (getrandom(&v, sizeof v, 0) != ssize_t(sizeof v)) {
    // only EINTR is possible for two bytes from an initialised pool
  }
  return v;
}

// What the router's own packet to dst meets at a reject route: nothing is sent, and ping
// says why, as Linux's ping does from connect() (EINVAL, EACCES, EHOSTUNREACH).
std::string reject_error(NhKind k, const std::string& dst) {
  switch (k) {
    case NhKind::blackhole:
      return dst + " matches a blackhole route: nothing is sent";
    case NhKind::prohibit:
      return dst + " matches a prohibit route: administratively prohibited, nothing is sent";
    default:
      return dst + " matches an unreachable route: no route to host, nothing is sent";
  }
}

}  // namespace

void PingEvents::push(const PingEvent& e) {
  std::lock_guard<std::mutex> g(mu_);
  if (q_.size() >= kQueued) {
    ++dropped_;
    return;
  }
  q_.push_back(e);
}

bool PingEvents::try_pop(PingEvent& e) {
  std::lock_guard<std::mutex> g(mu_);
  if (q_.empty()) return false;
  e = q_.front();
  q_.pop_front();
  return true;
}

uint64_t PingEvents::dropped() const {
  std::lock_guard<std::mutex> g(mu_);
  return dropped_;
}

// ping waits for replies on the caller's thread; the control thread only sends and receives.
template <>
nlohmann::json Control::handle_on_caller<Verb::ping>(const Request& r) {
  auto sess = std::make_shared<PingSession>();
  uint16_t ident;
  {
    std::lock_guard<std::mutex> g(ping_mu_);
    // A counter would tell an off-path host the next session's ident (issue 13).
    if (pings_.size() >= 1024) throw CommandError("ping: too many pings running");
    do ident = random_ident();
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
  uint64_t ignored = 0;  // answers to no request still awaited (late, duplicate, forged)
  std::string src;
  for (uint16_t seq = 1; seq <= r.count; ++seq) {
    auto t0 = std::chrono::steady_clock::now();
    nlohmann::json sent = submit([=, this] {
      return r.family == 6 ? ping_send6(ident, seq, r.addr6, r.size)
                           : ping_send(ident, seq, r.addr, r.size, r.df);
    });
    if (sent.contains("error")) throw CommandError("ping: " + sent["error"].get<std::string>());
    if (sent.contains("src")) src = sent["src"].get<std::string>();
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
        if (ev.seq != seq) {
          ++ignored;
          continue;
        }
        res["from"] = ev.v6 ? ev.from6.str() : ev.from.str();
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
          if (!ev.v6 && ev.type == icmp::dest_unreachable && ev.code == icmp::code_frag_needed)
            res["mtu"] = ev.mtu;
          if (ev.v6 && ev.type == icmp6::packet_too_big) res["mtu"] = ev.mtu6;
        }
        break;
      }
    }
    results.push_back(res);
    if (seq < r.count) std::this_thread::sleep_until(t0 + std::chrono::milliseconds(500));
  }
  // Whatever is still queued was never awaited either.
  for (PingEvent ev; sess->events.try_pop(ev);) ++ignored;
  ignored += sess->events.dropped();
  return {{"dst", r.family == 6 ? r.addr6.str() : r.addr.str()},
          {"family", r.family == 6 ? 6 : 4},
          {"src", src},
          {"size", r.size},
          {"df", r.df},
          {"transmitted", r.count},
          {"received", received},
          {"ignored", ignored},
          {"results", results}};
}

nlohmann::json Control::ping_send(uint16_t ident, uint16_t seq, Ipv4 dst, uint16_t size, bool df) {
  const uint64_t now = now_ms();
  const NextHopState* s = resolve(dst);
  if (!s) return {{"error", "no route to " + dst.str()}};
  if (nh_rejects(s->kind)) return {{"error", reject_error(s->kind, dst.str())}};
  if (s->kind == NhKind::local || s->kind == NhKind::broadcast)
    return {{"error", dst.str() + " is an address of this router or a broadcast"}};
  const Ipv4 first_hop = s->gateway.v ? s->gateway : dst;
  auto src = source_for(s->port, first_hop);
  if (!src) return {{"error", "the egress port has no address"}};
  const uint32_t ip_len = 20 + icmp::header_len + size;
  const uint32_t room = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  if (RTE_ETHER_HDR_LEN + ip_len > room)
    return {{"error", "size " + std::to_string(size) +
                          " does not fit the packet buffers (at most " +
                          std::to_string(room - RTE_ETHER_HDR_LEN - 28) + ")"}};
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return {{"error", "no packet buffer free"}};
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(RTE_ETHER_HDR_LEN + ip_len)));
  if (!p) {
    rte_pktmbuf_free(m);
    return {{"error", "no packet buffer free"}};
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + RTE_ETHER_HDR_LEN);
  std::memset(ip, 0, 20);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(uint16_t(ip_len));
  ip->packet_id = rte_cpu_to_be_16(ip_id_++);
  ip->fragment_offset = df ? RTE_BE16(RTE_IPV4_HDR_DF_FLAG) : 0;
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = rte_cpu_to_be_32(src->v);
  ip->dst_addr = rte_cpu_to_be_32(dst.v);
  ip->hdr_checksum = ipv4_header_checksum(ip);
  uint8_t* ic = p + RTE_ETHER_HDR_LEN + 20;
  std::memset(ic, 0, icmp::header_len + size);
  ic[0] = icmp::echo_request;
  ic[4] = uint8_t(ident >> 8);
  ic[5] = uint8_t(ident);
  ic[6] = uint8_t(seq >> 8);
  ic[7] = uint8_t(seq);
  // The send time rides in the payload and comes back in the reply, as with ping(8).
  uint64_t tsc = rte_rdtsc();
  std::memcpy(ic + icmp::header_len, &tsc, std::min<size_t>(size, sizeof tsc));
  for (uint32_t i = sizeof tsc; i < size; ++i) ic[icmp::header_len + i] = uint8_t(i);
  uint16_t c = icmp_checksum(ic, icmp::header_len + size);
  std::memcpy(ic + 2, &c, 2);
  nlohmann::json j = {{"src", src->str()}};
  if (uint16_t mtu = output_originated(m, now)) j["local_error_mtu"] = mtu;
  return j;
}

// An ICMPv6 echo request from the router. routerd never fragments its own IPv6 packets: one
// larger than the path MTU (the next hop's, or a smaller one a Packet Too Big taught) is a
// local error, nothing sent, as Linux's ping -M do reports it ("message too long, mtu=1280").
nlohmann::json Control::ping_send6(uint16_t ident, uint16_t seq, const Ipv6& dst, uint16_t size) {
  const uint64_t now = now_ms();
  const NextHopState* s = dst.is_link_local() ? nullptr : resolve6(dst);
  if (!s) return {{"error", "no route to " + dst.str()}};
  if (nh_rejects(s->kind)) return {{"error", reject_error(s->kind, dst.str())}};
  if (s->kind == NhKind::local) return {{"error", dst.str() + " is an address of this router"}};
  const std::optional<Ipv6> src = select_source6(s->port, dst);
  if (!src) return {{"error", "the egress port has no address"}};
  const uint32_t ip_len = 40 + icmp6::header_len + size;
  if (const uint32_t mtu = path_mtu6(dst, s, now); mtu && ip_len > mtu)
    return {{"src", src->str()}, {"local_error_mtu", mtu}};
  const uint32_t room = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  if (RTE_ETHER_HDR_LEN + ip_len > room)
    return {{"error", "size " + std::to_string(size) + " does not fit the packet buffers"}};
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  auto* p =
      m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(RTE_ETHER_HDR_LEN + ip_len)))
        : nullptr;
  if (!p) {
    rte_pktmbuf_free(m);
    return {{"error", "no packet buffer free"}};
  }
  uint8_t* ip = p + RTE_ETHER_HDR_LEN;
  std::memset(ip, 0, ip_len);
  ip[0] = 0x60;
  ip[4] = uint8_t((ip_len - 40) >> 8);
  ip[5] = uint8_t(ip_len - 40);
  ip[6] = icmp6::next_header;
  ip[7] = 64;
  std::memcpy(ip + 8, src->b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  uint8_t* ic = ip + 40;
  ic[0] = icmp6::echo_request;
  ic[4] = uint8_t(ident >> 8);
  ic[5] = uint8_t(ident);
  ic[6] = uint8_t(seq >> 8);
  ic[7] = uint8_t(seq);
  const uint64_t tsc = rte_rdtsc();
  std::memcpy(ic + icmp6::header_len, &tsc, std::min<size_t>(size, sizeof tsc));
  for (uint32_t i = sizeof tsc; i < size; ++i) ic[icmp6::header_len + i] = uint8_t(i);
  const uint16_t c = icmp6_checksum(*src, dst, ic, icmp6::header_len + size);
  ic[2] = uint8_t(c >> 8);
  ic[3] = uint8_t(c);
  output6(m, s->port, now);
  return {{"src", src->str()}};
}

std::shared_ptr<Control::PingSession> Control::ping_session(uint16_t ident) {
  std::lock_guard<std::mutex> g(ping_mu_);
  auto it = pings_.find(ident);
  return it == pings_.end() ? nullptr : it->second;
}

// An ICMPv6 echo reply or error addressed to the router: handed to the routerctl ping it
// answers (by ident; errors quote the request), and a Packet Too Big about any packet the
// router sent (the quoted source is one of its addresses) teaches a path MTU. Anything else
// is counted and dropped.
void Control::handle_icmp6_to_us(rte_mbuf* m, uint64_t now) {
  const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
  const size_t total = 40 + size_t(ip[4] << 8 | ip[5]);
  const uint8_t* ic = ip + 40;
  const Ipv6 from = Ipv6::from_bytes(ip + 8);
  PingEvent ev{};
  ev.v6 = true;
  ev.from6 = from;
  ev.ttl = ip[7];
  ev.type = ic[0];
  ev.code = ic[1];
  uint16_t ident;
  if (ic[0] == icmp6::echo_reply) {
    if (total < 40 + icmp6::header_len + 8) return drop(m, Drop::local_unhandled, m->port);
    ident = uint16_t(ic[4] << 8 | ic[5]);
    ev.seq = uint16_t(ic[6] << 8 | ic[7]);
    ev.reply = true;
    ev.bytes = uint32_t(total - 40);
    std::memcpy(&ev.tsc, ic + icmp6::header_len, 8);
  } else {
    // The quoted packet: its IPv6 header, then (for a ping) the echo header with ident and
    // sequence.
    const uint8_t* q = ic + icmp6::header_len;
    // As for IPv4 (RFC 4443 2.4 e is RFC 792's rule): only the quoted header says what an
    // error is about, and it must be a packet the router sent.
    if (total < 40 + icmp6::header_len + 40 || !local_address6(Ipv6::from_bytes(q + 8)))
      return drop(m, Drop::local_unhandled, m->port);
    event(Event::icmp_error_received);
    if (ic[0] == icmp6::packet_too_big) {
      const uint32_t mtu =
          uint32_t(ic[4]) << 24 | uint32_t(ic[5]) << 16 | uint32_t(ic[6]) << 8 | ic[7];
      learn_pmtu6(Ipv6::from_bytes(q + 24), mtu, from, now);
    }
    if (total < 40 + icmp6::header_len + 40 + 8 || q[6] != icmp6::next_header ||
        q[40] != icmp6::echo_request) {
      rte_pktmbuf_free(m);  // about another packet of ours: nothing waits for it
      return;
    }
    ident = uint16_t(q[44] << 8 | q[45]);
    ev.seq = uint16_t(q[46] << 8 | q[47]);
    ev.mtu6 = uint32_t(ic[4]) << 24 | uint32_t(ic[5]) << 16 | uint32_t(ic[6]) << 8 | ic[7];
  }
  if (auto sess = ping_session(ident)) sess->events.push(ev);
  rte_pktmbuf_free(m);
}

void Control::register_ping_commands(CommandTable& t) {
  t.caller<Verb::ping>();
}

}  // namespace routerd
