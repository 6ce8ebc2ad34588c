// metrics: routerd's counters in the Prometheus text format, served over HTTP
// (cpp-httplib) on its own thread. It reads them through routerctl's `stats` command,
// so scraping adds nothing to the fast path and sees the same numbers as routerctl.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace routerd {

// The exposition (text format 0.0.4) of a `routerctl -j stats` answer: routerd_* metrics
// with HELP and TYPE lines, labels port, lcore, reason and event.
std::string prometheus_text(const nlohmann::json& stats);

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
  Call call_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace routerd
