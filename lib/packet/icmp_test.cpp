#include "icmp.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "inet.hpp"
#include "ipv4.hpp"
#include "packet_test_util.hpp"

using namespace routerd;
using namespace routerd::testing;

namespace {

// Stores the reference checksum of [p, p+n) into the 16-bit field at p+field.
void ref_fill(uint8_t* p, size_t n, size_t field) {
  put16(p + field, 0);
  put16(p + field, uint16_t(~ref_sum(p, n)));
}

constexpr uint32_t A(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | d;
}

// A datagram of `total` bytes (IHL 5 unless opts given) with a valid header checksum; the
// bytes after the header are a recognisable pattern, or `l4` followed by the pattern.
struct Ip {
  size_t total = 28;
  uint8_t proto = 17;
  uint32_t src = A(10, 0, 0, 1);
  uint32_t dst = A(192, 0, 2, 1);
  uint16_t frag = 0;
  uint8_t ttl = 1;
  Bytes options{};
  Bytes l4{};
};

Bytes build_ip(const Ip& d) {
  const size_t hlen = 20 + (d.options.size() + 3) / 4 * 4;
  Bytes b(std::max(d.total, hlen), 0);
  b[0] = uint8_t(0x40 | hlen / 4);
  b[1] = 0x10;
  put16(&b[2], uint16_t(d.total));
  put16(&b[4], 0xbeef);
  put16(&b[6], d.frag);
  b[8] = d.ttl;
  b[9] = d.proto;
  put32(&b[12], d.src);
  put32(&b[16], d.dst);
  std::copy(d.options.begin(), d.options.end(), b.begin() + 20);
  for (size_t i = hlen; i < b.size(); ++i) b[i] = uint8_t(i * 31 + 7);
  std::copy_n(d.l4.begin(), std::min(d.l4.size(), b.size() - hlen), b.begin() + long(hlen));
  ref_fill(b.data(), hlen, 10);
  return b;
}

// An ICMP message (type, code, 4 bytes of rest, payload) inside a datagram; both
// checksums valid.
Bytes build_icmp(uint8_t type, uint8_t code, size_t payload, uint32_t src = A(192, 0, 2, 7),
                 uint32_t dst = A(10, 0, 0, 1)) {
  Bytes b = build_ip(Ip{.total = 28 + payload, .proto = 1, .src = src, .dst = dst, .ttl = 5});
  b[20] = type;
  b[21] = code;
  put16(&b[24], 0x4242);  // id
  put16(&b[26], 0x0007);  // sequence
  ref_fill(b.data() + 20, b.size() - 20, 2);
  return b;
}

bool allowed(const Bytes& b, size_t len, bool l2m = false, bool dbc = false, bool sbc = false) {
  // Copy exactly len bytes so ASan catches a read past what the caller said is present.
  Bytes exact(b.begin(), b.begin() + long(std::min(len, b.size())));
  exact.resize(len);
  return icmp_error_allowed(exact.data(), len, l2m, dbc, sbc);
}
bool allowed(const Bytes& b) {
  return allowed(b, b.size());
}

}  // namespace

// ---------------------------------------------------------------- icmp_error_allowed

TEST_CASE("icmp_error_allowed: ordinary datagrams, echo requests and first fragments", "[packet]") {
  CHECK(allowed(build_ip(Ip{.proto = 17})));
  CHECK(allowed(build_ip(Ip{.total = 60, .proto = 6})));
  CHECK(allowed(build_ip(Ip{.proto = 17}), 20));  // only the header was kept
  CHECK(allowed(build_icmp(8, 0, 32)));           // echo request
  CHECK(allowed(build_icmp(0, 0, 32)));           // echo reply
  CHECK(allowed(build_icmp(13, 0, 12)));          // timestamp
  CHECK(allowed(build_icmp(8, 0, 0), 21));        // only the type byte present
  CHECK(allowed(build_ip(Ip{.frag = 0x2000})));   // first fragment: MF, offset 0
  CHECK(allowed(build_ip(Ip{.frag = 0x4000})));   // DF
  // The type byte behind options.
  Bytes o = build_ip(Ip{.total = 36, .proto = 1, .options = {1, 1, 1, 0}, .l4 = {8, 0, 0, 0}});
  CHECK(allowed(o));
  CHECK(allowed(o, 25));
}

TEST_CASE("icmp_error_allowed: link-layer and IP broadcast/multicast", "[packet]") {
  Bytes b = build_ip(Ip{});
  REQUIRE(allowed(b));
  CHECK_FALSE(allowed(b, b.size(), true, false, false));
  CHECK_FALSE(allowed(b, b.size(), false, true, false));
  CHECK_FALSE(allowed(b, b.size(), false, false, true));
  for (uint32_t d : {A(255, 255, 255, 255), A(224, 0, 0, 1), A(224, 0, 0, 5), A(239, 1, 1, 1),
                     A(239, 255, 255, 250)}) {
    INFO(Ipv4(d).str());
    CHECK_FALSE(allowed(build_ip(Ip{.dst = d})));
  }
}

TEST_CASE("icmp_error_allowed: sources that are not a single host", "[packet]") {
  for (uint32_t s : {A(0, 0, 0, 0), A(0, 1, 2, 3), A(127, 0, 0, 1), A(224, 0, 0, 1),
                     A(239, 0, 0, 1), A(240, 0, 0, 1), A(255, 255, 255, 255)}) {
    INFO(Ipv4(s).str());
    CHECK_FALSE(allowed(build_ip(Ip{.src = s})));
  }
  CHECK(allowed(build_ip(Ip{.src = A(1, 0, 0, 0)})));
  CHECK(allowed(build_ip(Ip{.src = A(223, 255, 255, 255)})));
}

TEST_CASE("icmp_error_allowed: non-first fragments", "[packet]") {
  for (uint16_t frag : {0x0001, 0x2001, 0x00b9, 0x1fff, 0x3fff, 0x4001}) {
    INFO("frag field " << hex16(frag));
    CHECK_FALSE(allowed(build_ip(Ip{.frag = frag})));
  }
  // Even an echo request fragment with a non-zero offset.
  Bytes e = build_icmp(8, 0, 32);
  put16(&e[6], 0x0010);
  ref_fill(e.data(), 20, 10);
  CHECK_FALSE(allowed(e));
}

TEST_CASE("icmp_error_allowed: ICMP errors and unknown types", "[packet]") {
  for (uint8_t type : {3, 4, 5, 11, 12, 42, 1, 2, 6, 7, 19, 40, 255}) {
    INFO("type " << int(type));
    CHECK_FALSE(allowed(build_icmp(type, 0, 28)));
  }
  for (uint8_t type : {0, 8, 13, 14, 15, 16, 17, 18}) {
    INFO("informational type " << int(type));
    CHECK(allowed(build_icmp(type, 0, 28)));
  }
}

TEST_CASE("icmp_error_allowed: missing type byte or header", "[packet]") {
  Bytes e = build_icmp(8, 0, 32);
  CHECK_FALSE(allowed(e, 20));  // ICMP, but no type byte present
  Bytes o = build_ip(Ip{.total = 36, .proto = 1, .options = {1, 1, 1, 0}, .l4 = {8, 0, 0, 0}});
  CHECK_FALSE(allowed(o, 24));  // IHL 6: the type byte would be byte 24
  Bytes u = build_ip(Ip{});
  for (size_t len = 0; len < 20; ++len) {
    INFO("len " << len);
    CHECK_FALSE(allowed(u, len));
  }
}

// ---------------------------------------------------------------- icmp_build_error

namespace {

struct Built {
  Bytes out;
  size_t n;
};

Built build_error(const Bytes& orig, size_t orig_len, const IcmpError& e, size_t cap = 2048,
                  size_t max_len = icmp::max_error_len) {
  Bytes exact(orig.begin(), orig.begin() + long(orig_len));  // ASan: no read past orig_len
  Built b{Bytes(cap, 0xee), 0};
  b.n = icmp_build_error(exact.data(), orig_len, e, b.out.data(), cap, max_len);
  return b;
}

const IcmpError kTimeExceeded{icmp::time_exceeded, 0, 0, Ipv4(10, 9, 0, 1), 0x1234};

// Checks every field of an error built from `orig` and returns nothing; failures are
// reported through Catch with the caller's INFO context.
void check_error(const Built& b, const Bytes& orig, size_t expect_len, const IcmpError& e) {
  REQUIRE(b.n == expect_len);
  const uint8_t* ip = b.out.data();
  CHECK(ip[0] == 0x45);
  CHECK(ip[1] == 0xc0);  // precedence 6
  CHECK(get16(ip + 2) == expect_len);
  CHECK(get16(ip + 4) == e.ip_id);
  CHECK(get16(ip + 6) == 0);  // DF clear, not a fragment
  CHECK(ip[8] == 64);
  CHECK(ip[9] == 1);
  CHECK(get32(ip + 12) == e.src.v);
  CHECK(get32(ip + 16) == get32(orig.data() + 12));  // back to the original source
  {
    Bytes z(ip, ip + 20);
    ref_fill(z.data(), 20, 10);
    INFO("IP checksum stored " << hex16(get16(ip + 10)) << ", RFC 1071 " << hex16(get16(&z[10])));
    CHECK(ref_ok(ip, 20));
  }
  const uint8_t* icmp = ip + 20;
  CHECK(icmp[0] == e.type);
  CHECK(icmp[1] == e.code);
  CHECK(get32(icmp + 4) == e.rest);
  {
    Bytes z(icmp, ip + expect_len);
    ref_fill(z.data(), z.size(), 2);
    INFO("ICMP checksum stored " << hex16(get16(icmp + 2)) << ", RFC 1071 " << hex16(get16(&z[2])));
    CHECK(ref_ok(icmp, expect_len - 20));
  }
  const size_t quote = expect_len - 28;
  CHECK(std::equal(icmp + 8, icmp + 8 + quote, orig.begin()));
  // Nothing written past the datagram.
  CHECK(std::all_of(b.out.begin() + long(expect_len), b.out.end(),
                    [](uint8_t x) { return x == 0xee; }));
  // The header also passes the router's own validation.
  CHECK(ipv4_validate(reinterpret_cast<const rte_ipv4_hdr*>(ip), uint32_t(expect_len),
                      uint32_t(expect_len), RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN)
            .ok);
}

}  // namespace

TEST_CASE("icmp_build_error quotes min(576, 28 + total length) bytes", "[packet]") {
  for (size_t total : {20u, 28u, 100u, 548u, 549u, 1500u}) {
    INFO("original total length " << total);
    Bytes orig = build_ip(Ip{.total = total, .src = A(198, 51, 100, 7), .dst = A(203, 0, 113, 9)});
    Built b = build_error(orig, orig.size(), kTimeExceeded);
    check_error(b, orig, std::min<size_t>(576, 28 + total), kTimeExceeded);
  }
}

TEST_CASE("icmp_build_error: type, code and second word as given", "[packet]") {
  Bytes orig = build_ip(Ip{.total = 1400, .frag = 0x4000});
  const IcmpError frag{icmp::dest_unreachable, icmp::code_frag_needed, 1280, Ipv4(10, 1, 0, 1), 7};
  Built b = build_error(orig, orig.size(), frag);
  check_error(b, orig, 576, frag);
  // Next-hop MTU in the low 16 bits, high 16 bits zero (RFC 1191).
  CHECK(b.out[24] == 0x00);
  CHECK(b.out[25] == 0x00);
  CHECK(b.out[26] == 0x05);
  CHECK(b.out[27] == 0x00);

  const IcmpError pp{icmp::param_problem, 0, uint32_t(22) << 24, Ipv4(10, 1, 0, 1), 8};
  Bytes po = build_ip(Ip{.total = 60, .options = {1, 0x83, 2, 0}});
  Built p = build_error(po, po.size(), pp);
  check_error(p, po, 88, pp);
  CHECK(p.out[24] == 22);  // pointer in the first byte
  CHECK(p.out[25] == 0);

  const IcmpError net{icmp::dest_unreachable, icmp::code_net_unreachable, 0, Ipv4(192, 0, 2, 254),
                      9};
  Bytes no = build_ip(Ip{.total = 84, .proto = 6});
  check_error(build_error(no, no.size(), net), no, 112, net);
}

TEST_CASE("icmp_build_error: the quote is cut at the bytes the caller has", "[packet]") {
  Bytes orig = build_ip(Ip{.total = 1000});
  // Only 100 of the 1000 bytes are available (e.g. the first segment).
  check_error(build_error(orig, 100, kTimeExceeded), orig, 128, kTimeExceeded);
  check_error(build_error(orig, 20, kTimeExceeded), orig, 48, kTimeExceeded);
  // A padded original: 28-byte datagram in 46 bytes of frame quotes only 28.
  Bytes small = build_ip(Ip{.total = 28});
  Bytes padded = small;
  padded.resize(46, 0);
  check_error(build_error(padded, padded.size(), kTimeExceeded), padded, 56, kTimeExceeded);
}

TEST_CASE("icmp_build_error: limits", "[packet]") {
  Bytes orig = build_ip(Ip{.total = 1500});
  // cap below IP + ICMP header + the original IP header.
  for (size_t cap : {0u, 27u, 28u, 47u}) {
    INFO("cap " << cap);
    CHECK(build_error(orig, orig.size(), kTimeExceeded, cap).n == 0);
  }
  check_error(build_error(orig, orig.size(), kTimeExceeded, 48), orig, 48, kTimeExceeded);
  check_error(build_error(orig, orig.size(), kTimeExceeded, 300), orig, 300, kTimeExceeded);
  // orig_len below an IP header.
  for (size_t len : {0u, 1u, 19u}) {
    INFO("orig_len " << len);
    CHECK(build_error(orig, len, kTimeExceeded).n == 0);
  }
  // A custom max_len is honoured, and the smaller of max_len and cap wins.
  check_error(build_error(orig, orig.size(), kTimeExceeded, 2048, 128), orig, 128, kTimeExceeded);
  check_error(build_error(orig, orig.size(), kTimeExceeded, 2048, 1280), orig, 1280, kTimeExceeded);
  check_error(build_error(orig, orig.size(), kTimeExceeded, 200, 1280), orig, 200, kTimeExceeded);
  CHECK(build_error(orig, orig.size(), kTimeExceeded, 2048, 47).n == 0);
}

// ---------------------------------------------------------------- icmp_echo_to_reply

TEST_CASE("icmp_echo_to_reply turns a request into a reply", "[packet]") {
  for (size_t payload : {0u, 1u, 56u, 57u, 1472u}) {
    INFO("payload " << payload);
    const uint32_t from = A(192, 0, 2, 7), to = A(10, 0, 0, 1);
    Bytes req = build_icmp(icmp::echo_request, 0, payload, from, to);
    REQUIRE(ref_ok(req.data(), 20));
    REQUIRE(ref_ok(req.data() + 20, req.size() - 20));
    Bytes rep = req;
    REQUIRE(icmp_echo_to_reply(rep.data(), rep.size()));
    CHECK(get32(&rep[12]) == to);
    CHECK(get32(&rep[16]) == from);
    CHECK(rep[8] == 64);
    CHECK(rep[9] == 1);
    CHECK(rep[20] == icmp::echo_reply);
    CHECK(rep[21] == 0);
    CHECK(get16(&rep[24]) == 0x4242);  // identifier and sequence kept
    CHECK(get16(&rep[26]) == 0x0007);
    CHECK(std::equal(rep.begin() + 28, rep.end(), req.begin() + 28));  // payload kept
    Bytes z(rep.begin(), rep.begin() + 20);
    ref_fill(z.data(), 20, 10);
    INFO("IP checksum stored " << hex16(get16(&rep[10])) << ", RFC 1071 " << hex16(get16(&z[10])));
    CHECK(ref_ok(rep.data(), 20));
    Bytes zi(rep.begin() + 20, rep.end());
    ref_fill(zi.data(), zi.size(), 2);
    INFO("ICMP checksum stored " << hex16(get16(&rep[22])) << ", RFC 1071 "
                                 << hex16(get16(&zi[2])));
    CHECK(ref_ok(rep.data() + 20, rep.size() - 20));
  }
}

TEST_CASE("icmp_echo_to_reply rejects what is not a well-formed echo request", "[packet]") {
  auto rejects = [](Bytes b, size_t len) {
    Bytes exact(b.begin(), b.begin() + long(len));
    Bytes before = exact;
    bool r = icmp_echo_to_reply(exact.data(), len);
    return !r && exact == before;  // untouched when refused
  };
  Bytes req = build_icmp(icmp::echo_request, 0, 16);
  REQUIRE(ref_ok(req.data() + 20, req.size() - 20));
  // Not ICMP.
  Bytes udp = req;
  udp[9] = 17;
  ref_fill(udp.data(), 20, 10);
  CHECK(rejects(udp, udp.size()));
  // Other types (checksums valid).
  for (uint8_t type : {0, 3, 11, 13, 42}) {
    INFO("type " << int(type));
    CHECK(rejects(build_icmp(type, 0, 16), req.size()));
  }
  // Echo request with a non-zero code.
  CHECK(rejects(build_icmp(8, 1, 16), req.size()));
  // Bad ICMP checksum: in the header, or in the payload.
  Bytes bad = req;
  bad[22] ^= 0x01;
  CHECK(rejects(bad, bad.size()));
  Bytes badp = req;
  badp[40] ^= 0x80;
  CHECK(rejects(badp, badp.size()));
  // Truncated: less than an IP header, or less than the 8-byte ICMP header.
  for (size_t len : {0u, 10u, 19u, 20u, 27u}) {
    INFO("len " << len);
    CHECK(rejects(req, len));
  }
  // Not an IPv4 header, checksums right (found by fuzz-icmp): version 5 or 6, and IHL 4,
  // which would put the "ICMP header" on the destination address, made to look like one.
  for (uint8_t vhl : {0x55, 0x65}) {
    INFO("version/IHL " << hex16(vhl));
    Bytes v = req;
    v[0] = vhl;
    ref_fill(v.data(), 20, 10);
    CHECK(rejects(v, v.size()));
  }
  Bytes ihl4 = req;
  ihl4[0] = 0x44;
  ihl4[16] = icmp::echo_request;
  ihl4[17] = 0;
  ref_fill(ihl4.data() + 16, ihl4.size() - 16, 2);
  REQUIRE(ref_ok(ihl4.data() + 16, ihl4.size() - 16));
  CHECK(rejects(ihl4, ihl4.size()));
}

// ---------------------------------------------------------------- icmp_select_source

TEST_CASE("icmp_select_source", "[packet]") {
  const PortAddress addrs[] = {
      {Ipv4(10, 1, 0, 1), Prefix4{Ipv4(10, 1, 0, 0), 24}},
      {Ipv4(10, 2, 0, 1), Prefix4{Ipv4(10, 2, 0, 0), 16}},
      {Ipv4(192, 168, 7, 1), Prefix4{Ipv4(192, 168, 7, 0), 30}},
  };
  CHECK(icmp_select_source(addrs, Ipv4(10, 1, 0, 77)) == Ipv4(10, 1, 0, 1));
  CHECK(icmp_select_source(addrs, Ipv4(10, 2, 200, 3)) == Ipv4(10, 2, 0, 1));
  CHECK(icmp_select_source(addrs, Ipv4(192, 168, 7, 2)) == Ipv4(192, 168, 7, 1));
  // No subnet holds it: the first address.
  CHECK(icmp_select_source(addrs, Ipv4(192, 168, 7, 4)) == Ipv4(10, 1, 0, 1));
  CHECK(icmp_select_source(addrs, Ipv4(8, 8, 8, 8)) == Ipv4(10, 1, 0, 1));
  CHECK(icmp_select_source(std::span(addrs).subspan(1), Ipv4(8, 8, 8, 8)) == Ipv4(10, 2, 0, 1));
  CHECK(icmp_select_source({}, Ipv4(10, 1, 0, 77)) == std::nullopt);
}

// ---------------------------------------------------------------- icmp_checksum

TEST_CASE("icmp_checksum computes the RFC 1071 checksum (DPDK in-memory form)", "[packet]") {
  for (size_t len : {8u, 9u, 64u, 65u, 556u}) {
    INFO("len " << len);
    Bytes m = build_icmp(8, 0, len - 8);
    Bytes icmp(m.begin() + 20, m.end());
    const uint16_t want = get16(&icmp[2]);
    put16(&icmp[2], 0);
    const uint16_t c = icmp_checksum(icmp.data(), icmp.size());
    std::memcpy(&icmp[2], &c, 2);  // stored as is, like rte_ipv4_cksum's result
    CHECK(ref_ok(icmp.data(), icmp.size()));
    CHECK((get16(&icmp[2]) == want || (want == 0 && get16(&icmp[2]) == 0xffff)));
  }
}
