#include "metrics.hpp"

#include <catch2/catch.hpp>

#include <httplib.h>

#include <set>
#include <sstream>
#include <string>

using namespace routerd;
using nlohmann::json;

namespace {

json sample_stats() {
  return {
      {"generation", 8},
      {"commits", 7},
      {"route_updates", 13},
      {"routes", 4},
      {"fib_prefixes", 13},
      {"next_hops", 8},
      {"neighbours", 3},
      {"neighbour_queued", 0},
      {"punt_ring_used", 0},
      {"reclaim_pending", 1},
      {"fragmented", 2},
      {"fragments", 4},
      {"invalidation",
       {{"samples", 4}, {"p50_ns", 2170}, {"p99_ns", 34440}, {"max_ns", 34440}, {"unobserved", 0}}},
      {"route_cache", {{"enabled", true}, {"hits", 21}}},
      {"ports", json::array({{{"name", "p0"},
                              {"rx_packets", 26},
                              {"tx_packets", 24},
                              {"dropped", 2},
                              {"hw", {{"ipackets", 28}, {"obytes", 2500}}}},
                             {{"name", "we\"ird"}, {"rx_packets", 1}, {"hw", nullptr}}})},
      {"drops", {{"no_route", 5}, {"ttl_exceeded", 0}}},
      {"punts", {{"arp", 3}}},
      {"events", {{"arp_received", 3}}},
      {"workers", json::array({{{"worker", 0},
                                {"lcore", 1},
                                {"polls", 99},
                                {"busy_polls", 9},
                                {"cache_hits", 21},
                                {"cache_runs_on", 1},
                                {"cache_runs_off", 2}}})}};
}

}  // namespace

TEST_CASE("Prometheus exposition of routerd's counters", "[metrics]") {
  const std::string t = prometheus_text(sample_stats());
  auto has = [&](const std::string& line) {
    INFO(line);
    CHECK(t.find(line + "\n") != std::string::npos);
  };
  has("# TYPE routerd_port_rx_packets_total counter");
  has("routerd_port_rx_packets_total{port=\"p0\"} 26");
  has("routerd_port_tx_packets_total{port=\"p0\"} 24");
  has("routerd_port_dropped_packets_total{port=\"p0\"} 2");
  has("routerd_device_rx_packets_total{port=\"p0\"} 28");
  has("routerd_device_tx_bytes_total{port=\"p0\"} 2500");
  has("routerd_port_rx_packets_total{port=\"we\\\"ird\"} 1");  // label values escaped
  has("routerd_dropped_packets_total{reason=\"no_route\"} 5");
  has("routerd_dropped_packets_total{reason=\"ttl_exceeded\"} 0");
  has("routerd_punted_packets_total{reason=\"arp\"} 3");
  has("routerd_events_total{event=\"arp_received\"} 3");
  has("routerd_lcore_polls_total{lcore=\"1\"} 99");
  has("routerd_route_cache_hits_total{lcore=\"1\"} 21");
  has("routerd_route_cache_decisions_total{lcore=\"1\",choice=\"off\"} 2");
  has("routerd_route_cache_enabled 1");
  has("# TYPE routerd_routes gauge");
  has("routerd_routes 4");
  has("routerd_commits_total 7");
  has("routerd_fragments_sent_total 4");
  has("routerd_invalidation_latency_seconds{quantile=\"0.99\"} 3.444e-05");

  // Every sample line belongs to a family declared once, before its samples, with HELP.
  std::istringstream in(t);
  std::string line;
  std::set<std::string> typed, helped;
  int samples = 0;
  while (std::getline(in, line)) {
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      CHECK(helped.insert(line.substr(7, line.find(' ', 7) - 7)).second);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      CHECK(typed.insert(line.substr(7, line.find(' ', 7) - 7)).second);
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    INFO(line);
    CHECK(typed.count(name) == 1);
    CHECK(helped.count(name) == 1);
    CHECK(name.rfind("routerd_", 0) == 0);
    ++samples;
  }
  CHECK(samples > 30);
}

TEST_CASE("the metrics endpoint serves the exposition and reports failures", "[metrics]") {
  int calls = 0;
  bool fail = false;
  MetricsServer srv("127.0.0.1:39517", [&](const std::vector<std::string>& argv) {
    ++calls;
    REQUIRE(argv == std::vector<std::string>{"stats"});
    if (fail) throw std::runtime_error("routerd is shutting down");
    return sample_stats();
  });
  httplib::Client cli("127.0.0.1", 39517);
  auto r = cli.Get("/metrics");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type").find("text/plain; version=0.0.4") == 0);
  CHECK(r->body == prometheus_text(sample_stats()));
  fail = true;
  r = cli.Get("/metrics");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body.find("shutting down") != std::string::npos);
  CHECK(calls == 2);
  // A second server on the same address is refused with the reason.
  CHECK_THROWS_WITH(MetricsServer("127.0.0.1:39517",
                                  [](const std::vector<std::string>&) { return json::object(); }),
                    Catch::Contains("metrics_listen 127.0.0.1:39517: cannot listen"));
}
