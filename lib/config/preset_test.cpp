#include "preset.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "config.hpp"

using namespace routerd;
namespace fs = std::filesystem;

namespace {

const std::string kShipped = std::string(ROUTERD_SOURCE_ROOT) + "/drivers-config";

// A scratch presets directory, removed at the end of the test.
class PresetDir {
 public:
  PresetDir()
      : dir_(fs::temp_directory_path() / ("routerd-preset-test-" + std::to_string(getpid()))) {
    fs::create_directories(dir_);
  }
  ~PresetDir() { fs::remove_all(dir_); }
  PresetDir(const PresetDir&) = delete;
  PresetDir& operator=(const PresetDir&) = delete;

  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = dir_ / (name + ".toml");
    std::ofstream(p) << text;
    return p.string();
  }
  std::string dir() const { return dir_.string(); }

  // The message load_preset throws, or "" when it accepts the file.
  std::string error_of(const std::string& text) const {
    std::string path = write("t", text);
    try {
      load_preset(dir(), "t");
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      CHECK(msg.rfind(path + ": ", 0) == 0);
      return msg.substr(path.size() + 2);
    }
    return "";
  }

 private:
  fs::path dir_;
};

}  // namespace

TEST_CASE("every shipped preset loads", "[config]") {
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(kShipped)) {
    if (entry.path().extension() != ".toml") continue;
    std::string name = entry.path().stem().string();
    INFO(name);
    Preset p;
    REQUIRE_NOTHROW(p = load_preset(kShipped, name));
    CHECK(p.name == name);
    CHECK(p.path == entry.path().string());
    found.insert(name);
  }
  CHECK(found == std::set<std::string>{"default", "tap", "null", "pcap", "ring", "memif",
                                       "virtio-user", "ixgbe", "i40e", "ice", "mlx5", "virtio-pci",
                                       "vmxnet3"});
}

TEST_CASE("shipped presets carry the driver facts", "[config]") {
  Preset d = load_preset(kShipped, "default");
  CHECK(d.rx_descriptors == 1024);
  CHECK(d.tx_descriptors == 1024);
  CHECK_FALSE(d.symmetric_queues);
  CHECK_FALSE(d.rss);
  CHECK(d.rx_offloads.empty());
  CHECK(d.tx_offloads.empty());

  // net_tap refuses unequal queue counts and the kernel already spreads by flow.
  Preset tap = load_preset(kShipped, "tap");
  CHECK(tap.symmetric_queues);
  CHECK_FALSE(tap.rss);
  CHECK(tap.rx_descriptors == 1024);
  CHECK(tap.rx_offloads.empty());
  CHECK(tap.tx_offloads.empty());

  CHECK(load_preset(kShipped, "memif").symmetric_queues);
  CHECK_FALSE(load_preset(kShipped, "pcap").symmetric_queues);
  Preset vu = load_preset(kShipped, "virtio-user");
  CHECK(vu.symmetric_queues);
  CHECK(vu.rx_offloads.empty());
  CHECK(vu.tx_offloads.empty());

  // NIC presets: the RX checksum flags routerd uses, RSS over both families (a flow type
  // the NIC does not hash lands on queue 0: IPv6 would get one worker), and never a TX
  // checksum offload, since routerd sets no per-packet offload flags (it updates the
  // checksum itself): asking for one would promise work nobody does.
  auto has = [](const std::vector<std::string>& v, const char* n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  for (const char* nic : {"ixgbe", "i40e", "ice", "mlx5", "vmxnet3"}) {
    INFO(nic);
    Preset p = load_preset(kShipped, nic);
    CHECK(p.rss);
    CHECK((has(p.rss_hash, "ipv4") || has(p.rss_hash, "frag_ipv4")));
    CHECK((has(p.rss_hash, "ipv6") || has(p.rss_hash, "frag_ipv6")));
    CHECK(has(p.rss_hash, "nonfrag_ipv4_tcp"));
    CHECK(has(p.rss_hash, "nonfrag_ipv6_tcp"));
    CHECK(std::count(p.rx_offloads.begin(), p.rx_offloads.end(), "ipv4_cksum") == 1);
  }
  CHECK(load_preset(kShipped, "virtio-pci").symmetric_queues);  // virtqueues come in pairs
  for (const auto& entry : fs::directory_iterator(kShipped)) {
    Preset p = load_preset(kShipped, entry.path().stem().string());
    INFO(entry.path().string());
    for (const auto& o : p.tx_offloads) CHECK(o.find("cksum") == std::string::npos);
  }
}

TEST_CASE("preset keys and values are read and checked", "[config]") {
  PresetDir d;
  d.write("full", R"(
rx_descriptors = 64
tx_descriptors = 32768
symmetric_queues = true
rss = true
rss_hash = ["ipv4", "nonfrag_ipv4_tcp", "udp"]
rx_offloads = ["ipv4_cksum", "scatter"]
tx_offloads = ["multi_segs"]
)");
  Preset p = load_preset(d.dir(), "full");
  CHECK(p.rx_descriptors == 64);
  CHECK(p.tx_descriptors == 32768);
  CHECK(p.symmetric_queues);
  CHECK(p.rss);
  CHECK(p.rss_hash == std::vector<std::string>{"ipv4", "nonfrag_ipv4_tcp", "udp"});
  CHECK(p.rx_offloads == std::vector<std::string>{"ipv4_cksum", "scatter"});
  CHECK(p.tx_offloads == std::vector<std::string>{"multi_segs"});

  Preset empty = load_preset(d.dir(), (d.write("empty", ""), "empty"));
  CHECK(empty.rx_descriptors == 1024);
  CHECK_FALSE(empty.rss);

  CHECK(d.error_of("rx_descriptorz = 1024\n") == "rx_descriptorz: unknown key");
  CHECK(d.error_of("[rx]\n") == "rx: unknown key");
  CHECK(d.error_of("rx_descriptors = 63\n") == "rx_descriptors: 63 is out of range 64..32768");
  CHECK(d.error_of("tx_descriptors = 65536\n") ==
        "tx_descriptors: 65536 is out of range 64..32768");
  CHECK(d.error_of("rx_descriptors = \"1024\"\n") == "rx_descriptors: expected an integer");
  CHECK(d.error_of("rss = \"yes\"\n") == "rss: expected a boolean");
  CHECK(d.error_of("rx_offloads = \"scatter\"\n") == "rx_offloads: expected an array of strings");
  CHECK(d.error_of("rss = true\n") == "rss_hash: must not be empty when rss = true");
  CHECK(d.error_of("rss_hash = [\"ip\", \"ip\"]\n") == "rss_hash[1]: 'ip' is listed twice");
  CHECK(d.error_of("rx_offloads = [\"scatter\", \"vlan_strip\"]\n") ==
        "rx_offloads[1]: 'vlan_strip' cannot be used: routerd does not route VLANs, and "
        "stripped tags would put every VLAN's frames on the port's one network");
  CHECK(d.error_of("rx_offloads = [\"keep_crc\"]\n") ==
        "rx_offloads[0]: 'keep_crc' cannot be used: a kept CRC makes every frame longer than "
        "its datagram, and every packet would take the slow path");
  CHECK(d.error_of("tx_offloads = [\"multi_segs\", \"mbuf_fast_free\"]\n") ==
        "tx_offloads[1]: 'mbuf_fast_free' cannot be used: routerd sends buffers from several "
        "pools on one TX queue (one per NUMA socket with ports, and copies of reassembled "
        "datagrams), and the device would return them all to one pool");
}

TEST_CASE("unknown offload and hash names are rejected", "[config]") {
  PresetDir d;
  CHECK(d.error_of("rx_offloads = [\"ipv4_cksum\", \"lro\"]\n") ==
        "rx_offloads[1]: unknown RX offload 'lro' (known: ipv4_cksum, udp_cksum, tcp_cksum, "
        "scatter, rss_hash, vlan_strip, keep_crc)");
  // A TX-only name is not accepted for RX, and the reverse.
  CHECK(d.error_of("rx_offloads = [\"mbuf_fast_free\"]\n")
            .rfind("rx_offloads[0]: unknown RX offload 'mbuf_fast_free'", 0) == 0);
  CHECK(d.error_of("tx_offloads = [\"scatter\"]\n")
            .rfind("tx_offloads[0]: unknown TX offload 'scatter'", 0) == 0);
  CHECK(d.error_of("rss_hash = [\"sctp\"]\n").rfind("rss_hash[0]: unknown hash type 'sctp'", 0) ==
        0);
  CHECK(d.error_of("tx_offloads = [1]\n") == "tx_offloads[0]: expected a string");
}

TEST_CASE("the name lists hold what the presets accept", "[config]") {
  auto has = [](const std::vector<std::string>& v, const char* n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  CHECK(preset_rss_hash_names().size() == 13);
  CHECK(has(preset_rss_hash_names(), "nonfrag_ipv4_other"));
  CHECK(has(preset_rss_hash_names(), "nonfrag_ipv6_udp"));
  CHECK(preset_rx_offload_names().size() == 7);
  CHECK(has(preset_rx_offload_names(), "keep_crc"));
  CHECK(preset_tx_offload_names().size() == 5);
  CHECK(has(preset_tx_offload_names(), "mbuf_fast_free"));
}

TEST_CASE("preset names cannot leave the presets directory", "[config]") {
  PresetDir d;
  for (const char* bad : {"../x", "", "a/b", ".", "tap.toml", "x y"}) {
    INFO(bad);
    CHECK_THROWS_WITH(load_preset(d.dir(), bad), "preset '" + std::string(bad) +
                                                     "': not a preset name (letters, digits, "
                                                     "'_' and '-' only)");
  }
  std::string path = (fs::path(d.dir()) / "absent.toml").string();
  CHECK_THROWS_WITH(load_preset(d.dir(), "absent"),
                    path + ": cannot read: No such file or directory");
  std::string bad = d.write("broken", "rss = \n");
  CHECK_THROWS_WITH(load_preset(d.dir(), "broken"), Catch::StartsWith(bad + ":1:"));
}
