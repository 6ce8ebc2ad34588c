#!/usr/bin/env bash
# 52-broadcast: broadcasts are for the router, and a directed broadcast crosses it only when
# switched on (RFC 1812 5.3.5, RFC 2644; the requirements' cases 9 and 11). By default a
# datagram from h0 to 10.2.0.255 (p1's subnet broadcast) never reaches h1, and 255.255.255.255
# or 10.1.0.255 from h0 reaches no other link; each is counted. With
# ipv4.forward_directed_broadcast = true the first reaches h1 as a link broadcast with its TTL
# taken once, but not one whose TTL runs out. (41-control-plane checks that 255.255.255.255
# and the subnet broadcast reach a listener behind the kernel interfaces.)
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds tcpdump
tb_start

N=5
# send HOST DST PORT TTL: N datagrams "bcast-PORT" from HOST's eth0 (SO_BROADCAST, so the
# limited and on-link broadcasts are allowed too).
send() {
  hx "$1" "$TB_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, int(sys.argv[3]))
for _ in range(int(sys.argv[4])):
    s.sendto(b"bcast-%s" % sys.argv[2].encode(), (sys.argv[1], int(sys.argv[2])))
' "$2" "$3" "$4" "$N"
}
# capture NAME: tcpdump on h1 and h2 for UDP to ports 7000-7099, with link headers.
capture() {
  local i
  PIDS=()
  for i in 1 2; do
    tb_bg_host "$TB_DIR/$1-h$i.txt" "$i" tcpdump -Z root -i eth0 -n -l -e -v 'udp and dst portrange 7000-7099'
    PIDS+=("$TB_LAST_PID")
    tb_wait_until 10 grep -q 'listening on' "$TB_DIR/$1-h$i.txt" || tb_die "tcpdump on h$i did not start"
  done
}
stop_capture() {
  sleep 0.5
  local p
  for p in "${PIDS[@]}"; do tb_bg_stop "$p"; done
}
# seen NAME HOST PORT: datagrams to PORT in HOST's capture.
seen() { grep -c "> [0-9.]*\.$3: " "$TB_DIR/$1-h$2.txt" || true; }
delta() { tb_stat_delta "$TB_DIR/$1.json" "$TB_DIR/$2.json" "$3"; }

tb_step "default: no directed broadcast crosses the router"
hx 0 ping -n -c1 -W 2 10.2.0.2 >/dev/null # ARP settled on both sides
tb_stats "$TB_DIR/s0.json"
capture off
send 0 10.2.0.255 7000 64         # p1's subnet broadcast, through the router
send 0 255.255.255.255 7001 64    # limited broadcast: for the router only
send 0 10.1.0.255 7002 64         # h0's own subnet broadcast: its link only
stop_capture
tb_stats "$TB_DIR/s1.json"
check_none() {
  local i p n bad=0
  for i in 1 2; do
    for p in 7000 7001 7002; do
      n=$(seen off $i $p)
      ((n == 0)) || { tb_say "     h$i saw $n to port $p"; bad=1; }
    done
  done
  return $bad
}
tb_check "h1 and h2 saw none of the three kinds" check_none
check_counted() {
  local d l b
  d=$(delta s0 s1 .drops.directed_broadcast)
  l=$(delta s0 s1 .drops.limited_broadcast)
  b=$(delta s0 s1 .drops.link_broadcast)
  tb_say "     drops: directed_broadcast +$d, limited_broadcast +$l, link_broadcast +$b (want $N each)"
  ((d == N && l == N && b == N))
}
tb_check "each kind counted under its own drop reason" check_counted

tb_step "ipv4.forward_directed_broadcast = true"
tb_write_config "$TB_CONF" $'[ipv4]\nforward_directed_broadcast = true'
tb_restart_routerd
hx 0 ping -n -c1 -W 2 10.2.0.2 >/dev/null
tb_stats "$TB_DIR/s2.json"
capture on
send 0 10.2.0.255 7000 64
send 0 10.2.0.255 7003 1 # its TTL runs out at the router: dropped, no ICMP about a broadcast
send 0 255.255.255.255 7001 64
stop_capture
tb_stats "$TB_DIR/s3.json"
tb_indent <"$TB_DIR/on-h1.txt"
check_forwarded() {
  local n b t
  n=$(seen on 1 7000)
  # tcpdump -e -v: "... > ff:ff:ff:ff:ff:ff, ethertype IPv4 (0x0800), length 51: (tos 0x0, ttl 63, ..."
  b=$(grep -c 'ff:ff:ff:ff:ff:ff, ethertype IPv4.*ttl 63,' "$TB_DIR/on-h1.txt" || true)
  t=$(grep -c 'ttl 63,' "$TB_DIR/on-h1.txt" || true)
  tb_say "     h1 saw $n to 10.2.0.255:7000; $b in link broadcast frames with TTL 63 (lines with ttl 63: $t)"
  ((n == N && b == N))
}
tb_check "h1 received all $N to 10.2.0.255, as link broadcasts from the router, TTL 64 -> 63" check_forwarded
check_rest() {
  local a b c d
  a=$(seen on 1 7003)
  b=$(seen on 2 7000)
  c=$(seen on 1 7001)
  d=$(seen on 2 7001)
  tb_say "     TTL 1 at h1: $a; at h2 (another link): $b; 255.255.255.255 at h1, h2: $c, $d"
  ((a == 0 && b == 0 && c == 0 && d == 0))
}
tb_check "the TTL-1 ones, and 255.255.255.255, went nowhere; h2's link got nothing" check_rest
check_events() {
  local f t
  f=$(delta s2 s3 .events.directed_broadcast_forwarded)
  t=$(delta s2 s3 .drops.ttl_exceeded)
  tb_say "     events.directed_broadcast_forwarded +$f, drops.ttl_exceeded +$t, icmp_error_sent +$(delta s2 s3 .events.icmp_error_sent)"
  ((f == N && t == N)) && (($(delta s2 s3 .events.icmp_error_sent) == 0))
}
tb_check "counted: $N forwarded, $N TTL expired, and no ICMP error sent about a broadcast" check_events
tb_check "routerd still running" tb_routerd_alive
tb_finish
