// port: one started DPDK ethdev, configured from its [[port]] section and preset.
// Construction configures and starts it (dropping, with a log line, offloads the device
// lacks); destruction stops and closes it, so no path leaves a port running.
#pragma once

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "inet.hpp"
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
  uint64_t rx_offloads() const { return rx_offloads_; }
  uint64_t tx_offloads() const { return tx_offloads_; }
  bool link_up() const;
  uint32_t link_speed_mbps() const;
  void stop();
  // Changes the MTU at run time. Throws std::runtime_error (port unchanged) when a frame
  // of that size would not fit the mbufs of `pool`, or when the device refuses a larger
  // MTU. A device that cannot take a smaller MTU (net_null, net_pcap; a TAP whose netdev
  // moved to another namespace) keeps its own: routerd enforces the smaller one on egress
  // itself, which is always safe. Returns a warning for that case, else "".
  std::string set_mtu(uint16_t mtu, rte_mempool* pool);

 private:
  uint16_t id_ = 0;
  std::string name_, device_, driver_;
  Mac mac_;
  uint16_t mtu_ = 1500;
  int socket_ = 0;
  PortQueues queues_{};
  uint64_t rx_offloads_ = 0, tx_offloads_ = 0;
  bool started_ = false;
};

// Buffer size an mbuf needs to hold a whole frame of this IP MTU in one segment.
uint16_t mbuf_data_room_for_mtu(uint16_t mtu);

}  // namespace routerd
