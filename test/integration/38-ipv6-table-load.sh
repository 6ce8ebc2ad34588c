#!/usr/bin/env bash
# 38-ipv6-table-load: a route file of 6,000 IPv6 prefixes loaded at startup fills the FIB's
# two copies side by side (the second on the worker's lcore before the worker starts), and
# both copies then answer every sampled prefix with its own gateway: the one the load
# staged, and, after one more route flips readers over, the one filled on the idle lcore.
# Traffic goes through both copies too. Then a file that moves every prefix to the other
# gateway, loaded at runtime: the answer comes before the copy the workers left is caught up
# (in slices, while the control thread is idle); both copies then hold the new table. The
# threads that parsed it never run on the worker's CPU.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds jq
export TB_IPV6=1
N=6000
ROUTES=$TB_DIR/v6.routes
# Prefix i: 2400:I/32 split as 2400:HI:LO00::/40; even ones via h1, odd ones via h0.
gw_of() { ((($1 + FLIP) % 2)) && echo 2001:db8:1::2 || echo 2001:db8:2::2; }
FLIP=0
addr_of() { printf '2400:%x:%x00::1' $(($1 >> 8)) $(($1 & 255)); }
# The file's lines by builtins alone: a subshell per line was most of the test's time.
write_routes() {
  local i g
  echo "# 38-ipv6-table-load: $N prefixes"
  for ((i = 0; i < N; i++)); do
    if (((i + FLIP) % 2)); then g=2001:db8:1::2; else g=2001:db8:2::2; fi
    printf '2400:%x:%x00::/40 via %s\n' $((i >> 8)) $((i & 255)) "$g"
  done
}
write_routes >"$ROUTES"
TB_TOP_TOML="route_files = [\"$ROUTES\"]"
# Small tables, so a third copy fits in the test's 2 GiB of EAL memory.
TB_EXTRA_TOML=$'[fib6]\nmax_routes = 16384\ntbl8_groups = 16384'
tb_start

tb_check "the load line says $N routes" \
  tb_expect_match "route load $ROUTES: $N routes \\($N new, 0 replaced\\)" cat "$TB_LOG"
tb_check "stats: routes6 >= $N, fib6_parallel_fills 1" \
  tb_expect_match '^1$' bash -c "$ROUTERCTL -s $TB_SOCK -j stats | jq '(.routes6 >= $N and .fib6_parallel_fills == 1) | if . then 1 else 0 end'"

# Sample every 97th prefix (62 of them), the first and the last.
SAMPLE=(0 $(seq 97 97 $((N - 1))) $((N - 1)))
check_sample() {
  local i want got bad=0
  for i in "${SAMPLE[@]}"; do
    want=$(gw_of "$i")
    got=$(rctl_j -6 route get "$(addr_of "$i")" | jq -r '.nexthop.neighbour // .nexthop.gateway // empty')
    if [[ $got != "$want" ]]; then
      tb_say "     $(addr_of "$i"): FIB says '$got', want $want"
      bad=$((bad + 1))
    fi
  done
  tb_say "     ${#SAMPLE[@]} sampled prefixes, $bad wrong"
  ((bad == 0))
}
tb_check "the copy the load staged: ${#SAMPLE[@]} sampled prefixes via their own gateway" check_sample
hx 1 ip -6 addr add "$(addr_of 4)/128" dev lo
tb_check "h0 -> $(addr_of 4) (via h1), 0% loss" tb_ping 0 "$(addr_of 4)" 3
# One more route: readers flip to the copy the idle lcore filled.
rctl route add 2001:db8:77::/48 via 2001:db8:2::2
tb_check "the copy filled on the idle lcore: ${#SAMPLE[@]} sampled prefixes via their own gateway" \
  check_sample
tb_check "h0 -> $(addr_of 4) (via h1) on that copy, 0% loss" tb_ping 0 "$(addr_of 4)" 3
tb_check "fib6_parallel_fills still 1 after a one-route change" \
  tb_expect_match '^1$' bash -c "$ROUTERCTL -s $TB_SOCK -j stats | jq .fib6_parallel_fills"

FLIP=1
ROUTES2=$TB_DIR/v6-flipped.routes
write_routes >"$ROUTES2"
tb_check "route load at runtime: $N replaced" \
  tb_expect_match "^$N\$" bash -c "$ROUTERCTL -s $TB_SOCK -j route load $ROUTES2 | jq .replaced"
# The parse ran on oneTBB's threads, started when the startup load parsed the first file.
tb_check "after the runtime parse, no routerd thread but the worker may run on its CPU" \
  tb_threads_off_workers
caught_up() { [[ $($ROUTERCTL -s "$TB_SOCK" -j stats | jq '.fib6_standby_behind') == 0 ]]; }
tb_check "stats: fib6_standby_behind back to 0 (the copy the workers left caught up)" \
  tb_wait_until 10 caught_up
tb_check "the copy the load staged: every sampled prefix via its new gateway" check_sample
hx 1 ip -6 addr del "$(addr_of 4)/128" dev lo
hx 0 ip -6 addr add "$(addr_of 4)/128" dev lo
tb_check "h1 -> $(addr_of 4) (now via h0), 0% loss" tb_ping 1 "$(addr_of 4)" 3
rctl route del 2001:db8:77::/48
tb_check "the copy caught up after the answer: every sampled prefix via its new gateway" \
  check_sample
tb_check "h1 -> $(addr_of 4) (via h0) on that copy, 0% loss" tb_ping 1 "$(addr_of 4)" 3
tb_finish
