#!/usr/bin/env bash
# 17-pmtu: the router's own traffic learns path MTUs (RFC 1191). `routerctl ping ... df`
# toward a host behind a Linux namespace router with a 1300-byte link gets Fragmentation
# Needed, the router keeps an exception with MTU 1300 that `route get` shows, and forwarded
# traffic is not affected by it. Frag Needed sent from h1 about one of routerd's own echo
# requests: a higher MTU leaves the exception as it is, a lower one lowers it, one below
# exceptions.pmtu_min (552) sets 552.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds tcpdump stdbuf
tb_require_scapy
tb_start

# h1 (10.2.0.2) routes to 10.5.0.0/24 over a 1300-byte veth to a namespace "far".
FAR="$TB_PREFIX-far"
ip netns add "$FAR"
ip link add "$TB_PREFIX-v1" type veth peer name "$TB_PREFIX-v2"
ip link set "$TB_PREFIX-v1" netns "${TB_HOSTS[1]}"
ip link set "$TB_PREFIX-v2" netns "$FAR"
hx 1 sysctl -qw net.ipv4.ip_forward=1
hx 1 ip link set "$TB_PREFIX-v1" mtu 1300 up
hx 1 ip addr add 10.5.0.1/24 dev "$TB_PREFIX-v1"
ip -n "$FAR" link set "$TB_PREFIX-v2" mtu 1300 up
ip -n "$FAR" link set lo up
ip -n "$FAR" addr add 10.5.0.2/24 dev "$TB_PREFIX-v2"
ip -n "$FAR" route add default via 10.5.0.1
rctl route add 10.5.0.0/24 via 10.2.0.2

tb_check "routerctl ping 10.5.0.2 (small) gets replies through the Linux router" \
  tb_expect_match '^[0-9]+ bytes from 10\.5\.0\.2: icmp_seq=1 ttl=63' rctl ping 10.5.0.2 count 2

check_learn() {
  local out
  out=$(rctl ping 10.5.0.2 size 1400 df count 2 2>&1) || true
  tb_indent <<<"$out"
  grep -q 'From 10.2.0.2 icmp_seq=1 Frag needed and DF set (mtu = 1300)' <<<"$out" || return 1
  grep -q 'icmp_seq=2 local error: message too long, mtu=1300' <<<"$out"
}
tb_check "ping size 1400 df: Frag needed mtu 1300 from 10.2.0.2, then a local error at 1300" \
  check_learn
tb_check "route get 10.5.0.2 shows the learnt MTU 1300 with its expiry" \
  eval 'rctl route get 10.5.0.2 | tb_indent; rctl_j route get 10.5.0.2 | jq -e '\''.exception.mtu == 1300 and .exception.mtu_expires_s > 590'\'' >/dev/null'
tb_check "route show cache lists it" \
  eval 'rctl route show cache | tb_indent; rctl_j route show cache | jq -e '\''length == 1 and .[0].dst == "10.5.0.2"'\'' >/dev/null'
tb_check "ping size 1272 df (1300 bytes) gets replies" \
  tb_expect_match '^1280 bytes from 10\.5\.0\.2: icmp_seq=1' rctl ping 10.5.0.2 size 1272 df count 1
tb_check "ping size 2000 without DF is fragmented by the router and answered" \
  tb_expect_match '^2008 bytes from 10\.5\.0\.2' rctl ping 10.5.0.2 size 2000 count 1
# Exceptions are for the router's own packets: a host's DF packet of 1400 bytes still
# crosses p1 at the port MTU (1500) and gets its Frag needed from the Linux router.
tb_check "transit traffic ignores the exception: h0's 1400-byte DF ping gets mtu = 1300 from 10.2.0.2" \
  tb_expect_match 'From 10\.2\.0\.2 icmp_seq=1 Frag needed and DF set \(mtu = 1300\)' \
  hx 0 ping -n -c1 -W 2 -M do -s 1372 10.5.0.2

# Frag Needed from h1 (10.2.0.2) quoting a packet routerd really sent: one of its echo
# requests to 10.5.0.2 (from 10.2.0.1), captured on h1. Only the quoted header tells routerd
# what a message is about (Control::handle_icmp_to_us), so the same quote serves each MTU.
QUOTE=$TB_DIR/quote.pcap
tb_capture "$TB_DIR/tcpdump-quote.log" 1 "$QUOTE" \
  'icmp[icmptype] == icmp-echo and src 10.2.0.1 and dst 10.5.0.2' -c 1
QPID=$TB_LAST_PID
rctl ping 10.5.0.2 count 1 >/dev/null 2>&1 || true
tb_wait_until 5 grep -q '^1 packet captured' "$TB_DIR/tcpdump-quote.log" ||
  tb_die "routerd's echo request to 10.5.0.2 was not seen on h1: $(cat "$TB_DIR/tcpdump-quote.log")"
tb_bg_stop "$QPID"
# frag_needed MTU EXPECTED: h1 sends the Frag Needed (next-hop MTU MTU) to 10.2.0.1; routerd
# must count it as an error about its own packet (icmp_error_received +1), as EVENT (+1),
# and then hold the exception for 10.5.0.2 at EXPECTED.
frag_needed() {
  local mtu=$1 want=$2 event=$3 b=$TB_DIR/fn-before.json a=$TB_DIR/fn-after.json got
  tb_stats "$b"
  hx 1 "$TB_PY" - "$QUOTE" "$mtu" <<'PY' 2>&1 | tb_indent
import sys
from scapy.all import IP, ICMP, rdpcap, send
q = rdpcap(sys.argv[1])[0][IP]
quote = bytes(q)[:q.ihl * 4 + 8]
send(IP(src="10.2.0.2", dst="10.2.0.1") / ICMP(type=3, code=4, nexthopmtu=int(sys.argv[2])) / quote,
     verbose=False)
print(f"sent Frag Needed mtu {sys.argv[2]} quoting {q.src} -> {q.dst} id {q.id:#x}")
PY
  tb_wait_until 3 eval 'tb_stats "$a" && (( $(tb_stat_delta "$b" "$a" .events.icmp_error_received) >= 1 ))' || true
  tb_stats "$a"
  rctl route get 10.5.0.2 | tb_indent
  got=$(rctl_j route get 10.5.0.2 | jq '.exception.mtu // 0')
  tb_stat_rose "$b" "$a" 1 .events.icmp_error_received ".events.$event" || return 1
  tb_say "     exception mtu $got (expected $want)"
  ((got == want))
}
tb_check "a Frag needed with mtu 1400 (above the exception's 1300) is ignored: mtu stays 1300" \
  frag_needed 1400 1300 pmtu_ignored
tb_check "a Frag needed with mtu 1000 lowers the exception to 1000" \
  frag_needed 1000 1000 pmtu_learned
tb_check "a Frag needed with mtu 300 is raised to exceptions.pmtu_min: mtu 552" \
  frag_needed 300 552 pmtu_learned
tb_check "route flush cache forgets it" \
  eval 'rctl route flush cache && (( $(rctl_j route show cache | jq length) == 0 ))'
ip netns del "$FAR" 2>/dev/null || true
tb_finish
