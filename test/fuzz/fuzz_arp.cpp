// Fuzz target: ARP parsing (lib/packet/arp), as the control thread sees a punted frame's body.
// Invariants: short bodies never parse; a parsed body is exactly what arp_build_frame writes
// for the parsed fields (nothing is read from anywhere else, nothing is lost); the frame built
// from it parses back to the same fields, and a reply swaps the roles as RFC 826 says.
#include <cstring>
#include <vector>

#include "arp.hpp"
#include "fuzz_util.hpp"

using namespace routerd;

namespace {
bool same(const ArpPacket& a, const ArpPacket& b) {
  return a.op == b.op && a.sha == b.sha && a.spa == b.spa && a.tha == b.tha && a.tpa == b.tpa;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy: ASan reports any read past what the caller said is there.
  std::vector<uint8_t> body(data, data + size);
  std::optional<ArpPacket> a = arp_parse(body.data(), body.size());
  if (size < kArpLen) FUZZ_CHECK(!a, "a %zu-byte body parsed", size);
  if (!a) return 0;
  FUZZ_CHECK(a->op == ArpPacket::request || a->op == ArpPacket::reply);

  const Mac eth_dst{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, eth_src{{0x02, 0, 0, 0, 0xaa, 1}};
  uint8_t frame[kMinFrameLen + 16];
  std::memset(frame, 0xa5, sizeof frame);
  FUZZ_CHECK(arp_build_frame(frame, eth_dst, eth_src, *a) == kMinFrameLen);
  FUZZ_CHECK(std::memcmp(frame + kEtherHdrLen, data, kArpLen) == 0,
             "the frame built from a parsed body differs from that body");
  FUZZ_CHECK(frame[12] == 0x08 && frame[13] == 0x06);
  for (size_t i = kEtherHdrLen + kArpLen; i < kMinFrameLen; ++i) FUZZ_CHECK(frame[i] == 0);
  for (size_t i = kMinFrameLen; i < sizeof frame; ++i)
    FUZZ_CHECK(frame[i] == 0xa5, "arp_build_frame wrote past %zu bytes", kMinFrameLen);
  std::optional<ArpPacket> b = arp_parse(frame + kEtherHdrLen, kMinFrameLen - kEtherHdrLen);
  FUZZ_CHECK(b && same(*a, *b));

  const ArpPacket r = arp_reply_to(*a, eth_src);
  FUZZ_CHECK(r.op == ArpPacket::reply && r.sha == eth_src && r.spa == a->tpa && r.tha == a->sha &&
             r.tpa == a->spa);
  return 0;
}
