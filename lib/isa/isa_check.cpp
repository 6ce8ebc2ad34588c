// Compiled for the baseline x86-64 (meson.build overrides -march for this file alone): it
// runs before anything built for more, as the first constructor, and must not use more.
#include <cstdio>
#include <cstdlib>

#include "isa.hpp"

namespace routerd::isa {

uint32_t cpu_supports() {
  __builtin_cpu_init();
  // __builtin_cpu_supports takes only string literals: one line per kFeatureNames entry.
  const int has[] = {
      __builtin_cpu_supports("popcnt"),       __builtin_cpu_supports("sse3"),
      __builtin_cpu_supports("ssse3"),        __builtin_cpu_supports("sse4.1"),
      __builtin_cpu_supports("sse4.2"),       __builtin_cpu_supports("avx"),
      __builtin_cpu_supports("avx2"),         __builtin_cpu_supports("fma"),
      __builtin_cpu_supports("bmi"),          __builtin_cpu_supports("bmi2"),
      __builtin_cpu_supports("aes"),          __builtin_cpu_supports("pclmul"),
      __builtin_cpu_supports("avx512f"),      __builtin_cpu_supports("avx512vl"),
      __builtin_cpu_supports("avx512bw"),     __builtin_cpu_supports("avx512dq"),
      __builtin_cpu_supports("avx512cd"),     __builtin_cpu_supports("avx512vbmi"),
      __builtin_cpu_supports("avx512vbmi2"),  __builtin_cpu_supports("avx512vnni"),
      __builtin_cpu_supports("avx512bitalg"), __builtin_cpu_supports("avx512vpopcntdq"),
      __builtin_cpu_supports("avx512ifma"),   __builtin_cpu_supports("gfni"),
      __builtin_cpu_supports("vpclmulqdq"),   __builtin_cpu_supports("avx512er")};
  static_assert(sizeof has / sizeof has[0] == 26);
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
