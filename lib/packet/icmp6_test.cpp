#include "icmp6.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "packet_test_util.hpp"

using namespace routerd;
using routerd::testing::from_hex;

namespace {

// Written by scapy 2.5 (Debian 12): a UDP packet 2001:db8:1::2 -> 2001:db8:2::2 with hop
// limit 1, and the Packet Too Big (MTU 1280) and Time Exceeded errors about it from
// 2001:db8:1::1.
const char* kOrig =
    "60000000001c110120010db800010000000000000000000220010db800020000000000000000000204d2162e"
    "001cd4887878787878787878787878787878787878787878";
const char* kPtb =
    "60000000004c3a4020010db800010000000000000000000120010db80001000000000000000000020200"
    "2c120000050060000000001c110120010db800010000000000000000000220010db8000200000000000000"
    "00000204d2162e001cd4887878787878787878787878787878787878787878";
const char* kTimeExceeded =
    "60000000004c3a4020010db800010000000000000000000120010db80001000000000000000000020300"
    "30120000000060000000001c110120010db800010000000000000000000220010db8000200000000000000"
    "00000204d2162e001cd4887878787878787878787878787878787878787878";

const Ipv6 kRouter = *Ipv6::parse("2001:db8:1::1");

// An IPv6 packet from src to dst with next header nh and payload.
std::vector<uint8_t> packet(const char* src, const char* dst, uint8_t nh,
                            const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  p[4] = uint8_t(payload.size() >> 8);
  p[5] = uint8_t(payload.size());
  p[6] = nh;
  p[7] = 64;
  std::memcpy(p.data() + 8, Ipv6::parse(src)->b.data(), 16);
  std::memcpy(p.data() + 24, Ipv6::parse(dst)->b.data(), 16);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

}  // namespace

TEST_CASE("ICMPv6 errors are built byte for byte as scapy builds them", "[packet][icmp6]") {
  const auto orig = from_hex(kOrig);
  uint8_t out[1500];
  size_t n = icmp6_build_error(orig.data(), orig.size(), icmp6::packet_too_big, 0, 1280, kRouter,
                               out, sizeof out);
  CHECK(std::vector<uint8_t>(out, out + n) == from_hex(kPtb));
  n = icmp6_build_error(orig.data(), orig.size(), icmp6::time_exceeded, 0, 0, kRouter, out,
                        sizeof out);
  CHECK(std::vector<uint8_t>(out, out + n) == from_hex(kTimeExceeded));
}

TEST_CASE("an ICMPv6 error quotes at most what keeps it within 1280 bytes", "[packet][icmp6]") {
  const auto big = packet("2001:db8:1::2", "2001:db8:2::2", 17, std::vector<uint8_t>(1452, 7));
  uint8_t out[2000];
  const size_t n = icmp6_build_error(big.data(), big.size(), icmp6::packet_too_big, 0, 1280,
                                     kRouter, out, sizeof out);
  CHECK(n == 1280);
  CHECK(std::memcmp(out + 48, big.data(), 1280 - 48) == 0);  // a prefix of the packet
  const Ipv6 src = Ipv6::from_bytes(out + 8), dst = Ipv6::from_bytes(out + 24);
  CHECK(src == kRouter);
  CHECK(dst == *Ipv6::parse("2001:db8:1::2"));
  CHECK(icmp6_checksum(src, dst, out + 40, n - 40) == 0);
  CHECK((out[4] << 8 | out[5]) == 1240);
  // A frame longer than the packet's own length: the quote stops at the packet.
  auto padded = packet("2001:db8:1::2", "2001:db8:2::2", 17, std::vector<uint8_t>(20, 1));
  padded.resize(padded.size() + 30, 0xee);
  CHECK(icmp6_build_error(padded.data(), padded.size(), icmp6::time_exceeded, 0, 0, kRouter, out,
                          sizeof out) == 40 + 8 + 60);
  // Not IPv6, too short, or no room: nothing.
  CHECK(icmp6_build_error(padded.data(), 39, icmp6::time_exceeded, 0, 0, kRouter, out,
                          sizeof out) == 0);
  CHECK(icmp6_build_error(padded.data(), padded.size(), icmp6::time_exceeded, 0, 0, kRouter, out,
                          100) == 0);
}

TEST_CASE("no ICMPv6 error where RFC 4443 2.4 (e) forbids one", "[packet][icmp6]") {
  const std::vector<uint8_t> udp(8, 0);
  auto ok = packet("2001:db8:1::2", "2001:db8:2::2", 17, udp);
  CHECK(icmp6_error_allowed(ok.data(), ok.size(), icmp6::time_exceeded, 0, false));
  // To a multicast address or as a link-layer multicast: only PTB and Parameter Problem 2.
  auto mc = packet("2001:db8:1::2", "ff0e::1", 17, udp);
  CHECK_FALSE(icmp6_error_allowed(mc.data(), mc.size(), icmp6::time_exceeded, 0, false));
  CHECK(icmp6_error_allowed(mc.data(), mc.size(), icmp6::packet_too_big, 0, false));
  CHECK(icmp6_error_allowed(mc.data(), mc.size(), icmp6::param_problem, 2, false));
  CHECK_FALSE(icmp6_error_allowed(mc.data(), mc.size(), icmp6::param_problem, 0, false));
  CHECK_FALSE(icmp6_error_allowed(ok.data(), ok.size(), icmp6::dest_unreachable, 0, true));
  CHECK(icmp6_error_allowed(ok.data(), ok.size(), icmp6::packet_too_big, 0, true));
  // From the unspecified or a multicast address: never.
  auto unspec = packet("::", "2001:db8:2::2", 17, udp);
  CHECK_FALSE(icmp6_error_allowed(unspec.data(), unspec.size(), icmp6::packet_too_big, 0, false));
  auto msrc = packet("ff02::1", "2001:db8:2::2", 17, udp);
  CHECK_FALSE(icmp6_error_allowed(msrc.data(), msrc.size(), icmp6::packet_too_big, 0, false));
  // About an ICMPv6 error (type < 128): never; about an echo request: yes.
  std::vector<uint8_t> err_msg(8, 0), echo(8, 0);
  err_msg[0] = icmp6::dest_unreachable;
  echo[0] = icmp6::echo_request;
  auto e1 = packet("2001:db8:1::2", "2001:db8:2::2", 58, err_msg);
  auto e2 = packet("2001:db8:1::2", "2001:db8:2::2", 58, echo);
  CHECK_FALSE(icmp6_error_allowed(e1.data(), e1.size(), icmp6::time_exceeded, 0, false));
  CHECK(icmp6_error_allowed(e2.data(), e2.size(), icmp6::time_exceeded, 0, false));
  // The same behind a hop-by-hop header, and behind a first fragment; a later fragment or a
  // chain cut short is not answered (it may be an error message).
  std::vector<uint8_t> hbh = {58, 0, 0, 0, 0, 0, 0, 0};
  auto h1 = hbh;
  h1.insert(h1.end(), err_msg.begin(), err_msg.end());
  auto h2 = hbh;
  h2.insert(h2.end(), echo.begin(), echo.end());
  auto p1 = packet("2001:db8:1::2", "2001:db8:2::2", 0, h1);
  auto p2 = packet("2001:db8:1::2", "2001:db8:2::2", 0, h2);
  CHECK_FALSE(icmp6_error_allowed(p1.data(), p1.size(), icmp6::time_exceeded, 0, false));
  CHECK(icmp6_error_allowed(p2.data(), p2.size(), icmp6::time_exceeded, 0, false));
  std::vector<uint8_t> first = {58, 0, 0, 1, 0, 0, 0, 9}, later = {58, 0, 0, 8 | 1, 0, 0, 0, 9};
  auto f1 = first;
  f1.insert(f1.end(), echo.begin(), echo.end());
  auto f2 = later;
  f2.insert(f2.end(), echo.begin(), echo.end());
  auto q1 = packet("2001:db8:1::2", "2001:db8:2::2", 44, f1);
  auto q2 = packet("2001:db8:1::2", "2001:db8:2::2", 44, f2);
  CHECK(icmp6_error_allowed(q1.data(), q1.size(), icmp6::time_exceeded, 0, false));
  CHECK_FALSE(icmp6_error_allowed(q2.data(), q2.size(), icmp6::time_exceeded, 0, false));
  auto cut = packet("2001:db8:1::2", "2001:db8:2::2", 0, {58, 0, 0});
  CHECK_FALSE(icmp6_error_allowed(cut.data(), cut.size(), icmp6::time_exceeded, 0, false));
}
