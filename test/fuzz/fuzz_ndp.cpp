// Fuzz target: Neighbor Discovery parsing (lib/packet/ndp), as the control thread will see an
// IPv6 packet punted to it (issue 14: each new parser joins the harness).
// Invariants: nothing shorter than an IPv6 header parses; an accepted message has hop limit
// 255, a right ICMPv6 checksum, a source that is not multicast and satisfies its type's
// RFC 4861 rules, and prefixes only if it is an RA (at most kMaxRaPrefixes, no host bits);
// an NS or NA rebuilt from the parsed fields (and the input's MAC) parses back to the same
// fields.
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"
#include "ndp.hpp"

using namespace routerd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy: ASan reports any read past what the caller said is there.
  std::vector<uint8_t> ip(data, data + size);
  const std::optional<NdMessage> m = ndp_parse(ip.data(), ip.size());
  if (size < nd::kIpv6HdrLen) FUZZ_CHECK(!m, "a %zu-byte packet parsed", size);
  if (!m) return 0;
  const size_t plen = size_t(ip[4] << 8 | ip[5]);
  FUZZ_CHECK(ip[7] == 255 && ip[6] == nd::kNextHeaderIcmp6 && plen <= size - nd::kIpv6HdrLen);
  FUZZ_CHECK(icmp6_checksum(m->src, m->dst, ip.data() + nd::kIpv6HdrLen, plen) == 0,
             "accepted with a wrong checksum");
  FUZZ_CHECK(!m->src.is_multicast());
  FUZZ_CHECK(m->type >= nd::router_solicit && m->type <= nd::redirect);
  if (m->type == nd::router_advert || m->type == nd::redirect) FUZZ_CHECK(m->src.is_link_local());
  if (m->type == nd::neighbor_solicit || m->type == nd::neighbor_advert)
    FUZZ_CHECK(!m->target.is_multicast());
  if (m->src.is_unspecified()) FUZZ_CHECK(!m->source_lla, "an SLLA from ::");
  if (m->type == nd::neighbor_advert && m->dst.is_multicast()) FUZZ_CHECK(!m->solicited);
  FUZZ_CHECK(m->n_prefixes <= kMaxRaPrefixes);
  if (m->type != nd::router_advert) FUZZ_CHECK(m->n_prefixes == 0, "prefixes outside an RA");
  for (size_t i = 0; i < m->n_prefixes; ++i)
    FUZZ_CHECK(m->prefixes[i].prefix.len <= 128 &&
                   ipv6_mask(m->prefixes[i].prefix.addr, m->prefixes[i].prefix.len) ==
                       m->prefixes[i].prefix.addr,
               "an RA prefix with host bits or a length over 128");

  uint8_t out[kNdMaxFrame + 64];
  std::memset(out, 0xa5, sizeof out);
  const Mac mac{{0x02, 0, 0, 0, 0xaa, 1}};
  if (m->type == nd::neighbor_solicit) {
    const bool multicast = m->dst == m->target.solicited_node();
    const Mac dmac = m->dst.multicast_mac();
    const size_t n = ndp_build_ns(out, mac, m->src, m->target, multicast ? nullptr : &m->dst,
                                  multicast ? nullptr : &dmac);
    FUZZ_CHECK(n <= kNdMaxFrame && out[kNdMaxFrame] == 0xa5);
    const auto b = ndp_parse(out + 14, n - 14);
    FUZZ_CHECK(b && b->type == m->type && b->target == m->target && b->src == m->src &&
                   b->dst == m->dst && (b->source_lla.has_value() == !m->src.is_unspecified()),
               "a rebuilt NS does not parse back");
  }
  if (m->type == nd::neighbor_advert) {
    const size_t n = ndp_build_na(out, mac, m->src, m->dst, m->dst.multicast_mac(), m->target,
                                  m->router, m->solicited, m->override_flag);
    FUZZ_CHECK(n <= kNdMaxFrame && out[kNdMaxFrame] == 0xa5);
    const auto b = ndp_parse(out + 14, n - 14);
    FUZZ_CHECK(b && b->type == m->type && b->target == m->target && b->router == m->router &&
                   b->solicited == m->solicited && b->override_flag == m->override_flag &&
                   b->target_lla == mac,
               "a rebuilt NA does not parse back");
  }
  return 0;
}
