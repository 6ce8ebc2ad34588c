#!/usr/bin/env bash
# 30-route-types: blackhole, prohibit and unreachable routes of both families, added at run
# time, meet real traffic from h0: a blackhole answers nothing (and counts the drop); prohibit
# answers ICMP Destination Unreachable code 13 / ICMPv6 code 1; unreachable code 1 / ICMPv6
# code 0, each from the ingress port's address. A route replaced from a gateway to a
# blackhole and back takes effect at once; reload applies a change of type; routerctl ping
# refuses a blackholed destination; the counters show in stats and Prometheus metrics.
# The traffic checks also run against the Linux reference (ROUTER_IMPL=linux, ip route).
# it-timeout: 180
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_scapy
export TB_IPV6=1
PORT=$((20000 + (TB_ID + 7) % 20000))
if tb_is_routerd; then export TB_TOP_TOML="metrics_listen = \"127.0.0.1:$PORT\""; fi
tb_init
tb_start

route() { if tb_is_routerd; then rctl route "$@"; else ip -n "$TB_RTR_NS" route "$@"; fi; }

# probe I DST [PROTO]: one UDP datagram (or, with icmp, an echo request) from host I to DST;
# prints "TYPE CODE SOURCE" of the ICMP or ICMPv6 answer, or "none" after 2 s.
probe() {
  hx "$1" "$TB_PY" - "$2" "${3:-udp}" <<'PY'
import sys
from scapy.all import IP, IPv6, UDP, ICMP, ICMPv6EchoRequest, sr1, conf
conf.verb = 0
dst, proto = sys.argv[1], sys.argv[2]
if ":" in dst:
    p = IPv6(dst=dst) / (ICMPv6EchoRequest() if proto == "icmp" else UDP(sport=40000, dport=33434))
else:
    p = IP(dst=dst) / (ICMP() if proto == "icmp" else UDP(sport=40000, dport=33434))
r = sr1(p, timeout=2)
print("none" if r is None else "%d %d %s" % (r.payload.type, r.payload.code, r.src))
PY
}
# expect_probe I DST WANT: the probe's answer must be WANT ("3 13 10.1.0.1", "none").
expect_probe() {
  local got
  got=$(probe "$1" "$2" "${4:-udp}" 2>&1 | tail -n1)
  tb_say "     probe from h$1 to $2: $got"
  [[ $got == "$3" ]]
}

tb_step "route types added at run time"
tb_check "route add blackhole 10.9.0.0/16" route add blackhole 10.9.0.0/16
tb_check "route add prohibit 10.8.0.0/16" route add prohibit 10.8.0.0/16
tb_check "route add unreachable 10.7.0.0/16" route add unreachable 10.7.0.0/16
tb_check "route add blackhole 2001:db8:90::/48" route add blackhole 2001:db8:90::/48
tb_check "route add prohibit 2001:db8:99::/48" route add prohibit 2001:db8:99::/48
tb_check "route add unreachable 2001:db8:98::/48" route add unreachable 2001:db8:98::/48
if tb_is_routerd; then
  show() {
    local out
    out=$(rctl route show)
    tb_indent <<<"$out"
    grep -qx 'blackhole 10.9.0.0/16 proto static' <<<"$out" &&
      grep -qx 'prohibit 10.8.0.0/16 proto static' <<<"$out" &&
      grep -qx 'unreachable 10.7.0.0/16 proto static' <<<"$out" &&
      grep -qx 'blackhole 2001:db8:90::/48 proto static' <<<"$out" &&
      grep -qx 'prohibit 2001:db8:99::/48 proto static' <<<"$out" &&
      grep -qx 'unreachable 2001:db8:98::/48 proto static' <<<"$out"
  }
  tb_check "route show prints each type first, as ip route does" show
  show_json() {
    rctl_j route show | jq -c '.[] | select(.prefix == "2001:db8:99::/48")' | tb_indent
    rctl_j route show | jq -e '.[] | select(.prefix == "2001:db8:99::/48") |
      .type == "prohibit" and .family == 6 and (has("dev") | not)' >/dev/null
  }
  tb_check "route show -j: \"type\": \"prohibit\" for 2001:db8:99::/48, no dev" show_json
  tb_check "route get 10.9.1.1: blackhole route 10.9.0.0/16, next hop blackhole" \
    tb_expect_match 'blackhole route 10\.9\.0\.0/16 proto static' rctl route get 10.9.1.1
  tb_check "route get 10.99.0.1: no route (not the unreachable type)" \
    tb_expect_match 'no route' rctl route get 10.99.0.1
  tb_check "route add blackhole 10.6.0.0/16 via 10.2.0.2 is refused by name" \
    tb_expect_match "'via' does not apply to a blackhole route" rctl route add blackhole 10.6.0.0/16 via 10.2.0.2
  tb_check "route add blakhole 10.6.0.0/16: unknown route type" \
    tb_expect_match "unknown route type 'blakhole'" rctl route add blakhole 10.6.0.0/16
  tb_check "route del prohibit 10.9.0.0/16 is refused: the route is blackhole" \
    tb_expect_match 'is blackhole, not prohibit' rctl route del prohibit 10.9.0.0/16
  tb_stats "$TB_DIR/before.json"
fi

tb_step "IPv4 traffic from h0"
tb_check "blackhole 10.9.0.1: no answer to UDP" expect_probe 0 10.9.0.1 none
tb_check "blackhole 10.9.0.1: no answer to ping either" expect_probe 0 10.9.0.1 none icmp
blackhole_ping() {
  local out
  tb_run_capture out hx 0 ping -n -c3 -i 0.3 -W1 10.9.0.1 || true
  tb_indent <<<"$out"
  grep -q '100% packet loss' <<<"$out" && ! grep -q '^From' <<<"$out"
}
tb_check "ping -c3 10.9.0.1: 100% loss, no error line" blackhole_ping
tb_check "prohibit 10.8.0.1: ICMP 3/13 from 10.1.0.1" expect_probe 0 10.8.0.1 "3 13 10.1.0.1"
tb_check "ping 10.8.0.1: Packet filtered" \
  tb_expect_match '^From 10\.1\.0\.1( icmp_seq=1)? Packet filtered' hx 0 ping -n -c1 -W2 10.8.0.1
tb_check "unreachable 10.7.0.1: ICMP 3/1 from 10.1.0.1" expect_probe 0 10.7.0.1 "3 1 10.1.0.1"
tb_check "ping 10.7.0.1: Destination Host Unreachable" \
  tb_expect_match '^From 10\.1\.0\.1( icmp_seq=1)? Destination Host Unreachable' \
  hx 0 ping -n -c1 -W2 10.7.0.1
tb_check "TTL 1 to a prohibit route: the route's error, not Time Exceeded" \
  tb_expect_match 'Packet filtered' hx 0 ping -n -c1 -W2 -t 1 10.8.0.1

tb_step "IPv6 traffic from h0"
tb_check "blackhole 2001:db8:90::1: no answer" expect_probe 0 2001:db8:90::1 none
tb_check "prohibit 2001:db8:99::1: ICMPv6 1/1 from 2001:db8:1::1" \
  expect_probe 0 2001:db8:99::1 "1 1 2001:db8:1::1"
tb_check "ping -6 2001:db8:99::1: Administratively prohibited" \
  tb_expect_match 'From 2001:db8:1::1.*[Aa]dministratively prohibited' \
  hx 0 ping -6 -n -c1 -W2 2001:db8:99::1
tb_check "unreachable 2001:db8:98::1: ICMPv6 1/0 from 2001:db8:1::1" \
  expect_probe 0 2001:db8:98::1 "1 0 2001:db8:1::1"
tb_check "ping -6 2001:db8:98::1: No route" \
  tb_expect_match 'From 2001:db8:1::1.*No route' hx 0 ping -6 -n -c1 -W2 2001:db8:98::1
blackhole_ping6() {
  local out
  tb_run_capture out hx 0 ping -6 -n -c3 -i 0.3 -W1 2001:db8:90::1 || true
  tb_indent <<<"$out"
  grep -q '100% packet loss' <<<"$out" && ! grep -q '^From' <<<"$out"
}
tb_check "ping -6 -c3 2001:db8:90::1: 100% loss, no error line" blackhole_ping6

if tb_is_routerd; then
  tb_step "counters: stats, metrics"
  tb_stats "$TB_DIR/after.json"
  tb_check "drops.blackhole rose by >= 8 (2 probes, 3 + 3 pings)" \
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 8 .drops.blackhole
  prohibited_rose() {
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 5 .drops.prohibited .punts.prohibited &&
      tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 3 .events.icmp_prohibited_sent
  }
  tb_check "drops.prohibited and punts.prohibited rose by >= 5 (both families), events.icmp_prohibited_sent by >= 3 (IPv4)" \
    prohibited_rose
  tb_check "drops.unreachable and punts.unreachable rose by >= 4" \
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 4 .drops.unreachable .punts.unreachable
  tb_check "routerctl stats lists the blackhole drops" \
    tb_expect_match '^  blackhole +[0-9]+' rctl stats
  metrics_match() {
    local m r v s bad=0
    m=$(curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics") || return 1
    rctl_j stats >"$TB_DIR/s.json"
    for r in blackhole prohibited unreachable; do
      v=$(awk -v k="routerd_dropped_packets_total{reason=\"$r\"}" '$1 == k {print $2}' <<<"$m")
      s=$(jq ".drops.$r" "$TB_DIR/s.json")
      tb_say "     drop $r: metrics ${v:-absent}, routerctl $s"
      [[ -n $v && $v == "$s" && $v -gt 0 ]] || bad=1
    done
    grep -E '^routerd_punted_packets_total\{reason="(prohibited|unreachable)"\}' <<<"$m" | tb_indent
    ((bad == 0))
  }
  tb_check "Prometheus: routerd_dropped_packets_total{reason=blackhole|prohibited|unreachable}" \
    metrics_match

  tb_step "the router's own packets"
  tb_check "routerctl ping 10.9.0.1 fails: matches a blackhole route" \
    tb_expect_match 'ping: 10\.9\.0\.1 matches a blackhole route: nothing is sent' rctl ping 10.9.0.1
  tb_check "routerctl ping 2001:db8:99::1 fails: matches a prohibit route" \
    tb_expect_match 'matches a prohibit route' rctl ping 2001:db8:99::1
fi

tb_step "replace: a gateway route becomes a blackhole and back, under traffic"
hx 1 ip addr add 10.66.0.1/32 dev lo
hx 1 ip -6 addr add 2001:db8:66::1/128 dev lo
route add 10.66.0.0/16 via 10.2.0.2
route add 2001:db8:66::/48 via 2001:db8:2::2
tb_check "via 10.2.0.2: h0 reaches 10.66.0.1" tb_ping 0 10.66.0.1 3
tb_check "via 2001:db8:2::2: h0 reaches 2001:db8:66::1" tb_ping 0 2001:db8:66::1 3
route replace blackhole 10.66.0.0/16
route replace prohibit 2001:db8:66::/48
tb_check "replaced by blackhole: 10.66.0.1 answers nothing" expect_probe 0 10.66.0.1 none icmp
tb_check "replaced by prohibit: 2001:db8:66::1 gets ICMPv6 1/1" \
  expect_probe 0 2001:db8:66::1 "1 1 2001:db8:1::1" icmp
route replace 10.66.0.0/16 via 10.2.0.2
route replace 2001:db8:66::/48 via 2001:db8:2::2
tb_check "back to via 10.2.0.2: 10.66.0.1 answers" tb_ping 0 10.66.0.1 3
tb_check "back to via 2001:db8:2::2: 2001:db8:66::1 answers" tb_ping 0 2001:db8:66::1 3

tb_step "delete"
for p in 10.9.0.0/16 10.8.0.0/16 10.7.0.0/16 2001:db8:90::/48 2001:db8:99::/48 2001:db8:98::/48; do
  route del "$p"
done
tb_check "deleted: 10.8.0.1 is Net Unreachable again (no route)" \
  tb_expect_match 'Destination Net Unreachable' hx 0 ping -n -c1 -W2 10.8.0.1

if tb_is_routerd; then
  tb_step "reload: [[route]] type, and a change of type is a replace"
  tb_write_config "$TB_CONF" '[[route]]
prefix = "10.66.0.0/16"
type = "blackhole"

[[route]]
prefix = "2001:db8:66::/48"
type = "unreachable"'
  reload_to() {
    local out
    out=$(rctl -j reload) || { tb_say "     $out"; return 1; }
    tb_say "     $(jq -c '{routes_added, routes_replaced, routes_deleted}' <<<"$out")"
    jq -e ".routes_replaced == $1" <<<"$out" >/dev/null
  }
  tb_check "reload: via -> blackhole and via -> unreachable, 2 routes replaced" reload_to 2
  tb_check "after reload: 10.66.0.1 answers nothing" expect_probe 0 10.66.0.1 none icmp
  tb_check "after reload: 2001:db8:66::1 gets ICMPv6 1/0" \
    expect_probe 0 2001:db8:66::1 "1 0 2001:db8:1::1" icmp
  tb_write_config "$TB_CONF" '[[route]]
prefix = "10.66.0.0/16"
type = "prohibit"

[[route]]
prefix = "2001:db8:66::/48"
via = "2001:db8:2::2"'
  tb_check "reload: blackhole -> prohibit and unreachable -> via, 2 routes replaced" reload_to 2
  tb_check "after reload: 10.66.0.1 gets ICMP 3/13" expect_probe 0 10.66.0.1 "3 13 10.1.0.1" icmp
  tb_check "after reload: 2001:db8:66::1 answers again" tb_ping 0 2001:db8:66::1 3
  tb_write_config "$TB_CONF" '[[route]]
prefix = "10.66.0.0/16"
type = "blakhole"'
  tb_check "reload with an unknown type is refused, naming the key; nothing changed" \
    tb_expect_match "route\[0\]\.type: 'blakhole' is not a route type.*nothing changed" rctl reload
  tb_check "...and 10.66.0.1 still gets ICMP 3/13" expect_probe 0 10.66.0.1 "3 13 10.1.0.1" icmp

  tb_step "a config with an invalid type does not start"
  bad_type() {
    local rc=0 err
    TB_TOP_TOML='' tb_write_config "$TB_DIR/bad-type.toml" '[[route]]
prefix = "10.9.0.0/16"
type = "blackhole"
via = "10.2.0.2"'
    err=$(timeout 20 "$ROUTERD" -c "$TB_DIR/bad-type.toml" --check 2>&1) || rc=$?
    tb_say "     exit $rc: $err"
    ((rc == 2)) && grep -q "route\[0\]\.via: a blackhole route has no gateway" <<<"$err"
  }
  tb_check "type = blackhole with via: exit 2, route[0].via named" bad_type
fi
tb_finish
