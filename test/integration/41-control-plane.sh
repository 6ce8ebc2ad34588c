#!/usr/bin/env bash
# 41-control-plane: the ports' kernel interfaces (issue 16 part 1). routerd runs with
# [control_plane] on, its interfaces in a namespace of their own (created by routerd), where
# a TCP and a UDP service listen as a routing daemon would. Checked: each kernel interface
# has its port's MAC, MTU, link and addresses, and follows `addr add/del` and `link set mtu`;
# TCP to an allowed port (BGP's 179) and UDP to an allowed port reach the service from a host
# behind the router and are answered, over IPv4 and IPv6, and UDP to 255.255.255.255 and to
# the port's subnet broadcast reaches it too; the kernel's own pings go out the
# ports and their replies come back to it; TCP to a port the allow list does not name never
# reaches the listener and is counted; routerd still answers echo and ARP/NDP itself.
# it-timeout: 150
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=2
export TB_IPV6=1
CP=$TB_PREFIX-cp # starts with the prefix: tb_cleanup deletes it with the hosts' namespaces
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
allow = [\"bgp\", \"icmp\", \"udp:5000\"]
follow_link = false" # net_tap reads its moved interface as down (docs/config.md)
tb_init
tb_start

step() { tb_step "$* (at ${SECONDS} s)"; }
PEER=("$TB_PY" "$(cd "$(dirname "$0")" && pwd)/cp_peer.py")
cp() { ip netns exec "$CP" "$@"; }
tb_stats "$TB_DIR/before.json"

step "the kernel interfaces mirror the ports"
# addr_of IF: the kernel interface's addresses as "addr/len" lines, sorted.
addrs_of() { cp ip -j addr show dev "$1" | jq -r '.[0].addr_info[] | "\(.local)/\(.prefixlen)"' | sort; }
for i in 0 1; do
  p=$(tb_port $i)
  mac=$(rctl_j link show | jq -r --arg p "$p" '.[] | select(.name == $p) | .mac')
  tb_check "$p in $CP: the port's MAC ($mac), MTU 1500, up" \
    tb_wait_until 5 eval "cp ip -j link show dev $p | jq -e '.[0] | .address == \"$mac\" and .mtu == 1500 and (.flags | index(\"UP\"))'"
  tb_check "$p in $CP: $(tb_router_ip $i)/24 and $(tb_router_ip6 $i)/64 and a link-local address" \
    tb_wait_until 5 eval "addrs_of $p | grep -qx '$(tb_router_ip $i)/24' && addrs_of $p | grep -qx '$(tb_router_ip6 $i)/64' && addrs_of $p | grep -q '^fe80:'"
done
addrs_of p0 | tb_indent
rctl_j link show | jq -c '.[] | {name, kernel}' | tb_indent
tb_check "link show names each port's kernel interface" \
  eval "rctl_j link show | jq -e 'all(.[]; .kernel.netns == \"$CP\" and .kernel.ifindex > 0)' >/dev/null"

rctl addr add 10.7.0.1/24 dev p0
rctl addr add 2001:db8:7::1/64 dev p0
tb_check "addr add: 10.7.0.1/24 and 2001:db8:7::1/64 appear on p0 in $CP" \
  tb_wait_until 5 eval "addrs_of p0 | grep -qx 10.7.0.1/24 && addrs_of p0 | grep -qx 2001:db8:7::1/64"
rctl addr del 10.7.0.1/24 dev p0
rctl addr del 2001:db8:7::1/64 dev p0
tb_check "addr del: both are gone from p0 in $CP" \
  tb_wait_until 5 eval "! addrs_of p0 | grep -q '^10.7.0.1/\|^2001:db8:7::1/'"
rctl link set dev p1 mtu 1400
tb_check "link set mtu 1400: p1 in $CP has MTU 1400" \
  tb_wait_until 5 eval "cp ip -j link show dev p1 | jq -e '.[0].mtu == 1400'"
# (Not set back: net_tap cannot raise the MTU of an interface moved out of its namespace.)

step "services in $CP, reached through the ports"
LOG=$TB_DIR/peer.log
# One dual-stack socket per port (:: takes IPv4 too): a 0.0.0.0 one beside it would race it
# for the port, and the loser's bind fails.
tb_bg "$TB_DIR/serve-179.err" ip netns exec "$CP" "${PEER[@]}" serve tcp :: 179 "$LOG"
tb_bg "$TB_DIR/serve-8080.err" ip netns exec "$CP" "${PEER[@]}" serve tcp :: 8080 "$LOG"
tb_bg "$TB_DIR/serve-5000.err" ip netns exec "$CP" "${PEER[@]}" serve udp :: 5000 "$LOG"
tb_wait_until 5 eval "cp ss -ltn | grep -q ':179 ' && cp ss -ltn | grep -q ':8080 ' && cp ss -lun | grep -q ':5000 '" ||
  tb_die "the listeners did not start: $(cat "$TB_DIR"/serve-*.err)"
tb_check "h0 -> 10.1.0.1:179 (TCP, BGP): answered by the listener in $CP" \
  tb_expect_ok hx 0 "${PEER[@]}" send tcp 10.1.0.1 179 hello-v4
tb_check "h1 -> 10.1.0.1:179 across the router (the port's address, not the arrival port's)" \
  tb_expect_ok hx 1 "${PEER[@]}" send tcp 10.1.0.1 179 hello-across
tb_check "h1 -> [2001:db8:2::1]:179 (TCP over IPv6)" \
  tb_expect_ok hx 1 "${PEER[@]}" send tcp 2001:db8:2::1 179 hello-v6
tb_check "h0 -> 10.1.0.1:5000 (UDP, allowed by udp:5000)" \
  tb_expect_ok hx 0 "${PEER[@]}" send udp 10.1.0.1 5000 dgram-v4
tb_check "h0 -> [2001:db8:1::1]:5000 (UDP over IPv6)" \
  tb_expect_ok hx 0 "${PEER[@]}" send udp 2001:db8:1::1 5000 dgram-v6
# RFC 1812 5.3.5: 255.255.255.255 and the link's own subnet broadcast are for the router
# (DHCP, RIPv1): with kernel interfaces on, they reach its services as unicast does.
bcast() {
  hx 0 "$TB_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.sendto(sys.argv[2].encode(), (sys.argv[1], 5000))
' "$1" "$2"
}
tb_check "h0 -> 255.255.255.255:5000 (limited broadcast): reaches the listener in $CP" \
  eval "bcast 255.255.255.255 limited-bcast && tb_wait_until 3 grep -q limited-bcast '$LOG'"
tb_check "h0 -> 10.1.0.255:5000 (p0's subnet broadcast): reaches the listener in $CP" \
  eval "bcast 10.1.0.255 subnet-bcast && tb_wait_until 3 grep -q subnet-bcast '$LOG'"
tb_stats "$TB_DIR/mid.json"
tb_check "h0 -> 10.1.0.1:8080 (not allowed): no answer, though a listener is there" \
  eval "! hx 0 ${PEER[*]} send tcp 10.1.0.1 8080 denied 2"
tb_check "h0 -> [2001:db8:1::1]:8080 (not allowed): no answer" \
  eval "! hx 0 ${PEER[*]} send tcp 2001:db8:1::1 8080 denied6 2"
tb_stats "$TB_DIR/denied.json"
tb_check "drops.cp_denied counts the refused SYNs" \
  tb_stat_rose "$TB_DIR/mid.json" "$TB_DIR/denied.json" 2 .drops.cp_denied
tb_check "the listener on 8080 never saw a message" eval "! grep -q denied '$LOG'"
cat "$LOG" | tb_indent

step "the kernel's own traffic goes out the ports"
tb_check "$CP pings h1 (10.2.0.2) through p1: the replies come back to the kernel" \
  tb_expect_match ' 0% packet loss' cp ping -n -c3 -i 0.2 -W 2 10.2.0.2
tb_check "$CP pings h0 (2001:db8:1::2) through p0" \
  tb_expect_match ' 0% packet loss' cp ping -n -c3 -i 0.2 -W 2 2001:db8:1::2
tb_check "the kernel learnt h1's MAC from the copied ARP reply" \
  eval "cp ip -j neigh show dev p1 | jq -e 'any(.[]; .dst == \"10.2.0.2\" and .lladdr == \"02:00:00:00:01:02\")'"
tb_check "routerd still answers echo itself (h0 pings 10.1.0.1 and 2001:db8:1::1)" \
  eval "tb_ping 0 10.1.0.1 3 && hx 0 ping -n -c3 -i 0.2 -W 2 2001:db8:1::1 | grep ' 0% packet loss' >/dev/null"

# h0 forgets the router's MAC and asks again: routerd answers, the kernel's answer to its copy
# of the request is not sent.
hx 0 ip neigh flush dev eth0
tb_ping 0 10.1.0.1 1 >/dev/null || true

tb_stats "$TB_DIR/after.json"
tb_check "events.punt_kernel and events.from_kernel count both directions" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 10 .events.punt_kernel .events.from_kernel
tb_check "the kernel's ARP replies and NAs were suppressed, not sent (routerd answers)" \
  tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 1 .events.from_kernel_suppressed
rctl link show | grep -E '^[^ ]|kernel' | tb_indent
tb_check "link show counts frames each way per port, adding up to the totals" \
  eval "rctl_j link show | jq -e --slurpfile s '$TB_DIR/after.json' 'all(.[]; .kernel.to_kernel > 0 and .kernel.from_kernel > 0) and ([.[].kernel.to_kernel] | add) <= \$s[0].events.punt_kernel' >/dev/null"
tb_finish
