#!/usr/bin/env bash
# 28-ipv6: dual-stack forwarding. Hosts on three ports reach each other over IPv6 (ping -6,
# traceroute -6), the router answers pings to its global and link-local addresses, resolves
# neighbours with NDP, sends Time Exceeded, No Route and Packet Too Big, never forwards a
# link-local source off its link, and takes IPv6 routes at run time (one mixed batch is one
# generation bump). Also runs against the Linux reference (ROUTER_IMPL=linux) for the
# traffic checks.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_cmds traceroute tracepath iperf3
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
  tb_check "h0 sees the router as a router (NA with the R flag)" \
    tb_expect_match '2001:db8:1::1 .*router' hx 0 ip -6 neigh show 2001:db8:1::1
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

  # A link-local source must not leave its link: h0 sends to h1 from its link-local address.
  echo "{}" >"$TB_DIR/zero"
  tb_stats "$TB_DIR/s0"
  hx 0 "$TB_PY" - "$(tb_router_mac 0)" <<'PY' >/dev/null 2>&1 || true
import sys
from scapy.all import Ether, IPv6, ICMPv6EchoRequest, UDP, Raw, sendp
mac = sys.argv[1]
f = [Ether(dst=mac) / IPv6(src="fe80::99", dst="2001:db8:2::2") / ICMPv6EchoRequest()]
# Payload length beyond the frame, and a multicast source: dropped and counted.
bad = Ether(dst=mac) / IPv6(src="2001:db8:1::2", dst="2001:db8:2::2", plen=200) / UDP() / Raw(b"x" * 8)
f += [bad, Ether(dst=mac) / IPv6(src="ff02::1", dst="2001:db8:2::2") / UDP()]
sendp(f, iface="eth0", verbose=False)
PY
  sleep 0.5
  tb_stats "$TB_DIR/s1"
  tb_check "link-local source, truncated payload, multicast source: counted" \
    tb_stat_rose "$TB_DIR/s0" "$TB_DIR/s1" 1 '.drops.beyond_scope' '.drops.ipv6_truncated' \
    '.drops.ipv6_bad_source'
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
