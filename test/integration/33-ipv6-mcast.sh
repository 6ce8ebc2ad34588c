#!/usr/bin/env bash
# 33-ipv6-mcast: ports receive the multicast groups IPv6 neighbour discovery needs
# (issue 14): all-nodes, all-routers and the solicited-node group of every address.
# `routerctl link show` names the mode (net_tap takes any list, so "filter") and the count
# follows `addr add`/`addr del`; a host resolves the router through the solicited-node
# group of an address added at run time, and the router resolves a host by soliciting the
# host's solicited-node group (seen on the wire at the host).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds tcpdump stdbuf
export TB_IPV6=1
tb_start

# What routerd should want on PORT, computed here from its addresses (addr show): two fixed
# groups plus one per distinct low 24 bits.
expected_groups() {
  rctl_j -6 addr show dev "$1" | jq -r '.[0].addresses[]' | cut -d/ -f1 |
    "$TB_PY" -c '
import ipaddress, sys
print(2 + len({ipaddress.IPv6Address(l.strip()).packed[13:] for l in sys.stdin if l.strip()}))'
}
mc() { rctl_j link show "$1" | jq -r ".[0].multicast.$2"; }

check_show() {
  local out i p mode n want bad=0
  out=$(rctl link show)
  tb_indent <<<"$out"
  for ((i = 0; i < TB_NPORTS; i++)); do
    p=$(tb_port $i)
    mode=$(mc "$p" mode)
    n=$(mc "$p" groups)
    want=$(expected_groups "$p")
    tb_say "     $p: mode $mode, $n groups (its addresses need $want)"
    # net_tap's set_mc_addr_list accepts any list (a TAP filters nothing itself).
    [[ $mode == filter && $n == "$want" ]] || bad=1
  done
  (($(grep -c '^    multicast filter ([0-9]* groups)$' <<<"$out") == TB_NPORTS)) || bad=1
  return $bad
}
tb_check "link show: every net_tap port receives through a filter of the groups its addresses need" \
  check_show

check_stats_same() {
  local a b
  a=$(rctl_j stats | jq -c '[.ports[].multicast]')
  b=$(rctl_j link show | jq -c '[.[].multicast]')
  tb_say "     stats: $a"
  [[ $a == "$b" ]]
}
tb_check "stats carries the same multicast state per port" check_stats_same

# --- an address added at run time: its group joins the filter, and h0 resolves it through it
N0=$(mc p0 groups)
rctl addr add 2001:db8:1::ab:cdef/64 dev p0
check_grew() {
  local n want
  n=$(mc p0 groups)
  want=$(expected_groups p0)
  tb_say "     p0: $N0 -> $n groups (its addresses need $want)"
  ((n == N0 + 1 && n == want)) && [[ $(mc p0 mode) == filter ]]
}
tb_check "addr add 2001:db8:1::ab:cdef: one more group on p0" check_grew
rctl addr add 2001:db8:1:0:1::ab:cdef/64 dev p0
tb_check "a second address with the same low 24 bits: no further group" \
  eval '(( $(mc p0 groups) == N0 + 1 ))'

CAP0=$TB_DIR/h0.tcpdump
tb_bg_host "$CAP0" 0 tcpdump -Z root -i eth0 -n -e -l 'icmp6 and (ip6[40] == 135 or ip6[40] == 136)'
CAP0_PID=$TB_LAST_PID
tb_wait_until 10 grep -q 'listening on' "$CAP0" || tb_die "tcpdump did not start: $(cat "$CAP0")"
# The router's DAD of the new address takes about a second; until then it does not answer.
hx 0 ip -6 neigh flush dev eth0
resolve_new() {
  tb_wait_until 8 hx 0 ping -6 -n -c1 -W1 2001:db8:1::ab:cdef || return 1
  tb_ping 0 2001:db8:1::ab:cdef 3
}
tb_check "h0 (neighbour cache flushed) pings 2001:db8:1::ab:cdef, added at run time" resolve_new
sleep 0.3
tb_bg_stop "$CAP0_PID"
check_ns_to_group() {
  local ns na
  ns=$(grep -E '> 33:33:ff:ab:cd:ef.*> ff02::1:ffab:cdef: .*neighbor solicitation, who has 2001:db8:1::ab:cdef' "$CAP0" | head -n1)
  na=$(grep -E 'neighbor advertisement, tgt is 2001:db8:1::ab:cdef' "$CAP0" | head -n1)
  tb_say "     NS: ${ns:-none}"
  tb_say "     NA: ${na:-none}"
  [[ -n $ns && -n $na ]] || { tb_indent <"$CAP0"; return 1; }
}
tb_check "h0 solicited 33:33:ff:ab:cd:ef (ff02::1:ffab:cdef) and the router answered" check_ns_to_group
tb_check "h0 still resolves 2001:db8:1::1 through its group after a flush" \
  bash -c "ip netns exec '${TB_HOSTS[0]}' ip -6 neigh flush dev eth0 &&
    ip netns exec '${TB_HOSTS[0]}' ping -6 -n -c2 -W2 2001:db8:1::1 | grep -q ' 0% packet loss'"

rctl addr del 2001:db8:1::ab:cdef/64 dev p0
rctl addr del 2001:db8:1:0:1::ab:cdef/64 dev p0
check_back() {
  local n
  n=$(mc p0 groups)
  tb_say "     p0: $n groups after both deletes (was $N0)"
  ((n == N0)) && ((n == $(expected_groups p0)))
}
tb_check "both deleted: p0 back to $N0 groups" check_back

# --- the router resolves a host through the host's solicited-node group
hx 1 ip -6 addr add 2001:db8:2::c0:ffee/64 dev eth0 nodad
CAP1=$TB_DIR/h1.tcpdump
tb_bg_host "$CAP1" 1 tcpdump -Z root -i eth0 -n -e -l 'icmp6 and ip6[40] == 135'
CAP1_PID=$TB_LAST_PID
tb_wait_until 10 grep -q 'listening on' "$CAP1" || tb_die "tcpdump did not start: $(cat "$CAP1")"
tb_check "h0 -> 2001:db8:2::c0:ffee (a new address of h1): 3 pings, 0% loss" \
  tb_ping 0 2001:db8:2::c0:ffee 3
sleep 0.3
tb_bg_stop "$CAP1_PID"
check_router_ns() {
  local ns
  ns=$(grep -E '> 33:33:ff:c0:ff:ee.*> ff02::1:ffc0:ffee: .*neighbor solicitation, who has 2001:db8:2::c0:ffee' "$CAP1" | head -n1)
  tb_say "     ${ns:-no such NS}"
  [[ -n $ns ]] || { tb_indent <"$CAP1"; return 1; }
}
tb_check "the router solicited h1's solicited-node group (33:33:ff:c0:ff:ee)" check_router_ns
tb_check "neigh show: 2001:db8:2::c0:ffee at h1's MAC" \
  tb_expect_match '2001:db8:2::c0:ffee .*02:00:00:00:01:02' rctl -6 neigh show

tb_check "routerd's log names each port's multicast mode" \
  eval "(( \$(grep -c 'multicast RX through the device.s filter' '$TB_LOG') >= TB_NPORTS ))"
tb_finish
