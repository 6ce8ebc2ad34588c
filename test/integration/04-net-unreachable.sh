#!/usr/bin/env bash
# 04-net-unreachable: a destination with no route gets ICMP Net Unreachable from the ingress
# port's address; routerd counts the drop and the ICMP error.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_start

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
tb_check "ping -c1 10.99.0.1 from h0: Destination Net Unreachable from 10.1.0.1" \
  tb_expect_match '^From 10\.1\.0\.1( icmp_seq=1)? Destination Net Unreachable' \
  hx 0 ping -n -c1 -W 2 10.99.0.1
tb_check "ping -c1 192.0.2.1 from h2: Destination Net Unreachable from 10.3.0.1" \
  tb_expect_match '^From 10\.3\.0\.1( icmp_seq=1)? Destination Net Unreachable' \
  hx 2 ping -n -c1 -W 2 192.0.2.1

if tb_is_routerd; then
  tb_stats "$TB_DIR/after.json"
  tb_check "drops.no_route and events.icmp_net_unreachable_sent rose by >= 2" \
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 2 \
    .drops.no_route .events.icmp_net_unreachable_sent
else
  tb_info "counter checks skipped (ROUTER_IMPL=$ROUTER_IMPL)"
fi
tb_finish
