// The FPM server (issue 16 part 2): FRR's zebra (dplane_fpm_nl) connects to
// control_plane.fpm_listen in the control namespace and streams its RIB's winners. Routes
// become daemon routes (proto bgp, ospf, ...) in routerd's RIB, applied in one batch per poll
// (one commit, one generation bump), never over the router's own connected or static
// routes: those win, and a daemon route they hide comes back when they go. zebra replays
// everything on connect without an end marker, so on reconnect what it held is marked
// stale and swept once the replay has been quiet for fpm_sweep_s.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "control.hpp"
#include "fpm.hpp"
#include "kernel_if.hpp"
#include "route_feed.hpp"

namespace routerd {

struct Control::Fpm {
  int listen_fd = -1, client_fd = -1;
  std::string listen, peer;
  uint64_t since_ms = 0, disconnected_ms = 0;
  fpm::FrameReader reader;
  RouteFeed feed{"fpm"};
  uint64_t connects = 0, refused = 0, frames = 0, errors = 0;
  ~Fpm() {
    if (client_fd >= 0) close(client_fd);
    if (listen_fd >= 0) close(listen_fd);
  }
};

void Control::FpmFree::operator()(Fpm* f) const {
  delete f;
}

void Control::fpm_init(const Config& cfg) {
  fpm_sweep_ms_ = uint64_t(cfg.fpm_sweep_s) * 1000;
  fpm_hold_ms_ = uint64_t(cfg.fpm_hold_s) * 1000;
  if (cfg.fpm_listen.empty()) return;
  const std::optional<Endpoint> e = parse_endpoint(cfg.fpm_listen);
  if (!e) throw std::runtime_error("control_plane.fpm_listen: bad endpoint " + cfg.fpm_listen);
  std::unique_ptr<Fpm, FpmFree> f(new Fpm);
  f->listen = cfg.fpm_listen;
  int err = 0;
  // The socket belongs to the namespace it is made in: zebra there reaches it.
  kif::in_netns(cfg.cp_netns, [&] {
    const int fd =
        socket(e->family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      return;
    }
    f->listen_fd = fd;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (e->family == 6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(e->port);
      std::memcpy(&a->sin6_addr, e->addr6.b.data(), 16);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(e->port);
      a->sin_addr.s_addr = htonl(e->addr4.v);
      len = sizeof *a;
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 4) != 0) err = errno;
  });
  if (err != 0)
    throw std::runtime_error("control_plane.fpm_listen: cannot listen on " + cfg.fpm_listen + ": " +
                             std::strerror(err));
  spdlog::info("fpm: listening on {}{}", cfg.fpm_listen,
               cfg.cp_netns.empty() ? "" : " in namespace " + cfg.cp_netns);
  fpm_ = std::move(f);
  feed_ = &fpm_->feed;
  fpm_fds();
}

void Control::fpm_fds() {
  kernel_fds_.clear();
  if (kifs_)
    for (size_t i = 0; kernel_mirrors(i); ++i) kernel_fds_.push_back(kernel_fd(i));
  if (fpm_) {
    kernel_fds_.push_back(fpm_->listen_fd);
    if (fpm_->client_fd >= 0) kernel_fds_.push_back(fpm_->client_fd);
  }
  if (mirror_) kernel_fds_.push_back(mirror_fd());
}

// ---------------------------------------------------------------- the connection

void Control::fpm_close(const std::string& why) {
  close(fpm_->client_fd);
  fpm_->client_fd = -1;
  fpm_->reader = fpm::FrameReader();
  fpm_->disconnected_ms = now_ms();
  spdlog::warn("fpm: {} {}: keeping its {} IPv4 and {} IPv6 routes until it reconnects", fpm_->peer,
               why, feed_->routes4.size(), feed_->routes6.size());
  fpm_fds();
}

bool Control::fpm_poll(uint64_t now) {
  if (!fpm_) return false;
  bool busy = false;
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = accept4(fpm_->listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    busy = true;
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (ss.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    const std::string peer = std::string(host) + ":" + std::to_string(port);
    if (fpm_->client_fd >= 0) {
      // One zebra at a time: a second would replay over the first's routes.
      ++fpm_->refused;
      spdlog::warn("fpm: refused {}: {} is connected", peer, fpm_->peer);
      close(fd);
      continue;
    }
    fpm_->client_fd = fd;
    fpm_->peer = peer;
    fpm_->since_ms = now;
    feed_->last_msg_ms = now;
    ++fpm_->connects;
    // zebra replays everything and says nothing of what vanished while it was away.
    feed_->mark_stale();
    spdlog::info("fpm: {} connected; {} IPv4 and {} IPv6 routes held are stale until replayed",
                 peer, feed_->stale4.size(), feed_->stale6.size());
    fpm_fds();
  }
  if (fpm_->client_fd < 0) return busy;
  std::vector<fpm::Message> msgs;
  uint8_t buf[65536];
  // At most 16 reads a poll: the punt ring and the API get their turn between.
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = read(fpm_->client_fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      feed_apply(msgs, RT_TABLE_MAIN, now);
      fpm_close(n == 0 ? "closed the connection" : std::string("failed: ") + std::strerror(errno));
      return true;
    }
    if (n < 0) break;
    busy = true;
    try {
      fpm_->reader.feed(std::span<const uint8_t>(buf, size_t(n)),
                        [&](std::span<const uint8_t> payload) {
                          ++fpm_->frames;
                          fpm::decode_frame(payload, msgs);
                        });
    } catch (const fpm::FpmError& e) {
      // What came before the bad frame is applied; the bad frame changes nothing.
      ++fpm_->errors;
      feed_->last_error = e.what();
      feed_apply(msgs, RT_TABLE_MAIN, now);
      fpm_close(std::string("sent a malformed frame (") + e.what() + ")");
      return true;
    }
  }
  feed_apply(msgs, RT_TABLE_MAIN, now);
  return busy;
}

// Every tick: the sweep after a replay, and the hold time without zebra.
void Control::fpm_tick(uint64_t now) {
  if (!fpm_) return;
  if (feed_->resync && fpm_->client_fd >= 0 && now - feed_->last_msg_ms >= fpm_sweep_ms_) {
    const size_t n = feed_remove(true, now);
    spdlog::info("fpm: replay from {} complete; {} routes it did not replay removed", fpm_->peer,
                 n);
  } else if (fpm_->client_fd < 0 && fpm_hold_ms_ != 0 && fpm_->disconnected_ms != 0 &&
             now - fpm_->disconnected_ms >= fpm_hold_ms_ &&
             !(feed_->routes4.empty() && feed_->routes6.empty())) {
    const size_t n = feed_remove(false, now);
    spdlog::warn("fpm: no zebra for {} s (fpm_hold_s): its {} routes removed", fpm_hold_ms_ / 1000,
                 n);
  }
}

bool Control::feed_connected() const {
  return !fpm_ || fpm_->client_fd >= 0;
}

nlohmann::json Control::fpm_json() const {
  if (!fpm_) return nullptr;
  nlohmann::json j = {
      {"listen", fpm_->listen},
      {"connected", fpm_->client_fd >= 0},
      {"peer", fpm_->client_fd >= 0 ? nlohmann::json(fpm_->peer) : nlohmann::json(nullptr)},
      {"connected_for_s", fpm_->client_fd >= 0 ? (now_ms() - fpm_->since_ms) / 1000 : 0},
      {"connects", fpm_->connects},
      {"refused", fpm_->refused},
      {"frames", fpm_->frames},
      {"errors", fpm_->errors}};
  j.update(feed_json());
  return j;
}

template <>
nlohmann::json Control::handle<Verb::fpm_show>(const Request&) {
  if (!fpm_) throw CommandError("fpm show: no FPM server (control_plane.fpm_listen is not set)");
  return fpm_json();
}

void Control::register_fpm_commands(CommandTable& t) {
  t.control<Verb::fpm_show>();
}

}  // namespace routerd
