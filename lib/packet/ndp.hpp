// packet/ndp: IPv6 Neighbor Discovery messages (RFC 4861), parsed and built.
// ndp_parse accepts only what RFC 4861's validity checks (6.1, 7.1) accept, so a message it
// returns can be acted on; ndp_build_* write whole frames with a correct ICMPv6 checksum.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "icmp6.hpp"  // icmp6_checksum
#include "inet.hpp"
#include "inet6.hpp"

namespace routerd {

namespace nd {
constexpr uint8_t router_solicit = 133;
constexpr uint8_t router_advert = 134;
constexpr uint8_t neighbor_solicit = 135;
constexpr uint8_t neighbor_advert = 136;
constexpr uint8_t redirect = 137;
constexpr uint8_t opt_source_lla = 1;
constexpr uint8_t opt_target_lla = 2;
constexpr uint8_t opt_prefix_info = 3;
constexpr uint8_t opt_redirected_header = 4;
constexpr uint8_t opt_mtu = 5;
constexpr size_t kIpv6HdrLen = 40;
constexpr uint8_t kNextHeaderIcmp6 = 58;
// What routerd's RAs say in their fixed part (ndp_build_ra): Cur Hop Limit 64 (RFC 8200's
// recommended default), M and O clear, Reachable Time and Retrans Timer 0 (unspecified).
constexpr uint8_t kRaCurHopLimit = 64;
constexpr uint32_t kRaReachableTime = 0, kRaRetransTimer = 0;
}  // namespace nd

struct RaPrefix {
  Prefix6 prefix;
  uint32_t valid_lifetime = 0, preferred_lifetime = 0;  // seconds
  bool autonomous = true;  // A flag: hosts may form addresses in it (SLAAC needs a /64)
};
constexpr size_t kMaxRaPrefixes = 16;

struct NdMessage {
  uint8_t type = 0;
  Ipv6 src, dst;               // from the IPv6 header
  Ipv6 target;                 // NS, NA: the target; redirect: the better first hop
  Ipv6 redirect_dst;           // redirect: the destination being redirected
  bool router = false;         // NA R flag
  bool solicited = false;      // NA S flag
  bool override_flag = false;  // NA O flag
  std::optional<Mac> source_lla;
  std::optional<Mac> target_lla;
  // RA
  uint8_t cur_hop_limit = 0;
  bool managed = false, other = false;
  uint16_t router_lifetime = 0;                    // seconds
  uint32_t reachable_time = 0, retrans_timer = 0;  // milliseconds
  std::optional<uint32_t> mtu;
  // RA: its Prefix Information options (RFC 4861 4.6.2), the first kMaxRaPrefixes of them,
  // host bits cleared; a router compares their lifetimes with its own (6.2.7).
  std::array<RaPrefix, kMaxRaPrefixes> prefixes{};
  size_t n_prefixes = 0;
};

// `ip6` points at an IPv6 header, len bytes readable (the frame after the Ethernet header).
// Returns the message when it is a Neighbor Discovery message (133..137) that passes
// RFC 4861's validity checks: hop limit 255, payload within the frame, ICMPv6 checksum, code 0,
// the type's minimum length, every option of non-zero length inside the message, and each
// type's own rules (targets not multicast, no source link-layer option from the unspecified
// address, an unspecified NS source only towards a solicited-node group, an NA to a multicast
// address not solicited, RAs and redirects from link-local sources, link-layer and MTU
// options of one unit, Prefix Information options of four with a length <= 128). Anything
// else: nullopt.
std::optional<NdMessage> ndp_parse(const uint8_t* ip6, size_t len);

// Frames (Ethernet, IPv6 with hop limit 255, ICMPv6), written into out, which must hold
// kNdMaxFrame bytes; each returns the frame length.
constexpr size_t kNdMaxFrame = 14 + 40 + 1024;

// A solicitation for target from (src, mac): to target's solicited-node group unless
// `unicast_to` is given (reachability probes, RFC 4861 7.3.3). An unspecified src (DAD)
// carries no source link-layer option.
size_t ndp_build_ns(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& target,
                    const Ipv6* unicast_to = nullptr, const Mac* unicast_mac = nullptr);
// An advertisement of target (ours) with our link-layer address, to dst at dst_mac.
size_t ndp_build_na(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst,
                    const Mac& dst_mac, const Ipv6& target, bool router, bool solicited,
                    bool override_flag);

// A Redirect (RFC 4861 4.5, 8.2) from the router's link-local src to the offending packet's
// source dst at dst_mac: `target` is the better first hop (a router's link-local address,
// or redirect_dst itself when it is on the link), with the target's link-layer option when
// known and as much of the offending packet (orig, orig_len bytes from its IPv6 header) as
// keeps the whole message within 1,280 bytes. out must hold kNdRedirectMaxFrame bytes.
constexpr size_t kNdRedirectMaxFrame = 14 + 1280;
size_t ndp_build_redirect(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst,
                          const Mac& dst_mac, const Ipv6& target, const Ipv6& redirect_dst,
                          const Mac* target_mac, const uint8_t* orig, size_t orig_len);

// A Router Advertisement from src (link-local) to dst (ff02::1 or a soliciting host) with a
// source link-layer option, the MTU option when mtu != 0, and a Prefix Information option
// (on-link; autonomous as the prefix says) per prefix; at most kMaxRaPrefixes.
size_t ndp_build_ra(uint8_t* out, const Mac& mac, const Ipv6& src, const Ipv6& dst,
                    const Mac& dst_mac, uint16_t router_lifetime, uint32_t mtu,
                    std::span<const RaPrefix> prefixes);

}  // namespace routerd
