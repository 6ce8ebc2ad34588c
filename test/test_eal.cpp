#include "test_eal.hpp"

#include <rte_eal.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace routerd::testing {

void test_eal() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::string prefix = "routerd-unit-" + std::to_string(getpid());
    std::vector<std::string> args = {
        "unit-tests",  "--no-huge", "-m", "768", "--no-pci",      "--no-shconf", "--no-telemetry",
        "--log-level", "notice",    "-l", "0",   "--file-prefix", prefix};
    std::vector<char*> argv;
    argv.reserve(args.size());
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(int(argv.size()), argv.data()) < 0)
      throw std::runtime_error("test EAL init failed");
    std::atexit([] { rte_eal_cleanup(); });
  });
}

}  // namespace routerd::testing
