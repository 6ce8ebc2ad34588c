#!/usr/bin/env bash
# 08-bad-packets: malformed and martian IPv4 packets are dropped silently, each counted under
# its own reason, none is forwarded, and the router keeps working.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_cmds tcpdump stdbuf
tb_require_scapy
tb_start

N=5
# kind -> routerd drop reason (see test/integration/badpkt.py)
declare -A REASON=(
  [bad_checksum]=ipv4_bad_checksum
  [bad_ihl]=ipv4_bad_ihl
  [bad_version]=ipv4_bad_version
  [truncated]=ipv4_truncated
  [too_short]=ipv4_too_short
  [bad_length]=ipv4_bad_length
  [martian_source]=martian_source
  [martian_destination]=martian_destination
  [other_port_broadcast]=martian_source
  [own_address_source]=martian_source
  [bad_fragment]=ipv4_bad_fragment
)
declare -A PORT=(
  [bad_checksum]=40001 [bad_ihl]=40002 [bad_version]=40003 [truncated]=40004
  [too_short]=40005 [bad_length]=40006 [martian_source]=40007 [martian_destination]=40008
  [other_port_broadcast]=40009 [own_address_source]=40010 [bad_fragment]=40011
)
KINDS=(bad_checksum bad_ihl bad_version truncated too_short bad_length martian_source martian_destination)
# RFC 1812 5.3.7: no subnet broadcast of the router's is a valid source, including those of
# ports other than the input one (p2's 10.3.0.255 arriving on p0); nor is an address of
# the router's own (10.3.0.1). Linux forwards the first with rp_filter off, so the
# reference router is not held to these. Nor to RFC 791's bound on a fragment's end (the
# requirements' case 60): Linux checks it only when it reassembles.
if tb_is_routerd; then KINDS+=(other_port_broadcast own_address_source bad_fragment); fi

# The router's MAC on p0 as h0 learnt it by ARP.
hx 0 ping -n -c1 -W 2 10.1.0.1 >/dev/null
RMAC=$(hx 0 ip -j neigh show 10.1.0.1 dev eth0 | jq -r '.[0].lladdr // empty')
[[ -n $RMAC ]] || tb_die "h0 has no ARP entry for 10.1.0.1 after a ping: $(hx 0 ip neigh show)"
tb_info "router MAC on p0 (from h0's ARP cache): $RMAC"
check_mac() {
  local m
  m=$(tb_router_mac 0)
  tb_say "     router reports p0 MAC $m"
  [[ ${m,,} == "${RMAC,,}" ]]
}
tb_check "the MAC h0 resolved for 10.1.0.1 is the router's p0 MAC" check_mac

# Capture on h1 whatever of our UDP probes gets through.
CAP=$TB_DIR/h1.tcpdump
# Later fragments carry no ports: all of them are caught, and none should arrive.
tb_bg_host "$CAP" 1 tcpdump -Z root -i eth0 -n -l 'udp and (dst portrange 40000-40099 or ip[6:2] & 0x1fff != 0)'
TCPDUMP_PID=$TB_LAST_PID
tb_wait_until 10 grep -q 'listening on' "$CAP" || tb_die "tcpdump did not start: $(cat "$CAP")"

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
SEND_LOG=$TB_DIR/send.log
if ! hx 0 "$TB_PY" "$TB_REPO/test/integration/badpkt.py" --iface eth0 --dst-mac "$RMAC" \
  --src 10.1.0.2 --dst 10.2.0.2 --count $N "${KINDS[@]}" valid >"$SEND_LOG" 2>&1; then
  tb_indent <"$SEND_LOG"
  tb_die "badpkt.py failed"
fi
tb_indent <"$SEND_LOG"

# Counters: each reason rose by exactly N (waiting up to 3 s for them to settle).
if tb_is_routerd; then
  want() {  # want KIND: N for every kind counted under KIND's reason
    local k c=0
    for k in "${KINDS[@]}"; do [[ ${REASON[$k]} == "${REASON[$1]}" ]] && c=$((c + 1)); done
    echo $((c * N))
  }
  all_reached() {
    tb_stats "$TB_DIR/after.json" || return 1
    local k
    for k in "${KINDS[@]}"; do
      (($(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" ".drops.${REASON[$k]}") >= $(want "$k"))) || return 1
    done
  }
  tb_wait_until 3 all_reached || true
  sleep 0.3
  tb_stats "$TB_DIR/after.json"
  check_reason() {  # check_reason KIND
    local r=${REASON[$1]} d w
    w=$(want "$1")
    if ! jq -e --arg r "$r" '.drops | has($r)' "$TB_DIR/after.json" >/dev/null; then
      tb_say "     stats -j has no drops.$r; drop keys: $(jq -c '.drops | keys' "$TB_DIR/after.json")"
      return 1
    fi
    d=$(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" ".drops.$r")
    tb_say "     drops.$r: $(tb_stat "$TB_DIR/before.json" ".drops.$r") -> $(tb_stat "$TB_DIR/after.json" ".drops.$r") (+$d, expected +$w)"
    ((d == w)) && return 0
    tb_say "     all non-zero drop deltas:"
    jq -r --slurpfile b "$TB_DIR/before.json" \
      '.drops | to_entries[] | select(.value != ($b[0].drops[.key] // 0)) | "\(.key) +\(.value - ($b[0].drops[.key] // 0))"' \
      "$TB_DIR/after.json" | tb_indent
    return 1
  }
  for k in "${KINDS[@]}"; do
    tb_check "$N x $k -> drops.${REASON[$k]} rose by exactly $(want "$k") (every kind counted there)" check_reason "$k"
  done
else
  sleep 1
  tb_info "counter checks skipped (ROUTER_IMPL=$ROUTER_IMPL)"
fi

sleep 0.5
tb_bg_stop "$TCPDUMP_PID"
seen() { grep -c "10\.2\.0\.2\.$1: UDP" "$CAP" || true; }
check_none_forwarded() {
  local k n bad=0
  for k in "${KINDS[@]}"; do
    n=$(seen "${PORT[$k]}")
    ((n == 0)) || { tb_say "     $n x $k reached h1"; bad=1; }
  done
  # A later fragment prints without ports ("10.1.0.2 > 10.2.0.2: ip-proto-17").
  n=$(grep -c '> 10\.2\.0\.2: ' "$CAP" || true)
  ((n == 0)) || { tb_say "     $n later fragments reached h1"; bad=1; }
  # A martian destination would never reach h1 anyway; any frame it produced would show here.
  n=$(grep -c '0\.1\.2\.3' "$CAP" || true)
  ((n == 0)) || { tb_say "     $n frames to 0.1.2.3 reached h1"; bad=1; }
  ((bad == 0)) || tb_indent <"$CAP"
  return $bad
}
tb_check "tcpdump on h1 saw none of the bad packets" check_none_forwarded
check_valid_forwarded() {
  local n
  n=$(seen 40099)
  tb_say "     h1 saw $n of $N valid control packets"
  ((n == N)) || { tb_indent <"$CAP"; return 1; }
}
tb_check "tcpdump on h1 saw all $N valid control packets (the sender works)" check_valid_forwarded

if tb_is_routerd; then
  tb_check "routerd still running" tb_routerd_alive
fi
tb_check "h0 -> h1 still works" tb_ping 0 10.2.0.2 3
tb_finish
