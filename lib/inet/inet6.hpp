// inet6: IPv6 addresses and prefixes as value types, in network byte order.
// Parsing accepts RFC 4291 text (with "::" and a trailing dotted quad) and nothing else;
// str() writes RFC 5952's canonical form, so every address has exactly one spelling.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "inet.hpp"

namespace routerd {

struct Ipv6 {
  std::array<uint8_t, 16> b{};  // network byte order, as on the wire and in rte_fib6

  constexpr Ipv6() = default;
  constexpr explicit Ipv6(const std::array<uint8_t, 16>& bytes) : b(bytes) {}
  static Ipv6 from_bytes(const uint8_t* p) {
    Ipv6 a;
    std::memcpy(a.b.data(), p, 16);
    return a;
  }
  // Eight 16-bit groups, as written: Ipv6::of(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).
  static constexpr Ipv6 of(uint16_t g0, uint16_t g1, uint16_t g2, uint16_t g3, uint16_t g4,
                           uint16_t g5, uint16_t g6, uint16_t g7) {
    const uint16_t g[8] = {g0, g1, g2, g3, g4, g5, g6, g7};
    Ipv6 a;
    for (int i = 0; i < 8; ++i) {
      a.b[2 * i] = uint8_t(g[i] >> 8);
      a.b[2 * i + 1] = uint8_t(g[i]);
    }
    return a;
  }

  static std::optional<Ipv6> parse(std::string_view s);
  std::string str() const;

  constexpr uint16_t group(int i) const { return uint16_t(b[2 * i] << 8 | b[2 * i + 1]); }
  constexpr bool is_unspecified() const { return *this == Ipv6(); }
  constexpr bool is_loopback() const { return *this == of(0, 0, 0, 0, 0, 0, 0, 1); }
  constexpr bool is_multicast() const { return b[0] == 0xff; }
  constexpr bool is_link_local() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
  // ::ffff:0:0/96: an IPv4 address written as IPv6; never routed as IPv6 (RFC 4291 2.5.5.2).
  constexpr bool is_v4_mapped() const {
    for (int i = 0; i < 10; ++i)
      if (b[i]) return false;
    return b[10] == 0xff && b[11] == 0xff;
  }
  // ff02::1:ffXX:XXXX, where a Neighbor Solicitation for this address is sent (RFC 4291 2.7.1).
  constexpr Ipv6 solicited_node() const {
    Ipv6 m = of(0xff02, 0, 0, 0, 0, 1, 0xff00, 0);
    m.b[13] = b[13];
    m.b[14] = b[14];
    m.b[15] = b[15];
    return m;
  }
  // 33:33 and the low 32 bits: the Ethernet group of a multicast address (RFC 2464 7).
  constexpr Mac multicast_mac() const { return Mac{{0x33, 0x33, b[12], b[13], b[14], b[15]}}; }
  // fe80::/64 with the modified EUI-64 interface identifier of mac (RFC 4291 2.5.1, app. A).
  static constexpr Ipv6 link_local_eui64(const Mac& mac) {
    Ipv6 a = of(0xfe80, 0, 0, 0, 0, 0, 0, 0);
    a.b[8] = mac.b[0] ^ 0x02;  // the universal/local bit, inverted
    a.b[9] = mac.b[1];
    a.b[10] = mac.b[2];
    a.b[11] = 0xff;
    a.b[12] = 0xfe;
    a.b[13] = mac.b[3];
    a.b[14] = mac.b[4];
    a.b[15] = mac.b[5];
    return a;
  }

  constexpr auto operator<=>(const Ipv6&) const = default;
  // Two 64-bit compares: the defaulted one calls memcmp, and hash tables of prefixes and
  // neighbours compare on every probe (a sixth of a full IPv6 table load's own time).
  constexpr bool operator==(const Ipv6& o) const {
    const auto x = std::bit_cast<std::array<uint64_t, 2>>(b);
    const auto y = std::bit_cast<std::array<uint64_t, 2>>(o.b);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
  }
};

// RFC 4291 2.7.1's link-scope groups every node (routers: both) listens to.
// RFC 8200 5: a link that carries IPv6 takes datagrams of this size. Every port does (its
// link-local address at least), so no port's MTU may be smaller.
inline constexpr uint16_t kMinPortMtu = 1280;
inline std::string port_mtu_too_small(uint32_t mtu) {
  return "mtu " + std::to_string(mtu) +
         " is below 1280, the least IPv6 takes (RFC 8200 5), and every port carries IPv6";
}

inline constexpr Ipv6 kAllNodes = Ipv6::of(0xff02, 0, 0, 0, 0, 0, 0, 1);
inline constexpr Ipv6 kAllRouters = Ipv6::of(0xff02, 0, 0, 0, 0, 0, 0, 2);

// addr with every bit beyond the first len cleared.
constexpr Ipv6 ipv6_mask(const Ipv6& addr, unsigned len) {
  Ipv6 r = addr;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned keep = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;
    r.b[i] = uint8_t(r.b[i] & (keep ? 0xff << (8 - keep) : 0));
  }
  return r;
}

// Leading bits a and b have in common (0..128): RFC 6724's CommonPrefixLen.
constexpr unsigned common_prefix_len(const Ipv6& a, const Ipv6& b) {
  for (unsigned i = 0; i < 16; ++i) {
    const uint8_t x = a.b[i] ^ b.b[i];
    if (x) {
      unsigned n = 0;
      for (uint8_t bit = 0x80; !(x & bit); bit >>= 1) ++n;
      return 8 * i + n;
    }
  }
  return 128;
}

struct Prefix6 {
  Ipv6 addr;        // network address: host bits are always zero
  uint8_t len = 0;  // 0..128

  // "2001:db8::/32" with no host bits set; a bare address is not accepted.
  static std::optional<Prefix6> parse(std::string_view s);
  // Like parse, but host bits are allowed and reported through host (for "2001:db8::1/64").
  static std::optional<Prefix6> parse_interface(std::string_view s, Ipv6* host);
  constexpr bool contains(const Ipv6& a) const { return ipv6_mask(a, len) == addr; }
  constexpr bool contains(const Prefix6& p) const { return p.len >= len && contains(p.addr); }
  constexpr bool overlaps(const Prefix6& p) const { return contains(p) || p.contains(*this); }
  std::string str() const;
  constexpr auto operator<=>(const Prefix6&) const = default;
};

struct Ipv6Hash {
  size_t operator()(const Ipv6& a) const noexcept {
    uint64_t hi, lo;
    std::memcpy(&hi, a.b.data(), 8);
    std::memcpy(&lo, a.b.data() + 8, 8);
    return std::hash<uint64_t>{}(hi * 0x9e3779b97f4a7c15ull ^ lo);
  }
};

// Not noexcept on purpose: libstdc++ then keeps each node's hash code, so a probe skips
// nodes of other hashes without touching their keys. The RIB and the publisher hold one node
// per route, far beyond the caches: a full table load spent a sixth of its own time there.
struct Prefix6Hash {
  size_t operator()(const Prefix6& p) const { return Ipv6Hash{}(p.addr) * 131 + p.len; }
};

}  // namespace routerd
