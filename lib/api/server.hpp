// api/server: the control socket. One request per connection: a JSON line
// {"argv": [...]} in, a JSON line {"ok": true, "data": ...} or {"ok": false, "error": "..."}
// out. Runs on its own thread and never touches forwarding state itself.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace routerd {

class ApiServer {
 public:
  // Throws CommandError for a bad request; any other exception is reported as an internal
  // error without stopping the server.
  using Handler = std::function<nlohmann::json(const std::vector<std::string>& argv)>;

  // Binds and listens (refusing a path another live process is listening on); the thread
  // starts with start().
  ApiServer(const std::string& path, Handler handler);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  void start();
  const std::string& path() const { return path_; }

 private:
  void loop();
  void serve(int fd);

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: tells the loop to stop
  std::thread thread_;
};

// Client side, used by routerctl and tests: sends argv, returns the parsed response.
// Throws std::runtime_error when the daemon cannot be reached.
nlohmann::json api_call(const std::string& path, const std::vector<std::string>& argv,
                        int timeout_ms = 60000);

}  // namespace routerd
