#!/usr/bin/env bash
# 12-shutdown: SIGTERM makes routerd exit 0 within a few seconds, log its final counters and
# leave no TAP interface behind.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_start
tb_ping 0 10.2.0.2 3 >/dev/null || true

check_term() {
  local t0=$SECONDS
  tb_stop_routerd TERM 10
  tb_say "     exit status $TB_ROUTERD_RC after $((SECONDS - t0)) s (124 = killed after 10 s)"
  ((TB_ROUTERD_RC == 0))
}
tb_check "SIGTERM: routerd exits with status 0 within 10 s" check_term

check_final() {
  if grep -qi 'final' "$TB_LOG"; then
    grep -i 'final' "$TB_LOG" | head -3 | cut -c1-300 | tb_indent
    return 0
  fi
  tb_say "     no line containing 'final' in stderr; last lines:"
  tail -10 "$TB_LOG" | tb_indent
  return 1
}
tb_check "stderr has the final counters line" check_final

check_no_taps() {
  local i left=""
  sleep 0.5
  for ((i = 0; i < TB_NPORTS; i++)); do
    ip link show "$(tb_tap $i)" >/dev/null 2>&1 && left+=" $(tb_tap $i)"
    hx "$i" ip link show eth0 >/dev/null 2>&1 && left+=" ${TB_HOSTS[$i]}:eth0"
  done
  [[ -z $left ]] && return 0
  tb_say "     interfaces still present:$left"
  return 1
}
tb_check "no TAP interface remains (root namespace or hosts)" check_no_taps

# SIGINT is a clean exit too.
check_int() {
  rm -f "$TB_SOCK"
  tb_start_routerd
  tb_stop_routerd INT 10
  tb_say "     exit status $TB_ROUTERD_RC after SIGINT"
  ((TB_ROUTERD_RC == 0))
}
tb_check "SIGINT: routerd exits with status 0" check_int
tb_finish
