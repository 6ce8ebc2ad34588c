// routerd-loadgen: a small DPDK traffic generator for scripts/loadgen. It sends 64-byte
// IPv4/UDP frames on one port at a paced rate and counts what comes back on another, and
// finds the highest rate with no loss by binary search. dpdk-testpmd's txonly mode cannot
// pace its sending, which a zero-loss search needs; this one paces bursts on the TSC.
// A benchmark tool, not a test: it reports counts and never judges them.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inet.hpp"

namespace {

using nlohmann::json;
using routerd::Ipv4;
using routerd::Mac;

struct Args {
  uint16_t tx_port = 0, rx_port = 1;
  Mac dst_mac;
  uint32_t src_ip = 0, dst_ip = 0, flows = 256;
  double seconds = 2, max_rate = 0;  // max_rate 0: the fastest this sender can go
  int steps = 6;
  double loss = 0;         // tolerated loss ratio
  std::string start_file;  // wait for this file before sending (the router is ready)
};

struct Trial {
  double rate;  // asked for (packets/s); 0: unpaced
  uint64_t offered = 0, sent = 0, received = 0;
  double seconds = 0;
};

constexpr uint16_t kBurst = 32;

// One frame per flow: destinations dst_ip + i, fixed source and ports.
void fill(rte_mbuf* m, const Args& a, const rte_ether_addr& src_mac, uint32_t flow) {
  constexpr uint16_t kLen = 60;  // 64 with the CRC
  auto* p = rte_pktmbuf_mtod(m, uint8_t*);
  std::memset(p, 0, kLen);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  std::memcpy(eth->dst_addr.addr_bytes, a.dst_mac.b.data(), 6);
  eth->src_addr = src_mac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(kLen - sizeof(rte_ether_hdr));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(a.src_ip);
  ip->dst_addr = rte_cpu_to_be_32(a.dst_ip + flow % a.flows);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(1024);
  udp->dst_port = rte_cpu_to_be_16(9);
  udp->dgram_len = rte_cpu_to_be_16(kLen - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
  m->data_len = m->pkt_len = kLen;
}

Trial run(const Args& a, rte_mempool* pool, double rate) {
  Trial t{rate};
  rte_ether_addr src;
  rte_eth_macaddr_get(a.tx_port, &src);
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t start = rte_rdtsc(), end = start + uint64_t(a.seconds * double(hz));
  // Paced: a burst is due every kBurst/rate seconds; when late, send what is due at once
  // (up to one burst per loop) rather than lose the schedule.
  const double tsc_per_pkt = rate > 0 ? double(hz) / rate : 0;
  uint64_t due_pkts = 0;
  uint32_t flow = 0;
  rte_mbuf* rx[kBurst];
  for (uint64_t now = start; now < end; now = rte_rdtsc()) {
    uint16_t n = kBurst;
    if (rate > 0) {
      const uint64_t should = uint64_t(double(now - start) / tsc_per_pkt);
      n = uint16_t(std::min<uint64_t>(kBurst, should - std::min(should, due_pkts)));
    }
    if (n) {
      rte_mbuf* tx[kBurst];
      if (rte_pktmbuf_alloc_bulk(pool, tx, n) == 0) {
        for (uint16_t i = 0; i < n; ++i) fill(tx[i], a, src, flow++);
        const uint16_t ok = rte_eth_tx_burst(a.tx_port, 0, tx, n);
        if (ok < n) rte_pktmbuf_free_bulk(tx + ok, n - ok);
        t.offered += n;
        t.sent += ok;
        due_pkts += n;
      }
    }
    const uint16_t got = rte_eth_rx_burst(a.rx_port, 0, rx, kBurst);
    t.received += got;
    if (got) rte_pktmbuf_free_bulk(rx, got);
  }
  t.seconds = double(rte_rdtsc() - start) / double(hz);
  // Drain: what was sent in the trial and is still in the router belongs to it.
  const uint64_t drain_end = rte_rdtsc() + hz / 5;
  while (rte_rdtsc() < drain_end) {
    const uint16_t got = rte_eth_rx_burst(a.rx_port, 0, rx, kBurst);
    t.received += got;
    if (got) rte_pktmbuf_free_bulk(rx, got);
  }
  return t;
}

json to_json(const Trial& t) {
  return {{"rate_pps", t.rate},
          {"offered", t.offered},
          {"sent", t.sent},
          {"received", t.received},
          {"lost", t.sent - std::min(t.sent, t.received)},
          {"not_sent", t.offered - t.sent},
          {"seconds", t.seconds}};
}

bool lossless(const Trial& t, double loss) {
  if (t.offered == 0) return false;
  const double lost = double(t.offered - std::min(t.offered, t.received));
  return lost <= loss * double(t.offered);
}

void setup_port(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr) != 0 ||
      rte_eth_dev_start(port) != 0)
    throw std::runtime_error("cannot start port " + std::to_string(port));
}

}  // namespace

int main(int argc, char** argv) {
  int eal = rte_eal_init(argc, argv);
  if (eal < 0) {
    std::fprintf(stderr, "routerd-loadgen: EAL initialisation failed\n");
    return 1;
  }
  Args a;
  try {
    for (int i = eal + 1; i < argc; ++i) {
      std::string s = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(s + " needs a value");
        return argv[++i];
      };
      if (s == "--dst-mac") {
        auto m = Mac::parse(next());
        if (!m) throw std::runtime_error("--dst-mac: not a MAC address");
        a.dst_mac = *m;
      } else if (s == "--src-ip" || s == "--dst-ip") {
        auto ip = Ipv4::parse(next());
        if (!ip) throw std::runtime_error(s + ": not an IPv4 address");
        (s == "--src-ip" ? a.src_ip : a.dst_ip) = ip->v;
      } else if (s == "--flows") {
        a.flows = uint32_t(std::max(1ul, std::stoul(next())));
      } else if (s == "--seconds") {
        a.seconds = std::stod(next());
      } else if (s == "--max-rate") {
        a.max_rate = std::stod(next());
      } else if (s == "--steps") {
        a.steps = std::stoi(next());
      } else if (s == "--loss") {
        a.loss = std::stod(next());
      } else if (s == "--start-file") {
        a.start_file = next();
      } else {
        throw std::runtime_error("unknown option " + s);
      }
    }
    if (!a.src_ip || !a.dst_ip) throw std::runtime_error("--src-ip and --dst-ip are required");
    if (rte_eth_dev_count_avail() < 2)
      throw std::runtime_error("needs two ports (EAL --vdev): TX is port 0, RX port 1");
    rte_mempool* pool = rte_pktmbuf_pool_create("loadgen", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                int(rte_socket_id()));
    if (!pool) throw std::runtime_error("cannot create the mbuf pool");
    setup_port(a.tx_port, pool);
    setup_port(a.rx_port, pool);
    // memif and vhost links come up when the peer connects (up to 60 s: routerd may still
    // be starting).
    for (int i = 0; i < 600; ++i) {
      rte_eth_link l0{}, l1{};
      rte_eth_link_get_nowait(a.tx_port, &l0);
      rte_eth_link_get_nowait(a.rx_port, &l1);
      if (l0.link_status && l1.link_status) break;
      usleep(100000);
    }
    // A link can be up before the router has finished starting its port (vhost-user: when
    // the frontend connects); packets sent then can be discarded by the port's own start,
    // uncounted. So the caller says when the router is ready.
    for (int i = 0; !a.start_file.empty() && access(a.start_file.c_str(), F_OK) != 0; ++i) {
      if (i == 1200) throw std::runtime_error("no " + a.start_file + " after 120 s");
      usleep(100000);
    }
    // Every packet of every run, warm-up included: what the router's counters must match.
    Trial total{0};
    auto counted = [&](Trial t) {
      total.offered += t.offered;
      total.sent += t.sent;
      total.received += t.received;
      return t;
    };
    counted(run(a, pool, a.max_rate));  // warm-up: links, caches, the router's neighbours
    json out = {{"trials", json::array()}};
    Trial top = counted(run(a, pool, a.max_rate));
    out["trials"].push_back(to_json(top));
    double ceiling = a.max_rate > 0 ? a.max_rate : double(top.sent) / top.seconds;
    out["max_sent_pps"] = double(top.sent) / top.seconds;
    double lo = 0, hi = ceiling;
    if (lossless(top, a.loss)) lo = hi;
    for (int s = 0; s < a.steps && lo < hi; ++s) {
      const double mid = (lo + hi) / 2;
      Trial t = counted(run(a, pool, mid));
      out["trials"].push_back(to_json(t));
      (lossless(t, a.loss) ? lo : hi) = mid;
    }
    out["zero_loss_pps"] = lo;
    out["total"] = to_json(total);
    std::printf("%s\n", out.dump().c_str());
    rte_eth_dev_stop(a.tx_port);
    rte_eth_dev_stop(a.rx_port);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "routerd-loadgen: %s\n", e.what());
    rte_eal_cleanup();
    return 2;
  }
  rte_eal_cleanup();
  return 0;
}
