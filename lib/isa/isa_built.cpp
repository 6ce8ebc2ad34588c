// Compiled with the project's flags: the macros say which extensions the rest of the build
// may use. Only data here, so nothing in this file can need them.
#include "isa.hpp"

namespace routerd::isa {

namespace {

constexpr uint32_t bit(uint32_t i) {
  return 1u << i;
}

}  // namespace

#define ROUTERD_ISA_NAME(name) name,
const char* const kFeatureNames[] = {ROUTERD_ISA_FEATURES(ROUTERD_ISA_NAME)};
#undef ROUTERD_ISA_NAME
const uint32_t kFeatureCount = sizeof kFeatureNames / sizeof kFeatureNames[0];

const uint32_t kBuiltFor = 0
#ifdef __POPCNT__
                           | bit(0)
#endif
#ifdef __SSE3__
                           | bit(1)
#endif
#ifdef __SSSE3__
                           | bit(2)
#endif
#ifdef __SSE4_1__
                           | bit(3)
#endif
#ifdef __SSE4_2__
                           | bit(4)
#endif
#ifdef __AVX__
                           | bit(5)
#endif
#ifdef __AVX2__
                           | bit(6)
#endif
#ifdef __FMA__
                           | bit(7)
#endif
#ifdef __BMI__
                           | bit(8)
#endif
#ifdef __BMI2__
                           | bit(9)
#endif
#ifdef __AES__
                           | bit(10)
#endif
#ifdef __PCLMUL__
                           | bit(11)
#endif
#ifdef __AVX512F__
                           | bit(12)
#endif
#ifdef __AVX512VL__
                           | bit(13)
#endif
#ifdef __AVX512BW__
                           | bit(14)
#endif
#ifdef __AVX512DQ__
                           | bit(15)
#endif
#ifdef __AVX512CD__
                           | bit(16)
#endif
#ifdef __AVX512VBMI__
                           | bit(17)
#endif
#ifdef __AVX512VBMI2__
                           | bit(18)
#endif
#ifdef __AVX512VNNI__
                           | bit(19)
#endif
#ifdef __AVX512BITALG__
                           | bit(20)
#endif
#ifdef __AVX512VPOPCNTDQ__
                           | bit(21)
#endif
#ifdef __AVX512IFMA__
                           | bit(22)
#endif
#ifdef __GFNI__
                           | bit(23)
#endif
#ifdef __VPCLMULQDQ__
                           | bit(24)
#endif
#ifdef __AVX512ER__  // Xeon Phi only: what test/isa_probe is built for, to see the check fail
                           | bit(25)
#endif
    ;

}  // namespace routerd::isa
