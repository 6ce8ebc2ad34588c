// The x86 instruction-set extensions this build was compiled for, and a check at load time
// that the CPU has them: a binary built for more (-Dnative=true, or DPDK's -march=corei7)
// stops with a message naming what is missing instead of dying on an illegal instruction.
#pragma once

#include <cstdint>
#include <string>

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
