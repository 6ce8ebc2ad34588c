#!/usr/bin/env bash
# 02-traceroute: traceroute (UDP and ICMP) from h0 to h1 shows the router as hop 1 and the
# destination as hop 2.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_cmds traceroute
tb_start

# check_trace [traceroute options...]: hop 1 is 10.1.0.1, hop 2 is 10.2.0.2, and it ends there.
check_trace() {
  local out hop1 hop2 last
  tb_run_capture out hx 0 timeout 30 traceroute -n -q1 -w1 "$@" 10.2.0.2 || true
  hop1=$(awk '$1 == "1" {print $2}' <<<"$out")
  hop2=$(awk '$1 == "2" {print $2}' <<<"$out")
  last=$(awk '$1 ~ /^[0-9]+$/ {n = $1} END {print n}' <<<"$out")
  tb_indent <<<"$out"
  if [[ $hop1 == 10.1.0.1 && $hop2 == 10.2.0.2 && $last == 2 ]]; then
    return 0
  fi
  tb_say "     expected hop 1 = 10.1.0.1, hop 2 = 10.2.0.2 and 2 hops; got hop1='$hop1' hop2='$hop2' hops=$last"
  return 1
}

tb_check "traceroute -n -q1 -w1 (UDP) h0 -> 10.2.0.2: 10.1.0.1 then 10.2.0.2" check_trace
tb_check "traceroute -I -n -q1 -w1 (ICMP) h0 -> 10.2.0.2: 10.1.0.1 then 10.2.0.2" check_trace -I
# UDP to the router itself must get Port Unreachable, so a trace to it ends at hop 1.
check_trace_router() {
  local out hop1 last
  tb_run_capture out hx 0 timeout 30 traceroute -n -q1 -w1 10.2.0.1 || true
  tb_indent <<<"$out"
  hop1=$(awk '$1 == "1" {print $2}' <<<"$out")
  last=$(awk '$1 ~ /^[0-9]+$/ {n = $1} END {print n}' <<<"$out")
  [[ $hop1 == 10.2.0.1 && $last == 1 ]] && return 0
  tb_say "     expected a single hop 10.2.0.1 (Port Unreachable from the router); got hop1='$hop1' hops=$last"
  return 1
}
tb_check "traceroute -n -q1 -w1 (UDP) h0 -> router 10.2.0.1 ends at hop 1" check_trace_router
tb_finish
