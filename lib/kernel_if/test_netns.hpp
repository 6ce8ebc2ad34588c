// test_netns (tests only): a network namespace of one test's own, removed at its end as
// `ip netns del` does (routerd itself never deletes one), and a skip for runs without root.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "kernel_if.hpp"

// Skips the rest of the test case, with a warning, unless the run is root's: namespaces and
// TAPs need it.
#define KIF_NEED_ROOT()                                                   \
  do {                                                                    \
    if (::geteuid() != 0) {                                               \
      WARN("SKIPPED: this test creates namespaces and TAPs: needs root"); \
      SUCCEED("skipped");                                                 \
      return;                                                             \
    }                                                                     \
  } while (0)

namespace routerd::kif::testing {

struct TestNs {
  std::string name;
  explicit TestNs(const char* tag) {
    static int n = 0;
    name = std::string("rtd-") + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
    ensure_netns(name);
  }
  ~TestNs() {
    const std::string path = "/run/netns/" + name;
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
  }
  TestNs(const TestNs&) = delete;
  TestNs& operator=(const TestNs&) = delete;
};

}  // namespace routerd::kif::testing
