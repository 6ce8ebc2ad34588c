// packet/icmp6: ICMPv6 errors (RFC 4443) and the rules that forbid one, over byte buffers.
// An error quotes as much of the offending packet as fits in the IPv6 minimum MTU and is
// never sent where RFC 4443 2.4 (e) forbids it; the checksum is always right.
#pragma once

#include <cstddef>
#include <cstdint>

#include "inet6.hpp"

namespace routerd {

namespace icmp6 {
constexpr uint8_t dest_unreachable = 1, packet_too_big = 2, time_exceeded = 3, param_problem = 4,
                  echo_request = 128, echo_reply = 129;
constexpr uint8_t code_no_route = 0, code_admin_prohibited = 1, code_beyond_scope = 2,
                  code_address_unreachable = 3, code_port_unreachable = 4;
// Parameter Problem (RFC 4443 3.4).
constexpr uint8_t code_erroneous_header = 0, code_unrecognized_next_header = 1,
                  code_unrecognized_option = 2;
constexpr size_t min_mtu = 1280;  // RFC 8200 5: no error is longer than this (RFC 4443 2.4 c)
constexpr size_t ip6_header_len = 40, header_len = 8;
constexpr uint8_t next_header = 58;
}  // namespace icmp6

// The ICMPv6 checksum of msg (len bytes, its checksum field included as it is) under the
// IPv6 pseudo-header (RFC 8200 8.1): 0 when a received message's checksum is right.
uint16_t icmp6_checksum(const Ipv6& src, const Ipv6& dst, const uint8_t* msg, size_t len);

// RFC 4443 2.4 (e): no error about an ICMPv6 error message, about a packet whose source is
// unspecified or multicast, or about a packet sent to a multicast address or as a link-layer
// multicast or broadcast, except Packet Too Big and Parameter Problem code 2 for the last two.
// `ip6`/`len`: the offending packet as received. The upper-layer header is found through at
// most 8 extension headers (hop-by-hop, routing, destination options, the first fragment);
// a packet whose chain cannot be followed is treated as not an error message.
bool icmp6_error_allowed(const uint8_t* ip6, size_t len, uint8_t type, uint8_t code,
                         bool l2_multicast);

// Writes an IPv6 header (hop limit 64, from src to the offender's source), the ICMPv6 header
// (param: the MTU for Packet Too Big, the pointer for Parameter Problem, else 0) and the
// offending packet cut at its own length and at what keeps the error within 1,280 bytes.
// Returns the bytes written (IPv6 header included), or 0 when cap is too small or orig has
// no IPv6 header.
size_t icmp6_build_error(const uint8_t* orig, size_t orig_len, uint8_t type, uint8_t code,
                         uint32_t param, const Ipv6& src, uint8_t* out, size_t cap);

}  // namespace routerd
