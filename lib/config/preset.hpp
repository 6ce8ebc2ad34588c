// preset: per-driver port settings read from drivers-config/<name>.toml.
// A preset only asks; at startup the port drops what the device cannot do, with a log line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace routerd {

struct Preset {
  std::string name;
  std::string path;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  // RX queues must equal TX queues (TAP, memif: each queue pair is one fd or ring, and
  // the peer may deliver to any of them, so every queue is polled).
  bool symmetric_queues = false;
  bool rss = false;                      // spread RX over queues with RSS
  std::vector<std::string> rss_hash;     // "ipv4", "tcp", "udp", "ipv6"...
  std::vector<std::string> rx_offloads;  // "ipv4_cksum", "scatter"... (never vlan_strip, keep_crc)
  std::vector<std::string> tx_offloads;  // "ipv4_cksum", "multi_segs"... (never mbuf_fast_free)
};

// Reads <dir>/<name>.toml; throws ConfigError("<path>: <key>: <problem>") on any problem,
// including unknown keys and unknown offload or hash names.
Preset load_preset(const std::string& dir, const std::string& name);

// Names accepted in rss_hash / rx_offloads / tx_offloads.
const std::vector<std::string>& preset_rss_hash_names();
const std::vector<std::string>& preset_rx_offload_names();
const std::vector<std::string>& preset_tx_offload_names();

}  // namespace routerd
