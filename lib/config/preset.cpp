#include "preset.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string_view>

#include "config.hpp"
#include "toml_util.hpp"

namespace routerd {

namespace {

using config_detail::printable;

constexpr std::string_view kKeys[] = {"rx_descriptors", "tx_descriptors", "symmetric_queues", "rss",
                                      "rss_hash",       "rx_offloads",    "tx_offloads"};

// Descriptor counts the driver is asked for; most drivers clamp or round further.
constexpr int64_t kMinDescriptors = 64;
constexpr int64_t kMaxDescriptors = 32768;

// The name is joined into a path, so it may not carry '/' or "..".
bool valid_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

class PresetReader {
 public:
  explicit PresetReader(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw ConfigError(printable(path_) + ": " + key + ": " + problem);
  }

  void check_keys(const toml::table& t) const {
    for (auto&& [k, v] : t)
      if (std::find(std::begin(kKeys), std::end(kKeys), k.str()) == std::end(kKeys))
        fail(printable(k.str()), "unknown key");
  }

  void descriptors(const toml::table& t, std::string_view key, uint16_t& out) const {
    const toml::node* n = t.get(key);
    if (!n) return;
    const auto* v = n->as_integer();
    if (!v) fail(std::string(key), "expected an integer");
    int64_t x = v->get();
    if (x < kMinDescriptors || x > kMaxDescriptors)
      fail(std::string(key), std::to_string(x) + " is out of range " +
                                 std::to_string(kMinDescriptors) + ".." +
                                 std::to_string(kMaxDescriptors));
    out = static_cast<uint16_t>(x);
  }

  void boolean(const toml::table& t, std::string_view key, bool& out) const {
    const toml::node* n = t.get(key);
    if (!n) return;
    const auto* v = n->as_boolean();
    if (!v) fail(std::string(key), "expected a boolean");
    out = v->get();
  }

  std::vector<std::string> names(const toml::table& t, std::string_view key,
                                 const std::vector<std::string>& known,
                                 std::string_view what) const {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) fail(std::string(key), "expected an array of strings");
    for (size_t i = 0; i < a->size(); ++i) {
      std::string path = std::string(key) + "[" + std::to_string(i) + "]";
      const auto* s = (*a)[i].as_string();
      if (!s) fail(path, "expected a string");
      const std::string& name = s->get();
      if (std::find(known.begin(), known.end(), name) == known.end())
        fail(path, "unknown " + std::string(what) + " '" + printable(name) +
                       "' (known: " + joined(known) + ")");
      if (std::find(out.begin(), out.end(), name) != out.end())
        fail(path, "'" + name + "' is listed twice");
      out.push_back(name);
    }
    return out;
  }

 private:
  std::string path_;
};

}  // namespace

Preset load_preset(const std::string& dir, const std::string& name) {
  if (!valid_name(name))
    throw ConfigError("preset '" + printable(name) +
                      "': not a preset name (letters, digits, '_' and '-' only)");
  Preset p;
  p.name = name;
  p.path = (std::filesystem::path(dir) / (name + ".toml")).string();
  toml::table t = config_detail::parse_toml(config_detail::read_text_file(p.path), p.path);

  PresetReader r(p.path);
  r.check_keys(t);
  r.descriptors(t, "rx_descriptors", p.rx_descriptors);
  r.descriptors(t, "tx_descriptors", p.tx_descriptors);
  r.boolean(t, "symmetric_queues", p.symmetric_queues);
  r.boolean(t, "rss", p.rss);
  p.rss_hash = r.names(t, "rss_hash", preset_rss_hash_names(), "hash type");
  p.rx_offloads = r.names(t, "rx_offloads", preset_rx_offload_names(), "RX offload");
  p.tx_offloads = r.names(t, "tx_offloads", preset_tx_offload_names(), "TX offload");
  // Asking for RSS without saying what to hash on would leave the choice to each driver.
  if (p.rss && p.rss_hash.empty()) r.fail("rss_hash", "must not be empty when rss = true");
  // The offload promises every mbuf on a TX queue comes from one pool with refcnt 1, and the
  // driver then returns them all to the first one's pool. routerd's queues carry buffers of
  // several pools (one per NUMA socket with ports, and reassembled datagrams' copies), so it
  // would corrupt them: refused, rather than dropped with a log line as a missing one is.
  for (size_t i = 0; i < p.tx_offloads.size(); ++i)
    if (p.tx_offloads[i] == "mbuf_fast_free")
      r.fail("tx_offloads[" + std::to_string(i) + "]",
             "'mbuf_fast_free' cannot be used: routerd sends buffers from several pools on one "
             "TX queue (one per NUMA socket with ports, and copies of reassembled datagrams), "
             "and the device would return them all to one pool");
  // Two RX offloads change what the workers see. routerd routes no VLANs: a tagged frame is
  // not its port's, and stripping the tag would put every VLAN of a trunk on the port's one
  // network. A kept CRC makes every frame 4 bytes longer than its IP datagram, which the
  // fast path takes for padding to check: every packet would go the slow way.
  for (size_t i = 0; i < p.rx_offloads.size(); ++i) {
    const std::string at = "rx_offloads[" + std::to_string(i) + "]";
    if (p.rx_offloads[i] == "vlan_strip")
      r.fail(at,
             "'vlan_strip' cannot be used: routerd does not route VLANs, and stripped tags "
             "would put every VLAN's frames on the port's one network");
    if (p.rx_offloads[i] == "keep_crc")
      r.fail(at,
             "'keep_crc' cannot be used: a kept CRC makes every frame longer than its "
             "datagram, and every packet would take the slow path");
  }
  return p;
}

const std::vector<std::string>& preset_rss_hash_names() {
  static const std::vector<std::string> names = {"ipv4",
                                                 "frag_ipv4",
                                                 "nonfrag_ipv4_tcp",
                                                 "nonfrag_ipv4_udp",
                                                 "nonfrag_ipv4_other",
                                                 "ipv6",
                                                 "frag_ipv6",
                                                 "nonfrag_ipv6_tcp",
                                                 "nonfrag_ipv6_udp",
                                                 "nonfrag_ipv6_other",
                                                 "tcp",
                                                 "udp",
                                                 "ip"};
  return names;
}

const std::vector<std::string>& preset_rx_offload_names() {
  static const std::vector<std::string> names = {"ipv4_cksum", "udp_cksum",  "tcp_cksum", "scatter",
                                                 "rss_hash",   "vlan_strip", "keep_crc"};
  return names;
}

const std::vector<std::string>& preset_tx_offload_names() {
  static const std::vector<std::string> names = {"ipv4_cksum", "udp_cksum", "tcp_cksum",
                                                 "mbuf_fast_free", "multi_segs"};
  return names;
}

}  // namespace routerd
