#include "icmp.hpp"

#include <algorithm>
#include <cstring>

#include "ipv4.hpp"

namespace routerd {

namespace {

bool icmp_type_is_informational(uint8_t type) {
  switch (type) {
    case 0:   // echo reply
    case 8:   // echo request
    case 9:   // router advertisement
    case 10:  // router solicitation
    case 13:  // timestamp
    case 14:  // timestamp reply
    case 15:  // information request
    case 16:  // information reply
    case 17:  // address mask request
    case 18:  // address mask reply
      return true;
    default:
      return false;
  }
}

}  // namespace

uint16_t icmp_checksum(const uint8_t* icmp, size_t len) {
  uint16_t c = rte_raw_cksum(icmp, len);
  return c == 0xffff ? c : uint16_t(~c);
}

bool icmp_error_allowed(const uint8_t* ip, size_t len, bool l2_multicast, bool dst_is_broadcast,
                        bool src_is_broadcast) {
  if (len < sizeof(rte_ipv4_hdr) || l2_multicast || dst_is_broadcast || src_is_broadcast)
    return false;
  const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
  uint32_t src = rte_be_to_cpu_32(h->src_addr), dst = rte_be_to_cpu_32(h->dst_addr);
  // A source that does not identify a single host: 0/8, 127/8, class D/E, limited bcast.
  if (kFirstOctet.c[src >> 24] & addr_class::martian_src) return false;
  if (dst == 0xffffffffu || (kFirstOctet.c[dst >> 24] & addr_class::multicast)) return false;
  if (ipv4_is_later_fragment(h)) return false;
  if (h->next_proto_id == IPPROTO_ICMP) {
    uint32_t ihl = uint32_t(h->version_ihl & 0xf) * 4;
    // Without the type byte we cannot tell an error from a query: stay silent.
    if (ihl < sizeof(rte_ipv4_hdr) || len <= ihl) return false;
    if (!icmp_type_is_informational(ip[ihl])) return false;
  }
  return true;
}

size_t icmp_build_error(const uint8_t* orig, size_t orig_len, const IcmpError& e, uint8_t* out,
                        size_t cap, size_t max_len) {
  if (orig_len < sizeof(rte_ipv4_hdr)) return 0;
  const auto* oh = reinterpret_cast<const rte_ipv4_hdr*>(orig);
  size_t quote = std::min<size_t>(orig_len, rte_be_to_cpu_16(oh->total_length));
  const size_t overhead = sizeof(rte_ipv4_hdr) + icmp::header_len;
  max_len = std::min(max_len, cap);
  if (max_len < overhead + sizeof(rte_ipv4_hdr)) return 0;
  quote = std::min(quote, max_len - overhead);
  const size_t total = overhead + quote;

  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(out);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0xc0;  // precedence 6, internetwork control (RFC 1812 4.3.2.5)
  ip->total_length = rte_cpu_to_be_16(uint16_t(total));
  ip->packet_id = rte_cpu_to_be_16(e.ip_id);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = rte_cpu_to_be_32(e.src.v);
  ip->dst_addr = oh->src_addr;
  ip->hdr_checksum = ipv4_header_checksum(ip);

  uint8_t* icmp_hdr = out + sizeof(rte_ipv4_hdr);
  icmp_hdr[0] = e.type;
  icmp_hdr[1] = e.code;
  icmp_hdr[2] = icmp_hdr[3] = 0;
  uint32_t rest = rte_cpu_to_be_32(e.rest);
  std::memcpy(icmp_hdr + 4, &rest, 4);
  std::memcpy(icmp_hdr + icmp::header_len, orig, quote);
  uint16_t c = icmp_checksum(icmp_hdr, icmp::header_len + quote);
  std::memcpy(icmp_hdr + 2, &c, 2);
  return total;
}

bool icmp_echo_to_reply(uint8_t* ip, size_t len) {
  if (len < sizeof(rte_ipv4_hdr)) return false;
  auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
  size_t ihl = size_t(h->version_ihl & 0xf) * 4;
  // Only an IPv4 header: with IHL < 5 the "ICMP header" would lie inside the IP header.
  if ((h->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr)) return false;
  if (h->next_proto_id != IPPROTO_ICMP || len < ihl + icmp::header_len) return false;
  uint8_t* icmp_hdr = ip + ihl;
  if (icmp_hdr[0] != icmp::echo_request || icmp_hdr[1] != 0) return false;
  if (rte_raw_cksum(icmp_hdr, len - ihl) != 0xffff) return false;
  rte_be32_t a = h->src_addr;
  h->src_addr = h->dst_addr;
  h->dst_addr = a;
  h->time_to_live = 64;
  h->fragment_offset = 0;
  h->hdr_checksum = 0;
  h->hdr_checksum = ipv4_header_checksum(h);
  icmp_hdr[0] = icmp::echo_reply;
  icmp_hdr[2] = icmp_hdr[3] = 0;
  uint16_t c = icmp_checksum(icmp_hdr, len - ihl);
  std::memcpy(icmp_hdr + 2, &c, 2);
  return true;
}

std::optional<Ipv4> icmp_select_source(std::span<const PortAddress> port_addrs, Ipv4 dst) {
  for (const auto& a : port_addrs)
    if (a.subnet.contains(dst)) return a.addr;
  if (!port_addrs.empty()) return port_addrs.front().addr;
  return std::nullopt;
}

}  // namespace routerd
