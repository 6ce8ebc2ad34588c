// publish/published: the reader side of everything the publisher publishes, in one place.
// Workers read these without locks; only Publisher (publisher.hpp) writes them, and every
// object reachable from here is immutable once published and freed after a grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "fib.hpp"
#include "fib6.hpp"
#include "inet.hpp"
#include "nexthop.hpp"
#include "qsbr.hpp"
#include "stats.hpp"
#include "tunnel.hpp"

namespace routerd {

// The 64-bit generation: bumped once per commit that published anything, so a reader that
// saw generation g before a lookup knows whether anything changed since (route caches).
// 64 bits: at a million bumps per second it wraps after half a million years.
struct alignas(64) Generation {
  std::atomic<uint64_t> value{1};
  uint64_t read() const { return value.load(std::memory_order_acquire); }

 private:
  friend class Publisher;  // the only place the generation is bumped
  uint64_t bump() { return value.fetch_add(1, std::memory_order_acq_rel) + 1; }
};

// Sources no packet from the wire may carry, whichever port it came in on: every subnet
// broadcast of the router (RFC 1812 5.3.7) and every address of its own (a packet "from"
// the router that the router did not send is spoofed or looped; Linux drops it as a
// martian too). `bits` is a one-hash filter of them, so the fast path rejects without a
// loop: a clear bit means "not refused"; a set one means "ask classify()", which searches
// `addr`.
struct RefusedSources {
  static constexpr uint32_t kBits = 4096;
  static constexpr uint32_t kMax = kMaxPorts * 16;  // 8 addresses a port, and their broadcasts
  uint64_t bits[kBits / 64] = {};
  uint32_t n = 0;
  uint32_t addr[kMax] = {};  // host order

  static uint32_t slot(uint32_t a) { return (a * 0x9e3779b1u) >> 20; }
  bool maybe(uint32_t a) const {
    const uint32_t h = slot(a);
    return (bits[h / 64] >> (h % 64)) & 1;
  }
  bool contains(uint32_t a) const {
    if (!maybe(a)) return false;
    for (uint32_t i = 0; i < n; ++i)
      if (addr[i] == a) return true;
    return false;
  }
  // False when full (kMax: what the ports' addresses can demand).
  bool add(uint32_t a) {
    if (contains(a)) return true;
    if (n == kMax) return false;
    addr[n++] = a;
    const uint32_t h = slot(a);
    bits[h / 64] |= uint64_t(1) << (h % 64);
    return true;
  }
  static const RefusedSources kEmpty;
};
inline const RefusedSources RefusedSources::kEmpty{};

// PortFastInfo::ecmp_rss bits.
constexpr uint8_t kEcmpRss4 = 1, kEcmpRss6 = 2;

// What the fast path needs to know about an input port. Published as a whole; replaced
// (never edited) when addresses change.
struct PortFastInfo {
  Mac mac;
  bool enabled = false;
  // Control-plane interfaces are on: link-local multicast (224.0.0.0/24, ff02::/16 not
  // ICMPv6) goes to control for the port's kernel interface, rather than being dropped.
  bool link_multicast = false;
  // The families whose NIC RSS hash ECMP takes on this port (kEcmpRss4 | kEcmpRss6 bits:
  // ecmp.use_rss, and whether what the device hashes on covers the flow's ports).
  uint8_t ecmp_rss = 3;
  uint8_t nbcast = 0;
  // Subnet broadcast addresses of this port; unused entries are 0, which the fast path may
  // compare against harmlessly (0/8 sources are martian anyway).
  uint32_t bcast[8] = {};
  // Every port's broadcasts and addresses (this one's included), owned by the same
  // IfSnapshot.
  const RefusedSources* refused_src = &RefusedSources::kEmpty;
};

struct IfSnapshot {
  PortFastInfo ports[kMaxPorts];
  RefusedSources refused;
  // Tunnels by port id - kTunnelBase; tunnel_slots: one past the highest in use (0: none,
  // and GRE to the router goes to control like any other protocol).
  TunnelFastInfo tunnels[kMaxTunnels];
  uint32_t tunnel_slots = 0;
};

// Everything a worker reads that the control thread publishes.
struct Published {
  Published(uint32_t readers, uint32_t next_hops, const Fib::Params& fp, const Fib6::Params& fp6)
      : Published(readers, next_hops, fp, fp6, instance_suffix()) {}

  Qsbr rcu;  // one reader slot per worker
  Fib fib;
  Fib6 fib6;
  NextHopTable nexthops;
  Generation generation;
  std::atomic<const IfSnapshot*> ifs{nullptr};

 private:
  // DPDK names its tables process-wide: a second instance alive at once (worker-bench holds
  // one per route table it compares) needs other names. The first keeps the plain ones.
  static std::string instance_suffix() {
    static std::atomic<unsigned> n{0};
    const unsigned i = n.fetch_add(1);
    return i == 0 ? std::string() : "_" + std::to_string(i + 1);
  }
  Published(uint32_t readers, uint32_t next_hops, const Fib::Params& fp, const Fib6::Params& fp6,
            const std::string& sfx)
      : rcu(readers),
        fib(("routerd_fib" + sfx).c_str(), fp),
        fib6(("routerd_fib6" + sfx).c_str(), fp6),
        nexthops(next_hops) {}
};

}  // namespace routerd
