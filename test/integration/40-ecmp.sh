#!/usr/bin/env bash
# 40-ecmp: ECMP routes (issue 15) with real flows. 10.9.0.1 and 2001:db8:9::1 sit on the
# loopbacks of h1, h2 and h3 (a fourth port, 10.4.0.0/24); h0 sends 1,000 UDP flows (one per
# source port) and a packet sink on each next-hop host logs what arrived (ecmp_flows.py).
# Checked: the spread per member (1:1, 3:1) with every flow on one path and `route get`
# naming it; removing a member moves only its flows; a member whose gateway stops answering
# ARP goes dead and only its flows move, and comes back; every fragment of a datagram takes
# one path; IPv6 with a link-local member; 50 replaces under a flow stream lose nothing on
# the member both sets share; member packet counters in stats, Prometheus and telemetry.
# routerd only: the test drives routerctl's nexthop grammar and reads its group state.
# it-timeout: 240
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_require_cmds curl dpdk-telemetry.py
tb_require_scapy # for the Python the helper runs on, not for scapy itself
# A fourth port and host: three members, each on its own link, told apart by where they arrive.
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=4
TB_HOSTS+=("$TB_PREFIX-h3")
export TB_IPV6=1 TB_TELEMETRY=1
MPORT=$((20000 + TB_ID % 20000))
export TB_TOP_TOML="metrics_listen = \"127.0.0.1:$MPORT\""
# Short ARP timers: a gateway that stops answering is FAILED about 3 s after it last was.
export TB_EXTRA_TOML='[arp]
reachable_time = 2
retrans_time_ms = 250
probes = 3
failed_time_ms = 1000'
tb_init
tb_start

# shellcheck source=ecmp_lib.sh
source "$(dirname "$0")/ecmp_lib.sh"
FLOWS=("$TB_PY" "$(cd "$(dirname "$0")" && pwd)/ecmp_flows.py")
CAP=$TB_DIR/cap
mkdir -p "$CAP"
GW=([1]=10.2.0.2 [2]=10.3.0.2 [3]=10.4.0.2)
NFLOWS=1000
SPORTS=10000-10999
for i in 1 2 3; do
  hx "$i" ip addr add 10.9.0.1/32 dev lo
  hx "$i" ip -6 addr add 2001:db8:9::1/128 dev lo
  tb_bg_host "$CAP/sink$i.err" "$i" "${FLOWS[@]}" sink eth0 "$CAP/h$i.log"
done
for i in 1 2 3; do
  tb_wait_until 10 grep -q ready "$CAP/h$i.log" || tb_die "sink on h$i did not start: $(cat "$CAP/sink$i.err")"
done

# send TAG [ARGS...]: 1,000 flows from h0 to 10.9.0.1:5001, two datagrams each, 2,500/s.
send() {
  local tag=$1
  shift
  hx 0 "${FLOWS[@]}" send --dst 10.9.0.1 --dport 5001 --sports $SPORTS --rounds 2 --pps 2500 \
    --tag "$tag" "$@" | tb_indent
  sleep 0.5 # the sinks flush within 0.1 s of a quiet link
}

# warm DST PREFIX: a few datagrams to DST, then until no member of PREFIX is unresolved: the
# first packets to a gateway nobody asked for yet wait for ARP/NDP, and the queue holds 8.
warm() {
  hx 0 "${FLOWS[@]}" send --dst "$1" --dport 5009 --sports 30000-30049 --pps 500 --tag W >/dev/null
  tb_wait_until 5 eval "rctl_j route show | jq -e --arg p '$2' '.[] | select(.prefix == \$p) |
    all(.nexthops[]; .state == \"alive\")'" ||
    tb_say "     (members of $2 not all alive after 5 s)"
}

# route_get_agrees TAG: for 25 flows of TAG, `route get` names the gateway they arrived at.
route_get_agrees() {
  local tag=$1 sp host via bad=0 n=0
  local -A at
  while read -r sp host; do at[$sp]=$host; done < <(path_of "$CAP/$tag.json" | jq -r 'to_entries[] | "\(.key) \(.value)"')
  for sp in $(seq 10000 40 10999); do
    host=${at[$sp]:-none}
    via=$(rctl_j route get 10.9.0.1 from 10.1.0.2 proto udp sport "$sp" dport 5001 | jq -r .via)
    n=$((n + 1))
    if [[ $host == none || ${GW[${host#h}]} != "$via" ]]; then
      tb_say "     sport $sp arrived at $host but route get says via $via"
      bad=$((bad + 1))
    fi
  done
  tb_say "     $((n - bad)) of $n sampled flows: route get names the gateway they arrived at"
  ((bad == 0))
}


member_state() {  # member_state PREFIX VIA: the member's state in route show
  rctl_j route show | jq -r --arg p "$1" --arg v "$2" \
    '.[] | select(.prefix == $p) | .nexthops[] | select(.via == $v) | .state'
}

step "1. spread over two equal members (IPv4)"
rctl route add 10.9.0.0/16 nexthop via 10.2.0.2 nexthop via 10.3.0.2
rctl route show | grep -A3 '^10.9.0.0/16' | tb_indent || true
warm 10.9.0.1 10.9.0.0/16
tb_stats "$TB_DIR/s-a0"
send A
tb_stats "$TB_DIR/s-a1"
tb_check "1,000 flows over 10.2.0.2 and 10.3.0.2: 50% +- 10% each, one path per flow" \
  spread A h1:50 h2:50
tb_check "route get ... sport N names the path each sampled flow took" route_get_agrees A

step "8a. member packet counters"
counters() {
  local g d sum=0 rc=0 id via recv
  g=$(rctl_j route show | jq '.[] | select(.prefix == "10.9.0.0/16") | .group')
  for id in $(jq -r --argjson g "$g" '.ecmp.ipv4[] | select(.id == $g) | .members[].id' "$TB_DIR/s-a1"); do
    d=$(($(jq --argjson g "$g" --argjson m "$id" '[.ecmp.ipv4[] | select(.id == $g) | .members[] | select(.id == $m) | .packets] | add // 0' "$TB_DIR/s-a1") -
      $(jq --argjson m "$id" '[.ecmp.ipv4[]?.members[] | select(.id == $m) | .packets] | max // 0' "$TB_DIR/s-a0")))
    via=$(jq -r --argjson m "$id" '[.ecmp.ipv4[].members[] | select(.id == $m) | .via][0]' "$TB_DIR/s-a1")
    case $via in 10.2.0.2) recv=h1 ;; 10.3.0.2) recv=h2 ;; *) recv=h3 ;; esac
    recv=$(jq --arg h "$recv" '[.[$h] // {} | .[]] | add // 0' "$CAP/A.json")
    tb_say "     group $g member $id (via $via): packets +$d, $recv datagrams arrived there"
    ((d >= recv)) || rc=1
    sum=$((sum + d))
  done
  tb_say "     members together: +$sum packets for $((2 * NFLOWS)) sent"
  ((sum >= 2 * NFLOWS)) || rc=1
  return $rc
}
tb_check "stats: the group's member packets rose by at least what each path received" counters

step "2. weights 3:1"
rctl route replace 10.9.0.0/16 nexthop via 10.2.0.2 weight 3 nexthop via 10.3.0.2 weight 1
rctl_j route show | jq -c '.[] | select(.prefix == "10.9.0.0/16") | .nexthops | map({via, weight, buckets})' | tb_indent
send B
tb_check "weights 3:1: 75% / 25% +- 10%, one path per flow" spread B h1:75 h2:25

step "3. removing one of three members moves only its flows"
rctl route replace 10.9.0.0/16 nexthop via 10.2.0.2 nexthop via 10.3.0.2 nexthop via 10.4.0.2
warm 10.9.0.1 10.9.0.0/16
send C1
tb_check "three members: 33% +- 10% each" spread C1 h1:33 h2:33 h3:33
rctl route replace 10.9.0.0/16 nexthop via 10.2.0.2 nexthop via 10.3.0.2
send C2
removal() {
  local m on3 bad
  spread C2 h1:50 h2:50 || return 1
  m=$(moved_json C1 C2)
  on3=$(jq '.h3 // {} | length' "$CAP/C1.json")
  bad=$(jq '[.[] | select(.from != "h3")] | length' <<<"$m")
  tb_say "     moved: $(jq length <<<"$m") flows ($(jq -c 'group_by(.to) | map({(.[0].to): length}) | add // {}' <<<"$m")); on the removed member before: $on3; moved from a remaining member: $bad"
  (($(jq length <<<"$m") == on3 && on3 > 0 && bad == 0))
}
tb_check "route replace without 10.4.0.2: moved flows == the flows it carried (> 0), no other moved" removal

step "4. liveness: h3 stops answering ARP, its member goes dead, then comes back"
rctl route replace 10.9.0.0/16 nexthop via 10.2.0.2 nexthop via 10.3.0.2 nexthop via 10.4.0.2
send D0
tb_stats "$TB_DIR/s-d0"
tb_check "three members again: 33% +- 10% each" spread D0 h1:33 h2:33 h3:33
# Traffic keeps flowing meanwhile: an entry is only re-confirmed when it is used.
tb_bg_host "$TB_DIR/bg.log" 0 "${FLOWS[@]}" send --dst 10.9.0.1 --dport 5002 --sports $SPORTS --pps 1000 --tag bg --loop
BG=$TB_LAST_PID
hx 3 ip link set dev eth0 arp off
t0=$SECONDS
dead() {
  local t st last='' seq=''
  # The states the member goes through, with the time since h3 went silent: evidence of how
  # long its flows were neither delivered nor moved (while "unresolved" they wait for ARP).
  while ((SECONDS - t0 <= 15)); do
    st=$(member_state 10.9.0.0/16 10.4.0.2)
    [[ $st == "$last" ]] || { seq+=" $st@$((SECONDS - t0))s"; last=$st; }
    [[ $st != dead ]] || break
    sleep 0.2
  done
  tb_stats "$TB_DIR/s-dead"
  tb_say "     states of 10.4.0.2:$seq; drops.neighbour_queue_overflow +$(tb_stat_delta "$TB_DIR/s-d0" "$TB_DIR/s-dead" .drops.neighbour_queue_overflow)"
  if [[ $st == dead ]]; then
    t=$((SECONDS - t0))
    rctl_j route show | jq -c '.[] | select(.prefix == "10.9.0.0/16") | .nexthops | map({via, state, buckets})' | tb_indent
    grep 'ecmp: gateway 10.4.0.2' "$TB_LOG" | tail -1 | tb_indent
    tb_say "     dead after ${t} s (reachable_time 2 s: probed within 3 s, 3 probes 250 ms apart)"
    ((t <= 8)) && grep -q 'ecmp: gateway 10.4.0.2 does not answer ARP' "$TB_LOG"
  else
    tb_say "     10.4.0.2 still '$st' after 15 s"
    rctl -4 neigh show | tb_indent
    return 1
  fi
}
tb_check "10.4.0.2 shows dead within 8 s of h3 going silent, and routerd logs it" dead
tb_bg_stop "$BG"
tb_indent <"$TB_DIR/bg.log"
send D1
only_dead_moved() {  # only_dead_moved A B: flows on h3 in A moved elsewhere, others stayed
  local m on3 bad
  spread "$2" h1:50 h2:50 || return 1
  m=$(moved_json "$1" "$2")
  on3=$(jq '.h3 // {} | length' "$CAP/$1.json")
  bad=$(jq '[.[] | select(.from != "h3")] | length' <<<"$m")
  tb_say "     moved: $(jq length <<<"$m") ($(jq -c 'group_by(.to) | map({(.[0].to): length}) | add // {}' <<<"$m")); were on 10.4.0.2: $on3; moved though on h1/h2: $bad"
  (($(jq length <<<"$m") == on3 && on3 > 0 && bad == 0))
}
tb_check "while dead: its flows arrive at h1/h2, flows of h1/h2 did not move" only_dead_moved D0 D1
hx 3 ip link set dev eth0 arp on
t0=$SECONDS
back() {
  if ! tb_wait_until 10 eval '[[ $(member_state 10.9.0.0/16 10.4.0.2) == alive ]]'; then
    tb_say "     10.4.0.2 still '$(member_state 10.9.0.0/16 10.4.0.2)' after 10 s"
    return 1
  fi
  tb_stats "$TB_DIR/s-d2"
  tb_say "     alive again after $((SECONDS - t0)) s"
  grep 'ecmp: gateway 10.4.0.2 answers again' "$TB_LOG" | tail -1 | tb_indent
  tb_stat_rose "$TB_DIR/s-d0" "$TB_DIR/s-d2" 1 .ecmp_member_downs .ecmp_member_ups
}
tb_check "h3 answers ARP again: 10.4.0.2 alive within 10 s, ecmp_member_downs and _ups rose" back
send D2
returned() {
  local m bad
  spread D2 h1:33 h2:33 h3:33 || return 1
  m=$(moved_json D1 D2)
  bad=$(jq '[.[] | select(.to != "h3")] | length' <<<"$m")
  tb_say "     moved: $(jq length <<<"$m") flows, to another member than h3: $bad; on another path than before it died: $(jq length <<<"$(moved_json D0 D2)")"
  ((bad == 0 && $(jq length <<<"$m") > 0))
}
tb_check "back: a third of the flows return to h3, none moves between h1 and h2" returned

step "5. fragments: every fragment of a datagram takes one path"
SRCS=$(seq -s, -f '10.1.0.%g' 100 119)
for a in ${SRCS//,/ }; do hx 0 ip addr add "$a/24" dev eth0; done
hx 0 "${FLOWS[@]}" send --dst 10.9.0.1 --dport 5005 --src "$SRCS" --sports 7000-7002 --size 4000 \
  --pps 200 --tag F | tb_indent
sleep 0.5
fragments() {
  local j
  # Per (source, IP ID): fragments per path and whether the last one (MF clear) came.
  j=$(awk '$1 == 4 && $2 ~ /^10\.1\.0\.1[01][0-9]$/ && ($7 > 0 || $8 == 1) {
        n = FILENAME; sub(/.*\//, "", n); sub(/\.log$/, "", n); print $2 "/" $6, n, $7, $8 }' \
        "$CAP"/h{1,2,3}.log | jq -R -s '
        split("\n") | map(select(length > 0) | split(" ")) | group_by(.[0]) |
        map({d: .[0][0], paths: (map(.[1]) | unique), frags: length,
             src: (.[0][0] | split("/")[0])})')
  tb_say "     $(jq length <<<"$j") datagrams of 60 seen; fragments per datagram: $(jq -c 'map(.frags) | group_by(.) | map({(.[0] | tostring): length}) | add // {}' <<<"$j")"
  tb_say "     datagrams on more than one path: $(jq '[.[] | select(.paths | length > 1)] | length' <<<"$j")"
  tb_say "     datagrams per path: $(jq -c '[.[] | .paths[]] | group_by(.) | map({(.[0]): length}) | add // {}' <<<"$j"); sources per path: $(jq -c '[.[] | {src, p: .paths[0]}] | unique | group_by(.p) | map({(.[0].p): length}) | add // {}' <<<"$j")"
  jq -e 'length == 60 and all(.[]; (.paths | length) == 1 and .frags == 3) and
         ([.[] | .paths[0]] | unique | length) > 1' <<<"$j" >/dev/null
}
tb_check "60 datagrams of 4,000 bytes from 20 sources: 3 fragments each, all on one path, paths used > 1" \
  fragments

step "6. IPv6: spread over a global and a link-local member"
LL2=$(hx 2 ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1 | head -n1)
rctl route add 2001:db8:9::/48 nexthop via 2001:db8:2::2 nexthop via "$LL2" dev p2
rctl -6 route show | grep -A3 '^2001:db8:9::/48' | tb_indent || true
warm 2001:db8:9::1 2001:db8:9::/48
hx 0 "${FLOWS[@]}" send --dst 2001:db8:9::1 --dport 5006 --src 2001:db8:1::2 --sports $SPORTS --rounds 2 \
  --pps 2500 --tag V6 | tb_indent
sleep 0.5
tb_check "1,000 IPv6 flows over 2001:db8:2::2 and $LL2 dev p2: 50% +- 10%, one path per flow" \
  spread V6 h1:50 h2:50
route_get6_agrees() {
  local sp host label via bad=0 n=0 want
  local -A at lab
  # Where each flow arrived and its flow label: Linux labels each flow (auto_flowlabels), and
  # route get needs that label to hash alike.
  while read -r sp host label; do at[$sp]=$host lab[$sp]=$label; done < <(awk '$1 == 6 && $3 ~ /^V6:/ && !($4 in seen) {
      seen[$4] = 1; n = FILENAME; sub(/.*\//, "", n); sub(/\.log$/, "", n); print $4, n, $6 }' "$CAP"/h{1,2,3}.log)
  for sp in $(seq 10000 40 10999); do
    host=${at[$sp]:-none} label=${lab[$sp]:-0}
    via=$(rctl_j route get 2001:db8:9::1 from 2001:db8:1::2 proto udp sport "$sp" dport 5006 \
      flowlabel "$label" | jq -r .via)
    case $host in h1) want=2001:db8:2::2 ;; h2) want=$LL2 ;; *) want=none ;; esac
    n=$((n + 1))
    if [[ $via != "$want" ]]; then
      tb_say "     sport $sp (flow label $label) arrived at $host but route get says via $via"
      bad=$((bad + 1))
    fi
  done
  tb_say "     $((n - bad)) of $n sampled IPv6 flows: route get (with the flow label) names their gateway"
  ((bad == 0))
}
tb_check "IPv6 route get ... sport N flowlabel L names the path each sampled flow took" route_get6_agrees

step "7. 50 replaces under a flow stream"
SET_A=(nexthop via 10.2.0.2 nexthop via 10.3.0.2)
SET_B=(nexthop via 10.2.0.2 nexthop via 10.4.0.2)
churn() {
  local stable i bad=0 out lost
  rctl route replace 10.9.0.0/16 "${SET_A[@]}"
  # The flows on 10.2.0.2, the member both sets share, must never move nor lose a packet:
  # which they are, one round before the replaces says.
  hx 0 "${FLOWS[@]}" send --dst 10.9.0.1 --dport 5007 --sports 20000-20063 --pps 800 --tag G0 >/dev/null
  sleep 0.3
  stable=$(flows G0 | jq -c '.h1 // {} | keys')
  tb_say "     $(jq length <<<"$stable") of 64 flows on 10.2.0.2"
  hx 0 "${FLOWS[@]}" send --dst 10.9.0.1 --dport 5007 --sports 20000-20063 --rounds 80 --pps 800 \
    --tag G --per-flow "$TB_DIR/churn-sent.json" >"$TB_DIR/churn-send.log" 2>&1 &
  local spid=$! t0=$SECONDS
  sleep 0.3
  for ((i = 0; i < 50; i++)); do
    if ((i % 2 == 0)); then
      rctl route replace 10.9.0.0/16 "${SET_B[@]}" || bad=$((bad + 1))
    else
      rctl route replace 10.9.0.0/16 "${SET_A[@]}" || bad=$((bad + 1))
    fi
    sleep 0.05
  done
  tb_say "     50 replaces took $((SECONDS - t0)) s"
  wait "$spid" || true
  sleep 0.5
  tb_indent <"$TB_DIR/churn-send.log"
  flows G >"$CAP/G.json"
  out=$(jq -n --slurpfile s "$TB_DIR/churn-sent.json" --slurpfile g "$CAP/G.json" --argjson st "$stable" '
    $g[0] as $g | $s[0] as $s |
    {stable_sent: ([$st[] | $s[.]] | add), stable_on_h1: ([$st[] | $g.h1[.] // 0] | add),
     stable_elsewhere: ([$st[] | ($g.h2[.] // 0) + ($g.h3[.] // 0)] | add),
     all_sent: ([$s[]] | add), all_received: ([$g[][]] | add)}')
  tb_say "     $((50 - bad)) of 50 replaces accepted; $(jq -c . <<<"$out")"
  lost=$(jq '.stable_sent - .stable_on_h1' <<<"$out")
  # Every flow, not only those on h1: nothing lost while the groups changed (a datagram sent
  # as the sender was stopped may be received and not counted as sent: >=).
  ((bad == 0 && $(jq length <<<"$stable") > 0 && lost == 0)) &&
    jq -e '.stable_elsewhere == 0 and .all_received >= .all_sent' <<<"$out" >/dev/null
}
tb_check "replaces alternating {h1,h2} / {h1,h3}: flows on 10.2.0.2 lose nothing and never move" churn

step "8b. Prometheus and telemetry"
prom() {
  local out
  out=$(curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" | grep '^routerd_ecmp_member_packets_total') || {
    tb_say "     no routerd_ecmp_member_packets_total samples"
    return 1
  }
  tb_indent <<<"$out"
  grep -q 'family="4".*via="10.2.0.2"' <<<"$out" && grep -q 'family="6"' <<<"$out" &&
    awk '{ s += $NF } END { exit !(s >= 2000) }' <<<"$out"
}
tb_check "metrics: routerd_ecmp_member_packets_total samples for both families" prom
telemetry() {
  local out flat
  out=$(echo /routerd/ecmp | "$TB_PY" "$(command -v dpdk-telemetry.py)" -f "rtrit$TB_ID" | jq -c '."/routerd/ecmp"')
  tb_say "     $(cut -c1-300 <<<"$out")..."
  # DPDK 22.11 telemetry nests two levels at most: the groups come flattened ("0_members_1_via").
  # Nothing flows now, so they must be routerctl's stats, flattened alike.
  flat=$(rctl_j stats | jq -c '.ecmp | map_values([paths(scalars) as $p |
    {($p | map(tostring) | join("_")): getpath($p)}] | add // {})')
  jq -e --argjson f "$flat" '.groups >= 2 and .member_ups >= 1 and .ipv4 == $f.ipv4 and
    .ipv6 == $f.ipv6 and (.ipv4 | to_entries | any(.value == "10.2.0.2")) and
    (.ipv6 | to_entries | any(.value == "2001:db8:2::2"))' <<<"$out" >/dev/null ||
    { tb_say "     routerctl stats, flattened: $(cut -c1-300 <<<"$flat")"; return 1; }
}
tb_check "telemetry /routerd/ecmp: both families' groups, as routerctl stats has them" telemetry
tb_finish
