#!/usr/bin/env bash
# 48-bgp-unnumbered: BGP unnumbered through routerd with FRR (RFC 5549 / RFC 8950). zebra
# (-M dplane_fpm_nl, next-hop-group mode) and bgpd (AS 65000) run in routerd's control
# namespace with `neighbor p1 interface`: no address is configured for the peer; each side
# learns the other's link-local address from Router Advertisements (zebra sends them every
# second on both sides; routerd copies h1's to the kernel interface). h1 runs zebra and bgpd
# (AS 65002, `neighbor eth0 interface`) and announces 10.95.0.1/32 (its loopback) over the
# IPv4 family of that IPv6 session, with its link-local address as the next hop. Checked:
# the session is Established; 10.95.0.1/32 arrives over FPM as `proto bgp` via inet6 <h1's
# link-local address> dev p1, `fpm show` has nothing unusable, and h0 pings 10.95.0.1
# through it; h1 withdraws it: the route goes and 10.95.0.1 is Net Unreachable. Then zebra
# stops using next-hop objects (`no fpm use-next-hop-groups`) and h1 announces it again:
# zebra now writes `via 169.254.0.1 onlink dev p1` with h1's MAC in a kernel neighbour entry
# for 169.254.0.1; routerd maps it to the IPv6 neighbour with that MAC (`fpm show` counts
# it), installs the same route and h0 pings through it.
# it-timeout: 180
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
[[ -x /usr/lib/frr/zebra && -x /usr/lib/frr/bgpd ]] || tb_skip "FRR is not installed (scripts/bootstrap installs it)"
tb_require_cmds vtysh
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=2
export TB_IPV6=1
CP=$TB_PREFIX-cp
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
fpm_listen = \"127.0.0.1:2620\""
tb_init
tb_start

step() { tb_step "$* (at ${SECONDS} s)"; }
# shellcheck source=../../scripts/lib/frr-bgp.sh
source "$TB_REPO/scripts/lib/frr-bgp.sh"
bgp_init "$TB_DIR/frr" "$CP"
H1=${TB_HOSTS[1]}
hx 1 ip addr add 10.95.0.1/32 dev lo
LL1=$(hx 1 ip -6 -j addr show dev eth0 scope link |
  jq -r '[.[0].addr_info[] | select(.scope == "link" and .local != null) | .local][0]')
[[ $LL1 == fe80:* ]] || tb_die "h1 has no link-local address on eth0 (got '$LL1')"
tb_info "h1's link-local address: $LL1"

# The router's side: RAs every second on p1 (so h1 learns its link-local address quickly).
cat >"$BGP_DIR/cp-zebra.conf" <<'EOF'
fpm address 127.0.0.1 port 2620
interface p1
 ipv6 nd ra-interval 1
 no ipv6 nd suppress-ra
EOF
cat >"$BGP_DIR/cp-bgpd.conf" <<'EOF'
router bgp 65000
 bgp router-id 10.1.0.1
 no bgp ebgp-requires-policy
 neighbor p1 interface remote-as external
 neighbor p1 timers connect 1
 neighbor p1 advertisement-interval 0
 address-family ipv4 unicast
  neighbor p1 activate
 exit-address-family
EOF
cat >"$BGP_DIR/h1-zebra.conf" <<'EOF'
interface eth0
 ipv6 nd ra-interval 1
 no ipv6 nd suppress-ra
EOF
cat >"$BGP_DIR/h1-bgpd.conf" <<'EOF'
router bgp 65002
 bgp router-id 10.2.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor eth0 interface remote-as external
 neighbor eth0 timers connect 1
 neighbor eth0 advertisement-interval 0
 address-family ipv4 unicast
  network 10.95.0.1/32
 exit-address-family
EOF
chown frr:frr "$BGP_DIR"/*.conf

step "FRR starts in $CP and in h1"
bgp_start_router
ip netns exec "$H1" /usr/lib/frr/zebra -N "$H1" -d -f "$BGP_DIR/h1-zebra.conf" \
  -i "/var/run/frr/$H1/zebra.pid" --log "file:$BGP_DIR/h1-zebra.log" 2>>"$BGP_DIR/h1-zebra.stderr"
ip netns exec "$H1" /usr/lib/frr/bgpd -N "$H1" -d -f "$BGP_DIR/h1-bgpd.conf" \
  -i "/var/run/frr/$H1/bgpd.pid" --log "file:$BGP_DIR/h1-bgpd.log"

established() {
  bgp_router 'show bgp summary json' |
    jq -e '.ipv4Unicast.peers.p1.state == "Established"' >/dev/null
}
tb_check "the unnumbered session on p1 is Established" tb_wait_until 60 established
bgp_router 'show bgp summary json' |
  jq -r '.ipv4Unicast.peers | to_entries[] | "\(.key) \(.value.hostname // "") AS \(.value.remoteAs) \(.value.state)"' |
  tb_indent
bgp_router 'show ip route 10.95.0.1/32' | tb_indent

step "h1's loopback arrives through its link-local address"
tb_check "10.95.0.1/32 proto bgp via inet6 $LL1 dev p1, origin fpm" \
  tb_route_is 10.95.0.1/32 ".proto == \"bgp\" and .origin == \"fpm\" and .via == \"$LL1\" and
    .via_family == 6 and .dev == \"p1\""
rctl route show proto bgp | tb_indent
tb_check "route show: '10.95.0.1/32 via inet6 $LL1 dev p1 proto bgp'" \
  tb_expect_match "^10\.95\.0\.1/32 via inet6 $LL1 dev p1 proto bgp" rctl route show proto bgp
fpm_clean() {
  local out
  out=$(rctl_j fpm show)
  jq -c '{unusable, last_unusable, routes, installed}' <<<"$out" | tb_indent
  jq -e '.unusable == 0' <<<"$out" >/dev/null
}
tb_check "fpm show: nothing unusable" fpm_clean
tb_check "h0 -> 10.95.0.1 through the unnumbered route: 5 pings, 0% loss" tb_ping 0 10.95.0.1 5
tb_check "route get 10.95.0.1: forward to h1's MAC via $LL1" \
  eval "rctl_j route get 10.95.0.1 | jq -e '.via == \"$LL1\" and .via_family == 6 and
    .nexthop.state == \"forward\" and .nexthop.lladdr == \"02:00:00:00:01:02\"' >/dev/null"

step "h1 withdraws it"
bgp_peer_network 1 no 10.95.0.1/32
tb_check "10.95.0.1/32 is gone" tb_no_route 10.95.0.1/32
tb_check "10.95.0.1 is Net Unreachable" \
  tb_expect_match 'From 10\.1\.0\.1 .*Destination Net Unreachable' hx 0 ping -n -c1 -W2 10.95.0.1
step "zebra without next-hop objects: the route comes as 'via 169.254.0.1 onlink dev p1'"
bgp_router 'configure terminal' 'no fpm use-next-hop-groups' >/dev/null
bgp_peer_network 1 "" 10.95.0.1/32
H1MAC=$(hx 1 cat /sys/class/net/eth0/address)
tb_check "$CP's kernel: 169.254.0.1 on p1 is h1's MAC $H1MAC (zebra's entry)" \
  tb_wait_until 30 bash -c "ip -n $CP neigh show 169.254.0.1 dev p1 | grep -q 'lladdr $H1MAC'"
ip -n "$CP" route show 10.95.0.1/32 | tb_indent
ipv4ll_mapped() {
  local out
  out=$(rctl_j fpm show)
  jq -c '{ipv4ll, unusable, last_unusable}' <<<"$out" | tb_indent
  jq -e '.ipv4ll.mapped >= 1 and .ipv4ll.waiting == 0' <<<"$out" >/dev/null
}
tb_check "fpm show: the 169.254.0.1 onlink route was mapped, none waiting" \
  tb_wait_until 30 ipv4ll_mapped
rctl fpm show | tb_indent
tb_check "10.95.0.1/32 proto bgp via inet6 $LL1 dev p1 again, through h1's MAC" \
  tb_route_is 10.95.0.1/32 ".proto == \"bgp\" and .via == \"$LL1\" and .via_family == 6 and
    .dev == \"p1\""
tb_check "h0 -> 10.95.0.1 through the mapped route: 5 pings, 0% loss" tb_ping 0 10.95.0.1 5
tb_check "routerd is still running" tb_routerd_alive
tb_finish
