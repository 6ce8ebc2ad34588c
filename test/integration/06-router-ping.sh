#!/usr/bin/env bash
# 06-router-ping: the router answers echo requests on each of its addresses, from the
# directly attached host and across the router, including echoes larger than the MTU.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_start

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
tb_check "h0 pings 10.1.0.1 (its own side)" tb_ping 0 10.1.0.1 5
tb_check "h0 pings 10.2.0.1 (across the router)" tb_ping 0 10.2.0.1 5
tb_check "h0 pings 10.3.0.1 (across the router)" tb_ping 0 10.3.0.1 5
tb_check "h1 pings 10.2.0.1" tb_ping 1 10.2.0.1 3
tb_check "h2 pings 10.3.0.1" tb_ping 2 10.3.0.1 3
tb_check "h2 pings 10.1.0.1 (across the router)" tb_ping 2 10.1.0.1 3
tb_check "h0: 1400-byte echo to 10.2.0.1" \
  tb_expect_match ' 0% packet loss' hx 0 ping -n -c2 -i 0.2 -W 2 -s 1400 10.2.0.1
# Echoes larger than the MTU arrive in fragments; the replies must leave in fragments too
# (1600: the reply fits one pool buffer; 3000 and 8000: it does not).
for size in 1600 3000 8000; do
  tb_check "h0: $size-byte echo to 10.1.0.1, fragmented both ways" \
    tb_expect_match ' 0% packet loss' hx 0 ping -n -c2 -i 0.2 -W 2 -s $size 10.1.0.1
done
tb_check "h0: 3000-byte echo to 10.3.0.1 (across the router)" \
  tb_expect_match ' 0% packet loss' hx 0 ping -n -c2 -i 0.2 -W 2 -s 3000 10.3.0.1
if tb_is_routerd; then
  tb_stats "$TB_DIR/after.json"
  tb_check "events.icmp_echo_reply_sent counts the replies" \
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 34 .events.icmp_echo_reply_sent
fi
tb_finish
