#include "fragment.hpp"

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>

#include <cerrno>
#include <cstring>

namespace routerd {

int fragment_ipv4(rte_mbuf* m, uint16_t mtu, const uint8_t* l2, rte_mempool* pool, rte_mbuf** out) {
  if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr))
    return -EINVAL;
  auto* hdr = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  // The library would split even a datagram that fits when MTU - header is not a
  // multiple of 8.
  if (rte_be_to_cpu_16(hdr->total_length) <= mtu) return 0;
  // The library fragments from the IP header on; the L2 header is put back afterwards.
  rte_pktmbuf_adj(m, RTE_ETHER_HDR_LEN);
  // rte_ip_frag (22.11) handles offsets, MF of a fragment of a fragment, and copies only
  // the options with the copied flag into later fragments; it leaves checksums to us.
  int n = rte_ipv4_fragment_copy_nonseg_packet(m, out, kMaxFragments, mtu, pool);
  rte_pktmbuf_prepend(m, RTE_ETHER_HDR_LEN);
  if (n <= 0) return n < 0 ? n : -EINVAL;
  for (int i = 0; i < n; ++i) {
    rte_mbuf* f = out[i];
    auto* ip = rte_pktmbuf_mtod(f, rte_ipv4_hdr*);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    char* eth = rte_pktmbuf_prepend(f, RTE_ETHER_HDR_LEN);
    if (eth == nullptr) {  // no headroom: cannot happen with pool mbufs, but never write past
      for (int j = 0; j < n; ++j) rte_pktmbuf_free(out[j]);
      return -ENOMEM;
    }
    std::memcpy(eth, l2, RTE_ETHER_HDR_LEN);
    f->port = m->port;
  }
  return n;
}

}  // namespace routerd
