#!/usr/bin/env bash
# 35-ipv6-redirect-off: with ipv6.send_redirects = false, a packet that leaves by its input
# port towards a next hop on its source's link is forwarded and no Redirect is sent (nor
# counted as suppressed: the check does not run). 34-ipv6-redirect has the default.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds tcpdump stdbuf
export TB_IPV6=1
TB_EXTRA_TOML=$'[ipv6]\nsend_redirects = false'
tb_start
tb_add_host_b6
RLL=$(rctl_j -6 addr show dev p0 | jq -r '.[0].addresses[] | select(startswith("fe80:"))' | cut -d/ -f1)
rctl route add 2001:db8:7::/48 via "$TB_B_LL" dev p0
# As in 34: h0's first hop is the router's link-local address, so it would take a redirect.
hx 0 ip -6 route add 2001:db8:7::/48 via "$RLL" dev eth0

echos_b() { ip netns exec "$TB_NS_B" awk '$1 == "Icmp6InEchos" {print $2}' /proc/net/snmp6; }
CAP=$TB_DIR/h0.tcpdump
tb_bg_host "$CAP" 0 tcpdump -Z root -i eth0 -n -l 'icmp6 and ip6[40] == 137'
CAP_PID=$TB_LAST_PID
tb_wait_until 10 grep -q 'listening on' "$CAP" || tb_die "tcpdump did not start: $(cat "$CAP")"
B0=$(echos_b)
hx 0 ping -6 -n -c3 -i 0.3 -W1 2001:db8:7::1 >/dev/null 2>&1 || true
sleep 0.5
B1=$(echos_b)
tb_bg_stop "$CAP_PID"

check_no_redirect() {
  local sent supp
  sent=$(rctl_j stats | jq '.events.icmp_redirect_sent')
  supp=$(rctl_j stats | jq '.events.redirect_suppressed')
  tb_say "     echo requests received by h0b: $B0 -> $B1; redirects sent $sent, suppressed $supp"
  tb_indent <"$CAP"
  ((B1 - B0 == 3 && sent == 0 && supp == 0)) && ! grep -q 'redirect' "$CAP"
}
tb_check "send_redirects = false: 3 pings forwarded back out p0 to h0b, no redirect on the wire or in stats" \
  check_no_redirect
tb_check "h0 still goes to 2001:db8:7::1 via the router" \
  tb_expect_match "via $RLL dev eth0" hx 0 ip -6 route get 2001:db8:7::1
tb_finish
