// control: the coordinator over the RIB, neighbours, route exceptions, ports and the publisher.
// It derives what the FIB and next hops should hold and hands that to lib/publish, which alone
// changes what workers read; a command that cannot be applied completely changes nothing.
// Files: control.cpp (derivation, loop), slowpath*.cpp (punted and router-made packets),
// cmd_*.cpp (routerctl verbs, each registered beside its handler), reload.cpp.
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <tbb/concurrent_queue.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "compiler.hpp"
#include "config.hpp"
#include "dpdk.hpp"
#include "fpm.hpp"
#include "icmp.hpp"
#include "ipv6_ext.hpp"
#include "neighbour.hpp"
#include "port.hpp"
#include "publisher.hpp"
#include "ratelimit.hpp"
#include "rib.hpp"
#include "route_exception.hpp"
#include "routefile.hpp"
#include "shared_state.hpp"
#include "tunnel.hpp"

namespace routerd {

struct NdMessage;
struct MldRecord;

// ---- routerctl ping's sessions (cmd_ping.cpp); the control thread fills them
// An answer to one of the router's own echo requests (routerctl ping).
struct PingEvent {
  uint16_t seq;
  bool reply;  // else an ICMP error about the request
  Ipv4 from;
  uint8_t ttl, type, code;
  uint16_t mtu;    // Frag Needed
  uint32_t bytes;  // reply: ICMP bytes
  uint64_t tsc;    // reply: the send time echoed back
  Ipv6 from6{};    // an ICMPv6 answer: its source (then `from` is unused)
  bool v6 = false;
  uint32_t mtu6 = 0;  // Packet Too Big
};
// Answers wait here for the pinging thread. At most kQueued do; more are dropped and
// counted, so a flood of replies carrying a session's ident costs no memory.
class PingEvents {
 public:
  static constexpr size_t kQueued = 64;
  void push(const PingEvent& e);  // control thread
  bool try_pop(PingEvent& e);     // the pinging thread
  uint64_t dropped() const;

 private:
  mutable std::mutex mu_;
  std::deque<PingEvent> q_;
  uint64_t dropped_ = 0;
};

class Control {
 public:
  struct PortRef {
    Port* port;  // started ethdev (not owned)
    uint16_t id;
    std::string name;
    Mac mac;
    uint16_t mtu;
  };
  // A GRE tunnel (lib/tunnel) as control keeps it: what `tunnel add` or [[tunnel]] gave.
  struct TunnelConf {
    Ipv4 local, remote;
    std::optional<uint32_t> key;
    uint8_t ttl = 64;          // 0: inherit the inner packet's
    uint16_t mtu = 0;          // configured; 0: derived from the outer path
    uint16_t pmtu = 0;         // the learnt path MTU to remote, as last published (0: none)
    bool pmtu_locked = false;  // the learnt one was under the floor: outer packets without DF
  };

  Control(SharedState& dp, const Config& cfg, std::vector<PortRef> ports, rte_mempool* pool);
  ~Control();
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // A route file as parsed, kept for reload's diff. Once applied, share_nexthops() keeps one
  // list per distinct next-hop set: a full table of ECMP lines otherwise holds ~600 bytes of
  // specs a route for as long as routerd runs (docs/performance.md, "Both families at once").
  struct RouteFile {
    std::string path;
    std::vector<RouteSpec> specs;
    RouteFile(std::string p, std::vector<RouteSpec> s) : path(std::move(p)), specs(std::move(s)) {}
    // specs[i]'s next hops (its ECMP set; empty for a single next hop), shared or not.
    const std::vector<NexthopSpec>& nexthops(size_t i) const {
      return set_.empty() || set_[i] == 0 ? specs[i].nexthops : sets_[set_[i] - 1];
    }
    void share_nexthops();

   private:
    std::vector<uint32_t> set_;  // per spec: 1 + its index in sets_, or 0; empty: not shared
    std::vector<std::vector<NexthopSpec>> sets_;
  };
  // Applies the config's addresses, static neighbours, routes and the already parsed route
  // files (startup), which it keeps for reload() (taken, not copied; next-hop sets shared
  // once applied). Throws ConfigError naming the config entry or file line.
  void load(const Config& cfg, std::vector<RouteFile> route_files);
  // The process's resident memory (statm), in bytes; 0 if unreadable. DPDK's hugepages are
  // not in it; with --no-huge its memory is.
  static uint64_t resident_bytes();

  // Re-reads the config this Control was loaded from (parsed on the caller's thread) and
  // applies the difference in port addresses, static neighbours and routes ([[route]] and
  // route_files) as one change: all of it or, with a CommandError, none. Keys that cannot
  // change at run time are reported in the answer's "restart_needed", not applied.
  nlohmann::json reload();
  // Tests only: called before each step of a reload with the step's name ("addr add",
  // "neigh add", "routes", "neigh del", "addr del", "done"); true makes that step fail, so
  // the undo of every earlier step can be checked.
  std::function<bool(std::string_view)> reload_fault;

  // The control loop; returns when `stop` becomes true.
  void run(const std::atomic<bool>& stop);

  // From any other thread: runs the command on the control thread and returns its result.
  // Throws CommandError for a refused command (nothing changed).
  nlohmann::json call(const std::vector<std::string>& argv);

  // Control thread only (also used directly before run() starts and by tests).
  nlohmann::json execute(const Request& r);
  bool poll_once(uint64_t now_ms);  // one loop iteration: punts, commands, timers; false if idle
  // What reload() submits: applies an already parsed config and its route files.
  nlohmann::json reload_apply(const Config& next, std::vector<RouteFile> files);
  nlohmann::json stats_json() const;

  // Counters summed over every lcore, for the final log line.
  std::string stats_summary() const;

 private:
  struct PortAddr {
    Ipv4 addr;
    Prefix4 subnet;
  };
  struct PortAddr6 {
    Ipv6 addr;
    Prefix6 subnet;
  };
  struct PortCtl {
    PortRef ref;  // a tunnel: port nullptr, id kTunnelBase + its slot
    std::vector<PortAddr> addrs;
    Ipv6 ll;  // link-local address: configured, or EUI-64 of the MAC
    std::vector<PortAddr6> addrs6;
    // Link-layer groups the port's kernel interface joined (kernel_sync): received too.
    std::vector<Mac> kernel_groups;
    std::optional<TunnelConf> tunnel;  // set: this interface is a tunnel, not an ethdev
  };
  // --- tunnels (tunnel.cpp): interfaces in ports_ whose packets workers encapsulate
  void tunnel_create(const std::string& cmd, const std::string& name, const TunnelConf& t);
  void tunnel_delete(const std::string& cmd, const std::string& name);
  // The MTU control assumes for its own packets into the tunnel (workers use their own).
  uint16_t tunnel_mtu_estimate(const TunnelConf& t) const;
  // Publishes the PMTUs learnt for tunnels' remotes when they changed (learnt, expired).
  void tunnel_pmtu_sync(uint64_t now_ms);
  void tunnel_tick(uint64_t now_ms);  // the above, and the rate-limited tunnel_loop log line
  nlohmann::json tunnel_json(const PortCtl& p) const;
  uint64_t tunnel_loops_seen_ = 0, tunnel_loop_logged_ms_ = 0;
  bool kernel_mirrors(size_t port_index) const;  // ports_[i] has a kernel interface
  // --- what the FIB and next hops should hold, handed to the publisher (control.cpp)
  NextHopState* nh_build(uint32_t id, const NhKey& key) const;
  static NhKey reject_key(RouteType t, uint8_t family);  // one shared slot per type and family
  uint32_t desired_nh(const Prefix4& p);
  void sync(const Prefix4& p);  // stages the FIB entry p should have now
  void sync_covered(const Prefix4& p);
  void publish_ifs();
  // The families whose NIC RSS hash ECMP takes on a port (PortFastInfo::ecmp_rss; see
  // ::ecmp_rss_families); none for a tunnel, whose decapsulation drops the outer hash.
  uint8_t ecmp_rss_families(const Port* port) const;
  // The FIB's answer for the slow path; for an ECMP group, the member m's flow takes (or,
  // without a packet, one picked by the destination).
  const NextHopState* resolve(Ipv4 dst, rte_mbuf* m = nullptr) const;
  const NextHopState* group_pick(const NextHopState* s, rte_mbuf* m, uint32_t fallback) const;
  // ECMP liveness: gateways of group members whose resolution failed. They stay out of their
  // groups, and are probed once a second, until they answer (ecmp.cpp).
  void follow_links();  // ecmp.follow_link (ecmp.cpp)
  std::unordered_set<uint32_t> dead4_;
  std::unordered_set<ScopedIpv6, ScopedIpv6Hash> dead6_;
  uint64_t dead_probe_ms_ = 0;
  bool group_gateway(uint8_t family, uint16_t port, const Ipv6& ip6, uint32_t ip4) const;
  void note_liveness(Ipv4 ip, const Neighbour* n);
  void note_liveness(const ScopedIpv6& key, const Neighbour6* n);
  void probe_dead_members(uint64_t now_ms);
  nlohmann::json groups_json(uint8_t family) const;
  nlohmann::json group_json(uint32_t id) const;
  uint32_t flow_member(const Request& r, uint32_t gid, nlohmann::json& j) const;
  template <class R>
  void paths_json(const R& rt, nlohmann::json& j) const;

  // --- IPv6 (control6.cpp): derivation, punts, NDP, ICMPv6
  uint32_t desired_nh(const Prefix6& p);
  void sync(const Prefix6& p);
  void sync_covered(const Prefix6& p);
  const NextHopState* resolve6(const Ipv6& dst, rte_mbuf* m = nullptr) const;
  bool local_address6(const Ipv6& a, uint16_t* port = nullptr) const;
  std::optional<Ipv6> select_source6(uint16_t port, const Ipv6& dst) const;
  void set_link_local(PortCtl& p, const std::optional<Ipv6>& configured);
  // Points the port's multicast reception at the groups its IPv6 addresses need (lib/port
  // ipv6_rx_groups); called wherever the set of addresses changes.
  void sync_rx_groups(PortCtl& p);
  void handle_punt6(const PuntEntry& e, uint64_t now_ms);
  void handle_local6(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void handle_ndp(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void handle_unresolved6(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void handle_hop_by_hop(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  // What a Hop-by-Hop verdict other than `forward` calls for (RFC 8200 4.2): Parameter
  // Problem (from `from` when the datagram was for the router) and a counted drop. True when
  // m was dropped.
  bool refused_hop_by_hop(rte_mbuf* m, const HbhVerdict& v, uint16_t in_port, uint64_t now_ms,
                          const std::optional<Ipv6>& from = std::nullopt);
  void handle_redirect6(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void reject6(rte_mbuf* m, NhKind k, uint16_t in_port, uint64_t now_ms);  // as reject()
  void send_via6(rte_mbuf* m, const NextHopState* s, const Ipv6& dst, uint64_t now_ms);
  void output6(rte_mbuf* m, uint16_t port, uint64_t now_ms);
  // from: the source, when the error is about a datagram to one of the router's unicast
  // addresses, which RFC 4443 2.2 (a) makes the source; else one chosen for the sender.
  bool redirect_current(const RouteException& e, Ipv4 dst) const;
  bool refused_scope6(rte_mbuf* m, const NextHopState* s, uint16_t in_port, uint64_t now_ms);
  void send_icmp6_error(rte_mbuf* orig, uint8_t type, uint8_t code, uint32_t param,
                        uint16_t in_port, uint64_t now_ms,
                        const std::optional<Ipv6>& from = std::nullopt);
  void send_ns(uint16_t port, const Ipv6& target, const std::optional<Mac>& unicast);
  void apply_neighbour_effects(NeighbourTable6::Effects& fx, uint64_t now_ms);
  // --- Router Advertisements (RFC 4861 6.2) and DAD of the router's own addresses
  // (RFC 4862 5.4): ra.cpp. ra_tick runs in the 100 ms tick; the others are handle_ndp's hooks.
  struct RaPort {
    bool on = false;
    uint32_t sent = 0;     // unsolicited RAs since it was turned on
    uint64_t next_ms = 0;  // the next multicast RA
    uint64_t last_ms = 0;  // the last RA of any kind (MIN_DELAY_BETWEEN_RAS)
    // The answer to Router Solicitations (RFC 4861 6.2.6): when it is due (0: none), and
    // where, when a single host asked with its link-layer address (else all nodes).
    uint64_t answer_ms = 0;
    std::optional<Ipv6> answer_ip;
    std::optional<Mac> answer_mac;
    uint64_t inconsistent_logged_ms = 0;  // the last inconsistent RA logged (6.2.7)
  };
  enum class DadState : uint8_t { tentative, ok, failed };
  struct DadEntry {
    Ipv6 addr;
    uint16_t port;
    DadState state;
    uint64_t start_ms;     // it joins its solicited-node group, and the first probe goes
    uint64_t deadline_ms;  // tentative: the next probe, or with none left the end of DAD
    uint32_t probes_left;
  };
  void ra_init(const Config& cfg);
  void ra_tick(uint64_t now_ms);
  void ra_solicited(uint16_t port, const NdMessage& rs, uint64_t now_ms);
  void ra_answer(uint64_t now_ms);  // the solicited RAs due at now_ms (poll_once)
  void ra_received(uint16_t port, const NdMessage& ra, uint64_t now_ms,
                   NeighbourTable6::Effects& fx);
  std::string ra_inconsistency(const PortCtl& p, const NdMessage& ra) const;
  bool ra_ll_ready(const PortCtl& p) const;
  uint64_t ra_next_wait(const RaPort& s) const;
  bool dad_hook(uint16_t port, const NdMessage& m, const uint8_t* eth_src);  // true: consumed
  bool dad_failed(uint16_t port, const Ipv6& a) const;
  // RFC 4862 5.4: an address is assigned once DAD found it unique (at once with
  // ipv6.dad_transmits 0). Until then it is tentative: never a source, no NA for it, no
  // packet delivered to it; a duplicate stays unassigned.
  bool assigned6(uint16_t port, const Ipv6& a) const;
  bool tentative6(uint16_t port, const Ipv6& a) const;
  // An address of the router that DAD did not find duplicate: local in the FIB, and NDP
  // messages from or about it are a conflict. A duplicate one belongs to the other node.
  bool in_use6(const Ipv6& a) const;
  void dad_show(const PortCtl& p, nlohmann::json& out) const;
  void dad_tick(uint64_t now_ms);
  void send_ra(const PortCtl& p, const Ipv6& dst, const Mac& dst_mac, uint16_t lifetime);
  const Config& ra_config() const;
  Config ra_boot_;              // the constructor's config, until load() gives loaded_
  std::vector<RaPort> ra_;      // by index in ports_
  uint64_t ra_answer_due_ = 0;  // the earliest RaPort::answer_ms, or 0
  std::vector<DadEntry> dad_;
  std::vector<uint8_t> dad_port_seen_;  // by index in ports_: its addresses at init were found
  // --- MLD as a listener (RFC 3810, RFC 2710 compatibility): mld.cpp. The groups a port
  // listens on are reported when they are joined (with the DAD delay, before the probe) and
  // left, kRobustness times, and on Queries after a random part of their response delay.
  struct MldChange {
    Ipv6 group;
    bool join;
    uint32_t left;  // transmissions still to send
    uint64_t next_ms;
  };
  struct MldPort {
    std::vector<Ipv6> listening;  // as reported
    std::vector<MldChange> changes;
    std::optional<uint64_t> general_due;                  // the answer to a General Query
    std::vector<std::pair<Ipv6, uint64_t>> specific_due;  // answers to group-specific ones
    uint64_t v1_until_ms = 0;  // an MLDv1 querier was heard: MLDv1 messages until then
  };
  std::vector<MldPort> mld_;  // by index in ports_
  std::vector<Ipv6> mld_groups(const PortCtl& p, uint64_t now_ms) const;
  void mld_tick(uint64_t now_ms);
  void mld_send(const PortCtl& p, const std::vector<MldRecord>& records, bool v1);
  void handle_mld(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  // --- lookups
  PortCtl* port_by_name(const std::string& name);
  PortCtl& port_named(const std::string& cmd, const std::string& dev);  // or refuses the command
  PortCtl* port_by_id(uint16_t id);
  const PortCtl* port_by_id(uint16_t id) const;
  std::optional<Ipv4> local_address_port(Ipv4 a, uint16_t* port = nullptr) const;
  bool is_subnet_broadcast(Ipv4 a) const;
  const PortCtl* port_for_gateway(Ipv4 gw, const std::string& dev) const;
  std::vector<PortAddress> port_addresses(uint16_t port) const;
  // The source of a router-made IPv4 packet leaving by port for dst: the port's address
  // (icmp_select_source), or on a port without one (unnumbered) the first of another port.
  std::optional<Ipv4> source_for(uint16_t port, Ipv4 dst) const;

  // --- slow path (slowpath.cpp; send_icmp_error, output and send_via in originate.cpp)
  void handle_punt(const PuntEntry& e, uint64_t now_ms);
  void handle_arp(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void handle_local(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void handle_unresolved(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  // A datagram to a subnet broadcast of the router's (Punt::broadcast): a copy for the
  // kernel interfaces if the allow list takes it, and forwarded as a link broadcast when
  // ipv4.forward_directed_broadcast is on and it came from another link.
  void handle_broadcast(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  void handle_redirect(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  // A packet whose route rejects it (nh_rejects(k)), as Linux's ip_error(): one that came in
  // (in_port < kMaxPorts) gets the kind's ICMP error (none for blackhole); the router's own
  // (in_port kMaxPorts) is only dropped. Counted under the kind's drop reason either way.
  void reject(rte_mbuf* m, NhKind k, uint16_t in_port, uint64_t now_ms);
  void send_icmp_error(rte_mbuf* orig, uint8_t type, uint8_t code, uint32_t rest, uint16_t in_port,
                       std::optional<Ipv4> src, uint64_t now_ms);
  void output(rte_mbuf* m, uint64_t now_ms);  // router-originated IP packet
  bool send_via(rte_mbuf* m, const NextHopState* s, Ipv4 dst, uint64_t now_ms);
  void transmit(uint16_t port, rte_mbuf* m);
  // A frame of len bytes in a fresh mbuf (m), or nullptr with the shortage counted as a
  // no_mbuf drop: where every packet the control thread builds starts.
  uint8_t* new_frame(rte_mbuf*& m, size_t len);
  void send_arp_request(uint16_t port, Ipv4 target, const std::optional<Mac>& unicast);
  void apply_neighbour_effects(NeighbourTable::Effects& fx, uint64_t now_ms);
  template <class Fx>
  void drop_unsent(Fx& fx);
  template <class F>
  void guarded(const char* what, F&& f);  // runs f; a failure is counted and logged, not thrown
  void log_limited(const std::string& what, const std::string& why);
  void drop(rte_mbuf* m, Drop d, uint16_t in_port);
  // A packet for the router that kernel_takes refused: with control-plane interfaces on it
  // counted it as cp_denied, so it is only freed (one packet, one reason); without, it is
  // local_unhandled.
  void drop_not_taken(rte_mbuf* m, uint16_t in_port) {
    if (kifs_)
      rte_pktmbuf_free(m);
    else
      drop(m, Drop::local_unhandled, in_port);
  }
  void event(Event e, uint64_t n = 1);

  // --- routerctl verbs (cmd_*.cpp). Each file defines its handlers as specialisations of
  // handle<>() and registers them in its register_*() beside them, so a verb touches only
  // its file, its grammar row (lib/api) and its text format (routerctl).
  template <Verb V>
  nlohmann::json handle(const Request& r);
  template <Verb V>
  nlohmann::json handle_on_caller(const Request& r);
  using Handler = nlohmann::json (Control::*)(const Request&);
  struct CommandTable {
    Handler on_control[kVerbCount] = {};  // runs on the control thread (execute)
    Handler on_caller[kVerbCount] = {};   // runs on the caller's thread and submits its work
    template <Verb V>
    void control() {
      on_control[size_t(V)] = &Control::handle<V>;
    }
    template <Verb V>
    void caller() {
      on_caller[size_t(V)] = &Control::handle_on_caller<V>;
    }
  };
  void register_addr_commands(CommandTable& t);
  void register_route_commands(CommandTable& t);
  void register_neigh_commands(CommandTable& t);
  void register_link_commands(CommandTable& t);
  void register_stats_commands(CommandTable& t);
  void register_ping_commands(CommandTable& t);
  void register_reload_commands(CommandTable& t);
  void register_tunnel_commands(CommandTable& t);
  CommandTable commands_;

  // Shared by several verbs.
  nlohmann::json route_load(const std::vector<RouteSpec>& specs, const std::string& source);
  nlohmann::json route_batch(const Request& r);
  std::set<std::pair<std::string, std::string>> live_addresses() const;  // port, "addr/len"
  void fault(const char* step);
  void free_reassembly_drops();  // throws when a test's reload_fault asks it to
  // A RIB change of the current batch, for rollback: the prefix, and where its route before
  // the change is kept (kNew: it had none). Routes replaced are kept apart, so that a load
  // of new prefixes records 12 (IPv4) or 24 (IPv6) bytes per route instead of an empty
  // optional route of 104 or 144: a full table writes 94 MB less.
  template <class P>
  struct RibUndo {
    static constexpr uint32_t kNew = UINT32_MAX;
    P prefix;
    uint32_t old;
  };
  // The RIB changes of one batch, both families: committed together, one generation bump.
  struct RibChanges {
    std::vector<RibUndo<Prefix4>> v4;
    std::vector<RibUndo<Prefix6>> v6;
    std::vector<Route> old4;
    std::vector<Route6> old6;
    // Called before the RIB changes p; old is its route then, if any.
    void record(const Prefix4& p, const Route* old) {
      v4.push_back({p, old ? keep(old4, *old) : RibUndo<Prefix4>::kNew});
    }
    void record(const Prefix6& p, const Route6* old) {
      v6.push_back({p, old ? keep(old6, *old) : RibUndo<Prefix6>::kNew});
    }

   private:
    template <class R>
    static uint32_t keep(std::vector<R>& v, const R& r) {
      v.push_back(r);
      return uint32_t(v.size() - 1);
    }
  };
  struct BatchCounts {
    size_t added = 0, replaced = 0, deleted = 0;
  };
  void rib_apply(const Request& r, const std::string& where, RibChanges& undo, BatchCounts& n);
  // Loops over a table's worth of routes start each route's hash-map slots (RIB, publisher,
  // feed) this many routes ahead: on a large table every one is a cache and TLB miss.
  static constexpr size_t kPrefetchAhead = 8;
  // What rib_apply and sync touch for prefix p: its hash slots in the RIB and the
  // publisher, then (a few prefixes later, once the slot is in) its RIB route.
  void prefetch_slots(const Prefix4& p) const {
    rib_.prefetch(p);
    pub_.prefetch_route(p);
  }
  void prefetch_slots(const Prefix6& p) const {
    rib6_.prefetch(p);
    pub_.prefetch_route(p);
  }
  void prefetch_route(const Prefix4& p) const { rib_.prefetch_route(p); }
  void prefetch_route(const Prefix6& p) const { rib6_.prefetch_route(p); }
  // For item i of n, prefix(j) the j-th item's prefix: the slots kPrefetchAhead items on,
  // the route kPrefetchAhead / 2 on.
  template <class PrefixOf>
  void prefetch_ahead(size_t i, size_t n, PrefixOf&& prefix) const {
    if (i + kPrefetchAhead < n) prefetch_slots(prefix(i + kPrefetchAhead));
    if (i + kPrefetchAhead / 2 < n) prefetch_route(prefix(i + kPrefetchAhead / 2));
  }
  // The same over a batch's or a file's changes (get(j): a Request or RouteSpec, either
  // family), and the change itself further on: a batch's requests (hundreds of bytes
  // each) were written by the parsing thread and are out of cache by now.
  template <class Get>
  void prefetch_changes(size_t i, size_t n, Get&& get) const {
    if (i + 2 * kPrefetchAhead < n) {
      const auto& a = get(i + 2 * kPrefetchAhead);
      prefetch_line(&a.prefix);
      prefetch_line(&a.family);
    }
    if (i + kPrefetchAhead < n) {
      const auto& a = get(i + kPrefetchAhead);
      if (a.family == 6)
        prefetch_slots(a.prefix6);
      else
        prefetch_slots(a.prefix);
    }
    if (i + kPrefetchAhead / 2 < n) {
      const auto& a = get(i + kPrefetchAhead / 2);
      if (a.family == 6)
        prefetch_route(a.prefix6);
      else
        prefetch_route(a.prefix);
    }
  }
  void rib_apply6(const Request& r, const std::string& where, RibChanges& undo, BatchCounts& n);
  void rib_undo(const RibChanges& undo);  // newest first
  // synced: the caller already derived the FIB entry of every prefix in undo (route_load
  // does it route by route, while each RIB entry is still in cache).
  void commit_routes(RibChanges& undo, const std::string& where, const std::string& suffix,
                     bool synced = false);
  // A gateway's port (dev narrows it; a link-local IPv6 one needs it), or CommandError.
  uint16_t gateway_port(const std::string& where, Ipv4 gw, const std::string& dev);
  uint16_t gateway_port(const std::string& where, const Ipv6& gw, const std::string& dev);
  template <class R>
  void set_paths(R& nr, const Request& r, const std::string& where);
  std::shared_ptr<const std::vector<BasicPath<Ipv4>>> last_paths4_;
  std::shared_ptr<const std::vector<BasicPath<Ipv6>>> last_paths6_;
  nlohmann::json route_json(const Route& rt) const;
  nlohmann::json route_json(const Route6& rt) const;
  // The IPv6 halves of the addr, route and neigh verbs (cmd6.cpp).
  nlohmann::json addr_add6(const Request& r);
  nlohmann::json addr_del6(const Request& r);
  nlohmann::json neigh_add6(const Request& r);
  nlohmann::json neigh_del6(const Request& r);
  void neigh_show6(const Request& r, nlohmann::json& out) const;
  nlohmann::json route_get6(const Request& r);
  nlohmann::json route_summary6() const;
  nlohmann::json exception_json(const RouteException& e, uint64_t now) const;
  nlohmann::json exception_json(const RouteException6& e, uint64_t now) const;

  // --- router-originated traffic and what ICMP teaches about it (originate.cpp, cmd_ping.cpp)
  struct PingSession {
    PingEvents events;
  };
  nlohmann::json ping_send(uint16_t ident, uint16_t seq, Ipv4 dst, uint16_t size, bool df);
  nlohmann::json ping_send6(uint16_t ident, uint16_t seq, const Ipv6& dst, uint16_t size);
  void handle_icmp6_to_us(rte_mbuf* m, uint64_t now_ms);
  std::shared_ptr<PingSession> ping_session(uint16_t ident);
  void handle_icmp_to_us(rte_mbuf* m, uint64_t now_ms);
  void learn_pmtu(Ipv4 dst, uint16_t mtu, Ipv4 from, uint64_t now_ms);
  void learn_redirect(Ipv4 dst, Ipv4 gateway, Ipv4 from, uint64_t now_ms);
  // IPv6 (originate6.cpp): a Packet Too Big about the router's own packet to dst (RFC 8201),
  // and a Redirect (RFC 4861 8.1, 8.3) that came in on port from the link-layer sender.
  void learn_pmtu6(const Ipv6& dst, uint32_t mtu, const Ipv6& from, uint64_t now_ms);
  void learn_redirect6(const NdMessage& msg, uint16_t port, const Mac& sender, uint64_t now_ms,
                       NeighbourTable6::Effects& fx);
  // The MTU for a router-made IPv6 packet to dst: the next hop's, lowered by a learnt PMTU.
  uint32_t path_mtu6(const Ipv6& dst, const NextHopState* s, uint64_t now_ms);
  // A router-made packet to a global dst by s, through the first hop a redirect taught
  // (when there is one). False when there is none: the caller sends it by s.
  bool send_redirected6(rte_mbuf* m, const NextHopState* s, const Ipv6& dst, uint64_t now_ms);
  // Sends a router-originated packet; returns 0, or the path MTU when DF is set and it is
  // larger (nothing sent).
  uint16_t output_originated(rte_mbuf* m, uint64_t now_ms);
  uint16_t path_mtu(Ipv4 dst, const NextHopState* s, uint64_t now_ms);
  uint64_t now_ms() const;

  SharedState& dp_;
  rte_mempool* pool_;
  std::vector<PortCtl> ports_;
  Rib rib_;
  // What the config put in place at load or the last reload: reload applies differences
  // against this, so routes and neighbours added with routerctl stay unless the file names
  // the same prefix or address.
  const std::string config_path_;  // the file reload reads again
  // dataplane.heap_reserve_mib as routerd started (a reload's new value waits for a restart).
  const uint64_t heap_reserved_bytes_;
  Config loaded_;
  std::vector<RouteFile> loaded_files_;
  NeighbourTable neigh_;
  Rib6 rib6_;
  NeighbourTable6 neigh6_;
  Publisher pub_;  // the only writer of what workers read

  // One pool per family, each exceptions.max_entries: a flood of forged PTBs of one family
  // cannot evict what the other learnt.
  RouteExceptionTable exc_;
  RouteExceptionTable6 exc6_;
  // Reassembly of fragments addressed to the router (replies to its own pings).
  struct FragTblFree {
    void operator()(rte_ip_frag_tbl* t) const { rte_ip_frag_table_destroy(t); }
  };
  std::unique_ptr<rte_ip_frag_tbl, FragTblFree> frag_tbl_;
  rte_ip_frag_death_row death_row_{};
  Mempool big_pool_;  // one-segment copies of reassembled datagrams
  // Ports whose link is down (ecmp.follow_link): their next hops are dead members too.
  bool follow_link_;
  std::array<bool, kMaxPorts> link_down_{};
  bool accept_redirects_;
  bool accept_redirects6_;  // [ipv6] accept_redirects
  uint16_t pmtu_min_;
  uint32_t pmtu_expires_s_, redirect_expires_s_;
  std::mutex ping_mu_;  // ping sessions: API threads and the control thread
  // By ICMP ident, which is random: an off-path host cannot aim replies at a session.
  std::unordered_map<uint16_t, std::shared_ptr<PingSession>> pings_;

  // ---- control-plane interfaces (kernel.cpp; [control_plane], issue 16): a kernel TAP
  // per port mirroring its MAC, MTU, link and addresses; packets for the router that the
  // allow list names go to it, and what the kernel sends goes out the port.
  struct KernelIfs;
  struct KernelIfsFree {
    void operator()(KernelIfs* k) const;  // kernel.cpp, where KernelIfs is complete
  };
  std::unique_ptr<KernelIfs, KernelIfsFree> kifs_;
  std::vector<PuntRule> cp_allow_;
  TokenBucket to_kernel_limit_, from_kernel_limit_;
  void kernel_init(const Config& cfg);
  // Mirrors what changed since the last call onto the kernel interfaces (every tick).
  void kernel_sync();
  // Reads what the kernel sent, at most a burst per interface, and sends it out the ports.
  bool kernel_poll(uint64_t now_ms);
  bool kernel_allows(uint8_t proto, uint16_t sport, uint16_t dport) const;
  // Hands a copy of the frame to in_port's kernel interface; counts what it could not.
  bool kernel_copy(const rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  // The same, then frees m (the packet was for the kernel only).
  void to_kernel(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  // Whether a TCP/UDP/other packet for the router goes to the kernel (and is consumed).
  bool kernel_takes(rte_mbuf* m, uint8_t proto, const uint8_t* l4, size_t l4_len, uint16_t in_port,
                    uint64_t now_ms);
  // A link-local multicast packet (Punt::link_multicast, either family) for in_port's kernel
  // interface if the allow list names it (the kernel keeps what its groups want), else
  // dropped as cp_denied; freed either way.
  void kernel_multicast(rte_mbuf* m, uint16_t in_port, uint64_t now_ms);
  bool cp_enabled() const { return kifs_ != nullptr; }
  int kernel_fd(size_t port_index) const;       // the TAP of ports_[port_index]
  int kernel_ifindex(size_t port_index) const;  // its interface index in the namespace
  // The MAC of the kernel's IPv4 neighbour entry for addr on the port's kernel interface
  // (nullopt: none, or no control-plane interfaces). Throws kif::KernelError.
  std::optional<Mac> kernel_neighbour_mac(uint16_t port, Ipv4 addr);

  // ---- routes from a routing daemon (route_feed.cpp): FRR's zebra over FPM (fpm_server.cpp,
  // control_plane.fpm_listen) or the kernel route mirror (route_mirror.cpp,
  // control_plane.kernel_routes); the configuration allows one of them.
  struct RouteFeed;
  RouteFeed* feed_ = nullptr;  // the one configured, or none
  std::optional<Route> feed_scratch4_;
  std::optional<Route6> feed_scratch6_;
  template <class A>
  struct FeedHop {
    A via{};
    bool has_via = false;
    uint16_t port = 0;
    uint16_t weight = 1;
    std::optional<Ipv6> via6{};  // RFC 5549: an IPv4 route's IPv6 gateway (has_via set)
  };
  // Applies a poll's messages as one batch; routes of tables other than `table` are ignored.
  void feed_apply(std::vector<fpm::Message>& msgs, uint32_t table, uint64_t now_ms);
  template <class P>
  void feed_apply_prefix(const P& p, RibChanges& changes);
  void feed_nexthop_users(uint32_t id, std::vector<Prefix4>& v4, std::vector<Prefix6>& v6);
  template <class A>
  std::vector<FeedHop<A>> feed_paths(const fpm::RouteMsg& m, bool& blackhole, std::string& why);
  template <class R>
  std::optional<R> feed_route(const fpm::RouteMsg& m, std::string& why);
  size_t feed_remove(bool stale_only, uint64_t now_ms);
  std::optional<Ipv6> ipv4ll_gateway(uint16_t port, std::string& why);
  void feed_retry(uint64_t now_ms);
  // Makes the RIB and FIB hold what the feed asks for these prefixes, as one batch: one
  // commit. A batch the FIB refuses (counted and logged) is split until every route that
  // fits is in, within kFeedSplitTries refused tries; a route refused is counted and stays
  // asked for.
  void feed_commit(const std::vector<Prefix4>& v4, const std::vector<Prefix6>& v6);
  bool feed_try_commit(std::span<const Prefix4> v4, std::span<const Prefix6> v6, std::string& why);
  // Refused tries a refused batch may make while it is split (see feed_split).
  static constexpr int kFeedSplitTries = 8;
  void feed_split(std::span<const Prefix4> v4, std::span<const Prefix6> v6, int& tries);
  nlohmann::json feed_json() const;
  // The feed's counters for stats, Prometheus and telemetry: what an operator alerts on.
  nlohmann::json feed_stats_json() const;
  bool feed_connected() const;  // zebra is (the kernel mirror's source always is)
  std::optional<uint16_t> port_of_ifindex(uint32_t ifindex) const;
  // The daemon's route for p as the RIB would hold it, if the daemon asked for one.
  const Route* feed_find(const Prefix4& p);
  const Route6* feed_find(const Prefix6& p);
  // Erases the router's own route at p; a daemon's route for p takes its place.
  void rib_erase_own(const Prefix4& p);
  void rib_erase_own(const Prefix6& p);
  const char* feed_origin() const;

  struct Fpm;
  struct FpmFree {
    void operator()(Fpm* f) const;
  };
  std::unique_ptr<Fpm, FpmFree> fpm_;
  uint64_t fpm_sweep_ms_ = 30000, fpm_hold_ms_ = 0;
  void fpm_init(const Config& cfg);
  void fpm_fds();  // the fds the idle wait polls: TAPs, the listener, the client, the mirror
  bool fpm_poll(uint64_t now_ms);
  void fpm_tick(uint64_t now_ms);
  void fpm_close(const std::string& why);
  nlohmann::json fpm_json() const;
  void register_fpm_commands(CommandTable& t);

  struct RouteMirror;
  struct RouteMirrorFree {
    void operator()(RouteMirror* m) const;
  };
  std::unique_ptr<RouteMirror, RouteMirrorFree> mirror_;
  void mirror_init(const Config& cfg);
  bool mirror_poll(uint64_t now_ms);
  void mirror_start_resync(const std::string& why);
  void mirror_filter(std::vector<fpm::Message>& msgs);
  nlohmann::json mirror_json() const;
  void register_mirror_commands(CommandTable& t);
  int mirror_fd() const;
  nlohmann::json kernel_json(uint16_t port) const;  // link show: the port's kernel interface
  std::vector<int> kernel_fds_;  // the TAPs: what the kernel sends wakes the idle thread

  // The longest the idle control thread sleeps without being rung: its timers (neighbours,
  // exceptions, reassembly, every 100 ms) and reclamation run at least this often.
  static constexpr int kIdleWaitMs = 10;

  // Per-source budgets (fixed hashed tables, lib/ratelimit): ARP by sender MAC, ICMP errors
  // by their destination (the offending packet's source), PTBs and redirects by their sender.
  // Each is checked before the shared budget, so one flooding source cannot spend it.
  SourceLimiter arp_limit_, icmp_limit_, learn_limit_;
  // Redirects per source, both families (lib/ratelimit): at most one a second, 9 in a row.
  RedirectBackoff redirect_backoff_;

  // The shared ICMP error budgets (RFC 1812 4.3.2.8, RFC 4443 2.4 f), each message costing
  // a random 0-2 tokens (lib/ratelimit): [icmp] and [ipv6] icmp_rate.
  JitteredBucket icmp_budget_, icmp6_budget_;
  bool echo_reply_;
  uint16_t ip_id_ = 0;
  uint64_t last_tick_ms_ = 0;
  uint64_t error_logged_ms_ = 0, errors_unlogged_ = 0;  // guarded(): rate-limited logging
  std::chrono::steady_clock::time_point epoch_;

  // Runs fn on the control thread and waits for its result (or exception).
  nlohmann::json submit(std::function<nlohmann::json()> fn);

  struct Task {
    std::function<nlohmann::json()> fn;
    std::promise<nlohmann::json> result;
  };
  tbb::concurrent_queue<std::shared_ptr<Task>> tasks_;
  std::atomic<bool> running_{true};  // false once run() returned: call() fails fast
};

// The workers' parameters as the config gives them, with fresh secrets for the route cache
// and (unless ecmp.hash_key is set) the flow hash: routerd and worker-bench build the same.
DataplaneParams dataplane_params(const Config& cfg);

}  // namespace routerd
