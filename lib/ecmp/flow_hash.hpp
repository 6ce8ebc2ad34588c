// ecmp/flow_hash: the keyed flow hash that picks a bucket (fast path: inline, no heap).
// Every packet of a flow, every fragment of a datagram included, hashes the same under one
// key; two keys pick unrelated buckets, so routers in a row with different keys do not polarise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ip.h>

namespace routerd::ecmp {

// The secret. The lead draws it from random bytes at startup or takes it from config; any
// value, zero included, gives a well-spread hash (the multipliers below are fixed); only a
// secret one keeps others from choosing flows that collide.
struct FlowKey {
  uint64_t k0, k1;
};

// Why not CRC (or Toeplitz) with a seed: both are affine over GF(2), h_seed(x) = L(x) ^ c(seed),
// so two routers with different seeds make bucket choices that differ by a constant XOR: the
// flows the first router sent to bucket i all reach the second in bucket i ^ c, and the
// second router's other next hops get none of them (polarisation). Here the key goes in through XOR
// before multiplies; their carries make the output a non-linear function of key and tuple together,
// so the second router's choice among the first router's flows is as good as random (flow_hash_test
// checks 50% agreement on 2 buckets).
//
// Buckets are picked with hash & (buckets - 1): the low bits must be as good as the high
// ones. Each is a low bit of the last product XOR a high one, which depends on every input bit.
namespace detail {

// Odd, about half their bits set, drawn at random once. Fixed rather than taken from the key:
// a key-chosen multiplier could be 1 or a power of two (a config key of zeros) and stop mixing.
constexpr uint64_t kMulWord = 0xa229b75217eca705ULL;
constexpr uint64_t kMulFinal1 = 0x8479dd9ec39f4a03ULL;
constexpr uint64_t kMulFinal2 = 0xeabe9e8a00798bc7ULL;

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoSctp = 132;
constexpr uint8_t kProtoUdpLite = 136;

// The protocols whose first four bytes are a source and a destination port.
inline bool has_ports(uint8_t proto) {
  return (proto == kProtoTcp) | (proto == kProtoUdp) | (proto == kProtoSctp) |
         (proto == kProtoUdpLite);
}

// Little-endian loads, so that a word is the same integer on any host (the test builds the
// same words byte by byte).
inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return rte_le_to_cpu_64(v);
}
inline uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return rte_le_to_cpu_32(v);
}

// One word into the state. A multiply only carries upward, so the fold brings the high half
// back down before the next word lands on it.
inline uint64_t absorb(uint64_t h, uint64_t w) {
  h = (h ^ w) * kMulWord;
  return h ^ (h >> 32);
}

// The second key half goes in here. A multiply alone would leave a change in a high bit (of
// the key too: keys one bit apart) in the high bits, so each multiply sits between folds that
// bring high bits down; two rounds make every low output bit depend on every state bit.
inline uint32_t finish(const FlowKey& key, uint64_t h) {
  h ^= key.k1;
  h ^= h >> 32;
  h *= kMulFinal1;
  h ^= h >> 29;
  h *= kMulFinal2;
  return uint32_t(h ^ (h >> 32));
}

}  // namespace detail

// The words hashed, in order, starting from key.k0; each is the little-endian integer of the
// bytes named. Public so that tests and tools can hash a tuple without building a packet.
inline uint32_t hash_words(const FlowKey& key, const uint64_t* words, size_t n) {
  uint64_t h = key.k0;
  for (size_t i = 0; i < n; ++i) h = detail::absorb(h, words[i]);
  return detail::finish(key, h);
}

// IPv4, two words: bytes 12..19 of the header (source then destination), then
// ports | protocol << 32, where ports is the four bytes at ihl*4 (source port, destination
// port) for TCP, UDP, SCTP and UDP-Lite, else 0. Ports are also 0 for a fragment (MF set or
// a non-zero offset: later fragments have no ports, and all fragments of a datagram must hash
// alike) and when they are not within l3_len. l3_len >= 20 is the caller's check.
inline uint32_t flow_hash4(const FlowKey& key, const rte_ipv4_hdr* ip, uint32_t l3_len) {
  const auto* p = reinterpret_cast<const uint8_t*>(ip);
  const uint32_t ihl = uint32_t(ip->version_ihl & 0x0f) * 4;
  const uint8_t proto = ip->next_proto_id;
  const bool fragment = (ip->fragment_offset &
                         rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
  const bool with_ports = detail::has_ports(proto) & !fragment & (ihl + 4 <= l3_len);
  const uint32_t ports = with_ports ? detail::load32(p + ihl) : 0;
  uint64_t h = detail::absorb(key.k0, detail::load64(p + 12));
  h = detail::absorb(h, (uint64_t(proto) << 32) | ports);
  return detail::finish(key, h);
}

// IPv6, five words: source bytes 0..7 and 8..15, destination bytes 0..7 and 8..15, then
// flow label | next header << 20 | ports << 32. Ports (the four bytes right after the fixed
// header) only when the next header there is TCP, UDP, SCTP or UDP-Lite and they are within
// l3_len. So a Fragment header (44) gives addresses, flow label and 44, the same for every
// fragment of a datagram; any other extension header gives addresses, flow label and its
// type: walking the chain per packet costs more than the ports would bring. l3_len >= 40 is
// the caller's check.
inline uint32_t flow_hash6(const FlowKey& key, const rte_ipv6_hdr* ip, uint32_t l3_len) {
  const auto* p = reinterpret_cast<const uint8_t*>(ip);
  const uint8_t nh = ip->proto;
  const uint32_t flow = rte_be_to_cpu_32(ip->vtc_flow) & 0xfffff;
  const bool with_ports = detail::has_ports(nh) & (sizeof(rte_ipv6_hdr) + 4 <= l3_len);
  const uint32_t ports = with_ports ? detail::load32(p + sizeof(rte_ipv6_hdr)) : 0;
  uint64_t h = detail::absorb(key.k0, detail::load64(p + 8));
  h = detail::absorb(h, detail::load64(p + 16));
  h = detail::absorb(h, detail::load64(p + 24));
  h = detail::absorb(h, detail::load64(p + 32));
  h = detail::absorb(h, (uint64_t(ports) << 32) | (uint64_t(nh) << 20) | flow);
  return detail::finish(key, h);
}

// The NIC's RSS hash, keyed. Two reasons not to index buckets with it directly: routers in a
// row with the same NIC RSS key would polarise (Toeplitz is linear), and its low bits already
// chose the RX queue through the RETA, so on one worker they are nearly constant. Flow-stable
// as the RSS hash is: whether fragments hash alike depends on the RSS types configured.
inline uint32_t mix_rss(const FlowKey& key, uint32_t rss) {
  return detail::finish(key, detail::absorb(key.k0, rss));
}

// Cost: IPv4 is 4 multiplies and IPv6 7 in one dependency chain, a few nanoseconds; no
// benchmark here, timing goals are not unit tests.

}  // namespace routerd::ecmp
