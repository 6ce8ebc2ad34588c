#!/usr/bin/env bash
# 19-telemetry: routerd's /routerd/* commands on DPDK's telemetry socket, read with the stock
# dpdk-telemetry.py, count known traffic exactly as routerctl does.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_require_cmds dpdk-telemetry.py jq
export TB_TELEMETRY=1
tb_init
tb_start

# tel CMD: the answer of one telemetry command (JSON), through the stock client.
tel() {
  echo "$1" | "$TB_PY" "$(command -v dpdk-telemetry.py)" -f "rtrit$TB_ID" |
    jq -c --arg c "${1%%,*}" '.[$c]'
}

tb_step "the commands are listed and answer"
tb_check "/ lists the routerd commands" tb_expect_match '/routerd/neighbours' \
  bash -c "echo / | $TB_PY $(command -v dpdk-telemetry.py) -f rtrit$TB_ID"
tb_check "/help names what /routerd/stats returns" tb_expect_match 'summed over lcores' \
  bash -c "echo /help,/routerd/stats | $TB_PY $(command -v dpdk-telemetry.py) -f rtrit$TB_ID"

tb_step "counters after known traffic"
tb_ping 0 10.3.0.2 2 >/dev/null  # resolve the neighbours first
tel /routerd/stats >"$TB_DIR/t0.json"
tb_check "h0 pings h2 across the router, 20 times" tb_ping 0 10.3.0.2 20
tel /routerd/stats >"$TB_DIR/t1.json"
rctl_j stats >"$TB_DIR/r1.json"
# Telemetry's ports are one flat dict, p0_rx_packets... (22.11 nests one container level
# and arrays cannot hold dicts); routerctl's a list.
port_field() {
  if [[ $1 == *t?.json ]]; then jq -r --arg k "$2_$3" '.ports[$k]' "$1"
  else jq -r --arg p "$2" ".ports[] | select(.name == \$p) | .$3" "$1"; fi
}
check_delta() {
  local port=$1 field=$2 a b
  a=$(port_field "$TB_DIR/t0.json" "$port" "$field")
  b=$(port_field "$TB_DIR/t1.json" "$port" "$field")
  tb_say "     $port $field: $a -> $b (+$((b - a)))"
  ((b - a >= 20 && b - a <= 24))
}
tb_check "p0 rx_packets rose by the 20 requests" check_delta p0 rx_packets
tb_check "p2 tx_packets rose by the 20 requests" check_delta p2 tx_packets
tb_check "p2 rx_packets rose by the 20 replies" check_delta p2 rx_packets
tb_check "p0 tx_packets rose by the 20 replies" check_delta p0 tx_packets
same_as_routerctl() {
  local t r
  for p in p0 p1 p2; do
    for f in rx_packets tx_packets dropped; do
      t=$(port_field "$TB_DIR/t1.json" $p $f)
      r=$(port_field "$TB_DIR/r1.json" $p $f)
      [[ $t == "$r" ]] || { tb_say "     $p $f: telemetry $t, routerctl $r"; return 1; }
    done
  done
  tb_say "     every port counter equal (no traffic between the two reads)"
}
tb_check "telemetry and routerctl stats agree" same_as_routerctl
tb_check "drops by reason are a dict of counters" \
  bash -c "jq -e '.drops.no_route >= 0 and (.drops | length) > 10' $TB_DIR/t1.json"
tb_check "nested hw counters are flattened (one container level in DPDK 22.11)" \
  bash -c "jq -e '.ports.p0_hw_ipackets >= 20' $TB_DIR/t1.json"

tb_step "lcores, routes, cache, neighbours"
lcores() {
  local a b
  a=$(tel /routerd/lcores | jq '.worker0.polls')
  sleep 0.2
  b=$(tel /routerd/lcores | jq '.worker0.polls')
  tb_say "     worker 0 polls $a -> $b"
  ((b > a))
}
tb_check "/routerd/lcores: worker 0 keeps polling" lcores
# tel_expect CMD JQ: the command's answer, printed, must satisfy the jq condition.
tel_expect() {
  local t
  t=$(tel "$1")
  tb_say "     $t"
  jq -e "$2" <<<"$t" >/dev/null
}
tb_check "/routerd/routes: 3 connected /24s" tel_expect /routerd/routes \
  '.routes == 3 and .connected == 3 and .by_length."24" == 3 and .next_hops >= 3'
rctl route add 192.0.2.0/25 via 10.2.0.2
tb_check "/routerd/routes follows a route add" tel_expect /routerd/routes \
  '.routes == 4 and .static == 1 and .by_length."25" == 1'
tb_check "/routerd/cache: counters and invalidation latency" tel_expect /routerd/cache \
  '.enabled == 1 and (.hits + .misses + .bypassed_bursts) > 0 and .invalidation.p50_ns >= 0 and .commits >= 1 and .sets == 4096 and .ways == 4 and .ipv6.sets == 4096 and .ipv6.ways == 3'
tb_check "/routerd/neighbours: h0 and h2 resolved" tel_expect /routerd/neighbours \
  '[.[] | select(.dst == "10.1.0.2" or .dst == "10.3.0.2")] | length == 2'
tb_check "/routerd/neighbours,p2 filters by port" \
  bash -c "[[ \$(echo /routerd/neighbours,p2 | $TB_PY $(command -v dpdk-telemetry.py) -f rtrit$TB_ID | jq -c '[.\"/routerd/neighbours\"[].dev] | unique') == '[\"p2\"]' ]]"

tb_step "bad requests get an error, routerd keeps going"
tb_check "unknown port" tb_expect_match "unknown port" \
  bash -c "echo /routerd/neighbours,nope | $TB_PY $(command -v dpdk-telemetry.py) -f rtrit$TB_ID"
tb_check "parameters where none are taken" tb_expect_match "takes no parameters" \
  bash -c "echo /routerd/stats,x | $TB_PY $(command -v dpdk-telemetry.py) -f rtrit$TB_ID"
tb_check "still forwarding" tb_ping 0 10.3.0.2 3
tb_finish
