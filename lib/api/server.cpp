#include "server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include "command.hpp"
#include "line_io.hpp"

namespace routerd {

namespace {

using Clock = std::chrono::steady_clock;

// A request line up to this size must arrive whole within kRequestMs; a larger one takes the
// large-request budget and gets kLargeRequestMs.
constexpr size_t kSmallRequestBytes = size_t(1) << 20;
constexpr int kRequestMs = 5000;
constexpr int kLargeRequestMs = 60000;
constexpr size_t kLargeBudgetBytes = 2 * kMaxRequestBytes;
// An answer: the client must take some of it every kStallMs, and all of it within kAnswerMs.
constexpr int kStallMs = 5000;
constexpr int kAnswerMs = 60000;

std::string errstr() {
  return std::strerror(errno);
}

sockaddr_un make_addr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw std::runtime_error(path + ": socket path too long");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

std::string mib(size_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

std::string error_line(const std::string& msg) {
  return nlohmann::json{{"ok", false}, {"error", msg}}.dump(
             -1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

// Writes an answer as it is serialised, a quarter MiB at a time, so that a full-table
// `route show` is never a second copy in memory as one string.
class AnswerWriter {
 public:
  explicit AnswerWriter(int fd)
      : fd_(fd), deadline_(Clock::now() + std::chrono::milliseconds(kAnswerMs)) {}
  bool ok() const { return ok_; }
  void put(std::string_view s) {
    if (!ok_) return;
    buf_ += s;
    if (buf_.size() >= (256 << 10)) flush();
  }
  void put_json(const nlohmann::json& j, int depth = 0) {
    // The answer and its data are written member by member; deeper values whole.
    if (depth < 2 && j.is_array()) {
      put("[");
      bool first = true;
      for (const auto& e : j) {
        if (!ok_) return;
        if (!first) put(",");
        first = false;
        put_json(e, depth + 1);
      }
      put("]");
    } else if (depth < 2 && j.is_object()) {
      put("{");
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!ok_) return;
        if (!first) put(",");
        first = false;
        put(dump(nlohmann::json(k)));
        put(":");
        put_json(v, depth + 1);
      }
      put("}");
    } else {
      put(dump(j));
    }
  }
  bool flush() {
    if (ok_ && !buf_.empty()) ok_ = write_all(fd_, buf_, kStallMs, deadline_);
    buf_.clear();
    return ok_;
  }

 private:
  static std::string dump(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  int fd_;
  Clock::time_point deadline_;
  std::string buf_;
  bool ok_ = true;
};

// Logs at most one line per 10 s for a condition that may repeat at the accept rate.
class LimitedLog {
 public:
  template <class... A>
  void warn(fmt::format_string<A...> f, A&&... a) {
    ++count_;
    const auto now = Clock::now();
    if (last_ != Clock::time_point{} && now - last_ < std::chrono::seconds(10)) return;
    spdlog::warn("api: {} ({} times since the last such line)",
                 fmt::format(f, std::forward<A>(a)...), count_);
    last_ = now;
    count_ = 0;
  }

 private:
  Clock::time_point last_{};
  uint64_t count_ = 0;
};

}  // namespace

ApiServer::ApiServer(const std::string& path, Handler handler)
    : path_(path), handler_(std::move(handler)) {
  sockaddr_un addr = make_addr(path);
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      throw std::runtime_error(dir.string() + ": cannot create socket directory: " + ec.message());
  }
  // routerd runs as root: it removes nothing at the path but its own stale socket. A socket
  // someone still answers on belongs to a running routerd; anything else is not ours.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error(path +
                               ": exists and is not a socket; refusing to replace it (remove it "
                               "or set another dataplane.socket)");
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) throw std::runtime_error("socket: " + errstr());
    const int rc = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    const int err = errno;
    close(probe);
    if (rc == 0) throw std::runtime_error(path + ": another routerd is listening on this socket");
    if (err != ECONNREFUSED)
      throw std::runtime_error(path + ": cannot tell whether the socket is in use (" +
                               std::strerror(err) + "); refusing to remove it");
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      throw std::runtime_error(path + ": cannot remove the stale socket: " + errstr());
  } else if (errno != ENOENT) {
    throw std::runtime_error(path + ": " + errstr());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket: " + errstr());
  // The file gets its mode at bind(): with a chmod after it, a connect() could slip in while
  // the socket had the umask's mode. The umask is the process's, so it is set back at once.
  const mode_t old_mask = umask(0117);
  const int bound = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  umask(old_mask);
  errno = bind_errno;
  if (bound != 0 || listen(listen_fd_, 64) != 0) {
    std::string e = errstr();
    close(listen_fd_);
    throw std::runtime_error(path + ": cannot listen: " + e);
  }
  if (lstat(path.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
}

ApiServer::~ApiServer() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) spdlog::warn("api: cannot wake the server thread");
    thread_.join();
  }
  {
    // Connection threads end at once on a shut-down socket, or when their command returns.
    std::unique_lock<std::mutex> g(mu_);
    for (int fd : conns_) shutdown(fd, SHUT_RDWR);
    idle_.wait(g, [this] { return conns_.empty(); });
  }
  close(listen_fd_);
  close(wake_fd_);
  // Only if the path is still the socket we made (not one a later routerd put there).
  struct stat st {};
  if (ino_ && lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    unlink(path_.c_str());
}

void ApiServer::start() {
  thread_ = std::thread([this] { loop(); });
}

void ApiServer::refuse(int fd, const std::string& why) {
  // One small line fits the socket buffer; a client that is not reading loses it.
  const std::string line = error_line(why);
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) return;
}

bool ApiServer::reserve_large(size_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  if (large_bytes_ + bytes > kLargeBudgetBytes) return false;
  large_bytes_ += bytes;
  return true;
}

void ApiServer::release_large(size_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  large_bytes_ -= bytes;
}

void ApiServer::loop() {
  LimitedLog full_log, fd_log;
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("api: poll: {}", errstr());
      return;
    }
    if (p[1].revents) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or memory: the connection stays queued and poll() would report it
      // again at once. Back off instead of spinning; the wake-up still ends the loop.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        fd_log.warn("accept: {}; retrying in 100 ms", errstr());
        pollfd w{wake_fd_, POLLIN, 0};
        if (poll(&w, 1, 100) > 0) return;
      }
      continue;
    }
    // Belt and braces: line_io never blocks, but nothing on this socket may wait longer.
    timeval tv{kStallMs / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (conns_.size() >= kMaxConnections) {
        full_log.warn("{} control connections open: refused one", conns_.size());
        refuse(fd, "routerd: too many control connections (" + std::to_string(kMaxConnections) +
                       " open); try again");
        close(fd);
        continue;
      }
      conns_.insert(fd);
    }
    auto finish = [this, fd] {
      // Closed under the lock, so the destructor never shuts down a reused descriptor.
      std::lock_guard<std::mutex> g(mu_);
      conns_.erase(fd);
      close(fd);
      idle_.notify_all();
    };
    try {
      std::thread([this, fd, finish] {
        serve(fd);
        finish();
      }).detach();
    } catch (const std::system_error& e) {
      refuse(fd, std::string("routerd: cannot serve the connection: ") + e.what());
      finish();
    }
  }
}

void ApiServer::serve(int fd) {
  nlohmann::json resp;
  std::vector<std::string> argv;
  {
    std::string line;
    // A client that connects and says nothing, or sends its request a byte at a time, holds
    // one connection for 5 s at most.
    ReadResult r = read_line(fd, line, kRequestMs, kSmallRequestBytes);
    size_t reserved = 0;
    if (r == ReadResult::too_large) {
      // A batch: memory for it comes from a budget shared by all connections.
      if (!reserve_large(kMaxRequestBytes)) {
        refuse(fd, "routerd: busy reading other large requests; try again");
        return;
      }
      reserved = kMaxRequestBytes;
      r = read_line(fd, line, kLargeRequestMs, kMaxRequestBytes);
    }
    struct Release {
      ApiServer* s;
      size_t n;
      ~Release() {
        if (n) s->release_large(n);
      }
    } release{this, reserved};
    if (r == ReadResult::too_large) {
      refuse(fd, "request larger than " + mib(kMaxRequestBytes) +
                     " (the control socket's limit; split the batch)");
      return;
    }
    if (r != ReadResult::line) return;
    try {
      auto req = nlohmann::json::parse(line);
      line = std::string();
      if (!req.is_object() || !req.contains("argv") || !req["argv"].is_array())
        throw CommandError("bad request: expected {\"argv\": [...]}");
      argv.reserve(req["argv"].size());
      for (auto& a : req["argv"]) {
        if (!a.is_string()) throw CommandError("bad request: argv must hold strings");
        argv.push_back(std::move(a.get_ref<std::string&>()));
      }
    } catch (const nlohmann::json::exception&) {
      resp = {{"ok", false}, {"error", "bad request: not JSON"}};
    } catch (const CommandError& e) {
      resp = {{"ok", false}, {"error", e.what()}};
    }
  }
  if (resp.is_null()) {
    try {
      resp = {{"ok", true}, {"data", handler_(argv)}};
    } catch (const CommandError& e) {
      resp = {{"ok", false}, {"error", e.what()}};
    } catch (const std::exception& e) {
      spdlog::error("api: internal error: {}", e.what());
      resp = {{"ok", false}, {"error", std::string("internal error: ") + e.what()}};
    }
  }
  argv = {};
  // Nor may one that never reads its answer hold it: 5 s per stall, 60 s in all.
  AnswerWriter w(fd);
  w.put_json(resp);
  w.put("\n");
  w.flush();
}

nlohmann::json api_call(const std::string& path, const std::vector<std::string>& argv,
                        int timeout_ms) {
  sockaddr_un addr = make_addr(path);
  auto refuse = [](const std::string& size) {
    return std::runtime_error("the request is " + size + "; routerd takes at most " +
                              mib(kMaxRequestBytes) + " per request (split the batch)");
  };
  // The words alone (each quoted, comma after) say whether the JSON can fit: a batch far too
  // large is refused without first encoding all of it.
  size_t least = sizeof "{\"argv\":[]}\n" - 1;
  for (const auto& w : argv) least += w.size() + 3;
  if (least > kMaxRequestBytes + 1) throw refuse("at least " + mib(least - 1));
  std::string req = nlohmann::json{{"argv", argv}}.dump() + "\n";
  if (req.size() > kMaxRequestBytes) throw refuse(mib(req.size()));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + errstr());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string e = errstr();
    close(fd);
    throw std::runtime_error("cannot reach routerd at " + path + ": " + e);
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // routerd may refuse before it reads (too many connections): its answer is read even
  // when the request could not be sent whole.
  write_all(fd, req, timeout_ms, deadline);
  req = std::string();
  std::string line;
  const ReadResult r = read_line(fd, line, timeout_ms, kMaxAnswerBytes);
  close(fd);
  switch (r) {
    case ReadResult::line:
      break;
    case ReadResult::too_large:
      throw std::runtime_error("the answer from routerd at " + path + " is larger than " +
                               mib(kMaxAnswerBytes));
    case ReadResult::timed_out:
      throw std::runtime_error("no answer from routerd at " + path + " within " +
                               std::to_string(timeout_ms / 1000) + " s");
    default:
      throw std::runtime_error("no answer from routerd at " + path + " (it closed the connection)");
  }
  return nlohmann::json::parse(line);
}

}  // namespace routerd
