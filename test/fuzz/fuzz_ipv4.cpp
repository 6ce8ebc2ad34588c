// Fuzz target: IPv4 header validation and options (lib/packet/ipv4), over any header bytes,
// segment and frame length and RX checksum flags.
// Invariants: ipv4_validate's verdict is right by an independent reading of RFC 1812 5.2.2
// (every accepted header passes every check; every refusal names a check that fails);
// ipv4_check_options agrees with a plain reference walk of RFC 791 options, and its pointer
// names a byte of the offending option; the two TTL decrements give identical bytes and keep
// a right checksum right. Buffers are exact-size heap copies, so ASan sees any read past
// the bytes a function is told are there.
#include <fuzzer/FuzzedDataProvider.h>
#include <rte_mbuf_core.h>

#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "ipv4.hpp"
#include "packet_test_util.hpp"

using namespace routerd;
using routerd::testing::ref_ok;

namespace {

// RFC 791 options, walked the plain way: returns -1 malformed, 1 source-routed, 0 fine.
int ref_options(const uint8_t* h, size_t ihl) {
  bool sr = false;
  size_t i = 20;
  while (i < ihl) {
    const uint8_t type = h[i];
    if (type == 0) break;
    if (type == 1) {
      ++i;
      continue;
    }
    if (i + 2 > ihl) return -1;
    const size_t len = h[i + 1];
    if (len < 2 || i + len > ihl) return -1;
    if (type == 0x83 || type == 0x89) {
      if (len < 3 || h[i + 2] < 4) return -1;
      sr = true;
    }
    i += len;
  }
  return sr ? 1 : 0;
}

void check_options(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const size_t ihl = size_t(data[0] & 0xf) * 4;
  if (ihl < 20 || size < ihl) return;  // the caller guarantees IHL*4 readable bytes
  std::vector<uint8_t> h(data, data + ihl);
  const OptionsVerdict v = ipv4_check_options(reinterpret_cast<const rte_ipv4_hdr*>(h.data()));
  const int want = ref_options(h.data(), ihl);
  FUZZ_CHECK((want == -1) == (v.kind == OptionsVerdict::malformed), "ihl %zu kind %d ref %d", ihl,
             int(v.kind), want);
  FUZZ_CHECK((want == 1) == (v.kind == OptionsVerdict::source_route), "ihl %zu kind %d ref %d", ihl,
             int(v.kind), want);
  if (v.kind == OptionsVerdict::malformed)
    FUZZ_CHECK(v.pointer >= 20 && v.pointer < ihl, "pointer %d outside the options (ihl %zu)",
               int(v.pointer), ihl);
}

void check_validate(FuzzedDataProvider& in) {
  static constexpr uint64_t kFlags[] = {RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_BAD,
                                        RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_NONE};
  const uint64_t flags = in.PickValueInArray(kFlags);
  const uint32_t extra = in.ConsumeIntegralInRange<uint32_t>(0, 2000);  // more segments
  std::vector<uint8_t> seg = in.ConsumeRemainingBytes<uint8_t>();
  const uint32_t seg_len = uint32_t(seg.size()), link_len = seg_len + extra;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(seg.data());
  const Ipv4Verdict v = ipv4_validate(ip, seg_len, link_len, flags);

  const uint8_t* h = seg.data();
  const bool have20 = seg_len >= 20;
  const uint32_t ihl = have20 ? uint32_t(h[0] & 0xf) * 4 : 0;
  const uint32_t total = have20 ? uint32_t(h[2] << 8 | h[3]) : 0;
  const bool version_ok = have20 && (h[0] >> 4) == 4;
  const bool ihl_ok = ihl >= 20 && ihl <= link_len;
  const bool split = !have20 || ihl > seg_len;
  const bool cksum_ok = flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD ||
                        (flags != RTE_MBUF_F_RX_IP_CKSUM_BAD && !split && ref_ok(h, ihl));
  if (v.ok) {
    FUZZ_CHECK(link_len >= 20 && have20 && version_ok && ihl_ok && !split && cksum_ok &&
                   total >= ihl && total <= link_len,
               "accepted: seg %u link %u ihl %u total %u flags %llu", seg_len, link_len, ihl, total,
               (unsigned long long)flags);
    return;
  }
  bool named_fails = false;
  switch (v.reason) {
    case Drop::ipv4_too_short:
      named_fails = link_len < 20;
      break;
    case Drop::ipv4_headers_split:
      named_fails = split;
      break;
    case Drop::ipv4_bad_version:
      named_fails = !version_ok;
      break;
    case Drop::ipv4_bad_ihl:
      named_fails = !ihl_ok;
      break;
    case Drop::ipv4_bad_checksum:
      named_fails = !cksum_ok;
      break;
    case Drop::ipv4_bad_length:
      named_fails = total < ihl || total < 20;
      break;
    case Drop::ipv4_truncated:
      named_fails = total > link_len;
      break;
    default:
      break;
  }
  FUZZ_CHECK(named_fails, "refused as %s, which holds: seg %u link %u ihl %u total %u",
             std::string(drop_name(v.reason)).c_str(), seg_len, link_len, ihl, total);
}

void check_ttl(const uint8_t* data, size_t size) {
  if (size < 20) return;
  uint8_t a[20], b[20];
  std::memcpy(a, data, 20);
  a[0] = 0x45;
  if (a[8] == 0) a[8] = 1;  // ipv4_decrement_live_ttl's precondition
  a[10] = a[11] = 0;
  const uint16_t c = ipv4_header_checksum(reinterpret_cast<rte_ipv4_hdr*>(a));
  std::memcpy(a + 10, &c, 2);
  FUZZ_CHECK(ref_ok(a, 20), "ipv4_header_checksum wrote a wrong checksum");
  std::memcpy(b, a, 20);
  ipv4_decrement_ttl(reinterpret_cast<rte_ipv4_hdr*>(a));
  ipv4_decrement_live_ttl(reinterpret_cast<rte_ipv4_hdr*>(b));
  FUZZ_CHECK(std::memcmp(a, b, 20) == 0, "the two TTL decrements disagree");
  FUZZ_CHECK(ref_ok(a, 20), "a decremented TTL left a wrong checksum");
  FUZZ_CHECK(!(a[10] == 0xff && a[11] == 0xff) || ref_ok(a, 20));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_options(data, size);
  check_ttl(data, size);
  FuzzedDataProvider in(data, size);
  check_validate(in);
  return 0;
}
