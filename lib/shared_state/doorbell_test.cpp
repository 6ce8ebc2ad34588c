#include "doorbell.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace routerd;

TEST_CASE("a doorbell kicks only a thread that announced its sleep", "[doorbell]") {
  Doorbell d;
  d.ring();  // nobody asleep: no write
  CHECK(d.wakeups() == 0);
  d.prepare();
  d.cancel();  // found work after all
  d.ring();
  CHECK(d.wakeups() == 0);
  d.prepare();
  d.ring();
  d.ring();  // the first one took the sleeper's announcement
  CHECK(d.wakeups() == 1);
  d.wait(10000);  // returns at once: the eventfd holds the kick
  d.wait(1);      // drained: this one times out
  CHECK(d.wakeups() == 1);
}

// A producer publishes work and rings; the consumer sleeps whenever it finds none. A lost
// wake-up would leave the consumer asleep with work waiting until its (long) timeout.
TEST_CASE("a doorbell loses no wake-up between a producer and a sleeper", "[doorbell]") {
  Doorbell d;
  std::atomic<uint64_t> produced{0};
  constexpr uint64_t kItems = 20000;
  constexpr int kTimeoutMs = 5000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kItems; ++i) {
      produced.store(i + 1, std::memory_order_relaxed);
      d.ring();
      if (i % 64 == 0) std::this_thread::yield();
    }
  });
  uint64_t consumed = 0, sleeps = 0, stalls = 0;
  while (consumed < kItems) {
    const uint64_t p = produced.load(std::memory_order_relaxed);
    if (p > consumed) {
      consumed = p;
      continue;
    }
    d.prepare();
    if (produced.load(std::memory_order_relaxed) > consumed) {
      d.cancel();
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    d.wait(kTimeoutMs);
    ++sleeps;
    // Woken by the timeout although work was published before it began: a lost wake-up.
    if (std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(kTimeoutMs))
      stalls += produced.load(std::memory_order_relaxed) > consumed;
  }
  producer.join();
  INFO(sleeps << " sleeps, " << d.wakeups() << " kicks");
  CHECK(consumed == kItems);
  CHECK(stalls == 0);
  CHECK(d.wakeups() <= sleeps + 1);  // at most one kick per sleep
}
