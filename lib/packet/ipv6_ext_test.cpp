#include "ipv6_ext.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "icmp6.hpp"
#include "packet_test_util.hpp"

using namespace routerd;
using routerd::testing::from_hex;

namespace {

// Written by scapy 2.5 (Debian 12), all UDP 2001:db8:1::2 port 40000 -> 2001:db8:2::2 port
// 40100, "routerd", behind a Hop-by-Hop header (bytes 40-47, or 40-55 for kSkipDiscard):
//   kRouterAlert   IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)]): 11 00 05 02 00 00 01 00
//   kUnknown10     options=[Pad1(), HBHOptUnknown(otype=0x9e, optdata=b"ab")]: the option
//                  type at byte 43, action 10
//   kSkipDiscard   options=[PadN(optdata=b"\0\0"), HBHOptUnknown(otype=0x3e, optdata=b"xyzw"),
//                  HBHOptUnknown(otype=0x7e, optdata=b"")]: a 00 option (skipped) at 46,
//                  then a 01 option (discard) at 52
//   kParamProblem  IPv6(src="2001:db8:1::1", dst="2001:db8:1::2", hlim=64) /
//                  ICMPv6ParamProblem(code=2, ptr=43) / kUnknown10
const char* kRouterAlert =
    "600000000017004020010db800010000000000000000000220010db8000200000000000000000002110005020000"
    "01009c409ca4000fba1b726f7574657264";
const char* kUnknown10 =
    "600000000017004020010db800010000000000000000000220010db80002000000000000000000021100009e0261"
    "62009c409ca4000fba1b726f7574657264";
const char* kSkipDiscard =
    "60000000001f004020010db800010000000000000000000220010db8000200000000000000000002110101020000"
    "3e0478797a777e0001009c409ca4000fba1b726f7574657264";
const char* kParamProblem =
    "6000000000473a4020010db800010000000000000000000120010db80001000000000000000000020402c9a30000"
    "002b600000000017004020010db800010000000000000000000220010db800020000000000000000000211000"
    "09e026162009c409ca4000fba1b726f7574657264";

HbhVerdict parse(const std::vector<uint8_t>& p) {
  // An exact-size copy: a read past the end is ASan's to see in the sanitizer build.
  std::vector<uint8_t> copy(p);
  return ipv6_hop_by_hop(copy.data(), copy.size());
}

// kUnknown10 with its Hop-by-Hop options replaced by `opts` (6 bytes, so the header stays 8).
std::vector<uint8_t> with_options(const std::vector<uint8_t>& opts) {
  auto p = from_hex(kUnknown10);
  REQUIRE(opts.size() == 6);
  std::memcpy(&p[42], opts.data(), 6);
  return p;
}

}  // namespace

TEST_CASE("Hop-by-Hop: Router Alert is recorded and the packet forwarded", "[packet][ipv6_ext]") {
  const HbhVerdict v = parse(from_hex(kRouterAlert));
  CHECK(v.action == HbhAction::forward);
  CHECK(v.router_alert);
  CHECK(v.router_alert_value == ipv6_ext::router_alert_mld);
  CHECK(v.next_header == 17);
  CHECK(v.length == 8);
  // Another value (RFC 2711: 1 = RSVP) is recorded as it is.
  auto rsvp = from_hex(kRouterAlert);
  rsvp[45] = 1;
  CHECK(parse(rsvp).router_alert_value == 1);
  CHECK(parse(rsvp).action == HbhAction::forward);
}

TEST_CASE("Hop-by-Hop: an unrecognised option acts on its two high bits (RFC 8200 4.2)",
          "[packet][ipv6_ext]") {
  HbhVerdict v = parse(from_hex(kUnknown10));
  CHECK(v.action == HbhAction::unrecognized);
  CHECK(v.pointer == 43);  // the option type byte, after the Pad1 at 42
  CHECK_FALSE(v.router_alert);

  // 00 is skipped, and the 01 after it discards, pointing at that one.
  v = parse(from_hex(kSkipDiscard));
  CHECK(v.action == HbhAction::discard);
  CHECK(v.pointer == 52);

  // 11: an error to a unicast destination, silence to a multicast one.
  const auto c2 = with_options({0xc2, 0x00, 0x01, 0x02, 0x00, 0x00});
  v = parse(c2);
  CHECK(v.action == HbhAction::unrecognized);
  CHECK(v.pointer == 42);
  auto mc = c2;
  mc[24] = 0xff;
  mc[25] = 0x0e;
  CHECK(parse(mc).action == HbhAction::discard);
  // 10 asks for the error whatever the destination.
  mc[42] = 0x80;
  CHECK(parse(mc).action == HbhAction::unrecognized);

  // Options are taken in order: a Router Alert before the unrecognised one is still recorded.
  v = parse(with_options({0x05, 0x02, 0x00, 0x00, 0x7f, 0x00}));
  CHECK(v.action == HbhAction::discard);
  CHECK(v.pointer == 46);
  CHECK(v.router_alert);
  // Every 00 type is skipped, whatever its content.
  v = parse(with_options({0x3f, 0x04, 0xff, 0xff, 0xff, 0xff}));
  CHECK(v.action == HbhAction::forward);
  CHECK(v.next_header == 17);
  // Pad1 throughout.
  CHECK(parse(with_options({0, 0, 0, 0, 0, 0})).action == HbhAction::forward);
}

TEST_CASE("Hop-by-Hop: anything running past its end is malformed, pointing at the byte",
          "[packet][ipv6_ext]") {
  // Hdr Ext Len 2 (24 bytes) in a packet with 23 bytes of payload: runs past the packet.
  auto p = from_hex(kRouterAlert);
  p[41] = 2;
  HbhVerdict v = parse(p);
  CHECK(v.action == HbhAction::malformed);
  CHECK(v.pointer == 41);
  // Padding after the packet is not part of it: the same header in a frame padded long
  // enough is still cut by the payload length.
  p.resize(p.size() + 40, 0);
  CHECK(parse(p).action == HbhAction::malformed);
  CHECK(parse(p).pointer == 41);
  // An option's data past the header's end: the option's length byte.
  v = parse(with_options({0x00, 0x9e, 0x05, 0x61, 0x62, 0x00}));
  CHECK(v.action == HbhAction::malformed);
  CHECK(v.pointer == 44);
  // An option whose length byte would be past the header's end: its type byte.
  v = parse(with_options({0x01, 0x03, 0x00, 0x00, 0x00, 0x9e}));
  CHECK(v.action == HbhAction::malformed);
  CHECK(v.pointer == 47);
  // A PadN that exactly fills the header is fine; one byte longer is not.
  CHECK(parse(with_options({0x01, 0x04, 0, 0, 0, 0})).action == HbhAction::forward);
  v = parse(with_options({0x01, 0x05, 0, 0, 0, 0}));
  CHECK(v.action == HbhAction::malformed);
  CHECK(v.pointer == 43);
  // Router Alert is two bytes of value (RFC 2711).
  v = parse(with_options({0x05, 0x03, 0x00, 0x00, 0x00, 0x00}));
  CHECK(v.action == HbhAction::malformed);
  CHECK(v.pointer == 43);
  // No room for the header's first two bytes: the payload length is what is wrong.
  auto tiny = from_hex(kRouterAlert);
  tiny[4] = 0;
  tiny[5] = 1;
  v = parse(tiny);
  CHECK(v.action == HbhAction::malformed);
  CHECK(v.pointer == 4);
  // A frame cut short (payload length larger than the bytes present).
  const auto whole = from_hex(kRouterAlert);
  for (size_t n = 40; n < 48; ++n) {
    CAPTURE(n);
    v = parse(std::vector<uint8_t>(whole.begin(), whole.begin() + long(n)));
    CHECK(v.action == HbhAction::malformed);
    CHECK(v.pointer == (n < 42 ? 4u : 41u));
  }
  CHECK(parse(std::vector<uint8_t>(whole.begin(), whole.begin() + 48)).action ==
        HbhAction::forward);
  // Less than an IPv6 header.
  CHECK(parse(std::vector<uint8_t>(whole.begin(), whole.begin() + 39)).action ==
        HbhAction::malformed);
}

TEST_CASE("Hop-by-Hop: a packet without one is forward with nothing examined",
          "[packet][ipv6_ext]") {
  auto p = from_hex(kRouterAlert);
  p[6] = ipv6_ext::fragment;  // the bytes after the header are not looked at
  p[41] = 0xff;
  const HbhVerdict v = parse(p);
  CHECK(v.action == HbhAction::forward);
  CHECK(v.next_header == ipv6_ext::fragment);
  CHECK(v.length == 0);
}

TEST_CASE("Parameter Problem code 2 is built byte for byte as scapy builds it",
          "[packet][ipv6_ext][icmp6]") {
  const auto orig = from_hex(kUnknown10);
  const HbhVerdict v = parse(orig);
  REQUIRE(v.action == HbhAction::unrecognized);
  uint8_t out[1500];
  const size_t n = icmp6_build_error(orig.data(), orig.size(), icmp6::param_problem,
                                     icmp6::code_unrecognized_option, v.pointer,
                                     *Ipv6::parse("2001:db8:1::1"), out, sizeof out);
  CHECK(std::vector<uint8_t>(out, out + n) == from_hex(kParamProblem));
  // RFC 4443 2.4 (e.3): code 2 is answered even about a multicast destination.
  auto mc = orig;
  mc[24] = 0xff;
  CHECK(icmp6_error_allowed(mc.data(), mc.size(), icmp6::param_problem,
                            icmp6::code_unrecognized_option, true));
  CHECK_FALSE(icmp6_error_allowed(mc.data(), mc.size(), icmp6::param_problem,
                                  icmp6::code_erroneous_header, true));
}
