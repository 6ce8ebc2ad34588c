// worker: the poll loop of one forwarding lcore over its RX queues.
// Reads only published, immutable state; reports an RCU quiescent state once per loop
// after dropping every pointer into it; counts every packet it does not send.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <memory>
#include <span>

#include "governor.hpp"
#include "route_cache.hpp"
#include "shared_state.hpp"
#include "tunnel.hpp"

namespace routerd {

enum class CkFlags : uint8_t;  // forward.hpp
struct FastKey;
struct Verdict;

class Worker {
 public:
  struct RxQueue {
    uint16_t port;
    uint16_t queue;
  };
  static constexpr uint16_t kMaxBurst = 64;

  Worker(SharedState& dp, uint32_t index, std::span<const RxQueue> rx, uint16_t tx_queue);

  // The lcore entry point: polls until dp.stop is set.
  void run();

  // One received burst from in_port: classify, look up, decide, rewrite, buffer for TX or
  // hand to control. Flushes nothing; flush() sends what is buffered. The array pkts is
  // scratch: its entries are overwritten (every mbuf is still sent, dropped or punted). Public
  // for tests.
  // Packets it decapsulates from tunnels go through the same stages again, as bursts from
  // their tunnel's port, before it returns.
  void process(uint16_t in_port, rte_mbuf** pkts, uint16_t n);
  // probe_since: the route cache governor's stamp() from before stage 1 (0: from the lookup).
  // flows: each candidate's flow_hash4, when stage 1 computed them (else null); sets: each
  // candidate's route cache set, when stage 1 hashed and fetched them (else null).
  void process4_looked_up(uint16_t in_port, rte_mbuf** cand, const uint32_t* dst, uint16_t k,
                          uint64_t probe_since = 0, const uint32_t* flows = nullptr,
                          const uint32_t* sets = nullptr);
  void process6(uint16_t in_port, const PortFastInfo& in, rte_mbuf** pkts, uint16_t n);
  void flush();

  // Reads the generation for the next lookups and, when it changed, notes when this lcore
  // first saw it (for the control thread's invalidation-latency figures).
  uint64_t observe_generation();

  RouteCacheGovernor::Mode cache_mode() const { return governor_.mode(); }
  RouteCacheGovernor::Mode cache6_mode() const { return governor6_.mode(); }

 private:
  struct TxBuf {
    uint16_t n = 0;
    rte_mbuf* pkts[kMaxBurst];
  };
  template <CkFlags Ck>
  uint16_t forward_train(uint16_t in_port, rte_mbuf** pkts, uint16_t n, const FastKey& key);
  void lookup_governed(const uint32_t* dst, uint16_t k, uint64_t gen, const NextHopState** nhs,
                       uint64_t since, const uint32_t* sets);
  void send_runs(rte_mbuf* const* out, const uint16_t* out_port, uint16_t n);
  template <bool OneHop>
  void forward_looked_up(uint16_t in_port, rte_mbuf* const* cand, uint16_t k,
                         const NextHopState* const* nhs, const uint32_t* flows);
  Verdict exact(const rte_mbuf* m, const NextHopState* s, uint16_t in_port);
  bool exact6(rte_mbuf* m, const NextHopState* s, uint16_t in_port);
  void divert(rte_mbuf* m, const Verdict& v, const NextHopState* s, uint16_t in_port);
  void send(uint16_t port, rte_mbuf* m);
  void send_run(uint16_t port, rte_mbuf* const* m, uint16_t n);
  void flush_port(uint16_t port);
  void punt(rte_mbuf* m, const Verdict& v, uint16_t in_port);
  void fragment(rte_mbuf* m, const NextHopState* s, uint16_t mtu, uint16_t in_port);
  void flush_punts();
  void drain_control_tx();  // worker 0 only
  void process_burst(uint16_t in_port, rte_mbuf** pkts, uint16_t n);
  // Tunnels (lib/tunnel). tunnel_out: m (an IP packet behind a 14-byte Ethernet header) into
  // the tunnel with port id `tport`; forwarded: a transit packet, whose TTL or hop limit it
  // decrements and which may get an ICMP error (Fragmentation Needed, Packet Too Big) rather
  // than only be dropped. tunnel_in: GRE for the router, matched to its tunnel, stripped and
  // queued in decap_ for process() to run through the stages again.
  // originated: the control thread's packet, counted as originated on the egress port too
  // (as the ports count what control sends through them).
  void tunnel_out(rte_mbuf* m, uint16_t tport, uint16_t in_port, bool forwarded,
                  bool originated = false);
  void tunnel_in(rte_mbuf* m, uint16_t in_port);
  int encap_fast(rte_mbuf* m, uint16_t tport);
  const OuterPath& outer_path(uint32_t t, uint64_t gen, const IfSnapshot& ifs);
  void drop_packet(rte_mbuf* m, Drop d, uint16_t in_port);
  bool icmp_token();

  SharedState& dp_;
  uint32_t index_;
  std::unique_ptr<RxQueue[]> rx_;  // fixed at construction
  uint32_t nrx_;
  uint16_t txq_;
  LcoreStats& st_;
  uint32_t dirty_ = 0;  // ports with buffered TX (bit per port id)
  TxBuf tx_[kMaxPorts];
  PuntEntry punts_[kMaxBurst];
  uint16_t npunts_ = 0;
  // Pre-filter for packets that would make control send an ICMP error, so a flood of
  // expiring TTLs cannot fill the punt ring; control applies the real limit.
  uint64_t tokens_ = 0, token_max_ = 0, last_tsc_ = 0, tsc_per_token_ = 1;
  bool redirects_ = true;
  bool directed_bcast_ = false;  // ipv4.forward_directed_broadcast
  bool redirects6_ = true;
  uint64_t outer_stamp_mask_ = 0;  // ~0: route_cache.tunnel_outer_path = false

  // Each tunnel's outer path as this worker last resolved it (by port id - kTunnelBase),
  // stamped with the generation it was resolved at: while that is current, encapsulation
  // looks nothing up in the FIB.
  OuterPath outer_[kMaxTunnels];
  uint32_t gre_seq_[kMaxTunnels] = {};
  uint16_t outer_id_ = 0;  // the outer headers' identification
  rte_mbuf* decap_[kMaxBurst];
  uint16_t decap_port_[kMaxBurst];
  uint16_t ndecap_ = 0;
  // The last IPv4 burst through the pick pass had ECMP routes: stage 1 hashes the next one's
  // flows (a guess that only moves work; a burst without groups ignores the hashes).
  bool hash_flows_ = false;
  bool hash_flows6_ = false;
  // The families whose RSS hash ECMP takes on the current burst's port (PortFastInfo::ecmp_rss).
  uint8_t rss_ = 0;  // the same for IPv6 (process6)

  std::unique_ptr<RouteCache> cache_;    // null when route_cache.enabled is false
  std::unique_ptr<RouteCache6> cache6_;  // the same for IPv6
  RouteCacheGovernor governor_;          // whether to look up with cache_, burst by burst
  RouteCacheGovernor governor6_;         // and with cache6_: each family measures its own
};

}  // namespace routerd
