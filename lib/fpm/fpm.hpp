// fpm: FRR zebra's FPM stream (dplane_fpm_nl) cut into frames in at most one frame of memory;
// each frame decodes whole into plain structs or is refused whole with an FpmError saying why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "inet.hpp"
#include "inet6.hpp"

namespace routerd::fpm {

// Every refusal, with a message that starts with "fpm: " and names the field that was wrong.
struct FpmError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The FPM header (FRR's fpm/fpm.h): version 1, type 1 (netlink), then a big-endian length
// that counts the header itself.
inline constexpr size_t kHeaderLen = 4;
inline constexpr uint8_t kVersion = 1;
inline constexpr uint8_t kTypeNetlink = 1;
inline constexpr size_t kMaxFrame = 65535;  // the 16-bit length field
// A frame that cannot hold one netlink message header carries nothing.
inline constexpr size_t kMinFrame = kHeaderLen + 16;
// More members than this in one group or one RTA_MULTIPATH is refused: Debian's FRR is built
// with 64-way multipath, so a larger one is corrupt, and it bounds what one message allocates.
inline constexpr size_t kMaxPaths = 64;

// Cuts a TCP byte stream into frames. Bytes arrive in any chunking; each complete frame's
// netlink payload (header stripped) is handed to the callback, in order. A frame wholly inside
// one chunk is handed over in place; only a frame split across chunks is copied, into one
// buffer of at most kMaxFrame bytes. A bad header throws FpmError and leaves the reader failed:
// every later feed throws too, since the stream can no longer be cut (the caller closes it).
class FrameReader {
 public:
  using OnFrame = std::function<void(std::span<const uint8_t> payload)>;

  // An exception from on_frame also leaves the reader failed, and is passed on.
  void feed(std::span<const uint8_t> bytes, const OnFrame& on_frame);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes held of a frame not yet complete (0..kMaxFrame-1).
  size_t pending() const { return buf_.size(); }

 private:
  // The frame length from a header, or throws (and fails the reader).
  size_t check_header(const uint8_t* h);
  [[noreturn]] void fail(const std::string& why);

  std::vector<uint8_t> buf_;  // a partial frame: header first, once it is known
  size_t want_ = 0;           // its length, once the header is complete
  std::string error_;
};

// One path of a route: a gateway (gw_family AF_INET or AF_INET6, or 0 for none: a
// directly connected route), an interface (0 for none), and its ECMP weight.
struct Path {
  uint8_t gw_family = 0;
  Ipv4 gw4;
  Ipv6 gw6;
  uint32_t ifindex = 0;
  uint16_t weight = 1;  // rtnh_hops + 1, 1..256
  bool onlink = false;  // RTNH_F_ONLINK: the gateway is on the link whatever its address
  bool operator==(const Path&) const = default;
};

// RTM_NEWROUTE / RTM_DELROUTE for AF_INET or AF_INET6.
struct RouteMsg {
  bool add = false;
  uint8_t family = 0;  // AF_INET or AF_INET6: says which of prefix4 and prefix6 is meant
  Prefix4 prefix4;
  Prefix6 prefix6;
  uint8_t type = 0;      // rtm_type: RTN_UNICAST, RTN_BLACKHOLE, ... (zebra sends 0 on deletes)
  uint8_t protocol = 0;  // rtm_protocol: 186 bgp, 188 ospf, 196 static, ...
  uint32_t table = 0;    // RTA_TABLE, else rtm_table
  uint32_t priority = 0;
  uint32_t nh_id = 0;       // RTA_NH_ID: the route uses that next hop or group (0: none)
  std::vector<Path> paths;  // RTA_GATEWAY/RTA_VIA + RTA_OIF, or RTA_MULTIPATH
  uint32_t mtu = 0;         // RTA_METRICS RTAX_MTU, 0 if absent
};

struct GroupMember {
  uint32_t id = 0;
  uint16_t weight = 1;  // nexthop_grp.weight + 1, 1..256
  bool operator==(const GroupMember&) const = default;
};

// RTM_NEWNEXTHOP / RTM_DELNEXTHOP: one next hop (gateway and/or interface, or blackhole) or a
// group of others. Deletes carry only the id.
struct NexthopMsg {
  bool add = false;
  uint32_t id = 0;        // NHA_ID, never 0
  uint8_t family = 0;     // AF_INET or AF_INET6 (nh_family, or the gateway's when that is 0), or
                          // AF_UNSPEC for groups and deletes
  uint8_t gw_family = 0;  // NHA_GATEWAY: AF_INET or AF_INET6 (the nexthop's family), 0 if none
  Ipv4 gw4;
  Ipv6 gw6;
  uint32_t ifindex = 0;  // NHA_OIF, 0 if absent
  bool onlink = false;   // RTNH_F_ONLINK in nh_flags
  bool blackhole = false;
  uint8_t protocol = 0;
  std::vector<GroupMember> group;  // NHA_GROUP: 1..kMaxPaths distinct non-zero ids
};

// A netlink message routerd does not act on (links, neighbours, other families, source
// routes): reported so that the caller can count it, never an error.
struct IgnoredMsg {
  uint16_t type = 0;  // nlmsg_type
  std::string why;
};

using Message = std::variant<RouteMsg, NexthopMsg, IgnoredMsg>;

// Decodes one frame's payload (what FrameReader hands over: one or more netlink messages)
// and appends its messages to out, in order. Throws FpmError on anything malformed, with out
// as it was: nothing of a bad frame is ever returned.
void decode_frame(std::span<const uint8_t> payload, std::vector<Message>& out);

}  // namespace routerd::fpm
