#include "isa.hpp"
#include "isa_probe_path.h"

#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace routerd;

TEST_CASE("isa: the CPU running the tests has what the build was compiled for", "[isa]") {
  // The constructor would have stopped the test binary otherwise; this says what was checked.
  INFO("built for: " << isa::names(isa::kBuiltFor)
                     << "; CPU has: " << isa::names(isa::cpu_supports()));
  CHECK((isa::kBuiltFor & ~isa::cpu_supports()) == 0);
  // DPDK's pkg-config flags (-march=corei7) imply SSE4.2 and POPCNT at the least.
  CHECK((isa::kBuiltFor & (1u << 4)) != 0);
  CHECK(isa::names(0).empty());
  CHECK(isa::names((1u << 0) | (1u << 4)) == "popcnt, sse4.2");
}

TEST_CASE("isa: a binary built for more than the CPU has stops before main, naming it", "[isa]") {
  if (isa::cpu_supports() & (1u << 25)) {
    WARN("this CPU has AVX-512ER (a Xeon Phi): the probe runs, nothing to see");
    return;
  }
  REQUIRE(std::filesystem::exists(ROUTERD_ISA_PROBE));
  FILE* p = popen(ROUTERD_ISA_PROBE " 2>&1", "r");
  REQUIRE(p);
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = pclose(p);
  INFO(out);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 1);
  CHECK(out.find("main ran") == std::string::npos);
  CHECK(out.find("this CPU does not have: avx512er (built for: ") != std::string::npos);
}
