#!/usr/bin/env bash
# 46-cp-flood: TCP floods at the control plane (issue 16, tests item 6), scripts/soak at CI
# size with [control_plane] on (punt_rate 2000, burst 500) and a listener on 179 in its
# namespace: 5,000 SYNs a second to 10.1.0.1:179 (allowed: BGP) and to 10.1.0.1:8080 (not
# allowed), from h0's address with random ports (--syn-from-src: random senders would fill
# the host's one neighbour table, shared by every namespace, as the kernel ARPs for each),
# for 8 s each. synclosed first: after syn179 the kernel still retransmits SYN-ACKs to h0,
# whose RSTs to 179 are allowed and reach the kernel during the next flood. Both leave h1's
# ping to h2 delivering >= 0.9x its no-flood share and routerd's RSS flat; the SYNs to 179
# reach the kernel at most at the bucket's rate (punt_rate x seconds + burst), the excess
# counted in cp_rate_limited; those to 8080 are counted in cp_denied (>= 90% of what arrived)
# and next to nothing reaches the kernel. Then the same two over IPv6 (synclosedv6, syn179v6:
# to 2001:db8:1::1 from h0's 2001:db8:1::2; the soak makes the testbed dual-stack for them;
# both closed-port floods first, for the reason above).
# --no-timing: RTT and iperf3 ratios are reported, not judged, as in 27.
# scripts/soak runs its own testbed; it takes over the testbed lock the runner holds
# (inherited fd), so it does not wait for itself.
# A baseline, the null flood and four 8 s floods, each with ping and iperf3: 80-130 s.
# it-timeout: 240
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_init
tb_require_cmds iperf3 flock stdbuf

OUT=$TB_DIR/soak.out
soak() {
  local rc=0
  ROUTERD_BUILD_DIR=$ROUTERD_BUILD_DIR "$TB_REPO/scripts/soak" \
    --only synclosed,synclosedv6,syn179,syn179v6 --seconds 8 \
    --punt-rate 2000 --punt-burst 500 --syn-from-src --no-timing >"$OUT" 2>&1 || rc=$?
  tb_indent <"$OUT"
  ((rc != TB_SKIP)) || tb_skip "scripts/soak skipped: $(grep -m1 '^SKIP:' "$OUT")"
  ((rc == 0)) || { tb_say "     scripts/soak exited with $rc"; return 1; }
}
# row NAME: the soak table's row of flood NAME.
row() { grep -m1 "^| $1 |" "$OUT"; }
tb_check "scripts/soak --only synclosed,synclosedv6,syn179,syn179v6 --seconds 8 --no-timing: every row PASS" soak
tb_check "the syn179 row: SYNs to 179 rate-limited, the kernel's share within the bucket" \
  eval "row syn179 | grep -q 'cp_rate_limited +[1-9]' && row syn179 | grep -q '| PASS |$'"
tb_check "the synclosed row: the SYNs to 8080 denied, and it passed" \
  eval "row synclosed | grep -q 'cp_denied +[1-9]' && row synclosed | grep -q '| PASS |$'"
tb_check "the syn179v6 row: IPv6 SYNs to 179 rate-limited, the kernel's share within the bucket" \
  eval "row syn179v6 | grep -q 'cp_rate_limited +[1-9]' && row syn179v6 | grep -q '| PASS |$'"
tb_check "the synclosedv6 row: the IPv6 SYNs to 8080 denied, and it passed" \
  eval "row synclosedv6 | grep -q 'cp_denied +[1-9]' && row synclosedv6 | grep -q '| PASS |$'"
tb_finish
