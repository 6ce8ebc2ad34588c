#!/usr/bin/env bash
# 18-accept-redirects: with ipv4.accept_redirects = true, a redirect about a packet the
# router itself sent (routerctl ping), from the current first hop, changes the first hop
# for that destination; route get shows it. Forwarding is not affected.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
TB_EXTRA_TOML=$'[ipv4]\naccept_redirects = true'
tb_start

# A second host on p1's segment, 10.2.0.3 with 10.6.0.1 behind it (h1 itself cannot
# reach it directly: see tb_add_macvlan_host).
NSC="$TB_PREFIX-h1c"
tb_add_macvlan_host 1 "$NSC" 02:00:00:00:01:03 10.2.0.3/24 10.6.0.1
# h1 is a Linux router that knows a better first hop for 10.6.0.0/24 on its own link, so it
# answers traffic through it with a redirect.
hx 1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=1 \
  net.ipv4.conf.eth0.send_redirects=1
hx 1 ip route add 10.6.0.0/24 via 10.2.0.3
rctl route add 10.6.0.0/24 via 10.2.0.2

check_redirected() {
  local out
  out=$(rctl ping 10.6.0.1 count 1 2>&1) || true
  tb_indent <<<"$out"
  grep -q 'From 10.2.0.2 icmp_seq=1 ICMP type 5 code 1' <<<"$out"
}
tb_check "routerctl ping 10.6.0.1 via h1: h1 answers with a redirect to 10.2.0.3" check_redirected
tb_check "route get 10.6.0.1 shows the learnt first hop 10.2.0.3" \
  eval 'rctl route get 10.6.0.1 | tb_indent; rctl_j route get 10.6.0.1 | jq -e '\''.exception.gateway == "10.2.0.3" and .exception.gateway_expires_s > 290'\'' >/dev/null'
tb_check "the router's next pings go straight to 10.2.0.3 and are answered" \
  tb_expect_match '^64 bytes from 10\.6\.0\.1: icmp_seq=1' rctl ping 10.6.0.1 count 2
tb_check "forwarded traffic still follows the route (via h1, a dead end here): h0 gets no reply" \
  eval '! hx 0 ping -n -c1 -W 1 10.6.0.1 >/dev/null 2>&1'
tb_check "stats: exactly one first hop learnt from a redirect" \
  eval '(( $(rctl_j stats | jq .events.redirect_learned) == 1 ))'
# The redirect was learnt for the route via 10.2.0.2: once the route names another first hop
# (10.2.0.9, which nobody answers), the router's own packets follow the route again.
stale_redirect() {
  rctl route replace 10.6.0.0/24 via 10.2.0.9 || return 1
  rctl route get 10.6.0.1 | tb_indent
  rctl_j route get 10.6.0.1 | jq -e '.via == "10.2.0.9" and (.exception.gateway == null)' >/dev/null ||
    return 1
  local out
  out=$(rctl ping 10.6.0.1 count 1 2>&1) || true
  tb_indent <<<"$out"
  grep -q '1 packets transmitted, 0 received' <<<"$out"
}
tb_check "after route replace via 10.2.0.9 the redirect is stale: not shown, pings unanswered" \
  stale_redirect
ip netns del "$NSC" 2>/dev/null || true
tb_finish
