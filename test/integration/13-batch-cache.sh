#!/usr/bin/env bash
# 13-batch-cache: `routerctl batch` applies route changes as one atomic batch (one generation
# bump; a bad line rejects the whole file by line number); route replaces under live traffic
# lose no packets; the route cache serves hits and sees every change.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_start

# 10.9.0.1 answers on h1 and on h2, so traffic to it survives a move between them.
hx 1 ip addr add 10.9.0.1/32 dev lo
hx 2 ip addr add 10.9.0.1/32 dev lo
hx 2 ip addr add 10.8.0.1/32 dev lo

B=$TB_DIR/batch
mkdir -p "$B"
stat_of() { rctl_j stats | jq -r "$1"; }

cat >"$B/first.txt" <<'EOF'
# two routes at once
route add 10.9.0.0/16 via 10.2.0.2

route add 10.8.0.0/16 via 10.3.0.2 dev p2
EOF
check_first() {
  # routerd's own count of the bumps the batch made: the generation read before and after
  # also moves with anything else that happens meanwhile (a neighbour, DAD ending).
  local g0 g1 out bumps gen
  g0=$(stat_of .generation)
  out=$(rctl_j batch "$B/first.txt" 2>&1) || { tb_indent <<<"$out"; return 1; }
  g1=$(stat_of .generation)
  tb_say "     $(jq -c . <<<"$out")"
  bumps=$(jq -r .generation_bumps <<<"$out")
  gen=$(jq -r .generation <<<"$out")
  tb_say "     generation $g0 -> $g1; the batch made $bumps bump(s), reaching $gen"
  ((bumps == 1)) || { tb_say "     expected exactly one generation bump"; return 1; }
  ((g0 < gen && gen <= g1)) || { tb_say "     the batch's generation is not between the two reads"; return 1; }
  tb_expect_ok hx 0 ping -n -c2 -W 2 10.9.0.1 && tb_expect_ok hx 0 ping -n -c2 -W 2 10.8.0.1
}
tb_check "batch of two route adds: one generation bump, both routes forward" check_first

# Each bad file: non-zero exit, one stderr line naming the file and line, nothing changed.
bad_batch() {  # bad_batch FILE EXPECTED-REGEX
  local before after rc=0 err
  before=$(rctl_j route show | jq -S .)
  rctl batch "$1" >"$B/out" 2>"$B/err" || rc=$?
  err=$(cat "$B/err")
  after=$(rctl_j route show | jq -S .)
  tb_say "     exit $rc: $err"
  ((rc != 0)) || return 1
  [[ $(wc -l <"$B/err") == 1 ]] || { tb_say "     expected one line on stderr"; return 1; }
  grep -Eq -- "$2" <<<"$err" || { tb_say "     expected /$2/"; return 1; }
  [[ $before == "$after" ]] || {
    diff <(echo "$before") <(echo "$after") | tb_indent
    return 1
  }
}
printf 'route replace 10.9.0.0/16 via 10.3.0.2\nroute del 10.8.0.0/16\nroute add 10.9.0.0/16 via 10.2.0.2\n' >"$B/exists.txt"
tb_check "a batch whose line 3 adds an existing prefix is rejected whole" \
  bad_batch "$B/exists.txt" "exists.txt: line 3: route add: a route for 10.9.0.0/16 exists.*nothing in the batch was applied"
printf 'route replace 10.9.0.0/16 via 10.3.0.2\nroute add 10.300.0.0/16 via 10.2.0.2\n' >"$B/parse.txt"
tb_check "a batch with an unparsable prefix on line 2 is rejected whole" \
  bad_batch "$B/parse.txt" "parse.txt: line 2: .*10\.300\.0\.0/16"
printf 'route del 10.8.0.0/16\nneigh show\n' >"$B/verb.txt"
tb_check "a batch with a non-route command on line 2 is rejected whole" \
  bad_batch "$B/verb.txt" "verb.txt: line 2: only route add, route replace and route del"
printf 'route replace 10.9.0.0/16 via 10.3.0.2\nroute add 10.7.0.0/16 via 10.77.0.1\n' >"$B/gw.txt"
tb_check "a batch with a gateway off every subnet on line 2 is rejected whole" \
  bad_batch "$B/gw.txt" "gw.txt: line 2: route add: gateway 10.77.0.1 is not on a connected subnet"

# Route replace is atomic for a packet: a fast ping sees no loss while the route to
# 10.9.0.0/16 flips between h1 and h2 (both answer) twenty times.
check_flips() {
  local log=$B/flood.log pid i
  tb_stats "$B/flips-before.json"
  hx 0 ping -n -q -i 0.01 -c 800 -W 1 10.9.0.1 >"$log" 2>&1 &
  pid=$!
  for i in $(seq 1 20); do
    if ((i % 2)); then gw=10.3.0.2; else gw=10.2.0.2; fi
    printf 'route replace 10.9.0.0/16 via %s\n' "$gw" | rctl batch - >/dev/null || return 1
    sleep 0.25
  done
  wait "$pid" || true
  tb_stats "$B/flips-after.json"
  tb_indent <"$log"
  tb_loss_counted "$(cat "$log")" "$B/flips-before.json" "$B/flips-after.json"
}
tb_check "20 route replaces under a 100 pps ping: no loss routerd did not count as tx_full" \
  check_flips

check_move() {
  printf 'route replace 10.9.0.0/16 via 10.3.0.2\nroute del 10.8.0.0/16\n' >"$B/move.txt"
  rctl batch "$B/move.txt" | tb_indent || return 1
  rctl_j route get 10.9.0.1 | jq -e '.via == "10.3.0.2" and .dev == "p2"' >/dev/null || return 1
  tb_expect_match 'Destination Net Unreachable' hx 0 ping -n -c1 -W 2 10.8.0.1
}
tb_check "batch replace + del: route get shows the new gateway, the deleted prefix is unreachable" \
  check_move

check_cache() {
  local s
  s=$(rctl_j stats)
  jq -c '{generation, commits, route_updates, route_cache, invalidation}' <<<"$s" | tb_indent
  jq -e '.route_cache.enabled and .route_cache.hits > 0 and .route_cache.stale > 0 and
         .route_updates >= 6 and .invalidation.samples > 0 and .invalidation.unobserved == 0' \
    <<<"$s" >/dev/null || return 1
  # The text output: one line a family, with the cache's shape.
  s=$(rctl stats)
  grep '^route cache' <<<"$s" | tb_indent
  grep -Eq '^route cache IPv4: 4096 sets x 4 ways; hits [1-9][0-9]* \([0-9.]+ %\), misses [0-9]+, stale [1-9]' <<<"$s" &&
    grep -Eq '^route cache IPv6: 4096 sets x 3 ways; hits [0-9]+' <<<"$s"
}
tb_check "stats: route cache hits and stale misses, invalidation latency samples" check_cache
tb_finish
