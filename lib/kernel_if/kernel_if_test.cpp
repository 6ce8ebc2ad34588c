// kernel_if against the real kernel: each test makes its own namespace, so the host's
// interfaces are never touched, and checks the result with iproute2 and with frames the
// kernel answers on the TAP. Needs root (CI runs as root); otherwise each test says so.
#include "kernel_if.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "test_netns.hpp"

using namespace routerd;
using namespace routerd::kif;
using routerd::kif::testing::TestNs;

namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

nlohmann::json ip_json(const std::string& ns, const std::string& what) {
  const std::string out = run("ip -n " + ns + " -j " + what);
  auto j = nlohmann::json::parse(out.empty() ? "[]" : out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::array() : j;
}

nlohmann::json link_of(const std::string& ns, const std::string& dev) {
  auto j = ip_json(ns, "link show dev " + dev);
  return j.empty() ? nlohmann::json::object() : j[0];
}

bool has_flag(const nlohmann::json& link, const std::string& flag) {
  if (!link.contains("flags")) return false;
  for (const auto& f : link["flags"])
    if (f == flag) return true;
  return false;
}

struct AddrInfo {
  std::string family, local;
  int prefixlen = 0;
  bool tentative = false;
};

std::vector<AddrInfo> addrs_of(const std::string& ns, const std::string& dev) {
  std::vector<AddrInfo> v;
  for (const auto& l : ip_json(ns, "addr show dev " + dev))
    for (const auto& a : l.value("addr_info", nlohmann::json::array()))
      v.push_back({a.value("family", ""), a.value("local", ""), a.value("prefixlen", 0),
                   a.value("tentative", false)});
  return v;
}

bool has_addr(const std::vector<AddrInfo>& v, const std::string& local, int len) {
  for (const auto& a : v)
    if (a.local == local && a.prefixlen == len) return true;
  return false;
}

// True once the device's addresses are all past DAD (within a second).
// The waits below look once more after their deadline: the unit tests run at nice 10 beside
// the integration tests' busy-polling routers, and a test starved past its deadline must
// still see what came meanwhile (a CI run once missed an NA that way).
bool wait_usable(const std::string& ns, const std::string& dev) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const bool last = std::chrono::steady_clock::now() >= deadline;
    bool tentative = false;
    for (const auto& a : addrs_of(ns, dev)) tentative |= a.tentative;
    if (!tentative) return true;
    if (last) return false;
    ::usleep(10000);
  }
}

// Read from a thread inside the namespace: /proc/sys/net shows the reader's namespace.
std::string sysctl_in(const std::string& ns, const std::string& path) {
  std::string v;
  in_netns(ns, [&] {
    std::ifstream f(path);
    std::getline(f, v);
  });
  return v;
}

unsigned ifindex_in(const std::string& ns, const std::string& dev) {
  unsigned i = 0;
  in_netns(ns, [&] { i = ::if_nametoindex(dev.c_str()); });
  return i;
}

const Mac kTapMac{{0x02, 0x52, 0x44, 0x00, 0x00, 0x01}};
const Mac kPeerMac{{0x02, 0x52, 0x44, 0x00, 0x00, 0x99}};

void put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(uint8_t(v >> 8));
  f.push_back(uint8_t(v));
}
void put(std::vector<uint8_t>& f, const uint8_t* p, size_t n) {
  f.insert(f.end(), p, p + n);
}
void put_eth(std::vector<uint8_t>& f, const Mac& dst, const Mac& src, uint16_t type) {
  put(f, dst.b.data(), 6);
  put(f, src.b.data(), 6);
  put16(f, type);
}

std::vector<uint8_t> arp_request(Ipv4 sender, Ipv4 target) {
  std::vector<uint8_t> f;
  put_eth(f, Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, kPeerMac, 0x0806);
  put16(f, 1);       // Ethernet
  put16(f, 0x0800);  // IPv4
  f.push_back(6);
  f.push_back(4);
  put16(f, 1);  // request
  put(f, kPeerMac.b.data(), 6);
  const uint32_t s = htonl(sender.v), t = htonl(target.v);
  put(f, reinterpret_cast<const uint8_t*>(&s), 4);
  f.insert(f.end(), 6, 0);
  put(f, reinterpret_cast<const uint8_t*>(&t), 4);
  f.resize(60, 0);  // minimum frame, without FCS
  return f;
}

// A unicast Neighbor Solicitation (RFC 4861 4.3) for target, with the sender's link-layer
// address option so that the kernel can answer without resolving it first.
std::vector<uint8_t> neighbor_solicitation(const Ipv6& src, const Ipv6& target) {
  std::vector<uint8_t> icmp = {135, 0, 0, 0, 0, 0, 0, 0};
  put(icmp, target.b.data(), 16);
  icmp.push_back(1);  // source link-layer address
  icmp.push_back(1);  // 8 bytes
  put(icmp, kPeerMac.b.data(), 6);
  // Checksum over the pseudo-header (RFC 8200 8.1) and the message.
  uint32_t sum = 0;
  auto add = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i += 2) sum += uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
  };
  add(src.b.data(), 16);
  add(target.b.data(), 16);
  sum += uint32_t(icmp.size()) + 58;
  add(icmp.data(), icmp.size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t ck = uint16_t(~sum);
  icmp[2] = uint8_t(ck >> 8);
  icmp[3] = uint8_t(ck);

  std::vector<uint8_t> f;
  put_eth(f, kTapMac, kPeerMac, 0x86dd);
  f.push_back(0x60);
  f.insert(f.end(), 3, 0);
  put16(f, uint16_t(icmp.size()));
  f.push_back(58);   // ICMPv6
  f.push_back(255);  // hop limit: NDP requires it
  put(f, src.b.data(), 16);
  put(f, target.b.data(), 16);
  put(f, icmp.data(), icmp.size());
  return f;
}

// Frames the kernel sends on the TAP within a second, until match says one is it.
template <class Match>
std::optional<std::vector<uint8_t>> await_frame(Tap& tap, Match match) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::array<uint8_t, 2048> buf{};
  for (;;) {
    const bool last = std::chrono::steady_clock::now() >= deadline;
    pollfd p{tap.fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    // Everything queued, then give up only if the deadline had passed before this look.
    for (size_t n; (n = tap.read(buf.data(), buf.size())) > 0;) {
      std::vector<uint8_t> f(buf.begin(), buf.begin() + long(n));
      if (match(f)) return f;
    }
    if (last) return std::nullopt;
  }
}

bool same(const std::vector<uint8_t>& f, size_t off, const uint8_t* p, size_t n) {
  return f.size() >= off + n && std::equal(p, p + n, f.begin() + long(off));
}

}  // namespace

TEST_CASE("kernel_if: a namespace is created once and then found again", "[kernel_if]") {
  KIF_NEED_ROOT();
  TestNs ns("kif-test");
  const std::string path = "/run/netns/" + ns.name;
  struct statfs sf {};
  REQUIRE(::statfs(path.c_str(), &sf) == 0);
  CHECK(sf.f_type == 0x6e736673);  // NSFS_MAGIC: a namespace is mounted there
  // The same namespace afterwards: a second ensure must not replace it with a new one.
  std::string before, after, own, inside;
  in_netns(ns.name, [&] { before = run("readlink /proc/thread-self/ns/net"); });
  ensure_netns(ns.name);
  in_netns(ns.name, [&] { after = run("readlink /proc/thread-self/ns/net"); });
  own = run("readlink /proc/thread-self/ns/net");
  CHECK(!before.empty());
  CHECK(before == after);
  CHECK(before != own);
  // `ip netns` sees it, so daemons started with `ip netns exec` find it.
  CHECK(run("ip netns list").find(ns.name) != std::string::npos);
  // An empty name is routerd's own namespace: in_netns runs f right there.
  in_netns("", [&] { inside = run("readlink /proc/thread-self/ns/net"); });
  CHECK(inside == own);
}

TEST_CASE("kernel_if: a TAP starts down with the MAC, MTU and IPv6 settings asked for",
          "[kernel_if]") {
  KIF_NEED_ROOT();
  TestNs ns("kif-test");
  Tap tap = Tap::create(ns.name, "rtd0", kTapMac, 1400);
  CHECK(tap.fd() >= 0);
  CHECK(tap.name() == "rtd0");
  CHECK(tap.netns() == ns.name);
  CHECK(tap.ifindex() > 0);
  CHECK(ifindex_in(ns.name, "rtd0") == unsigned(tap.ifindex()));
  // Not in routerd's own namespace (unless an unrelated rtd0 exists there, which CI has not).
  CHECK(link_of("", "rtd0").empty());

  const auto link = link_of(ns.name, "rtd0");
  CHECK(link.value("address", "") == "02:52:44:00:00:01");
  CHECK(link.value("mtu", 0) == 1400);
  CHECK_FALSE(has_flag(link, "UP"));
  CHECK_FALSE(has_flag(link, "NOARP"));

  const std::string conf = "/proc/sys/net/ipv6/conf/rtd0/";
  CHECK(sysctl_in(ns.name, conf + "accept_ra") == "0");
  CHECK(sysctl_in(ns.name, conf + "autoconf") == "0");
  CHECK(sysctl_in(ns.name, conf + "dad_transmits") == "0");
  CHECK(sysctl_in(ns.name, conf + "addr_gen_mode") == "1");
  CHECK(sysctl_in(ns.name, conf + "keep_addr_on_down") == "1");

  // Nothing to read on a down interface, and reading says so instead of blocking; writing
  // to it is a drop (the kernel takes nothing while it is down), not an error.
  std::array<uint8_t, 64> buf{};
  CHECK(tap.read(buf.data(), buf.size()) == 0);
  const auto frame = arp_request(Ipv4(10, 9, 0, 2), Ipv4(10, 9, 0, 1));
  CHECK_FALSE(tap.write(frame.data(), frame.size()));
  // Less than an Ethernet header is the caller's bug, and says so.
  CHECK_THROWS_WITH(tap.write(frame.data(), 5), Catch::Contains("tap rtd0: write"));
}

TEST_CASE("kernel_if: Rtnl mirrors link state, MTU, MAC and addresses", "[kernel_if]") {
  KIF_NEED_ROOT();
  TestNs ns("kif-test");
  Tap tap = Tap::create(ns.name, "rtd0", kTapMac, 1500);
  Rtnl nl(ns.name);
  const int ix = tap.ifindex();
  const Ipv6 v6 = Ipv6::of(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1);
  const Ipv6 ll = Ipv6::of(0xfe80, 0, 0, 0, 0x52, 0x44ff, 0xfe00, 1);

  SECTION("link state, MTU and MAC") {
    nl.set_up(ix, true);
    nl.set_mtu(ix, 9000);
    nl.set_mac(ix, Mac{{0x02, 0, 0, 0, 0xab, 0xcd}});
    auto link = link_of(ns.name, "rtd0");
    CHECK(has_flag(link, "UP"));
    CHECK(link.value("mtu", 0) == 9000);
    CHECK(link.value("address", "") == "02:00:00:00:ab:cd");
    // Up without any address from us: the kernel made no link-local of its own.
    CHECK(addrs_of(ns.name, "rtd0").empty());
    nl.set_up(ix, false);
    CHECK_FALSE(has_flag(link_of(ns.name, "rtd0"), "UP"));
  }
  SECTION("the neighbour entry FRR's zebra keeps for a BGP unnumbered peer") {
    nl.set_up(ix, true);
    const Ipv4 ll4(169, 254, 0, 1);
    CHECK_FALSE(nl.neighbour_mac(ix, ll4).has_value());  // none yet: ENOENT is not an error
    run("ip -n " + ns.name +
        " neigh add 169.254.0.1 lladdr 02:00:00:00:01:02 dev rtd0 nud permanent");
    const std::optional<Mac> mac = nl.neighbour_mac(ix, ll4);
    REQUIRE(mac.has_value());
    CHECK(mac->str() == "02:00:00:00:01:02");
    CHECK_FALSE(nl.neighbour_mac(ix, Ipv4(169, 254, 0, 2)).has_value());
    run("ip -n " + ns.name + " neigh del 169.254.0.1 dev rtd0");
    CHECK_FALSE(nl.neighbour_mac(ix, ll4).has_value());
    CHECK_THROWS_AS(nl.neighbour_mac(ix + 1000, ll4), KernelError);  // no such interface
  }
  SECTION("addresses, added twice and deleted twice") {
    nl.add_addr(ix, Ipv4(10, 9, 0, 1), 24);
    nl.add_addr(ix, Ipv4(10, 9, 0, 1), 24);  // idempotent
    nl.add_addr(ix, v6, 64);
    nl.add_addr(ix, v6, 64);
    nl.add_addr(ix, ll, 64);
    nl.set_up(ix, true);
    auto a = addrs_of(ns.name, "rtd0");
    CHECK(a.size() == 3);
    CHECK(has_addr(a, "10.9.0.1", 24));
    CHECK(has_addr(a, "2001:db8:9::1", 64));
    CHECK(has_addr(a, "fe80::52:44ff:fe00:1", 64));
    for (const auto& x : a) CHECK_FALSE(x.tentative);  // IFA_F_NODAD: usable at once
    // The kernel's broadcast address for the subnet, and its prefix routes to the link.
    const auto j = ip_json(ns.name, "addr show dev rtd0");
    CHECK(j.dump().find("\"broadcast\":\"10.9.0.255\"") != std::string::npos);
    const std::string routes = ip_json(ns.name, "route show").dump();
    CHECK(routes.find("\"dst\":\"10.9.0.0/24\"") != std::string::npos);
    CHECK(ip_json(ns.name, "-6 route show").dump().find("\"dst\":\"2001:db8:9::/64\"") !=
          std::string::npos);

    // Link down and up keeps the global IPv6 ones (keep_addr_on_down), which nobody would
    // re-add, but the kernel drops link-local ones whatever the sysctl says: the owner of
    // the Tap re-adds them after each set_up (what the header says).
    nl.set_up(ix, false);
    nl.set_up(ix, true);
    a = addrs_of(ns.name, "rtd0");
    CHECK(has_addr(a, "2001:db8:9::1", 64));
    CHECK(has_addr(a, "10.9.0.1", 24));
    CHECK_FALSE(has_addr(a, "fe80::52:44ff:fe00:1", 64));
    nl.add_addr(ix, ll, 64);
    CHECK(has_addr(addrs_of(ns.name, "rtd0"), "fe80::52:44ff:fe00:1", 64));

    nl.del_addr(ix, Ipv4(10, 9, 0, 1), 24);
    nl.del_addr(ix, Ipv4(10, 9, 0, 1), 24);  // already gone: not an error
    nl.del_addr(ix, v6, 64);
    nl.del_addr(ix, v6, 64);
    a = addrs_of(ns.name, "rtd0");
    CHECK(a.size() == 1);
    CHECK(has_addr(a, "fe80::52:44ff:fe00:1", 64));
  }
  SECTION("the kernel's refusals name what was asked and why") {
    CHECK_THROWS_WITH(nl.set_up(999999, true),
                      Catch::Contains("rtnl: set link up on ifindex 999999") &&
                          Catch::Contains("No such device"));
    CHECK_THROWS_AS(nl.add_addr(999999, Ipv4(10, 9, 0, 1), 24), KernelError);
    CHECK_THROWS_WITH(nl.set_mtu(ix, 10),
                      Catch::Contains("set MTU 10") && Catch::Contains("in netns " + ns.name));
    CHECK_THROWS_AS(nl.add_addr(ix, Ipv4(10, 9, 0, 1), 33), KernelError);
    CHECK_THROWS_AS(nl.add_addr(ix, v6, 129), KernelError);
    // None of it changed the interface.
    CHECK(link_of(ns.name, "rtd0").value("mtu", 0) == 1500);
    CHECK(addrs_of(ns.name, "rtd0").empty());
  }
}

TEST_CASE("kernel_if: the kernel answers ARP and NDP written to the TAP", "[kernel_if]") {
  KIF_NEED_ROOT();
  TestNs ns("kif-test");
  Tap tap = Tap::create(ns.name, "rtd0", kTapMac, 1500);
  Rtnl nl(ns.name);
  const Ipv4 mine(10, 9, 0, 1), peer(10, 9, 0, 2);
  const Ipv6 mine6 = Ipv6::of(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1);
  const Ipv6 peer6 = Ipv6::of(0x2001, 0xdb8, 9, 0, 0, 0, 0, 2);
  nl.add_addr(tap.ifindex(), mine, 24);
  nl.add_addr(tap.ifindex(), mine6, 64);
  nl.set_up(tap.ifindex(), true);
  // Addresses present when the link comes up are tentative until the kernel's DAD work runs
  // (at once with IFA_F_NODAD, but from a work queue): a solicitation before that is taken
  // for DAD and gets no answer.
  REQUIRE(wait_usable(ns.name, "rtd0"));

  SECTION("ARP request -> reply") {
    const auto req = arp_request(peer, mine);
    REQUIRE(tap.write(req.data(), req.size()));
    const uint32_t m = htonl(mine.v), p = htonl(peer.v);
    auto reply = await_frame(tap, [&](const std::vector<uint8_t>& f) {
      return f.size() >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 2;
    });
    REQUIRE(reply);
    const auto& f = *reply;
    CHECK(same(f, 0, kPeerMac.b.data(), 6));  // to the asker
    CHECK(same(f, 6, kTapMac.b.data(), 6));   // from the TAP's MAC
    CHECK(same(f, 22, kTapMac.b.data(), 6));  // sender hardware address
    CHECK(same(f, 28, reinterpret_cast<const uint8_t*>(&m), 4));
    CHECK(same(f, 38, reinterpret_cast<const uint8_t*>(&p), 4));
  }
  SECTION("Neighbor Solicitation -> Neighbor Advertisement") {
    const auto ns_frame = neighbor_solicitation(peer6, mine6);
    REQUIRE(tap.write(ns_frame.data(), ns_frame.size()));
    auto na = await_frame(tap, [&](const std::vector<uint8_t>& f) {
      return f.size() >= 78 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 58 && f[54] == 136;
    });
    REQUIRE(na);
    const auto& f = *na;
    CHECK(same(f, 0, kPeerMac.b.data(), 6));
    CHECK(same(f, 6, kTapMac.b.data(), 6));
    CHECK(same(f, 22, mine6.b.data(), 16));  // from the address itself: no link-local exists
    CHECK(same(f, 38, peer6.b.data(), 16));
    CHECK((f[58] & 0x40) != 0);              // Solicited
    CHECK(same(f, 62, mine6.b.data(), 16));  // target
  }
}

TEST_CASE("kernel_if: bad names and taken names are refused and change nothing", "[kernel_if]") {
  KIF_NEED_ROOT();
  TestNs ns("kif-test");

  SECTION("namespace names") {
    for (const char* bad : {".", "..", "a/b", "../x"}) {
      CHECK_THROWS_WITH(ensure_netns(bad), Catch::Contains("not valid"));
      CHECK_THROWS_WITH(in_netns(bad, [] {}), Catch::Contains("not valid"));
    }
    CHECK_THROWS_AS(ensure_netns(std::string(256, 'x')), KernelError);
    struct stat st {};
    CHECK(::stat("/run/x", &st) != 0);
    // A namespace that does not exist is an error, not routerd's own namespace.
    bool ran = false;
    CHECK_THROWS_WITH(in_netns(ns.name + "-missing", [&] { ran = true; }),
                      Catch::Contains("/run/netns/" + ns.name + "-missing"));
    CHECK_FALSE(ran);
    CHECK_THROWS_AS(Tap::create(ns.name + "-missing", "rtd0", kTapMac, 1500), KernelError);
    CHECK_THROWS_AS(Rtnl(ns.name + "-missing"), KernelError);
  }
  SECTION("what f throws comes back to the caller") {
    CHECK_THROWS_WITH(in_netns(ns.name, [] { throw std::runtime_error("from inside"); }),
                      "from inside");
  }
  SECTION("interface names") {
    CHECK_THROWS_WITH(Tap::create(ns.name, "", kTapMac, 1500), Catch::Contains("not valid"));
    CHECK_THROWS_WITH(Tap::create(ns.name, "sixteen-chars-xx", kTapMac, 1500),
                      Catch::Contains("not valid"));
    CHECK_THROWS_AS(Tap::create(ns.name, "tap%d", kTapMac, 1500), KernelError);
    CHECK_THROWS_AS(Tap::create(ns.name, "a b", kTapMac, 1500), KernelError);
    CHECK(ip_json(ns.name, "link show").size() == 1);  // only lo
  }
  SECTION("a taken name") {
    Tap first = Tap::create(ns.name, "rtd0", kTapMac, 1500);
    CHECK_THROWS_WITH(Tap::create(ns.name, "rtd0", kPeerMac, 9000),
                      Catch::Contains("rtd0") && Catch::Contains("taken"));
    CHECK_THROWS_WITH(Tap::create(ns.name, "lo", kPeerMac, 9000), Catch::Contains("taken"));
    // The first one is untouched.
    const auto link = link_of(ns.name, "rtd0");
    CHECK(link.value("ifindex", 0) == first.ifindex());
    CHECK(link.value("mtu", 0) == 1500);
    CHECK(link.value("address", "") == "02:52:44:00:00:01");
  }
  SECTION("an MTU the device refuses removes the half-made interface") {
    CHECK_THROWS_WITH(Tap::create(ns.name, "rtd0", kTapMac, 10), Catch::Contains("set MTU 10"));
    CHECK(ifindex_in(ns.name, "rtd0") == 0);
  }
}

TEST_CASE("kernel_if: a Tap's interface lives as long as the Tap", "[kernel_if]") {
  KIF_NEED_ROOT();
  TestNs ns("kif-test");

  SECTION("the destructor removes it") {
    {
      Tap tap = Tap::create(ns.name, "rtd0", kTapMac, 1500);
      CHECK(ifindex_in(ns.name, "rtd0") == unsigned(tap.ifindex()));
    }
    CHECK(ifindex_in(ns.name, "rtd0") == 0);
    // And the name can be used again.
    Tap again = Tap::create(ns.name, "rtd0", kTapMac, 1500);
    CHECK(again.ifindex() > 0);
  }
  SECTION("a move hands it over without removing it") {
    Tap a = Tap::create(ns.name, "rtd0", kTapMac, 1500);
    const int ix = a.ifindex();
    Tap b(std::move(a));
    CHECK(b.ifindex() == ix);
    CHECK(b.name() == "rtd0");
    Tap c;
    c = std::move(b);
    CHECK(c.ifindex() == ix);
    CHECK(ifindex_in(ns.name, "rtd0") == unsigned(ix));
    // Assigning over a live Tap removes the one it held.
    c = Tap::create(ns.name, "rtd1", kTapMac, 1500);
    CHECK(ifindex_in(ns.name, "rtd0") == 0);
    CHECK(ifindex_in(ns.name, "rtd1") == unsigned(c.ifindex()));
  }
}
