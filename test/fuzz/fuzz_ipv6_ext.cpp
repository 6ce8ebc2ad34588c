// Fuzz target: the Hop-by-Hop walk (lib/packet/ipv6_ext) over an arbitrary IPv6 packet, as
// the control thread runs it on every packet a worker punts for its Hop-by-Hop header.
// Invariants: no read outside the packet (ASan); a verdict's pointer lies inside the packet
// and names a byte that explains it (an option type whose high bits ask for that action);
// a forwarded header lies within the packet's own length; the verdict does not change when
// bytes are added after the packet's own length, nor when only the first 40 + 2,048 bytes
// (what control copies) are given.
#include <algorithm>
#include <vector>

#include "fuzz_util.hpp"
#include "ipv6_ext.hpp"

using namespace routerd;

namespace {

bool same(const HbhVerdict& a, const HbhVerdict& b) {
  return a.action == b.action && a.pointer == b.pointer && a.router_alert == b.router_alert &&
         a.router_alert_value == b.router_alert_value && a.next_header == b.next_header &&
         a.length == b.length;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> ip(data, data + size);  // exact size: ASan sees any over-read
  const HbhVerdict v = ipv6_hop_by_hop(ip.data(), ip.size());
  if (size < 40) {
    FUZZ_CHECK(v.action == HbhAction::malformed && v.pointer == 0);
    return 0;
  }
  const size_t own = 40 + size_t(ip[4] << 8 | ip[5]);
  const size_t end = std::min(size, own);
  switch (v.action) {
    case HbhAction::forward:
      if (ip[6] != ipv6_ext::hop_by_hop) {
        FUZZ_CHECK(v.length == 0 && v.next_header == ip[6]);
      } else {
        FUZZ_CHECK(v.length % 8 == 0 && v.length >= 8 && 40 + v.length <= end,
                   "a %u-byte header forwarded in %zu bytes", v.length, end);
        FUZZ_CHECK(v.next_header == ip[40]);
      }
      break;
    case HbhAction::malformed:
      FUZZ_CHECK(ip[6] == ipv6_ext::hop_by_hop);
      FUZZ_CHECK(v.pointer == 4 || (v.pointer >= 41 && v.pointer < end), "pointer %u, end %zu",
                 v.pointer, end);
      break;
    case HbhAction::discard:
    case HbhAction::unrecognized: {
      FUZZ_CHECK(ip[6] == ipv6_ext::hop_by_hop);
      FUZZ_CHECK(v.pointer >= 42 && v.pointer < end, "pointer %u, end %zu", v.pointer, end);
      const uint8_t high = ip[v.pointer] >> 6;
      const bool multicast = ip[24] == 0xff;
      if (v.action == HbhAction::discard)
        FUZZ_CHECK(high == 1 || (high == 3 && multicast), "discard for type 0x%02x", ip[v.pointer]);
      else
        FUZZ_CHECK(high == 2 || (high == 3 && !multicast), "an error for type 0x%02x",
                   ip[v.pointer]);
      break;
    }
  }
  // Padding after the packet changes nothing.
  if (size >= own) {
    std::vector<uint8_t> padded(ip);
    padded.resize(size + 17, 0x01);  // PadN type bytes: they would be walked if looked at
    FUZZ_CHECK(same(ipv6_hop_by_hop(padded.data(), padded.size()), v), "padding changed it");
  }
  // Control's prefix copy gives the same verdict.
  if (size > 40 + 2048) {
    std::vector<uint8_t> prefix(ip.begin(), ip.begin() + 40 + 2048);
    FUZZ_CHECK(same(ipv6_hop_by_hop(prefix.data(), prefix.size()), v), "the prefix differs");
  }
  return 0;
}
