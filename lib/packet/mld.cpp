#include "mld.hpp"

#include <algorithm>
#include <cstring>

#include "icmp6.hpp"
#include "ipv6_ext.hpp"

namespace routerd {

namespace {

uint16_t mld_be16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
void mld_put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// Ethernet, IPv6 (hop limit 1, RFC 3810 5), Hop-by-Hop with Router Alert value 0 (RFC 2711:
// MLD) and PadN to 8 bytes, around an ICMPv6 message of len bytes already at out + 62.
size_t mld_finish(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst, size_t len) {
  const Mac dmac = dst.multicast_mac();
  std::memcpy(out, dmac.b.data(), 6);
  std::memcpy(out + 6, mac.b.data(), 6);
  mld_put16(out + 12, 0x86dd);
  uint8_t* ip = out + 14;
  std::memset(ip, 0, 40 + mld::kHbhLen);
  ip[0] = 0x60;
  mld_put16(ip + 4, uint16_t(mld::kHbhLen + len));
  ip[6] = ipv6_ext::hop_by_hop;
  ip[7] = 1;
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  uint8_t* h = ip + 40;
  h[0] = icmp6::next_header;
  h[1] = 0;  // (0 + 1) x 8 bytes
  h[2] = ipv6_ext::opt_router_alert;
  h[3] = 2;
  mld_put16(h + 4, ipv6_ext::router_alert_mld);
  h[6] = ipv6_ext::opt_padn;
  h[7] = 0;
  uint8_t* msg = h + mld::kHbhLen;
  msg[2] = msg[3] = 0;
  mld_put16(msg + 2, icmp6_checksum(src, dst, msg, len));
  return 14 + 40 + mld::kHbhLen + len;
}

// The Hop-by-Hop walk of lib/packet/ipv6_ext, and where ICMPv6 starts behind it.
struct Behind {
  size_t icmp = 0;  // 0: not ICMPv6 behind a well-formed Hop-by-Hop header
  bool router_alert = false;
};
Behind behind_hbh(const uint8_t* ip6, size_t len) {
  if (len < 40 || (ip6[0] >> 4) != 6 || ip6[6] != ipv6_ext::hop_by_hop) return {};
  const HbhVerdict v = ipv6_hop_by_hop(ip6, len);
  if (v.action != HbhAction::forward || v.next_header != icmp6::next_header) return {};
  return {40 + v.length, v.router_alert && v.router_alert_value == ipv6_ext::router_alert_mld};
}

}  // namespace

size_t mld_icmp_offset(const uint8_t* ip6, size_t len) {
  return behind_hbh(ip6, len).icmp;
}

size_t mld_build_report_v2(uint8_t* out, const Mac& mac, const Ipv6& src,
                           std::span<const MldRecord> records) {
  const size_t n = std::min(records.size(), mld::kMaxRecords);
  uint8_t* msg = out + 14 + 40 + mld::kHbhLen;
  std::memset(msg, 0, 8);
  msg[0] = mld::report_v2;
  mld_put16(msg + 6, uint16_t(n));
  for (size_t i = 0; i < n; ++i) {
    uint8_t* r = msg + 8 + i * 20;
    r[0] = records[i].type;
    r[1] = 0;             // Aux Data Len
    mld_put16(r + 2, 0);  // Number of Sources: any-source listening
    std::memcpy(r + 4, records[i].group.b.data(), 16);
  }
  return mld_finish(out, mac, src, mld::kAllMldv2Routers, 8 + n * 20);
}

size_t mld_build_v1(uint8_t* out, const Mac& mac, const Ipv6& src, uint8_t type,
                    const Ipv6& group) {
  uint8_t* msg = out + 14 + 40 + mld::kHbhLen;
  std::memset(msg, 0, 24);
  msg[0] = type;
  std::memcpy(msg + 8, group.b.data(), 16);
  return mld_finish(out, mac, src, type == mld::done_v1 ? kAllRouters : group, 24);
}

std::optional<MldQuery> mld_parse_query(const uint8_t* ip6, size_t len) {
  const Behind b = behind_hbh(ip6, len);
  if (b.icmp == 0 || !b.router_alert || ip6[7] != 1) return std::nullopt;
  const size_t total = 40 + mld_be16(ip6 + 4);
  if (total > len || total < b.icmp + 24) return std::nullopt;
  const uint8_t* msg = ip6 + b.icmp;
  const size_t n = total - b.icmp;
  MldQuery q{};
  q.src = Ipv6::from_bytes(ip6 + 8);
  q.dst = Ipv6::from_bytes(ip6 + 24);
  if (msg[0] != mld::query || !q.src.is_link_local()) return std::nullopt;
  if (icmp6_checksum(q.src, q.dst, msg, n) != 0) return std::nullopt;
  // RFC 3810 8.1: 24 bytes is MLDv1, 28 or more MLDv2; anything between is no query.
  if (n > 24 && n < 28) return std::nullopt;
  q.v2 = n >= 28;
  q.group = Ipv6::from_bytes(msg + 8);
  if (q.v2 && n < 28 + size_t(mld_be16(msg + 26)) * 16) return std::nullopt;
  const uint16_t code = mld_be16(msg + 4);
  // RFC 3810 5.1.3: from 32768 on, the code is a floating-point value.
  q.max_response_ms = (!q.v2 || code < 32768)
                          ? code
                          : uint32_t((code & 0x0fff) | 0x1000) << (((code >> 12) & 7) + 3);
  if (q.group.is_unspecified()) {
    if (q.dst != kAllNodes) return std::nullopt;
  } else if (!q.group.is_multicast() || (q.dst != q.group && q.dst != kAllNodes)) {
    return std::nullopt;
  }
  return q;
}

std::optional<MldReport> mld_parse_report(const uint8_t* ip6, size_t len) {
  const Behind b = behind_hbh(ip6, len);
  if (b.icmp == 0) return std::nullopt;
  const size_t total = 40 + mld_be16(ip6 + 4);
  if (total > len || total < b.icmp + 8) return std::nullopt;
  const uint8_t* msg = ip6 + b.icmp;
  const size_t n = total - b.icmp;
  MldReport r{};
  r.src = Ipv6::from_bytes(ip6 + 8);
  r.dst = Ipv6::from_bytes(ip6 + 24);
  r.hop_limit = ip6[7];
  r.router_alert = b.router_alert;
  r.type = msg[0];
  if (icmp6_checksum(r.src, r.dst, msg, n) != 0 || msg[1] != 0) return std::nullopt;
  if (r.type == mld::report_v2) {
    size_t off = 8;
    for (uint16_t i = 0, count = mld_be16(msg + 6); i < count; ++i) {
      if (off + 20 > n) return std::nullopt;
      const size_t rec_len = 20 + size_t(mld_be16(msg + off + 2)) * 16 + size_t(msg[off + 1]) * 4;
      if (off + rec_len > n) return std::nullopt;
      r.records.push_back({msg[off], Ipv6::from_bytes(msg + off + 4)});
      off += rec_len;
    }
    return r;
  }
  if ((r.type == mld::report_v1 || r.type == mld::done_v1) && n >= 24) {
    r.records.push_back({r.type == mld::report_v1 ? mld::change_to_exclude : mld::change_to_include,
                         Ipv6::from_bytes(msg + 8)});
    return r;
  }
  return std::nullopt;
}

}  // namespace routerd
