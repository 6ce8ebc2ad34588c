#include "arp.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <vector>

#include "inet.hpp"

using namespace routerd;

namespace {

using Bytes = std::vector<uint8_t>;

Mac mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) {
  Mac m;
  m.b = {a, b, c, d, e, f};
  return m;
}

const Mac kOurs = mac(0x02, 0x00, 0x00, 0x00, 0x01, 0x01);
const Mac kPeer = mac(0x52, 0x54, 0x00, 0xab, 0xcd, 0xef);
const Mac kBroadcast = mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

// A who-has 10.0.0.1 tell 10.0.0.2 from kPeer, written byte by byte (RFC 826 layout).
Bytes request_bytes() {
  return Bytes{
      0x00, 0x01,                          // hardware type: Ethernet
      0x08, 0x00,                          // protocol type: IPv4
      0x06, 0x04,                          // hlen, plen
      0x00, 0x01,                          // opcode: request
      0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,  // sender MAC
      0x0a, 0x00, 0x00, 0x02,              // sender IP 10.0.0.2
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target MAC (unknown)
      0x0a, 0x00, 0x00, 0x01,              // target IP 10.0.0.1
  };
}

// Parses exactly len bytes of b from a buffer of that size (ASan: no read past len).
std::optional<ArpPacket> parse(const Bytes& b, size_t len) {
  Bytes exact(b.begin(), b.begin() + long(len));
  return arp_parse(exact.data(), len);
}
std::optional<ArpPacket> parse(const Bytes& b) {
  return parse(b, b.size());
}

void check_same(const ArpPacket& a, const ArpPacket& b) {
  CHECK(a.op == b.op);
  CHECK(a.sha == b.sha);
  CHECK(a.spa == b.spa);
  CHECK(a.tha == b.tha);
  CHECK(a.tpa == b.tpa);
}

// Builds a frame into a buffer pre-filled with 0xee, so writes past 60 bytes show.
Bytes frame(const Mac& dst, const Mac& src, const ArpPacket& a, size_t* n) {
  Bytes out(80, 0xee);
  *n = arp_build_frame(out.data(), dst, src, a);
  return out;
}

}  // namespace

TEST_CASE("arp_parse reads a hand-built request", "[packet]") {
  auto a = parse(request_bytes());
  REQUIRE(a);
  CHECK(a->op == ArpPacket::request);
  CHECK(a->sha == kPeer);
  CHECK(a->spa == Ipv4(10, 0, 0, 2));
  CHECK(a->tha == Mac{});
  CHECK(a->tpa == Ipv4(10, 0, 0, 1));
  // A reply with distinct addresses in every field.
  Bytes r = request_bytes();
  r[7] = 2;
  std::copy_n(kOurs.b.begin(), 6, r.begin() + 18);
  const uint8_t spa[] = {192, 168, 1, 254};
  std::copy_n(spa, 4, r.begin() + 14);
  auto b = parse(r);
  REQUIRE(b);
  CHECK(b->op == ArpPacket::reply);
  CHECK(b->spa == Ipv4(192, 168, 1, 254));
  CHECK(b->tha == kOurs);
  // Trailing bytes (Ethernet padding) are ignored.
  Bytes padded = request_bytes();
  padded.resize(46, 0);
  auto c = parse(padded);
  REQUIRE(c);
  check_same(*c, *a);
}

TEST_CASE("arp_parse rejects foreign or malformed packets", "[packet]") {
  const Bytes good = request_bytes();
  REQUIRE(parse(good));
  struct Mutation {
    const char* what;
    size_t at;
    uint8_t value;
  };
  const Mutation bad[] = {
      {"hardware type 6 (IEEE 802)", 1, 6},
      {"hardware type 0", 1, 0},
      {"hardware type 0x0101", 0, 1},
      {"protocol 0x8600", 2, 0x86},
      {"protocol 0x0806", 3, 0x06},
      {"hlen 8", 4, 8},
      {"hlen 0", 4, 0},
      {"plen 16", 5, 16},
      {"plen 6", 5, 6},
      {"opcode 3 (RARP)", 7, 3},
      {"opcode 0", 7, 0},
      {"opcode 4", 7, 4},
      {"opcode 0x0101", 6, 1},
  };
  for (const auto& m : bad) {
    INFO(m.what);
    Bytes b = good;
    b[m.at] = m.value;
    CHECK_FALSE(parse(b));
  }
  for (size_t len = 0; len < kArpLen; ++len) {
    INFO("len " << len);
    CHECK_FALSE(parse(good, len));
  }
  CHECK(parse(good, kArpLen));
}

TEST_CASE("arp_build_frame writes Ethernet + ARP padded with zeros to 60 bytes", "[packet]") {
  const ArpPacket req = arp_request(kOurs, Ipv4(10, 0, 0, 1), Ipv4(10, 0, 0, 2));
  size_t n = 0;
  Bytes f = frame(kBroadcast, kOurs, req, &n);
  REQUIRE(n == 60u);
  CHECK(std::equal(f.begin(), f.begin() + 6, kBroadcast.b.begin()));
  CHECK(std::equal(f.begin() + 6, f.begin() + 12, kOurs.b.begin()));
  CHECK(f[12] == 0x08);
  CHECK(f[13] == 0x06);
  // The body matches RFC 826 byte for byte.
  const Bytes body{0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
                   0x00, 0x00, 0x01, 0x01, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00,
                   0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02};
  CHECK(Bytes(f.begin() + 14, f.begin() + 42) == body);
  CHECK(std::all_of(f.begin() + 42, f.begin() + 60, [](uint8_t x) { return x == 0; }));
  CHECK(std::all_of(f.begin() + 60, f.end(), [](uint8_t x) { return x == 0xee; }));
}

TEST_CASE("arp round trip: build then parse", "[packet]") {
  const ArpPacket req = arp_request(kOurs, Ipv4(10, 0, 0, 1), Ipv4(10, 0, 0, 2));
  CHECK(req.op == ArpPacket::request);
  CHECK(req.sha == kOurs);
  CHECK(req.spa == Ipv4(10, 0, 0, 1));
  CHECK(req.tha.is_zero());
  CHECK(req.tpa == Ipv4(10, 0, 0, 2));
  size_t n = 0;
  Bytes f = frame(kBroadcast, kOurs, req, &n);
  auto p = parse(Bytes(f.begin() + long(kEtherHdrLen), f.begin() + long(n)));
  REQUIRE(p);
  check_same(*p, req);

  const ArpPacket rep{ArpPacket::reply, kPeer, Ipv4(172, 16, 5, 9), kOurs, Ipv4(172, 16, 5, 1)};
  Bytes g = frame(kOurs, kPeer, rep, &n);
  REQUIRE(n == 60u);
  CHECK(g[14 + 7] == 2);
  auto q = parse(Bytes(g.begin() + long(kEtherHdrLen), g.begin() + long(n)));
  REQUIRE(q);
  check_same(*q, rep);
}

TEST_CASE("arp_reply_to answers the request", "[packet]") {
  auto req = parse(request_bytes());  // who-has 10.0.0.1 tell 10.0.0.2 (kPeer)
  REQUIRE(req);
  const ArpPacket rep = arp_reply_to(*req, kOurs);
  CHECK(rep.op == ArpPacket::reply);
  CHECK(rep.sha == kOurs);
  CHECK(rep.spa == Ipv4(10, 0, 0, 1));  // the address asked about
  CHECK(rep.tha == kPeer);
  CHECK(rep.tpa == Ipv4(10, 0, 0, 2));
  // Built and sent back to the requester, it parses as the same reply.
  size_t n = 0;
  Bytes f = frame(req->sha, kOurs, rep, &n);
  CHECK(std::equal(f.begin(), f.begin() + 6, kPeer.b.begin()));
  auto back = parse(Bytes(f.begin() + long(kEtherHdrLen), f.begin() + long(n)));
  REQUIRE(back);
  check_same(*back, rep);
}
