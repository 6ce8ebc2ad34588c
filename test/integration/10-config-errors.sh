#!/usr/bin/env bash
# 10-config-errors: an invalid config makes routerd exit 2 at once with one line naming the
# file and the key, before creating any interface.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode

# Interface names unique to this run, so "no TAP was created" is unambiguous.
IF0=rtc${TB_ID}a
IF1=rtc${TB_ID}b
tb_on_cleanup "ip link del $IF0; ip link del $IF1"

# conf FILE PORT0-EXTRA PORT1-ADDRESSES TAIL: a two-port config with the given pieces.
conf() {
  cat >"$1" <<EOT
[dataplane]
eal = ["-l", "0-1", "--no-huge", "-m", "2048", "--no-pci", "--file-prefix", "rtrit$TB_ID", "--no-telemetry"]
socket = "$TB_SOCK"

[[port]]
name = "p0"
device = "net_tap0,iface=$IF0"
preset = "tap"
addresses = ["10.1.0.1/24"]
$2

[[port]]
name = "p1"
device = "net_tap1,iface=$IF1"
preset = "tap"
addresses = [$3]

$4
${TB_EXTRA_TOML:-}
EOT
}

# bad_config NAME EXPECTED-KEY-REGEX: routerd on $TB_DIR/NAME.toml must exit 2 within 10 s
# with one stderr line "<file>: <key>...", and no interface may appear.
bad_config() {
  local f=$TB_DIR/$1.toml key=$2 rc=0 t0 lines err ok=0
  t0=$(date +%s%N)
  timeout 20 "$ROUTERD" -c "$f" >"$TB_DIR/$1.out" 2>"$TB_DIR/$1.err" </dev/null || rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  err=$(cat "$TB_DIR/$1.err")
  lines=$(wc -l <"$TB_DIR/$1.err")
  tb_say "     exit $rc after ${ms} ms; stderr ($lines lines): $err"
  ((rc == 2)) || { tb_say "     expected exit status 2"; ok=1; }
  ((ms < 10000)) || { tb_say "     expected to exit within 10 s"; ok=1; }
  [[ $lines == 1 ]] || { tb_say "     expected exactly one stderr line:"; tb_indent <"$TB_DIR/$1.err"; ok=1; }
  grep -Fq -- "$f" <<<"$err" || { tb_say "     the line does not name the file $f"; ok=1; }
  grep -Eq -- "$key" <<<"$err" || { tb_say "     the line does not name the key /$key/"; ok=1; }
  if ip link show "$IF0" >/dev/null 2>&1 || ip link show "$IF1" >/dev/null 2>&1; then
    tb_say "     a TAP interface was created:"
    ip -br link show | grep -E "$IF0|$IF1" | tb_indent
    ok=1
  fi
  return $ok
}

conf "$TB_DIR/unknown-key.toml" 'mtuu = 1500' '"10.2.0.1/24"' ''
tb_check "unknown key port[0].mtuu" bad_config unknown-key 'port\[0\]\.mtuu'

conf "$TB_DIR/bad-prefix.toml" '' '"10.2.0.1/33"' ''
tb_check "bad prefix length 10.2.0.1/33 in port[1].addresses[0]" bad_config bad-prefix 'port\[1\]\.addresses\[0\]'

conf "$TB_DIR/route-host-bits.toml" '' '"10.2.0.1/24"' '[[route]]
prefix = "10.9.0.1/16"
via = "10.2.0.2"'
tb_check "route prefix with host bits (route[0].prefix)" bad_config route-host-bits 'route\[0\]\.prefix'

conf "$TB_DIR/unknown-port.toml" '' '"10.2.0.1/24"' '[[route]]
prefix = "10.9.0.0/16"
dev = "p7"'
tb_check "unknown port p7 in route[0].dev" bad_config unknown-port 'route\[0\]\.dev'

conf "$TB_DIR/unknown-neigh-port.toml" '' '"10.2.0.1/24"' '[[neighbour]]
address = "10.1.0.9"
lladdr = "02:00:00:00:01:09"
port = "p7"'
tb_check "unknown port p7 in neighbour[0].port" bad_config unknown-neigh-port 'neighbour\[0\]\.port'

conf "$TB_DIR/unknown-route-type.toml" '' '"10.2.0.1/24"' '[[route]]
prefix = "10.9.0.0/16"
type = "blakhole"'
tb_check "unknown route type 'blakhole' (route[0].type)" bad_config unknown-route-type \
  "route\[0\]\.type: 'blakhole' is not a route type \(unicast, blackhole, prohibit, unreachable\)"

conf "$TB_DIR/blackhole-via.toml" '' '"10.2.0.1/24"' '[[route]]
prefix = "2001:db8:9::/48"
type = "prohibit"
dev = "p1"'
tb_check "a prohibit route with dev (route[0].dev)" bad_config blackhole-via \
  'route\[0\]\.dev: a prohibit route has no port'

conf "$TB_DIR/duplicate-address.toml" '' '"10.1.0.1/24"' ''
tb_check "duplicate address 10.1.0.1 on p1 (port[1].addresses[0])" bad_config duplicate-address 'port\[1\]\.addresses\[0\]'

conf "$TB_DIR/syntax.toml" 'mtu = = 3' '"10.2.0.1/24"' ''
tb_check "TOML syntax error gives file:line:col" bad_config syntax ':[0-9]+:[0-9]+'

check_missing() {
  local rc=0 err
  err=$(timeout 20 "$ROUTERD" -c "$TB_DIR/missing.toml" 2>&1 >/dev/null </dev/null) || rc=$?
  tb_say "     exit $rc; stderr: $err"
  ((rc == 2)) && [[ $(wc -l <<<"$err") == 1 ]] && grep -q 'missing.toml' <<<"$err"
}
tb_check "missing config file: exit 2, one line naming the file" check_missing

# Sanity: the same template with nothing wrong does start (so the failures above are the
# keys', not the template's).
# start_on FILE WHAT: routerd on FILE, answering within 60 s (else its log, and false).
start_on() {
  "$ROUTERD" -c "$1" >/dev/null 2>"$TB_LOG" </dev/null &
  TB_ROUTERD_PID=$!
  if ! tb_wait_until 60 rctl link show; then
    tb_say "     routerd did not come up $2:"
    tail -20 "$TB_LOG" | tb_indent
    return 1
  fi
}
check_good() {
  conf "$TB_DIR/good.toml" '' '"10.2.0.1/24"' ''
  start_on "$TB_DIR/good.toml" "on the good config" || return 1
  tb_say "     routerd answers on the good config; interfaces: $(ip -br link show | awk '{print $1}' | grep -E "$IF0|$IF1" | tr '\n' ' ')"
  tb_stop_routerd TERM 10
  tb_say "     and exits with $TB_ROUTERD_RC on SIGTERM"
}
tb_check "the template config without errors starts routerd" check_good

# --check: the same verdicts without starting anything.
check_flag() {
  local rc=0 out
  out=$("$ROUTERD" -c "$TB_DIR/good.toml" --check 2>&1) || rc=$?
  tb_say "     good: exit $rc: $out"
  ((rc == 0)) && [[ $out == *"fine: 2 ports"* ]] || return 1
  rc=0
  out=$("$ROUTERD" -c "$TB_DIR/unknown-key.toml" --check 2>&1) || rc=$?
  tb_say "     bad: exit $rc: $out"
  ((rc == 2)) && [[ $out == *"mtuu"* ]] || return 1
  ! ip link show "$IF0" >/dev/null 2>&1
}
tb_check "--check accepts the good config and refuses a bad one, creating nothing" check_flag

# dataplane.heap_reserve_mib: the reserve is faulted in at startup (the log says so and the
# memory is resident), and one larger than the machine's available memory stops routerd
# with the reason, before any interface exists.
check_heap_reserve() {
  local avail_mib rc=0 err rss_kib
  avail_mib=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
  sed "s/^socket = .*/&\nheap_reserve_mib = $((avail_mib + 4096))/" "$TB_DIR/good.toml" >"$TB_DIR/heap-big.toml"
  err=$(timeout 20 "$ROUTERD" -c "$TB_DIR/heap-big.toml" 2>&1 >/dev/null </dev/null) || rc=$?
  tb_say "     $((avail_mib + 4096)) MiB (available $avail_mib): exit $rc: $err"
  ((rc == 1)) && grep -q 'dataplane.heap_reserve_mib: .* MiB is more than the .* MiB this machine has available' <<<"$err" || return 1
  ! ip link show "$IF0" >/dev/null 2>&1 || { tb_say "     a TAP interface was created"; return 1; }
  sed "s/^socket = .*/&\nheap_reserve_mib = 96/" "$TB_DIR/good.toml" >"$TB_DIR/heap.toml"
  start_on "$TB_DIR/heap.toml" "with heap_reserve_mib = 96" || return 1
  # The heap mapping's own resident size: VmRSS also counts the EAL's --no-huge memory.
  rss_kib=$(awk '/\[heap\]$/ {h = 1; next} /^[0-9a-f]+-/ {h = 0} h && /^Rss:/ {print $2}' \
    "/proc/$TB_ROUTERD_PID/smaps")
  tb_say "     96 MiB: $(grep -o 'heap: .*' "$TB_LOG"); [heap] resident $((${rss_kib:-0} / 1024)) MiB"
  local text json
  text=$(rctl stats | grep '^memory:')
  json=$(rctl -j stats | jq -c .memory)
  tb_say "     routerctl stats: $text; -j: $json"
  tb_stop_routerd TERM 10
  grep -q 'heap: 96 MiB reserved and faulted in for table loads in' "$TB_LOG" && ((${rss_kib:-0} >= 96 * 1024)) &&
    [[ $text == *"heap reserved at startup 96 MiB"* ]] &&
    [[ $(jq .heap_reserved_bytes <<<"$json") == $((96 << 20)) ]] &&
    (($(jq .resident_bytes <<<"$json") >= 96 << 20))
}
tb_check "heap_reserve_mib: faulted in at startup; beyond the available memory, refused" check_heap_reserve

# A port MTU its device cannot take stops routerd with the range the device takes (ethdev
# itself says only "Invalid argument"). TAP frames are at most 1522 bytes: MTU 1504.
check_device_mtu() {
  local rc=0 err
  sed '0,/^addresses = \["10.1.0.1\/24"\]$/s//&\nmtu = 9000/' "$TB_DIR/good.toml" >"$TB_DIR/mtu-9000.toml"
  grep -q '^mtu = 9000$' "$TB_DIR/mtu-9000.toml" || { tb_say "     no mtu line written"; return 1; }
  err=$(timeout 30 "$ROUTERD" -c "$TB_DIR/mtu-9000.toml" 2>&1 >/dev/null </dev/null) || rc=$?
  tb_say "     exit $rc: $(grep -E 'critical|error' <<<"$err" | grep -v 'dpdk:' | tail -1)"
  ((rc == 1)) &&
    grep -q 'port p0 (net_tap): mtu 9000 is outside what the device takes: [0-9]*\.\.1504 (frames of at most 1522 bytes)' <<<"$err"
}
tb_check "port mtu 9000 on TAP: refused with the device's range, not EINVAL" check_device_mtu

# A pool smaller than what the rings can hold starts, with a warning that says how many to
# give: two TAP ports of 1024 + 1024 descriptors hold 4096 buffers, 2048 is too few.
check_small_pool() {
  sed "s/^socket = .*/&\nmbufs = 2048/" "$TB_DIR/good.toml" >"$TB_DIR/small-pool.toml"
  start_on "$TB_DIR/small-pool.toml" "with mbufs = 2048" || return 1
  tb_stop_routerd TERM 10
  tb_say "     $(grep -o 'mbuf pool routerd_mbufs: .*' "$TB_LOG")"
  grep -Eq 'warning mbuf pool routerd_mbufs: 2048 buffers, but the rings of its ports, the lcores. caches and the queues can hold [0-9]+ at once: under load RX may find none \(rx_nombuf\); raise dataplane.mbufs to at least [0-9]+' "$TB_LOG"
}
tb_check "mbufs = 2048 for two TAP ports: starts, with a warning naming the size to give" check_small_pool
tb_finish
