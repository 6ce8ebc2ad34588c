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
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "command.hpp"
#include "line_io.hpp"

namespace routerd {

namespace {

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
  // A socket file someone still answers on belongs to a running routerd: do not steal it.
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(probe);
    if (live) throw std::runtime_error(path + ": another routerd is listening on this socket");
  }
  unlink(path.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket: " + errstr());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0) {
    std::string e = errstr();
    close(listen_fd_);
    throw std::runtime_error(path + ": cannot listen: " + e);
  }
  chmod(path.c_str(), 0660);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
}

ApiServer::~ApiServer() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) spdlog::warn("api: cannot wake the server thread");
    thread_.join();
  }
  close(listen_fd_);
  close(wake_fd_);
  unlink(path_.c_str());
}

void ApiServer::start() {
  thread_ = std::thread([this] { loop(); });
}

void ApiServer::loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("api: poll: {}", errstr());
      return;
    }
    if (p[1].revents) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(fd);
    close(fd);
  }
}

void ApiServer::serve(int fd) {
  nlohmann::json resp;
  std::string line;
  // A client that connects and says nothing, or sends its request a byte at a time, must not
  // hold the socket for others: 5 s for the whole request line.
  if (!read_line(fd, line, 5000)) return;
  try {
    auto req = nlohmann::json::parse(line);
    if (!req.is_object() || !req.contains("argv") || !req["argv"].is_array())
      throw CommandError("bad request: expected {\"argv\": [...]}");
    std::vector<std::string> argv;
    for (const auto& a : req["argv"]) {
      if (!a.is_string()) throw CommandError("bad request: argv must hold strings");
      argv.push_back(a.get<std::string>());
    }
    resp = {{"ok", true}, {"data", handler_(argv)}};
  } catch (const nlohmann::json::exception&) {
    resp = {{"ok", false}, {"error", "bad request: not JSON"}};
  } catch (const CommandError& e) {
    resp = {{"ok", false}, {"error", e.what()}};
  } catch (const std::exception& e) {
    spdlog::error("api: internal error: {}", e.what());
    resp = {{"ok", false}, {"error", std::string("internal error: ") + e.what()}};
  }
  // Nor may one that never reads its answer: 5 s to take it.
  write_all(fd, resp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 5000);
}

nlohmann::json api_call(const std::string& path, const std::vector<std::string>& argv,
                        int timeout_ms) {
  sockaddr_un addr = make_addr(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + errstr());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string e = errstr();
    close(fd);
    throw std::runtime_error("cannot reach routerd at " + path + ": " + e);
  }
  std::string req = nlohmann::json{{"argv", argv}}.dump() + "\n";
  std::string line;
  bool ok = write_all(fd, req, timeout_ms) && read_line(fd, line, timeout_ms);
  close(fd);
  if (!ok) throw std::runtime_error("no answer from routerd at " + path);
  return nlohmann::json::parse(line);
}

}  // namespace routerd
