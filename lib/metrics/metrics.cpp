#include "metrics.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

namespace routerd {

using nlohmann::json;

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return "";
}

// Metric families in the order first declared, each with its samples.
class Exposition {
 public:
  void family(const std::string& name, const char* type, const char* help) {
    cur_ = name;
    if (!out_.count(name)) {
      out_[name] = fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
      order_.push_back(name);
    }
  }
  // A sample of the current family; labels as {"port", "p0"} pairs. Non-numbers are skipped.
  void sample(const json& v,
              std::initializer_list<std::pair<const char*, std::string>> labels = {}) {
    std::string n = number(v);
    if (n.empty()) return;
    std::string l;
    for (const auto& [k, val] : labels)
      l += fmt::format("{}{}=\"{}\"", l.empty() ? "" : ",", k, escape_label(val));
    out_[cur_] += cur_ + (l.empty() ? "" : "{" + l + "}") + " " + n + "\n";
  }
  std::string str() const {
    std::string s;
    for (const auto& n : order_) s += out_.at(n);
    return s;
  }

 private:
  std::string cur_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> out_;
};

const json& field(const json& j, const char* k) {
  static const json null;
  return j.is_object() && j.contains(k) ? j[k] : null;
}

}  // namespace

std::string prometheus_text(const json& s) {
  Exposition e;
  // A counter of the stats JSON (key) and the metric family it becomes.
  struct Metric {
    const char* key;
    const char* name;
    const char* help;
  };
  static constexpr Metric kPort[] = {
      {"rx_packets", "routerd_port_rx_packets_total", "Packets routerd received on the port."},
      {"tx_packets", "routerd_port_tx_packets_total", "Packets routerd sent on the port."},
      {"tx_originated", "routerd_port_tx_originated_packets_total",
       "Of the packets sent, those the router made itself (ARP, NDP, ICMP, RAs)."},
      {"dropped", "routerd_port_dropped_packets_total",
       "Packets received on the port that routerd dropped (any reason)."},
  };
  static constexpr Metric kHw[] = {
      {"ipackets", "routerd_device_rx_packets_total", "Packets the device received (ethdev)."},
      {"opackets", "routerd_device_tx_packets_total", "Packets the device sent (ethdev)."},
      {"ibytes", "routerd_device_rx_bytes_total", "Bytes the device received (ethdev)."},
      {"obytes", "routerd_device_tx_bytes_total", "Bytes the device sent (ethdev)."},
      {"imissed", "routerd_device_rx_missed_total",
       "Packets the device dropped because routerd's RX queues were full (ethdev)."},
      {"ierrors", "routerd_device_rx_errors_total", "Erroneous received packets (ethdev)."},
      {"oerrors", "routerd_device_tx_errors_total", "Failed transmissions (ethdev)."},
      {"rx_nombuf", "routerd_device_rx_nombuf_total", "RX mbuf allocation failures (ethdev)."},
  };
  const json& ports = field(s, "ports");
  for (const auto& m : kPort) {
    e.family(m.name, "counter", m.help);
    for (const auto& p : ports)
      e.sample(field(p, m.key), {{"port", field(p, "name").get<std::string>()}});
  }
  for (const auto& m : kHw) {
    e.family(m.name, "counter", m.help);
    for (const auto& p : ports)
      e.sample(field(field(p, "hw"), m.key), {{"port", field(p, "name").get<std::string>()}});
  }
  // How each port receives multicast (routerctl link show): an info-style gauge, 1 for the
  // mode in effect, and the number of groups routerd wants.
  e.family("routerd_port_multicast_mode", "gauge",
           "1 for how the port receives multicast: filter (exact), allmulticast, promiscuous or "
           "none (left to the device).");
  for (const auto& p : ports)
    if (const json& mode = field(field(p, "multicast"), "mode"); mode.is_string())
      e.sample(1,
               {{"port", field(p, "name").get<std::string>()}, {"mode", mode.get<std::string>()}});
  e.family("routerd_port_multicast_groups", "gauge",
           "Link-layer multicast groups routerd receives on the port (IPv6 all-nodes, "
           "all-routers and the solicited-node group of each address).");
  for (const auto& p : ports)
    e.sample(field(field(p, "multicast"), "groups"),
             {{"port", field(p, "name").get<std::string>()}});
  // What RSS hashes on (routerctl link show): 1 per port and hash type; none without RSS.
  // And the families whose hash ECMP takes instead of its own.
  e.family("routerd_port_rss_hash_type", "gauge",
           "1 for each RSS hash type the port's device uses (no sample: no RSS, so one RX queue "
           "takes everything and ECMP hashes each packet itself).");
  for (const auto& p : ports)
    if (const json& types = field(field(p, "rss"), "types"); types.is_array())
      for (const auto& t : types)
        if (t.is_string())
          e.sample(1,
                   {{"port", field(p, "name").get<std::string>()}, {"type", t.get<std::string>()}});
  e.family("routerd_port_ecmp_rss", "gauge",
           "1 for each family (4, 6) whose NIC RSS hash ECMP takes on the port instead of "
           "computing its own (ecmp.use_rss, and a hash that covers TCP and UDP ports).");
  for (const auto& p : ports)
    if (const json& fams = field(field(p, "rss"), "ecmp"); fams.is_array())
      for (const auto& f : fams)
        if (f.is_number_integer())
          e.sample(1, {{"port", field(p, "name").get<std::string>()},
                       {"family", std::to_string(f.get<int>())}});

  e.family("routerd_dropped_packets_total", "counter", "Packets routerd dropped, by reason.");
  for (const auto& [k, v] : field(s, "drops").items()) e.sample(v, {{"reason", k}});
  e.family("routerd_punted_packets_total", "counter",
           "Packets the workers handed to the control thread, by reason.");
  for (const auto& [k, v] : field(s, "punts").items()) e.sample(v, {{"reason", k}});
  e.family("routerd_events_total", "counter",
           "Control-plane events (ARP, ICMP sent, neighbours, PMTU, redirects).");
  for (const auto& [k, v] : field(s, "events").items()) e.sample(v, {{"event", k}});

  static constexpr Metric kLcore[] = {
      {"polls", "routerd_lcore_polls_total", "Poll loop iterations of the worker lcore."},
      {"busy_polls", "routerd_lcore_busy_polls_total",
       "Poll loop iterations that received packets."},
  };
  // Keys without their prefix: "cache_" (IPv4) or "cache6_" (IPv6) per worker.
  static constexpr Metric kCache[] = {
      {"hits", "routerd_route_cache_hits_total", "Lookups answered by the route cache."},
      {"misses", "routerd_route_cache_misses_total",
       "Lookups through the cache that went to the FIB (stale ones included)."},
      {"stale", "routerd_route_cache_stale_total",
       "Cache entries found but from an older generation."},
      {"bypassed_bursts", "routerd_route_cache_bypassed_bursts_total",
       "Bursts looked up without the route cache."},
  };
  static constexpr std::pair<const char*, const char*> kCacheFamilies[] = {{"cache_", "ipv4"},
                                                                           {"cache6_", "ipv6"}};
  const json& workers = field(s, "workers");
  auto lcore_of = [](const json& w) {
    const json& l = field(w, "lcore");
    return l.is_number() ? std::to_string(l.get<uint64_t>())
                         : "worker" + std::to_string(field(w, "worker").get<uint64_t>());
  };
  for (const auto& m : kLcore) {
    e.family(m.name, "counter", m.help);
    for (const auto& w : workers) e.sample(field(w, m.key), {{"lcore", lcore_of(w)}});
  }
  auto cache_key = [](const char* prefix, const char* key) { return std::string(prefix) + key; };
  for (const auto& m : kCache) {
    e.family(m.name, "counter", m.help);
    for (const auto& w : workers)
      for (const auto& [prefix, fam] : kCacheFamilies)
        e.sample(field(w, cache_key(prefix, m.key).c_str()),
                 {{"lcore", lcore_of(w)}, {"family", fam}});
  }
  e.family("routerd_route_cache_decisions_total", "counter",
           "The worker's own choices to use the route cache or step aside.");
  for (const auto& w : workers)
    for (const auto& [prefix, fam] : kCacheFamilies) {
      e.sample(field(w, cache_key(prefix, "runs_on").c_str()),
               {{"lcore", lcore_of(w)}, {"family", fam}, {"choice", "on"}});
      e.sample(field(w, cache_key(prefix, "runs_off").c_str()),
               {{"lcore", lcore_of(w)}, {"family", fam}, {"choice", "off"}});
    }
  e.family("routerd_route_cache_enabled", "gauge", "1 when the route cache is configured on.");
  e.sample(field(field(s, "route_cache"), "enabled"));

  struct Scalar {
    const char* key;
    const char* name;
    const char* type;
    const char* help;
  };
  static constexpr Scalar kScalars[] = {
      {"routes", "routerd_routes", "gauge", "Routes in the RIB (connected and static)."},
      {"routes_via_ipv6", "routerd_routes_via_ipv6", "gauge",
       "IPv4 routes with an IPv6 gateway (RFC 5549)."},
      {"fib_prefixes", "routerd_fib_prefixes", "gauge", "Prefixes installed in the FIB."},
      {"next_hops", "routerd_next_hops", "gauge", "Next-hop states in use."},
      {"neighbours", "routerd_neighbours", "gauge", "Neighbour (ARP) entries."},
      {"neighbour_queued", "routerd_neighbour_queued_packets", "gauge",
       "Packets waiting for ARP resolution."},
      {"routes6", "routerd_ipv6_routes", "gauge", "IPv6 routes in the RIB (connected and static)."},
      {"fib6_prefixes", "routerd_ipv6_fib_prefixes", "gauge",
       "Prefixes installed in the IPv6 FIB."},
      {"fib6_rebuilds", "routerd_ipv6_fib_rebuilds_total", "counter",
       "IPv6 FIB copies rebuilt to return DPDK 22.11's leaked tbl8 groups."},
      {"fib6_parallel_fills", "routerd_ipv6_fib_parallel_fills_total", "counter",
       "IPv6 table loads whose second FIB copy was filled on an idle lcore."},
      {"fib6_standby_behind", "routerd_ipv6_fib_standby_behind_ops", "gauge",
       "IPv6 FIB ops the copy workers left has yet to take (done while the control thread "
       "is idle)."},
      {"ecmp_groups", "routerd_ecmp_groups", "gauge", "ECMP next-hop groups in use."},
      {"ecmp_member_downs", "routerd_ecmp_member_downs_total", "counter",
       "Group members taken out of their buckets (gateway resolution failed)."},
      {"ecmp_member_ups", "routerd_ecmp_member_ups_total", "counter",
       "Group members put back into their buckets (gateway answered again)."},
      {"neighbours6", "routerd_ipv6_neighbours", "gauge", "IPv6 neighbour (NDP) entries."},
      {"neighbour6_queued", "routerd_ipv6_neighbour_queued_packets", "gauge",
       "Packets waiting for NDP resolution."},
      {"punt_ring_used", "routerd_punt_ring_used", "gauge",
       "Entries waiting in the worker-to-control ring."},
      {"reclaim_pending", "routerd_reclaim_pending", "gauge",
       "Replaced objects waiting for an RCU grace period."},
      {"generation", "routerd_generation", "gauge",
       "The route generation counter (bumped once per committed change)."},
      {"commits", "routerd_commits_total", "counter", "Committed route/next-hop changes."},
      {"route_updates", "routerd_route_updates_total", "counter", "FIB prefix changes."},
      {"fib_in_place", "routerd_fib_in_place_total", "counter",
       "IPv4 FIB batches written into the copy workers read (they freed no tbl8 group)."},
      {"fib_flips", "routerd_fib_flips_total", "counter",
       "IPv4 FIB batches published by switching workers to the other copy."},
      {"fib_standby_behind", "routerd_fib_standby_behind_ops", "gauge",
       "IPv4 FIB ops the copy workers left has yet to take (done while the control thread "
       "is idle)."},
      {"fragmented", "routerd_fragmented_packets_total", "counter",
       "Datagrams fragmented to fit the egress MTU."},
      {"fragments", "routerd_fragments_sent_total", "counter", "Fragments sent for them."},
  };
  for (const auto& m : kScalars) {
    e.family(m.name, m.type, m.help);
    e.sample(field(s, m.key));
  }

  const json& mem = field(s, "memory");
  e.family("routerd_resident_memory_bytes", "gauge",
           "Resident memory of the process (DPDK's hugepages not included).");
  e.sample(field(mem, "resident_bytes"));
  e.family("routerd_heap_reserved_bytes", "gauge",
           "Heap faulted in at startup for table loads (dataplane.heap_reserve_mib).");
  e.sample(field(mem, "heap_reserved_bytes"));

  // Counted per member next hop, whichever of its groups picked it: one sample each, so a
  // sum over the samples counts every packet once.
  e.family("routerd_ecmp_member_packets_total", "counter",
           "Packets ECMP groups sent through each member next hop.");
  if (s.contains("ecmp")) {
    std::set<uint32_t> seen;
    for (const char* fam : {"ipv4", "ipv6"})
      for (const auto& g : s["ecmp"].value(fam, json::array()))
        for (const auto& m : g["members"])
          if (seen.insert(m.value("id", 0u)).second)
            e.sample(m["packets"], {{"family", fam == std::string("ipv4") ? "4" : "6"},
                                    {"via", m["via"].get<std::string>()},
                                    {"dev", m["dev"].get<std::string>()}});
  }
  // A routing daemon's feed (FPM or the kernel mirror), when one is configured.
  if (const json& f = field(s, "route_feed"); f.is_object()) {
    const std::string feed = f.value("feed", "");
    e.family("routerd_route_feed_connected", "gauge",
             "1 while the feed's source is connected (zebra over FPM; the kernel always).");
    e.sample(json(f.value("connected", false) ? 1 : 0), {{"feed", feed}});
    e.family("routerd_route_feed_routes", "gauge",
             "Routes the feed asked for (held) and those in the RIB and FIB (installed).");
    for (const char* state : {"held", "installed"})
      for (const char* fam : {"ipv4", "ipv6"})
        e.sample(
            field(field(f, state), fam),
            {{"feed", feed}, {"family", fam == std::string("ipv4") ? "4" : "6"}, {"state", state}});
    e.family("routerd_route_feed_stale_routes", "gauge",
             "Routes held from before a resync and not sent again yet.");
    e.sample(field(f, "stale"), {{"feed", feed}});
    static constexpr std::array<std::array<const char*, 3>, 5> kFeedCounters = {{
        {"batches", "routerd_route_feed_batches_total", "Batches of the feed's changes tried."},
        {"batch_failures", "routerd_route_feed_batch_failures_total",
         "Batches the FIB refused whole (then split to install what fits)."},
        {"routes_refused", "routerd_route_feed_routes_refused_total",
         "Routes the FIB refused on their own (no room): held, not installed."},
        {"unusable", "routerd_route_feed_unusable_total",
         "Routes the feed sent that routerd cannot use (docs/cli.md, fpm show)."},
        {"swept", "routerd_route_feed_swept_total", "Stale routes removed after a resync."},
    }};
    for (const auto& [key, name, help] : kFeedCounters) {
      e.family(name, "counter", help);
      e.sample(field(f, key), {{"feed", feed}});
    }
  }
  const json& inv = field(s, "invalidation");
  e.family("routerd_invalidation_latency_seconds", "gauge",
           "From a commit to every worker seeing its generation, over the last 8192 commits.");
  auto secs = [](const json& ns) { return ns.is_number() ? json(ns.get<double>() / 1e9) : json(); };
  e.sample(secs(field(inv, "p50_ns")), {{"quantile", "0.5"}});
  e.sample(secs(field(inv, "p99_ns")), {{"quantile", "0.99"}});
  e.sample(secs(field(inv, "max_ns")), {{"quantile", "1"}});
  e.family("routerd_invalidation_unobserved_total", "counter",
           "Commits some worker never reported seeing (its slot was overwritten first).");
  e.sample(field(inv, "unobserved"));
  return e.str();
}

// ---------------------------------------------------------------- the HTTP endpoint

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

std::string response(int status, const char* reason, const std::string& type,
                     const std::string& body, bool keep_alive, bool head = false,
                     const char* extra = "") {
  std::string r = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n{}\r\n",
      status, reason, type, body.size(), keep_alive ? "keep-alive" : "close", extra);
  if (!head) r += body;
  return r;
}

std::string plain(int status, const char* reason, const std::string& body) {
  return response(status, reason, "text/plain", body, false);
}

// Logs at most one line per 10 s for a condition that may repeat at the accept rate.
struct LimitedLog {
  Clock::time_point last{};
  uint64_t count = 0;
  void warn(const std::string& what) {
    ++count;
    const auto now = Clock::now();
    if (last != Clock::time_point{} && now - last < std::chrono::seconds(10)) return;
    spdlog::warn("metrics: {} ({} times since the last such line)", what, count);
    last = now;
    count = 0;
  }
};

}  // namespace

struct MetricsServer::Conn {
  int fd;
  std::string in, out;
  size_t sent = 0;
  Clock::time_point deadline;  // reading: the request's; writing: the answer's
  Clock::time_point stall;     // writing: when the client must have taken more
  unsigned served = 0;
  bool close_after = false;
  ~Conn() { close(fd); }
};

MetricsServer::MetricsServer(const std::string& listen, Call call) : call_(std::move(call)) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const int port = std::stoi(listen.substr(colon + 1));
  auto fail = [&](const std::string& e) {
    if (listen_fd_ >= 0) close(listen_fd_);
    throw std::runtime_error("metrics_listen " + listen + ": cannot listen (" + e + ")");
  };
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) fail("not an IPv4 address");
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) fail(std::strerror(errno));
  // SO_REUSEADDR only: SO_REUSEPORT would let a second routerd share the port and split the
  // scrapes between them, and a taken address must be an error.
  int yes = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 64) != 0)
    fail(std::strerror(errno));
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) fail(std::strerror(errno));
  thread_ = std::thread([this] { loop(); });
  spdlog::info("metrics: http://{}/metrics (Prometheus text format)", listen);
}

MetricsServer::~MetricsServer() {
  uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof one) < 0) spdlog::warn("metrics: cannot wake the thread");
  if (thread_.joinable()) thread_.join();
  close(wake_fd_);
  close(listen_fd_);
}

void MetricsServer::answer(Conn& c) {
  const size_t end = c.in.find("\r\n\r\n");
  std::istringstream head(c.in.substr(0, end));
  c.in.erase(0, end + 4);
  std::string line, method, target, version;
  std::getline(head, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::istringstream rl(line);
  rl >> method >> target >> version;
  if (method.empty() || target.empty() || version.rfind("HTTP/1.", 0) != 0) {
    c.out = plain(400, "Bad Request", "bad request line\n");
    c.close_after = true;
    return;
  }
  std::map<std::string, std::string> h;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon != std::string::npos)
      h[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  // The endpoint takes no request bodies: one is refused before a byte of it is read.
  if (h.count("transfer-encoding") || (h.count("content-length") && h["content-length"] != "0")) {
    c.out = plain(413, "Payload Too Large", "routerd metrics: requests carry no body\n");
    c.close_after = true;
    return;
  }
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    c.out = response(405, "Method Not Allowed", "text/plain", "GET or HEAD only\n", false, false,
                     "Allow: GET, HEAD\r\n");
    c.close_after = true;
    return;
  }
  ++c.served;
  const std::string conn = lower(h["connection"]);
  const bool keep = c.served < kMetricsKeepAliveRequests &&
                    (version == "HTTP/1.1" ? conn != "close" : conn == "keep-alive");
  c.close_after = !keep;
  const std::string path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    try {
      c.out = response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                       prometheus_text(call_({"stats"})), keep, head_only);
    } catch (const std::exception& e) {
      c.out = response(503, "Service Unavailable", "text/plain",
                       std::string("routerd: ") + e.what() + "\n", keep, head_only);
    }
  } else if (path == "/") {
    c.out = response(200, "OK", "text/plain", "routerd metrics: /metrics\n", keep, head_only);
  } else {
    c.out = response(404, "Not Found", "text/plain", "not found; try /metrics\n", keep, head_only);
  }
}

// One thread, non-blocking sockets, poll(): a client that is slow to send or to read holds
// its own connection until its deadline, never the thread.
void MetricsServer::loop() {
  std::vector<std::unique_ptr<Conn>> conns;
  Clock::time_point accept_after{};  // back-off after accept() ran out of descriptors
  LimitedLog full_log, fd_log;
  for (;;) {
    const auto now = Clock::now();
    std::vector<pollfd> p;
    p.push_back({wake_fd_, POLLIN, 0});
    p.push_back({now >= accept_after ? listen_fd_ : -1, POLLIN, 0});
    auto next = now + std::chrono::seconds(60);
    if (now < accept_after) next = std::min(next, accept_after);
    for (const auto& c : conns) {
      const bool writing = c->sent < c->out.size();
      p.push_back({c->fd, short(writing ? POLLOUT : POLLIN), 0});
      next = std::min(next, writing ? std::min(c->deadline, c->stall) : c->deadline);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    if (poll(p.data(), p.size(), int(std::max<long long>(wait, 0) + 1)) < 0 && errno != EINTR) {
      spdlog::error("metrics: poll: {}", std::strerror(errno));
      return;
    }
    if (p[0].revents) return;
    const auto t = Clock::now();
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = *conns[i];
      const short ev = p[i + 2].revents;
      bool drop = false;
      if (c.sent < c.out.size()) {
        if (ev & (POLLOUT | POLLERR | POLLHUP)) {
          const ssize_t n =
              send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n > 0) {
            c.sent += size_t(n);
            c.stall = t + std::chrono::milliseconds(kMetricsStallMs);
          } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            drop = true;
          }
        }
        if (c.sent == c.out.size()) {
          if (c.close_after) {
            drop = true;
          } else {  // keep-alive: the next request gets its own deadline
            c.out.clear();
            c.sent = 0;
            c.deadline = t + std::chrono::milliseconds(kMetricsRequestMs);
          }
        } else if (t >= c.stall || t >= c.deadline) {
          drop = true;
        }
      } else if (ev & (POLLIN | POLLERR | POLLHUP)) {
        char buf[4096];
        const ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) drop = true;
        if (n > 0) c.in.append(buf, size_t(n));
      }
      // A complete request (perhaps pipelined behind the last one) is answered at once.
      if (!drop && c.out.empty()) {
        if (c.in.find("\r\n\r\n") != std::string::npos) {
          answer(c);
          c.deadline = t + std::chrono::milliseconds(kMetricsAnswerMs);
          c.stall = t + std::chrono::milliseconds(kMetricsStallMs);
        } else if (c.in.size() > kMetricsMaxHeaderBytes) {
          c.out = plain(431, "Request Header Fields Too Large", "request headers too large\n");
          c.close_after = true;
          c.deadline = t + std::chrono::milliseconds(kMetricsAnswerMs);
          c.stall = t + std::chrono::milliseconds(kMetricsStallMs);
        } else if (t >= c.deadline) {
          drop = true;  // idle, or too slow to send its request
        }
      }
      if (drop) {
        conns.erase(conns.begin() + long(i));
        p.erase(p.begin() + long(i) + 2);
        --i;
      }
    }
    if (!(p[1].revents & POLLIN)) continue;
    for (int k = 0; k < 64; ++k) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        // Out of descriptors, the connection stays queued and poll() would report it again at
        // once: leave the listener alone for 100 ms instead of spinning.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          fd_log.warn(std::string("accept: ") + std::strerror(errno) + "; retrying in 100 ms");
          accept_after = Clock::now() + std::chrono::milliseconds(100);
        }
        break;
      }
      if (conns.size() >= kMetricsMaxConnections) {
        full_log.warn(std::to_string(conns.size()) + " connections open: refused one");
        const std::string r =
            plain(503, "Service Unavailable", "routerd metrics: too many connections; try again\n");
        if (send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
          // a client that cannot take 100 bytes loses the reason, not the refusal
        }
        close(fd);
        continue;
      }
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->deadline = Clock::now() + std::chrono::milliseconds(kMetricsRequestMs);
      conns.push_back(std::move(c));
    }
  }
}

}  // namespace routerd
