#!/usr/bin/env bash
# 34-ipv6-redirect: a packet that leaves by the port it came in on, from a source on that
# link, towards a next hop on the same link, is forwarded and its source gets an ICMPv6
# Redirect (RFC 4861 8.2) from the router's link-local address, with a Target Link-Layer
# Address option; a Linux host takes it (its route cache and neighbour table show the new
# first hop). At most one per second per source: the rest are counted as suppressed.
# 35-ipv6-redirect-off checks ipv6.send_redirects = false. IPv4's are 15 and 16.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds tcpdump stdbuf
export TB_IPV6=1
tb_start

# h0b: 2001:db8:1::3 on p0's link, with 2001:db8:7::1 behind it. A redirect may only name a
# router by its link-local address (RFC 4861 8.2), so the route is via h0b's.
tb_add_host_b6
RLL=$(rctl_j -6 addr show dev p0 | jq -r '.[0].addresses[] | select(startswith("fe80:"))' | cut -d/ -f1)
tb_info "h0b link-local $TB_B_LL, router p0 link-local $RLL"
rctl route add 2001:db8:7::/48 via "$TB_B_LL" dev p0
# h0 reaches 2001:db8:7::/48 through the router by its link-local address, as a router
# advertisement would teach it: a host takes a redirect only from its current first hop
# (RFC 4861 8.1), and Linux compares the redirect's source with the route's gateway.
hx 0 ip -6 route add 2001:db8:7::/48 via "$RLL" dev eth0
route_now() { hx 0 ip -6 route get 2001:db8:7::1 | head -n1; }

# Let the router resolve h0b first: a packet that waits for NDP is released as it was
# queued, without the redirect check. h0 ignores redirects meanwhile (the router may know
# h0b already, from its router solicitation, and redirect this one). Then let the
# per-source limit (1/s) pass.
hx 0 sysctl -qw net.ipv6.conf.eth0.accept_redirects=0
hx 0 ping -6 -n -c1 -W2 2001:db8:7::1 >/dev/null 2>&1 || true
tb_wait_until 5 eval "rctl_j -6 neigh show | jq -e '.[] | select(.dst == \"$TB_B_LL\" and .lladdr == \"02:00:00:00:00:03\")'" ||
  tb_die "the router did not resolve h0b ($TB_B_LL): $(rctl -6 neigh show)"
hx 0 sysctl -qw net.ipv6.conf.eth0.accept_redirects=1
hx 0 ip -6 route flush cache
sleep 1.2

# Echo requests that reached h0b (its ICMPv6 counters: nothing else sends it any).
echos_b() { ip netns exec "$TB_NS_B" awk '$1 == "Icmp6InEchos" {print $2}' /proc/net/snmp6; }
CAP=$TB_DIR/h0.tcpdump
tb_bg_host "$CAP" 0 tcpdump -Z root -i eth0 -n -e -l -v 'icmp6 and ip6[40] == 137'
CAP_PID=$TB_LAST_PID
tb_wait_until 10 grep -q 'listening on' "$CAP" || tb_die "tcpdump did not start: $(cat "$CAP")"
tb_check "before: h0 goes to 2001:db8:7::1 via the router ($RLL)" \
  tb_expect_match "via $RLL dev eth0" route_now
tb_stats "$TB_DIR/s0"
B0=$(echos_b)
# h0b's answers are lost: it resolves h0 directly, and a macvlan cannot reach its parent
# (see tb_add_macvlan_host). What counts here is that the request reached h0b.
hx 0 ping -6 -n -c1 -W2 2001:db8:7::1 >/dev/null 2>&1 || true
sleep 0.5
B1=$(echos_b)
tb_stats "$TB_DIR/s1"
tb_bg_stop "$CAP_PID"

check_forwarded() {
  tb_say "     echo requests received by h0b: $B0 -> $B1"
  ((B1 > B0))
}
tb_check "h0 -> 2001:db8:7::1 (next hop h0b, on h0's own link): forwarded to h0b" check_forwarded
check_redirect_sent() {
  tb_indent <"$CAP"
  # tcpdump -v: "redirect, 2001:db8:7::1 to fe80::..." and the option, type 2 (target
  # link-layer address, "destination link-address" in tcpdump's words).
  # RFC 4861 8.2: hop limit 255 and the router's link-local address as the source.
  grep -Eq "hlim 255, .*\) $RLL > 2001:db8:1::2: .*redirect, .*2001:db8:7::1 to $TB_B_LL" "$CAP" &&
    grep -Eq 'destination link-address option \(2\).*02:00:00:00:00:03' "$CAP"
}
tb_check "h0 got a Redirect from $RLL: 2001:db8:7::1 to $TB_B_LL, target link-layer 02:00:00:00:00:03" \
  check_redirect_sent
tb_check "stats count it: icmp_redirect_sent rose" \
  tb_stat_rose "$TB_DIR/s0" "$TB_DIR/s1" 1 '.events.icmp_redirect_sent'
tb_check "h0's route to 2001:db8:7::1 is now via $TB_B_LL (ip -6 route get)" \
  tb_expect_match "2001:db8:7::1 .*via $TB_B_LL dev eth0" route_now
tb_check "the redirected route is in h0's route cache (ip -6 route show cache)" \
  tb_expect_match "2001:db8:7::1 via $TB_B_LL dev eth0" hx 0 ip -6 route show cache
tb_check "h0 learnt h0b's MAC from the option (ip -6 neigh)" \
  tb_expect_match "$TB_B_LL .*lladdr 02:00:00:00:00:03" hx 0 ip -6 neigh show dev eth0

# The limit: h0 stops taking redirects and forgets the one it took, so all of a burst of
# 10 pings in 0.9 s goes through the router; at most one redirect may be sent for them.
hx 0 sysctl -qw net.ipv6.conf.eth0.accept_redirects=0
hx 0 ip -6 route flush cache
tb_check "after the flush: h0 goes via the router again" \
  tb_expect_match "via $RLL dev eth0" route_now
tb_stats "$TB_DIR/b0"
B0=$(echos_b)
hx 0 ping -6 -n -q -c 10 -i 0.1 -W 1 2001:db8:7::1 >/dev/null 2>&1 || true
sleep 0.3
B1=$(echos_b)
tb_stats "$TB_DIR/b1"
check_limit() {
  local sent supp
  sent=$(tb_stat_delta "$TB_DIR/b0" "$TB_DIR/b1" '.events.icmp_redirect_sent')
  supp=$(tb_stat_delta "$TB_DIR/b0" "$TB_DIR/b1" '.events.redirect_suppressed')
  tb_say "     10 pings in 0.9 s: $sent redirects sent, $supp suppressed; h0b received $((B1 - B0))"
  ((sent <= 1 && sent + supp >= 10 && supp >= 9 && B1 - B0 >= 10))
}
tb_check "a burst: every packet forwarded, at most one redirect per second, the rest suppressed" \
  check_limit
tb_finish
