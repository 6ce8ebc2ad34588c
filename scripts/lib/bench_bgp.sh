#!/usr/bin/env bash
# scripts/bench bgp: issue 16's "end to end": a full table from a BGP peer through real FRR
# (bgpd + zebra with dplane_fpm_nl, in routerd's control namespace, peering over routerd's
# port p2) into routerd's FIB. The peer is test/integration/bgp_speaker.py in h2, twice: an
# IPv4 session announcing every IPv4 prefix of the table (next hop 10.3.0.2), an IPv6 one
# every IPv6 prefix (next hop 2001:db8:3::2), both at once, as fast as bgpd reads.
#
#   scripts/bench bgp [--table FILE] [--rounds N] [--poll S] [--timeout S] [--huge]
#                     [--build-dir DIR] [--out DIR]
#
# Per round (a fresh routerd, FRR and speaker each): from the speaker's first UPDATE to
#   - bgp:     bgpd has received every prefix (show bgp ... summary: pfxRcd),
#   - zebra:   zebra's FIB holds them (show ip[v6] route summary: bgp routes, fib),
#   - routerd: routerd's RIBs hold as many bgp routes as zebra's FIB, in both families
#              (routerctl route summary), the figure of the run;
# and the CPU seconds each of bgpd, zebra and routerd's control thread spent meanwhile
# (routerd's worker busy-polls its own core and is not counted). routerd's share: its
# control thread's CPU against the three together, and how long after zebra it finished.
# zebra also installs the routes in the control namespace's kernel, as in a deployment
# (docs/operations.md, "Running with FRR"). Prints a markdown table; writes DIR/bgp.json
# and the per-round timelines (default DIR: BUILD/bench/bgp-<date>).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TABLE=$REPO/../shared/data/full-table-2024.txt.gz
ROUNDS=3 POLL=0.5 TIMEOUT=900 HUGE=0 BUILD=build OUT=
while (($#)); do
  case $1 in
    --table) TABLE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --poll) POLL=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --huge) HUGE=1; shift ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench bgp: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "bench bgp: run as root (namespaces, TAP)" >&2; exit 1; }
[[ -r $TABLE ]] || { echo "bench bgp: cannot read the table $TABLE" >&2; exit 1; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench bgp: --rounds: a positive integer" >&2; exit 2; }
[[ -x /usr/lib/frr/zebra && -x /usr/lib/frr/bgpd ]] ||
  { echo "bench bgp: FRR is not installed (scripts/bootstrap installs it)" >&2; exit 1; }
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
[[ -x $BUILD/app/routerd/routerd ]] || { echo "bench bgp: no routerd in $BUILD (scripts/build)" >&2; exit 1; }
OUT=${OUT:-$BUILD/bench/bgp-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
SPEAKER=$REPO/test/integration/bgp_speaker.py
WANT4=$(zcat -f "$TABLE" | grep -cv ':' || true)
WANT6=$(zcat -f "$TABLE" | grep -c ':' || true)
echo "bench bgp: $WANT4 IPv4 + $WANT6 IPv6 prefixes from $TABLE, $ROUNDS round(s), results in $OUT" >&2

# cpu PID [TID]: user + system seconds of a process (or one of its threads).
cpu() {
  local f=/proc/$1/stat
  [[ -z ${2:-} ]] || f=/proc/$1/task/$2/stat
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "$f" 2>/dev/null || echo 0
}

round() {  # round K: one routerd + FRR + speaker, in a subshell (the testbed's cleanup)
  local k=$1
  export ROUTER_IMPL=routerd ROUTERD_BUILD_DIR=$BUILD TB_PREFIX=rbb$$r$k TB_DIR=/tmp/routerd-bench-bgp.$$.$k
  export TB_IPV6=1 TB_HUGE=$HUGE
  local cp=$TB_PREFIX-cp
  export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$cp\"
follow_link = false
fpm_listen = \"127.0.0.1:2620\"

[fib]
max_routes = 1048576

# The testbed's small IPv6 FIB (for tests) has no room for the full table: routerd's defaults.
[fib6]
max_routes = 262144
tbl8_groups = 262144"
  # shellcheck source=scripts/lib/testbed.sh
  source "$REPO/scripts/lib/testbed.sh"
  # shellcheck source=scripts/lib/frr-bgp.sh
  source "$REPO/scripts/lib/frr-bgp.sh"
  tb_init
  tb_start
  bgp_init "$TB_DIR/frr" "$cp"
  bgp_router_conf 2
  bgp_start_router
  tb_bg_host "$TB_DIR/speaker.log" 2 "$TB_PY" "$SPEAKER" 10.3.0.2 10.3.0.1 65003 65000 "@$TABLE"
  local spk=$TB_LAST_PID
  tb_bg_host "$TB_DIR/speaker6.log" 2 "$TB_PY" "$SPEAKER" 2001:db8:3::2 2001:db8:3::1 65003 65000 "@$TABLE"
  local spk6=$TB_LAST_PID
  tb_wait_until 60 bgp_established ipv4Unicast 10.3.0.2 || tb_die "the IPv4 session with the speaker did not come up"
  tb_wait_until 60 bgp_established ipv6Unicast 2001:db8:3::2 || tb_die "the IPv6 session with the speaker did not come up"
  tb_wait_until 60 grep -q '^established' "$TB_DIR/speaker.log" || tb_die "the speaker is not established"
  tb_wait_until 60 grep -q '^established' "$TB_DIR/speaker6.log" || tb_die "the IPv6 speaker is not established"
  local bgpd zebra rd
  bgpd=$(cat "/var/run/frr/$cp/bgpd.pid") zebra=$(cat "/var/run/frr/$cp/zebra.pid") rd=$TB_ROUTERD_PID
  local c0_bgpd c0_zebra c0_rd
  c0_bgpd=$(cpu "$bgpd") c0_zebra=$(cpu "$zebra") c0_rd=$(cpu "$rd" "$rd")
  kill -USR1 "$spk" "$spk6"
  tb_wait_until 30 grep -q '^announce_start' "$TB_DIR/speaker.log" || tb_die "the speaker did not announce"
  tb_wait_until 30 grep -q '^announce_start' "$TB_DIR/speaker6.log" || tb_die "the IPv6 speaker did not announce"
  local t0 tl=$TB_DIR/timeline.tsv
  t0=$(awk '/^announce_start/ { print $2 }' "$TB_DIR/speaker.log")
  echo -e "t\troutes_routerd\tpfx_bgp\tfib_zebra\troutes_routerd_v4\troutes_routerd_v6\tfib_zebra_v4\tfib_zebra_v6" >"$tl"
  local t n_rd=0 n_bgp=0 n_zebra=0 rd4=0 rd6=0 z4=0 z6=0 t_bgp="" t_zebra="" t_rd="" last_vty=0 stable_since=""
  local zsum='[.routes[] | select(.type == "ebgp" or .type == "ibgp") | .fib] | add // 0'
  while :; do
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    read -r rd4 rd6 < <(rctl_j route summary | jq -r '"\(.daemon.bgp // 0) \(.ipv6.daemon.bgp // 0)"')
    n_rd=$((rd4 + rd6))
    # bgpd and zebra answer vtysh from their main threads, busy with the load: every 2 s.
    if awk -v t="$t" -v l="$last_vty" 'BEGIN { exit !(t - l >= 2) }'; then
      last_vty=$t
      n_bgp=$(($(bgp_router 'show bgp ipv4 unicast summary json' | jq '.peers["10.3.0.2"].pfxRcd // 0') +
        $(bgp_router 'show bgp ipv6 unicast summary json' | jq '.peers["2001:db8:3::2"].pfxRcd // 0')))
      z4=$(bgp_router 'show ip route summary json' | jq "$zsum")
      z6=$(bgp_router 'show ipv6 route summary json' | jq "$zsum")
      n_zebra=$((z4 + z6))
      [[ -n $t_bgp ]] || ((n_bgp < WANT4 + WANT6)) || t_bgp=$t
    fi
    echo -e "$t\t$n_rd\t$n_bgp\t$n_zebra\t$rd4\t$rd6\t$z4\t$z6" >>"$tl"
    # Done: bgpd has every prefix, and routerd holds what zebra has in its FIB, in each
    # family, unchanged for 3 s (zebra's count is read every 2 s: it must have caught up too).
    if [[ -n $t_bgp ]] && ((n_zebra > 0 && rd4 == z4 && rd6 == z6)); then
      [[ -n $t_rd ]] || t_rd=$t
      [[ -n $stable_since ]] || stable_since=$t
      awk -v t="$t" -v s="$stable_since" 'BEGIN { exit !(t - s >= 3) }' && break
    else
      t_rd="" stable_since=""
    fi
    awk -v t="$t" -v m="$TIMEOUT" 'BEGIN { exit !(t > m) }' && tb_die "not done after $TIMEOUT s (routerd $n_rd, bgpd $n_bgp, zebra $n_zebra; routerd's fpm show: $(rctl_j fpm show | jq -c '{batch_failures, refused, last_error}'))"
    sleep "$POLL"
  done
  # Each reached its final count at the first poll that showed it (routerd's every poll,
  # zebra's every 2 s).
  t_zebra=$(awk -F'\t' -v n="$n_zebra" 'NR > 1 && $4 == n { print $1; exit }' "$tl")
  t_rd=$(awk -F'\t' -v n="$n_rd" 'NR > 1 && $2 == n { print $1; exit }' "$tl")
  local c1_bgpd c1_zebra c1_rd sent
  c1_bgpd=$(cpu "$bgpd") c1_zebra=$(cpu "$zebra") c1_rd=$(cpu "$rd" "$rd")
  sent=$(awk '/^announce_sent/ { printf "%.2f", $2 - '"$t0"' }' "$TB_DIR/speaker.log")
  local fpm
  fpm=$(rctl_j fpm show | jq -c '{installed, unusable, batches, batch_failures}' 2>/dev/null || echo null)
  cp "$tl" "$OUT/timeline-r$k.tsv"
  jq -n --argjson k "$k" --argjson want "$((WANT4 + WANT6))" --argjson n_rd "$n_rd" --argjson n_bgp "$n_bgp" \
    --argjson rd4 "$rd4" --argjson rd6 "$rd6" --argjson z4 "$z4" --argjson z6 "$z6" \
    --argjson n_zebra "$n_zebra" --argjson t_bgp "$t_bgp" --argjson t_zebra "$t_zebra" \
    --argjson t_rd "$t_rd" --argjson sent "${sent:-null}" --argjson fpm "$fpm" \
    --argjson cpu_bgpd "$(awk -v a="$c0_bgpd" -v b="$c1_bgpd" 'BEGIN { printf "%.2f", b - a }')" \
    --argjson cpu_zebra "$(awk -v a="$c0_zebra" -v b="$c1_zebra" 'BEGIN { printf "%.2f", b - a }')" \
    --argjson cpu_rd "$(awk -v a="$c0_rd" -v b="$c1_rd" 'BEGIN { printf "%.2f", b - a }')" \
    '{round: $k, prefixes: $want, bgpd_received: $n_bgp, zebra_fib: $n_zebra, routerd: $n_rd,
      routerd_by_family: {ipv4: $rd4, ipv6: $rd6}, zebra_fib_by_family: {ipv4: $z4, ipv6: $z6},
      speaker_sent_s: $sent, bgpd_all_s: $t_bgp, zebra_all_s: $t_zebra, routerd_all_s: $t_rd,
      routerd_after_zebra_s: ($t_rd - $t_zebra), routes_per_s: ($n_rd / $t_rd),
      cpu_s: {bgpd: $cpu_bgpd, zebra: $cpu_zebra, routerd_control: $cpu_rd},
      routerd_cpu_share: ($cpu_rd / ($cpu_bgpd + $cpu_zebra + $cpu_rd)), fpm: $fpm}' \
    >"$OUT/round-$k.json"
  kill -TERM "$spk" "$spk6" 2>/dev/null || true
  tb_finish
}

for ((k = 1; k <= ROUNDS; k++)); do
  echo "bench bgp: round $k" >&2
  (round "$k") >"$OUT/round-$k.log" 2>&1 || { tail -n 30 "$OUT/round-$k.log" >&2; exit 1; }
  jq -c . "$OUT/round-$k.json" >&2
done
jq -s '{rounds: ., host: {cpu: "'"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"'",
  cores: '"$(nproc)"', commit: "'"$(git -C "$REPO" rev-parse --short HEAD)"'", table: "'"$TABLE"'",
  memory: "'"$([[ $HUGE == 1 ]] && echo hugepages || echo no-huge)"'"}}' "$OUT"/round-*.json >"$OUT/bgp.json"
{
  echo "| round | speaker wrote all (s) | bgpd has all (s) | zebra FIB has all (s) | routerd has all (s) | routerd after zebra (s) | routes/s into routerd | CPU s bgpd / zebra / routerd control | routerd's CPU share |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---:|"
  jq -r '.rounds[] | "| \(.round) | \(.speaker_sent_s) | \(.bgpd_all_s) | \(.zebra_all_s) | \(.routerd_all_s) | \(.routerd_after_zebra_s * 100 | round / 100) | \(.routes_per_s | round) | \(.cpu_s.bgpd) / \(.cpu_s.zebra) / \(.cpu_s.routerd_control) | \(.routerd_cpu_share * 1000 | round / 1000) |"' "$OUT/bgp.json"
  echo
  echo "$WANT4 IPv4 + $WANT6 IPv6 prefixes (round 1: $(jq -r '.rounds[0] | "\(.routerd_by_family.ipv4) + \(.routerd_by_family.ipv6)"' "$OUT/bgp.json") in zebra's FIB and in routerd); times from the IPv4 speaker's first UPDATE (both start together); polled every ${POLL} s (zebra and bgpd every 2 s). JSON: $OUT/bgp.json"
} | tee "$OUT/bgp.md"
