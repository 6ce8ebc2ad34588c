#include "inet.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace routerd {

namespace {

// Decimal 0..max without sign, leading zeros or trailing junk.
template <typename T>
std::optional<T> parse_dec(std::string_view s, T max) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return T(v);
}

}  // namespace

std::optional<Ipv4> Ipv4::parse(std::string_view s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    auto octet = parse_dec<uint8_t>(s.substr(0, dot), 255);
    if (!octet) return std::nullopt;
    v = v << 8 | *octet;
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  if (!s.empty()) return std::nullopt;
  return Ipv4(v);
}

std::string Ipv4::str() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
  return buf;
}

std::optional<Prefix4> Prefix4::parse_interface(std::string_view s, Ipv4* host) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = Ipv4::parse(s.substr(0, slash));
  auto len = parse_dec<uint8_t>(s.substr(slash + 1), 32);
  if (!a || !len) return std::nullopt;
  if (host) *host = *a;
  return Prefix4{Ipv4(a->v & prefix_mask(*len)), *len};
}

std::optional<Prefix4> Prefix4::parse(std::string_view s) {
  Ipv4 host;
  auto p = parse_interface(s, &host);
  if (!p || p->addr != host) return std::nullopt;
  return p;
}

std::string Prefix4::str() const {
  return addr.str() + "/" + std::to_string(len);
}

std::optional<Mac> Mac::parse(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  Mac m;
  for (int i = 0; i < 6; ++i) {
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i * 3, s.data() + i * 3 + 2, v, 16);
    if (ec != std::errc() || p != s.data() + i * 3 + 2) return std::nullopt;
    m.b[i] = uint8_t(v);
  }
  return m;
}

std::string Mac::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

std::string rtproto_name(uint8_t rtproto) {
  switch (rtproto) {
    case 2:
      return "kernel";
    case 3:
      return "boot";
    case 4:
      return "static";
    case 11:
      return "zebra";
    case 12:
      return "bird";
    case 16:
      return "dhcp";
    case 42:
      return "babel";
    case 186:
      return "bgp";
    case 187:
      return "isis";
    case 188:
      return "ospf";
    case 189:
      return "rip";
    case 190:
      return "ripng";
    case 191:
      return "nhrp";
    case 192:
      return "eigrp";
    case 193:
      return "ldp";
    case 194:
      return "sharp";
    case 195:
      return "pbr";
    case 196:
      return "static";  // FRR's staticd
    case 197:
      return "openfabric";
    case 198:
      return "srte";
    default:
      return "proto-" + std::to_string(rtproto);
  }
}

std::vector<uint8_t> rtproto_numbers(std::string_view name) {
  std::vector<uint8_t> out;
  std::string_view digits = name.substr(name.starts_with("proto-") ? 6 : 0);
  unsigned v = 0;
  if (!digits.empty() && digits.size() <= 3 &&
      std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    for (char ch : digits) v = v * 10 + unsigned(ch - '0');
    if (v <= 255) out.push_back(uint8_t(v));
    return out;
  }
  for (unsigned i = 0; i < 256; ++i)
    if (rtproto_name(uint8_t(i)) == name) out.push_back(uint8_t(i));
  return out;
}

}  // namespace routerd
