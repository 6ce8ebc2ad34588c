// Control-plane interfaces and link-local multicast (issue 16): a control thread with
// [control_plane] on, its TAPs in a namespace of the test's own, fed punts as a worker hands
// them over; a raw socket in the namespace plays the routing daemon.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "control_rig.hpp"
#include "kernel_if.hpp"
#include "ndp.hpp"
#include "test_netns.hpp"

using namespace routerd;
using nlohmann::json;
using routerd::kif::testing::TestNs;

namespace {

Config cp_config(const std::string& ns, const std::vector<std::string>& allow,
                 uint32_t rate = 10000, uint32_t burst = 1000) {
  Config c;
  c.cp_enabled = true;
  c.cp_netns = ns;
  c.cp_allow_names = allow;
  c.cp_allow = punt_rules(allow);
  c.cp_follow_link = false;  // net_null ports: the kernel interfaces are up regardless
  c.cp_punt_rate = rate;
  c.cp_punt_burst = burst;
  return c;
}

// The rig after its timers ran long enough for DAD to assign the link-local addresses and
// the kernel interfaces to mirror them; what it sent meanwhile is discarded.
struct CpRig : testing::ControlRig {
  uint64_t now = 100;
  explicit CpRig(const Config& c)
      : ControlRig(Options{.readers = 1, .next_hops = 64, .tbl8 = 64, .config = c}) {
    for (; now <= 4000; now += 100) ctl->poll_once(now);
    drain();
  }
  std::vector<TxEntry> drain() {
    std::vector<TxEntry> out;
    TxEntry t;
    while (rte_ring_dequeue_elem(ctl_tx.get(), &t, sizeof t) == 0) out.push_back(t);
    return out;
  }
  void hand_over(rte_mbuf* m, uint16_t in_port) {
    PuntEntry e{m, 0, uint8_t(Punt::link_multicast), 0, in_port};
    REQUIRE(rte_ring_enqueue_elem(punt.get(), &e, sizeof e) == 0);
  }
  uint64_t stat(const char* group, const char* name) {
    return run({"stats"})[group][name].get<uint64_t>();
  }
};

constexpr uint8_t kOspf = 89;
constexpr uint8_t kPeerMac[6] = {0x02, 0x5b, 0x00, 0x00, 0x00, 0x02};  // the neighbour's

// An OSPF-like datagram to a link-local group, as it arrives from the wire.
rte_mbuf* v4_frame(rte_mempool* pool, Ipv4 dst, const std::string& payload, uint8_t proto = kOspf) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  REQUIRE(m);
  const size_t len = 14 + 20 + payload.size();
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(len)));
  std::memset(p, 0, len);
  const uint8_t mac[6] = {
      0x01, 0x00, 0x5e, uint8_t((dst.v >> 16) & 0x7f), uint8_t(dst.v >> 8), uint8_t(dst.v)};
  std::memcpy(p, mac, 6);
  std::copy(std::begin(kPeerMac), std::end(kPeerMac), p + 6);
  p[12] = 0x08;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
  ip->version_ihl = 0x45;
  ip->total_length = rte_cpu_to_be_16(uint16_t(20 + payload.size()));
  ip->time_to_live = 1;
  ip->next_proto_id = proto;
  ip->src_addr = rte_cpu_to_be_32(Ipv4(10, 1, 0, 2).v);
  ip->dst_addr = rte_cpu_to_be_32(dst.v);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  std::copy(payload.begin(), payload.end(), p + 34);
  return m;
}

rte_mbuf* v6_frame(rte_mempool* pool, const Ipv6& dst, const std::string& payload) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  REQUIRE(m);
  const size_t len = 14 + 40 + payload.size();
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(len)));
  std::memset(p, 0, len);
  const uint8_t mac[6] = {0x33, 0x33, dst.b[12], dst.b[13], dst.b[14], dst.b[15]};
  std::memcpy(p, mac, 6);
  std::copy(std::begin(kPeerMac), std::end(kPeerMac), p + 6);
  p[12] = 0x86;
  p[13] = 0xdd;
  uint8_t* ip = p + 14;
  ip[0] = 0x60;
  ip[4] = uint8_t(payload.size() >> 8);
  ip[5] = uint8_t(payload.size());
  ip[6] = kOspf;
  ip[7] = 1;
  const Ipv6 src = *Ipv6::parse("fe80::5b:2");
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  std::copy(payload.begin(), payload.end(), ip + 40);
  return m;
}

// A raw socket for protocol 89 in the namespace, a member of `group` on interface `dev`, as
// ospfd's and ospf6d's are. (Made on in_netns's thread, where Catch may not assert.)
int daemon_socket(const std::string& ns, const std::string& dev, int family, const char* group) {
  int fd = -1;
  std::string failed;
  kif::in_netns(ns, [&] {
    fd = ::socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kOspf);
    const int ifx = int(::if_nametoindex(dev.c_str()));
    if (fd < 0 || ifx <= 0) {
      failed = "socket or interface";
      return;
    }
    if (family == AF_INET) {
      ip_mreqn mr{};
      ::inet_pton(AF_INET, group, &mr.imr_multiaddr);
      mr.imr_ifindex = ifx;
      if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) != 0 ||
          ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) != 0)
        failed = std::string("join: ") + std::strerror(errno);
    } else {
      ipv6_mreq mr{};
      ::inet_pton(AF_INET6, group, &mr.ipv6mr_multiaddr);
      mr.ipv6mr_interface = unsigned(ifx);
      if (::setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof mr) != 0 ||
          ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifx, sizeof ifx) != 0)
        failed = std::string("join: ") + std::strerror(errno);
    }
  });
  INFO(dev << " " << group << ": " << failed);
  REQUIRE(failed.empty());
  return fd;
}

// What the socket receives within timeout_ms (IPv4 raw sockets include the IP header).
std::string receive(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return "";
  char buf[2048];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, size_t(n)) : "";
}

}  // namespace

TEST_CASE("control-plane interfaces on: the workers are told to punt link-local multicast",
          "[control][kernel]") {
  KIF_NEED_ROOT();
  {
    testing::ControlRig off(testing::ControlRig::Options{});
    const IfSnapshot* ifs = off.dp.ifs.load();
    for (const auto& p : off.ports) CHECK_FALSE(ifs->ports[p->id()].link_multicast);
  }
  TestNs ns("cp-test");
  CpRig r(cp_config(ns.name, {"ospf"}));
  const IfSnapshot* ifs = r.dp.ifs.load();
  for (const auto& p : r.ports) CHECK(ifs->ports[p->id()].link_multicast);
  // Still so after the addresses changed (a new snapshot).
  r.run({"addr", "add", "10.7.0.1/24", "dev", "p0"});
  CHECK(r.dp.ifs.load() != ifs);
  CHECK(r.dp.ifs.load()->ports[r.ports[0]->id()].link_multicast);
}

TEST_CASE("link-local multicast reaches the kernel interface when the allow list names it",
          "[control][kernel]") {
  KIF_NEED_ROOT();
  TestNs ns("cp-test");
  CpRig r(cp_config(ns.name, {"ospf"}));
  const uint16_t p0 = r.ports[0]->id();
  const int fd4 = daemon_socket(ns.name, "p0", AF_INET, "224.0.0.5");
  const int fd6 = daemon_socket(ns.name, "p0", AF_INET6, "ff02::5");
  const uint64_t to_kernel = r.stat("events", "punt_kernel");

  SECTION("OSPFv2 to AllSPFRouters and OSPFv3 to ff02::5 arrive on p0 as they came") {
    r.hand_over(v4_frame(r.pool.get(), Ipv4(224, 0, 0, 5), "hello-v4"), p0);
    r.hand_over(v6_frame(r.pool.get(), *Ipv6::parse("ff02::5"), "hello-v6"), p0);
    r.ctl->poll_once(r.now);
    const std::string got4 = receive(fd4, 1000);
    REQUIRE(got4.size() == 20 + 8);
    CHECK(got4.substr(20) == "hello-v4");
    CHECK(got4[9] == char(kOspf));
    CHECK(receive(fd6, 1000) == "hello-v6");
    CHECK(r.stat("events", "punt_kernel") == to_kernel + 2);
    CHECK(r.stat("drops", "cp_denied") == 0);
  }
  SECTION("a group the kernel did not join is handed over, and the kernel drops it") {
    r.hand_over(v4_frame(r.pool.get(), Ipv4(224, 0, 0, 6), "to-dr"), p0);
    r.ctl->poll_once(r.now);
    CHECK(r.stat("events", "punt_kernel") == to_kernel + 1);
    CHECK(receive(fd4, 300).empty());
  }
  SECTION("not named by the allow list: dropped as cp_denied, the kernel never sees it") {
    r.hand_over(v4_frame(r.pool.get(), Ipv4(224, 0, 0, 9), "rip", IPPROTO_UDP), p0);
    r.hand_over(v4_frame(r.pool.get(), Ipv4(224, 0, 0, 5), "vrrp", 112), p0);
    r.ctl->poll_once(r.now);
    CHECK(r.stat("drops", "cp_denied") == 2);
    CHECK(r.stat("events", "punt_kernel") == to_kernel);
    CHECK(receive(fd4, 300).empty());
  }
  SECTION("a frame shorter than its datagram is refused") {
    rte_mbuf* m = v4_frame(r.pool.get(), Ipv4(224, 0, 0, 5), "truncated");
    rte_pktmbuf_trim(m, 4);
    r.hand_over(m, p0);
    r.ctl->poll_once(r.now);
    CHECK(r.stat("drops", "local_unhandled") == 1);
    CHECK(r.stat("events", "punt_kernel") == to_kernel);
  }
  ::close(fd4);
  ::close(fd6);
}

TEST_CASE("link-local multicast to the kernel is held to control_plane.punt_rate",
          "[control][kernel]") {
  KIF_NEED_ROOT();
  TestNs ns("cp-test");
  // One a second, two at once; the rig's settling left the bucket full.
  CpRig r(cp_config(ns.name, {"ospf"}, 1, 2));
  const int fd4 = daemon_socket(ns.name, "p1", AF_INET, "224.0.0.5");
  const uint64_t to_kernel = r.stat("events", "punt_kernel");
  const uint64_t limited = r.stat("drops", "cp_rate_limited");
  for (int i = 0; i < 5; ++i)
    r.hand_over(v4_frame(r.pool.get(), Ipv4(224, 0, 0, 5), "flood" + std::to_string(i)),
                r.ports[1]->id());
  r.ctl->poll_once(r.now);
  CHECK(r.stat("events", "punt_kernel") == to_kernel + 2);
  // Exactly the flood's 3: what the kernel sends meanwhile (the join's IGMP reports, IPv6's
  // MLD and solicitations, on its own clock) has a bucket of its own and its own counter.
  CHECK(r.stat("drops", "cp_rate_limited") == limited + 3);
  CHECK(receive(fd4, 1000).substr(20) == "flood0");
  CHECK(receive(fd4, 1000).substr(20) == "flood1");
  CHECK(receive(fd4, 200).empty());
  ::close(fd4);
}

TEST_CASE("what the kernel sends is held to control_plane.punt_rate, counted apart",
          "[control][kernel]") {
  KIF_NEED_ROOT();
  TestNs ns("cp-test");
  // One a second, two at once; the clock stands still while the frames are read, so two
  // leave in all.
  CpRig r(cp_config(ns.name, {"ospf"}, 1, 2));
  const int fd4 = daemon_socket(ns.name, "p1", AF_INET, "224.0.0.5");
  const uint64_t from_kernel = r.stat("events", "from_kernel");
  const uint64_t to_limited = r.stat("drops", "cp_rate_limited");
  const uint64_t from_limited = r.stat("drops", "cp_from_kernel_limited");
  sockaddr_in to4{};
  to4.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, "224.0.0.5", &to4.sin_addr) == 1);
  // The kernel's frames during the rig's settling took tokens at this clock: 3 s later the
  // bucket is full again.
  r.now += 3000;
  for (int i = 0; i < 5; ++i)
    REQUIRE(::sendto(fd4, "hello", 5, 0, reinterpret_cast<sockaddr*>(&to4), sizeof to4) == 5);
  int hellos = 0;
  for (int i = 0; i < 10; ++i) {
    r.ctl->poll_once(r.now);
    for (const TxEntry& t : r.drain()) {
      const auto* f = rte_pktmbuf_mtod(t.m, const uint8_t*);
      const size_t n = rte_pktmbuf_data_len(t.m);
      hellos += n == 14 + 20 + 5 && f[12] == 0x08 && f[14 + 9] == kOspf;
      rte_pktmbuf_free(t.m);
    }
    ::usleep(10000);
  }
  // The kernel's own frames (IGMP reports for the join) may take tokens too: at most two of
  // the five Hellos leave, at least three frames are refused, all under the new counter.
  CHECK(r.stat("events", "from_kernel") == from_kernel + 2);
  CHECK(hellos <= 2);
  CHECK(r.stat("drops", "cp_from_kernel_limited") >= from_limited + 3);
  CHECK(r.stat("drops", "cp_rate_limited") == to_limited);
  ::close(fd4);
}

TEST_CASE("the kernel's multicast (OSPF Hellos) goes out the port with the group's MAC",
          "[control][kernel]") {
  KIF_NEED_ROOT();
  TestNs ns("cp-test");
  CpRig r(cp_config(ns.name, {"ospf"}));
  const uint16_t p1 = r.ports[1]->id();
  const int fd4 = daemon_socket(ns.name, "p1", AF_INET, "224.0.0.5");
  const int fd6 = daemon_socket(ns.name, "p1", AF_INET6, "ff02::5");
  sockaddr_in to4{};
  to4.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, "224.0.0.5", &to4.sin_addr) == 1);
  sockaddr_in6 to6{};
  to6.sin6_family = AF_INET6;
  REQUIRE(::inet_pton(AF_INET6, "ff02::5", &to6.sin6_addr) == 1);
  REQUIRE(::sendto(fd4, "out-v4", 6, 0, reinterpret_cast<sockaddr*>(&to4), sizeof to4) == 6);
  REQUIRE(::sendto(fd6, "out-v6", 6, 0, reinterpret_cast<sockaddr*>(&to6), sizeof to6) == 6);
  bool v4 = false, v6 = false;
  for (int i = 0; i < 100 && !(v4 && v6); ++i) {
    r.ctl->poll_once(r.now);
    for (const TxEntry& t : r.drain()) {
      const auto* f = rte_pktmbuf_mtod(t.m, const uint8_t*);
      const size_t n = rte_pktmbuf_data_len(t.m);
      const bool mine = std::memcmp(f + 6, r.ports[1]->mac().b.data(), 6) == 0;
      if (t.port == p1 && mine && n == 14 + 20 + 6 && f[12] == 0x08 && f[14 + 9] == kOspf) {
        CHECK(std::memcmp(f, "\x01\x00\x5e\x00\x00\x05", 6) == 0);
        CHECK(std::memcmp(f + 14 + 16, "\xe0\x00\x00\x05", 4) == 0);
        CHECK(std::string(reinterpret_cast<const char*>(f) + 34, 6) == "out-v4");
        v4 = true;
      }
      if (t.port == p1 && mine && n == 14 + 40 + 6 && f[12] == 0x86 && f[14 + 6] == kOspf) {
        CHECK(std::memcmp(f, "\x33\x33\x00\x00\x00\x05", 6) == 0);
        CHECK(f[14 + 8] == 0xfe);  // from the port's link-local address
        CHECK(std::string(reinterpret_cast<const char*>(f) + 54, 6) == "out-v6");
        v6 = true;
      }
      rte_pktmbuf_free(t.m);
    }
    if (!(v4 && v6)) ::usleep(10000);
  }
  CHECK(v4);
  CHECK(v6);
  ::close(fd4);
  ::close(fd6);
}

TEST_CASE("the groups the kernel joins are added to the port's multicast reception",
          "[control][kernel]") {
  KIF_NEED_ROOT();
  TestNs ns("cp-test");
  CpRig r(cp_config(ns.name, {"ospf"}));
  const Port& p0 = *r.ports[0];
  const Port& p1 = *r.ports[1];
  const size_t before0 = p0.rx_multicast().groups, before1 = p1.rx_multicast().groups;
  // A NIC with an exact filter would drop OSPF's frames otherwise: ospfd joins 224.0.0.5
  // and 224.0.0.6 (01:00:5e:00:00:05/06), ospf6d ff02::5 (33:33:00:00:00:05), on p0 only.
  const int a = daemon_socket(ns.name, "p0", AF_INET, "224.0.0.5");
  const int b = daemon_socket(ns.name, "p0", AF_INET, "224.0.0.6");
  const int c = daemon_socket(ns.name, "p0", AF_INET6, "ff02::5");
  r.ctl->poll_once(r.now += 100);  // a tick: kernel_sync
  CHECK(p0.rx_multicast().groups == before0 + 3);
  CHECK(p1.rx_multicast().groups == before1);
  // Left again when the daemon goes.
  ::close(a);
  ::close(b);
  ::close(c);
  r.ctl->poll_once(r.now += 100);
  CHECK(p0.rx_multicast().groups == before0);
}

TEST_CASE("a Router Advertisement from the wire reaches the kernel interface (BGP unnumbered)",
          "[control][kernel][rfc5549]") {
  KIF_NEED_ROOT();
  TestNs ns("cp-test");
  CpRig r(cp_config(ns.name, {"bgp"}));
  const uint16_t p0 = r.ports[0]->id();
  // An ICMPv6 raw socket on p0, as zebra's router-advertisement socket is: the allow list
  // does not name ICMPv6, the copy is made all the same (as for NS and NA).
  int fd = -1;
  kif::in_netns(ns.name, [&] {
    fd = ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "p0", 3);
  });
  REQUIRE(fd >= 0);
  const uint64_t to_kernel = r.stat("events", "punt_kernel");
  const Mac peer{{kPeerMac[0], kPeerMac[1], kPeerMac[2], kPeerMac[3], kPeerMac[4], kPeerMac[5]}};
  const Ipv6 peer_ll = *Ipv6::parse("fe80::5b:2");
  uint8_t ra[kNdMaxFrame];
  const size_t len = ndp_build_ra(ra, peer, peer_ll, *Ipv6::parse("ff02::1"),
                                  *Mac::parse("33:33:00:00:00:01"), 1800, 0, {});
  rte_mbuf* m = rte_pktmbuf_alloc(r.pool.get());
  REQUIRE(m);
  std::memcpy(rte_pktmbuf_append(m, uint16_t(len)), ra, len);
  m->port = p0;
  PuntEntry e{m, 0, uint8_t(Punt::ndp), 0, p0};
  REQUIRE(rte_ring_enqueue_elem(r.punt.get(), &e, sizeof e) == 0);
  r.ctl->poll_once(r.now);
  // The daemon sees the RA as it came (type 134 from the peer's link-local address), and
  // routerd took it in too (the peer is a router neighbour on p0).
  pollfd pf{fd, POLLIN, 0};
  REQUIRE(::poll(&pf, 1, 1000) == 1);
  uint8_t buf[2048];
  sockaddr_in6 from{};
  socklen_t fl = sizeof from;
  const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
  REQUIRE(n >= 16);
  CHECK(buf[0] == 134);
  CHECK(Ipv6::from_bytes(from.sin6_addr.s6_addr) == peer_ll);
  CHECK(r.stat("events", "punt_kernel") == to_kernel + 1);
  bool router = false;
  for (const auto& nb : r.run({"neigh", "show"}))
    router |= nb["dst"] == "fe80::5b:2" && nb["dev"] == "p0" && nb.value("router", false);
  CHECK(router);
  ::close(fd);
}
