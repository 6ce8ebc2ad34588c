// A control thread over two real ports (p0, p1), driven directly by commands, for unit
// tests that need the whole dataplane state. Everything it creates is freed in reverse.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
};

// The router's own IPv6 start-up traffic in a frame it sent: a DAD probe (an NS from ::) or
// an MLD Report or Done. Tests about other traffic skip these, wherever the random DAD delay
// and the MLD retransmissions put them.
bool is_ipv6_startup(const uint8_t* frame, size_t len);

}  // namespace routerd::testing
