#!/usr/bin/env bash
# 29-ipv6-ra: Router Advertisements and DAD. Port p0 advertises (port.ra = true): h0, with no
# static IPv6 address or route, solicits, forms a SLAAC address in 2001:db8:1::/64 from the
# answer, takes the router's link-local address as its default router and the port's MTU,
# and pings h1 over IPv6. Then the router adds an address h2 already holds: h2 defends it,
# DAD marks it dadfailed and counts it. routerd only (Linux would need radvd).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
export TB_IPV6=1
tb_write_config "$TB_CONF" "[ipv6]
ra_interval_s = 30"
# Only p0 advertises.
sed -i '0,/^name = "p0"$/s//name = "p0"\nra = true/' "$TB_CONF"
tb_start

router_ll() {  # the router's link-local address on p0
  rctl_j -6 addr show dev p0 | jq -r '.[0].addresses[] | select(startswith("fe80:"))' |
    cut -d/ -f1
}
none_tentative() {
  rctl_j addr show | jq -e 'all(.[]; has("tentative") | not)' >/dev/null
}
# DAD takes DupAddrDetectTransmits x RetransTimer (1 s) after the port comes up, and the
# hosts may answer their first pings before it ends: wait for it, then look for failures.
no_dad_marks() {
  tb_wait_until 10 none_tentative || true
  rctl addr show | tb_indent
  rctl_j addr show | jq -e 'all(.[]; (has("dad_failed") or has("tentative")) | not)' >/dev/null
}
tb_check "the router's addresses passed DAD (none tentative or dadfailed)" no_dad_marks

# h0 loses its static IPv6 configuration and listens to advertisements; a smaller MTU on p0
# shows the MTU option at work. The link flap makes h0 send a Router Solicitation.
tb_stats "$TB_DIR/s0"
rctl link set p0 mtu 1400 >/dev/null
hx 0 ip -6 route del default
hx 0 ip -6 addr del 2001:db8:1::2/64 dev eth0
hx 0 sysctl -qw net.ipv6.conf.eth0.accept_ra=1 net.ipv6.conf.eth0.autoconf=1 \
  net.ipv6.conf.eth0.forwarding=0
hx 0 ip link set eth0 down
hx 0 ip link set eth0 up
hx 0 ip route replace default via "$(tb_router_ip 0)"

slaac_addr() {
  hx 0 ip -6 -j addr show dev eth0 scope global |
    jq -r '.[0].addr_info[]? | select((.local // "") | startswith("2001:db8:1:")) | .local' | head -n1
}
have_slaac() { [[ -n $(slaac_addr) ]]; }
check_slaac() {
  tb_wait_until 20 have_slaac || { hx 0 ip -6 addr show dev eth0 | tb_indent; return 1; }
  local a
  a=$(slaac_addr)
  hx 0 ip -6 addr show dev eth0 scope global | tb_indent
  [[ $a != 2001:db8:1::2 ]]
}
tb_check "h0 forms a SLAAC address in 2001:db8:1::/64 from the router's advertisement" check_slaac

check_default() {
  local ll out
  ll=$(router_ll)
  out=$(hx 0 ip -6 route show default)
  tb_indent <<<"$out"
  tb_say "     router link-local on p0: $ll"
  [[ -n $ll ]] && grep -Eq "^default via $ll dev eth0 proto ra" <<<"$out"
}
default_wait() {
  tb_wait_until 10 check_default || true
  check_default
}
tb_check "h0's default route is via the router's link-local address (proto ra)" default_wait
check_mtu() {
  local m
  m=$(hx 0 cat /proc/sys/net/ipv6/conf/eth0/mtu)
  tb_say "     h0 eth0 IPv6 MTU: $m"
  [[ $m == 1400 ]]
}
tb_check "h0 takes the MTU option (p0's MTU, 1400)" check_mtu
tb_check "h0 (SLAAC) -> h1 (2001:db8:2::2): 5 pings, 0% loss" tb_ping 0 2001:db8:2::2 5
tb_stats "$TB_DIR/s1"
tb_check "ndp_ra_sent counts the advertisements" \
  tb_stat_rose "$TB_DIR/s0" "$TB_DIR/s1" 1 '.events.ndp_ra_sent'

# DAD: h2 holds 2001:db8:3::5 and defends it when the router probes for it.
hx 2 ip -6 addr add 2001:db8:3::5/64 dev eth0 nodad
rctl addr add 2001:db8:3::5/64 dev p2
dad_failed() {
  rctl_j addr show dev p2 | jq -e '.[0].dad_failed | index("2001:db8:3::5/64")' >/dev/null
}
check_dad() {
  tb_wait_until 5 dad_failed || { rctl addr show dev p2 | tb_indent; return 1; }
  rctl addr show dev p2 | tb_indent
  rctl addr show dev p2 | grep -q '2001:db8:3::5/64 dadfailed'
}
tb_check "an address h2 already holds is marked dadfailed" check_dad
tb_stats "$TB_DIR/s2"
tb_check "ndp_dad_failed counts it once" \
  bash -c "[[ \$(jq .events.ndp_dad_failed '$TB_DIR/s2') == 1 ]]"
tb_check "routerd logged the duplicate" \
  tb_expect_match '2001:db8:3::5 is a duplicate address' cat "$TB_LOG"
# The router gives the address up: h2, its owner, reaches the router from it (the reply is
# routed to h2, not delivered to the router itself).
tb_check "h2 from 2001:db8:3::5 (the duplicate) -> 2001:db8:3::1: 3 pings, 0% loss" \
  tb_expect_match ' 0% packet loss' hx 2 ping -6 -n -c3 -i0.2 -W2 -I 2001:db8:3::5 2001:db8:3::1
rctl addr del 2001:db8:3::5/64 dev p2
tb_check "after addr del the mark is gone" no_dad_marks
tb_finish
