#include "ipv4.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "inet.hpp"
#include "packet_test_util.hpp"
#include "stats.hpp"

using namespace routerd;
using namespace routerd::testing;

namespace {

// Header length the reference checksum covers: IHL*4, at least 20, at most the buffer.
size_t cksum_span(const Bytes& b) {
  return std::min(b.size(), std::max<size_t>(size_t(b[0] & 0xf) * 4, 20));
}

// Recomputes the header checksum field with the reference (RFC 1071: 0x0000, never 0xffff).
void ref_fix_checksum(Bytes& b) {
  put16(&b[10], 0);
  put16(&b[10], uint16_t(~ref_sum(b.data(), cksum_span(b))));
}

// A header description; build_ipv4 writes it with a correct reference checksum.
struct Ip {
  uint8_t version = 4;
  int ihl = -1;  // -1: 5 plus the options rounded up to words
  uint8_t tos = 0;
  int total = -1;  // -1: header + payload
  uint16_t id = 0x1234;
  uint16_t frag = 0;
  uint8_t ttl = 64;
  uint8_t proto = 17;
  uint32_t src = 0x0a000001;  // 10.0.0.1
  uint32_t dst = 0xc0a80102;  // 192.168.1.2
  Bytes options{};            // written after the fixed header, zero-padded to IHL*4
  size_t payload = 0;         // payload bytes (a fixed pattern)
};

Bytes build_ipv4(const Ip& d) {
  const size_t ihl = d.ihl >= 0 ? size_t(d.ihl) : 5 + (d.options.size() + 3) / 4;
  const size_t hlen = std::max<size_t>(ihl * 4, 20);
  Bytes b(hlen + d.payload, 0);
  b[0] = uint8_t(d.version << 4 | (ihl & 0xf));
  b[1] = d.tos;
  put16(&b[2], uint16_t(d.total >= 0 ? size_t(d.total) : hlen + d.payload));
  put16(&b[4], d.id);
  put16(&b[6], d.frag);
  b[8] = d.ttl;
  b[9] = d.proto;
  put32(&b[12], d.src);
  put32(&b[16], d.dst);
  std::copy(d.options.begin(), d.options.end(), b.begin() + 20);
  for (size_t i = 0; i < d.payload; ++i) b[hlen + i] = uint8_t(0x5a ^ i * 7);
  ref_fix_checksum(b);
  return b;
}

const rte_ipv4_hdr* hdr(const Bytes& b) {
  return reinterpret_cast<const rte_ipv4_hdr*>(b.data());
}
rte_ipv4_hdr* hdr(Bytes& b) {
  return reinterpret_cast<rte_ipv4_hdr*>(b.data());
}

// "ok" or the drop reason's name, so a mismatch prints both sides readably.
std::string describe(Ipv4Verdict v) {
  if (v.ok) return v.reason == Drop::count ? "ok" : "ok with a reason?";
  if (v.reason >= Drop::count) return "drop without a reason?";
  return std::string(drop_name(v.reason));
}

constexpr uint64_t kUnknown = RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
constexpr uint64_t kBad = RTE_MBUF_F_RX_IP_CKSUM_BAD;
constexpr uint64_t kGood = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
constexpr uint64_t kNone = RTE_MBUF_F_RX_IP_CKSUM_NONE;

std::string validate(const Bytes& b, size_t seg, size_t link, uint64_t rx = kUnknown) {
  return describe(ipv4_validate(hdr(b), uint32_t(seg), uint32_t(link), rx));
}
std::string validate(const Bytes& b, uint64_t rx = kUnknown) {
  return validate(b, b.size(), b.size(), rx);
}

// Deterministic PRNG (splitmix64): the same sequence on every platform and run.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return uint32_t(next() % n); }
  uint8_t byte() { return uint8_t(next()); }
};

}  // namespace

// ---------------------------------------------------------------- ipv4_validate

TEST_CASE("reference helper builds a header the reference accepts", "[packet]") {
  Bytes b = build_ipv4(Ip{.payload = 8});
  REQUIRE(b.size() == 28);
  CHECK(b[0] == 0x45);
  CHECK(get16(&b[2]) == 28);
  CHECK(ref_ok(b.data(), 20));
  // Known vector (RFC 1071 style worked example, cross-checked with scapy):
  // 45 00 00 73 00 00 40 00 40 11 .... c0 a8 00 01 c0 a8 00 c7 -> checksum 0xb861.
  Bytes k = build_ipv4(Ip{.total = 0x73,
                          .id = 0,
                          .frag = 0x4000,
                          .ttl = 64,
                          .proto = 17,
                          .src = 0xc0a80001,
                          .dst = 0xc0a800c7});
  CHECK(hex16(get16(&k[10])) == "0xb861");
}

TEST_CASE("ipv4_validate accepts a well-formed datagram", "[packet]") {
  Bytes b = build_ipv4(Ip{.payload = 20});
  CHECK(validate(b) == "ok");
  CHECK(validate(b, 20, b.size()) == "ok");  // only the header in the first segment
  for (uint64_t rx : {kUnknown, kGood, kNone}) CHECK(validate(b, rx) == "ok");
}

TEST_CASE("ipv4_validate: link length below 20 is ipv4_too_short", "[packet]") {
  Bytes b = build_ipv4(Ip{.payload = 20});
  for (size_t link = 0; link < 20; ++link) {
    INFO("link_len " << link);
    CHECK(validate(b, link, link) == "ipv4_too_short");
    CHECK(validate(b, 20, link) == "ipv4_too_short");  // link is checked before seg
  }
}

TEST_CASE("ipv4_validate: header not in the first segment is ipv4_headers_split", "[packet]") {
  Bytes b = build_ipv4(Ip{.payload = 20});
  for (size_t seg = 0; seg < 20; ++seg) {
    INFO("seg_len " << seg);
    CHECK(validate(b, seg, b.size()) == "ipv4_headers_split");
  }
  // Options: IHL*4 = 60 fits in the frame but not in a 40-byte first segment.
  Bytes o = build_ipv4(Ip{.ihl = 15, .payload = 20});
  for (size_t seg : {20u, 40u, 59u}) {
    INFO("seg_len " << seg);
    CHECK(validate(o, seg, o.size()) == "ipv4_headers_split");
  }
  CHECK(validate(o, 60, o.size()) == "ok");
}

TEST_CASE("ipv4_validate: version other than 4 is ipv4_bad_version", "[packet]") {
  for (uint8_t v = 0; v < 16; ++v) {
    if (v == 4) continue;
    INFO("version " << int(v));
    Bytes b = build_ipv4(Ip{.version = v, .payload = 8});
    REQUIRE(ref_ok(b.data(), 20));  // the checksum is fine; only the version is wrong
    CHECK(validate(b) == "ipv4_bad_version");
  }
  CHECK(validate(build_ipv4(Ip{.version = 6})) == "ipv4_bad_version");
  CHECK(validate(build_ipv4(Ip{.version = 0})) == "ipv4_bad_version");
}

TEST_CASE("ipv4_validate: IHL below 5 or beyond the frame is ipv4_bad_ihl", "[packet]") {
  for (int ihl = 0; ihl < 5; ++ihl) {
    INFO("IHL " << ihl);
    Bytes b = build_ipv4(Ip{.ihl = ihl, .payload = 8});
    REQUIRE(b.size() == 28);
    CHECK(validate(b) == "ipv4_bad_ihl");
  }
  // IHL 15 (60 bytes) in a frame holding only a 20-byte header: the buffer really is 20
  // bytes, so ASan would catch any read of the missing option bytes.
  Bytes full = build_ipv4(Ip{.ihl = 15});
  Bytes cut(full.begin(), full.begin() + 20);
  CHECK(validate(cut, 20, 20) == "ipv4_bad_ihl");
  // IHL 6 (24 bytes) with 23 bytes on the link.
  Bytes six = build_ipv4(Ip{.ihl = 6});
  Bytes six_cut(six.begin(), six.begin() + 23);
  CHECK(validate(six_cut, 23, 23) == "ipv4_bad_ihl");
  // IHL*4 > link_len wins over IHL*4 > seg_len.
  CHECK(validate(full, 20, 59) == "ipv4_bad_ihl");
}

TEST_CASE("ipv4_validate: a wrong checksum is ipv4_bad_checksum", "[packet]") {
  Bytes good = build_ipv4(Ip{.payload = 12});
  REQUIRE(validate(good) == "ok");
  // Every single-bit flip in bytes 1..19 changes the one's-complement sum (byte 0 would
  // change version/IHL, which are checked first).
  for (size_t byte = 1; byte < 20; ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      Bytes b = good;
      b[byte] ^= uint8_t(1u << bit);
      INFO("byte " << byte << " bit " << bit);
      CHECK(validate(b, kUnknown) == "ipv4_bad_checksum");
      CHECK(validate(b, kNone) == "ipv4_bad_checksum");
      CHECK(validate(b, kBad) == "ipv4_bad_checksum");
    }
  // The options are covered too.
  Bytes o = build_ipv4(Ip{.options = {1, 1, 1, 1, 1, 1, 1, 0}, .payload = 4});
  REQUIRE(validate(o) == "ok");
  for (size_t byte = 20; byte < 28; ++byte) {
    Bytes b = o;
    b[byte] ^= 0x40;
    INFO("option byte " << byte);
    CHECK(validate(b) == "ipv4_bad_checksum");
  }
  // The checksum field itself.
  Bytes c = good;
  put16(&c[10], uint16_t(get16(&c[10]) + 1));
  CHECK(validate(c) == "ipv4_bad_checksum");
}

TEST_CASE("ipv4_validate: NIC checksum verdicts", "[packet]") {
  Bytes good = build_ipv4(Ip{.payload = 12});
  Bytes bad = good;
  bad[10] ^= 0x01;
  REQUIRE_FALSE(ref_ok(bad.data(), 20));
  // BAD is trusted even when the software check would pass.
  CHECK(validate(good, kBad) == "ipv4_bad_checksum");
  // GOOD is trusted even when the software check would fail.
  CHECK(validate(bad, kGood) == "ok");
  // UNKNOWN and NONE verify in software.
  CHECK(validate(good, kUnknown) == "ok");
  CHECK(validate(bad, kUnknown) == "ipv4_bad_checksum");
  CHECK(validate(good, kNone) == "ok");
  CHECK(validate(bad, kNone) == "ipv4_bad_checksum");
}

TEST_CASE("ipv4_validate: total length below IHL*4 is ipv4_bad_length", "[packet]") {
  for (int total : {0, 1, 19}) {
    INFO("total " << total);
    CHECK(validate(build_ipv4(Ip{.total = total, .payload = 8})) == "ipv4_bad_length");
  }
  for (int total = 20; total < 24; ++total) {
    INFO("IHL 6, total " << total);
    CHECK(validate(build_ipv4(Ip{.ihl = 6, .total = total, .payload = 8})) == "ipv4_bad_length");
  }
  CHECK(validate(build_ipv4(Ip{.ihl = 6, .total = 24, .payload = 8})) == "ok");
  CHECK(validate(build_ipv4(Ip{.total = 20, .payload = 8})) == "ok");  // padding
}

TEST_CASE("ipv4_validate: total length beyond the frame is ipv4_truncated", "[packet]") {
  Bytes b = build_ipv4(Ip{.payload = 20});  // total 40
  CHECK(validate(b, 40, 39) == "ipv4_truncated");
  CHECK(validate(b, 20, 20) == "ipv4_truncated");
  Bytes big = build_ipv4(Ip{.total = 1500, .payload = 20});
  CHECK(validate(big, big.size(), big.size()) == "ipv4_truncated");
  CHECK(validate(build_ipv4(Ip{.total = 65535})) == "ipv4_truncated");
}

TEST_CASE("ipv4_validate: link padding beyond the total length is accepted", "[packet]") {
  // A 28-byte datagram in a minimum 60-byte Ethernet frame: 46 bytes after the header.
  Bytes b = build_ipv4(Ip{.total = 28, .payload = 26});
  REQUIRE(b.size() == 46);
  CHECK(validate(b) == "ok");
  CHECK(validate(b, 46, 46) == "ok");
}

TEST_CASE("ipv4_validate: headers with options (IHL 6..15) are accepted", "[packet]") {
  for (int ihl = 6; ihl <= 15; ++ihl) {
    INFO("IHL " << ihl);
    Bytes opts(size_t(ihl * 4 - 20), 1);  // NOPs
    opts.back() = 0;                      // END
    Bytes b = build_ipv4(Ip{.ihl = ihl, .options = opts, .payload = 10});
    CHECK(validate(b) == "ok");
    CHECK(validate(b, size_t(ihl * 4), b.size()) == "ok");
  }
}

// ---------------------------------------------------------------- ipv4_check_addresses

namespace {

std::string addresses(uint32_t src, uint32_t dst) {
  return describe(ipv4_check_addresses(src, dst));
}

constexpr uint32_t A(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | d;
}

bool in_prefix(uint32_t a, uint32_t net, unsigned len) {
  return (a >> (32 - len)) == (net >> (32 - len));
}

// The rules of RFC 1812 5.3.7 / 5.3.5.1 / RFC 3927, written from the requirements.
bool src_martian(uint32_t s) {
  return in_prefix(s, A(0, 0, 0, 0), 8) || in_prefix(s, A(127, 0, 0, 0), 8) ||
         in_prefix(s, A(224, 0, 0, 0), 4) || in_prefix(s, A(240, 0, 0, 0), 4);
}
bool dst_martian(uint32_t d) {
  return d != 0xffffffffu && (in_prefix(d, A(0, 0, 0, 0), 8) || in_prefix(d, A(127, 0, 0, 0), 8) ||
                              in_prefix(d, A(240, 0, 0, 0), 4));
}
bool dst_multicast(uint32_t d) {
  return in_prefix(d, A(224, 0, 0, 0), 4);
}
bool link_local(uint32_t a) {
  return in_prefix(a, A(169, 254, 0, 0), 16);
}

// Every reason that applies to (src, dst), as a bit per Drop value; 0 when forwardable.
uint64_t applicable(uint32_t s, uint32_t d) {
  auto bit = [](Drop r) { return uint64_t(1) << unsigned(r); };
  uint64_t m = 0;
  if (src_martian(s)) m |= bit(Drop::martian_source);
  if (d == 0xffffffffu) m |= bit(Drop::limited_broadcast);
  if (dst_martian(d)) m |= bit(Drop::martian_destination);
  if (dst_multicast(d)) m |= bit(Drop::multicast_destination);
  if (link_local(s) || link_local(d)) m |= bit(Drop::link_local);
  return m;
}

// The single applicable reason's name, or "ok".
std::string expected_single(uint64_t mask) {
  REQUIRE((mask & (mask - 1)) == 0);
  if (mask == 0) return "ok";
  return std::string(drop_name(Drop(__builtin_ctzll(mask))));
}

}  // namespace

TEST_CASE("ipv4_check_addresses: martian sources", "[packet]") {
  const uint32_t dst = A(192, 168, 1, 1);
  for (uint32_t s :
       {A(0, 0, 0, 0), A(0, 1, 2, 3), A(127, 0, 0, 1), A(127, 255, 255, 255), A(224, 0, 0, 1),
        A(239, 255, 255, 255), A(240, 0, 0, 1), A(254, 1, 1, 1), A(255, 255, 255, 255)}) {
    INFO(Ipv4(s).str());
    CHECK(addresses(s, dst) == "martian_source");
  }
}

TEST_CASE("ipv4_check_addresses: martian destinations, broadcast, multicast", "[packet]") {
  const uint32_t src = A(10, 0, 0, 1);
  for (uint32_t d : {A(0, 0, 0, 0), A(0, 9, 9, 9), A(127, 0, 0, 1), A(127, 1, 2, 3),
                     A(240, 0, 0, 1), A(254, 1, 1, 1), A(255, 255, 255, 254), A(255, 0, 0, 0)}) {
    INFO(Ipv4(d).str());
    CHECK(addresses(src, d) == "martian_destination");
  }
  CHECK(addresses(src, A(255, 255, 255, 255)) == "limited_broadcast");
  for (uint32_t d : {A(224, 0, 0, 5), A(239, 1, 1, 1), A(224, 0, 0, 0), A(239, 255, 255, 255)}) {
    INFO(Ipv4(d).str());
    CHECK(addresses(src, d) == "multicast_destination");
  }
}

TEST_CASE("ipv4_check_addresses: link-local source or destination", "[packet]") {
  CHECK(addresses(A(169, 254, 1, 1), A(10, 0, 0, 1)) == "link_local");
  CHECK(addresses(A(10, 0, 0, 1), A(169, 254, 255, 255)) == "link_local");
  CHECK(addresses(A(169, 254, 0, 0), A(169, 254, 0, 1)) == "link_local");
  // Neighbours of 169.254/16 are ordinary.
  CHECK(addresses(A(169, 253, 1, 1), A(169, 255, 1, 1)) == "ok");
}

TEST_CASE("ipv4_check_addresses: ordinary unicast passes", "[packet]") {
  const uint32_t addrs[] = {A(10, 0, 0, 1),        A(10, 255, 255, 255), A(192, 168, 1, 1),
                            A(192, 168, 255, 0),   A(8, 8, 8, 8),        A(1, 1, 1, 1),
                            A(223, 255, 255, 255), A(1, 0, 0, 0),        A(126, 255, 255, 255),
                            A(128, 0, 0, 0),       A(172, 16, 0, 1)};
  for (uint32_t s : addrs)
    for (uint32_t d : addrs) {
      INFO(Ipv4(s).str() << " -> " << Ipv4(d).str());
      CHECK(addresses(s, d) == "ok");
    }
}

TEST_CASE("ipv4_check_addresses: sweep of every first octet", "[packet]") {
  const uint32_t tails[] = {0x000000, 0x010203, 0xfe0101, 0xfeffff, 0xffffff};
  const uint32_t good_src = A(10, 0, 0, 1), good_dst = A(8, 8, 8, 8);
  size_t checked = 0;
  // One side varies, the other is ordinary: the reason is exactly determined.
  for (uint32_t o = 0; o < 256; ++o)
    for (uint32_t t : tails) {
      uint32_t a = o << 24 | t;
      INFO(Ipv4(a).str());
      CHECK(addresses(a, good_dst) == expected_single(applicable(a, good_dst)));
      CHECK(addresses(good_src, a) == expected_single(applicable(good_src, a)));
      checked += 2;
    }
  CHECK(checked == 256u * 5u * 2u);
  // Both sides vary: forwardable exactly when no rule applies, and otherwise the reason
  // given is one that applies (which one wins when several do is an implementation choice).
  size_t mismatches = 0, pairs = 0;
  std::string first;
  for (uint32_t so = 0; so < 256; ++so)
    for (uint32_t sd = 0; sd < 256; ++sd)
      for (uint32_t st : tails)
        for (uint32_t dt : tails) {
          uint32_t s = so << 24 | st, d = sd << 24 | dt;
          const uint64_t exp = applicable(s, d);
          const Ipv4Verdict v = ipv4_check_addresses(s, d);
          const bool fine =
              exp == 0 ? v.ok && v.reason == Drop::count
                       : !v.ok && v.reason < Drop::count && (exp >> unsigned(v.reason) & 1) != 0;
          if (!fine && mismatches++ == 0)
            first = Ipv4(s).str() + " -> " + Ipv4(d).str() + ": " + describe(v);
          ++pairs;
        }
  INFO("first mismatch: " << first);
  CHECK(pairs == 256u * 256u * 25u);
  CHECK(mismatches == 0);
}

// ---------------------------------------------------------------- ipv4_decrement_ttl

namespace {

// A random version-4 header (IHL 5..15, random options bytes and fields). The buffer holds
// only the header; total length is random but at least IHL*4.
Bytes random_header(Rng& r) {
  Ip d;
  d.ihl = 5 + int(r.below(11));
  d.options.resize(size_t(d.ihl * 4 - 20));
  for (auto& o : d.options) o = r.byte();
  d.tos = r.byte();
  d.total = d.ihl * 4 + int(r.below(uint32_t(65536 - d.ihl * 4)));
  d.id = uint16_t(r.next());
  d.frag = uint16_t(r.next());
  d.proto = r.byte();
  d.src = uint32_t(r.next());
  d.dst = uint32_t(r.next());
  return build_ipv4(d);
}

// Decrements b's TTL with the code under test and with a full reference recompute;
// returns an empty string when they agree (and the result validates), else a description.
std::string decrement_mismatch(const Bytes& b) {
  Bytes got = b;
  ipv4_decrement_ttl(hdr(got));
  Bytes want = b;
  want[8] = uint8_t(want[8] - 1);
  ref_fix_checksum(want);
  std::string err;
  if (got != want)
    err = "TTL " + std::to_string(b[8]) + " checksum " + hex16(get16(&b[10])) + ": got " +
          hex16(get16(&got[10])) + ", full recompute " + hex16(get16(&want[10]));
  else if (validate(got, got.size(), get16(&got[2])) != "ok")
    err = "result does not validate: " + validate(got, got.size(), get16(&got[2]));
  return err;
}

// Sets the id so that the reference checksum of b is `target` (with b's current TTL).
bool steer_checksum(Bytes& b, uint16_t target) {
  put16(&b[4], 0);
  put16(&b[10], 0);
  const uint32_t s0 = ref_sum(b.data(), cksum_span(b));
  for (uint32_t id = 0; id <= 0xffff; ++id) {
    uint32_t s = s0 + id;
    s = (s & 0xffff) + (s >> 16);
    if (uint16_t(~s) == target) {
      put16(&b[4], uint16_t(id));
      ref_fix_checksum(b);
      return get16(&b[10]) == target;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("ipv4_decrement_ttl: TTL 64 leaves as 63 with the checksum of a full recompute",
          "[packet]") {
  Bytes b = build_ipv4(Ip{.ttl = 64, .payload = 8});
  Bytes want = b;
  want[8] = 63;
  ref_fix_checksum(want);
  ipv4_decrement_ttl(hdr(b));
  CHECK(b[8] == 63);
  CHECK(hex16(get16(&b[10])) == hex16(get16(&want[10])));
  CHECK(b == want);
  CHECK(validate(b) == "ok");
}

TEST_CASE("ipv4_decrement_ttl equals a full recompute for every TTL over random headers",
          "[packet]") {
  Rng rng{0x7e57da7a};
  size_t failures = 0, checked = 0;
  std::string first;
  for (int n = 0; n < 4000; ++n) {
    Bytes b = random_header(rng);
    for (int ttl = 1; ttl <= 255; ++ttl) {
      b[8] = uint8_t(ttl);
      ref_fix_checksum(b);
      std::string err = decrement_mismatch(b);
      ++checked;
      if (!err.empty() && failures++ == 0) first = err;
    }
  }
  INFO("first failure: " << first);
  CHECK(checked == 4000u * 255u);
  CHECK(failures == 0);
}

TEST_CASE("ipv4_decrement_ttl around checksums 0x0000 and 0xffff", "[packet]") {
  // For every TTL, headers whose checksum is at or next to 0x0000/0xffff before the
  // decrement, and headers whose checksum lands there after it.
  const uint16_t targets[] = {0x0000, 0x0001, 0x0002, 0x00ff, 0x0100,
                              0xff00, 0xfeff, 0xfffd, 0xfffe};
  size_t failures = 0, before_cases = 0, after_cases = 0, negzero_cases = 0, after_zero = 0;
  std::string first;
  auto run = [&](const Bytes& b) {
    std::string err = decrement_mismatch(b);
    if (!err.empty() && failures++ == 0) first = err;
  };
  for (int ttl = 1; ttl <= 255; ++ttl)
    for (uint16_t t : targets) {
      Bytes base = build_ipv4(Ip{.ihl = 5 + (ttl % 3),
                                 .ttl = uint8_t(ttl),
                                 .proto = uint8_t(ttl * 13),
                                 .src = A(10, uint8_t(ttl), 0, 1),
                                 .dst = A(198, 51, 100, uint8_t(t))});
      // Before: the header as received carries checksum t.
      Bytes before = base;
      REQUIRE(steer_checksum(before, t));
      run(before);
      ++before_cases;
      // 0x0000 has a second valid spelling, 0xffff ("negative zero", what
      // rte_ipv4_cksum writes): the decrement must cope with both.
      if (t == 0) {
        Bytes neg = before;
        put16(&neg[10], 0xffff);
        REQUIRE(ref_ok(neg.data(), cksum_span(neg)));
        run(neg);
        ++negzero_cases;
      }
      // After: choose the header so the decremented header's checksum is t.
      Bytes after = base;
      after[8] = uint8_t(ttl - 1);
      REQUIRE(steer_checksum(after, t));
      after[8] = uint8_t(ttl);
      ref_fix_checksum(after);
      Bytes dec = after;
      ipv4_decrement_ttl(hdr(dec));
      if (t == 0) {
        // The full recompute gives 0x0000 here; 0xffff would be a different (if still
        // verifiable) header.
        if (get16(&dec[10]) == 0) ++after_zero;
      }
      run(after);
      ++after_cases;
    }
  INFO("first failure: " << first);
  CHECK(failures == 0);
  CHECK(before_cases == 255u * std::size(targets));
  CHECK(after_cases == 255u * std::size(targets));
  CHECK(negzero_cases == 255u);
  CHECK(after_zero == 255u);
}

TEST_CASE("ipv4_decrement_ttl never writes 0xffff", "[packet]") {
  // Exhaustive over the incoming checksum field: the incremental update maps every value
  // to the value a full recompute would produce, which is never 0xffff.
  Bytes b = build_ipv4(Ip{.ttl = 10});
  size_t ffff = 0;
  for (uint32_t c = 0; c <= 0xffff; ++c) {
    Bytes x = b;
    put16(&x[10], uint16_t(c));
    ipv4_decrement_ttl(hdr(x));
    if (get16(&x[10]) == 0xffff) ++ffff;
  }
  CHECK(ffff == 0);
}

TEST_CASE("ipv4_decrement_live_ttl writes exactly what ipv4_decrement_ttl writes", "[packet]") {
  // Exhaustive over the checksum field, for the TTLs at the edges of its byte and protocol
  // values that would show a carry or borrow leaking across bytes.
  size_t compared = 0;
  for (uint8_t ttl : {1, 2, 64, 128, 255})
    for (uint8_t proto : {0, 1, 17, 255}) {
      Bytes b = build_ipv4(Ip{.ttl = ttl, .proto = proto});
      for (uint32_t c = 0; c <= 0xffff; ++c) {
        Bytes want = b, got = b;
        put16(&want[10], uint16_t(c));
        put16(&got[10], uint16_t(c));
        ipv4_decrement_ttl(hdr(want));
        ipv4_decrement_live_ttl(hdr(got));
        if (got != want) {
          INFO("TTL " << int(ttl) << " protocol " << int(proto) << " checksum "
                      << hex16(uint16_t(c)));
          REQUIRE(hex16(get16(&got[10])) == hex16(get16(&want[10])));
          REQUIRE(got == want);
        }
        ++compared;
      }
    }
  CHECK(compared == 5 * 4 * 65536);
}

// ---------------------------------------------------------------- checksum and fragments

TEST_CASE("ipv4_header_checksum computes the header checksum (DPDK in-memory form)", "[packet]") {
  Rng rng{42};
  for (int n = 0; n < 2000; ++n) {
    Bytes b = random_header(rng);
    const uint16_t want = get16(&b[10]);  // reference, network order
    put16(&b[10], 0);
    const uint16_t c = ipv4_header_checksum(hdr(b));
    // Like rte_ipv4_cksum, the value is meant to be stored as is (not byte-swapped).
    std::memcpy(&b[10], &c, 2);
    INFO("reference " << hex16(want) << ", stored " << hex16(get16(&b[10])));
    CHECK(ref_ok(b.data(), cksum_span(b)));
    CHECK((get16(&b[10]) == want || (want == 0 && get16(&b[10]) == 0xffff)));
  }
}

TEST_CASE("ipv4 fragment helpers", "[packet]") {
  struct Case {
    uint16_t frag;
    bool fragment, later, df;
  };
  const Case cases[] = {
      {0x0000, false, false, false},  // whole datagram
      {0x4000, false, false, true},   // DF
      {0x2000, true, false, false},   // first fragment (MF, offset 0)
      {0x2001, true, true, false},    // middle fragment
      {0x00b9, true, true, false},    // last fragment (offset 185, MF clear)
      {0x1fff, true, true, false},    // largest offset
      {0x8000, false, false, false},  // reserved bit only
      {0x6000, true, false, true},    // DF and MF (odd but representable)
  };
  for (const auto& c : cases) {
    INFO("frag " << hex16(c.frag));
    Bytes b = build_ipv4(Ip{.frag = c.frag});
    CHECK(ipv4_is_fragment(hdr(b)) == c.fragment);
    CHECK(ipv4_is_later_fragment(hdr(b)) == c.later);
    CHECK(ipv4_df(hdr(b)) == c.df);
  }
}

// ---------------------------------------------------------------- ipv4_check_options

namespace {

std::string options_verdict(const Bytes& b) {
  OptionsVerdict v = ipv4_check_options(hdr(b));
  switch (v.kind) {
    case OptionsVerdict::ok:
      return "ok";
    case OptionsVerdict::source_route:
      return "source_route";
    case OptionsVerdict::malformed:
      return "malformed@" + std::to_string(v.pointer);
  }
  return "invalid kind " + std::to_string(int(v.kind));
}

// A header with exactly these option bytes (IHL rounded up; padding is END).
std::string options(const Bytes& opts) {
  return options_verdict(build_ipv4(Ip{.options = opts}));
}

}  // namespace

TEST_CASE("ipv4_check_options: no options and padding", "[packet]") {
  CHECK(options_verdict(build_ipv4(Ip{})) == "ok");
  CHECK(ipv4_check_options(hdr(build_ipv4(Ip{}))).pointer == 0);
  CHECK(options({1, 1, 1, 1}) == "ok");
  CHECK(options({0, 0, 0, 0}) == "ok");
  CHECK(options({1, 1, 1, 0}) == "ok");
  // Whatever follows END is not parsed.
  CHECK(options({0, 0x83, 0, 0}) == "ok");
  CHECK(options({1, 0, 7, 1}) == "ok");
  Bytes nops(40, 1);
  CHECK(options(nops) == "ok");
}

TEST_CASE("ipv4_check_options: Record Route, Timestamp and unknown options pass", "[packet]") {
  // Record Route: type 7, length 39, pointer 4, nine empty slots (fills IHL 15 exactly).
  Bytes rr(39, 0);
  rr[0] = 7;
  rr[1] = 39;
  rr[2] = 4;
  rr.push_back(0);  // END
  CHECK(options(rr) == "ok");
  CHECK(options({7, 7, 4, 0, 0, 0, 0, 0}) == "ok");
  CHECK(options({7, 7, 8, 10, 0, 0, 1, 0}) == "ok");  // one address recorded
  // Timestamp: type 0x44, length 12, pointer 5, flags 0, two 4-byte slots.
  CHECK(options({0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}) == "ok");
  CHECK(options({1, 0x44, 8, 5, 1, 0, 0, 0, 0, 0, 0, 0}) == "ok");
  // Unknown types with valid lengths pass unchanged (RFC 1812 5.3.13).
  CHECK(options({0x9e, 4, 0xaa, 0xbb}) == "ok");
  CHECK(options({0x1e, 2, 0x5e, 2}) == "ok");
  CHECK(options({0xff, 8, 1, 2, 3, 4, 5, 6}) == "ok");
  // Router Alert (0x94, length 4) and Security (0x82) are just options.
  CHECK(options({0x94, 4, 0, 0}) == "ok");
  CHECK(options({0x82, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) == "ok");
  // Several in a row.
  CHECK(options({1, 7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0, 1, 1, 1, 0}) == "ok");
}

TEST_CASE("ipv4_check_options: malformed lengths point at the offending byte", "[packet]") {
  CHECK(options({7, 0, 4, 0}) == "malformed@21");
  CHECK(options({7, 1, 4, 0}) == "malformed@21");
  CHECK(options({0x9e, 0, 0, 0}) == "malformed@21");
  CHECK(options({0x44, 1, 0, 0}) == "malformed@21");
  CHECK(options({1, 7, 0, 0}) == "malformed@22");
  CHECK(options({1, 1, 1, 1, 7, 1, 0, 0}) == "malformed@25");
  CHECK(options({0x94, 4, 0, 0, 0x44, 0, 0, 0}) == "malformed@25");
  // Running past IHL*4.
  CHECK(options({7, 5, 4, 0}) == "malformed@21");  // 20 + 5 > 24
  CHECK(options({7, 9, 4, 0, 0, 0, 0, 0}) == "malformed@21");
  CHECK(options({1, 0x9e, 255, 0}) == "malformed@22");
  Bytes long_rr(40, 0);
  long_rr[0] = 7;
  long_rr[1] = 41;  // one past the 40-byte area
  long_rr[2] = 4;
  CHECK(options(long_rr) == "malformed@21");
  long_rr[1] = 40;  // exactly the area
  CHECK(options(long_rr) == "ok");
  // A type byte in the last position has no room for its length byte.
  CHECK(options({1, 1, 1, 7}) == "malformed@23");
  CHECK(options({1, 1, 1, 0x83}) == "malformed@23");
  Bytes last(40, 1);
  last[39] = 0x44;
  CHECK(options(last) == "malformed@59");
}

TEST_CASE("ipv4_check_options: LSRR and SSRR are reported as source routes", "[packet]") {
  CHECK(options({0x83, 7, 4, 192, 0, 2, 1, 0}) == "source_route");
  CHECK(options({0x89, 7, 4, 192, 0, 2, 1, 0}) == "source_route");
  CHECK(options({1, 0x83, 7, 8, 192, 0, 2, 1}) == "source_route");  // route used up
  CHECK(options({0x89, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2, 0}) == "source_route");
  CHECK(options({0x83, 3, 4, 0}) == "source_route");  // empty route: length 3 is legal
  // Behind other options.
  CHECK(options({7, 7, 4, 0, 0, 0, 0, 0x83, 7, 4, 1, 2, 3, 4, 0, 0}) == "source_route");
  // A malformed option after a source route is still malformed.
  CHECK(options({0x83, 7, 4, 1, 2, 3, 4, 7, 0, 0, 0, 0}) == "malformed@28");
  // Pointer below 4 is malformed, reported at the pointer byte.
  for (uint8_t ptr = 0; ptr < 4; ++ptr) {
    INFO("pointer " << int(ptr));
    CHECK(options({0x83, 7, ptr, 1, 2, 3, 4, 0}) == "malformed@22");
    CHECK(options({0x89, 7, ptr, 1, 2, 3, 4, 0}) == "malformed@22");
    CHECK(options({1, 0x83, 7, ptr, 1, 2, 3, 4}) == "malformed@23");
  }
  // The copied-flag-less type numbers are not source routes.
  CHECK(options({0x03, 7, 4, 1, 2, 3, 4, 0}) == "ok");
  CHECK(options({0x09, 7, 4, 1, 2, 3, 4, 0}) == "ok");
}

TEST_CASE("ipv4_check_options: a too-short LSRR/SSRR is reported at its length byte", "[packet]") {
  // RFC 791: a source route option is at least 3 bytes (type, length, pointer). With
  // length 2 the offending byte is the length; the byte after it belongs to the next
  // option, or, at the end of the area, is not part of the header at all: a Parameter
  // Problem pointer must stay inside the header.
  CHECK(options({0x83, 2, 0, 0}) == "malformed@21");
  CHECK(options({0x89, 2, 1, 0}) == "malformed@21");
  CHECK(options({1, 1, 0x83, 2}) == "malformed@23");  // IHL 6: byte 24 is past the header
  Bytes tail(40, 1);
  tail[38] = 0x89;
  tail[39] = 2;
  OptionsVerdict v = ipv4_check_options(hdr(build_ipv4(Ip{.options = tail})));
  CHECK(v.kind == OptionsVerdict::malformed);
  CHECK(int(v.pointer) < 60);
}

TEST_CASE("ipv4_check_options terminates on 100k random option areas", "[packet]") {
  Rng rng{0xf022};
  size_t bad = 0, malformed = 0, routed = 0, fine = 0, expect_failures = 0;
  std::string first;
  for (int n = 0; n < 100000; ++n) {
    // Mostly full 40-byte areas, sometimes shorter ones. The vector holds exactly IHL*4
    // bytes, so a read past the header is caught by ASan.
    const size_t ihl = n % 4 == 0 ? 6 + rng.below(10) : 15;
    Bytes b = build_ipv4(Ip{.ihl = int(ihl)});
    REQUIRE(b.size() == ihl * 4);
    const int mode = int(rng.below(3));
    std::string expect;  // known by construction for the structured modes
    if (mode == 0) {
      for (size_t i = 20; i < b.size(); ++i) b[i] = rng.byte();
    } else {
      // A valid sequence of options; mode 2 then corrupts one length byte.
      size_t i = 20;
      bool route = false;
      std::vector<size_t> length_bytes;
      while (i < b.size()) {
        size_t room = b.size() - i;
        uint32_t pick = rng.below(4);
        if (pick == 0 || room < 2) {
          b[i++] = 1;
        } else if (pick == 1 && room >= 3) {
          size_t len = 3 + rng.below(uint32_t(std::min<size_t>(room, 39) - 2));
          b[i] = rng.below(2) ? 0x83 : 0x89;
          b[i + 1] = uint8_t(len);
          b[i + 2] = uint8_t(4 + rng.below(60));
          for (size_t k = 3; k < len; ++k) b[i + k] = rng.byte();
          length_bytes.push_back(i + 1);
          route = true;
          i += len;
        } else {
          size_t len = 2 + rng.below(uint32_t(std::min<size_t>(room, 40) - 1));
          uint8_t type;
          do type = rng.byte();
          while (type <= 1 || type == 0x83 || type == 0x89);
          b[i] = type;
          b[i + 1] = uint8_t(len);
          for (size_t k = 2; k < len; ++k) b[i + k] = rng.byte();
          length_bytes.push_back(i + 1);
          i += len;
        }
      }
      expect = route ? "source_route" : "ok";
      if (mode == 2 && !length_bytes.empty()) {
        size_t at = length_bytes[rng.below(uint32_t(length_bytes.size()))];
        b[at] = uint8_t(rng.below(2));  // 0 or 1
        // Any source route before the corrupted option does not change the verdict.
        expect = "malformed@" + std::to_string(at);
      }
    }
    ref_fix_checksum(b);
    OptionsVerdict v = ipv4_check_options(hdr(b));
    switch (v.kind) {
      case OptionsVerdict::ok:
        ++fine;
        if (v.pointer != 0) ++bad;
        break;
      case OptionsVerdict::source_route:
        ++routed;
        if (v.pointer != 0) ++bad;
        break;
      case OptionsVerdict::malformed:
        ++malformed;
        if (v.pointer < 20 || v.pointer >= ihl * 4) ++bad;
        break;
      default:
        ++bad;
    }
    if (!expect.empty() && options_verdict(b) != expect && expect_failures++ == 0)
      first = "case " + std::to_string(n) + ": expected " + expect + ", got " + options_verdict(b);
  }
  INFO("first structured mismatch: " << first);
  CHECK(bad == 0);
  CHECK(expect_failures == 0);
  CHECK(fine + routed + malformed == 100000u);
  // The generator reaches every verdict.
  CHECK(fine > 1000);
  CHECK(routed > 1000);
  CHECK(malformed > 1000);
}

// ---------------------------------------------------------------- stats

TEST_CASE("every Drop reason has a unique, non-empty name and a description", "[packet]") {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kDropCount; ++i) {
    Drop d = Drop(i);
    INFO("Drop #" << i);
    CHECK_FALSE(drop_name(d).empty());
    CHECK_FALSE(drop_description(d).empty());
    CHECK(names.insert(drop_name(d)).second);
  }
  CHECK(names.size() == kDropCount);
  CHECK(kDropCount > 30);
  CHECK(drop_name(Drop::ipv4_bad_checksum) == "ipv4_bad_checksum");
  CHECK(drop_name(Drop::l2_too_short) == "l2_too_short");
  CHECK(drop_name(Drop(kDropCount - 1)) == "tunnel_no_route");
}
