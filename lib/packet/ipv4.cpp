#include "ipv4.hpp"

namespace routerd {

namespace {
constexpr uint8_t kOptEnd = 0, kOptNop = 1, kOptLsrr = 0x83, kOptSsrr = 0x89;
}

OptionsVerdict ipv4_check_options(const rte_ipv4_hdr* ip) {
  const auto* h = reinterpret_cast<const uint8_t*>(ip);
  const uint32_t ihl = uint32_t(ip->version_ihl & 0xf) * 4;
  uint32_t i = sizeof(rte_ipv4_hdr);
  bool source_routed = false;
  while (i < ihl) {
    uint8_t type = h[i];
    if (type == kOptEnd) break;
    if (type == kOptNop) {
      ++i;
      continue;
    }
    // Every other option is type, length, data; length counts the first two bytes.
    if (i + 1 >= ihl) return {OptionsVerdict::malformed, uint8_t(i)};
    uint8_t len = h[i + 1];
    if (len < 2 || i + len > ihl) return {OptionsVerdict::malformed, uint8_t(i + 1)};
    if (type == kOptLsrr || type == kOptSsrr) {
      // RFC 791: a route option has a pointer byte (so length >= 3) and the pointer is >= 4.
      if (len < 3) return {OptionsVerdict::malformed, uint8_t(i + 1)};
      if (h[i + 2] < 4) return {OptionsVerdict::malformed, uint8_t(i + 2)};
      source_routed = true;
    }
    i += len;
  }
  return {source_routed ? OptionsVerdict::source_route : OptionsVerdict::ok, 0};
}

}  // namespace routerd
