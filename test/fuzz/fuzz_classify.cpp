// Fuzz target: the worker's classify stage (lib/worker/forward.hpp) over any frame, split
// into one or two segments, with any RX checksum flags and input-port broadcasts.
// Invariants: whenever the branch-free classify_fast says "forward", the exact classify()
// forwards to the same destination, and its burst-kind variants answer as it does; classify
// reads nothing past the frame (heap segments under ASan) and a forwarded frame is exactly
// its datagram; a Train built on a fast-path packet admits only packets classify() forwards
// the same way; forwards()/forward_limit() pass exactly what decide() forwards out of
// another port. IPv6 frames (classify() says `ipv6`) go through classify6() and decide6():
// a forwarded one is exactly its datagram, with the destination given, and decide6 forwards
// only through a forward next hop, within its MTU, with hop limit to spare, no link-local
// destination, and a link-local source only back out of its input port.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "dpdk.hpp"
#include "forward.hpp"
#include "fuzz_util.hpp"
#include "mbuf_util.hpp"
#include "test_eal.hpp"

using namespace routerd;
using namespace routerd::fuzz;

namespace {

rte_mempool* g_pool;
const Mac kRouterMac{{0x02, 0x00, 0x00, 0x00, 0xaa, 0x01}};
constexpr uint64_t kFlags[] = {RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_BAD,
                               RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_NONE};
constexpr uint32_t kAddrs[] = {0x0a010002, 0x08080808, 0x7f000001, 0x00010203, 0xe0000005,
                               0xf0000001, 0xffffffff, 0xa9fe0304, 0x0a0100ff, 0xdfffffff};

bool fast_for(const rte_mbuf* m, const FastKey& k, uint64_t flags, uint32_t* d) {
  if (flags == 0) return classify_fast<CkFlags::none>(m, k, d);
  if (flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD) return classify_fast<CkFlags::good>(m, k, d);
  return classify_fast<CkFlags::mixed>(m, k, d);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  testing::test_eal();
  static Mempool pool =
      make_pktmbuf_pool("fuzz_classify", 1024, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  g_pool = pool.get();
  return 0;
}

// Input: an 8-byte header, then 4 bytes per input-port broadcast, the frame, and a patch
// XORed into a copy of the frame for the train check.
//   [0] bits 0-1: RX checksum flags (unknown, bad, good, none); bit 2: drop_martians;
//       bit 3: input port; bit 4: next hop's port; bits 5-7: next-hop kind (5+: no route)
//   [1] broadcasts (mod 9)   [2] first segment length (255: one segment)
//   [3] second frame's length - first's (mod 5, - 2)   [4-5] next-hop MTU (mod 2001)
//   [6-7] frame length (big-endian)
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const uint8_t* h = data;
  const uint64_t flags = kFlags[h[0] & 3];
  const bool drop_martians = h[0] & 4;
  const uint16_t in_port = (h[0] >> 3) & 1, nh_port = (h[0] >> 4) & 1;
  const uint8_t nh_kind = uint8_t(std::min(h[0] >> 5, 5));
  PortFastInfo pi;
  pi.mac = kRouterMac;
  pi.enabled = true;
  pi.nbcast = uint8_t(h[1] % 9);
  const size_t split = h[2] == 255 ? SIZE_MAX : h[2];
  const int len_delta = h[3] % 5 - 2;
  const uint16_t nh_mtu = uint16_t((h[4] << 8 | h[5]) % 2001);
  size_t at = 8;
  for (uint8_t b = 0; b < pi.nbcast; ++b, at += 4)
    pi.bcast[b] =
        at + 4 <= size
            ? uint32_t(data[at] << 24 | data[at + 1] << 16 | data[at + 2] << 8 | data[at + 3])
            : kAddrs[b];
  at = std::min(at, size);
  const size_t len = std::min<size_t>(size_t(h[6] << 8 | h[7]), size - at);
  const std::vector<uint8_t> frame(data + at, data + at + len);
  const std::vector<uint8_t> patch(data + at + len, data + size);

  const FastKey key = fast_key(pi);
  rte_mbuf* mf = pool_frame(g_pool, frame.data(), frame.size(), split);
  mf->ol_flags = flags;
  uint32_t fd = 0, vd = 0;
  const bool fast = classify_fast<CkFlags::mixed>(mf, key, &fd);
  if (flags == 0 || flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
    FUZZ_CHECK(fast_for(mf, key, flags, &vd) == fast, "classify_fast variants disagree");
    if (fast) FUZZ_CHECK(vd == fd);
  }

  HeapFrame hf(g_pool, frame.data(), frame.size(), split);
  rte_mbuf* m = hf.get();
  m->ol_flags |= flags;
  uint32_t cd = 0;
  const Verdict v = classify(m, pi, drop_martians, &cd);
  if (fast)
    FUZZ_CHECK(v.action == Verdict::forward && cd == fd,
               "classify_fast forwards to %08x, classify says action %d reason %d dst %08x", fd,
               int(v.action), int(v.reason), cd);
  switch (v.action) {
    case Verdict::drop:
      FUZZ_CHECK(v.reason < uint8_t(Drop::count));
      break;
    case Verdict::punt:
      FUZZ_CHECK(Punt(v.reason) == Punt::arp || Punt(v.reason) == Punt::param_problem,
                 "classify punts only ARP and bad options, not %d", int(v.reason));
      if (Punt(v.reason) == Punt::param_problem) {
        const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
        FUZZ_CHECK(v.aux >= 20 && v.aux < uint32_t(ip[0] & 0xf) * 4, "pointer %u", v.aux);
      }
      break;
    case Verdict::forward: {
      const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
      const uint32_t total = rte_be_to_cpu_16(ip->total_length);
      FUZZ_CHECK(rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + 20u);
      FUZZ_CHECK(rte_pktmbuf_pkt_len(m) == total + RTE_ETHER_HDR_LEN, "padding left: %u for %u",
                 rte_pktmbuf_pkt_len(m), total);
      FUZZ_CHECK(cd == rte_be_to_cpu_32(ip->dst_addr));
      // The shared forward decision against decide(), for one next hop.
      NextHopState st{};
      st.kind = NhKind(nh_kind < 5 ? nh_kind : 0);
      st.mtu = nh_mtu;
      st.port = nh_port;
      st.id = 7;
      const NextHopState* nh = nh_kind < 5 ? &st : nullptr;
      const Verdict dv = decide(m, nh);
      const bool want = dv.action == Verdict::forward && nh->port != in_port;
      FUZZ_CHECK(forwards(m, forward_limit(nh, in_port)) == want,
                 "forwards() says %d, decide() action %d (kind %d mtu %u)", !want, int(dv.action),
                 nh_kind, nh_mtu);
      break;
    }
    case Verdict::fragment:
      FUZZ_CHECK(false, "classify never asks to fragment");
      break;
    case Verdict::tunnel:
    case Verdict::decap:
      // Both come from the next hop (decide), never from the packet alone.
      FUZZ_CHECK(false, "classify never says tunnel or decap, here %d", int(v.action));
      break;
    case Verdict::ipv6: {
      uint8_t d6[16] = {};
      const Verdict v6 = classify6(m, pi, d6);
      FUZZ_CHECK(v6.action != Verdict::fragment && v6.action != Verdict::ipv6);
      if (v6.action == Verdict::punt)
        FUZZ_CHECK(Punt(v6.reason) == Punt::ndp, "classify6 punts only NDP, not %d",
                   int(v6.reason));
      if (v6.action == Verdict::drop) FUZZ_CHECK(v6.reason < uint8_t(Drop::count));
      if (v6.action != Verdict::forward) break;
      const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, RTE_ETHER_HDR_LEN);
      FUZZ_CHECK(rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + 40u);
      FUZZ_CHECK(rte_pktmbuf_pkt_len(m) == RTE_ETHER_HDR_LEN + 40u + (ip[4] << 8 | ip[5]),
                 "IPv6 padding left");
      FUZZ_CHECK(std::equal(d6, d6 + 16, ip + 24), "classify6 gave another destination");
      NextHopState st{};
      st.kind = NhKind(nh_kind < 5 ? nh_kind : 0);
      st.mtu = nh_mtu;
      st.port = nh_port;
      st.id = 7;
      const Verdict dv = decide6(m, nh_kind < 5 ? &st : nullptr, in_port);
      if (dv.action == Verdict::forward) {
        FUZZ_CHECK(nh_kind == uint8_t(NhKind::forward) && ip[7] > 1 &&
                       rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN <= nh_mtu,
                   "decide6 forwards what it must not");
        // RFC 4007 9: a link-local source only back out of the port it came in on.
        FUZZ_CHECK(!Ipv6::from_bytes(ip + 24).is_link_local() &&
                       (!Ipv6::from_bytes(ip + 8).is_link_local() || nh_port == in_port),
                   "decide6 forwards a link-local address off its link");
      }
      break;
    }
  }

  // A train on a fast-path packet, over a second packet: the first one patched.
  if (fast && (flags == 0 || flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD)) {
    std::vector<uint8_t> second = frame;
    second.resize(size_t(std::max<long>(0, long(frame.size()) + len_delta)), 0);
    for (size_t i = 0; i < patch.size() && i < second.size(); ++i) second[i] ^= patch[i];
    rte_mbuf* m2 = pool_frame(g_pool, second.data(), second.size(), split);
    m2->ol_flags = flags;
    const Train train(mf);
    const bool admitted =
        flags == 0 ? train.admits<CkFlags::none>(m2) : train.admits<CkFlags::good>(m2);
    rte_pktmbuf_free(m2);
    if (admitted) {
      HeapFrame h2(g_pool, second.data(), second.size(), split);
      h2.get()->ol_flags |= flags;
      uint32_t d2 = 0;
      const Verdict v2 = classify(h2.get(), pi, drop_martians, &d2);
      FUZZ_CHECK(v2.action == Verdict::forward && d2 == fd,
                 "a train admitted a packet classify treats otherwise (action %d reason %d)",
                 int(v2.action), int(v2.reason));
      FUZZ_CHECK(rte_pktmbuf_pkt_len(h2.get()) == rte_pktmbuf_pkt_len(mf));
      FUZZ_CHECK(second[22] == frame[22], "a train admitted another TTL");
    }
  }
  rte_pktmbuf_free(mf);
  return 0;
}
