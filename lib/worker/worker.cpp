#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "forward.hpp"
#include "fragment.hpp"
#include "unmap_fence.hpp"

namespace routerd {

Worker::Worker(SharedState& dp, uint32_t index, std::span<const RxQueue> rx, uint16_t tx_queue)
    : dp_(dp),
      index_(index),
      rx_(std::make_unique<RxQueue[]>(rx.size())),
      nrx_(uint32_t(rx.size())),
      txq_(tx_queue),
      st_(dp.stats[index]),
      governor_(dp.params.route_cache, st_.cache),
      governor6_(dp.params.route_cache, st_.cache6) {
  std::copy(rx.begin(), rx.end(), rx_.get());
  uint64_t rate = uint64_t(dp.params.icmp_rate) * 2;
  token_max_ = rate ? uint64_t(dp.params.icmp_burst) * 2 : 0;
  tokens_ = token_max_;
  redirects_ = dp.params.send_redirects;
  redirects6_ = dp.params.send_redirects6;
  tsc_per_token_ = rate ? std::max<uint64_t>(1, rte_get_tsc_hz() / rate) : 1;
  last_tsc_ = rte_rdtsc();
  if (dp.params.route_cache) {
    cache_ = std::make_unique<RouteCache>(dp.params.route_cache_sets, dp.params.route_cache_keys,
                                          int(rte_socket_id()));
    cache6_ = std::make_unique<RouteCache6>(dp.params.route_cache6_sets, dp.params.route_cache_keys,
                                            int(rte_socket_id()));
  }
}

uint64_t Worker::observe_generation() {
  uint64_t g = dp_.generation.read();
  if (__builtin_expect(g != st_.last_gen, 0)) {
    st_.last_gen = g;
    auto& slot = st_.gen_seen[g % LcoreStats::kGenSlots];
    // tsc before gen: a reader that matches gen then reads a tsc at least this new.
    slot.tsc.store(rte_rdtsc(), std::memory_order_relaxed);
    slot.gen.store(g, std::memory_order_release);
  }
  return g;
}

bool Worker::icmp_token() {
  if (token_max_ == 0) return false;
  if (tokens_ == 0) {
    uint64_t now = rte_rdtsc();
    uint64_t earned = (now - last_tsc_) / tsc_per_token_;
    if (earned == 0) return false;
    tokens_ = std::min(token_max_, earned);
    last_tsc_ = now;
  }
  --tokens_;
  return true;
}

ROUTERD_ALWAYS_INLINE void Worker::send(uint16_t port, rte_mbuf* m) {
  TxBuf& b = tx_[port];
  b.pkts[b.n++] = m;
  dirty_ |= 1u << port;
  if (b.n == kMaxBurst) flush_port(port);
}

// Appends a run of packets for one port: the count stays in a register for the run instead
// of being loaded and stored back per packet.
ROUTERD_ALWAYS_INLINE void Worker::send_run(uint16_t port, rte_mbuf* const* m, uint16_t n) {
  while (n) {
    TxBuf& b = tx_[port];
    uint16_t room = uint16_t(kMaxBurst - b.n), take = n < room ? n : room;
    std::copy_n(m, take, b.pkts + b.n);
    b.n = uint16_t(b.n + take);
    dirty_ |= 1u << port;
    if (b.n == kMaxBurst) flush_port(port);
    m += take;
    n = uint16_t(n - take);
  }
}

void Worker::flush_port(uint16_t port) {
  TxBuf& b = tx_[port];
  uint16_t sent = b.n ? rte_eth_tx_burst(port, txq_, b.pkts, b.n) : 0;
  st_.tx[port].add(sent);
  if (sent < b.n) {
    // The TX ring is full: drop rather than wait, and say so.
    st_.drop[size_t(Drop::tx_full)].add(b.n - sent);
    st_.dropped[port].add(b.n - sent);
    rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
  }
  b.n = 0;
  dirty_ &= ~(1u << port);
}

void Worker::fragment(rte_mbuf* m, const NextHopState* s, uint16_t mtu, uint16_t in_port) {
  // TTL first: every fragment carries the decremented TTL with its own checksum.
  ipv4_decrement_ttl(rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN));
  rte_mbuf* frags[kMaxFragments];
  int n = dp_.pool ? fragment_ipv4(m, mtu, s->l2, dp_.pool, frags) : -ENOMEM;
  if (n <= 0) {
    st_.count_drop(Drop::fragment_failed, in_port);
    rte_pktmbuf_free(m);
    return;
  }
  rte_pktmbuf_free(m);
  st_.fragmented.add();
  st_.fragments.add(uint64_t(n));
  for (int i = 0; i < n; ++i) send(s->port, frags[i]);
}

void Worker::flush() {
  while (dirty_) flush_port(uint16_t(__builtin_ctz(dirty_)));
  flush_punts();
}

// A packet for control, unless it would make control send an ICMP error and the worker's
// budget for those is spent: then it is dropped, counted under the reason kIcmpRefusedAs
// gives it and once more as rate limited.
void Worker::punt(rte_mbuf* m, const Verdict& v, uint16_t in_port) {
  const Drop refused_as = icmp_refused_as(Punt(v.reason));
  if (refused_as != Drop::count && !icmp_token()) {
    st_.count_drop(refused_as, in_port);
    st_.drop[size_t(Drop::icmp_rate_limited)].add();
    rte_pktmbuf_free(m);
    return;
  }
  punts_[npunts_++] = PuntEntry{m, v.aux, v.reason, 0, in_port};
}

void Worker::flush_punts() {
  if (!npunts_) return;
  unsigned done =
      rte_ring_mp_enqueue_burst_elem(dp_.punt, punts_, sizeof(PuntEntry), npunts_, nullptr);
  for (unsigned i = 0; i < done; ++i) st_.punt[punts_[i].reason].add();
  if (done) dp_.doorbell.ring();
  for (unsigned i = done; i < npunts_; ++i) {
    st_.count_drop(Drop::punt_ring_full, punts_[i].in_port);
    rte_pktmbuf_free(punts_[i].m);
  }
  npunts_ = 0;
}

void Worker::drain_control_tx() {
  TxEntry e[32];
  unsigned n = rte_ring_sc_dequeue_burst_elem(dp_.ctl_tx, e, sizeof(TxEntry), 32, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    st_.originated[e[i].port].add();
    send(e[i].port, e[i].m);
  }
}

// The exact verdict for a looked-up packet that forwards() did not pass: decide()'s, except
// that a forward back out of its input port becomes a redirect within the ICMP budget (RFC
// 1812 5.2.7.2: control forwards it and tells the source about the better next hop, having
// checked that the source is on-link). Beyond the budget it is just forwarded.
Verdict Worker::exact(const rte_mbuf* m, const NextHopState* s, uint16_t in_port) {
  const Verdict v = decide(m, s);
  if (v.action == Verdict::forward && s->port == in_port && redirects_ && icmp_token() &&
      npunts_ < kMaxBurst)
    return v_punt(Punt::redirect, s->id);
  return v;
}

// Every verdict but `forward`, whichever stage gave it, is carried out here and only here.
void Worker::divert(rte_mbuf* m, const Verdict& v, const NextHopState* s, uint16_t in_port) {
  if (v.action == Verdict::fragment) {
    fragment(m, s, uint16_t(v.aux), in_port);
  } else if (v.action == Verdict::drop) {
    st_.count_drop(Drop(v.reason), in_port);
    rte_pktmbuf_free(m);
  } else {
    punt(m, v, in_port);
  }
}

// Stages 2 and 3 for k looked-up packets, keeping their order: a packet the forward decision
// passes is rewritten and buffered, any other gets its exact verdict. With OneHop every
// packet goes through nhs[0], a next hop forward_limit() passes (the burst has one
// destination, a TCP flow whose lengths vary, say): its half of the decision and its
// Ethernet header are made once, and whatever is forwarded leaves as one run on its port.
template <bool OneHop>
ROUTERD_ALWAYS_INLINE void Worker::forward_looked_up(uint16_t in_port, rte_mbuf* const* cand,
                                                     uint16_t k, const NextHopState* const* nhs) {
  const NextHopState* const s0 = nhs[0];
  const uint32_t limit0 = OneHop ? forward_limit(s0, in_port) : 0;
  [[maybe_unused]] const L2Words l2 = OneHop ? L2Words(s0) : L2Words();
  rte_mbuf* out[kMaxBurst];
  uint16_t out_port[kMaxBurst];
  uint16_t nout = 0;
  uint32_t picked[kMaxBurst];
  uint16_t npicked = 0;
  // ECMP: each group's member for its packet's flow, picked for all of them in a pass of
  // their own, so that one packet's hash and bucket read overlap the next one's instead of
  // waiting inside the forward loop; plain next hops pay one test each.
  const NextHopState* const* hops = nhs;
  [[maybe_unused]] const NextHopState* members[kMaxBurst];
  if constexpr (!OneHop) {
    uint64_t groups = 0;
    for (uint16_t i = 0; i < k; ++i)
      groups |= uint64_t(nhs[i] != nullptr && nhs[i]->kind == NhKind::group) << i;
    if (groups) {
      std::memcpy(members, nhs, k * sizeof(nhs[0]));
      for (uint64_t g = groups; g; g &= g - 1) {
        const unsigned i = unsigned(__builtin_ctzll(g));
        members[i] = group_member(dp_, nhs[i],
                                  flow_hash4(cand[i], dp_.params.flow_key, dp_.params.ecmp_use_rss),
                                  picked, npicked);
      }
      hops = members;
    }
  }
  for (uint16_t i = 0; i < k; ++i) {
    rte_mbuf* m = cand[i];
    const NextHopState* s = OneHop ? s0 : hops[i];
    if (__builtin_expect(!forwards(m, OneHop ? limit0 : forward_limit(s, in_port)), 0)) {
      // An ECMP group fails the next hop's half of the decision (it is no next hop itself):
      // its member for this flow is decided here, off the path single next hops take.
      bool pass = false;
      if (!OneHop && s != nullptr && s->kind == NhKind::group) {
        s = group_member(dp_, s, flow_hash4(m, dp_.params.flow_key, dp_.params.ecmp_use_rss),
                         picked, npicked);
        pass = forwards(m, forward_limit(s, in_port));
      }
      if (!pass) {
        const Verdict v = exact(m, s, in_port);
        if (v.action != Verdict::forward) {
          divert(m, v, s, in_port);
          continue;
        }
      }
    }
    if constexpr (OneHop) {
      rewrite(m, l2);  // s is s0: the same header
    } else {
      rewrite(m, s);
      out_port[nout] = s->port;
    }
    out[nout++] = m;
  }
  if constexpr (OneHop) {
    send_run(s0->port, out, nout);
  } else {
    count_members(st_, picked, npicked);
    send_runs(out, out_port, nout);
  }
}

// Hands n rewritten packets to the TX buffers in runs of one port (usually the whole burst).
ROUTERD_ALWAYS_INLINE void Worker::send_runs(rte_mbuf* const* out, const uint16_t* out_port,
                                             uint16_t n) {
  for (uint16_t i = 0; i < n;) {
    uint16_t j = i + 1;
    while (j < n && out_port[j] == out_port[i]) ++j;
    send_run(out_port[i], out + i, uint16_t(j - i));
    i = j;
  }
}

// The leading packets of a burst that form one flow's train (see Train) when at least
// two do: the first checked in full, one FIB lookup, then each packet checked against
// the first and rewritten in the same pass. Returns how many it forwarded (handed to TX
// in order): 0, having changed nothing, when there is no such train or the forward
// decision does not pass its first packet.
template <CkFlags Ck>
ROUTERD_ALWAYS_INLINE uint16_t Worker::forward_train(uint16_t in_port, rte_mbuf** pkts, uint16_t n,
                                                     const FastKey& key) {
  uint32_t d;
  if (!classify_fast<Ck>(pkts[0], key, &d)) return 0;
  const Train train(pkts[0]);
  if (!train.admits<Ck>(pkts[1])) return 0;
  const uint64_t gen = observe_generation();
  const NextHopState* s = nullptr;
  CacheTally t;
  lookup_states(dp_, nullptr, gen, &d, 1, &s, &t);
  // The packets share TTL and length, so the decision on pkts[0] holds for all of them.
  if (!forwards(pkts[0], forward_limit(s, in_port))) return 0;
  governor_.bypassed();
  const L2Words l2(s);
  uint16_t i = 0;
  do {
    rewrite(pkts[i], l2);
    ++i;
  } while (i < n && (i == 1 || train.admits<Ck>(pkts[i])));
  send_run(s->port, pkts, i);
  return i;
}

// Stage 2 for a burst of several destinations, with the route cache or without it as the
// governor says.
ROUTERD_ALWAYS_INLINE void Worker::lookup_governed(const uint32_t* dst, uint16_t k, uint64_t gen,
                                                   const NextHopState** nhs) {
  RouteCache* cache = governor_.begin() ? cache_.get() : nullptr;
  CacheTally t;
  lookup_states(dp_, cache, gen, dst, k, nhs, &t);
  governor_.end(k, t);
}

void Worker::process(uint16_t in_port, rte_mbuf** pkts, uint16_t n) {
  const IfSnapshot* ifs = dp_.ifs.load(std::memory_order_acquire);
  const PortFastInfo& in = ifs->ports[in_port];
  const bool martians = dp_.params.drop_martians;
  st_.rx[in_port].add(n);

  const CkFlags ck = scan_burst(pkts, n);
  // A burst that starts with IPv6 is most likely all IPv6: its own stage 1 takes it, rather
  // than the IPv4 one failing on every packet first.
  if (ethertype_ipv6(pkts[0])) {
    process6(in_port, in, pkts, n);
    return;
  }
  const FastKey key = fast_key(in);
  if (ck != CkFlags::mixed && n > 1) {
    const uint16_t done = ck == CkFlags::none ? forward_train<CkFlags::none>(in_port, pkts, n, key)
                                              : forward_train<CkFlags::good>(in_port, pkts, n, key);
    pkts += done;
    n = uint16_t(n - done);
    if (n == 0) return;
  }

  // Stage 1 without a branch per packet, then classify() for the few it could not pass,
  // compacting in place so that packets keep their order.
  uint32_t dst[kMaxBurst];
  uint64_t slow;
  // Through the route cache, stage 1 fetches each destination's cache set. The FIB's lines
  // are fetched by fib_states, a few destinations ahead: fetching a whole burst's during
  // stage 1 stalled on the prefetches (docs/performance.md, "issue 18").
  const RouteCache* warm = governor_.next_uses_cache() ? cache_.get() : nullptr;
  switch (ck) {
    case CkFlags::none:
      slow = classify_burst<CkFlags::none>(pkts, n, key, dst, warm);
      break;
    case CkFlags::good:
      slow = classify_burst<CkFlags::good>(pkts, n, key, dst, warm);
      break;
    default:
      slow = classify_burst<CkFlags::mixed>(pkts, n, key, dst, warm);
      break;
  }
  rte_mbuf** cand = pkts;
  uint16_t k = n;
  rte_mbuf* v6[kMaxBurst];
  uint16_t n6 = 0;
  if (__builtin_expect(slow != 0, 0)) {
    k = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      if (!((slow >> i) & 1)) {
        dst[k] = dst[i];
        cand[k++] = m;
        continue;
      }
      const Verdict v = classify(m, in, martians, &dst[k]);
      if (v.action == Verdict::forward)
        cand[k++] = m;
      else if (v.action == Verdict::ipv6)
        v6[n6++] = m;
      else
        divert(m, v, nullptr, in_port);
    }
    // IPv6 goes after the burst's IPv4 packets: each family keeps its own order.
    if (n6) {
      if (k) process4_looked_up(in_port, cand, dst, k);
      process6(in_port, in, v6, n6);
      return;
    }
  }
  if (k == 0) return;
  process4_looked_up(in_port, cand, dst, k);
}

// Stages 2 and 3 for the burst's k classified IPv4 packets.
ROUTERD_ALWAYS_INLINE void Worker::process4_looked_up(uint16_t in_port, rte_mbuf** cand,
                                                      const uint32_t* dst, uint16_t k) {
  const uint64_t gen = observe_generation();
  const NextHopState* nhs[kMaxBurst];
  uint32_t differ = 0;
  for (uint16_t i = 1; i < k; ++i) differ |= dst[i] ^ dst[0];
  if (differ == 0 && k > 1) {
    // One FIB lookup for the burst; the route cache has nothing to add to it.
    CacheTally t;
    lookup_states(dp_, nullptr, gen, dst, 1, nhs, &t);
    governor_.bypassed();
    if (forward_limit(nhs[0], in_port) != 0) {
      forward_looked_up<true>(in_port, cand, k, nhs);
      return;
    }
    for (uint16_t i = 1; i < k; ++i) nhs[i] = nhs[0];
  } else {
    lookup_governed(dst, k, gen, nhs);
  }
  forward_looked_up<false>(in_port, cand, k, nhs);
}

// The exact verdict for an IPv6 packet the forward decision did not pass (classify6_fast did
// not pass it, or its next hop's half of the decision failed): decide6()'s, carried out.
// True when the packet is to be forwarded after all. A packet back out of its input port is
// handed to control, which forwards it and tells the source about the better first hop (RFC
// 4861 8.2), within the ICMP budget; beyond it, it is just forwarded.
bool Worker::exact6(rte_mbuf* m, const NextHopState* s, uint16_t in_port) {
  const Verdict v = decide6(m, s);
  if (v.action != Verdict::forward) {
    divert(m, v, s, in_port);
    return false;
  }
  if (s->port == in_port && redirects6_ && npunts_ < kMaxBurst && icmp_token()) {
    punt(m, v_punt(Punt::redirect, s->id), in_port);
    return false;
  }
  return true;
}

// The IPv6 stages for the frames of a burst from its first IPv6 frame on (process() sends
// the whole burst here when it starts with one), or for the frames classify() found to be
// IPv6. Stage 1 is classify6_fast over all of them without a branch per packet; the few it
// does not pass get classify() (the IPv4 ones among them go through the IPv4 stages first:
// each family keeps its own order) and classify6(). Then the next hops (one FIB lookup when
// the burst has one destination, else through the route cache as governor6_ says), the
// forward decision in two halves as for IPv4, and the forwarded packets to TX in runs.
void Worker::process6(uint16_t in_port, const PortFastInfo& in, rte_mbuf** pkts, uint16_t n) {
  const FastKey6 key = fast_key6(in);
  Dst6 dst[kMaxBurst];
  uint32_t set[kMaxBurst];
  // The cache sets are hashed and prefetched as destinations come out of stage 1, a loop
  // ahead of their lookup (prefetched only there, the set's first read stalled: perf, zipf).
  RouteCache6* const warm =
      governor6_.mode() != RouteCacheGovernor::Mode::off ? cache6_.get() : nullptr;
  // Likewise each destination's tbl24 entry in the trie, unless the cache answers (nearly)
  // every lookup: with random destinations the first miss of every lookup overlaps the rest
  // of the burst's stage 1 instead of stalling the trie walk's first level.
  const uint32_t* const tbl24 = governor6_.on() ? nullptr : dp_.fib6.tbl24_for_prefetch();
  uint64_t slow = 0;
  for (uint16_t i = 0; i < n; ++i) {
    slow |= uint64_t(!classify6_fast(pkts[i], key, &dst[i])) << i;
    if (warm) {
      set[i] = warm->set_of(dst[i].b);
      warm->prefetch_set(set[i]);
    }
    if (tbl24) rte_prefetch0(tbl24 + Fib6::tbl24_index(dst[i].b));
  }
  rte_mbuf** cand = pkts;
  uint16_t k = n;
  uint64_t exact = 0;  // bit i: candidate i needs decide6()'s exact verdict
  if (__builtin_expect(slow != 0, 0)) {
    // Compacted in place, keeping order.
    rte_mbuf* cand4[kMaxBurst];
    uint32_t dst4[kMaxBurst];
    uint16_t k4 = 0;
    k = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      if (!((slow >> i) & 1)) {
        dst[k] = dst[i];
        if (warm) set[k] = set[i];
        cand[k++] = m;
        continue;
      }
      Verdict v = classify(m, in, dp_.params.drop_martians, &dst4[k4]);
      if (v.action == Verdict::forward) {
        cand4[k4++] = m;
        continue;
      }
      if (v.action == Verdict::ipv6) v = classify6(m, in, dst[k].b);
      if (v.action != Verdict::forward) {
        divert(m, v, nullptr, in_port);
        continue;
      }
      if (warm) {
        set[k] = warm->set_of(dst[k].b);
        warm->prefetch_set(set[k]);
      }
      exact |= uint64_t(1) << k;
      cand[k++] = m;
    }
    if (k4) process4_looked_up(in_port, cand4, dst4, k4);
    if (k == 0) return;
  }
  const uint64_t gen = observe_generation();
  const NextHopState* nhs[kMaxBurst];
  uint64_t differ = 0;
  uint64_t d0[2];
  std::memcpy(d0, dst[0].b, 16);
  for (uint16_t i = 1; i < k; ++i) {
    uint64_t di[2];
    std::memcpy(di, dst[i].b, 16);
    differ |= (di[0] ^ d0[0]) | (di[1] ^ d0[1]);
  }
  CacheTally t;
  if (differ == 0) {
    // One destination (or one packet): a single FIB lookup, which no cache improves on.
    lookup_states6(dp_, nullptr, gen, dst, 1, nhs, &t);
    governor6_.bypassed();
    const NextHopState* const s0 = nhs[0];
    const uint32_t limit0 = forward_limit(s0, in_port);
    if (limit0 != 0) {
      // The next hop's half of the decision and its Ethernet header made once; what is
      // forwarded leaves as one run on its port.
      const L2Words l2(s0);
      rte_mbuf* out[kMaxBurst];
      uint16_t nout = 0;
      for (uint16_t i = 0; i < k; ++i) {
        rte_mbuf* m = cand[i];
        if (__builtin_expect(((exact >> i) & 1) | !forwards6(m, limit0), 0) &&
            !exact6(m, s0, in_port))
          continue;
        rewrite6(m, l2);
        out[nout++] = m;
      }
      send_run(s0->port, out, nout);
      return;
    }
    for (uint16_t i = 1; i < k; ++i) nhs[i] = s0;
  } else {
    RouteCache6* cache = governor6_.begin() ? cache6_.get() : nullptr;
    lookup_states6(dp_, cache, gen, dst, k, nhs, &t, warm ? set : nullptr);
    governor6_.end(k, t);
  }
  rte_mbuf* out[kMaxBurst];
  uint16_t out_port[kMaxBurst];
  uint16_t nout = 0;
  uint32_t picked[kMaxBurst];
  uint16_t npicked = 0;
  // ECMP: the members in a pass of their own, as in forward_looked_up.
  uint64_t groups = 0;
  for (uint16_t i = 0; i < k; ++i)
    groups |= uint64_t(nhs[i] != nullptr && nhs[i]->kind == NhKind::group) << i;
  for (uint64_t g = groups; g; g &= g - 1) {
    const unsigned i = unsigned(__builtin_ctzll(g));
    nhs[i] =
        group_member(dp_, nhs[i], flow_hash6(cand[i], dp_.params.flow_key, dp_.params.ecmp_use_rss),
                     picked, npicked);
  }
  for (uint16_t i = 0; i < k; ++i) {
    rte_mbuf* m = cand[i];
    const NextHopState* s = nhs[i];
    if (__builtin_expect(((exact >> i) & 1) | !forwards6(m, forward_limit(s, in_port)), 0)) {
      // As for IPv4: a group's member is picked off the single next hop's path.
      if (s != nullptr && s->kind == NhKind::group)
        s = group_member(dp_, s, flow_hash6(m, dp_.params.flow_key, dp_.params.ecmp_use_rss),
                         picked, npicked);
      if ((((exact >> i) & 1) | !forwards6(m, forward_limit(s, in_port))) && !exact6(m, s, in_port))
        continue;
    }
    rewrite6(m, s);
    out[nout] = m;
    out_port[nout++] = s->port;
  }
  count_members(st_, picked, npicked);
  send_runs(out, out_port, nout);
}

void Worker::run() {
  st_.lcore.store(rte_lcore_id(), std::memory_order_relaxed);
  dp_.rcu.register_reader(index_);
  UnmapFence::this_thread_is_reader(true);
  dp_.rcu.online(index_);
  const uint16_t burst = std::min<uint16_t>(dp_.params.burst, kMaxBurst);
  const uint32_t idle_sleep = dp_.params.idle_sleep_us;
  uint32_t idle_loops = 0;
  rte_mbuf* pkts[kMaxBurst];
  while (!dp_.stop.load(std::memory_order_relaxed)) {
    uint32_t got = 0;
    for (uint32_t i = 0; i < nrx_; ++i) {
      const RxQueue& q = rx_[i];
      uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, burst);
      if (n == 0) continue;
      got += n;
      process(q.port, pkts, n);
      flush();
    }
    // The control thread's ARP, ICMP and released packets leave through worker 0's queues.
    if (index_ == 0 && !rte_ring_empty(dp_.ctl_tx)) {
      drain_control_tx();
      flush();
    }
    if (!got) observe_generation();  // an idle lcore still acknowledges updates
    st_.polls.add();
    if (got) {
      st_.busy_polls.add();
      idle_loops = 0;
    }
    // Every pointer into shared state from this loop is dead here.
    dp_.rcu.quiescent(index_);
    if (!got && idle_sleep && ++idle_loops > 1000) {
      // Offline while asleep, so a writer waiting for a grace period is not held up.
      dp_.rcu.offline(index_);
      usleep(idle_sleep);
      dp_.rcu.online(index_);
    }
  }
  if (index_ == 0) drain_control_tx();
  flush();
  dp_.rcu.offline(index_);
  UnmapFence::this_thread_is_reader(false);
  dp_.rcu.unregister_reader(index_);
}

}  // namespace routerd
