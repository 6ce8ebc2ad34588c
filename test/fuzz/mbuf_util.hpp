// test/fuzz: frames as mbufs for the packet-path targets. Two ways to hold the same bytes:
// HeapFrame, whose segments are exact-size heap buffers attached as external buffers, so
// ASan reports any read or write past a segment (pool buffers are one big DPDK mapping ASan
// knows nothing about); and pool_frame, ordinary pool mbufs as a NIC delivers them.
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "fuzz_util.hpp"

namespace routerd::fuzz {

class HeapFrame {
 public:
  // bytes [0, split) in the first segment, the rest (if any) in a second one.
  HeapFrame(rte_mempool* pool, const uint8_t* p, size_t len, size_t split) {
    split = std::min(split, len);
    m_ = segment(pool, 0, p, split);
    if (split < len)
      FUZZ_CHECK(rte_pktmbuf_chain(m_, segment(pool, 1, p + split, len - split)) == 0);
  }
  ~HeapFrame() { rte_pktmbuf_free(m_); }
  HeapFrame(const HeapFrame&) = delete;
  HeapFrame& operator=(const HeapFrame&) = delete;
  rte_mbuf* get() const { return m_; }

 private:
  rte_mbuf* segment(rte_mempool* pool, int i, const uint8_t* p, size_t n) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    FUZZ_CHECK(m != nullptr, "mbuf pool empty: a target leaks mbufs");
    buf_[i].reset(new uint8_t[n]);
    if (n) std::memcpy(buf_[i].get(), p, n);   // p may be null when n is 0
    shinfo_[i].free_cb = [](void*, void*) {};  // the buffer is buf_[i]'s
    shinfo_[i].fcb_opaque = nullptr;
    rte_mbuf_ext_refcnt_set(&shinfo_[i], 1);
    rte_pktmbuf_attach_extbuf(m, buf_[i].get(), 0, uint16_t(n), &shinfo_[i]);
    FUZZ_CHECK(rte_pktmbuf_append(m, uint16_t(n)) != nullptr || n == 0);
    return m;
  }

  std::unique_ptr<uint8_t[]> buf_[2];
  rte_mbuf_ext_shared_info shinfo_[2]{};
  rte_mbuf* m_ = nullptr;
};

// The same split frame in pool mbufs; bytes past the data are zero, so that code that may
// read a few bytes past a short frame (classify_fast) reads the same thing every run.
inline rte_mbuf* pool_frame(rte_mempool* pool, const uint8_t* p, size_t len, size_t split) {
  split = std::min(split, len);
  auto seg = [&](const uint8_t* q, size_t n) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    FUZZ_CHECK(m != nullptr, "mbuf pool empty: a target leaks mbufs");
    std::memset(rte_pktmbuf_mtod(m, uint8_t*), 0, std::min<size_t>(rte_pktmbuf_tailroom(m), 64));
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(n)));
    FUZZ_CHECK(d != nullptr, "a %zu-byte segment does not fit an mbuf", n);
    if (n) std::memcpy(d, q, n);
    return m;
  };
  rte_mbuf* m = seg(p, split);
  if (split < len) FUZZ_CHECK(rte_pktmbuf_chain(m, seg(p + split, len - split)) == 0);
  return m;
}

}  // namespace routerd::fuzz
