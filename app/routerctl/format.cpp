#include "format.hpp"

#include <fmt/format.h>

#include <iterator>
#include <set>

namespace routerd {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// IPv6 text always has a colon: answers about IPv6 objects need no "family" to be told apart.
bool is_v6(const std::string& addr) {
  return addr.find(':') != std::string::npos;
}

// A type other than unicast comes first, as ip-route(8) prints it: "blackhole 10.9.0.0/16".
std::string route_type_prefix(const json& r) {
  const std::string type = str(r, "type");
  return type.empty() || type == "unicast" ? "" : type + " ";
}

// " via 10.2.0.2", or for an IPv4 route's IPv6 gateway (RFC 5549: "via_family" 6) as
// ip-route(8) prints RTA_VIA: " via inet6 fe80::2".
std::string via(const json& j) {
  if (!j.contains("via")) return "";
  return std::string(" via ") + (j.value("via_family", 0) == 6 ? "inet6 " : "") + str(j, "via");
}

std::string routes(const json& d) {
  std::string out;
  for (const auto& r : d) {
    out += route_type_prefix(r) + str(r, "prefix");
    out += via(r);
    if (r.contains("dev")) out += " dev " + str(r, "dev");
    out += " proto " + str(r, "proto");
    if (r.contains("src")) out += " src " + str(r, "src");
    out += "\n";
    // ECMP, as ip-route(8) prints a multipath route, with each member's state and share.
    if (r.contains("nexthops"))
      for (const auto& n : r["nexthops"]) {
        out += "\tnexthop" + via(n) + " dev " + str(n, "dev") +
               fmt::format(" weight {}", n.value("weight", 1u));
        if (n.contains("state")) out += " " + str(n, "state");
        if (n.contains("buckets")) out += fmt::format(" buckets {}", n["buckets"].get<unsigned>());
        if (n.contains("packets"))
          out += fmt::format(" packets {}", n["packets"].get<unsigned long long>());
        out += "\n";
      }
  }
  return out;
}

std::string route_get(const json& d) {
  std::string type = str(d, "type");
  std::string out = str(d, "dst");
  if (type == "none") return out + " no route (network unreachable)\n";
  if (type == "local") out += " local dev " + str(d, "dev");
  if (type == "blackhole" || type == "prohibit" || type == "unreachable")
    out += " " + type + " route " + str(d, "route") + " proto " + str(d, "proto");
  if (type == "broadcast") out += " broadcast (directed broadcasts are not forwarded)";
  if (type == "unicast") {
    out += via(d);
    out += " dev " + str(d, "dev");
    if (d.contains("src")) out += " src " + str(d, "src");
    out += " route " + str(d, "route") + " proto " + str(d, "proto");
  } else if (type != "local" && type != "broadcast" && type != "blackhole" && type != "prohibit" &&
             type != "unreachable" && !type.empty()) {
    out += " " + type;  // a kind newer than this routerctl (IPv6: multicast): say it as is
    if (d.contains("dev")) out += " dev " + str(d, "dev");
  }
  if (d.contains("group")) {
    const json& g = d["group"];
    out += fmt::format("\n    group {} bucket {} of {} ({} next hops, {} alive)", g.value("id", 0u),
                       g.value("bucket", 0u), g.value("buckets", 0u), g.value("members", 0u),
                       g.value("alive", 0u));
    // Where this answer may not hold: ports whose NIC hash the workers take instead.
    std::string rss;
    if (g.contains("rss_ports") && g["rss_ports"].is_array())
      for (const auto& p : g["rss_ports"]) rss += (rss.empty() ? "" : ", ") + p.get<std::string>();
    if (!rss.empty())
      out += "\n    (by routerd's own hash: arriving on " + rss +
             ", the flow takes the member of the NIC's RSS hash instead)";
  }
  if (d.contains("nexthop")) {
    const json& n = d["nexthop"];
    out += fmt::format("\n    nexthop {} {}", n.value("id", 0u), str(n, "state"));
    if (n.contains("neighbour")) out += " neighbour " + str(n, "neighbour");
    if (n.contains("lladdr")) out += " lladdr " + str(n, "lladdr");
    if (n.contains("mtu")) out += fmt::format(" mtu {}", n["mtu"].get<unsigned>());
  }
  return out + "\n";
}

std::string neighbours(const json& d) {
  std::string out;
  for (const auto& n : d) {
    out += str(n, "dst") + " dev " + str(n, "dev");
    if (n.contains("lladdr")) out += " lladdr " + str(n, "lladdr");
    if (n.value("router", false)) out += " router";  // NDP's R flag, where ip(8) shows it
    out += " " + str(n, "state");
    if (n.value("queued", 0u)) out += fmt::format(" queued {}", n["queued"].get<unsigned>());
    out += "\n";
  }
  return out;
}

std::string addresses(const json& d) {
  std::string out;
  for (const auto& p : d) {
    out += str(p, "dev") + ":";
    for (const auto& a : p["addresses"]) {
      if (a.is_string()) {  // what routerd answers: "10.1.0.1/24", "fe80::1/64"
        const std::string s = a.get<std::string>();
        out += " " + s + (s.rfind("fe80:", 0) == 0 ? " scope link" : "");
        // DAD's marks (RFC 4862 5.4), as ip(8) shows them.
        for (const char* mark : {"tentative", "dad_failed"})
          if (p.contains(mark))
            for (const auto& t : p[mark])
              if (t == a) out += mark == std::string("tentative") ? " tentative" : " dadfailed";
        continue;
      }
      // {"address": "2001:db8:1::1/64", "family": 6, "scope": "global"}; iproute2's own
      // JSON spells it {"local": "2001:db8:1::1", "prefixlen": 64}: either is understood.
      std::string addr = a.contains("address") ? str(a, "address") : str(a, "local");
      if (addr.find('/') == std::string::npos && a.contains("prefixlen"))
        addr += fmt::format("/{}", a["prefixlen"].get<unsigned>());
      out += " " + addr;
      if (str(a, "scope") == "link") out += " scope link";
    }
    out += "\n";
  }
  return out;
}

// " rss ipv4,nonfrag_ipv4_tcp, ECMP takes it for IPv4" (the hash types the device uses, and
// the families whose hash ECMP takes instead of its own), " rss off", or nothing for a port
// without a device (a tunnel) or an older routerd.
std::string rss_text(const json& l) {
  if (!l.contains("rss") || !l["rss"].is_object()) return "";
  const json& r = l["rss"];
  std::string types, fams;
  for (const auto& t : r.value("types", json::array()))
    types += (types.empty() ? "" : ",") + t.get<std::string>();
  if (types.empty()) return " rss off";
  for (const auto& f : r.value("ecmp", json::array()))
    fams += fmt::format("{}IPv{}", fams.empty() ? "" : " and ", f.get<unsigned>());
  return " rss " + types + (fams.empty() ? ", ECMP hashes itself" : ", ECMP takes it for " + fams);
}

std::string links(const json& d) {
  std::string out;
  for (const auto& l : d) {
    out += fmt::format(
        "{}: {}: state {} mtu {} link/ether {}\n    {} ({}) rxq {} txq {}{}{}\n",
        l.value("port_id", 0u), str(l, "name"), str(l, "link"), l.value("mtu", 0u), str(l, "mac"),
        str(l, "device"), str(l, "driver"), l.value("rx_queues", 0u), l.value("tx_queues", 0u),
        l.value("speed_mbps", 0u) ? fmt::format(" speed {} Mb/s", l["speed_mbps"].get<unsigned>())
                                  : "",
        rss_text(l));
    // How the port receives multicast: "filter" is exact, the other modes wider (the reason
    // says why the filter was not used).
    if (l.contains("multicast") && l["multicast"].is_object()) {
      const json& m = l["multicast"];
      const std::string why = str(m, "reason");
      out += fmt::format("    multicast {} ({} groups){}\n", str(m, "mode"), m.value("groups", 0u),
                         why.empty() ? "" : ": " + why);
    }
    // Its kernel interface ([control_plane]), as `ip -n NS link` names it.
    if (l.contains("kernel") && l["kernel"].is_object()) {
      const json& k = l["kernel"];
      const std::string ns = str(k, "netns");
      out += fmt::format("    kernel {} ifindex {}{} state {} addresses {} frames to {} from {}\n",
                         str(k, "name"), k.value("ifindex", 0), ns.empty() ? "" : " netns " + ns,
                         str(k, "link"), k.value("addresses", 0u), k.value("to_kernel", 0ull),
                         k.value("from_kernel", 0ull));
    }
  }
  return out;
}

// As ip-tunnel(8) prints them ("gre1: gre/ip remote B local A ttl 64 key 7"), then the MTU
// and the outer path the control thread sees.
std::string tunnels(const json& d) {
  std::string out;
  for (const auto& t : d) {
    const json& ttl = t["ttl"];
    out += fmt::format("{}: gre/ip remote {} local {} ttl {}{}\n", str(t, "name"), str(t, "remote"),
                       str(t, "local"), ttl.is_string() ? ttl.get<std::string>() : ttl.dump(),
                       t.contains("key") && t["key"].is_number() ? " key " + t["key"].dump() : "");
    out += fmt::format("    mtu {}{}", t.value("mtu", 0u),
                       t.contains("pmtu") && t["pmtu"].is_number()
                           ? " (path MTU " + t["pmtu"].dump() + " learnt)"
                           : "");
    if (t.contains("outer") && t["outer"].is_object()) {
      const json& o = t["outer"];
      out += " outer " + str(o, "kind");
      if (o.contains("gateway") && o["gateway"].is_string()) out += " via " + str(o, "gateway");
      if (o.contains("dev") && o["dev"].is_string()) out += " dev " + str(o, "dev");
    } else {
      out += " outer unreachable";
    }
    out += fmt::format("\n    rx {} tx {} dropped {}\n", t.value("rx_packets", 0ull),
                       t.value("tx_packets", 0ull), t.value("dropped", 0ull));
  }
  return out;
}

std::string stats(const json& d) {
  std::string out = fmt::format("{:<10} {:>14} {:>14} {:>12} {:>12} {:>12}\n", "port", "rx_packets",
                                "tx_packets", "dropped", "hw_imissed", "hw_ierrors");
  for (const auto& p : d["ports"]) {
    const json& hw = p["hw"];
    out +=
        fmt::format("{:<10} {:>14} {:>14} {:>12} {:>12} {:>12}\n", str(p, "name"),
                    p.value("rx_packets", 0ull), p.value("tx_packets", 0ull),
                    p.value("dropped", 0ull), hw.value("imissed", 0ull), hw.value("ierrors", 0ull));
  }
  auto section = [&](const char* title, const json& m) {
    std::string s;
    for (const auto& [k, v] : m.items())
      if (v.get<uint64_t>()) s += fmt::format("  {:<28} {:>14}\n", k, v.get<uint64_t>());
    out += fmt::format("{}:{}\n{}", title, s.empty() ? " none" : "", s);
  };
  section("drops", d["drops"]);
  section("to control", d["punts"]);
  section("events", d["events"]);
  out += fmt::format(
      "generation {}  routes {}  fib prefixes {}  next hops {}  neighbours {} ({} packets "
      "queued)\n",
      d.value("generation", 0ull), d.value("routes", 0ull), d.value("fib_prefixes", 0ull),
      d.value("next_hops", 0ull), d.value("neighbours", 0ull), d.value("neighbour_queued", 0ull));
  if (d.contains("fib_in_place") || d.contains("fib_flips"))
    out += fmt::format("IPv4 FIB batches: {} in place, {} by switching copies\n",
                       d.value("fib_in_place", 0ull), d.value("fib_flips", 0ull));
  if (d.value("fib_standby_behind", 0ull) + d.value("fib6_standby_behind", 0ull) != 0)
    out += fmt::format("FIB copies left by workers: {} IPv4 and {} IPv6 ops still to apply\n",
                       d.value("fib_standby_behind", 0ull), d.value("fib6_standby_behind", 0ull));
  if (d.contains("memory")) {
    const json& m = d["memory"];
    out += fmt::format("memory: resident {} MiB", m.value("resident_bytes", 0ull) >> 20);
    if (uint64_t r = m.value("heap_reserved_bytes", 0ull))
      out += fmt::format(", heap reserved at startup {} MiB", r >> 20);
    out += "\n";
  }
  if (const auto f = d.find("route_feed"); f != d.end() && f->is_object()) {
    const json& held = (*f)["held"];
    const json& inst = (*f)["installed"];
    out += fmt::format(
        "route feed {} ({}): held {} IPv4 {} IPv6, installed {} IPv4 {} IPv6; batches {} (failed "
        "{}, routes refused {}), unusable {}\n",
        str(*f, "feed"), f->value("connected", false) ? "connected" : "not connected",
        held.value("ipv4", 0ull), held.value("ipv6", 0ull), inst.value("ipv4", 0ull),
        inst.value("ipv6", 0ull), f->value("batches", 0ull), f->value("batch_failures", 0ull),
        f->value("routes_refused", 0ull), f->value("unusable", 0ull));
  }
  // The route caches, one line a family: their size, what the lookups found, and what the
  // governor chose.
  for (const auto& [key, fam] :
       {std::pair{"route_cache", "IPv4"}, std::pair{"route_cache6", "IPv6"}}) {
    const auto c = d.find(key);
    if (c == d.end() || !c->is_object()) continue;
    if (!c->value("enabled", false)) {
      out += fmt::format("route cache {}: off\n", fam);
      continue;
    }
    const uint64_t hits = c->value("hits", 0ull), misses = c->value("misses", 0ull),
                   stale = c->value("stale", 0ull), all = hits + misses + stale;
    out += fmt::format(
        "route cache {}: {} sets x {} ways; hits {}{}, misses {}, stale {}; bursts past it {}; "
        "governor on {} off {}\n",
        fam, c->value("sets", 0ull), c->value("ways", 0ull), hits,
        all ? fmt::format(" ({:.1f} %)", 100.0 * double(hits) / double(all)) : "", misses, stale,
        c->value("bypassed_bursts", 0ull), c->value("runs_on", 0ull), c->value("runs_off", 0ull));
  }
  // ECMP: the groups in one line, then each member next hop's packets once (a gateway in
  // two groups is counted once: the workers count per next hop).
  if (uint64_t g = d.value("ecmp_groups", 0ull)) {
    out += fmt::format("ecmp: {} groups, member downs {} ups {}\n", g,
                       d.value("ecmp_member_downs", 0ull), d.value("ecmp_member_ups", 0ull));
    std::set<uint32_t> seen;
    if (const auto e = d.find("ecmp"); e != d.end() && e->is_object())
      for (const char* fam : {"ipv4", "ipv6"})
        for (const auto& grp : e->value(fam, json::array()))
          for (const auto& m : grp.value("members", json::array()))
            if (seen.insert(m.value("id", 0u)).second)
              out += fmt::format("  nexthop via {} dev {}: {} packets ({})\n", str(m, "via"),
                                 str(m, "dev"), m.value("packets", 0ull), str(m, "state"));
  }
  for (const auto& w : d["workers"])
    out += fmt::format("worker {}: {} polls, {} with packets\n", w.value("worker", 0u),
                       w.value("polls", 0ull), w.value("busy_polls", 0ull));
  return out;
}

// " mtu 1300 expires 597s via 10.2.0.3 expires 299s\n": an exception's learnt parts ("mtu
// lock 552" when it was reported lower, as iproute2 shows a locked MTU).
std::string exception(const json& e) {
  std::string out;
  if (e.contains("mtu"))
    out += fmt::format(" mtu {}{} expires {}s", e.value("mtu_locked", false) ? "lock " : "",
                       e.value("mtu", 0), e.value("mtu_expires_s", 0));
  if (e.contains("gateway"))
    out += fmt::format(" via {} expires {}s", str(e, "gateway"), e.value("gateway_expires_s", 0));
  return out + "\n";
}

// Changes print nothing on success, as ip(8) does.
std::string nothing(const json&) {
  return "";
}

// addr add/del: the static routes deleting an address took with it.
std::string addr_change(const json& d) {
  if (!d.contains("removed_routes") || d["removed_routes"].empty()) return "";
  return "removed routes through this address:\n" + routes(d["removed_routes"]);
}

std::string route_show_exceptions(const json& d) {
  std::string out;
  for (const auto& e : d) out += str(e, "dst") + " (route " + str(e, "route") + ")" + exception(e);
  return out;
}

std::string route_summary(const json& d) {
  std::string out = fmt::format(
      "{} routes ({} connected, {} static), {} FIB prefixes, {} next hops\n"
      "generation {}, {} commits, {} route updates\nby prefix length:",
      d.value("routes", 0ull), d.value("connected", 0ull), d.value("static", 0ull),
      d.value("fib_prefixes", 0ull), d.value("next_hops", 0ull), d.value("generation", 0ull),
      d.value("commits", 0ull), d.value("route_updates", 0ull));
  const json& by = d["by_length"];
  for (int len = 0; len <= 128; ++len)
    if (by.contains(std::to_string(len)))
      out += fmt::format(" /{} {}", len, by[std::to_string(len)].get<uint64_t>());
  out += "\n";
  if (d.value("via_ipv6", 0ull))
    out += fmt::format("through IPv6 gateways (RFC 5549): {}\n", d["via_ipv6"].get<uint64_t>());
  // Routes from a routing daemon (FPM), by protocol.
  if (d.contains("daemon") && d["daemon"].is_object() && !d["daemon"].empty()) {
    out += "from the routing daemon:";
    for (const auto& [proto, n] : d["daemon"].items())
      out += fmt::format(" {} {}", proto, n.get<uint64_t>());
    out += "\n";
  }
  return out;
}

std::string route_flush_exceptions(const json& d) {
  return fmt::format("flushed {} exceptions\n", d.value("flushed", 0));
}

std::string route_get_with_cache(const json& d) {
  std::string out = route_get(d);
  if (d.contains("exception")) out += "    cache" + exception(d["exception"]);
  return out;
}

std::string route_load(const json& d) {
  return fmt::format("loaded {} routes ({} new, {} replaced) from {} in {:.2f} s\n",
                     d.value("routes", 0ull), d.value("added", 0ull), d.value("replaced", 0ull),
                     str(d, "file"), d.value("seconds", 0.0));
}

std::string link_set(const json& d) {
  return d.contains("warning") ? "warning: " + str(d, "warning") + "\n" : "";
}

std::string ping(const json& d) {
  const bool v6 = is_v6(str(d, "dst"));
  std::string out = fmt::format("PING {} from {}: {} data bytes{}\n", str(d, "dst"), str(d, "src"),
                                d.value("size", 0), d.value("df", false) ? ", DF" : "");
  for (const auto& r : d["results"]) {
    const std::string res = r.value("result", std::string());
    const int seq = r.value("seq", 0);
    if (res == "reply")
      out +=
          fmt::format("{} bytes from {}: icmp_seq={} ttl={} time={:.3f} ms\n", r.value("bytes", 0),
                      str(r, "from"), seq, r.value("ttl", 0), r.value("time_ms", 0.0));
    else if (res == "local_error")
      out += fmt::format("icmp_seq={} local error: message too long, mtu={}\n", seq,
                         r.value("mtu", 0));
    else if (res == "error" && r.contains("mtu") && v6)  // as ping(8) words them
      out += fmt::format("From {} icmp_seq={} Packet too big: mtu={}\n", str(r, "from"), seq,
                         r.value("mtu", 0));
    else if (res == "error" && r.contains("mtu"))
      out += fmt::format("From {} icmp_seq={} Frag needed and DF set (mtu = {})\n", str(r, "from"),
                         seq, r.value("mtu", 0));
    else if (res == "error")
      out += fmt::format("From {} icmp_seq={} {} type {} code {}\n", str(r, "from"), seq,
                         v6 ? "ICMPv6" : "ICMP", r.value("type", 0), r.value("code", 0));
    else
      out += fmt::format("icmp_seq={} no answer within 1 s\n", seq);
  }
  out += fmt::format("{} packets transmitted, {} received", d.value("transmitted", 0),
                     d.value("received", 0));
  if (d.value("ignored", 0u))
    out += fmt::format(", {} other answers ignored", d["ignored"].get<uint64_t>());
  out += "\n";
  return out;
}

std::string batch(const json& d) {
  std::string out = fmt::format(
      "batch: {} changes ({} added, {} replaced, {} deleted), {} FIB prefixes "
      "changed in {:.3f} s",
      d.value("changes", 0ull), d.value("added", 0ull), d.value("replaced", 0ull),
      d.value("deleted", 0ull), d.value("fib_changes", 0ull), d.value("seconds", 0.0));
  if (d.contains("generation"))
    out += fmt::format(", generation {} (+{})", d["generation"].get<uint64_t>(),
                       d.value("generation_bumps", 0ull));
  return out + "\n";
}

std::string reload(const json& d) {
  std::string out = fmt::format(
      "reloaded {}: addresses +{} -{}, neighbours set {} removed {}, routes +{} ~{} -{} in "
      "{:.3f} s\n",
      str(d, "file"), d.value("addresses_added", 0ull), d.value("addresses_removed", 0ull),
      d.value("neighbours_set", 0ull), d.value("neighbours_removed", 0ull),
      d.value("routes_added", 0ull), d.value("routes_replaced", 0ull),
      d.value("routes_deleted", 0ull), d.value("seconds", 0.0));
  if (d.contains("restart_needed") && !d["restart_needed"].empty()) {
    out += "changed but not applied until restart:";
    for (const auto& k : d["restart_needed"]) out += " " + k.get<std::string>();
    out += "\n";
  }
  return out;
}

// What fpm show and mirror show have in common: the routes a daemon asked for.
std::string feed_lines(const json& d, const std::string& extra) {
  const json& m = d["messages"];
  std::string out = fmt::format(
      "  messages: route add {} del {}, nexthop add {} del {}, ignored {}{}\n",
      m.value("route_add", 0ull), m.value("route_del", 0ull), m.value("nexthop_add", 0ull),
      m.value("nexthop_del", 0ull), m.value("ignored", 0ull), extra);
  out += fmt::format("  routes: {} IPv4 {} IPv6 held, {} IPv4 {} IPv6 installed, {} next hops\n",
                     d["routes"].value("ipv4", 0ull), d["routes"].value("ipv6", 0ull),
                     d["installed"].value("ipv4", 0ull), d["installed"].value("ipv6", 0ull),
                     d.value("nexthops", 0ull));
  return out;
}

std::string feed_errors(const json& d) {
  std::string out;
  if (d.contains("ipv4ll") &&
      (d["ipv4ll"].value("mapped", 0ull) != 0 || d["ipv4ll"].value("waiting", 0ull) != 0))
    out += fmt::format("  169.254.0.1 onlink (RFC 5549): {} routes mapped, {} waiting\n",
                       d["ipv4ll"].value("mapped", 0ull), d["ipv4ll"].value("waiting", 0ull));
  if (d.contains("last_error")) out += "  last error: " + str(d, "last_error") + "\n";
  if (d.contains("last_unusable")) out += "  last unusable: " + str(d, "last_unusable") + "\n";
  return out;
}

// fpm show: the session as `show fpm counters` would, one fact per line.
std::string fpm_show(const json& d) {
  std::string out = fmt::format("fpm {} ({})\n", str(d, "listen"),
                                d.value("connected", false)
                                    ? "peer " + str(d, "peer") + ", connected " +
                                          std::to_string(d.value("connected_for_s", 0ull)) + " s"
                                    : std::string("no peer"));
  out += feed_lines(d, fmt::format("; frames {}", d.value("frames", 0ull)));
  out += fmt::format(
      "  resync: {}, stale {}, swept {}; connects {}, refused {}, errors {}, unusable {}, "
      "batches {} (failed {}, routes refused {})\n",
      str(d, "resync"), d.value("stale", 0ull), d.value("swept", 0ull), d.value("connects", 0ull),
      d.value("refused", 0ull), d.value("errors", 0ull), d.value("unusable", 0ull),
      d.value("batches", 0ull), d.value("batch_failures", 0ull), d.value("routes_refused", 0ull));
  return out + feed_errors(d);
}

// mirror show: the kernel route mirror, the same facts as fpm show where they are the same.
std::string mirror_show(const json& d) {
  const std::string protocols =
      d["protocols"].is_string() ? d["protocols"].get<std::string>() : [&] {
        std::string p;
        for (const auto& x : d["protocols"]) p += (p.empty() ? "" : " ") + x.get<std::string>();
        return p;
      }();
  const std::string ns = str(d, "netns");
  std::string out =
      fmt::format("kernel routes: table {} of {}, protocols: {}{}\n", d.value("table", 0u),
                  ns.empty() ? "routerd's namespace" : "netns " + ns, protocols,
                  d.value("dumping", false) ? " (dumping)" : "");
  out += feed_lines(d, fmt::format("; datagrams {}", d.value("datagrams", 0ull)));
  out += fmt::format(
      "  resync: {}, stale {}, swept {}; resyncs {}, overruns {} (receive buffer {} MiB), "
      "unusable {}, batches {} (failed {}, routes refused {})\n",
      str(d, "resync"), d.value("stale", 0ull), d.value("swept", 0ull), d.value("resyncs", 0ull),
      d.value("overruns", 0ull), d.value("receive_buffer", 0ull) >> 20, d.value("unusable", 0ull),
      d.value("batches", 0ull), d.value("batch_failures", 0ull), d.value("routes_refused", 0ull));
  return out + feed_errors(d);
}

using Formatter = std::string (*)(const json& data);
struct Format {
  Verb verb;
  Formatter text;
};

// One row per Verb, in Verb order, so a verb added to ROUTERD_VERBS without a format here
// fails to compile.
constexpr Format kFormats[] = {
    {Verb::addr_add, addr_change},
    {Verb::addr_del, addr_change},
    {Verb::addr_show, addresses},
    {Verb::route_add, nothing},
    {Verb::route_replace, nothing},
    {Verb::route_del, nothing},
    {Verb::route_show, routes},
    {Verb::route_show_exceptions, route_show_exceptions},
    {Verb::route_summary, route_summary},
    {Verb::route_flush_exceptions, route_flush_exceptions},
    {Verb::route_get, route_get_with_cache},
    {Verb::route_load, route_load},
    {Verb::neigh_add, nothing},
    {Verb::neigh_del, nothing},
    {Verb::neigh_show, neighbours},
    {Verb::link_show, links},
    {Verb::link_set, link_set},
    {Verb::ping, ping},
    {Verb::stats, stats},
    {Verb::batch, batch},
    {Verb::reload, reload},
    {Verb::fpm_show, fpm_show},
    {Verb::mirror_show, mirror_show},
    {Verb::tunnel_add, nothing},
    {Verb::tunnel_del, nothing},
    {Verb::tunnel_show, tunnels},
};
static_assert(std::size(kFormats) == kVerbCount, "every Verb needs a row in kFormats");
static_assert(
    [] {
      for (size_t i = 0; i < std::size(kFormats); ++i)
        if (size_t(kFormats[i].verb) != i) return false;
      return true;
    }(),
    "kFormats rows must be in Verb order: format_text indexes them by Verb");

}  // namespace

std::string format_text(Verb verb, const json& data) {
  return kFormats[size_t(verb)].text(data);
}

}  // namespace routerd
