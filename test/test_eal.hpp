// Unit tests that need DPDK memory (rte_fib, rings, mempools) call test_eal() first: it
// initialises one in-memory, no-hugepage EAL for the whole test binary.
#pragma once

namespace routerd::testing {
void test_eal();
}
