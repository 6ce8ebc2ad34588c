#!/usr/bin/env bash
# 43-bgp: BGP through routerd with real daemons (issue 16, "Tests: real daemons" 1 and 4).
# FRR's zebra (-M dplane_fpm_nl) and bgpd (AS 65000) run in routerd's control namespace and
# peer over routerd's ports with FRR bgpd in h0 (AS 65001, -Z: no zebra, nothing installed)
# and h1 (AS 65002, beside a zebra: its IPv6 next hop is link-local), over IPv4 and IPv6
# sessions, and with a small BGP speaker (bgp_speaker.py, AS 65003) in h2. Checked: the
# sessions come up through the punt path; prefixes a peer announces arrive in routerd as
# proto bgp and carry traffic to the peer's loopback (both families), and a withdraw
# removes them; one prefix from two peers becomes a 2-way ECMP route; the peer a live ping
# flow uses withdraws it and the flow moves to the other peer without loss; 100,000
# prefixes from the speaker converge in routerd (the time is printed), their count agrees
# with zebra's, and they go when the session closes. About 40 s when it passes.
# it-timeout: 240
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
[[ -x /usr/lib/frr/zebra && -x /usr/lib/frr/bgpd ]] || tb_skip "FRR is not installed (scripts/bootstrap installs it)"
tb_require_cmds vtysh python3
export TB_IPV6=1 # three ports: h0 and h1 run FRR, h2 the scale speaker
CP=$TB_PREFIX-cp
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
fpm_listen = \"127.0.0.1:2620\"

[fib]
max_routes = 131072 # the default 65,536 is too few for the speaker's 100,000"
tb_init
tb_start

step() { tb_step "$* (at ${SECONDS} s)"; }
# shellcheck source=../../scripts/lib/frr-bgp.sh
source "$TB_REPO/scripts/lib/frr-bgp.sh"
SPEAKER=$(cd "$(dirname "$0")" && pwd)/bgp_speaker.py
bgp_init "$TB_DIR/frr" "$CP"
# h0 alone announces 10.101.0.0/24 and 2001:db8:101::/48; both h0 and h1 announce
# 10.99.0.0/24 and 2001:db8:99::/48. The addresses inside are on the hosts' loopbacks
# (10.99.0.1 on both: anycast, as ECMP to two servers would be). h2 runs the speaker.
bgp_router_conf 0 1 2/4
bgp_peer_conf 0 10.101.0.0/24 10.99.0.0/24 2001:db8:101::/48 2001:db8:99::/48
bgp_peer_conf 1 10.99.0.0/24 2001:db8:99::/48
hx 0 ip addr add 10.101.0.1/32 dev lo
hx 0 ip -6 addr add 2001:db8:101::1/128 dev lo
for i in 0 1; do
  hx $i ip addr add 10.99.0.1/32 dev lo
  hx $i ip -6 addr add 2001:db8:99::1/128 dev lo
done
# h2 holds the first and the last of the speaker's 100,000 prefixes.
hx 2 ip addr add 20.0.0.1/32 dev lo
hx 2 ip addr add 21.134.159.1/32 dev lo

tb_stats "$TB_DIR/before.json"
step "FRR starts in $CP, h0 and h1; the speaker in h2"
bgp_start_router
bgp_start_peer 0
bgp_start_peer 1 zebra # so it announces its link-local next hop too, as a real router does
tb_bg_host "$TB_DIR/speaker.log" 2 "$TB_PY" "$SPEAKER" 10.3.0.2 10.3.0.1 65003 65000 100000 20.0.0.0
SPK=$TB_LAST_PID

tb_check "IPv4 sessions with h0, h1 and the speaker in h2 are established" \
  tb_wait_until 30 bgp_established ipv4Unicast 10.1.0.2 10.2.0.2 10.3.0.2
tb_check "IPv6 sessions with h0 and h1 are established" \
  tb_wait_until 15 bgp_established ipv6Unicast 2001:db8:1::2 2001:db8:2::2
bgp_router 'show bgp summary json' |
  jq -r '.[] | .peers | to_entries[] | "\(.key) AS \(.value.remoteAs) \(.value.state) up \(.value.peerUptime)"' | tb_indent
tb_check "the speaker saw its session established" tb_wait_until 5 grep -q '^established' "$TB_DIR/speaker.log"
tb_stats "$TB_DIR/up.json"
tb_check "the sessions went through the ports: events.punt_kernel and events.from_kernel rose" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/up.json" 20 .events.punt_kernel .events.from_kernel
tb_check "no frame to or from the kernel was dropped (cp_rate_limited, cp_from_kernel_limited, cp_kernel_full)" \
  eval "[[ \$(tb_stat_delta $TB_DIR/before.json $TB_DIR/up.json '.drops.cp_rate_limited + .drops.cp_from_kernel_limited + .drops.cp_kernel_full') == 0 ]]"

route_is() { tb_route_is "$1" "(.proto == \"bgp\") and ($2)"; }
no_route() { tb_no_route "$1"; }
ping6_ok() { tb_expect_match ' 0% packet loss' hx "$1" ping -n -c3 -i 0.2 -W 2 "$2"; }

step "h0's prefixes arrive and carry traffic"
tb_check "10.101.0.0/24 via 10.1.0.2 dev p0, proto bgp, origin fpm" \
  route_is 10.101.0.0/24 '.via == "10.1.0.2" and .dev == "p0" and .origin == "fpm"'
tb_check "2001:db8:101::/48 via 2001:db8:1::2 dev p0, proto bgp (-6 route show proto bgp)" \
  route_is 2001:db8:101::/48 '.via == "2001:db8:1::2" and .dev == "p0" and .origin == "fpm"'
rctl route show proto bgp | tb_indent
rctl -6 route show proto bgp | tb_indent
tb_check "h1 pings 10.101.0.1 (h0's loopback) through the BGP route" tb_ping 1 10.101.0.1 3
tb_check "h1 pings 2001:db8:101::1 (IPv6)" ping6_ok 1 2001:db8:101::1

step "h0 withdraws them"
bgp_peer_network 0 no 10.101.0.0/24 2001:db8:101::/48
tb_check "10.101.0.0/24 is gone from routerd" no_route 10.101.0.0/24
tb_check "2001:db8:101::/48 is gone from routerd" no_route 2001:db8:101::/48
tb_check "h1 -> 10.101.0.1 is unreachable now" \
  tb_expect_match 'Unreachable|100% packet loss' hx 1 ping -n -c1 -W 1 10.101.0.1

step "the same prefix from h0 and h1: ECMP"
tb_check "10.99.0.0/24: two next hops, 10.1.0.2 (p0) and 10.2.0.2 (p1)" \
  route_is 10.99.0.0/24 '[.nexthops[] | "\(.via) \(.dev)"] | sort == ["10.1.0.2 p0", "10.2.0.2 p1"]'
# h1's bgpd has a zebra: it sends its link-local address too, and zebra routes via that.
h1_ll=$(hx 1 ip -j -6 addr show dev eth0 | jq -r '[.[].addr_info[] | select(.scope == "link") | .local][0]')
tb_check "2001:db8:99::/48: two next hops, 2001:db8:1::2 dev p0 and h1's link-local $h1_ll dev p1" \
  route_is 2001:db8:99::/48 "[.nexthops[] | \"\\(.via) \\(.dev)\"] | sort == [\"2001:db8:1::2 p0\", \"$h1_ll p1\"]"
rctl route show proto bgp | tb_indent
bgp_router 'show ip route 10.99.0.0/24' | grep -E 'via|B>' | tb_indent
tb_check "h2 pings 10.99.0.1 and 2001:db8:99::1 through the ECMP routes" \
  eval "tb_ping 2 10.99.0.1 3 && ping6_ok 2 2001:db8:99::1"

step "the peer a live flow uses withdraws: the flow moves, nothing lost"
# echos I: ICMP echo requests host I has received (its namespace's /proc/net/snmp).
echos() { hx "$1" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else { print $c["InEchos"]; exit } }' /proc/net/snmp; }
tb_bg "$TB_DIR/ping-live.log" hx 2 ping -n -i 0.05 -c 160 -W 1 10.99.0.1
PING=$TB_LAST_PID
e0=$(echos 0) e1=$(echos 1)
sleep 2
d0=$(($(echos 0) - e0)) d1=$(($(echos 1) - e1))
if ((d0 > d1)); then used=0 other=1; else used=1 other=0; fi
tb_info "the flow goes to h$used (echo requests in 2 s: h0 $d0, h1 $d1); h$used withdraws"
tb_check "the flow uses one path (one host got them all)" eval "(( (d0 == 0 || d1 == 0) && d0 + d1 >= 20 ))"
eo=$(echos $other)
bgp_peer_network $used no 10.99.0.0/24
tb_check "10.99.0.0/24 is a single route via h$other now" \
  route_is 10.99.0.0/24 "(.nexthops | not) and .via == \"$(tb_host_ip $other)\""
wait "$PING" || true
grep -E 'packet loss|rtt' "$TB_DIR/ping-live.log" | tb_indent
tb_check "h$other received the flow after the change" eval "(( \$(echos $other) - $eo >= 20 ))"
# Both next hops answer for 10.99.0.1 before and after: a loss could only come from the
# route change itself (routerd swaps the route in one publish, so there is none to allow).
tb_check "the live ping (160 at 20/s) lost nothing across the next-hop change" \
  grep -q ' 0% packet loss' "$TB_DIR/ping-live.log"

step "100,000 prefixes from the speaker"
base=$(rctl_j route summary | jq '.daemon.bgp // 0')
tb_info "routerd holds $base IPv4 bgp route(s); the speaker announces 100,000"
kill -USR1 "$SPK"
tb_wait_until 5 grep -q '^announce_start' "$TB_DIR/speaker.log" || tb_die "the speaker did not start announcing"
t0=$(awk '/^announce_start/ { print $2 }' "$TB_DIR/speaker.log")
bgp_count() { rctl_j route summary | jq '.daemon.bgp // 0'; }
if tb_wait_until 120 eval "(( \$(bgp_count) >= base + 100000 ))"; then
  t1=$(date +%s.%N)
  conv=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  sent=$(awk '/^announce_sent/ { printf "%.2f", $2 - '"$t0"' }' "$TB_DIR/speaker.log")
  tb_info "CONVERGENCE: 100,000 prefixes in routerd ${conv} s after the first UPDATE (the speaker wrote them all in ${sent} s; polled every 0.2 s)"
  ok=1
else
  ok=0
fi
tb_check "routerd holds all 100,000 (route summary: bgp = $base + 100000)" eval "(( $ok == 1 && \$(bgp_count) == base + 100000 ))"
rctl route summary | tb_indent
zebra_bgp() { bgp_router 'show ip route summary json' | jq '[.routes[] | select(.type == "ebgp" or .type == "ibgp") | .fib] | add'; }
tb_check "routerd's bgp count equals zebra's (show ip route summary json, FIB)" \
  eval "z=\$(zebra_bgp); r=\$(bgp_count); echo \"     | zebra \$z, routerd \$r\"; [[ \$z == \$r ]]"
tb_check "h0 pings 20.0.0.1 and 21.134.159.1 (the first and last prefix, on h2's loopback)" \
  eval "tb_ping 0 20.0.0.1 2 && tb_ping 0 21.134.159.1 2"
rctl fpm show | tb_indent

step "the speaker's session closes: its routes go"
kill -TERM "$SPK"
t0=$(date +%s.%N)
if tb_wait_until 120 eval "(( \$(bgp_count) == base ))"; then
  tb_info "WITHDRAWN: routerd back to $base bgp route(s) $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after the session closed"
  ok=1
else
  ok=0
fi
tb_check "the 100,000 are withdrawn from routerd" eval "(( $ok == 1 ))"
tb_check "10.99.0.0/24 (from h$other) stayed" route_is 10.99.0.0/24 ".via == \"$(tb_host_ip $other)\""
tb_finish
