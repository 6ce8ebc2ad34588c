"""bench_load: `scripts/bench load`, a full table into an empty routerd while it forwards.

Issue 16 ("Bulk load: `routerctl route load` of the full IPv4 table into an empty FIB while
forwarding takes under 1 s end to end") and issue 14 ("Loading the full IPv6 table takes
under 0.5 s"). Per round, one fresh routerd, configured as `scripts/bench forward` configures
it for the uniform trace of --family (p0 replays the trace, p1 is net_null with the trace's
gateways as static neighbours), except:
  - no route_files: its RIB holds only the connected prefixes and a default route per
    family via the trace's first gateway, so that every packet is forwarded before the load
    (through the default route) as well as after it (through the table);
  - dataplane.heap_reserve_mib (--heap-reserve-mib; docs/config.md), as a deployment that
    expects full tables sets it.
Then: the forwarding rate without updates (p1's opackets, --samples 1 s samples), `routerctl
route load` of the trace's route file (every prefix of the table for that family, each via
one of the trace's gateways), timed end to end around the routerctl process (reading and
parsing the file on routerd's API thread, the commit on its control thread, the answer), the
forwarding rate over that window, routerd's own `seconds` from the answer, the time from
the commit until routerd had also brought the FIB copy the workers left up to date (its log
line; it does that when idle, after answering: docs/architecture.md, "Batches and the
left-right FIB"), and the rate again after. A round fails unless the answer says every route of the file was added and
`routerctl stats` then holds them all.
"""
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from bench_dpdk import BenchError, Memory, Telemetry, bench_session, cleanup_prefix, stop_process
from bench_forward import (EXTRA_MBUFS, FIB_MB, MARGIN_MB, MBUF_KIB, copy_binaries,
                           cpu_times, ensure_trace, family_text, file_sha256, load_report, log,
                           machine_info, peak_rss_kib, routerctl, routerd_config,
                           table_and_binaries, tail, toml_str, trace_gateways, wait_quiet)
from bench_fpm import no_update_rate, wait_answering

# End to end, seconds (issue 16 for IPv4, issue 14 for IPv6); none for both at once.
TARGET_SECONDS = {4: 1.0, 6: 0.5}


def load_config(path, sock, prefix, eal_mem, trace, meta, mbufs, heap_reserve_mib):
    """bench forward's config for the trace, without its route file, with the heap reserve
    and a default route per family through the trace's first gateway of that family."""
    routerd_config(path, sock, prefix, eal_mem, trace, meta, mbufs,
                   generator="scripts/bench load")
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith("route_files")]
    at = lines.index("[dataplane]") + 1
    lines.insert(at, f"heap_reserve_mib = {heap_reserve_mib}")
    gws = trace_gateways(meta)
    for default, v6 in (("0.0.0.0/0", False), ("::/0", True)):
        gw = next((g for g in gws if (":" in g) == v6), None)
        if gw is not None:
            lines += ["", "[[route]]", f"prefix = {toml_str(default)}", f"via = {toml_str(gw)}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def wait_forwarding(tel, out_port, alive, timeout=30):
    """Until p1 sends: the default route carries the trace before the load."""
    _, a = tel.port_stats(out_port)
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(0.2)
        _, b = tel.port_stats(out_port)
        if b["opackets"] > a["opackets"]:
            return
        if not alive():
            raise BenchError("routerd exited before it forwarded a packet")
        if time.monotonic() > deadline:
            raise BenchError(f"nothing forwarded out of p1 within {timeout} s (default route)")


CAUGHT_UP = re.compile(r"FIB standby copies caught up ([0-9.]+) s after the commit")


def caught_up_after(logf, alive, timeout=30):
    """Seconds from the load's commit until routerd had also brought the FIB copies the
    workers left up to date (its log line; the answer comes before that: the routes are
    forwarded from the other copy already)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with open(logf) as f:
            found = CAUGHT_UP.findall(f.read())
        if found:
            return float(found[-1])
        time.sleep(0.05)
    raise BenchError(f"no 'FIB standby copies caught up' line within {timeout} s")


def run_round(ctx, tag, mem_mb):
    trace, meta = ctx["trace"], ctx["meta"]
    prefix = f"rbench{os.getpid()}ld{tag}"
    cleanup_prefix(prefix)
    sock = os.path.join(ctx["tmp"], f"{tag}.sock")
    conf = os.path.join(ctx["tmp"], f"{tag}-routerd.toml")
    logf = os.path.join(ctx["logdir"], f"{tag}-routerd.log")
    load_config(conf, sock, prefix, ctx["mem"].eal_args(mem_mb), trace, meta, ctx["mbufs"],
                ctx["heap_reserve_mib"])
    shutil.copy(conf, os.path.join(ctx["logdir"], os.path.basename(conf)))
    quiet = wait_quiet(ctx["wait_quiet"], f"{tag} routerd") if ctx["wait_quiet"] > 0 else None
    ctx["mem"].ensure(mem_mb)
    cmd = [ctx["routerd"], "-c", conf]
    result = {"command": cmd, "config": conf, "log": logf, "quiet": quiet}
    proc = tel = None
    try:
        with open(logf, "w") as lf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT)
        ctx["procs"].append(proc)
        alive = lambda: proc.poll() is None
        st, by_name = wait_answering(ctx, proc, sock)
        out_port = by_name["p1"]["port_id"]
        tel = Telemetry(prefix, timeout=30, alive=alive)
        wait_forwarding(tel, out_port, alive)
        time.sleep(ctx["warmup"])
        base = {"ipv4": st["routes"], "ipv6": st["routes6"]}
        result["rib_before"] = base
        result["before"] = no_update_rate(tel, out_port, ctx["samples"], proc.pid)
        c0 = cpu_times(proc.pid)
        t_a, a = tel.port_stats(out_port)
        t0 = time.monotonic()
        ans, err = routerctl(ctx, sock, "route", "load", trace + ".routes", timeout=300)
        t1 = time.monotonic()
        t_b, b = tel.port_stats(out_port)
        c1 = cpu_times(proc.pid)
        if ans is None:
            raise BenchError(f"routerctl route load: {err}")
        want = meta["routes"]      # both families' for --family 46
        if ans.get("routes") != want or ans.get("added") != want:
            raise BenchError(f"route load answered {ans}, the file holds {want} new routes")
        st, err = routerctl(ctx, sock, "stats")
        if st is None:
            raise BenchError(f"routerctl stats: {err}")
        held = st["routes"] - base["ipv4"] + st["routes6"] - base["ipv6"]
        if held != want:
            raise BenchError(f"after the load routerd holds {held} more routes, not {want}")
        result["caught_up_s"] = caught_up_after(logf, alive) if ctx["logs_catch_up"] else 0.0
        result["after"] = no_update_rate(tel, out_port, ctx["samples"], pid=proc.pid)
        during = (b["opackets"] - a["opackets"]) / (t_b - t_a)
        before = result["before"]["pps_median"]
        # Before the load every packet takes the default route, after it the full table,
        # whose lookups cost more: the window covers both, so it is also set against their
        # mean.
        mean = (before + result["after"]["pps_median"]) / 2
        result.update({
            "during_over_before_after_mean": during / mean if mean else None,
            "answer": ans, "routes": want, "routerd_seconds": ans["seconds"],
            "wall_seconds": t1 - t0, "routes_per_s": want / (t1 - t0),
            "during_pps": during, "during_over_before": during / before if before else None,
            "load": load_report(c0, c1, t1 - t0), "peak_rss_kib": peak_rss_kib(proc.pid),
        })
        result["rc"] = stop_process(proc, signal.SIGTERM, timeout=30)
        if result["rc"] != 0:
            raise BenchError(f"routerd exited with status {result['rc']} on SIGTERM")
    except BenchError as e:
        raise BenchError(f"{e} (routerd log: {logf}: {tail(logf)})")
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"timed out: {e} (routerd log: {logf})")
    finally:
        if tel is not None:
            tel.close()
        if proc is not None:
            stop_process(proc, signal.SIGTERM, timeout=30)
            ctx["procs"].remove(proc)
        cleanup_prefix(prefix)
    log(f"{tag}: {result['routes']:,} routes in {result['wall_seconds']:.3f} s end to end "
        f"({result['routerd_seconds']:.3f} s in routerd); forwarding during / before "
        f"{result['during_over_before'] or 0:.3f}; other processes "
        f"{result['load']['other_processes_cores']:.2f} cores")
    return result


def table(runs, family, mem_text, heap_mib):
    target = TARGET_SECONDS.get(family)
    rows = ["| round | routes | end to end (s) | in routerd (s) | routes/s end to end | "
            "second FIB copy caught up (s after the commit) | "
            "forwarding before / during / after (Mpps) | during / before | "
            "during / mean of before and after | other processes (cores) |",
            "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for i, r in enumerate(runs):
        rows.append(
            f"| {i + 1} | {r['routes']:,} | {r['wall_seconds']:.3f} | "
            f"{r['routerd_seconds']:.3f} | {r['routes_per_s']:,.0f} | {r['caught_up_s']:.3f} | "
            f"{r['before']['pps_median'] / 1e6:.2f} / {r['during_pps'] / 1e6:.2f} / "
            f"{r['after']['pps_median'] / 1e6:.2f} | {r['during_over_before'] or 0:.3f} | "
            f"{r['during_over_before_after_mean'] or 0:.3f} | "
            f"{r['load']['other_processes_cores']:.2f} |")
    wall = statistics.median(r["wall_seconds"] for r in runs)
    inside = statistics.median(r["routerd_seconds"] for r in runs)
    behind = statistics.median(r["caught_up_s"] for r in runs)
    rows.append(f"\nMedian: {wall:.3f} s end to end, {inside:.3f} s in routerd, the copy "
                f"workers left caught up {behind:.3f} s after the commit"
                + (f" (target: under {target} s end to end: "
                   f"{'met' if wall < target else 'NOT met'})" if target else "")
                + f". Memory: {mem_text}; routerd heap reserve {heap_mib} MiB.")
    return "\n".join(rows)


def run(args, repo):
    t_begin = time.monotonic()
    if os.geteuid() != 0:
        raise BenchError("must run as root (DPDK)")
    table_path, build, routerd_bin, routerctl_bin = table_and_binaries(args, repo)
    date = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or os.path.join(build, "bench", f"load-{date}")
    tmp = tempfile.mkdtemp(prefix="routerd-bench.")
    ctx = {"tmp": tmp, "logdir": os.path.join(out, "logs"), "procs": [],
           "wait_quiet": args.wait_quiet, "samples": args.samples, "warmup": args.warmup,
           "heap_reserve_mib": args.heap_reserve_mib}
    os.makedirs(ctx["logdir"], exist_ok=True)
    copy_binaries(ctx, routerd=routerd_bin, routerctl=routerctl_bin)
    # A build from before the copy left behind was caught up after the answer (--build-dir
    # of an older tree, to compare) has no such line: its answer came after both copies.
    with open(routerd_bin, "rb") as f:
        ctx["logs_catch_up"] = CAUGHT_UP.pattern.split(" (")[0].encode() in f.read()
    table_sha = file_sha256(table_path)
    trace, meta = ensure_trace(repo, os.path.join(build, "bench", "traces"), "uniform",
                               args.count, 1, table_path, table_sha, args.family)
    ctx["trace"], ctx["meta"] = trace, meta
    ctx["mbufs"] = meta["count"] + EXTRA_MBUFS
    pool_mb = int(ctx["mbufs"] * MBUF_KIB / 1024) + 1
    routerd_mb = -(-(FIB_MB + pool_mb + MARGIN_MB) // 256) * 256
    mem = Memory(args.memory, routerd_mb)
    ctx["mem"] = mem
    machine = machine_info(repo)
    runs = []
    with bench_session(mem, tmp, ctx["procs"]):
        mem_text = "hugepages" if mem.mode == "hugepages" else f"no-huge (-m {routerd_mb})"
        log(f"memory: {mem.mode}: {mem.detail}")
        log(f"{family_text(args.family)}: {trace}.routes into an empty RIB, {args.rounds} "
            "rounds")
        for k in range(args.rounds):
            runs.append(run_round(ctx, f"r{k + 1}", routerd_mb))
    doc = {"machine": machine,
           "memory": {"mode": mem.mode, "detail": mem.detail, "routerd_mb": routerd_mb,
                      "eal_args": mem.eal_args(routerd_mb)},
           "parameters": {"family": args.family, "rounds": args.rounds,
                          "samples": args.samples, "warmup": args.warmup,
                          "heap_reserve_mib": args.heap_reserve_mib, "count": args.count,
                          "table": table_path, "table_sha256": table_sha,
                          "route_file": trace + ".routes"},
           "runs": runs,
           "wall_seconds_median": statistics.median(r["wall_seconds"] for r in runs),
           "routerd_seconds_median": statistics.median(r["routerd_seconds"] for r in runs),
           "caught_up_seconds_median": statistics.median(r["caught_up_s"] for r in runs),
           "target_seconds": TARGET_SECONDS.get(args.family),
           "bench_seconds": time.monotonic() - t_begin}
    json_path = os.path.join(out, "load.json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    print(f"## scripts/bench load --family {args.family}: {machine['cpu_model']}, "
          f"{machine['nproc']} CPUs, commit {machine['git_commit']}"
          f"{' (dirty)' if machine['git_dirty'] else ''}, {machine['date']}\n")
    print(table(runs, args.family, mem_text, args.heap_reserve_mib))
    print(f"\nJSON: {json_path}; logs: {ctx['logdir']}")
    return 0
