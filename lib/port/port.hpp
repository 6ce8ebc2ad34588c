// port: one started DPDK ethdev, configured from its [[port]] section and preset.
// Construction configures and starts it (dropping, with a log line, offloads the device
// lacks); destruction stops and closes it, so no path leaves a port running. Multicast
// reception follows set_rx_groups: an exact filter where the device takes one, else wider.
#pragma once

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"
#include "inet.hpp"
#include "inet6.hpp"
#include "preset.hpp"

namespace routerd {

// The device name DPDK registers for a config `device` string: the vdev name before the
// first comma ("net_tap0,iface=x" -> "net_tap0"), or the PCI address.
std::string port_device_name(const std::string& device);
bool port_device_is_vdev(const std::string& device);

struct PortQueues {
  uint16_t rx;  // RX queues (>= workers; == tx when the preset asks for symmetric queues)
  uint16_t tx;  // TX queues: one per worker (control's packets go out through worker 0)
};
PortQueues port_queue_layout(uint16_t workers, bool symmetric);

// ---- multicast reception
// The link-layer groups a port must receive for its IPv6 addresses (the link-local one
// included): all-nodes 33:33:00:00:00:01, all-routers 33:33:00:00:00:02 (RFC 4291 2.8: a
// router listens there) and the solicited-node group of each address, 33:33:ff and its low
// 24 bits (RFC 4291 2.7.1, RFC 2464 7). Sorted, without duplicates. IPv4 needs none: routerd
// joins no IPv4 group (it neither routes multicast nor speaks a multicast protocol).
std::vector<Mac> ipv6_rx_groups(const std::vector<Ipv6>& addrs);

// How a port receives those groups: `filter` is exact (the device drops other groups);
// the others take every group (allmulticast) or every frame (promiscuous), and routerd's
// own checks drop what is not its own. `none`: the device accepts no setting at all, so it
// delivers multicast or not by itself. (net_tap takes any list and filters nothing;
// net_null and net_ring have no filter and take all-multicast.)
enum class RxMulticastMode : uint8_t { filter, allmulticast, promiscuous, none };
const char* rx_multicast_mode_name(RxMulticastMode m);

struct RxMulticast {
  RxMulticastMode mode = RxMulticastMode::none;
  size_t groups = 0;  // the groups routerd wants (in the device's filter when mode is filter)
  std::string why;    // why the mode is not `filter` ("" when it is)
  bool operator==(const RxMulticast&) const = default;
};

// The device operations the choice needs, with ethdev's return convention (0 or -errno).
struct RxMulticastOps {
  std::function<int(const std::vector<Mac>&)> set_filter;  // replaces the device's list
  std::function<int()> allmulticast;                       // enables all-multicast RX
  std::function<int()> promiscuous;                        // enables promiscuous RX
};

// Tries the exact filter, then all-multicast, then promiscuous reception, and stops at the
// first the device accepts: a driver without a filter (-ENOTSUP) or with too small a one
// (-ENOSPC, -EINVAL...) still receives neighbour discovery. `promiscuous_on`: the port
// already receives every frame (a MAC the device cannot take), so nothing is asked of it.
RxMulticast choose_rx_multicast(const std::vector<Mac>& groups, bool promiscuous_on,
                                const RxMulticastOps& ops);

// ---- receive set-up
// What a port asks of its device on receive: the preset's RX offloads and RSS hash types,
// less what the device lacks. RSS is asked for whenever the preset has it and the device
// hashes one of its types, with one RX queue too: a NIC then hands over each packet's hash
// (RTE_MBUF_F_RX_RSS_HASH), which ECMP takes instead of hashing again. Without RSS the
// rss_hash offload is left out, since ethdev refuses it outside the RSS mode.
struct RxSetup {
  uint64_t offloads = 0;           // RTE_ETH_RX_OFFLOAD_*
  uint64_t rss_hf = 0;             // RTE_ETH_RSS_* (0: no RSS)
  std::vector<std::string> notes;  // what was left out and why, one log line each
};
RxSetup rx_setup(const std::string& port, const Preset& preset, uint64_t offload_capa,
                 uint64_t rss_capa);
// The families (bit 0 IPv4, bit 1 IPv6) for which a device hashing hf covers a flow as
// ECMP's own hash does: TCP and UDP with their ports, everything else by its addresses. A
// device that hashes UDP on addresses alone (vmxnet3 before version 4) would send every UDP
// flow between two hosts to one member: ECMP then hashes that family itself.
constexpr uint8_t kRssFlows4 = 1, kRssFlows6 = 2;
uint8_t rss_flow_families(uint64_t hf);
// The families whose RSS hash ECMP takes on a port whose device hashes hf: none without
// ecmp.use_rss; with RSS, rss_flow_families(hf); without RSS both, as the device delivers no
// hash (a vdev that sets one anyway is taken at its word, as the worker tests do).
uint8_t ecmp_rss_families(bool use_rss, uint64_t hf);
// The hash types in hf by the names presets use (each one type), and any other bits as
// one hex number, in bit order: what `link show` prints.
std::vector<std::string> rss_type_names(uint64_t hf);

class Port {
 public:
  Port(const PortConfig& cfg, const Preset& preset, uint16_t workers, rte_mempool* pool);
  ~Port();
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  uint16_t id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& device() const { return device_; }
  const std::string& driver() const { return driver_; }
  const Mac& mac() const { return mac_; }
  uint16_t mtu() const { return mtu_; }
  int socket() const { return socket_; }
  PortQueues queues() const { return queues_; }
  // The most mbufs its rings can hold at once: every RX and TX descriptor of every queue.
  uint32_t ring_mbufs() const {
    return uint32_t(queues_.rx) * rx_desc_ + uint32_t(queues_.tx) * tx_desc_;
  }
  uint64_t rx_offloads() const { return rx_offloads_; }
  uint64_t tx_offloads() const { return tx_offloads_; }
  // The RSS hash types the device uses (0: no RSS), as it reports them after start where
  // it can, else as configured.
  uint64_t rss_hf() const { return rss_hf_; }
  bool link_up() const;
  // What the device says of its link, and `unknown` where it cannot know: net_tap reads its
  // interface's flags by name in routerd's network namespace, so once the interface moved
  // to another one (the testbeds do) it reads as down whatever it is.
  enum class LinkState : uint8_t { up, down, unknown };
  LinkState link_state() const;
  uint32_t link_speed_mbps() const;
  void stop();
  // Changes the MTU at run time. Throws std::runtime_error (port unchanged) when a frame
  // of that size would not fit the mbufs of `pool`, or when the device refuses a larger
  // MTU. A device that cannot take a smaller MTU (net_null, net_pcap; a TAP whose netdev
  // moved to another namespace) keeps its own: routerd enforces the smaller one on egress
  // itself, which is always safe. Returns a warning for that case, else "".
  std::string set_mtu(uint16_t mtu, rte_mempool* pool);
  // Makes the port receive exactly these link-layer groups where the device can (see
  // choose_rx_multicast), and turns off a wider mode it no longer needs. The same list
  // again changes nothing. Logs the mode when it (or the reason for it) changes.
  void set_rx_groups(const std::vector<Mac>& groups);
  const RxMulticast& rx_multicast() const { return rx_mc_; }

 private:
  uint16_t id_ = 0;
  std::string name_, device_, driver_;
  Mac mac_;
  uint16_t mtu_ = 1500;
  int socket_ = 0;
  PortQueues queues_{};
  uint16_t rx_desc_ = 0, tx_desc_ = 0;  // per queue, as the driver adjusted them
  uint64_t rx_offloads_ = 0, tx_offloads_ = 0, rss_hf_ = 0;
  bool started_ = false;
  bool software_promiscuous_ = false;              // promiscuous for a MAC the device cannot take
  bool allmulti_on_ = false, promisc_on_ = false;  // enabled by set_rx_groups
  bool rx_groups_set_ = false;
  std::vector<Mac> rx_groups_;
  RxMulticast rx_mc_;
};

// Why a device with this info refuses an MTU ("" when it takes it), by ethdev's own rule:
// min_mtu..max_mtu, and the frame (MTU plus the device's overhead) within max_rx_pktlen.
// ethdev says only EINVAL; this says the range the device takes.
std::string mtu_refusal(uint16_t mtu, const rte_eth_dev_info& info);

// Buffer size an mbuf needs to hold a whole frame of this IP MTU in one segment.
uint16_t mbuf_data_room_for_mtu(uint16_t mtu);

}  // namespace routerd
