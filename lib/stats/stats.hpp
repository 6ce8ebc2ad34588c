// stats: every counted packet outcome, by name, and the per-lcore counter blocks.
// Each block has exactly one writer (its lcore); readers sum blocks with relaxed loads, so
// the fast path never touches a shared cache line or an atomic read-modify-write.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace routerd {

// Why a packet was not forwarded by a worker or the control thread. Values index counters;
// names are what `routerctl stats` and telemetry print.
#define ROUTERD_DROP_REASONS(X)                                                                    \
  X(l2_too_short, "frame shorter than an Ethernet header")                                         \
  X(l2_other_host, "unicast frame for another MAC address")                                        \
  X(l2_bcast_unicast_ip, "L2 broadcast/multicast frame carrying a unicast IP destination")         \
  X(ethertype_unsupported, "neither IPv4, IPv6 nor ARP")                                           \
  X(ipv4_too_short, "link length below 20 bytes (RFC 1812 5.2.2)")                                 \
  X(ipv4_bad_version, "IP version is not 4")                                                       \
  X(ipv4_bad_ihl, "IHL below 5 or beyond the frame")                                               \
  X(ipv4_bad_checksum, "header checksum wrong")                                                    \
  X(ipv4_bad_length, "total length below the header length")                                       \
  X(ipv4_truncated, "frame shorter than the total length")                                         \
  X(ipv4_bad_fragment, "fragment ends past byte 65,535 of its datagram (RFC 791)")                 \
  X(ipv4_headers_split, "IPv4 header not contiguous in the first segment")                         \
  X(ipv6_too_short, "frame shorter than an IPv6 header")                                           \
  X(ipv6_bad_version, "IPv6 EtherType, IP version not 6")                                          \
  X(ipv6_truncated, "frame shorter than the IPv6 payload length")                                  \
  X(ipv6_bad_source, "IPv6 source multicast, unspecified or loopback (RFC 4291 2.5.2, 2.7)")       \
  X(ipv6_bad_destination, "IPv6 destination unspecified, loopback or v4-mapped (RFC 4291)")        \
  X(ipv6_bad_ext_header,                                                                           \
    "malformed IPv6 Hop-by-Hop header or option (RFC 8200 4.3): Parameter Problem code 0")         \
  X(ipv6_option_discard,                                                                           \
    "unrecognised Hop-by-Hop option whose type says discard (RFC 8200 4.2; code 2 for 1x types)")  \
  X(beyond_scope, "link-local source would leave its link (RFC 4007, ICMPv6 unreachable code 2)")  \
  X(ndp_invalid, "malformed or foreign NDP message (RFC 4861 checks)")                             \
  X(martian_source,                                                                                \
    "source in 0/8, 127/8, 224/4, 240/4, a subnet broadcast or the router's own (RFC 1812 5.3.7)") \
  X(martian_destination, "destination in 0/8, 127/8 or 240/4 (RFC 1812 5.3.7)")                    \
  X(link_local, "169.254/16 (RFC 3927) or fe80::/10 destination not the router's own")             \
  X(multicast_destination, "multicast destination (no multicast routing)")                         \
  X(limited_broadcast,                                                                             \
    "255.255.255.255: for the router only, nothing takes it (RFC 1812 5.3.5.1)")                   \
  X(directed_broadcast, "directed broadcast to a connected subnet (off, RFC 2644)")                \
  X(link_broadcast, "broadcast to the input port's subnet: for the router, nothing takes it")      \
  X(source_route, "LSRR/SSRR option (dropped by default, RFC 7126)")                               \
  X(ttl_exceeded, "TTL expired in transit")                                                        \
  X(no_route, "no route to the destination")                                                       \
  X(blackhole, "matched a blackhole route: dropped without ICMP")                                  \
  X(prohibited, "matched a prohibit route (ICMP administratively prohibited)")                     \
  X(unreachable, "matched an unreachable route (ICMP host unreachable, ICMPv6 no route)")          \
  X(frag_needed, "larger than the egress MTU with DF set")                                         \
  X(fragment_failed, "larger than the egress MTU, DF clear, and no mbufs to fragment it")          \
  X(bad_options, "malformed IPv4 options")                                                         \
  X(neighbour_failed, "next hop did not answer ARP")                                               \
  X(neighbour_queue_overflow, "oldest packet waiting for ARP replaced by a newer one")             \
  X(neighbour_table_full, "no room for another unresolved neighbour")                              \
  X(neighbour_queue_full, "waiting for ARP: all queues together hold arp.queue_total packets")     \
  X(neighbour_rate_limited, "new ARP resolution refused: the port's arp.resolve_rate is spent")    \
  X(neighbour_evicted, "was waiting for ARP when its entry made way for a newer one")              \
  X(punt_ring_full, "control thread busy: slow-path ring full")                                    \
  X(tx_full, "TX queue full")                                                                      \
  X(no_mbuf, "mbuf pool empty while building a reply")                                             \
  X(local_unhandled, "addressed to the router, protocol not served")                               \
  X(cp_denied, "for the router, not in control_plane.allow (control-plane interfaces on)")         \
  X(cp_rate_limited, "for a kernel interface, over control_plane.punt_rate")                       \
  X(cp_from_kernel_limited, "from a kernel interface, over control_plane.punt_rate")               \
  X(cp_kernel_full, "for a kernel interface whose queue was full")                                 \
  X(cp_bad_frame, "from a kernel interface: too short, too long for the port, or no mbuf")         \
  X(reassembly_dropped, "fragment to the router dropped: reassembly table full or timed out")      \
  X(arp_invalid, "malformed or foreign ARP packet")                                                \
  X(arp_rate_limited, "ARP from a sender (MAC) over arp.source_rate")                              \
  X(icmp_rate_limited, "ICMP error suppressed by the token bucket")                                \
  X(icmp_source_limited, "ICMP error suppressed: its destination is over icmp.source_rate")        \
  X(icmp_suppressed, "ICMP error not allowed (about an ICMP error, fragment, broadcast...)")       \
  X(icmp_no_source, "ICMP error not sent: egress port has no address")                             \
  X(port_down, "egress port stopped")                                                              \
  X(gre_no_tunnel, "GRE to the router from a remote (or to a local address) no tunnel has")        \
  X(gre_bad_key, "GRE between a tunnel's endpoints with another key, or none (RFC 2890 2.1)")      \
  X(gre_bad_header, "GRE with routing/recursion bits, a version not 0, or cut short (RFC 2784)")   \
  X(gre_bad_checksum, "GRE checksum wrong (RFC 2784 2.5)")                                         \
  X(gre_bad_protocol, "GRE payload neither IPv4 nor IPv6")                                         \
  X(tunnel_loop, "a tunnel's outer route leads back into it (or nests too deep)")                  \
  X(tunnel_no_route, "a tunnel's remote has no usable route")

enum class Drop : uint8_t {
#define X(name, desc) name,
  ROUTERD_DROP_REASONS(X)
#undef X
      count
};

// Packets a worker hands to the control thread, by reason.
#define ROUTERD_PUNT_REASONS(X)                                                                \
  X(arp, "ARP")                                                                                \
  X(local, "addressed to the router")                                                          \
  X(ttl_exceeded, "TTL expired: Time Exceeded")                                                \
  X(no_route, "no route: Net Unreachable")                                                     \
  X(unresolved, "next hop needs ARP")                                                          \
  X(frag_needed, "DF set and too big: Frag Needed")                                            \
  X(param_problem, "bad options: Parameter Problem")                                           \
  X(redirect, "leaves by its input port: forwarded, Redirect sent")                            \
  X(ndp, "NDP or link-scope ICMPv6 multicast for the router")                                  \
  X(beyond_scope, "link-local source off its link: Unreachable 2")                             \
  X(hop_by_hop, "IPv6 Hop-by-Hop options: looked at by control")                               \
  X(prohibited, "prohibit route: Administratively Prohibited")                                 \
  X(unreachable, "unreachable route: Host Unreachable")                                        \
  X(link_multicast, "link-local multicast or a broadcast for the kernel interfaces (OSPF...)") \
  X(broadcast, "directed broadcast: ipv4.forward_directed_broadcast, kernel interfaces")

enum class Punt : uint8_t {
#define X(name, desc) name,
  ROUTERD_PUNT_REASONS(X)
#undef X
      count
};

// Control-plane events that are not drops.
#define ROUTERD_EVENTS(X)                                                                          \
  X(arp_request_sent, "ARP requests sent")                                                         \
  X(arp_reply_sent, "ARP replies sent")                                                            \
  X(arp_received, "ARP packets received")                                                          \
  X(icmp_echo_reply_sent, "echo replies sent")                                                     \
  X(icmp_error_sent, "ICMP errors sent")                                                           \
  X(icmp_time_exceeded_sent, "Time Exceeded sent")                                                 \
  X(icmp_net_unreachable_sent, "Net Unreachable sent")                                             \
  X(icmp_host_unreachable_sent, "Host Unreachable sent")                                           \
  X(icmp_port_unreachable_sent, "Port/Protocol Unreachable sent")                                  \
  X(icmp_frag_needed_sent, "Frag Needed sent")                                                     \
  X(icmp_prohibited_sent, "Communication Administratively Prohibited sent")                        \
  X(icmp_param_problem_sent, "Parameter Problem sent")                                             \
  X(icmp_redirect_sent, "Redirects sent")                                                          \
  X(redirect_suppressed, "Redirects not sent (per-host limit, source off-link)")                   \
  X(directed_broadcast_forwarded, "directed broadcasts forwarded (forward_directed_broadcast)")    \
  X(ndp_solicit_sent, "Neighbor Solicitations sent")                                               \
  X(ndp_advert_sent, "Neighbor Advertisements sent")                                               \
  X(ndp_ra_sent, "Router Advertisements sent (port.ra)")                                           \
  X(ndp_ra_received, "valid Router Advertisements received from other routers")                    \
  X(ndp_ra_inconsistent, "received RAs inconsistent with ours on a port.ra port (RFC 4861 6.2.7)") \
  X(ndp_dad_failed, "own IPv6 addresses found duplicate (DAD, RFC 4862 5.4)")                      \
  X(ndp_received, "NDP messages received")                                                         \
  X(mld_reports_sent, "MLD Reports and Done messages sent for the router's groups (RFC 3810)")     \
  X(mld_queries_received, "valid MLD Queries received (RFC 3810 5.1, RFC 2710)")                   \
  X(ndp_not_learnt, "NDP senders not recorded: no FAILED or unused STALE entry to make room")      \
  X(icmp6_echo_reply_sent, "ICMPv6 echo replies sent")                                             \
  X(icmp6_error_sent, "ICMPv6 errors sent")                                                        \
  X(icmp6_time_exceeded_sent, "ICMPv6 Time Exceeded sent")                                         \
  X(icmp6_unreachable_sent, "ICMPv6 Destination Unreachable sent")                                 \
  X(icmp6_too_big_sent, "ICMPv6 Packet Too Big sent")                                              \
  X(icmp6_param_problem_sent, "ICMPv6 Parameter Problem sent")                                     \
  X(ipv6_router_alert_forwarded, "IPv6 packets with a Router Alert option forwarded (RFC 2711)")   \
  X(icmp_error_received, "ICMP errors received about the router's own packets")                    \
  X(pmtu_learned, "path MTUs learnt from Frag Needed")                                             \
  X(pmtu_ignored, "Frag Needed that would not lower a path MTU")                                   \
  X(redirect_learned, "first hops learnt from redirects")                                          \
  X(redirect_ignored, "redirects not accepted")                                                    \
  X(pmtu6_learned, "IPv6 path MTUs learnt from Packet Too Big")                                    \
  X(pmtu6_ignored, "Packet Too Big that would not lower a path MTU")                               \
  X(redirect6_learned, "IPv6 first hops learnt from Redirects (ipv6.accept_redirects)")            \
  X(redirect6_ignored, "IPv6 Redirects to the router not accepted (off, or failing RFC 4861 8.1)") \
  X(neighbour_released, "queued packets sent after ARP resolved")                                  \
  X(neighbour_resolved, "neighbours resolved")                                                     \
  X(neighbour_failed, "neighbours failed")                                                         \
  X(neighbour_route_skipped, "neighbours left without a host route (no room in FIB or next hops)") \
  X(neighbour_evictions, "neighbour entries evicted for newer ones (FAILED, INCOMPLETE, stale)")   \
  X(arp_mac_locked, "ARP that would have replaced a MAC within arp.locktime_ms, ignored")          \
  X(icmp_learn_limited, "PTBs and redirects ignored: their sender is over exceptions.source_rate") \
  X(control_error, "punted packets or timer runs the control thread could not finish")             \
  X(punt_kernel, "packets for the router handed to the ports' kernel interfaces")                  \
  X(from_kernel, "frames the kernel interfaces sent, out their ports")                             \
  X(from_kernel_suppressed, "ARP replies and NAs from the kernel not sent: routerd answers")       \
  X(tunnel_path_resolved,                                                                          \
    "tunnel outer paths (re)resolved by a worker after a generation change (for every packet "     \
    "with route_cache.tunnel_outer_path = false)")

enum class Event : uint8_t {
#define X(name, desc) name,
  ROUTERD_EVENTS(X)
#undef X
      count
};

constexpr size_t kDropCount = size_t(Drop::count);
constexpr size_t kPuntCount = size_t(Punt::count);
constexpr size_t kEventCount = size_t(Event::count);
constexpr size_t kMaxPorts = 32;  // RTE_MAX_ETHPORTS in Debian's DPDK build

std::string_view drop_name(Drop d);
std::string_view drop_description(Drop d);
std::string_view punt_name(Punt p);
std::string_view event_name(Event e);

// Single-writer counter: a relaxed load+store compiles to a plain add, yet a concurrent
// reader sees a whole value and the program stays free of data races.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// One route cache's counters (one per family and worker).
struct CacheCounters {
  Counter hits;             // answered from the cache
  Counter misses;           // looked up in the FIB (stale ones included)
  Counter stale;            // present, but from an older generation
  Counter bypassed_bursts;  // bursts looked up without the cache (governor.hpp)
  Counter runs_on;          // probes that chose to use the cache
  Counter runs_off;         // probes that chose to step aside
};

struct alignas(64) LcoreStats {
  Counter rx[kMaxPorts];                    // packets received, by input port
  Counter tx[kMaxPorts];                    // packets sent, by output port
  Counter originated[kMaxPorts];            // of those, the control thread's own (ARP, NDP, ICMP)
  Counter dropped[kMaxPorts];               // packets dropped, by input port
  Counter drop[kDropCount];                 // packets dropped, by reason
  Counter punt[kPuntCount];                 // packets handed to control, by reason
  Counter event[kEventCount];               // control-plane events
  Counter polls;                            // poll loop iterations
  Counter busy_polls;                       // iterations that received packets
  Counter fragmented;                       // datagrams split to fit the egress MTU
  Counter fragments;                        // fragments sent for them
  CacheCounters cache;                      // the IPv4 route cache
  CacheCounters cache6;                     // the IPv6 route cache
  std::atomic<uint32_t> lcore{UINT32_MAX};  // the EAL lcore running this worker, once started
  // Packets an ECMP group sent to each next-hop slot (index: slot id; SharedState sizes it).
  std::unique_ptr<Counter[]> via_group;

  // When this lcore first saw each generation (TSC), so the control thread can time how
  // long an update takes to reach every worker. Slot g % kGenSlots holds generation g.
  static constexpr uint32_t kGenSlots = 64;
  struct GenSeen {
    std::atomic<uint64_t> gen{0};
    std::atomic<uint64_t> tsc{0};
  };
  GenSeen gen_seen[kGenSlots];
  uint64_t last_gen = 0;  // owner-only

  void count_drop(Drop d, uint16_t in_port, uint64_t n = 1) {
    drop[size_t(d)].add(n);
    dropped[in_port].add(n);
  }
};

}  // namespace routerd
