#!/usr/bin/env bash
# 45-kernel-routes: the kernel route mirror (issue 16 part 3). BIRD 2 runs in routerd's control
# namespace and installs its static routes into that namespace's kernel (it knows no other
# way); routerd mirrors the main table. Checked: BIRD's IPv4, IPv6, ECMP and blackhole routes
# appear with proto bird and origin kernel and carry traffic; the kernel's connected routes
# are not taken; a route added with ip(8) under another protocol is, and its delete follows;
# of two metrics for one prefix the lower is used and the higher takes over when it goes; an
# IPv6 multipath route keeps its other path when one is deleted; a
# BIRD reconfiguration without a route removes it; a protocol filter leaves others out; a link
# taken down in the namespace (the kernel drops its IPv4 routes silently) resyncs the copy.
# it-timeout: 150
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_require_cmds bird birdc
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=2
export TB_IPV6=1
CP=$TB_PREFIX-cp
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
kernel_routes = true"
tb_init
tb_start

step() { tb_step "$* (at ${SECONDS} s)"; }
BIRD_DIR=$TB_DIR/bird
mkdir -p "$BIRD_DIR"
tb_on_cleanup "[[ -f $BIRD_DIR/bird.pid ]] && kill \$(cat $BIRD_DIR/bird.pid) 2>/dev/null; true"
hx 1 ip addr add 10.80.0.1/32 dev lo
hx 1 ip -6 addr add 2001:db8:80::1/128 dev lo

# bird_conf STATIC_V4_LINES: BIRD's config, as docs/operations.md "Running with BIRD" gives it.
bird_conf() {
  cat >"$BIRD_DIR/bird.conf" <<CONF
router id 10.1.0.1;
protocol device { scan time 2; }
protocol kernel kernel4 { ipv4 { export all; import none; }; merge paths on; scan time 5; }
protocol kernel kernel6 { ipv6 { export all; import none; }; merge paths on; scan time 5; }
protocol static static4 { ipv4;
$1
}
protocol static static6 { ipv6;
  route 2001:db8:80::/48 via 2001:db8:2::2;
  route 2001:db8:82::/48 blackhole;
}
CONF
}
birdc_() { birdc -s "$BIRD_DIR/bird.ctl" "$@"; }
mirror() { rctl_j mirror show; }

step "the mirror has dumped the namespace's table"
tb_check "mirror show: table 254, all protocols but kernel, the dump done" \
  tb_wait_until 10 eval "mirror | jq -e '.table == 254 and .protocols == \"all but kernel\" and (.dumping | not) and .resyncs == 1' >/dev/null"

step "BIRD's static routes arrive through the kernel"
V4='  route 10.80.0.0/16 via 10.2.0.2;
  route 10.81.0.0/16 via 10.1.0.2 via 10.2.0.2;
  route 10.82.0.0/16 blackhole;'
bird_conf "$V4"
ip netns exec "$CP" bird -c "$BIRD_DIR/bird.conf" -s "$BIRD_DIR/bird.ctl" -P "$BIRD_DIR/bird.pid"
tb_check "BIRD is in the kernel table (ip route show proto bird)" \
  tb_wait_until 10 eval "ip -n $CP route show proto bird | grep 10.80.0.0/16 >/dev/null"
ip -n "$CP" route show proto bird | tb_indent
ip -n "$CP" -6 route show proto bird | tb_indent
tb_check "10.80.0.0/16 via 10.2.0.2, proto bird, origin kernel" \
  tb_route_is 10.80.0.0/16 '.via == "10.2.0.2" and .proto == "bird" and .origin == "kernel"'
tb_check "10.81.0.0/16: an ECMP route over 10.1.0.2 and 10.2.0.2" \
  tb_route_is 10.81.0.0/16 '[.nexthops[].via] | sort == ["10.1.0.2", "10.2.0.2"]'
tb_check "10.82.0.0/16 and 2001:db8:82::/48 blackhole" \
  eval "tb_route_is 10.82.0.0/16 '.type == \"blackhole\" and .proto == \"bird\"' && tb_route_is 2001:db8:82::/48 '.type == \"blackhole\"'"
tb_check "2001:db8:80::/48 via 2001:db8:2::2 (IPv6)" \
  tb_route_is 2001:db8:80::/48 '.via == "2001:db8:2::2" and .proto == "bird"'
tb_check "h0 pings 10.80.0.1 and 2001:db8:80::1 through the mirrored routes" \
  eval "tb_ping 0 10.80.0.1 3 && hx 0 ping -n -c3 -i 0.2 -W 2 2001:db8:80::1 >/dev/null"
tb_check "the kernel's connected routes are not taken: 10.1.0.0/24 is routerd's own" \
  eval "rctl_j route show | jq -e '.[] | select(.prefix == \"10.1.0.0/24\") | .proto == \"connected\"' >/dev/null && ip -n $CP route show proto kernel | grep 10.1.0.0/24 >/dev/null"
tb_check "route summary counts them by protocol (3 IPv4, 2 IPv6 bird)" \
  eval "rctl_j route summary | jq -e '.daemon.bird == 3 and .ipv6.daemon.bird == 2' >/dev/null"

step "routes added and deleted with ip(8) in the namespace follow"
ip -n "$CP" route add 10.83.0.0/16 via 10.1.0.2 proto static
tb_check "10.83.0.0/16 proto static arrives" tb_route_is 10.83.0.0/16 '.proto == "static" and .via == "10.1.0.2"'
ip -n "$CP" route del 10.83.0.0/16
tb_check "its delete follows" tb_no_route 10.83.0.0/16

step "two metrics for one prefix: the lower is used, the higher takes over"
ip -n "$CP" route add 10.84.0.0/16 via 10.2.0.2 metric 200 proto static
ip -n "$CP" route add 10.84.0.0/16 via 10.1.0.2 metric 100 proto static
tb_check "metric 100 (via 10.1.0.2) is used" tb_route_is 10.84.0.0/16 '.via == "10.1.0.2"'
ip -n "$CP" route del 10.84.0.0/16 via 10.1.0.2 metric 100
tb_check "deleted: metric 200 (via 10.2.0.2) takes over" tb_route_is 10.84.0.0/16 '.via == "10.2.0.2"'
ip -n "$CP" route del 10.84.0.0/16 via 10.2.0.2 metric 200
tb_check "both gone: the prefix is gone" tb_no_route 10.84.0.0/16

step "IPv6 multipath: one path deleted, the other stays"
ip -n "$CP" -6 route add 2001:db8:85::/48 proto static nexthop via 2001:db8:1::2 dev p0 nexthop via 2001:db8:2::2 dev p1
tb_check "2001:db8:85::/48: an ECMP route over both hosts" \
  tb_route_is 2001:db8:85::/48 '[.nexthops[].via] | sort == ["2001:db8:1::2", "2001:db8:2::2"]'
# The kernel notifies this delete naming the one path, and keeps the other.
ip -n "$CP" -6 route del 2001:db8:85::/48 via 2001:db8:1::2 dev p0 proto static
tb_check "after deleting the path via 2001:db8:1::2: a plain route via 2001:db8:2::2, as in the kernel" \
  eval "tb_route_is 2001:db8:85::/48 '.via == \"2001:db8:2::2\" and (.nexthops | not)' && ip -n $CP -6 route show 2001:db8:85::/48 | grep 'via 2001:db8:2::2' >/dev/null"
ip -n "$CP" -6 route del 2001:db8:85::/48
tb_check "the last path deleted: gone" tb_no_route 2001:db8:85::/48

step "BIRD reconfigured without 10.81.0.0/16"
bird_conf '  route 10.80.0.0/16 via 10.2.0.2;
  route 10.82.0.0/16 blackhole;'
birdc_ configure | tb_indent
tb_check "10.81.0.0/16 is removed" tb_no_route 10.81.0.0/16
tb_check "10.80.0.0/16 stays" tb_route_is 10.80.0.0/16 '.proto == "bird"'

step "a link taken down in the namespace drops its IPv4 routes without a notification"
before=$(mirror | jq '.resyncs')
ip -n "$CP" link set p1 down
tb_check "the mirror resyncs and 10.80.0.0/16 (via p1) is gone, as from the kernel" \
  eval "tb_wait_until 10 eval \"mirror | jq -e '.resyncs > $before and (.dumping | not)' >/dev/null\" && tb_no_route 10.80.0.0/16"
tb_check "10.82.0.0/16 (blackhole, no link) stays" tb_route_is 10.82.0.0/16 '.type == "blackhole"'
mirror | jq -c '{messages, routes, installed, resyncs, swept, flush_events, overruns}' | tb_indent
rctl mirror show | tb_indent
tb_check "no overrun, no failed batch" eval "mirror | jq -e '.overruns == 0 and .batch_failures == 0' >/dev/null"
tb_finish
