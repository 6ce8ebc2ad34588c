#!/usr/bin/env bash
# gre_peer_check.sh: the self-check of gre_peer.py, the userspace GRE end of test 49, without
# routerd: two instances in namespaces A and B joined by a veth pair (192.0.2.1 - 192.0.2.2),
# inner 10.99.0.1/30 - 10.99.0.2/30 and fd00:99::1/64 - fd00:99::2/64.
#   plain GRE: ping and iperf3 both ways, IPv4 and IPv6 inner; tcpdump's decoder reads the
#     frames as GREv0 without flags, protocol IPv4 / IPv6, the inner ICMP intact;
#   key 0x2a, checksum and sequence numbers: ping both families; tcpdump reads the flags, the
#     key and the sequence numbers, and scapy recomputes every captured checksum to the same
#     value (two other implementations of the wire format agree with this one);
#   a wrong key and a wrong checksum: nothing gets through, and the receiver counts each.
# Not one of the numbered tests (it tests the test tool); about 30 s. Run as root:
#   test/integration/gre_peer_check.sh
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
export ROUTER_IMPL=linux # no routerd here: tb_init only needs root, and cleans our namespaces up
tb_init
tb_require_cmds tcpdump iperf3
tb_require_scapy
PEER=("$TB_PY" "$(cd "$(dirname "$0")" && pwd)/gre_peer.py")
A=$TB_PREFIX-a B=$TB_PREFIX-b VA=$TB_PREFIX-va VB=$TB_PREFIX-vb
for ns in "$A" "$B"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
done
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev "$VA"
ip -n "$B" addr add 192.0.2.2/24 dev "$VB"
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up
nx() {  # nx a|b CMD...: CMD in namespace A or B
  local ns=$A
  [[ $1 == b ]] && ns=$B
  shift
  ip netns exec "$ns" "$@"
}

PID_A='' PID_B=
# peers ARGS_A -- ARGS_B: (re)starts both ends with the extra options given to each.
peers() {
  local a=() b=()
  while (($#)) && [[ $1 != -- ]]; do a+=("$1"); shift; done
  shift
  b=("$@")
  [[ -z $PID_A ]] || tb_kill_pid "$PID_A" 3
  [[ -z $PID_B ]] || tb_kill_pid "$PID_B" 3
  rm -f "$TB_DIR"/peer-[ab].{json,log}
  # ip netns exec execs the program, so $! is the peer itself (a function would add a subshell).
  ip netns exec "$A" stdbuf -oL "${PEER[@]}" --local 192.0.2.1 --remote 192.0.2.2 --addr 10.99.0.1/30 \
    --addr fd00:99::1/64 --stats "$TB_DIR/peer-a.json" "${a[@]}" >"$TB_DIR/peer-a.log" 2>&1 &
  PID_A=$!
  TB_BG_PIDS+=("$PID_A")
  ip netns exec "$B" stdbuf -oL "${PEER[@]}" --local 192.0.2.2 --remote 192.0.2.1 --addr 10.99.0.2/30 \
    --addr fd00:99::2/64 --stats "$TB_DIR/peer-b.json" "${b[@]}" >"$TB_DIR/peer-b.log" 2>&1 &
  PID_B=$!
  TB_BG_PIDS+=("$PID_B")
  tb_wait_until 10 grep -q '^ready' "$TB_DIR/peer-a.log" || tb_die "peer A did not start: $(cat "$TB_DIR/peer-a.log")"
  tb_wait_until 10 grep -q '^ready' "$TB_DIR/peer-b.log" || tb_die "peer B did not start: $(cat "$TB_DIR/peer-b.log")"
}
# counter a|b NAME: one counter from a peer's stats file.
counter() { jq -r ".$2" "$TB_DIR/peer-$1.json"; }

ping_ok() {  # ping_ok a|b DST: 5 pings, none lost
  local out rc=0
  out=$(nx "$1" ping -n -c5 -i0.2 -W2 "$2" 2>&1) || rc=$?
  grep -E 'packet loss' <<<"$out" | tb_indent
  ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"
}
ping_none() {  # ping_none a|b DST: 5 pings, every one lost
  local out
  out=$(nx "$1" ping -n -c5 -i0.2 -W1 "$2" 2>&1) || true
  grep -E 'packet loss' <<<"$out" | tb_indent
  grep -q ' 100% packet loss' <<<"$out"
}
iperf_ok() {  # iperf_ok DST [-R]: a 2 s TCP stream from A to B's DST (-R: B to A), > 1 Mbit/s
  local dst=$1 out bps
  shift
  nx b iperf3 -s -1 -D -B "$dst" -I "$TB_DIR/iperf3.pid"
  tb_wait_until 5 eval "nx b ss -ltn | grep -q ':5201'"
  out=$(nx a timeout 30 iperf3 -c "$dst" -t 2 -J "$@" 2>&1) || {
    tb_indent <<<"$out" | tail -5
    return 1
  }
  bps=$(jq -r '.end.sum_received.bits_per_second' <<<"$out")
  tb_say "     $(awk -v b="$bps" 'BEGIN {printf "%.0f", b / 1e6}') Mbit/s received, $(jq -r '.end.sum_sent.retransmits' <<<"$out") retransmits"
  awk -v b="$bps" 'BEGIN {exit !(b > 1e6)}'
}
CAP_PID=
capture_start() {  # captures GRE on B's veth into $TB_DIR/gre.pcap
  rm -f "$TB_DIR/gre.pcap" "$TB_DIR/tcpdump.log"
  ip netns exec "$B" tcpdump -n -U --immediate-mode -i "$VB" -w "$TB_DIR/gre.pcap" proto gre >"$TB_DIR/tcpdump.log" 2>&1 &
  CAP_PID=$!
  TB_BG_PIDS+=("$CAP_PID")
  tb_wait_until 5 grep -q 'listening on' "$TB_DIR/tcpdump.log" || tb_die "tcpdump did not start"
}
capture_stop() {
  sleep 0.5
  tb_bg_stop "$CAP_PID"
  tcpdump -v -n -r "$TB_DIR/gre.pcap" >"$TB_DIR/gre.txt" 2>/dev/null
}
decoded() {  # decoded REGEX [MIN]: at least MIN (1) lines of tcpdump's decoding match REGEX
  local n
  n=$(grep -Ec -- "$1" "$TB_DIR/gre.txt" || true)
  grep -E -m2 -- "$1" "$TB_DIR/gre.txt" | tb_indent
  tb_say "     $n lines match"
  ((n >= ${2:-1}))
}

tb_step "plain GRE (no key, no checksum)"
peers --
tb_check "TUN MTU 1476 (1500 - 24)" eval "nx a ip link show gre0p | grep -q 'mtu 1476'"
capture_start
tb_check "A -> B 10.99.0.2: ping" ping_ok a 10.99.0.2
tb_check "B -> A fd00:99::1: ping" ping_ok b fd00:99::1
capture_stop
# tcpdump -v prints the outer IPv4 header, the GRE header, then decodes the inner packet by
# the GRE protocol type: an inner "IP (" is 0x0800, "IP6 (" is 0x86DD.
inner_after_gre() {  # inner_after_gre REGEX N: N GREv0 lines whose next two lines match REGEX
  local out n
  out=$(awk -v re="$1" '
    /GREv0, Flags \[none\], length/ { g = NR; gl = $0; next }
    g && NR <= g + 2 && $0 ~ re { if (!n++) { print gl; print } g = 0 }
    END { print n + 0 }' "$TB_DIR/gre.txt")
  n=$(tail -n1 <<<"$out")
  head -n -1 <<<"$out" | tb_indent
  tb_say "     $n GRE frames carry /$1/"
  ((n >= $2))
}
tb_check "tcpdump: 'GREv0, Flags [none]', inner IPv4 echo requests 10.99.0.1 > 10.99.0.2 (5)" \
  inner_after_gre '10\.99\.0\.1 > 10\.99\.0\.2: ICMP echo request' 5
tb_check "tcpdump: inner IPv4 echo replies 10.99.0.2 > 10.99.0.1 (5)" \
  inner_after_gre '10\.99\.0\.2 > 10\.99\.0\.1: ICMP echo reply' 5
tb_check "tcpdump: inner IP6 echo requests fd00:99::2 > fd00:99::1, icmp6 sum ok (5)" \
  inner_after_gre 'fd00:99::2 > fd00:99::1: \[icmp6 sum ok\] ICMP6, echo request' 5
tb_check "tcpdump: the outer header is IPv4 proto GRE (47) between 192.0.2.1 and 192.0.2.2" \
  eval "decoded 'proto GRE \(47\)' 20 && decoded '192\.0\.2\.1 > 192\.0\.2\.2: GREv0' 10"
tb_check "iperf3 A -> B 10.99.0.2" iperf_ok 10.99.0.2
tb_check "iperf3 B -> A over IPv6 (-R, fd00:99::2)" iperf_ok fd00:99::2 -R
tb_check "no refusal counted at either end" \
  eval 'for p in a b; do jq -c "with_entries(select(.key | test(\"^rx_(bad|short|no_|not_)\")))" "$TB_DIR/peer-$p.json" | tb_indent; jq -e "[to_entries[] | select(.key | test(\"^rx_(bad|short|no_|not_)\")) | .value] | add == 0" "$TB_DIR/peer-$p.json" >/dev/null || return 1; done'

tb_step "key 0x2a, checksum, sequence numbers"
peers --key 42 --csum --seq -- --key 42 --csum --seq --require-csum
tb_check "TUN MTU 1464 (1500 - 36)" eval "nx b ip link show gre0p | grep -q 'mtu 1464'"
capture_start
tb_check "A -> B 10.99.0.2: ping" ping_ok a 10.99.0.2
tb_check "A -> B fd00:99::2: ping" ping_ok a fd00:99::2
capture_stop
tb_check "tcpdump: 'Flags [checksum present, key present, sequence# present]', key=0x2a, seq" \
  decoded 'GREv0, Flags \[checksum present, key present, sequence# present\], sum 0x[0-9a-f]+, off 0x0, key=0x2a, seq [0-9]+, length' 20
scapy_csum() {  # scapy rebuilds each captured GRE checksum; all must equal what was sent
  "$TB_PY" - "$TB_DIR/gre.pcap" <<'EOF' | tb_indent
import sys
from scapy.all import rdpcap, GRE, IP
ok = bad = 0
for p in rdpcap(sys.argv[1]):
    g = p[GRE]
    sent = g.chksum
    g2 = GRE(bytes(g))
    g2.chksum = None  # scapy recomputes it in post_build
    if GRE(bytes(g2)).chksum == sent and g.key == 42 and g.chksum_present and g.seqnum_present:
        ok += 1
    else:
        bad += 1
print(f"{ok} checksums as scapy computes them, {bad} not")
sys.exit(0 if ok >= 20 and bad == 0 else 1)
EOF
}
tb_check "scapy: every captured GRE checksum is the one scapy computes; key 42" scapy_csum
tb_check "sequence numbers in order, checksums verified (B: rx_csum_present = rx_packets)" \
  eval '[[ $(counter b rx_seq_out_of_order) == 0 && $(counter b rx_csum_present) -ge 10 &&
    $(counter b rx_bad_csum) == 0 ]] && jq -c "{rx_packets, rx_csum_present, rx_seq_present, rx_seq_out_of_order}" "$TB_DIR/peer-b.json" | tb_indent'

tb_step "wrong key, wrong checksum"
peers --send-key 43 --recv-key 42 -- --key 42
tb_check "A sends key 43 to B, which requires 42: no ping through" ping_none a 10.99.0.2
tb_check "B counted each as rx_bad_key (>= 5), decapsulated none" \
  eval 'sleep 0.3; jq -c "{rx_packets, rx_bad_key}" "$TB_DIR/peer-b.json" | tb_indent; (($(counter b rx_bad_key) >= 5 && $(counter b rx_packets) == 0))'
peers --corrupt-csum --
tb_check "A sends wrong checksums: no ping through" ping_none a 10.99.0.2
tb_check "B counted each as rx_bad_csum (>= 5), decapsulated none" \
  eval 'sleep 0.3; jq -c "{rx_packets, rx_bad_csum}" "$TB_DIR/peer-b.json" | tb_indent; (($(counter b rx_bad_csum) >= 5 && $(counter b rx_packets) == 0))'
peers -- --key 42
tb_check "A sends no key to B, which requires 42: counted as rx_bad_key" \
  eval 'ping_none a 10.99.0.2; sleep 0.3; (($(counter b rx_bad_key) >= 5))'
tb_finish
