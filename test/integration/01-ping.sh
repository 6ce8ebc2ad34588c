#!/usr/bin/env bash
# 01-ping: hosts on different router ports reach each other (0% loss).
set -euo pipefail
# shellcheck source=../../scripts/lib/testbed.sh
source "$(dirname "$0")/../../scripts/lib/testbed.sh"
tb_init
tb_start

tb_check "h0 -> h1 (10.2.0.2): 5 pings, 0% loss" tb_ping 0 10.2.0.2 5
tb_check "h0 -> h2 (10.3.0.2): 5 pings, 0% loss" tb_ping 0 10.3.0.2 5
tb_check "h2 -> h1 (10.2.0.2): 5 pings, 0% loss" tb_ping 2 10.2.0.2 5
tb_check "h1 -> h0 (10.1.0.2): 5 pings, 0% loss" tb_ping 1 10.1.0.2 5
tb_finish
