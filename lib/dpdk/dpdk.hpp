// dpdk: RAII owners for the DPDK objects routerd creates (EAL, mempools, rings).
// Every owner releases its object on every path, including exceptions during startup.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace routerd {

class DpdkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "what: rte_strerror(rte_errno)"
[[noreturn]] void throw_rte_error(const std::string& what);

// Initialises the EAL with argv[0] = program and args; cleans it up on destruction.
// DPDK's own log lines go to spdlog with their DPDK level mapped. Threads that were alive
// before it are moved off the worker lcores' CPUs, as the EAL's own non-lcore threads are.
class Eal {
 public:
  Eal(const std::string& program, const std::vector<std::string>& args);
  ~Eal();
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

  // "hugepages" or "no-huge (anonymous memory)", for the startup log.
  static std::string memory_mode();
};

struct MempoolFree {
  void operator()(rte_mempool* p) const { rte_mempool_free(p); }
};
using Mempool = std::unique_ptr<rte_mempool, MempoolFree>;
Mempool make_pktmbuf_pool(const std::string& name, uint32_t n, uint16_t data_room, int socket);

struct RingFree {
  void operator()(rte_ring* r) const { rte_ring_free(r); }
};
using Ring = std::unique_ptr<rte_ring, RingFree>;
// A ring of fixed-size elements (esize a multiple of 4) holding exactly `count` of them.
Ring make_ring(const std::string& name, uint32_t count, uint32_t esize, int socket, unsigned flags);

struct MbufFree {
  void operator()(rte_mbuf* m) const { rte_pktmbuf_free(m); }
};
using MbufPtr = std::unique_ptr<rte_mbuf, MbufFree>;

}  // namespace routerd
