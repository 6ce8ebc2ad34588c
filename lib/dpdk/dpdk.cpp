#include "dpdk.hpp"

#include <dirent.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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

// This process's threads, by kernel thread id.
std::vector<pid_t> process_threads() {
  std::vector<pid_t> ids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (const dirent* e = readdir(d))
      if (e->d_name[0] != '.') ids.push_back(pid_t(std::strtol(e->d_name, nullptr, 10)));
    closedir(d);
  }
  return ids;
}

std::string cpu_list(const cpu_set_t& set) {
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(c);
    if (last > c) out += '-' + std::to_string(last);
    c = last;
  }
  return out;
}

// The CPUs for threads that are not lcores: the process's, less every worker lcore's (a
// worker busy-polls its CPU, so anything else scheduled there stalls its queues); the main
// lcore's when that leaves none.
cpu_set_t control_cpus(const cpu_set_t& process) {
  cpu_set_t set = process;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    const rte_cpuset_t w = rte_lcore_cpuset(lcore);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &w)) CPU_CLR(c, &set);
  }
  if (CPU_COUNT(&set) == 0) set = rte_lcore_cpuset(rte_get_main_lcore());
  return set;
}

// Threads started before the EAL (oneTBB's, which parse the route files before startup)
// kept every CPU of the process, the worker lcores' too, and threads they start inherit
// that: a route load at runtime then ran its parse on a worker's CPU and stalled its
// queues for tens of milliseconds. The EAL pins only what it starts and the calling thread.
void keep_off_workers(const std::vector<pid_t>& before, const cpu_set_t& process) {
  const cpu_set_t to = control_cpus(process);
  const pid_t self = gettid();
  size_t moved = 0;
  for (const pid_t tid : before) {
    if (tid == self) continue;
    if (sched_setaffinity(tid, sizeof to, &to) == 0)
      ++moved;
    else if (errno != ESRCH)  // ESRCH: it ended meanwhile
      spdlog::warn("cannot keep thread {} off the worker lcores' CPUs: {}", tid,
                   std::strerror(errno));
  }
  if (moved)
    spdlog::info("{} thread(s) started before the EAL moved to CPUs {}, off the worker lcores'",
                 moved, cpu_list(to));
}

}  // namespace

Eal::Eal(const std::string& program, const std::vector<std::string>& args) {
  if (FILE* s = log_stream()) rte_openlog_stream(s);
  cpu_set_t process;
  CPU_ZERO(&process);
  const bool have_mask = sched_getaffinity(0, sizeof process, &process) == 0;
  const std::vector<pid_t> before = process_threads();
  std::vector<std::string> owned;
  owned.push_back(program);
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(owned.size() + 1);
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(int(owned.size()), argv.data()) < 0)
    throw_rte_error("EAL initialisation failed");
  if (have_mask) keep_off_workers(before, process);
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
