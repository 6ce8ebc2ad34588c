// routerctl ping: echo requests the router sends itself (through the same output path as its
// ICMP errors, so path MTUs and redirects it learnt apply) and the replies or errors.
#include <rte_cycles.h>
#include <rte_ip.h>

#include <sys/random.h>

#include <cstring>
#include <thread>

#include "commands.hpp"
#include "control.hpp"
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
        if (ev.seq != seq) {
          ++ignored;
          continue;
        }
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
  // Whatever is still queued was never awaited either.
  for (PingEvent ev; sess->events.try_pop(ev);) ++ignored;
  ignored += sess->events.dropped();
  return {{"dst", r.addr.str()}, {"src", src.str()},       {"size", r.size},
          {"df", r.df},          {"transmitted", r.count}, {"received", received},
          {"ignored", ignored},  {"results", results}};
}

nlohmann::json Control::ping_send(uint16_t ident, uint16_t seq, Ipv4 dst, uint16_t size, bool df) {
  const uint64_t now = now_ms();
  const NextHopState* s = resolve(dst);
  if (!s) return {{"error", "no route to " + dst.str()}};
  if (s->kind == NhKind::local || s->kind == NhKind::broadcast)
    return {{"error", dst.str() + " is an address of this router or a broadcast"}};
  const Ipv4 first_hop = s->gateway.v ? s->gateway : dst;
  auto src = icmp_select_source(port_addresses(s->port), first_hop);
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

void Control::register_ping_commands(CommandTable& t) {
  t.caller<Verb::ping>();
}

}  // namespace routerd
