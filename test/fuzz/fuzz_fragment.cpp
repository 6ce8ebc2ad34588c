// Fuzz target: fragmentation (lib/packet/fragment) of any datagram the worker would fragment
// (classify() forwards it, DF clear) at any MTU, and the reassembly the control thread uses
// (rte_ip_frag, as in lib/control/slowpath.cpp) over those fragments in any order, some
// repeated. Invariants: nothing is produced for a datagram that fits; otherwise every
// fragment is a frame with the given L2 header, at most the MTU, a right header checksum,
// the original's identification, addresses and protocol, offsets that tile the payload in
// 8-byte units with MF on all but the last, and the payloads put together are the original
// payload; the input frame is left as it was; reassembly gives back the original datagram.
#include <rte_ip_frag.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "dpdk.hpp"
#include "forward.hpp"
#include "fragment.hpp"
#include "fuzz_util.hpp"
#include "mbuf_util.hpp"
#include "packet_test_util.hpp"
#include "test_eal.hpp"

using namespace routerd;
using namespace routerd::fuzz;
using routerd::testing::get16;
using routerd::testing::ref_ok;

namespace {

rte_mempool* g_pool;
rte_ip_frag_tbl* g_tbl;
rte_ip_frag_death_row g_dr;
const Mac kRouterMac{{0x02, 0x00, 0x00, 0x00, 0xaa, 0x01}};
const uint8_t kL2[14] = {2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0xaa, 2, 0x08, 0x00};

void free_all(std::vector<rte_mbuf*>& v) {
  for (rte_mbuf* m : v) rte_pktmbuf_free(m);
  v.clear();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  testing::test_eal();
  static Mempool pool =
      make_pktmbuf_pool("fuzz_frag", 2048, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  g_pool = pool.get();
  // As the control thread's: 64 buckets x 4 entries, 256 datagrams.
  g_tbl = rte_ip_frag_table_create(64, 4, 256, rte_get_tsc_hz() * 2, SOCKET_ID_ANY);
  FUZZ_CHECK(g_tbl != nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Input: [MTU: 2 bytes, big-endian, 68..1600][order][repeat: bit 0] then the frame.
  if (size < 4) return 0;
  const uint16_t mtu = uint16_t(68 + (data[0] << 8 | data[1]) % (1600 - 68 + 1));
  const uint32_t order_seed = data[2];
  const bool repeat = data[3] & 1;
  std::vector<uint8_t> frame(data + 4, data + size);
  if (frame.size() < 34 || frame.size() > 2000) return 0;
  // Make it a frame for the router, so classify() judges the IP part.
  std::memcpy(frame.data(), kRouterMac.b.data(), 6);
  frame[12] = 0x08;
  frame[13] = 0x00;
  {
    rte_mbuf* c = pool_frame(g_pool, frame.data(), frame.size(), SIZE_MAX);
    PortFastInfo pi;
    pi.mac = kRouterMac;
    uint32_t d = 0;
    const Verdict v = classify(c, pi, true, &d);
    const bool df = ipv4_df(rte_pktmbuf_mtod_offset(c, const rte_ipv4_hdr*, 14));
    frame.resize(rte_pktmbuf_pkt_len(c));  // without the padding classify trimmed
    rte_pktmbuf_free(c);
    if (v.action != Verdict::forward || df) return 0;  // the worker would not fragment it
  }
  const uint8_t* oip = frame.data() + 14;
  const size_t ihl = size_t(oip[0] & 0xf) * 4, total = get16(oip + 2);
  const uint16_t ofrag = get16(oip + 6);

  HeapFrame hf(g_pool, frame.data(), frame.size(), SIZE_MAX);
  rte_mbuf* m = hf.get();
  rte_mbuf* out[kMaxFragments];
  const int n = fragment_ipv4(m, mtu, kL2, g_pool, out);
  FUZZ_CHECK(rte_pktmbuf_pkt_len(m) == frame.size() &&
                 std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), frame.data(), frame.size()) == 0,
             "fragment_ipv4 changed its input");
  if (total <= mtu) {
    FUZZ_CHECK(n == 0, "%d fragments of a %zu-byte datagram for MTU %u", n, total, mtu);
    return 0;
  }
  FUZZ_CHECK(n != 0);
  if (n < 0) {
    // Only "too many fragments" may refuse a datagram the worker passed (the pool is large).
    FUZZ_CHECK(n == -EINVAL, "fragment_ipv4 failed with %d", n);
    // Even with every option in every fragment, it must have needed more than kMaxFragments.
    const size_t worst = (mtu - ihl) & ~size_t(7);
    FUZZ_CHECK((total - ihl + worst - 1) / worst > kMaxFragments, "refused %zu bytes at MTU %u",
               total, mtu);
    return 0;
  }
  std::vector<rte_mbuf*> frags(out, out + n);
  std::vector<uint8_t> payload;
  size_t next_off = size_t(ofrag & 0x1fff) * 8;
  for (int i = 0; i < n; ++i) {
    rte_mbuf* f = frags[size_t(i)];
    FUZZ_CHECK(f->nb_segs == 1 && rte_pktmbuf_data_len(f) >= 34);
    const uint8_t* p = rte_pktmbuf_mtod(f, const uint8_t*);
    FUZZ_CHECK(std::memcmp(p, kL2, 14) == 0, "fragment %d: L2 header", i);
    const uint8_t* ip = p + 14;
    const size_t fihl = size_t(ip[0] & 0xf) * 4, ftotal = get16(ip + 2);
    FUZZ_CHECK((ip[0] >> 4) == 4 && fihl >= 20 && fihl <= ihl);
    FUZZ_CHECK(i > 0 || fihl == ihl, "the first fragment lost options");
    FUZZ_CHECK(ftotal + 14 == rte_pktmbuf_pkt_len(f) && ftotal <= mtu,
               "fragment %d: total %zu, frame %u, MTU %u", i, ftotal, rte_pktmbuf_pkt_len(f), mtu);
    FUZZ_CHECK(ref_ok(ip, fihl), "fragment %d: header checksum", i);
    FUZZ_CHECK(std::memcmp(ip + 4, oip + 4, 2) == 0 && ip[9] == oip[9] && ip[1] == oip[1] &&
                   ip[8] == oip[8] && std::memcmp(ip + 12, oip + 12, 8) == 0,
               "fragment %d: a header field changed", i);
    const uint16_t ff = get16(ip + 6);
    FUZZ_CHECK(size_t(ff & 0x1fff) * 8 == next_off, "fragment %d at %u, want %zu", i,
               (ff & 0x1fff) * 8, next_off);
    const bool last = i == n - 1;
    FUZZ_CHECK(bool(ff & 0x2000) == (last ? bool(ofrag & 0x2000) : true), "fragment %d: MF", i);
    const size_t plen = ftotal - fihl;
    FUZZ_CHECK(last || plen % 8 == 0, "fragment %d: %zu payload bytes", i, plen);
    FUZZ_CHECK(plen > 0 || total == ihl);
    payload.insert(payload.end(), ip + fihl, ip + ftotal);
    next_off += plen;
  }
  FUZZ_CHECK(
      payload.size() == total - ihl && std::memcmp(payload.data(), oip + ihl, payload.size()) == 0,
      "the fragments do not carry the payload");

  // Reassembly, fragments in an order the input picks, possibly one of them twice.
  if (ofrag & 0x3fff) {  // a fragment already: the rest of it is not here
    free_all(frags);
    return 0;
  }
  for (size_t i = frags.size(); i > 1; --i) {
    std::swap(frags[i - 1], frags[order_seed % i]);
  }
  if (repeat) {
    rte_mbuf* dup = rte_pktmbuf_copy(frags[0], g_pool, 0, UINT32_MAX);
    FUZZ_CHECK(dup != nullptr);
    frags.insert(frags.begin() + long(order_seed % frags.size()), dup);
  }
  rte_mbuf* whole = nullptr;
  for (size_t i = 0; i < frags.size(); ++i) {
    rte_mbuf* f = frags[i];
    frags[i] = nullptr;
    f->l2_len = 14;
    f->l3_len = uint16_t((rte_pktmbuf_mtod_offset(f, const uint8_t*, 14)[0] & 0xf) * 4);
    rte_mbuf* r = rte_ipv4_frag_reassemble_packet(g_tbl, &g_dr, f, rte_rdtsc(),
                                                  rte_pktmbuf_mtod_offset(f, rte_ipv4_hdr*, 14));
    rte_ip_frag_free_death_row(&g_dr, 0);
    if (r) {
      FUZZ_CHECK(whole == nullptr, "reassembled twice");
      whole = r;
    }
  }
  // A repeated fragment makes rte_ip_frag give up on the datagram (RFC 791 allows either),
  // and it keeps at most RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments of one.
  if (!repeat && n <= RTE_LIBRTE_IP_FRAG_MAX_FRAG)
    FUZZ_CHECK(whole != nullptr, "%d fragments did not reassemble", n);
  if (whole) {
    FUZZ_CHECK(rte_pktmbuf_linearize(whole) == 0);
    const uint8_t* ip = rte_pktmbuf_mtod_offset(whole, const uint8_t*, 14);
    const size_t wihl = size_t(ip[0] & 0xf) * 4;
    FUZZ_CHECK(get16(ip + 2) == total && wihl == ihl && (get16(ip + 6) & 0x3fff) == 0,
               "reassembled: total %u (want %zu), frag %04x", get16(ip + 2), total, get16(ip + 6));
    FUZZ_CHECK(rte_pktmbuf_pkt_len(whole) == 14 + total);
    FUZZ_CHECK(std::memcmp(ip + wihl, oip + ihl, total - ihl) == 0, "reassembled payload differs");
    rte_pktmbuf_free(whole);
  }
  // Nothing may stay in the table from one input to the next.
  rte_ip_frag_table_del_expired_entries(g_tbl, &g_dr, UINT64_MAX);
  rte_ip_frag_free_death_row(&g_dr, 0);
  return 0;
}
