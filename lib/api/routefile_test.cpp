#include "routefile.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

using namespace routerd;

TEST_CASE("route files: syntax of route add, comments, CRLF, sorted", "[api]") {
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

TEST_CASE("route files: a CR or other white space inside a line separates words", "[api]") {
  // Found by the routefile fuzz target: "dev 0\r " made a port named "0\r".
  auto v = parse_route_text("192.167.0.0/16 dev p0\r \n10.1.0.0/16\vdev\fp1\r\r\n", "t");
  REQUIRE(v.size() == 2);
  CHECK(v[0].dev == "p1");
  CHECK(v[1].dev == "p0");
}

TEST_CASE("route files: the first bad line is named and nothing is returned", "[api]") {
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
          "[api]") {
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
