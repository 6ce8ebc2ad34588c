// common/compiler: compiler attributes the fast path relies on, in one place.
// Header-only; nothing here depends on DPDK or on any other module.
#pragma once

// For the per-packet stages: GCC otherwise declines to inline some of them into the burst
// loops once they grow, and a call per packet costs more than the stage itself.
#define ROUTERD_ALWAYS_INLINE inline __attribute__((always_inline))
