#!/usr/bin/python3
"""Where a worker's cycles go, by stage: reads a cpu-clock profile of the worker's core
(`perf record -C`) and splits its samples into the devices (Rx, Tx), DPDK's FIB and the
forwarder's stages (classify, lookup, decide + rewrite, Tx hand-off, loop). A sample in
routerd (or l3fwd) is charged to the innermost function inlined at its address
(addr2line -f -i, one batch), then to that function's stage. With --pps and --tsc-hz the
shares become cycles per packet.

  perf record -e cpu-clock -F 20000 -C 1 -o W.data -- sleep 5    (while routerd forwards)
  scripts/lib/perf_stages.py W.data --binary build/app/routerd/routerd [--pps 31.2e6 --tsc-hz 2096e6]

Samples land on the instruction after one that stalls (no PMU in a VM: the timer
interrupt's skid), so a stall is charged to the stage of the instruction before it, which
is nearly always the same stage.
"""
import argparse
import collections
import re
import subprocess
import sys

# routerd functions -> stage. Anything not named falls under "burst loop, glue".
STAGES = {
    # routerd (lib/worker) and, after it, DPDK's l3fwd (examples/l3fwd, FIB lookup mode).
    "classify": ["slot", "scan_burst", "classify_fast", "classify_burst", "classify", "eq_bit",
                 "fast_key", "ipv4_cksum_words_ok", "ipv4_cksum_ok", "ipv4_validate",
                 "ipv4_check_addresses", "ipv4_source_refused", "Train", "lens", "idck",
                 "admits", "mac_equal", "ethertype_ipv6", "classify6_fast", "classify6",
                 "fib_parse_packet", "rte_ipv4_cksum", "lpm_cb_parse_ptype"],
    "lookup": ["fib_states", "state_of", "lookup_states_in", "lookup_states", "lookup_states6",
               "cache_key", "lookup_governed", "process4_looked_up", "trie_warm", "get",
               "lookup_in", "fill_in", "set_of", "prefetch_set", "prefetch", "begin", "end",
               "bypassed", "observe_generation", "view", "decode", "fib_send_packets"],
    "decide+rewrite": ["decide", "decide6", "forward_limit", "forwards", "forwards6", "rewrite",
                       "rewrite6", "L2Words", "write", "forward_looked_up", "ipv4_decrement_live_ttl",
                       "forward_train", "exact", "exact6", "divert", "group_member",
                       "count_members", "flow_hash4", "flow_hash6", "rfc1812_process",
                       "process_packet", "processx4_step3", "rte_ether_addr_copy"],
    "tx hand-off": ["send", "send_run", "send_runs", "flush", "flush_port", "send_packets_multi",
                    "send_packetsx4", "send_burst", "send_single_packet", "port_groupx4"],
}
FUNC_OF_STAGE = {f: s for s, fs in STAGES.items() for f in fs}
# Inlined library functions: the stage of the routerd code that calls them.
# rte_prefetch0 is charged to lookup: most of its samples are fib_states' (scan_burst
# prefetches lines the device has just written, which cost little).
LIB_STAGE = {"rte_prefetch0": "lookup", "rte_eth_tx_burst": "tx hand-off",
             "rte_eth_rx_burst": "burst loop, glue"}


def stage_of(func):
    """The stage an innermost function's samples are charged to."""
    return FUNC_OF_STAGE.get(func) or LIB_STAGE.get(func) or "burst loop, glue"


def symbol_addresses(binary):
    """demangled name without parameters -> address, for the binary's functions."""
    out = {}
    r = subprocess.run(["nm", "-C", binary], capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] and parts[1] in ("T", "t"):
            out.setdefault(parts[2].split("(")[0], int(parts[0], 16))
    return out


def innermost(binary, addrs):
    """address -> name of the innermost function inlined there (addr2line -f -i)."""
    if not addrs:
        return {}
    r = subprocess.run(["addr2line", "-f", "-i", "-C", "-a", "-e", binary],
                       input="".join(f"{a:#x}\n" for a in addrs), capture_output=True, text=True,
                       check=True)
    out, cur, first = {}, None, False
    for line in r.stdout.splitlines():
        if line.startswith("0x"):
            cur, first = int(line, 16), True
        elif first and cur is not None and not line.startswith(("/", "??:")):
            name = line.split("(")[0].split("<")[0]
            out[cur] = name.rsplit("::", 1)[-1]
            first = False
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--binary", required=True, help="the forwarder the profile ran")
    ap.add_argument("--pps", type=float)
    ap.add_argument("--tsc-hz", type=float)
    ap.add_argument("--functions", type=int, default=0, metavar="N",
                    help="also list the N functions (innermost inlined) with the most samples")
    a = ap.parse_args()
    r = subprocess.run(["perf", "script", "-i", a.data, "-F", "ip,sym,symoff,dso"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"perf script failed: {r.stderr.strip()[-300:]}")
    syms = symbol_addresses(a.binary)
    own = collections.Counter()   # address in the binary -> samples
    stages = collections.Counter()
    total = 0
    for line in r.stdout.splitlines():
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)$", line)
        if not m:
            continue
        total += 1
        symoff, dso = m.group(1), m.group(2)
        base = dso.rsplit("/", 1)[-1]
        if dso == a.binary or base == a.binary.rsplit("/", 1)[-1]:
            sym, _, off = symoff.rpartition("+0x")
            if sym in syms:
                own[syms[sym] + int(off, 16)] += 1
            else:
                stages["burst loop, glue"] += 1
        elif "net_null" in base:
            stages["device tx (null)"] += 1
        elif "net_" in base:
            stages["device rx (" + base.split("net_")[1].split(".")[0] + ")"] += 1
        elif "librte_fib" in base:
            stages["lookup (rte_fib)"] += 1
        else:
            stages["other (" + base + ")"] += 1
    names = innermost(a.binary, sorted(own))
    funcs = collections.Counter()
    for addr, n in own.items():
        f = names.get(addr, "")
        funcs[f or "?"] += n
        stages[stage_of(f)] += n
    cpp = a.tsc_hz / a.pps if a.pps and a.tsc_hz else None
    print("| stage | share of the worker's samples | cycles/packet |")
    print("|---|---|---|")
    for s, n in stages.most_common():
        share = n / total if total else 0
        print(f"| {s} | {100 * share:.1f} % | " + (f"{cpp * share:.1f} |" if cpp else "- |"))
    if cpp:
        print(f"| total ({total} samples) | 100 % | {cpp:.1f} |")
    if a.functions:
        print("\n| function (innermost inlined) | stage | share | cycles/packet |")
        print("|---|---|---|---|")
        for f, n in funcs.most_common(a.functions):
            share = n / total if total else 0
            print(f"| {f} | {stage_of(f)} | {100 * share:.1f} % | " + (f"{cpp * share:.1f} |" if cpp else "- |"))


if __name__ == "__main__":
    main()
