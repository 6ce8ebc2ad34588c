// packet/ipv6_ext: the one IPv6 extension header a router examines, Hop-by-Hop Options
// (RFC 8200 4.3), walked over bytes. Never reads outside [ip6, ip6 + len) nor past the
// packet's own length; every verdict but `forward` names the byte a Parameter Problem points at.
#pragma once

#include <cstddef>
#include <cstdint>

namespace routerd {

namespace ipv6_ext {
// Next Header values (IANA "Assigned Internet Protocol Numbers").
constexpr uint8_t hop_by_hop = 0, routing = 43, fragment = 44, no_next_header = 59,
                  dest_options = 60;
// Option types (RFC 8200 4.2, RFC 2711).
constexpr uint8_t opt_pad1 = 0, opt_padn = 1, opt_router_alert = 5;
constexpr uint16_t router_alert_mld = 0;  // RFC 2711 2.1: the datagram contains an MLD message
}  // namespace ipv6_ext

// What a router does with a packet whose first next header is Hop-by-Hop.
enum class HbhAction : uint8_t {
  forward,       // every option skipped or understood
  malformed,     // the header or an option runs past its end, or a Router Alert is not
                 // 2 bytes long: drop, Parameter Problem code 0 (erroneous header field)
  discard,       // unrecognised option whose type says discard silently (01xxxxxx, or
                 // 11xxxxxx to a multicast destination)
  unrecognized,  // unrecognised option whose type asks for an error (10xxxxxx, or 11xxxxxx
                 // to a unicast destination): drop, Parameter Problem code 2
};

struct HbhVerdict {
  HbhAction action = HbhAction::forward;
  uint32_t pointer = 0;       // not forward: offset of the offending byte, IPv6 header = 0
  bool router_alert = false;  // a Router Alert option came before the verdict
  uint16_t router_alert_value = 0;
  uint8_t next_header = 0;  // forward: the header after Hop-by-Hop (ip6[6] if none)
  uint32_t length = 0;      // forward: the Hop-by-Hop header's length in bytes (0 if none)
};

// Walks the Hop-by-Hop header of the IPv6 packet at ip6 (len bytes present; the packet's own
// length, 40 + payload length, bounds the walk when it is shorter). Options are taken in
// order and the first one that is not skipped decides (RFC 8200 4.2): Pad1 and PadN are
// skipped, Router Alert is recorded, an unrecognised type acts on its two high bits. A
// packet without a Hop-by-Hop header is `forward` with length 0; one shorter than an IPv6
// header is `malformed` at 0. A header that does not fit in the packet is `malformed` at
// its Hdr Ext Len byte (41), or at the Payload Length field (4) when even that is missing;
// an option whose length byte is past the header's end is `malformed` at its type byte, one
// whose data is, at its length byte.
HbhVerdict ipv6_hop_by_hop(const uint8_t* ip6, size_t len);

}  // namespace routerd
