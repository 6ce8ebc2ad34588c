#include "command.hpp"

#include <algorithm>
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

Ipv4 parse_ipv4(const std::string& cmd, const std::string& what, const std::string& s) {
  auto a = Ipv4::parse(s);
  if (!a) fail(cmd, q(s) + " is not an IPv4 address (" + what + ")");
  return *a;
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

}  // namespace

// RFC 791: every IPv4 link carries 68-byte datagrams; 65535 is the largest datagram.
uint16_t parse_mtu(const std::string& cmd, std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 68 || v > 65535)
    fail(cmd, q(std::string(s)) + " is not an MTU (68..65535)");
  return uint16_t(v);
}

RouteSpec parse_route_spec(const std::string& cmd, std::span<const std::string_view> w) {
  if (w.empty()) fail(cmd, "missing PREFIX");
  RouteSpec r;
  r.prefix = parse_prefix(cmd, w[0]);
  bool have_dev = false;
  for (size_t i = 1; i < w.size(); i += 2) {
    bool via = w[i] == "via", dev = w[i] == "dev", mtu = w[i] == "mtu";
    if (!via && !dev && !mtu) fail(cmd, "unexpected " + q(w[i]));
    if (i + 1 >= w.size()) fail(cmd, q(w[i]) + " needs a value");
    if ((via && r.via) || (dev && have_dev) || (mtu && r.mtu)) fail(cmd, q(w[i]) + " given twice");
    if (mtu) {
      r.mtu = parse_mtu(cmd, w[i + 1]);
    } else if (via) {
      auto a = Ipv4::parse(w[i + 1]);
      if (!a) fail(cmd, q(w[i + 1]) + " is not an IPv4 address (the gateway)");
      r.via = *a;
    } else {
      r.dev = std::string(w[i + 1]);
      have_dev = true;
    }
  }
  if (!r.via && !have_dev) fail(cmd, "needs 'via GATEWAY' or 'dev PORT'");
  return r;
}

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> words;
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

// addr add/del ADDRESS/LEN dev PORT
void parse_addr_change(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS/LEN");
  Ipv4 host;
  auto p = Prefix4::parse_interface(a[0], &host);
  if (!p) fail(cmd, q(a[0]) + " is not an address with prefix length (e.g. 10.1.0.1/24)");
  auto kv = keywords(cmd, a.subspan(1), {"dev"});
  if (!kv.count("dev")) fail(cmd, "missing 'dev PORT'");
  r.prefix = *p;
  r.addr = host;
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
  RouteSpec spec = parse_route_spec(cmd, words);
  r.prefix = spec.prefix;
  r.via = spec.via;
  r.dev = spec.dev;
  r.mtu = spec.mtu;
}

void parse_route_del(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing PREFIX");
  r.prefix = parse_prefix(cmd, a[0]);
  // iproute2 lets "via" and "dev" narrow a delete; one route per prefix makes them checks.
  auto kv = keywords(cmd, a.subspan(1), {"via", "dev"});
  if (kv.count("via")) r.via = parse_ipv4(cmd, "the gateway", kv["via"]);
  r.dev = kv.count("dev") ? kv["dev"] : "";
}

// "route show cache" is a verb of its own, but iproute2 spells it as an argument of show.
void parse_route_show(Request& r, const std::string& cmd, Args a) {
  if (a.size() == 1 && a[0] == "cache") {
    r.verb = Verb::route_show_exceptions;
    return;
  }
  parse_nothing(r, cmd, a);
}

void parse_route_flush(Request&, const std::string& cmd, Args a) {
  if (a.size() != 1 || a[0] != "cache") fail(cmd, "expected: route flush cache");
}

void parse_route_get(Request& r, const std::string& cmd, Args a) {
  if (a.size() != 1) fail(cmd, "expected: route get ADDRESS");
  r.addr = parse_ipv4(cmd, "the destination", a[0]);
}

void parse_route_load(Request& r, const std::string& cmd, Args a) {
  if (a.size() != 1) fail(cmd, "expected: route load FILE");
  r.path = a[0];
}

void parse_neigh_add(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS");
  r.addr = parse_ipv4(cmd, "the neighbour", a[0]);
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
  r.addr = parse_ipv4(cmd, "the neighbour", a[0]);
  auto kv = keywords(cmd, a.subspan(1), {"dev"});
  r.dev = kv.count("dev") ? kv["dev"] : "";
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
}

// ping ADDRESS [size N] [df] [count N]
void parse_ping(Request& r, const std::string& cmd, Args a) {
  if (a.empty()) fail(cmd, "missing ADDRESS");
  r.addr = parse_ipv4(cmd, "the destination", a[0]);
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
    if (a[i] == "df" && !r.df) {
      r.df = true;
    } else if (a[i] == "size" && !have_size) {
      r.size = uint16_t(number("size", 0, 65507));  // 65535 - IPv4 - ICMP headers
      have_size = true;
    } else if (a[i] == "count" && !have_count) {
      r.count = uint16_t(number("count", 1, 100));
      have_count = true;
    } else {
      fail(cmd, "unexpected " + q(a[i]) + " (size N, df, count N, each once)");
    }
  }
}

// On the wire, argv is "batch" followed by the lines of the file, verbatim.
void parse_batch(Request& r, const std::string& cmd, Args lines) {
  if (lines.size() > kMaxBatchLines)
    fail(cmd, std::to_string(lines.size()) + " lines; at most " + std::to_string(kMaxBatchLines) +
                  " per batch");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> words = split_command_line(lines[i]);
    if (words.empty()) continue;
    const std::string where = "line " + std::to_string(i + 1);
    Request sub;
    try {
      sub = parse_request(words);
    } catch (const CommandError& e) {
      throw CommandError(where + ": " + e.what());
    }
    if (sub.verb != Verb::route_add && sub.verb != Verb::route_replace &&
        sub.verb != Verb::route_del)
      throw CommandError(where +
                         ": only route add, route replace and route del may appear "
                         "in a batch (they are applied as one atomic change)");
    r.batch.push_back(BatchLine{uint32_t(i + 1), std::move(sub), {}});
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

Request parse_request(const std::vector<std::string>& w) {
  if (w.empty()) throw CommandError("no command given (try: routerctl help)");
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
                         " (expected addr, route, neigh, link, stats, ping or batch)");
    cmd = w[0];
  }
  Request r;
  r.verb = row->verb;
  row->parse(r, cmd, Args(w).subspan(args));
  return r;
}

}  // namespace routerd
