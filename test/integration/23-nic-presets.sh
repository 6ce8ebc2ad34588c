#!/usr/bin/env bash
# 23-nic-presets: the NIC presets start on a device that lacks most of what they ask for
# (TAP): each missing offload or RSS setting is dropped with a log line, never a failure,
# and the router forwards. RSS is set up on one RX queue too (TAP takes the setting), with
# the IPv6 flow types beside the IPv4 ones, and link show, stats and Prometheus say so.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_init
export TB_IPV6=1
tb_write_config "$TB_CONF"
# p0 mlx5, p1 i40e, p2 vmxnet3 instead of tap.
awk 'BEGIN { n = 0; split("mlx5 i40e vmxnet3", p, " ") }
     /^preset = "tap"$/ { print "preset = \"" p[++n] "\""; next } { print }' "$TB_CONF" >"$TB_CONF.new"
mv "$TB_CONF.new" "$TB_CONF"
grep '^preset' "$TB_CONF" | tb_indent
tb_start

dropped_logged() {
  grep -E 'offload .* not supported by the device, not used' "$TB_LOG" | sed 's/^[0-9-]* [0-9:.]* //' | tb_indent
  grep -q "port p0: rx offload 'rss_hash' not supported by the device, not used" "$TB_LOG"
}
tb_check "offloads TAP lacks are logged and dropped" dropped_logged
tb_check "no port failed to start" bash -c "! grep -Eq 'critical|cannot start' $TB_LOG"

# p0 (mlx5) asks for both families' types, all of which TAP offers (IP, TCP, UDP), so ECMP
# takes the hash for both; p2 (vmxnet3) for IPv4, IPv6 and TCP over each: no UDP type, so
# UDP would hash on addresses alone and ECMP keeps its own hash there.
rss_of() { rctl_j link show "$1" | jq -c '.[0].rss'; }
rss_shown() {
  local p0 p2 text
  p0=$(rss_of p0) p2=$(rss_of p2) text=$(rctl link show p0; rctl link show p2)
  tb_info "p0 rss $p0; p2 rss $p2"
  tb_indent <<<"$text"
  [[ $p0 == '{"ecmp":[4,6],"types":["ipv4","frag_ipv4","nonfrag_ipv4_tcp","nonfrag_ipv4_udp","nonfrag_ipv4_other","ipv6","frag_ipv6","nonfrag_ipv6_tcp","nonfrag_ipv6_udp","nonfrag_ipv6_other"]}' ]] &&
    [[ $p2 == '{"ecmp":[],"types":["ipv4","nonfrag_ipv4_tcp","ipv6","nonfrag_ipv6_tcp"]}' ]] &&
    grep -q "rxq 1 txq 1 .*rss ipv4,frag_ipv4,.*nonfrag_ipv6_other, ECMP takes it for IPv4 and IPv6$" <<<"$text" &&
    grep -q "rss ipv4,nonfrag_ipv4_tcp,ipv6,nonfrag_ipv6_tcp, ECMP hashes itself$" <<<"$text" &&
    grep -q 'port p0: .* rxq 1 txq 1 .* rss ipv4,frag_ipv4,' "$TB_LOG" &&
    rctl_j stats | jq -e '[.ports[] | select(.name == "p2") | .rss.types | length] == [4]' >/dev/null &&
    ! grep -q "needs RSS, not used" "$TB_LOG"
}
tb_check "RSS on one RX queue over IPv4 and IPv6 types, and which ECMP takes (link show, log, stats)" rss_shown
# route get through an ECMP group names the ports where the workers take the NIC's hash
# instead of the answer's own: p0 (mlx5) and p1 (i40e), not p2 (vmxnet3), in both families.
rss_route_get() {
  rctl route add 10.77.0.0/16 nexthop via 10.2.0.2 nexthop via 10.3.0.2 &&
    rctl route add 2001:db8:77::/48 nexthop via 2001:db8:2::2 nexthop via 2001:db8:3::2 || return 1
  local v4 v6 text
  v4=$(rctl_j route get 10.77.1.1 from 10.1.0.2 proto udp sport 4000 dport 53 | jq -c '.group.rss_ports')
  v6=$(rctl_j route get 2001:db8:77::1 from 2001:db8:1::2 proto udp sport 4000 dport 53 | jq -c '.group.rss_ports')
  text=$(rctl route get 10.77.1.1 from 10.1.0.2 proto udp sport 4000 dport 53)
  tb_info "rss_ports: IPv4 $v4, IPv6 $v6"
  tb_indent <<<"$text"
  [[ $v4 == '["p0","p1"]' && $v6 == '["p0","p1"]' ]] &&
    grep -q "arriving on p0, p1, the flow takes the member of the NIC's RSS hash instead" <<<"$text"
}
tb_check "route get through a group names the ports whose NIC hash ECMP takes" rss_route_get
tb_check "h0 pings h2 through mlx5- and vmxnet3-preset ports" tb_ping 0 10.3.0.2 5
tb_check "h1 pings h0 through i40e- and mlx5-preset ports" tb_ping 1 10.1.0.2 5
tb_check "h0 pings h2 over IPv6 (2001:db8:3::2)" tb_ping 0 2001:db8:3::2 5
tb_check "h1 pings h0 over IPv6 (2001:db8:1::2)" tb_ping 1 2001:db8:1::2 5
tb_finish
