#!/usr/bin/env bash
# 23-nic-presets: the NIC presets start on a device that lacks most of what they ask for
# (TAP): each missing offload or RSS setting is dropped with a log line, never a failure,
# and the router forwards.
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_require_routerd_mode
tb_init
tb_write_config "$TB_CONF"
# p0 mlx5, p1 i40e, p2 vmxnet3 instead of tap.
awk 'BEGIN { n = 0; split("mlx5 i40e vmxnet3", p, " ") }
     /^preset = "tap"$/ { print "preset = \"" p[++n] "\""; next } { print }' "$TB_CONF" >"$TB_CONF.new"
mv "$TB_CONF.new" "$TB_CONF"
grep '^preset' "$TB_CONF" | tb_indent
tb_start

dropped_logged() {
  grep -E 'offload .* not supported by the device, not used' "$TB_LOG" | sed 's/^[0-9-]* [0-9:.]* //' | tb_indent
  grep -q "port p0: rx offload 'rss_hash' not supported by the device, not used" "$TB_LOG"
}
tb_check "offloads TAP lacks are logged and dropped" dropped_logged
tb_check "no port failed to start" bash -c "! grep -Eq 'critical|cannot start' $TB_LOG"
tb_check "h0 pings h2 through mlx5- and vmxnet3-preset ports" tb_ping 0 10.3.0.2 5
tb_check "h1 pings h0 through i40e- and mlx5-preset ports" tb_ping 1 10.1.0.2 5
tb_finish
