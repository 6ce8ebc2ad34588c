#!/usr/bin/env bash
# 44-ospf: OSPF through the control-plane interfaces (issue 16). zebra (-M dplane_fpm_nl),
# ospfd and ospf6d (Debian 12's FRR 8.4.4) run in routerd's control namespace on the ports'
# kernel interfaces; a second FRR (zebra, ospfd, ospf6d) runs in h0's namespace as the
# neighbour behind p0, with 10.99.0.1 and 2001:db8:99::1 on its loopback, redistributed.
# Checked: the OSPFv2 and OSPFv3 adjacencies reach Full across routerd's port (Hellos to
# 224.0.0.5 and ff02::5 punted as link_multicast, the kernel's own multicast out the port);
# the neighbour's prefixes arrive over FPM as proto ospf routes, IPv4 and IPv6 (via its
# link-local address), and carry h1's pings; link-local multicast the allow list does not
# name (RIP) is cp_denied, and multicast beyond 224.0.0.0/24 still multicast_destination.
# it-timeout: 120
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
for d in zebra ospfd ospf6d; do
  [[ -x /usr/lib/frr/$d ]] || tb_skip "FRR's $d is not installed (scripts/bootstrap installs it)"
done
tb_require_cmds vtysh
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=2
export TB_IPV6=1
CP=$TB_PREFIX-cp
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
allow = [\"ospf\", \"icmp\"]
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
fpm_listen = \"127.0.0.1:2620\""
tb_init
tb_start

step() { tb_step "$* (at ${SECONDS} s)"; }
H0=${TB_HOSTS[0]}
FRR=$TB_DIR/frr
mkdir -p "$FRR"
chown frr:frr "$FRR"
# One FRR per namespace: -N gives each its own /var/run/frr/NS (sockets, pid files) and
# /etc/frr/NS (vtysh.conf, which vtysh -N complains without).
for ns in "$CP" "$H0"; do
  mkdir -p "/var/run/frr/$ns" "/etc/frr/$ns" "$FRR/$ns"
  touch "/etc/frr/$ns/vtysh.conf"
  chown frr:frr "/var/run/frr/$ns" "$FRR/$ns"
  tb_on_cleanup "for d in ospf6d ospfd zebra; do p=/var/run/frr/$ns/\$d.pid; [[ -f \$p ]] && kill \$(cat \$p); done; sleep 0.5; rm -rf /var/run/frr/$ns /etc/frr/$ns"
done

# start_frr NS ZEBRA_CONF OSPFD_CONF OSPF6D_CONF
start_frr() {
  local ns=$1 d
  printf '%s\n' "$2" >"$FRR/$ns/zebra.conf"
  printf '%s\n' "$3" >"$FRR/$ns/ospfd.conf"
  printf '%s\n' "$4" >"$FRR/$ns/ospf6d.conf"
  chown frr:frr "$FRR/$ns"/*.conf
  ip netns exec "$ns" /usr/lib/frr/zebra -N "$ns" ${5:+-M "$5"} -d -f "$FRR/$ns/zebra.conf" \
    -i "/var/run/frr/$ns/zebra.pid" --log "file:$FRR/$ns/zebra.log"
  for d in ospfd ospf6d; do
    ip netns exec "$ns" "/usr/lib/frr/$d" -N "$ns" -d -f "$FRR/$ns/$d.conf" \
      -i "/var/run/frr/$ns/$d.pid" --log "file:$FRR/$ns/$d.log"
  done
}
# Short timers: Full within a few seconds (a broadcast link waits one dead interval for the
# DR election). ospf4_if / ospf6_if IF [passive]: an interface's lines for ospfd / ospf6d.
ospf4_if() {
  printf 'interface %s\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n' "$1"
  [[ -z ${2:-} ]] || printf ' ip ospf passive\n'
}
ospf6_if() {
  printf 'interface %s\n ipv6 ospf6 area 0.0.0.0\n ipv6 ospf6 hello-interval 1\n' "$1"
  printf ' ipv6 ospf6 dead-interval 4\n'
  [[ -z ${2:-} ]] || printf ' ipv6 ospf6 passive\n'
}

step "FRR in $CP (routerd's control plane) and in h0 (the neighbour)"
hx 0 ip addr add 10.99.0.1/32 dev lo
hx 0 ip -6 addr add 2001:db8:99::1/128 dev lo
# routerd's side: both ports in area 0, p1 passive (h1 runs no OSPF).
cp_v4="$(ospf4_if p0)
$(ospf4_if p1 passive)
router ospf
 ospf router-id 10.1.0.1
 network 10.1.0.0/24 area 0
 network 10.2.0.0/24 area 0"
cp_v6="$(ospf6_if p0)
$(ospf6_if p1 passive)
router ospf6
 ospf6 router-id 10.1.0.1"
start_frr "$CP" "fpm address 127.0.0.1 port 2620" "$cp_v4" "$cp_v6" dplane_fpm_nl
# The neighbour: its loopback's addresses as external routes (only those: route-map LO).
h0_v4="$(ospf4_if eth0)
route-map LO permit 10
 match interface lo
router ospf
 ospf router-id 10.1.0.2
 network 10.1.0.0/24 area 0
 redistribute connected route-map LO"
h0_v6="$(ospf6_if eth0)
route-map LO permit 10
 match interface lo
router ospf6
 ospf6 router-id 10.1.0.2
 redistribute connected route-map LO"
start_frr "$H0" "" "$h0_v4" "$h0_v6"
tb_check "zebra in $CP is connected to routerd's FPM server" \
  tb_wait_until 15 eval "rctl_j fpm show | jq -e '.connected' >/dev/null"

# full NS CMD: some neighbour in `vtysh -N NS -c CMD` (json) is in state Full.
full() {
  vtysh -N "$1" -c "$2" 2>/dev/null |
    jq -e '[.. | objects | (.state // .nbrState // empty) | strings | select(startswith("Full"))] | length > 0' >/dev/null
}
step "the adjacencies come up through routerd's port"
tb_check "OSPFv2: routerd's ospfd has h0 (10.1.0.2) Full on p0" \
  tb_wait_until 30 full "$CP" 'show ip ospf neighbor json'
tb_check "OSPFv2: h0's ospfd has routerd (10.1.0.1) Full" full "$H0" 'show ip ospf neighbor json'
vtysh -N "$CP" -c 'show ip ospf neighbor' | tb_indent
tb_check "OSPFv3: routerd's ospf6d has h0 Full on p0" \
  tb_wait_until 30 full "$CP" 'show ipv6 ospf6 neighbor json'
tb_check "OSPFv3: h0's ospf6d has routerd Full" full "$H0" 'show ipv6 ospf6 neighbor json'
vtysh -N "$CP" -c 'show ipv6 ospf6 neighbor' | tb_indent

step "the neighbour's prefixes become routerd's routes (proto ospf, over FPM)"
# ospf6d's routes are zebra's proto ospf6, which the kernel (and FPM) knows as rtproto 188,
# ospf's number: routerd shows both as proto ospf.
tb_check "10.99.0.1/32 via 10.1.0.2 dev p0, proto ospf, origin fpm" \
  tb_wait_until 20 eval "rctl_j route show proto ospf | jq -e '.[] | select(.prefix == \"10.99.0.1/32\" and .via == \"10.1.0.2\" and .dev == \"p0\" and .origin == \"fpm\")' >/dev/null"
tb_check "2001:db8:99::1/128 via h0's link-local address on p0, proto ospf" \
  tb_wait_until 20 eval "rctl_j -6 route show proto ospf | jq -e '.[] | select(.prefix == \"2001:db8:99::1/128\" and (.via | startswith(\"fe80:\")) and .dev == \"p0\")' >/dev/null"
rctl route show proto ospf | tb_indent # both families
tb_check "h1 pings 10.99.0.1 (h0's loopback) through the OSPF route" tb_ping 1 10.99.0.1 3
tb_check "h1 pings 2001:db8:99::1 through the OSPFv3 route" \
  tb_expect_match ' 0% packet loss' hx 1 ping -n -c3 -i 0.2 -W 2 2001:db8:99::1

step "the counters: punted as link_multicast; what the allow list does not name is refused"
tb_stats "$TB_DIR/before.json"
# mcast_send ADDR PORT: one UDP datagram from h0 to a group on eth0 (TTL 1).
mcast_send() {
  hx 0 "$TB_PY" -c "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('10.1.0.2'))
for _ in range(5): s.sendto(b'x' * 24, ('$1', $2))"
}
mcast_send 224.0.0.9 520 # RIPv2: link-local, but not in the allow list
mcast_send 224.0.1.9 520 # not link-local: never for the router
sleep 3                  # and three seconds of Hellos both ways
tb_stats "$TB_DIR/after.json"
tb_check "punts.link_multicast and events.punt_kernel rose with the Hellos (>= 2 a second)" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 6 .punts.link_multicast .events.punt_kernel
tb_check "events.from_kernel rose: the kernel's Hellos went out p0" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 6 .events.from_kernel
tb_check "RIP to 224.0.0.9 (not allowed): drops.cp_denied" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 5 .drops.cp_denied
tb_check "UDP to 224.0.1.9 (not link-local): drops.multicast_destination, never punted" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 5 .drops.multicast_destination
tb_check "the adjacencies stayed Full" \
  eval "full $CP 'show ip ospf neighbor json' && full $CP 'show ipv6 ospf6 neighbor json'"
tb_finish
