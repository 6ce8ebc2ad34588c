#include "command.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace routerd;

namespace {
Request parse(std::initializer_list<const char*> w) {
  std::vector<std::string> v(w.begin(), w.end());
  return parse_request(v);
}
}  // namespace

TEST_CASE("route commands", "[api]") {
  Request r = parse({"route", "add", "10.9.0.0/16", "via", "10.1.0.2"});
  CHECK(r.verb == Verb::route_add);
  CHECK(r.prefix.str() == "10.9.0.0/16");
  CHECK(r.via == Ipv4(10, 1, 0, 2));
  CHECK(r.dev.empty());
  r = parse({"route", "replace", "default", "dev", "p1"});
  CHECK(r.verb == Verb::route_replace);
  CHECK(r.prefix.len == 0);
  CHECK(r.dev == "p1");
  r = parse({"route", "add", "10.1.2.3", "via", "10.1.0.2", "dev", "p0"});
  CHECK(r.prefix.str() == "10.1.2.3/32");
  CHECK(r.dev == "p0");
  CHECK(parse({"route", "del", "10.9.0.0/16"}).verb == Verb::route_del);
  CHECK(parse({"route", "delete", "10.9.0.0/16"}).verb == Verb::route_del);
  CHECK(parse({"route"}).verb == Verb::route_show);
  CHECK(parse({"route", "list"}).verb == Verb::route_show);
  r = parse({"route", "get", "10.9.1.1"});
  CHECK(r.verb == Verb::route_get);
  CHECK(r.addr == Ipv4(10, 9, 1, 1));
}

TEST_CASE("bad commands say what is wrong in one line", "[api]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.1/16", "via", "10.1.0.2"}),
                    Contains("host bits set") && Contains("10.9.0.0/16"));
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.0/33", "via", "10.1.0.2"}),
                    Contains("not an IPv4 prefix"));
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.0/16"}),
                    Contains("needs 'via GATEWAY' or 'dev PORT'"));
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.0/16", "via"}), Contains("needs a value"));
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.0/16", "via", "x"}),
                    Contains("not an IPv4 address"));
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.0/16", "gw", "1.2.3.4"}),
                    Contains("unexpected 'gw'"));
  CHECK_THROWS_WITH(parse({"route", "add", "10.9.0.0/16", "dev", "a", "dev", "b"}),
                    Contains("given twice"));
  CHECK_THROWS_WITH(parse({"route", "frob"}), Contains("unknown action 'frob'"));
  CHECK_THROWS_WITH(parse({"route", "flush"}), Contains("expected: route flush cache"));
  CHECK_THROWS_WITH(parse({"rout", "show"}), Contains("unknown object 'rout'"));
  CHECK_THROWS_WITH(parse({"neigh", "add", "10.1.0.9", "lladdr", "zz", "dev", "p0"}),
                    Contains("not a MAC address"));
  CHECK_THROWS_WITH(parse({"neigh", "add", "10.1.0.9", "lladdr", "ff:ff:ff:ff:ff:ff", "dev", "p0"}),
                    Contains("not a unicast MAC"));
  CHECK_THROWS_WITH(parse({"neigh", "add", "10.1.0.9", "lladdr", "02:00:00:00:00:01"}),
                    Contains("missing 'dev PORT'"));
  CHECK_THROWS_WITH(parse({"addr", "add", "10.1.0.1", "dev", "p0"}), Contains("prefix length"));
  CHECK_THROWS_WITH(parse({"addr", "add", "10.1.0.1/24"}), Contains("missing 'dev PORT'"));
  CHECK_THROWS_WITH(parse({"stats", "now"}), Contains("unexpected 'now'"));
  CHECK_THROWS_AS(parse({}), CommandError);
}

TEST_CASE("addr, neigh, link, stats", "[api]") {
  Request r = parse({"addr", "add", "10.4.0.1/24", "dev", "p0"});
  CHECK(r.verb == Verb::addr_add);
  CHECK(r.addr == Ipv4(10, 4, 0, 1));
  CHECK(r.prefix.str() == "10.4.0.0/24");
  CHECK(parse({"addr", "show", "dev", "p0"}).dev == "p0");
  r = parse({"neigh", "add", "10.1.0.9", "lladdr", "02:00:00:00:00:09", "dev", "p0"});
  CHECK(r.verb == Verb::neigh_add);
  CHECK(r.lladdr.str() == "02:00:00:00:00:09");
  CHECK(parse({"neighbour", "del", "10.1.0.9"}).verb == Verb::neigh_del);
  CHECK(parse({"link", "show", "p1"}).dev == "p1");
  CHECK(parse({"link", "show", "dev", "p1"}).dev == "p1");
  CHECK(parse({"link"}).verb == Verb::link_show);
  CHECK(parse({"stats"}).verb == Verb::stats);
}

TEST_CASE("docs/cli.md documents every command", "[api][docs]") {
  std::ifstream f(std::string(ROUTERD_SOURCE_ROOT) + "/docs/cli.md");
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string doc = ss.str();
  for (const auto& h : command_help()) {
    INFO(h.command);
    CHECK(doc.find(std::string("routerctl ") + h.command) != std::string::npos);
  }
}

TEST_CASE("batch: route changes only, errors by line number", "[command]") {
  Request r = parse_request({"batch", "# comment", "", "route add 10.0.0.0/8 via 10.1.0.2",
                             "  route replace 10.0.0.0/8 dev p1  # trailing", "r del 10.0.0.0/8"});
  CHECK(r.verb == Verb::batch);
  REQUIRE(r.batch.size() == 3);
  CHECK(r.batch[0].line == 3);
  CHECK(r.batch[0].req.verb == Verb::route_add);
  CHECK(r.batch[1].line == 4);
  CHECK(r.batch[1].req.verb == Verb::route_replace);
  CHECK(r.batch[1].req.dev == "p1");
  CHECK(r.batch[2].req.verb == Verb::route_del);
  auto err = [](const std::vector<std::string>& w) {
    try {
      parse_request(w);
    } catch (const CommandError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err({"batch", "route add 10.0.0.0/8 via 10.1.0.2", "route add 10.0.0.1/8 via 10.1.0.2"})
            .rfind("line 2: route add: ", 0) == 0);
  CHECK(err({"batch", "stats"}) ==
        "line 1: only route add, route replace and route del may appear in a batch (they are "
        "applied as one atomic change)");
  CHECK(err({"batch", "route load /x"}).rfind("line 1: only route", 0) == 0);
  CHECK(err({"batch", "frobnicate"}).rfind("line 1: unknown object", 0) == 0);
  CHECK(parse_request({"batch"}).batch.empty());
}

TEST_CASE("route mtu and link set mtu", "[api]") {
  Request r = parse({"route", "add", "10.9.0.0/16", "via", "10.1.0.2", "mtu", "1400"});
  CHECK(r.mtu == 1400);
  r = parse({"route", "replace", "10.9.0.0/16", "mtu", "68", "dev", "p1"});
  CHECK(r.mtu == 68);
  CHECK(r.dev == "p1");
  CHECK(parse({"route", "add", "10.9.0.0/16", "dev", "p1"}).mtu == 0);
  r = parse({"link", "set", "p1", "mtu", "9000"});
  CHECK(r.verb == Verb::link_set);
  CHECK(r.dev == "p1");
  CHECK(r.mtu == 9000);
  CHECK(parse({"link", "set", "dev", "p1", "mtu", "1300"}).mtu == 1300);
  auto err = [](std::initializer_list<const char*> w) {
    try {
      parse(w);
    } catch (const CommandError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err({"route", "add", "10.9.0.0/16", "dev", "p1", "mtu", "67"}) ==
        "route add: '67' is not an MTU (68..65535)");
  CHECK(err({"route", "add", "10.9.0.0/16", "dev", "p1", "mtu", "1400", "mtu", "1300"}) ==
        "route add: 'mtu' given twice");
  CHECK(err({"link", "set", "p1", "mtu", "65536"}) ==
        "link set: '65536' is not an MTU (68..65535)");
  CHECK(err({"link", "set", "p1", "mtu"}) == "link set: expected: link set PORT mtu N");
  CHECK(err({"link", "set"}) == "link set: missing PORT");
}
