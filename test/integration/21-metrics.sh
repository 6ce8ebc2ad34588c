#!/usr/bin/env bash
# 21-metrics: the Prometheus endpoint (metrics_listen), scraped with curl while traffic
# flows, shows counters that rise and then match routerctl stats; a taken or invalid
# address stops routerd with the reason.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_require_cmds curl
PORT=$((20000 + TB_ID % 20000))
export TB_TOP_TOML="metrics_listen = \"127.0.0.1:$PORT\""
tb_init

tb_step "an address routerd cannot use stops it, with the reason"
# Something else already listens there.
"$TB_PY" -c "import socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1', $PORT)); s.listen(); print('ready', flush=True); time.sleep(60)" \
  >"$TB_DIR/squatter.out" &
squatter=$!
tb_on_cleanup "kill $squatter"
tb_wait_until 10 grep -q ready "$TB_DIR/squatter.out"
tb_write_config "$TB_DIR/taken.toml"
taken() {
  local rc=0
  timeout 60 "$ROUTERD" -c "$TB_DIR/taken.toml" >"$TB_DIR/taken.out" 2>&1 </dev/null || rc=$?
  grep -E 'metrics_listen|error' "$TB_DIR/taken.out" | tb_indent
  ((rc == 1)) && grep -q "metrics_listen 127.0.0.1:$PORT: cannot listen (Address already in use)" "$TB_DIR/taken.out"
}
tb_check "port taken: exit 1, 'cannot listen (Address already in use)'" taken
kill "$squatter"
wait "$squatter" 2>/dev/null || true
TB_TOP_TOML='metrics_listen = "127.0.0.1:99999"' tb_write_config "$TB_DIR/bad.toml"
bad() {
  local rc=0
  timeout 20 "$ROUTERD" -c "$TB_DIR/bad.toml" >"$TB_DIR/bad.out" 2>&1 </dev/null || rc=$?
  tb_indent <"$TB_DIR/bad.out"
  ((rc == 2)) && grep -q "metrics_listen: '127.0.0.1:99999' is not ADDRESS:PORT" "$TB_DIR/bad.out"
}
tb_check "invalid address: config error, exit 2" bad

tb_start
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
metric() { awk -v m="$2" '$1 == m { print $2 }' "$1"; }

tb_step "scrapes during traffic"
tb_check "the endpoint answers in the text format" tb_expect_match '^# TYPE routerd_port_rx_packets_total counter' scrape
tb_bg "$TB_DIR/flood.log" hx 0 ping -n -q -i 0.01 -c 300 10.3.0.2
flood=$TB_LAST_PID
sleep 0.5
scrape >"$TB_DIR/m1.txt"
sleep 1.5
scrape >"$TB_DIR/m2.txt"
rises() {
  local m='routerd_port_rx_packets_total{port="p0"}' a b
  a=$(metric "$TB_DIR/m1.txt" "$m")
  b=$(metric "$TB_DIR/m2.txt" "$m")
  tb_say "     $m: $a -> $b in 1.5 s of pinging (-i 0.01: 55-100 pps on this VM)"
  ((b >= a + 50))
}
tb_check "p0's rx counter rises between two scrapes, by at least 50 pings" rises
wait_flood() { ! kill -0 "$flood" 2>/dev/null; }
tb_check "the ping ends (300 at 100 pps)" tb_wait_until 20 wait_flood
tb_indent <"$TB_DIR/flood.log"

tb_step "after the traffic: the scrape matches routerctl stats"
sleep 0.5
scrape >"$TB_DIR/m3.txt"
rctl_j stats >"$TB_DIR/s3.json"
match() {
  local p f m v s bad=0
  for p in p0 p1 p2; do
    for f in rx_packets tx_packets; do
      m="routerd_port_${f}_total{port=\"$p\"}"
      v=$(metric "$TB_DIR/m3.txt" "$m")
      s=$(jq --arg p $p ".ports[] | select(.name == \$p) | .$f" "$TB_DIR/s3.json")
      [[ $v == "$s" ]] || { tb_say "     $m: metrics $v, routerctl $s"; bad=1; }
    done
  done
  for r in $(jq -r '.drops | keys[]' "$TB_DIR/s3.json"); do
    v=$(metric "$TB_DIR/m3.txt" "routerd_dropped_packets_total{reason=\"$r\"}")
    s=$(jq ".drops.$r" "$TB_DIR/s3.json")
    [[ $v == "$s" ]] || { tb_say "     drop $r: metrics $v, routerctl $s"; bad=1; }
  done
  tb_say "     p0 rx $(metric "$TB_DIR/m3.txt" 'routerd_port_rx_packets_total{port="p0"}'), p2 tx $(metric "$TB_DIR/m3.txt" 'routerd_port_tx_packets_total{port="p2"}'): equal to routerctl, and every drop reason"
  ((bad == 0))
}
tb_check "port and drop counters equal routerctl's" match
lcore_label() {
  local l
  l=$(grep '^routerd_lcore_polls_total' "$TB_DIR/m3.txt")
  tb_say "     $l"
  [[ $l == 'routerd_lcore_polls_total{lcore="1"}'* ]]
}
tb_check "per-lcore counters carry the EAL lcore (1: the worker)" lcore_label
post() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST --data-binary 'x' "http://127.0.0.1:$PORT/metrics")
  tb_say "     POST /metrics with a body: HTTP $code"
  [[ $code == 413 ]]
}
tb_check "a request with a body is refused with 413 (issue 13: the endpoint took any body)" post
tb_check "routes, FIB prefixes and the generation are gauges" \
  bash -c "grep -q '^routerd_routes 3\$' $TB_DIR/m3.txt && grep -q '^# TYPE routerd_generation gauge' $TB_DIR/m3.txt"
tb_finish
