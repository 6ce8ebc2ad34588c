// metrics: routerd's counters in the Prometheus text format, served over HTTP on a thread
// of its own. It reads them through routerctl's `stats` command, so scraping adds nothing to
// the fast path and sees the same numbers as routerctl. The HTTP server takes GET and HEAD
// without a body only, and bounds what each client may hold: connections, header bytes and
// the time to send a request or take an answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace routerd {

// The exposition (text format 0.0.4) of a `routerctl -j stats` answer: routerd_* metrics
// with HELP and TYPE lines, labels port, lcore, reason and event.
std::string prometheus_text(const nlohmann::json& stats);

// The endpoint's limits.
constexpr size_t kMetricsMaxConnections = 16;    // one more gets 503 and is closed
constexpr size_t kMetricsMaxHeaderBytes = 8192;  // request line and headers; more: 431
constexpr int kMetricsRequestMs = 5000;  // the whole request, from connect or the last answer
constexpr int kMetricsStallMs = 5000;    // an answer: some of it taken every 5 s...
constexpr int kMetricsAnswerMs = 30000;  // ...and all of it within 30 s
constexpr unsigned kMetricsKeepAliveRequests = 100;  // per connection, then it is closed

class MetricsServer {
 public:
  // Runs a routerctl command (argv) on the control thread and returns its JSON answer.
  using Call = std::function<nlohmann::json(const std::vector<std::string>& argv)>;

  // Binds ADDRESS:PORT (as validated by the config) and serves GET /metrics from a thread
  // of its own. Throws std::runtime_error naming the address when it cannot listen.
  MetricsServer(const std::string& listen, Call call);
  ~MetricsServer();  // stops the listener and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  struct Conn;
  void loop();
  void answer(Conn& c);  // the first request in c.in, complete: its response into c.out

  Call call_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: tells the loop to stop
  std::thread thread_;
};

}  // namespace routerd
