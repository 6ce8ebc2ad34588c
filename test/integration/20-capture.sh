#!/usr/bin/env bash
# 20-capture: dpdk-dumpcap captures a routerd port while it forwards (rte_pdump), and
# forwarding goes on unchanged during and after the capture. A DPDK secondary process
# shares the primary's hugepage memory, so this test runs routerd in hugepages.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_require_root
tb_require_cmds dpdk-dumpcap
tb_require_scapy
if ! huge=$("$TB_REPO/scripts/hugepages" --mb 2048 2>&1); then
  tb_skip "live capture needs hugepages and they cannot be reserved here: $huge"
fi
export TB_HUGE=1
tb_init
tb_say "$huge"
tb_start
# Counted from here: the router's own first frames (DAD, MLD) may meet a host-side TAP not yet
# up in its namespace (net_tap: tx_full), which says nothing about the capture.
tb_stats "$TB_DIR/start.json"

tb_step "routerd offers live capture"
tb_check "the log says how to capture" tb_expect_match 'live capture: dpdk-dumpcap --file-prefix=rtrit' \
  cat "$TB_LOG"

tb_step "capture p0 while h0 pings h2"
port_id=$(rctl_j link show p0 | jq -r '.[0].port_id')
cap=$TB_DIR/p0.pcapng
# -p: the TAP device is in another namespace and cannot change its promiscuous mode.
tb_bg "$TB_DIR/dumpcap.log" stdbuf -oL -eL dpdk-dumpcap --file-prefix="rtrit$TB_ID" -i "$port_id" -p -c 30 \
  -w "$cap"
dumpcap_pid=$TB_LAST_PID
tb_check "dumpcap attaches to routerd" tb_wait_until 20 grep -q 'Capturing on' "$TB_DIR/dumpcap.log"
tb_check "h0 pings h2 through the router, 20 times" tb_ping 0 10.3.0.2 20
dumpcap_done() { ! kill -0 "$dumpcap_pid" 2>/dev/null; }
tb_check "dumpcap stops after 30 packets" tb_wait_until 20 dumpcap_done
tb_indent <"$TB_DIR/dumpcap.log"
count_capture() {
  "$TB_PY" - "$cap" <<'PY'
import sys
from scapy.all import rdpcap, IP, ICMP
pkts = rdpcap(sys.argv[1])
req = sum(1 for p in pkts if IP in p and ICMP in p and p[ICMP].type == 8 and p[IP].dst == "10.3.0.2")
rep = sum(1 for p in pkts if IP in p and ICMP in p and p[ICMP].type == 0 and p[IP].src == "10.3.0.2")
print(f"     {len(pkts)} packets captured: {req} echo requests to 10.3.0.2 (in), {rep} replies (out)")
# dpdk-dumpcap -c 30 stops once it has 30, but writes the whole burst that got it there
# (seen: 31 packets), so "at least 30".
sys.exit(0 if len(pkts) >= 30 and req >= 10 and rep >= 10 else 1)
PY
}
tb_check "the capture holds both directions of p0's traffic" count_capture

tb_step "forwarding after the capture"
tb_check "h0 still reaches h2" tb_ping 0 10.3.0.2 5
no_drops() {
  local d
  # The hosts' own IPv6 chatter (MLD reports to ff02::16) is multicast routerd does not route.
  tb_stats "$TB_DIR/end.json"
  d=$(jq -n --slurpfile a "$TB_DIR/start.json" --slurpfile b "$TB_DIR/end.json" '
    [$b[0].drops | to_entries[] | select(.key != "ethertype_unsupported" and
      .key != "multicast_destination") | .value - ($a[0].drops[.key] // 0)] | add')
  tb_say "     drops since the start, other than the hosts' IPv6 multicast: $d"
  ((d == 0))
}
tb_check "no packet was dropped" no_drops
tb_finish
