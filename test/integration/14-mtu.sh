#!/usr/bin/env bash
# 14-mtu: MTU handling (RFC 1191, RFC 1812 5.2.6): DF packets larger than a route's MTU
# get Fragmentation Needed with that MTU, tracepath finds it, DF-clear packets are
# fragmented and arrive, and the port MTU can change at run time.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_cmds tracepath
tb_start

hx 1 ip addr add 10.9.0.1/32 dev lo
hx 1 ip addr add 10.9.0.2/32 dev lo
hx 1 ip addr add 10.9.0.3/32 dev lo

tb_check "route add 10.9.0.0/16 via 10.2.0.2 mtu 1400" \
  eval 'rctl route add 10.9.0.0/16 via 10.2.0.2 mtu 1400 && rctl_j route show | jq -e '\''any(.[]; .prefix == "10.9.0.0/16" and .mtu == 1400)'\'' >/dev/null'
tb_check "route get 10.9.0.1 shows the next hop's MTU 1400" \
  eval 'rctl_j route get 10.9.0.1 | tee /dev/stderr | jq -e '\''.nexthop.mtu == 1400 and .route_mtu == 1400'\'' >/dev/null'

tb_check "ping -M do -s 1372 (1400 bytes) 10.9.0.1 passes" \
  tb_expect_ok hx 0 ping -n -c1 -W 2 -M do -s 1372 10.9.0.1
tb_check "ping -M do -s 1450 10.9.0.1 gets Frag needed ... mtu = 1400 from the router" \
  tb_expect_match 'From 10\.1\.0\.1 icmp_seq=1 Frag needed and DF set \(mtu = 1400\)' \
  hx 0 ping -n -c1 -W 2 -M do -s 1450 10.9.0.1
tb_check "tracepath 10.9.0.2 reports pmtu 1400" \
  tb_expect_match 'pmtu 1400' hx 0 tracepath -n 10.9.0.2

check_fragmented() {
  local before after out
  before=$(rctl_j stats | jq .fragments)
  out=$(hx 0 ping -n -c3 -W 2 -M dont -s 3000 10.9.0.3 2>&1) || { tb_indent <<<"$out"; return 1; }
  grep -E 'bytes from|packet loss' <<<"$out" | tb_indent
  after=$(rctl_j stats | jq .fragments)
  tb_say "     fragments sent by the router: $before -> $after"
  ((after > before))
}
tb_check "ping -M dont -s 3000 10.9.0.3: arrives, the router fragments to 1400" check_fragmented

check_link_set() {
  local out
  out=$(rctl link set p2 mtu 1300 2>&1) || { tb_indent <<<"$out"; return 1; }
  rctl_j link show | jq -e '.[] | select(.name == "p2") | .mtu == 1300' >/dev/null || return 1
  hx 2 ip addr add 10.8.0.1/32 dev lo
  rctl route add 10.8.0.0/16 via 10.3.0.2
  tb_expect_match 'Frag needed and DF set \(mtu = 1300\)' hx 0 ping -n -c1 -W 2 -M do -s 1400 10.8.0.1
}
tb_check "link set p2 mtu 1300: DF packets over 1300 to p2 get Frag needed mtu = 1300" check_link_set
tb_check "link set p2 mtu 99999 is refused" \
  tb_expect_match "not an MTU" rctl link set p2 mtu 99999
# Within the packet buffers but above what TAP takes (frames of 1522 bytes): the reason names
# the device's range, and the port keeps its MTU.
check_device_refuses() {
  tb_expect_match 'the device refused it: mtu 1600 is outside what the device takes: [0-9]+\.\.1504' \
    rctl link set p2 mtu 1600 &&
    rctl_j link show | jq -e '.[] | select(.name == "p2") | .mtu == 1300' >/dev/null
}
tb_check "link set p2 mtu 1600 on TAP: refused with the device's range, MTU unchanged" check_device_refuses
tb_finish
