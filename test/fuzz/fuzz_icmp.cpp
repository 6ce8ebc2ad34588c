// Fuzz target: ICMP building over an offending datagram from the wire (lib/packet/icmp): the
// never-send rules, error building and echo replies. (What the control thread parses out of
// ICMP errors sent to the router, PTBs and redirects, is fuzzed end to end by fuzz-slowpath.)
// Invariants: icmp_error_allowed never allows what RFC 1812 4.3.2.7 forbids; a built error
// is at most the cap and 576 bytes, has right IP and ICMP checksums, is addressed to the
// offender's source and quotes a prefix of the datagram, cut at its total length; an echo
// reply is produced only from a well-formed echo request and has right checksums.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"
#include "icmp.hpp"
#include "ipv4.hpp"
#include "packet_test_util.hpp"

using namespace routerd;
using namespace routerd::testing;

namespace {

bool informational(uint8_t t) {
  return t == 0 || (t >= 8 && t <= 10) || (t >= 13 && t <= 18);
}

void check_allowed(const std::vector<uint8_t>& ip, bool l2m, bool dbc, bool sbc) {
  const bool ok = icmp_error_allowed(ip.data(), ip.size(), l2m, dbc, sbc);
  if (!ok) return;
  FUZZ_CHECK(!l2m && !dbc && !sbc && ip.size() >= 20);
  const uint32_t src = get32(&ip[12]), dst = get32(&ip[16]);
  const uint8_t s0 = uint8_t(src >> 24);
  FUZZ_CHECK(s0 != 0 && s0 != 127 && s0 < 224, "an error to source %08x", src);
  FUZZ_CHECK(dst != 0xffffffffu && (dst >> 28) != 0xe, "an error about destination %08x", dst);
  FUZZ_CHECK((get16(&ip[6]) & 0x1fff) == 0, "an error about a later fragment");
  if (ip[9] == 1) {
    const size_t ihl = size_t(ip[0] & 0xf) * 4;
    FUZZ_CHECK(ihl >= 20 && ip.size() > ihl && informational(ip[ihl]),
               "an error about an ICMP error (or an unreadable ICMP type)");
  }
}

void check_build(const std::vector<uint8_t>& orig, FuzzedDataProvider& in) {
  IcmpError e{};
  e.type = in.ConsumeIntegral<uint8_t>();
  e.code = in.ConsumeIntegral<uint8_t>();
  e.rest = in.ConsumeIntegral<uint32_t>();
  e.src = Ipv4(in.ConsumeIntegral<uint32_t>());
  e.ip_id = in.ConsumeIntegral<uint16_t>();
  const size_t cap = in.ConsumeIntegralInRange<size_t>(0, 700);
  const size_t max_len =
      in.ConsumeBool() ? icmp::max_error_len : in.ConsumeIntegralInRange<size_t>(0, 700);
  std::vector<uint8_t> out(cap);  // exact size: ASan sees a write past the cap
  const size_t n = icmp_build_error(orig.data(), orig.size(), e, out.data(), cap, max_len);
  const size_t limit = std::min(cap, max_len);
  if (orig.size() < 20 || limit < 48) {
    FUZZ_CHECK(n == 0, "built %zu bytes from %zu into a limit of %zu", n, orig.size(), limit);
    return;
  }
  const size_t quote = std::min({orig.size(), size_t(get16(&orig[2])), limit - 28});
  FUZZ_CHECK(n == 28 + quote, "built %zu bytes, want %zu", n, 28 + quote);
  FUZZ_CHECK(n <= cap && n <= max_len);
  const uint8_t* ip = out.data();
  FUZZ_CHECK(ip[0] == 0x45 && get16(ip + 2) == n && ip[9] == 1 && ip[8] == 64);
  FUZZ_CHECK((get16(ip + 6) & 0x4000) == 0, "DF set on an error");
  FUZZ_CHECK(ref_ok(ip, 20), "wrong IP header checksum");
  FUZZ_CHECK(get32(ip + 12) == e.src.v && std::memcmp(ip + 16, &orig[12], 4) == 0);
  FUZZ_CHECK(ip[20] == e.type && ip[21] == e.code && get32(ip + 24) == e.rest);
  FUZZ_CHECK(ref_ok(ip + 20, n - 20), "wrong ICMP checksum");
  FUZZ_CHECK(std::memcmp(ip + 28, orig.data(), quote) == 0, "the quote is not the datagram");
}

void check_echo(std::vector<uint8_t> ip) {
  const std::vector<uint8_t> before = ip;
  if (!icmp_echo_to_reply(ip.data(), ip.size())) {
    FUZZ_CHECK(ip == before, "a refused echo request was modified");
    return;
  }
  const size_t ihl = size_t(before[0] & 0xf) * 4;
  FUZZ_CHECK((before[0] >> 4) == 4 && ihl >= 20, "replied to a header with version %d, IHL %zu",
             before[0] >> 4, ihl);
  FUZZ_CHECK(before[9] == 1 && ip.size() >= ihl + 8 && before[ihl] == 8 && before[ihl + 1] == 0);
  FUZZ_CHECK(ref_ok(&before[ihl], ip.size() - ihl), "replied to a request with a bad checksum");
  FUZZ_CHECK(ip[ihl] == 0 && ref_ok(&ip[ihl], ip.size() - ihl), "reply checksum wrong");
  FUZZ_CHECK(ref_ok(ip.data(), ihl), "reply IP header checksum wrong");
  FUZZ_CHECK(std::memcmp(&ip[12], &before[16], 4) == 0 &&
             std::memcmp(&ip[16], &before[12], 4) == 0);
  FUZZ_CHECK(std::memcmp(&ip[ihl + 4], &before[ihl + 4], ip.size() - ihl - 4) == 0,
             "the echo data changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint8_t flags = in.ConsumeIntegral<uint8_t>();
  const size_t len = in.ConsumeIntegralInRange<size_t>(0, in.remaining_bytes());
  // The datagram first, in an exact-size buffer; the rest of the input picks the error.
  std::vector<uint8_t> orig = in.ConsumeBytes<uint8_t>(len);
  check_allowed(orig, flags & 1, flags & 2, flags & 4);
  check_echo(orig);
  check_build(orig, in);
  return 0;
}
