#!/usr/bin/env bash
# 17-pmtu: the router's own traffic learns path MTUs (RFC 1191). `routerctl ping ... df`
# toward a host behind a Linux namespace router with a 1300-byte link gets Fragmentation
# Needed, the router keeps an exception with MTU 1300 that `route get` shows, and forwarded
# traffic is not affected by it.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
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
tb_check "a Frag needed that would raise the MTU is ignored" \
  eval 'before=$(rctl_j stats | jq .events.pmtu_ignored); hx 1 ip link set '"$TB_PREFIX"'-v1 mtu 1400; rctl ping 10.5.0.2 size 1372 df count 1 >/dev/null 2>&1; (( $(rctl_j route get 10.5.0.2 | jq .exception.mtu) == 1300 ))'
tb_check "route flush cache forgets it" \
  eval 'rctl route flush cache && (( $(rctl_j route show cache | jq length) == 0 ))'
ip netns del "$FAR" 2>/dev/null || true
tb_finish
