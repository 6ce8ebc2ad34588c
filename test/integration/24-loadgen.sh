#!/usr/bin/env bash
# 24-loadgen: scripts/loadgen pushes traffic from a second DPDK process through routerd over
# memif and over virtio-user/vhost-user, searches a zero-loss rate, and every packet is
# accounted for: lost between the generator's ports = the drops routerd counted (less any of
# routerd's own frames among them).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_init
[[ -x $ROUTERD_BUILD_DIR/test/bench/routerd-loadgen ]] || tb_skip "routerd-loadgen not built"

run_loadgen() {
  local transport=$1 out rc=0
  "$TB_PY" "$TB_REPO/scripts/loadgen" --transport "$transport" --seconds 1 --steps 2 \
    --build-dir "$ROUTERD_BUILD_DIR" --json "$TB_DIR/$transport.json" >"$TB_DIR/$transport.out" 2>&1 || rc=$?
  tb_indent <"$TB_DIR/$transport.out"
  ((rc == 0)) || { tb_say "     scripts/loadgen exited with $rc"; return 1; }
  # Drops beyond what was lost are routerd's own frames (its startup DAD probes, say).
  jq -e '((.routerd.drops | add) - .lost) as $own_dropped
         | $own_dropped >= 0 and $own_dropped <= .routerd.own_sent and .unexplained == 0
         and .routerd.p0_rx == .generator.total.sent
         and .generator.total.received > 1000000' "$TB_DIR/$transport.json" >/dev/null
}
tb_check "memif: over a million packets forwarded, lost = routerd's counted drops" run_loadgen memif
tb_check "virtio-user/vhost-user: the same" run_loadgen virtio
tb_finish
