// The x86 instruction-set extensions this build was compiled for, and a check at load time
// that the CPU has them: a binary built for more (-Dnative=true, or DPDK's -march=corei7)
// stops with a message naming what is missing instead of dying on an illegal instruction.
#pragma once

#include <cstdint>
#include <string>

// The extensions, in bit order: __builtin_cpu_supports' names, which it takes only as
// string literals (hence a macro). isa_built.cpp's #ifdef list follows the same order.
// clang-format does not settle on one layout for this list.
// clang-format off
#define ROUTERD_ISA_FEATURES(X)                                                              \
  X("popcnt") X("sse3") X("ssse3") X("sse4.1") X("sse4.2") X("avx") X("avx2") X("fma")       \
  X("bmi") X("bmi2") X("aes") X("pclmul") X("avx512f") X("avx512vl") X("avx512bw")           \
  X("avx512dq") X("avx512cd") X("avx512vbmi") X("avx512vbmi2") X("avx512vnni")               \
  X("avx512bitalg") X("avx512vpopcntdq") X("avx512ifma") X("gfni") X("vpclmulqdq")           \
  X("avx512er")
// clang-format on

namespace routerd::isa {

// Bits of kFeatureNames, in its order.
extern const uint32_t kBuiltFor;           // what the compiler was allowed to use
extern const char* const kFeatureNames[];  // __builtin_cpu_supports' names
extern const uint32_t kFeatureCount;

// What this CPU has, of kFeatureNames (bits as for kBuiltFor).
uint32_t cpu_supports();

// "sse4.2, popcnt" style list of the features in mask.
std::string names(uint32_t mask);

}  // namespace routerd::isa
