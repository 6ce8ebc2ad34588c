#include "routefile.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

using namespace routerd;

namespace {

std::string hex(int i) {
  char b[8];
  std::snprintf(b, sizeof b, "%x", i);
  return b;
}

std::string fmt_v4(int i) {
  return "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24 via 10.1.0.2\n";
}

}  // namespace

TEST_CASE("route files: syntax of route add, comments, CRLF, sorted", "[api][routefile]") {
  std::string text =
      "# full table\r\n"
      "10.9.0.0/16 via 10.1.0.2\r\n"
      "\r\n"
      "   10.8.0.0/16   dev p1  \n"
      "default via 10.1.0.3 dev p0\n"
      "10.7.0.1 via 10.1.0.2";  // no final newline, bare address = /32
  auto v = parse_route_text(text, "t.routes");
  REQUIRE(v.size() == 4);
  CHECK(v[0].prefix.str() == "0.0.0.0/0");
  CHECK(v[0].dev == "p0");
  CHECK(v[0].line == 5);
  CHECK(v[1].prefix.str() == "10.7.0.1/32");
  CHECK(v[2].prefix.str() == "10.8.0.0/16");
  CHECK_FALSE(v[2].via);
  CHECK(v[3].via == Ipv4(10, 1, 0, 2));
  CHECK(v[3].line == 2);
}

TEST_CASE("route files: a CR or other white space inside a line separates words",
          "[api][routefile]") {
  // Found by the routefile fuzz target: "dev 0\r " made a port named "0\r".
  auto v = parse_route_text("192.167.0.0/16 dev p0\r \n10.1.0.0/16\vdev\fp1\r\r\n", "t");
  REQUIRE(v.size() == 2);
  CHECK(v[0].dev == "p1");
  CHECK(v[1].dev == "p0");
}

TEST_CASE("route files: ECMP lines of up to 64 next hops with dev and weight",
          "[api][routefile][ecmp]") {
  using Catch::Contains;
  std::string eight = "10.0.0.0/8";
  for (int i = 2; i < 10; ++i)
    eight += " nexthop via 10.1.0." + std::to_string(i) + " dev p1 weight " + std::to_string(i);
  auto v = parse_route_text(eight + " mtu 1400\n11.0.0.0/8 via 10.1.0.2\n", "t");
  REQUIRE(v.size() == 2);
  REQUIRE(v[0].nexthops.size() == 8);
  CHECK(v[0].nexthops[7].via == Ipv4(10, 1, 0, 9));
  CHECK(v[0].nexthops[7].dev == "p1");
  CHECK(v[0].nexthops[7].weight == 9);
  CHECK(v[0].mtu == 1400);
  CHECK(v[1].via == Ipv4(10, 1, 0, 2));
  // The longest line there can be: 64 RFC 5549 next hops of 8 words, and mtu (as the CLI
  // and batch take it).
  std::string full = "10.0.0.0/8";
  for (int i = 0; i < 64; ++i)
    full += " nexthop via inet6 fe80::" + std::to_string(i + 1) + " dev p1 weight 256";
  v = parse_route_text(full + " mtu 9000\n", "t");
  REQUIRE(v.size() == 1);
  CHECK(v[0].nexthops.size() == 64);
  CHECK(v[0].nexthops[63].via6 == Ipv6::parse("fe80::64"));
  CHECK_THROWS_WITH(parse_route_text(full + " nexthop via 10.2.0.2\n", "t"),
                    Contains("t:1:") && Contains("more than 64 nexthops"));
  // Beyond what the split keeps (a 65th next hop fits, for the grammar to name), the line
  // is refused as too long.
  CHECK_THROWS_WITH(
      parse_route_text(full + " nexthop via inet6 fe80::99 dev p1 weight 1 nexthop via " +
                           "10.2.0.3 dev p1 weight 1\n",
                       "t"),
      Contains("t:1: too many words"));
}

TEST_CASE("route files: the first bad line is named and nothing is returned", "[api][routefile]") {
  using Catch::Contains;
  std::string text;
  for (int i = 0; i < 50000; ++i)
    text +=
        "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24 via 10.1.0.2\n";
  CHECK(parse_route_text(text, "big").size() == 50000);
  std::string bad = text + "10.300.0.0/16 via 10.1.0.2\n" + text.substr(0, 100) + "x\n";
  CHECK_THROWS_WITH(parse_route_text(bad, "big"),
                    Contains("big:50001:") && Contains("not an IPv4 prefix"));
  CHECK_THROWS_WITH(parse_route_text("10.0.0.0/8\n", "f"),
                    Contains("f:1: needs 'via GATEWAY' or 'dev PORT'"));
  CHECK_THROWS_WITH(parse_route_text("\n10.0.0.1/8 via 1.2.3.4\n", "f"),
                    Contains("f:2:") && Contains("host bits"));
  CHECK_THROWS_WITH(parse_route_text("10.0.0.0/8 via 1.2.3.4 via 1.2.3.5\n", "f"),
                    Contains("given twice"));
  CHECK_THROWS_WITH(parse_route_text("10.0.0.0/8 via 1.2.3.4 metric 5\n", "f"),
                    Contains("unexpected 'metric'"));
  CHECK_THROWS_WITH(
      parse_route_text("10.0.0.0/8 dev p0\n11.0.0.0/8 dev p0\n10.0.0.0/8 via 1.2.3.4\n", "f"),
      Contains("f:3: 10.0.0.0/8 already given on line 1"));
  CHECK_THROWS_WITH(parse_route_file("/nonexistent/routes"), Contains("cannot read"));
}

// Issue 13, defect 14: routerd reads route files as root. `route load /etc/shadow` echoed the
// file's first line in its error, and /dev/zero grew routerd's memory without bound.
TEST_CASE("route files: only regular files of bounded size; errors quote a short excerpt",
          "[api][routefile]") {
  using Catch::Contains;
  const std::string dir = "/tmp/routerd-routefile-test-" + std::to_string(getpid());
  mkdir(dir.c_str(), 0700);
  const std::string secret = dir + "/shadow";
  const std::string line1 = "root:$y$j9T$SECRETSALTSECRETSALT$HASHHASHHASHHASHHASHHASH:19000:0:::";
  std::ofstream(secret) << line1 << "\n";
  std::string err;
  try {
    parse_route_file(secret);
  } catch (const CommandError& e) {
    err = e.what();
  }
  INFO(err);
  CHECK_THAT(err, Contains(secret + ":1:"));
  CHECK(err.find("SECRETSALT") == std::string::npos);  // at most the first 20 characters
  CHECK_THAT(err, Contains("'root:$y$j9T$SECRETSA...'"));

  CHECK_THROWS_WITH(parse_route_file("/dev/zero"), Contains("/dev/zero: not a regular file"));
  const std::string fifo = dir + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(parse_route_file(fifo), Contains("not a regular file"));  // and no hang
  CHECK_THROWS_WITH(parse_route_file(dir), Contains("not a regular file"));
  const std::string huge = dir + "/huge";
  {
    std::ofstream(huge) << "";
    REQUIRE(truncate(huge.c_str(), off_t(kMaxRouteFileBytes) + 1) == 0);  // sparse
  }
  CHECK_THROWS_WITH(parse_route_file(huge), Contains("route files are at most 256 MiB"));
  // Unprintable bytes are escaped, not sent to the terminal.
  std::ofstream(secret) << "\x1b[2J via 10.1.0.2\n";
  CHECK_THROWS_WITH(parse_route_file(secret), Contains("'\\x1b[2J'"));
  for (const auto& f : {secret, fifo, huge}) unlink(f.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("route files: IPv6 lines, mixed with IPv4, sorted IPv4 first", "[api][routefile]") {
  const std::string text =
      "2001:db8::/32 via fe80::2 dev p1\n"
      "10.0.0.0/8 via 10.1.0.2\n"
      "# a00::/8 and 10.0.0.0/8 have the same bits and length: different routes all the same\n"
      "a00::/8 dev p1 mtu 1280\r\n"
      "default via fe80::1 dev p1\n"  // the gateway makes it ::/0
      "default via 10.1.0.3\n"        // and this one 0.0.0.0/0
      "2001:db8:5::1 via 2001:db8:1::2\n"
      "  2001:db8:4::/48\tdev p0  \n";
  auto v = parse_route_text(text, "mixed.routes");
  REQUIRE(v.size() == 7);
  CHECK(v[0].family == 4);
  CHECK(v[0].prefix.str() == "0.0.0.0/0");
  CHECK(v[0].line == 6);
  CHECK(v[1].family == 4);
  CHECK(v[1].prefix.str() == "10.0.0.0/8");
  CHECK(v[2].family == 6);
  CHECK(v[2].prefix6.str() == "::/0");
  CHECK(v[2].via6 == Ipv6::parse("fe80::1"));
  CHECK(v[2].dev == "p1");
  CHECK(v[3].prefix6.str() == "a00::/8");
  CHECK(v[3].mtu == 1280);
  CHECK_FALSE(v[3].via6);
  CHECK(v[4].prefix6.str() == "2001:db8::/32");
  CHECK(v[4].line == 1);
  CHECK(v[5].prefix6.str() == "2001:db8:4::/48");
  CHECK(v[5].dev == "p0");
  CHECK(v[6].prefix6.str() == "2001:db8:5::1/128");
  CHECK(v[6].via6 == Ipv6::parse("2001:db8:1::2"));
  CHECK(v[6].dev.empty());
  for (const auto& s : v)
    if (s.family == 6) {
      CHECK(s.prefix == Prefix4{});
      CHECK_FALSE(s.via);
    }
}

TEST_CASE("route files: IPv6 errors name the line; duplicates within a family only",
          "[api][routefile]") {
  using Catch::Contains;
  auto err = [](const std::string& text) {
    try {
      parse_route_text(text, "f");
    } catch (const CommandError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(err("2001:db8::/32 dev p0\n10.0.0.0/8 dev p0\n2001:db8:0::/32 via fe80::1 dev p1\n") ==
        "f:3: 2001:db8::/32 already given on line 1");
  CHECK(err("default dev p0\n-\n") == "f:2: '-' is not an IPv4 prefix");
  CHECK(err("default via fe80::1 dev p0\n::/0 dev p1\n") == "f:2: ::/0 already given on line 1");
  CHECK(err("default via 10.1.0.2\n::/0 dev p1\n0.0.0.0/0 dev p0\n") ==
        "f:3: 0.0.0.0/0 already given on line 1");
  CHECK(err("10.0.0.0/8 dev p0\n2001:db8::/32 via 10.1.0.2\n") ==
        "f:2: gateway 10.1.0.2 is IPv4 but 2001:db8::/32 is IPv6"
        " (only an IPv4 route may have a gateway of the other family)");
  CHECK(err("10.0.0.0/8 via 2001:db8::1\n") ==
        "f:1: gateway 2001:db8::1 is IPv6 but 10.0.0.0/8 is IPv4"
        " (an IPv4 route through an IPv6 gateway, RFC 5549, is written 'via inet6 2001:db8::1')");
  CHECK(err("2001:db8::/32 via fe80::2\n") == "f:1: a link-local gateway (fe80::2) needs dev PORT");
  CHECK(err("2001:db8::1/32 dev p1\n") ==
        "f:1: '2001:db8::1/32' has host bits set (did you mean 2001:db8::/32?)");
  CHECK(err("2001:db8::/32 dev p1 mtu 1200\n") == "f:1: '1200' is not an IPv6 MTU (1280..65535)");
  CHECK(err("2001:db8::/32 via ff02::1 dev p1\n") == "f:1: gateway ff02::1 is a multicast address");
  CHECK(err("2001:zz8::/32 dev p1\n") == "f:1: '2001:zz8::/32' is not an IPv6 prefix");
  // Unprintable bytes in an IPv6-looking word are escaped like any other.
  CHECK(err("2001:db8::\x1b/32 dev p1\n") == "f:1: '2001:db8::\\x1b/32' is not an IPv6 prefix");
}

TEST_CASE("route files: a large file of both families parses in parallel, first error wins",
          "[api][routefile]") {
  std::string text;
  for (int i = 0; i < 30000; ++i) {
    text += fmt_v4(i);
    text += "2001:db8:" + hex(i) + "::/48 via fe80::1 dev p1\n";
  }
  auto v = parse_route_text(text, "big");
  REQUIRE(v.size() == 60000);
  for (size_t i = 1; i < v.size(); ++i) REQUIRE(route_prefix_less(v[i - 1], v[i]));
  CHECK(v[29999].family == 4);
  CHECK(v[30000].family == 6);
  CHECK(v[30000].prefix6.str() == "2001:db8::/48");
  CHECK(v[59999].prefix6.str() == "2001:db8:752f::/48");
  // A bad IPv6 line late in the file and a bad IPv4 line after it: the earlier one is named.
  std::string bad = text + "2001:db8::1/48 dev p1\n" + "10.0.0.1/8 dev p1\n";
  CHECK_THROWS_WITH(parse_route_text(bad, "big"),
                    Catch::StartsWith("big:60001: '2001:db8::1/48' has host bits set"));
  // A prefix given twice far apart, across thousands of lines of the other family.
  CHECK_THROWS_WITH(parse_route_text(text + "2001:db8:3039::/48 dev p0\n", "big"),
                    Catch::Equals("big:60001: 2001:db8:3039::/48 already given on line 24692"));
}

TEST_CASE("route files: route types, either family", "[api][routefile][route-type]") {
  auto v = parse_route_text(
      "blackhole 10.9.0.0/16\nprohibit 2001:db8:99::/48\nunreachable 10.8.0.0/16\n"
      "10.7.0.0/16 via 10.1.0.2\n",
      "t");
  REQUIRE(v.size() == 4);
  CHECK(v[0].prefix.str() == "10.7.0.0/16");
  CHECK(v[0].type == RouteType::unicast);
  CHECK(v[1].prefix.str() == "10.8.0.0/16");
  CHECK(v[1].type == RouteType::unreachable);
  CHECK(v[2].type == RouteType::blackhole);
  CHECK(v[3].family == 6);
  CHECK(v[3].type == RouteType::prohibit);
  CHECK_FALSE(v[3].via6);
  using Catch::Contains;
  CHECK_THROWS_WITH(parse_route_text("blackhole 10.9.0.0/16 via 10.1.0.2\n", "f"),
                    Contains("f:1: 'via' does not apply to a blackhole route"));
  CHECK_THROWS_WITH(parse_route_text("10.0.0.0/8 dev p0\nblackhole 10.0.0.0/8\n", "f"),
                    Contains("f:2: 10.0.0.0/8 already given on line 1"));
}

TEST_CASE("route files: ECMP lines, up to 64 nexthops with dev and weight",
          "[api][routefile][ecmp]") {
  std::string line = "10.9.0.0/16 mtu 1400";
  for (int i = 0; i < 64; ++i)
    line += " nexthop via 10.2." + std::to_string(i) + ".2 dev p1 weight " + std::to_string(i + 1);
  auto v = parse_route_text(
      "2001:db8::/32 nexthop via fe80::1 dev p0 nexthop via fe80::2 dev p1\n" + line + "\n", "t");
  REQUIRE(v.size() == 2);
  CHECK(v[0].prefix.str() == "10.9.0.0/16");
  REQUIRE(v[0].nexthops.size() == 64);
  CHECK(v[0].mtu == 1400);
  CHECK(v[0].nexthops[63].via == Ipv4(10, 2, 63, 2));
  CHECK(v[0].nexthops[63].weight == 64);
  CHECK(v[0].nexthops[63].dev == "p1");
  CHECK_FALSE(v[0].via);
  REQUIRE(v[1].nexthops.size() == 2);
  CHECK(v[1].nexthops[1].via6 == Ipv6::parse("fe80::2"));
  // A 65th is refused by the grammar, with the line named.
  CHECK_THROWS_WITH(parse_route_text(line + " nexthop via 10.3.0.2\n", "t"),
                    Catch::Contains("t:1: more than 64 nexthops"));
}

TEST_CASE("route files: RFC 5549 lines, an IPv4 route through an IPv6 gateway",
          "[api][routefile][rfc5549]") {
  const std::string text =
      "10.9.0.0/16 via inet6 fe80::2 dev p1\n"
      "10.8.0.0/16 nexthop via inet6 fe80::2 dev p1 nexthop via 10.1.0.2 weight 3\n"
      "2001:db8::/32 via inet6 fe80::2 dev p1\n";
  auto v = parse_route_text(text, "f");
  REQUIRE(v.size() == 3);
  CHECK(v[0].family == 4);
  CHECK(v[0].prefix.str() == "10.8.0.0/16");
  REQUIRE(v[0].nexthops.size() == 2);
  CHECK(v[0].nexthops[0].via6 == Ipv6::parse("fe80::2"));
  CHECK(v[0].nexthops[1].via == Ipv4(10, 1, 0, 2));
  CHECK(v[1].family == 4);
  CHECK(v[1].prefix.str() == "10.9.0.0/16");
  CHECK_FALSE(v[1].via);
  CHECK(v[1].via6 == Ipv6::parse("fe80::2"));
  CHECK(v[1].dev == "p1");
  CHECK(v[2].family == 6);
  CHECK(v[2].via6 == Ipv6::parse("fe80::2"));
  auto err = [](const std::string& t) {
    try {
      parse_route_text(t, "f");
    } catch (const CommandError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err("10.0.0.0/8 dev p0\n10.9.0.0/16 via inet6 fe80::2\n") ==
        "f:2: a link-local gateway (fe80::2) needs dev PORT");
}

// Files are read a piece at a time; a piece ends at its last whole line. Whatever the piece
// size, a file gives what its text gives, and an error names the same line.
TEST_CASE("route files: read in pieces, the result does not depend on where they end",
          "[api][routefile]") {
  using Catch::Contains;
  const std::string path = "/tmp/routerd-routefile-pieces-" + std::to_string(getpid());
  std::string text = "# header\r\n\n";
  for (int i = 0; i < 300; ++i) {
    text += fmt_v4(i);
    if (i % 7 == 0) text += "   # a comment\n\n";
    if (i % 5 == 0) text += "2001:db8:" + hex(i) + "::/48 via fe80::1 dev p1\r\n";
  }
  text += "blackhole 192.0.2.0/24";  // the last line without its '\n'
  std::ofstream(path, std::ios::binary) << text;
  const auto want = parse_route_text(text, path);
  REQUIRE(want.size() == 361);
  for (size_t piece : {size_t(40), size_t(64), size_t(97), size_t(4096), kRouteFilePieceBytes}) {
    INFO("piece " << piece);
    const auto got = parse_route_file(path, piece);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      REQUIRE(route_prefix_str(got[i]) == route_prefix_str(want[i]));
      REQUIRE(got[i].line == want[i].line);
      REQUIRE(got[i].type == want[i].type);
    }
  }
  // A bad line near the end: the same line number whatever the pieces.
  std::ofstream(path, std::ios::binary) << text << "\n10.0.0.1/8 via 10.1.0.2\n";
  const size_t bad_line = size_t(std::count(text.begin(), text.end(), '\n')) + 2;
  for (size_t piece : {size_t(40), size_t(97), kRouteFilePieceBytes})
    CHECK_THROWS_WITH(parse_route_file(path, piece),
                      Contains(path + ":" + std::to_string(bad_line) + ": '10.0.0.1/8' has host"));
  // A line longer than a piece is refused by its number, not cut in two.
  std::ofstream(path, std::ios::binary) << "10.0.0.0/8 via 10.1.0.2\n"
                                        << "10.1.0.0/16      via         10.1.0.2\n";
  CHECK_THROWS_WITH(parse_route_file(path, 30), Contains(path + ":2: longer than 30 bytes"));
  CHECK(parse_route_file(path, 64).size() == 2);
  unlink(path.c_str());
}
