// api/server: the control socket. One request per connection: a JSON line
// {"argv": [...]} in, a JSON line {"ok": true, "data": ...} or {"ok": false, "error": "..."}
// out. Connections are served concurrently (at most kMaxConnections, each with deadlines), so
// a stalled or slow client delays nobody else; the handler serialises what must be serial.
#pragma once

#include <sys/types.h>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace routerd {

// Connections served at once; one more is answered with an error and closed.
constexpr size_t kMaxConnections = 64;
// The largest request (a batch of kMaxBatchLines typical lines fits); requests above 1 MiB
// also share a budget of twice this over all connections.
constexpr size_t kMaxRequestBytes = size_t(128) << 20;
// The largest answer api_call() takes (a full-table `route show` is about 90 MiB).
constexpr size_t kMaxAnswerBytes = size_t(1) << 30;

class ApiServer {
 public:
  // Throws CommandError for a bad request; any other exception is reported as an internal
  // error without stopping the server. Called from several connection threads at once.
  using Handler = std::function<nlohmann::json(const std::vector<std::string>& argv)>;

  // Binds and listens; the thread starts with start(). Refuses a path another live process
  // listens on, and anything at the path that is not a socket; only a stale socket (connect()
  // refused) is removed. The socket is created with mode 0660.
  ApiServer(const std::string& path, Handler handler);
  ~ApiServer();  // closes every connection and waits for their threads
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  void start();
  const std::string& path() const { return path_; }

 private:
  void loop();
  void serve(int fd);
  void refuse(int fd, const std::string& why);
  bool reserve_large(size_t bytes);  // from the large-request budget; false when spent
  void release_large(size_t bytes);

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: tells the loop to stop
  dev_t dev_ = 0;     // the socket file we created: the destructor removes only that
  ino_t ino_ = 0;
  std::thread thread_;

  std::mutex mu_;  // guards what follows
  std::condition_variable idle_;
  std::set<int> conns_;  // connections being served, each by its own thread
  size_t large_bytes_ = 0;
};

// Client side, used by routerctl and tests: sends argv, returns the parsed response.
// Throws std::runtime_error when the daemon cannot be reached or the request or answer is
// larger than the limits above.
nlohmann::json api_call(const std::string& path, const std::vector<std::string>& argv,
                        int timeout_ms = 60000);

}  // namespace routerd
