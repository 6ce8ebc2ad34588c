// common/compiler: compiler attributes the fast path relies on, in one place.
// Header-only; nothing here depends on DPDK or on any other module.
#pragma once

// For the per-packet stages: GCC otherwise declines to inline some of them into the burst
// loops once they grow, and a call per packet costs more than the stage itself.
#define ROUTERD_ALWAYS_INLINE inline __attribute__((always_inline))

namespace routerd {

// Starts loading the cache line at p into every cache level; p need not be mapped (a
// prefetch never faults). Not __builtin_prefetch: having no effect on the program, it may
// be deleted, and GCC 12 deleted it under some conditions (`if (map not empty)`, `if
// (cache)`): a third of the route cache's set prefetches in the forwarding loops and all
// of a table load's were missing from the binary.
ROUTERD_ALWAYS_INLINE void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  // The address in a register, not *p as a memory operand: p may be null (an empty table),
  // and a dereference of it is undefined, which UBSan would stop on.
  asm volatile("prefetcht0 (%0)" : : "r"(p));
#else
  __builtin_prefetch(p);
#endif
}

}  // namespace routerd
