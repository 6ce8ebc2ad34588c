#!/usr/bin/env bash
# 05-host-unreachable: a host on a connected subnet that never answers ARP gets ICMP Host
# Unreachable back to the sender (after the ARP probes), and its neighbour entry fails.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_start

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
check_host_unreach() {
  local out t0=$SECONDS
  tb_run_capture out hx 0 ping -n -c1 -W 8 10.2.0.99 || true
  if grep -Eq '^From 10\.1\.0\.1( icmp_seq=1)? Destination Host Unreachable' <<<"$out"; then
    grep 'Unreachable' <<<"$out" | tb_indent
    tb_say "     after $((SECONDS - t0)) s"
    ((SECONDS - t0 <= 7)) && return 0
    tb_say "     too slow: expected within ~5 s"
    return 1
  fi
  tb_say "     expected 'From 10.1.0.1 icmp_seq=1 Destination Host Unreachable'; got:"
  tb_indent <<<"$out"
  return 1
}
tb_check "ping -c1 10.2.0.99 (no such host on p1) from h0: Destination Host Unreachable from 10.1.0.1" \
  check_host_unreach

check_neigh_failed() {
  local out state
  if tb_is_routerd; then
    tb_run_capture out rctl_j neigh show || { tb_indent <<<"$out"; return 1; }
    state=$(jq -r '[.[] | select(.dst == "10.2.0.99") | .state] | first // "absent"' <<<"$out")
  else
    tb_run_capture out ip -n "$TB_RTR_NS" neigh show 10.2.0.99
    state=$(awk '{print $NF}' <<<"$out")
    [[ -n $state ]] || state=absent
  fi
  tb_say "     10.2.0.99 neighbour state: $state"
  [[ $state == FAILED || $state == absent ]] && return 0
  tb_indent <<<"$out"
  return 1
}
tb_check "neighbour 10.2.0.99 is FAILED or gone" check_neigh_failed

if tb_is_routerd; then
  tb_stats "$TB_DIR/after.json"
  tb_check "events.icmp_host_unreachable_sent and arp_request_sent rose" \
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 1 \
    .events.icmp_host_unreachable_sent .events.arp_request_sent
fi
# The router still forwards to the live neighbours on that port.
tb_check "h0 -> h1 still works" tb_ping 0 10.2.0.2 3
tb_finish
