#include "arp.hpp"

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>

#include <cstring>

namespace routerd {

std::optional<ArpPacket> arp_parse(const uint8_t* p, size_t len) {
  if (len < kArpLen) return std::nullopt;
  rte_arp_hdr h;
  std::memcpy(&h, p, sizeof h);
  if (rte_be_to_cpu_16(h.arp_hardware) != RTE_ARP_HRD_ETHER ||
      rte_be_to_cpu_16(h.arp_protocol) != RTE_ETHER_TYPE_IPV4 || h.arp_hlen != 6 || h.arp_plen != 4)
    return std::nullopt;
  uint16_t op = rte_be_to_cpu_16(h.arp_opcode);
  if (op != ArpPacket::request && op != ArpPacket::reply) return std::nullopt;
  ArpPacket a;
  a.op = ArpPacket::Op(op);
  std::memcpy(a.sha.b.data(), h.arp_data.arp_sha.addr_bytes, 6);
  std::memcpy(a.tha.b.data(), h.arp_data.arp_tha.addr_bytes, 6);
  a.spa = Ipv4(rte_be_to_cpu_32(h.arp_data.arp_sip));
  a.tpa = Ipv4(rte_be_to_cpu_32(h.arp_data.arp_tip));
  return a;
}

size_t arp_build_frame(uint8_t* out, const Mac& eth_dst, const Mac& eth_src, const ArpPacket& a) {
  std::memset(out, 0, kMinFrameLen);
  rte_ether_hdr eth;
  std::memcpy(eth.dst_addr.addr_bytes, eth_dst.b.data(), 6);
  std::memcpy(eth.src_addr.addr_bytes, eth_src.b.data(), 6);
  eth.ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  std::memcpy(out, &eth, sizeof eth);
  rte_arp_hdr h;
  h.arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  h.arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  h.arp_hlen = 6;
  h.arp_plen = 4;
  h.arp_opcode = rte_cpu_to_be_16(a.op);
  std::memcpy(h.arp_data.arp_sha.addr_bytes, a.sha.b.data(), 6);
  std::memcpy(h.arp_data.arp_tha.addr_bytes, a.tha.b.data(), 6);
  h.arp_data.arp_sip = rte_cpu_to_be_32(a.spa.v);
  h.arp_data.arp_tip = rte_cpu_to_be_32(a.tpa.v);
  std::memcpy(out + sizeof eth, &h, sizeof h);
  return kMinFrameLen;
}

ArpPacket arp_request(const Mac& our_mac, Ipv4 our_ip, Ipv4 target) {
  return ArpPacket{ArpPacket::request, our_mac, our_ip, Mac{}, target};
}

ArpPacket arp_reply_to(const ArpPacket& req, const Mac& our_mac) {
  return ArpPacket{ArpPacket::reply, our_mac, req.tpa, req.sha, req.spa};
}

}  // namespace routerd
