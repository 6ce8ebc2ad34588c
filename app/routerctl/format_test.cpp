#include "format.hpp"

#include <catch2/catch.hpp>

using namespace routerd;

namespace {

struct Case {
  Verb verb;
  const char* data;      // the daemon's "data", as JSON
  const char* expected;  // what routerctl printed before format_text took a Verb
};

// Captured from the argv-keyed format_text this replaced; integration tests compare the
// same output, so any change here is a change users see.
const Case kCases[] = {
    {Verb::addr_add, R"({})", ""},
    {Verb::addr_del,
     R"({"removed_routes":[{"prefix":"10.9.0.0/16","via":"10.4.0.2","dev":"p0","proto":"static"}]})",
     "removed routes through this address:\n10.9.0.0/16 via 10.4.0.2 dev p0 proto "
     "static\n"},
    {Verb::addr_del, R"({"removed_routes":[]})", ""},
    {Verb::addr_show,
     R"([{"dev":"p0","addresses":["10.1.0.1/24","10.1.1.1/24"]},{"dev":"p1","addresses":[]}])",
     "p0: 10.1.0.1/24 10.1.1.1/24\np1:\n"},
    {Verb::route_add, R"({})", ""},
    {Verb::route_replace, R"({})", ""},
    {Verb::route_del, R"({})", ""},
    {Verb::route_show,
     R"([{"prefix":"10.1.0.0/24","dev":"p0","proto":"connected","src":"10.1.0.1"},{"prefix":"10.9.0.0/16","via":"10.2.0.2","dev":"p1","proto":"static"}])",
     "10.1.0.0/24 dev p0 proto connected src 10.1.0.1\n10.9.0.0/16 via 10.2.0.2 dev p1 "
     "proto "
     "static\n"},
    {Verb::route_show_exceptions,
     R"([{"dst":"10.5.0.2","route":"10.5.0.0/24","mtu":1300,"mtu_expires_s":597},{"dst":"10.6.0.9","route":"0.0.0.0/0","gateway":"10.2.0.3","gateway_expires_s":299,"mtu":1400,"mtu_expires_s":12}])",
     "10.5.0.2 (route 10.5.0.0/24) mtu 1300 expires 597s\n10.6.0.9 (route 0.0.0.0/0) "
     "mtu 1400 "
     "expires 12s via 10.2.0.3 expires 299s\n"},
    {Verb::route_summary,
     R"({"routes":5,"connected":3,"static":2,"by_length":{"0":1,"24":3,"25":1},"fib_prefixes":4,"next_hops":5,"generation":6,"commits":5,"route_updates":9})",
     "5 routes (3 connected, 2 static), 4 FIB prefixes, 5 next hops\ngeneration 6, 5 "
     "commits, 9 "
     "route updates\nby prefix length: /0 1 /24 3 /25 1\n"},
    {Verb::route_show_exceptions,
     R"([{"dst":"10.7.0.1","route":"0.0.0.0/0","mtu":552,"mtu_locked":true,"mtu_expires_s":9}])",
     "10.7.0.1 (route 0.0.0.0/0) mtu lock 552 expires 9s\n"},
    {Verb::route_flush_exceptions, R"({"flushed":2})", "flushed 2 exceptions\n"},
    {Verb::route_get,
     R"({"dst":"10.9.0.1","type":"unicast","via":"10.2.0.2","dev":"p1","src":"10.2.0.1","route":"10.9.0.0/16","proto":"static","nexthop":{"id":6,"state":"forward","neighbour":"10.2.0.2","lladdr":"02:00:00:00:01:02","mtu":1500},"exception":{"dst":"10.9.0.1","mtu":1300,"mtu_expires_s":596}})",
     "10.9.0.1 via 10.2.0.2 dev p1 src 10.2.0.1 route 10.9.0.0/16 proto static\n    "
     "nexthop 6 "
     "forward neighbour 10.2.0.2 lladdr 02:00:00:00:01:02 mtu 1500\n    cache mtu 1300 "
     "expires "
     "596s\n"},
    {Verb::route_get,
     R"({"dst":"10.1.0.1","type":"local","dev":"p0","nexthop":{"id":1,"state":"local"}})",
     "10.1.0.1 local dev p0\n    nexthop 1 local\n"},
    {Verb::route_get,
     R"({"dst":"10.1.0.255","type":"broadcast","nexthop":{"id":2,"state":"broadcast"}})",
     "10.1.0.255 broadcast (directed broadcasts are not forwarded)\n    nexthop 2 "
     "broadcast\n"},
    {Verb::route_get, R"({"dst":"10.99.0.1","type":"none"})",
     "10.99.0.1 no route (network unreachable)\n"},
    // Route types: first, as ip route prints them; no dev.
    {Verb::route_show,
     R"([{"type":"unicast","prefix":"10.1.0.0/24","family":4,"dev":"p0","proto":"connected","src":"10.1.0.1"},{"type":"blackhole","prefix":"10.9.0.0/16","family":4,"proto":"static"},{"type":"prohibit","prefix":"2001:db8:99::/48","family":6,"proto":"static"},{"type":"unreachable","prefix":"10.8.0.0/16","family":4,"proto":"static"}])",
     "10.1.0.0/24 dev p0 proto connected src 10.1.0.1\nblackhole 10.9.0.0/16 proto "
     "static\nprohibit 2001:db8:99::/48 proto static\nunreachable 10.8.0.0/16 proto "
     "static\n"},
    {Verb::route_get,
     R"({"dst":"10.9.1.1","family":4,"type":"blackhole","route":"10.9.0.0/16","proto":"static","nexthop":{"id":5,"state":"blackhole"}})",
     "10.9.1.1 blackhole route 10.9.0.0/16 proto static\n    nexthop 5 blackhole\n"},
    {Verb::route_get,
     R"({"dst":"2001:db8:99::1","family":6,"type":"prohibit","route":"2001:db8:99::/48","proto":"static","nexthop":{"id":6,"state":"prohibit"}})",
     "2001:db8:99::1 prohibit route 2001:db8:99::/48 proto static\n    nexthop 6 "
     "prohibit\n"},
    {Verb::route_load,
     R"({"routes":901899,"added":901890,"replaced":9,"file":"/var/lib/routerd/full.routes","seconds":1.2149})",
     "loaded 901899 routes (901890 new, 9 replaced) from /var/lib/routerd/full.routes "
     "in 1.21 s\n"},
    {Verb::neigh_add, R"({})", ""},
    {Verb::neigh_del, R"({})", ""},
    {Verb::neigh_show,
     R"([{"dst":"10.1.0.9","dev":"p0","lladdr":"02:00:00:00:00:09","state":"permanent"},{"dst":"10.1.0.7","dev":"p0","state":"incomplete","queued":3},{"dst":"10.2.0.2","dev":"p1","lladdr":"02:00:00:00:01:02","state":"reachable","queued":0}])",
     "10.1.0.9 dev p0 lladdr 02:00:00:00:00:09 permanent\n10.1.0.7 dev p0 incomplete "
     "queued "
     "3\n10.2.0.2 dev p1 lladdr 02:00:00:00:01:02 reachable\n"},
    {Verb::link_show,
     R"([{"port_id":0,"name":"p0","link":"up","mtu":1500,"mac":"02:00:00:00:00:01","device":"0000:00:04.0","driver":"net_virtio","rx_queues":2,"tx_queues":3,"speed_mbps":10000},{"port_id":1,"name":"p1","link":"down","mtu":9000,"mac":"02:00:00:00:00:02","device":"net_memif0","driver":"net_memif","rx_queues":1,"tx_queues":1,"speed_mbps":0}])",
     "0: p0: state up mtu 1500 link/ether 02:00:00:00:00:01\n    0000:00:04.0 "
     "(net_virtio) rxq 2 "
     "txq 3 speed 10000 Mb/s\n1: p1: state down mtu 9000 link/ether "
     "02:00:00:00:00:02\n    "
     "net_memif0 (net_memif) rxq 1 txq 1\n"},
    {Verb::link_set, R"({"warning":"routes through p1 keep their mtu 1400"})",
     "warning: routes through p1 keep their mtu 1400\n"},
    {Verb::link_set, R"({})", ""},
    {Verb::ping,
     R"({"dst":"10.2.0.2","src":"10.2.0.1","size":56,"df":true,"transmitted":5,"received":1,"results":[{"seq":1,"result":"reply","bytes":64,"from":"10.2.0.2","ttl":64,"time_ms":0.1234},{"seq":2,"result":"local_error","mtu":1400},{"seq":3,"result":"error","from":"10.2.0.9","mtu":1300,"type":3,"code":4},{"seq":4,"result":"error","from":"10.2.0.9","type":3,"code":1},{"seq":5,"result":"timeout"}]})",
     "PING 10.2.0.2 from 10.2.0.1: 56 data bytes, DF\n64 bytes from 10.2.0.2: "
     "icmp_seq=1 ttl=64 "
     "time=0.123 ms\nicmp_seq=2 local error: message too long, mtu=1400\nFrom 10.2.0.9 "
     "icmp_seq=3 "
     "Frag needed and DF set (mtu = 1300)\nFrom 10.2.0.9 icmp_seq=4 ICMP type 3 code "
     "1\nicmp_seq=5 "
     "no answer within 1 s\n5 packets transmitted, 1 received\n"},
    {Verb::ping,
     R"({"dst":"10.2.0.2","src":"10.2.0.1","size":100,"df":false,"transmitted":0,"received":0,"results":[]})",
     "PING 10.2.0.2 from 10.2.0.1: 100 data bytes\n0 packets transmitted, 0 "
     "received\n"},
    {Verb::ping,
     R"({"dst":"10.2.0.2","src":"10.2.0.1","size":56,"df":false,"transmitted":1,"received":1,"ignored":70,"results":[{"seq":1,"result":"reply","bytes":64,"from":"10.2.0.2","ttl":64,"time_ms":0.5}]})",
     "PING 10.2.0.2 from 10.2.0.1: 56 data bytes\n64 bytes from 10.2.0.2: icmp_seq=1 "
     "ttl=64 "
     "time=0.500 ms\n1 packets transmitted, 1 received, 70 other answers ignored\n"},
    {Verb::stats,
     R"({"ports":[{"name":"p0","rx_packets":123456789,"tx_packets":42,"dropped":7,"hw":{"imissed":1,"ierrors":0}},{"name":"p1","rx_packets":0,"tx_packets":0,"dropped":0,"hw":{"imissed":0,"ierrors":0}}],"drops":{"ttl_exceeded":3,"no_route":0},"punts":{},"events":{"arp_requests":12},"generation":6,"routes":4,"fib_prefixes":9,"fib_in_place":11,"fib_flips":2,"fib_standby_behind":0,"fib6_standby_behind":4096,"next_hops":5,"neighbours":2,"neighbour_queued":1,"memory":{"resident_bytes":567279616,"heap_reserved_bytes":536870912},"route_feed":{"feed":"fpm","connected":true,"held":{"ipv4":900,"ipv6":160},"installed":{"ipv4":900,"ipv6":150},"batches":59,"batch_failures":1,"routes_refused":10,"unusable":2,"stale":0,"swept":0},"workers":[{"worker":1,"polls":1000,"busy_polls":10},{"worker":2,"polls":2000,"busy_polls":0}]})",
     "port           rx_packets     tx_packets      dropped   hw_imissed   "
     "hw_ierrors\np0          "
     "    123456789             42            7            1            0\np1          "
     "            "
     "0              0            0            0            0\ndrops:\n  ttl_exceeded  "
     "            "
     "                3\nto control: none\nevents:\n  arp_requests                     "
     "        "
     "12\ngeneration 6  routes 4  fib prefixes 9  next hops 5  neighbours 2 (1 packets "
     "queued)\nIPv4 FIB batches: 11 in place, 2 by switching copies\nFIB copies left by "
     "workers: 0 IPv4 and 4096 IPv6 ops still to apply\nmemory: resident "
     "541 MiB, heap reserved at startup 512 MiB\nroute feed fpm (connected): held 900 "
     "IPv4 160 IPv6, installed 900 IPv4 150 IPv6; batches 59 (failed 1, routes refused "
     "10), unusable 2\nworker 1: "
     "1000 polls, 10 with packets\nworker 2: 2000 polls, 0 with "
     "packets\n"},
    // The route caches: one line a family, "off" when disabled, no percentage before a lookup.
    {Verb::stats,
     R"({"ports":[],"drops":{},"punts":{},"events":{},"generation":3,"routes":2,"fib_prefixes":2,)"
     R"("next_hops":2,"neighbours":0,"neighbour_queued":0,"route_cache":{"enabled":true,)"
     R"("sets":4096,"ways":4,"hits":997,"misses":2,"stale":1,"bypassed_bursts":64,"runs_on":3,)"
     R"("runs_off":1},"route_cache6":{"enabled":true,"sets":4096,"ways":3,"hits":0,"misses":0,)"
     R"("stale":0,"bypassed_bursts":0,"runs_on":0,"runs_off":0},"workers":[]})",
     "port           rx_packets     tx_packets      dropped   hw_imissed   hw_ierrors\n"
     "drops: none\nto control: none\nevents: none\ngeneration 3  routes 2  fib prefixes 2  "
     "next hops 2  neighbours 0 (0 packets queued)\n"
     "route cache IPv4: 4096 sets x 4 ways; hits 997 (99.7 %), misses 2, stale 1; bursts past "
     "it 64; governor on 3 off 1\n"
     "route cache IPv6: 4096 sets x 3 ways; hits 0, misses 0, stale 0; bursts past it 0; "
     "governor on 0 off 0\n"},
    {Verb::stats,
     R"({"ports":[],"drops":{},"punts":{},"events":{},"generation":1,"routes":0,"fib_prefixes":0,)"
     R"("next_hops":0,"neighbours":0,"neighbour_queued":0,"route_cache":{"enabled":false,"sets":0,)"
     R"("ways":0},"route_cache6":{"enabled":false,"sets":0,"ways":0},"workers":[]})",
     "port           rx_packets     tx_packets      dropped   hw_imissed   hw_ierrors\n"
     "drops: none\nto control: none\nevents: none\ngeneration 1  routes 0  fib prefixes 0  "
     "next hops 0  neighbours 0 (0 packets queued)\nroute cache IPv4: off\nroute cache IPv6: "
     "off\n"},
    // ECMP: one line for the groups, each member next hop once (10.2.0.2 is in both groups).
    {Verb::stats,
     R"({"ports":[],"drops":{},"punts":{},"events":{},"generation":1,"routes":2,"fib_prefixes":2,)"
     R"("next_hops":5,"neighbours":0,"neighbour_queued":0,"ecmp_groups":3,"ecmp_member_downs":1,)"
     R"("ecmp_member_ups":1,"ecmp":{"ipv4":[{"id":4,"buckets":128,"members":[{"id":1,"via":)"
     R"("10.2.0.2","dev":"p1","weight":1,"state":"alive","buckets":64,"packets":700},{"id":2,)"
     R"("via":"10.3.0.2","dev":"p2","weight":1,"state":"dead","buckets":0,"packets":300}]},)"
     R"({"id":5,"buckets":128,"members":[{"id":1,"via":"10.2.0.2","dev":"p1","weight":1,)"
     R"("state":"alive","buckets":128,"packets":700}]}],"ipv6":[{"id":6,"buckets":128,)"
     R"("members":[{"id":3,"via":"fe80::2","dev":"p1","weight":2,"state":"alive","buckets":)"
     R"(128,"packets":9}]}]},"workers":[]})",
     "port           rx_packets     tx_packets      dropped   hw_imissed   hw_ierrors\n"
     "drops: none\nto control: none\nevents: none\ngeneration 1  routes 2  fib prefixes 2  "
     "next hops 5  neighbours 0 (0 packets queued)\necmp: 3 groups, member downs 1 ups 1\n"
     "  nexthop via 10.2.0.2 dev p1: 700 packets (alive)\n  nexthop via 10.3.0.2 dev p2: 300 "
     "packets (dead)\n  nexthop via fe80::2 dev p1: 9 packets (alive)\n"},
    {Verb::batch,
     R"({"changes":3,"added":1,"replaced":1,"deleted":1,"fib_changes":4,"seconds":0.00123,)"
     R"("generation":12,"generation_bumps":1})",
     "batch: 3 changes (1 added, 1 replaced, 1 deleted), 4 FIB prefixes changed in "
     "0.001 s, generation 12 (+1)\n"},
    {Verb::reload,
     R"({"file":"/etc/routerd/routerd.conf","addresses_added":1,"addresses_removed":0,"neighbours_set":2,"neighbours_removed":1,"routes_added":3,"routes_replaced":4,"routes_deleted":5,"seconds":0.0456,"restart_needed":["dataplane.workers","ports"]})",
     "reloaded /etc/routerd/routerd.conf: addresses +1 -0, neighbours set 2 removed 1, "
     "routes +3 "
     "~4 -5 in 0.046 s\nchanged but not applied until restart: dataplane.workers "
     "ports\n"},
    {Verb::reload,
     R"({"file":"/etc/routerd/routerd.conf","addresses_added":0,"addresses_removed":0,"neighbours_set":0,"neighbours_removed":0,"routes_added":0,"routes_replaced":0,"routes_deleted":0,"seconds":0.001,"restart_needed":[]})",
     "reloaded /etc/routerd/routerd.conf: addresses +0 -0, neighbours set 0 removed 0, "
     "routes +0 "
     "~0 -0 in 0.001 s\n"},
    {Verb::fpm_show,
     R"({"listen":"127.0.0.1:2620","connected":true,"peer":"127.0.0.1:40312",)"
     R"("connected_for_s":42,"connects":2,"refused":0,"frames":22,"messages":{"route_add":12,)"
     R"("route_del":2,"nexthop_add":9,"nexthop_del":1,"ignored":0},"routes":{"ipv4":8,"ipv6":4},)"
     R"("installed":{"ipv4":6,"ipv6":4},"nexthops":8,"batches":14,"batch_failures":1,)"
     R"("routes_refused":3,)"
     R"("unusable":1,"errors":0,"resync":"done","stale":0,"swept":1,)"
     R"x("last_unusable":"10.9.0.0/16: IPv6 gateway for an IPv4 prefix (RFC 5549: not supported yet)"})x",
     "fpm 127.0.0.1:2620 (peer 127.0.0.1:40312, connected 42 s)\n"
     "  messages: route add 12 del 2, nexthop add 9 del 1, ignored 0; frames 22\n"
     "  routes: 8 IPv4 4 IPv6 held, 6 IPv4 4 IPv6 installed, 8 next hops\n"
     "  resync: done, stale 0, swept 1; connects 2, refused 0, errors 0, unusable 1, "
     "batches 14 "
     "(failed 1, routes refused 3)\n"
     "  last unusable: 10.9.0.0/16: IPv6 gateway for an IPv4 prefix (RFC 5549: not "
     "supported "
     "yet)\n"},
    {Verb::mirror_show,
     R"({"netns":"cp","table":254,"protocols":["static","bird","static"],)"
     R"("receive_buffer":536870912,"dumping":false,"datagrams":40,"overruns":1,)"
     R"("resyncs":2,"flush_events":0,"messages":{"route_add":30,"route_del":3,)"
     R"("nexthop_add":0,"nexthop_del":0,"ignored":7},"routes":{"ipv4":20,"ipv6":5},)"
     R"("installed":{"ipv4":20,"ipv6":5},"nexthops":0,"batches":9,"batch_failures":0,)"
     R"("unusable":0,"resync":"done","stale":0,"swept":2})",
     "kernel routes: table 254 of netns cp, protocols: static bird static\n"
     "  messages: route add 30 del 3, nexthop add 0 del 0, ignored 7; datagrams 40\n"
     "  routes: 20 IPv4 5 IPv6 held, 20 IPv4 5 IPv6 installed, 0 next hops\n"
     "  resync: done, stale 0, swept 2; resyncs 2, overruns 1 (receive buffer 512 "
     "MiB), unusable 0, batches 9 (failed 0, routes refused 0)\n"},
    {Verb::mirror_show,
     R"({"netns":"","table":100,"protocols":"all but kernel",)"
     R"("receive_buffer":536870912,"dumping":true,"datagrams":4,"overruns":0,)"
     R"("resyncs":1,"flush_events":0,"messages":{"route_add":3,"route_del":0,)"
     R"("nexthop_add":0,"nexthop_del":0,"ignored":0},"routes":{"ipv4":3,"ipv6":0},)"
     R"("installed":{"ipv4":3,"ipv6":0},"nexthops":0,"batches":1,"batch_failures":0,)"
     R"("unusable":0,"resync":"replaying","stale":0,"swept":0,"last_error":"x"})",
     "kernel routes: table 100 of routerd's namespace, protocols: all but kernel "
     "(dumping)\n"
     "  messages: route add 3 del 0, nexthop add 0 del 0, ignored 0; datagrams 4\n"
     "  routes: 3 IPv4 0 IPv6 held, 3 IPv4 0 IPv6 installed, 0 next hops\n"
     "  resync: replaying, stale 0, swept 0; resyncs 1, overruns 0 (receive buffer 512 "
     "MiB), unusable 0, batches 1 (failed 0, routes refused 0)\n"
     "  last error: x\n"},
    {Verb::tunnel_add, R"({"name":"gre1"})", ""},
    {Verb::tunnel_del, R"({})", ""},
    {Verb::tunnel_show,
     R"([{"name":"gre1","mode":"gre","local":"10.2.0.1","remote":"10.20.0.2",)"
     R"("key":42,"ttl":64,"mtu":1372,"pmtu":1400,"outer":{"kind":"forward",)"
     R"("dev":"p1","gateway":"10.2.0.2","mtu":1500},"rx_packets":3,)"
     R"("tx_packets":4,"dropped":1},{"name":"gre2","local":"10.2.0.1",)"
     R"("remote":"10.20.0.3","key":null,"ttl":"inherit","mtu":1476,"pmtu":null,)"
     R"("outer":null,"rx_packets":0,"tx_packets":0,"dropped":0}])",
     "gre1: gre/ip remote 10.20.0.2 local 10.2.0.1 ttl 64 key 42\n"
     "    mtu 1372 (path MTU 1400 learnt) outer forward via 10.2.0.2 dev p1\n"
     "    rx 3 tx 4 dropped 1\n"
     "gre2: gre/ip remote 10.20.0.3 local 10.2.0.1 ttl inherit\n"
     "    mtu 1476 outer unreachable\n"
     "    rx 0 tx 0 dropped 0\n"},
};

}  // namespace

TEST_CASE("format_text prints each verb's answer as before", "[routerctl]") {
  for (const Case& c : kCases) {
    INFO(verb_name(c.verb) << " " << c.data);
    CHECK(format_text(c.verb, nlohmann::json::parse(c.data)) == c.expected);
  }
}

TEST_CASE("format_text has a case for every verb", "[routerctl]") {
  for (size_t v = 0; v < kVerbCount; ++v) {
    INFO(verb_name(Verb(v)));
    bool found = false;
    for (const Case& c : kCases) found |= size_t(c.verb) == v;
    CHECK(found);
  }
}

namespace {

// IPv6 answers, and IPv4 ones in the dual-stack shape (objects with "family"): IPv4 text
// must come out as it did before.
const Case kCases6[] = {
    {Verb::route_show,
     R"([{"prefix":"10.1.0.0/24","family":4,"dev":"p0","proto":"connected","src":"10.1.0.1"},{"prefix":"2001:db8:1::/64","family":6,"dev":"p0","proto":"connected","src":"2001:db8:1::1"},{"prefix":"2001:db8::/32","family":6,"via":"fe80::2","dev":"p1","proto":"static"},{"prefix":"::/0","family":6,"via":"2001:db8:1::fe","dev":"p0","proto":"static"}])",
     "10.1.0.0/24 dev p0 proto connected src 10.1.0.1\n2001:db8:1::/64 dev p0 proto connected src "
     "2001:db8:1::1\n2001:db8::/32 via fe80::2 dev p1 proto static\n::/0 via 2001:db8:1::fe dev "
     "p0 proto static\n"},
    {Verb::route_get,
     R"({"dst":"2001:db8:9::1","family":6,"type":"unicast","via":"fe80::2","dev":"p1","src":"2001:db8:2::1","route":"2001:db8::/32","proto":"static","nexthop":{"id":9,"state":"forward","neighbour":"fe80::2","lladdr":"02:00:00:00:01:02","mtu":1500}})",
     "2001:db8:9::1 via fe80::2 dev p1 src 2001:db8:2::1 route 2001:db8::/32 proto static\n    "
     "nexthop 9 forward neighbour fe80::2 lladdr 02:00:00:00:01:02 mtu 1500\n"},
    {Verb::route_get,
     R"({"dst":"2001:db8:1::1","family":6,"type":"local","dev":"p0","nexthop":{"id":1,"state":"local"}})",
     "2001:db8:1::1 local dev p0\n    nexthop 1 local\n"},
    {Verb::route_get, R"({"dst":"2001:db8:99::1","family":6,"type":"none"})",
     "2001:db8:99::1 no route (network unreachable)\n"},
    {Verb::route_get, R"({"dst":"ff02::1","family":6,"type":"multicast"})", "ff02::1 multicast\n"},
    {Verb::route_get,
     R"({"dst":"2001:db8:2::9","family":6,"type":"unicast","dev":"p1","src":"2001:db8:2::1","route":"2001:db8:2::/64","proto":"connected","nexthop":{"id":4,"state":"glean"}})",
     "2001:db8:2::9 dev p1 src 2001:db8:2::1 route 2001:db8:2::/64 proto connected\n    nexthop "
     "4 glean\n"},
    {Verb::neigh_show,
     R"([{"dst":"10.1.0.9","family":4,"dev":"p0","lladdr":"02:00:00:00:00:09","state":"PERMANENT","queued":0},{"dst":"2001:db8:1::2","family":6,"dev":"p0","lladdr":"02:00:00:00:00:02","state":"STALE","queued":0},{"dst":"2001:db8:1::7","family":6,"dev":"p0","state":"INCOMPLETE","queued":2},{"dst":"fe80::1","family":6,"dev":"p1","lladdr":"02:00:00:00:01:01","state":"REACHABLE","router":true,"queued":0},{"dst":"fe80::3","family":6,"dev":"p1","lladdr":"02:00:00:00:01:03","state":"DELAY","router":false},{"dst":"fe80::4","family":6,"dev":"p1","lladdr":"02:00:00:00:01:04","state":"PROBE"},{"dst":"2001:db8:2::5","family":6,"dev":"p1","state":"FAILED"}])",
     "10.1.0.9 dev p0 lladdr 02:00:00:00:00:09 PERMANENT\n2001:db8:1::2 dev p0 lladdr "
     "02:00:00:00:00:02 STALE\n2001:db8:1::7 dev p0 INCOMPLETE queued 2\nfe80::1 dev p1 lladdr "
     "02:00:00:00:01:01 router REACHABLE\nfe80::3 dev p1 lladdr 02:00:00:00:01:03 DELAY\nfe80::4 "
     "dev p1 lladdr 02:00:00:00:01:04 PROBE\n2001:db8:2::5 dev p1 FAILED\n"},
    {Verb::addr_show,
     R"([{"dev":"p0","addresses":[{"address":"10.1.0.1/24","family":4,"scope":"global"},{"address":"2001:db8:1::1/64","family":6,"scope":"global"},{"address":"fe80::1/64","family":6,"scope":"link"}]},{"dev":"p1","addresses":[]}])",
     "p0: 10.1.0.1/24 2001:db8:1::1/64 fe80::1/64 scope link\np1:\n"},
    {Verb::addr_show,
     R"([{"dev":"p0","addresses":[{"local":"2001:db8:1::1","prefixlen":64,"family":6,"scope":"global"},{"local":"fe80::200:ff:fe00:1","prefixlen":64,"family":6,"scope":"link"}]}])",
     "p0: 2001:db8:1::1/64 fe80::200:ff:fe00:1/64 scope link\n"},
    {Verb::addr_show,
     R"([{"dev":"p2","addresses":["10.3.0.1/24","2001:db8:3::5/64","2001:db8:3::6/64","fe80::1/64"],"dad_failed":["2001:db8:3::5/64"],"tentative":["2001:db8:3::6/64","fe80::1/64"]}])",
     "p2: 10.3.0.1/24 2001:db8:3::5/64 dadfailed 2001:db8:3::6/64 tentative fe80::1/64 scope "
     "link tentative\n"},
    {Verb::addr_del,
     R"({"removed_routes":[{"prefix":"2001:db8:9::/48","family":6,"via":"2001:db8:1::2","dev":"p0","proto":"static"}]})",
     "removed routes through this address:\n2001:db8:9::/48 via 2001:db8:1::2 dev p0 proto "
     "static\n"},
    {Verb::route_show_exceptions,
     R"([{"dst":"2001:db8:5::2","family":6,"route":"2001:db8:5::/64","mtu":1400,"mtu_expires_s":597}])",
     "2001:db8:5::2 (route 2001:db8:5::/64) mtu 1400 expires 597s\n"},
    {Verb::route_summary,
     R"({"routes":3,"connected":2,"static":1,"by_length":{"0":1,"64":2,"128":1},"fib_prefixes":4,"next_hops":3,"generation":2,"commits":2,"route_updates":4})",
     "3 routes (2 connected, 1 static), 4 FIB prefixes, 3 next hops\ngeneration 2, 2 commits, 4 "
     "route updates\nby prefix length: /0 1 /64 2 /128 1\n"},
    {Verb::route_summary,
     R"({"routes":6,"connected":2,"static":1,"daemon":{"bgp":2,"static":1},"by_length":{"24":6},)"
     R"("fib_prefixes":9,"next_hops":4,"generation":7,"commits":7,"route_updates":9})",
     "6 routes (2 connected, 1 static), 9 FIB prefixes, 4 next hops\ngeneration 7, 7 commits, 9 "
     "route updates\nby prefix length: /24 6\nfrom the routing daemon: bgp 2 static 1\n"},
    {Verb::ping,
     R"({"dst":"2001:db8:5::2","src":"2001:db8:2::1","size":1452,"df":false,"transmitted":4,"received":1,"results":[{"seq":1,"result":"reply","bytes":1460,"from":"2001:db8:5::2","ttl":63,"time_ms":0.25},{"seq":2,"result":"error","from":"2001:db8:2::2","mtu":1400,"type":2,"code":0},{"seq":3,"result":"error","from":"2001:db8:2::2","type":1,"code":0},{"seq":4,"result":"local_error","mtu":1400}]})",
     "PING 2001:db8:5::2 from 2001:db8:2::1: 1452 data bytes\n1460 bytes from 2001:db8:5::2: "
     "icmp_seq=1 ttl=63 time=0.250 ms\nFrom 2001:db8:2::2 icmp_seq=2 Packet too big: "
     "mtu=1400\nFrom 2001:db8:2::2 icmp_seq=3 ICMPv6 type 1 code 0\nicmp_seq=4 local error: "
     "message too long, mtu=1400\n4 packets transmitted, 1 received\n"},
};

}  // namespace

TEST_CASE("format_text prints IPv6 answers and dual-stack IPv4 ones", "[routerctl]") {
  for (const Case& c : kCases6) {
    INFO(verb_name(c.verb) << " " << c.data);
    CHECK(format_text(c.verb, nlohmann::json::parse(c.data)) == c.expected);
  }
}

TEST_CASE("link show prints how each port receives multicast and what RSS hashes on",
          "[routerctl]") {
  const char* data =
      R"([{"port_id":0,"name":"p0","link":"up","mtu":1500,"mac":"02:00:00:00:00:01",)"
      R"("device":"net_tap0","driver":"net_tap","rx_queues":1,"tx_queues":1,"speed_mbps":0,)"
      R"("multicast":{"mode":"filter","groups":4},"rss":{"types":[],"ecmp":[]},)"
      R"("kernel":{"name":"p0","ifindex":7,"netns":"cp","link":"up","addresses":3,)"
      R"("to_kernel":12,"from_kernel":9}},)"
      R"({"port_id":1,"name":"p1","link":"up","mtu":1500,"mac":"02:00:00:00:00:02",)"
      R"("device":"net_null1","driver":"net_null","rx_queues":1,"tx_queues":1,"speed_mbps":0,)"
      R"("multicast":{"mode":"allmulticast","groups":3,)"
      R"("reason":"the device has no multicast filter"},)"
      R"("rss":{"types":["ipv4","nonfrag_ipv4_tcp","nonfrag_ipv4_udp"],"ecmp":[4]}},)"
      R"({"port_id":3,"name":"p3","link":"up","mtu":1500,"mac":"02:00:00:00:00:04",)"
      R"("device":"0000:03:00.0","driver":"net_mlx5","rx_queues":2,"tx_queues":2,)"
      R"("speed_mbps":100000,"multicast":null,"rss":{"types":["ipv4","ipv6"],"ecmp":[]}},)"
      R"({"port_id":4,"name":"p4","link":"up","mtu":1500,"mac":"02:00:00:00:00:05",)"
      R"("device":"0000:03:00.1","driver":"net_mlx5","rx_queues":2,"tx_queues":2,)"
      R"("speed_mbps":0,"multicast":null,"rss":{"types":["ipv4","ipv6"],"ecmp":[4,6]}},)"
      R"({"port_id":2,"name":"gre1","link":"up","mtu":1476,"mac":"02:00:00:00:00:03",)"
      R"("device":"10.0.0.1 -> 10.0.0.2","driver":"gre","rx_queues":0,"tx_queues":0,)"
      R"("speed_mbps":0,"multicast":null,"rss":null,"kernel":null}])";
  CHECK(
      format_text(Verb::link_show, nlohmann::json::parse(data)) ==
      "0: p0: state up mtu 1500 link/ether 02:00:00:00:00:01\n"
      "    net_tap0 (net_tap) rxq 1 txq 1 rss off\n"
      "    multicast filter (4 groups)\n"
      "    kernel p0 ifindex 7 netns cp state up addresses 3 frames to 12 from 9\n"
      "1: p1: state up mtu 1500 link/ether 02:00:00:00:00:02\n"
      "    net_null1 (net_null) rxq 1 txq 1 rss ipv4,nonfrag_ipv4_tcp,nonfrag_ipv4_udp, ECMP takes "
      "it for IPv4\n"
      "    multicast allmulticast (3 groups): the device has no multicast filter\n"
      "3: p3: state up mtu 1500 link/ether 02:00:00:00:00:04\n"
      "    0000:03:00.0 (net_mlx5) rxq 2 txq 2 speed 100000 Mb/s rss ipv4,ipv6, ECMP hashes "
      "itself\n"
      "4: p4: state up mtu 1500 link/ether 02:00:00:00:00:05\n"
      "    0000:03:00.1 (net_mlx5) rxq 2 txq 2 rss ipv4,ipv6, ECMP takes it for IPv4 and IPv6\n"
      "2: gre1: state up mtu 1476 link/ether 02:00:00:00:00:03\n"
      "    10.0.0.1 -> 10.0.0.2 (gre) rxq 0 txq 0\n");
}

TEST_CASE("route show and route get print ECMP routes as ip-route(8) does, with each member",
          "[routerctl][ecmp]") {
  const char* show =
      R"([{"type":"unicast","family":4,"prefix":"10.9.0.0/16","proto":"static","group":12,)"
      R"("nexthops":[{"via":"10.2.0.2","dev":"p1","weight":1,"state":"alive","buckets":32,)"
      R"("packets":25012},{"via":"10.3.0.2","dev":"p2","weight":3,"state":"dead","buckets":0,)"
      R"("packets":7}]}])";
  CHECK(format_text(Verb::route_show, nlohmann::json::parse(show)) ==
        "10.9.0.0/16 proto static\n"
        "\tnexthop via 10.2.0.2 dev p1 weight 1 alive buckets 32 packets 25012\n"
        "\tnexthop via 10.3.0.2 dev p2 weight 3 dead buckets 0 packets 7\n");
  const char* get =
      R"({"dst":"10.9.7.7","type":"unicast","via":"10.3.0.2","dev":"p2","src":"10.3.0.1",)"
      R"("route":"10.9.0.0/16","proto":"static","group":{"id":12,"bucket":77,"buckets":128,)"
      R"("members":2,"alive":2},"nexthop":{"id":9,"state":"forward","neighbour":"10.3.0.2",)"
      R"("lladdr":"02:00:00:00:02:02","mtu":1500}})";
  CHECK(format_text(Verb::route_get, nlohmann::json::parse(get)) ==
        "10.9.7.7 via 10.3.0.2 dev p2 src 10.3.0.1 route 10.9.0.0/16 proto static\n"
        "    group 12 bucket 77 of 128 (2 next hops, 2 alive)\n"
        "    nexthop 9 forward neighbour 10.3.0.2 lladdr 02:00:00:00:02:02 mtu 1500\n");
  // Ports whose NIC hash the workers take: the answer says where it may not hold.
  nlohmann::json rss = nlohmann::json::parse(get);
  rss["group"]["rss_ports"] = {"p0", "p1"};
  CHECK(format_text(Verb::route_get, rss) ==
        "10.9.7.7 via 10.3.0.2 dev p2 src 10.3.0.1 route 10.9.0.0/16 proto static\n"
        "    group 12 bucket 77 of 128 (2 next hops, 2 alive)\n"
        "    (by routerd's own hash: arriving on p0, p1, the flow takes the member of the NIC's "
        "RSS hash instead)\n"
        "    nexthop 9 forward neighbour 10.3.0.2 lladdr 02:00:00:00:02:02 mtu 1500\n");
  rss["group"]["rss_ports"] = nlohmann::json::array();
  CHECK(format_text(Verb::route_get, rss) ==
        format_text(Verb::route_get, nlohmann::json::parse(get)));
}

TEST_CASE("RFC 5549: an IPv4 route's IPv6 gateway prints as ip-route(8) prints RTA_VIA",
          "[routerctl][rfc5549]") {
  const char* summary =
      R"({"routes":5,"connected":2,"static":3,"via_ipv6":2,"by_length":{"16":3,"24":2},)"
      R"("fib_prefixes":7,"next_hops":5,"generation":9,"commits":8,"route_updates":12})";
  CHECK(format_text(Verb::route_summary, nlohmann::json::parse(summary)) ==
        "5 routes (2 connected, 3 static), 7 FIB prefixes, 5 next hops\n"
        "generation 9, 8 commits, 12 route updates\nby prefix length: /16 3 /24 2\n"
        "through IPv6 gateways (RFC 5549): 2\n");
  const char* show =
      R"([{"type":"unicast","family":4,"prefix":"10.9.0.0/16","via":"fe80::2","via_family":6,)"
      R"("dev":"p1","proto":"bgp","origin":"fpm"},)"
      R"({"type":"unicast","family":4,"prefix":"10.8.0.0/16","proto":"static","group":3,)"
      R"("nexthops":[{"via":"10.1.0.2","dev":"p0","weight":1,"state":"alive","buckets":64,)"
      R"("packets":5},{"via":"fe80::2","via_family":6,"dev":"p1","weight":2,"state":"dead",)"
      R"("buckets":0,"packets":0}]},)"
      R"({"type":"unicast","family":6,"prefix":"2001:db8::/32","via":"fe80::2","dev":"p1",)"
      R"("proto":"static"}])";
  CHECK(format_text(Verb::route_show, nlohmann::json::parse(show)) ==
        "10.9.0.0/16 via inet6 fe80::2 dev p1 proto bgp\n"
        "10.8.0.0/16 proto static\n"
        "\tnexthop via 10.1.0.2 dev p0 weight 1 alive buckets 64 packets 5\n"
        "\tnexthop via inet6 fe80::2 dev p1 weight 2 dead buckets 0 packets 0\n"
        "2001:db8::/32 via fe80::2 dev p1 proto static\n");
  const char* get =
      R"({"dst":"10.9.7.7","type":"unicast","via":"fe80::2","via_family":6,"dev":"p1",)"
      R"("src":"10.2.0.1","route":"10.9.0.0/16","proto":"static","nexthop":{"id":9,)"
      R"("state":"forward","neighbour":"fe80::2","lladdr":"02:00:00:00:02:02","mtu":1500}})";
  CHECK(format_text(Verb::route_get, nlohmann::json::parse(get)) ==
        "10.9.7.7 via inet6 fe80::2 dev p1 src 10.2.0.1 route 10.9.0.0/16 proto static\n"
        "    nexthop 9 forward neighbour fe80::2 lladdr 02:00:00:00:02:02 mtu 1500\n");
}
