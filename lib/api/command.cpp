#include "command.hpp"

#include <charconv>
#include <map>

namespace routerd {

namespace {

[[noreturn]] void fail(const std::string& cmd, const std::string& msg) {
  throw CommandError(cmd + ": " + msg);
}

std::string q(const std::string& s) {
  return "'" + s + "'";
}

Ipv4 parse_addr(const std::string& cmd, const std::string& what, const std::string& s) {
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

// Keyword arguments after the positional ones: "via X", "dev X", "lladdr X".
std::map<std::string, std::string> keywords(const std::string& cmd,
                                            const std::vector<std::string>& w, size_t from,
                                            std::initializer_list<const char*> allowed) {
  std::map<std::string, std::string> kv;
  for (size_t i = from; i < w.size(); i += 2) {
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

namespace {

std::string object_name(const std::string& s) {
  if (s == "addr" || s == "address" || s == "a") return "addr";
  if (s == "route" || s == "r") return "route";
  if (s == "neigh" || s == "neighbour" || s == "neighbor" || s == "n") return "neigh";
  if (s == "link" || s == "l") return "link";
  if (s == "stats") return "stats";
  if (s == "reload") return "reload";
  if (s == "batch") return "batch";
  if (s == "ping") return "ping";
  return "";
}

std::string action_name(const std::string& s) {
  if (s == "del" || s == "delete") return "del";
  if (s == "show" || s == "list" || s == "ls") return "show";
  return s;
}

}  // namespace

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

const std::vector<VerbHelp>& command_help() {
  static const std::vector<VerbHelp> h = {
      {"addr add", "ADDRESS/LEN dev PORT", "add an address (and its connected route) to a port"},
      {"addr del", "ADDRESS/LEN dev PORT",
       "remove an address, its connected route and the routes through it"},
      {"addr show", "[dev PORT]", "list port addresses"},
      {"route add", "PREFIX via GATEWAY [dev PORT] [mtu N] | PREFIX dev PORT [mtu N]",
       "add a static route"},
      {"route replace", "PREFIX via GATEWAY [dev PORT] [mtu N] | PREFIX dev PORT [mtu N]",
       "add or replace a static route"},
      {"route del", "PREFIX", "delete a static route"},
      {"route show", "[cache]", "list connected and static routes; cache: the exceptions"},
      {"route flush cache", "", "forget every learnt exception (path MTU, redirect)"},
      {"reload", "",
       "re-read the config file and apply its changes to addresses, neighbours and routes"},
      {"route summary", "", "route counts per prefix length, FIB prefixes, next hops, generation"},
      {"route get", "ADDRESS", "show the route and next hop a packet to ADDRESS takes"},
      {"route load", "FILE",
       "add or replace every route in FILE (one 'route add' per line) as one batch"},
      {"neigh add", "ADDRESS lladdr MAC dev PORT", "add a static (permanent) neighbour"},
      {"neigh del", "ADDRESS", "delete a neighbour"},
      {"neigh show", "[dev PORT]", "list neighbours and their state"},
      {"link show", "[PORT]", "list ports: MAC, MTU, link state, queues"},
      {"link set", "PORT mtu N", "change a port's MTU at run time"},
      {"stats", "", "packet counters per port, per drop reason, per lcore"},
      {"ping", "ADDRESS [size N] [df] [count N]",
       "send echo requests from the router and print the replies and errors"},
      {"batch", "FILE",
       "apply the route add/replace/del commands in FILE (one per line, '-' for stdin) as one "
       "atomic batch"},
  };
  return h;
}

const char* verb_name(Verb v) {
  static const char* const kNames[kVerbCount] = {"addr add",      "addr del",
                                                 "addr show",     "route add",
                                                 "route replace", "route del",
                                                 "route show",    "route show cache",
                                                 "route summary", "route flush cache",
                                                 "route get",     "route load",
                                                 "neigh add",     "neigh del",
                                                 "neigh show",    "link show",
                                                 "link set",      "ping",
                                                 "stats",         "batch",
                                                 "reload"};
  return size_t(v) < kVerbCount ? kNames[size_t(v)] : "?";
}

Request parse_request(const std::vector<std::string>& w) {
  if (w.empty()) throw CommandError("no command given (try: routerctl help)");
  std::string obj = object_name(w[0]);
  if (obj.empty())
    throw CommandError("unknown object " + q(w[0]) +
                       " (expected addr, route, neigh, link, stats, ping or batch)");
  Request r;
  if (obj == "batch") {
    // On the wire, argv is "batch" followed by the lines of the file, verbatim.
    if (w.size() - 1 > kMaxBatchLines)
      fail("batch", std::to_string(w.size() - 1) + " lines; at most " +
                        std::to_string(kMaxBatchLines) + " per batch");
    r.verb = Verb::batch;
    for (size_t i = 1; i < w.size(); ++i) {
      std::vector<std::string> words = split_command_line(w[i]);
      if (words.empty()) continue;
      const std::string where = "line " + std::to_string(i);
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
      r.batch.push_back(BatchLine{uint32_t(i), std::move(sub), {}});
    }
    return r;
  }
  if (obj == "ping") {
    // ping ADDRESS [size N] [df] [count N]
    if (w.size() < 2) fail("ping", "missing ADDRESS");
    r.verb = Verb::ping;
    r.addr = parse_addr("ping", "the destination", w[1]);
    bool have_size = false, have_count = false;
    for (size_t i = 2; i < w.size(); ++i) {
      auto number = [&](const char* what, uint32_t lo, uint32_t hi) {
        if (i + 1 >= w.size()) fail("ping", q(w[i]) + " needs a value");
        const std::string& v = w[++i];
        uint32_t n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi)
          fail("ping", q(v) + " is not a valid " + what + " (" + std::to_string(lo) + ".." +
                           std::to_string(hi) + ")");
        return n;
      };
      if (w[i] == "df" && !r.df) {
        r.df = true;
      } else if (w[i] == "size" && !have_size) {
        r.size = uint16_t(number("size", 0, 65507));  // 65535 - IPv4 - ICMP headers
        have_size = true;
      } else if (w[i] == "count" && !have_count) {
        r.count = uint16_t(number("count", 1, 100));
        have_count = true;
      } else {
        fail("ping", "unexpected " + q(w[i]) + " (size N, df, count N, each once)");
      }
    }
    return r;
  }
  if (obj == "stats") {
    if (w.size() > 1) fail("stats", "unexpected " + q(w[1]));
    r.verb = Verb::stats;
    return r;
  }
  if (obj == "reload") {
    if (w.size() > 1) fail("reload", "unexpected " + q(w[1]));
    r.verb = Verb::reload;
    return r;
  }
  std::string act = w.size() > 1 ? action_name(w[1]) : "show";
  std::string cmd = obj + " " + act;

  if (obj == "addr") {
    if (act == "show") {
      auto kv = keywords(cmd, w, 2, {"dev"});
      r.verb = Verb::addr_show;
      r.dev = kv.count("dev") ? kv["dev"] : "";
      return r;
    }
    if (act != "add" && act != "del")
      fail("addr", "unknown action " + q(w[1]) + " (add, del, show)");
    if (w.size() < 3) fail(cmd, "missing ADDRESS/LEN");
    Ipv4 host;
    auto p = Prefix4::parse_interface(w[2], &host);
    if (!p) fail(cmd, q(w[2]) + " is not an address with prefix length (e.g. 10.1.0.1/24)");
    auto kv = keywords(cmd, w, 3, {"dev"});
    if (!kv.count("dev")) fail(cmd, "missing 'dev PORT'");
    r.verb = act == "add" ? Verb::addr_add : Verb::addr_del;
    r.prefix = *p;
    r.addr = host;
    r.dev = kv["dev"];
    return r;
  }

  if (obj == "route") {
    if (act == "show") {
      if (w.size() == 3 && w[2] == "cache") {
        r.verb = Verb::route_show_cache;
        return r;
      }
      if (w.size() > 2) fail(cmd, "unexpected " + q(w[2]));
      r.verb = Verb::route_show;
      return r;
    }
    if (act == "summary") {
      if (w.size() > 2) fail(cmd, "unexpected " + q(w[2]));
      r.verb = Verb::route_summary;
      return r;
    }
    if (act == "flush") {
      if (w.size() != 3 || w[2] != "cache") fail(cmd, "expected: route flush cache");
      r.verb = Verb::route_flush_cache;
      return r;
    }
    if (act == "get") {
      if (w.size() != 3) fail(cmd, "expected: route get ADDRESS");
      r.verb = Verb::route_get;
      r.addr = parse_addr(cmd, "the destination", w[2]);
      return r;
    }
    if (act == "del") {
      if (w.size() < 3) fail(cmd, "missing PREFIX");
      r.prefix = parse_prefix(cmd, w[2]);
      // iproute2 lets "via" and "dev" narrow a delete; one route per prefix makes them checks.
      auto kv = keywords(cmd, w, 3, {"via", "dev"});
      if (kv.count("via")) r.via = parse_addr(cmd, "the gateway", kv["via"]);
      r.dev = kv.count("dev") ? kv["dev"] : "";
      r.verb = Verb::route_del;
      return r;
    }
    if (act == "load") {
      if (w.size() != 3) fail(cmd, "expected: route load FILE");
      r.verb = Verb::route_load;
      r.path = w[2];
      return r;
    }
    if (act != "add" && act != "replace")
      fail("route", "unknown action " + q(w[1]) + " (add, replace, del, show, get, load, flush)");
    std::vector<std::string_view> args(w.begin() + 2, w.end());
    RouteSpec spec = parse_route_spec(cmd, args);
    r.verb = act == "add" ? Verb::route_add : Verb::route_replace;
    r.prefix = spec.prefix;
    r.via = spec.via;
    r.dev = spec.dev;
    r.mtu = spec.mtu;
    return r;
  }

  if (obj == "neigh") {
    if (act == "show") {
      auto kv = keywords(cmd, w, 2, {"dev"});
      r.verb = Verb::neigh_show;
      r.dev = kv.count("dev") ? kv["dev"] : "";
      return r;
    }
    if (act != "add" && act != "del")
      fail("neigh", "unknown action " + q(w[1]) + " (add, del, show)");
    if (w.size() < 3) fail(cmd, "missing ADDRESS");
    r.addr = parse_addr(cmd, "the neighbour", w[2]);
    if (act == "del") {
      auto kv = keywords(cmd, w, 3, {"dev"});
      r.verb = Verb::neigh_del;
      r.dev = kv.count("dev") ? kv["dev"] : "";
      return r;
    }
    auto kv = keywords(cmd, w, 3, {"lladdr", "dev"});
    if (!kv.count("lladdr")) fail(cmd, "missing 'lladdr MAC'");
    if (!kv.count("dev")) fail(cmd, "missing 'dev PORT'");
    auto mac = Mac::parse(kv["lladdr"]);
    if (!mac) fail(cmd, q(kv["lladdr"]) + " is not a MAC address (e.g. 02:00:00:00:01:02)");
    if (mac->is_multicast() || mac->is_zero())
      fail(cmd, q(kv["lladdr"]) + " is not a unicast MAC address");
    r.verb = Verb::neigh_add;
    r.lladdr = *mac;
    r.dev = kv["dev"];
    return r;
  }

  // link
  if (act == "set") {
    // link set PORT mtu N (iproute2 also takes "dev PORT")
    size_t at = w.size() > 2 && w[2] == "dev" ? 3 : 2;
    if (w.size() <= at) fail(cmd, "missing PORT");
    r.dev = w[at];
    if (w.size() != at + 3 || w[at + 1] != "mtu") fail(cmd, "expected: link set PORT mtu N");
    r.mtu = parse_mtu(cmd, w[at + 2]);
    r.verb = Verb::link_set;
    return r;
  }
  if (act != "show") fail("link", "unknown action " + q(w[1]) + " (show, set)");
  size_t at = w.size() > 2 && w[2] == "dev" ? 3 : 2;  // "link show [dev] PORT"
  if (w.size() > at + 1) fail(cmd, "unexpected " + q(w[at + 1]));
  if (at == 3 && w.size() == 3) fail(cmd, "'dev' needs a value");
  r.verb = Verb::link_show;
  r.dev = w.size() > at ? w[at] : "";
  return r;
}

}  // namespace routerd
