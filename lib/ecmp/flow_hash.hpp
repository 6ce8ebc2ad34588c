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
// second router's other next hops get none of them (polarisation). Here key and tuple meet in
// the operands of wide multiplies (a key word XORed into one operand, a tuple word into the
// other), so a key bit changes the product by a multiple of a flow-dependent operand, and the
// second router's choice among the first router's flows is as good as random (flow_hash_test
// checks 50% agreement on 2 buckets). A multiply by a constant would not do: a key bit would
// shift every flow's output alike.
//
// Buckets are picked with hash & (buckets - 1): the low bits must be as good as the high
// ones. A 64 x 64 -> 128-bit product folded (low half XOR high half) has low bits that depend
// on every bit of both operands, and the last fold brings the high half down once more.
//
// Why wide multiplies: this hash runs for every packet of an ECMP route. Two wide ones in a
// row (three for IPv6, two of them side by side) are a shorter chain than four (seven) 64-bit
// multiplies with folds between them: 1.6-2.1 cycles a packet less in the worker
// (worker-bench, docs/performance.md, "The worker alone").
namespace detail {

// Odd, about half their bits set, drawn at random once. Fixed rather than taken from the key,
// and XORed into operands: with a key of zeros (a careless config) no operand is a constant
// the tuple does not reach, such as a word of ICMP's zero ports.
constexpr uint64_t kMulWord = 0xa229b75217eca705ULL;
constexpr uint64_t kMulFinal1 = 0x8479dd9ec39f4a03ULL;
constexpr uint64_t kMulFinal2 = 0xeabe9e8a00798bc7ULL;

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoSctp = 132;
constexpr uint8_t kProtoUdpLite = 136;

// The protocols whose first four bytes are a source and a destination port, as one bit per
// protocol number (a lookup, not comparisons: see ports_mask).
constexpr uint64_t kPortProtos[4] = {
    uint64_t(1) << kProtoTcp | uint64_t(1) << kProtoUdp, 0,
    uint64_t(1) << (kProtoSctp - 128) | uint64_t(1) << (kProtoUdpLite - 128), 0};

inline uint64_t port_bit(uint32_t proto) {
  return (kPortProtos[(proto >> 6) & 3] >> (proto & 63)) & 1;
}
inline bool has_ports(uint8_t proto) {
  return port_bit(proto) != 0;
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

// Masks for the branch-free variants, made by arithmetic rather than comparisons: a
// comparison's setcc writes one byte of a register and so waits for that register's last
// value, which in a loop over a burst was the previous packet's hash. That chained every
// packet's hash to the one before: 15 cycles a hash instead of 5 (a loop over 32 headers).
// All ones when proto carries ports, nonzero == 0, and need <= have; else 0.
inline uint64_t ports_mask(uint32_t proto, uint32_t nonzero, uint32_t need, uint32_t have) {
  const uint64_t zero = (uint64_t(nonzero) - 1) >> 63;             // nonzero < 2^32
  const uint64_t fits = ~(uint64_t(have) - uint64_t(need)) >> 63;  // have, need < 2^32
  return 0 - (port_bit(proto) & zero & fits);
}

// The full product of a and b, its halves folded.
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return uint64_t(p) ^ uint64_t(p >> 64);
}

inline uint32_t fold32(uint64_t h) {
  return uint32_t(h ^ (h >> 32));
}

// Two words (IPv4): key and both words in the first product, the first word again in the
// second, so that a word which left an operand near zero still reaches the output.
inline uint32_t hash2(const FlowKey& key, uint64_t w0, uint64_t w1) {
  const uint64_t h = mum(w0 ^ key.k0, w1 ^ key.k1 ^ kMulWord);
  return fold32(mum(h ^ kMulFinal1, w0 ^ key.k1));
}

// Five words (IPv6): the source and destination in two products side by side, then both with
// the fifth word.
inline uint32_t hash5(const FlowKey& key, const uint64_t* w) {
  const uint64_t a = mum(w[0] ^ key.k0, w[1] ^ key.k1 ^ kMulWord);
  const uint64_t b = mum(w[2] ^ key.k1, w[3] ^ key.k0 ^ kMulFinal1);
  return fold32(mum(a ^ w[4], b ^ kMulFinal2));
}

// One word into the state, and the finish after it: mix_rss's hash of one 32-bit value.
inline uint64_t absorb(uint64_t h, uint64_t w) {
  h = (h ^ w) * kMulWord;
  return h ^ (h >> 32);
}
inline uint32_t finish(const FlowKey& key, uint64_t h) {
  h ^= key.k1;
  h ^= h >> 32;
  h *= kMulFinal1;
  h ^= h >> 29;
  h *= kMulFinal2;
  return uint32_t(h ^ (h >> 32));
}

}  // namespace detail

// The hash of a tuple given as its words (2 for IPv4, 5 for IPv6; each the little-endian
// integer of the bytes named below). Public so that tests and tools can hash a tuple without
// building a packet.
inline uint32_t hash_words(const FlowKey& key, const uint64_t* words, size_t n) {
  return n == 5 ? detail::hash5(key, words) : detail::hash2(key, words[0], n > 1 ? words[1] : 0);
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
  return detail::hash2(key, detail::load64(p + 12), (uint64_t(proto) << 32) | ports);
}

// flow_hash4 of a header without options (IHL 5), with no branch and no comparison (see
// ports_mask): the four bytes after the header are read whatever l3_len says, and count only
// where flow_hash4 would read them. The caller guarantees they are readable (the worker's
// packets sit in mbufs whose data room is far larger). Same value as flow_hash4 for every
// such header (flow_hash_test).
inline uint32_t flow_hash4_ihl5(const FlowKey& key, const rte_ipv4_hdr* ip, uint32_t l3_len) {
  const auto* p = reinterpret_cast<const uint8_t*>(ip);
  const uint32_t proto = ip->next_proto_id;
  const uint32_t frag =
      ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK);
  const uint64_t ports = detail::load32(p + 20) & detail::ports_mask(proto, frag, 24, l3_len);
  return detail::hash2(key, detail::load64(p + 12), (uint64_t(proto) << 32) | ports);
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
  const uint64_t w[5] = {detail::load64(p + 8), detail::load64(p + 16), detail::load64(p + 24),
                         detail::load64(p + 32),
                         (uint64_t(ports) << 32) | (uint64_t(nh) << 20) | flow};
  return detail::hash5(key, w);
}

// flow_hash6 with no branch and no comparison, reading the four bytes after the fixed
// header whatever l3_len says (as flow_hash4_ihl5; the caller guarantees they are readable).
// Same value as flow_hash6 for every header (flow_hash_test).
inline uint32_t flow_hash6_padded(const FlowKey& key, const rte_ipv6_hdr* ip, uint32_t l3_len) {
  const auto* p = reinterpret_cast<const uint8_t*>(ip);
  const uint32_t nh = ip->proto;
  const uint32_t flow = rte_be_to_cpu_32(ip->vtc_flow) & 0xfffff;
  const uint64_t ports = detail::load32(p + sizeof(rte_ipv6_hdr)) &
                         detail::ports_mask(nh, 0, sizeof(rte_ipv6_hdr) + 4, l3_len);
  const uint64_t w[5] = {detail::load64(p + 8), detail::load64(p + 16), detail::load64(p + 24),
                         detail::load64(p + 32), (ports << 32) | (uint64_t(nh) << 20) | flow};
  return detail::hash5(key, w);
}

// The NIC's RSS hash, keyed. Two reasons not to index buckets with it directly: routers in a
// row with the same NIC RSS key would polarise (Toeplitz is linear), and its low bits already
// chose the RX queue through the RETA, so on one worker they are nearly constant. Flow-stable
// as the RSS hash is: whether fragments hash alike depends on the RSS types configured.
inline uint32_t mix_rss(const FlowKey& key, uint32_t rss) {
  return detail::finish(key, detail::absorb(key.k0, rss));
}

// Cost: IPv4 is two wide multiplies in a row, IPv6 three (the first two independent); measured
// by worker-bench, not here: timing goals are not unit tests.

}  // namespace routerd::ecmp
