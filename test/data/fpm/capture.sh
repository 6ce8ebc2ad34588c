#!/usr/bin/env bash
# test/data/fpm/capture.sh OUTDIR [nhg|inline]: captures what FRR's zebra (Debian 12's frr 8.4.4, module
# dplane_fpm_nl, next-hop-group mode) sends over FPM for a fixed sequence of staticd route
# changes, one byte-stream file per step (the listener's file cut at each step's end).
# inline: `no fpm use-next-hop-groups` (routes carry their gateways, RTA_MULTIPATH).
# Needs root and the frr package; runs everything in the network namespace fpmcap.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:?usage: capture.sh OUTDIR [nhg|inline]}
MODE=${2:-nhg}
mkdir -p "$OUT"
NS=fpmcap
RUN=/var/run/frr/$NS
TMP=$(mktemp -d)
STREAM=$TMP/stream.raw

cleanup() {
  for p in "$RUN"/staticd.pid "$RUN"/zebra.pid; do [[ -f $p ]] && kill "$(cat "$p")" 2>/dev/null || true; done
  [[ -n ${LPID:-} ]] && kill "$LPID" 2>/dev/null || true
  sleep 1
  ip netns del $NS 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns del $NS 2>/dev/null || true
ip netns add $NS
nse() { ip netns exec $NS "$@"; }
nse ip link set lo up
for i in 1 2; do
  # veth, not dummy: the test machines' kernels lack the dummy module.
  nse ip link add d$i type veth peer name d${i}p
  nse ip link set d${i}p up
  nse ip link set d$i up
  nse ip addr add 10.0.$i.1/24 dev d$i
  nse ip addr add 2001:db8:$i::1/64 dev d$i nodad
done

nse "$HERE/fpm_listen.py" "$STREAM" &
LPID=$!
sleep 0.5

mkdir -p "$RUN" && chown frr:frr "$RUN"
# keep 1: unused next-hop groups are deleted after 1 s instead of 180, so the last step
# shows RTM_DELNEXTHOP too.
printf 'zebra nexthop-group keep 1\nfpm address 127.0.0.1 port 2620\n' >"$RUN/zebra.conf"
[[ $MODE == inline ]] && echo 'no fpm use-next-hop-groups' >>"$RUN/zebra.conf"
: >"$RUN/staticd.conf"
chown frr:frr "$RUN"/*.conf
nse /usr/lib/frr/zebra -N $NS -M dplane_fpm_nl -d -f "$RUN/zebra.conf" -i "$RUN/zebra.pid" \
  --log "file:$TMP/zebra.log"
sleep 1
nse /usr/lib/frr/staticd -N $NS -d -f "$RUN/staticd.conf" -i "$RUN/staticd.pid" \
  --log "file:$TMP/staticd.log"

v() { vtysh -N $NS 2>/dev/null -c 'configure terminal' "${@/#/-c}"; }
# step NAME: waits until zebra has flushed, then cuts the stream since the last step.
last=0
step() {
  sleep 3
  local size
  size=$(stat -c %s "$STREAM")
  head -c "$size" "$STREAM" | tail -c "+$((last + 1))" >"$OUT/$1.bin"
  echo "capture: $1: $((size - last)) bytes"
  last=$size
}

for _ in $(seq 30); do
  [[ -s $STREAM ]] && break
  sleep 1
done
step 00-connect

v 'ip route 192.0.2.0/24 10.0.1.2' 'ipv6 route 2001:db8:100::/48 2001:db8:1::2'
step 01-single
v 'ip route 198.51.100.0/24 10.0.1.2' 'ip route 198.51.100.0/24 10.0.2.2' \
  'ip route 198.51.100.0/24 10.0.1.3' \
  'ipv6 route 2001:db8:200::/48 2001:db8:1::2' 'ipv6 route 2001:db8:200::/48 2001:db8:2::2'
step 02-ecmp
v 'ip route 203.0.113.0/24 blackhole' 'ipv6 route 2001:db8:300::/48 blackhole' \
  'ip route 203.0.113.128/25 reject'
step 03-blackhole
v 'ip route 192.0.2.0/24 10.0.2.2' 'no ip route 192.0.2.0/24 10.0.1.2'
step 04-change
v 'no ip route 198.51.100.0/24 10.0.1.2' 'no ip route 198.51.100.0/24 10.0.2.2' \
  'no ip route 198.51.100.0/24 10.0.1.3' \
  'no ipv6 route 2001:db8:100::/48 2001:db8:1::2' 'no ip route 203.0.113.0/24 blackhole'
step 05-delete
cat "$TMP/zebra.log"
