#!/usr/bin/env bash
# 22-reload: SIGHUP and `routerctl reload` apply the config file's changes to routes,
# addresses and neighbours while forwarding goes on (no ping lost); a broken file or
# route file is rejected with its key or line and changes nothing.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_init

# The routes under test: 192.0.2.0/24 (TEST-NET-1) and 198.51.100.0/24 (TEST-NET-2), both
# to h2, which answers for them on its loopback.
ROUTES_A='[[route]]
prefix = "192.0.2.0/24"
via = "10.3.0.2"'
ROUTES_B='[[route]]
prefix = "198.51.100.0/24"
via = "10.3.0.2"'
printf '203.0.113.0/24 via 10.3.0.2\n' >"$TB_DIR/extra.routes"
tb_write_config "$TB_CONF" "$ROUTES_A"
tb_start
hx 2 ip addr add 192.0.2.1/32 dev lo
hx 2 ip addr add 198.51.100.1/32 dev lo
hx 2 ip addr add 203.0.113.1/32 dev lo
for net in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do hx 0 ip route add "$net" via 10.1.0.1; done

routes() { rctl route show | awk '{print $1}' | sort | tr '\n' ' '; }
has_route() { rctl route show | grep -q "^$1 "; }
no_route() { ! has_route "$1"; }
tb_check "startup: 192.0.2.0/24 from the file" has_route 192.0.2.0/24

tb_step "SIGHUP: a route added and one removed through the file, under a 50 pps ping"
tb_bg "$TB_DIR/ping.log" hx 0 ping -n -i 0.02 -c 250 -W 1 10.3.0.2
ping_pid=$TB_LAST_PID
sleep 1
tb_write_config "$TB_CONF" "$ROUTES_B"
kill -HUP "$TB_ROUTERD_PID"
tb_check "198.51.100.0/24 appears" tb_wait_until 10 has_route 198.51.100.0/24
tb_check "192.0.2.0/24 is gone" tb_wait_until 10 no_route 192.0.2.0/24
tb_check "the log says what changed" tb_expect_match 'reload .*routes \+1 ~0 -1' grep 'reload ' "$TB_LOG"
tb_check "h0 reaches the new route" tb_ping 0 198.51.100.1 3
ping_done() { ! kill -0 "$ping_pid" 2>/dev/null; }
tb_wait_until 20 ping_done || true
no_loss() {
  grep -E 'packets transmitted' "$TB_DIR/ping.log" | tb_indent
  grep -q ' 0% packet loss' "$TB_DIR/ping.log"
}
tb_check "the ping through the router lost nothing during the reload" no_loss

tb_step "routerctl reload: an address, a route file and a neighbour"
sed -i 's|addresses = \["10.2.0.1/24"\]|addresses = ["10.2.0.1/24", "10.20.0.1/24"]|' "$TB_CONF"
sed -i "0,/^\[dataplane\]/s|^\[dataplane\]|route_files = [\"$TB_DIR/extra.routes\"]\n\n[dataplane]|" "$TB_CONF"
cat >>"$TB_CONF" <<'EOT'

[[neighbour]]
address = "10.2.0.9"
lladdr = "02:00:00:00:09:09"
port = "p1"
EOT
reload_ok() {
  local out
  out=$(rctl reload) || { tb_say "     $out"; return 1; }
  tb_say "     $out"
  [[ $out == *"addresses +1 -0, neighbours set 1 removed 0, routes +1 ~0 -0"* ]]
}
tb_check "reload reports +1 address, 1 neighbour, +1 route" reload_ok
tb_check "10.20.0.1/24 is on p1" tb_expect_match '10.20.0.1/24' rctl addr show dev p1
tb_check "the route file's 203.0.113.0/24 is installed" has_route 203.0.113.0/24
tb_check "h0 reaches it" tb_ping 0 203.0.113.1 3
tb_check "the static neighbour is there" tb_expect_match '10.2.0.9 .*02:00:00:00:09:09.*PERMANENT' rctl neigh show

tb_step "bad files change nothing"
before=$(routes)
cp "$TB_CONF" "$TB_DIR/good.toml"
# refused TEXT: routerctl reload must fail, saying TEXT and that nothing changed.
refused() {
  local rc=0 out
  out=$(rctl reload 2>&1) || rc=$?
  tb_say "     exit $rc: $out"
  ((rc != 0)) && [[ $out == *"$1"*"nothing changed"* ]]
}
printf '\n[fib]\nmax_routez = 5\n' >>"$TB_CONF"
tb_check "an unknown key is refused, naming it" refused "fib.max_routez: unknown key"
cp "$TB_DIR/good.toml" "$TB_CONF"
printf '203.0.113.0/24 via 10.3.0.2\n10.99.0.0/16 vai 10.3.0.2\n' >"$TB_DIR/extra.routes"
tb_check "a bad route file line is refused with its line number" refused "extra.routes:2:"
printf '203.0.113.0/24 via 10.3.0.2\n10.99.0.0/16 via 10.88.0.2\n' >"$TB_DIR/extra.routes"
sed -i 's|addresses = \["10.2.0.1/24", "10.20.0.1/24"\]|addresses = ["10.2.0.1/24", "10.20.0.1/24", "10.21.0.1/24"]|' "$TB_CONF"
tb_check "a gateway off every subnet is refused after the address step ran" \
  refused "extra.routes:2: route replace: gateway 10.88.0.2"
unchanged() {
  local now
  now=$(routes)
  tb_say "     routes before: $before"
  tb_say "     routes after:  $now"
  [[ $now == "$before" ]] && ! rctl addr show dev p1 | grep -q 10.21.0.1
}
tb_check "routes and addresses are as before (the added address was taken back)" unchanged
printf 'x' >>"$TB_CONF"
kill -HUP "$TB_ROUTERD_PID"
tb_check "SIGHUP with a broken file logs the error" tb_wait_until 10 grep -q 'reload: .*nothing changed' "$TB_LOG"
tb_check "still forwarding" tb_ping 0 198.51.100.1 3

tb_step "back to the first file: everything added by reloads goes away"
tb_write_config "$TB_CONF" "$ROUTES_A"
back() {
  local out
  out=$(rctl reload) || return 1
  tb_say "     $out"
  [[ $out == *"addresses +0 -1, neighbours set 0 removed 1, routes +1 ~0 -2"* ]]
}
tb_check "reload removes the address, the neighbour and two routes, re-adds 192.0.2.0/24" back
tb_check "routes are the startup ones again" tb_expect_match '^10.1.0.0/24 10.2.0.0/24 10.3.0.0/24 192.0.2.0/24 $' routes
tb_finish
