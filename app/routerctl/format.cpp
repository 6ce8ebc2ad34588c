#include "format.hpp"

#include <fmt/format.h>

namespace routerd {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::string routes(const json& d) {
  std::string out;
  for (const auto& r : d) {
    out += str(r, "prefix");
    if (r.contains("via")) out += " via " + str(r, "via");
    out += " dev " + str(r, "dev") + " proto " + str(r, "proto");
    if (r.contains("src")) out += " src " + str(r, "src");
    out += "\n";
  }
  return out;
}

std::string route_get(const json& d) {
  std::string type = str(d, "type");
  std::string out = str(d, "dst");
  if (type == "unreachable") return out + " unreachable (no route)\n";
  if (type == "local") out += " local dev " + str(d, "dev");
  if (type == "broadcast") out += " broadcast (directed broadcasts are not forwarded)";
  if (type == "unicast") {
    if (d.contains("via")) out += " via " + str(d, "via");
    out += " dev " + str(d, "dev");
    if (d.contains("src")) out += " src " + str(d, "src");
    out += " route " + str(d, "route") + " proto " + str(d, "proto");
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
    for (const auto& a : p["addresses"]) out += " " + a.get<std::string>();
    out += "\n";
  }
  return out;
}

std::string links(const json& d) {
  std::string out;
  for (const auto& l : d)
    out += fmt::format(
        "{}: {}: state {} mtu {} link/ether {}\n    {} ({}) rxq {} txq {}{}\n",
        l.value("port_id", 0u), str(l, "name"), str(l, "link"), l.value("mtu", 0u), str(l, "mac"),
        str(l, "device"), str(l, "driver"), l.value("rx_queues", 0u), l.value("tx_queues", 0u),
        l.value("speed_mbps", 0u) ? fmt::format(" speed {} Mb/s", l["speed_mbps"].get<unsigned>())
                                  : "");
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
  for (const auto& w : d["workers"])
    out += fmt::format("worker {}: {} polls, {} with packets\n", w.value("worker", 0u),
                       w.value("polls", 0ull), w.value("busy_polls", 0ull));
  return out;
}

// " mtu 1300 expires 597s via 10.2.0.3 expires 299s\n": an exception's learnt parts.
std::string exception(const json& e) {
  std::string out;
  if (e.contains("mtu"))
    out += fmt::format(" mtu {} expires {}s", e.value("mtu", 0), e.value("mtu_expires_s", 0));
  if (e.contains("gateway"))
    out += fmt::format(" via {} expires {}s", str(e, "gateway"), e.value("gateway_expires_s", 0));
  return out + "\n";
}

}  // namespace

std::string format_text(const std::vector<std::string>& argv, const json& data) {
  const std::string obj = argv.empty() ? "" : argv[0];
  const std::string act = argv.size() > 1 ? argv[1] : "show";
  if (obj == "stats") return stats(data);
  if (obj == "ping") {
    std::string out =
        fmt::format("PING {} from {}: {} data bytes{}\n", str(data, "dst"), str(data, "src"),
                    data.value("size", 0), data.value("df", false) ? ", DF" : "");
    for (const auto& r : data["results"]) {
      const std::string res = r.value("result", std::string());
      const int seq = r.value("seq", 0);
      if (res == "reply")
        out += fmt::format("{} bytes from {}: icmp_seq={} ttl={} time={:.3f} ms\n",
                           r.value("bytes", 0), str(r, "from"), seq, r.value("ttl", 0),
                           r.value("time_ms", 0.0));
      else if (res == "local_error")
        out += fmt::format("icmp_seq={} local error: message too long, mtu={}\n", seq,
                           r.value("mtu", 0));
      else if (res == "error" && r.contains("mtu"))
        out += fmt::format("From {} icmp_seq={} Frag needed and DF set (mtu = {})\n",
                           str(r, "from"), seq, r.value("mtu", 0));
      else if (res == "error")
        out += fmt::format("From {} icmp_seq={} ICMP type {} code {}\n", str(r, "from"), seq,
                           r.value("type", 0), r.value("code", 0));
      else
        out += fmt::format("icmp_seq={} no answer within 1 s\n", seq);
    }
    out += fmt::format("{} packets transmitted, {} received\n", data.value("transmitted", 0),
                       data.value("received", 0));
    return out;
  }
  if (obj == "reload") {
    std::string out = fmt::format(
        "reloaded {}: addresses +{} -{}, neighbours set {} removed {}, routes +{} ~{} -{} in "
        "{:.3f} s\n",
        str(data, "file"), data.value("addresses_added", 0ull),
        data.value("addresses_removed", 0ull), data.value("neighbours_set", 0ull),
        data.value("neighbours_removed", 0ull), data.value("routes_added", 0ull),
        data.value("routes_replaced", 0ull), data.value("routes_deleted", 0ull),
        data.value("seconds", 0.0));
    if (data.contains("restart_needed") && !data["restart_needed"].empty()) {
      out += "changed but not applied until restart:";
      for (const auto& k : data["restart_needed"]) out += " " + k.get<std::string>();
      out += "\n";
    }
    return out;
  }
  if (obj == "batch")
    return fmt::format(
        "batch: {} changes ({} added, {} replaced, {} deleted), {} FIB prefixes "
        "changed in {:.3f} s\n",
        data.value("changes", 0ull), data.value("added", 0ull), data.value("replaced", 0ull),
        data.value("deleted", 0ull), data.value("fib_changes", 0ull), data.value("seconds", 0.0));
  if (obj == "route" || obj == "r") {
    if (act == "get") {
      std::string out = route_get(data);
      if (data.contains("exception")) out += "    cache" + exception(data["exception"]);
      return out;
    }
    if (act == "flush") return fmt::format("flushed {} exceptions\n", data.value("flushed", 0));
    if (act == "summary") {
      std::string out = fmt::format(
          "{} routes ({} connected, {} static), {} FIB prefixes, {} next hops\n"
          "generation {}, {} commits, {} route updates\nby prefix length:",
          data.value("routes", 0ull), data.value("connected", 0ull), data.value("static", 0ull),
          data.value("fib_prefixes", 0ull), data.value("next_hops", 0ull),
          data.value("generation", 0ull), data.value("commits", 0ull),
          data.value("route_updates", 0ull));
      const json& by = data["by_length"];
      for (int len = 0; len <= 32; ++len)
        if (by.contains(std::to_string(len)))
          out += fmt::format(" /{} {}", len, by[std::to_string(len)].get<uint64_t>());
      return out + "\n";
    }
    if (act == "show" && argv.size() > 2) {
      std::string out;
      for (const auto& e : data)
        out += str(e, "dst") + " (route " + str(e, "route") + ")" + exception(e);
      return out;
    }
    if (act == "load")
      return fmt::format("loaded {} routes ({} new, {} replaced) from {} in {:.2f} s\n",
                         data.value("routes", 0ull), data.value("added", 0ull),
                         data.value("replaced", 0ull), str(data, "file"),
                         data.value("seconds", 0.0));
    if (data.is_array()) return routes(data);
  }
  if (obj.rfind("neigh", 0) == 0 || obj == "n") {
    if (data.is_array()) return neighbours(data);
  }
  if (obj.rfind("addr", 0) == 0 || obj == "a") {
    if (data.is_array()) return addresses(data);
    if (data.contains("removed_routes") && !data["removed_routes"].empty()) {
      std::string out = "removed routes through this address:\n";
      return out + routes(data["removed_routes"]);
    }
  }
  if (obj == "link" || obj == "l") {
    if (act == "set")
      return data.contains("warning") ? "warning: " + str(data, "warning") + "\n" : "";
    return links(data);
  }
  return "";
}

}  // namespace routerd
