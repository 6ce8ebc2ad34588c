#!/usr/bin/env bash
# 27-soak: scripts/soak at CI size (10 s per flood): ARP from random senders, a /16 scan,
# spoofed PTBs, never-completed fragments, ICMP errors and TTL-1 traffic each leave h1's
# ping to h2 delivering >= 0.9x its no-flood share, routerd's RSS flat, the generation rate
# bounded and ICMP errors within the token bucket (--no-timing: RTT and iperf3 ratios are
# reported, not judged; scripts/soak alone judges them too).
# scripts/soak runs its own testbed; it takes over the testbed lock the runner holds
# (inherited fd), so it does not wait for itself.
# A baseline and six 10 s floods, each with ping and iperf3: 90-110 s.
# it-timeout: 240
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
# Busy polling, as deployed: the floods measure what forwarding keeps under overload.
export TB_IDLE_SLEEP_US=0
tb_init
tb_require_cmds iperf3 flock stdbuf

soak() {
  local rc=0
  ROUTERD_BUILD_DIR=$ROUTERD_BUILD_DIR "$TB_REPO/scripts/soak" --seconds 10 --no-timing >"$TB_DIR/soak.out" 2>&1 || rc=$?
  tb_indent <"$TB_DIR/soak.out"
  ((rc != TB_SKIP)) || tb_skip "scripts/soak skipped: $(grep -m1 '^SKIP:' "$TB_DIR/soak.out")"
  ((rc == 0)) || { tb_say "     scripts/soak exited with $rc"; return 1; }
}
tb_check "scripts/soak --seconds 10 --no-timing: every flood row PASS" soak
tb_finish
