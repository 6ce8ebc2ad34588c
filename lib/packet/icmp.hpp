// packet/icmp: building ICMP errors and echo replies, and the rules that forbid an error.
// Pure functions over byte buffers; callers supply addresses, buffers and limits, so every
// RFC 1812 4.3.2 rule is testable without a dataplane.
#pragma once

#include <rte_ip.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "inet.hpp"
#include "stats.hpp"

namespace routerd {

namespace icmp {
constexpr uint8_t echo_reply = 0, dest_unreachable = 3, redirect = 5, echo_request = 8,
                  time_exceeded = 11, param_problem = 12;
constexpr uint8_t code_net_unreachable = 0, code_host_unreachable = 1,
                  code_protocol_unreachable = 2, code_port_unreachable = 3, code_frag_needed = 4;
// RFC 1812 5.2.7.1: Communication Administratively Prohibited.
constexpr uint8_t code_admin_prohibited = 13;
// RFC 1812 4.3.2.3: an error carries as much of the offending datagram as fits in 576 bytes.
constexpr size_t max_error_len = 576;
constexpr size_t header_len = 8;
}  // namespace icmp

// RFC 1812 4.3.2.7: an ICMP error MUST NOT be sent in response to an ICMP error, a datagram
// to a broadcast or multicast address (IP or link layer), a non-initial fragment, or a
// datagram whose source does not identify a single host. Linux additionally treats unknown
// ICMP types as errors; so do we. `ip`/`len`: the offending datagram as received (len may be
// shorter than its total length). Returns false with the counter to bump when forbidden.
bool icmp_error_allowed(const uint8_t* ip, size_t len, bool l2_multicast, bool dst_is_broadcast,
                        bool src_is_broadcast);

struct IcmpError {
  uint8_t type;
  uint8_t code;
  uint32_t rest;  // the second word: MTU in the low 16 bits (Frag Needed), pointer << 24
                  // (Parameter Problem), zero otherwise
  Ipv4 src;       // an address of the interface the error leaves by (RFC 1812 4.3.2.4)
  uint16_t ip_id;
};

// Writes an IPv4 header (precedence 6 per 4.3.2.5, fresh TTL 64 per 4.3.2.2, DF clear), the
// ICMP header and a quote of `orig` into out. The quote is the original datagram unchanged,
// cut at its own total length and at what fits in max_error_len. Returns the number of
// bytes written (the IP total length), or 0 if cap is too small or orig has no IP header.
size_t icmp_build_error(const uint8_t* orig, size_t orig_len, const IcmpError& e, uint8_t* out,
                        size_t cap, size_t max_len = icmp::max_error_len);

// Turns an echo request into its reply in place: swaps addresses (the reply comes from the
// address that was pinged), fresh TTL, type 0, both checksums recomputed. `len` is the IP
// total length. Returns false if the packet is not a well-formed echo request.
bool icmp_echo_to_reply(uint8_t* ip, size_t len);

// The source for an error leaving by a port: the port address whose subnet holds the
// destination, else the port's first address; nullopt if the port has none.
struct PortAddress {
  Ipv4 addr;
  Prefix4 subnet;
};
std::optional<Ipv4> icmp_select_source(std::span<const PortAddress> port_addrs, Ipv4 dst);

// ICMP checksum over header and payload (RFC 792); the checksum field must be zero. In
// network byte order already: store it as is.
uint16_t icmp_checksum(const uint8_t* icmp, size_t len);

}  // namespace routerd
