// packet/arp: parsing and building Ethernet/IPv4 ARP packets (RFC 826).
// parse rejects anything that is not Ethernet/IPv4 with a request or reply opcode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "inet.hpp"

namespace routerd {

struct ArpPacket {
  enum Op : uint16_t { request = 1, reply = 2 } op;
  Mac sha;   // sender hardware address
  Ipv4 spa;  // sender protocol address
  Mac tha;
  Ipv4 tpa;
};

constexpr size_t kArpLen = 28;  // ARP body for Ethernet/IPv4
constexpr size_t kEtherHdrLen = 14;
constexpr size_t kMinFrameLen = 60;  // without FCS; shorter frames are padded

// `p` points at the ARP body (after the Ethernet header), len bytes readable.
std::optional<ArpPacket> arp_parse(const uint8_t* p, size_t len);

// Writes a whole frame (Ethernet header, ARP body, zero padding to 60 bytes) into out (at
// least kMinFrameLen bytes) and returns its length.
size_t arp_build_frame(uint8_t* out, const Mac& eth_dst, const Mac& eth_src, const ArpPacket& a);

// A request for `target` from (our_mac, our_ip), broadcast unless a unicast probe is asked.
ArpPacket arp_request(const Mac& our_mac, Ipv4 our_ip, Ipv4 target);
// The reply to `req` when req.tpa is ours.
ArpPacket arp_reply_to(const ArpPacket& req, const Mac& our_mac);

}  // namespace routerd
