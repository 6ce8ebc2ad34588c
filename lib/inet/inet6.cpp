#include "inet6.hpp"

#include <charconv>
#include <cstdio>

namespace routerd {

namespace {

// One group: 1 to 4 hex digits, nothing else.
std::optional<uint16_t> parse_group(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return uint16_t(v);
}

// The groups of one side of "::" (or of the whole address): at most max of them, the last
// possibly a dotted quad worth two. False on anything malformed.
bool parse_groups(std::string_view s, uint16_t* out, int max, int* n, bool quad_allowed) {
  *n = 0;
  if (s.empty()) return true;
  while (true) {
    const size_t colon = s.find(':');
    const std::string_view part = s.substr(0, colon);
    if (colon == std::string_view::npos && quad_allowed && part.find('.') != part.npos) {
      auto v4 = Ipv4::parse(part);
      if (!v4 || *n + 2 > max) return false;
      out[(*n)++] = uint16_t(v4->v >> 16);
      out[(*n)++] = uint16_t(v4->v);
      return true;
    }
    auto g = parse_group(part);
    if (!g || *n + 1 > max) return false;
    out[(*n)++] = *g;
    if (colon == std::string_view::npos) return true;
    s.remove_prefix(colon + 1);
    if (s.empty()) return false;  // a trailing single colon
  }
}

}  // namespace

std::optional<Ipv6> Ipv6::parse(std::string_view s) {
  uint16_t head[8] = {}, tail[8] = {};
  int nh = 0, nt = 0;
  const size_t gap = s.find("::");
  if (gap == std::string_view::npos) {
    if (!parse_groups(s, head, 8, &nh, true) || nh != 8) return std::nullopt;
  } else {
    const std::string_view left = s.substr(0, gap), right = s.substr(gap + 2);
    if (right.find("::") != right.npos || (!right.empty() && right[0] == ':')) return std::nullopt;
    if (!parse_groups(left, head, 7, &nh, false)) return std::nullopt;
    if (!parse_groups(right, tail, 7 - nh, &nt, true)) return std::nullopt;
  }
  Ipv6 a;
  for (int i = 0; i < nh; ++i) {
    a.b[2 * i] = uint8_t(head[i] >> 8);
    a.b[2 * i + 1] = uint8_t(head[i]);
  }
  for (int i = 0; i < nt; ++i) {
    const int at = 8 - nt + i;
    a.b[2 * at] = uint8_t(tail[i] >> 8);
    a.b[2 * at + 1] = uint8_t(tail[i]);
  }
  return a;
}

std::string Ipv6::str() const {
  if (is_v4_mapped()) {  // RFC 5952 5
    return "::ffff:" +
           Ipv4(uint32_t(b[12]) << 24 | uint32_t(b[13]) << 16 | uint32_t(b[14]) << 8 | b[15]).str();
  }
  // RFC 5952 4.2: the longest run of two or more zero groups becomes "::", the first on a tie.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (group(i) != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && group(j) == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", group(i));
    out += buf;
  }
  return out;
}

std::optional<Prefix6> Prefix6::parse_interface(std::string_view s, Ipv6* host) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = Ipv6::parse(s.substr(0, slash));
  const std::string_view l = s.substr(slash + 1);
  unsigned len = 0;
  auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
  if (!a || l.empty() || l.size() > 3 || (l.size() > 1 && l[0] == '0') || ec != std::errc() ||
      p != l.data() + l.size() || len > 128)
    return std::nullopt;
  if (host) *host = *a;
  return Prefix6{ipv6_mask(*a, len), uint8_t(len)};
}

std::optional<Prefix6> Prefix6::parse(std::string_view s) {
  Ipv6 host;
  auto p = parse_interface(s, &host);
  if (!p || p->addr != host) return std::nullopt;
  return p;
}

std::string Prefix6::str() const {
  return addr.str() + "/" + std::to_string(len);
}

}  // namespace routerd
