#include "ndp.hpp"

#include <algorithm>
#include <cstring>

namespace routerd {

namespace {

uint16_t be16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// Where the options start, and the least length, per type.
size_t fixed_len(uint8_t type) {
  switch (type) {
    case nd::router_solicit:
      return 8;
    case nd::router_advert:
      return 16;
    case nd::neighbor_solicit:
    case nd::neighbor_advert:
      return 24;
    case nd::redirect:
      return 40;
    default:
      return 0;
  }
}

// Writes Ethernet + IPv6 headers for an ICMPv6 message of len bytes already at out + 54,
// fills in its checksum, and returns the frame length.
size_t finish(uint8_t* out, const Mac& dst_mac, const Mac& src_mac, const Ipv6& src,
              const Ipv6& dst, size_t len) {
  std::memcpy(out, dst_mac.b.data(), 6);
  std::memcpy(out + 6, src_mac.b.data(), 6);
  put16(out + 12, 0x86dd);
  uint8_t* ip = out + 14;
  std::memset(ip, 0, nd::kIpv6HdrLen);
  ip[0] = 0x60;
  put16(ip + 4, uint16_t(len));
  ip[6] = nd::kNextHeaderIcmp6;
  ip[7] = 255;
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  uint8_t* msg = ip + nd::kIpv6HdrLen;
  msg[2] = msg[3] = 0;
  uint16_t c = icmp6_checksum(src, dst, msg, len);
  put16(msg + 2, c);
  return 14 + nd::kIpv6HdrLen + len;
}

size_t put_lla(uint8_t* p, uint8_t type, const Mac& mac) {
  p[0] = type;
  p[1] = 1;
  std::memcpy(p + 2, mac.b.data(), 6);
  return 8;
}

}  // namespace

std::optional<NdMessage> ndp_parse(const uint8_t* ip, size_t len) {
  if (len < nd::kIpv6HdrLen || (ip[0] >> 4) != 6) return std::nullopt;
  const size_t plen = be16(ip + 4);
  if (plen > len - nd::kIpv6HdrLen || ip[6] != nd::kNextHeaderIcmp6 || ip[7] != 255)
    return std::nullopt;
  NdMessage m;
  m.src = Ipv6::from_bytes(ip + 8);
  m.dst = Ipv6::from_bytes(ip + 24);
  const uint8_t* icmp = ip + nd::kIpv6HdrLen;
  if (plen < 4) return std::nullopt;
  m.type = icmp[0];
  const size_t fixed = fixed_len(m.type);
  if (fixed == 0 || icmp[1] != 0 || plen < fixed) return std::nullopt;
  if (icmp6_checksum(m.src, m.dst, icmp, plen) != 0) return std::nullopt;
  if (m.src.is_multicast()) return std::nullopt;  // RFC 4443 / 4291: never a source

  // Options: each a whole number of 8-byte units, none empty, all inside the message.
  for (size_t off = fixed; off < plen;) {
    if (plen - off < 2) return std::nullopt;
    const uint8_t type = icmp[off], units = icmp[off + 1];
    const size_t olen = size_t(units) * 8;
    if (units == 0 || olen > plen - off) return std::nullopt;
    const uint8_t* o = icmp + off;
    if (type == nd::opt_source_lla || type == nd::opt_target_lla) {
      if (units != 1) return std::nullopt;  // Ethernet: 6 bytes of address, one unit
      Mac mac;
      std::memcpy(mac.b.data(), o + 2, 6);
      (type == nd::opt_source_lla ? m.source_lla : m.target_lla) = mac;
    } else if (type == nd::opt_mtu) {
      if (units != 1) return std::nullopt;
      m.mtu = be32(o + 4);
    } else if (type == nd::opt_prefix_info && m.type == nd::router_advert) {  // 4.6.2
      if (units != 4 || o[2] > 128) return std::nullopt;
      if (m.n_prefixes < kMaxRaPrefixes) {
        RaPrefix& p = m.prefixes[m.n_prefixes++];
        p.prefix = Prefix6{ipv6_mask(Ipv6::from_bytes(o + 16), o[2]), o[2]};
        p.autonomous = o[3] & 0x40;
        p.valid_lifetime = be32(o + 4);
        p.preferred_lifetime = be32(o + 8);
      }
    }
    off += olen;  // other options (prefix information, redirected header, ...) are skipped
  }

  switch (m.type) {
    case nd::router_solicit:
      if (m.src.is_unspecified() && m.source_lla) return std::nullopt;
      break;
    case nd::router_advert:
      if (!m.src.is_link_local()) return std::nullopt;
      m.cur_hop_limit = icmp[4];
      m.managed = icmp[5] & 0x80;
      m.other = icmp[5] & 0x40;
      m.router_lifetime = be16(icmp + 6);
      m.reachable_time = be32(icmp + 8);
      m.retrans_timer = be32(icmp + 12);
      break;
    case nd::neighbor_solicit:
      m.target = Ipv6::from_bytes(icmp + 8);
      if (m.target.is_multicast()) return std::nullopt;
      if (m.src.is_unspecified() && (m.source_lla || !(m.dst == m.target.solicited_node())))
        return std::nullopt;
      break;
    case nd::neighbor_advert:
      m.target = Ipv6::from_bytes(icmp + 8);
      m.router = icmp[4] & 0x80;
      m.solicited = icmp[4] & 0x40;
      m.override_flag = icmp[4] & 0x20;
      if (m.target.is_multicast() || (m.dst.is_multicast() && m.solicited)) return std::nullopt;
      if (m.src.is_unspecified()) return std::nullopt;
      break;
    case nd::redirect:
      m.target = Ipv6::from_bytes(icmp + 8);
      m.redirect_dst = Ipv6::from_bytes(icmp + 24);
      if (!m.src.is_link_local() || m.redirect_dst.is_multicast() ||
          !(m.target.is_link_local() || m.target == m.redirect_dst))
        return std::nullopt;
      break;
    default:
      return std::nullopt;
  }
  return m;
}

size_t ndp_build_ns(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& target,
                    const Ipv6* unicast_to, const Mac* unicast_mac) {
  const Ipv6 dst = unicast_to ? *unicast_to : target.solicited_node();
  const Mac dst_mac = unicast_to && unicast_mac ? *unicast_mac : dst.multicast_mac();
  uint8_t* msg = out + 14 + nd::kIpv6HdrLen;
  std::memset(msg, 0, 24);
  msg[0] = nd::neighbor_solicit;
  std::memcpy(msg + 8, target.b.data(), 16);
  size_t len = 24;
  if (!src.is_unspecified()) len += put_lla(msg + len, nd::opt_source_lla, mac);
  return finish(out, dst_mac, mac, src, dst, len);
}

size_t ndp_build_na(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst,
                    const Mac& dst_mac, const Ipv6& target, bool router, bool solicited,
                    bool override_flag) {
  uint8_t* msg = out + 14 + nd::kIpv6HdrLen;
  std::memset(msg, 0, 24);
  msg[0] = nd::neighbor_advert;
  msg[4] = uint8_t((router ? 0x80 : 0) | (solicited ? 0x40 : 0) | (override_flag ? 0x20 : 0));
  std::memcpy(msg + 8, target.b.data(), 16);
  const size_t len = 24 + put_lla(msg + 24, nd::opt_target_lla, mac);
  return finish(out, dst_mac, mac, src, dst, len);
}

size_t ndp_build_ra(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst,
                    const Mac& dst_mac, uint16_t router_lifetime, uint32_t mtu,
                    std::span<const RaPrefix> prefixes) {
  uint8_t* msg = out + 14 + nd::kIpv6HdrLen;
  std::memset(msg, 0, 16);
  msg[0] = nd::router_advert;
  msg[4] = nd::kRaCurHopLimit;  // the hop limit hosts should use
  put16(msg + 6, router_lifetime);
  put32(msg + 8, nd::kRaReachableTime);
  put32(msg + 12, nd::kRaRetransTimer);
  size_t len = 16 + put_lla(msg + 16, nd::opt_source_lla, mac);
  if (mtu) {
    uint8_t* o = msg + len;
    std::memset(o, 0, 8);
    o[0] = nd::opt_mtu;
    o[1] = 1;
    put32(o + 4, mtu);
    len += 8;
  }
  for (size_t i = 0; i < prefixes.size() && i < kMaxRaPrefixes; ++i) {
    uint8_t* o = msg + len;
    std::memset(o, 0, 32);
    o[0] = nd::opt_prefix_info;
    o[1] = 4;
    o[2] = prefixes[i].prefix.len;
    o[3] = uint8_t(0x80 | (prefixes[i].autonomous ? 0x40 : 0));  // on-link, autonomous (SLAAC)
    put32(o + 4, prefixes[i].valid_lifetime);
    put32(o + 8, prefixes[i].preferred_lifetime);
    std::memcpy(o + 16, prefixes[i].prefix.addr.b.data(), 16);
    len += 32;
  }
  return finish(out, dst_mac, mac, src, dst, len);
}

size_t ndp_build_redirect(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst,
                          const Mac& dst_mac, const Ipv6& target, const Ipv6& redirect_dst,
                          const Mac* target_mac, const uint8_t* orig, size_t orig_len) {
  uint8_t* msg = out + 14 + nd::kIpv6HdrLen;
  std::memset(msg, 0, 40);
  msg[0] = nd::redirect;
  std::memcpy(msg + 8, target.b.data(), 16);
  std::memcpy(msg + 24, redirect_dst.b.data(), 16);
  size_t len = 40;
  if (target_mac) len += put_lla(msg + len, nd::opt_target_lla, *target_mac);
  // The Redirected Header option: 8 bytes of header, then the packet cut to whole 8-byte
  // units within the minimum MTU (RFC 4861 4.6.3).
  const size_t room = 1280 - nd::kIpv6HdrLen - len - 8;
  const size_t quote = std::min(orig_len, room) / 8 * 8;
  if (quote) {
    uint8_t* o = msg + len;
    std::memset(o, 0, 8);
    o[0] = nd::opt_redirected_header;
    o[1] = uint8_t((8 + quote) / 8);
    std::memcpy(o + 8, orig, quote);
    len += 8 + quote;
  }
  return finish(out, dst_mac, mac, src, dst, len);
}

}  // namespace routerd
