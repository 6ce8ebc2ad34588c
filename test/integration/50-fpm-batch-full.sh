#!/usr/bin/env bash
# 50-fpm-batch-full: an FPM batch that does not fit is split, and every route that fits goes
# in. routerd has a small next-hop table (fib.max_next_hops = 80); a client speaking zebra's
# FPM (scripts/lib/fpm_stream.py's encoder) sends, in one frame and so one batch, 40 IPv4
# and 60 IPv6 next hops on p1 and a route through each: more gateways than slots, the IPv4
# routes fitting and the IPv6 ones running out part-way.
# Checked: the batch is counted as failed with the reason; every IPv4 route is in; the IPv6
# routes that fit are in, and those that did not are counted as refused and are in neither
# the RIB nor the FIB (route get and ping find no route); the routes of an earlier batch are
# untouched, and a later batch that fits is installed.
# it-timeout: 120
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
# shellcheck disable=SC2034 # read by testbed.sh
TB_NPORTS=2
export TB_IPV6=1
CP=$TB_PREFIX-cp
tb_require_cmds curl
PORT=$((20000 + TB_ID % 20000))
export TB_TOP_TOML="metrics_listen = \"127.0.0.1:$PORT\""
# 2 x arp.max_entries + 10 + 17 per port = 76 is the smallest table routerd accepts.
export TB_EXTRA_TOML="[control_plane]
enabled = true
netns = \"$CP\"
follow_link = false # net_tap reads its moved interface as down (docs/config.md)
fpm_listen = \"127.0.0.1:2620\"
fpm_sweep_s = 3600 # each batch is a connection of its own: no sweep of what it did not resend

[fib]
max_next_hops = 80

[arp]
max_entries = 16"
tb_init
tb_start

fpm() { rctl_j fpm show; }
p1_ifindex=$(rctl_j link show | jq -r '.[] | select(.name == "p1") | .kernel.ifindex')
[[ $p1_ifindex =~ ^[0-9]+$ ]] || tb_die "no kernel ifindex for p1 in link show"

# send.py BATCH...: one connection; each BATCH ("good" or "full") is one FPM frame, sent once
# the previous one is in routerd (fpm show's frame count), so each is a batch of its own.
cat >"$TB_DIR/send.py" <<EOF
import ipaddress, json, socket, subprocess, sys, time
sys.path.insert(0, "$TB_REPO/scripts/lib")
import fpm_stream as fs

def nh(i, gw):
    fam = fs.AF_INET6 if ":" in gw else fs.AF_INET
    return fs.newnexthop(i, fam, ipaddress.ip_address(gw).packed, $p1_ifindex)

def rt(net, i):
    fam, dst, plen = fs.route_msg(ipaddress.ip_network(net))
    return fs.newroute(fam, dst, plen, i)

good = [nh(1, "10.2.0.2"), nh(2, "2001:db8:2::2"), rt("10.70.0.0/16", 1),
        rt("10.71.0.0/16", 1), rt("2001:db8:70::/48", 2)]
full = [nh(100 + k, "10.2.0.%d" % (10 + k)) for k in range(40)]
full += [nh(200 + k, "2001:db8:2::%x" % (0x10 + k)) for k in range(60)]
full += [rt("10.80.%d.0/24" % k, 100 + k) for k in range(40)]
full += [rt("2001:db8:80:%x::/64" % k, 200 + k) for k in range(60)]
later = [rt("10.72.0.0/16", 1), rt("2001:db8:72::/48", 2)]
batches = {"good": good, "full": full, "later": later}

def frames():
    out = subprocess.run(["$ROUTERCTL", "-s", "$TB_SOCK", "-j", "fpm", "show"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["frames"]

s = socket.create_connection(("127.0.0.1", 2620))
time.sleep(0.5)
for name in sys.argv[1:]:
    before = frames()
    s.sendall(fs.fpm_frame(batches[name]))
    deadline = time.time() + 10
    while frames() == before and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    print(name, "sent")
s.close()
EOF
send() { ip netns exec "$CP" "$TB_PY" "$TB_DIR/send.py" "$@" | tb_indent; }

tb_step "a batch that fits: 3 routes through 2 gateways"
send good
tb_check "10.70.0.0/16 and 2001:db8:70::/48 are in, origin fpm" \
  eval "tb_route_is 10.70.0.0/16 '.via == \"10.2.0.2\" and .origin == \"fpm\"' && tb_route_is 2001:db8:70::/48 '.via == \"2001:db8:2::2\"'"
before=$(rctl_j route show | jq -c '[.[] | select(.origin == "fpm")]')
before6=$(rctl_j -6 route show | jq -c '[.[] | select(.origin == "fpm")]')

tb_step "a batch of 100 routes through 100 gateways, for an 80-slot next-hop table"
send full
fpm | jq -c '{batches, batch_failures, routes_refused, last_error}' | tb_indent
tb_check "fpm show: one failed batch, next-hop table full" \
  tb_wait_until 5 eval "fpm | jq -e '.batch_failures == 1 and (.last_error | test(\"next-hop table full\"))' >/dev/null"
tb_check "all 40 IPv4 routes are in, each through its own gateway" \
  eval "[[ \$(rctl_j route show | jq '[.[] | select(.prefix | startswith(\"10.80.\"))] | length') == 40 ]] && rctl_j route get 10.80.7.1 | jq -e '.via == \"10.2.0.17\"' >/dev/null"
in6=$(rctl_j -6 route show | jq '[.[] | select(.prefix | startswith("2001:db8:80:"))] | length')
refused=$(fpm | jq '.routes_refused')
echo "IPv6 routes of the batch installed: $in6; refused: $refused" | tb_indent
tb_check "some IPv6 routes fit, the rest are counted as refused: $in6 + $refused = 60" \
  eval "(( in6 > 0 && refused > 0 && in6 + refused == 60 ))"
tb_check "stats and Prometheus say the same: one failed batch, $refused routes refused, 42 IPv4 and $((1 + in6)) IPv6 routes of the feed installed" \
  eval "rctl_j stats | jq -e '.route_feed | .feed == \"fpm\" and .batch_failures == 1 and .routes_refused == $refused and .installed.ipv4 == 42 and .installed.ipv6 == $((1 + in6))' >/dev/null &&
    curl -sf --max-time 5 http://127.0.0.1:$PORT/metrics | grep -qx 'routerd_route_feed_routes_refused_total{feed=\"fpm\"} $refused' &&
    curl -sf --max-time 5 http://127.0.0.1:$PORT/metrics | grep -qx 'routerd_route_feed_batch_failures_total{feed=\"fpm\"} 1'"
# One the FIB refused: the first of the 60 not in the RIB.
have6=$(rctl_j -6 route show | jq -r '.[].prefix')
gone=""
for k in $(seq 0 59); do
  p=$(printf '2001:db8:80:%x::/64' "$k")
  ((k)) || p=2001:db8:80::/64 # as routerd writes it
  grep -qxF "$p" <<<"$have6" || { gone=$p; break; }
done
[[ -n $gone ]] || tb_die "no refused IPv6 prefix of the batch found"
gone_addr=${gone%/64}1
echo "refused, for one: $gone" | tb_indent
tb_check "route get $gone_addr: nothing matches" \
  eval "rctl_j route get $gone_addr | jq -e '.type == \"none\"' >/dev/null"
# The FIB decides what a packet meets: an entry left behind through the refused route's
# gateway would answer Address Unreachable after NDP gave up, not no route.
tb_check "nor in the IPv6 FIB: ping $gone_addr gets No route" \
  tb_expect_match 'From 2001:db8:1::1.*No route' hx 0 ping -6 -n -c1 -W 4 "$gone_addr"
# route show lists both families; -6 only IPv6.
earlier='[.[] | select(.origin == "fpm" and (.prefix | test("^(10[.]80[.]|2001:db8:80:)") | not))]'
tb_check "the earlier batch's routes are as they were (both families)" \
  eval "[[ \$(rctl_j route show | jq -c '$earlier') == '$before' && \$(rctl_j -6 route show | jq -c '$earlier') == '$before6' ]]"
tb_check "route get 10.70.1.1 still goes via 10.2.0.2" \
  eval "rctl_j route get 10.70.1.1 | jq -e '.via == \"10.2.0.2\"' >/dev/null"

tb_step "the feed goes on: a later batch that fits"
send later
tb_check "10.72.0.0/16 and 2001:db8:72::/48 are in" \
  eval "tb_route_is 10.72.0.0/16 '.via == \"10.2.0.2\"' && tb_route_is 2001:db8:72::/48 '.via == \"2001:db8:2::2\"'"
tb_check "still one failed batch, as many refused routes" \
  eval "fpm | jq -e '.batch_failures == 1 and .routes_refused == $refused' >/dev/null"
# What a refused part staged must not ride in with the next commit.
tb_check "after that commit, $gone_addr still gets No route" \
  tb_expect_match 'From 2001:db8:1::1.*No route' hx 0 ping -6 -n -c1 -W 4 "$gone_addr"
tb_check "routerd is alive" tb_routerd_alive
tb_finish
