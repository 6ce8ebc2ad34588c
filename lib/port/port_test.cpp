// Multicast reception: the groups a port's IPv6 addresses need, and how the port falls back
// from an exact filter to wider modes when the device refuses one. The receive set-up: what
// RSS and RX offloads a preset gets from a device.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <ios>
#include <string>
#include <vector>

#include "port.hpp"

using namespace routerd;

namespace {

Mac mac(const char* s) {
  return *Mac::parse(s);
}

Ipv6 ip6(const char* s) {
  return *Ipv6::parse(s);
}

// Device operations that answer with fixed codes and record what was asked of them.
struct FakeDevice {
  int filter_rc = 0, allmulti_rc = 0, promisc_rc = 0;
  std::vector<std::vector<Mac>> filters;
  int allmulti_calls = 0, promisc_calls = 0;
  RxMulticastOps ops() {
    return {[this](const std::vector<Mac>& g) {
              filters.push_back(g);
              return filter_rc;
            },
            [this] {
              ++allmulti_calls;
              return allmulti_rc;
            },
            [this] {
              ++promisc_calls;
              return promisc_rc;
            }};
  }
};

}  // namespace

TEST_CASE("a port's IPv6 multicast groups: all-nodes, all-routers, solicited-node",
          "[port][multicast]") {
  // No address at all still listens to the two fixed groups.
  CHECK(ipv6_rx_groups({}) == std::vector<Mac>{mac("33:33:00:00:00:01"), mac("33:33:00:00:00:02")});
  // The solicited-node group takes the low 24 bits only (ff02::1:ffXX:XXXX -> 33:33:ff:XX:XX:XX).
  CHECK(ipv6_rx_groups({ip6("fe80::200:ff:fe00:1")}) == std::vector<Mac>{mac("33:33:00:00:00:01"),
                                                                         mac("33:33:00:00:00:02"),
                                                                         mac("33:33:ff:00:00:01")});
  // Addresses sharing their low 24 bits share the group: listed once. Sorted.
  const auto g = ipv6_rx_groups({ip6("2001:db8:1::1"), ip6("fe80::1"), ip6("2001:db8:2::12:3456"),
                                 ip6("2001:db8:3::aa12:3456")});
  CHECK(g == std::vector<Mac>{mac("33:33:00:00:00:01"), mac("33:33:00:00:00:02"),
                              mac("33:33:ff:00:00:01"), mac("33:33:ff:12:34:56")});
}

TEST_CASE("multicast reception falls back from the filter to wider modes", "[port][multicast]") {
  const auto groups = ipv6_rx_groups({ip6("fe80::1"), ip6("2001:db8::2")});
  REQUIRE(groups.size() == 4);
  FakeDevice d;

  SECTION("the device takes the filter: nothing wider is asked") {
    const RxMulticast r = choose_rx_multicast(groups, false, d.ops());
    CHECK(r.mode == RxMulticastMode::filter);
    CHECK(r.groups == 4);
    CHECK(r.why.empty());
    REQUIRE(d.filters.size() == 1);
    CHECK(d.filters[0] == groups);
    CHECK(d.allmulti_calls == 0);
    CHECK(d.promisc_calls == 0);
  }
  SECTION("no filter (-ENOTSUP): all-multicast") {
    d.filter_rc = -ENOTSUP;
    const RxMulticast r = choose_rx_multicast(groups, false, d.ops());
    CHECK(r.mode == RxMulticastMode::allmulticast);
    CHECK(r.groups == 4);
    CHECK(r.why == "the device has no multicast filter");
    CHECK(d.allmulti_calls == 1);
    CHECK(d.promisc_calls == 0);
  }
  SECTION("a filter too small (-ENOSPC): all-multicast, and the reason says how many") {
    d.filter_rc = -ENOSPC;
    const RxMulticast r = choose_rx_multicast(groups, false, d.ops());
    CHECK(r.mode == RxMulticastMode::allmulticast);
    CHECK(r.why.find("refused a multicast filter of 4 groups") != std::string::npos);
  }
  SECTION("neither filter nor all-multicast: promiscuous") {
    d.filter_rc = -ENOTSUP;
    d.allmulti_rc = -EIO;
    const RxMulticast r = choose_rx_multicast(groups, false, d.ops());
    CHECK(r.mode == RxMulticastMode::promiscuous);
    CHECK(r.why.find("no multicast filter, nor all-multicast reception") != std::string::npos);
    CHECK(d.promisc_calls == 1);
  }
  SECTION("the device takes no setting at all: left to the device, every refusal named") {
    d.filter_rc = d.allmulti_rc = d.promisc_rc = -ENOTSUP;
    const RxMulticast r = choose_rx_multicast(groups, false, d.ops());
    CHECK(r.mode == RxMulticastMode::none);
    CHECK(r.why.find("nor all-multicast") != std::string::npos);
    CHECK(r.why.find("nor promiscuous") != std::string::npos);
    CHECK(d.filters.size() == 1);
    CHECK(d.allmulti_calls == 1);
    CHECK(d.promisc_calls == 1);
  }
  SECTION("a port promiscuous already (software MAC) asks the device nothing") {
    const RxMulticast r = choose_rx_multicast(groups, true, d.ops());
    CHECK(r.mode == RxMulticastMode::promiscuous);
    CHECK(r.groups == 4);
    CHECK(d.filters.empty());
    CHECK(d.allmulti_calls + d.promisc_calls == 0);
  }
  CHECK(std::string(rx_multicast_mode_name(RxMulticastMode::filter)) == "filter");
  CHECK(std::string(rx_multicast_mode_name(RxMulticastMode::none)) == "none");
}

// ---- receive set-up

namespace {

Preset nic_preset(std::vector<std::string> hash, std::vector<std::string> rx) {
  Preset p;
  p.rss = !hash.empty();
  p.rss_hash = std::move(hash);
  p.rx_offloads = std::move(rx);
  return p;
}

}  // namespace

TEST_CASE("RSS is asked for what the preset names and the device hashes, on any queue count",
          "[port][rss]") {
  const Preset p = nic_preset({"ipv4", "tcp", "nonfrag_ipv6_udp"}, {"ipv4_cksum", "rss_hash"});
  const uint64_t capa = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_RSS_HASH;
  // The device hashes IPv4, IPv6 UDP and both TCP types, not IPv6 addresses alone.
  const uint64_t types = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                         RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
                         RTE_ETH_RSS_FRAG_IPV6;
  const RxSetup r = rx_setup("p0", p, capa, types);
  CHECK(r.offloads == capa);
  CHECK(r.rss_hf == (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                     RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP));
  CHECK(r.notes.empty());
  CHECK(rss_type_names(r.rss_hf) == std::vector<std::string>{"ipv4", "nonfrag_ipv4_tcp",
                                                             "nonfrag_ipv6_tcp",
                                                             "nonfrag_ipv6_udp"});
}

TEST_CASE("without RSS the rss_hash offload is left out, which ethdev would refuse",
          "[port][rss]") {
  const uint64_t capa = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_RSS_HASH;
  SECTION("the device hashes none of the preset's types") {
    const RxSetup r =
        rx_setup("p1", nic_preset({"ipv6"}, {"ipv4_cksum", "rss_hash"}), capa, RTE_ETH_RSS_IPV4);
    CHECK(r.rss_hf == 0);
    CHECK(r.offloads == RTE_ETH_RX_OFFLOAD_IPV4_CKSUM);
    REQUIRE(r.notes.size() == 2);
    CHECK(r.notes[0] ==
          "port p1: device hashes none of the preset's RSS types: no RSS, so RX queues are not "
          "balanced and ECMP hashes every packet itself");
    CHECK(r.notes[1] == "port p1: rx offload 'rss_hash' needs RSS, not used");
  }
  SECTION("the preset asks for the offload without RSS") {
    const RxSetup r = rx_setup("p2", nic_preset({}, {"rss_hash"}), capa, ~uint64_t(0));
    CHECK(r.rss_hf == 0);
    CHECK(r.offloads == 0);
    CHECK(r.notes ==
          std::vector<std::string>{"port p2: rx offload 'rss_hash' needs RSS, not used"});
  }
  SECTION("the device lacks the offload: said once, as for any offload") {
    const RxSetup r = rx_setup("p3", nic_preset({"ipv4"}, {"rss_hash"}), 0, RTE_ETH_RSS_IPV4);
    CHECK(r.rss_hf == RTE_ETH_RSS_IPV4);
    CHECK(r.offloads == 0);
    CHECK(r.notes ==
          std::vector<std::string>{"port p3: rx offload 'rss_hash' not supported by the device, "
                                   "not used"});
  }
}

TEST_CASE("every shipped preset gives ethdev a receive set-up it accepts", "[port][rss]") {
  // ethdev's rule (rte_eth_dev_configure): the rss_hash offload only with RSS, and only hash
  // types the device offers. Devices that hash everything, only IPv4, only IPv6, nothing.
  const std::string dir = std::string(ROUTERD_SOURCE_ROOT) + "/drivers-config";
  const uint64_t v4 = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                      RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
  const uint64_t v6 = RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP |
                      RTE_ETH_RSS_NONFRAG_IPV6_UDP | RTE_ETH_RSS_NONFRAG_IPV6_OTHER;
  for (const char* name : {"default", "tap", "null", "pcap", "ring", "memif", "virtio-user",
                           "ixgbe", "i40e", "ice", "mlx5", "virtio-pci", "vmxnet3"}) {
    const Preset p = load_preset(dir, name);
    for (uint64_t types : {~uint64_t(0), v4, v6, uint64_t(0)}) {
      INFO(name << " device types " << std::hex << types);
      const RxSetup r = rx_setup("p0", p, ~uint64_t(0), types);
      CHECK((r.rss_hf & ~types) == 0);
      if (r.offloads & RTE_ETH_RX_OFFLOAD_RSS_HASH) CHECK(r.rss_hf != 0);
      // A NIC preset on a NIC that hashes both families: both are spread.
      if (p.rss && types == ~uint64_t(0)) {
        CHECK((r.rss_hf & v4) != 0);
        CHECK((r.rss_hf & v6) != 0);
      }
    }
  }
}

TEST_CASE("hash types print by name, unknown bits as one number", "[port][rss]") {
  CHECK(rss_type_names(0).empty());
  CHECK(rss_type_names(RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_IPV4) ==
        std::vector<std::string>{"ipv4", "frag_ipv6"});
  CHECK(rss_type_names(RTE_ETH_RSS_NONFRAG_IPV6_OTHER | RTE_ETH_RSS_L2_PAYLOAD |
                       RTE_ETH_RSS_NONFRAG_IPV4_SCTP) ==
        std::vector<std::string>{
            "nonfrag_ipv6_other",
            fmt::format("{:#x}", RTE_ETH_RSS_L2_PAYLOAD | RTE_ETH_RSS_NONFRAG_IPV4_SCTP)});
}

TEST_CASE("ECMP takes a device's RSS hash only where it covers the flow's ports",
          "[port][rss][ecmp]") {
  const uint64_t v4 =
      RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  const uint64_t v6 = RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP |
                      RTE_ETH_RSS_NONFRAG_IPV6_UDP | RTE_ETH_RSS_NONFRAG_IPV6_OTHER;
  CHECK(rss_flow_families(v4) == kRssFlows4);
  CHECK(rss_flow_families(v6) == kRssFlows6);
  CHECK(rss_flow_families(v4 | v6) == (kRssFlows4 | kRssFlows6));
  CHECK(rss_flow_families(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) ==
        (kRssFlows4 | kRssFlows6));
  // vmxnet3 before version 4: UDP by addresses alone. Or ports but no type for the rest.
  CHECK(rss_flow_families(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_IPV6 |
                          RTE_ETH_RSS_NONFRAG_IPV6_TCP) == 0);
  CHECK(rss_flow_families(v4 & ~RTE_ETH_RSS_IPV4) == 0);
  CHECK(rss_flow_families(v6 & ~RTE_ETH_RSS_NONFRAG_IPV6_TCP) == 0);
  CHECK(rss_flow_families(RTE_ETH_RSS_IP) == 0);

  CHECK(ecmp_rss_families(true, v4) == kRssFlows4);
  CHECK(ecmp_rss_families(false, v4 | v6) == 0);
  CHECK(ecmp_rss_families(true, 0) == (kRssFlows4 | kRssFlows6));
  CHECK(ecmp_rss_families(false, 0) == 0);
  // Every shipped NIC preset on a device that takes all its types: both families but
  // vmxnet3's (no UDP type).
  const std::string dir = std::string(ROUTERD_SOURCE_ROOT) + "/drivers-config";
  for (const char* name : {"ixgbe", "i40e", "ice", "mlx5", "vmxnet3"}) {
    INFO(name);
    const RxSetup r = rx_setup("p0", load_preset(dir, name), ~uint64_t(0), ~uint64_t(0));
    CHECK(rss_flow_families(r.rss_hf) ==
          (std::string(name) == "vmxnet3" ? 0 : kRssFlows4 | kRssFlows6));
  }
}

TEST_CASE("an MTU the device cannot take is refused with the range it takes", "[port][mtu]") {
  rte_eth_dev_info info{};
  info.min_mtu = RTE_ETHER_MIN_MTU;
  // net_tap: no max MTU of its own, frames of up to 1522 bytes (1500 + VLAN tag + CRC).
  info.max_mtu = UINT16_MAX;
  info.max_rx_pktlen = 1522;
  CHECK(mtu_refusal(1500, info).empty());
  CHECK(mtu_refusal(1504, info).empty());
  CHECK(mtu_refusal(68, info).empty());
  CHECK(mtu_refusal(9000, info) ==
        "mtu 9000 is outside what the device takes: 68..1504 (frames of at most 1522 bytes)");
  CHECK_FALSE(mtu_refusal(1505, info).empty());
  // A NIC that states its max MTU: its overhead is max_rx_pktlen - max_mtu (here 26: VLAN).
  info.max_mtu = 9702;
  info.max_rx_pktlen = 9728;
  CHECK(mtu_refusal(9702, info).empty());
  CHECK(mtu_refusal(9703, info) ==
        "mtu 9703 is outside what the device takes: 68..9702 (frames of at most 9728 bytes)");
  info.min_mtu = 1280;
  CHECK(mtu_refusal(1279, info) ==
        "mtu 1279 is outside what the device takes: 1280..9702 (frames of at most 9728 bytes)");
}
