// routerd: the daemon. Startup is ordered so that every object is destroyed in reverse on
// any failure: EAL, mbuf pool, punt ring, dataplane state, ports, control, workers, API.
#include <malloc.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_pdump.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "config.hpp"
#include "control.hpp"
#include "dpdk.hpp"
#include "isa.hpp"
#include "metrics.hpp"
#include "port.hpp"
#include "preset.hpp"
#include "routerd_build.h"
#include "server.hpp"
#include "spare_core.hpp"
#include "telemetry.hpp"
#include "unmap_fence.hpp"
#include "worker.hpp"

using namespace routerd;

namespace {

std::atomic<bool> g_stop{false};

std::atomic<bool> g_reload{false};

void on_reload_signal(int) {
  g_reload.store(true);
}

void on_signal(int) {
  g_stop.store(true);
}

// SIGIO and the real-time signals: the TAP PMD's RX trigger arrives as one of them
// (F_SETSIG; SIGIO when the real-time queue overflows).
sigset_t io_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGIO);
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaddset(&s, sig);
  return s;
}

int worker_main(void* arg) {
  // Only workers take the PMDs' I/O signals (see block_io_signals_outside_workers).
  const sigset_t io = io_signals();
  pthread_sigmask(SIG_UNBLOCK, &io, nullptr);
  static_cast<Worker*>(arg)->run();
  return 0;
}

// Serves dpdk-dumpcap and dpdk-pdump, which capture routerd's ports from a secondary
// process. Costs nothing until a capture starts (it then adds RX/TX callbacks to the
// captured queues) and needs shared (hugepage) memory.
struct PdumpServer {
  bool on = false;
  PdumpServer() {
    const std::string dir = rte_eal_get_runtime_dir();
    const std::string prefix = dir.substr(dir.find_last_of('/') + 1);
    if (!rte_eal_has_hugepages()) {
      spdlog::info(
          "live capture (dpdk-dumpcap) unavailable: it needs hugepages, and routerd "
          "runs with --no-huge");
      return;
    }
    on = rte_pdump_init() == 0;
    if (on)
      spdlog::info("live capture: dpdk-dumpcap --file-prefix={} -i PORT_ID (routerctl link show)",
                   prefix);
    else
      spdlog::warn("live capture unavailable: rte_pdump_init: {}", rte_strerror(rte_errno));
  }
  ~PdumpServer() {
    if (on) rte_pdump_uninit();
  }
  PdumpServer(const PdumpServer&) = delete;
  PdumpServer& operator=(const PdumpServer&) = delete;
};

std::string presets_dir(const Config& cfg) {
  if (!cfg.presets_dir.empty()) return cfg.presets_dir;
  for (const char* d : {ROUTERD_PRESETS_DIR, ROUTERD_SOURCE_PRESETS_DIR})
    if (FILE* f = std::fopen((std::string(d) + "/default.toml").c_str(), "r")) {
      std::fclose(f);
      return d;
    }
  return ROUTERD_PRESETS_DIR;
}

// Parsing the route files takes several times the memory that stays (a full table of ECMP
// lines: 0.67 GB freed after the load, 0.24 GB kept), and malloc keeps what is freed: give
// it back, unless dataplane.heap_reserve_mib asked to keep a heap for table loads.
static void return_startup_heap(uint32_t reserve_mib) {
  if (reserve_mib != 0) return;
  const uint64_t before = Control::resident_bytes() >> 20;
  const auto t0 = std::chrono::steady_clock::now();
  malloc_trim(0);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "heap: returned what parsing the route files freed: resident {} -> {} MiB ({:.3f} s)", before,
      Control::resident_bytes() >> 20, s);
}

int run(const Config& cfg, const std::vector<Preset>& presets,
        std::vector<Control::RouteFile> route_files, std::vector<std::string> eal_args) {
  for (const auto& p : cfg.ports) {
    if (p.tunnel) continue;  // [[tunnel]]: an interface of routerd's own, no device
    eal_args.emplace_back(port_device_is_vdev(p.device) ? "--vdev" : "-a");
    eal_args.push_back(p.device);
  }
  Eal eal("routerd", eal_args);
  spdlog::info("routerd {} starting; memory: {}", ROUTERD_VERSION, Eal::memory_mode());
  spdlog::info("built for x86 extensions: {} (the CPU has them; lib/isa checked at load)",
               isa::names(isa::kBuiltFor));
  PdumpServer pdump;
  if (rte_lcore_count() < 2)
    throw std::runtime_error(
        "routerd needs at least two lcores (EAL -l): one for control, one or more workers");
  if (std::all_of(cfg.ports.begin(), cfg.ports.end(), [](const PortConfig& p) { return p.tunnel; }))
    throw std::runtime_error(cfg.path + ": no [[port]] configured");
  const uint32_t workers = rte_lcore_count() - 1;
  const int socket = int(rte_socket_id());

  uint16_t max_mtu = 0;
  for (const auto& p : cfg.ports)
    if (!p.tunnel) max_mtu = std::max(max_mtu, p.mtu);
  Mempool pool =
      make_pktmbuf_pool("routerd_mbufs", cfg.mbufs, mbuf_data_room_for_mtu(max_mtu), socket);
  Ring punt = make_ring("routerd_punt", 4096, sizeof(PuntEntry), socket, RING_F_SC_DEQ);
  Ring ctl_tx =
      make_ring("routerd_ctl_tx", 1024, sizeof(TxEntry), socket, RING_F_SP_ENQ | RING_F_SC_DEQ);

  const DataplaneParams dpp = dataplane_params(cfg);
  IdleLcore idle;  // outlives dp, which keeps a pointer to it
  SharedState dp(
      dpp, workers, cfg.max_next_hops, Fib::Params{cfg.max_routes, cfg.tbl8_groups, socket},
      Fib6::Params{cfg.fib6_max_routes, cfg.fib6_tbl8_groups, socket}, punt.get(), ctl_tx.get());
  dp.pool = pool.get();
  // Before any port exists: a memif peer may disconnect (and its PMD unmap the rings) at any
  // moment after the port starts.
  UnmapFence unmap_fence(dp.rcu);
  if (!UnmapFence::active())
    spdlog::warn(
        "munmap is not interposed in this build: a memif peer that disconnects while "
        "workers poll can crash routerd (DPDK 22.11 memif PMD)");
  spdlog::info("FIB: DIR-24-8, two copies, about {} MiB; {} next-hop slots; tbl24 read {}",
               dp.fib.memory_bytes() >> 20, cfg.max_next_hops,
               dp.fib.tbl24_readable() ? "inline"
                                       : "through DPDK only (this DPDK's table layout is not "
                                         "the one routerd knows; answers unaffected)");
  spdlog::info("IPv6 FIB: TRIE, two copies, about {} MiB ({} routes, {} tbl8 groups)",
               dp.fib6.memory_bytes() >> 20, cfg.fib6_max_routes, cfg.fib6_tbl8_groups);
  if (cfg.route_cache)
    spdlog::info(
        "route cache: IPv4 {} sets x {} ways ({} KiB), IPv6 {} sets x {} ways ({} KiB), per "
        "worker",
        cfg.route_cache_sets, RouteCache::kWays, cfg.route_cache_sets * sizeof(RouteCacheSet) >> 10,
        cfg.route_cache6_sets, RouteCache6::kWays,
        cfg.route_cache6_sets * sizeof(RouteCache6Set) >> 10);
  else
    spdlog::info("route cache: off");
  if (!cfg.tunnel_outer_path_cache)
    spdlog::warn(
        "tunnel outer-path cache: off (route_cache.tunnel_outer_path = false): every packet "
        "into a tunnel looks its outer path up in the FIB");

  // A port receives into mbufs on its own NUMA socket: one pool per socket that has ports
  // (dataplane.mbufs each), the main one serving the main lcore's socket.
  std::map<int, Mempool> socket_pools;
  auto pool_for = [&](const PortConfig& pc) -> rte_mempool* {
    uint16_t id;
    int s = rte_eth_dev_get_port_by_name(port_device_name(pc.device).c_str(), &id) == 0
                ? rte_eth_dev_socket_id(id)
                : socket;
    if (s < 0 || s == socket) return pool.get();
    auto it = socket_pools.find(s);
    if (it == socket_pools.end()) {
      it = socket_pools
               .emplace(s, make_pktmbuf_pool("routerd_mbufs_s" + std::to_string(s), cfg.mbufs,
                                             mbuf_data_room_for_mtu(max_mtu), s))
               .first;
      spdlog::info("mbuf pool on NUMA socket {} for its ports ({} mbufs)", s, cfg.mbufs);
    }
    return it->second.get();
  };
  std::vector<std::unique_ptr<Port>> ports;
  std::vector<Control::PortRef> refs;
  // What each pool's users can hold at once: the rings of its ports, every lcore's cache,
  // and for the main pool the punt and control rings and the packets waiting for ARP.
  std::map<rte_mempool*, uint64_t> held = {
      {pool.get(), 4096 + 1024 + cfg.arp_queue_total_for(cfg.mbufs)}};
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    if (cfg.ports[i].tunnel) continue;  // Control creates tunnels in load()
    rte_mempool* mp = pool_for(cfg.ports[i]);
    ports.push_back(std::make_unique<Port>(cfg.ports[i], presets[i], uint16_t(workers), mp));
    const Port& p = *ports.back();
    refs.push_back(Control::PortRef{ports.back().get(), p.id(), p.name(), p.mac(), p.mtu()});
    held[mp] += p.ring_mbufs();
  }
  // A pool smaller than that runs dry under load: RX finds no buffer (the ports' rx_nombuf
  // and imissed count it) while TX rings and queues hold the rest. Said once, at startup.
  for (auto& [mp, n] : held) {
    n += uint64_t(mp->cache_size) * rte_lcore_count();
    if (n > mp->size)
      spdlog::warn(
          "mbuf pool {}: {} buffers, but the rings of its ports, the lcores' caches and the "
          "queues can hold {} at once: under load RX may find none (rx_nombuf); raise "
          "dataplane.mbufs to at least {}",
          mp->name, mp->size, n, n + n / 4);
  }
  Control ctl(dp, cfg, refs, pool.get());
  // Until the workers are launched their lcores are idle: a full IPv6 table fills its two
  // copies side by side. Later loads find no idle lcore (unless one has no worker).
  dp.fib6.set_spare_core(&idle);
  ctl.load(cfg, std::move(route_files));  // Control keeps them for reload: one copy
  if (!cfg.route_files.empty()) return_startup_heap(cfg.heap_reserve_mib);

  // RX queues go round-robin over workers, so every queue is polled.
  std::vector<std::vector<Worker::RxQueue>> rx(workers);
  for (const auto& p : ports)
    for (uint16_t q = 0; q < p->queues().rx; ++q) rx[q % workers].push_back({p->id(), q});
  std::vector<std::unique_ptr<Worker>> ws;
  for (uint32_t w = 0; w < workers; ++w)
    ws.push_back(std::make_unique<Worker>(dp, w, rx[w], uint16_t(w)));

  ApiServer api(cfg.socket, [&](const std::vector<std::string>& argv) { return ctl.call(argv); });
  // Answers /routerd/* on DPDK's telemetry socket (when EAL telemetry is on).
  Telemetry telemetry([&](const std::vector<std::string>& argv) { return ctl.call(argv); });
  std::unique_ptr<MetricsServer> metrics;
  if (!cfg.metrics_listen.empty())
    metrics = std::make_unique<MetricsServer>(
        cfg.metrics_listen, [&](const std::vector<std::string>& argv) { return ctl.call(argv); });

  // SIGHUP re-reads the config, through the same path as `routerctl reload`; a signal
  // handler can only set a flag, so this thread acts on it.
  std::thread reloader([&ctl] {
    while (!g_stop.load()) {
      if (g_reload.exchange(false)) {
        spdlog::info("SIGHUP: reloading the config");
        try {
          ctl.call({"reload"});
        } catch (const std::exception& e) {
          spdlog::error("{}", e.what());
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  struct JoinReloader {
    std::thread& t;
    ~JoinReloader() {
      g_stop.store(true);
      t.join();
    }
  } join_reloader{reloader};

  // Whatever ends this function from here on, a normal stop or an exception out of the
  // control loop or a launch, stops and joins the workers before the state they read (ctl,
  // dp, ports) is destroyed: a worker left running on freed state crashes in its RX burst.
  struct StopWorkers {
    SharedState& dp;
    ~StopWorkers() {
      dp.stop.store(true);
      rte_eal_mp_wait_lcore();
    }
  } stop_workers{dp};

  uint32_t w = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    std::string queues;
    for (const auto& q : rx[w]) queues += fmt::format(" {}/{}", q.port, q.queue);
    spdlog::info("worker {} on lcore {}: rx queues (port/queue){}, tx queue {}", w, lcore, queues,
                 w);
    // Every worker polls a queue of every port: one on another NUMA socket than a port reads
    // each of its packets across the interconnect (docs/hardware.md, "NUMA").
    const int ls = int(rte_lcore_to_socket_id(lcore));
    for (const auto& p : ports)
      if (p->socket() != ls && rte_eth_dev_socket_id(p->id()) >= 0)
        spdlog::warn(
            "worker {} on lcore {} (NUMA socket {}) polls port {} on socket {}: each of "
            "its packets crosses the interconnect",
            w, lcore, ls, p->name(), p->socket());
    if (rte_eal_remote_launch(worker_main, ws[w].get(), lcore) != 0)
      throw std::runtime_error("cannot launch worker on lcore " + std::to_string(lcore));
    ++w;
  }
  api.start();
  const char* tun = std::getenv("GLIBC_TUNABLES");
  spdlog::info("forwarding with {} worker(s); control socket {}; malloc in {} pages", workers,
               cfg.socket,
               tun && std::strstr(tun, "glibc.malloc.hugetlb=1") ? "transparent huge" : "4 KiB");

  ctl.run(g_stop);

  spdlog::info("stopping");
  dp.stop.store(true);
  rte_eal_mp_wait_lcore();  // stop_workers does it again on the way out: a no-op by then
  // Whatever the control thread queued after worker 0 stopped is not sent.
  TxEntry left;
  while (rte_ring_sc_dequeue_elem(ctl_tx.get(), &left, sizeof left) == 0) rte_pktmbuf_free(left.m);
  spdlog::info("final counters: {}", ctl.stats_summary());
  for (auto& p : ports) p->stop();
  spdlog::info("ports stopped");
  return 0;
}

}  // namespace

// First thing in main: a SIGHUP (systemctl reload) or SIGTERM that arrives while routerd
// starts must not kill it with the default action. Both only set flags; a stop requested
// during startup takes effect when the control loop starts, a reload once it can run.
static void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction hup {};
  hup.sa_handler = on_reload_signal;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

// The TAP PMD asks for a signal per received packet (its RX trigger), and the kernel hands
// a process-wide signal to any thread that does not block it: often the sleeping control
// thread, woken thousands of times a second for nothing (perf: a fifth of a core under
// iperf3). Blocked here, before EAL creates its threads, and unblocked only in the workers,
// which poll anyway; the PMD's handler just bumps a counter the workers' RX bursts read, so
// which thread runs it does not matter.
static void block_io_signals_outside_workers() {
  const sigset_t io = io_signals();
  pthread_sigmask(SIG_BLOCK, &io, nullptr);
}

// Every control and metrics connection and every device takes a descriptor. With the soft
// limit (often 1024) a burst of clients ran routerd out of them (issue 13: `routerctl reload`
// failed with EMFILE); with the hard limit, the servers' own connection caps come first.
static void raise_fd_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur >= l.rlim_max) return;
  const rlim_t was = l.rlim_cur;
  l.rlim_cur = l.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &l) == 0)
    spdlog::info("open files limit raised from {} to {}", was, l.rlim_max);
  else
    spdlog::warn("cannot raise the open files limit from {}: {}", was, std::strerror(errno));
}

// dataplane.heap_reserve_mib: the first full-table load grows the control thread's heap by
// some 360 MiB, and the kernel zeroes every new page on first touch. On a VM that returns
// free guest memory to its host (free page reporting) a fresh page also costs a host fault:
// here 0.4-1.2 GB/s, a third of the load's time (docs/performance.md, "The heap reserved at
// startup"). So the heap is grown and touched once at startup, in blocks below the mmap
// threshold so that they come from the heap, then freed into it, and never trimmed: later
// allocations of the main thread (the control thread) reuse those pages. Throws if the
// memory cannot be had.
static void reserve_heap(uint32_t mib) {
  if (mib == 0) return;
  // Overcommit would let the mallocs succeed and the touching end in the OOM killer.
  uint64_t avail_kib = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    if (key == "MemAvailable:") {
      meminfo >> avail_kib;
      break;
    }
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  if (avail_kib && uint64_t(mib) * 1024 > avail_kib)
    throw std::runtime_error("dataplane.heap_reserve_mib: " + std::to_string(mib) +
                             " MiB is more than the " + std::to_string(avail_kib / 1024) +
                             " MiB this machine has available");
  mallopt(M_TRIM_THRESHOLD, -1);  // mallopt(3): -1 disables trimming
  // And no block of its own mapping: glibc then serves the main thread's blocks over 32 MiB
  // (a full table's largest hash tables) from the heap, and another thread's blocks too big
  // for its arena (the API thread's route specs of a parsed full table, 108 MiB) from the
  // main one, so those come out of the reserve as well.
  mallopt(M_MMAP_MAX, 0);
  constexpr size_t block = 16 << 20;
  const size_t bytes = size_t(mib) << 20;
  const long page = sysconf(_SC_PAGESIZE);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<char*> blocks;
  blocks.reserve(bytes / block + 1);
  for (size_t done = 0; done < bytes; done += block) {
    const size_t n = std::min(block, bytes - done);
    auto* b = static_cast<char*>(std::malloc(n));
    if (!b) {
      for (char* p : blocks) std::free(p);
      throw std::runtime_error("dataplane.heap_reserve_mib: cannot reserve " + std::to_string(mib) +
                               " MiB of heap: " + std::strerror(errno));
    }
    for (size_t o = 0; o < n; o += size_t(page)) static_cast<volatile char*>(b)[o] = 0;
    blocks.push_back(b);
  }
  for (char* p : blocks) std::free(p);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("heap: {} MiB reserved and faulted in for table loads in {:.3f} s", mib, s);
}

static int main_(int argc, char** argv) {
  install_signal_handlers();
  block_io_signals_outside_workers();
  // DPDK convention: routerd [EAL options] -- [routerd options]; without "--" every
  // argument is a routerd option and the EAL options come from the config.
  std::vector<std::string> eal_args, opts;
  int dd = 0;
  for (int i = 1; i < argc && !dd; ++i)
    if (std::string(argv[i]) == "--") dd = i;
  for (int i = 1; i < argc; ++i) {
    if (dd && i < dd)
      eal_args.emplace_back(argv[i]);
    else if (!dd || i > dd)
      opts.emplace_back(argv[i]);
  }

  CLI::App app{
      "routerd: DPDK IPv4 and IPv6 router.\nUsage: routerd [EAL options --] -c FILE [--log-level "
      "L]",
      "routerd"};
  std::string config_path, log_level;
  bool check_only = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML)")->required();
  app.add_flag("--check", check_only,
               "check the config, its presets and route files, then exit (0: fine, 2: not); "
               "starts no DPDK");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, critical or off (overrides the config)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.set_version_flag("--version", ROUTERD_VERSION);
  try {
    std::vector<std::string> rev(opts.rbegin(), opts.rend());
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto console = spdlog::stderr_color_mt("routerd");
  spdlog::set_default_logger(console);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");

  Config cfg;
  std::vector<Preset> presets;
  std::vector<Control::RouteFile> route_files;
  try {
    cfg = load_config(config_path);
    std::string dir = presets_dir(cfg);
    for (const auto& p : cfg.ports) presets.push_back(load_preset(dir, p.preset));
    // Route files are checked line by line before anything starts, like the config itself.
    for (const auto& f : cfg.route_files) route_files.emplace_back(f, parse_route_file(f));
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "routerd: %s\n", e.what());
    return 2;
  } catch (const CommandError& e) {
    std::fprintf(stderr, "routerd: %s: route_files: %s\n", config_path.c_str(), e.what());
    return 2;
  }
  if (check_only) {
    size_t routes = cfg.routes.size();
    for (const auto& f : route_files) routes += f.specs.size();
    std::printf("%s: fine: %zu ports, %zu routes (%zu route files), %zu static neighbours\n",
                config_path.c_str(), cfg.ports.size(), routes, route_files.size(),
                cfg.neighbours.size());
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? cfg.log_level : log_level));
  raise_fd_limit();
  if (!eal_args.empty()) spdlog::info("EAL options from the command line replace dataplane.eal");
  reserve_heap(cfg.heap_reserve_mib);

  try {
    return run(cfg, presets, std::move(route_files), eal_args.empty() ? cfg.eal : eal_args);
  } catch (const ConfigError& e) {
    // Found once the ports exist (a gateway off every subnet, a FIB too small): still the
    // config's fault, and everything started has been stopped again.
    spdlog::critical("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

// Anything not handled where it arose still ends with a message and exit status 1, not an
// abort.
// glibc's malloc asks for transparent huge pages only when told at startup
// (GLIBC_TUNABLES=glibc.malloc.hugetlb=1; it reads the tunable before main). A full table
// load allocates hundreds of MiB of RIB, undo records and FIB ops; in 4 KiB pages each is a
// page fault, and on a VM a fault is dear (docs/performance.md, "Huge pages for malloc").
// So routerd re-executes itself once, same PID and arguments, with the tunable added, when
// the kernel gives huge pages only where asked (THP "madvise"; "always" needs nothing,
// "never" allows nothing). ROUTERD_MALLOC_THP=0 keeps the 4 KiB pages; a routerd not run
// as itself (under valgrind /proc/self/exe is the tool) is left alone.
static void malloc_huge_pages(char** argv) {
  const char* opt = std::getenv("ROUTERD_MALLOC_THP");
  if (opt && std::string(opt) == "0") return;
  const char* have = std::getenv("GLIBC_TUNABLES");
  const std::string tunables = have ? have : "";
  if (tunables.find("glibc.malloc.hugetlb") != std::string::npos) return;
  std::string thp;
  std::getline(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"), thp);
  if (thp.find("[madvise]") == std::string::npos) return;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = 0;
  const char* base = std::strrchr(exe, '/');
  if (std::string(base ? base + 1 : exe).rfind("routerd", 0) != 0) return;
  const std::string value = (tunables.empty() ? "" : tunables + ":") + "glibc.malloc.hugetlb=1";
  setenv("GLIBC_TUNABLES", value.c_str(), 1);
  setenv("ROUTERD_MALLOC_THP", "0", 1);  // never twice
  execv(exe, argv);
  // Not fatal: routerd runs as it would have (the tunable stays set for its children).
  std::fprintf(stderr, "routerd: re-executing with huge pages for malloc failed: %s\n",
               std::strerror(errno));
}

// Table loads allocate and free tens of MiB at a time (undo records, FIB ops). glibc's
// default serves blocks over a threshold that starts at 128 KiB with mmap and gives the
// pages back on free, raising the threshold only after such a free: whether a reload's
// blocks came from the heap, already faulted in, or from fresh pages depended on what the
// loads before it had freed (docs/performance.md, "Smaller undo records"). Fixed
// at glibc's largest here: blocks up to 32 MiB from the heap, and up to 64 MiB free at its
// top kept for the next load rather than trimmed. And one arena for every thread: the API
// thread parses a route file into tens of MiB of specs, and in an arena of its own each
// of those pages was a fresh fault (a full IPv6 `route load`: 0.12 s on that thread against
// 0.05 s from the main heap, which dataplane.heap_reserve_mib faulted in at startup). No
// thread of routerd allocates per packet, so they do not contend for the one lock.
static void malloc_thresholds() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int main(int argc, char** argv) {
  malloc_huge_pages(argv);
  malloc_thresholds();
  try {
    return main_(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", "routerd", e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected error\n", "routerd");
  }
  return 1;
}
