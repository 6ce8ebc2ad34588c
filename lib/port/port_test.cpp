// Multicast reception: the groups a port's IPv6 addresses need, and how the port falls back
// from an exact filter to wider modes when the device refuses one.
#include <catch2/catch.hpp>

#include <cerrno>
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
