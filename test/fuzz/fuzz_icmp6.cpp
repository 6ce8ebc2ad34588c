// Fuzz target: ICMPv6 errors (lib/packet/icmp6) about an arbitrary packet, as the control
// thread will build them for IPv6 (issue 14: each new parser joins the harness).
// Invariants: no error about a packet from :: or a multicast source, nor (except PTB) about
// one to a multicast address, nor about an ICMPv6 error message right after the IPv6 header;
// a built error is at most 1,280 bytes, goes back to the offender's source with a right
// checksum, and quotes a prefix of the packet cut at its own length.
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"
#include "icmp6.hpp"

using namespace routerd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // The first two bytes choose the error and the link-layer flag; the rest is the packet.
  const uint8_t types[] = {icmp6::dest_unreachable, icmp6::packet_too_big, icmp6::time_exceeded,
                           icmp6::param_problem};
  const uint8_t type = types[data[0] & 3], code = uint8_t(data[0] >> 2 & 7);
  const bool l2_multicast = data[1] & 1;
  std::vector<uint8_t> ip(data + 2, data + size);  // exact size: ASan sees any over-read
  const bool allowed = icmp6_error_allowed(ip.data(), ip.size(), type, code, l2_multicast);
  if (ip.size() < icmp6::ip6_header_len) {
    FUZZ_CHECK(!allowed, "an error about a %zu-byte packet", ip.size());
    return 0;
  }
  const Ipv6 src = Ipv6::from_bytes(ip.data() + 8), dst = Ipv6::from_bytes(ip.data() + 24);
  if (src.is_unspecified() || src.is_multicast())
    FUZZ_CHECK(!allowed, "an error to %s", src.str().c_str());
  const bool excepted =
      type == icmp6::packet_too_big || (type == icmp6::param_problem && code == 2);
  if ((dst.is_multicast() || l2_multicast) && !excepted) FUZZ_CHECK(!allowed);
  if (ip[6] == icmp6::next_header && ip.size() > 40 && ip[40] < 128) FUZZ_CHECK(!allowed);
  if (!allowed) return 0;

  std::vector<uint8_t> out(1400, 0xa5);
  const Ipv6 me = Ipv6::of(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  const size_t n = icmp6_build_error(ip.data(), ip.size(), type, code, 1280, me, out.data(), 1300);
  FUZZ_CHECK(n >= 48 && n <= icmp6::min_mtu, "an error of %zu bytes", n);
  FUZZ_CHECK(out[1300] == 0xa5, "wrote past the capacity");
  const size_t own = 40 + size_t(ip[4] << 8 | ip[5]);
  FUZZ_CHECK(n - 48 == std::min({ip.size(), own, size_t(icmp6::min_mtu - 48)}));
  FUZZ_CHECK(std::memcmp(out.data() + 48, ip.data(), n - 48) == 0, "the quote is not the packet");
  FUZZ_CHECK(Ipv6::from_bytes(out.data() + 24) == src && Ipv6::from_bytes(out.data() + 8) == me);
  FUZZ_CHECK(icmp6_checksum(me, src, out.data() + 40, n - 40) == 0, "a wrong checksum");
  return 0;
}
