# shellcheck shell=bash
# testbed.sh: the three-host testbed shared by test/integration/*.sh and scripts/demo.
#
#   h0 (10.1.0.2) --- p0 10.1.0.1 [ router ] 10.2.0.1 p1 --- h1 (10.2.0.2)
#                                 10.3.0.1 p2 --- h2 (10.3.0.2)
#
# The router is routerd (default) with net_tap ports rtr-p0..2, or, with ROUTER_IMPL=linux,
# a Linux network namespace forwarding between veth ports of the same names: the reference
# that proves the traffic assertions of the tests themselves are right. Each host is a
# network namespace whose eth0 is the router port's peer (the TAP itself, or the veth peer).
#
# Usage (from a test):
#   source "$(dirname "$0")/../../scripts/lib/testbed.sh"
#   tb_init                 # temp dir + cleanup trap; skips (77) when not root / no tun
#   tb_start                # router + hosts, waits until every host pings its gateway
#   tb_check "h0 pings h1" tb_ping 0 10.2.0.2 3
#   tb_finish               # exit 0, or 1 when a check failed
#
# Environment:
#   ROUTER_IMPL        routerd (default) | linux
#   ROUTERD_BUILD_DIR  build directory holding app/routerd/routerd (default: build)
#   ROUTERD, ROUTERCTL binaries (default: from ROUTERD_BUILD_DIR)
#   TB_LOG_LEVEL       routerd --log-level (default: info)
#   TB_PREFIX          namespace name prefix (default: rit<PID>)
#   TB_KEEP=1          keep the temp dir (logs, config) after the run
#   TB_EXTRA_TOML      TOML appended to the generated routerd config (e.g. "[fib]...")
#   TB_TELEMETRY=1     leave DPDK telemetry on (socket /var/run/dpdk/rtrit<ID>/dpdk_telemetry.v2)
#   TB_TOP_TOML        top-level keys put before the first section (e.g. metrics_listen = ...)
#   TB_HUGE=1          run routerd in hugepages (reserved by the caller), e.g. for secondary
#                      processes such as dpdk-dumpcap; its map files are removed at cleanup
#   TB_IPV6=1          dual-stack: router ports also get 2001:db8:I+1::1/64 and hosts
#                      2001:db8:I+1::2/64 with a default route to it (otherwise hosts run
#                      without IPv6, so no stray solicitation shows in the counters)
#   TB_FIB6_ROUTES, TB_FIB6_TBL8  [fib6] sizes when no [fib6] is given (16384, 4096)

# --- constants --------------------------------------------------------------------------------
TB_SKIP=77
TB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUTER_IMPL=${ROUTER_IMPL:-routerd}
ROUTERD_BUILD_DIR=${ROUTERD_BUILD_DIR:-build}
case $ROUTERD_BUILD_DIR in /*) ;; *) ROUTERD_BUILD_DIR=$TB_REPO/$ROUTERD_BUILD_DIR ;; esac
ROUTERD=${ROUTERD:-$ROUTERD_BUILD_DIR/app/routerd/routerd}
ROUTERCTL=${ROUTERCTL:-$ROUTERD_BUILD_DIR/app/routerctl/routerctl}
# python3 on PATH may lack scapy (pyenv); Debian's python3-scapy lives under /usr/bin/python3.
TB_PY=${TB_PY:-/usr/bin/python3}
TB_ID=${TB_ID:-$$}
TB_PREFIX=${TB_PREFIX:-rit$TB_ID}
TB_DIR=${TB_DIR:-/tmp/routerd-it.$TB_ID}
TB_SOCK=$TB_DIR/routerd.sock
TB_CONF=$TB_DIR/routerd.toml
TB_LOG=$TB_DIR/routerd.stderr
TB_NPORTS=3
TB_HOSTS=("$TB_PREFIX-h0" "$TB_PREFIX-h1" "$TB_PREFIX-h2")
TB_RTR_NS=$TB_PREFIX-rtr   # linux mode only
TB_ROUTERD_PID=
TB_ROUTERD_RC=
TB_BG_PIDS=()
TB_FAILS=0
TB_CHECKS=0
TB_INITED=0
TB_CLEANUP_HOOKS=()

# Addresses by port index.
tb_router_ip() { echo "10.$(($1 + 1)).0.1"; }
tb_host_ip() { echo "10.$(($1 + 1)).0.2"; }
tb_router_ip6() { echo "2001:db8:$(($1 + 1))::1"; }
tb_host_ip6() { echo "2001:db8:$(($1 + 1))::2"; }
tb_ipv6() { [[ ${TB_IPV6:-0} == 1 ]]; }
tb_port() { echo "p$1"; }
tb_tap() { echo "rtr-p$1"; }

# --- output -----------------------------------------------------------------------------------
tb_say() { printf '%s\n' "$*"; }
tb_info() { printf '  .. %s\n' "$*"; }
tb_step() { printf '\n== %s\n' "$*"; }
# Indents command output as evidence.
tb_indent() { sed 's/^/     | /'; }

tb_skip() {
  tb_say "SKIP: $*"
  exit $TB_SKIP
}
tb_die() {
  tb_say "FAIL: $*"
  exit 1
}
# Records a failed assertion and goes on; tb_finish turns it into exit 1.
tb_fail() {
  TB_FAILS=$((TB_FAILS + 1))
  tb_say "  FAIL: $*"
}
tb_pass() { tb_say "  ok: $*"; }

# tb_check DESC CMD...: runs CMD (which prints its own evidence) and records pass/fail.
tb_check() {
  local desc=$1
  shift
  TB_CHECKS=$((TB_CHECKS + 1))
  tb_say "-- check: $desc"
  if "$@"; then
    tb_pass "$desc"
  else
    tb_fail "$desc"
  fi
}

tb_finish() {
  if ((TB_FAILS > 0)); then
    tb_say ""
    tb_say "RESULT: FAIL ($TB_FAILS of $TB_CHECKS checks failed)"
    exit 1
  fi
  tb_say ""
  tb_say "RESULT: PASS ($TB_CHECKS checks)"
  exit 0
}

# tb_run_capture VAR CMD...: runs CMD with stdout+stderr into $VAR, returns CMD's status.
tb_run_capture() {
  local __var=$1 __out __rc=0
  shift
  __out=$("$@" 2>&1) || __rc=$?
  printf -v "$__var" '%s' "$__out"
  return $__rc
}

# tb_expect_match REGEX CMD...: CMD's combined output must match the extended REGEX (CMD's
# exit status is ignored). Prints the output as evidence on mismatch.
tb_expect_match() {
  local re=$1 out
  shift
  tb_run_capture out "$@" || true
  if grep -Eq -- "$re" <<<"$out"; then
    grep -E -- "$re" <<<"$out" | head -3 | tb_indent
    return 0
  fi
  tb_say "     expected /$re/ in the output of: $*"
  tb_indent <<<"$out"
  return 1
}

# tb_expect_ok CMD...: CMD must exit 0; its output is shown on failure.
tb_expect_ok() {
  local out rc=0
  tb_run_capture out "$@" || rc=$?
  if ((rc == 0)); then return 0; fi
  tb_say "     command failed (exit $rc): $*"
  tb_indent <<<"$out"
  return 1
}

# tb_wait_until TIMEOUT_S CMD...: retries CMD (silently) every 0.2 s until it succeeds.
tb_wait_until() {
  local timeout=$1 deadline
  shift
  deadline=$((SECONDS + timeout))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# --- requirements -----------------------------------------------------------------------------
tb_require_root() { [[ $(id -u) == 0 ]] || tb_skip "needs root (network namespaces)"; }

tb_require_cmds() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || tb_skip "missing command '$c' (run scripts/bootstrap)"
  done
}

tb_require_scapy() {
  [[ -x $TB_PY ]] && "$TB_PY" -c 'import scapy.all' >/dev/null 2>&1 ||
    tb_skip "$TB_PY cannot import scapy (apt-get install python3-scapy)"
}

# Tests of routerd itself (routerctl, counters, config, shutdown) have no Linux reference.
tb_require_routerd_mode() {
  [[ $ROUTER_IMPL == routerd ]] || tb_skip "asserts routerd-specific behaviour (ROUTER_IMPL=$ROUTER_IMPL)"
}

tb_is_routerd() { [[ $ROUTER_IMPL == routerd ]]; }

tb_require_binaries() {
  local b
  for b in "$ROUTERD" "$ROUTERCTL"; do
    # Not a skip: a missing binary means the build is broken or was not run.
    [[ -x $b ]] || tb_die "$b not found (run scripts/build, or set ROUTERD_BUILD_DIR)"
  done
}

# tb_init: common preconditions, temp dir and the cleanup trap. Call first in every test.
tb_init() {
  tb_require_root
  tb_require_cmds ip ping timeout jq sysctl
  case $ROUTER_IMPL in
    routerd)
      [[ -c /dev/net/tun ]] || tb_skip "/dev/net/tun missing (net_tap needs it)"
      tb_require_binaries
      ;;
    linux) ;;
    *) tb_die "ROUTER_IMPL must be routerd or linux, not '$ROUTER_IMPL'" ;;
  esac
  rm -rf "$TB_DIR"
  mkdir -p "$TB_DIR"
  TB_INITED=1
  # The cleanup may run from a signal trap while a redirected command (cmd >file) is in the
  # foreground, with stdout still pointing at that file: keep the real ones to restore.
  exec {TB_STDOUT}>&1 {TB_STDERR}>&2
  trap tb_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  tb_say "testbed: impl=$ROUTER_IMPL prefix=$TB_PREFIX dir=$TB_DIR"
}

# --- cleanup ----------------------------------------------------------------------------------
tb_on_cleanup() { TB_CLEANUP_HOOKS+=("$*"); }

tb_kill_pid() {  # tb_kill_pid PID [grace_s]: TERM, then KILL after the grace period
  local pid=$1 grace=${2:-5} i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

tb_our_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${TB_PREFIX}-" || true
}

tb_cleanup() {
  local rc=$? ns pid h i
  trap - EXIT
  trap '' INT TERM # a second signal must not cut the cleanup short
  set +e
  [[ $TB_INITED == 1 ]] || exit $rc
  exec 1>&"$TB_STDOUT" 2>&"$TB_STDERR"
  for h in "${TB_CLEANUP_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1; done
  for pid in "${TB_BG_PIDS[@]}"; do tb_kill_pid "$pid" 2; done
  if [[ -n $TB_ROUTERD_PID ]]; then
    tb_kill_pid "$TB_ROUTERD_PID" 10
    TB_ROUTERD_PID=
  fi
  # Hugepage files keep their pages reserved after the process is gone.
  if [[ ${TB_HUGE:-0} == 1 ]]; then
    awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts | while read -r m; do
      rm -f "$m/rtrit${TB_ID}"map_* "$m/rtrit${TB_ID}"_* 2>/dev/null
    done
  fi
  # Processes we started inside our namespaces (iperf3 servers, pings, tcpdump).
  for ns in $(tb_our_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ns in $(tb_our_namespaces); do ip netns del "$ns" 2>/dev/null; done
  # Host-side veth ends not yet moved (linux mode) and TAPs a dead routerd left behind.
  for ((i = 0; i < TB_NPORTS; i++)); do
    ip link del "$TB_PREFIX-e$i" 2>/dev/null
  done
  if [[ $rc != 0 && $rc != "$TB_SKIP" && -s $TB_LOG ]]; then
    tb_say ""
    tb_say "--- routerd stderr (last 60 lines of $TB_LOG) ---"
    tail -n 60 "$TB_LOG"
  fi
  if [[ ${TB_KEEP:-0} == 1 ]]; then
    tb_say "kept $TB_DIR"
  else
    rm -rf "$TB_DIR"
  fi
  local left
  left=$(tb_our_namespaces)
  [[ -z $left ]] || tb_say "WARNING: namespaces left behind: $left"
  exit $rc
}

# --- routerd ----------------------------------------------------------------------------------
rctl() { "$ROUTERCTL" -s "$TB_SOCK" "$@"; }
rctl_j() { "$ROUTERCTL" -s "$TB_SOCK" -j "$@"; }

# tb_write_config [FILE] [EXTRA_TOML]: the standard three-port testbed config, plus EXTRA_TOML
# appended verbatim. The worker pauses TB_IDLE_SLEEP_US (500) after 1,000 empty polls: a
# busy-polling worker would hold one of CI's two cores for the whole run, which the sanitizer
# builds beside the tests need; tests of throughput and overload set 0 (busy polling).
tb_write_config() {
  local f=${1:-$TB_CONF} extra=${2:-} i
  {
    [[ -z ${TB_TOP_TOML:-} ]] || printf '%s\n\n' "$TB_TOP_TOML"
    cat <<EOF
[dataplane]
eal = ["-l", "0-1"$([[ ${TB_HUGE:-0} == 1 ]] || printf ', "--no-huge"'), "-m", "2048", "--no-pci", "--file-prefix", "rtrit$TB_ID"$([[ ${TB_TELEMETRY:-0} == 1 ]] || printf ', "--no-telemetry"')]
socket = "$TB_SOCK"
idle_sleep_us = ${TB_IDLE_SLEEP_US:-500}
EOF
    for ((i = 0; i < TB_NPORTS; i++)); do
      cat <<EOF

[[port]]
name = "$(tb_port $i)"
device = "net_tap$i,iface=$(tb_tap $i)"
preset = "tap"
addresses = ["$(tb_router_ip $i)/24"$(tb_ipv6 && printf ', "%s/64"' "$(tb_router_ip6 $i)")]
EOF
    done
    # The IPv6 FIB sized for a few thousand routes unless the test sizes it: the default (room
    # for the full table, 736 MiB in two copies) made each of a run's 50-odd starts take 2.8 s
    # instead of 2.1, faulting in memory no test fills (first touch is slow in this VM).
    [[ $extra$'\n'${TB_EXTRA_TOML:-} == *"[fib6]"* ]] ||
      printf '\n[fib6]\nmax_routes = %s\ntbl8_groups = %s\n' "${TB_FIB6_ROUTES:-16384}" "${TB_FIB6_TBL8:-4096}"
    [[ -z $extra ]] || printf '\n%s\n' "$extra"
    [[ -z ${TB_EXTRA_TOML:-} ]] || printf '\n%s\n' "$TB_EXTRA_TOML"
  } >"$f"
}

tb_routerd_alive() { [[ -n $TB_ROUTERD_PID ]] && kill -0 "$TB_ROUTERD_PID" 2>/dev/null; }

# tb_start_routerd: starts routerd on $TB_CONF (written if absent), waits for its socket, for
# `routerctl link show` and for the TAP interfaces.
tb_start_routerd() {
  local i
  [[ -f $TB_CONF ]] || tb_write_config "$TB_CONF"
  for ((i = 0; i < TB_NPORTS; i++)); do
    ! ip link show "$(tb_tap $i)" >/dev/null 2>&1 ||
      tb_die "interface $(tb_tap $i) already exists (another routerd running?)"
  done
  tb_info "starting $ROUTERD -c $TB_CONF --log-level ${TB_LOG_LEVEL:-info}"
  "$ROUTERD" -c "$TB_CONF" --log-level "${TB_LOG_LEVEL:-info}" \
    >>"$TB_DIR/routerd.stdout" 2>>"$TB_LOG" </dev/null &
  TB_ROUTERD_PID=$!
  local deadline=$((SECONDS + 60))
  until [[ -S $TB_SOCK ]] && rctl link show >/dev/null 2>&1; do
    if ! tb_routerd_alive; then
      TB_ROUTERD_RC=0
      wait "$TB_ROUTERD_PID" || TB_ROUTERD_RC=$?
      TB_ROUTERD_PID=
      tb_die "routerd exited with status $TB_ROUTERD_RC during startup (its stderr follows)"
    fi
    ((SECONDS < deadline)) || tb_die "routerd socket $TB_SOCK not answering after 60 s (stderr follows)"
    sleep 0.2
  done
  for ((i = 0; i < TB_NPORTS; i++)); do
    tb_wait_until 10 ip link show "$(tb_tap $i)" || tb_die "routerd did not create $(tb_tap $i)"
  done
  tb_info "routerd up (pid $TB_ROUTERD_PID)"
}

# tb_stop_routerd [SIGNAL] [TIMEOUT_S]: signals routerd and waits; sets TB_ROUTERD_RC
# (124 when it did not exit in time, after which it is killed).
tb_stop_routerd() {
  local sig=${1:-TERM} timeout=${2:-10} i
  TB_ROUTERD_RC=
  [[ -n $TB_ROUTERD_PID ]] || return 0
  kill -"$sig" "$TB_ROUTERD_PID" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    tb_routerd_alive || break
    sleep 0.1
  done
  if tb_routerd_alive; then
    kill -KILL "$TB_ROUTERD_PID" 2>/dev/null || true
    wait "$TB_ROUTERD_PID" 2>/dev/null || true
    TB_ROUTERD_RC=124
  else
    TB_ROUTERD_RC=0
    wait "$TB_ROUTERD_PID" || TB_ROUTERD_RC=$?
  fi
  TB_ROUTERD_PID=
}

# --- linux reference router -------------------------------------------------------------------
tb_start_linux_router() {
  local i
  ip netns add "$TB_RTR_NS"
  if tb_ipv6; then
    ip netns exec "$TB_RTR_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 \
      net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0 net.ipv6.icmp.ratelimit=0
  else
    ip netns exec "$TB_RTR_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 \
      net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
  ip -n "$TB_RTR_NS" link set lo up
  for ((i = 0; i < TB_NPORTS; i++)); do
    # The router end is created in its namespace; the host end appears in ours under a
    # unique name and is then moved and renamed exactly like a routerd TAP.
    ip link add "$(tb_tap $i)" netns "$TB_RTR_NS" type veth peer name "$TB_PREFIX-e$i"
    ip -n "$TB_RTR_NS" addr add "$(tb_router_ip $i)/24" dev "$(tb_tap $i)"
    ! tb_ipv6 || ip -n "$TB_RTR_NS" addr add "$(tb_router_ip6 $i)/64" dev "$(tb_tap $i)" nodad
    ip -n "$TB_RTR_NS" link set "$(tb_tap $i)" up
  done
  tb_info "linux router namespace $TB_RTR_NS up"
}

# Name of the host-side interface of port i in our namespace before it is moved.
tb_host_side_if() {
  if tb_is_routerd; then tb_tap "$1"; else echo "$TB_PREFIX-e$1"; fi
}

# --- hosts ------------------------------------------------------------------------------------
# hx I CMD...: runs CMD in host namespace I.
hx() {
  local i=$1
  shift
  ip netns exec "${TB_HOSTS[$i]}" "$@"
}

tb_setup_host() {
  local i=$1 ns=${TB_HOSTS[$1]} ifc
  ifc=$(tb_host_side_if "$i")
  ip netns add "$ns"
  if tb_ipv6; then
    # No duplicate address detection: addresses are usable at once. No SLAAC from the
    # router's advertisements either: the test sets the addresses.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_ra=0 \
      net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
  else
    # IPv6 off before the interface arrives, so it never gets a link-local address and stray
    # router/neighbour solicitations stay out of the counters.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1 net.ipv4.icmp_ratelimit=0
  fi
  tb_attach_host "$i"
}

# tb_attach_host I: moves port I's host-side interface into host namespace I as eth0, with
# the host's MAC, addresses and default routes (tb_setup_host; again after a restart of
# routerd, whose TAPs are new interfaces).
tb_attach_host() {
  local i=$1 ns=${TB_HOSTS[$1]} ifc
  ifc=$(tb_host_side_if "$i")
  ip link set "$ifc" netns "$ns"
  ip -n "$ns" link set "$ifc" name eth0
  # The TAP PMD gives the kernel side of the TAP the port's own MAC; a host with its own
  # address keeps `neigh show` and captures unambiguous (02:00:00:00:0I:02).
  ip -n "$ns" link set eth0 address "$(printf '02:00:00:00:%02x:02' "$i")"
  ip -n "$ns" addr add "$(tb_host_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$(tb_router_ip "$i")"
  if tb_ipv6; then
    ip -n "$ns" addr add "$(tb_host_ip6 "$i")/64" dev eth0 nodad
    ip -n "$ns" -6 route add default via "$(tb_router_ip6 "$i")"
  fi
}

# tb_add_macvlan_host I NS MAC ADDR/LEN [LOOPBACK_ADDR]: a second host on port I's segment,
# in namespace NS: a macvlan of host I's interface with ADDR/LEN (and LOOPBACK_ADDR/32 on
# its loopback), default route via the router. A macvlan's parent cannot reach its children
# directly, so host I still has to go through the router to reach it.
tb_add_macvlan_host() {
  local i=$1 ns=$2 mac=$3 addr=$4 lo=${5:-}
  ip netns add "$ns"
  hx "$i" ip link add "mv$i" link eth0 type macvlan mode bridge
  hx "$i" ip link set "mv$i" netns "$ns"
  ip -n "$ns" link set "mv$i" address "$mac"
  ip -n "$ns" addr add "$addr" dev "mv$i"
  ip -n "$ns" link set "mv$i" up
  ip -n "$ns" link set lo up
  [[ -z $lo ]] || ip -n "$ns" addr add "$lo/32" dev lo
  ip -n "$ns" route add default via "$(tb_router_ip "$i")"
}

# tb_add_host_b: 10.1.0.3 on p0's segment, namespace $TB_NS_B, with 10.7.0.1 behind it.
tb_add_host_b() {
  TB_NS_B="$TB_PREFIX-h0b"
  tb_add_macvlan_host 0 "$TB_NS_B" 02:00:00:00:00:03 10.1.0.3/24 10.7.0.1
}

# tb_add_host_b6: tb_add_host_b, dual-stack (needs TB_IPV6=1): 2001:db8:1::3/64 on its
# macvlan, 2001:db8:7::1 on its loopback, default route via 2001:db8:1::1. Waits until its
# link-local address has passed DAD and sets TB_B_LL to it.
tb_add_host_b6() {
  tb_add_host_b
  ip -n "$TB_NS_B" addr add 2001:db8:1::3/64 dev mv0 nodad
  ip -n "$TB_NS_B" addr add 2001:db8:7::1/128 dev lo
  ip -n "$TB_NS_B" -6 route add default via "$(tb_router_ip6 0)"
  b_ll() {
    ip -n "$TB_NS_B" -6 -j addr show dev mv0 scope link |
      jq -r '.[0].addr_info[] | select(.local != null and .scope == "link" and ((.tentative // false) | not)) | .local' | head -n1
  }
  tb_wait_until 5 eval '[[ -n $(b_ll) ]]' || tb_die "h0b has no usable link-local address"
  TB_B_LL=$(b_ll)
}

tb_wait_gateways() {
  local i
  for ((i = 0; i < TB_NPORTS; i++)); do
    tb_wait_until 10 hx "$i" ping -c1 -W1 "$(tb_router_ip "$i")" ||
      tb_die "h$i (${TB_HOSTS[$i]}) cannot ping its gateway $(tb_router_ip "$i") after 10 s"
    ! tb_ipv6 || tb_wait_until 10 hx "$i" ping -6 -c1 -W1 "$(tb_router_ip6 "$i")" ||
      tb_die "h$i (${TB_HOSTS[$i]}) cannot ping its gateway $(tb_router_ip6 "$i") after 10 s"
  done
  tb_info "every host pings its gateway"
}

# tb_start: router (either kind) plus the three hosts, ready for traffic.
tb_start() {
  local i
  if tb_is_routerd; then tb_start_routerd; else tb_start_linux_router; fi
  for ((i = 0; i < TB_NPORTS; i++)); do tb_setup_host "$i"; done
  tb_wait_gateways
}

# tb_restart_routerd: stops routerd (its TAPs go with it) and starts it again on the same
# config, with each host given its new TAP as before.
tb_restart_routerd() {
  local i
  tb_stop_routerd TERM 20
  [[ $TB_ROUTERD_RC == 0 ]] || tb_die "routerd exited with status $TB_ROUTERD_RC on SIGTERM"
  tb_start_routerd
  for ((i = 0; i < TB_NPORTS; i++)); do tb_attach_host "$i"; done
  tb_wait_gateways
}

# tb_bg LOGFILE CMD...: runs CMD in the background (stdout+stderr to LOGFILE); its pid is in
# TB_LAST_PID and it is killed at cleanup. CMD may be a shell function.
tb_bg() {
  local log=$1
  shift
  # Removed here, not truncated by the redirection: the background shell truncates only when
  # it gets to run, and a caller waiting for a line could read the previous run's first.
  # Only a regular file: a caller may hand /dev/null.
  [[ ! -f $log ]] || rm -f "$log"
  "$@" >"$log" 2>&1 </dev/null &
  TB_LAST_PID=$!
  TB_BG_PIDS+=("$TB_LAST_PID")
}

# tb_bg_host LOGFILE I CMD...: like tb_bg, CMD (a program) in host namespace I, its output
# line-buffered so the log can be watched while it runs. `ip netns exec` execs CMD, so
# TB_LAST_PID is CMD's own pid.
tb_bg_host() {
  local log=$1 i=$2
  shift 2
  [[ ! -f $log ]] || rm -f "$log" # see tb_bg
  ip netns exec "${TB_HOSTS[$i]}" stdbuf -oL -eL "$@" >"$log" 2>&1 </dev/null &
  TB_LAST_PID=$!
  TB_BG_PIDS+=("$TB_LAST_PID")
}

# tb_capture LOG HOST PCAP FILTER [TCPDUMP ARGS...]: tcpdump on host HOST's eth0 into PCAP,
# packets written as they come (-U --immediate-mode: otherwise they can reach the file up to
# a second late), started in the background (TB_LAST_PID) and listening when this returns.
tb_capture() {
  local log=$1 host=$2 pcap=$3 filter=$4
  shift 4
  tb_bg_host "$log" "$host" tcpdump -Z root -i eth0 -n -U --immediate-mode -w "$pcap" "$@" "$filter"
  tb_wait_until 10 grep -q 'listening on' "$log" ||
    tb_die "tcpdump on host $host did not start: $(cat "$log")"
}

tb_bg_stop() {  # tb_bg_stop PID: INT (so tools print their summary), then TERM/KILL
  local pid=$1 i
  kill -INT "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tb_kill_pid "$pid" 2
}

# tb_threads_off_workers: true when no thread of routerd but its worker lcores ("rte-worker-N")
# may run on a worker lcore's CPU. A worker busy-polls its CPU: anything else the kernel
# schedules there stalls its queues (a runtime route load's parse did, before the EAL kept
# the threads started ahead of it off those CPUs).
tb_threads_off_workers() {
  /usr/bin/python3 - "$TB_ROUTERD_PID" <<'PY'
import os, sys
pid = sys.argv[1]
threads = {}
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            threads[int(tid)] = (f.read().strip(), os.sched_getaffinity(int(tid)))
    except (FileNotFoundError, ProcessLookupError):
        pass  # it ended meanwhile
workers = set()
for name, cpus in threads.values():
    if name.startswith("rte-worker"):
        workers |= cpus
bad = [f"{name} (thread {tid}, CPUs {sorted(cpus)})" for tid, (name, cpus) in threads.items()
       if not name.startswith("rte-worker") and cpus & workers]
print(f"     {len(threads)} threads; the workers' CPUs {sorted(workers)}; "
      f"others allowed there: {', '.join(bad) or 'none'}")
sys.exit(1 if bad or not workers else 0)
PY
}

# --- traffic helpers --------------------------------------------------------------------------
# tb_ping I DST [COUNT]: ping from host I; 0% loss required. Prints the summary as evidence.
tb_ping() {
  local i=$1 dst=$2 n=${3:-5} out rc=0
  tb_run_capture out hx "$i" ping -n -c "$n" -i 0.2 -W 2 "$dst" || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    grep -E 'packet loss|rtt' <<<"$out" | tb_indent
    return 0
  fi
  tb_say "     h$i ping $dst (exit $rc):"
  tb_indent <<<"$out"
  return 1
}

# tb_loss_counted OUT BEFORE AFTER: ping's output OUT lost nothing, or routerd counted every
# lost packet as tx_full between the stats files BEFORE and AFTER: a TAP queue the kernel does
# not drain in time (CI saturates both cores) is overload, dropped and counted by design, not
# a forwarding fault. Loss routerd did not count fails. The Linux reference needs 0%.
tb_loss_counted() {
  local out=$1 before=$2 after=$3 sent got lost full=0
  sent=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
  got=$(sed -nE 's/.* ([0-9]+) received.*/\1/p' <<<"$out")
  [[ -n $sent && -n $got ]] || { tb_indent <<<"$out"; return 1; }
  lost=$((sent - got))
  ((lost == 0)) && return 0
  tb_is_routerd && full=$(tb_stat_delta "$before" "$after" .drops.tx_full)
  tb_say "     $lost lost; routerd counted tx_full +$full meanwhile"
  ((full >= lost))
}

# tb_flood_ping I DST COUNT: COUNT pings at 100/s from host I, judged by tb_loss_counted.
tb_flood_ping() {
  local i=$1 dst=$2 n=$3 out rc=0
  local before=$TB_DIR/flood-before.json after=$TB_DIR/flood-after.json
  tb_is_routerd && tb_stats "$before"
  tb_run_capture out hx "$i" ping -n -q -c "$n" -i 0.01 -W 2 "$dst" || rc=$?
  tb_is_routerd && tb_stats "$after"
  grep -E 'packet loss' <<<"$out" | tb_indent
  tb_loss_counted "$out" "$before" "$after"
}

# tb_router_mac I: MAC address of router port I, as hosts see it.
tb_router_mac() {
  if tb_is_routerd; then
    rctl_j link show "$(tb_port "$1")" | jq -r '.[0].mac'
  else
    ip -n "$TB_RTR_NS" -j link show "$(tb_tap "$1")" | jq -r '.[0].address'
  fi
}

# --- routerd counters -------------------------------------------------------------------------
# tb_stats FILE: saves `routerctl -j stats` into FILE.
# tb_route_is PREFIX JQ: waits up to 10 s for routerd's route for PREFIX (either family) to
# satisfy the jq expression JQ; tb_no_route PREFIX: for routerd to have no route for it.
tb_route_is() {
  local fam=-4
  [[ $1 == *:* ]] && fam=-6
  tb_wait_until 10 eval "rctl_j $fam route show | jq -e --arg p '$1' '.[] | select(.prefix == \$p) | $2' >/dev/null"
}
tb_no_route() {
  local fam=-4
  [[ $1 == *:* ]] && fam=-6
  tb_wait_until 10 eval "! rctl_j $fam route show | jq -e --arg p '$1' '.[] | select(.prefix == \$p)' >/dev/null"
}
tb_stats() { rctl_j stats >"$1"; }
# tb_stat FILE JQ-PATH: one number from a saved stats file (0 when absent).
tb_stat() { jq -r "($2) // 0" "$1"; }
# tb_stat_delta BEFORE AFTER JQ-PATH
tb_stat_delta() { echo $(($(tb_stat "$2" "$3") - $(tb_stat "$1" "$3"))); }
# tb_stat_rose BEFORE AFTER MIN JQ-PATH...: every counter JQ-PATH rose by at least MIN between
# two saved stats files. Prints each rise as evidence (all of them, also after a shortfall).
tb_stat_rose() {
  local before=$1 after=$2 min=$3 path d rc=0
  shift 3
  for path in "$@"; do
    d=$(tb_stat_delta "$before" "$after" "$path")
    tb_say "     ${path#.} rose by $d (expected >= $min)"
    ((d >= min)) || rc=1
  done
  return $rc
}
