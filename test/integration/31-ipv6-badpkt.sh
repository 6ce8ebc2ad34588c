#!/usr/bin/env bash
# 31-ipv6-badpkt: malformed IPv6 packets are dropped, each counted under its own reason;
# Hop-by-Hop options are acted on as RFC 8200 4.2 says (Router Alert forwarded and counted,
# an unrecognised 10xxxxxx option answered with Parameter Problem code 2 pointing at it, a
# malformed header with code 0); other extension headers and unknown next headers are
# forwarded unchanged but for the hop limit; and the router keeps forwarding ping -6.
# The traffic checks also run against the Linux reference (ROUTER_IMPL=linux).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_cmds tcpdump stdbuf
tb_require_scapy
export TB_IPV6=1
# The new counters must also reach DPDK telemetry and the Prometheus endpoint.
export TB_TELEMETRY=1
MPORT=$((20000 + (TB_ID + 31) % 20000))
export TB_TOP_TOML="metrics_listen = \"127.0.0.1:$MPORT\""
tb_start

N=5
SRC=$(tb_host_ip6 0) DST=$(tb_host_ip6 1)
# kind -> routerd drop reason (test/integration/badpkt6.py describes each kind)
declare -A REASON=(
  [too_short]=ipv6_too_short
  [truncated]=ipv6_truncated
  [bad_version]=ipv6_bad_version
  [multicast_source]=ipv6_bad_source
  [hbh_unknown_10]=ipv6_option_discard
  [hbh_unknown_01]=ipv6_option_discard
  [hbh_malformed]=ipv6_bad_ext_header
)
DROPPED=(too_short truncated bad_version multicast_source hbh_unknown_10 hbh_unknown_01 hbh_malformed)
FORWARDED=(hbh_router_alert unknown_nh fragment dest_options valid)
RMAC=$(tb_router_mac 0)
[[ -n $RMAC ]] || tb_die "no MAC for the router's p0"
tb_info "router MAC on p0: $RMAC"

# Captures: on h1 whatever of h0's packets arrives; on h0 the ICMPv6 that comes back.
CAP1=$TB_DIR/h1.pcap CAP0=$TB_DIR/h0.pcap
tb_bg_host "$TB_DIR/tcpdump-h1.log" 1 tcpdump -Z root -i eth0 -n -U -w "$CAP1" "ip6 src $SRC"
PID1=$TB_LAST_PID
tb_bg_host "$TB_DIR/tcpdump-h0.log" 0 tcpdump -Z root -i eth0 -n -U -w "$CAP0" "icmp6 and ip6 dst $SRC"
PID0=$TB_LAST_PID
tb_wait_until 10 grep -q 'listening on' "$TB_DIR/tcpdump-h1.log" ||
  tb_die "tcpdump on h1 did not start: $(cat "$TB_DIR/tcpdump-h1.log")"
tb_wait_until 10 grep -q 'listening on' "$TB_DIR/tcpdump-h0.log" ||
  tb_die "tcpdump on h0 did not start: $(cat "$TB_DIR/tcpdump-h0.log")"

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
SENT=$TB_DIR/sent.json
if ! hx 0 "$TB_PY" "$TB_REPO/test/integration/badpkt6.py" send --iface eth0 --dst-mac "$RMAC" \
  --src "$SRC" --dst "$DST" --count $N --record "$SENT" "${DROPPED[@]}" "${FORWARDED[@]}" \
  >"$TB_DIR/send.log" 2>&1; then
  tb_indent <"$TB_DIR/send.log"
  tb_die "badpkt6.py send failed"
fi
tb_indent <"$TB_DIR/send.log"

# --- counters (routerd only) ------------------------------------------------------------------
if tb_is_routerd; then
  want() {  # want REASON: N for every dropped kind counted under REASON
    local k c=0
    for k in "${DROPPED[@]}"; do [[ ${REASON[$k]} == "$1" ]] && c=$((c + 1)); done
    echo $((c * N))
  }
  # Each check: jq path and the rise it must show.
  declare -A RISE=(
    [.events.ipv6_router_alert_forwarded]=$N
    [.events.icmp6_param_problem_sent]=$((2 * N))
    [.punts.hop_by_hop]=$((4 * N))
  )
  for k in "${DROPPED[@]}"; do RISE[.drops.${REASON[$k]}]=$(want "${REASON[$k]}"); done
  all_reached() {
    tb_stats "$TB_DIR/after.json" || return 1
    local p
    for p in "${!RISE[@]}"; do
      (($(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" "$p") >= RISE[$p])) || return 1
    done
  }
  tb_wait_until 3 all_reached || true
  sleep 0.3
  tb_stats "$TB_DIR/after.json"
  check_rise() {  # check_rise JQ-PATH
    local d
    if [[ $(jq "($1) | type" "$TB_DIR/after.json") != '"number"' ]]; then
      tb_say "     stats -j has no $1"
      return 1
    fi
    d=$(tb_stat_delta "$TB_DIR/before.json" "$TB_DIR/after.json" "$1")
    tb_say "     $1: $(tb_stat "$TB_DIR/before.json" "$1") -> $(tb_stat "$TB_DIR/after.json" "$1") (+$d, expected +${RISE[$1]})"
    ((d == RISE[$1])) && return 0
    tb_say "     all non-zero drop deltas:"
    jq -r --slurpfile b "$TB_DIR/before.json" \
      '.drops | to_entries[] | select(.value != ($b[0].drops[.key] // 0)) | "\(.key) +\(.value - ($b[0].drops[.key] // 0))"' \
      "$TB_DIR/after.json" | tb_indent
    return 1
  }
  for p in $(printf '%s\n' "${!RISE[@]}" | sort); do
    tb_check "$p rose by exactly ${RISE[$p]}" check_rise "$p"
  done
  check_text() {  # the text form names the new counters too, with the JSON's figures
    local out r rc=0
    out=$(rctl stats)
    for r in drops.ipv6_option_discard drops.ipv6_bad_ext_header events.ipv6_router_alert_forwarded; do
      grep -Eq "^ +${r#*.} +$(tb_stat "$TB_DIR/after.json" ".$r")\$" <<<"$out" ||
        { tb_say "     no '${r#*.}' line with the JSON's figure"; rc=1; }
    done
    ((rc == 0)) || tb_indent <<<"$out"
    return $rc
  }
  tb_check "routerctl stats (text) shows the new counters as the JSON does" check_text
  NEW=(drops.ipv6_option_discard drops.ipv6_bad_ext_header events.ipv6_router_alert_forwarded)
  check_prometheus() {
    local r v want rc=0
    curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" >"$TB_DIR/metrics.txt" || return 1
    for r in "${NEW[@]}"; do
      want=$(tb_stat "$TB_DIR/after.json" ".$r")
      if [[ $r == drops.* ]]; then
        v=$(awk -v m="routerd_dropped_packets_total{reason=\"${r#*.}\"}" '$1 == m {print $2}' "$TB_DIR/metrics.txt")
      else
        v=$(awk -v m="routerd_events_total{event=\"${r#*.}\"}" '$1 == m {print $2}' "$TB_DIR/metrics.txt")
      fi
      tb_say "     ${r#*.}: Prometheus '$v', routerctl $want"
      [[ $v == "$want" ]] || rc=1
    done
    return $rc
  }
  check_telemetry() {
    local r v want rc=0
    echo /routerd/stats | "$TB_PY" "$(command -v dpdk-telemetry.py)" -f "rtrit$TB_ID" |
      jq -c '.["/routerd/stats"]' >"$TB_DIR/telemetry.json" || return 1
    for r in "${NEW[@]}"; do
      want=$(tb_stat "$TB_DIR/after.json" ".$r")
      v=$(jq ".$r" "$TB_DIR/telemetry.json")
      tb_say "     ${r#*.}: telemetry '$v', routerctl $want"
      [[ $v == "$want" ]] || rc=1
    done
    return $rc
  }
  if command -v curl >/dev/null; then
    tb_check "Prometheus shows the new counters with routerctl's figures" check_prometheus
  else
    tb_info "no curl: Prometheus check skipped"
  fi
  if command -v dpdk-telemetry.py >/dev/null; then
    tb_check "DPDK telemetry (/routerd/stats) shows the new counters with routerctl's figures" \
      check_telemetry
  else
    tb_info "no dpdk-telemetry.py: telemetry check skipped"
  fi
else
  sleep 1
  tb_info "counter checks skipped (ROUTER_IMPL=$ROUTER_IMPL)"
fi

# --- what arrived, and what came back ---------------------------------------------------------
sleep 0.5
tb_bg_stop "$PID1"
tb_bg_stop "$PID0"
hx 1 "$TB_PY" "$TB_REPO/test/integration/badpkt6.py" seen --pcap "$CAP1" --record "$SENT" \
  >"$TB_DIR/seen.json" || tb_die "badpkt6.py seen failed"
hx 0 "$TB_PY" "$TB_REPO/test/integration/badpkt6.py" errors --pcap "$CAP0" \
  --from "$(tb_router_ip6 0)" >"$TB_DIR/errors.json" || tb_die "badpkt6.py errors failed"
tb_info "seen on h1: $(cat "$TB_DIR/seen.json")"
tb_info "ICMPv6 errors from the router at h0: $(cat "$TB_DIR/errors.json")"

check_forwarded() {  # check_forwarded KIND: N frames on h1, each the sent packet, hop limit - 1
  local seen same
  seen=$(jq --arg k "$1" '.[$k].seen' "$TB_DIR/seen.json")
  same=$(jq --arg k "$1" '.[$k].unchanged' "$TB_DIR/seen.json")
  tb_say "     h1 saw $seen of $N, $same unchanged but for the hop limit"
  ((seen == N && same == N))
}
for k in "${FORWARDED[@]}"; do
  tb_check "$N x $k reach h1 unchanged but for the hop limit" check_forwarded "$k"
done
check_none_forwarded() {
  local k n bad=0
  for k in "${DROPPED[@]}"; do
    n=$(jq --arg k "$k" '.[$k].seen' "$TB_DIR/seen.json")
    ((n == 0)) || { tb_say "     $n x $k reached h1"; bad=1; }
  done
  return $bad
}
tb_check "h1 saw none of: ${DROPPED[*]}" check_none_forwarded

check_errors() {  # check_errors KIND CODE POINTER: N Parameter Problems with that code and pointer
  local got
  got=$(jq -c --arg k "$1" '.[$k] // []' "$TB_DIR/errors.json")
  tb_say "     errors about $1: $got"
  jq -e --arg k "$1" --argjson n $N --argjson c "$2" --argjson p "$3" \
    '(.[$k] // []) | length == $n and all(.[]; . == [4, $c, $p])' "$TB_DIR/errors.json" >/dev/null
}
tb_check "$N x hbh_unknown_10 -> $N Parameter Problem code 2 (unrecognized option), pointer 43" \
  check_errors hbh_unknown_10 2 43
# Linux drops a malformed Hop-by-Hop header silently; RFC 8200 4 has the router say why.
QUIET=(hbh_unknown_01 too_short truncated bad_version multicast_source "${FORWARDED[@]}")
if tb_is_routerd; then
  tb_check "$N x hbh_malformed -> $N Parameter Problem code 0 (erroneous header field), pointer 44" \
    check_errors hbh_malformed 0 44
fi
check_quiet() {
  local k n bad=0
  for k in "${QUIET[@]}"; do
    n=$(jq --arg k "$k" '.[$k] // [] | length' "$TB_DIR/errors.json")
    ((n == 0)) || { tb_say "     $n ICMPv6 errors about $k"; bad=1; }
  done
  return $bad
}
tb_check "no ICMPv6 error about: ${QUIET[*]}" check_quiet

# RFC 8200 4.3: the router examines Hop-by-Hop options on a datagram for itself too, then
# takes what follows: an echo request behind PadN is answered (Linux does the same).
hbh_echo() {
  hx 0 "$TB_PY" - "$(tb_router_ip6 0)" "$RMAC" "$SRC" <<'PY'
import sys
import time
from scapy.all import (AsyncSniffer, Ether, ICMPv6EchoReply, ICMPv6EchoRequest, IPv6,
                       IPv6ExtHdrHopByHop, PadN, conf, sendp)
conf.verb = 0
# Sniffed, not sr1(): scapy 2.5 does not pair a reply with a request behind Hop-by-Hop.
sn = AsyncSniffer(iface="eth0", filter="icmp6",
                  lfilter=lambda p: ICMPv6EchoReply in p and p[ICMPv6EchoReply].id == 0x4242)
sn.start()
time.sleep(0.3)
sendp(Ether(dst=sys.argv[2]) / IPv6(src=sys.argv[3], dst=sys.argv[1]) /
      IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0\0\0\0")]) /
      ICMPv6EchoRequest(id=0x4242, seq=7, data=b"routerd-hbh"), iface="eth0")
time.sleep(1.5)
got = sn.stop()
print("replies:", [p.summary() for p in got])
sys.exit(0 if got else 1)
PY
}
tb_check "an echo request to $(tb_router_ip6 0) behind a Hop-by-Hop header (PadN) is answered" \
  tb_expect_ok hbh_echo

if tb_is_routerd; then
  tb_check "routerd still running" tb_routerd_alive
fi
tb_check "h0 -> h1 (ping -6 $DST) still works" tb_ping 0 "$DST" 3
tb_finish
