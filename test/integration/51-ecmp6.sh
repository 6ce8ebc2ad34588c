#!/usr/bin/env bash
# 51-ecmp6: ECMP routes (issue 15) over IPv6 with real flows, what 40-ecmp checks for IPv4.
# 2001:db8:96::1 sits on the loopbacks of h1, h2 and h3 (a fourth port, 2001:db8:4::/64); h0
# sends 1,000 UDP flows (one per source port) and a packet sink on each next-hop host logs what
# arrived, with each packet's flow label (ecmp_flows.py). The members are 2001:db8:2::2 (h1),
# 2001:db8:3::2 (h2) and fe80::96 dev p3, a second link-local address of h3.
# Checked: weights 3:1 give 75/25 (and the member packet counters); removing one member of
# three moves only its flows; when fe80::96 stops answering NDP (the address is removed from
# h3) its member goes dead within the neighbour timeout, only its flows move (also during the
# change: a stream running through it), and it comes back when the address does; every
# fragment of a datagram takes one path; 50 replaces under a flow stream lose nothing.
# routerd only: the test drives routerctl's nexthop grammar and reads its group state.
# shellcheck disable=SC2016,SC2317 # awk programs and eval strings in single quotes; checks run through tb_check
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_require_scapy # for the Python the helper runs on, not for scapy itself
# A fourth port and host: three members, each on its own link, told apart by where they arrive.
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=4
TB_HOSTS+=("$TB_PREFIX-v6h3")
export TB_IPV6=1
# Short NDP timers: a used neighbour is re-confirmed within REACHABLE (0.5-1.5 x 1 s) + DELAY
# (0.2 s) + 3 probes 250 ms apart, so one that stopped answering is FAILED within 2.45 s.
NDP_REACHABLE_MS=1000 NDP_DELAY_MS=200 NDP_RETRANS_MS=250 NDP_PROBES=3
NDP_TIMEOUT_MS=$((NDP_REACHABLE_MS * 3 / 2 + NDP_DELAY_MS + NDP_PROBES * NDP_RETRANS_MS))
export TB_EXTRA_TOML="[ndp]
reachable_ms = $NDP_REACHABLE_MS
delay_ms = $NDP_DELAY_MS
retrans_ms = $NDP_RETRANS_MS
probes = $NDP_PROBES"
tb_init
tb_start

# shellcheck source=ecmp_lib.sh
source "$(dirname "$0")/ecmp_lib.sh"
FLOWS=("$TB_PY" "$(cd "$(dirname "$0")" && pwd)/ecmp_flows.py")
CAP=$TB_DIR/cap
mkdir -p "$CAP"
PFX=2001:db8:96::/48
DST=2001:db8:96::1
SRC=2001:db8:1::2
LL3=fe80::96 # h3's second link-local address: the member whose host stops answering NDP
GW=([1]=2001:db8:2::2 [2]=2001:db8:3::2 [3]="$LL3")
M1=(nexthop via "${GW[1]}")
M2=(nexthop via "${GW[2]}")
M3=(nexthop via "$LL3" dev p3)
NFLOWS=1000
SPORTS=10000-10999
hx 3 ip -6 addr add "$LL3/64" dev eth0 nodad
for i in 1 2 3; do
  hx "$i" ip -6 addr add "$DST/128" dev lo
  tb_bg_host "$CAP/sink$i.err" "$i" "${FLOWS[@]}" sink eth0 "$CAP/h$i.log"
done
for i in 1 2 3; do
  tb_wait_until 10 grep -q ready "$CAP/h$i.log" || tb_die "sink on h$i did not start: $(cat "$CAP/sink$i.err")"
done

# arrived PATTERN N: polls the sinks' logs (they flush within 0.1 s of a quiet link) until they
# hold N lines matching the awk PATTERN, or their count stayed put for 0.6 s (what was lost is
# lost: the senders are done), or 5 s passed; prints the count.
arrived() {
  local pat=$1 want=$2 n last=-1 same=0 deadline=$((SECONDS + 5))
  while :; do
    n=$(awk "$pat" "$CAP"/h{1,2,3}.log | wc -l)
    ((n < want)) || break
    if ((n == last)); then
      same=$((same + 1))
      ((same < 3)) || break
    else
      same=0 last=$n
    fi
    ((SECONDS < deadline)) || break
    sleep 0.2
  done
  echo "$n"
}
# send TAG [ARGS...]: 1,000 flows from h0 to [DST]:5001, two datagrams each, 2,500/s, then
# until the 2,000 datagrams arrived (or 5 s passed).
send() {
  local tag=$1
  shift
  hx 0 "${FLOWS[@]}" send --dst "$DST" --src "$SRC" --dport 5001 --sports "$SPORTS" --rounds 2 \
    --pps 2500 --tag "$tag" "$@" | tb_indent
  arrived "\$1 == 6 && \$3 ~ /^$tag:/" $((2 * NFLOWS)) >/dev/null
}

# ecmp_route: the route's JSON in route show.
ecmp_route() { rctl_j -6 route show | jq -c --arg p "$PFX" '.[] | select(.prefix == $p)'; }
member_state() {  # member_state VIA: the member's state in route show
  ecmp_route | jq -r --arg v "$1" '.nexthops[] | select(.via == $v) | .state'
}
show_members() { ecmp_route | jq -c '.nexthops | map({via, dev, weight, state, buckets})' | tb_indent; }

# warm: a few datagrams to DST, then until no member is unresolved: the first packets to a
# gateway nobody asked for yet wait for NDP, and the queue holds 8.
warm() {
  hx 0 "${FLOWS[@]}" send --dst "$DST" --src "$SRC" --dport 5009 --sports 30000-30049 --pps 500 --tag warm >/dev/null
  tb_wait_until 5 eval "ecmp_route | jq -e 'all(.nexthops[]; .state == \"alive\")'" ||
    { tb_say "     (members not all alive after 5 s)"; show_members; }
}

# labels_kept TAG...: every flow kept its flow label across the TAGs (Linux derives it from the
# 5-tuple); the label is part of the flow hash, so a flow whose label changed may move rightly.
labels_kept() {
  local re n
  re="^($(IFS='|'; echo "$*")):"
  n=$(awk -v re="$re" '$1 == 6 && $3 ~ re && $5 == 5001 && $7 == 0 && $8 == 0 { print $4, $6 }' \
    "$CAP"/h{1,2,3}.log | sort -u | awk '{ n[$1]++ } END { c = 0; for (f in n) if (n[f] > 1) c++; print c }')
  tb_say "     flows whose flow label changed between $*: $n"
  ((n == 0))
}

by_to() { jq -c 'group_by(.to) | map({(.[0].to): length}) | add // {}'; }

# only_left_moved A B: between A and B, the flows h3 carried in A moved (to h1/h2, 50/50),
# exactly those, and no flow of h1 or h2 moved.
only_left_moved() {
  local m on3 bad
  spread "$2" h1:50 h2:50 || return 1
  labels_kept "$1" "$2" || return 1
  m=$(moved_json "$1" "$2")
  on3=$(jq '.h3 // {} | length' "$CAP/$1.json")
  bad=$(jq '[.[] | select(.from != "h3")] | length' <<<"$m")
  tb_say "     moved: $(jq length <<<"$m") flows ($(by_to <<<"$m")); on $LL3 before: $on3; moved from h1 or h2: $bad"
  (($(jq length <<<"$m") == on3 && on3 > 0 && bad == 0))
}

step "1. weights 3:1"
rctl route add "$PFX" "${M1[@]}" weight 3 "${M2[@]}" weight 1
rctl -6 route show | grep -A3 "^$PFX" | tb_indent || true
warm
buckets() {
  local b1 b2 n
  b1=$(ecmp_route | jq --arg v "${GW[1]}" '.nexthops[] | select(.via == $v and .weight == 3) | .buckets')
  b2=$(ecmp_route | jq --arg v "${GW[2]}" '.nexthops[] | select(.via == $v and .weight == 1) | .buckets')
  n=$((${b1:-0} + ${b2:-0}))
  tb_say "     buckets: ${GW[1]} (weight 3) ${b1:-none}, ${GW[2]} (weight 1) ${b2:-none}, of $n"
  # Each member holds its weighted share to within one bucket.
  ((n > 0 && (4 * b1 - 3 * n) >= -4 && (4 * b1 - 3 * n) <= 4 && (4 * b2 - n) >= -4 && (4 * b2 - n) <= 4))
}
tb_check "route show: weights 3 and 1, buckets 3:1 to within one" buckets
ecmp_route >"$TB_DIR/w0.json"
send W
ecmp_route >"$TB_DIR/w1.json"
tb_check "weights 3:1: 75% / 25% +- 10% of 1,000 IPv6 flows, one path per flow" spread W h1:75 h2:25
counters() {
  local i d recv rc=0
  for i in 1 2; do
    d=$(($(jq --arg v "${GW[$i]}" '.nexthops[] | select(.via == $v) | .packets' "$TB_DIR/w1.json") -
      $(jq --arg v "${GW[$i]}" '.nexthops[] | select(.via == $v) | .packets' "$TB_DIR/w0.json")))
    recv=$(jq --arg h "h$i" '[.[$h] // {} | .[]] | add // 0' "$CAP/W.json")
    tb_say "     member ${GW[$i]}: packets +$d, $recv datagrams arrived at h$i"
    ((d >= recv && recv > 0)) || rc=1
  done
  return "$rc"
}
tb_check "route show: each member's packets rose by at least what its host received" counters

step "2. removing one of three members moves only its flows"
rctl route replace "$PFX" "${M1[@]}" "${M2[@]}" "${M3[@]}"
warm
show_members
send R1
tb_check "three members (one link-local): 33% +- 10% each" spread R1 h1:33 h2:33 h3:33
rctl route replace "$PFX" "${M1[@]}" "${M2[@]}"
send R2
tb_check "route replace without $LL3: moved flows == the flows it carried (> 0), no other moved" \
  only_left_moved R1 R2

step "3. liveness: h3 stops answering NDP for $LL3, its member goes dead, then comes back"
rctl route replace "$PFX" "${M1[@]}" "${M2[@]}" "${M3[@]}"
warm
send L0
tb_stats "$TB_DIR/s-l0"
tb_check "three members again: 33% +- 10% each" spread L0 h1:33 h2:33 h3:33
# The same flows keep running (1,000/s, a round a second) while the member dies: a neighbour
# is only re-confirmed when it is used, and the sinks see whether any flow moves meanwhile.
tb_bg_host "$TB_DIR/bg.log" 0 "${FLOWS[@]}" send --dst "$DST" --src "$SRC" --dport 5001 --sports "$SPORTS" \
  --pps 1000 --tag bg --loop --per-flow "$TB_DIR/bg-sent.json"
BG=$TB_LAST_PID
hx 3 ip -6 addr del "$LL3/64" dev eth0
T0=$(date +%s.%N)
t0=$SECONDS
dead() {
  local st last='' seq='' line ts dt
  # The states the member goes through, with the time since h3 went silent.
  while ((SECONDS - t0 <= 15)); do
    st=$(member_state "$LL3")
    [[ $st == "$last" ]] || { seq+=" $st@$((SECONDS - t0))s"; last=$st; }
    [[ $st != dead ]] || break
    sleep 0.2
  done
  tb_say "     states of $LL3:$seq"
  if [[ $st != dead ]]; then
    tb_say "     $LL3 still '$st' after 15 s"
    rctl -6 neigh show | tb_indent
    return 1
  fi
  show_members
  line=$(grep "ecmp: gateway $LL3 does not answer NDP" "$TB_LOG" | tail -1) || true
  [[ -n $line ]] || { tb_say "     routerd logged no 'ecmp: gateway $LL3 does not answer NDP'"; return 1; }
  tb_indent <<<"$line"
  ts=$(date -d "$(cut -d' ' -f1-2 <<<"$line")" +%s.%N)
  dt=$(awk -v a="$T0" -v b="$ts" 'BEGIN { printf "%.2f", b - a }')
  tb_say "     dead $dt s after the address went (neighbour timeout ${NDP_TIMEOUT_MS} ms: REACHABLE <= 1.5 x ${NDP_REACHABLE_MS}, DELAY ${NDP_DELAY_MS}, ${NDP_PROBES} probes ${NDP_RETRANS_MS} ms apart; 1 s allowed for scheduling)"
  awk -v d="$dt" -v t="$NDP_TIMEOUT_MS" 'BEGIN { exit !(d >= 0 && d * 1000 <= t + 1000) }'
}
tb_check "$LL3 goes dead within the neighbour timeout, and routerd logs it" dead
tb_bg_stop "$BG"
tb_indent <"$TB_DIR/bg.log"
# during_change: the stream that ran while the member died. Per flow and host, the rounds
# that arrived there. Flows of h1/h2 (in L0) arrived at that host only, every datagram sent;
# a flow of h3 arrived at h3 up to some round and at one other host after it, never back.
during_change() {
  local r
  arrived '$1 == 6 && $3 ~ /^bg:/' "$(jq '[.[]] | add' "$TB_DIR/bg-sent.json")" >/dev/null
  r=$(awk '$1 == 6 && $3 ~ /^bg:/ { n = FILENAME; sub(/.*\//, "", n); sub(/\.log$/, "", n)
             split($3, t, ":"); print $4, n, t[2] }' "$CAP"/h{1,2,3}.log |
    jq -R -s --argjson l0 "$(path_of "$CAP/L0.json")" --slurpfile sent "$TB_DIR/bg-sent.json" '
      split("\n") | map(select(length > 0) | split(" ")) | group_by(.[0]) |
      map({f: .[0][0], was: $l0[.[0][0]], got: length, sent: $sent[0][.[0][0]],
           hosts: (group_by(.[1]) | map({h: .[0][1], lo: (map(.[2] | tonumber) | min),
                                           hi: (map(.[2] | tonumber) | max)}))}) |
      {flows: length,
       stayed: map(select(.was != "h3")) | length,
       stayed_moved: map(select(.was != "h3" and ((.hosts | length) != 1 or .hosts[0].h != .was))) | length,
       stayed_lost: map(select(.was != "h3") | [.sent - .got, 0] | max) | add,
       left: map(select(.was == "h3")) | length,
       left_moved: map(select(.was == "h3" and (.hosts | length) == 2)) | length,
       left_bad: map(select(.was == "h3" and ((.hosts | length) > 2 or
         ((.hosts | length) == 2 and ((.hosts | map(select(.h == "h3")) | length) != 1 or
           (.hosts | map(select(.h == "h3"))[0].hi) >= (.hosts | map(select(.h != "h3"))[0].lo))))))
         | length,
       left_lost: map(select(.was == "h3") | [.sent - .got, 0] | max) | add,
       got_more: map(select(.got > .sent)) | length}')
  tb_say "     $(jq -c . <<<"$r")"
  # got_more: the sender counts a datagram after sendto returns, so the interrupt that stops it
  # may leave one datagram uncounted (on one flow at most).
  tb_say "     (stayed: flows of h1/h2; left: flows of h3, moved = seen on h3 then on another host;"
  tb_say "      lost: datagrams sent but not received; got_more: flows with one more than counted sent)"
  jq -e '.flows == 1000 and .stayed > 0 and .stayed_moved == 0 and .stayed_lost == 0 and
         .left > 0 and .left_bad == 0 and .got_more <= 1' <<<"$r" >/dev/null
}
tb_check "while it died: no flow of h1/h2 moved or lost a datagram; h3's flows moved at most once, never back" \
  during_change
send L1
tb_check "while dead: its flows arrive at h1/h2, flows of h1/h2 did not move" only_left_moved L0 L1
hx 3 ip -6 addr add "$LL3/64" dev eth0 nodad
t0=$SECONDS
back() {
  if ! tb_wait_until 10 eval '[[ $(member_state "$LL3") == alive ]]'; then
    tb_say "     $LL3 still '$(member_state "$LL3")' after 10 s"
    return 1
  fi
  tb_stats "$TB_DIR/s-l2"
  tb_say "     alive again after $((SECONDS - t0)) s"
  show_members
  grep "ecmp: gateway $LL3 answers again" "$TB_LOG" | tail -1 | tb_indent
  grep -q "ecmp: gateway $LL3 answers again" "$TB_LOG" &&
    tb_stat_rose "$TB_DIR/s-l0" "$TB_DIR/s-l2" 1 .ecmp_member_downs .ecmp_member_ups
}
tb_check "h3 answers NDP again: $LL3 alive within 10 s, logged, ecmp_member_downs and _ups rose" back
send L2
returned() {
  local m bad
  spread L2 h1:33 h2:33 h3:33 || return 1
  labels_kept L1 L2 || return 1
  m=$(moved_json L1 L2)
  bad=$(jq '[.[] | select(.to != "h3")] | length' <<<"$m")
  tb_say "     moved: $(jq length <<<"$m") flows ($(by_to <<<"$m")), to another member than h3: $bad; on another path than before it died: $(jq length <<<"$(moved_json L0 L2)")"
  ((bad == 0 && $(jq length <<<"$m") > 0))
}
tb_check "back: a third of the flows return to h3, none moves between h1 and h2" returned

step "4. fragments: every fragment of a datagram takes one path"
SRCS=$(seq -s, -f '2001:db8:1::%g' 100 119)
for a in ${SRCS//,/ }; do hx 0 ip -6 addr add "$a/64" dev eth0 nodad; done
hx 0 "${FLOWS[@]}" send --dst "$DST" --dport 5005 --src "$SRCS" --sports 7000-7002 --size 4000 \
  --pps 200 --tag F | tb_indent
FRAG='$1 == 6 && $2 ~ /^2001:db8:1::1[01][0-9]$/ && ($7 > 0 || $8 == 1)'
arrived "$FRAG" 180 >/dev/null
fragments() {
  local j
  # Per (source, fragment identification): fragments per path and whether the last one came.
  j=$(awk "$FRAG"' { n = FILENAME; sub(/.*\//, "", n); sub(/\.log$/, "", n); print $2 "/" $6, n, $7, $8 }' \
    "$CAP"/h{1,2,3}.log | jq -R -s '
      split("\n") | map(select(length > 0) | split(" ")) | group_by(.[0]) |
      map({d: .[0][0], paths: (map(.[1]) | unique), frags: length,
           last: (map(select(.[3] == "0")) | length), src: (.[0][0] | split("/")[0])})')
  tb_say "     $(jq length <<<"$j") datagrams of 60 seen; fragments per datagram: $(jq -c 'map(.frags) | group_by(.) | map({(.[0] | tostring): length}) | add // {}' <<<"$j")"
  tb_say "     datagrams on more than one path: $(jq '[.[] | select(.paths | length > 1)] | length' <<<"$j")"
  tb_say "     datagrams per path: $(jq -c '[.[] | .paths[]] | group_by(.) | map({(.[0]): length}) | add // {}' <<<"$j"); sources per path: $(jq -c '[.[] | {src, p: .paths[0]}] | unique | group_by(.p) | map({(.[0].p): length}) | add // {}' <<<"$j")"
  jq -e 'length == 60 and all(.[]; (.paths | length) == 1 and .frags == 3 and .last == 1) and
         ([.[] | .paths[0]] | unique | length) > 1' <<<"$j" >/dev/null
}
tb_check "60 IPv6 datagrams of 4,000 bytes from 20 sources: 3 fragments each, all on one path, paths used > 1" \
  fragments

step "5. 50 replaces under a flow stream"
SET_A=("${M1[@]}" "${M2[@]}")
SET_B=("${M1[@]}" "${M3[@]}")
churn() {
  local stable i bad=0 out spid t1
  rctl route replace "$PFX" "${SET_A[@]}"
  # The flows on 2001:db8:2::2, the member both sets share, must never move; the others go
  # back and forth between h2 and h3. Which are which, one round before the replaces says.
  hx 0 "${FLOWS[@]}" send --dst "$DST" --src "$SRC" --dport 5007 --sports 20000-20063 --pps 800 --tag G0 >/dev/null
  arrived '$1 == 6 && $3 ~ /^G0:/' 64 >/dev/null
  stable=$(flows G0 | jq -c '.h1 // {} | keys')
  tb_say "     $(jq length <<<"$stable") of 64 flows on ${GW[1]}"
  hx 0 "${FLOWS[@]}" send --dst "$DST" --src "$SRC" --dport 5007 --sports 20000-20063 --rounds 80 --pps 800 \
    --tag G --per-flow "$TB_DIR/churn-sent.json" >"$TB_DIR/churn-send.log" 2>&1 &
  spid=$!
  t1=$SECONDS
  sleep 0.3 # the stream first runs on SET_A
  for ((i = 0; i < 50; i++)); do
    if ((i % 2 == 0)); then
      rctl route replace "$PFX" "${SET_B[@]}" || bad=$((bad + 1))
    else
      rctl route replace "$PFX" "${SET_A[@]}" || bad=$((bad + 1))
    fi
    sleep 0.05
  done
  tb_say "     50 replaces took $((SECONDS - t1)) s"
  kill -0 "$spid" 2>/dev/null || tb_say "     (the stream ended before the last replace)"
  wait "$spid" || true
  tb_indent <"$TB_DIR/churn-send.log"
  arrived '$1 == 6 && $3 ~ /^G:/' "$(jq '[.[]] | add' "$TB_DIR/churn-sent.json")" >/dev/null
  flows G >"$CAP/G.json"
  out=$(jq -n --slurpfile s "$TB_DIR/churn-sent.json" --slurpfile g "$CAP/G.json" --argjson st "$stable" '
    $g[0] as $g | $s[0] as $s |
    {stable_sent: ([$st[] | $s[.]] | add), stable_on_h1: ([$st[] | $g.h1[.] // 0] | add),
     stable_elsewhere: ([$st[] | ($g.h2[.] // 0) + ($g.h3[.] // 0)] | add),
     others_on_h2_and_h3: ([$s | keys[] | . as $k | select($st | any(.[]; . == $k) | not) |
       select(($g.h2[.] // 0) > 0 and ($g.h3[.] // 0) > 0)] | length),
     others_on_h1: ([$s | keys[] | . as $k | select($st | any(.[]; . == $k) | not) |
       $g.h1[.] // 0] | add // 0),
     all_sent: ([$s[]] | add), all_received: ([$g[][]] | add)}')
  tb_say "     $((50 - bad)) of 50 replaces accepted; $(jq -c . <<<"$out")"
  ((bad == 0 && $(jq length <<<"$stable") > 0)) &&
    jq -e '.stable_sent == .stable_on_h1 and .stable_elsewhere == 0 and .others_on_h1 == 0 and
           .others_on_h2_and_h3 > 0 and .all_sent == .all_received' <<<"$out" >/dev/null
}
tb_check "replaces alternating {h1,h2} / {h1,$LL3}: nothing lost, flows on ${GW[1]} never move, the others switch" churn
tb_finish
