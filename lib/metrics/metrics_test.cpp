#include "metrics.hpp"

#include <catch2/catch.hpp>

#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fd_exhaustion.hpp"

using namespace routerd;
using nlohmann::json;

namespace {

json sample_stats() {
  return {
      {"generation", 8},
      {"commits", 7},
      {"route_updates", 13},
      {"fib_in_place", 11},
      {"fib_flips", 2},
      {"fib_standby_behind", 0},
      {"fib6_standby_behind", 4096},
      {"routes", 4},
      {"routes_via_ipv6", 2},
      {"fib_prefixes", 13},
      {"next_hops", 8},
      {"neighbours", 3},
      {"neighbour_queued", 0},
      {"punt_ring_used", 0},
      {"reclaim_pending", 1},
      {"fragmented", 2},
      {"fragments", 4},
      {"memory", {{"resident_bytes", 567279616}, {"heap_reserved_bytes", 536870912}}},
      {"invalidation",
       {{"samples", 4}, {"p50_ns", 2170}, {"p99_ns", 34440}, {"max_ns", 34440}, {"unobserved", 0}}},
      {"route_cache", {{"enabled", true}, {"hits", 21}}},
      {"route_feed",
       {{"feed", "fpm"},
        {"connected", false},
        {"held", {{"ipv4", 901899}, {"ipv6", 160147}}},
        {"installed", {{"ipv4", 901899}, {"ipv6", 150000}}},
        {"batches", 59},
        {"batch_failures", 1},
        {"routes_refused", 10147},
        {"unusable", 3},
        {"stale", 0},
        {"swept", 12}}},
      {"ports", json::array({{{"name", "p0"},
                              {"rx_packets", 26},
                              {"tx_packets", 24},
                              {"tx_originated", 3},
                              {"dropped", 2},
                              {"hw", {{"ipackets", 28}, {"obytes", 2500}}},
                              {"multicast", {{"mode", "filter"}, {"groups", 4}}},
                              {"rss", {{"types", {"ipv4", "nonfrag_ipv6_udp"}}, {"ecmp", {6}}}}},
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
                                {"cache_runs_off", 2},
                                {"cache6_hits", 5},
                                {"cache6_runs_on", 3}}})}};
}

}  // namespace

TEST_CASE("Prometheus exposition of routerd's counters", "[metrics]") {
  const std::string t = prometheus_text(sample_stats());
  auto has = [&](const std::string& line) {
    INFO(line);
    CHECK(t.find(line + "\n") != std::string::npos);
  };
  has("# TYPE routerd_port_rx_packets_total counter");
  has("# TYPE routerd_routes_via_ipv6 gauge");
  has("routerd_routes_via_ipv6 2");
  has("routerd_port_rx_packets_total{port=\"p0\"} 26");
  has("routerd_port_tx_packets_total{port=\"p0\"} 24");
  has("routerd_port_tx_originated_packets_total{port=\"p0\"} 3");
  has("routerd_port_dropped_packets_total{port=\"p0\"} 2");
  has("routerd_device_rx_packets_total{port=\"p0\"} 28");
  has("routerd_device_tx_bytes_total{port=\"p0\"} 2500");
  has("routerd_port_rx_packets_total{port=\"we\\\"ird\"} 1");  // label values escaped
  has("# TYPE routerd_port_multicast_mode gauge");
  has("routerd_port_multicast_mode{port=\"p0\",mode=\"filter\"} 1");
  has("routerd_port_multicast_groups{port=\"p0\"} 4");
  has("# TYPE routerd_port_rss_hash_type gauge");
  has("routerd_port_rss_hash_type{port=\"p0\",type=\"ipv4\"} 1");
  has("routerd_port_rss_hash_type{port=\"p0\",type=\"nonfrag_ipv6_udp\"} 1");
  has("# TYPE routerd_port_ecmp_rss gauge");
  has("routerd_port_ecmp_rss{port=\"p0\",family=\"6\"} 1");
  CHECK(t.find("routerd_port_ecmp_rss{port=\"p0\",family=\"4\"}") == std::string::npos);
  CHECK(t.find("routerd_port_multicast_groups{port=\"we") == std::string::npos);  // none given
  has("routerd_dropped_packets_total{reason=\"no_route\"} 5");
  has("routerd_dropped_packets_total{reason=\"ttl_exceeded\"} 0");
  has("routerd_punted_packets_total{reason=\"arp\"} 3");
  has("routerd_events_total{event=\"arp_received\"} 3");
  has("routerd_lcore_polls_total{lcore=\"1\"} 99");
  has("routerd_route_cache_hits_total{lcore=\"1\",family=\"ipv4\"} 21");
  has("routerd_route_cache_hits_total{lcore=\"1\",family=\"ipv6\"} 5");
  has("routerd_route_cache_decisions_total{lcore=\"1\",family=\"ipv4\",choice=\"off\"} 2");
  has("routerd_route_cache_decisions_total{lcore=\"1\",family=\"ipv6\",choice=\"on\"} 3");
  has("routerd_route_cache_enabled 1");
  has("# TYPE routerd_routes gauge");
  has("routerd_routes 4");
  has("routerd_commits_total 7");
  has("routerd_fib_in_place_total 11");
  has("routerd_fib_flips_total 2");
  has("# TYPE routerd_ipv6_fib_standby_behind_ops gauge\nrouterd_ipv6_fib_standby_behind_ops 4096");
  has("routerd_fib_standby_behind_ops 0");
  has("routerd_fragments_sent_total 4");
  has("# TYPE routerd_resident_memory_bytes gauge\nrouterd_resident_memory_bytes 567279616");
  has("# TYPE routerd_heap_reserved_bytes gauge\nrouterd_heap_reserved_bytes 536870912");
  has("routerd_invalidation_latency_seconds{quantile=\"0.99\"} 3.444e-05");
  has("# TYPE routerd_route_feed_connected gauge\nrouterd_route_feed_connected{feed=\"fpm\"} 0");
  has("routerd_route_feed_routes{feed=\"fpm\",family=\"6\",state=\"held\"} 160147");
  has("routerd_route_feed_routes{feed=\"fpm\",family=\"6\",state=\"installed\"} 150000");
  has("routerd_route_feed_routes{feed=\"fpm\",family=\"4\",state=\"installed\"} 901899");
  has("routerd_route_feed_batch_failures_total{feed=\"fpm\"} 1");
  has("routerd_route_feed_routes_refused_total{feed=\"fpm\"} 10147");
  has("routerd_route_feed_swept_total{feed=\"fpm\"} 12");
  // Without a feed (stats' route_feed is null), no feed family at all.
  json none = sample_stats();
  none["route_feed"] = nullptr;
  CHECK(prometheus_text(none).find("routerd_route_feed") == std::string::npos);

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

// Issue 13, defect 6: the endpoint had no limits. A 512 MiB POST raised routerd's RSS by
// 520 MB, two clients sending their headers slowly made every scrape time out, and 1,006
// idle connections took all of routerd's descriptors while a thread spun on accept().
namespace {

int connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// What the server sends until it closes or `ms` pass; *closed tells which.
std::string read_until_close(int fd, int ms, bool* closed = nullptr) {
  std::string out;
  if (closed) *closed = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          end - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, int(left)) <= 0) return out;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (closed) *closed = true;
      return out;
    }
    out.append(buf, size_t(n));
  }
}

struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds) close(fd);
  }
};

json stats_call(const std::vector<std::string>&) {
  return sample_stats();
}

}  // namespace

TEST_CASE("the metrics endpoint refuses request bodies before reading them", "[metrics]") {
  MetricsServer srv("127.0.0.1:39518", stats_call);
  const int fd = connect_tcp(39518);
  const std::string req = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 536870912\r\n\r\n";
  REQUIRE(write(fd, req.data(), req.size()) == ssize_t(req.size()));
  // Answered at once, without the body (a server waiting for 512 MiB would say nothing).
  const std::string got = read_until_close(fd, 4000);
  close(fd);
  CHECK_THAT(got, Catch::StartsWith("HTTP/1.1 413 "));
  httplib::Client cli("127.0.0.1", 39518);
  auto r = cli.Put("/metrics", "x", "text/plain");
  REQUIRE(r);
  CHECK(r->status == 413);
  r = cli.Delete("/metrics");
  REQUIRE(r);
  CHECK(r->status == 405);
  r = cli.Get("/nope");
  REQUIRE(r);
  CHECK(r->status == 404);
  // Oversized headers get 431 and the connection is closed.
  const int big = connect_tcp(39518);
  const std::string hdr = "GET /metrics HTTP/1.1\r\nX: " + std::string(10000, 'a');
  REQUIRE(write(big, hdr.data(), hdr.size()) == ssize_t(hdr.size()));
  CHECK_THAT(read_until_close(big, 4000), Catch::StartsWith("HTTP/1.1 431 "));
  close(big);
}

TEST_CASE("clients that send their headers slowly do not hold up a scrape", "[metrics]") {
  MetricsServer srv("127.0.0.1:39519", stats_call);
  Fds slow;
  for (int i = 0; i < 4; ++i) {
    slow.fds.push_back(connect_tcp(39519));
    REQUIRE(write(slow.fds.back(), "GET /metrics HTTP/1.1\r\n", 23) == 23);
  }
  std::atomic<bool> stop{false};
  std::thread dribbler([&] {
    for (int n = 0; !stop; ++n) {
      for (int fd : slow.fds)
        if (write(fd, "X", 1) != 1) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The slow clients hold their connections until their 5 s request deadline; a scrape is
  // answered long before that (with a pool of two threads it waited for ever).
  httplib::Client cli("127.0.0.1", 39519);
  cli.set_read_timeout(4, 0);
  auto r = cli.Get("/metrics");
  stop = true;
  dribbler.join();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == prometheus_text(sample_stats()));
  // And the dribblers are cut off at their deadline: the server closes them.
  for (int fd : slow.fds) {
    bool closed = false;
    CHECK(read_until_close(fd, 10000, &closed).find("200 OK") == std::string::npos);
    CHECK(closed);
  }
}

TEST_CASE("connections beyond the limit get 503, and keep-alive ends after 100 requests",
          "[metrics]") {
  MetricsServer srv("127.0.0.1:39520", stats_call);
  {
    Fds idle;
    for (size_t i = 0; i < kMetricsMaxConnections; ++i) idle.fds.push_back(connect_tcp(39520));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const int extra = connect_tcp(39520);
    CHECK_THAT(read_until_close(extra, 4000), Catch::StartsWith("HTTP/1.1 503 "));
    close(extra);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server sees them go
  httplib::Client cli("127.0.0.1", 39520);
  cli.set_keep_alive(true);
  std::string last;
  for (unsigned i = 0; i < kMetricsKeepAliveRequests; ++i) {
    auto r = cli.Get("/metrics");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    last = r->get_header_value("Connection");
    if (i + 1 < kMetricsKeepAliveRequests) REQUIRE(last == "keep-alive");
  }
  CHECK(last == "close");
}

TEST_CASE("out of descriptors, the metrics accept loop backs off instead of spinning",
          "[metrics]") {
  MetricsServer srv("127.0.0.1:39521", stats_call);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client >= 0);
  // Fill the descriptor table up to a lowered limit, then connect: accept() gets EMFILE.
  testing::FdExhaustion fill(client, 256);
  REQUIRE(fill.exhausted());
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(39521);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const long used = testing::cpu_us_while_sleeping(std::chrono::seconds(1));
  // Descriptors back: the waiting connection is served.
  REQUIRE(fill.release());
  INFO("CPU used while accept() failed for 1 s: " << used << " us");
  CHECK(used < 300000);  // a spinning loop uses the whole second
  const std::string req = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  REQUIRE(write(client, req.data(), req.size()) == ssize_t(req.size()));
  CHECK_THAT(read_until_close(client, 5000), Catch::StartsWith("HTTP/1.1 200 "));
  close(client);
}
