#!/usr/bin/env bash
# 03-ttl-exceeded: a transit packet with TTL 1 gets ICMP Time Exceeded from the ingress
# port's address; routerd counts it.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_start

if tb_is_routerd; then tb_stats "$TB_DIR/before.json"; fi
tb_check "ping -c1 -t 1 10.2.0.2 from h0: Time to live exceeded from 10.1.0.1" \
  tb_expect_match '^From 10\.1\.0\.1( icmp_seq=1)? Time to live exceeded' \
  hx 0 ping -n -c1 -t 1 -W 2 10.2.0.2
tb_check "ping -c3 -t 2 10.2.0.2 from h0 (TTL 2 is enough): 0% loss" \
  tb_expect_match ' 0% packet loss' hx 0 ping -n -c3 -i 0.2 -t 2 -W 2 10.2.0.2

if tb_is_routerd; then
  tb_stats "$TB_DIR/after.json"
  tb_check "events.icmp_time_exceeded_sent and drops.ttl_exceeded rose" \
    tb_stat_rose "$TB_DIR/before.json" "$TB_DIR/after.json" 1 \
    .events.icmp_time_exceeded_sent .drops.ttl_exceeded
else
  tb_info "counter checks skipped (ROUTER_IMPL=$ROUTER_IMPL)"
fi
tb_finish
