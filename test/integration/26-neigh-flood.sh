#!/usr/bin/env bash
# 26-neigh-flood: a host scanning absent addresses of a connected /16 costs routerd a bounded
# share of its mbufs, neighbour table and ARP requests (issue 13, defect 2), and traffic
# between two other hosts goes on without loss meanwhile. Also: ARP requests from strangers
# for the router's address create no neighbour (defect 3).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_scapy
tb_start

# The scanned subnet: a /16 on p2, where h2 (10.3.0.2) also lives.
rctl addr add 10.50.0.1/16 dev p2
RMAC=$(tb_router_mac 0)
# h1 <-> h2 resolved before the scan, as live hosts are.
tb_ping 1 10.3.0.2 2 >/dev/null || tb_die "h1 cannot ping h2 before the scan"

nombuf() { jq '[.ports[].hw.rx_nombuf // 0] | add' "$1"; }

tb_step "h0 sends 20,000 packets to 2,500 absent addresses of 10.50.0.0/16 while h1 pings h2"
tb_stats "$TB_DIR/s0.json"
tb_bg_host "$TB_DIR/ping.log" 1 ping -n -i 0.05 -c 80 -W 1 10.3.0.2
PING_PID=$TB_LAST_PID
sleep 0.5
# Frames built by scapy, sent through a raw socket (scapy's own send loop is too slow to
# be a scan): 8 rounds over the 2,500 addresses.
hx 0 "$TB_PY" - "$RMAC" <<'PY' >"$TB_DIR/scan.log" 2>&1 || tb_die "the scan failed: $(cat "$TB_DIR/scan.log")"
import socket, sys, time
from scapy.all import Ether, IP, UDP, get_if_hwaddr
rmac = sys.argv[1]
src = get_if_hwaddr("eth0")
frames = []
for rnd in range(8):
    for i in range(2500):
        dst = "10.50.%d.%d" % (1 + i // 250, 1 + i % 250)
        frames.append(bytes(Ether(src=src, dst=rmac) / IP(src="10.1.0.2", dst=dst) /
                            UDP(sport=40000 + rnd, dport=9) / (b"x" * 18)))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
t0 = time.time()
sent = 0
for f in frames:
    while True:
        try:
            s.send(f)
            sent += 1
            break
        except BlockingIOError:
            time.sleep(0.0001)
        except OSError:  # ENOBUFS: the TAP queue is full; that packet is lost
            break
print("sent %d frames in %.2f s" % (sent, time.time() - t0))
PY
tb_info "$(cat "$TB_DIR/scan.log")"
sleep 1
tb_stats "$TB_DIR/s1.json"
wait "$PING_PID" 2>/dev/null || true
tb_check "h1 -> h2: no ping lost during the scan" \
  bash -c "grep -E 'packet loss|rtt' '$TB_DIR/ping.log' | sed 's/^/     | /'; grep -q ' 0% packet loss' '$TB_DIR/ping.log'"

check_bounded() {
  local s0=$TB_DIR/s0.json s1=$TB_DIR/s1.json q n
  q=$(tb_stat "$s1" .neighbour_queued)
  n=$(tb_stat "$s1" .neighbours)
  tb_say "     neighbours $n (max_unresolved 256 + h0, h1, h2), packets waiting for ARP $q (queue_total 1024)"
  tb_say "     rx_nombuf $(nombuf "$s0") -> $(nombuf "$s1")"
  for c in neighbour_rate_limited neighbour_evicted neighbour_queue_full neighbour_queue_overflow; do
    tb_say "     drops.$c +$(tb_stat_delta "$s0" "$s1" ".drops.$c")"
  done
  tb_say "     events.neighbour_evictions +$(tb_stat_delta "$s0" "$s1" .events.neighbour_evictions)"
  tb_say "     events.arp_request_sent +$(tb_stat_delta "$s0" "$s1" .events.arp_request_sent)"
  ((q <= 1024)) && ((n <= 256 + 3)) && (($(nombuf "$s1") == $(nombuf "$s0"))) &&
    (($(tb_stat_delta "$s0" "$s1" .drops.neighbour_evicted) + $(tb_stat_delta "$s0" "$s1" \
      .drops.neighbour_rate_limited) > 0)) &&
    (($(tb_stat_delta "$s0" "$s1" .events.neighbour_evictions) > 0))
}
tb_check "the scan held a bounded share: neighbours, queued packets; no rx_nombuf; drops counted" \
  check_bounded
tb_check "h0 -> h2 still forwarded after the scan" tb_ping 0 10.3.0.2 3

tb_step "ARP requests for the router from 500 strangers on p2's /16"
tb_stats "$TB_DIR/s2.json"
hx 2 "$TB_PY" - <<'PY' >"$TB_DIR/arp.log" 2>&1 || tb_die "the ARP flood failed: $(cat "$TB_DIR/arp.log")"
import socket
from scapy.all import ARP, Ether
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for i in range(500):
    mac = "02:5c:00:00:%02x:%02x" % (i >> 8, i & 0xff)
    s.send(bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") /
                 ARP(op=1, hwsrc=mac, psrc="10.50.%d.%d" % (200 + i // 250, 1 + i % 250),
                     pdst="10.50.0.1")))
PY
sleep 1
tb_stats "$TB_DIR/s3.json"
check_strangers() {
  local s2=$TB_DIR/s2.json s3=$TB_DIR/s3.json strangers
  strangers=$(rctl_j neigh show | jq '[.[] | select(.dst | startswith("10.50.20"))] | length')
  tb_say "     arp_reply_sent +$(tb_stat_delta "$s2" "$s3" .events.arp_reply_sent), neighbours from the strangers: $strangers, generation +$(tb_stat_delta "$s2" "$s3" .generation)"
  ((strangers == 0)) && (($(tb_stat_delta "$s2" "$s3" .events.arp_reply_sent) >= 400)) &&
    (($(tb_stat_delta "$s2" "$s3" .generation) == 0))
}
tb_check "answered, but no neighbour entry and no generation bump for them" check_strangers

tb_finish
