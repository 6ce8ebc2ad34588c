#include "ipv6_ext.hpp"

#include <algorithm>

namespace routerd {

namespace {

constexpr size_t kIp6HeaderLen = 40;

HbhVerdict verdict(HbhAction a, size_t pointer, const HbhVerdict& so_far) {
  HbhVerdict v = so_far;
  v.action = a;
  v.pointer = uint32_t(pointer);
  return v;
}

}  // namespace

HbhVerdict ipv6_hop_by_hop(const uint8_t* ip6, size_t len) {
  HbhVerdict v;
  if (len < kIp6HeaderLen) return verdict(HbhAction::malformed, 0, v);
  if (ip6[6] != ipv6_ext::hop_by_hop) {
    v.next_header = ip6[6];
    return v;
  }
  // Padding after the packet (a short frame padded to 60 bytes) is not part of it.
  const size_t end = std::min(len, kIp6HeaderLen + size_t(ip6[4] << 8 | ip6[5]));
  if (end < kIp6HeaderLen + 2) return verdict(HbhAction::malformed, 4, v);
  const size_t hend = kIp6HeaderLen + (size_t(ip6[kIp6HeaderLen + 1]) + 1) * 8;
  if (hend > end) return verdict(HbhAction::malformed, kIp6HeaderLen + 1, v);
  const bool dst_multicast = ip6[24] == 0xff;
  size_t o = kIp6HeaderLen + 2;
  while (o < hend) {
    const uint8_t type = ip6[o];
    if (type == ipv6_ext::opt_pad1) {  // the one option without a length byte
      ++o;
      continue;
    }
    if (o + 1 >= hend) return verdict(HbhAction::malformed, o, v);
    const size_t olen = ip6[o + 1];
    if (o + 2 + olen > hend) return verdict(HbhAction::malformed, o + 1, v);
    switch (type) {
      case ipv6_ext::opt_padn:
        break;  // RFC 8200 4.2: its content is ignored
      case ipv6_ext::opt_router_alert:
        // RFC 2711 2.1: always two bytes of value.
        if (olen != 2) return verdict(HbhAction::malformed, o + 1, v);
        v.router_alert = true;
        v.router_alert_value = uint16_t(ip6[o + 2] << 8 | ip6[o + 3]);
        break;
      default:
        // RFC 8200 4.2: the two high bits of an unrecognised type say what to do.
        switch (type >> 6) {
          case 0:
            break;
          case 1:
            return verdict(HbhAction::discard, o, v);
          case 2:
            return verdict(HbhAction::unrecognized, o, v);
          default:
            return verdict(dst_multicast ? HbhAction::discard : HbhAction::unrecognized, o, v);
        }
    }
    o += 2 + olen;
  }
  v.next_header = ip6[kIp6HeaderLen];
  v.length = uint32_t(hend - kIp6HeaderLen);
  return v;
}

}  // namespace routerd
