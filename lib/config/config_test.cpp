#include "config.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace routerd;

namespace {

// The message parse_config throws for text, or "" when it accepts it.
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "t.toml");
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    return msg;
  }
  return "";
}

// Two ports with one subnet each, for the cross-reference checks.
const std::string kTwoPorts = R"(
[[port]]
name = "p0"
device = "net_tap0,iface=rtr-p0"
addresses = ["10.1.0.1/24"]
[[port]]
name = "p1"
device = "net_tap1,iface=rtr-p1"
addresses = ["10.2.0.1/24"]
)";

const std::string kExample = R"(
[dataplane]
eal = ["-l", "0-1", "--no-huge", "-m", "1024", "--no-pci"]
socket = "/run/routerd/routerd.sock"
[[port]]
name = "p0"
device = "net_tap0,iface=rtr-p0"   # vdev arguments or a PCI address
preset = "tap"                      # a file in drivers-config/
mtu = 1500
addresses = ["10.1.0.1/24"]
[[route]]
prefix = "10.9.0.0/16"
via = "10.1.0.2"                    # or: dev = "p1"
[[neighbour]]
address = "10.1.0.2"
lladdr = "02:00:00:00:01:02"
port = "p0"
)";

std::string read_source_file(const std::string& rel) {
  std::ifstream in(std::string(ROUTERD_SOURCE_ROOT) + "/" + rel);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("the documented example parses into the right values", "[config]") {
  Config c = parse_config(kExample, "example.toml");
  CHECK(c.path == "example.toml");
  CHECK(c.eal == std::vector<std::string>{"-l", "0-1", "--no-huge", "-m", "1024", "--no-pci"});
  CHECK(c.socket == "/run/routerd/routerd.sock");
  REQUIRE(c.ports.size() == 1);
  const PortConfig& p = c.ports[0];
  CHECK(p.name == "p0");
  CHECK(p.device == "net_tap0,iface=rtr-p0");
  CHECK(p.preset == "tap");
  CHECK(p.mtu == 1500);
  CHECK_FALSE(p.mac);
  REQUIRE(p.addresses.size() == 1);
  CHECK(p.addresses[0].first == Ipv4(10, 1, 0, 1));
  CHECK(p.addresses[0].second == *Prefix4::parse("10.1.0.0/24"));
  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].prefix == *Prefix4::parse("10.9.0.0/16"));
  CHECK(c.routes[0].via == Ipv4(10, 1, 0, 2));
  CHECK(c.routes[0].dev.empty());
  REQUIRE(c.neighbours.size() == 1);
  CHECK(c.neighbours[0].address == Ipv4(10, 1, 0, 2));
  CHECK(c.neighbours[0].lladdr == *Mac::parse("02:00:00:00:01:02"));
  CHECK(c.neighbours[0].port == "p0");
  CHECK(c.find_port("p0") == &c.ports[0]);
  CHECK(c.find_port("p1") == nullptr);
}

TEST_CASE("every section and key is read", "[config]") {
  Config c = parse_config(R"(
[dataplane]
mbufs = 2048
burst = 64
idle_sleep_us = 100
heap_reserve_mib = 512
presets_dir = "/etc/routerd/presets"
log_level = "debug"
[fib]
max_routes = 1000
tbl8_groups = 256
max_next_hops = 76
[ipv4]
drop_martians = false
[icmp]
rate = 0
burst = 1
echo_reply = false
[arp]
reachable_time = 30
retrans_time_ms = 100
probes = 5
queue_len = 256
max_entries = 16
[[port]]
name = "p0"
device = "0000:03:00.0"
mtu = 9000
mac = "02:00:00:00:01:01"
addresses = ["10.1.0.1/24", "10.1.1.1/24", "192.168.0.1/31"]
[[port]]
name = "uplink_2-b"
device = "net_null0"
[[route]]
prefix = "0.0.0.0/0"
via = "10.1.1.2"
dev = "p0"
[[route]]
prefix = "10.50.0.0/16"
dev = "uplink_2-b"
)",
                          "t.toml");
  CHECK(c.mbufs == 2048);
  CHECK(c.burst == 64);
  CHECK(c.idle_sleep_us == 100);
  CHECK(c.heap_reserve_mib == 512);
  CHECK(c.presets_dir == "/etc/routerd/presets");
  CHECK(c.log_level == "debug");
  CHECK(c.max_routes == 1000);
  CHECK(c.tbl8_groups == 256);
  CHECK(c.max_next_hops == 76);
  CHECK_FALSE(c.drop_martians);
  CHECK(c.icmp_rate == 0);
  CHECK(c.icmp_burst == 1);
  CHECK_FALSE(c.echo_reply);
  CHECK(c.arp_reachable_s == 30);
  CHECK(c.arp_retrans_ms == 100);
  CHECK(c.arp_probes == 5);
  CHECK(c.arp_queue_len == 256);
  CHECK(c.arp_max_entries == 16);
  REQUIRE(c.ports.size() == 2);
  CHECK(c.ports[0].mtu == 9000);
  CHECK(c.ports[0].mac == Mac::parse("02:00:00:00:01:01"));
  CHECK(c.ports[0].addresses.size() == 3);  // secondaries on one port are fine
  CHECK(c.ports[1].preset == "default");
  CHECK(c.ports[1].addresses.empty());
  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes[0].via == Ipv4(10, 1, 1, 2));
  CHECK(c.routes[0].dev == "p0");
  CHECK_FALSE(c.routes[1].via);
  CHECK(c.routes[1].dev == "uplink_2-b");
}

TEST_CASE("absent sections keep the defaults", "[config]") {
  Config c = parse_config("", "empty.toml");
  Config d;
  CHECK(c.path == "empty.toml");
  CHECK(c.eal.empty());
  CHECK(c.socket == d.socket);
  CHECK(c.mbufs == d.mbufs);
  CHECK(c.burst == d.burst);
  CHECK(c.idle_sleep_us == d.idle_sleep_us);
  CHECK(c.heap_reserve_mib == 0);
  CHECK(c.presets_dir.empty());
  CHECK(c.log_level == "info");
  CHECK(c.max_routes == d.max_routes);
  CHECK(c.tbl8_groups == d.tbl8_groups);
  CHECK(c.max_next_hops == d.max_next_hops);
  CHECK(c.drop_martians);
  CHECK(c.icmp_rate == d.icmp_rate);
  CHECK(c.icmp_burst == d.icmp_burst);
  CHECK(c.echo_reply);
  CHECK(c.arp_reachable_s == d.arp_reachable_s);
  CHECK(c.arp_retrans_ms == d.arp_retrans_ms);
  CHECK(c.arp_probes == d.arp_probes);
  CHECK(c.arp_queue_len == d.arp_queue_len);
  CHECK(c.arp_max_entries == d.arp_max_entries);
  CHECK(c.ports.empty());  // refused by routerd later, not by the parser
  CHECK(c.routes.empty());
  CHECK(c.neighbours.empty());
  CHECK(c.routes6.empty());
  CHECK(c.neighbours6.empty());
  // The IPv6 defaults are the ones docs/config.md gives.
  CHECK(c.fib6_max_routes == 262144);
  CHECK(c.fib6_tbl8_groups == 262144);
  CHECK(c.ipv6_send_redirects);
  CHECK_FALSE(c.ipv6_accept_redirects);
  CHECK(c.icmp6_rate == 1000);
  CHECK(c.icmp6_burst == 50);
  CHECK(c.ndp_reachable_ms == 30000);
  CHECK(c.ndp_retrans_ms == 1000);
  CHECK(c.ndp_probes == 3);
  CHECK(c.ndp_delay_ms == 5000);
  CHECK(c.ndp_stale_ms == 60000);

  // Empty sections change nothing either.
  Config e = parse_config(
      "port = []\n[dataplane]\n[fib]\n[ipv4]\n[icmp]\n[arp]\n[fib6]\n[ipv6]\n[ndp]\n", "t.toml");
  CHECK(e.mbufs == d.mbufs);
  CHECK(e.fib6_tbl8_groups == d.fib6_tbl8_groups);
  CHECK(e.ndp_probes == d.ndp_probes);
  CHECK(e.ports.empty());
}

TEST_CASE("unknown keys are named with their full path", "[config]") {
  CHECK(error_of("[dataplanee]\n") == "t.toml: dataplanee: unknown key");
  CHECK(error_of("verbose = true\n") == "t.toml: verbose: unknown key");
  CHECK(error_of("[dataplane]\nsockett = \"/x\"\n") == "t.toml: dataplane.sockett: unknown key");
  CHECK(error_of("[arp]\nreachable_s = 5\n") == "t.toml: arp.reachable_s: unknown key");
  CHECK(error_of(kTwoPorts + "mtuu = 1500\n") == "t.toml: port[1].mtuu: unknown key");
  CHECK(error_of(kTwoPorts + "[[route]]\nprefix = \"10.9.0.0/16\"\ngw = \"10.1.0.2\"\n") ==
        "t.toml: route[0].gw: unknown key");
  CHECK(error_of(kTwoPorts + "[[neighbour]]\nmac = \"02:00:00:00:00:01\"\n") ==
        "t.toml: neighbour[0].mac: unknown key");
  // A quoted key is shown quoted, so it cannot pass for a nested one.
  CHECK(error_of("[fib]\n\"max.routes\" = 1\n") == "t.toml: fib.\"max.routes\": unknown key");
  // A typo is reported as such, not as the required key it replaced.
  CHECK(error_of("[[port]]\nnmae = \"p0\"\ndevice = \"x\"\n") ==
        "t.toml: port[0].nmae: unknown key");
}

TEST_CASE("values of the wrong type are rejected", "[config]") {
  CHECK(error_of("[fib]\nmax_routes = \"many\"\n") ==
        "t.toml: fib.max_routes: expected an integer");
  CHECK(error_of("[fib]\nmax_routes = 1.5\n") == "t.toml: fib.max_routes: expected an integer");
  CHECK(error_of("[ipv4]\ndrop_martians = 1\n") ==
        "t.toml: ipv4.drop_martians: expected a boolean");
  CHECK(error_of("[dataplane]\nsocket = 5\n") == "t.toml: dataplane.socket: expected a string");
  CHECK(error_of("[dataplane]\neal = \"-l 0-1\"\n") ==
        "t.toml: dataplane.eal: expected an array of strings");
  CHECK(error_of("[dataplane]\neal = [\"-l\", 1]\n") ==
        "t.toml: dataplane.eal[1]: expected a string");
  CHECK(error_of("dataplane = 1\n") == "t.toml: dataplane: expected a table ([dataplane])");
  CHECK(error_of("[port]\nname = \"p0\"\n") ==
        "t.toml: port: expected an array of tables ([[port]])");
  CHECK(error_of("route = [1]\n") == "t.toml: route[0]: expected a table");
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\naddresses = \"10.1.0.1/24\"\n") ==
        "t.toml: port[0].addresses: expected an array of strings");
}

TEST_CASE("every key in config_keys() is read by the parser", "[config]") {
  // A valid file with one entry of each array; each key in turn is then given a value of a
  // type no key accepts, which only a parser that reads that key can notice.
  std::map<std::string, std::map<std::string, std::string>> base = {
      {"port",
       {{"name", "\"p0\""}, {"device", "\"net_null0\""}, {"addresses", "[\"10.1.0.1/24\"]"}}},
      {"route", {{"prefix", "\"10.9.0.0/16\""}, {"via", "\"10.1.0.2\""}}},
      {"neighbour",
       {{"address", "\"10.1.0.2\""}, {"lladdr", "\"02:00:00:00:00:02\""}, {"port", "\"p0\""}}},
      {"tunnel",
       {{"name", "\"gre1\""},
        {"type", "\"gre\""},
        {"local", "\"10.1.0.1\""},
        {"remote", "\"10.9.0.2\""},
        {"addresses", "[\"10.99.0.1/30\"]"}}},
  };
  auto render = [](const std::map<std::string, std::map<std::string, std::string>>& m) {
    std::string out;
    for (const auto& [section, keys] : m) {
      bool array =
          section == "port" || section == "route" || section == "neighbour" || section == "tunnel";
      out += array ? "[[" : "[";
      out += section;
      out += array ? "]]\n" : "]\n";
      for (const auto& [k, v] : keys) {
        out += k;
        out += " = ";
        out += v;
        out += "\n";
      }
    }
    return out;
  };
  REQUIRE(error_of(render(base)) == "");
  REQUIRE(config_keys().size() == 99);
  for (const auto& key : config_keys()) {
    INFO(key);
    auto dot = key.find('.');
    if (dot == std::string::npos) continue;  // top-level keys: tested on their own below
    std::string section = key.substr(0, dot), name = key.substr(dot + 1);
    auto m = base;
    m[section][name] = "{ x = 1 }";
    std::string err = error_of(render(m));
    bool array =
        section == "port" || section == "route" || section == "neighbour" || section == "tunnel";
    std::string expect = "t.toml: " + section;
    expect += array ? "[0]." : ".";
    expect += name;
    expect += ": expected ";
    CHECK(err.rfind(expect, 0) == 0);
  }
}

TEST_CASE("integers outside their range are rejected with the range", "[config]") {
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nmtu = 10\n") ==
        "t.toml: port[0].mtu: 10 is out of range 1280..9000");
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nmtu = 9001\n") ==
        "t.toml: port[0].mtu: 9001 is out of range 1280..9000");
  // Every port carries IPv6 (RFC 8200 5).
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nmtu = 1279\n") ==
        "t.toml: port[0].mtu: 1279 is out of range 1280..9000");
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nmtu = 1280\n") == "");
  CHECK(error_of("[dataplane]\nburst = 0\n") == "t.toml: dataplane.burst: 0 is out of range 1..64");
  CHECK(error_of("[dataplane]\nheap_reserve_mib = -1\n") ==
        "t.toml: dataplane.heap_reserve_mib: -1 is out of range 0..1048576");
  CHECK(error_of("[dataplane]\nmbufs = -1\n") ==
        "t.toml: dataplane.mbufs: -1 is out of range 1024..16777216");
  CHECK(error_of("[fib]\ntbl8_groups = 1048577\n") ==
        "t.toml: fib.tbl8_groups: 1048577 is out of range 1..1048576");
  // 2 * 16 + 10 + 17 for one port is 59: a table of 58 cannot hold every neighbour's next
  // hop, ARP's and NDP's, with the fixed ones (reject routes' included).
  const std::string one_port =
      "[arp]\nmax_entries = 16\n[[port]]\nname = \"p0\"\n"
      "device = \"net_null0\"\n";
  CHECK(error_of("[fib]\nmax_next_hops = 58\n" + one_port) ==
        "t.toml: fib.max_next_hops: 58 is less than 2 * arp.max_entries (ARP and NDP, 16 each) + "
        "10 + 17 per port = 59: every neighbour may need a next hop of its own");
  CHECK(error_of("[fib]\nmax_next_hops = 59\n" + one_port) == "");
  CHECK(error_of("[fib]\nmax_next_hops = 2147483647\n") ==
        "t.toml: fib.max_next_hops: 2147483647 is out of range 16..16777216");
  CHECK(error_of("[icmp]\nburst = 0\n") == "t.toml: icmp.burst: 0 is out of range 1..1000000");
  CHECK(error_of("[arp]\nretrans_time_ms = 99\n") ==
        "t.toml: arp.retrans_time_ms: 99 is out of range 100..60000");
  // Larger than any field type: no silent truncation.
  CHECK(error_of("[arp]\nmax_entries = 4294967312\n") ==
        "t.toml: arp.max_entries: 4294967312 is out of range 16..1048576");
}

TEST_CASE("the neighbour and per-source limits are read and checked", "[config]") {
  Config d = parse_config("", "t.toml");
  CHECK(d.arp_max_unresolved == 256);
  CHECK(d.arp_queue_total == 0);
  CHECK(d.arp_queue_total_for(16384) == 1024);  // sized from the pool: 1/16 of it
  CHECK(d.arp_failed_ms == 3000);
  CHECK(d.arp_locktime_ms == 1000);
  CHECK(d.arp_resolve_rate == 1000);
  CHECK(d.arp_source_rate == 100);
  CHECK(d.icmp_source_rate == 100);
  CHECK(d.icmp_source_burst == 20);
  CHECK(d.exc_source_rate == 10);
  Config c = parse_config(R"([arp]
max_unresolved = 32
queue_total = 200
failed_time_ms = 1500
locktime_ms = 0
resolve_rate = 50
resolve_burst = 10
source_rate = 0
source_burst = 7
[icmp]
source_rate = 5
source_burst = 6
[exceptions]
source_rate = 0
source_burst = 3
)",
                          "t.toml");
  CHECK(c.arp_max_unresolved == 32);
  CHECK(c.arp_queue_total_for(16384) == 200);
  CHECK(c.arp_failed_ms == 1500);
  CHECK(c.arp_locktime_ms == 0);
  CHECK(c.arp_resolve_rate == 50);
  CHECK(c.arp_resolve_burst == 10);
  CHECK(c.arp_source_rate == 0);
  CHECK(c.arp_source_burst == 7);
  CHECK(c.icmp_source_rate == 5);
  CHECK(c.icmp_source_burst == 6);
  CHECK(c.exc_source_rate == 0);
  CHECK(c.exc_source_burst == 3);
  // Left out, the bounded keys follow what bounds them.
  Config f = parse_config("[arp]\nmax_entries = 16\nretrans_time_ms = 5000\n", "t.toml");
  CHECK(f.arp_max_unresolved == 16);
  CHECK(f.arp_failed_ms == 5000);
  CHECK(error_of("[arp]\nmax_entries = 16\nmax_unresolved = 17\n") ==
        "t.toml: arp.max_unresolved: 17 is more than arp.max_entries (16)");
  CHECK(error_of("[arp]\nfailed_time_ms = 999\n") ==
        "t.toml: arp.failed_time_ms: 999 is less than arp.retrans_time_ms (1000)");
  CHECK(error_of("[arp]\nqueue_total = 4097\n") ==
        "t.toml: arp.queue_total: 4097 is more than a quarter of dataplane.mbufs (16384): packets "
        "waiting for ARP would starve the ports of buffers");
  CHECK(error_of("[arp]\nresolve_rate = 0\n") ==
        "t.toml: arp.resolve_rate: 0 is out of range 1..1000000");
  CHECK(error_of("[icmp]\nsource_burst = 0\n") ==
        "t.toml: icmp.source_burst: 0 is out of range 1..1000000");
  CHECK(error_of("[exceptions]\nsource_rate = -1\n") ==
        "t.toml: exceptions.source_rate: -1 is out of range 0..1000000");
}

TEST_CASE("dataplane strings are checked", "[config]") {
  CHECK(error_of("[dataplane]\nsocket = \"routerd.sock\"\n") ==
        "t.toml: dataplane.socket: 'routerd.sock' is not an absolute path");
  CHECK(error_of("[dataplane]\nsocket = \"/" + std::string(107, 'a') + "\"\n")
            .find("dataplane.socket: path is 108 bytes") != std::string::npos);
  CHECK(error_of("[dataplane]\nsocket = \"/" + std::string(106, 'a') + "\"\n") == "");
  CHECK(error_of("[dataplane]\nlog_level = \"verbose\"\n") ==
        "t.toml: dataplane.log_level: 'verbose' is not one of trace, debug, info, warn, error, "
        "critical, off");
}

TEST_CASE("TOML syntax errors carry line and column", "[config]") {
  std::string err = error_of("[dataplane]\nburst = 32\nsocket = \n");
  CHECK(err.rfind("t.toml:3:", 0) == 0);
  CHECK(err.size() > std::string("t.toml:3:9: ").size());
  CHECK(error_of("[fib]\n[fib]\n").rfind("t.toml:2:", 0) == 0);  // table defined twice
}

TEST_CASE("load_config reads files and reports unreadable ones", "[config]") {
  CHECK_THROWS_WITH(load_config("/nonexistent/routerd.toml"),
                    "/nonexistent/routerd.toml: cannot read: No such file or directory");
  CHECK_THROWS_WITH(load_config("/"), "/: cannot read: Is a directory");

  auto path = std::filesystem::temp_directory_path() /
              ("routerd-config-test-" + std::to_string(getpid()) + ".toml");
  {
    std::ofstream out(path);
    out << kExample << "[fib]\nmax_routes = \"x\"\n";
  }
  CHECK_THROWS_WITH(load_config(path.string()),
                    path.string() + ": fib.max_routes: expected an integer");
  {
    std::ofstream out(path);
    out << kExample;
  }
  Config c = load_config(path.string());
  std::filesystem::remove(path);
  CHECK(c.path == path.string());
  CHECK(c.ports.size() == 1);
}

TEST_CASE("port names and devices are checked and unique", "[config]") {
  CHECK(error_of("[[port]]\ndevice = \"x\"\n") == "t.toml: port[0].name: missing (required)");
  CHECK(error_of("[[port]]\nname = \"p0\"\n") == "t.toml: port[0].device: missing (required)");
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"\"\n") ==
        "t.toml: port[0].device: must not be empty");
  for (const char* bad : {"0p", "", "p.0", "p 0", "abcdefghijklmnop"}) {
    INFO(bad);
    CHECK(error_of("[[port]]\nname = \"" + std::string(bad) + "\"\ndevice = \"x\"\n")
              .rfind("t.toml: port[0].name: '" + std::string(bad) + "' is not a port name", 0) ==
          0);
  }
  CHECK(error_of("[[port]]\nname = \"abcdefghijklmno\"\ndevice = \"x\"\n") == "");
  CHECK(error_of(kTwoPorts + "[[port]]\nname = \"p0\"\ndevice = \"net_tap2\"\n") ==
        "t.toml: port[2].name: duplicate port name 'p0' (also port[0])");
  CHECK(error_of(kTwoPorts + "[[port]]\nname = \"p2\"\ndevice = \"net_tap1,iface=other\"\n") ==
        "t.toml: port[2].device: device 'net_tap1' is also used by port p1");
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\npreset = \"../etc/x\"\n") ==
        "t.toml: port[0].preset: '../etc/x' is not a preset name (letters, digits, '_' and '-')");
}

TEST_CASE("port MAC addresses must be unicast", "[config]") {
  const std::string port = "[[port]]\nname = \"p0\"\ndevice = \"x\"\n";
  CHECK(error_of(port + "mac = \"01:00:5e:00:00:01\"\n") ==
        "t.toml: port[0].mac: 01:00:5e:00:00:01 is a multicast address");
  CHECK(error_of(port + "mac = \"ff:ff:ff:ff:ff:ff\"\n") ==
        "t.toml: port[0].mac: ff:ff:ff:ff:ff:ff is a multicast address");
  CHECK(error_of(port + "mac = \"00:00:00:00:00:00\"\n") ==
        "t.toml: port[0].mac: 00:00:00:00:00:00 is the all-zeros address");
  CHECK(error_of(port + "mac = \"02:00:00:00:01\"\n") ==
        "t.toml: port[0].mac: '02:00:00:00:01' is not a MAC address (xx:xx:xx:xx:xx:xx)");
}

TEST_CASE("port addresses are usable interface addresses", "[config]") {
  auto with = [](const std::string& addrs) {
    return error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\naddresses = [" + addrs + "]\n");
  };
  CHECK(with("\"10.1.0.1/33\"") ==
        "t.toml: port[0].addresses[0]: '10.1.0.1/33' is not an IPv4 address with prefix length");
  CHECK(with("\"10.1.0.1\"") ==
        "t.toml: port[0].addresses[0]: '10.1.0.1' is not an IPv4 address with prefix length");
  CHECK(with("\"10.1.0.0/24\"") ==
        "t.toml: port[0].addresses[0]: 10.1.0.0 is the network address of 10.1.0.0/24");
  CHECK(with("\"10.1.0.1/24\", \"10.1.0.255/24\"") ==
        "t.toml: port[0].addresses[1]: 10.1.0.255 is the broadcast address of 10.1.0.0/24");
  CHECK(with("\"10.1.0.0/31\", \"10.2.0.1/32\"") == "");  // RFC 3021, host routes
  CHECK(with("\"127.0.0.1/8\"") ==
        "t.toml: port[0].addresses[0]: 127.0.0.1 is in 127.0.0.0/8 (loopback), not usable on a "
        "port");
  CHECK(with("\"0.1.2.3/24\"").find("0.1.2.3 is in 0.0.0.0/8") != std::string::npos);
  CHECK(with("\"224.0.0.5/24\"").find("224.0.0.5 is in 224.0.0.0/4 (multicast)") !=
        std::string::npos);
  CHECK(with("\"250.0.0.1/24\"").find("250.0.0.1 is in 240.0.0.0/4 (reserved)") !=
        std::string::npos);
}

TEST_CASE("a port holds at most 8 IPv4 addresses", "[config]") {
  // routerctl addr add refuses a ninth at run time (PortFastInfo has room for 8 subnet
  // broadcasts); the file is held to the same limit before anything starts.
  std::string eight;
  for (int i = 1; i <= 8; ++i) eight += ", \"10." + std::to_string(i) + ".0.1/24\"";
  const std::string port =
      "[[port]]\nname = \"p0\"\ndevice = \"x\"\naddresses = [\"2001:db8:1::1/64\"";
  CHECK(error_of(port + eight + "]\n") == "");
  CHECK(error_of(port + eight + ", \"10.9.0.1/24\"]\n") ==
        "t.toml: port[0].addresses[9]: port p0 already has the maximum of 8 IPv4 addresses");
}

TEST_CASE("an address appears once in the whole file", "[config]") {
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\n"
                 "addresses = [\"10.1.0.1/24\", \"10.1.0.1/25\"]\n") ==
        "t.toml: port[0].addresses[1]: duplicate address 10.1.0.1 (also on port p0)");
  CHECK(error_of(kTwoPorts + "[[port]]\nname = \"p2\"\ndevice = \"y\"\n"
                             "addresses = [\"10.1.0.1/32\"]\n") ==
        "t.toml: port[2].addresses[0]: duplicate address 10.1.0.1 (also on port p0)");
}

TEST_CASE("subnets of different ports may not overlap", "[config]") {
  CHECK(error_of(kTwoPorts + "[[port]]\nname = \"p2\"\ndevice = \"y\"\n"
                             "addresses = [\"10.1.0.5/16\"]\n") ==
        "t.toml: port[2].addresses[0]: subnet 10.1.0.0/16 overlaps 10.1.0.0/24 on port p0");
  CHECK(error_of(kTwoPorts + "[[port]]\nname = \"p2\"\ndevice = \"y\"\n"
                             "addresses = [\"10.2.0.129/25\"]\n") ==
        "t.toml: port[2].addresses[0]: subnet 10.2.0.128/25 overlaps 10.2.0.0/24 on port p1");
  // The same subnet twice on one port is a secondary address, not a conflict.
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\n"
                 "addresses = [\"10.1.0.1/24\", \"10.1.0.2/24\", \"10.1.0.129/25\"]\n") == "");
}

TEST_CASE("route prefixes must be prefixes", "[config]") {
  auto route = [](const std::string& prefix) {
    return error_of(kTwoPorts + "[[route]]\nprefix = \"" + prefix + "\"\ndev = \"p0\"\n");
  };
  CHECK(route("10.9.0.1/16") == "t.toml: route[0].prefix: '10.9.0.1/16' has host bits set");
  CHECK(route("10.9.0.0/33") == "t.toml: route[0].prefix: '10.9.0.0/33' is not an IPv4 prefix");
  CHECK(route("ten.nine/16") == "t.toml: route[0].prefix: 'ten.nine/16' is not an IPv4 prefix");
  CHECK(route("10.9.0.0") == "t.toml: route[0].prefix: '10.9.0.0' is not an IPv4 prefix");
  CHECK(route("0.0.0.0/0") == "");
  CHECK(error_of(kTwoPorts + "[[route]]\ndev = \"p0\"\n") ==
        "t.toml: route[0].prefix: missing (required)");
  CHECK(error_of(kTwoPorts + "[[route]]\nprefix = \"10.9.0.0/16\"\n") ==
        "t.toml: route[0]: needs 'via', 'dev' or both");
  CHECK(error_of(kTwoPorts + "[[route]]\nprefix = \"10.9.0.0/16\"\ndev = \"p0\"\n"
                             "[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.2.0.2\"\n") ==
        "t.toml: route[1].prefix: duplicate route 10.9.0.0/16 (also route[0])");
}

TEST_CASE("routes and neighbours name existing ports", "[config]") {
  CHECK(error_of(kTwoPorts + "[[route]]\nprefix = \"10.7.0.0/16\"\ndev = \"p0\"\n"
                             "[[route]]\nprefix = \"10.8.0.0/16\"\ndev = \"p1\"\n"
                             "[[route]]\nprefix = \"10.9.0.0/16\"\ndev = \"p7\"\n") ==
        "t.toml: route[2].dev: unknown port 'p7'");
  CHECK(error_of(kTwoPorts + "[[neighbour]]\naddress = \"10.1.0.2\"\n"
                             "lladdr = \"02:00:00:00:01:02\"\nport = \"P0\"\n") ==
        "t.toml: neighbour[0].port: unknown port 'P0'");
}

TEST_CASE("a gateway is on a port subnet", "[config]") {
  auto route = [](const std::string& body) {
    return error_of(kTwoPorts + "[[route]]\nprefix = \"10.9.0.0/16\"\n" + body);
  };
  CHECK(route("via = \"10.5.0.2\"\n") ==
        "t.toml: route[0].via: 10.5.0.2 is not on any port subnet");
  CHECK(route("via = \"10.2.0.2\"\n") == "");
  CHECK(route("via = \"10.2.0.2\"\ndev = \"p1\"\n") == "");
  // With dev, the gateway must be on that port, not just on some port.
  CHECK(route("via = \"10.2.0.2\"\ndev = \"p0\"\n") ==
        "t.toml: route[0].via: 10.2.0.2 is not on a subnet of port p0");
  CHECK(route("via = \"10.2.0.1\"\n") == "t.toml: route[0].via: 10.2.0.1 is an address of port p1");
  CHECK(route("via = \"10.2.0.255\"\n") ==
        "t.toml: route[0].via: 10.2.0.255 is the broadcast address of 10.2.0.0/24");
  CHECK(route("via = \"10.2.0.300\"\n") ==
        "t.toml: route[0].via: '10.2.0.300' is not an IPv4 address");
}

TEST_CASE("neighbours are checked", "[config]") {
  auto neigh = [](const std::string& addr, const std::string& mac, const std::string& port) {
    return "[[neighbour]]\naddress = \"" + addr + "\"\nlladdr = \"" + mac + "\"\nport = \"" + port +
           "\"\n";
  };
  const std::string mac = "02:00:00:00:01:02";
  CHECK(error_of(kTwoPorts + neigh("10.1.0.2", mac, "p0") + neigh("10.2.0.2", mac, "p1")) == "");
  CHECK(error_of(kTwoPorts + neigh("10.2.0.2", mac, "p0")) ==
        "t.toml: neighbour[0].address: 10.2.0.2 is not on a subnet of port p0");
  CHECK(error_of(kTwoPorts + neigh("10.1.0.2", mac, "p0") + neigh("10.1.0.2", mac, "p0")) ==
        "t.toml: neighbour[1].address: duplicate neighbour 10.1.0.2 (also neighbour[0])");
  CHECK(error_of(kTwoPorts + neigh("10.1.0.1", mac, "p0")) ==
        "t.toml: neighbour[0].address: 10.1.0.1 is an address of port p0");
  CHECK(error_of(kTwoPorts + neigh("10.1.0.2", "ff:ff:ff:ff:ff:ff", "p0")) ==
        "t.toml: neighbour[0].lladdr: ff:ff:ff:ff:ff:ff is a multicast address");
  CHECK(error_of(kTwoPorts + neigh("10.1.0", mac, "p0")) ==
        "t.toml: neighbour[0].address: '10.1.0' is not an IPv4 address");
  CHECK(error_of(kTwoPorts + "[[neighbour]]\naddress = \"10.1.0.2\"\nport = \"p0\"\n") ==
        "t.toml: neighbour[0].lladdr: missing (required)");
}

TEST_CASE("errors stay on one line whatever the input holds", "[config]") {
  CHECK(error_of("[[port]]\nname = \"p\\n0\"\ndevice = \"x\"\n") ==
        "t.toml: port[0].name: 'p\\x0a0' is not a port name (a letter, then up to 14 letters, "
        "digits, '_' or '-')");
  CHECK(error_of("[fib]\n\"a\\nb\" = 1\n") == "t.toml: fib.\"a\\x0ab\": unknown key");
}

TEST_CASE("docs/config.md documents every key", "[config]") {
  std::string doc = read_source_file("docs/config.md");
  for (const auto& key : config_keys()) {
    INFO(key);
    CHECK(doc.find("`" + key + "`") != std::string::npos);
  }
}

TEST_CASE("every key docs/config.md documents is one the parser accepts", "[config]") {
  // Each row of the key tables starts with "| `section.key` |" (or "| `key` |"): a key
  // documented but missing from the parser's list would be refused as unknown. The tables
  // end where "## Presets" (a preset file's keys) begins.
  std::string doc = read_source_file("docs/config.md");
  REQUIRE(doc.find("\n## Presets") != std::string::npos);
  doc.resize(doc.find("\n## Presets"));
  const auto& keys = config_keys();
  std::istringstream in(doc);
  std::string line;
  size_t rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    const size_t end = line.find('`', 3);
    if (end == std::string::npos || line.compare(end, 3, "` |") != 0) continue;
    const std::string key = line.substr(3, end - 3);
    if (key.find_first_of(" =\"[") != std::string::npos) continue;  // a value, not a key
    ++rows;
    INFO(key);
    CHECK(std::find(keys.begin(), keys.end(), key) != keys.end());
  }
  CHECK(rows >= keys.size());
}

TEST_CASE("metrics_listen: an IPv4 address and a port, off by default", "[config]") {
  CHECK(parse_config("[fib]\nmax_routes = 1024\n", "t.toml").metrics_listen.empty());
  CHECK(parse_config("metrics_listen = \"127.0.0.1:9100\"\n", "t.toml").metrics_listen ==
        "127.0.0.1:9100");
  CHECK(parse_config("metrics_listen = \"0.0.0.0:65535\"\n", "t.toml").metrics_listen ==
        "0.0.0.0:65535");
  for (const char* bad : {"9100", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "localhost:9100", "127.0.0.1:91a0", "127.0.0.1:9100000", ":9100"}) {
    INFO(bad);
    CHECK_THROWS_WITH(
        parse_config(std::string("metrics_listen = \"") + bad + "\"\n", "t.toml"),
        Catch::Contains("t.toml: metrics_listen:") && Catch::Contains("is not ADDRESS:PORT"));
  }
  CHECK_THROWS_WITH(parse_config("metrics_listen = 9100\n", "t.toml"),
                    Catch::Contains("t.toml: metrics_listen:"));
}

TEST_CASE("route_files: top-level list, relative to the config file", "[config]") {
  Config c = parse_config(
      "route_files = [\"table.routes\", \"/abs/more.routes\"]\n[fib]\nmax_routes = 1024\n",
      "/etc/routerd/routerd.toml");
  REQUIRE(c.route_files.size() == 2);
  CHECK(c.route_files[0] == "/etc/routerd/table.routes");
  CHECK(c.route_files[1] == "/abs/more.routes");
  CHECK(parse_config("route_files = [\"a\"]\n", "routerd.toml").route_files[0] == "a");
  CHECK_THROWS_WITH(parse_config("route_files = \"a\"\n", "t.toml"),
                    Catch::Contains("t.toml: route_files:"));
  CHECK_THROWS_WITH(parse_config("route_files = [\"\"]\n", "t.toml"),
                    Catch::Contains("empty file name"));
  CHECK_THROWS_WITH(parse_config("route_file = [\"a\"]\n", "t.toml"),
                    Catch::Contains("t.toml: route_file: unknown key"));
}

// ---- IPv6 (issue 14) ----

namespace {

// Two dual-stack ports; p0 has a configured link-local address and p1 a MAC, so its
// link-local address is the EUI-64 one, fe80::ff:fe00:201.
const std::string kTwoPorts6 = R"(
[[port]]
name = "p0"
device = "net_tap0,iface=rtr-p0"
addresses = ["10.1.0.1/24", "2001:db8:1::1/64"]
link_local = "fe80::1"
[[port]]
name = "p1"
device = "net_tap1,iface=rtr-p1"
mac = "02:00:00:00:02:01"
addresses = ["10.2.0.1/24", "2001:db8:2::1/64"]
)";

std::string neigh_entry(const std::string& addr, const std::string& port,
                        const std::string& mac = "02:00:00:00:01:02") {
  return "[[neighbour]]\naddress = \"" + addr + "\"\nlladdr = \"" + mac + "\"\nport = \"" + port +
         "\"\n";
}

Ipv6 ip6(const char* s) {
  auto a = Ipv6::parse(s);
  REQUIRE(a);
  return *a;
}

Prefix6 net6(const char* s) {
  auto p = Prefix6::parse(s);
  REQUIRE(p);
  return *p;
}

}  // namespace

TEST_CASE("a dual-stack config parses into exactly the expected values", "[config][ipv6]") {
  Config c = parse_config(R"(
[fib6]
max_routes = 300000
tbl8_groups = 262144
[ipv6]
send_redirects = false
accept_redirects = false
icmp_rate = 10
icmp_burst = 5
[ndp]
reachable_ms = 20000
retrans_ms = 500
probes = 5
delay_ms = 2000
stale_ms = 120000
[[port]]
name = "p0"
device = "net_tap0"
mac = "02:00:00:00:01:01"
link_local = "fe80::1"
addresses = ["10.1.0.1/24", "2001:DB8:1:0::1/64", "2001:db8:1::5/64", "2001:db8:100::/127",
             "2001:db8:200::7/128"]
[[port]]
name = "p1"
device = "net_tap1"
addresses = ["2001:db8:2::1/64"]
[[route]]
prefix = "2001:db8:9::/48"
via = "2001:db8:1::2"
[[route]]
prefix = "10.9.0.0/16"
via = "10.1.0.2"
[[route]]
prefix = "::/0"
via = "fe80::2"
dev = "p1"
[[route]]
prefix = "2001:db8:7::/48"
dev = "p1"
[[route]]
prefix = "2001:db8:8::/48"
via = "2001:db8:2::9"
dev = "p1"
[[neighbour]]
address = "2001:db8:1::2"
lladdr = "02:00:00:00:01:02"
port = "p0"
[[neighbour]]
address = "fe80::2"
lladdr = "02:00:00:00:01:03"
port = "p0"
[[neighbour]]
address = "fe80::2"
lladdr = "02:00:00:00:02:03"
port = "p1"
[[neighbour]]
address = "10.1.0.2"
lladdr = "02:00:00:00:01:02"
port = "p0"
)",
                          "t.toml");
  CHECK(c.fib6_max_routes == 300000);
  CHECK(c.fib6_tbl8_groups == 262144);
  CHECK_FALSE(c.ipv6_send_redirects);
  CHECK_FALSE(c.ipv6_accept_redirects);
  CHECK(c.icmp6_rate == 10);
  CHECK(c.icmp6_burst == 5);
  CHECK(c.ndp_reachable_ms == 20000);
  CHECK(c.ndp_retrans_ms == 500);
  CHECK(c.ndp_probes == 5);
  CHECK(c.ndp_delay_ms == 2000);
  CHECK(c.ndp_stale_ms == 120000);
  // The IPv4 values of the same sections are untouched.
  CHECK(c.send_redirects);
  CHECK_FALSE(c.accept_redirects);
  CHECK(c.icmp_rate == 1000);

  REQUIRE(c.ports.size() == 2);
  const PortConfig& p0 = c.ports[0];
  REQUIRE(p0.addresses.size() == 1);
  CHECK(p0.addresses[0].first == Ipv4(10, 1, 0, 1));
  using A6 = std::pair<Ipv6, Prefix6>;
  CHECK(p0.addresses6 ==
        std::vector<A6>{
            {Ipv6::of(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1), net6("2001:db8:1::/64")},
            {Ipv6::of(0x2001, 0xdb8, 1, 0, 0, 0, 0, 5), net6("2001:db8:1::/64")},
            {Ipv6::of(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), net6("2001:db8:100::/127")},
            {Ipv6::of(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 7), net6("2001:db8:200::7/128")}});
  CHECK(p0.link_local == Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 1));
  const PortConfig& p1 = c.ports[1];
  CHECK(p1.addresses.empty());
  CHECK(p1.addresses6 == std::vector<A6>{{ip6("2001:db8:2::1"), net6("2001:db8:2::/64")}});
  CHECK_FALSE(p1.link_local);  // EUI-64 of the MAC, at runtime

  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].prefix == *Prefix4::parse("10.9.0.0/16"));
  REQUIRE(c.routes6.size() == 4);
  CHECK(c.routes6[0].prefix == net6("2001:db8:9::/48"));
  CHECK(c.routes6[0].via == ip6("2001:db8:1::2"));
  CHECK(c.routes6[0].dev.empty());
  CHECK(c.routes6[1].prefix == Prefix6{});  // ::/0
  CHECK(c.routes6[1].via == ip6("fe80::2"));
  CHECK(c.routes6[1].dev == "p1");
  CHECK(c.routes6[2].prefix == net6("2001:db8:7::/48"));
  CHECK_FALSE(c.routes6[2].via);
  CHECK(c.routes6[2].dev == "p1");
  CHECK(c.routes6[3].via == ip6("2001:db8:2::9"));
  CHECK(c.routes6[3].dev == "p1");

  REQUIRE(c.neighbours.size() == 1);
  CHECK(c.neighbours[0].address == Ipv4(10, 1, 0, 2));
  REQUIRE(c.neighbours6.size() == 3);
  CHECK(c.neighbours6[0].address == ip6("2001:db8:1::2"));
  CHECK(c.neighbours6[0].lladdr == *Mac::parse("02:00:00:00:01:02"));
  CHECK(c.neighbours6[0].port == "p0");
  // One link-local address on two links is two neighbours.
  CHECK(c.neighbours6[1].address == ip6("fe80::2"));
  CHECK(c.neighbours6[1].lladdr == *Mac::parse("02:00:00:00:01:03"));
  CHECK(c.neighbours6[1].port == "p0");
  CHECK(c.neighbours6[2].address == ip6("fe80::2"));
  CHECK(c.neighbours6[2].lladdr == *Mac::parse("02:00:00:00:02:03"));
  CHECK(c.neighbours6[2].port == "p1");
}

TEST_CASE("IPv6 port addresses are usable global interface addresses", "[config][ipv6]") {
  auto with = [](const std::string& addrs) {
    return error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\naddresses = [" + addrs + "]\n");
  };
  const std::string at = "t.toml: port[0].addresses[0]: ";
  CHECK(with("\"2001:db8::1/129\"") ==
        at + "'2001:db8::1/129' is not an IPv6 address with prefix length");
  CHECK(with("\"2001:db8::1\"") == at + "'2001:db8::1' is not an IPv6 address with prefix length");
  CHECK(with("\"2001:db8:::1/64\"") ==
        at + "'2001:db8:::1/64' is not an IPv6 address with prefix length");
  CHECK(with("\"2001:db8::1/0\"") ==
        at + "'2001:db8::1/0': prefix length 0 is out of range 1..128");
  CHECK(with("\"::/64\"") == at + ":: is in ::/128 (unspecified), not usable on a port");
  CHECK(with("\"::1/128\"") == at + "::1 is in ::1/128 (loopback), not usable on a port");
  CHECK(with("\"::ffff:10.1.0.1/120\"") ==
        at + "::ffff:10.1.0.1 is in ::ffff:0.0.0.0/96 (IPv4-mapped), not usable on a port");
  CHECK(with("\"ff02::1/64\"") == at + "ff02::1 is in ff00::/8 (multicast), not usable on a port");
  CHECK(with("\"fe80::1/64\"") ==
        at + "fe80::1 is in fe80::/10 (link-local): set it with port[0].link_local, not in "
             "addresses");
  CHECK(with("\"febf::1/64\"").find("febf::1 is in fe80::/10 (link-local)") != std::string::npos);
  CHECK(with("\"2001:db8:1::/64\"") ==
        at + "2001:db8:1:: is the subnet-router anycast address of 2001:db8:1::/64");
  // /127 (RFC 6164) and /128 have no subnet-router anycast address.
  CHECK(with("\"2001:db8:1::/127\", \"2001:db8:2::/128\", \"2001:db8:3::1/1\"") == "");
  // The address family of each entry decides the rules: IPv4's stay as they were.
  CHECK(with("\"2001:db8:1::1/64\", \"10.1.0.0/24\"") ==
        "t.toml: port[0].addresses[1]: 10.1.0.0 is the network address of 10.1.0.0/24");
}

TEST_CASE("a port holds at most 8 IPv6 addresses", "[config][ipv6]") {
  std::string eight;
  for (int i = 1; i <= 8; ++i) eight += ", \"2001:db8:" + std::to_string(i) + "::1/64\"";
  const std::string port = "[[port]]\nname = \"p0\"\ndevice = \"x\"\naddresses = [\"10.1.0.1/24\"";
  CHECK(error_of(port + eight + "]\n") == "");
  CHECK(error_of(port + eight + ", \"2001:db8:9::1/64\"]\n") ==
        "t.toml: port[0].addresses[9]: port p0 already has the maximum of 8 IPv6 addresses");
  // The limit is per port: another port has its own 8.
  CHECK(error_of(port + eight + "]\n[[port]]\nname = \"p1\"\ndevice = \"y\"\n" +
                 "addresses = [\"2001:db8:a::1/64\"]\n") == "");
  Config c = parse_config(port + eight + "]\n", "t.toml");
  CHECK(c.ports[0].addresses6.size() == kMaxPortAddresses);
}

TEST_CASE("an IPv6 address appears once and subnets of ports do not overlap", "[config][ipv6]") {
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\n"
                 "addresses = [\"2001:db8:1::1/64\", \"2001:db8:1::1/96\"]\n") ==
        "t.toml: port[0].addresses[1]: duplicate address 2001:db8:1::1 (also on port p0)");
  CHECK(error_of(kTwoPorts6 + "[[port]]\nname = \"p2\"\ndevice = \"y\"\n"
                              "addresses = [\"2001:db8:1:0:0::1/128\"]\n") ==
        "t.toml: port[2].addresses[0]: duplicate address 2001:db8:1::1 (also on port p0)");
  CHECK(error_of(kTwoPorts6 + "[[port]]\nname = \"p2\"\ndevice = \"y\"\n"
                              "addresses = [\"2001:db8::5/32\"]\n") ==
        "t.toml: port[2].addresses[0]: subnet 2001:db8::/32 overlaps 2001:db8:1::/64 on port p0");
  CHECK(error_of(kTwoPorts6 + "[[port]]\nname = \"p2\"\ndevice = \"y\"\n"
                              "addresses = [\"2001:db8:2::8:1/112\"]\n") ==
        "t.toml: port[2].addresses[0]: subnet 2001:db8:2::8:0/112 overlaps 2001:db8:2::/64 on port "
        "p1");
  // Secondary addresses and subnets on one port are fine, and so is one link-local address
  // on every port.
  CHECK(
      error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nlink_local = \"fe80::1\"\n"
               "addresses = [\"2001:db8:1::1/64\", \"2001:db8:1::2/64\", \"2001:db8:1::1:1/112\"]\n"
               "[[port]]\nname = \"p1\"\ndevice = \"y\"\nlink_local = \"fe80::1\"\n") == "");
}

TEST_CASE("port.link_local is a link-local unicast address in fe80::/64", "[config][ipv6]") {
  auto with = [](const std::string& ll) {
    return error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nlink_local = \"" + ll + "\"\n");
  };
  const std::string at = "t.toml: port[0].link_local: ";
  CHECK(with("fe80::1") == "");
  CHECK(with("fe80::ff:fe00:101") == "");
  CHECK(parse_config("[[port]]\nname = \"p0\"\ndevice = \"x\"\nlink_local = \"FE80::0:1\"\n", "t")
            .ports[0]
            .link_local == Ipv6::of(0xfe80, 0, 0, 0, 0, 0, 0, 1));
  CHECK(with("2001:db8::1") == at + "2001:db8::1 is not in fe80::/64 (link-local)");
  CHECK(with("fe80:1::1") == at + "fe80:1::1 is not in fe80::/64 (link-local)");
  CHECK(with("febf::1") == at + "febf::1 is not in fe80::/64 (link-local)");
  CHECK(with("ff02::1") == at + "ff02::1 is not in fe80::/64 (link-local)");
  CHECK(with("fe80::") == at + "fe80:: is the subnet-router anycast address of fe80::/64");
  CHECK(with("fe80::1/64") == at + "'fe80::1/64' has a prefix length: give the address alone (a "
                                   "link-local address is always in fe80::/64)");
  CHECK(with("fe80::g") == at + "'fe80::g' is not an IPv6 address");
  CHECK(with("") == at + "'' is not an IPv6 address");
}

TEST_CASE("IPv6 route prefixes must be prefixes, once each", "[config][ipv6]") {
  auto route = [](const std::string& prefix) {
    return error_of(kTwoPorts6 + "[[route]]\nprefix = \"" + prefix + "\"\ndev = \"p0\"\n");
  };
  CHECK(route("2001:db8::1/32") == "t.toml: route[0].prefix: '2001:db8::1/32' has host bits set");
  CHECK(route("2001:db8::/129") ==
        "t.toml: route[0].prefix: '2001:db8::/129' is not an IPv6 prefix");
  CHECK(route("2001:db8::") == "t.toml: route[0].prefix: '2001:db8::' is not an IPv6 prefix");
  CHECK(route("::/0") == "");
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"2001:db8:9::/48\"\n") ==
        "t.toml: route[0]: needs 'via', 'dev' or both");
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"2001:db8:9::/48\"\ndev = \"p7\"\n") ==
        "t.toml: route[0].dev: unknown port 'p7'");
  // The index named is the entry's in the file, whichever family each entry has.
  const std::string three =
      "[[route]]\nprefix = \"2001:db8::/32\"\ndev = \"p0\"\n"
      "[[route]]\nprefix = \"10.9.0.0/16\"\ndev = \"p0\"\n";
  CHECK(error_of(kTwoPorts6 + three + "[[route]]\nprefix = \"2001:DB8:0::/32\"\ndev = \"p1\"\n") ==
        "t.toml: route[2].prefix: duplicate route 2001:db8::/32 (also route[0])");
  CHECK(error_of(kTwoPorts6 + three + "[[route]]\nprefix = \"10.9.0.0/16\"\ndev = \"p1\"\n") ==
        "t.toml: route[2].prefix: duplicate route 10.9.0.0/16 (also route[1])");
}

TEST_CASE("an IPv6 gateway is of the prefix's family and on the link", "[config][ipv6]") {
  auto route = [](const std::string& body) {
    return error_of(kTwoPorts6 +
                    "[[route]]\nprefix = \"10.7.0.0/16\"\ndev = \"p0\"\n"
                    "[[route]]\nprefix = \"2001:db8:7::/48\"\ndev = \"p0\"\n"
                    "[[route]]\nprefix = \"2001:db8::/32\"\n" +
                    body);
  };
  const std::string at = "t.toml: route[2].via: ";
  CHECK(route("via = \"10.0.0.1\"\n") ==
        at + "'10.0.0.1' is IPv4 but prefix '2001:db8::/32' is IPv6 (an IPv6 route needs an IPv6 "
             "gateway; only IPv4 routes may have one of the other family, RFC 5549)");
  // RFC 5549: an IPv4 route's gateway may be IPv6, checked as an IPv6 route's would be.
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"2001:db8:1::2\"\n") ==
        "");
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"2001:db8:5::2\"\n") ==
        "t.toml: route[0].via: 2001:db8:5::2 is not on any port subnet");
  CHECK(route("via = \"2001:db8:1::2\"\n") == "");
  CHECK(route("via = \"2001:db8:2::2\"\ndev = \"p1\"\n") == "");
  CHECK(route("via = \"2001:db8:2::2\"\ndev = \"p0\"\n") ==
        at + "2001:db8:2::2 is not on a subnet of port p0");
  CHECK(route("via = \"2001:db8:5::2\"\n") == at + "2001:db8:5::2 is not on any port subnet");
  CHECK(route("via = \"2001:db8:2::1\"\n") == at + "2001:db8:2::1 is an address of port p1");
  CHECK(route("via = \"2001:db8:2::\"\n") ==
        at + "2001:db8:2:: is the subnet-router anycast address of 2001:db8:2::/64");
  CHECK(route("via = \"ff02::2\"\ndev = \"p0\"\n") ==
        at + "ff02::2 is in ff00::/8 (multicast), not usable as a gateway");
  CHECK(route("via = \"::\"\n") == at + ":: is in ::/128 (unspecified), not usable as a gateway");
  CHECK(route("via = \"2001:db8::zz\"\n") == at + "'2001:db8::zz' is not an IPv6 address");
  CHECK(route("via = \"gw\"\n") == at + "'gw' is not an IPv6 address");
  // Link-local: only dev says which link; then any address but the port's own will do.
  CHECK(route("via = \"fe80::2\"\n") ==
        at + "fe80::2 is link-local: a link-local gateway needs dev (its port)");
  CHECK(route("via = \"fe80::2\"\ndev = \"p0\"\n") == "");
  CHECK(route("via = \"fe80::1\"\ndev = \"p1\"\n") == "");
  CHECK(route("via = \"fe80::1\"\ndev = \"p0\"\n") ==
        at + "fe80::1 is the link-local address of port p0");
  CHECK(route("via = \"fe80::ff:fe00:201\"\ndev = \"p1\"\n") ==
        at + "fe80::ff:fe00:201 is the link-local address of port p1 (the EUI-64 of its MAC)");
  CHECK(route("via = \"fe80::\"\ndev = \"p1\"\n") ==
        at + "fe80:: is the subnet-router anycast address of fe80::/64");
}

TEST_CASE("IPv6 neighbours are checked", "[config][ipv6]") {
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::2", "p0") +
                 neigh_entry("2001:db8:2::2", "p1") + neigh_entry("fe80::2", "p0") +
                 neigh_entry("fe80::2", "p1") + neigh_entry("fe80::1", "p1")) == "");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:2::2", "p0")) ==
        "t.toml: neighbour[0].address: 2001:db8:2::2 is not on a subnet of port p0");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::1", "p0")) ==
        "t.toml: neighbour[0].address: 2001:db8:1::1 is an address of port p0");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::", "p0")) ==
        "t.toml: neighbour[0].address: 2001:db8:1:: is the subnet-router anycast address of "
        "2001:db8:1::/64");
  CHECK(error_of(kTwoPorts6 + neigh_entry("fe80::1", "p0")) ==
        "t.toml: neighbour[0].address: fe80::1 is the link-local address of port p0");
  CHECK(error_of(kTwoPorts6 + neigh_entry("fe80::ff:fe00:201", "p1")) ==
        "t.toml: neighbour[0].address: fe80::ff:fe00:201 is the link-local address of port p1 "
        "(the EUI-64 of its MAC)");
  CHECK(error_of(kTwoPorts6 + neigh_entry("ff02::1", "p0")) ==
        "t.toml: neighbour[0].address: ff02::1 is in ff00::/8 (multicast), not usable as a "
        "neighbour");
  CHECK(error_of(kTwoPorts6 + neigh_entry("::ffff:10.1.0.2", "p0")) ==
        "t.toml: neighbour[0].address: ::ffff:10.1.0.2 is in ::ffff:0.0.0.0/96 (IPv4-mapped), not "
        "usable as a neighbour");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::2::", "p0")) ==
        "t.toml: neighbour[0].address: '2001:db8:1::2::' is not an IPv6 address");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::2", "p0", "33:33:00:00:00:01")) ==
        "t.toml: neighbour[0].lladdr: 33:33:00:00:00:01 is a multicast address");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::2", "p9")) ==
        "t.toml: neighbour[0].port: unknown port 'p9'");
  // Duplicates name the entry's index in the file, either family before it.
  CHECK(error_of(kTwoPorts6 + neigh_entry("10.1.0.2", "p0") + neigh_entry("2001:db8:1::2", "p0") +
                 neigh_entry("2001:db8:1:0::2", "p0")) ==
        "t.toml: neighbour[2].address: duplicate neighbour 2001:db8:1::2 (also neighbour[1])");
  CHECK(error_of(kTwoPorts6 + neigh_entry("2001:db8:1::2", "p0") + neigh_entry("10.1.0.2", "p0") +
                 neigh_entry("10.1.0.2", "p0")) ==
        "t.toml: neighbour[2].address: duplicate neighbour 10.1.0.2 (also neighbour[1])");
  CHECK(error_of(kTwoPorts6 + neigh_entry("fe80::2", "p0") + neigh_entry("fe80::2", "p0")) ==
        "t.toml: neighbour[1].address: duplicate neighbour fe80::2 on port p0 (also neighbour[0])");
}

TEST_CASE("[fib6], [ipv6] and [ndp] values are range-checked", "[config][ipv6]") {
  CHECK(error_of("[fib6]\nmax_routes = 0\n") ==
        "t.toml: fib6.max_routes: 0 is out of range 1..16777216");
  CHECK(error_of("[fib6]\nmax_routes = 16777217\n") ==
        "t.toml: fib6.max_routes: 16777217 is out of range 1..16777216");
  CHECK(error_of("[fib6]\ntbl8_groups = 1048577\n") ==
        "t.toml: fib6.tbl8_groups: 1048577 is out of range 1..1048576");
  CHECK(error_of("[fib6]\ntbl8_groups = 0\n") ==
        "t.toml: fib6.tbl8_groups: 0 is out of range 1..1048576");
  CHECK(error_of("[fib6]\nmax_routes = 16777216\ntbl8_groups = 1048576\n") == "");
  CHECK(error_of("[ipv6]\nsend_redirects = 1\n") ==
        "t.toml: ipv6.send_redirects: expected a boolean");
  CHECK(error_of("[ipv6]\nicmp_rate = -1\n") ==
        "t.toml: ipv6.icmp_rate: -1 is out of range 0..1000000");
  CHECK(error_of("[ipv6]\nicmp_burst = 0\n") ==
        "t.toml: ipv6.icmp_burst: 0 is out of range 1..1000000");
  CHECK(error_of("[ipv6]\nicmp_rate = 0\n") == "");  // no ICMPv6 errors at all
  CHECK(error_of("[ipv6]\nrate = 5\n") == "t.toml: ipv6.rate: unknown key");
  CHECK(error_of("[ndp]\nreachable_ms = 999\n") ==
        "t.toml: ndp.reachable_ms: 999 is out of range 1000..3600000");
  CHECK(error_of("[ndp]\nreachable_ms = 3600001\n") ==
        "t.toml: ndp.reachable_ms: 3600001 is out of range 1000..3600000");
  CHECK(error_of("[ndp]\nretrans_ms = 99\n") ==
        "t.toml: ndp.retrans_ms: 99 is out of range 100..60000");
  CHECK(error_of("[ndp]\nprobes = 0\n") == "t.toml: ndp.probes: 0 is out of range 1..10");
  CHECK(error_of("[ndp]\nprobes = 11\n") == "t.toml: ndp.probes: 11 is out of range 1..10");
  CHECK(error_of("[ndp]\ndelay_ms = 99\n") ==
        "t.toml: ndp.delay_ms: 99 is out of range 100..60000");
  CHECK(error_of("[ndp]\nstale_ms = 999\n") ==
        "t.toml: ndp.stale_ms: 999 is out of range 1000..86400000");
  CHECK(error_of("[ndp]\nreachable_ms = 3600000\nretrans_ms = 60000\nprobes = 10\n"
                 "delay_ms = 60000\nstale_ms = 86400000\n") == "");
}

TEST_CASE("the example in docs/config.md parses, with both families", "[config][ipv6]") {
  const std::string doc = read_source_file("docs/config.md");
  const size_t begin = doc.find("```toml\n");
  REQUIRE(begin != std::string::npos);
  const size_t end = doc.find("```", begin + 8);
  REQUIRE(end != std::string::npos);
  Config c = parse_config(doc.substr(begin + 8, end - begin - 8), "example.toml");
  REQUIRE(c.ports.size() == 2);
  CHECK_FALSE(c.ports[0].addresses.empty());
  CHECK_FALSE(c.ports[0].addresses6.empty());
  CHECK(c.ports[0].link_local);
  CHECK_FALSE(c.routes.empty());
  CHECK_FALSE(c.routes6.empty());
  CHECK_FALSE(c.neighbours.empty());
  CHECK_FALSE(c.neighbours6.empty());
}

TEST_CASE("ipv6.accept_redirects: off by default, true accepted, a non-boolean refused",
          "[config][ipv6]") {
  CHECK_FALSE(parse_config("", "t.toml").ipv6_accept_redirects);
  CHECK(parse_config("[ipv6]\naccept_redirects = true\n", "t.toml").ipv6_accept_redirects);
  CHECK_FALSE(parse_config("[ipv6]\naccept_redirects = false\n", "t.toml").ipv6_accept_redirects);
  CHECK_THROWS_WITH(parse_config("[ipv6]\naccept_redirects = 1\n", "t.toml"),
                    Catch::Contains("ipv6.accept_redirects"));
}

TEST_CASE("Router Advertisement keys: per port switch and RFC 4861 6.2.1 ranges",
          "[config][ipv6][ra]") {
  const Config d = parse_config("", "t");
  CHECK(d.ra_interval_s == 600);
  CHECK(d.ra_lifetime_s == 1800);
  CHECK(d.ra_mtu);
  const Config c = parse_config(
      "[ipv6]\nra_interval_s = 30\nra_mtu = false\n[[port]]\nname = \"p0\"\ndevice = \"x\"\n"
      "ra = true\n[[port]]\nname = \"p1\"\ndevice = \"y\"\n",
      "t");
  CHECK(c.ra_interval_s == 30);
  CHECK(c.ra_lifetime_s == 90);  // 3 x the interval when not given
  CHECK_FALSE(c.ra_mtu);
  CHECK(c.ports[0].ra);
  CHECK_FALSE(c.ports[1].ra);
  CHECK(parse_config("[ipv6]\nra_lifetime_s = 0\n", "t").ra_lifetime_s == 0);
  CHECK(parse_config("[ipv6]\nra_interval_s = 10\nra_lifetime_s = 9000\n", "t").ra_lifetime_s ==
        9000);
  CHECK(error_of("[ipv6]\nra_interval_s = 3\n") ==
        "t.toml: ipv6.ra_interval_s: 3 is out of range 4..1800");
  CHECK(error_of("[ipv6]\nra_interval_s = 1801\n") ==
        "t.toml: ipv6.ra_interval_s: 1801 is out of range 4..1800");
  CHECK(error_of("[ipv6]\nra_lifetime_s = 9001\n") ==
        "t.toml: ipv6.ra_lifetime_s: 9001 is out of range 0..9000");
  CHECK(error_of("[ipv6]\nra_lifetime_s = 100\n") ==
        "t.toml: ipv6.ra_lifetime_s: must be 0 or at least ipv6.ra_interval_s (600, RFC 4861 "
        "6.2.1)");
  CHECK(error_of("[ipv6]\nra_mtu = 1\n") == "t.toml: ipv6.ra_mtu: expected a boolean");
  CHECK(error_of("[[port]]\nname = \"p0\"\ndevice = \"x\"\nra = \"yes\"\n") ==
        "t.toml: port[0].ra: expected a boolean");
}

TEST_CASE("ipv6.dad_transmits: DupAddrDetectTransmits, 0 turns DAD off", "[config][ipv6]") {
  CHECK(parse_config("", "t").dad_transmits == 1);
  CHECK(parse_config("[ipv6]\ndad_transmits = 0\n", "t").dad_transmits == 0);
  CHECK(parse_config("[ipv6]\ndad_transmits = 3\n", "t").dad_transmits == 3);
  CHECK(error_of("[ipv6]\ndad_transmits = 11\n") ==
        "t.toml: ipv6.dad_transmits: 11 is out of range 0..10");
  CHECK(error_of("[ipv6]\ndad_transmits = -1\n") ==
        "t.toml: ipv6.dad_transmits: -1 is out of range 0..10");
}

TEST_CASE("[[route]] type: blackhole, prohibit, unreachable, without via or dev",
          "[config][route-type]") {
  const Config c =
      parse_config(kTwoPorts6 +
                       "[[route]]\nprefix = \"10.9.0.0/16\"\ntype = \"blackhole\"\n"
                       "[[route]]\nprefix = \"2001:db8:99::/48\"\ntype = \"prohibit\"\n"
                       "[[route]]\nprefix = \"10.8.0.0/16\"\ntype = \"unreachable\"\n"
                       "[[route]]\nprefix = \"10.7.0.0/16\"\ntype = \"unicast\"\n"
                       "dev = \"p0\"\n",
                   "t.toml");
  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[0].type == RouteType::blackhole);
  CHECK_FALSE(c.routes[0].via);
  CHECK(c.routes[0].dev.empty());
  CHECK(c.routes[1].type == RouteType::unreachable);
  CHECK(c.routes[2].type == RouteType::unicast);
  REQUIRE(c.routes6.size() == 1);
  CHECK(c.routes6[0].type == RouteType::prohibit);

  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\ntype = \"blakhole\"\n") ==
        "t.toml: route[0].type: 'blakhole' is not a route type (unicast, blackhole, prohibit, "
        "unreachable)");
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\ntype = 3\n") ==
        "t.toml: route[0].type: expected a string");
  CHECK(
      error_of(kTwoPorts6 +
               "[[route]]\nprefix = \"10.9.0.0/16\"\ntype = \"blackhole\"\nvia = \"10.1.0.2\"\n") ==
      "t.toml: route[0].via: a blackhole route has no gateway (its packets leave by no port): "
      "remove via");
  CHECK(error_of(kTwoPorts6 +
                 "[[route]]\nprefix = \"2001:db8::/32\"\ntype = \"unreachable\"\ndev = \"p0\"\n") ==
        "t.toml: route[0].dev: an unreachable route has no port (its packets leave by no port): "
        "remove dev");
  // unicast still needs its way out; a duplicate prefix is one whatever the types.
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\ntype = \"unicast\"\n") ==
        "t.toml: route[0]: needs 'via', 'dev' or both");
  CHECK(error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\ndev = \"p0\"\n"
                              "[[route]]\nprefix = \"10.9.0.0/16\"\ntype = \"prohibit\"\n") ==
        "t.toml: route[1].prefix: duplicate route 10.9.0.0/16 (also route[0])");
}

TEST_CASE("[[route]] nexthops: ECMP routes in the config, checked as routerctl checks them",
          "[config][ecmp]") {
  const Config c = parse_config(kTwoPorts6 + R"(
[ecmp]
hash_key = "00112233445566778899aabbccddeeff"
use_rss = false
follow_link = false
[[route]]
prefix = "10.9.0.0/16"
nexthops = [{ via = "10.1.0.2" }, { via = "10.2.0.2", dev = "p1", weight = 3 }]
[[route]]
prefix = "2001:db8:9::/48"
nexthops = [{ via = "fe80::2", dev = "p1" }, { via = "2001:db8:1::2", weight = 256 }]
)",
                                "t.toml");
  REQUIRE(c.routes.size() == 1);
  REQUIRE(c.routes[0].nexthops.size() == 2);
  CHECK(c.routes[0].nexthops[1].via == Ipv4(10, 2, 0, 2));
  CHECK(c.routes[0].nexthops[1].dev == "p1");
  CHECK(c.routes[0].nexthops[1].weight == 3);
  CHECK(c.routes[0].nexthops[0].weight == 1);
  REQUIRE(c.routes6.size() == 1);
  CHECK(c.routes6[0].nexthops[1].weight == 256);
  REQUIRE(c.ecmp_hash_key);
  CHECK((*c.ecmp_hash_key)[0] == 0x0011223344556677ull);
  CHECK((*c.ecmp_hash_key)[1] == 0x8899aabbccddeeffull);
  CHECK_FALSE(c.ecmp_use_rss);
  CHECK_FALSE(c.ecmp_follow_link);
  CHECK(Config{}.ecmp_follow_link);  // the default

  auto route = [](const std::string& body) {
    return error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\n" + body);
  };
  CHECK(route("nexthops = []\n") == "t.toml: route[0].nexthops: 0 next hops: a route has 1 to 64");
  // One next hop is a plain route, as routerctl's `route add P nexthop via G` makes one.
  {
    const Config one =
        parse_config(kTwoPorts6 +
                         "[[route]]\nprefix = \"10.9.0.0/16\"\n"
                         "nexthops = [{ via = \"10.1.0.2\", dev = \"p0\", weight = 5 }]\n"
                         "[[route]]\nprefix = \"2001:db8:9::/48\"\n"
                         "nexthops = [{ via = \"fe80::2\", dev = \"p1\" }]\n",
                     "t.toml");
    REQUIRE(one.routes.size() == 1);
    CHECK(one.routes[0].nexthops.empty());
    CHECK(one.routes[0].via == Ipv4(10, 1, 0, 2));
    CHECK(one.routes[0].dev == "p0");
    REQUIRE(one.routes6.size() == 1);
    CHECK(one.routes6[0].nexthops.empty());
    CHECK(one.routes6[0].via == Ipv6::parse("fe80::2"));
    CHECK(one.routes6[0].dev == "p1");
  }
  CHECK(route("nexthops = [{ via = \"10.1.0.2\" }, { via = \"10.2.0.2\", weight = 0 }]\n") ==
        "t.toml: route[0].nexthops[1].weight: 0 is out of range 1..256");
  CHECK(route("nexthops = [{ via = \"10.1.0.2\" }, { via = \"10.1.0.2\", weight = 2 }]\n") ==
        "t.toml: route[0].nexthops[1].via: 10.1.0.2 is named twice (give it one next hop with the "
        "sum of the weights)");
  CHECK(route("nexthops = [{ via = \"10.1.0.2\" }, { via = \"10.7.0.2\" }]\n")
            .find("route[0].nexthops[1].via: ") != std::string::npos);
  CHECK(route("nexthops = [{ via = \"10.1.0.2\" }, { dev = \"p1\" }]\n") ==
        "t.toml: route[0].nexthops[1].via: missing (required)");
  CHECK(route("nexthops = [{ via = \"10.1.0.2\" }, { via = \"10.2.0.2\", mtu = 9 }]\n") ==
        "t.toml: route[0].nexthops[1].mtu: unknown key");
  CHECK(
      route("via = \"10.1.0.2\"\nnexthops = [{ via = \"10.1.0.2\" }, { via = \"10.2.0.2\" }]\n") ==
      "t.toml: route[0].via: give the gateways and ports in 'nexthops' only (remove via)");
  CHECK(route("nexthops = [{ via = \"fe80::2\" }, { via = \"10.2.0.2\" }]\n") ==
        "t.toml: route[0].nexthops[0].via: fe80::2 is link-local: a link-local gateway needs dev "
        "(its port)");
  CHECK(error_of(kTwoPorts6 +
                 "[[route]]\nprefix = \"2001:db8:9::/48\"\n"
                 "nexthops = [{ via = \"fe80::2\" }, { via = \"2001:db8:1::2\" }]\n") ==
        "t.toml: route[0].nexthops[0].via: fe80::2 is link-local: a link-local gateway needs dev "
        "(its port)");
  CHECK(error_of(kTwoPorts6 + "[ecmp]\nhash_key = \"0011\"\n") ==
        "t.toml: ecmp.hash_key: '0011' is not 32 hexadecimal digits (a 128-bit key)");
  CHECK(error_of(kTwoPorts6 + "[ecmp]\nhash_key = \"00000000000000000000000000000000\"\n") ==
        "t.toml: ecmp.hash_key: an all-zero key is no secret");
}

TEST_CASE("[control_plane]: the allow list by service names, and what is refused",
          "[config][control_plane]") {
  SECTION("defaults: off, BGP, OSPF, BFD, SSH and ICMP") {
    Config c;
    CHECK_FALSE(c.cp_enabled);
    CHECK(c.cp_netns.empty());
    CHECK(c.cp_allow == std::vector<PuntRule>{{IPPROTO_ICMP, 0},
                                              {IPPROTO_TCP, 22},
                                              {IPPROTO_TCP, 179},
                                              {IPPROTO_UDP, 3784},
                                              {IPPROTO_UDP, 3785},
                                              {IPPROTO_UDP, 4784},
                                              {89, 0}});
  }
  SECTION("a file that names services and ports") {
    const Config c = parse_config(
        "[control_plane]\nenabled = true\nnetns = \"cp\"\nallow = [\"bgp\", \"tcp:8080\", "
        "\"udp:53\", \"proto:47\", \"bgp\"]\npunt_rate = 500\n",
        "t.toml");
    CHECK(c.cp_enabled);
    CHECK(c.cp_netns == "cp");
    CHECK(c.cp_punt_rate == 500);
    CHECK(c.cp_allow == std::vector<PuntRule>{
                            {IPPROTO_TCP, 179}, {IPPROTO_TCP, 8080}, {IPPROTO_UDP, 53}, {47, 0}});
  }
  SECTION("bad names and namespaces are refused with the reason") {
    CHECK(error_of("[control_plane]\nallow = [\"bgpp\"]\n") ==
          "t.toml: control_plane.allow: \"bgpp\" is not a service: bgp, ospf, bfd, ssh, icmp, "
          "vrrp, ldp, rip, ripng, tcp:N, udp:N or proto:N");
    CHECK(error_of("[control_plane]\nallow = [\"tcp:0\"]\n") ==
          "t.toml: control_plane.allow: \"tcp:0\": the number must be 1..65535");
    CHECK(error_of("[control_plane]\nallow = [\"udp:70000\"]\n") ==
          "t.toml: control_plane.allow: \"udp:70000\": the number must be 1..65535");
    CHECK_THAT(error_of("[control_plane]\nallow = [\"proto:6\"]\n"),
               Catch::Contains("rather than the whole protocol"));
    CHECK_THAT(error_of("[control_plane]\nnetns = \"a/b\"\n"),
               Catch::Contains("control_plane.netns: 'a/b' is not a namespace name"));
    CHECK_THAT(error_of("[control_plane]\nnetns = \"\"\n"),
               Catch::Contains("is not a namespace name"));
    CHECK_THAT(error_of("[control_plane]\nfpm_listen = \"127.0.0.1\"\n"),
               Catch::Contains("control_plane.fpm_listen: '127.0.0.1' is not ADDRESS:PORT"));
    CHECK_THAT(error_of("[control_plane]\nfpm_listen = \"::1:2620\"\n"),
               Catch::Contains("is not ADDRESS:PORT"));
    CHECK(error_of("[control_plane]\nenabled = true\nfpm_listen = \"[::1]:2620\"\n").empty());
    CHECK_THAT(error_of("[control_plane]\nfpm_listen = \"[::1]:2620\"\n"),
               Catch::Contains("needs control_plane.enabled = true"));
    CHECK(parse_endpoint("127.0.0.1:2620")->port == 2620);
  }
  SECTION("the kernel route mirror: table, protocols by name or number, and what conflicts") {
    const Config d =
        parse_config("[control_plane]\nenabled = true\nkernel_routes = true\n", "t.toml");
    CHECK(d.kernel_routes);
    CHECK(d.kernel_routes_table == 254);
    CHECK(d.kernel_routes_protocols.empty());  // all but proto kernel
    const Config c = parse_config(
        "[control_plane]\nenabled = true\nkernel_routes = true\nkernel_routes_table = 100\n"
        "kernel_routes_protocols = [\"bird\", \"static\", \"42\", \"proto-250\"]\n",
        "t.toml");
    CHECK(c.kernel_routes_table == 100);
    // "static" is the kernel's (4) and FRR staticd's (196), as `ip route` names both.
    CHECK(c.kernel_routes_protocols == std::vector<uint8_t>{12, 4, 196, 42, 250});
    CHECK_THAT(error_of("[control_plane]\nenabled = true\nkernel_routes = true\n"
                        "kernel_routes_protocols = [\"birdd\"]\n"),
               Catch::Contains("control_plane.kernel_routes_protocols[0]: 'birdd' is not a "
                               "route protocol"));
    CHECK_THAT(error_of("[control_plane]\nenabled = true\nkernel_routes = true\n"
                        "kernel_routes_protocols = [\"256\"]\n"),
               Catch::Contains("is not a route protocol"));
    CHECK_THAT(error_of("[control_plane]\nenabled = true\nkernel_routes_protocols = []\n"),
               Catch::Contains("control_plane.kernel_routes_protocols: is empty"));
    CHECK_THAT(error_of("[control_plane]\nenabled = true\nkernel_routes_table = 255\n"),
               Catch::Contains("control_plane.kernel_routes_table"));
    CHECK_THAT(error_of("[control_plane]\nkernel_routes = true\n"),
               Catch::Contains("control_plane.kernel_routes: needs control_plane.enabled = true"));
    CHECK_THAT(error_of("[control_plane]\nenabled = true\nkernel_routes = true\n"
                        "fpm_listen = \"127.0.0.1:2620\"\n"),
               Catch::Contains("and fpm_listen are both set: use one"));
    CHECK(rtproto_numbers("bgp") == std::vector<uint8_t>{186});
    CHECK(rtproto_numbers("proto-7") == std::vector<uint8_t>{7});
    CHECK(rtproto_numbers("").empty());
  }
}

TEST_CASE("RFC 5549: an IPv4 [[route]] may have an IPv6 gateway, never the reverse",
          "[config][ipv6][rfc5549]") {
  const Config c = parse_config(kTwoPorts6 +
                                    "[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"fe80::2\"\n"
                                    "dev = \"p1\"\n"
                                    "[[route]]\nprefix = \"10.8.0.0/16\"\n"
                                    "nexthops = [{ via = \"fe80::2\", dev = \"p1\", weight = 2 },"
                                    " { via = \"10.1.0.2\" }, { via = \"2001:db8:1::2\" }]\n",
                                "t.toml");
  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes6.empty());
  CHECK(c.routes[0].prefix.str() == "10.9.0.0/16");
  CHECK_FALSE(c.routes[0].via);
  CHECK(c.routes[0].via6 == ip6("fe80::2"));
  CHECK(c.routes[0].dev == "p1");
  REQUIRE(c.routes[1].nexthops.size() == 3);
  CHECK(c.routes[1].nexthops[0].via6 == ip6("fe80::2"));
  CHECK(c.routes[1].nexthops[0].weight == 2);
  CHECK_FALSE(c.routes[1].nexthops[1].via6);
  CHECK(c.routes[1].nexthops[1].via == Ipv4(10, 1, 0, 2));
  CHECK(c.routes[1].nexthops[2].via6 == ip6("2001:db8:1::2"));

  auto route = [](const std::string& body) {
    return error_of(kTwoPorts6 + "[[route]]\nprefix = \"10.9.0.0/16\"\n" + body);
  };
  // Checked as an IPv6 route's gateway is: a link-local one needs its port and must not be
  // the port's own address; a global one must be on a subnet.
  CHECK(route("via = \"fe80::2\"\n") ==
        "t.toml: route[0].via: fe80::2 is link-local: a link-local gateway needs dev (its port)");
  CHECK(route("via = \"fe80::1\"\ndev = \"p0\"\n") ==
        "t.toml: route[0].via: fe80::1 is the link-local address of port p0");
  CHECK(route("via = \"2001:db8:2::2\"\ndev = \"p0\"\n") ==
        "t.toml: route[0].via: 2001:db8:2::2 is not on a subnet of port p0");
  CHECK(route("via = \"2001:db8:1::1\"\n") ==
        "t.toml: route[0].via: 2001:db8:1::1 is an address of port p0");
  CHECK(route("nexthops = [{ via = \"fe80::2\", dev = \"p1\" }, { via = \"fe80::2\", dev = \"p1\" "
              "}]\n") ==
        "t.toml: route[0].nexthops[1].via: fe80::2 is named twice (give it one next hop with the "
        "sum of the weights)");
  // An IPv6 route's gateway stays IPv6.
  CHECK(error_of(kTwoPorts6 +
                 "[[route]]\nprefix = \"2001:db8:9::/48\"\n"
                 "nexthops = [{ via = \"2001:db8:1::2\" }, { via = \"10.1.0.2\" }]\n") ==
        "t.toml: route[0].nexthops[1].via: '10.1.0.2' is IPv4 but prefix '2001:db8:9::/48' is "
        "IPv6 (an IPv6 route needs an IPv6 gateway; only IPv4 routes may have one of the other "
        "family, RFC 5549)");
}

TEST_CASE("[[tunnel]]: a GRE interface, its keys checked one by one", "[config][tunnel]") {
  const std::string t = kTwoPorts + R"(
[[tunnel]]
name = "gre1"
type = "gre"
local = "10.2.0.1"
remote = "10.20.0.2"
key = 42
ttl = "inherit"
mtu = 1400
addresses = ["10.99.0.1/30", "2001:db8:99::1/64"]
[[route]]
prefix = "10.50.0.0/16"
dev = "gre1"
)";
  const Config c = parse_config(t, "t.toml");
  REQUIRE(c.ports.size() == 3);
  const PortConfig& g = c.ports[2];
  CHECK(g.name == "gre1");
  REQUIRE(g.tunnel);
  CHECK(g.tunnel->local == Ipv4(10, 2, 0, 1));
  CHECK(g.tunnel->remote == Ipv4(10, 20, 0, 2));
  CHECK(g.tunnel->key == 42u);
  CHECK(g.tunnel->ttl == 0);
  CHECK(g.tunnel->mtu == 1400);
  CHECK(g.addresses.size() == 1);
  CHECK(g.addresses6.size() == 1);
  CHECK(g.device.empty());
  CHECK_FALSE(c.ports[0].tunnel);
  auto tun = [&](const std::string& body) {
    return error_of(kTwoPorts + "[[tunnel]]\nname = \"gre1\"\ntype = \"gre\"\n" + body);
  };
  const std::string ends = "local = \"10.2.0.1\"\nremote = \"10.20.0.2\"\n";
  CHECK(tun(ends) == "");
  CHECK(tun("local = \"10.2.0.9\"\nremote = \"10.20.0.2\"\n") ==
        "t.toml: tunnel[0].local: 10.2.0.9 is not an address of the router (a [[port]]'s)");
  CHECK(tun("local = \"10.2.0.1\"\nremote = \"10.1.0.1\"\n") ==
        "t.toml: tunnel[0].remote: 10.1.0.1 is an address of the router (port p0)");
  CHECK(tun("local = \"10.2.0.1\"\nremote = \"224.0.0.1\"\n") ==
        "t.toml: tunnel[0].remote: 224.0.0.1 is in 224.0.0.0/4 (multicast)");
  CHECK(tun("remote = \"10.20.0.2\"\n") == "t.toml: tunnel[0].local: missing (required)");
  CHECK(tun(ends + "key = 4294967296\n") ==
        "t.toml: tunnel[0].key: 4294967296 is out of range 0..4294967295");
  CHECK(tun(ends + "ttl = 0\n") == "t.toml: tunnel[0].ttl: 0 is out of range 1..255");
  CHECK(tun(ends + "ttl = \"copy\"\n") ==
        "t.toml: tunnel[0].ttl: 'copy' is not a TTL (1..255, or \"inherit\")");
  CHECK(tun(ends + "mtu = 67\n") == "t.toml: tunnel[0].mtu: 67 is out of range 68..65535");
  CHECK(tun(ends + "csum = true\n") == "t.toml: tunnel[0].csum: unknown key");
  CHECK(error_of(kTwoPorts + "[[tunnel]]\nname = \"gre1\"\ntype = \"ipip\"\n" + ends) ==
        "t.toml: tunnel[0].type: 'ipip' is not a tunnel type (gre)");
  CHECK(error_of(kTwoPorts + "[[tunnel]]\nname = \"p1\"\ntype = \"gre\"\n" + ends) ==
        "t.toml: tunnel[0].name: duplicate name 'p1' (also a port)");
  CHECK(tun(ends + "[[tunnel]]\nname = \"gre2\"\ntype = \"gre\"\n" + ends) ==
        "t.toml: tunnel[1]: tunnel gre1 has the same local, remote and key: received packets "
        "could not tell them apart");
  CHECK(tun(ends + "[[tunnel]]\nname = \"gre2\"\ntype = \"gre\"\nkey = 1\n" + ends) == "");
  CHECK(tun(ends + "addresses = [\"10.2.0.5/24\"]\n") ==
        "t.toml: tunnel[0].addresses[0]: subnet 10.2.0.0/24 overlaps 10.2.0.0/24 on port p1");
  CHECK(error_of(kTwoPorts + "[[route]]\nprefix = \"10.50.0.0/16\"\ndev = \"gre1\"\n") ==
        "t.toml: route[0].dev: unknown port 'gre1'");
}
