// unmap_fence: while attached, munmap() in this process returns only after every online
// worker (Qsbr reader) has passed a quiescent state, so no burst still reads the memory.
#pragma once

#include <cstdint>

#include "qsbr.hpp"

namespace routerd {

// Why: DPDK 22.11's memif PMD handles a peer's disconnect on the EAL interrupt thread and
// munmap()s the shared rings there, with nothing to keep a worker out of a burst that has
// already checked the link flag (a router crashed when its memif peer exited). The PMD
// clears that flag before it unmaps, and a worker reports quiescence between bursts, so one
// grace period between the two is enough. routerd defines munmap() (see unmap_fence.cpp),
// which is where the wait happens; the executable must export that symbol
// (-Wl,--export-dynamic-symbol=munmap) so DSOs loaded later resolve to it.
//
// One fence at a time; attach it after the Qsbr exists and before ports start, and let it
// go before the Qsbr does.
class UnmapFence {
 public:
  explicit UnmapFence(Qsbr& readers);
  ~UnmapFence();
  UnmapFence(const UnmapFence&) = delete;
  UnmapFence& operator=(const UnmapFence&) = delete;

  // munmap() calls that waited for a grace period since the process started.
  static uint64_t fenced();
  // True when munmap() really goes through the fence (the symbol is interposed).
  static bool active();

  // A reader thread must not wait for its own quiescent state: Worker::run marks its thread.
  static void this_thread_is_reader(bool yes);
};

}  // namespace routerd
