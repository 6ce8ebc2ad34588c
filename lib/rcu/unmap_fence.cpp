#include "unmap_fence.hpp"

#include <dlfcn.h>
#include <sys/mman.h>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace routerd {
namespace {

// constinit: munmap() can run before any constructor of this program (EAL, libraries).
constinit std::atomic<Qsbr*> g_readers{nullptr};
// munmap() calls between loading g_readers and finishing their wait; the destructor waits
// for them so the Qsbr outlives every use.
constinit std::atomic<uint32_t> g_inside{0};
constinit std::atomic<uint64_t> g_fenced{0};
constinit std::atomic<bool> g_seen{false};
thread_local bool t_reader = false;

using MunmapFn = int (*)(void*, size_t);

MunmapFn next_munmap() {
  static const auto fn = reinterpret_cast<MunmapFn>(dlsym(RTLD_NEXT, "munmap"));
  return fn;
}

void wait_for_readers() {
  if (t_reader) return;
  // seq_cst on both sides (here and in ~UnmapFence): either this call sees nullptr or the
  // destructor sees g_inside > 0 and waits.
  g_inside.fetch_add(1);
  if (Qsbr* q = g_readers.load()) {
    // Yield while waiting: the reader may share this CPU (then spinning only delays it).
    const uint64_t token = q->start();
    while (!q->check(token)) std::this_thread::yield();
    g_fenced.fetch_add(1, std::memory_order_relaxed);
  }
  g_inside.fetch_sub(1);
}

}  // namespace

UnmapFence::UnmapFence(Qsbr& readers) {
  Qsbr* expected = nullptr;
  if (!g_readers.compare_exchange_strong(expected, &readers))
    throw std::logic_error("an UnmapFence is already attached");
}

UnmapFence::~UnmapFence() {
  g_readers.store(nullptr);
  while (g_inside.load() != 0) std::this_thread::yield();
}

uint64_t UnmapFence::fenced() {
  return g_fenced.load(std::memory_order_relaxed);
}

bool UnmapFence::active() {
  // Map and unmap a page through the dynamic symbol, as a PMD would, and see whether this
  // file's munmap() ran.
  void* p = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  auto via_plt = reinterpret_cast<MunmapFn>(dlsym(RTLD_DEFAULT, "munmap"));
  g_seen.store(false);
  (via_plt ? via_plt : next_munmap())(p, 4096);
  return g_seen.load();
}

void UnmapFence::this_thread_is_reader(bool yes) {
  t_reader = yes;
}

}  // namespace routerd

// Interposes libc's munmap for every library of the process. The ordering argument: the
// memif PMD clears its "connected" flag, then calls munmap; the wait below ends only after
// each online worker has loaded the Qsbr token bumped after that clear (an acquire load in
// rte_rcu_qsbr_quiescent) or gone offline, so any burst it starts later sees the flag clear
// and returns without touching the rings.
extern "C" int munmap(void* addr, size_t len) noexcept {
  routerd::g_seen.store(true, std::memory_order_relaxed);
  routerd::wait_for_readers();
  return routerd::next_munmap()(addr, len);
}
