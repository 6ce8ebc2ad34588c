#!/usr/bin/env bash
# 28-ipv6: dual-stack forwarding. Hosts on three ports reach each other over IPv6 (ping -6,
# traceroute -6), the router answers pings to its global and link-local addresses, resolves
# neighbours with NDP, sends Time Exceeded, No Route and Packet Too Big, answers a packet
# for a next hop that never answers NDP with Address Unreachable after 3 solicitations, never
# forwards a link-local source off its link (Unreachable code 2 back), and takes IPv6 routes
# at run time (one mixed batch is one generation bump). Also runs against the Linux
# reference (ROUTER_IMPL=linux) for the traffic checks.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_cmds traceroute tracepath iperf3 tcpdump stdbuf
tb_require_scapy
export TB_IPV6=1
tb_start

tb_check "h0 -> h1 (2001:db8:2::2): 5 pings, 0% loss" tb_ping 0 2001:db8:2::2 5
tb_check "h2 -> h1 (2001:db8:2::2): 5 pings, 0% loss" tb_ping 2 2001:db8:2::2 5
tb_check "h1 -> h0 (2001:db8:1::2): 5 pings, 0% loss" tb_ping 1 2001:db8:1::2 5
tb_check "h0 -> the router's address on p2 (2001:db8:3::1): 3 pings, 0% loss" \
  tb_ping 0 2001:db8:3::1 3

# The router's link-local address on p0, as h0 learnt it from NDP.
router_ll() {
  hx 0 ip -6 -j neigh show dev eth0 | jq -r '.[] | select(.dst | startswith("fe80:")) | .dst' |
    head -n1
}
ping_ll() {
  local ll
  ll=$(router_ll)
  [[ -n $ll ]] || { tb_say "     h0 has no link-local neighbour (the router)"; return 1; }
  tb_ping 0 "$ll%eth0" 3
}
if tb_is_routerd; then
  # Something to the link-local address first, so h0 has it as a neighbour.
  hx 0 ping -6 -c1 -W1 ff02::2%eth0 >/dev/null 2>&1 || true
  tb_check "h0 -> the router's link-local address: 3 pings, 0% loss" ping_ll
fi

check_trace6() {
  local out hop1 hop2 last
  tb_run_capture out hx 0 timeout 30 traceroute -6 -n -q1 -w1 "$@" 2001:db8:2::2 || true
  tb_indent <<<"$out"
  hop1=$(awk '$1 == "1" {print $2}' <<<"$out")
  hop2=$(awk '$1 == "2" {print $2}' <<<"$out")
  last=$(awk '$1 ~ /^[0-9]+$/ {n = $1} END {print n}' <<<"$out")
  [[ $hop1 == 2001:db8:1::1 && $hop2 == 2001:db8:2::2 && $last == 2 ]] && return 0
  tb_say "     expected hop 1 = 2001:db8:1::1, hop 2 = 2001:db8:2::2, 2 hops; got '$hop1' '$hop2' $last"
  return 1
}
tb_check "traceroute -6 (UDP) h0 -> h1: 2001:db8:1::1 then 2001:db8:2::2" check_trace6
tb_check "traceroute -6 -I (ICMPv6) h0 -> h1: 2001:db8:1::1 then 2001:db8:2::2" check_trace6 -I

# TCP over IPv6 beside IPv4's (the hosts are dual-stack).
tb_bg_host "$TB_DIR/iperf3-server.log" 2 iperf3 -s -1 -B 2001:db8:3::2
tb_wait_until 10 eval "hx 2 ss -ltn | grep -q '2001:db8:3::2\]:5201'" ||
  tb_die "iperf3 server did not start: $(cat "$TB_DIR/iperf3-server.log")"
check_iperf6() {
  local rc=0 bps
  hx 0 timeout 60 iperf3 -c 2001:db8:3::2 -t 3 -J >"$TB_DIR/iperf3.json" 2>&1 || rc=$?
  bps=$(jq -r '.end.sum_received.bits_per_second // 0' "$TB_DIR/iperf3.json" 2>/dev/null || echo 0)
  tb_say "     h0 -> h2 TCP over IPv6: $(awk -v b="$bps" 'BEGIN {printf "%.1f", b / 1e6}') Mbit/s (exit $rc)"
  ((rc == 0)) && awk -v b="$bps" 'BEGIN {exit !(b > 0)}'
}
tb_check "iperf3 -c 2001:db8:3::2 -t 3 from h0: completes with nonzero throughput" check_iperf6

tb_check "hop limit 1: Time Exceeded from 2001:db8:1::1" \
  tb_expect_match 'From 2001:db8:1::1.*[Tt]ime exceeded' hx 0 ping -6 -n -c1 -W2 -t 1 2001:db8:2::2
tb_check "no route (2001:db8:99::1): Destination unreachable, no route" \
  tb_expect_match 'From 2001:db8:1::1.*(No route|[Uu]nreachable)' \
  hx 0 ping -6 -n -c1 -W2 2001:db8:99::1

# A next hop nobody answers: 2001:db8:66::/48 via 2001:db8:2::99 on h1's link. The router
# sends 3 Neighbor Solicitations 1 s apart (RFC 4861 7.2.2, MAX_MULTICAST_SOLICIT,
# RetransTimer), then answers the queued packet with Destination Unreachable code 3, address
# unreachable (RFC 4443 3.1).
if tb_is_routerd; then
  rctl route add 2001:db8:66::/48 via 2001:db8:2::99
else
  ip -n "$TB_RTR_NS" -6 route add 2001:db8:66::/48 via 2001:db8:2::99 dev "$(tb_tap 1)"
fi
NDF0=$TB_DIR/ndfail-h0.pcap NDF1=$TB_DIR/ndfail-h1.pcap
tb_capture "$TB_DIR/ndfail-h0.log" 0 "$NDF0" 'icmp6 and (ip6[40] == 1 or ip6[40] == 128)'
NPID0=$TB_LAST_PID
tb_capture "$TB_DIR/ndfail-h1.log" 1 "$NDF1" 'icmp6 and ip6[40] == 135'
NPID1=$TB_LAST_PID
! tb_is_routerd || tb_stats "$TB_DIR/nd0"
tb_check "unanswered next hop 2001:db8:2::99: ping 2001:db8:66::1 gets Address unreachable" \
  tb_expect_match 'From 2001:db8:1::1 icmp_seq=1 Destination unreachable: Address unreachable' \
  hx 0 ping -6 -n -c1 -W8 2001:db8:66::1
sleep 0.5
! tb_is_routerd || tb_stats "$TB_DIR/nd1"
tb_bg_stop "$NPID0"
tb_bg_stop "$NPID1"
# ndfail_timing: the solicitations for 2001:db8:2::99 on h1 and the code-3 Unreachable at h0
# quoting the echo request to 2001:db8:66::1, with their times relative to that request.
ndfail_timing() {
  local out
  out=$("$TB_PY" - "$NDF0" "$NDF1" <<'PY' 2>&1
import sys
from scapy.all import (IPv6, IPerror6, ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6ND_NS,
                       rdpcap)
h0, h1 = rdpcap(sys.argv[1]), rdpcap(sys.argv[2])
req = [p for p in h0 if ICMPv6EchoRequest in p and IPv6 in p and p[IPv6].dst == "2001:db8:66::1"
       and IPerror6 not in p]
if not req:
    print("no echo request to 2001:db8:66::1 captured on h0"); sys.exit(1)
t0, ident = float(req[0].time), req[0][ICMPv6EchoRequest].id
for p in h0:
    print(f"h0 +{float(p.time) - t0:.2f} s: {p.summary()}")
ns = [float(p.time) - t0 for p in h1 if ICMPv6ND_NS in p and p[ICMPv6ND_NS].tgt == "2001:db8:2::99"]
err = [float(p.time) - t0 for p in h0 if ICMPv6DestUnreach in p and
       p[IPv6].src == "2001:db8:1::1" and p[ICMPv6DestUnreach].code == 3 and IPerror6 in p and
       p[IPerror6].src == "2001:db8:1::2" and p[IPerror6].dst == "2001:db8:66::1" and
       ICMPv6EchoRequest in p[IPerror6] and p[IPerror6][ICMPv6EchoRequest].id == ident]
print("solicitations at " + " ".join(f"{t:.2f}" for t in ns) + " s; code 3 at " +
      " ".join(f"{t:.2f}" for t in err) + " s")
gaps = [b - a for a, b in zip(ns, ns[1:])]
ok = (len(ns) == 3 and all(0.7 <= g <= 1.5 for g in gaps) and len(err) == 1 and
      err[0] - ns[-1] >= 0.7)
sys.exit(0 if ok else 1)
PY
)
  local rc=$?
  tb_indent <<<"$out"
  ((rc == 0))
}
tb_check "3 solicitations for 2001:db8:2::99 about 1 s apart, then code 3 quoting the echo" \
  ndfail_timing
if tb_is_routerd; then
  tb_check "neighbour failure and its Unreachable counted" \
    tb_stat_rose "$TB_DIR/nd0" "$TB_DIR/nd1" 1 '.drops.neighbour_failed' '.events.neighbour_failed' \
    '.events.icmp6_unreachable_sent'
  rctl route del 2001:db8:66::/48
else
  ip -n "$TB_RTR_NS" -6 route del 2001:db8:66::/48
fi

if tb_is_routerd; then
  # Packet Too Big: p1 (towards h1) gets a 1400-byte MTU; h0 sends 1452-byte datagrams.
  rctl link set p1 mtu 1400
  hx 1 ip link set eth0 mtu 1400
  tb_check "1452-byte ping to h1 over a 1400-byte link: Packet too big, mtu=1400" \
    tb_expect_match 'From 2001:db8:1::1.*[Pp]acket too big.*mtu ?= ?1400' \
    hx 0 ping -6 -n -c1 -W2 -M do -s 1404 2001:db8:2::2
  check_tracepath() {
    local out
    tb_run_capture out hx 0 timeout 30 tracepath -6 -n 2001:db8:2::2 || true
    tb_indent <<<"$out"
    grep -Eq 'pmtu 1400' <<<"$out" && grep -Eq 'reached' <<<"$out"
  }
  tb_check "tracepath -6 h0 -> h1 finds pmtu 1400 and reaches it" check_tracepath
  tb_check "after PTB: 1400-byte pings (fragmented by h0) get through" tb_ping 0 2001:db8:2::2 3

  neigh_state() {  # neigh_state STATE: 2001:db8:2::2 at h1's MAC in STATE
    rctl_j neigh show | jq -e --arg s "$1" '.[] | select(.family == 6 and
      .dst == "2001:db8:2::2" and .state == $s and .lladdr == "02:00:00:00:01:02")' >/dev/null
  }
  # h1 solicited the router first, so the router learnt h1 STALE (RFC 4861 7.2.3); forwarding
  # to it makes it DELAY, then PROBE, and h1's solicited answer makes it REACHABLE.
  neigh_reachable() {
    local t0=$SECONDS
    while ((SECONDS - t0 < 12)); do
      hx 0 ping -6 -c1 -W1 2001:db8:2::2 >/dev/null 2>&1 || true
      if neigh_state REACHABLE; then
        rctl -6 neigh show | tb_indent
        tb_say "     REACHABLE after $((SECONDS - t0)) s"
        return 0
      fi
      sleep 0.5
    done
    rctl -6 neigh show | tb_indent
    return 1
  }
  tb_check "neigh show: 2001:db8:2::2 becomes REACHABLE at h1's MAC (NDP: STALE, DELAY, PROBE)" \
    neigh_reachable
  # A fresh resolution: h0 forgets the router and pings it, so its entry is made from the
  # router's solicited NA just now: REACHABLE (RFC 4861 7.2.5), with the R flag as "router".
  router_flag_reachable() {
    local mac out
    mac=$(tb_router_mac 0)
    hx 0 ip -6 neigh del 2001:db8:1::1 dev eth0 2>/dev/null || true
    hx 0 ping -6 -n -c1 -W2 2001:db8:1::1 >/dev/null 2>&1 || true
    out=$(hx 0 ip -6 neigh show 2001:db8:1::1)
    tb_indent <<<"$out"
    grep -Eq "^2001:db8:1::1 dev eth0 lladdr $mac router REACHABLE" <<<"$out" && return 0
    tb_say "     expected: 2001:db8:1::1 dev eth0 lladdr $mac router REACHABLE"
    return 1
  }
  tb_check "h0 sees the router REACHABLE as a router (fresh NA with the R flag)" \
    router_flag_reachable
  tb_check "neigh show -6 lists only IPv6 neighbours" \
    bash -c "$(declare -f rctl rctl_j); ROUTERCTL='$ROUTERCTL' TB_SOCK='$TB_SOCK' \
      rctl_j -6 neigh show | jq -e 'length > 0 and all(.[]; .family == 6)'"

  # Routes at run time: h1 holds 2001:db8:77::1 on its loopback.
  hx 1 ip -6 addr add 2001:db8:77::1/128 dev lo
  tb_check "before the route: 2001:db8:77::1 is unreachable" \
    tb_expect_match '(No route|[Uu]nreachable)' hx 0 ping -6 -n -c1 -W2 2001:db8:77::1
  gen_before=$(rctl_j route summary | jq .generation)
  printf 'route add 2001:db8:77::/48 via 2001:db8:2::2\nroute add 10.77.0.0/16 via 10.2.0.2\n' \
    >"$TB_DIR/mixed.batch"
  tb_check "a batch of one IPv6 and one IPv4 route is accepted" \
    tb_expect_ok rctl batch "$TB_DIR/mixed.batch"
  gen_after=$(rctl_j route summary | jq .generation)
  one_bump() {
    tb_say "     generation $gen_before -> $gen_after"
    ((gen_after == gen_before + 1))
  }
  tb_check "the mixed batch was one generation bump" one_bump
  tb_check "route get 2001:db8:77::1: via 2001:db8:2::2 dev p1" \
    tb_expect_match '2001:db8:2::2.*p1|p1.*2001:db8:2::2' rctl route get 2001:db8:77::1
  tb_check "after the route: h0 -> 2001:db8:77::1, 0% loss" tb_ping 0 2001:db8:77::1 3
  # Replaces under a ping: the route flips between h1's global and link-local addresses
  # (the same host), 20 times during 150 pings at 50 per second; nothing may be lost.
  ll1=$(hx 1 ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1 | head -n1)
  replaces() {  # prints how many of the 20 replaces routerctl refused
    local i bad=0
    for ((i = 0; i < 20; i++)); do
      if ((i % 2)); then
        rctl route replace 2001:db8:77::/48 via 2001:db8:2::2 || bad=$((bad + 1))
      else
        rctl route replace 2001:db8:77::/48 via "$ll1" dev p1 || bad=$((bad + 1))
      fi
      sleep 0.1
    done
    echo "$bad"
  }
  replaces_under_ping() {
    local out rc=0 bad
    tb_bg_host "$TB_DIR/ping6.log" 0 ping -6 -n -i 0.02 -c 150 2001:db8:77::1
    local pid=$TB_LAST_PID
    bad=$(replaces 2>"$TB_DIR/replaces.err")
    wait "$pid" || rc=$?
    out=$(cat "$TB_DIR/ping6.log")
    grep -E 'packet loss' <<<"$out" | tb_indent
    tb_say "     replaces refused: $bad"
    [[ -s $TB_DIR/replaces.err ]] && tb_indent <"$TB_DIR/replaces.err"
    ((rc == 0 && bad == 0)) && grep -q ' 0% packet loss' <<<"$out"
  }
  tb_check "20 route replaces (via $ll1 dev p1 / via 2001:db8:2::2) under ping -6: 0% loss" \
    replaces_under_ping
  rctl route del 2001:db8:77::/48
  tb_check "after route del: unreachable again" \
    tb_expect_match '(No route|[Uu]nreachable)' hx 0 ping -6 -n -c1 -W2 2001:db8:77::1
  tb_check "route show -6 lists the connected IPv6 subnets" \
    tb_expect_match '2001:db8:3::/64' rctl -6 route show
  tb_check "a link-local gateway without dev is refused" \
    tb_expect_match 'link-local gateway.*dev' rctl route add 2001:db8:88::/48 via fe80::2

  # A link-local source must not leave its link: h0 sends to h1 from its link-local address
  # (echo id 0x5c0e), and, beside it, the same from its global address (id 0x5c0f), which
  # h1 must see: its capture works. The router answers the first with Destination
  # Unreachable code 2 (RFC 4443 3.1, RFC 4007 9) back to h0's link-local address.
  ll0=$(hx 0 ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1 | head -n1)
  SCOPE0=$TB_DIR/scope-h0.pcap SCOPE1=$TB_DIR/scope-h1.pcap
  tb_capture "$TB_DIR/scope-h0.log" 0 "$SCOPE0" 'icmp6 and ip6[40] == 1'
  SPID0=$TB_LAST_PID
  tb_capture "$TB_DIR/scope-h1.log" 1 "$SCOPE1" 'icmp6 and ip6[40] == 128 and ip6 dst 2001:db8:2::2'
  SPID1=$TB_LAST_PID
  echo "{}" >"$TB_DIR/zero"
  tb_stats "$TB_DIR/s0"
  hx 0 "$TB_PY" - "$(tb_router_mac 0)" "$ll0" <<'PY' >/dev/null 2>&1 || true
import sys
from scapy.all import Ether, IPv6, ICMPv6EchoRequest, UDP, Raw, sendp
mac, ll0 = sys.argv[1], sys.argv[2]
f = [Ether(dst=mac) / IPv6(src=ll0, dst="2001:db8:2::2") / ICMPv6EchoRequest(id=0x5c0e, seq=1),
     Ether(dst=mac) / IPv6(src="2001:db8:1::2", dst="2001:db8:2::2") / ICMPv6EchoRequest(id=0x5c0f, seq=1)]
# Payload length beyond the frame, and a multicast source: dropped and counted.
bad = Ether(dst=mac) / IPv6(src="2001:db8:1::2", dst="2001:db8:2::2", plen=200) / UDP() / Raw(b"x" * 8)
f += [bad, Ether(dst=mac) / IPv6(src="ff02::1", dst="2001:db8:2::2") / UDP()]
sendp(f, iface="eth0", verbose=False)
PY
  sleep 1
  tb_stats "$TB_DIR/s1"
  tb_bg_stop "$SPID0"
  tb_bg_stop "$SPID1"
  tb_check "link-local source, truncated payload, multicast source: counted" \
    tb_stat_rose "$TB_DIR/s0" "$TB_DIR/s1" 1 '.drops.beyond_scope' '.drops.ipv6_truncated' \
    '.drops.ipv6_bad_source'
  # scope_seen: "UNREACH2 LL_AT_H1 GLOBAL_AT_H1", counts of: code-2 Unreachables at h0 to
  # its link-local address quoting the echo id 0x5c0e from it; that echo at h1; the global one.
  scope_seen() {
    "$TB_PY" - "$SCOPE0" "$SCOPE1" "$ll0" <<'PY'
import sys
from scapy.all import IPv6, IPerror6, ICMPv6DestUnreach, ICMPv6EchoRequest, rdpcap
h0, h1, ll0 = rdpcap(sys.argv[1]), rdpcap(sys.argv[2]), sys.argv[3]
def echo(p, cls, src, ident):
    return cls in p and p[cls].src == src and ICMPv6EchoRequest in p[cls] and \
        p[cls][ICMPv6EchoRequest].id == ident
for p in h0:
    print("h0:", p.summary(), file=sys.stderr)
for p in h1:
    print("h1:", p.summary(), file=sys.stderr)
u = sum(1 for p in h0 if ICMPv6DestUnreach in p and p[ICMPv6DestUnreach].code == 2 and
        p[IPv6].dst == ll0 and echo(p, IPerror6, ll0, 0x5c0e) and
        p[IPerror6].dst == "2001:db8:2::2")
ll = sum(1 for p in h1 if echo(p, IPv6, ll0, 0x5c0e))
g = sum(1 for p in h1 if echo(p, IPv6, "2001:db8:1::2", 0x5c0f))
print(u, ll, g)
PY
  }
  read -r scope_u scope_ll scope_g < <(scope_seen 2>"$TB_DIR/scope.txt" || echo "-1 -1 -1")
  scope_unreach() {
    tb_indent <"$TB_DIR/scope.txt"
    tb_say "     h0 got $scope_u Unreachable code 2 quoting its echo from $ll0 (expected 1)"
    ((scope_u == 1))
  }
  tb_check "h0 gets Destination Unreachable code 2 (beyond scope) quoting its link-local echo" \
    scope_unreach
  scope_not_forwarded() {
    tb_say "     h1 saw $scope_ll echo requests from $ll0 (expected 0), $scope_g from 2001:db8:1::2 (expected 1)"
    ((scope_ll == 0 && scope_g == 1))
  }
  tb_check "h1 never sees the link-local-sourced echo (the global one beside it arrives)" \
    scope_not_forwarded
  # An ICMPv6 error flood: 3,000 packets with hop limit 1 as fast as scapy sends them. The
  # errors are held to the token bucket (ipv6.icmp_rate 1000/s, burst 50), the rest counted.
  tb_stats "$TB_DIR/f0"
  hx 0 "$TB_PY" - "$(tb_router_mac 0)" <<'PY' >/dev/null 2>&1 || true
import sys
from scapy.all import Ether, IPv6, UDP, sendp
mac = sys.argv[1]
sendp([Ether(dst=mac) / IPv6(src="2001:db8:1::2", dst="2001:db8:2::2", hlim=1) / UDP(dport=33434 + i % 100)
       for i in range(3000)], iface="eth0", verbose=False)
PY
  sleep 0.5
  tb_stats "$TB_DIR/f1"
  flood_limited() {
    local sent limited secs
    sent=$(tb_stat_delta "$TB_DIR/f0" "$TB_DIR/f1" '.events.icmp6_time_exceeded_sent')
    limited=$(tb_stat_delta "$TB_DIR/f0" "$TB_DIR/f1" '.drops.icmp_rate_limited + .drops.icmp_source_limited')
    tb_say "     3000 packets with hop limit 1: $sent Time Exceeded sent, $limited suppressed by the limits"
    ((sent > 0 && sent < 3000 && limited > 0))
  }
  tb_check "an ICMPv6 error flood is rate-limited" flood_limited
  tb_check "ICMPv6 errors and NDP show in the event counters" \
    tb_stat_rose "$TB_DIR/zero" "$TB_DIR/s1" 1 '.events.icmp6_time_exceeded_sent' \
    '.events.icmp6_too_big_sent' '.events.ndp_solicit_sent' '.events.ndp_advert_sent'
fi
tb_finish
