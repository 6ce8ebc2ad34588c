#include "fragment.hpp"

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "dpdk.hpp"
#include "test_eal.hpp"

using namespace routerd;

namespace {

const uint8_t kL2[14] = {2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0xaa, 2, 0x08, 0x00};

rte_mempool* pool() {
  static Mempool p =
      (testing::test_eal(),
       make_pktmbuf_pool("frag_test", 1024, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY));
  return p.get();
}

// An Ethernet frame with an IPv4 datagram of `total` bytes, the given options, and a
// payload of recognisable bytes.
rte_mbuf* datagram(uint16_t total, std::vector<uint8_t> options = {}, uint16_t frag = 0) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  REQUIRE(m);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(14 + total)));
  std::memset(p, 0xee, 14);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
  const uint32_t hl = 20 + uint32_t(options.size());
  ip->version_ihl = uint8_t(0x40 | hl / 4);
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(total);
  ip->packet_id = rte_cpu_to_be_16(0x1234);
  ip->fragment_offset = rte_cpu_to_be_16(frag);
  ip->time_to_live = 63;
  ip->next_proto_id = 17;
  ip->src_addr = rte_cpu_to_be_32(0x0a010002);
  ip->dst_addr = rte_cpu_to_be_32(0x0a020002);
  if (!options.empty()) std::memcpy(p + 14 + 20, options.data(), options.size());
  for (uint32_t i = hl; i < total; ++i) p[14 + i] = uint8_t(i * 7);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return m;
}

struct Frag {
  uint32_t ihl_bytes, total, offset_bytes;
  bool mf, df;
  std::vector<uint8_t> options, payload;
};

Frag parse(rte_mbuf* f) {
  auto* p = rte_pktmbuf_mtod(f, uint8_t*);
  CHECK(std::memcmp(p, kL2, 14) == 0);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
  Frag r;
  r.ihl_bytes = (ip->version_ihl & 0xf) * 4u;
  r.total = rte_be_to_cpu_16(ip->total_length);
  uint16_t fo = rte_be_to_cpu_16(ip->fragment_offset);
  r.offset_bytes = (fo & RTE_IPV4_HDR_OFFSET_MASK) * 8u;
  r.mf = fo & RTE_IPV4_HDR_MF_FLAG;
  r.df = fo & RTE_IPV4_HDR_DF_FLAG;
  CHECK(rte_pktmbuf_pkt_len(f) == 14 + r.total);
  // The stored checksum is what a recomputation over the header gives.
  uint16_t saved = ip->hdr_checksum;
  ip->hdr_checksum = 0;
  CHECK(rte_ipv4_cksum(ip) == saved);
  ip->hdr_checksum = saved;
  CHECK(rte_be_to_cpu_16(ip->packet_id) == 0x1234);
  CHECK(ip->time_to_live == 63);
  r.options.assign(p + 14 + 20, p + 14 + r.ihl_bytes);
  r.payload.assign(p + 14 + r.ihl_bytes, p + 14 + r.total);
  return r;
}

std::vector<Frag> split(rte_mbuf* m, uint16_t mtu) {
  rte_mbuf* out[kMaxFragments];
  int n = fragment_ipv4(m, mtu, kL2, pool(), out);
  REQUIRE(n > 0);
  std::vector<Frag> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(parse(out[i]));
    CHECK(v.back().total <= mtu);
    rte_pktmbuf_free(out[i]);
  }
  return v;
}

// The original's payload, rebuilt from the fragments' offsets.
void check_reassembles(rte_mbuf* m, const std::vector<Frag>& fs, uint32_t base_offset = 0) {
  auto* p = rte_pktmbuf_mtod(m, uint8_t*) + 14;
  uint32_t hl = (p[0] & 0xf) * 4u, total = uint32_t(p[2]) << 8 | p[3];
  std::vector<uint8_t> want(p + hl, p + total), got(want.size(), 0);
  uint32_t covered = 0;
  for (const Frag& f : fs) {
    REQUIRE(f.offset_bytes >= base_offset);
    uint32_t at = f.offset_bytes - base_offset;
    REQUIRE(at + f.payload.size() <= got.size());
    std::copy(f.payload.begin(), f.payload.end(), got.begin() + at);
    covered += uint32_t(f.payload.size());
  }
  CHECK(covered == want.size());
  CHECK(got == want);
}

}  // namespace

TEST_CASE("fragmentation: exactly the MTU and one byte over", "[fragment]") {
  rte_mbuf* m = datagram(1400);
  rte_mbuf* out[kMaxFragments];
  CHECK(fragment_ipv4(m, 1400, kL2, pool(), out) == 0);  // fits: sent as it is
  rte_pktmbuf_free(m);

  m = datagram(1401);
  auto two = split(m, 1400);
  REQUIRE(two.size() == 2);
  CHECK(two[0].mf);
  CHECK_FALSE(two[1].mf);
  CHECK(two[0].payload.size() % 8 == 0);  // RFC 791: offsets count 8-byte units
  CHECK(two[1].offset_bytes == two[0].payload.size());
  check_reassembles(m, two);
  // The original frame is intact (the caller frees it).
  CHECK(rte_pktmbuf_pkt_len(m) == 14 + 1401u);
  rte_pktmbuf_free(m);
}

TEST_CASE("fragmentation: only copied options after the first fragment", "[fragment]") {
  // Record Route (type 7, not copied, 7 bytes) + NOP, then Router Alert (148, copied).
  std::vector<uint8_t> opts = {7, 7, 4, 0, 0, 0, 0, 1, 148, 4, 0, 0};
  rte_mbuf* m = datagram(1000, opts);
  auto fs = split(m, 400);
  REQUIRE(fs.size() >= 3);
  CHECK(fs[0].options == opts);
  for (size_t i = 1; i < fs.size(); ++i) {
    INFO("fragment " << i);
    CHECK(fs[i].ihl_bytes % 4 == 0);
    // Router Alert is there, Record Route is not.
    bool alert = false, rr = false;
    for (size_t j = 0; j < fs[i].options.size();) {
      uint8_t t = fs[i].options[j];
      if (t == 0) break;
      if (t == 1) {
        ++j;
        continue;
      }
      alert |= t == 148;
      rr |= t == 7;
      j += fs[i].options[j + 1];
    }
    CHECK(alert);
    CHECK_FALSE(rr);
  }
  check_reassembles(m, fs);
  rte_pktmbuf_free(m);
}

TEST_CASE("fragmentation: a fragment of a fragment keeps its place and its MF bit", "[fragment]") {
  // A middle fragment (MF set, offset 800 bytes): every piece keeps MF.
  rte_mbuf* m = datagram(1020, {}, RTE_IPV4_HDR_MF_FLAG | 100);
  auto fs = split(m, 500);
  REQUIRE(fs.size() == 3);
  for (const Frag& f : fs) CHECK(f.mf);
  CHECK(fs[0].offset_bytes == 800);
  check_reassembles(m, fs, 800);
  rte_pktmbuf_free(m);
  // The last fragment (MF clear): only the last piece has MF clear.
  m = datagram(1020, {}, 100);
  fs = split(m, 500);
  REQUIRE(fs.size() == 3);
  CHECK(fs[0].mf);
  CHECK(fs[1].mf);
  CHECK_FALSE(fs[2].mf);
  check_reassembles(m, fs, 800);
  rte_pktmbuf_free(m);
}

TEST_CASE("fragmentation refuses DF, and fails whole when the pool runs dry", "[fragment]") {
  rte_mbuf* m = datagram(1000, {}, RTE_IPV4_HDR_DF_FLAG);
  rte_mbuf* out[kMaxFragments];
  CHECK(fragment_ipv4(m, 400, kL2, pool(), out) == -ENOTSUP);
  rte_pktmbuf_free(m);

  m = datagram(1500);
  std::vector<rte_mbuf*> hog;
  while (rte_mbuf* x = rte_pktmbuf_alloc(pool())) hog.push_back(x);
  // Leave room for two fragments of the five needed.
  rte_pktmbuf_free(hog.back());
  hog.pop_back();
  rte_pktmbuf_free(hog.back());
  hog.pop_back();
  unsigned avail = rte_mempool_avail_count(pool());
  CHECK(fragment_ipv4(m, 348, kL2, pool(), out) == -ENOMEM);
  CHECK(rte_mempool_avail_count(pool()) == avail);  // the partial fragments went back
  for (auto* x : hog) rte_pktmbuf_free(x);
  rte_pktmbuf_free(m);
}
