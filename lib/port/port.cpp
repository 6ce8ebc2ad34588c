#include "port.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rte_errno.h>
#include <spdlog/spdlog.h>

#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "dpdk.hpp"

namespace routerd {

namespace {

const std::map<std::string, uint64_t>& rx_offload_bits() {
  static const std::map<std::string, uint64_t> m = {
      {"ipv4_cksum", RTE_ETH_RX_OFFLOAD_IPV4_CKSUM}, {"udp_cksum", RTE_ETH_RX_OFFLOAD_UDP_CKSUM},
      {"tcp_cksum", RTE_ETH_RX_OFFLOAD_TCP_CKSUM},   {"scatter", RTE_ETH_RX_OFFLOAD_SCATTER},
      {"rss_hash", RTE_ETH_RX_OFFLOAD_RSS_HASH},     {"vlan_strip", RTE_ETH_RX_OFFLOAD_VLAN_STRIP},
      {"keep_crc", RTE_ETH_RX_OFFLOAD_KEEP_CRC},
  };
  return m;
}

const std::map<std::string, uint64_t>& tx_offload_bits() {
  static const std::map<std::string, uint64_t> m = {
      {"ipv4_cksum", RTE_ETH_TX_OFFLOAD_IPV4_CKSUM},
      {"udp_cksum", RTE_ETH_TX_OFFLOAD_UDP_CKSUM},
      {"tcp_cksum", RTE_ETH_TX_OFFLOAD_TCP_CKSUM},
      {"mbuf_fast_free", RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE},
      {"multi_segs", RTE_ETH_TX_OFFLOAD_MULTI_SEGS},
  };
  return m;
}

// The single hash types, in bit order (rss_type_names prints these).
struct RssType {
  const char* name;
  uint64_t bit;
};
constexpr RssType kRssTypes[] = {
    {"ipv4", RTE_ETH_RSS_IPV4},
    {"frag_ipv4", RTE_ETH_RSS_FRAG_IPV4},
    {"nonfrag_ipv4_tcp", RTE_ETH_RSS_NONFRAG_IPV4_TCP},
    {"nonfrag_ipv4_udp", RTE_ETH_RSS_NONFRAG_IPV4_UDP},
    {"nonfrag_ipv4_other", RTE_ETH_RSS_NONFRAG_IPV4_OTHER},
    {"ipv6", RTE_ETH_RSS_IPV6},
    {"frag_ipv6", RTE_ETH_RSS_FRAG_IPV6},
    {"nonfrag_ipv6_tcp", RTE_ETH_RSS_NONFRAG_IPV6_TCP},
    {"nonfrag_ipv6_udp", RTE_ETH_RSS_NONFRAG_IPV6_UDP},
    {"nonfrag_ipv6_other", RTE_ETH_RSS_NONFRAG_IPV6_OTHER},
};

const std::map<std::string, uint64_t>& rss_bits() {
  static const std::map<std::string, uint64_t> m = [] {
    std::map<std::string, uint64_t> b = {
        {"tcp", RTE_ETH_RSS_TCP}, {"udp", RTE_ETH_RSS_UDP}, {"ip", RTE_ETH_RSS_IP}};
    for (const RssType& t : kRssTypes) b.emplace(t.name, t.bit);
    return b;
  }();
  return m;
}

// Asks for what the preset names and the device offers; a note for each of the rest.
uint64_t offloads(const std::string& port, const char* dir, const std::vector<std::string>& names,
                  const std::map<std::string, uint64_t>& bits, uint64_t capa,
                  std::vector<std::string>& notes) {
  uint64_t want = 0;
  for (const auto& n : names) {
    auto it = bits.find(n);
    if (it == bits.end()) continue;  // the preset parser already rejected unknown names
    if (it->second & capa)
      want |= it->second;
    else
      notes.push_back(fmt::format("port {}: {} offload '{}' not supported by the device, not used",
                                  port, dir, n));
  }
  return want;
}

[[noreturn]] void fail(const std::string& port, const std::string& what, int rc) {
  throw DpdkError("port " + port + ": " + what + ": " + rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

RxSetup rx_setup(const std::string& port, const Preset& preset, uint64_t offload_capa,
                 uint64_t rss_capa) {
  RxSetup r;
  r.offloads = offloads(port, "rx", preset.rx_offloads, rx_offload_bits(), offload_capa, r.notes);
  if (preset.rss) {
    for (const auto& n : preset.rss_hash)
      if (auto it = rss_bits().find(n); it != rss_bits().end()) r.rss_hf |= it->second;
    r.rss_hf &= rss_capa;
    if (r.rss_hf == 0)
      r.notes.push_back(fmt::format(
          "port {}: device hashes none of the preset's RSS types: no RSS, so RX queues are not "
          "balanced and ECMP hashes every packet itself",
          port));
  }
  if (r.rss_hf == 0 && (r.offloads & RTE_ETH_RX_OFFLOAD_RSS_HASH)) {
    r.offloads &= ~RTE_ETH_RX_OFFLOAD_RSS_HASH;
    r.notes.push_back(fmt::format("port {}: rx offload 'rss_hash' needs RSS, not used", port));
  }
  return r;
}

uint8_t rss_flow_families(uint64_t hf) {
  auto all = [hf](uint64_t tcp, uint64_t udp, uint64_t l3) {
    return (hf & tcp) != 0 && (hf & udp) != 0 && (hf & l3) != 0;
  };
  uint8_t f = 0;
  if (all(RTE_ETH_RSS_NONFRAG_IPV4_TCP, RTE_ETH_RSS_NONFRAG_IPV4_UDP,
          RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER))
    f |= kRssFlows4;
  if (all(RTE_ETH_RSS_NONFRAG_IPV6_TCP, RTE_ETH_RSS_NONFRAG_IPV6_UDP,
          RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER))
    f |= kRssFlows6;
  return f;
}

uint8_t ecmp_rss_families(bool use_rss, uint64_t hf) {
  if (!use_rss) return 0;
  return hf == 0 ? kRssFlows4 | kRssFlows6 : rss_flow_families(hf);
}

std::vector<std::string> rss_type_names(uint64_t hf) {
  std::vector<std::string> out;
  for (const RssType& t : kRssTypes)
    if (hf & t.bit) {
      out.emplace_back(t.name);
      hf &= ~t.bit;
    }
  if (hf) out.push_back(fmt::format("{:#x}", hf));
  return out;
}

std::vector<Mac> ipv6_rx_groups(const std::vector<Ipv6>& addrs) {
  std::vector<Mac> g = {Mac{{0x33, 0x33, 0, 0, 0, 1}}, Mac{{0x33, 0x33, 0, 0, 0, 2}}};
  for (const Ipv6& a : addrs) g.push_back(a.solicited_node().multicast_mac());
  std::sort(g.begin(), g.end(), [](const Mac& x, const Mac& y) { return x.b < y.b; });
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return g;
}

const char* rx_multicast_mode_name(RxMulticastMode m) {
  switch (m) {
    case RxMulticastMode::filter:
      return "filter";
    case RxMulticastMode::allmulticast:
      return "allmulticast";
    case RxMulticastMode::promiscuous:
      return "promiscuous";
    case RxMulticastMode::none:
      break;
  }
  return "none";
}

RxMulticast choose_rx_multicast(const std::vector<Mac>& groups, bool promiscuous_on,
                                const RxMulticastOps& ops) {
  RxMulticast r;
  r.groups = groups.size();
  if (promiscuous_on) {
    r.mode = RxMulticastMode::promiscuous;
    r.why = "the port is promiscuous already (the device cannot take its MAC)";
    return r;
  }
  int rc = ops.set_filter(groups);
  if (rc == 0) {
    r.mode = RxMulticastMode::filter;
    return r;
  }
  std::string why = rc == -ENOTSUP
                        ? std::string("the device has no multicast filter")
                        : "the device refused a multicast filter of " +
                              std::to_string(groups.size()) + " groups: " + rte_strerror(-rc);
  if (rc = ops.allmulticast(); rc == 0) {
    r.mode = RxMulticastMode::allmulticast;
    r.why = why;
    return r;
  }
  why += std::string(", nor all-multicast reception: ") + rte_strerror(-rc);
  if (rc = ops.promiscuous(); rc == 0) {
    r.mode = RxMulticastMode::promiscuous;
    r.why = why;
    return r;
  }
  r.why = why + ", nor promiscuous reception: " + rte_strerror(-rc);
  return r;
}

void Port::set_rx_groups(const std::vector<Mac>& groups) {
  if (rx_groups_set_ && groups == rx_groups_) return;
  const RxMulticastOps ops{[this](const std::vector<Mac>& g) {
                             std::vector<rte_ether_addr> a(g.size());
                             for (size_t i = 0; i < g.size(); ++i)
                               std::memcpy(a[i].addr_bytes, g[i].b.data(), 6);
                             return rte_eth_dev_set_mc_addr_list(id_, a.data(), uint32_t(a.size()));
                           },
                           [this] {
                             int rc = allmulti_on_ ? 0 : rte_eth_allmulticast_enable(id_);
                             allmulti_on_ |= rc == 0;
                             return rc;
                           },
                           [this] {
                             int rc = promisc_on_ ? 0 : rte_eth_promiscuous_enable(id_);
                             promisc_on_ |= rc == 0;
                             return rc;
                           }};
  RxMulticast next = choose_rx_multicast(groups, software_promiscuous_, ops);
  // A wider mode an earlier list needed (one too long for the filter) goes once the filter
  // holds the list again, so the device stops passing up groups nobody listens to.
  if (allmulti_on_ && next.mode != RxMulticastMode::allmulticast &&
      rte_eth_allmulticast_disable(id_) == 0)
    allmulti_on_ = false;
  if (promisc_on_ && next.mode != RxMulticastMode::promiscuous &&
      rte_eth_promiscuous_disable(id_) == 0)
    promisc_on_ = false;
  const bool changed = !rx_groups_set_ || next.mode != rx_mc_.mode || next.why != rx_mc_.why;
  rx_groups_ = groups;
  rx_groups_set_ = true;
  rx_mc_ = next;
  if (!changed) return;
  if (next.mode == RxMulticastMode::filter)
    spdlog::info("port {}: multicast RX through the device's filter ({} groups)", name_,
                 next.groups);
  else if (next.mode == RxMulticastMode::none)
    spdlog::warn(
        "port {}: multicast RX left to the device: {}; IPv6 neighbour discovery works only if "
        "it passes multicast by itself",
        name_, next.why);
  else
    spdlog::info("port {}: multicast RX {}: {}", name_, rx_multicast_mode_name(next.mode),
                 next.why);
}

std::string port_device_name(const std::string& device) {
  return device.substr(0, device.find(','));
}

bool port_device_is_vdev(const std::string& device) {
  // PCI addresses are hex digits, ':' and '.'; vdev names start with a driver name.
  std::string name = port_device_name(device);
  return name.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos;
}

PortQueues port_queue_layout(uint16_t workers, bool symmetric) {
  // One TX queue per worker (the control thread's packets go out through worker 0), one RX
  // queue per worker; symmetric devices get as many RX as TX queues, which is the same.
  PortQueues q;
  q.tx = workers;
  q.rx = symmetric ? std::max(q.tx, workers) : workers;
  return q;
}

std::string Port::set_mtu(uint16_t mtu, rte_mempool* pool) {
  uint32_t room = rte_pktmbuf_data_room_size(pool);
  uint32_t need = mbuf_data_room_for_mtu(mtu);
  if (need > room && uint32_t(mtu) + RTE_ETHER_HDR_LEN + RTE_PKTMBUF_HEADROOM > room)
    throw std::runtime_error("MTU " + std::to_string(mtu) + " does not fit the packet buffers (" +
                             std::to_string(room - RTE_PKTMBUF_HEADROOM) +
                             " bytes); give the port that mtu in the config and restart");
  std::string warning;
  if (int rc = rte_eth_dev_set_mtu(id_, mtu); rc != 0) {
    std::string why = "the device refused MTU " + std::to_string(mtu) + ": " + rte_strerror(-rc);
    if (rte_eth_dev_info info; rc == -EINVAL && rte_eth_dev_info_get(id_, &info) == 0)
      if (std::string range = mtu_refusal(mtu, info); !range.empty())
        why = "the device refused it: " + range;
    if (mtu > mtu_) throw std::runtime_error(why);
    warning = why + "; routerd enforces it on egress itself";
  }
  mtu_ = mtu;
  return warning;
}

std::string mtu_refusal(uint16_t mtu, const rte_eth_dev_info& info) {
  // As ethdev's eth_dev_get_overhead_len: the device's own overhead when it states a max MTU.
  const uint32_t overhead = info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu
                                ? info.max_rx_pktlen - info.max_mtu
                                : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  const uint32_t lo = std::max<uint32_t>(
      info.min_mtu, RTE_ETHER_MIN_LEN > overhead ? RTE_ETHER_MIN_LEN - overhead : 0);
  const uint32_t hi = std::min<uint32_t>(
      info.max_mtu, info.max_rx_pktlen > overhead ? info.max_rx_pktlen - overhead : 0);
  if (mtu >= lo && mtu <= hi) return "";
  return fmt::format("mtu {} is outside what the device takes: {}..{} (frames of at most {} bytes)",
                     mtu, lo, hi, info.max_rx_pktlen);
}

uint16_t mbuf_data_room_for_mtu(uint16_t mtu) {
  uint32_t frame = uint32_t(mtu) + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 8;  // + VLAN slack
  return uint16_t(std::max<uint32_t>(RTE_MBUF_DEFAULT_DATAROOM, frame) + RTE_PKTMBUF_HEADROOM);
}

Port::Port(const PortConfig& cfg, const Preset& preset, uint16_t workers, rte_mempool* pool)
    : name_(cfg.name), device_(cfg.device), mtu_(cfg.mtu) {
  std::string devname = port_device_name(cfg.device);
  if (rte_eth_dev_get_port_by_name(devname.c_str(), &id_) != 0)
    throw DpdkError("port " + name_ + ": device '" + devname + "' was not probed (check " +
                    "port.device and that its driver is available)");
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(id_, &info); rc != 0)
    fail(name_, "cannot read device info", rc);
  driver_ = info.driver_name ? info.driver_name : "?";
  if (std::string why = mtu_refusal(cfg.mtu, info); !why.empty())
    throw DpdkError("port " + name_ + " (" + driver_ + "): " + why);
  socket_ = rte_eth_dev_socket_id(id_);
  if (socket_ < 0) socket_ = 0;

  queues_ = port_queue_layout(workers, preset.symmetric_queues);
  if (queues_.rx > info.max_rx_queues || queues_.tx > info.max_tx_queues)
    throw DpdkError("port " + name_ + ": needs " + std::to_string(queues_.rx) + " RX and " +
                    std::to_string(queues_.tx) +
                    " TX queues (one each per worker lcore), device offers " +
                    std::to_string(info.max_rx_queues) + "/" + std::to_string(info.max_tx_queues));

  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof conf);
  const RxSetup rx = rx_setup(name_, preset, info.rx_offload_capa, info.flow_type_rss_offloads);
  std::vector<std::string> notes = rx.notes;
  rx_offloads_ = rx.offloads;
  tx_offloads_ =
      offloads(name_, "tx", preset.tx_offloads, tx_offload_bits(), info.tx_offload_capa, notes);
  for (const auto& n : notes) spdlog::info("{}", n);
  // The preset counted on RSS to spread its queues: without it queue 0 gets every packet.
  if (preset.rss && rx.rss_hf == 0 && queues_.rx > 1)
    spdlog::warn(
        "port {}: {} RX queues but no RSS: the device delivers every packet to queue 0, "
        "so one worker does all of this port's receiving",
        name_, queues_.rx);
  conf.rxmode.offloads = rx_offloads_;
  conf.txmode.offloads = tx_offloads_;
  conf.rxmode.mtu = cfg.mtu;
  if (rx.rss_hf) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rx.rss_hf;
  }
  if (int rc = rte_eth_dev_configure(id_, queues_.rx, queues_.tx, &conf); rc != 0)
    fail(name_, "rte_eth_dev_configure", rc);
  rss_hf_ = rx.rss_hf;
  // A driver may turn RSS off by itself (vmxnet3 does on one RX queue).
  if (rte_eth_conf now; rss_hf_ && rte_eth_dev_conf_get(id_, &now) == 0 &&
                        (now.rxmode.mq_mode & RTE_ETH_MQ_RX_RSS_FLAG) == 0) {
    spdlog::info("port {}: the driver turned RSS off ({} RX queue{})", name_, queues_.rx,
                 queues_.rx == 1 ? "" : "s");
    rss_hf_ = 0;
  }

  bool software_mac = false;
  try {
    if (cfg.mac) {
      rte_ether_addr a;
      std::memcpy(a.addr_bytes, cfg.mac->b.data(), 6);
      int rc = rte_eth_dev_default_mac_addr_set(id_, &a);
      // Some devices (net_pcap, net_null) cannot change their address. The router then uses
      // the configured one itself, as source MAC and for its own L2 filter, and receives
      // in promiscuous mode so frames for that address reach it.
      if (rc == -ENOTSUP || rc == -EPERM)
        software_mac = true;
      else if (rc != 0)
        fail(name_, "cannot set MAC", rc);
    }
    if (int rc = rte_eth_dev_set_mtu(id_, cfg.mtu); rc != 0 && rc != -ENOTSUP)
      fail(name_, "cannot set MTU " + std::to_string(cfg.mtu), rc);

    uint16_t nrx = preset.rx_descriptors, ntx = preset.tx_descriptors;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id_, &nrx, &ntx); rc != 0)
      fail(name_, "cannot adjust descriptor counts", rc);
    rx_desc_ = nrx;
    tx_desc_ = ntx;
    for (uint16_t q = 0; q < queues_.rx; ++q) {
      rte_eth_rxconf rxc = info.default_rxconf;
      rxc.offloads = rx_offloads_;
      if (int rc = rte_eth_rx_queue_setup(id_, q, nrx, unsigned(socket_), &rxc, pool); rc != 0)
        fail(name_, "RX queue " + std::to_string(q) + " setup", rc);
    }
    for (uint16_t q = 0; q < queues_.tx; ++q) {
      rte_eth_txconf txc = info.default_txconf;
      txc.offloads = tx_offloads_;
      if (int rc = rte_eth_tx_queue_setup(id_, q, ntx, unsigned(socket_), &txc); rc != 0)
        fail(name_, "TX queue " + std::to_string(q) + " setup", rc);
    }
    if (int rc = rte_eth_dev_start(id_); rc != 0) fail(name_, "cannot start", rc);
    started_ = true;
    // What the device hashes on, where it says (some narrow or widen the request).
    if (rte_eth_rss_conf rc{}; rss_hf_ && rte_eth_dev_rss_hash_conf_get(id_, &rc) == 0)
      rss_hf_ = rc.rss_hf;
    // Multicast groups (IPv6 neighbour discovery) come with the addresses: the control
    // thread sets them with set_rx_groups as it gives the port its link-local address.
    if (software_mac) {
      mac_ = *cfg.mac;
      int rc = rte_eth_promiscuous_enable(id_);
      software_promiscuous_ = rc == 0;
      spdlog::info("port {}: device cannot take MAC {}: routerd uses it in software{}", name_,
                   mac_.str(), rc == 0 ? " with promiscuous RX" : " (promiscuous RX unavailable)");
    } else {
      rte_ether_addr a;
      rte_eth_macaddr_get(id_, &a);
      std::memcpy(mac_.b.data(), a.addr_bytes, 6);
    }
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(id_, &mtu) == 0 && mtu != cfg.mtu)
      spdlog::warn("port {}: asked for MTU {}, device reports {}", name_, cfg.mtu, mtu);
    spdlog::info("port {}: {} ({}) id {} mac {} mtu {} rxq {} txq {} desc {}/{} socket {} rss {}",
                 name_, device_, driver_, id_, mac_.str(), mtu_, queues_.rx, queues_.tx, nrx, ntx,
                 socket_,
                 rss_hf_ ? fmt::format("{}", fmt::join(rss_type_names(rss_hf_), ",")) : "off");
  } catch (...) {
    if (started_) rte_eth_dev_stop(id_);
    rte_eth_dev_close(id_);
    throw;
  }
}

void Port::stop() {
  if (started_) {
    rte_eth_dev_stop(id_);
    started_ = false;
  }
}

Port::~Port() {
  stop();
  rte_eth_dev_close(id_);
}

bool Port::link_up() const {
  rte_eth_link l;
  return rte_eth_link_get_nowait(id_, &l) == 0 && l.link_status == RTE_ETH_LINK_UP;
}

Port::LinkState Port::link_state() const {
  rte_eth_link l;
  if (rte_eth_link_get_nowait(id_, &l) != 0) return LinkState::unknown;
  if (l.link_status == RTE_ETH_LINK_UP) return LinkState::up;
  if (driver_ == "net_tap") {
    const size_t at = device_.find("iface=");
    if (at != std::string::npos) {
      const size_t from = at + 6;
      const std::string iface = device_.substr(from, device_.find(',', from) - from);
      if (if_nametoindex(iface.c_str()) == 0) return LinkState::unknown;
    }
  }
  return LinkState::down;
}

uint32_t Port::link_speed_mbps() const {
  rte_eth_link l;
  if (rte_eth_link_get_nowait(id_, &l) != 0 || l.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN) return 0;
  return l.link_speed;
}

}  // namespace routerd
