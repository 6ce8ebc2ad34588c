#!/usr/bin/env bash
# 09-cli: routerctl neigh/link/addr verbs, in text and JSON, against a live routerd.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_start

# json_check DESC JQ-FILTER CMD...: CMD's JSON output must satisfy JQ-FILTER.
json_check() {
  local filter=$1 out
  shift
  if ! out=$("$@" 2>&1); then
    tb_say "     command failed: $*"
    tb_indent <<<"$out"
    return 1
  fi
  if jq -e "$filter" <<<"$out" >/dev/null 2>&1; then
    jq -c . <<<"$out" | cut -c1-400 | tb_indent
    return 0
  fi
  tb_say "     $* does not satisfy: $filter"
  tb_indent <<<"$out"
  return 1
}

# --- link ---
tb_check "link show -j: 3 ports p0..p2, net_tap, MAC addresses, MTU 1500" json_check \
  'length == 3 and ([.[].name] == ["p0","p1","p2"]) and all(.[]; (.mac | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) and .mtu == 1500 and (.driver | test("tap")))' \
  rctl_j link show
tb_check "link show -j p1: one port, p1, device names rtr-p1" json_check \
  'length == 1 and .[0].name == "p1" and (.[0].device | test("rtr-p1"))' rctl_j link show p1
tb_info "link states: $(rctl_j link show | jq -c '[.[] | {name, link, rx_queues, tx_queues}]')"
check_link_text() {
  local out
  out=$(rctl link show 2>&1) || { tb_indent <<<"$out"; return 1; }
  tb_indent <<<"$out"
  grep -qw p0 <<<"$out" && grep -qw p1 <<<"$out" && grep -qw p2 <<<"$out"
}
tb_check "link show (text) lists p0, p1 and p2" check_link_text
tb_check "link show p9 (unknown port) fails" eval '! rctl link show p9 2>&1 | tb_indent'

# --- neigh ---
MAC=02:00:00:00:01:50
tb_check "neigh add 10.1.0.50 lladdr $MAC dev p0" tb_expect_ok rctl neigh add 10.1.0.50 lladdr $MAC dev p0
tb_check "neigh show -j lists 10.1.0.50 PERMANENT on p0" json_check \
  "any(.[]; .dst == \"10.1.0.50\" and .dev == \"p0\" and (.lladdr | ascii_downcase) == \"$MAC\" and .state == \"PERMANENT\")" \
  rctl_j neigh show
tb_check "neigh show (text) shows PERMANENT" tb_expect_match '10\.1\.0\.50.*PERMANENT' rctl neigh show
tb_check "neigh show -j dev p1 does not list it" json_check \
  'all(.[]; .dst != "10.1.0.50")' rctl_j neigh show dev p1
# The static entry is used as is: h2's ping to 10.1.0.50 leaves p0 addressed to $MAC, and no
# ARP request for 10.1.0.50 is sent (h0's eth0 sees both; tcpdump puts it in promiscuous mode).
check_static_used() {
  local cap=$TB_DIR/h0.tcpdump pid n arp
  tb_bg_host "$cap" 0 tcpdump -Z root -e -n -l -i eth0 'host 10.1.0.50'
  pid=$TB_LAST_PID
  tb_wait_until 10 grep -q 'listening on' "$cap" || { cat "$cap" | tb_indent; return 1; }
  hx 2 ping -n -c3 -i 0.2 -W 1 10.1.0.50 >/dev/null 2>&1 || true
  sleep 0.5
  tb_bg_stop "$pid"
  n=$(grep -ci "> $MAC.*10\.3\.0\.2 > 10\.1\.0\.50: ICMP echo request" "$cap" || true)
  arp=$(grep -c 'ARP' "$cap" || true)
  tb_say "     on h0's wire: $n echo requests to $MAC for 10.1.0.50, $arp ARP packets about it"
  ((n == 3 && arp == 0)) && return 0
  tb_indent <"$cap"
  return 1
}
tb_check "traffic to 10.1.0.50 goes to the static lladdr without ARP" check_static_used
tb_check "neigh del 10.1.0.50" tb_expect_ok rctl neigh del 10.1.0.50
tb_check "neigh show -j no longer lists 10.1.0.50" json_check 'all(.[]; .dst != "10.1.0.50")' rctl_j neigh show
tb_check "neigh del 10.1.0.50 again fails" eval '! rctl neigh del 10.1.0.50 2>&1 | tb_indent'

# A learnt neighbour: h1 after traffic to it.
hx 0 ping -n -c1 -W 2 10.2.0.2 >/dev/null || true
H1MAC=$(hx 1 ip -j link show eth0 | jq -r '.[0].address')
tb_check "neigh show -j: 10.2.0.2 learnt on p1 with h1's MAC $H1MAC, REACHABLE" json_check \
  "any(.[]; .dst == \"10.2.0.2\" and .dev == \"p1\" and (.lladdr | ascii_downcase) == \"$H1MAC\" and .state == \"REACHABLE\")" \
  rctl_j neigh show

# --- addr ---
tb_check "addr show -4 -j: one IPv4 address per port" json_check \
  '(map({(.dev): .addresses}) | add) == {"p0":["10.1.0.1/24"],"p1":["10.2.0.1/24"],"p2":["10.3.0.1/24"]}' \
  rctl_j -4 addr show
# Every port has its link-local IPv6 address, IPv6 configured or not (RFC 4291 2.1).
tb_check "addr show -6 -j: each port has one fe80::/64 address" json_check \
  'length == 3 and all(.[]; (.addresses | length) == 1 and (.addresses[0] | startswith("fe80:")))' \
  rctl_j -6 addr show
tb_check "addr add 10.4.0.1/24 dev p0" tb_expect_ok rctl addr add 10.4.0.1/24 dev p0
tb_check "addr show -j dev p0 lists 10.1.0.1/24 and 10.4.0.1/24" json_check \
  'length == 1 and .[0].dev == "p0" and (.[0].addresses | sort) == ["10.1.0.1/24","10.4.0.1/24"]' \
  rctl_j -4 addr show dev p0
tb_check "addr show (text) lists 10.4.0.1/24" tb_expect_match '10\.4\.0\.1/24' rctl addr show
tb_check "route show -j has the connected route 10.4.0.0/24 dev p0" json_check \
  'any(.[]; .prefix == "10.4.0.0/24" and .dev == "p0" and .proto == "connected")' rctl_j route show
tb_check "route get -j 10.4.0.1 is local" json_check '.type == "local"' rctl_j route get 10.4.0.1
tb_check "h0 pings the new address 10.4.0.1" tb_ping 0 10.4.0.1 3
tb_check "addr add 10.2.0.5/24 dev p0 (overlaps p1's subnet) is refused" \
  eval '! rctl addr add 10.2.0.5/24 dev p0 2>&1 | tb_indent'
tb_check "addr del 10.4.0.1/24 dev p0" tb_expect_ok rctl addr del 10.4.0.1/24 dev p0
tb_check "addr show -j dev p0 is back to 10.1.0.1/24" json_check \
  '.[0].addresses == ["10.1.0.1/24"]' rctl_j -4 addr show dev p0
tb_check "route show -j no longer has 10.4.0.0/24" json_check \
  'all(.[]; .prefix != "10.4.0.0/24")' rctl_j route show
tb_check "ping 10.4.0.1 from h0 now gets Net Unreachable" \
  tb_expect_match 'Destination Net Unreachable' hx 0 ping -n -c1 -W 2 10.4.0.1
tb_check "h0 -> h1 still works" tb_ping 0 10.2.0.2 3
tb_finish
