// Issue 13, defect 5: net_tap signals the process for every packet it receives, and a
// signal during poll() failed the request (12 of 172 `routerctl batch` calls under traffic).
#include "line_io.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace routerd;

namespace {

void on_usr1(int) {}

// A socket pair, and SIGUSR1 installed without SA_RESTART so that it interrupts poll().
struct Pair {
  int fd[2] = {-1, -1};
  struct sigaction old {};
  Pair() {
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0);
    struct sigaction sa {};
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
  }
  ~Pair() {
    sigaction(SIGUSR1, &old, nullptr);
    close(fd[0]);
    close(fd[1]);
  }
};

}  // namespace

TEST_CASE("a signal during the wait does not fail a read or a write", "[api]") {
  Pair p;
  std::string got;
  std::atomic<bool> ok{false}, done{false};
  std::thread reader([&] {
    ok = read_line(p.fd[0], got, 5000, 1 << 20) == ReadResult::line;
    done = true;
  });
  // Signals while the reader waits, then the line.
  for (int i = 0; i < 20 && !done; ++i) {
    pthread_kill(reader.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(write_all(p.fd[1], "{\"argv\": [\"stats\"]}\nrest", 1000));
  reader.join();
  CHECK(ok);
  CHECK(got == "{\"argv\": [\"stats\"]}");
}

TEST_CASE("a peer dribbling its line is cut off at the deadline for the whole line", "[api]") {
  Pair p;
  std::atomic<bool> stop{false};
  std::thread dribbler([&] {
    while (!stop) {
      if (write(p.fd[1], "x", 1) != 1) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::string got;
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = read_line(p.fd[0], got, 300, 1 << 20) == ReadResult::line;
  const auto waited = std::chrono::steady_clock::now() - t0;
  stop = true;
  dribbler.join();
  CHECK_FALSE(ok);
  // A byte every 20 ms would have kept a per-poll timeout waiting for ever.
  CHECK(waited < std::chrono::seconds(5));
}

TEST_CASE("a peer that never reads stops a write after the stall limit", "[api]") {
  Pair p;
  const std::string big(16 << 20, 'a');  // far more than the socket buffers hold
  CHECK_FALSE(write_all(p.fd[0], big, 200));
}
