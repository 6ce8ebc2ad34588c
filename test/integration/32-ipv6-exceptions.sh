#!/usr/bin/env bash
# 32-ipv6-exceptions: route exceptions for the router's own IPv6 traffic (issue 14).
# (a) A Linux router h1 forwards to a namespace "far" over a 1280-byte link: `routerctl ping
# ... size 1400` gets Packet Too Big, the router keeps a path MTU of 1280 that `route get` and
# `route show cache` show, its next oversize ping is a local error, and forwarded traffic is
# not affected. (b) h1 knows a better first hop (h1c, on the same link) for 2001:db8:6::/64
# and redirects the router's ping there: with ipv6.accept_redirects off the Redirect is
# counted and ignored; with it on (routerd restarted) the router learns h1c as the first
# hop, and its pings reach 2001:db8:6::1, which h1 itself cannot (a macvlan's parent does not
# reach its children): only a router that goes to h1c directly gets answers.
# it-timeout: 180
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
export TB_IPV6=1

FAR="$TB_PREFIX-far"
NSC="$TB_PREFIX-h1c"

# h1 (2001:db8:2::2) is an IPv6 router: 2001:db8:5::/64 behind it over a 1280-byte veth to
# "far", and 2001:db8:6::/64 via h1c (fe80::3, 2001:db8:2::3) on its own link, a macvlan of
# its eth0 (see tb_add_macvlan_host), so traffic for 6::/64 leaves h1 by the interface it
# came in on and earns a Redirect (RFC 4861 8.2; Linux names the target by its link-local
# address).
topology() {
  ip netns add "$FAR"
  ip link add "$TB_PREFIX-v1" type veth peer name "$TB_PREFIX-v2"
  ip link set "$TB_PREFIX-v1" netns "${TB_HOSTS[1]}"
  ip link set "$TB_PREFIX-v2" netns "$FAR"
  hx 1 sysctl -qw net.ipv6.conf.all.forwarding=1
  hx 1 ip link set "$TB_PREFIX-v1" mtu 1280 up
  hx 1 ip addr add 2001:db8:5::1/64 dev "$TB_PREFIX-v1" nodad
  ip netns exec "$FAR" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$FAR" link set "$TB_PREFIX-v2" mtu 1280 up
  ip -n "$FAR" link set lo up
  ip -n "$FAR" addr add 2001:db8:5::2/64 dev "$TB_PREFIX-v2" nodad
  ip -n "$FAR" -6 route add default via 2001:db8:5::1

  tb_add_macvlan_host 1 "$NSC" 02:00:00:00:01:03 10.2.0.3/24
  ip netns exec "$NSC" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.mv1.accept_dad=0 \
    net.ipv6.icmp.ratelimit=0
  ip -n "$NSC" addr add fe80::3/64 dev mv1 nodad
  ip -n "$NSC" addr add 2001:db8:2::3/64 dev mv1 nodad
  ip -n "$NSC" addr add 2001:db8:6::1/128 dev lo
  ip -n "$NSC" -6 route add default via 2001:db8:2::1
  hx 1 ip -6 route add 2001:db8:6::/64 via fe80::3 dev eth0

  rctl route add 2001:db8:5::/64 via 2001:db8:2::2
  rctl route add 2001:db8:6::/64 via 2001:db8:2::2
  # The router learns h1's link-layer address (its pings need it anyway).
  tb_wait_until 10 eval 'rctl ping 2001:db8:2::2 count 1 | grep -q "bytes from"' ||
    tb_die "the router cannot ping h1 (2001:db8:2::2)"
}

# ----------------------------------------------------------------- ipv6.accept_redirects off
tb_start
topology

tb_check "routerctl ping 2001:db8:5::2 (small) is answered through h1" \
  tb_expect_match '^[0-9]+ bytes from 2001:db8:5::2: icmp_seq=1 ttl=63' rctl ping 2001:db8:5::2 count 1

check_ptb() {
  local out
  out=$(rctl ping 2001:db8:5::2 size 1400 count 2 2>&1) || true
  tb_indent <<<"$out"
  grep -q 'From 2001:db8:2::2 icmp_seq=1 Packet too big: mtu=1280' <<<"$out" || return 1
  grep -q 'icmp_seq=2 local error: message too long, mtu=1280' <<<"$out"
}
tb_check "ping size 1400: Packet too big mtu=1280 from h1, then a local error at 1280" check_ptb
tb_check "route get 2001:db8:5::2 shows the learnt MTU 1280 with its expiry" \
  eval 'rctl route get 2001:db8:5::2 | tb_indent; rctl_j route get 2001:db8:5::2 | jq -e '\''.exception.mtu == 1280 and .exception.mtu_expires_s > 590 and .exception.mtu_expires_s <= 600'\'' >/dev/null'
tb_check "route show cache lists it (text and JSON); -4 does not, -6 does" \
  eval 'rctl route show cache | tb_indent; rctl route show cache | grep -q "^2001:db8:5::2 (route 2001:db8:5::/64) mtu 1280 expires" && rctl_j -6 route show cache | jq -e '\''length == 1 and .[0].family == 6'\'' >/dev/null && rctl_j -4 route show cache | jq -e '\''length == 0'\'' >/dev/null'
tb_check "ping size 1232 (1280 bytes) fits and is answered" \
  tb_expect_match '^1240 bytes from 2001:db8:5::2: icmp_seq=1' rctl ping 2001:db8:5::2 size 1232 count 1
tb_check "stats: one path MTU learnt" \
  eval '(( $(rctl_j stats | jq .events.pmtu6_learned) == 1 ))'
# The exception is for the router's own packets: h0's 1400-byte packet crosses p1 (1500)
# and gets its Packet Too Big from h1, not from the router.
tb_check "transit ignores it: h0's 1400-byte ping gets Packet too big mtu=1280 from h1" \
  tb_expect_match 'From 2001:db8:2::2 icmp_seq=1 Packet too big: mtu=1280' \
  hx 0 ping -6 -n -c1 -W2 -M do -s 1352 2001:db8:5::2
tb_check "route flush cache forgets it" \
  eval 'rctl route flush cache | tb_indent; (( $(rctl_j route show cache | jq length) == 0 ))'

check_redirect_ignored() {
  local before after out
  before=$(rctl_j stats | jq .events.redirect6_ignored)
  out=$(rctl ping 2001:db8:6::1 count 2 2>&1) || true
  tb_indent <<<"$out"
  ! grep -q 'bytes from 2001:db8:6::1' <<<"$out" || return 1  # still through h1: lost
  after=$(rctl_j stats | jq .events.redirect6_ignored)
  tb_say "     redirect6_ignored $before -> $after"
  ((after > before)) && rctl_j route get 2001:db8:6::1 | jq -e 'has("exception") | not' >/dev/null
}
tb_check "accept_redirects off: h1's Redirect for 2001:db8:6::1 is counted and ignored" \
  check_redirect_ignored

# ----------------------------------------------------------------- ipv6.accept_redirects on
tb_stop_routerd
for ns in $(tb_our_namespaces); do ip netns del "$ns"; done
rm -f "$TB_CONF"
TB_EXTRA_TOML=$'[ipv6]\naccept_redirects = true'
tb_start
topology

check_redirect_learnt() {
  local out
  out=$(rctl ping 2001:db8:6::1 count 3 2>&1) || true
  tb_indent <<<"$out"
  # The first request goes to h1 (lost there, but redirected); the next go to h1c.
  grep -q 'bytes from 2001:db8:6::1: icmp_seq=3' <<<"$out" || return 1
  rctl route get 2001:db8:6::1 | tb_indent
  rctl_j route get 2001:db8:6::1 |
    jq -e '.exception.gateway == "fe80::3" and .exception.gateway_expires_s > 290 and .via == "2001:db8:2::2"' >/dev/null
}
tb_check "accept_redirects on: h1's Redirect teaches the first hop fe80::3; pings are answered" \
  check_redirect_learnt
tb_check "stats: one first hop learnt, none ignored" \
  eval 's=$(rctl_j stats); (( $(jq .events.redirect6_learned <<<"$s") == 1 && $(jq .events.redirect6_ignored <<<"$s") == 0 ))'
tb_check "the router's next pings go straight to h1c and are answered from the first" \
  tb_expect_match '^[0-9]+ bytes from 2001:db8:6::1: icmp_seq=1' rctl ping 2001:db8:6::1 count 2
tb_check "forwarded traffic still follows the route (via h1, now a dead end): h0 gets no reply" \
  eval '! hx 0 ping -6 -n -c1 -W 1 2001:db8:6::1 >/dev/null 2>&1'
tb_check "route show cache lists the learnt first hop; after a flush the ping goes to h1 again" \
  eval 'rctl route show cache | tb_indent; rctl route show cache | grep -q "^2001:db8:6::1 (route 2001:db8:6::/64) via fe80::3 expires" && rctl route flush cache >/dev/null && ! rctl ping 2001:db8:6::1 count 1 2>&1 | grep -q "bytes from"'
tb_finish
