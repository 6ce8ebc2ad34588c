#!/usr/bin/env bash
# 11-iperf: a TCP stream between h0 and h2 through the router for 3 s, with nonzero
# throughput, seen in the router's port counters.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
# Busy polling, as deployed: this test measures throughput.
export TB_IDLE_SLEEP_US=0
tb_init
tb_require_cmds iperf3
tb_start

tb_bg_host "$TB_DIR/iperf3-server.log" 2 iperf3 -s -1 -B 10.3.0.2
tb_wait_until 10 eval "hx 2 ss -ltn | grep -q '10.3.0.2:5201'" ||
  tb_die "iperf3 server did not start: $(cat "$TB_DIR/iperf3-server.log")"

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
check_iperf() {
  local rc=0 bps mbps segs
  hx 0 timeout 60 iperf3 -c 10.3.0.2 -t 3 -J >"$TB_DIR/iperf3.json" 2>"$TB_DIR/iperf3.err" || rc=$?
  if ((rc != 0)); then
    tb_say "     iperf3 client failed (exit $rc):"
    { jq -r '.error // empty' "$TB_DIR/iperf3.json" 2>/dev/null; cat "$TB_DIR/iperf3.err"; } | tb_indent
    return 1
  fi
  bps=$(jq -r '.end.sum_received.bits_per_second // 0' "$TB_DIR/iperf3.json")
  segs=$(jq -r '.end.sum_sent.retransmits // 0' "$TB_DIR/iperf3.json")
  mbps=$(awk -v b="$bps" 'BEGIN {printf "%.1f", b / 1e6}')
  tb_say "     h0 -> h2 TCP: $mbps Mbit/s received, $segs retransmits"
  echo "$mbps" >"$TB_DIR/mbps"
  awk -v b="$bps" 'BEGIN {exit !(b > 0)}'
}
tb_check "iperf3 -c 10.3.0.2 -t 3 from h0: completes with nonzero throughput" check_iperf

if tb_is_routerd; then
  tb_stats "$TB_DIR/after.json"
  check_counters() {
    local rx0 tx2 rx2 tx0
    rx0=$(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" '.ports[] | select(.name == "p0") | .rx_packets')
    tx2=$(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" '.ports[] | select(.name == "p2") | .tx_packets')
    rx2=$(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" '.ports[] | select(.name == "p2") | .rx_packets')
    tx0=$(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" '.ports[] | select(.name == "p0") | .tx_packets')
    tb_say "     p0 rx +$rx0, p2 tx +$tx2 (data); p2 rx +$rx2, p0 tx +$tx0 (acks)"
    tb_say "     drops that rose: $(jq -c --slurpfile b "$TB_DIR/before.json" \
      '[.drops | to_entries[] | select(.value != ($b[0].drops[.key] // 0)) | "\(.key)+\(.value - ($b[0].drops[.key] // 0))"]' \
      "$TB_DIR/after.json")"
    ((rx0 > 1000 && tx2 > 1000 && rx2 > 100 && tx0 > 100))
  }
  tb_check "routerd port counters show the stream (p0 rx, p2 tx > 1000 packets)" check_counters
fi
tb_finish
