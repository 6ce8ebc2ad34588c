// Fuzz target: the control thread's handling of whatever the wire can make a worker punt
// (lib/control/slowpath.cpp, originate.cpp): ARP, packets for the router (echo requests,
// fragments into its reassembly table, ICMP errors about its own packets: PTBs that teach
// path MTUs, redirects that teach first hops), TTL expiry, redirects, unresolved next hops.
// A control thread with two net_null ports, routes, a resolved and an unresolved neighbour
// and accept_redirects; each input is a sequence of frames, each run through the worker's
// own classify/lookup/decide first, so control sees exactly what it would see in routerd.
// Invariants: no exception escapes a handler (control_error stays 0); everything the
// router sends is a well-formed frame for a real port (ARP that parses, IPv4 with a right
// header checksum and a length that matches the frame and fits the port's MTU; ICMP it
// originates has a right checksum); the mbufs the control thread holds stay bounded.
//
// Input: records of [flags][ms][length: 2 bytes, big-endian][frame]. flags bit 0: the
// input port (p0 02:00:00:00:aa:01, p1 02:00:00:00:aa:02); bit 1: address the frame to that
// port's MAC (so that one input fits either port).
#include <rte_bus_vdev.h>
#include <rte_fib6.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "arp.hpp"
#include "command.hpp"
#include "control.hpp"
#include "dpdk.hpp"
#include "forward.hpp"
#include "fuzz_util.hpp"
#include "icmp6.hpp"
#include "mbuf_util.hpp"
#include "ndp.hpp"
#include "packet_test_util.hpp"
#include "port.hpp"
#include "slowpath.hpp"
#include "test_eal.hpp"

using namespace routerd;
using routerd::testing::get16;
using routerd::testing::ref_ok;

namespace {

constexpr uint32_t kMbufs = 16384;

// What test/control_rig.cpp builds, without Catch2: two net_null ports, p0 10.1.0.1/24 and
// p1 10.2.0.1/24, MTU 1500.
struct Rig {
  Mempool pool;
  Ring punt, ctl_tx;
  SharedState dp;
  std::vector<std::unique_ptr<Port>> ports;
  std::unique_ptr<Control> ctl;
  uint16_t port_id[2] = {};
  uint64_t now = 1000;

  static Config config() {
    Config c;
    c.accept_redirects = true;  // exercise what a redirect teaches, too
    c.icmp_rate = 1000000;      // the rate limit would hide most of the paths
    c.icmp_burst = 1000000;
    return c;
  }

  Rig()
      : pool((testing::test_eal(),
              make_pktmbuf_pool("fz_pool", kMbufs, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY))),
        punt(make_ring("fz_punt", 256, sizeof(PuntEntry), SOCKET_ID_ANY, RING_F_SC_DEQ)),
        ctl_tx(make_ring("fz_tx", 1024, sizeof(TxEntry), SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ)),
        dp(DataplaneParams{}, 1, 64, Fib::Params{1024, 64, SOCKET_ID_ANY},
           Fib6::Params{1024, 64, SOCKET_ID_ANY}, punt.get(), ctl_tx.get()) {
    std::vector<Control::PortRef> refs;
    for (int i = 0; i < 2; ++i) {
      const std::string dev = "net_null_fz" + std::to_string(i);
      FUZZ_CHECK(rte_vdev_init(dev.c_str(), nullptr) == 0);
      PortConfig pc;
      pc.name = "p" + std::to_string(i);
      pc.device = dev;
      pc.mtu = 1500;
      pc.mac = Mac{{0x02, 0x00, 0x00, 0x00, 0xaa, uint8_t(1 + i)}};
      ports.push_back(std::make_unique<Port>(pc, Preset{}, 1, pool.get()));
      port_id[i] = ports.back()->id();
      refs.push_back({ports.back().get(), port_id[i], pc.name, ports.back()->mac(), 1500});
    }
    ctl = std::make_unique<Control>(dp, config(), refs, pool.get());
    for (const char* line :
         {"addr add 10.1.0.1/24 dev p0", "addr add 10.2.0.1/24 dev p1",
          "route add default via 10.2.0.2", "route add 10.9.0.0/16 via 10.1.0.3 mtu 1300",
          "route add 10.8.0.0/16 via 10.2.0.3",
          "neigh add 10.2.0.2 lladdr 02:00:00:00:02:02 dev p1",
          "neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev p0", "addr add 2001:db8:1::1/64 dev p0",
          "addr add 2001:db8:2::1/64 dev p1", "route add 2001:db8:9::/48 via 2001:db8:2::2",
          "route add 2001:db8:8::/48 via fe80::3 dev p0",
          "neigh add 2001:db8:2::2 lladdr 02:00:00:00:02:02 dev p1"})
      ctl->execute(parse_request(split_command_line(line)));
  }
};

Rig* g_rig;

// Everything the control thread hands worker 0 to send.
void check_sent(Rig& r) {
  TxEntry e[64];
  unsigned n;
  while ((n = rte_ring_sc_dequeue_burst_elem(r.ctl_tx.get(), e, sizeof(TxEntry), 64, nullptr)) >
         0) {
    for (unsigned i = 0; i < n; ++i) {
      rte_mbuf* m = e[i].m;
      FUZZ_CHECK(e[i].port == r.port_id[0] || e[i].port == r.port_id[1], "sent on port %u",
                 e[i].port);
      FUZZ_CHECK(m->nb_segs == 1 && rte_pktmbuf_data_len(m) >= 14, "a %u-segment frame sent",
                 m->nb_segs);
      const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
      const uint32_t len = rte_pktmbuf_pkt_len(m);
      const uint16_t et = get16(p + 12);
      if (et == 0x0806) {
        FUZZ_CHECK(len == kMinFrameLen && arp_parse(p + 14, len - 14).has_value(), "bad ARP sent");
      } else if (et == 0x86dd) {
        FUZZ_CHECK(len >= 54, "a %u-byte IPv6 frame sent", len);
        const uint8_t* ip = p + 14;
        FUZZ_CHECK((ip[0] >> 4) == 6, "IPv6 EtherType, version %u", ip[0] >> 4);
        FUZZ_CHECK(40u + get16(ip + 4) + 14 == len, "payload length %u in a %u-byte frame",
                   get16(ip + 4), len);
        FUZZ_CHECK(len - 14 <= 1500, "a %u-byte IPv6 datagram sent on a 1500-byte port", len - 14);
        FUZZ_CHECK(ip[7] > 0, "sent with hop limit 0");
        // What the router made itself (ICMPv6, NDP) carries a right checksum.
        if (ip[6] == 58 && m->hash.usr != slowpath::kTransit)
          FUZZ_CHECK(icmp6_checksum(Ipv6::from_bytes(ip + 8), Ipv6::from_bytes(ip + 24), ip + 40,
                                    len - 54) == 0,
                     "the router sent ICMPv6 with a wrong checksum");
        if (ip[6] == 58 && m->hash.usr != slowpath::kTransit && ip[40] >= 133 && ip[40] <= 137)
          FUZZ_CHECK(ndp_parse(ip, len - 14).has_value(), "the router sent an invalid NDP message");
      } else {
        FUZZ_CHECK(et == 0x0800, "ethertype %04x sent", et);
        FUZZ_CHECK(len >= 34);
        const uint8_t* ip = p + 14;
        const size_t ihl = size_t(ip[0] & 0xf) * 4, total = get16(ip + 2);
        FUZZ_CHECK((ip[0] >> 4) == 4 && ihl >= 20 && total >= ihl && len >= 14 + ihl);
        FUZZ_CHECK(total + 14 == len, "IP total %zu in a %u-byte frame", total, len);
        FUZZ_CHECK(total <= 1500, "a %zu-byte datagram sent on a 1500-byte MTU port", total);
        FUZZ_CHECK(ref_ok(ip, ihl), "sent with a wrong header checksum");
        FUZZ_CHECK(ip[8] > 0, "sent with TTL 0");
        const bool frag = (get16(ip + 6) & 0x3fff) != 0;
        // Transit packets keep whatever checksum they came with, even one spoofing a router
        // address as source; what the router made itself is marked so by the slow path.
        if (ip[9] == 1 && m->hash.usr == slowpath::kOriginated && !frag)
          FUZZ_CHECK(ref_ok(ip + ihl, total - ihl), "the router sent ICMP with a wrong checksum");
      }
      rte_pktmbuf_free(m);
    }
  }
}

// As Worker: classify, look up, decide; what is not forwarded or dropped goes to control.
void inject(Rig& r, int port, bool to_port, const uint8_t* p, size_t len) {
  const uint16_t in = r.port_id[port];
  rte_mbuf* m = fuzz::pool_frame(r.pool.get(), p, len, SIZE_MAX);
  m->port = in;
  m->hash.usr = 0;  // a reused mbuf must not look router-made
  if (to_port && len >= 6) {
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0xaa, uint8_t(1 + port)};
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), mac, 6);
  }
  const IfSnapshot* ifs = r.dp.ifs.load(std::memory_order_acquire);
  uint32_t dst = 0;
  Verdict v = classify(m, ifs->ports[in], true, &dst);
  const NextHopState* s = nullptr;
  if (v.action == Verdict::ipv6) {
    uint8_t d6[16];
    v = classify6(m, ifs->ports[in], d6);
    if (v.action == Verdict::forward) {
      uint64_t nh = 0;
      rte_fib6_lookup_bulk(r.dp.fib6.reader(), &d6, &nh, 1);
      s = state_of(r.dp, nh);
      v = decide6(m, s, in);
      if (v.action == Verdict::forward && s->port == in) v = v_punt(Punt::redirect, s->id);
    }
  } else if (v.action == Verdict::forward) {
    CacheTally t{};
    lookup_states(r.dp, nullptr, 0, &dst, 1, &s, &t);
    v = decide(m, s);
    if (v.action == Verdict::forward && s->port == in) v = v_punt(Punt::redirect, s->id);
  }
  if (v.action != Verdict::punt) {
    rte_pktmbuf_free(m);  // forwarded, fragmented or dropped by the worker itself
    return;
  }
  PuntEntry e{m, v.aux, v.reason, 0, in};
  if (rte_ring_enqueue_elem(r.punt.get(), &e, sizeof e) != 0) rte_pktmbuf_free(m);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static Rig rig;
  g_rig = &rig;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Rig& r = *g_rig;
  LcoreStats& st = r.dp.control_stats();
  const uint64_t errors = st.event[size_t(Event::control_error)].get();
  size_t i = 0;
  while (i + 4 <= size) {
    const uint64_t ms = data[i + 1];
    const size_t len = std::min<size_t>(get16(data + i + 2), size - i - 4);
    inject(r, data[i] & 1, data[i] & 2, data + i + 4, std::min<size_t>(len, 2000));
    i += 4 + len;
    r.now += ms;
    r.ctl->poll_once(r.now);
    check_sent(r);
  }
  r.now += 1;
  r.ctl->poll_once(r.now);
  check_sent(r);
  FUZZ_CHECK(st.event[size_t(Event::control_error)].get() == errors,
             "an exception escaped a packet handler (see the log line above)");
  // Reassembly (256 datagrams of at most 8 fragments) and ARP queues (8 packets for each of
  // at most ~510 neighbours on the two /24s) are all the control thread may keep.
  // The IPv6 neighbour table holds its queues under the same caps as ARP's.
  FUZZ_CHECK(rte_mempool_in_use_count(r.pool.get()) < 256 * 8 + 2 * 512 * 8 + 64, "%u mbufs held",
             rte_mempool_in_use_count(r.pool.get()));
  return 0;
}
