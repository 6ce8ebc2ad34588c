// Compiled for the baseline x86-64 (meson.build overrides -march for this file alone): it
// runs before anything built for more, as the first constructor, and must not use more.
#include <cstdio>
#include <cstdlib>

#include "isa.hpp"

namespace routerd::isa {

uint32_t cpu_supports() {
  __builtin_cpu_init();
#define ROUTERD_ISA_HAS(name) __builtin_cpu_supports(name),
  const int has[] = {ROUTERD_ISA_FEATURES(ROUTERD_ISA_HAS)};
#undef ROUTERD_ISA_HAS
  static_assert(sizeof has / sizeof has[0] <= 32);
  uint32_t m = 0;
  for (uint32_t i = 0; i < sizeof has / sizeof has[0]; ++i) m |= uint32_t(has[i] != 0) << i;
  return m;
}

std::string names(uint32_t mask) {
  std::string out;
  for (uint32_t i = 0; i < kFeatureCount; ++i) {
    if (!((mask >> i) & 1)) continue;
    if (!out.empty()) out += ", ";
    out += kFeatureNames[i];
  }
  return out;
}

namespace {

// Priority 101: before every constructor without one, ours and the C++ runtime's objects
// in this binary alike. stdio is ready (libc initialises before any constructor).
[[gnu::constructor(101)]] void check_cpu() {
  const uint32_t missing = kBuiltFor & ~cpu_supports();
  if (missing == 0) return;
  std::fprintf(stderr,
               "error: this binary was built for x86 extensions this CPU does not have: %s "
               "(built for: %s). Rebuild on this machine, or without -Dnative=true.\n",
               names(missing).c_str(), names(kBuiltFor).c_str());
  std::exit(1);
}

}  // namespace

}  // namespace routerd::isa
