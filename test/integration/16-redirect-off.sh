#!/usr/bin/env bash
# 16-redirect-off: with ipv4.send_redirects = false, a packet that leaves by its input port
# is forwarded and no redirect is sent.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_require_routerd_mode
TB_EXTRA_TOML=$'[ipv4]\nsend_redirects = false'
tb_start
tb_add_host_b
rctl route add 10.7.0.0/16 via 10.1.0.3

check_no_redirect() {
  local before after out
  before=$(ip -n "$TB_NS_B" -j -s link show mv0 | jq '.[0].stats64.rx.packets')
  out=$(hx 0 ping -n -c2 -W 1 10.7.0.1 2>&1 || true)
  tb_indent <<<"$out"
  after=$(ip -n "$TB_NS_B" -j -s link show mv0 | jq '.[0].stats64.rx.packets')
  tb_say "     packets received by 10.1.0.3: $before -> $after"
  ! grep -q 'Redirect' <<<"$out" || return 1
  (($(rctl_j stats | jq '.events.icmp_redirect_sent') == 0)) || return 1
  ((after >= before + 2))
}
tb_check "send_redirects = false: forwarded back out p0, no redirect" check_no_redirect
tb_finish
