// inet: IPv4 addresses, prefixes and Ethernet addresses as value types.
// Parsing is strict (no shorthand, no host bits in prefixes) and never throws;
// all values are in host byte order.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace routerd {

struct Ipv4 {
  uint32_t v = 0;  // host byte order

  constexpr Ipv4() = default;
  constexpr explicit Ipv4(uint32_t host) : v(host) {}
  constexpr Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
      : v(uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | d) {}

  static std::optional<Ipv4> parse(std::string_view s);
  std::string str() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  constexpr auto operator<=>(const Ipv4&) const = default;
};

constexpr uint32_t prefix_mask(unsigned len) {
  return len == 0 ? 0 : ~uint32_t(0) << (32 - len);
}

struct Prefix4 {
  Ipv4 addr;        // network address: host bits are always zero
  uint8_t len = 0;  // 0..32

  // "a.b.c.d/n" with no host bits set; a bare address is not accepted.
  static std::optional<Prefix4> parse(std::string_view s);
  // Like parse, but host bits are allowed and reported through host (for "10.1.0.1/24").
  static std::optional<Prefix4> parse_interface(std::string_view s, Ipv4* host);
  constexpr bool contains(Ipv4 a) const { return (a.v & prefix_mask(len)) == addr.v; }
  constexpr bool contains(const Prefix4& p) const { return p.len >= len && contains(p.addr); }
  constexpr bool overlaps(const Prefix4& p) const { return contains(p) || p.contains(*this); }
  constexpr Ipv4 broadcast() const { return Ipv4(addr.v | ~prefix_mask(len)); }
  std::string str() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  constexpr auto operator<=>(const Prefix4&) const = default;
};

struct Mac {
  std::array<uint8_t, 6> b{};

  static std::optional<Mac> parse(std::string_view s);  // "02:00:00:00:01:02"
  std::string str() const;
  constexpr bool is_multicast() const { return (b[0] & 1) != 0; }
  constexpr bool is_zero() const { return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0; }
  constexpr auto operator<=>(const Mac&) const = default;
};

struct Prefix4Hash {
  size_t operator()(const Prefix4& p) const noexcept {
    return std::hash<uint64_t>{}(uint64_t(p.addr.v) << 8 | p.len);
  }
};

// iproute2's and FRR's names for rtm_protocol values ("bgp" for 186, "ospf" for 188, "static"
// for FRR's staticd, 196); "proto-N" for one without a name.
std::string rtproto_name(uint8_t rtproto);
// The values a protocol name or number stands for: "static" is both the kernel's (4) and
// FRR's staticd (196); "proto-N" and "N" are N. Empty for a name that is none of these.
std::vector<uint8_t> rtproto_numbers(std::string_view name);

}  // namespace routerd
