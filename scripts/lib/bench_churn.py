"""bench_churn: `scripts/bench churn`, forwarding while routes change, and cache on vs off.

Same testbed as `scripts/bench forward` (full table, net_pcap infinite_rx in, net_null out,
one worker; docs/performance.md), no testpmd: every figure here is routerd against routerd
in the same run.

1. Cache on vs off, per pattern: --cache-pairs (3) pairs of routerd runs with
   [route_cache] enabled = true and false, no route changes, the order alternating (on off,
   off on, on off, ...); the on/off ratio of each pair (runs next to each other share the
   machine's drift) and their median.
2. Churn, per pattern and per --rates entry: one fresh routerd (cache per --route-cache,
   default on) per rate. After --warmup, --cycles times: one no-churn sample, then the
   generator is resumed and one churn sample taken, then it is paused; a last no-churn
   sample closes (off on off on ... off, --settle s after each switch). The ratio of each
   churn sample to the mean of its two neighbours, then the median of those: this VM's
   rate drifts by 10-20 % over seconds, so only samples close in time compare. Rate 0 runs
   the same sequence with no generator: its ratio is the method's noise floor.
   Applied updates/s = delta of routerd's `route_updates` over the churn samples / their
   duration. Invalidation latency: routerd's `invalidation` p50/p99/max at the end; routerd
   was started fresh and nothing else changes its tables, so its ring (8,192 commits) holds
   exactly this run's churn commits (100 per second of churn at most).

The generator is this file run as a program (`bench_churn.py gen ...`), a separate process
pinned to CPU 0, the control thread's core (EAL -l 0-1: lcore 0 control, lcore 1 worker),
as a routing daemon would run on a control core and not on a worker's. It sends one
`batch` request per --slot-ms (10 ms) over the control socket: rate x slot updates, about
half `route replace` (gateway moved to the next of the four static neighbours) and half
`route del` of a prefix with its `route add` (next gateway) in the next batch, so a
deleted prefix is gone for one slot. Prefixes are drawn from the full table in a seeded
random order. Batches go out one after another; one that can only start after its slot
has passed is counted as late and sent at once; when the lag exceeds --max-lag-ms the missed slots are skipped and counted, so the
generator never catches up in a burst. Every refused request fails the run.
"""
import argparse
import datetime
import json
import os
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# ----------------------------------------------------------------------------- control API


def api_call(path, argv, timeout=30.0):
    """One request on routerd's control socket: {"argv": [...]} + newline, one JSON line back.
    Returns the parsed answer ({"ok": ..., "data"|"error": ...})."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall((json.dumps({"argv": argv}) + "\n").encode())
        buf = bytearray()
        while b"\n" not in buf:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    if not buf:
        raise OSError(f"{path}: no answer")
    return json.loads(bytes(buf).split(b"\n", 1)[0])


# ----------------------------------------------------------------------------- generator

def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def read_routes(path):
    """(prefixes, gateway index per prefix, gateways) from a gen-trace .routes file."""
    prefixes, gw_idx, gateways, gmap = [], [], [], {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) < 3 or w[0].startswith("#") or w[1] != "via":
                continue
            g = gmap.get(w[2])
            if g is None:
                g = gmap[w[2]] = len(gateways)
                gateways.append(w[2])
            prefixes.append(w[0])
            gw_idx.append(g)
    return prefixes, gw_idx, gateways


class Churn:
    """The update stream: which lines go into the next batch. The generator shares CPU 0
    with routerd's control thread, so every line costs it: lines are built from strings
    made once (a per-line method call and f-string took 1.3 us a line, 2.6 ms of each
    10 ms slot at 200k/s)."""

    def __init__(self, prefixes, gw_idx, gateways, seed):
        order = list(range(len(prefixes)))
        random.Random(seed).shuffle(order)
        # Stored in the order the stream visits them, as objects made in that order, so that
        # a batch reads memory in sequence: visited through a shuffled index, every line cost
        # a few cache misses (1.25 ms a batch of 2,000 lines for the full table).
        self.prefixes = [(" " + prefixes[i])[1:] for i in order]
        self.gw = bytearray(gw_idx[i] for i in order)   # current gateway (index) of each
        self.gateways = gateways
        self.vias = [" via " + g for g in gateways]
        self.total = len(prefixes)
        self.cursor = 0
        self.pending_add = []                 # deleted in the previous batch
        self.del_credit = 0.0
        self.counts = {"replace": 0, "del": 0, "add": 0}

    def _take(self, k, busy):
        """The next k prefixes in the order that are not busy (and makes them busy)."""
        out = []
        total = self.total
        while len(out) < k:
            end = min(total, self.cursor + k - len(out))
            chunk = range(self.cursor, end)
            self.cursor = end % total
            if not busy.isdisjoint(chunk):
                chunk = [i for i in chunk if i not in busy]
            busy.update(chunk)
            out.extend(chunk)
        return out

    def _moved(self, head, idx):
        """head + PREFIX via GW for each prefix, its gateway moved to the next one."""
        P, G, V = self.prefixes, self.gw, self.vias
        ng = len(V)
        lines = []
        for i in idx:
            g = (G[i] + 1) % ng
            G[i] = g
            lines.append(head + P[i] + V[g])
        return lines

    def batch(self, n):
        """n lines (the re-adds of the previous batch's deletes come first, even if more)."""
        busy = set(self.pending_add)
        lines = self._moved("route add ", self.pending_add)
        self.counts["add"] += len(self.pending_add)
        self.pending_add = []
        room = max(0, n - len(lines))
        # Steady state: adds = deletes = n/4, replaces = n/2.
        self.del_credit += n / 4
        dels = min(int(self.del_credit), room)
        self.del_credit -= dels
        gone = self._take(dels, busy)
        lines += ["route del " + self.prefixes[i] for i in gone]
        self.pending_add = gone
        self.counts["del"] += dels
        lines += self._moved("route replace ", self._take(room - dels, busy))
        self.counts["replace"] += room - dels
        return lines

    def finish(self):
        """The re-adds still owed, so the table is whole again."""
        lines = self._moved("route add ", self.pending_add)
        self.counts["add"] += len(self.pending_add)
        self.pending_add = []
        return lines


class Commands:
    """Lines from the bench on stdin, read with os.read so select() sees every one."""

    def __init__(self):
        self.buf = b""
        self.eof = False

    def get(self, timeout):
        """The next command, "" when none came within timeout (None: wait), "stop" at EOF."""
        while b"\n" not in self.buf:
            if self.eof:
                return "stop"
            r, _, _ = select.select([0], [], [], timeout)
            if not r:
                return ""
            chunk = os.read(0, 4096)
            if not chunk:
                self.eof = True
                continue
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().strip()


def generator_main(argv):
    """The churn client. Protocol on stdin/stdout: it prints "ready ..." once the routes are
    read; then "resume" starts a churn phase (answer "resumed"), "pause" ends it after the
    re-adds still owed (answer "paused"), "stop" (or EOF) ends it and prints one JSON line:
    what was sent, how fast, request times, late batches, skipped slots, the first error."""
    ap = argparse.ArgumentParser(prog="bench_churn.py gen")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--routes", required=True, help="gen-trace .routes file (PREFIX via GW)")
    ap.add_argument("--rate", type=float, required=True, help="route updates per second")
    ap.add_argument("--slot-ms", type=float, default=10.0)
    ap.add_argument("--max-lag-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", choices=["batch", "single"], default="batch")
    ap.add_argument("--cpu", type=int, default=0, help="pin to this CPU (-1: no pinning)")
    a = ap.parse_args(argv)

    def say(text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    if a.cpu >= 0:
        try:
            os.sched_setaffinity(0, {a.cpu})
        except OSError as e:
            say(json.dumps({"error": f"cannot pin to CPU {a.cpu}: {e}"}))
            return 1
    prefixes, gw_idx, gateways = read_routes(a.routes)
    if len(gateways) < 2 or not prefixes:
        say(json.dumps({"error": f"{a.routes}: need routes via at least two gateways"}))
        return 1
    if len(gateways) > 256:
        say(json.dumps({"error": f"{a.routes}: {len(gateways)} gateways, at most 256"}))
        return 1
    churn = Churn(prefixes, gw_idx, gateways, a.seed)
    slot = a.slot_ms / 1000.0
    per_slot = a.rate * slot
    say(f"ready {len(prefixes)} routes, {len(gateways)} gateways")

    cmds = Commands()
    lat, srv, sizes = [], [], []
    requests = sent = late = skipped_slots = skipped_updates = slots = phases = 0
    max_lag = on_seconds = 0.0
    error = None

    def send(lines):
        nonlocal requests, sent
        if a.mode == "batch":
            reqs = [["batch", *lines]]
        else:
            reqs = [l.split() for l in lines]
        for argv in reqs:
            t0 = time.monotonic()
            ans = api_call(a.socket, argv, timeout=60)
            lat.append(time.monotonic() - t0)
            requests += 1
            if not ans.get("ok"):
                return ans.get("error", "?")
            data = ans.get("data")
            if isinstance(data, dict) and "seconds" in data:
                srv.append(data["seconds"])
        sent += len(lines)
        return None

    def phase():
        """One churn phase, until a command comes. Returns that command."""
        nonlocal late, skipped_slots, skipped_updates, max_lag, slots, error
        t_go = time.monotonic()
        k = 0
        credit = 0.0
        while True:
            due = t_go + k * slot
            cmd = cmds.get(max(0.0, due - time.monotonic()))
            if cmd:
                return cmd
            now = time.monotonic()
            lag = now - due
            max_lag = max(max_lag, lag)
            if lag > a.max_lag_ms / 1000.0:
                # Too far behind: skip the missed slots rather than catch up in a burst.
                behind = int(lag / slot)
                skipped_slots += behind
                skipped_updates += int(behind * per_slot)
                k += behind
                due = t_go + k * slot
            if now > due + slot:
                late += 1
            credit += per_slot
            n = int(credit)
            credit -= n
            lines = churn.batch(n)
            if lines:
                err = send(lines)
                if err is not None:
                    error = f"batch {len(sizes) + 1}: {err}"
                    return "error"
                sizes.append(len(lines))
            k += 1
            slots += 1

    try:
        cmd = cmds.get(None)
        while cmd not in ("stop", "error"):
            if cmd == "resume":
                say("resumed")
                t0 = time.monotonic()
                cmd = phase()
                on_seconds += time.monotonic() - t0
                phases += 1
                if cmd == "error":
                    break
                final = churn.finish()   # the deletes of the last batch: add them back
                if final:
                    err = send(final)
                    if err is not None:
                        error = f"re-adds: {err}"
                        break
                if cmd == "pause":
                    say("paused")
                    cmd = cmds.get(None)
            else:
                cmd = cmds.get(None)     # "pause" while paused, or unknown: ignored
    except (OSError, ValueError) as e:
        error = f"control socket: {type(e).__name__}: {e}"
    doc = {
        "rate": a.rate, "slot_ms": a.slot_ms, "mode": a.mode, "cpu": a.cpu,
        "phases": phases, "on_seconds": on_seconds, "slots": slots, "requests": requests,
        "lines_sent": sent, "lines_per_second": sent / on_seconds if on_seconds > 0 else 0,
        "by_kind": churn.counts,
        "lines_per_batch_median": statistics.median(sizes) if sizes else 0,
        "request_ms": {"p50": (pct(lat, 0.5) or 0) * 1e3, "p99": (pct(lat, 0.99) or 0) * 1e3,
                       "max": max(lat, default=0) * 1e3},
        # routerd's own time per batch (the "seconds" of its answer): RIB, FIB, commit
        "routerd_ms": {"p50": (pct(srv, 0.5) or 0) * 1e3, "p99": (pct(srv, 0.99) or 0) * 1e3,
                       "max": max(srv, default=0) * 1e3},
        "late_batches": late, "skipped_slots": skipped_slots,
        "skipped_updates": skipped_updates, "max_lag_ms": max_lag * 1e3,
        "error": error,
    }
    say(json.dumps(doc))
    return 1 if error else 0


# ----------------------------------------------------------------------------- bench side

if __name__ != "__main__":
    from bench_dpdk import (BenchError, Memory, Telemetry, bench_session, cleanup_prefix,
                            stop_process)
    import bench_forward as bf

PATTERNS = ["uniform", "zipf", "single"]
CACHE_TARGETS = {"zipf": 1.1, "uniform": 0.97}
CHURN_TARGET_RATE = 100000
CHURN_TARGET_RATIO = 0.9
CHURN_TARGET_P99_US = 50.0


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def parse_rate(text):
    t = text.strip().lower()
    mult = 1
    if t.endswith("k"):
        t, mult = t[:-1], 1000
    elif t.endswith("m"):
        t, mult = t[:-1], 1000000
    v = float(t) * mult
    if v < 0:
        raise ValueError
    return int(v)


def cpu_ticks(pids):
    """(machine busy ticks, steal ticks, {pid: ticks})."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    steal = v[7] if len(v) > 7 else 0
    out = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[p] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            out[p] = None
    return busy, steal, out


def load_between(c0, c1, seconds, routerd_pid, generator_pid):
    """Cores used by other processes (not routerd, not this bench, not the generator), steal,
    and the generator's own use, over a window."""
    hz = os.sysconf("SC_CLK_TCK")

    def d(p):
        a, b = c0[2].get(p), c1[2].get(p)
        return (b - a) if a is not None and b is not None else 0
    own = d(routerd_pid) + d(os.getpid()) + (d(generator_pid) if generator_pid else 0)
    return {"other_processes_cores": max(0.0, ((c1[0] - c0[0]) - own) / hz / seconds),
            "steal_cores": (c1[1] - c0[1]) / hz / seconds,
            "generator_cores": d(generator_pid) / hz / seconds if generator_pid else 0.0}


class Routerd:
    """One routerd process on the bench testbed: started, ready, then stopped with its final
    counters checked (every packet accounted for)."""

    def __init__(self, ctx, tag, trace, meta, mbufs, mem_mb, route_cache):
        self.ctx, self.tag, self.meta = ctx, tag, meta
        self.prefix = f"rbench{os.getpid()}ch{tag}"
        work = ctx["tmp"]
        self.sock = os.path.join(work, f"{tag}.sock")
        conf = os.path.join(work, f"{tag}-routerd.toml")
        self.logf = os.path.join(ctx["logdir"], f"{tag}-routerd.log")
        cleanup_prefix(self.prefix)
        bf.routerd_config(conf, self.sock, self.prefix, ctx["mem"].eal_args(mem_mb), trace,
                          meta, mbufs, route_cache, generator="scripts/bench churn")
        shutil.copy(conf, os.path.join(ctx["logdir"], os.path.basename(conf)))
        self.cmd = [ctx["routerd"], "-c", conf]
        self.route_cache = route_cache
        self.mem_mb = mem_mb
        self.proc = None
        self.tel = None
        self.result = {"tag": tag, "command": self.cmd, "config": conf, "log": self.logf,
                       "route_cache": route_cache}

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stats(self):
        t0 = time.monotonic()
        ans = api_call(self.sock, ["stats"], timeout=30)
        t1 = time.monotonic()
        if not ans.get("ok"):
            raise BenchError(f"stats: {ans.get('error')}")
        return (t0 + t1) / 2, ans["data"]

    def start(self):
        ctx = self.ctx
        if ctx["wait_quiet"] > 0:
            self.result["quiet"] = bf.wait_quiet(ctx["wait_quiet"], f"{self.tag} routerd")
        ctx["mem"].ensure(self.mem_mb)
        with open(self.logf, "w") as lf:
            t_start = time.monotonic()
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT)
        ctx["procs"].append(self.proc)
        deadline = time.monotonic() + 300
        while True:
            if not self.alive():
                raise BenchError(f"routerd exited with status {self.proc.returncode} during "
                                 "startup" + ctx["mem"].hint())
            st = None
            if os.path.exists(self.sock):
                try:
                    _, st = self.stats()
                except (OSError, ValueError, BenchError):
                    st = None
            if st and st.get("routes", 0) >= self.meta["routes"]:
                break
            if time.monotonic() > deadline:
                raise BenchError("routerd: routes not loaded within 300 s")
            time.sleep(0.2)
        self.result["ready_seconds"] = time.monotonic() - t_start
        for key in ("commits", "route_updates", "invalidation", "route_cache"):
            if key not in st:
                raise BenchError(f"routerd stats has no '{key}' field (routerd too old?)")
        if bool(st["route_cache"].get("enabled")) != self.route_cache:
            raise BenchError(f"route cache asked {'on' if self.route_cache else 'off'}, "
                             f"routerd stats say enabled = {st['route_cache'].get('enabled')}")
        ans = api_call(self.sock, ["link", "show"])
        if not ans.get("ok"):
            raise BenchError(f"link show: {ans.get('error')}")
        by_name = {l["name"]: l for l in ans["data"]}
        if by_name["p0"]["mac"].lower() != self.meta["dst_mac"].lower():
            raise BenchError(f"p0 has MAC {by_name['p0']['mac']}, the trace is addressed to "
                             f"{self.meta['dst_mac']}")
        self.in_port, self.out_port = by_name["p0"]["port_id"], by_name["p1"]["port_id"]
        self.tel = Telemetry(self.prefix, timeout=30, alive=self.alive)
        self.result["dpdk_version"] = self.tel.version
        # Traffic flows, then the warm-up.
        deadline = time.monotonic() + 30
        while self.tel.port_stats(self.in_port)[1].get("ipackets", 0) == 0:
            if not self.alive():
                raise BenchError("routerd exited before receiving traffic")
            if time.monotonic() > deadline:
                raise BenchError("routerd: no packet received within 30 s")
            time.sleep(0.05)
        time.sleep(ctx["warmup"])

    def window(self, name, generator_pid=None, n=None):
        """n (default --samples) samples of --duration-per-sample s; stats before and
        after."""
        ctx = self.ctx
        ts0, st0 = self.stats()

        def read():
            t_in, si = self.tel.port_stats(self.in_port)
            t_out, so = self.tel.port_stats(self.out_port)
            return {"t": (t_in + t_out) / 2, "in": si, "out": so}

        pids = [self.proc.pid, os.getpid()] + ([generator_pid] if generator_pid else [])
        prev = read()
        c0 = cpu_ticks(pids)
        first = prev["t"]
        samples = []
        for _ in range(n or ctx["samples"]):
            target = prev["t"] + ctx["period"]
            while (now := time.monotonic()) < target:
                time.sleep(min(0.05, target - now))
            if not self.alive():
                raise BenchError(f"routerd exited during window {name}")
            cur = read()
            dt = cur["t"] - prev["t"]
            samples.append({"seconds": dt,
                            "out_pps": (cur["out"]["opackets"] - prev["out"]["opackets"]) / dt,
                            "in_pps": (cur["in"]["ipackets"] - prev["in"]["ipackets"]) / dt})
            prev = cur
        c1 = cpu_ticks(pids)
        ts1, st1 = self.stats()
        secs = prev["t"] - first
        d = lambda f: f(st1) - f(st0)  # noqa: E731
        cache = {k: st1["route_cache"][k] - st0["route_cache"].get(k, 0)
                 for k, v in st1["route_cache"].items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "sets"}
        hits, misses, stale = cache.get("hits", 0), cache.get("misses", 0), cache.get("stale", 0)
        looked = hits + misses + stale
        bursts = d(lambda s: sum(w.get("busy_polls", 0) for w in s["workers"]))
        w = {"name": name, "samples": samples,
             "out_pps_median": statistics.median(s["out_pps"] for s in samples),
             "in_pps_median": statistics.median(s["in_pps"] for s in samples),
             "seconds": secs, "stats_seconds": ts1 - ts0,
             "route_updates": d(lambda s: s["route_updates"]),
             "commits": d(lambda s: s["commits"]),
             "route_updates_per_second": d(lambda s: s["route_updates"]) / (ts1 - ts0),
             "commits_per_second": d(lambda s: s["commits"]) / (ts1 - ts0),
             # hit_rate: of the lookups that went to the cache; bypassed_share: bursts that
             # skipped the cache (the worker found it did not pay) / bursts with packets.
             "cache": {**cache, "busy_polls": bursts,
                       "hit_rate": hits / looked if looked else None,
                       "bypassed_share": cache.get("bypassed_bursts", 0) / bursts
                       if bursts and st1["route_cache"].get("enabled") else None},
             "drops": {k: st1["drops"][k] - st0["drops"].get(k, 0) for k in st1["drops"]
                       if st1["drops"][k] - st0["drops"].get(k, 0)},
             "load": load_between(c0, c1, secs, self.proc.pid, generator_pid)}
        return w

    def stop(self):
        """SIGTERM; routerd logs its final counters once the worker stopped: every packet
        received must be sent, dropped (counted) or punted."""
        try:
            _, live = self.stats()
        except (OSError, ValueError, BenchError) as e:
            raise BenchError(f"stats before stop: {e}")
        self.result["live_stats"] = live
        if self.tel:
            self.tel.close()
            self.tel = None
        rc = stop_process(self.proc, signal.SIGTERM, timeout=30)
        self.ctx["procs"].remove(self.proc)
        final = None
        for line in open(self.logf, errors="replace"):
            fm = bf.FINAL_RE.search(line.rstrip())
            if fm:
                final = bf.parse_final(fm.group(1))
        if rc != 0 or final is None:
            raise BenchError(f"routerd did not stop cleanly on SIGTERM (status {rc}, final "
                             f"counters line {'found' if final else 'missing'})")
        self.result["rc"] = rc
        # Per port: a packet received on p0 is sent on p1 or dropped, and a drop is counted
        # against its input port once, also when it was punted first (no route for a prefix
        # deleted by the churn: punted for the ICMP error, then dropped). The sum over drop
        # reasons of bench forward would count such a packet twice (and an ICMP error that
        # was not sent once more), hence this form.
        p = final["ports"]
        self.result["final_accounting"] = {
            "p0_rx": p["p0"]["rx"], "p1_tx": p["p1"]["tx"], "p0_dropped": p["p0"]["dropped"],
            "nonzero_drops": {k: v for k, v in final["drops"].items() if v},
            "unexplained": p["p0"]["rx"] - (p["p1"]["tx"] - p["p1"].get("originated", 0))
            - p["p0"]["dropped"]}
        cleanup_prefix(self.prefix)

    def abort(self):
        if self.tel:
            self.tel.close()
            self.tel = None
        if self.proc is not None and self.proc in self.ctx["procs"]:
            stop_process(self.proc, signal.SIGTERM, timeout=30)
            self.ctx["procs"].remove(self.proc)
        cleanup_prefix(self.prefix)


def with_routerd(ctx, tag, trace, meta, mbufs, mem_mb, route_cache, body):
    r = Routerd(ctx, tag, trace, meta, mbufs, mem_mb, route_cache)
    log(f"{tag}: routerd ({meta['routes']} routes, route cache "
        f"{'on' if route_cache else 'off'})")
    try:
        r.start()
        body(r)
        r.stop()
    except BenchError as e:
        raise BenchError(f"{tag}: {e} (routerd log: {r.logf}: {bf.tail(r.logf)})")
    except (OSError, ValueError) as e:
        raise BenchError(f"{tag}: control socket: {type(e).__name__}: {e} (routerd log: "
                         f"{r.logf}: {bf.tail(r.logf)})")
    finally:
        r.abort()
    return r.result


# ----------------------------------------------------------------------------- runs

NOISY_CORES = 0.25     # as bench forward's WARNING: another process or steal above this


def windows(res):
    return [res["window"]] if "window" in res else res["off_windows"] + res["on_windows"]


def disturbance(res):
    """Most cores other processes (or steal) took during any window of a run."""
    return max(max(w["load"]["other_processes_cores"], w["load"]["steal_cores"])
               for w in windows(res))


def with_retries(ctx, tag, fn):
    """Runs fn() (one routerd run) again, up to --retries times, while other processes or
    steal took more than NOISY_CORES during its windows. The criterion is the machine's
    load, never the rates; the last attempt is kept whatever its load, and every discarded
    attempt is recorded."""
    discarded = []
    for k in range(ctx["retries"] + 1):
        res = fn()
        dist = disturbance(res)
        res["disturbance_cores"] = dist
        res["discarded_attempts"] = discarded
        if dist <= NOISY_CORES or k == ctx["retries"]:
            return res
        log(f"{tag}: other processes or steal took {dist:.2f} cores while sampling: "
            f"discarding this run, again ({k + 1}/{ctx['retries']})")
        discarded.append({"disturbance_cores": dist,
                          "windows": {w["name"]: w["out_pps_median"] for w in windows(res)},
                          "log": res.get("log")})

def cache_run(ctx, pattern, tag, trace, meta, mbufs, mem_mb, on):
    def body(r):
        r.result["window"] = r.window("nochurn")
    res = with_routerd(ctx, tag, trace, meta, mbufs, mem_mb, on, body)
    w = res["window"]
    log(f"{tag}: {bf.fmt_mpps(w['out_pps_median'])} Mpps"
        + (f", cache hit rate {w['cache']['hit_rate']:.3f}"
           if w["cache"]["hit_rate"] is not None else ""))
    return res


class Generator:
    def __init__(self, ctx, sock, routes, rate, tag):
        self.errf = os.path.join(ctx["logdir"], f"{tag}-generator.log")
        self.cmd = ["/usr/bin/python3", os.path.realpath(__file__), "gen", "--socket", sock,
                    "--routes", routes, "--rate", str(rate), "--slot-ms", str(ctx["slot_ms"]),
                    "--max-lag-ms", str(ctx["max_lag_ms"]), "--seed", str(ctx["seed"]),
                    "--mode", ctx["update_mode"], "--cpu", str(ctx["generator_cpu"])]
        self.ctx = ctx
        with open(self.errf, "w") as ef:
            ef.write(" ".join(self.cmd) + "\n")
            ef.flush()
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=ef, text=True)
        ctx["procs"].append(self.proc)

    def wait_ready(self):
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            rest = self.proc.stdout.read() if self.proc.poll() is not None else ""
            raise BenchError(f"churn generator did not start: {line.strip()} {rest.strip()} "
                             f"(see {self.errf})")
        return line.strip()

    def command(self, cmd, answer, timeout=10.0):
        """Sends resume or pause and waits for its answer (a pause first sends the re-adds
        still owed)."""
        try:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else ""
        if line.strip() != answer:
            # It stopped on a refused update (its report says which) or hangs.
            rep = self.stop()
            raise BenchError(f"churn generator: no answer to {cmd}: "
                             + (f"an update was refused: {rep['error']} (every update the "
                                "generator sends must be accepted)" if rep.get("error")
                                else json.dumps(rep)))

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        try:
            out, _ = self.proc.communicate(input="stop\n", timeout=60)
        except (OSError, ValueError):          # it had exited: stdin is a broken pipe
            out = self.proc.stdout.read() if self.proc.stdout else ""
            self.proc.wait()
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGTERM)
            out = ""
        if self.proc in self.ctx["procs"]:
            self.ctx["procs"].remove(self.proc)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"churn generator gave no report (status {self.proc.returncode}; "
                             f"see {self.errf})")

    def kill(self):
        if self.proc.poll() is None:
            stop_process(self.proc, signal.SIGTERM, timeout=5)
        if self.proc in self.ctx["procs"]:
            self.ctx["procs"].remove(self.proc)


def churn_run(ctx, pattern, tag, trace, meta, mbufs, mem_mb, rate, cache_on):
    """One routerd: after the warm-up, --cycles times a no-churn sample then a churn sample,
    and a last no-churn sample (off, on, off, ..., on, off), --settle s after each switch.
    Each churn sample is compared with the mean of the no-churn samples either side of it:
    this VM's rate drifts by 10-20 % over seconds, and neighbours in time share the drift."""
    gen = None

    def body(r):
        nonlocal gen
        res = r.result
        res["rate"] = rate
        _, st = r.stats()
        res["invalidation_before"] = st["invalidation"]
        res["commits_before"] = st["commits"]
        if rate > 0:
            gen = Generator(ctx, r.sock, trace + ".routes", rate, tag)
            res["generator_ready"] = gen.wait_ready()
        off, on = [], []
        for i in range(ctx["cycles"]):
            off.append(r.window(f"off{i}", gen.proc.pid if gen else None, n=1))
            if gen is not None:
                gen.command("resume", "resumed")
            time.sleep(ctx["settle"])
            on.append(r.window(f"on{i}", gen.proc.pid if gen else None, n=1))
            if gen is not None:
                gen.command("pause", "paused")
            time.sleep(ctx["settle"])
        off.append(r.window(f"off{ctx['cycles']}", gen.proc.pid if gen else None, n=1))
        if gen is not None:
            rep = gen.stop()
            gen = None
            if rep.get("error"):
                raise BenchError(f"an update was refused: {rep['error']} (every update the "
                                 "generator sends must be accepted)")
            rep["generator_cores"] = statistics.median(
                w["load"]["generator_cores"] for w in on)
            res["generator"] = rep
        _, st = r.stats()
        res["invalidation"] = st["invalidation"]
        res["commits_total"] = st["commits"] - res["commits_before"]
        res["off_windows"], res["on_windows"] = off, on

    try:
        res = with_routerd(ctx, tag, trace, meta, mbufs, mem_mb, cache_on, body)
    finally:
        if gen is not None:
            gen.kill()
    off = [w["out_pps_median"] for w in res["off_windows"]]
    on = [w["out_pps_median"] for w in res["on_windows"]]
    res["pair_ratios"] = [x / ((off[i] + off[i + 1]) / 2) for i, x in enumerate(on)]
    res["ratio"] = statistics.median(res["pair_ratios"])
    res["nochurn_pps_median"] = statistics.median(off)
    res["churn_pps_median"] = statistics.median(on)
    res["ratio_of_medians"] = res["churn_pps_median"] / res["nochurn_pps_median"]
    on_w = res["on_windows"]
    secs = sum(w["stats_seconds"] for w in on_w)
    res["applied_per_second"] = sum(w["route_updates"] for w in on_w) / secs
    res["commits_per_second"] = sum(w["commits"] for w in on_w) / secs
    res["cache_off_phase"] = sum_cache(res["off_windows"])
    res["cache_on_phase"] = sum_cache(on_w)
    inv = res["invalidation"]
    log(f"{tag}: no churn {bf.fmt_mpps(res['nochurn_pps_median'])} Mpps, churn "
        f"{bf.fmt_mpps(res['churn_pps_median'])} Mpps, ratio {res['ratio']:.3f} (pairs "
        + " ".join(f"{x:.2f}" for x in res["pair_ratios"]) + f"); applied "
        f"{res['applied_per_second']:.0f} updates/s; invalidation p50 "
        f"{inv['p50_ns'] / 1e3:.1f} us p99 {inv['p99_ns'] / 1e3:.1f} us "
        f"({inv['samples']} samples)")
    return res


def sum_cache(ws):
    keys = {k for w in ws for k, v in w["cache"].items()
            if isinstance(v, int) and not isinstance(v, bool)}
    c = {k: sum(w["cache"].get(k, 0) for w in ws) for k in keys}
    looked = c.get("hits", 0) + c.get("misses", 0) + c.get("stale", 0)
    c["hit_rate"] = c["hits"] / looked if looked else None
    c["bypassed_share"] = (c.get("bypassed_bursts", 0) / c["busy_polls"]
                           if c.get("busy_polls") and ws[0]["cache"].get("bypassed_share")
                           is not None else None)
    return c


# ----------------------------------------------------------------------------- report

def us(ns):
    return f"{ns / 1e3:.1f}"


def verdict(ok):
    return "met" if ok else "**not met**"


def cache_use(w):
    """hit rate of the lookups that used the cache, and the share of bursts that bypassed it"""
    c = w["cache"]
    if c.get("hit_rate") is None and c.get("bypassed_share") is None:
        return "n/a"
    hr = "-" if c.get("hit_rate") is None else f"{c['hit_rate']:.3f}"
    by = c.get("bypassed_share")
    return hr + ("" if by is None else f" ({by:.0%} bypassed)")


def churn_table(churn):
    rows = ["| pattern | requested updates/s | applied updates/s | commits/s | no churn Mpps | "
            "churn Mpps | ratio (median of pairs) | pairs min - max | invalidation p50 / p99 / "
            "max us | cache hit rate, no churn / churn | other load | target |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---|"]
    for c in churn:
        inv = c["invalidation"]
        hr = f"{cache_use({'cache': c['cache_off_phase']})} / " \
             f"{cache_use({'cache': c['cache_on_phase']})}"
        if c["rate"] == 0:
            lat = "no commits"
            target = "(noise floor: no churn in either)"
        else:
            lat = (f"{us(inv['p50_ns'])} / {us(inv['p99_ns'])} / {us(inv['max_ns'])}"
                   + (f" ({inv['unobserved']} unobserved)" if inv.get("unobserved") else ""))
            target = ""
            if c["rate"] >= CHURN_TARGET_RATE:
                target = (f"ratio >= {CHURN_TARGET_RATIO}: "
                          f"{verdict(c['ratio'] >= CHURN_TARGET_RATIO)}; p99 < "
                          f"{CHURN_TARGET_P99_US:.0f} us: "
                          f"{verdict(inv['p99_ns'] / 1e3 < CHURN_TARGET_P99_US)}")
                if c["applied_per_second"] < 0.95 * c["rate"]:
                    target += "; **rate not reached**"
        rows.append(f"| {c['pattern']} | {c['rate']:,} | {c['applied_per_second']:,.0f} | "
                    f"{c['commits_per_second']:,.0f} | {bf.fmt_mpps(c['nochurn_pps_median'])} | "
                    f"{bf.fmt_mpps(c['churn_pps_median'])} | {c['ratio']:.3f} | "
                    f"{min(c['pair_ratios']):.2f} - {max(c['pair_ratios']):.2f} | {lat} | {hr} | "
                    f"{c['disturbance_cores']:.2f} | {target} |")
    return "\n".join(rows)


def cache_table(cache):
    rows = ["| pattern | cache on Mpps | cache off Mpps | on / off (median of pairs) | per pair "
            "| pooled medians | cache hit rate (bursts bypassed) | worker's choice, runs on / off "
            "| other load | target |",
            "|---|---:|---:|---:|---|---:|---|---|---:|---|"]
    for c in cache:
        t = CACHE_TARGETS.get(c["pattern"])
        tgt = "none set" if t is None else f">= {t:.2f}: {verdict(c['on_off'] >= t)}"
        hr = c["hit_rate_on"]
        by = c["bypassed_share_on"]
        use = ("-" if hr is None else f"{hr:.3f}") + ("" if by is None else f" ({by:.0%})")
        dist = max(r["disturbance_cores"] for r in c["on_runs"] + c["off_runs"])
        rows.append(f"| {c['pattern']} | {bf.fmt_mpps(c['on_pps_median'])} | "
                    f"{bf.fmt_mpps(c['off_pps_median'])} | {c['on_off']:.3f} | "
                    + ", ".join(f"{x:.3f}" for x in c["pair_ratios"])
                    + f" | {c['on_off_pooled']:.3f} | {use} | {c['runs_on']} / {c['runs_off']} | "
                    f"{dist:.2f} | {tgt} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- main

def run(args, repo):
    t_begin = time.monotonic()
    if os.geteuid() != 0:
        raise BenchError("must run as root (DPDK, hugepages)")
    patterns = [p.strip() for p in args.patterns.split(",") if p.strip()]
    bad = [p for p in patterns if p not in PATTERNS]
    if bad or not patterns:
        raise BenchError(f"--patterns: unknown pattern(s) {bad}; choose from {PATTERNS}")
    try:
        rates = [parse_rate(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        raise BenchError(f"--rates: expected updates/s like 0,1k,10k,100k, got {args.rates!r}")
    table_path = args.table or os.path.join(os.path.dirname(repo), "shared", "data",
                                            "full-table-2024.txt.gz")
    if not os.path.exists(table_path):
        raise BenchError(f"route table {table_path} not found")
    build = args.build_dir if os.path.isabs(args.build_dir) else os.path.join(repo,
                                                                             args.build_dir)
    routerd_bin = os.path.join(build, "app", "routerd", "routerd")
    routerctl_bin = os.path.join(build, "app", "routerctl", "routerctl")
    if not os.path.exists(routerd_bin):
        raise BenchError(f"{routerd_bin} is not built (scripts/build)")

    date = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or os.path.join(build, "bench", f"churn-{date}")
    os.makedirs(out, exist_ok=True)
    cache_dir = os.path.join(build, "bench", "traces")
    tmp = tempfile.mkdtemp(prefix="routerd-churn.")
    ctx = {"tmp": tmp, "logdir": os.path.join(out, "logs"), "procs": [],
           "warmup": args.warmup, "samples": args.samples, "period": args.duration_per_sample,
           "wait_quiet": args.wait_quiet, "slot_ms": args.slot_ms, "max_lag_ms": args.max_lag_ms,
           "seed": args.seed, "update_mode": args.update_mode,
           "generator_cpu": args.generator_cpu, "settle": args.settle, "cycles": args.cycles,
           "retries": args.retries}
    os.makedirs(ctx["logdir"], exist_ok=True)
    bf.copy_binaries(ctx, routerd=routerd_bin, routerctl=routerctl_bin)
    if args.update_mode == "batch" and rates and max(rates) > 0:
        h = bf.sh([ctx["routerctl"], "help"])
        if "batch" not in h.stdout + h.stderr:
            raise BenchError("this routerd has no 'batch' command (routerctl help does not list "
                             "it); use --update-mode single, which cannot reach 100k updates/s")

    counts = {p: args.count or bf.DEFAULT_COUNT[p] for p in patterns}
    max_mbufs = max(counts.values()) + bf.EXTRA_MBUFS
    pool_mb = int(max_mbufs * bf.MBUF_KIB / 1024) + 1
    routerd_mb = -(-(bf.FIB_MB + pool_mb + bf.MARGIN_MB) // 256) * 256
    mem = Memory(args.memory, routerd_mb)
    ctx["mem"] = mem
    machine = bf.machine_info(repo)
    cache_results, churn_results = [], []
    churn_cache = args.route_cache == "on"
    with bench_session(mem, tmp, ctx["procs"]):
        log(f"memory: {mem.mode}: {mem.detail}")
        table_sha = bf.file_sha256(table_path)
        for p in patterns:
            trace, meta = bf.ensure_trace(repo, cache_dir, p, counts[p], args.seed, table_path,
                                          table_sha)
            mbufs = meta["count"] + bf.EXTRA_MBUFS
            if args.cache_pairs > 0:
                on, off = [], []
                for k in range(args.cache_pairs):
                    # on, off, off, on, on, off, ...: which setting runs first in a pair
                    # alternates, so an order effect cancels as well as a linear drift.
                    order = ((True, on), (False, off))
                    for m, runs in (order if k % 2 == 0 else order[::-1]):
                        tag = f"{p}-cache-{'on' if m else 'off'}-{k + 1}"
                        runs.append(with_retries(ctx, tag, lambda: cache_run(
                            ctx, p, tag, trace, meta, mbufs, routerd_mb, m)))
                on_s = [s["out_pps"] for r in on for s in r["window"]["samples"]]
                off_s = [s["out_pps"] for r in off for s in r["window"]["samples"]]
                h = sum(r["window"]["cache"]["hits"] for r in on)
                looked = sum(r["window"]["cache"]["hits"] + r["window"]["cache"]["misses"]
                             + r["window"]["cache"]["stale"] for r in on)
                c = {"pattern": p, "on_runs": on, "off_runs": off,
                     "on_pps_median": statistics.median(on_s),
                     "off_pps_median": statistics.median(off_s),
                     "pair_ratios": [a["window"]["out_pps_median"] / b["window"]["out_pps_median"]
                                     for a, b in zip(on, off)],
                     "hit_rate_on": h / looked if looked else None,
                     "runs_on": sum(r["window"]["cache"].get("runs_on", 0) for r in on),
                     "runs_off": sum(r["window"]["cache"].get("runs_off", 0) for r in on),
                     "bypassed_share_on":
                         sum(r["window"]["cache"].get("bypassed_bursts", 0) for r in on)
                         / max(1, sum(r["window"]["cache"]["busy_polls"] for r in on)),
                     "target": CACHE_TARGETS.get(p)}
                # Runs next to each other in time share the machine's state (this VM's rate
                # drifts by tens of percent over minutes): the ratio within each on/off pair
                # cancels that, and the median over the pairs is the figure reported.
                c["on_off"] = statistics.median(c["pair_ratios"])
                c["on_off_pooled"] = c["on_pps_median"] / c["off_pps_median"]
                cache_results.append(c)
                log(f"{p}: cache on {bf.fmt_mpps(c['on_pps_median'])} Mpps, off "
                    f"{bf.fmt_mpps(c['off_pps_median'])} Mpps, on/off {c['on_off']:.3f} "
                    "(median of pairs: " + ", ".join(f"{x:.3f}" for x in c["pair_ratios"])
                    + ")")
            for rate in rates:
                for k in range(args.rounds):
                    tag = f"{p}-churn-{rate}" + (f"-r{k + 1}" if args.rounds > 1 else "")
                    res = with_retries(ctx, tag, lambda: churn_run(
                        ctx, p, tag, trace, meta, mbufs, routerd_mb, rate, churn_cache))
                    res["pattern"] = p
                    churn_results.append(res)

    elapsed = time.monotonic() - t_begin
    doc = {
        "machine": machine,
        "memory": {"mode": mem.mode, "detail": mem.detail, "routerd_mb": routerd_mb},
        "parameters": {k: v for k, v in vars(args).items()} | {
            "patterns": patterns, "rates": rates, "counts": counts, "table": table_path,
            "table_sha256": table_sha},
        "cache": cache_results,
        "churn": churn_results,
        "bench_seconds": elapsed,
    }
    json_path = os.path.join(out, "churn.json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")

    dirty = " (+ uncommitted changes)" if machine["git_dirty"] else ""
    print(f"## Route churn and route cache benchmark, {machine['date']}\n")
    print(f"commit {machine['git_commit']}{dirty}, {machine['cpu_model']}, {machine['nproc']} "
          f"cores{' (VM)' if machine['hypervisor'] else ''}, memory: {mem.mode}\n")
    if cache_results:
        print(f"### Route cache on vs off (no churn; {args.cache_pairs} pairs, on off, off on, "
              "...)\n")
        print(cache_table(cache_results))
        print()
    if churn_results:
        print(f"### Forwarding under route churn (route cache {args.route_cache})\n")
        print(churn_table(churn_results))
        print()
        gens = [c["generator"] for c in churn_results if c.get("generator")]
        if gens:
            print("Generator (client, CPU "
                  f"{args.generator_cpu if args.generator_cpu >= 0 else 'any'}, one "
                  f"{'batch' if args.update_mode == 'batch' else 'request per update'} per "
                  f"{args.slot_ms:g} ms): "
                  + "; ".join(f"{g['rate']:,.0f}/s: {g['lines_per_second']:,.0f} sent/s, "
                              f"request p50/p99 {g['request_ms']['p50']:.2f}/"
                              f"{g['request_ms']['p99']:.2f} ms (in routerd "
                              f"{g['routerd_ms']['p50']:.2f}/{g['routerd_ms']['p99']:.2f} ms), "
                              f"{g['late_batches']} late, "
                              f"{g['skipped_slots']} skipped slots, "
                              f"{g['generator_cores']:.2f} cores" for g in gens))
            print()
    runs = [r for c in cache_results for r in c["on_runs"] + c["off_runs"]] + churn_results
    unexplained = sum(r["final_accounting"]["unexplained"] for r in runs)
    loads = [w["load"] for r in runs for w in windows(r)]
    worst = max((l["other_processes_cores"] for l in loads), default=0)
    worst_steal = max((l["steal_cores"] for l in loads), default=0)
    print(f"Samples of {args.duration_per_sample:g} s after {args.warmup:g} s of forwarding; "
          "Mpps = null port opackets/s (DPDK telemetry). Cache runs: median of "
          f"{args.samples} samples per run, pooled per setting. Churn runs: {args.cycles} "
          "churn samples, each between two no-churn samples of the same routerd "
          f"({args.settle:g} s after each switch); ratio = median over the churn samples of "
          "churn / mean of its two neighbours; applied = routerd's route_updates delta over "
          "the churn samples / their duration; invalidation = routerd's stats after the run "
          "(every commit of the run: the churn ones).")
    print("Other load: most cores other processes or steal took during a window of the run "
          f"(a run above {NOISY_CORES} is run again, up to --retries {args.retries} times; "
          f"{sum(len(r['discarded_attempts']) for r in runs)} run(s) discarded).")
    print(f"Other load while sampling: at most {worst:.2f} cores used by other processes, "
          f"{worst_steal:.2f} cores of steal"
          + (" -- WARNING: the machine was not quiet, these numbers are disturbed"
             if worst > 0.25 or worst_steal > 0.25 else "") + ".")
    print(f"Unexplained packets (final counters, p0 rx - p1 tx - p0 dropped), all runs: "
          f"{unexplained}")
    print(f"\nJSON: {json_path}\nLogs: {ctx['logdir']}\nBench time: {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "gen":
        sys.exit(generator_main(sys.argv[2:]))
    print("usage: bench_churn.py gen ... (the churn generator; see scripts/bench churn)",
          file=sys.stderr)
    sys.exit(2)
