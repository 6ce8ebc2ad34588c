#include "icmp6.hpp"

#include <algorithm>
#include <cstring>

namespace routerd {

namespace {

uint32_t sum16(const uint8_t* p, size_t len, uint32_t acc) {
  for (size_t i = 0; i + 1 < len; i += 2) acc += uint32_t(p[i] << 8 | p[i + 1]);
  if (len & 1) acc += uint32_t(p[len - 1]) << 8;
  return acc;
}

// The upper-layer protocol and its offset, through the extension headers a router may meet
// before it; false when the chain is cut short, too long, or goes through a later fragment.
bool upper_layer(const uint8_t* ip, size_t len, uint8_t* proto, size_t* off) {
  uint8_t nh = ip[6];
  size_t at = icmp6::ip6_header_len;
  for (int i = 0; i < 8; ++i) {
    switch (nh) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        if (len < at + 8) return false;
        nh = ip[at];
        at += (size_t(ip[at + 1]) + 1) * 8;
        continue;
      case 44:  // fragment: only the first one carries the upper-layer header
        if (len < at + 8 || ((ip[at + 2] << 8 | ip[at + 3]) & 0xfff8) != 0) return false;
        nh = ip[at];
        at += 8;
        continue;
      default:
        *proto = nh;
        *off = at;
        return true;
    }
  }
  return false;
}

}  // namespace

uint16_t icmp6_checksum(const Ipv6& src, const Ipv6& dst, const uint8_t* msg, size_t len) {
  uint32_t acc = sum16(src.b.data(), 16, 0);
  acc = sum16(dst.b.data(), 16, acc);
  acc += uint32_t(len >> 16) + uint32_t(len & 0xffff);
  acc += icmp6::next_header;
  acc = sum16(msg, len, acc);
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(~acc);
}

bool icmp6_error_allowed(const uint8_t* ip, size_t len, uint8_t type, uint8_t code,
                         bool l2_multicast) {
  if (len < icmp6::ip6_header_len || (ip[0] >> 4) != 6) return false;
  const Ipv6 src = Ipv6::from_bytes(ip + 8), dst = Ipv6::from_bytes(ip + 24);
  if (src.is_unspecified() || src.is_multicast()) return false;
  const bool excepted = type == icmp6::packet_too_big ||
                        (type == icmp6::param_problem && code == icmp6::code_unrecognized_option);
  if ((dst.is_multicast() || l2_multicast) && !excepted) return false;
  uint8_t proto;
  size_t off;
  // An ICMPv6 error message (types 0-127) is never answered; a packet whose headers cannot
  // be followed may be one, so it is not answered either.
  if (!upper_layer(ip, len, &proto, &off)) return false;
  if (proto == icmp6::next_header && (len <= off || ip[off] < 128)) return false;
  return true;
}

size_t icmp6_build_error(const uint8_t* orig, size_t orig_len, uint8_t type, uint8_t code,
                         uint32_t param, const Ipv6& src, uint8_t* out, size_t cap) {
  if (orig_len < icmp6::ip6_header_len || (orig[0] >> 4) != 6) return 0;
  const size_t own = icmp6::ip6_header_len + size_t(orig[4] << 8 | orig[5]);
  const size_t room = icmp6::min_mtu - icmp6::ip6_header_len - icmp6::header_len;
  const size_t quote = std::min({orig_len, own, room});
  const size_t total = icmp6::ip6_header_len + icmp6::header_len + quote;
  if (cap < total) return 0;
  const Ipv6 dst = Ipv6::from_bytes(orig + 8);
  const size_t plen = icmp6::header_len + quote;
  // The quote first: orig may overlap nothing of out, but copy before writing headers anyway.
  std::memmove(out + icmp6::ip6_header_len + icmp6::header_len, orig, quote);
  std::memset(out, 0, icmp6::ip6_header_len + icmp6::header_len);
  out[0] = 0x60;
  out[4] = uint8_t(plen >> 8);
  out[5] = uint8_t(plen);
  out[6] = icmp6::next_header;
  out[7] = 64;
  std::memcpy(out + 8, src.b.data(), 16);
  std::memcpy(out + 24, dst.b.data(), 16);
  uint8_t* m = out + icmp6::ip6_header_len;
  m[0] = type;
  m[1] = code;
  m[4] = uint8_t(param >> 24);
  m[5] = uint8_t(param >> 16);
  m[6] = uint8_t(param >> 8);
  m[7] = uint8_t(param);
  const uint16_t c = icmp6_checksum(src, dst, m, plen);
  m[2] = uint8_t(c >> 8);
  m[3] = uint8_t(c);
  return total;
}

}  // namespace routerd
