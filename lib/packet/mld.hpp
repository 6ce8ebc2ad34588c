// packet/mld: Multicast Listener Discovery as a listener (RFC 3810 MLDv2, RFC 2710 MLDv1):
// Reports and Done messages built as whole frames (link-local scope, hop limit 1, Router Alert,
// ICMPv6 checksum), and Queries and Reports parsed back with every validity check applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "inet.hpp"
#include "inet6.hpp"

namespace routerd {

namespace mld {
constexpr uint8_t query = 130;      // both versions (RFC 3810 5.1, RFC 2710 3)
constexpr uint8_t report_v1 = 131;  // RFC 2710 3
constexpr uint8_t done_v1 = 132;
constexpr uint8_t report_v2 = 143;  // RFC 3810 5.2
// Multicast Address Record types (RFC 3810 5.2.12).
constexpr uint8_t mode_is_include = 1, mode_is_exclude = 2, change_to_include = 3,
                  change_to_exclude = 4;
// ff02::16, where MLDv2 Reports go (RFC 3810 5.2.14).
inline constexpr Ipv6 kAllMldv2Routers = Ipv6::of(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
// RFC 3810 9: Robustness Variable, Unsolicited Report Interval, Older Version Querier Present
// Timeout (Robustness x Query Interval 125 s + Query Response Interval 10 s).
constexpr uint32_t kRobustness = 2;
constexpr uint64_t kUnsolicitedReportIntervalMs = 1000;
constexpr uint64_t kOlderQuerierPresentMs = 2 * 125000 + 10000;
// Hop-by-Hop header (8 bytes: Router Alert + PadN) + the ICMPv6 header of a Report.
constexpr size_t kHbhLen = 8;
// The most records one Report carries here: 64 x 20 bytes fits any Ethernet MTU.
constexpr size_t kMaxRecords = 64;
constexpr size_t kMaxFrame = 14 + 40 + kHbhLen + 8 + kMaxRecords * 20;
}  // namespace mld

struct MldRecord {
  uint8_t type;  // mld::mode_is_exclude, change_to_exclude (join), change_to_include (leave)
  Ipv6 group;
};

// An MLDv2 Report from (src, mac) to ff02::16 with the records (at most mld::kMaxRecords,
// no sources: any-source listening). src is the port's link-local address, or :: while it
// is tentative (RFC 3810 5.2.13). out holds mld::kMaxFrame bytes; returns the frame length.
size_t mld_build_report_v2(uint8_t* out, const Mac& mac, const Ipv6& src,
                           std::span<const MldRecord> records);
// An MLDv1 Report (to the group) or Done (to ff02::2) for one group (RFC 2710 3, 4).
size_t mld_build_v1(uint8_t* out, const Mac& mac, const Ipv6& src, uint8_t type, const Ipv6& group);

struct MldQuery {
  bool v2;                   // 28 bytes or more: MLDv2 (RFC 3810 8.1)
  Ipv6 src, dst, group;      // group :: for a General Query
  uint32_t max_response_ms;  // decoded Maximum Response Code / Delay
};
// ip6 points at an IPv6 header, len bytes readable. A Query that passes RFC 3810 5.1.14 /
// RFC 2710 5: link-local source, hop limit 1, a Hop-by-Hop header with Router Alert (MLD),
// correct checksum and length, a General Query to ff02::1, a specific one to its group.
std::optional<MldQuery> mld_parse_query(const uint8_t* ip6, size_t len);

struct MldReport {
  Ipv6 src, dst;
  uint8_t hop_limit;
  bool router_alert;
  uint8_t type;                    // report_v2, report_v1 or done_v1
  std::vector<MldRecord> records;  // v1: one, typed change_to_exclude (report) or _include (done)
};
// Any Report or Done with a valid checksum behind a Hop-by-Hop header (tests and tools).
std::optional<MldReport> mld_parse_report(const uint8_t* ip6, size_t len);

// Where the ICMPv6 message of an IPv6 packet with a Hop-by-Hop header starts, if the next
// header after it is ICMPv6; 0 otherwise.
size_t mld_icmp_offset(const uint8_t* ip6, size_t len);

}  // namespace routerd
