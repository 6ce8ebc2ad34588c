#include "metrics.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
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
      {"cache_hits", "routerd_route_cache_hits_total", "Lookups answered by the route cache."},
      {"cache_misses", "routerd_route_cache_misses_total",
       "Lookups through the cache that went to the FIB (stale ones included)."},
      {"cache_stale", "routerd_route_cache_stale_total",
       "Cache entries found but from an older generation."},
      {"cache_bypassed_bursts", "routerd_route_cache_bypassed_bursts_total",
       "Bursts looked up without the route cache."},
  };
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
  e.family("routerd_route_cache_decisions_total", "counter",
           "The worker's own choices to use the route cache or step aside.");
  for (const auto& w : workers) {
    e.sample(field(w, "cache_runs_on"), {{"lcore", lcore_of(w)}, {"choice", "on"}});
    e.sample(field(w, "cache_runs_off"), {{"lcore", lcore_of(w)}, {"choice", "off"}});
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
      {"fib_prefixes", "routerd_fib_prefixes", "gauge", "Prefixes installed in the FIB."},
      {"next_hops", "routerd_next_hops", "gauge", "Next-hop states in use."},
      {"neighbours", "routerd_neighbours", "gauge", "Neighbour (ARP) entries."},
      {"neighbour_queued", "routerd_neighbour_queued_packets", "gauge",
       "Packets waiting for ARP resolution."},
      {"punt_ring_used", "routerd_punt_ring_used", "gauge",
       "Entries waiting in the worker-to-control ring."},
      {"reclaim_pending", "routerd_reclaim_pending", "gauge",
       "Replaced objects waiting for an RCU grace period."},
      {"generation", "routerd_generation", "gauge",
       "The route generation counter (bumped once per committed change)."},
      {"commits", "routerd_commits_total", "counter", "Committed route/next-hop changes."},
      {"route_updates", "routerd_route_updates_total", "counter", "FIB prefix changes."},
      {"fragmented", "routerd_fragmented_packets_total", "counter",
       "Datagrams fragmented to fit the egress MTU."},
      {"fragments", "routerd_fragments_sent_total", "counter", "Fragments sent for them."},
  };
  for (const auto& m : kScalars) {
    e.family(m.name, m.type, m.help);
    e.sample(field(s, m.key));
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

MetricsServer::MetricsServer(const std::string& listen, Call call)
    : call_(std::move(call)), http_(std::make_unique<httplib::Server>()) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const int port = std::stoi(listen.substr(colon + 1));
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(prometheus_text(call_({"stats"})),
                      "text/plain; version=0.0.4; charset=utf-8");
    } catch (const std::exception& e) {
      res.status = 503;
      res.set_content(std::string("routerd: ") + e.what() + "\n", "text/plain");
    }
  });
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("routerd metrics: /metrics\n", "text/plain");
  });
  // Scrapes are one small request each: two threads are plenty and bound the cost.
  http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  // httplib sets SO_REUSEPORT by default, which would let a second routerd share the
  // port and split the scrapes between them: a taken address must be an error.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (!http_->bind_to_port(host, port))
    throw std::runtime_error("metrics_listen " + listen + ": cannot listen (" +
                             std::strerror(errno) + ")");
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // stop() does nothing to a server not yet running, so the destructor could otherwise
  // wait forever on a listener that started just after it.
  for (int i = 0; i < 5000 && !http_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  spdlog::info("metrics: http://{}/metrics (Prometheus text format)", listen);
}

MetricsServer::~MetricsServer() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace routerd
