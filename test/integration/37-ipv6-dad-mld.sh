#!/usr/bin/env bash
# 37-ipv6-dad-mld: DAD as RFC 4862 5.4 has it, and MLD Reports (RFC 3810) for the groups the
# router listens on (issue 14). With ipv6.dad_transmits = 4 an address stays tentative about
# 4 s, long enough to probe it from a host: an NS for it from a unicast source gets no NA
# until DAD is over, and then one. h0 sees the router's MLDv2 Reports (to ff02::16, hop
# limit 1, Router Alert, from its link-local address) join the new address's solicited-node
# group twice, answer a General Query within its delay, and leave the group on `addr del`.
# routerd only (Linux's MLD is the kernel's).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
tb_require_scapy
export TB_IPV6=1
tb_write_config "$TB_CONF" "[ipv6]
dad_transmits = 4"
tb_start

MLD=("$TB_PY" "$TB_REPO/test/integration/mld6.py")
RMAC=$(tb_router_mac 0)
RLL=$(rctl_j -6 addr show dev p0 | jq -r '.[0].addresses[] | select(startswith("fe80:"))' | cut -d/ -f1)
NEW=2001:db8:1::ab:cdef
GROUP=ff02::1:ffab:cdef
none_tentative() { rctl_j addr show | jq -e 'all(.[]; has("tentative") | not)' >/dev/null; }
tb_wait_until 15 none_tentative || tb_die "the router's addresses are still tentative after 15 s"

tb_stats "$TB_DIR/s0"
tb_check "routerd reported its groups at start: mld_reports_sent >= 2 per port" \
  eval "(( \$(tb_stat '$TB_DIR/s0' .events.mld_reports_sent) >= 2 * TB_NPORTS ))"

# --- a new address: reports before its probes, and no NA while it is tentative
REP=$TB_DIR/reports.jsonl
tb_bg_host "$REP" 0 "${MLD[@]}" reports --iface eth0 --mac "$RMAC" --seconds 30
REP_PID=$TB_LAST_PID
tb_wait_until 15 grep -q '^listening' "$REP" || tb_die "the MLD listener did not start: $(cat "$REP")"
sleep 1  # scapy's sniff is set up a moment after it says so

rctl addr add "$NEW/64" dev p0
tentative_new() { rctl_j addr show dev p0 | jq -e --arg a "$NEW/64" '.[0].tentative | index($a)' >/dev/null; }
check_no_na() {
  local n
  n=$(hx 0 "${MLD[@]}" ns --iface eth0 --src 2001:db8:1::2 --target "$NEW" --wait 1.5)
  tb_say "     NAs for $NEW while it is tentative: $n"
  tentative_new || { tb_say "     (DAD was over before the check ended)"; return 1; }
  [[ $n == 0 ]]
}
tb_check "an NS from h0 (unicast source) for $NEW, tentative, gets no NA" check_no_na
tb_check "addr show marks it tentative meanwhile" tentative_new
tb_wait_until 10 eval '! tentative_new' || tb_die "$NEW still tentative after 10 s"
check_na() {
  local n
  n=$(hx 0 "${MLD[@]}" ns --iface eth0 --src 2001:db8:1::2 --target "$NEW" --wait 1.5)
  tb_say "     NAs for $NEW once assigned: $n"
  ((n >= 1))
}
tb_check "once DAD is over the same NS is answered" check_na

# --- a General Query from h0 is answered within its Maximum Response Delay (1 s)
tb_stats "$TB_DIR/s1"
hx 0 "${MLD[@]}" query --iface eth0 --delay-ms 1000
tb_wait_until 5 eval "(( \$(rctl_j stats | jq .events.mld_queries_received) > \$(tb_stat '$TB_DIR/s1' .events.mld_queries_received) ))" || true
sleep 2
rctl addr del "$NEW/64" dev p0
sleep 3
tb_bg_stop "$REP_PID"
tb_stats "$TB_DIR/s2"
tb_say "     the router's MLD messages seen at h0:"
grep '^{' "$REP" | tb_indent || true

check_format() {
  # Every report: MLDv2 to ff02::16, hop limit 1, Router Alert, checksum right, from the
  # router's link-local address (assigned by now), never about ff02::1.
  grep '^{' "$REP" | jq -se --arg ll "$RLL" 'length > 0 and all(.[];
    .type == 143 and .dst == "ff02::16" and .hlim == 1 and .router_alert and .checksum_ok
    and .src == $ll and all(.records[]; .group != "ff02::1"))' >/dev/null
}
tb_check "every Report is MLDv2 to ff02::16, hop limit 1, Router Alert, from $RLL, valid checksum" \
  check_format
count_records() {  # count_records TYPE GROUP
  grep '^{' "$REP" | jq -s --argjson t "$1" --arg g "$2" '[.[].records[] | select(.type == $t and .group == $g)] | length'
}
tb_check "the join of $GROUP (CHANGE_TO_EXCLUDE) was sent twice (Robustness Variable 2)" \
  eval "(( \$(count_records 4 $GROUP) == 2 ))"
check_answer() {
  local n
  n=$(grep '^{' "$REP" | jq -s '[.[] | select(any(.records[]; .type == 2 and .group == "ff02::1:ff00:1")) | select(any(.records[]; .type == 2 and .group == "ff02::2"))] | length')
  tb_say "     reports with the current state (MODE_IS_EXCLUDE) of ff02::2 and ff02::1:ff00:1: $n"
  ((n == 1))
}
tb_check "the General Query got one Report of the current state" check_answer
tb_check "mld_queries_received counts the Query" \
  tb_stat_rose "$TB_DIR/s1" "$TB_DIR/s2" 1 '.events.mld_queries_received'
tb_check "the leave of $GROUP (CHANGE_TO_INCLUDE) after addr del was sent twice" \
  eval "(( \$(count_records 3 $GROUP) == 2 ))"
tb_check "mld_reports_sent counts what h0 saw on p0 (and the other ports' reports)" \
  eval "(( \$(tb_stat '$TB_DIR/s2' .events.mld_reports_sent) - \$(tb_stat '$TB_DIR/s0' .events.mld_reports_sent) >= \$(grep -c '^{' '$REP') ))"
tb_check "routerd metrics show the MLD counters" \
  tb_expect_match 'mld_reports_sent' rctl stats
tb_finish
