#include "telemetry.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace routerd;
using nlohmann::json;

namespace {

// Answers like the control thread would, and records what it was asked.
struct FakeControl {  // NOLINT(bugprone-exception-escape): json members, a test double
  std::vector<std::vector<std::string>> asked;
  json feed = nullptr;  // stats' route_feed: null when no feed is configured
  Telemetry::Call call() {
    return [this](const std::vector<std::string>& argv) -> json {
      asked.push_back(argv);
      if (argv[0] == "stats")
        return {{"generation", 7},
                {"commits", 3},
                {"route_cache", {{"hits", 10}, {"misses", 2}}},
                {"invalidation", {{"p99_ns", 1500}}},
                {"ports", json::array({{{"name", "p0"}, {"hw", {{"ipackets", 5}}}}})},
                {"route_feed", feed},
                {"workers", json::array({{{"worker", 0}, {"polls", 99}}})}};
      if (argv[0] == "route") return {{"routes", 4}, {"by_length", {{"24", 3}, {"0", 1}}}};
      return json::array({{{"dst", "10.1.0.2"}, {"dev", argv.size() > 3 ? argv[3] : "p0"}}});
    };
  }
};

}  // namespace

TEST_CASE("telemetry commands map to routerctl commands", "[telemetry]") {
  FakeControl fc;
  auto call = fc.call();

  json stats = Telemetry::answer(call, "/routerd/stats");
  CHECK(stats["generation"] == 7);
  CHECK_FALSE(stats.contains("workers"));  // they are /routerd/lcores
  CHECK(fc.asked.back() == std::vector<std::string>{"stats"});

  json lcores = Telemetry::answer(call, "/routerd/lcores");
  REQUIRE(lcores.is_array());
  CHECK(lcores[0]["polls"] == 99);

  json routes = Telemetry::answer(call, "/routerd/routes");
  CHECK(fc.asked.back() == std::vector<std::string>{"route", "summary"});
  CHECK(routes["by_length"]["24"] == 3);

  json cache = Telemetry::answer(call, "/routerd/cache");
  CHECK(cache["hits"] == 10);
  CHECK(cache["invalidation"]["p99_ns"] == 1500);
  CHECK(cache["generation"] == 7);

  // No routing daemon feed configured: said so, not an error.
  json feed = Telemetry::answer(call, "/routerd/route_feed");
  CHECK(fc.asked.back() == std::vector<std::string>{"stats"});
  CHECK(feed == json{{"feed", "none"}});
  fc.feed = {{"feed", "fpm"}, {"connected", true}, {"routes_refused", 2}};
  feed = Telemetry::answer(call, "/routerd/route_feed");
  CHECK(feed["feed"] == "fpm");
  CHECK(feed["routes_refused"] == 2);

  Telemetry::answer(call, "/routerd/neighbours,p1");
  CHECK(fc.asked.back() == std::vector<std::string>{"neigh", "show", "dev", "p1"});

  CHECK_THROWS_WITH(Telemetry::answer(call, "/routerd/stats,x"),
                    Catch::Contains("takes no parameters"));
  CHECK_THROWS_WITH(Telemetry::answer(call, "/routerd/nope"), Catch::Contains("unknown command"));
}

TEST_CASE("telemetry help texts fit DPDK's limit", "[telemetry]") {
  // rte_telemetry_register_cmd refuses a help text of 128 bytes or more.
  for (const auto& [cmd, help] : Telemetry::commands()) CHECK(help.size() < RTE_TEL_MAX_STRING_LEN);
}

TEST_CASE("telemetry data stays within DPDK 22.11's limits", "[telemetry]") {
  auto convert = [](const json& j) {
    rte_tel_data* d = rte_tel_data_alloc();
    REQUIRE(d != nullptr);
    std::vector<rte_tel_data*> owned;
    bool ok = Telemetry::to_tel(j, d, &owned);
    for (auto* c : owned) rte_tel_data_free(c);
    rte_tel_data_free(d);
    return ok;
  };
  // Nesting deeper than one container level is flattened, not refused.
  CHECK(convert({{"a", 1},
                 {"b", {{"c", {{"d", 2}}}, {"e", json::array({1, 2})}}},
                 {"f", json::array({{{"g", {{"h", "x"}}}}})},
                 {"neg", -5},
                 {"big_neg", -5000000000LL},
                 {"pi", 3.25},
                 {"yes", true},
                 {"odd name.with/stuff", "v"}}));
  CHECK(convert(json::array({1, 2, 3})));
  CHECK(convert(json::array({"a", 1})));
  CHECK(convert(json::array({json{{"name", "p0"}, {"x", 1}}, 5})));
  CHECK(convert("just a string"));
  // Over the limits: reported, never a crash.
  json wide = json::object();
  for (int i = 0; i < 300; ++i) wide["k" + std::to_string(i)] = i;
  CHECK_FALSE(convert(wide));
  json longer = json::array();
  for (int i = 0; i < 600; ++i) longer.push_back(i);
  CHECK_FALSE(convert(longer));
  json many = json::array();
  for (int i = 0; i < 300; ++i) many.push_back({{"worker", i}});
  CHECK_FALSE(convert(many));
}
