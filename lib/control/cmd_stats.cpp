// routerctl stats: every counter summed over the lcores that own them, read without locks.
#include <fmt/format.h>
#include <rte_ethdev.h>

#include <unistd.h>

#include <fstream>
#include <utility>

#include "commands.hpp"
#include "control.hpp"
#include "route_cache.hpp"

namespace routerd {

namespace {
// A route cache's counters, by the name they have in the totals ("hits") and, prefixed
// "cache_" (IPv4) or "cache6_" (IPv6), per worker.
const std::pair<const char*, Counter CacheCounters::*> kCacheCounters[] = {
    {"hits", &CacheCounters::hits},       {"misses", &CacheCounters::misses},
    {"stale", &CacheCounters::stale},     {"bypassed_bursts", &CacheCounters::bypassed_bursts},
    {"runs_on", &CacheCounters::runs_on}, {"runs_off", &CacheCounters::runs_off},
};

}  // namespace

// statm's second field, in pages (the kernel counts hugepages apart).
uint64_t Control::resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

nlohmann::json Control::stats_json() const {
  const uint32_t blocks = dp_.workers + 1;
  auto sum = [&](auto pick) {
    uint64_t s = 0;
    for (uint32_t i = 0; i < blocks; ++i) s += pick(dp_.stats[i]);
    return s;
  };
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : ports_) {
    uint16_t id = p.ref.id;
    nlohmann::json hw;
    rte_eth_stats es;
    if (rte_eth_stats_get(id, &es) == 0)
      hw = {{"ipackets", es.ipackets}, {"opackets", es.opackets},  {"ibytes", es.ibytes},
            {"obytes", es.obytes},     {"imissed", es.imissed},    {"ierrors", es.ierrors},
            {"oerrors", es.oerrors},   {"rx_nombuf", es.rx_nombuf}};
    ports.push_back(
        {{"name", p.ref.name},
         {"rx_packets", sum([&](const LcoreStats& s) { return s.rx[id].get(); })},
         {"tx_packets", sum([&](const LcoreStats& s) { return s.tx[id].get(); })},
         {"tx_originated", sum([&](const LcoreStats& s) { return s.originated[id].get(); })},
         {"dropped", sum([&](const LcoreStats& s) { return s.dropped[id].get(); })},
         {"hw", hw},
         {"multicast", rx_multicast_json(p.ref.port)},
         {"rss", rss_json(p.ref.port, ecmp_rss_families(p.ref.port))}});
  }
  nlohmann::json drops = nlohmann::json::object(), punts = nlohmann::json::object(),
                 events = nlohmann::json::object();
  for (size_t d = 0; d < kDropCount; ++d)
    drops[std::string(drop_name(Drop(d)))] =
        sum([&](const LcoreStats& s) { return s.drop[d].get(); });
  for (size_t p = 0; p < kPuntCount; ++p)
    punts[std::string(punt_name(Punt(p)))] =
        sum([&](const LcoreStats& s) { return s.punt[p].get(); });
  for (size_t e = 0; e < kEventCount; ++e)
    events[std::string(event_name(Event(e)))] =
        sum([&](const LcoreStats& s) { return s.event[e].get(); });
  nlohmann::json lcores = nlohmann::json::array();
  for (uint32_t i = 0; i < dp_.workers; ++i) {
    const LcoreStats& s = dp_.stats[i];
    const uint32_t lcore = s.lcore.load(std::memory_order_relaxed);
    nlohmann::json w = {
        {"worker", i},
        {"lcore", lcore == UINT32_MAX ? nlohmann::json(nullptr) : nlohmann::json(lcore)},
        {"polls", s.polls.get()},
        {"busy_polls", s.busy_polls.get()}};
    for (const auto& [name, counter] : kCacheCounters) {
      w[std::string("cache_") + name] = (s.cache.*counter).get();
      w[std::string("cache6_") + name] = (s.cache6.*counter).get();
    }
    lcores.push_back(std::move(w));
  }
  const bool on = dp_.params.route_cache;
  nlohmann::json cache = {{"enabled", on},
                          {"sets", on ? dp_.params.route_cache_sets : 0},
                          {"ways", on ? RouteCache::kWays : 0}};
  nlohmann::json cache6 = {{"enabled", on},
                           {"sets", on ? dp_.params.route_cache6_sets : 0},
                           {"ways", on ? RouteCache6::kWays : 0}};
  for (const auto& [name, counter] : kCacheCounters) {
    cache[name] = sum([c = counter](const LcoreStats& s) { return (s.cache.*c).get(); });
    cache6[name] = sum([c = counter](const LcoreStats& s) { return (s.cache6.*c).get(); });
  }
  const InvalidationStats inv = pub_.invalidation();
  return {{"generation", pub_.generation()},
          {"commits", pub_.commits()},
          {"route_updates", pub_.route_updates()},
          {"invalidation",
           {{"samples", inv.samples},
            {"p50_ns", inv.p50_ns},
            {"p99_ns", inv.p99_ns},
            {"max_ns", inv.max_ns},
            {"unobserved", inv.unobserved}}},
          {"route_cache", cache},
          {"route_cache6", cache6},
          {"routes", rib_.size()},
          {"routes_via_ipv6", rib_.count_via_ipv6()},
          {"fib_prefixes", dp_.fib.routes()},
          {"fib_in_place", dp_.fib.in_place()},
          {"fib_flips", dp_.fib.flips()},
          {"fib_standby_behind", pub_.fib_behind()},
          {"next_hops", pub_.slots_used()},
          {"neighbours", neigh_.entries().size()},
          {"neighbour_queued", neigh_.queued_packets()},
          {"routes6", rib6_.size()},
          {"fib6_prefixes", dp_.fib6.routes()},
          {"fib6_rebuilds", dp_.fib6.rebuilds()},
          {"fib6_parallel_fills", dp_.fib6.parallel_fills()},
          {"fib6_standby_behind", pub_.fib6_behind()},
          {"ecmp_groups", pub_.groups_used()},
          {"ecmp_member_downs", pub_.member_downs()},
          {"ecmp_member_ups", pub_.member_ups()},
          {"ecmp", {{"ipv4", groups_json(4)}, {"ipv6", groups_json(6)}}},
          {"neighbours6", neigh6_.entries().size()},
          {"neighbour6_queued", neigh6_.queued_packets()},
          {"punt_ring_used", rte_ring_count(dp_.punt)},
          {"reclaim_pending", pub_.reclaim_pending()},
          {"fragmented", sum([](const LcoreStats& s) { return s.fragmented.get(); })},
          {"fragments", sum([](const LcoreStats& s) { return s.fragments.get(); })},
          {"memory",
           {{"resident_bytes", resident_bytes()}, {"heap_reserved_bytes", heap_reserved_bytes_}}},
          {"ports", ports},
          {"drops", drops},
          {"punts", punts},
          {"events", events},
          {"route_feed", feed_ ? feed_stats_json() : nlohmann::json(nullptr)},
          {"workers", lcores}};
}

std::string Control::stats_summary() const {
  nlohmann::json s = stats_json();
  std::string out;
  for (const auto& p : s["ports"])
    out += fmt::format("{}: rx {} tx {} originated {} dropped {}; ", p["name"].get<std::string>(),
                       p["rx_packets"].get<uint64_t>(), p["tx_packets"].get<uint64_t>(),
                       p["tx_originated"].get<uint64_t>(), p["dropped"].get<uint64_t>());
  std::string reasons;
  for (const auto& [k, v] : s["drops"].items())
    if (v.get<uint64_t>()) reasons += fmt::format(" {}={}", k, v.get<uint64_t>());
  return out + "drops:" + (reasons.empty() ? " none" : reasons);
}

template <>
nlohmann::json Control::handle<Verb::stats>(const Request&) {
  return stats_json();
}

void Control::register_stats_commands(CommandTable& t) {
  t.control<Verb::stats>();
}

}  // namespace routerd
