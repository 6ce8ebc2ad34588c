#!/usr/bin/env bash
# 07-runtime-routes: routes added, replaced and deleted at run time take effect under live
# traffic; invalid route/neighbour commands fail with one line and change nothing.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_start

# Route commands for either router: routerctl, or ip route in the Linux reference.
route_cmd() {  # route_cmd add|replace|del PREFIX [via GW]
  if tb_is_routerd; then rctl route "$@"; else ip -n "$TB_RTR_NS" route "$@"; fi
}
# route_get_via ADDR: prints "GW PORT" of the route the router would use.
route_get_via() {
  if tb_is_routerd; then
    rctl_j route get "$1" | jq -r '"\(.via // "-") \(.dev // "-")"'
  else
    ip -n "$TB_RTR_NS" -j route get "$1" |
      jq -r '.[0] | "\(.gateway // "-") \(.dev | sub("^rtr-"; ""))"'
  fi
}
route_show() { if tb_is_routerd; then rctl route show; else ip -n "$TB_RTR_NS" route show; fi; }

# 10.9.0.1 lives on h1's loopback (and later on h2's).
hx 1 ip addr add 10.9.0.1/32 dev lo
hx 2 ip addr add 10.9.0.1/32 dev lo

tb_check "before any route: ping 10.9.0.1 from h0 gets Net Unreachable" \
  tb_expect_match '^From 10\.1\.0\.1( icmp_seq=1)? Destination Net Unreachable' \
  hx 0 ping -n -c1 -W 2 10.9.0.1

PING_LOG=$TB_DIR/ping.log
tb_bg_host "$PING_LOG" 0 ping -n -i 0.2 -W 1 10.9.0.1
PING_PID=$TB_LAST_PID
replies() { grep -c 'bytes from 10.9.0.1' "$PING_LOG" || true; }
unreach() { grep -c 'Destination Net Unreachable' "$PING_LOG" || true; }
# replies_grow N: more than N replies within 5 s
replies_above() { (($(replies) > $1)); }
unreach_above() { (($(unreach) > $1)); }

sleep 1
tb_check "background ping gets only Net Unreachable while no route exists" \
  eval '(( $(replies) == 0 && $(unreach) >= 2 )) || { tail -5 "$PING_LOG" | tb_indent; false; }'

check_add() {
  local n0
  n0=$(replies)
  route_cmd add 10.9.0.0/16 via 10.2.0.2 || return 1
  if tb_wait_until 5 replies_above "$((n0 + 2))"; then
    tb_say "     replies: $n0 -> $(replies)"
    grep 'bytes from' "$PING_LOG" | tail -1 | tb_indent
    return 0
  fi
  tb_say "     no echo replies within 5 s of the route add; ping log tail:"
  tail -5 "$PING_LOG" | tb_indent
  return 1
}
tb_check "route add 10.9.0.0/16 via 10.2.0.2: replies start" check_add

check_get() {  # check_get GW PORT
  local got
  got=$(route_get_via 10.9.0.1 2>&1) || true
  tb_say "     route get 10.9.0.1: $got"
  [[ $got == "$1 $2" ]] || { route_show 2>&1 | tb_indent; return 1; }
}
tb_check "route get 10.9.0.1 -> via 10.2.0.2 dev p1" check_get 10.2.0.2 p1
if tb_is_routerd; then
  check_get_json() {
    local out
    out=$(rctl_j route get 10.9.0.1 2>&1) || { tb_indent <<<"$out"; return 1; }
    tb_indent <<<"$out"
    jq -e '.type == "unicast" and .route == "10.9.0.0/16" and .via == "10.2.0.2" and .dev == "p1"' \
      <<<"$out" >/dev/null
  }
  tb_check "route get -j: type unicast, route 10.9.0.0/16" check_get_json
  tb_check "route show lists 10.9.0.0/16 via 10.2.0.2 dev p1 proto static" \
    eval 'rctl_j route show | jq -e '\''any(.[]; .prefix == "10.9.0.0/16" and .via == "10.2.0.2" and .dev == "p1" and .proto == "static")'\'' >/dev/null || { rctl route show 2>&1 | tb_indent; false; }'
fi

# Replace the gateway with h2 and take the address off h1: replies go on only if the
# traffic now really goes through p2 to h2.
check_replace() {
  local n0
  route_cmd replace 10.9.0.0/16 via 10.3.0.2 || return 1
  hx 1 ip addr del 10.9.0.1/32 dev lo
  sleep 0.5
  n0=$(replies)
  if tb_wait_until 5 replies_above "$((n0 + 2))"; then
    tb_say "     replies: $n0 -> $(replies) after the replace"
    return 0
  fi
  tb_say "     no replies via h2 within 5 s; ping log tail:"
  tail -5 "$PING_LOG" | tb_indent
  return 1
}
tb_check "route replace 10.9.0.0/16 via 10.3.0.2: replies go on through h2" check_replace
tb_check "route get 10.9.0.1 -> via 10.3.0.2 dev p2" check_get 10.3.0.2 p2

check_del() {
  local n0 n1 u0
  route_cmd del 10.9.0.0/16 || return 1
  sleep 0.6
  n0=$(replies)
  u0=$(unreach)
  sleep 2
  n1=$(replies)
  tb_say "     replies in the 2 s after the delete: $((n1 - n0)); new Net Unreachable: $(($(unreach) - u0))"
  # >= 1, not one per echo: the Linux reference rate-limits Net Unreachable to 1/s per
  # source (net.ipv4.route.error_cost) regardless of icmp_ratelimit.
  if ((n1 == n0)) && unreach_above "$u0"; then return 0; fi
  tail -5 "$PING_LOG" | tb_indent
  return 1
}
tb_check "route del 10.9.0.0/16: replies stop, Net Unreachable again" check_del
tb_bg_stop "$PING_PID"
sleep 1.5 # lets the Linux reference's 1/s Net Unreachable limit refill (see above)

tb_check "after the delete: ping 10.9.0.1 from h0 gets Net Unreachable" \
  tb_expect_match '^From 10\.1\.0\.1( icmp_seq=1)? Destination Net Unreachable' \
  hx 0 ping -n -c1 -W 2 10.9.0.1

# Invalid commands: non-zero exit, exactly one line on stderr, nothing changed.
if tb_is_routerd; then
  bad_cmd() {  # bad_cmd ARGS...
    local before after nbefore nafter err rc=0
    before=$(rctl_j route show | jq -S .)
    nbefore=$(rctl_j neigh show | jq -S .)
    rctl "$@" >"$TB_DIR/bad.out" 2>"$TB_DIR/bad.err" || rc=$?
    err=$(cat "$TB_DIR/bad.err")
    after=$(rctl_j route show | jq -S .)
    nafter=$(rctl_j neigh show | jq -S .)
    tb_say "     routerctl $* -> exit $rc, stderr: $err"
    local ok=0
    ((rc != 0)) || { tb_say "     expected a non-zero exit"; ok=1; }
    [[ $(wc -l <"$TB_DIR/bad.err") == 1 && -n $err ]] || {
      tb_say "     expected exactly one line on stderr, got $(wc -l <"$TB_DIR/bad.err"):"
      tb_indent <"$TB_DIR/bad.err"
      ok=1
    }
    [[ $before == "$after" ]] || {
      tb_say "     route table changed:"
      diff <(echo "$before") <(echo "$after") | tb_indent
      ok=1
    }
    [[ $nbefore == "$nafter" ]] || {
      tb_say "     neighbour table changed:"
      diff <(echo "$nbefore") <(echo "$nafter") | tb_indent
      ok=1
    }
    return $ok
  }
  tb_check "route add 10.9.0.1/16 via 10.2.0.2 (host bits) is refused" \
    bad_cmd route add 10.9.0.1/16 via 10.2.0.2
  tb_check "route add 10.8.0.0/16 via 10.77.0.1 (gateway off-subnet) is refused" \
    bad_cmd route add 10.8.0.0/16 via 10.77.0.1
  tb_check "route del 10.123.0.0/16 (no such route) is refused" \
    bad_cmd route del 10.123.0.0/16
  tb_check "neigh add 10.1.0.9 lladdr zz dev p0 (bad MAC) is refused" \
    bad_cmd neigh add 10.1.0.9 lladdr zz dev p0
  tb_check "route add 10.8.0.0/16 via 10.2.0.2 dev p7 (unknown port) is refused" \
    bad_cmd route add 10.8.0.0/16 via 10.2.0.2 dev p7
  tb_check "route add 10.8.0.0/16 via 10.2.0.2 dev p0 (gateway not on p0) is refused" \
    bad_cmd route add 10.8.0.0/16 via 10.2.0.2 dev p0
  tb_check "route del 10.1.0.0/24 (connected route) is refused" \
    bad_cmd route del 10.1.0.0/24
  check_dev_route() {
    rctl route add 10.9.0.0/16 dev p1 || return 1
    local out
    out=$(rctl_j route get 10.9.0.5)
    tb_indent <<<"$out"
    jq -e '.dev == "p1" and (.via // null) == null' <<<"$out" >/dev/null || return 1
    rctl route del 10.9.0.0/16
  }
  tb_check "route add 10.9.0.0/16 dev p1 (on-link), route get, route del" check_dev_route
else
  tb_info "routerctl error checks skipped (ROUTER_IMPL=$ROUTER_IMPL)"
fi
tb_finish
