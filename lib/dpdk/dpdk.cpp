#include "dpdk.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <spdlog/spdlog.h>
#include <stdio.h>

#include <algorithm>
#include <cstring>

namespace routerd {

void throw_rte_error(const std::string& what) {
  throw DpdkError(what + ": " + rte_strerror(rte_errno));
}

namespace {

spdlog::level::level_enum level_from_rte(uint32_t l) {
  switch (l) {
    case RTE_LOG_EMERG:
    case RTE_LOG_ALERT:
    case RTE_LOG_CRIT:
      return spdlog::level::critical;
    case RTE_LOG_ERR:
      return spdlog::level::err;
    case RTE_LOG_WARNING:
      return spdlog::level::warn;
    case RTE_LOG_NOTICE:
    case RTE_LOG_INFO:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

// fopencookie write hook: DPDK formats a line, we forward it without the trailing newline.
ssize_t log_write(void*, const char* buf, size_t size) {
  std::string_view s(buf, size);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  if (!s.empty()) spdlog::log(level_from_rte(rte_log_cur_msg_loglevel()), "dpdk: {}", s);
  return ssize_t(size);
}

FILE* log_stream() {
  static FILE* f = [] {
    cookie_io_functions_t io{};
    io.write = log_write;
    FILE* s = fopencookie(nullptr, "w", io);
    if (s) setvbuf(s, nullptr, _IOLBF, 0);
    return s;
  }();
  return f;
}

}  // namespace

Eal::Eal(const std::string& program, const std::vector<std::string>& args) {
  if (FILE* s = log_stream()) rte_openlog_stream(s);
  std::vector<std::string> owned;
  owned.push_back(program);
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(owned.size() + 1);
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(int(owned.size()), argv.data()) < 0)
    throw_rte_error("EAL initialisation failed");
}

Eal::~Eal() {
  rte_eal_cleanup();
}

std::string Eal::memory_mode() {
  return rte_eal_has_hugepages() ? "hugepages" : "no-huge (anonymous memory, slower)";
}

Mempool make_pktmbuf_pool(const std::string& name, uint32_t n, uint16_t data_room, int socket) {
  // DPDK refuses a per-lcore cache larger than n / 1.5: small pools get a smaller one.
  const unsigned cache = std::min(256u, n * 2 / 3);
  rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), n, cache, 0, data_room, socket);
  if (!p) throw_rte_error("cannot create mbuf pool " + name + " (" + std::to_string(n) + " mbufs)");
  return Mempool(p);
}

Ring make_ring(const std::string& name, uint32_t count, uint32_t esize, int socket,
               unsigned flags) {
  rte_ring* r = rte_ring_create_elem(name.c_str(), esize, count, socket, flags | RING_F_EXACT_SZ);
  if (!r) throw_rte_error("cannot create ring " + name);
  return Ring(r);
}

}  // namespace routerd
