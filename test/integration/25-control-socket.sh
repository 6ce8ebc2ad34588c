#!/usr/bin/env bash
# 25-control-socket: the control socket serves clients concurrently with limits (issue 13,
# defects 4, 13, 14): stalled clients and a running ping delay no command, too many
# connections are refused clearly, large batches and a million-route `route show -j` get
# through, route files must be regular files and errors do not echo them, the socket path is
# never taken from a file that is not a stale socket, and the open-files limit is raised.
# A million routes loaded, listed and batched: 90 s on an idle 2-core host.
# it-timeout: 300
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_init

# Room for a full table: 1,048,576 FIB prefixes (two copies of about 500 MiB in DPDK memory).
write_big_config() {
  tb_write_config "$1" $'[fib]\nmax_routes = 1100000\ntbl8_groups = 1024'
  sed -i 's/"-m", "2048"/"-m", "3072"/' "$1"
}

tb_step "dataplane.socket: only a stale socket is replaced"
write_big_config "$TB_DIR/notsock.toml"
sed -i "s|^socket = .*|socket = \"$TB_DIR/precious\"|" "$TB_DIR/notsock.toml"
echo "keep me" >"$TB_DIR/precious"
not_a_socket() {
  local rc=0
  timeout 60 "$ROUTERD" -c "$TB_DIR/notsock.toml" >"$TB_DIR/notsock.out" 2>&1 </dev/null || rc=$?
  grep -E 'critical|error' "$TB_DIR/notsock.out" | tb_indent
  ((rc == 1)) && grep -q "precious: exists and is not a socket; refusing to replace it" "$TB_DIR/notsock.out" &&
    [[ $(cat "$TB_DIR/precious") == "keep me" ]]
}
tb_check "a regular file at the socket path: exit 1 with the reason, the file untouched" not_a_socket

write_big_config "$TB_CONF"
# A soft limit below the hard one, as systemd and login shells give: routerd raises it.
ulimit -Sn 1024
tb_start
socket_mode() {
  local m
  m=$(stat -c %a "$TB_SOCK")
  tb_say "     $TB_SOCK: mode $m, $(stat -c %F "$TB_SOCK")"
  [[ $m == 660 && -S $TB_SOCK ]]
}
tb_check "the control socket has mode 0660" socket_mode
nofile() {
  local l soft hard
  l=$(grep 'Max open files' "/proc/$TB_ROUTERD_PID/limits")
  tb_say "     $l (started with soft limit $(ulimit -Sn), hard $(ulimit -Hn))"
  grep 'open files limit raised' "$TB_LOG" | tb_indent
  read -r soft hard < <(awk '{print $4, $5}' <<<"$l")
  [[ $soft == "$hard" ]]
}
tb_check "routerd raised its open-files limit to the hard limit" nofile

# --- large requests and answers ------------------------------------------------------------
G=$TB_DIR/gen
mkdir -p "$G"
# The N-th /24 from 11.0.0.0 on: 11.0.0.0/24, 11.0.1.0/24, ...
prefixes() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%d.%d.%d.0/24\n", 11 + int(i / 65536), int(i / 256) % 256, i % 256 }'; }

tb_step "large batches and answers (the old limit was 1 MiB each way, with no error)"
prefixes 30000 | sed 's/^/route add /; s/$/ via 10.3.0.2/' >"$G/b30k.txt"
tb_check "a 30,000-line batch is applied" tb_expect_match '^batch: 30000 changes' rctl batch "$G/b30k.txt"
count_routes() {  # count_routes N: route show -j lists N routes
  local n
  n=$(rctl_j route show | jq length) || return 1
  tb_say "     route show -j: $n routes"
  ((n == $1))
}
tb_check "route show -j lists all 30,003 routes" count_routes 30003

# --- concurrency -----------------------------------------------------------------------------
tb_step "clients that stall, and a long ping, delay no other command"
cat >"$G/clients.py" <<'PY'
import socket, sys, time
path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
socks = []
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    socks.append(s)
    return s
if mode == "stall":
    for _ in range(n):
        conn()                                              # idle
    noread = conn()                                         # asks for 2.7 MB, never reads
    noread.sendall(b'{"argv": ["route", "show"]}\n')
    drib = conn()                                           # a byte every 0.5 s
    print("ready", flush=True)
    for c in b'{"argv": ["stats"]}\n' * 10:
        try:
            drib.send(bytes([c]))
        except OSError:
            break
        time.sleep(0.5)
else:
    for _ in range(n):
        conn()
    print("ready", flush=True)
    time.sleep(30)
PY
stalled_then_stats() {
  local pid out rc=0
  "$TB_PY" "$G/clients.py" "$TB_SOCK" stall 4 >"$G/stall.out" 2>&1 &
  pid=$!
  tb_wait_until 10 grep -q ready "$G/stall.out" || { kill "$pid"; return 1; }
  sleep 0.5
  # Each stalled client may hold its connection for 5 s; the answer comes before that.
  out=$(timeout 4 "$ROUTERCTL" -s "$TB_SOCK" -j stats 2>&1) || rc=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  tb_say "     with 4 idle clients, a dribbling one and one not reading 2.7 MB: routerctl stats exit $rc, generation $(jq -r .generation <<<"$out" 2>/dev/null)"
  ((rc == 0))
}
tb_check "4 idle, 1 dribbling and 1 non-reading client: stats answered before their 5 s deadline" stalled_then_stats
ping_then_stats() {
  local pid rc=0 ok=0
  rctl ping 10.3.0.2 count 20 >"$G/ping.out" 2>&1 &
  pid=$!
  sleep 1
  for _ in 1 2 3; do
    if timeout 4 "$ROUTERCTL" -s "$TB_SOCK" route get 10.3.0.2 >/dev/null 2>&1; then ok=$((ok + 1)); fi
    sleep 1
  done
  kill -0 "$pid" 2>/dev/null || { tb_say "     the ping ended too early"; rc=1; }
  wait "$pid" || rc=1
  tb_say "     during a 20-request ping (10 s): $ok of 3 commands answered within 4 s each"
  tail -1 "$G/ping.out" | tb_indent
  ((rc == 0 && ok == 3)) && grep -q '^20 packets transmitted, 20 received' "$G/ping.out"
}
tb_check "commands are answered while routerctl ping count 20 runs; the ping gets all 20" ping_then_stats
too_many() {
  local pid out rc=0
  "$TB_PY" "$G/clients.py" "$TB_SOCK" idle 64 >"$G/idle.out" 2>&1 &
  pid=$!
  tb_wait_until 10 grep -q ready "$G/idle.out" || { kill "$pid"; return 1; }
  out=$(rctl stats 2>&1) || rc=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  tb_say "     65th connection: exit $rc: $out"
  ((rc == 1)) && grep -q 'too many control connections (64 open); try again' <<<"$out" &&
    tb_wait_until 10 rctl stats >/dev/null
}
tb_check "a 65th connection is refused with the reason; service resumes when they go" too_many

# --- route files as root -----------------------------------------------------------------------
tb_step "route load reads only regular files and quotes at most a short excerpt"
# shellcheck disable=SC2016 # the dollars are the file's
printf 'root:$y$j9T$TOPSECRETSALTVALUE$HASHHASHHASHHASHHASH:20000:0:99999:7:::\n' >"$G/shadow"
chmod 600 "$G/shadow"
no_echo() {
  local out
  out=$(rctl route load "$G/shadow" 2>&1) && return 1
  tb_say "     $out"
  grep -q "shadow:1:" <<<"$out" && ! grep -q 'TOPSECRETSALT' <<<"$out"
}
tb_check "a file that is not a route file: the error quotes 20 characters, not the line" no_echo
rss() { awk '/^VmRSS/ {print $2}' "/proc/$TB_ROUTERD_PID/status"; }
dev_zero() {
  local out r0 r1
  r0=$(rss)
  out=$(timeout 20 "$ROUTERCTL" -s "$TB_SOCK" route load /dev/zero 2>&1) && return 1
  r1=$(rss)
  tb_say "     $out; RSS $r0 -> $r1 KiB"
  grep -q '/dev/zero: not a regular file' <<<"$out" && ((r1 < r0 + 10240))
}
tb_check "route load /dev/zero: refused at once, memory unchanged" dev_zero
tb_check "routerctl batch /dev/zero: refused by routerctl, not sent" \
  tb_expect_match 'larger than 128 MiB' timeout 60 "$ROUTERCTL" -s "$TB_SOCK" batch /dev/zero

# --- a million routes ------------------------------------------------------------------------
tb_step "a million routes: route load, route show -j, and a batch of the documented maximum"
prefixes 1000000 | sed 's/$/ via 10.3.0.2/' >"$G/1m.routes"
tb_check "route load of 1,000,000 routes" tb_expect_match '^loaded 1000000 routes' rctl route load "$G/1m.routes"
tb_check "route show -j lists 1,000,003 routes (about 90 MiB of JSON)" count_routes 1000003
{
  prefixes 1000000 | sed 's/^/route replace /; s/$/ via 10.2.0.2/'
  prefixes 48576 | sed 's/^/route del /'
} >"$G/max.batch"
tb_info "batch file: $(wc -l <"$G/max.batch") lines, $(($(stat -c %s "$G/max.batch") >> 20)) MiB"
tb_check "a batch of 1,048,576 lines (docs/cli.md's maximum) is applied" \
  tb_expect_match '^batch: 1048576 changes' rctl batch "$G/max.batch"
summary_routes() {
  local n
  n=$(rctl_j route summary | jq .routes)
  tb_say "     route summary: $n routes"
  ((n == $1))
}
tb_check "route summary: 951,427 routes left" summary_routes 951427
tb_check "route get 26.66.63.5 goes via 10.2.0.2" tb_expect_match 'via 10\.2\.0\.2' rctl route get 26.66.63.5
tb_check "h0 -> h2 still works" tb_ping 0 10.3.0.2 3
tb_finish
