#include "command.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

namespace routerd {

namespace {

[[noreturn]] void fail(const std::string& cmd, const std::string& msg) {
  throw CommandError(cmd + ": " + msg);
}

// A word quoted in an error: at most kExcerpt characters of it, anything unprintable as
// \xNN. Route files are read as root, so an error must not echo a line of a file the caller
// could not read (route load /etc/shadow).
constexpr size_t kExcerpt = 20;
std::string q(const std::string& s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kExcerpt; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + (s.size() > kExcerpt ? "...'" : "'");
}

std::string q(std::string_view s) {
  return q(std::string(s));
}

// iproute2 accepts "default" and a bare address (a /32) where a prefix is expected.
Prefix4 parse_prefix(const std::string& cmd, std::string_view s) {
  if (s == "default") return Prefix4{Ipv4(0u), 0};
  if (s.find('/') == std::string_view::npos) {
    auto a = Ipv4::parse(s);
    if (!a) fail(cmd, q(s) + " is not an IPv4 prefix");
    return Prefix4{*a, 32};
  }
  Ipv4 host;
  auto p = Prefix4::parse_interface(s, &host);
  if (!p) fail(cmd, q(s) + " is not an IPv4 prefix");
  if (p->addr != host) fail(cmd, q(s) + " has host bits set (did you mean " + p->str() + "?)");
  return *p;
}

using Args = std::span<const std::string>;

// Keyword arguments after the positional ones: "via X", "dev X", "lladdr X".
std::map<std::string, std::string> keywords(const std::string& cmd, Args w,
                                            std::initializer_list<const char*> allowed) {
  std::map<std::string, std::string> kv;
  for (size_t i = 0; i < w.size(); i += 2) {
    bool ok = false;
    for (const char* a : allowed) ok |= w[i] == a;
    if (!ok) fail(cmd, "unexpected " + q(w[i]));
    if (i + 1 >= w.size()) fail(cmd, q(w[i]) + " needs a value");
    if (kv.count(w[i])) fail(cmd, q(w[i]) + " given twice");
    kv[w[i]] = w[i + 1];
  }
  return kv;
}

// IPv6 text always holds a colon and IPv4 text never does: the word alone says which
// family the user meant, so a typo gets the error of its own family.
bool has_colon(std::string_view s) {
  return s.find(':') != std::string_view::npos;
}

std::string family_name(uint8_t family) {
  return family == 6 ? "IPv6" : "IPv4";
}

// "-6 given but 10.0.0.0/8 is IPv4": a -4/-6 that contradicts the address typed. `what`
// gives that address as text, built only for the error: a route file of a million lines
// passes here twice per line (formatting them up front was a fifth of parsing a full table).
template <class What>
void check_family(const std::string& cmd, uint8_t want, uint8_t got, What&& what) {
  if (want && want != got)
    fail(cmd, "-" + std::to_string(want) + " given but " + std::string(what()) + " is " +
                  family_name(got));
}

// Why an IPv6 address cannot be a host's (neighbour, gateway, ping target, router
// address); nullptr when it can. Link-local is the caller's business: allowed in some places.
const char* not_unicast(const Ipv6& a) {
  if (a.is_unspecified()) return "the unspecified address";
  if (a.is_loopback()) return "the loopback address";
  if (a.is_multicast()) return "a multicast address";
  if (a.is_v4_mapped()) return "an IPv4-mapped address (give the IPv4 address itself)";
  return nullptr;
}

// An address of either family: 4 fills *v4, 6 fills *v6. hint: the family expected (0: none),
// which only words without a colon leave open, and only for the error message.
uint8_t parse_any_addr(const std::string& cmd, const std::string& what, std::string_view s,
                       uint8_t hint, Ipv4* v4, Ipv6* v6) {
  if (has_colon(s)) {
    auto a = Ipv6::parse(s);
    if (!a) fail(cmd, q(s) + " is not an IPv6 address (" + what + ")");
    *v6 = *a;
    return 6;
  }
  auto a = Ipv4::parse(s);
  if (!a) fail(cmd, q(s) + " is not an " + family_name(hint) + " address (" + what + ")");
  *v4 = *a;
  return 4;
}

// The IPv6 form of parse_prefix: "::/0", "2001:db8::/32", a bare address (a /128).
Prefix6 parse_prefix6(const std::string& cmd, std::string_view s) {
  if (s.find('/') == std::string_view::npos) {
    auto a = Ipv6::parse(s);
    if (!a) fail(cmd, q(s) + " is not an IPv6 prefix");
    return Prefix6{*a, 128};
  }
  Ipv6 host;
  auto p = Prefix6::parse_interface(s, &host);
  if (!p) fail(cmd, q(s) + " is not an IPv6 prefix");
  if (p->addr != host) fail(cmd, q(s) + " has host bits set (did you mean " + p->str() + "?)");
  return *p;
}

// A route prefix of either family into spec (family, prefix or prefix6). "default" is left
// with family 0 unless `want` names one: the gateway, if any, decides (iproute2 does the same).
void parse_route_prefix(const std::string& cmd, std::string_view s, uint8_t want, RouteSpec& r) {
  if (s == "default") {
    r.family = want;
    return;
  }
  if (has_colon(s) || (want == 6 && Ipv4::parse(s.substr(0, s.find('/'))) == std::nullopt)) {
    r.prefix6 = parse_prefix6(cmd, s);
    r.family = 6;
  } else {
    r.prefix = parse_prefix(cmd, s);
    r.family = 4;
  }
  check_family(cmd, want, r.family, [&] { return route_prefix_str(r); });
}

// ip-route(8)'s family word before a gateway ("via inet6 fe80::1"): 4 for inet, 6 for
// inet6, 0 for anything else (the word is then the address).
uint8_t gateway_family_word(std::string_view s) {
  return s == "inet" ? 4 : s == "inet6" ? 6 : 0;
}

// A gateway word of either family into r (via or via6), which must match the family of the
// prefix, when that is known: but for an IPv4 route, whose gateway may be IPv6 when the
// family word says so (RFC 5549, "via inet6 fe80::1"; r.via6 set, r.family stays 4). kw:
// that word's family (0: none given).
void parse_gateway(const std::string& cmd, std::string_view s, uint8_t want, RouteSpec& r,
                   uint8_t kw = 0) {
  Ipv4 v4;
  Ipv6 v6;
  const uint8_t hint = kw ? kw : r.family ? r.family : want;
  const uint8_t fam = parse_any_addr(cmd, "the gateway", s, hint, &v4, &v6);
  auto gw_text = [&] { return fam == 6 ? v6.str() : v4.str(); };
  if (kw && kw != fam)
    fail(cmd, q(s) + " is not an " + family_name(kw) + " address (the gateway after '" +
                  (kw == 6 ? "inet6" : "inet") + "')");
  const bool v4_over_v6 = r.family == 4 && fam == 6 && kw == 6;
  if (r.family && r.family != fam && !v4_over_v6) {
    const std::string gw = gw_text();
    fail(cmd, "gateway " + gw + " is " + family_name(fam) + " but " + route_prefix_str(r) + " is " +
                  family_name(r.family) +
                  (r.family == 4 ? " (an IPv4 route through an IPv6 gateway, RFC 5549, is written "
                                   "'via inet6 " +
                                       gw + "')"
                                 : " (only an IPv4 route may have a gateway of the other family)"));
  }
  if (!v4_over_v6) check_family(cmd, want, fam, [&] { return "gateway " + gw_text(); });
  if (fam == 6) {
    if (const char* why = not_unicast(v6)) fail(cmd, "gateway " + gw_text() + " is " + why);
    r.via6 = v6;
  } else {
    r.via = v4;
  }
  if (!v4_over_v6) r.family = fam;
}

// "via [inet|inet6] GATEWAY" from w[i] (the word after "via"): into r as parse_gateway
// reads it; returns the number of words it took (1 or 2).
size_t parse_via(const std::string& cmd, std::span<const std::string_view> w, size_t i,
                 uint8_t want, RouteSpec& r) {
  const uint8_t kw = gateway_family_word(w[i]);
  if (kw && i + 1 >= w.size()) fail(cmd, "'via " + std::string(w[i]) + "' needs an address");
  parse_gateway(cmd, w[i + (kw ? 1 : 0)], want, r, kw);
  return kw ? 2 : 1;
}

// ip-route(8)'s [TYPE] before PREFIX: the type it names, or unicast when w[0] is not one (it
// is then the prefix). A word followed by another that is no keyword, and that cannot be a
// prefix (no digit first, no colon), was meant as a type: "local 10.0.0.0/8".
RouteType take_route_type(const std::string& cmd, std::span<const std::string_view>& w) {
  if (w.empty()) fail(cmd, "missing PREFIX");
  const auto t = parse_route_type(w[0]);
  if (!t) {
    const std::string_view s = w[0];
    const bool then_prefix =
        w.size() > 1 && w[1] != "via" && w[1] != "dev" && w[1] != "mtu" && w[1] != "nexthop";
    if (then_prefix && !s.empty() && s != "default" && !has_colon(s) &&
        !(s[0] >= '0' && s[0] <= '9'))
      fail(cmd, "unknown route type " + q(s) + " (" + std::string(kRouteTypeNames) + ")");
    return RouteType::unicast;
  }
  w = w.subspan(1);
  if (w.empty()) fail(cmd, "missing PREFIX after " + q(std::string(route_type_name(*t))));
  return *t;
}

}  // namespace

std::string route_prefix_str(const RouteSpec& s) {
  return s.family == 6 ? s.prefix6.str() : s.prefix.str();
}

bool route_prefix_less(const RouteSpec& a, const RouteSpec& b) {
  if (a.family != b.family) return a.family < b.family;
  return a.family == 6 ? a.prefix6 < b.prefix6 : a.prefix < b.prefix;
}

bool same_route_prefix(const RouteSpec& a, const RouteSpec& b) {
  return a.family == b.family && (a.family == 6 ? a.prefix6 == b.prefix6 : a.prefix == b.prefix);
}

// RFC 791: every IPv4 link carries 68-byte datagrams; 65535 is the largest datagram.
// RFC 8200 5: every IPv6 link carries 1280 bytes; routes and ports never go below it.
uint16_t parse_mtu(const std::string& cmd, std::string_view s, uint8_t family = 4) {
  const uint32_t lo = family == 6 ? 1280 : 68;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > 65535)
    fail(cmd, q(std::string(s)) + (family == 6 ? " is not an IPv6 MTU (" : " is not an MTU (") +
                  std::to_string(lo) + "..65535)");
  return uint16_t(v);
}

namespace {

uint16_t parse_weight(const std::string& cmd, std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1 || v > kMaxNexthopWeight)
    fail(cmd, "weight " + q(std::string(s)) + " is not 1.." + std::to_string(kMaxNexthopWeight));
  return uint16_t(v);
}

// "nexthop via GATEWAY [dev PORT] [weight N]" from w[i] (the word after "nexthop") up to the
// next "nexthop", "mtu" or the end; returns where it stopped.
size_t parse_nexthop(const std::string& cmd, std::span<const std::string_view> w, size_t i,
                     uint8_t want, RouteSpec& r) {
  const std::string what = "nexthop " + std::to_string(r.nexthops.size() + 1);
  NexthopSpec nh;
  bool have_weight = false;
  RouteSpec gw;  // parse_gateway's family checks against the route's
  gw.family = r.family;
  gw.prefix = r.prefix;
  gw.prefix6 = r.prefix6;
  for (; i < w.size() && w[i] != "nexthop" && w[i] != "mtu"; i += 2) {
    const bool via = w[i] == "via", dev = w[i] == "dev", weight = w[i] == "weight";
    if (!via && !dev && !weight) fail(cmd, what + ": unexpected " + q(w[i]));
    if (i + 1 >= w.size()) fail(cmd, what + ": " + q(w[i]) + " needs a value");
    if ((via && (gw.via || gw.via6)) || (dev && !nh.dev.empty()) || (weight && have_weight))
      fail(cmd, what + ": " + q(w[i]) + " given twice");
    if (via) {
      i += parse_via(cmd, w, i + 1, want, gw) - 1;
    } else if (dev) {
      nh.dev = std::string(w[i + 1]);
    } else {
      nh.weight = parse_weight(cmd, w[i + 1]);
      have_weight = true;
    }
  }
  // Linux accepts "nexthop dev PORT" (a connected path); routerd's groups balance over
  // gateways, whose neighbours tell it which paths are alive.
  if (!gw.via && !gw.via6) fail(cmd, what + " needs 'via GATEWAY'");
  if (gw.via6 && gw.via6->is_link_local() && nh.dev.empty())
    fail(cmd, what + ": a link-local gateway (" + gw.via6->str() + ") needs dev PORT");
  r.family = gw.family;
  nh.via = gw.via;
  nh.via6 = gw.via6;
  r.nexthops.push_back(std::move(nh));
  return i;
}

}  // namespace

RouteSpec parse_route_spec(const std::string& cmd, std::span<const std::string_view> w,
                           uint8_t want) {
  RouteSpec r;
  r.type = take_route_type(cmd, w);
  parse_route_prefix(cmd, w[0], want, r);
  bool have_dev = false;
  std::string_view mtu_word;
  for (size_t i = 1; i < w.size();) {
    if (w[i] == "nexthop") {
      if (route_type_rejects(r.type))
        fail(cmd, "\"nexthop\" does not apply to " + std::string(route_type_article(r.type)) + " " +
                      std::string(route_type_name(r.type)) + " route");
      if (r.via || r.via6 || have_dev)
        fail(cmd, "give every gateway and port in its own 'nexthop', not before them");
      if (r.nexthops.size() == kMaxNexthops)
        fail(cmd, "more than " + std::to_string(kMaxNexthops) + " nexthops");
      i = parse_nexthop(cmd, w, i + 1, want, r);
      continue;
    }
    bool via = w[i] == "via", dev = w[i] == "dev", mtu = w[i] == "mtu";
    if (!via && !dev && !mtu) fail(cmd, "unexpected " + q(w[i]));
    // Linux: "Gateway, device and multipath can not be specified for this route type".
    if (route_type_rejects(r.type))
      fail(cmd, q(w[i]) + " does not apply to " + std::string(route_type_article(r.type)) + " " +
                    std::string(route_type_name(r.type)) + " route (its packets leave by no port)");
    if (i + 1 >= w.size()) fail(cmd, q(w[i]) + " needs a value");
    if ((via && (r.via || r.via6)) || (dev && have_dev) || (mtu && r.mtu))
      fail(cmd, q(w[i]) + " given twice");
    if (!mtu && !r.nexthops.empty())
      fail(cmd, "give every gateway and port in its own 'nexthop', not after them");
    if (mtu) {
      r.mtu = parse_mtu(cmd, w[i + 1], r.family);
      mtu_word = w[i + 1];
    } else if (via) {
      i += parse_via(cmd, w, i + 1, want, r) - 1;
    } else {
      r.dev = std::string(w[i + 1]);
      have_dev = true;
    }
    i += 2;
  }
  if (r.nexthops.size() == 1) {
    // One nexthop is a plain route (ip route add P nexthop via G: the same); its weight
    // means nothing alone.
    NexthopSpec only = std::move(r.nexthops[0]);
    r.nexthops.clear();
    r.via = only.via;
    r.via6 = only.via6;
    r.dev = std::move(only.dev);
    have_dev = !r.dev.empty();
  }
  for (size_t a = 0; a < r.nexthops.size(); ++a)
    for (size_t b = 0; b < a; ++b) {
      const NexthopSpec &x = r.nexthops[a], &y = r.nexthops[b];
      if (x.via == y.via && x.via6 == y.via6 && (x.dev == y.dev || x.dev.empty() || y.dev.empty()))
        fail(cmd, "nexthop " + std::to_string(b + 1) + " and nexthop " + std::to_string(a + 1) +
                      " are the same gateway (give it one nexthop with the sum of the weights)");
    }
  if (!route_type_rejects(r.type) && !r.via && !r.via6 && !have_dev && r.nexthops.empty())
    fail(cmd, "needs 'via GATEWAY' or 'dev PORT'");
  if (r.family == 0) r.family = 4;  // "default dev p1": IPv4, as it was before IPv6
  // "default mtu 1000 via fe80::1": the family came after the MTU was read.
  if (r.family == 6 && r.mtu && r.mtu < 1280) parse_mtu(cmd, mtu_word, 6);
  if (r.via6 && r.via6->is_link_local() && !have_dev)
    fail(cmd, "a link-local gateway (" + r.via6->str() + ") needs dev PORT");
  return r;
}

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> words;
  words.reserve(8);  // a route line has 3-9 words: one allocation, not four
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i == line.size() || line[i] == '#') break;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    words.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

namespace {

// The parsers named by ROUTERD_VERBS. Each gets the Request with the row's verb set, `cmd`
// ("route add", "ping") to start its errors with, and the words after the object and action.
using Parser = void (*)(Request& r, const std::string& cmd, Args args);

void parse_nothing(Request&, const std::string& cmd, Args a) {
  if (!a.empty()) fail(cmd, "unexpected " + q(a[0]));
}

// The target of route get, neigh add/del, ping, of either family, into r.addr or r.addr6;
// r.family: the -4/-6 given, then the family of the address.
void parse_target(Request& r, const std::string& cmd, const std::string& what, std::string_view s) {
  const uint8_t fam = parse_any_addr(cmd, what, s, r.family, &r.addr, &r.addr6);
  check_family(cmd, r.family, fam, [&] { return fam == 6 ? r.addr6.str() : r.addr.str(); });
  r.family = fam;
}

// An IPv6 router address with its subnet: a global unicast host address. Link-local ones
// are not set by hand: every port has exactly one, from the config (RFC 4291 2.5.6, 2.8).
void parse_addr6(Request& r, const std::string& cmd, const std::string& s) {
  Ipv6 host;
  auto p = Prefix6::parse_interface(s, &host);
  if (!p) fail(cmd, q(s) + " is not an address with prefix length (e.g. 2001:db8:1::1/64)");
  const std::string text = host.str() + "/" + std::to_string(p->len);
  check_family(cmd, r.family, 6, [&]() -> const std::string& { return text; });
  if (host.is_link_local())
    fail(cmd, text +
                  " is link-local: a port's link-local address is set with the config key "
                  "link_local (default: the EUI-64 address of its MAC), not with addr add/del");
  if (const char* why = not_unicast(host)) fail(cmd, text + " is " + why);
  // RFC 4291 2.6.1: the all-zeros host is the subnet's Subnet-Router anycast address (a /127
  // or /128 has no such address: RFC 6164).
  if (host == p->addr && p->len < 127) {
    Ipv6 first = p->addr;
    first.b[15] |= 1;
    fail(cmd, text + " is the Subnet-Router anycast address of " + p->str() +
                  ", not a host address (did you mean " + first.str() + "/" +
                  std::to_string(p->len) + "?)");
  }
  r.family = 6;
  r.prefix6 = *p;
  r.addr6 = host;
}

// addr add/del ADDRESS/LEN dev PORT
void parse_addr_change(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS/LEN");
  Ipv4 host;
  auto p = Prefix4::parse_interface(a[0], &host);
  if (has_colon(a[0]) || (!p && r.family == 6)) {
    parse_addr6(r, cmd, a[0]);
  } else {
    if (!p) fail(cmd, q(a[0]) + " is not an address with prefix length (e.g. 10.1.0.1/24)");
    check_family(cmd, r.family, 4, [&] { return host.str() + "/" + std::to_string(p->len); });
    r.family = 4;
    r.prefix = *p;
    r.addr = host;
  }
  auto kv = keywords(cmd, a.subspan(1), {"dev"});
  if (!kv.count("dev")) fail(cmd, "missing 'dev PORT'");
  r.dev = kv["dev"];
}

// addr show, neigh show: [dev PORT]
void parse_dev_filter(Request& r, const std::string& cmd, Args a) {
  auto kv = keywords(cmd, a, {"dev"});
  r.dev = kv.count("dev") ? kv["dev"] : "";
}

// route add/replace: what a route file line holds.
void parse_route_set(Request& r, const std::string& cmd, Args a) {
  std::vector<std::string_view> words(a.begin(), a.end());
  RouteSpec spec = parse_route_spec(cmd, words, r.family);
  r.family = spec.family;
  r.prefix = spec.prefix;
  r.via = spec.via;
  r.prefix6 = spec.prefix6;
  r.via6 = spec.via6;
  r.dev = spec.dev;
  r.mtu = spec.mtu;
  r.type = spec.type;
  r.nexthops = std::move(spec.nexthops);
}

void parse_route_del(Request& r, const std::string& cmd, Args a) {
  std::vector<std::string_view> words(a.begin(), a.end());
  std::span<const std::string_view> w(words);
  // iproute2 lets a type, "via" and "dev" narrow a delete; one route per prefix makes them
  // checks.
  const bool typed = !w.empty() && parse_route_type(w[0]).has_value();
  r.type = take_route_type(cmd, w);
  r.type_given = typed;
  a = a.subspan(typed ? 1 : 0);
  RouteSpec spec;
  parse_route_prefix(cmd, a[0], r.family, spec);
  // [via [inet|inet6] GATEWAY] [dev PORT], in either order.
  std::vector<std::string_view> rest(a.begin() + 1, a.end());
  bool have_via = false, have_dev = false;
  for (size_t i = 0; i < rest.size(); i += 2) {
    const bool via = rest[i] == "via", dev = rest[i] == "dev";
    if (!via && !dev) fail(cmd, "unexpected " + q(rest[i]));
    if (i + 1 >= rest.size()) fail(cmd, q(rest[i]) + " needs a value");
    if ((via && have_via) || (dev && have_dev)) fail(cmd, q(rest[i]) + " given twice");
    if (via) {
      i += parse_via(cmd, rest, i + 1, r.family, spec) - 1;
      have_via = true;
    } else {
      r.dev = std::string(rest[i + 1]);
      have_dev = true;
    }
  }
  r.family = spec.family ? spec.family : 4;  // "route del default": IPv4 unless -6 or via
  r.prefix = spec.prefix;
  r.prefix6 = spec.prefix6;
  r.via = spec.via;
  r.via6 = spec.via6;
  if (!have_dev) r.dev.clear();
}

// "route show cache" is a verb of its own, but iproute2 spells it as an argument of show.
void parse_route_show(Request& r, const std::string& cmd, Args a) {
  if (a.size() == 1 && a[0] == "cache") {
    r.verb = Verb::route_show_exceptions;
    return;
  }
  if (!a.empty() && a[0] == "proto") {
    if (a.size() != 2) fail(cmd, "expected: route show proto NAME");
    r.proto = a[1];
    return;
  }
  parse_nothing(r, cmd, a);
}

void parse_route_flush(Request&, const std::string& cmd, Args a) {
  if (a.size() != 1 || a[0] != "cache") fail(cmd, "expected: route flush cache");
}

// route get ADDRESS [from SRC] [proto udp|tcp|sctp|icmp|N] [sport N] [dport N]
// [flowlabel N]: the flow picks the member of an ECMP route.
void parse_route_get(Request& r, const std::string& cmd, Args a) {
  if (a.empty())
    fail(cmd, "expected: route get ADDRESS [from SRC] [proto P] [sport N] [dport N] [flowlabel N]");
  parse_target(r, cmd, "the destination", a[0]);
  auto kv = keywords(cmd, a.subspan(1), {"from", "proto", "sport", "dport", "flowlabel"});
  auto number = [&](const char* key, uint32_t hi) {
    const std::string& v = kv[key];
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n > hi)
      fail(cmd, std::string(key) + " " + q(v) + " is not 0.." + std::to_string(hi));
    return n;
  };
  if (kv.count("from")) {
    Ipv4 v4;
    Ipv6 v6;
    const uint8_t fam = parse_any_addr(cmd, "the source", kv["from"], r.family, &v4, &v6);
    if (fam != r.family)
      fail(cmd, "source " + kv["from"] + " and destination are of different families");
    r.flow.src = v4;
    r.flow.src6 = v6;
  }
  if (kv.count("proto")) {
    const std::string& p = kv["proto"];
    r.flow.proto = p == "tcp"    ? 6
                   : p == "udp"  ? 17
                   : p == "sctp" ? 132
                   : p == "icmp" ? (r.family == 6 ? 58 : 1)
                                 : uint8_t(number("proto", 255));
  }
  if (kv.count("sport")) r.flow.sport = uint16_t(number("sport", 65535));
  if (kv.count("dport")) r.flow.dport = uint16_t(number("dport", 65535));
  if (kv.count("flowlabel")) {
    if (r.family != 6) fail(cmd, "flowlabel is IPv6's");
    r.flow.flowlabel = number("flowlabel", 0xfffff);
  }
  if ((r.flow.sport || r.flow.dport) && r.flow.proto != 6 && r.flow.proto != 17 &&
      r.flow.proto != 132 && r.flow.proto != 136)
    fail(cmd, "sport and dport need proto tcp, udp or sctp");
}

void parse_route_load(Request& r, const std::string& cmd, Args a) {
  if (a.size() != 1) fail(cmd, "expected: route load FILE");
  r.path = a[0];
}

void parse_neigh_add(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS");
  parse_target(r, cmd, "the neighbour", a[0]);
  if (r.family == 6)  // link-local is fine: dev says which link
    if (const char* why = not_unicast(r.addr6))
      fail(cmd, "neighbour " + r.addr6.str() + " is " + why);
  auto kv = keywords(cmd, a.subspan(1), {"lladdr", "dev"});
  if (!kv.count("lladdr")) fail(cmd, "missing 'lladdr MAC'");
  if (!kv.count("dev")) fail(cmd, "missing 'dev PORT'");
  auto mac = Mac::parse(kv["lladdr"]);
  if (!mac) fail(cmd, q(kv["lladdr"]) + " is not a MAC address (e.g. 02:00:00:00:01:02)");
  if (mac->is_multicast() || mac->is_zero())
    fail(cmd, q(kv["lladdr"]) + " is not a unicast MAC address");
  r.lladdr = *mac;
  r.dev = kv["dev"];
}

void parse_neigh_del(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS");
  parse_target(r, cmd, "the neighbour", a[0]);
  if (r.family == 6)
    if (const char* why = not_unicast(r.addr6))
      fail(cmd, "neighbour " + r.addr6.str() + " is " + why);
  auto kv = keywords(cmd, a.subspan(1), {"dev"});
  r.dev = kv.count("dev") ? kv["dev"] : "";
  // fe80::2 may be a neighbour on every port at once: the address alone names none of them.
  if (r.family == 6 && r.addr6.is_link_local() && r.dev.empty())
    fail(cmd, "a link-local neighbour (" + r.addr6.str() + ") needs dev PORT");
}

// link show [[dev] PORT]
void parse_link_show(Request& r, const std::string& cmd, Args a) {
  size_t at = !a.empty() && a[0] == "dev" ? 1 : 0;
  if (a.size() > at + 1) fail(cmd, "unexpected " + q(a[at + 1]));
  if (at == 1 && a.size() == 1) fail(cmd, "'dev' needs a value");
  r.dev = a.size() > at ? a[at] : "";
}

// link set PORT mtu N (iproute2 also takes "dev PORT")
void parse_link_set(Request& r, const std::string& cmd, Args a) {
  size_t at = !a.empty() && a[0] == "dev" ? 1 : 0;
  if (a.size() <= at) fail(cmd, "missing PORT");
  r.dev = a[at];
  if (a.size() != at + 3 || a[at + 1] != "mtu") fail(cmd, "expected: link set PORT mtu N");
  r.mtu = parse_mtu(cmd, a[at + 2]);
  if (r.mtu < kMinPortMtu) fail(cmd, port_mtu_too_small(r.mtu));
}

// ping ADDRESS [size N] [df] [count N]; df is IPv4's alone.
void parse_ping(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS");
  parse_target(r, cmd, "the destination", a[0]);
  const bool v6 = r.family == 6;
  if (v6) {
    if (const char* why = not_unicast(r.addr6))
      fail(cmd, "destination " + r.addr6.str() + " is " + why);
    if (r.addr6.is_link_local())
      fail(cmd, "destination " + r.addr6.str() +
                    " is link-local, and ping takes no port to send from; ping a global address");
  }
  bool have_size = false, have_count = false;
  for (size_t i = 1; i < a.size(); ++i) {
    auto number = [&](const char* what, uint32_t lo, uint32_t hi) {
      if (i + 1 >= a.size()) fail(cmd, q(a[i]) + " needs a value");
      const std::string& v = a[++i];
      uint32_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi)
        fail(cmd, q(v) + " is not a valid " + what + " (" + std::to_string(lo) + ".." +
                      std::to_string(hi) + ")");
      return n;
    };
    if (a[i] == "df" && v6) {
      fail(cmd,
           "df is IPv4-only: IPv6 routers never fragment (a packet larger than the path MTU "
           "gets Packet Too Big)");
    } else if (a[i] == "df" && !r.df) {
      r.df = true;
    } else if (a[i] == "size" && !have_size) {
      // The largest datagram less the headers: 65535 - 20 - 8 for IPv4; IPv6's payload
      // length (65535) counts the 8-byte ICMPv6 header but not the IPv6 header.
      r.size = uint16_t(v6 ? number("size", 0, 65527) : number("size", 0, 65507));
      have_size = true;
    } else if (a[i] == "count" && !have_count) {
      r.count = uint16_t(number("count", 1, 100));
      have_count = true;
    } else {
      fail(cmd, "unexpected " + q(a[i]) +
                    (v6 ? " (size N, count N, each once)" : " (size N, df, count N, each once)"));
    }
  }
}

// Interface names as [[port]] and [[tunnel]] take them: [A-Za-z][A-Za-z0-9_-]{0,14}.
void check_if_name(const std::string& cmd, const std::string& n) {
  bool ok = !n.empty() && n.size() <= 15 && std::isalpha(static_cast<unsigned char>(n[0]));
  for (char c : n) ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  if (!ok)
    fail(cmd, q(n) + " is not an interface name (a letter, then letters, digits, '_' or '-'; " +
                  "at most 15)");
}

// tunnel add NAME mode gre local A remote B [key K] [ttl T|inherit] [mtu N], in any order
// after the name, as ip-tunnel(8) takes them; key as a number or dotted quad.
void parse_tunnel_add(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing NAME");
  r.dev = a[0];
  check_if_name(cmd, r.dev);
  auto kv = keywords(cmd, a.subspan(1), {"mode", "local", "remote", "key", "ttl", "mtu"});
  if (!kv.count("mode")) fail(cmd, "missing 'mode gre'");
  if (kv["mode"] != "gre") fail(cmd, "mode " + q(kv["mode"]) + " is not supported (gre)");
  auto addr = [&](const char* what) {
    if (!kv.count(what)) fail(cmd, std::string("missing '") + what + " ADDRESS'");
    auto v = Ipv4::parse(kv[what]);
    if (!v) fail(cmd, std::string(what) + " " + q(kv[what]) + " is not an IPv4 address");
    return *v;
  };
  r.tunnel.local = addr("local");
  r.tunnel.remote = addr("remote");
  const uint8_t o = uint8_t(r.tunnel.remote.v >> 24);
  if (r.tunnel.remote.v == 0 || o == 127 || o >= 224)
    fail(cmd, "remote " + r.tunnel.remote.str() + " is not a unicast address");
  if (r.tunnel.remote == r.tunnel.local) fail(cmd, "local and remote are the same address");
  if (kv.count("key")) {
    const std::string& v = kv["key"];
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && end == v.data() + v.size() && n <= UINT32_MAX)
      r.tunnel.key = uint32_t(n);
    else if (auto d = Ipv4::parse(v); d && v.find('.') != std::string::npos)
      r.tunnel.key = d->v;
    else
      fail(cmd, "key " + q(v) + " is not a key (0..4294967295, or a dotted quad)");
  }
  if (kv.count("ttl")) {
    const std::string& v = kv["ttl"];
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v == "inherit")
      r.tunnel.ttl = 0;
    else if (ec == std::errc() && end == v.data() + v.size() && n >= 1 && n <= 255)
      r.tunnel.ttl = uint8_t(n);
    else
      fail(cmd, "ttl " + q(v) + " is not a TTL (1..255, or inherit)");
  }
  if (kv.count("mtu")) r.mtu = parse_mtu(cmd, kv["mtu"]);
}

void parse_tunnel_name(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing NAME");
  if (a.size() > 1) fail(cmd, "unexpected " + q(a[1]));
  r.dev = a[0];
  check_if_name(cmd, r.dev);
}

void parse_tunnel_show(Request& r, const std::string& cmd, Args a) {
  if (a.size() > 1) fail(cmd, "unexpected " + q(a[1]));
  r.dev = a.empty() ? "" : a[0];
  if (!a.empty()) check_if_name(cmd, r.dev);
}

// On the wire, argv is "batch" followed by the lines of the file, verbatim.
void parse_batch(Request& r, const std::string& cmd, Args lines) {
  if (lines.size() > kMaxBatchLines)
    fail(cmd, std::to_string(lines.size()) + " lines; at most " + std::to_string(kMaxBatchLines) +
                  " per batch");
  // A batch of route churn is thousands of lines a second: no per-line allocation beyond
  // the words and the Request itself (the line's name is built only for an error).
  r.batch.reserve(lines.size());
  auto where = [](size_t i) { return "line " + std::to_string(i + 1); };
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> words = split_command_line(lines[i]);
    if (words.empty()) continue;
    BatchLine& b = r.batch.emplace_back(BatchLine{uint32_t(i + 1), {}, {}});
    try {
      b.req = parse_request(words);
    } catch (const CommandError& e) {
      throw CommandError(where(i) + ": " + e.what());
    }
    if (b.req.verb != Verb::route_add && b.req.verb != Verb::route_replace &&
        b.req.verb != Verb::route_del)
      throw CommandError(where(i) +
                         ": only route add, route replace and route del may appear "
                         "in a batch (they are applied as one atomic change)");
  }
}

struct Row {
  Verb verb;
  const char* words;
  const char* synopsis;
  const char* help;
  Parser parse;
};

#define ROUTERD_VERB_ROW_(name, parser, words, synopsis, help) \
  Row{Verb::name, words, synopsis, help, parser},
constexpr Row kRows[] = {ROUTERD_VERBS(ROUTERD_VERB_ROW_)};
#undef ROUTERD_VERB_ROW_

// The n-th blank-separated word of a row's words, or "".
constexpr std::string_view word(std::string_view words, size_t n) {
  for (; n > 0; --n) {
    size_t sp = words.find(' ');
    if (sp == std::string_view::npos) return {};
    words.remove_prefix(sp + 1);
  }
  return words.substr(0, words.find(' '));
}

// The row parse_request() hands `object action` to; action "": a command without one.
const Row* find_row(std::string_view object, std::string_view action) {
  for (const Row& r : kRows)
    if (r.parse && word(r.words, 0) == object && word(r.words, 1) == action) return &r;
  return nullptr;
}

// Objects that take an action, with the short forms iproute2 accepts. `actions` is what an
// unknown action's error lists: fixed text, as scripts match these messages.
struct Object {
  const char* name;
  const char* aliases;  // blank-separated
  const char* actions;
};
constexpr Object kObjects[] = {
    {"addr", "address a", "add, del, show"},
    {"route", "r", "add, replace, del, show, get, load, flush"},
    {"neigh", "neighbour neighbor n", "add, del, show"},
    {"link", "l", "show, set"},
    {"fpm", "", "show"},
    {"mirror", "", "show"},
    {"tunnel", "tun tunl", "add, del, show"},
};

const Object* find_object(std::string_view s) {
  for (const Object& o : kObjects) {
    if (s == o.name) return &o;
    std::string_view aliases = o.aliases;
    for (size_t n = 0; !word(aliases, n).empty(); ++n)
      if (s == word(aliases, n)) return &o;
  }
  return nullptr;
}

std::string action_name(const std::string& s) {
  if (s == "del" || s == "delete") return "del";
  if (s == "show" || s == "list" || s == "ls") return "show";
  return s;
}

}  // namespace

const char* verb_name(Verb v) {
  return kRows[size_t(v)].words;
}

const std::vector<VerbHelp>& command_help() {
  static const std::vector<VerbHelp> h = [] {
    std::vector<VerbHelp> v;
    for (const Row& r : kRows)
      if (r.help) v.push_back(VerbHelp{r.words, r.synopsis, r.help});
    return v;
  }();
  return h;
}

bool takes_family_filter(Verb v) {
  return v == Verb::addr_show || v == Verb::route_show || v == Verb::route_show_exceptions ||
         v == Verb::route_summary || v == Verb::neigh_show;
}

namespace {

// The verbs whose words hold an address: a -4/-6 must agree with it.
bool takes_address(Verb v) {
  switch (v) {
    case Verb::addr_add:
    case Verb::addr_del:
    case Verb::route_add:
    case Verb::route_replace:
    case Verb::route_del:
    case Verb::route_get:
    case Verb::neigh_add:
    case Verb::neigh_del:
    case Verb::ping:
      return true;
    default:
      return false;
  }
}

}  // namespace

Request parse_request(const std::vector<std::string>& all) {
  // iproute2's family options come before the object: "-6 route show".
  uint8_t family = 0;
  size_t first = 0;
  for (; first < all.size() && (all[first] == "-4" || all[first] == "-6"); ++first) {
    const uint8_t f = all[first] == "-4" ? 4 : 6;
    if (family && family != f) throw CommandError("-4 and -6 given together (give one or neither)");
    family = f;
  }
  const Args w = Args(all).subspan(first);
  if (w.empty())
    throw CommandError(family ? "no command after -" + std::to_string(family)
                              : "no command given (try: routerctl help)");
  const Row* row = nullptr;
  std::string cmd;  // what errors start with: "route add", "stats"
  size_t args = 1;  // where the words after the object and action start (none: "route")
  if (const Object* obj = find_object(w[0])) {
    const std::string act = w.size() > 1 ? action_name(w[1]) : "show";
    cmd = std::string(obj->name) + " " + act;
    row = find_row(obj->name, act);
    if (!row) fail(obj->name, "unknown action " + q(w[1]) + " (" + obj->actions + ")");
    args = std::min<size_t>(2, w.size());
  } else {
    row = find_row(w[0], "");
    if (!row)
      throw CommandError("unknown object " + q(w[0]) +
                         " (expected addr, route, neigh, link, fpm, mirror, stats, ping or batch)");
    cmd = w[0];
  }
  if (family && !takes_family_filter(row->verb) && !takes_address(row->verb))
    fail(cmd, "-" + std::to_string(family) +
                  " does not apply (it filters addr, route and neigh show and route summary, "
                  "or names the family of a command's address)");
  Request r;
  r.verb = row->verb;
  r.family = family;  // the filter, or what the address given must be
  row->parse(r, cmd, w.subspan(args));
  return r;
}

}  // namespace routerd
