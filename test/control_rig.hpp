// A control thread over two real ports (p0, p1), driven directly by commands, for unit
// tests that need the whole dataplane state. Everything it creates is freed in reverse.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arp.hpp"
#include "control.hpp"
#include "dpdk.hpp"

namespace routerd::testing {

struct ControlRig {
  struct Options {
    uint32_t readers = 1;     // RCU reader slots (workers)
    uint32_t next_hops = 64;  // next-hop slots
    uint32_t tbl8 = 64;       // tbl8 groups; the FIB holds 1024 prefixes
    uint32_t mbufs = 2048;
    // The vdev driver of p1: net_null, or net_ring to read back what is sent on it (its
    // TX ring is also its RX ring). p0 is always net_null.
    std::string p1_driver = "net_null";
    Config config = {};  // the rest of the config (limits, timers); ports come from the rig
    // A config file's text (ports named p0 and p1) applied with Control::load instead of
    // `config` and the two default addresses, so tests can call reload_apply against it.
    std::string config_toml = {};
  };

  const std::string tag;  // makes this rig's DPDK object and device names unique
  Mempool pool;
  Ring punt;
  Ring ctl_tx;
  SharedState dp;
  std::vector<std::unique_ptr<Port>> ports;
  std::vector<std::string> devices;
  std::unique_ptr<Control> ctl;

  // Ports p0 (10.1.0.1/24) and p1 (10.2.0.1/24), MTU 1500, default config; or, with
  // Options::config, what that config says.
  explicit ControlRig(const Options& o);
  ~ControlRig();
  ControlRig(const ControlRig&) = delete;
  ControlRig& operator=(const ControlRig&) = delete;

  nlohmann::json run(const std::vector<std::string>& argv);
  // The refusal's message, or "" when the command was applied.
  std::string fails(const std::vector<std::string>& argv);
  // The frames control sent since the last call, oldest first, and (into ports, when
  // given) the port of each; the router's own IPv6 start-up traffic (is_ipv6_startup) is
  // left out. Every frame is freed.
  std::vector<std::vector<uint8_t>> sent_frames(std::vector<uint16_t>* ports = nullptr);
};

// An ARP request (or reply) from `sender` (by default a host on p1's 10.2.0.0/24) for the
// router's 10.2.0.1, as a worker hands it over; the MAC is 02:5b:00:00:HI:LO from `mac_id`.
PuntEntry arp_from(rte_mempool* pool, Ipv4 sender, uint16_t mac_id,
                   ArpPacket::Op op = ArpPacket::request, Ipv4 target = Ipv4(10, 2, 0, 1),
                   uint16_t in_port = 1);
// An IPv4 ICMP echo request src -> dst (TTL 64, `total` bytes of datagram) that arrived on
// p0, handed over by a worker for `why` (default: its next hop needs ARP).
PuntEntry ip_to(rte_mempool* pool, Ipv4 src, Ipv4 dst, Punt why = Punt::unresolved,
                uint8_t ttl = 64, uint16_t total = 28, bool df = false);

// The router's own IPv6 start-up traffic in a frame it sent: a DAD probe (an NS from ::) or
// an MLD Report or Done. Tests about other traffic skip these, wherever the random DAD delay
// and the MLD retransmissions put them.
bool is_ipv6_startup(const uint8_t* frame, size_t len);

}  // namespace routerd::testing
