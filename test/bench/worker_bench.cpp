// worker-bench: routerd's worker without devices. A trace's frames are copied into fresh mbufs
// as net_pcap's infinite_rx does, run through Worker::process and sent to net_null; the same
// copy-and-send loop without routing ("io") is timed in the same rounds, so each config's own
// cycles per packet are its loop's minus io's, paired in time. One process holds a routerd
// set-up per config (route table, neighbours, caches), so two tables compare round by round.
// With --l3fwd-model, a model of DPDK l3fwd's FIB path runs on the first set-up's table in
// the same rounds: the peer the device bench compares with, without that bench's swings.
// A benchmark, not a test: it prints figures and never fails on them.
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_thash.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "control.hpp"
#include "dpdk.hpp"
#include "port.hpp"
#include "preset.hpp"
#include "routefile.hpp"
#include "routerd_build.h"
#include "shared_state.hpp"
#include "worker.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

// A trace's frames, each at the start of its own 64-byte-aligned slot.
struct Frames {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> off;
  std::vector<uint16_t> len;
  std::vector<uint32_t> rss;  // with --rss(-config): each frame's RSS hash, as a NIC gives it
  size_t size() const { return off.size(); }
};

// The Toeplitz hash a NIC with RSS computes (the common 40-byte key), over the addresses and,
// for TCP and UDP without fragmentation, the ports; only what --rss needs of it: IPv4 with
// IHL 5 and IPv6 without extension headers, anything else hashed as 0.
uint32_t nic_rss(const uint8_t* f, size_t len) {
  static const uint8_t kKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                                   0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                                   0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                                   0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  auto be32 = [](const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; };
  uint32_t t[9];
  uint32_t words = 0;
  const uint16_t type = uint16_t(f[12] << 8 | f[13]);
  bool ports = false;
  const uint8_t* l4 = nullptr;
  if (type == 0x0800 && len >= 38 && (f[14] & 0x0f) == 5) {
    t[0] = be32(f + 26);
    t[1] = be32(f + 30);
    words = 2;
    ports = (f[23] == 6 || f[23] == 17) && (be32(f + 18) & 0x3fff) == 0;
    l4 = f + 34;
  } else if (type == 0x86dd && len >= 58) {
    for (int i = 0; i < 8; ++i) t[i] = be32(f + 22 + 4 * i);
    words = 8;
    ports = f[20] == 6 || f[20] == 17;
    l4 = f + 54;
  } else {
    return 0;
  }
  if (ports) t[words++] = be32(l4);
  return rte_softrss(t, words, kKey);
}

Frames read_pcap(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  uint8_t gh[24];
  if (!f.read(reinterpret_cast<char*>(gh), sizeof gh)) throw std::runtime_error(path + ": short");
  uint32_t magic;
  std::memcpy(&magic, gh, 4);
  const bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
    throw std::runtime_error(path + ": not a pcap file");
  auto u32 = [swapped](const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
  };
  Frames fr;
  uint8_t rh[16];
  std::vector<uint8_t> buf;
  while (f.read(reinterpret_cast<char*>(rh), sizeof rh)) {
    const uint32_t incl = u32(rh + 8);
    if (incl > 9018)
      throw std::runtime_error(path + ": a record of " + std::to_string(incl) + " bytes");
    buf.resize(incl);
    if (!f.read(reinterpret_cast<char*>(buf.data()), incl))
      throw std::runtime_error(path + ": truncated record");
    const size_t at = fr.bytes.size();
    fr.bytes.resize(at + ((incl + 63) & ~size_t(63)));
    std::memcpy(fr.bytes.data() + at, buf.data(), incl);
    fr.off.push_back(uint32_t(at));
    fr.len.push_back(uint16_t(incl));
  }
  if (fr.size() == 0) throw std::runtime_error(path + ": no packets");
  return fr;
}

// One routerd as routerd's main() builds it, minus the API and the workers' lcores: its
// ports are net_null devices, and this thread is its one worker.
struct Setup {
  std::string path;
  Config cfg;
  Mempool pool;
  Ring punt, ctl_tx;
  std::unique_ptr<SharedState> dp;
  std::vector<std::string> devices;
  std::vector<std::unique_ptr<Port>> ports;
  std::unique_ptr<Control> ctl;
  std::unique_ptr<Worker> worker;
  uint64_t packets = 0;  // sent through process() so far

  Setup(const std::string& config_path, int index) : path(config_path) {
    cfg = load_config(config_path);
    const std::string tag = "wb" + std::to_string(index);
    uint16_t max_mtu = 0;
    for (const auto& p : cfg.ports)
      if (!p.tunnel) max_mtu = std::max(max_mtu, p.mtu);
    const int socket = int(rte_socket_id());
    pool = make_pktmbuf_pool(tag + "_mbufs", 8192, mbuf_data_room_for_mtu(max_mtu), socket);
    punt = make_ring(tag + "_punt", 4096, sizeof(PuntEntry), socket, RING_F_SC_DEQ);
    ctl_tx =
        make_ring(tag + "_ctl_tx", 1024, sizeof(TxEntry), socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    const DataplaneParams dpp = dataplane_params(cfg);
    dp = std::make_unique<SharedState>(
        dpp, 1, cfg.max_next_hops, Fib::Params{cfg.max_routes, cfg.tbl8_groups, socket},
        Fib6::Params{cfg.fib6_max_routes, cfg.fib6_tbl8_groups, socket}, punt.get(), ctl_tx.get());
    dp->pool = pool.get();
    const Preset preset = load_preset(ROUTERD_SOURCE_PRESETS_DIR, "null");
    std::vector<Control::PortRef> refs;
    for (auto& pc : cfg.ports) {
      if (pc.tunnel) continue;
      devices.push_back("net_null_" + tag + "_" + std::to_string(devices.size()));
      if (rte_vdev_init(devices.back().c_str(), nullptr) != 0)
        throw std::runtime_error("cannot create " + devices.back());
      pc.device = devices.back();
      ports.push_back(std::make_unique<Port>(pc, preset, 1, pool.get()));
      const Port& p = *ports.back();
      refs.push_back(Control::PortRef{ports.back().get(), p.id(), p.name(), p.mac(), p.mtu()});
    }
    if (ports.size() < 2) throw std::runtime_error(config_path + ": needs two ports");
    ctl = std::make_unique<Control>(*dp, cfg, refs, pool.get());
    std::vector<Control::RouteFile> files;
    for (const auto& f : cfg.route_files) files.emplace_back(f, parse_route_file(f));
    ctl->load(cfg, std::move(files));
    const Worker::RxQueue rx[] = {{ports[0]->id(), 0}};
    worker = std::make_unique<Worker>(*dp, 0, rx, 0);
    dp->rcu.register_reader(0);
    dp->rcu.online(0);
  }
  ~Setup() {
    if (dp) {
      dp->rcu.offline(0);
      dp->rcu.unregister_reader(0);
    }
    worker.reset();
    ctl.reset();
    for (size_t i = 0; i < ports.size(); ++i) {
      ports[i].reset();
      rte_vdev_uninit(devices[i].c_str());
    }
  }
  Setup(const Setup&) = delete;
  Setup& operator=(const Setup&) = delete;

  uint16_t in_port() const { return ports[0]->id(); }
  uint16_t out_port() const { return ports[1]->id(); }

  // Packets the worker did not send on p1: dropped, punted, or sent elsewhere.
  uint64_t not_forwarded() const {
    const LcoreStats& st = dp->stats[0];
    const uint64_t sent = st.tx[out_port()].get() - st.originated[out_port()].get();
    return packets > sent ? packets - sent : 0;
  }
};

// Fills n fresh mbufs with the next frames, as net_pcap's infinite_rx does (its frames sit in
// stored mbufs; here in one array, so the source's misses are not part of the figure).
inline bool receive(rte_mempool* mp, const Frames& fr, size_t& pos, uint16_t port, rte_mbuf** m,
                    uint16_t n, bool rss) {
  if (rte_pktmbuf_alloc_bulk(mp, m, n) != 0) return false;
  for (uint16_t i = 0; i < n; ++i) {
    rte_memcpy(rte_pktmbuf_mtod(m[i], void*), fr.bytes.data() + fr.off[pos], fr.len[pos]);
    m[i]->data_len = fr.len[pos];
    m[i]->pkt_len = fr.len[pos];
    m[i]->port = port;
    if (rss) {  // the same branch for io and every config
      m[i]->hash.rss = fr.rss[pos];
      m[i]->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
    }
    if (++pos == fr.size()) pos = 0;
  }
  return true;
}

// What a turn does to the FIB before it is timed: nothing, one IPv4 batch the FIB applies in
// place, or one that makes readers switch copies (as a route change under churn does).
enum class TurnChange { none, in_place, switch_copies };

// One change of the kind asked for, through the FIB alone (a route no packet of the trace
// uses: 240.0.0.0/4 is reserved). Adding a /32 in a fresh /24 fills a new tbl8 group (in
// place); deleting it again frees the group, which makes readers switch copies, so a switch
// is a pair of batches. The worker is offline meanwhile: this thread is its only reader.
void change_fib(Setup& s, TurnChange c) {
  if (c == TurnChange::none) return;
  const uint32_t nh = s.dp->fib.lookup(0x0a020002u);  // 10.2.0.2: p1's first neighbour
  if (nh == Fib::kNoRoute) throw std::runtime_error("--turn-*: no route to 10.2.0.2 to reuse");
  s.dp->rcu.offline(0);
  if (c == TurnChange::in_place) {
    // A /24 added or deleted in turn: no tbl8 group involved.
    const bool there = s.dp->fib.lookup(0xf0000101u) != Fib::kNoRoute;
    const FibOp net{0xf0000100u, 24, there, nh};
    s.dp->fib.apply(std::span<const FibOp>(&net, 1), s.dp->rcu);
  } else {
    const FibOp host{0xf0000001u, 32, false, nh}, gone{0xf0000001u, 32, true, 0};
    s.dp->fib.apply(std::span<const FibOp>(&host, 1), s.dp->rcu);
    s.dp->fib.apply(std::span<const FibOp>(&gone, 1), s.dp->rcu);
  }
  s.dp->rcu.online(0);
}

// A model of DPDK 22.11 l3fwd's FIB path (examples/l3fwd, --lookup fib --parse-ptype) for one
// burst, on s's tables and ports: its Rx callback's ptype parse, the destinations gathered
// with the data prefetched 4 packets ahead, one rte_fib_lookup_bulk and one
// rte_fib6_lookup_bulk on the copies routerd's worker reads, then per packet its
// rfc1812_process (IPv4 only: TTL and checksum, the header length and total length tests;
// l3fwd leaves IPv6's hop limit alone) and the MAC rewrite from a per-port table, and one
// Tx burst.
// Timed beside routerd's worker on the same frames, so the two paths' own cycles compare
// without the device bench's run-to-run swings. A model, not l3fwd itself: the device
// bench runs the real one.
void l3fwd_model_burst(Setup& s, rte_mbuf** m, uint16_t n) {
  constexpr uint16_t kBad = 0xffff;
  constexpr int kPrefetch = 4;
  for (uint16_t i = 0; i < n; ++i) {
    const auto* eth = rte_pktmbuf_mtod(m[i], const rte_ether_hdr*);
    uint32_t ptype = RTE_PTYPE_UNKNOWN;
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4))
      ptype = RTE_PTYPE_L3_IPV4_EXT_UNKNOWN;
    else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6))
      ptype = RTE_PTYPE_L3_IPV6_EXT_UNKNOWN;
    m[i]->packet_type = ptype;
  }
  uint32_t dst[Worker::kMaxBurst];
  uint8_t dst6[Worker::kMaxBurst][RTE_FIB6_IPV6_ADDR_SIZE];
  uint64_t nh[Worker::kMaxBurst], nh6[Worker::kMaxBurst];
  uint16_t hop[Worker::kMaxBurst];
  uint32_t n4 = 0, n6 = 0;
  for (int i = 0; i < kPrefetch && i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(m[i], void*));
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetch < n) rte_prefetch0(rte_pktmbuf_mtod(m[i + kPrefetch], void*));
    if (RTE_ETH_IS_IPV4_HDR(m[i]->packet_type)) {
      const auto* ip = rte_pktmbuf_mtod_offset(m[i], const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
      dst[n4++] = rte_be_to_cpu_32(ip->dst_addr);
    } else {
      const auto* ip = rte_pktmbuf_mtod_offset(m[i], const rte_ipv6_hdr*, RTE_ETHER_HDR_LEN);
      rte_mov16(dst6[n6++], ip->dst_addr);
    }
  }
  if (n4) rte_fib_lookup_bulk(s.dp->fib.reader(), dst, nh, n4);
  if (n6) rte_fib6_lookup_bulk(s.dp->fib6.reader(), dst6, nh6, n6);
  const uint16_t out = s.out_port(), in = s.in_port();
  uint32_t j4 = 0, j6 = 0;
  for (uint16_t i = 0; i < n; ++i) {
    const uint64_t found = RTE_ETH_IS_IPV4_HDR(m[i]->packet_type) ? nh[j4++] : nh6[j6++];
    hop[i] = found != Fib::kNoRoute ? out : in;
  }
  uint16_t k = 0;
  for (uint16_t i = 0; i < n; ++i) {
    auto* eth = rte_pktmbuf_mtod(m[i], rte_ether_hdr*);
    if (RTE_ETH_IS_IPV4_HDR(m[i]->packet_type)) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
      const uint8_t ihl = uint8_t(ip->version_ihl - RTE_IPV4_VHL_DEF);
      ip->time_to_live--;
      ip->hdr_checksum++;
      if (ihl > 10 || (uint8_t(ip->total_length) == 0 && ip->total_length < RTE_BE16(20)))
        hop[i] = kBad;
    }
    if (hop[i] != out) {
      rte_pktmbuf_free(m[i]);
      continue;
    }
    // l3fwd's per-port tables (dest_eth_addr, ports_eth_addr; their values do not matter to
    // net_null): 8 bytes stored for the next hop's MAC, as l3fwd does, then the port's own.
    static uint64_t next_hop_mac[RTE_MAX_ETHPORTS];
    static rte_ether_addr own_mac[RTE_MAX_ETHPORTS];
    std::memcpy(&eth->dst_addr, &next_hop_mac[out], sizeof(uint64_t));
    rte_ether_addr_copy(&own_mac[out], &eth->src_addr);
    m[k++] = m[i];
  }
  const uint16_t sent = rte_eth_tx_burst(out, 0, m, k);
  for (uint16_t i = sent; i < k; ++i) rte_pktmbuf_free(m[i]);
}

// What a turn runs: the copy-and-send loop alone, routerd's worker, or the l3fwd model.
enum class Path { io, worker, l3fwd };

// `cycles` worth of bursts through the path, on s's ports. Adds to the cycles and packets
// spent.
// The first `warm` cycles are not counted: whoever ran before left its own lines in the CPU
// caches and TLBs, and refilling them cost the next one about 12 cycles a packet over a 2 ms
// slice (measured: one set-up timed after io and after another set-up).
void run_slice(Setup& s, Path path, const Frames& fr, bool rss, size_t& pos, uint16_t burst,
               uint64_t warm, uint64_t cycles, uint64_t& spent, uint64_t& packets) {
  rte_mbuf* m[Worker::kMaxBurst];
  uint64_t n = 0;
  uint64_t t0 = rte_rdtsc();
  uint64_t t = t0;
  bool warming = warm > 0;
  while (warming || t - t0 < cycles) {
    if (warming && t - t0 >= warm) {
      warming = false;
      t0 = t;
      n = 0;
    }
    for (int b = 0; b < 8; ++b) {
      if (!receive(s.pool.get(), fr, pos, s.in_port(), m, burst, rss))
        throw std::runtime_error("mbuf pool empty: the worker holds packets it should not");
      if (path == Path::io) {
        const uint16_t sent = rte_eth_tx_burst(s.out_port(), 0, m, burst);
        for (uint16_t i = sent; i < burst; ++i) rte_pktmbuf_free(m[i]);
      } else if (path == Path::l3fwd) {
        l3fwd_model_burst(s, m, burst);
      } else {
        s.worker->process(s.in_port(), m, burst);
        s.worker->flush();
        s.dp->rcu.quiescent(0);
      }
      n += burst;
    }
    t = rte_rdtsc();
  }
  if (path == Path::worker) s.packets += n;
  spent += t - t0;
  packets += n;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

int run(int argc, char** argv) {
  CLI::App app{
      "worker-bench: routerd's worker on a trace's frames without devices; cycles per packet "
      "above a copy-and-send loop, round by round, for each config"};
  std::vector<std::string> configs;
  std::string trace, json_out;
  int rounds = 9;
  double round_ms = 1000;
  double slice_us = 2000;
  double warm_us = 1000;
  bool huge = false;
  uint16_t burst = 32;
  std::vector<size_t> turn_in_place, turn_switch;
  app.add_option("--config", configs,
                 "a routerd config (scripts/bench forward writes them under DIR/logs); its "
                 "ports become net_null devices; repeat to compare")
      ->required();
  app.add_option("--trace", trace, "pcap of frames addressed to the first port's MAC")->required();
  app.add_option("--rounds", rounds, "rounds (each times io and every config once)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--round-ms", round_ms, "time per config (and io) per round")
      ->check(CLI::Range(10, 60000));
  app.add_option("--slice-us", slice_us, "time of one turn; the turns alternate within a round")
      ->check(CLI::Range(50, 1000000));
  app.add_option("--warm-us", warm_us, "untimed start of each turn (the previous one's caches)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--burst", burst, "packets per burst")->check(CLI::Range(1, 64));
  app.add_flag("--huge", huge, "hugepages (else --no-huge)");
  bool rss = false;
  std::vector<size_t> rss_configs;
  app.add_flag("--rss", rss,
               "frames carry an RSS hash (Toeplitz, computed when the trace is read), as from a "
               "NIC with RSS: io and every config copy it");
  app.add_option("--rss-config", rss_configs,
                 "config numbers whose frames alone carry the RSS hash; repeat a config to "
                 "compare it with and without in the same rounds");
  app.add_option("--turn-in-place", turn_in_place,
                 "config numbers (from 0) whose turns each start with an IPv4 FIB batch applied "
                 "in place (untimed); repeat the config to compare with itself");
  app.add_option("--turn-switch", turn_switch,
                 "config numbers whose turns each start with FIB batches that switch the "
                 "workers' copy once (untimed), as a route change that frees a tbl8 group does");
  bool l3fwd_model = false;
  app.add_flag("--l3fwd-model", l3fwd_model,
               "also time a model of DPDK l3fwd's FIB path (--lookup fib) on config 0's table "
               "and ports, in the same rounds");
  app.add_option("--json", json_out, "write every round's figures here");
  CLI11_PARSE(app, argc, argv);

  {
    const std::string prefix = "worker-bench-" + std::to_string(getpid());
    std::vector<std::string> eal_args = {"-l",          "0",      "--no-pci",      "--no-telemetry",
                                         "--log-level", "notice", "--file-prefix", prefix};
    if (huge) {
      eal_args.emplace_back("--huge-unlink");
    } else {
      eal_args.insert(eal_args.end(), {"--no-huge", "-m", std::to_string(3072 * configs.size())});
    }
    Eal eal("worker-bench", eal_args);
    Frames fr = read_pcap(trace);
    if (rss || !rss_configs.empty())
      for (size_t i = 0; i < fr.size(); ++i)
        fr.rss.push_back(nic_rss(fr.bytes.data() + fr.off[i], fr.len[i]));
    std::vector<std::shared_ptr<Setup>> setups;
    for (size_t i = 0; i < configs.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      // A config given twice is one set-up timed as two: the control for order effects.
      size_t j = 0;
      while (j < i && configs[j] != configs[i]) ++j;
      if (j < i) {
        setups.push_back(setups[j]);
        continue;
      }
      setups.push_back(std::make_shared<Setup>(configs[i], int(i)));
      std::printf("config %zu: %s (loaded in %.2f s)\n", i, configs[i].c_str(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    // This host's speed moves by 2x within a second, so each round interleaves io and the
    // configs turn by turn, and a round's figures are sums over its turns. The start of a turn
    // is not timed (run_slice), but set-ups still share the L3, where the one with more turns
    // keeps more of its FIB: compare set-ups with equal turns (docs/performance.md).
    const double hz0 = double(rte_get_tsc_hz());
    const uint64_t round_cycles = uint64_t(round_ms / 1000.0 * hz0);
    const uint64_t slice_cycles = uint64_t(slice_us / 1e6 * hz0);
    const uint64_t warm_cycles = uint64_t(warm_us / 1e6 * hz0);
    std::mt19937_64 rng(1);
    size_t pos = 0;
    // Participant 0: io; i + 1: config i; then the l3fwd model, if asked for.
    const size_t model = l3fwd_model ? setups.size() + 1 : 0;
    const size_t np = setups.size() + 1 + (l3fwd_model ? 1 : 0);
    std::vector<TurnChange> change(np, TurnChange::none);
    std::vector<char> with_rss(np, rss);
    for (const size_t i : rss_configs) {
      if (i >= setups.size())
        throw std::runtime_error("--rss-config: no config " + std::to_string(i));
      with_rss[i + 1] = 1;
    }
    for (const size_t i : turn_in_place) {
      if (i >= setups.size())
        throw std::runtime_error("--turn-in-place: no config " + std::to_string(i));
      change[i + 1] = TurnChange::in_place;
    }
    for (const size_t i : turn_switch) {
      if (i >= setups.size())
        throw std::runtime_error("--turn-switch: no config " + std::to_string(i));
      if (change[i + 1] != TurnChange::none)
        throw std::runtime_error("config " + std::to_string(i) +
                                 " is in both --turn-in-place and --turn-switch");
      change[i + 1] = TurnChange::switch_copies;
    }
    auto round = [&](std::vector<double>& out) {
      std::vector<uint64_t> spent(np), pkts(np);
      std::vector<size_t> order(np);
      for (size_t p = 0; p < np; ++p) order[p] = p;
      while (spent[0] < round_cycles) {
        // A fresh order each turn: nobody always follows the same one.
        std::shuffle(order.begin(), order.end(), rng);
        for (const size_t p : order) {
          const bool config = p != 0 && p != model;
          if (config) change_fib(*setups[p - 1], change[p]);
          run_slice(*setups[config ? p - 1 : 0],
                    p == 0   ? Path::io
                    : config ? Path::worker
                             : Path::l3fwd,
                    fr, with_rss[p] != 0, pos, burst, warm_cycles, slice_cycles, spent[p], pkts[p]);
        }
      }
      out.resize(np);
      for (size_t p = 0; p < np; ++p) out[p] = double(spent[p]) / double(pkts[p]);
    };
    std::vector<double> warm;
    round(warm);  // caches, the route cache governor's first probes
    std::vector<double> io;
    std::vector<std::vector<double>> cyc(setups.size());
    std::vector<double> model_cyc;
    json jr = json::array();
    for (int r = 0; r < rounds; ++r) {
      std::vector<double> c;
      round(c);
      io.push_back(c[0]);
      json row;
      row["io"] = c[0];
      std::printf("round %d: io %.1f", r + 1, c[0]);
      for (size_t i = 0; i < setups.size(); ++i) {
        cyc[i].push_back(c[i + 1]);
        row["config"][std::to_string(i)] = c[i + 1];
        std::printf("  config %zu %.1f (own %.1f)", i, c[i + 1], c[i + 1] - c[0]);
      }
      if (model) {
        model_cyc.push_back(c[model]);
        row["l3fwd_model"] = c[model];
        std::printf("  l3fwd model %.1f (own %.1f)", c[model], c[model] - c[0]);
      }
      std::printf("  cycles/packet\n");
      jr.push_back(row);
    }
    const double hz = double(rte_get_tsc_hz());
    const double io_m = median(io);
    std::printf("\nmedians of %d rounds (TSC %.1f MHz, %zu frames, burst %u):\n", rounds, hz / 1e6,
                fr.size(), burst);
    std::printf("  io (copy into mbufs, send to net_null): %.1f cycles/packet, %.2f Mpps\n", io_m,
                hz / io_m / 1e6);
    json js = json::array();
    for (size_t i = 0; i < setups.size(); ++i) {
      std::vector<double> own, ratio;
      for (int r = 0; r < rounds; ++r) {
        own.push_back(cyc[i][size_t(r)] - io[size_t(r)]);
        ratio.push_back(cyc[0][size_t(r)] / cyc[i][size_t(r)]);
      }
      const double m = median(cyc[i]);
      std::printf(
          "  config %zu: %.1f cycles/packet, %.2f Mpps; own (above io, paired) %.1f; rate "
          "against config 0 (paired) %.3f; not forwarded %lu of %lu\n",
          i, m, hz / m / 1e6, median(own), median(ratio),
          static_cast<unsigned long>(setups[i]->not_forwarded()),
          static_cast<unsigned long>(setups[i]->packets));
      // What each family's route cache governor chose, over warm-up and rounds alike: a
      // figure read without it can be the cache's or the FIB's.
      const LcoreStats& st = setups[i]->dp->stats[0];
      json caches = json::object();
      for (const auto& [fam, c] : {std::pair{"4", &st.cache}, std::pair{"6", &st.cache6}}) {
        const uint64_t hits = c->hits.get(), looked = hits + c->misses.get();
        if (looked == 0 && c->bypassed_bursts.get() == 0) continue;
        std::printf(
            "    IPv%s route cache: hits %.1f %% of %lu lookups, probes chose it %lu times and "
            "the FIB %lu times, %lu bursts bypassed it\n",
            fam, looked ? 100.0 * double(hits) / double(looked) : 0.0,
            static_cast<unsigned long>(looked), static_cast<unsigned long>(c->runs_on.get()),
            static_cast<unsigned long>(c->runs_off.get()),
            static_cast<unsigned long>(c->bypassed_bursts.get()));
        caches[fam] = {{"hits", hits},
                       {"lookups", looked},
                       {"runs_on", c->runs_on.get()},
                       {"runs_off", c->runs_off.get()},
                       {"bypassed_bursts", c->bypassed_bursts.get()}};
      }
      js.push_back({{"config", setups[i]->path},
                    {"cycles_per_packet", cyc[i]},
                    {"own_median", median(own)},
                    {"rate_vs_config0_median", median(ratio)},
                    {"packets", setups[i]->packets},
                    {"not_forwarded", setups[i]->not_forwarded()},
                    {"route_cache", caches}});
    }
    json jm = nullptr;
    if (model) {
      std::vector<double> own, ratio;
      for (int r = 0; r < rounds; ++r) {
        own.push_back(model_cyc[size_t(r)] - io[size_t(r)]);
        ratio.push_back(model_cyc[size_t(r)] / cyc[0][size_t(r)]);
      }
      const double m = median(model_cyc);
      std::printf(
          "  l3fwd model on config 0: %.1f cycles/packet, %.2f Mpps; own (above io, paired) "
          "%.1f; config 0's rate against it (paired) %.3f\n",
          m, hz / m / 1e6, median(own), median(ratio));
      jm = {{"cycles_per_packet", model_cyc},
            {"own_median", median(own)},
            {"config0_rate_vs_model_median", median(ratio)}};
    }
    if (!json_out.empty()) {
      std::ofstream o(json_out);
      o << json{{"trace", trace},
                {"frames", fr.size()},
                {"burst", burst},
                {"round_ms", round_ms},
                {"tsc_hz", hz},
                {"huge", huge},
                {"rss", rss},
                {"rss_configs", rss_configs},
                {"io_cycles_per_packet", io},
                {"configs", js},
                {"l3fwd_model", jm},
                {"rounds", jr}}
               .dump(1)
        << "\n";
    }
    setups.clear();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker-bench: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "worker-bench: unknown error\n");
  }
  return 1;
}
