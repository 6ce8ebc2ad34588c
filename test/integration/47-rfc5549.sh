#!/usr/bin/env bash
# 47-rfc5549: IPv4 routes through IPv6 gateways (RFC 5549, what BGP unnumbered installs). h1
# holds 10.99.0.1, 10.98.0.1 and 10.97.0.1 on its loopback and fe80::99 beside its EUI-64
# link-local address. `route add 10.99.0.0/16 via inet6 <h1's link-local> dev p1` carries
# h0's pings (NDP resolves the gateway, the frames leave with the IPv4 EtherType); route get,
# route show and neigh show name the gateway; a [[route]] of the config (10.98.0.0/16 via
# fe80::99 dev p1) and an ECMP route from a batch (10.97.0.0/16 over the link-local gateway
# and 10.2.0.2; 16 destinations, and both members carry packets) carry pings too; after
# route del, 10.99.0.1 is Net Unreachable again. A daemon's route of that kind: `ip route add
# 10.96.0.0/16 via inet6 ... proto static` in the control namespace (RTA_VIA, as BIRD
# installs them) arrives through the kernel route mirror (`kernel_routes`), usable, and
# carries pings. The traffic checks also run against the Linux reference
# (ROUTER_IMPL=linux).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
export TB_IPV6=1
LL2=fe80::99 # a second link-local address of h1, the config's gateway
CP=$TB_PREFIX-cp
if tb_is_routerd; then
  export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
kernel_routes = true

[[route]]
prefix = \"10.98.0.0/16\"
via = \"$LL2\"
dev = \"p1\""
fi
tb_start

MAC1=02:00:00:00:01:02 # h1's eth0 (testbed.sh)
hx 1 ip -6 addr add "$LL2/64" dev eth0 nodad
for a in 10.99.0.1 10.98.0.1 10.96.0.1; do hx 1 ip addr add "$a/32" dev lo; done
for ((i = 1; i <= 16; i++)); do hx 1 ip addr add "10.97.0.$i/32" dev lo; done
LL1=$(hx 1 ip -6 -j addr show dev eth0 scope link |
  jq -r '[.[0].addr_info[] | select(.scope == "link" and .local != "'"$LL2"'") | .local][0]')
[[ $LL1 == fe80:* ]] || tb_die "h1 has no link-local address on eth0 (got '$LL1')"
tb_info "h1's link-local address: $LL1"

route() { if tb_is_routerd; then rctl route "$@"; else ip -n "$TB_RTR_NS" route "$@"; fi; }
P1=$(if tb_is_routerd; then tb_port 1; else tb_tap 1; fi)
# The Linux reference has no config file: the config's route, made by hand.
tb_is_routerd || ip -n "$TB_RTR_NS" route add 10.98.0.0/16 via inet6 "$LL2" dev "$P1"

net_unreachable() {
  tb_expect_match 'From 10\.1\.0\.1 .*Destination Net Unreachable' \
    hx 0 ping -n -c1 -W2 10.99.0.1
}
tb_check "before the route: 10.99.0.1 is Net Unreachable" net_unreachable
tb_check "route add 10.99.0.0/16 via inet6 $LL1 dev $P1" \
  tb_expect_ok route add 10.99.0.0/16 via inet6 "$LL1" dev "$P1"
tb_check "h0 -> 10.99.0.1 through h1's link-local address: 5 pings, 0% loss" \
  tb_ping 0 10.99.0.1 5
# 200 pings at 100/s: the fast path, not only the first packet's slow one.
tb_check "h0 -> 10.99.0.1: 200 pings at 100/s, no loss routerd did not count as tx_full" \
  tb_flood_ping 0 10.99.0.1 200
tb_check "h0 -> 10.98.0.1 (the config's route via $LL2): 5 pings, 0% loss" \
  tb_ping 0 10.98.0.1 5

if tb_is_routerd; then
  jq_check() {  # jq_check JQ ROUTERCTL-ARGS...: the JSON answer satisfies JQ
    local q=$1 out
    shift
    out=$(rctl_j "$@")
    jq -e "$q" <<<"$out" >/dev/null && return 0
    tb_indent <<<"$out"
    return 1
  }
  tb_check "route get 10.99.0.1 -j: via $LL1, via_family 6, dev p1, forward to h1's MAC" \
    jq_check ".via == \"$LL1\" and .via_family == 6 and .dev == \"p1\" and
      .route == \"10.99.0.0/16\" and .src == \"10.2.0.1\" and .nexthop.state == \"forward\" and
      .nexthop.neighbour == \"$LL1\" and .nexthop.lladdr == \"$MAC1\"" route get 10.99.0.1
  tb_check "route get 10.99.0.1: 'via inet6 $LL1 dev p1'" \
    tb_expect_match "^10\.99\.0\.1 via inet6 $LL1 dev p1 src 10\.2\.0\.1 route 10\.99\.0\.0/16" \
    rctl route get 10.99.0.1
  tb_check "route show: '10.99.0.0/16 via inet6 $LL1 dev p1 proto static'" \
    tb_expect_match "^10\.99\.0\.0/16 via inet6 $LL1 dev p1 proto static$" rctl -4 route show
  tb_check "route show: the config's '10.98.0.0/16 via inet6 $LL2 dev p1'" \
    tb_expect_match "^10\.98\.0\.0/16 via inet6 $LL2 dev p1 proto static$" rctl -4 route show
  tb_check "neigh show: $LL1 dev p1 lladdr $MAC1, usable" \
    jq_check "[.[] | select(.dst == \"$LL1\" and .dev == \"p1\" and .lladdr == \"$MAC1\" and
      (.state | test(\"REACHABLE|STALE|DELAY|PROBE\")))] | length == 1" -6 neigh show
fi

# ECMP from a batch: h1's link-local address and its IPv4 address; pings of many flows.
printf 'route add 10.97.0.0/16 nexthop via inet6 %s dev %s nexthop via 10.2.0.2\n' \
  "$LL1" "$P1" >"$TB_DIR/rfc5549.batch"
if tb_is_routerd; then
  tb_check "batch: route add 10.97.0.0/16 nexthop via inet6 $LL1 dev p1 nexthop via 10.2.0.2" \
    tb_expect_ok rctl batch "$TB_DIR/rfc5549.batch"
else
  tb_check "ip route add 10.97.0.0/16 nexthop via inet6 $LL1 dev $P1 nexthop via 10.2.0.2" \
    tb_expect_ok ip -n "$TB_RTR_NS" route add 10.97.0.0/16 nexthop via inet6 "$LL1" dev "$P1" \
    nexthop via 10.2.0.2
fi
many_flows() {  # 16 destinations (16 flows: ICMP hashes on the addresses), 3 pings each
  local i ok=0
  for ((i = 1; i <= 16; i++)); do
    hx 0 ping -n -c3 -i 0.2 -W2 "10.97.0.$i" >/dev/null 2>&1 && ok=$((ok + 1))
  done
  tb_say "     $ok of 16 answered every ping"
  ((ok == 16))
}
tb_check "h0 -> 10.97.0.1..16 over both members: 16 flows, every ping answered" many_flows
if tb_is_routerd; then
  ecmp_shown() {
    local out tab=$'\t'
    out=$(rctl -4 route show)
    grep -A2 '^10\.97\.0\.0/16' <<<"$out" | tb_indent
    grep -q "^${tab}nexthop via inet6 $LL1 dev p1 weight 1 alive" <<<"$out" &&
      grep -q "^${tab}nexthop via 10.2.0.2 dev p1 weight 1 alive" <<<"$out"
  }
  tb_check "route show: 10.97.0.0/16 'nexthop via inet6 $LL1 dev p1' and 'nexthop via 10.2.0.2', alive" \
    ecmp_shown
  tb_check "both members carried packets (route show -j: packets > 0 each)" \
    jq_check "[.[] | select(.prefix == \"10.97.0.0/16\") | .nexthops[] | .packets > 0] ==
      [true, true]" -4 route show
fi

if tb_is_routerd; then
  # A daemon's route through an IPv6 gateway (RTA_VIA), through the kernel route mirror.
  ip -n "$CP" route add 10.96.0.0/16 via inet6 "$LL1" dev p1 proto static
  ip -n "$CP" route show 10.96.0.0/16 | tb_indent
  tb_check "the mirror takes 10.96.0.0/16 via inet6 $LL1 dev p1 (proto static, origin kernel)" \
    tb_route_is 10.96.0.0/16 ".via == \"$LL1\" and .via_family == 6 and .dev == \"p1\" and
      .proto == \"static\" and .origin == \"kernel\""
  tb_check "mirror show: nothing unusable" jq_check '.unusable == 0' mirror show
  tb_check "h0 -> 10.96.0.1 through the mirrored route: 5 pings, 0% loss" tb_ping 0 10.96.0.1 5
  ip -n "$CP" route del 10.96.0.0/16
  tb_check "its delete follows" tb_no_route 10.96.0.0/16
fi

tb_check "route del 10.99.0.0/16 via inet6 $LL1" \
  tb_expect_ok route del 10.99.0.0/16 via inet6 "$LL1" dev "$P1"
tb_check "after route del: 10.99.0.1 is Net Unreachable" net_unreachable
if tb_is_routerd; then
  tb_check "routerd is still running" tb_routerd_alive
fi
tb_finish
