#!/usr/bin/env bash
# 36-ipv6-ll-scope: one link-local address on two links is two neighbours (RFC 4007). h0 (on
# p0) and h1 (on p1) both hold fe80::99, and the router routes 2001:db8:a::/48 via fe80::99
# dev p0 (h0's loopback 2001:db8:a::1) and 2001:db8:b::/48 via fe80::99 dev p1 (h1's
# 2001:db8:b::1). Pings between the two loopbacks, both ways, need both neighbours resolved
# to the right MACs at once; `neigh show` lists fe80::99 twice; an NA on p1 changes p1's
# entry only, and deleting it leaves p0's. The traffic checks also run against the Linux
# reference (ROUTER_IMPL=linux).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
export TB_IPV6=1
tb_start

LL=fe80::99
MAC0=02:00:00:00:00:02 # h0's eth0 (testbed.sh)
MAC1=02:00:00:00:01:02 # h1's eth0
for i in 0 1; do
  hx "$i" ip -6 addr add "$LL/64" dev eth0 nodad
done
hx 0 ip -6 addr add 2001:db8:a::1/128 dev lo
hx 1 ip -6 addr add 2001:db8:b::1/128 dev lo

route() { if tb_is_routerd; then rctl route "$@"; else ip -n "$TB_RTR_NS" -6 route "$@"; fi; }
port_dev() { if tb_is_routerd; then tb_port "$1"; else tb_tap "$1"; fi; }
tb_check "route add 2001:db8:a::/48 via $LL dev $(port_dev 0)" \
  tb_expect_ok route add 2001:db8:a::/48 via "$LL" dev "$(port_dev 0)"
tb_check "route add 2001:db8:b::/48 via $LL dev $(port_dev 1)" \
  tb_expect_ok route add 2001:db8:b::/48 via "$LL" dev "$(port_dev 1)"

# ping -6 from one loopback to the other: both directions cross both neighbours.
ping_from() {  # ping_from I SRC DST COUNT: 0% loss required
  local out rc=0
  tb_run_capture out hx "$1" ping -6 -n -c "$4" -i 0.2 -W 2 -I "$2" "$3" || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    grep -E 'packet loss' <<<"$out" | tb_indent
    return 0
  fi
  tb_say "     h$1 ping -I $2 $3 (exit $rc):"
  tb_indent <<<"$out"
  return 1
}
tb_check "h0 (2001:db8:a::1) -> h1 (2001:db8:b::1): 5 pings, 0% loss" \
  ping_from 0 2001:db8:a::1 2001:db8:b::1 5
tb_check "h1 (2001:db8:b::1) -> h0 (2001:db8:a::1): 5 pings, 0% loss" \
  ping_from 1 2001:db8:b::1 2001:db8:a::1 5

if tb_is_routerd; then
  # neigh_at PORT MAC: fe80::99 on PORT at MAC, usable.
  neigh_at() {
    rctl_j -6 neigh show | jq -e --arg ll "$LL" --arg d "$1" --arg m "$2" '[.[] |
      select(.dst == $ll and .dev == $d and .lladdr == $m)] | length == 1' >/dev/null
  }
  two_entries() {
    rctl -6 neigh show | tb_indent
    local n
    n=$(rctl_j -6 neigh show | jq --arg ll "$LL" '[.[] | select(.dst == $ll)] | length')
    tb_say "     $n entries for $LL"
    ((n == 2)) && neigh_at p0 "$MAC0" && neigh_at p1 "$MAC1"
  }
  tb_check "neigh show: $LL twice, dev p0 lladdr $MAC0 and dev p1 lladdr $MAC1" two_entries
  tb_check "route get 2001:db8:a::1: dev p0, neighbour $LL lladdr $MAC0" \
    bash -c "$(declare -f rctl rctl_j); ROUTERCTL='$ROUTERCTL' TB_SOCK='$TB_SOCK' \
      rctl_j route get 2001:db8:a::1 | jq -e '.dev == \"p0\" and .via == \"$LL\" and
        .nexthop.state == \"forward\" and .nexthop.neighbour == \"$LL\" and
        .nexthop.lladdr == \"$MAC0\"' >/dev/null"
  tb_check "route get 2001:db8:b::1: dev p1, neighbour $LL lladdr $MAC1" \
    bash -c "$(declare -f rctl rctl_j); ROUTERCTL='$ROUTERCTL' TB_SOCK='$TB_SOCK' \
      rctl_j route get 2001:db8:b::1 | jq -e '.dev == \"p1\" and .via == \"$LL\" and
        .nexthop.state == \"forward\" and .nexthop.neighbour == \"$LL\" and
        .nexthop.lladdr == \"$MAC1\"' >/dev/null"
  tb_check "route show lists both routes via $LL with their ports" \
    bash -c "$(declare -f rctl); ROUTERCTL='$ROUTERCTL' TB_SOCK='$TB_SOCK'
      out=\$(rctl -6 route show); printf '%s\n' \"\$out\" | grep -E '2001:db8:(a|b)::/48' |
      sed 's/^/     | /'
      grep -Eq '2001:db8:a::/48 via $LL dev p0' <<<\"\$out\" &&
      grep -Eq '2001:db8:b::/48 via $LL dev p1' <<<\"\$out\""

  # An unsolicited NA with Override from fe80::99 on p1, naming another MAC (past the
  # locktime): p1's neighbour takes it, p0's is not touched.
  sleep 1.5
  hx 1 "$TB_PY" - "$LL" <<'PY'
import sys
from scapy.all import Ether, IPv6, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, sendp
ll = sys.argv[1]
sendp(Ether(src="02:00:00:00:01:99", dst="33:33:00:00:00:01") /
      IPv6(src=ll, dst="ff02::1", hlim=255) /
      ICMPv6ND_NA(tgt=ll, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:01:99"),
      iface="eth0", verbose=False)
PY
  na_one_port() {
    tb_wait_until 3 neigh_at p1 02:00:00:00:01:99 || true
    rctl -6 neigh show | tb_indent
    neigh_at p1 02:00:00:00:01:99 && neigh_at p0 "$MAC0"
  }
  tb_check "an NA on p1 moves p1's $LL to 02:00:00:00:01:99; p0's stays $MAC0" na_one_port

  tb_check "neigh del $LL without dev is refused" \
    tb_expect_match 'link-local neighbour.*needs dev' rctl neigh del "$LL"
  tb_check "neigh del $LL dev p1" tb_expect_ok rctl neigh del "$LL" dev p1
  only_p0() {
    rctl -6 neigh show | tb_indent
    local n
    n=$(rctl_j -6 neigh show | jq --arg ll "$LL" '[.[] | select(.dst == $ll)] | length')
    ((n == 1)) && neigh_at p0 "$MAC0"
  }
  tb_check "after the delete: $LL on p0 only, still at $MAC0" only_p0
  tb_check "neigh del $LL dev p1 again: no such neighbour" \
    tb_expect_match "no neighbour $LL on p1" rctl neigh del "$LL" dev p1
  # Traffic resolves p1's neighbour again, to h1's real MAC.
  tb_check "h0 -> h1 loopback again: 5 pings, 0% loss" ping_from 0 2001:db8:a::1 2001:db8:b::1 5
  tb_check "h1 -> h0 loopback again: 5 pings, 0% loss" ping_from 1 2001:db8:b::1 2001:db8:a::1 5
  tb_check "neigh show: $LL twice again, at $MAC0 on p0 and $MAC1 on p1" two_entries
fi
tb_finish
