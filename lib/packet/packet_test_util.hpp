// Test-only helpers shared by the packet unit tests (ipv4, icmp, ndp, icmp6): an RFC 1071
// reference checksum written independently of the code under test, and big-endian byte
// helpers for building and reading headers. Not part of the packet library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace routerd::testing {

using Bytes = std::vector<uint8_t>;

// RFC 1071 reference, independent of the code under test: one's-complement sum of
// big-endian 16-bit words (odd byte padded on the right), folded but not complemented.
inline uint16_t ref_sum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (n % 2) s += uint32_t(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}
inline bool ref_ok(const uint8_t* p, size_t n) {
  return ref_sum(p, n) == 0xffff;
}

inline uint16_t get16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
inline uint32_t get32(const uint8_t* p) {
  return uint32_t(get16(p)) << 16 | get16(p + 2);
}
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, uint16_t(v >> 16));
  put16(p + 2, uint16_t(v));
}

inline std::string hex16(uint16_t v) {
  std::ostringstream o;
  o << "0x" << std::hex << v;
  return o.str();
}

// Bytes from a hex string ("6000..."), for frames written by an independent tool (scapy).
inline std::vector<uint8_t> from_hex(const std::string& h) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    v.push_back(uint8_t(std::stoul(h.substr(i, 2), nullptr, 16)));
  return v;
}

}  // namespace routerd::testing
