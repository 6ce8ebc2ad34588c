#!/usr/bin/env bash
# 42-fpm: routes from FRR's zebra over FPM (issue 16 part 2). zebra (Debian 12's FRR 8.4.4,
# -M dplane_fpm_nl, next-hop-group mode) and staticd run in routerd's control namespace and
# connect to control_plane.fpm_listen there. Checked: static routes made in vtysh (IPv4, IPv6,
# ECMP, blackhole) appear in routerd with proto static and origin fpm and carry traffic; a
# change and a delete follow; routerd's own static route for the same prefix wins and the
# daemon's comes back when it goes; zebra killed: routes kept and traffic to them flows; a
# malformed frame from another client is refused and changes nothing; zebra restarted with a
# config lacking one route: the rest replayed, that one swept; a second client is refused;
# routerd restarted: zebra reconnects and replays everything, and traffic flows again.
# it-timeout: 180
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
[[ -x /usr/lib/frr/zebra && -x /usr/lib/frr/staticd ]] || tb_skip "FRR is not installed (scripts/bootstrap installs it)"
tb_require_cmds vtysh
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=2
export TB_IPV6=1
CP=$TB_PREFIX-cp
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
fpm_listen = \"127.0.0.1:2620\"
fpm_sweep_s = 3"
tb_init
tb_start

step() { tb_step "$* (at ${SECONDS} s)"; }
RUN=/var/run/frr/$CP
FRR=$TB_DIR/frr
mkdir -p "$RUN" "$FRR" "/etc/frr/$CP"
touch "/etc/frr/$CP/vtysh.conf" # vtysh -N reads it, and complains when there is none
chown frr:frr "$RUN" "$FRR"
tb_on_cleanup "for p in $RUN/staticd.pid $RUN/zebra.pid; do [[ -f \$p ]] && kill \$(cat \$p); done; sleep 0.5; rm -rf $RUN /etc/frr/$CP"
# h1 holds 10.50.0.1 and 2001:db8:50::1: traffic to the FPM routes ends there.
hx 1 ip addr add 10.50.0.1/32 dev lo
hx 1 ip -6 addr add 2001:db8:50::1/128 dev lo

start_frr() { # start_frr STATICD_CONF_LINES...
  printf 'fpm address 127.0.0.1 port 2620\nzebra nexthop-group keep 1\n' >"$FRR/zebra.conf"
  printf '%s\n' "$@" >"$FRR/staticd.conf"
  chown frr:frr "$FRR"/*.conf
  ip netns exec "$CP" /usr/lib/frr/zebra -N "$CP" -M dplane_fpm_nl -d -f "$FRR/zebra.conf" \
    -i "$RUN/zebra.pid" --log "file:$FRR/zebra.log"
  ip netns exec "$CP" /usr/lib/frr/staticd -N "$CP" -d -f "$FRR/staticd.conf" \
    -i "$RUN/staticd.pid" --log "file:$FRR/staticd.log"
}
stop_frr() {
  local p
  # zebra first: killed after staticd, a zebra still running removes staticd's routes as the
  # client goes (deletes over FPM), which is not the loss of zebra this test is about.
  for p in "$RUN/zebra.pid" "$RUN/staticd.pid"; do
    [[ -f $p ]] && kill "$(cat "$p")" 2>/dev/null || true
  done
  tb_wait_until 10 eval "! pgrep -f 'zebra -N $CP' >/dev/null" || true
}
v() { vtysh -N "$CP" -c 'configure terminal' "${@/#/-c}" >/dev/null; }
fpm() { rctl_j fpm show; }

step "zebra connects"
start_frr
tb_check "fpm show: zebra connected" tb_wait_until 15 eval "fpm | jq -e '.connected' >/dev/null"

step "staticd routes arrive through zebra and FPM"
v 'ip route 10.50.0.0/16 10.2.0.2' 'ipv6 route 2001:db8:50::/48 2001:db8:2::2' \
  'ip route 10.60.0.0/16 10.1.0.2' 'ip route 10.60.0.0/16 10.2.0.2' \
  'ip route 10.70.0.0/16 blackhole' 'ipv6 route 2001:db8:70::/48 blackhole'
tb_check "10.50.0.0/16 via 10.2.0.2, proto static, origin fpm" \
  tb_route_is 10.50.0.0/16 '.via == "10.2.0.2" and .proto == "static" and .origin == "fpm"'
tb_check "2001:db8:50::/48 via 2001:db8:2::2 (IPv6)" \
  tb_route_is 2001:db8:50::/48 '.via == "2001:db8:2::2" and .origin == "fpm"'
tb_check "10.60.0.0/16: an ECMP route over 10.1.0.2 and 10.2.0.2" \
  tb_route_is 10.60.0.0/16 '[.nexthops[].via] | sort == ["10.1.0.2", "10.2.0.2"]'
tb_check "10.70.0.0/16 and 2001:db8:70::/48 blackhole" \
  eval "tb_route_is 10.70.0.0/16 '.type == \"blackhole\"' && tb_route_is 2001:db8:70::/48 '.type == \"blackhole\"'"
rctl route show | grep -E 'proto static' | tb_indent || true
tb_check "h0 pings 10.50.0.1 through the FPM route" tb_ping 0 10.50.0.1 3
tb_check "h0 pings 2001:db8:50::1 through the FPM route" \
  tb_expect_match ' 0% packet loss' hx 0 ping -n -c3 -i 0.2 -W 2 2001:db8:50::1
fpm | jq -c '{messages, routes, installed, nexthops}' | tb_indent
tb_check "route show proto static: the daemon's routes (origin fpm) and no connected one" \
  eval "rctl_j route show proto static | jq -e 'length >= 5 and all(.[]; .proto == \"static\")' >/dev/null"
tb_check "route summary counts the daemon's routes by protocol (3 IPv4, 2 IPv6 static)" \
  eval "rctl_j route summary | jq -e '.daemon.static == 3 and .ipv6.daemon.static == 2' >/dev/null"
tb_check "zebra's link-local fe80::/64 routes are not taken (never routed)" \
  eval "! rctl_j -6 route show | jq -e '.[] | select(.prefix | startswith(\"fe80\"))' >/dev/null"

step "changes and deletes follow"
v 'ip route 10.50.0.0/16 10.1.0.2' 'no ip route 10.50.0.0/16 10.2.0.2' 'no ip route 10.60.0.0/16 10.1.0.2'
tb_check "10.50.0.0/16 moved to 10.1.0.2" tb_route_is 10.50.0.0/16 '.via == "10.1.0.2"'
tb_check "10.60.0.0/16 is a plain route via 10.2.0.2 now" \
  tb_route_is 10.60.0.0/16 '.via == "10.2.0.2" and (.nexthops | not)'
v 'no ip route 10.70.0.0/16 blackhole'
tb_check "10.70.0.0/16 is gone" tb_no_route 10.70.0.0/16
v 'ip route 10.50.0.0/16 10.2.0.2' 'no ip route 10.50.0.0/16 10.1.0.2'
tb_check "10.50.0.0/16 back on 10.2.0.2" tb_route_is 10.50.0.0/16 '.via == "10.2.0.2"'

step "the router's own route wins"
rctl route add 10.50.0.0/16 via 10.1.0.2
tb_check "route add over the daemon's route: routerd's static route holds the prefix" \
  tb_route_is 10.50.0.0/16 '.via == "10.1.0.2" and .origin == null'
tb_check "route del of the daemon's route by routerctl is refused" \
  eval "out=\$(rctl route del 10.60.0.0/16 2>&1); echo \"     | \$out\"; [[ \$out == *'withdraw it there'* ]]"
rctl route del 10.50.0.0/16
tb_check "deleted: the daemon's route is back" tb_route_is 10.50.0.0/16 '.via == "10.2.0.2" and .origin == "fpm"'

step "zebra goes away: routes are kept, traffic flows"
tb_bg "$TB_DIR/ping-live.log" ip netns exec "${TB_HOSTS[0]}" ping -n -i 0.05 -c 400 -W 1 10.50.0.1
PING=$TB_LAST_PID
stop_frr
tb_check "fpm show: no peer; the routes are still installed" \
  tb_wait_until 5 eval "fpm | jq -e '(.connected | not) and .installed.ipv4 >= 2' >/dev/null"
tb_check "10.50.0.0/16 still there" tb_route_is 10.50.0.0/16 '.origin == "fpm"'

step "a malformed frame changes nothing"
before=$(rctl_j route show | jq -c '[.[] | select(.origin == "fpm")]')
ip netns exec "$CP" "$TB_PY" -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 2620))
s.sendall(bytes([2, 1, 0, 20]) + bytes(16))  # version 2: not FPM
time.sleep(0.5)
print("closed" if s.recv(1) == b"" else "open")'
tb_check "fpm show: the error is counted and named" \
  tb_wait_until 5 eval "fpm | jq -e '.errors >= 1 and (.last_error | test(\"version 2\"))' >/dev/null"
tb_check "the daemon's routes are as they were" \
  eval "[[ \$(rctl_j route show | jq -c '[.[] | select(.origin == \"fpm\")]') == '$before' ]]"

step "zebra comes back with 10.60.0.0/16 gone from its config: replayed, and swept"
start_frr 'ip route 10.50.0.0/16 10.2.0.2' 'ipv6 route 2001:db8:50::/48 2001:db8:2::2' \
  'ipv6 route 2001:db8:70::/48 blackhole'
# Connects: zebra, the malformed client, zebra again.
tb_check "fpm show: connected again" tb_wait_until 15 eval "fpm | jq -e '.connected and .connects == 3' >/dev/null"
tb_check "a second client is refused while zebra is connected" \
  eval "ip netns exec $CP $TB_PY -c 'import socket; socket.create_connection((\"127.0.0.1\", 2620)).recv(1)'; tb_wait_until 5 eval \"fpm | jq -e '.refused >= 1' >/dev/null\""
tb_check "10.60.0.0/16, not replayed, is swept after the replay went quiet" \
  tb_wait_until 15 eval "fpm | jq -e '.resync == \"done\" and .swept >= 1' >/dev/null && ! rctl_j route show | jq -e '.[] | select(.prefix == \"10.60.0.0/16\")' >/dev/null"
tb_check "the replayed routes stayed" \
  eval "tb_route_is 10.50.0.0/16 '.origin == \"fpm\"' && tb_route_is 2001:db8:50::/48 '.origin == \"fpm\"'"
wait "$PING" || true
tb_check "the live ping to 10.50.0.1 lost nothing across zebra's restart" \
  grep -q ' 0% packet loss' "$TB_DIR/ping-live.log"
grep 'packet loss' "$TB_DIR/ping-live.log" | tb_indent
rctl fpm show | tb_indent

step "routerd restarts: zebra reconnects and replays everything"
tb_restart_routerd
tb_check "fpm show: zebra connected to the new routerd" \
  tb_wait_until 30 eval "fpm | jq -e '.connected and .connects == 1' >/dev/null"
tb_check "the replay brings back 10.50.0.0/16, 2001:db8:50::/48 and the IPv6 blackhole" \
  eval "tb_route_is 10.50.0.0/16 '.via == \"10.2.0.2\" and .origin == \"fpm\"' && tb_route_is 2001:db8:50::/48 '.origin == \"fpm\"' && tb_route_is 2001:db8:70::/48 '.type == \"blackhole\"'"
tb_check "h0 pings 10.50.0.1 and 2001:db8:50::1 through the replayed routes" \
  eval "tb_ping 0 10.50.0.1 3 && hx 0 ping -n -c3 -i 0.2 -W 2 2001:db8:50::1 >/dev/null"
rctl fpm show | tb_indent
tb_finish
