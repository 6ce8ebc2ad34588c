#include "flow_hash.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

using namespace routerd::ecmp;

namespace {

struct Packet {
  alignas(8) std::array<uint8_t, 128> b{};
  uint32_t len = 0;
  const rte_ipv4_hdr* v4() const { return reinterpret_cast<const rte_ipv4_hdr*>(b.data()); }
  const rte_ipv6_hdr* v6() const { return reinterpret_cast<const rte_ipv6_hdr*>(b.data()); }
};

bool port_proto(uint8_t p) {
  return p == 6 || p == 17 || p == 132 || p == 136;
}

uint64_t le_bytes(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// The tuple read the slow, obvious way: one field at a time from the raw bytes.
uint32_t reference4(const FlowKey& key, const Packet& p) {
  const uint8_t* b = p.b.data();
  const uint32_t ihl = (b[0] & 0x0f) * 4u;
  const uint8_t proto = b[9];
  const bool more_fragments = (b[6] & 0x20) != 0;
  const uint32_t offset = (uint32_t(b[6] & 0x1f) << 8) | b[7];
  uint64_t ports = 0;
  if (port_proto(proto) && !more_fragments && offset == 0 && ihl + 4 <= p.len) {
    ports = le_bytes(b + ihl, 4);
  }
  const uint64_t w[2] = {le_bytes(b + 12, 8), (uint64_t(proto) << 32) | ports};
  return hash_words(key, w, 2);
}

uint32_t reference6(const FlowKey& key, const Packet& p) {
  const uint8_t* b = p.b.data();
  const uint32_t label = (uint32_t(b[1] & 0x0f) << 16) | (uint32_t(b[2]) << 8) | b[3];
  const uint8_t nh = b[6];
  uint64_t ports = 0;
  if (port_proto(nh) && 44 <= p.len) ports = le_bytes(b + 40, 4);
  const uint64_t w[5] = {le_bytes(b + 8, 8), le_bytes(b + 16, 8), le_bytes(b + 24, 8),
                         le_bytes(b + 32, 8), (ports << 32) | (uint64_t(nh) << 20) | label};
  return hash_words(key, w, 5);
}

uint8_t pick_proto(std::mt19937_64& rng) {
  static const uint8_t kProtos[] = {6, 17, 132, 136, 1, 47, 50, 58, 0, 44};
  return rng() % 4 == 0 ? uint8_t(rng()) : kProtos[rng() % std::size(kProtos)];
}

Packet random4(std::mt19937_64& rng) {
  Packet p;
  for (auto& x : p.b) x = uint8_t(rng());
  const uint32_t ihl = 5 + rng() % 11;
  p.b[0] = uint8_t(0x40 | ihl);
  p.b[9] = pick_proto(rng);
  switch (rng() % 4) {
    case 0:  // not a fragment, DF or not
      p.b[6] &= 0x40;
      p.b[7] = 0;
      break;
    case 1:  // first fragment
      p.b[6] = uint8_t((p.b[6] & 0x40) | 0x20);
      p.b[7] = 0;
      break;
    default:  // a later fragment, the last one or not
      break;
  }
  // Lengths around the end of the ports, so that some packets lack them.
  p.len = ihl * 4 + uint32_t(rng() % 12) - 6;
  if (p.len < 20) p.len = 20;
  return p;
}

Packet random6(std::mt19937_64& rng) {
  Packet p;
  for (auto& x : p.b) x = uint8_t(rng());
  p.b[0] = uint8_t(0x60 | (p.b[0] & 0x0f));
  p.b[6] = pick_proto(rng);
  p.len = 40 + uint32_t(rng() % 10);
  return p;
}

FlowKey random_key(std::mt19937_64& rng) {
  return FlowKey{rng(), rng()};
}

// A TCP packet of the given tuple, every other field random.
Packet tcp4(std::mt19937_64& rng, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  Packet p;
  for (auto& x : p.b) x = uint8_t(rng());
  p.b[0] = 0x45;
  p.b[6] &= 0x40;
  p.b[7] = 0;
  p.b[9] = 6;
  for (int i = 0; i < 4; ++i) {
    p.b[12 + i] = uint8_t(src >> (24 - 8 * i));
    p.b[16 + i] = uint8_t(dst >> (24 - 8 * i));
  }
  p.b[20] = uint8_t(sport >> 8);
  p.b[21] = uint8_t(sport);
  p.b[22] = uint8_t(dport >> 8);
  p.b[23] = uint8_t(dport);
  p.len = 40;
  return p;
}

// Pearson's statistic of a histogram against the uniform spread, and a bound six standard
// deviations above its mean (df, variance 2 df): a fair hash fails it about once in 10^9.
struct Spread {
  double chi2, bound;
};
Spread spread(const std::vector<uint32_t>& buckets, size_t n) {
  std::vector<uint32_t> hist(n, 0);
  for (uint32_t b : buckets) ++hist[b & (n - 1)];
  const double expected = double(buckets.size()) / double(n);
  double chi2 = 0;
  for (uint32_t o : hist) chi2 += (o - expected) * (o - expected) / expected;
  const double df = double(n - 1);
  return Spread{chi2, df + 6 * std::sqrt(2 * df)};
}

// How often two hash functions put a flow in the same one of `n` buckets.
double agreement(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, uint32_t n) {
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += (a[i] & (n - 1)) == (b[i] & (n - 1));
  return double(same) / double(a.size());
}

}  // namespace

TEST_CASE("flow hash matches a byte-by-byte reference", "[ecmp]") {
  std::mt19937_64 rng(11);
  SECTION("IPv4: options, TCP/UDP/SCTP/UDP-Lite/others, fragments, short packets") {
    for (int i = 0; i < 20000; ++i) {
      const FlowKey key = random_key(rng);
      const Packet p = random4(rng);
      INFO("packet " << i << " ihl " << (p.b[0] & 15) << " proto " << int(p.b[9]) << " len "
                     << p.len);
      REQUIRE(flow_hash4(key, p.v4(), p.len) == reference4(key, p));
    }
  }
  SECTION("IPv4 without options, branch-free (the worker's stage 1)") {
    for (int i = 0; i < 20000; ++i) {
      const FlowKey key = random_key(rng);
      Packet p = random4(rng);
      p.b[0] = 0x45;
      p.len = 20 + uint32_t(rng() % 10);  // the ports fit from 24 on
      INFO("packet " << i << " proto " << int(p.b[9]) << " len " << p.len << " fragment "
                     << int(p.b[6] & 0x3f) << "/" << int(p.b[7]));
      REQUIRE(flow_hash4_ihl5(key, p.v4(), p.len) == reference4(key, p));
    }
  }
  SECTION("IPv6: with and without extension headers, short packets, both variants") {
    for (int i = 0; i < 20000; ++i) {
      const FlowKey key = random_key(rng);
      const Packet p = random6(rng);
      INFO("packet " << i << " nh " << int(p.b[6]) << " len " << p.len);
      REQUIRE(flow_hash6(key, p.v6(), p.len) == reference6(key, p));
      // The worker's stage 1 variant, which reads the ports whatever the length says.
      REQUIRE(flow_hash6_padded(key, p.v6(), p.len) == reference6(key, p));
    }
  }
}

TEST_CASE("IPv4 flow hash: what counts and what does not", "[ecmp]") {
  std::mt19937_64 rng(12);
  const FlowKey key = random_key(rng);
  SECTION("every fragment of a datagram hashes alike, first one included") {
    for (int i = 0; i < 2000; ++i) {
      Packet first = random4(rng);
      first.b[9] = i % 2 ? 6 : 17;
      first.b[6] = 0x20;  // MF, offset 0: carries the ports
      first.b[7] = 0;
      first.len = 100;
      Packet later = random4(rng);
      std::copy(first.b.begin() + 12, first.b.begin() + 20, later.b.begin() + 12);
      later.b[9] = first.b[9];
      later.b[6] = uint8_t(rng() % 2 ? 0x20 : 0);  // a middle or the last fragment
      later.b[7] = uint8_t(1 + rng() % 255);
      later.len = 20 + uint32_t(rng() % 100);
      CHECK(flow_hash4(key, first.v4(), first.len) == flow_hash4(key, later.v4(), later.len));
    }
  }
  SECTION("ports count for TCP, and only when present and not a fragment") {
    size_t differ = 0;
    for (int i = 0; i < 1000; ++i) {
      Packet a = tcp4(rng, uint32_t(rng()), uint32_t(rng()), 1000, 80);
      Packet b = a;
      b.b[21] ^= uint8_t(1 + rng() % 255);  // another source port
      differ += flow_hash4(key, a.v4(), a.len) != flow_hash4(key, b.v4(), b.len);
      // Too short to hold the ports: they are not read.
      CHECK(flow_hash4(key, a.v4(), 23) == flow_hash4(key, b.v4(), 23));
      a.b[6] |= 0x20;
      b.b[6] |= 0x20;
      CHECK(flow_hash4(key, a.v4(), a.len) == flow_hash4(key, b.v4(), b.len));
    }
    CHECK(differ == 1000);
  }
  SECTION("the ports sit after the options") {
    for (int i = 0; i < 1000; ++i) {
      Packet a = tcp4(rng, uint32_t(rng()), uint32_t(rng()), uint16_t(rng()), 443);
      a.b[0] = 0x46;  // one option word at 20..23, the ports at 24
      Packet b = a;
      b.b[20] ^= 0x5a;
      CHECK(flow_hash4(key, a.v4(), a.len) == flow_hash4(key, b.v4(), b.len));
      b.b[24] ^= 0x5a;
      CHECK(flow_hash4(key, a.v4(), a.len) != flow_hash4(key, b.v4(), b.len));
    }
  }
  SECTION("fields that vary within a flow do not count") {
    for (int i = 0; i < 1000; ++i) {
      const Packet a = tcp4(rng, uint32_t(rng()), uint32_t(rng()), uint16_t(rng()), 22);
      Packet b = a;
      for (int f : {1, 2, 3, 4, 5, 8, 10, 11})
        b.b[f] = uint8_t(rng());               // TOS, length, id, TTL, sum
      b.b[6] = uint8_t(rng() % 2 ? 0x40 : 0);  // DF
      b.len = 40 + uint32_t(rng() % 60);
      CHECK(flow_hash4(key, a.v4(), a.len) == flow_hash4(key, b.v4(), b.len));
    }
  }
  SECTION("ICMP has no ports: bytes after the header do not count") {
    Packet a = tcp4(rng, 0x0a000001, 0x0a000002, 0, 0);
    a.b[9] = 1;
    Packet b = a;
    b.b[20] ^= 0xff;
    b.b[23] ^= 0xff;
    CHECK(flow_hash4(key, a.v4(), a.len) == flow_hash4(key, b.v4(), b.len));
  }
}

TEST_CASE("IPv6 flow hash: what counts and what does not", "[ecmp]") {
  std::mt19937_64 rng(13);
  const FlowKey key = random_key(rng);
  auto h = [&](const Packet& p) { return flow_hash6(key, p.v6(), p.len); };
  auto tcp6 = [&]() {
    Packet p = random6(rng);
    p.b[6] = 6;
    p.len = 60;
    return p;
  };
  SECTION("the flow label counts; traffic class, length and hop limit do not") {
    for (int i = 0; i < 1000; ++i) {
      const Packet a = tcp6();
      Packet b = a;
      b.b[3] ^= uint8_t(1 + rng() % 255);  // flow label, low bits
      CHECK(h(a) != h(b));
      b = a;
      b.b[1] ^= 0x08;  // flow label, bit 19
      CHECK(h(a) != h(b));
      b = a;
      b.b[0] ^= 0x0f;  // traffic class, high nibble
      b.b[1] ^= 0xf0;  // traffic class, low nibble
      b.b[4] = uint8_t(rng());
      b.b[5] = uint8_t(rng());
      b.b[7] = uint8_t(rng());
      CHECK(h(a) == h(b));
    }
  }
  SECTION("ports count for TCP, UDP, SCTP and UDP-Lite") {
    for (uint8_t proto : {6, 17, 132, 136}) {
      for (int i = 0; i < 250; ++i) {
        Packet a = tcp6();
        a.b[6] = proto;
        Packet b = a;
        b.b[40 + rng() % 4] ^= uint8_t(1 + rng() % 255);
        CHECK(h(a) != h(b));
        a.len = b.len = 43;  // the ports do not fit: not read
        CHECK(h(a) == h(b));
      }
    }
  }
  SECTION("a fragment header: every fragment hashes alike") {
    for (int i = 0; i < 1000; ++i) {
      Packet first = tcp6();
      first.b[6] = 44;
      // Fragment header: next header TCP, offset 0, M set; then the TCP ports.
      first.b[40] = 6;
      first.b[42] = 0;
      first.b[43] = 1;
      Packet later = first;
      later.b[42] = uint8_t(rng());
      later.b[43] = uint8_t((rng() & 0xf8) | (rng() % 2));
      for (int j = 44; j < 60; ++j) later.b[j] = uint8_t(rng());
      later.len = 48 + uint32_t(rng() % 12);
      CHECK(h(first) == h(later));
    }
  }
  SECTION("other extension headers: addresses, flow label and header type only") {
    for (uint8_t nh : {0, 43, 60, 50, 51}) {
      Packet a = tcp6();
      a.b[6] = nh;
      Packet b = a;
      for (int j = 40; j < 60; ++j) b.b[j] = uint8_t(rng());
      CHECK(h(a) == h(b));
    }
  }
}

TEST_CASE("flow hash spreads flows evenly", "[ecmp]") {
  std::mt19937_64 rng(14);
  // A random key, and the zero key a careless config might give: the spread must not
  // depend on the key being good.
  const bool zero = GENERATE(false, true);
  const FlowKey key = zero ? FlowKey{0, 0} : random_key(rng);
  std::vector<std::pair<const char*, std::function<uint32_t(uint32_t)>>> sets{
      {"random IPv4 TCP flows",
       [&](uint32_t) {
         const Packet p =
             tcp4(rng, uint32_t(rng()), uint32_t(rng()), uint16_t(rng()), uint16_t(rng()));
         return flow_hash4(key, p.v4(), p.len);
       }},
      {"one client, one server, successive source ports",
       [&](uint32_t i) {
         const Packet p =
             tcp4(rng, 0xc0a80001 + i / 60000, 0x08080808, uint16_t(1024 + i % 60000), 443);
         return flow_hash4(key, p.v4(), p.len);
       }},
      {"successive destinations, same ports",
       [&](uint32_t i) {
         const Packet p = tcp4(rng, 0x0a000001, 0x64000000 + i, 5000, 80);
         return flow_hash4(key, p.v4(), p.len);
       }},
      {"IPv6 hosts numbered in sequence, one flow each", [&](uint32_t i) {
         Packet p = random6(rng);
         p.b[6] = 17;
         p.len = 48;
         for (int j = 8; j < 40; ++j) p.b[j] = uint8_t(j);
         p.b[22] = uint8_t(i >> 8);
         p.b[23] = uint8_t(i);
         p.b[21] = uint8_t(i >> 16);
         p.b[1] = p.b[2] = p.b[3] = 0;
         p.b[0] = 0x60;
         p.b[40] = p.b[41] = 0x30;
         p.b[42] = 0;
         p.b[43] = 53;
         return flow_hash6(key, p.v6(), p.len);
       }}};
  for (const auto& [name, make] : sets) {
    std::vector<uint32_t> hashes;
    for (uint32_t i = 0; i < 100000; ++i) hashes.push_back(make(i));
    for (size_t n : {64, 4096}) {
      const Spread s = spread(hashes, n);
      INFO(name << " over " << n << " buckets, key " << key.k0 << ": chi2 " << s.chi2 << " bound "
                << s.bound);
      CHECK(s.chi2 < s.bound);
    }
  }
}

TEST_CASE("two keys choose unrelated buckets (no polarisation)", "[ecmp]") {
  std::mt19937_64 rng(15);
  const FlowKey a = random_key(rng);
  const FlowKey b = random_key(rng);
  const FlowKey a_bit{a.k0 ^ 1, a.k1};  // keys one bit apart
  const FlowKey a_bit1{a.k0, a.k1 ^ (1ULL << 63)};
  using Hash = std::function<uint32_t(const FlowKey&, const Packet&)>;
  const Hash h4 = [](const FlowKey& k, const Packet& p) { return flow_hash4(k, p.v4(), p.len); };
  const Hash h6 = [](const FlowKey& k, const Packet& p) { return flow_hash6(k, p.v6(), p.len); };
  std::vector<Packet> flows;
  Hash hash;
  // Asserted inside each section (with --warn NoAssertions, a section must assert).
  auto judge = [&] {
    auto hash_all = [&](const FlowKey& k) {
      std::vector<uint32_t> out;
      out.reserve(flows.size());
      for (const auto& p : flows) out.push_back(hash(k, p));
      return out;
    };
    const auto ha = hash_all(a);
    const double n = double(flows.size());
    for (const FlowKey& other : {b, a_bit, a_bit1}) {
      const auto hb = hash_all(other);
      // 2 buckets: a fair coin agrees half the time; 6 standard deviations of the agreement.
      const double agree2 = agreement(ha, hb, 2);
      CHECK(std::abs(agree2 - 0.5) < 6 * std::sqrt(0.25 / n));
      const double agree4 = agreement(ha, hb, 4);
      CHECK(std::abs(agree4 - 0.25) < 6 * std::sqrt(0.25 * 0.75 / n));
      // The flows the first router sent to its bucket 0 of 16, spread by the second router.
      std::vector<uint32_t> second;
      for (size_t i = 0; i < ha.size(); ++i) {
        if ((ha[i] & 15) == 0) second.push_back(hb[i]);
      }
      const Spread s = spread(second, 16);
      INFO("agreement on 2 buckets " << agree2 << ", on 4 " << agree4 << ", chi2 " << s.chi2);
      CHECK(s.chi2 < s.bound);
    }
  };
  // Where flows differ in some words only, the others are constants in the products, which
  // must not let a key bit move every flow alike.
  SECTION("IPv4 TCP, many hosts and ports") {
    hash = h4;
    for (uint32_t i = 0; i < 100000; ++i)
      flows.push_back(tcp4(rng, 0x0a000000 + i % 997, 0xc6336400 + i % 31, uint16_t(1024 + i),
                           uint16_t(80 + i % 3)));
    judge();
  }
  SECTION("IPv4, one client and one server, source ports only") {
    hash = h4;
    for (uint32_t i = 0; i < 60000; ++i)
      flows.push_back(tcp4(rng, 0x0a000001, 0xc6336401, uint16_t(1024 + i), 443));
    judge();
  }
  SECTION("IPv4 ICMP, destinations only (no ports)") {
    hash = h4;
    for (uint32_t i = 0; i < 100000; ++i) {
      Packet p = tcp4(rng, 0x0a000001, 0x64000000 + i, 0, 0);
      p.b[9] = 1;
      flows.push_back(p);
    }
    judge();
  }
  SECTION("IPv6 UDP, one pair of hosts, source ports only") {
    hash = h6;
    for (uint32_t i = 0; i < 60000; ++i) {
      Packet p = random6(rng);
      for (int j = 8; j < 40; ++j) p.b[j] = uint8_t(j * 7);
      p.b[1] &= 0xf0;
      p.b[2] = p.b[3] = 0;  // flow label 0
      p.b[6] = 17;
      p.b[40] = uint8_t((1024 + i) >> 8);
      p.b[41] = uint8_t(1024 + i);
      p.b[42] = 0;
      p.b[43] = 53;
      p.len = 48;
      flows.push_back(p);
    }
    judge();
  }
  SECTION("IPv6, hosts numbered in sequence (no ports)") {
    hash = h6;
    for (uint32_t i = 0; i < 100000; ++i) {
      Packet p = random6(rng);
      for (int j = 8; j < 40; ++j) p.b[j] = uint8_t(j);
      p.b[1] &= 0xf0;
      p.b[2] = p.b[3] = 0;
      p.b[6] = 58;
      p.b[38] = uint8_t(i >> 8);
      p.b[39] = uint8_t(i);
      p.b[37] = uint8_t(i >> 16);
      flows.push_back(p);
    }
    judge();
  }
}

TEST_CASE("mix_rss: keyed, stable, spreads one RX queue's flows", "[ecmp]") {
  std::mt19937_64 rng(16);
  const FlowKey a = random_key(rng);
  const FlowKey b = random_key(rng);
  std::vector<uint32_t> rss;
  rss.reserve(100000);
  // One queue of a 128-entry RETA: the low 7 bits are the same for every flow.
  for (int i = 0; i < 100000; ++i) rss.push_back((uint32_t(rng()) << 7) | 37);
  std::vector<uint32_t> ha, hb;
  for (uint32_t r : rss) {
    ha.push_back(mix_rss(a, r));
    hb.push_back(mix_rss(b, r));
  }
  SECTION("the same RSS hash and key give the same value") {
    for (size_t i = 0; i < rss.size(); i += 97) CHECK(mix_rss(a, rss[i]) == ha[i]);
  }
  SECTION("flows of one queue spread over the buckets") {
    for (size_t n : {64, 4096}) {
      const Spread s = spread(ha, n);
      INFO(n << " buckets: chi2 " << s.chi2 << " bound " << s.bound);
      CHECK(s.chi2 < s.bound);
    }
  }
  SECTION("two keys decorrelate") {
    CHECK(std::abs(agreement(ha, hb, 2) - 0.5) < 0.0095);
    CHECK(std::abs(agreement(ha, hb, 64) - 1.0 / 64) < 0.003);
  }
  SECTION("successive RSS values spread too") {
    std::vector<uint32_t> seq;
    for (uint32_t r = 0; r < 100000; ++r) seq.push_back(mix_rss(a, r << 7));
    const Spread s = spread(seq, 64);
    INFO("chi2 " << s.chi2 << " bound " << s.bound);
    CHECK(s.chi2 < s.bound);
  }
}
