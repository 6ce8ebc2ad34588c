"""bench_forward: `scripts/bench forward`, routerd against a testpmd io baseline.

For each destination pattern, in one run on one machine:
  1. dpdk-testpmd, io forwarding, pcap (infinite_rx) in -> null out: the cost of the two
     virtual devices alone, i.e. the ceiling any forwarder can reach on this testbed;
  2. routerd with the full table loaded, same devices, same trace, one worker.
Rates come from the DPDK telemetry socket of each process (/ethdev/stats of the null
port's opackets, the pcap port's ipackets), sampled once per sample period after a
warm-up; the medians and the ratio routerd / testpmd are reported.

--family 6 (issue 14): the same with an IPv6 trace and the full IPv6 table, and DPDK's
l3fwd example as a second reference in the same run (run_l3fwd, build_l3fwd): built
from the dpdk-doc package's source with only its table sizes and mbuf count raised so
the full table and the whole trace fit, --lookup fib (rte_fib6 trie, bulk lookups, the
structure routerd uses) and/or --lookup lpm (rte_lpm6), routes from --rule_ipv6.

--family 46 (issue 14): a dual-stack trace (gen-trace --family 46: IPv4 and IPv6 packets
alternating) with both full tables in one route file; routerd gets both families'
addresses and neighbours, l3fwd both rule files (its IPv4 table sizes raised as well).

Patterns ecmp and ecmp-zipf (issue 15): the packets of uniform (zipf), and the full table
with every route through one 8-way ECMP group (gen-trace --nexthops 8, 8 static
neighbours on p1). Each round runs testpmd, then routerd with that table and routerd with
the pattern's single-next-hop table (uniform's or zipf's own route file, same trace),
in alternating order; the figure is the median over the rounds of ECMP / single.

Patterns gre and gre-decap (issue 17), IPv4 only, each against routerd's plain forwarding
of uniform's packets and table in the same round (back to back, alternating order; the
figure is the median over the rounds of GRE / plain):
  gre        uniform's packets, every route `dev gre1` (the route file rewritten), gre1 a
             tunnel from 10.2.0.1 to 10.9.9.2 (no key) whose outer route goes via 10.2.0.2,
             a static neighbour on p1: each packet is routed, encapsulated (24 bytes more)
             and sent out p1. Target: GRE / plain >= 0.75. Every round also runs the
             tunnel with route_cache.tunnel_outer_path = false (its remote looked up in
             the FIB per packet): the cycles the outer-path cache saves.
  gre-decap  uniform's packets, each inside GRE (outer IPv4 10.1.0.9 -> 10.1.0.1, protocol
             0x0800, no key, no checksum; gre_trace) as a tunnel peer on p0's link sends
             them; routerd has gre1 from 10.1.0.1 to 10.1.0.9 and uniform's table: each
             packet is matched to the tunnel, decapsulated and the inner packet routed out
             p1. The decapsulation rate, and its ratio to plain forwarding.
"""
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from bench_dpdk import (BenchError, Memory, Telemetry, bench_session, cleanup_prefix,
                        stop_process)

PATTERNS = ["uniform", "zipf", "single", "ecmp", "ecmp-zipf", "gre", "gre-decap"]
# ECMP patterns (issue 15): the destinations of the base pattern, every route via one group
# of ECMP_NEXTHOPS gateways, compared with the base pattern's single-next-hop routes.
ECMP_BASE = {"ecmp": "uniform", "ecmp-zipf": "zipf"}
ECMP_NEXTHOPS = 8
ECMP_TARGET = 0.9       # routerd ECMP / routerd single next hop, same trace, same run
# 32,768 packets (issue 18): the pcap driver then costs about what a NIC's Rx + Tx does
# (30-40 cycles a packet); 131,072 stored mbufs (300 MiB) make it cost ~58 and hide the
# forwarder's own work. The larger size stays available with --count 131072.
DEFAULT_COUNT = {"uniform": 32768, "zipf": 32768, "single": 4096, "ecmp": 32768,
                 "ecmp-zipf": 32768, "gre": 32768, "gre-decap": 32768}
# GRE patterns (issue 17): the base pattern's packets into (gre) or out of (gre-decap) a
# tunnel, compared with routerd's plain forwarding of the base pattern in the same round.
GRE_BASE = {"gre": "uniform", "gre-decap": "uniform"}
GRE_TARGET = {"gre": 0.75}   # routerd GRE / routerd plain, same packets, same run
# Patterns that also run routerd with route_cache.tunnel_outer_path = false every round:
# what the outer-path cache saves against a FIB lookup per packet.
GRE_UNCACHED = {"gre"}
# gre: the tunnel's remote, routed via GATEWAYS[0] (a static neighbour on p1).
GRE_ENCAP = {"name": "gre1", "local": "10.2.0.1", "remote": "10.9.9.2",
             "outer_route": "10.9.9.0/24", "outer_via": "10.2.0.2"}
# gre-decap: a peer on p0's link sending to p0's address.
GRE_DECAP = {"name": "gre1", "local": "10.1.0.1", "remote": "10.1.0.9"}
GRE_TRACE_VERSION = 1
TARGETS = {"uniform": 0.55, "zipf": 0.7, "single": 0.75}
# routerd / l3fwd FIB, same trace, same run (issue 18): routerd does the RFC 1812 checks
# l3fwd skips, so its lookup, burst handling and rewrite have to be leaner to make up.
L3FWD_TARGETS = {"uniform": 1.0, "zipf": 1.2, "single": 1.2}
# Route cache on / off, same pattern (docs/performance.md, "Route churn and the route cache").
CACHE_TARGETS = {"zipf": 1.1, "uniform": 0.97}
# IPv6 (issue 14): the trie walks several levels for long prefixes, where a cache should pay.
CACHE6_TARGETS = {"zipf": 1.2, "uniform": 0.97}
# The ingress port's MAC, set with port.mac; traces are addressed to it. net_pcap cannot
# program an address, so routerd uses it in software (promiscuous RX); the run checks that
# p0 reports it. testpmd's io mode forwards whatever the destination MAC.
PORT_MAC = "02:00:00:00:aa:01"
GATEWAYS = ["10.2.0.2", "10.2.0.3", "10.2.0.4", "10.2.0.5"]
GATEWAYS6 = ["2001:db8:2::2", "2001:db8:2::3", "2001:db8:2::4", "2001:db8:2::5"]
EXTRA_MBUFS = 16384
MBUF_KIB = 2.5          # 2176-byte data room + 128-byte rte_mbuf + mempool overhead
FIB_MB = 1152 + 672     # two full-table FIB copies, fib.max_routes = 1048576 (docs/config.md),
#                         and two IPv6 ones at the fib6 defaults (320 MiB each, plus its RIB)
MARGIN_MB = 512
# --family 6: the IPv4 FIB at its defaults (94 MiB a copy) and the two fib6 copies.
FIB6_MB = 2 * 94 + 672
# l3fwd, patched (build_l3fwd): LPM6 or FIB6 with 2^18 rules and 2^18 tbl8 groups.
L3FWD_TABLE_MB = 1024
# --family 46: l3fwd's IPv4 LPM or FIB with 2^20 rules and 2^16 tbl8 groups as well
# (64 MiB tbl24 + 64 MiB tbl8 + the rules or RIB).
L3FWD_TABLE4_MB = 512
L3FWD_LOOKUPS = ["fib", "lpm"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def copy_binaries(ctx, **bins):
    """A stable copy of each binary (name=path) in ctx["tmp"], recorded as ctx[name]: the
    build directory may be rebuilt under our feet while the bench runs."""
    for name, src in bins.items():
        dst = os.path.join(ctx["tmp"], name)
        shutil.copy2(src, dst)
        if sh([dst, "--version"]).returncode != 0:
            time.sleep(5)      # caught mid-link: try once more
            shutil.copy2(src, dst)
            if sh([dst, "--version"]).returncode != 0:
                raise BenchError(f"{src} does not run (--version failed)")
        ctx[name] = dst


# ----------------------------------------------------------------------------- machine

def tsc_hz():
    """(Hz, source). The kernel's TSC calibration, else /proc/cpuinfo's cpu MHz."""
    r = sh(["dmesg"])
    if r.returncode == 0:
        refined = re.findall(r"tsc: Refined TSC clocksource calibration: ([\d.]+) MHz", r.stdout)
        detected = re.findall(r"tsc: Detected ([\d.]+) MHz processor", r.stdout)
        if refined:
            return float(refined[-1]) * 1e6, "dmesg 'Refined TSC clocksource calibration'"
        if detected:
            return float(detected[-1]) * 1e6, "dmesg 'tsc: Detected ... MHz processor'"
    with open("/proc/cpuinfo") as f:
        mhz = [float(l.split(":")[1]) for l in f if l.startswith("cpu MHz")]
    if mhz:
        return mhz[0] * 1e6, "/proc/cpuinfo 'cpu MHz' (constant_tsc assumed)"
    return None, "unknown"


def machine_info(repo):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                model = l.split(":", 1)[1].strip()
                break
    hz, src = tsc_hz()
    commit = sh(["git", "-C", repo, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    dirty = sh(["git", "--no-optional-locks", "-C", repo, "status", "--porcelain",
                "--untracked-files=no"]).stdout.strip()
    flags = ""
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("flags"):
                flags = l
                break
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "hypervisor": "hypervisor" in flags.split(),
        "mem_total_kib": int(open("/proc/meminfo").readline().split()[1]),
        "kernel": platform.release(),
        "tsc_hz": hz,
        "tsc_source": src,
        "git_commit": commit,
        "git_dirty": bool(dirty),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "testpmd": shutil.which("dpdk-testpmd"),
    }


# ----------------------------------------------------------------------------- traces

def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gen_trace_version(gen):
    m = re.search(r"^VERSION = (\d+)", open(gen).read(), re.M)
    return int(m.group(1)) if m else None


def ensure_trace(repo, cache, pattern, count, seed, table, table_sha, family=4, nexthops=1):
    """Generates the trace of one pattern into the cache, or reuses a fresh one. nexthops > 1:
    the same packets, every route an ECMP route through that many gateways."""
    gen = os.path.join(repo, "scripts", "gen-trace")
    prefix = os.path.join(cache, f"{'' if family == 4 else f'v{family}-'}{pattern}-n{count}"
                          f"-s{seed}{f'-nh{nexthops}' if nexthops > 1 else ''}")
    meta_path = prefix + ".json"
    fresh = False
    if all(os.path.exists(prefix + e) for e in (".json", ".pcap", ".routes")):
        try:
            meta = json.load(open(meta_path))
            fresh = (meta.get("version") == gen_trace_version(gen)
                     and meta.get("table_sha256") == table_sha
                     and meta.get("dst_mac") == PORT_MAC
                     and meta.get("count") == count and meta.get("seed") == seed
                     and meta.get("family", 4) == family
                     and meta.get("nexthops", 1) == nexthops
                     and os.path.getmtime(meta_path) >= os.path.getmtime(gen))
        except (OSError, ValueError):
            fresh = False
    if not fresh:
        log(f"generating the {family_text(family)} {pattern} trace ({count} packets"
            f"{f', {nexthops}-way ECMP routes' if nexthops > 1 else ''}) into {cache}")
        os.makedirs(cache, exist_ok=True)
        r = sh(["/usr/bin/python3", gen, "--pattern", pattern, "--family", str(family),
                "--count", str(count), "--seed", str(seed), "--table", table,
                "--dst-mac", PORT_MAC, "--nexthops", str(nexthops), "--out", prefix])
        if r.returncode != 0:
            raise BenchError(f"gen-trace --pattern {pattern} failed: "
                             f"{(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    meta = json.load(open(meta_path))
    meta["cached"] = fresh
    return prefix, meta


def family_text(family):
    return {4: "IPv4", 6: "IPv6", 46: "mixed IPv4 + IPv6"}[family]


def ipv4_checksum(hdr):
    s = sum(int.from_bytes(hdr[i:i + 2], "big") for i in range(0, len(hdr), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def gre_wrap(frame, ident, src, dst):
    """The Ethernet/IPv4 frame `frame` as a GRE peer sends it: the same Ethernet header,
    then an outer IPv4 header (src -> dst, protocol 47, TTL 64, DF, identification ident)
    and a 4-byte GRE header (no flags, protocol 0x0800) before the inner IPv4 packet."""
    inner = frame[14:]
    ip = bytearray(20)
    ip[0], ip[8], ip[9] = 0x45, 64, 47
    ip[2:4] = (20 + 4 + len(inner)).to_bytes(2, "big")
    ip[4:6] = (ident & 0xFFFF).to_bytes(2, "big")
    ip[6:8] = (0x4000).to_bytes(2, "big")
    ip[12:16] = bytes(int(x) for x in src.split("."))
    ip[16:20] = bytes(int(x) for x in dst.split("."))
    ip[10:12] = ipv4_checksum(bytes(ip)).to_bytes(2, "big")
    return frame[:14] + bytes(ip) + b"\x00\x00\x08\x00" + inner


def ensure_gre_trace(cache, pattern, base_trace, base_meta):
    """The files of a GRE pattern, derived from its base pattern's (cached beside them):
    gre: the same pcap, every route of the route file `dev gre1`; gre-decap: every frame of
    the pcap wrapped in GRE (gre_wrap), the same route file. meta["tunnel"] is what
    routerd_config adds for it."""
    if base_meta.get("family", 4) != 4:
        raise BenchError(f"{pattern}: IPv4 traces only (--family 4)")
    prefix = base_trace + f"-{pattern}"
    src_sha = file_sha256(base_trace + ".pcap") + file_sha256(base_trace + ".routes")
    meta_path = prefix + ".json"
    try:
        meta = json.load(open(meta_path))
        fresh = meta.get("gre_trace_version") == GRE_TRACE_VERSION and \
            meta.get("base_sha256") == src_sha and \
            all(os.path.exists(prefix + e) for e in (".pcap", ".routes"))
    except (OSError, ValueError):
        fresh = False
    if not fresh:
        log(f"deriving the {pattern} trace from {os.path.basename(base_trace)}")
        name = GRE_ENCAP["name"]
        if pattern == "gre":
            shutil.copyfile(base_trace + ".pcap", prefix + ".pcap")
            n = 0
            with open(base_trace + ".routes") as src, open(prefix + ".routes", "w") as dst:
                for line in src:
                    w = line.split()
                    if not w or line.startswith("#"):
                        dst.write(line)
                        continue
                    if len(w) != 3 or w[1] != "via":
                        raise BenchError(f"{base_trace}.routes: unexpected line {line.strip()!r}")
                    dst.write(f"{w[0]} dev {name}\n")
                    n += 1
            if n != base_meta["routes"]:
                raise BenchError(f"gre routes: {n} written, the base has {base_meta['routes']}")
        else:
            shutil.copyfile(base_trace + ".routes", prefix + ".routes")
            with open(base_trace + ".pcap", "rb") as f:
                data = f.read()
            out = bytearray(data[:24])          # pcap global header (link type Ethernet)
            le = data[:4] == b"\xd4\xc3\xb2\xa1"
            order = "little" if le else "big"
            off, k = 24, 0
            while off + 16 <= len(data):
                incl = int.from_bytes(data[off + 8:off + 12], order)
                frame = data[off + 16:off + 16 + incl]
                g = gre_wrap(frame, k, GRE_DECAP["remote"], GRE_DECAP["local"])
                out += data[off:off + 8] + len(g).to_bytes(4, order) + len(g).to_bytes(4, order)
                out += g
                off += 16 + incl
                k += 1
            if k != base_meta["count"]:
                raise BenchError(f"gre-decap: {k} frames wrapped, the base has "
                                 f"{base_meta['count']}")
            with open(prefix + ".pcap", "wb") as f:
                f.write(out)
        meta = dict(base_meta)
        meta.pop("cached", None)
        meta.update(pattern=pattern, base=os.path.basename(base_trace), base_sha256=src_sha,
                    gre_trace_version=GRE_TRACE_VERSION,
                    tunnel=dict(GRE_ENCAP if pattern == "gre" else GRE_DECAP))
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
    meta = json.load(open(meta_path))
    meta["cached"] = fresh
    return prefix, meta


# ----------------------------------------------------------------------------- sampling

def cpu_times(pid):
    """(machine busy ticks, steal ticks, ticks of pid, ticks of this process)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]       # user nice system irq softirq
    steal = v[7] if len(v) > 7 else 0

    def ticks(p):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime stime
        except (OSError, IndexError, ValueError):
            return 0
    return busy, steal, ticks(pid), ticks("self")


def load_report(c0, c1, seconds):
    """Average cores used by other processes, and steal, during the sampling."""
    hz = os.sysconf("SC_CLK_TCK")
    foreign = (c1[0] - c0[0]) - (c1[2] - c0[2]) - (c1[3] - c0[3])
    return {"other_processes_cores": max(0.0, foreign / hz / seconds),
            "steal_cores": (c1[1] - c0[1]) / hz / seconds}


def wait_quiet(max_wait, what):
    """Waits (up to max_wait s) until other processes use under 0.2 cores over 2 s: the
    machine is shared, and a compile on the second core halves the rates."""
    t0 = time.monotonic()
    while True:
        c0 = cpu_times(os.getpid())
        time.sleep(2)
        others = load_report(c0, cpu_times(os.getpid()), 2.0)["other_processes_cores"]
        waited = time.monotonic() - t0
        if others < 0.2 or waited >= max_wait:
            if others >= 0.2:
                log(f"{what}: the machine is still busy ({others:.2f} cores used by other "
                    f"processes) after {waited:.0f} s: measuring anyway")
            elif waited > 3:
                log(f"{what}: waited {waited:.0f} s for other processes to finish")
            return {"waited_seconds": waited, "other_processes_cores_before": others}
        if waited < 3:
            log(f"{what}: other processes use {others:.2f} cores: waiting up to {max_wait:.0f} s "
                "for the machine to quieten")


def measure(tel, in_port, out_port, warmup, samples, period, alive, what, pid=None,
            start_timeout=30):
    """Waits for traffic, warms up, then samples both ports every period seconds."""
    deadline = time.monotonic() + start_timeout
    while True:
        _, st = tel.port_stats(in_port)
        if st.get("ipackets", 0) > 0:
            break
        if not alive():
            raise BenchError(f"{what} exited before receiving traffic")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: no packet received on port {in_port} within "
                             f"{start_timeout} s")
        time.sleep(0.05)
    time.sleep(warmup)

    def read():
        t_in, si = tel.port_stats(in_port)
        t_out, so = tel.port_stats(out_port)
        return {"t": (t_in + t_out) / 2, "in": si, "out": so}

    prev = read()
    c0 = cpu_times(pid or os.getpid())
    first = prev["t"]
    out = []
    for i in range(samples):
        target = prev["t"] + period
        while (now := time.monotonic()) < target:
            time.sleep(min(0.05, target - now))
        if not alive():
            raise BenchError(f"{what} exited during the measurement")
        cur = read()
        dt = cur["t"] - prev["t"]
        out.append({
            "seconds": dt,
            "out_pps": (cur["out"]["opackets"] - prev["out"]["opackets"]) / dt,
            "in_pps": (cur["in"]["ipackets"] - prev["in"]["ipackets"]) / dt,
            "in_imissed": cur["in"].get("imissed", 0) - prev["in"].get("imissed", 0),
            "in_rx_nombuf": cur["in"].get("rx_nombuf", 0) - prev["in"].get("rx_nombuf", 0),
            "out_oerrors": cur["out"].get("oerrors", 0) - prev["out"].get("oerrors", 0),
        })
        prev = cur
    return out, load_report(c0, cpu_times(pid or os.getpid()), prev["t"] - first)


def pool(runs):
    """One result from the runs (rounds) of one process kind: every sample pooled."""
    samples = [s for r in runs for s in r["samples"]]
    return {"runs": runs, "samples": samples, "dpdk_version": runs[0].get("dpdk_version"),
            **summarize(samples)}


def summarize(samples):
    out = statistics.median(s["out_pps"] for s in samples)
    inn = statistics.median(s["in_pps"] for s in samples)
    return {"out_pps_median": out, "in_pps_median": inn,
            "out_pps_min": min(s["out_pps"] for s in samples),
            "out_pps_max": max(s["out_pps"] for s in samples)}


# ----------------------------------------------------------------------------- testpmd

def run_testpmd(ctx, pattern, tag, trace, mbufs, mem_mb):
    prefix = f"rbench{os.getpid()}tp{tag}"
    cleanup_prefix(prefix)
    logf = os.path.join(ctx["logdir"], f"{tag}-testpmd.log")
    cmd = ["dpdk-testpmd", "-l", "0-1", *ctx["mem"].eal_args(mem_mb), "--no-pci",
           "--file-prefix", prefix,
           "--vdev", f"net_pcap0,rx_pcap={trace}.pcap,infinite_rx=1",
           "--vdev", "net_null0,no-rx=1",
           "--", "--forward-mode=io", "--nb-cores=1", f"--total-num-mbufs={mbufs}",
           "--auto-start", "--stats-period", "0"]
    log(f"{tag}: testpmd io baseline")
    quiet = wait_quiet(ctx["wait_quiet"], f"{tag} testpmd") if ctx["wait_quiet"] > 0 else None
    ctx["mem"].ensure(mem_mb)
    proc = None
    tel = None
    try:
        with open(logf, "w") as lf:
            lf.write(" ".join(cmd) + "\n")
            lf.flush()
            # Non-interactive testpmd forwards until a byte arrives on stdin: keep it open.
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=lf, stderr=subprocess.STDOUT)
        ctx["procs"].append(proc)
        alive = lambda: proc.poll() is None
        tel = Telemetry(prefix, timeout=60, alive=alive)
        ids = {}
        for pid in tel.query("/ethdev/list").get("/ethdev/list", []):
            info = tel.query(f"/ethdev/info,{pid}").get("/ethdev/info", {})
            ids[info.get("name", "")] = pid
        if "net_pcap0" not in ids or "net_null0" not in ids:
            raise BenchError(f"testpmd: ports not found in telemetry ({ids}); see {logf}")
        samples, load = measure(tel, ids["net_pcap0"], ids["net_null0"], ctx["warmup"],
                                ctx["samples"], ctx["period"], alive, "testpmd", proc.pid)
        dpdk_version = tel.version
    except BenchError as e:
        raise BenchError(f"{e} (testpmd log: {logf}: {tail(logf)})")
    finally:
        if tel:
            tel.close()
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.write(b"\n")
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stop_process(proc, signal.SIGTERM)
        if proc is not None:
            ctx["procs"].remove(proc)
        cleanup_prefix(prefix)
    return {"command": cmd, "rc": proc.returncode, "log": logf, "dpdk_version": dpdk_version,
            "samples": samples, "load": load, "quiet": quiet, **summarize(samples)}


# ----------------------------------------------------------------------------- l3fwd

L3FWD_SRC = "/usr/share/dpdk/examples"     # Debian package dpdk-doc: the examples' source
# What build_l3fwd changes in l3fwd (22.11), and why; nothing else is touched:
#   LPM6: 1024 rules, 2^16 tbl8 groups -> 2^18 and 2^18 (the full IPv6 table is 160k
#         prefixes; routerd's [fib6] defaults are 2^18 / 2^18 too);
#   FIB6: 65535 routes, 2^15 tbl8 groups -> 2^18 and 2^18 (same reason);
#   NB_MBUF: at least 8192 -> at least the trace + 16384 (net_pcap infinite_rx holds the
#            whole trace in mbufs, as with testpmd --total-num-mbufs and routerd mbufs);
#   Rx offloads: IPv4/TCP/UDP checksum -> none (net_pcap and net_null offer none, and
#            rte_eth_dev_configure refuses what a port cannot do; IPv6 has no header
#            checksum and l3fwd never reads the flags on the IPv6 path).
L3FWD_PATCHES = [
    ("l3fwd/l3fwd_lpm.c", "#define IPV6_L3FWD_LPM_MAX_RULES         1024",
     "#define IPV6_L3FWD_LPM_MAX_RULES         (1 << 18)"),
    ("l3fwd/l3fwd_lpm.c", "#define IPV6_L3FWD_LPM_NUMBER_TBL8S (1 << 16)",
     "#define IPV6_L3FWD_LPM_NUMBER_TBL8S (1 << 18)"),
    ("l3fwd/l3fwd_fib.c", "config.max_routes = (1 << 16) - 1;", "config.max_routes = 1 << 18;"),
    ("l3fwd/l3fwd_fib.c", "config.trie.num_tbl8 = (1 << 15);", "config.trie.num_tbl8 = 1 << 18;"),
    ("l3fwd/main.c", "(unsigned)8192)", "(unsigned)@MBUFS@)"),
    ("l3fwd/main.c", ".offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,", ".offloads = 0,"),
]
# --family 4 and 46 add these: the full IPv4 table is 901,899 prefixes (routerd:
# fib.max_routes 2^20); LPM 1024 rules, 2^8 tbl8 groups and FIB 2^16 routes, 2^15 tbl8
# groups -> 2^21 rules (room for twice today's table) and 2^16 groups. --family 6 keeps the
# build without them (its figures stay comparable with earlier ones).
L3FWD_PATCHES4 = [
    ("l3fwd/l3fwd_lpm.c", "#define IPV4_L3FWD_LPM_MAX_RULES         1024",
     "#define IPV4_L3FWD_LPM_MAX_RULES         (1 << 21)"),
    ("l3fwd/l3fwd_lpm.c", "#define IPV4_L3FWD_LPM_NUMBER_TBL8S (1 << 8)",
     "#define IPV4_L3FWD_LPM_NUMBER_TBL8S (1 << 16)"),
    ("l3fwd/l3fwd_fib.c", "config_ipv4.max_routes = (1 << 16);",
     "config_ipv4.max_routes = 1 << 21;"),
    ("l3fwd/l3fwd_fib.c", "config_ipv4.dir24_8.num_tbl8 = (1 << 15);",
     "config_ipv4.dir24_8.num_tbl8 = 1 << 16;"),
]


def l3fwd_patches(family):
    return L3FWD_PATCHES + (L3FWD_PATCHES4 if family in (4, 46) else [])


def build_l3fwd(build, mbufs, family=6):
    """Builds (or reuses) the patched l3fwd for a pool of mbufs; returns the binary."""
    patches = l3fwd_patches(family)
    if not os.path.isfile(os.path.join(L3FWD_SRC, "l3fwd", "main.c")):
        raise BenchError(f"l3fwd source not found in {L3FWD_SRC}/l3fwd (apt-get install "
                         "dpdk-doc), or use --l3fwd none")
    h = hashlib.sha256(repr((patches, mbufs)).encode())
    for root, _, files in os.walk(os.path.join(L3FWD_SRC, "l3fwd")):
        for f in sorted(files):
            h.update(f.encode() + file_sha256(os.path.join(root, f)).encode())
    top = os.path.join(build, "bench", f"l3fwd-{h.hexdigest()[:12]}")
    binary = os.path.join(top, "l3fwd", "build", "l3fwd-shared")
    if os.path.exists(binary):
        return binary
    log(f"building DPDK's l3fwd (patched table sizes, {mbufs} mbufs) in {top}")
    shutil.rmtree(top, ignore_errors=True)
    for d in ("l3fwd", "common"):
        shutil.copytree(os.path.join(L3FWD_SRC, d), os.path.join(top, d))
    for rel, old, new in patches:
        path = os.path.join(top, rel)
        text = open(path).read()
        if text.count(old) != 1:
            raise BenchError(f"l3fwd: cannot patch {rel}: '{old}' found {text.count(old)} times")
        with open(path, "w") as f:
            f.write(text.replace(old, new.replace("@MBUFS@", str(mbufs))))
    # Shared: the static link wants libsystemd.a, which Debian does not ship.
    r = sh(["make", "-C", os.path.join(top, "l3fwd"), "shared"])
    if r.returncode != 0 or not os.path.exists(binary):
        raise BenchError(f"l3fwd build failed: {(r.stderr or r.stdout).strip()[-300:]}")
    return binary


def l3fwd_expected(meta):
    """(IPv4, IPv6) routes l3fwd must add for a trace."""
    family = meta.get("family", 4)
    if family == 46:
        return meta["routes4"], meta["routes6"]
    return (meta["routes"], 1) if family == 4 else (1, meta["routes"])


def l3fwd_rules(ctx, trace, meta):
    """l3fwd --rule_ipv6 and --rule_ipv4: every route of the trace's route file of that
    family, to port 1 (the null port). A single-family trace has no route of the other
    family, but l3fwd reads rule files only when given both: that file gets one route
    outside the trace."""
    base = os.path.join(ctx["tmp"], os.path.basename(trace))
    v4, v6 = base + ".l3fwd4", base + ".l3fwd6"
    if not os.path.exists(v6):
        n = {4: 0, 6: 0}
        with open(trace + ".routes") as src, open(v4, "w") as d4, open(v6, "w") as d6:
            for line in src:
                if line.startswith("#") or not line.strip():
                    continue
                prefix = line.split()[0]
                fam = 6 if ":" in prefix else 4
                (d6 if fam == 6 else d4).write(f"R{prefix} 1\n")
                n[fam] += 1
            if n[4] == 0:
                d4.write("R198.18.0.0/24 1\n")
                n[4] = 1
            if n[6] == 0:
                d6.write("R2001:db8:ffff::/48 1\n")
                n[6] = 1
        want = l3fwd_expected(meta)
        if (n[4], n[6]) != want:
            raise BenchError(f"l3fwd rules: {n[4]} IPv4 and {n[6]} IPv6 routes written, the "
                             f"trace has {want[0]} and {want[1]}")
    return v4, v6


def run_l3fwd(ctx, lookup, tag, trace, meta, mem_mb):
    prefix = f"rbench{os.getpid()}l3{lookup}{tag}"
    cleanup_prefix(prefix)
    logf = os.path.join(ctx["logdir"], f"{tag}-l3fwd-{lookup}.log")
    v4, v6 = l3fwd_rules(ctx, trace, meta)
    # One lcore (1, the main one) polls both ports, like routerd's one worker and testpmd
    # --nb-cores=1. l3fwd wants a Tx queue per lcore, and net_pcap has only one, hence -l 1.
    # Software ptype parsing: net_pcap sets none.
    cmd = [ctx["l3fwd"], "-l", "1", *ctx["mem"].eal_args(mem_mb), "--no-pci",
           "--file-prefix", prefix,
           "--vdev", f"net_pcap0,rx_pcap={trace}.pcap,infinite_rx=1",
           "--vdev", "net_null0,no-rx=1",
           "--", "-p", "0x3", "--config", "(0,0,1),(1,0,1)", f"--lookup={lookup}",
           "--parse-ptype", f"--rule_ipv4={v4}", f"--rule_ipv6={v6}",
           "--eth-dest=1,02:00:00:00:cc:02"]
    want4, want6 = l3fwd_expected(meta)
    log(f"{tag}: l3fwd --lookup={lookup} ({want4} IPv4, {want6} IPv6 routes)")
    quiet = wait_quiet(ctx["wait_quiet"], f"{tag} l3fwd") if ctx["wait_quiet"] > 0 else None
    ctx["mem"].ensure(mem_mb)
    proc = None
    tel = None
    t_start = time.monotonic()
    try:
        with open(logf, "w") as lf:
            lf.write(" ".join(cmd) + "\n")
            lf.flush()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT)
        ctx["procs"].append(proc)
        alive = lambda: proc.poll() is None
        tel = Telemetry(prefix, timeout=60, alive=alive)
        ids = {}
        for pid in tel.query("/ethdev/list").get("/ethdev/list", []):
            info = tel.query(f"/ethdev/info,{pid}").get("/ethdev/info", {})
            ids[info.get("name", "")] = pid
        if "net_pcap0" not in ids or "net_null0" not in ids:
            raise BenchError(f"l3fwd: ports not found in telemetry ({ids}); see {logf}")
        # The table is loaded before the ports start: the first packet marks the end of it.
        samples, load = measure(tel, ids["net_pcap0"], ids["net_null0"], ctx["warmup"],
                                ctx["samples"], ctx["period"], alive, f"l3fwd {lookup}",
                                proc.pid, start_timeout=300)
        dpdk_version = tel.version
    except BenchError as e:
        raise BenchError(f"{e} (l3fwd log: {logf}: {tail(logf)})")
    finally:
        if tel:
            tel.close()
        if proc is not None:
            stop_process(proc, signal.SIGTERM, timeout=30)
            ctx["procs"].remove(proc)
        cleanup_prefix(prefix)
    added = {4: 0, 6: 0}     # l3fwd prints one line per route it adds
    for line in open(logf, errors="replace"):
        w = line.split()
        if line.startswith(("LPM: Adding route", "FIB: Adding route")) and len(w) > 3:
            added[6 if ":" in w[3] else 4] += 1
    if (added[4], added[6]) != (want4, want6):
        raise BenchError(f"l3fwd {lookup}: {added[4]} IPv4 and {added[6]} IPv6 routes added, "
                         f"the trace has {want4} and {want6} (log: {logf})")
    return {"command": cmd, "rc": proc.returncode, "log": logf, "lookup": lookup,
            "dpdk_version": dpdk_version, "routes_added_ipv4": added[4],
            "routes_added_ipv6": added[6],
            "start_to_end_seconds": time.monotonic() - t_start,
            "samples": samples, "load": load, "quiet": quiet, **summarize(samples)}


def tail(path, n=3):
    try:
        lines = [l.strip() for l in open(path, errors="replace") if l.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:])


# ----------------------------------------------------------------------------- routerd

def toml_str(s):
    return json.dumps(s)


def routerd_config(path, sock, prefix, eal_mem, trace, meta, mbufs, route_cache=None,
                   generator="scripts/bench forward", tunnel_outer_path=True):
    """route_cache: None (no [route_cache] table: routerd's default), True or False.
    tunnel_outer_path=False: route_cache.tunnel_outer_path = false (every packet into a
    tunnel resolves its outer path in the FIB).
    An IPv6 trace (meta family 6) gets IPv6 port addresses and neighbours, the IPv4 FIB
    at its default size and [fib6] at its defaults (room for the full IPv6 table). A
    mixed trace (46) gets both families' addresses and neighbours, [fib] sized for the
    full IPv4 table and [fib6] at its defaults."""
    family = meta.get("family", 4)
    v6 = family == 6
    addr0 = {4: ["10.1.0.1/24"], 6: ["2001:db8:1::1/64"],
             46: ["10.1.0.1/24", "2001:db8:1::1/64"]}[family]
    addr1 = {4: ["10.2.0.1/24"], 6: ["2001:db8:2::1/64"],
             46: ["10.2.0.1/24", "2001:db8:2::1/64"]}[family]
    eal = ["-l", "0-1", *eal_mem, "--no-pci", "--file-prefix", prefix]
    lines = [
        f"# generated by {generator}",
        f"route_files = [{toml_str(trace + '.routes')}]",
        "",
        "[dataplane]",
        f"eal = [{', '.join(toml_str(a) for a in eal)}]",
        f"socket = {toml_str(sock)}",
        f"mbufs = {mbufs}",
        "",
        *(["[fib]", "max_routes = 1048576", ""] if not v6 else []),
        *([] if route_cache is None and tunnel_outer_path else
          ["[route_cache]",
           *([] if route_cache is None else [f"enabled = {'true' if route_cache else 'false'}"]),
           *([] if tunnel_outer_path else ["tunnel_outer_path = false"]), ""]),
        "# p0: the trace is addressed to this MAC (see bench_forward.PORT_MAC).",
        "[[port]]",
        'name = "p0"',
        f"device = {toml_str('net_pcap0,rx_pcap=' + trace + '.pcap,infinite_rx=1')}",
        'preset = "pcap"',
        f"mac = {toml_str(meta['dst_mac'])}",
        f"addresses = [{', '.join(toml_str(x) for x in addr0)}]",
        "",
        "[[port]]",
        'name = "p1"',
        'device = "net_null0,no-rx=1"',
        'preset = "null"',
        f"addresses = [{', '.join(toml_str(x) for x in addr1)}]",
    ]
    gws = trace_gateways(meta)
    for gw in gws:
        last = int(gw.rsplit(":", 1)[1], 16) if ":" in gw else int(gw.split(".")[3])
        lines += ["", "[[neighbour]]", f"address = {toml_str(gw)}",
                  f'lladdr = "02:00:00:00:cc:{last:02x}"', 'port = "p1"']
    t = meta.get("tunnel")
    if t:
        # GRE patterns (issue 17): the tunnel, and for encapsulation its outer route through
        # a static neighbour (so nothing waits for ARP).
        lines += ["", "[[tunnel]]", f"name = {toml_str(t['name'])}", 'type = "gre"',
                  f"local = {toml_str(t['local'])}", f"remote = {toml_str(t['remote'])}"]
        if t.get("outer_route"):
            lines += ["", "[[route]]", f"prefix = {toml_str(t['outer_route'])}",
                      f"via = {toml_str(t['outer_via'])}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return eal


def trace_gateways(meta):
    """The gateways the trace's routes use (gen-trace's JSON; 8 with --nexthops 8), each
    to get a static neighbour on p1."""
    family = meta.get("family", 4)
    g = meta.get("gateways")
    if family == 46 and isinstance(g, dict):
        return g["4"] + g["6"]
    if isinstance(g, list):
        return g
    return {4: GATEWAYS, 6: GATEWAYS6, 46: GATEWAYS + GATEWAYS6}[family]


def ecmp_check(meta, live):
    """With an ECMP route file: routerd must hold one group per family of exactly the trace's
    gateways, all alive, and every member must have carried packets. Returns what the bench
    records (members, packets, spread); raises BenchError otherwise (the figures would not
    measure ECMP)."""
    n = meta.get("nexthops", 1)
    if n <= 1:
        return None
    fams = {4: ["ipv4"], 6: ["ipv6"], 46: ["ipv4", "ipv6"]}[meta.get("family", 4)]
    out = {"groups": live.get("ecmp_groups"), "nexthops": n}
    for fam in fams:
        groups = live.get("ecmp", {}).get(fam, [])
        if len(groups) != 1:
            raise BenchError(f"routerd has {len(groups)} {fam} ECMP groups, the route file "
                             "makes one")
        members = groups[0]["members"]
        vias = sorted(m["via"] for m in members)
        want = sorted(g for g in trace_gateways(meta) if (":" in g) == (fam == "ipv6"))
        if vias != want:
            raise BenchError(f"routerd's {fam} ECMP group has members {vias}, the route file "
                             f"{want}")
        bad = [m["via"] for m in members if m["state"] != "alive" or m["packets"] == 0]
        if bad:
            raise BenchError(f"ECMP members not alive or without packets: {bad} "
                             f"({members})")
        packets = [m["packets"] for m in members]
        out[fam] = {"buckets": groups[0]["buckets"],
                    "members": [{k: m[k] for k in ("via", "state", "buckets", "packets")}
                                for m in members],
                    "packets": sum(packets),
                    "max_over_min": max(packets) / min(packets)}
    return out


def gre_check(meta, live, tunnel_outer_path=True):
    """With a GRE pattern: the tunnel must have carried (nearly) every packet p0 received,
    with no GRE or tunnel drop; else the figures would not measure GRE. With the outer-path
    cache off (tunnel_outer_path False), the tunnel must have resolved its outer path about
    once per packet; with it on, only at generation changes. Returns what the bench
    records."""
    t = meta.get("tunnel")
    if not t:
        return None
    ports = {p["name"]: p for p in live.get("ports", [])}
    if t["name"] not in ports:
        raise BenchError(f"routerctl stats has no port {t['name']} (ports: {sorted(ports)})")
    tun, p0 = ports[t["name"]], ports["p0"]
    field = "tx_packets" if t.get("outer_route") else "rx_packets"
    drops = {k: v for k, v in live.get("drops", {}).items()
             if (k.startswith("gre_") or k.startswith("tunnel_")) and v}
    out = {"tunnel": t["name"], field: tun.get(field, 0), "p0_rx": p0.get("rx_packets", 0),
           "drops": drops, "events": {k: v for k, v in live.get("events", {}).items()
                                      if k.startswith("tunnel_") and v}}
    if drops or out[field] < 0.9 * out["p0_rx"]:
        raise BenchError(f"{t['name']} carried {out[field]} packets ({field}) of {out['p0_rx']} "
                         f"p0 received, GRE/tunnel drops {drops}")
    if t.get("outer_route"):
        resolved = out["events"].get("tunnel_path_resolved", 0)
        per_packet = resolved >= 0.9 * out[field]
        if per_packet == tunnel_outer_path:
            raise BenchError(f"{t['name']} resolved its outer path {resolved} times for "
                             f"{out[field]} packets, with the outer-path cache "
                             f"{'on' if tunnel_outer_path else 'off'}")
    return out


def paired(runs, twins, tsc_hz):
    """A comparison of routerd runs with their twins, round by round (each pair ran back to
    back): the twins pooled (with their unexplained packets summed), the twins' cycles per
    packet, and the per-round ratios runs / twins (the median of these is the figure)."""
    one = pool(twins)
    one["unexplained"] = sum(r["final_accounting"]["unexplained"] for r in twins)
    cpp = tsc_hz / one["out_pps_median"] if tsc_hz and one["out_pps_median"] else None
    pairs = [a["out_pps_median"] / b["out_pps_median"] if b["out_pps_median"] else 0
             for a, b in zip(runs, twins)]
    return one, cpp, pairs


def gre_table(results):
    rows = ["| pattern | testpmd io Mpps | routerd plain Mpps | routerd GRE Mpps | "
            "GRE / plain (median of rounds) | per round | target | cycles/packet plain / GRE "
            "/ added | unexplained plain / GRE |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "gre_over_plain" not in r:
            continue
        one, rd = r["routerd_plain"], r["routerd"]
        t = r["gre_target"]
        verdict = "none" if t is None else \
            f"{t:.2f}: {'met' if r['gre_over_plain'] >= t else '**not met**'}"
        cyc = (f"{r['plain_cycles_per_packet']:.0f} / {r['cycles_per_packet']:.0f} / "
               f"{r['gre_added_cycles_per_packet']:+.0f}"
               if r.get("gre_added_cycles_per_packet") is not None else "n/a")
        rows.append(f"| {r['pattern']} | {fmt_mpps(r['testpmd']['out_pps_median'])} | "
                    f"{fmt_mpps(one['out_pps_median'])} | {fmt_mpps(rd['out_pps_median'])} | "
                    f"{r['gre_over_plain']:.3f} | "
                    + ", ".join(f"{x:.3f}" for x in r["gre_pair_ratios"])
                    + f" | {verdict} | {cyc} | {one['unexplained']} / {rd['unexplained']} |")
    return "\n".join(rows)


def gre_cache_table(results):
    rows = ["| pattern | routerd GRE Mpps (outer path cached) | routerd GRE Mpps (FIB lookup "
            "per packet) | cached / per packet (median of rounds) | per round | cycles/packet "
            "cached / per packet / saved |",
            "|---|---|---|---|---|---|"]
    for r in results:
        if "gre_cached_over_uncached" not in r:
            continue
        saved = r["gre_cache_saved_cycles_per_packet"]
        cyc = (f"{r['cycles_per_packet']:.0f} / {r['gre_uncached_cycles_per_packet']:.0f} / "
               f"{saved:.0f}" if saved is not None else "n/a")
        rows.append(f"| {r['pattern']} | {fmt_mpps(r['routerd']['out_pps_median'])} | "
                    f"{fmt_mpps(r['routerd_gre_uncached']['out_pps_median'])} | "
                    f"{r['gre_cached_over_uncached']:.3f} | "
                    + ", ".join(f"{x:.3f}" for x in r["gre_cached_over_uncached_pairs"])
                    + f" | {cyc} |")
    return "\n".join(rows)


def peak_rss_kib(pid):
    """VmHWM of a process (KiB): its peak resident set, heap included, hugepages not."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def routerctl(ctx, sock, *args, timeout=30):
    r = sh([ctx["routerctl"], "-s", sock, "-j", *args], timeout=timeout)
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()
    try:
        return json.loads(r.stdout), None
    except ValueError:
        return None, f"not JSON: {r.stdout[:200]}"


ROUTE_LOAD_RE = re.compile(r"route load (\S+): (\d+) routes \((\d+) new, (\d+) replaced\) in "
                           r"([\d.]+) s")
FINAL_RE = re.compile(r"final counters: (.*)$")


def parse_final(line):
    # "originated": what the control thread sent itself (ARP, NDP, ICMP), counted in tx.
    ports = {m.group(1): {"rx": int(m.group(2)), "tx": int(m.group(3)),
                          "originated": int(m.group(4) or 0), "dropped": int(m.group(5))}
             for m in re.finditer(r"(\S+): rx (\d+) tx (\d+)(?: originated (\d+))? dropped (\d+);",
                                  line)}
    drops = {}
    m = re.search(r"drops:(.*)$", line)
    if m:
        for kv in m.group(1).split():
            if "=" in kv:
                k, v = kv.split("=", 1)
                drops[k] = int(v)
    return {"ports": ports, "drops": drops}


def routes_wanted(meta):
    """(routerctl stats key, routes) that must be in before measuring."""
    family = meta.get("family", 4)
    if family == 46:
        return [("routes", meta["routes4"]), ("routes6", meta["routes6"])]
    return [("routes6" if family == 6 else "routes", meta["routes"])]


def run_routerd(ctx, pattern, tag, trace, meta, mbufs, mem_mb, route_cache=None,
                tunnel_outer_path=True):
    prefix = f"rbench{os.getpid()}rd{tag}"
    cleanup_prefix(prefix)
    work = ctx["tmp"]
    sock = os.path.join(work, f"{tag}.sock")
    conf = os.path.join(work, f"{tag}-routerd.toml")
    logf = os.path.join(ctx["logdir"], f"{tag}-routerd.log")
    routerd_config(conf, sock, prefix, ctx["mem"].eal_args(mem_mb), trace, meta, mbufs,
                   route_cache, tunnel_outer_path=tunnel_outer_path)
    shutil.copy(conf, os.path.join(ctx["logdir"], os.path.basename(conf)))
    cmd = [ctx["routerd"], "-c", conf]
    cache_text = "" if route_cache is None else f", route cache {'on' if route_cache else 'off'}"
    cache_text += "" if tunnel_outer_path else ", tunnel outer path per packet"
    log(f"{tag}: routerd ({meta['routes']} routes{cache_text})")
    quiet = wait_quiet(ctx["wait_quiet"], f"{tag} routerd") if ctx["wait_quiet"] > 0 else None
    ctx["mem"].ensure(mem_mb)
    proc = None
    tel = None
    result = {"command": cmd, "config": conf, "log": logf, "quiet": quiet,
              "route_cache": route_cache, "tunnel_outer_path": tunnel_outer_path}
    try:
        with open(logf, "w") as lf:
            t_start = time.monotonic()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT)
        ctx["procs"].append(proc)
        alive = lambda: proc.poll() is None
        # Ready: the control socket answers and every route is in.
        deadline = time.monotonic() + 300
        stats = None
        while True:
            if not alive():
                raise BenchError(f"routerd exited with status {proc.returncode} during startup"
                                 + ctx["mem"].hint())
            stats, _ = routerctl(ctx, sock, "stats") if os.path.exists(sock) else (None, None)
            if stats and all(stats.get(k, 0) >= n for k, n in routes_wanted(meta)):
                break
            if time.monotonic() > deadline:
                raise BenchError("routerd: routes not loaded within 300 s")
            time.sleep(0.2)
        result["ready_seconds"] = time.monotonic() - t_start
        result["peak_rss_kib_after_load"] = peak_rss_kib(proc.pid)
        m = None
        for line in open(logf, errors="replace"):
            m = ROUTE_LOAD_RE.search(line) or m
        if m:
            result["route_load"] = {"file": m.group(1), "routes": int(m.group(2)),
                                    "seconds": float(m.group(5))}
        links, err = routerctl(ctx, sock, "link", "show")
        if links is None:
            raise BenchError(f"routerctl link show: {err}")
        by_name = {l["name"]: l for l in links}
        result["links"] = links
        if by_name["p0"]["mac"].lower() != meta["dst_mac"].lower():
            raise BenchError(f"p0 has MAC {by_name['p0']['mac']}, the trace is addressed to "
                             f"{meta['dst_mac']}: every packet would be dropped as l2_other_host")
        tel = Telemetry(prefix, timeout=30, alive=alive)
        result["dpdk_version"] = tel.version
        samples, load = measure(tel, by_name["p0"]["port_id"], by_name["p1"]["port_id"],
                                ctx["warmup"], ctx["samples"], ctx["period"], alive, "routerd",
                                proc.pid)
        result["samples"] = samples
        result["load"] = load
        result.update(summarize(samples))
        # Accounting while forwarding (counters are read one after another while the worker
        # runs, so a burst or two in flight shows as a small difference).
        live, err = routerctl(ctx, sock, "stats")
        if live is None:
            raise BenchError(f"routerctl stats: {err}")
        result["live_stats"] = live
        result["live_accounting"] = accounting(live)
        ecmp = ecmp_check(meta, live)
        if ecmp is not None:
            result["ecmp"] = ecmp
        gre = gre_check(meta, live, tunnel_outer_path)
        if gre is not None:
            result["gre"] = gre
        rc_stats = live.get("route_cache")
        if route_cache is not None and rc_stats is not None \
                and bool(rc_stats.get("enabled")) != route_cache:
            raise BenchError(f"route cache asked {'on' if route_cache else 'off'}, routerd "
                             f"stats say enabled = {rc_stats.get('enabled')}")
        # The full table once more, through `routerctl route load` (a replace of every route)
        # while the trace keeps flowing: the load time under traffic, and the forwarding
        # rate while the control thread applies it.
        out_id = by_name["p1"]["port_id"]
        _, st0 = tel.port_stats(out_id)
        t0 = time.monotonic()
        res, err = routerctl(ctx, sock, "route", "load", trace + ".routes", timeout=120)
        t1 = time.monotonic()
        _, st1 = tel.port_stats(out_id)
        result["live_route_load"] = {
            "ok": res is not None, "error": err,
            "routes": res.get("routes") if res else None,
            "seconds": res.get("seconds") if res else None,
            "routerctl_seconds": t1 - t0,
            "forward_mpps_during": (st1["opackets"] - st0["opackets"]) / (t1 - t0) / 1e6,
        }
        result["peak_rss_kib"] = peak_rss_kib(proc.pid)
        # Stop: SIGTERM; routerd logs its final counters once the workers have stopped.
        t0 = time.monotonic()
        rc = stop_process(proc, signal.SIGTERM, timeout=30)
        result["stop_seconds"] = time.monotonic() - t0
        result["rc"] = rc
        final = None
        for line in open(logf, errors="replace"):
            fm = FINAL_RE.search(line.rstrip())
            if fm:
                final = parse_final(fm.group(1))
        if rc != 0 or final is None:
            raise BenchError(f"routerd did not stop cleanly on SIGTERM (status {rc}, final "
                             f"counters line {'found' if final else 'missing'})")
        result["final_counters"] = final
        result["final_accounting"] = final_accounting(final, live)
    except BenchError as e:
        raise BenchError(f"{e} (routerd log: {logf}: {tail(logf)})")
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"routerctl timed out: {e} (routerd log: {logf})")
    finally:
        if tel:
            tel.close()
        if proc is not None:
            stop_process(proc, signal.SIGTERM, timeout=30)
            ctx["procs"].remove(proc)
        cleanup_prefix(prefix)
    return result


def accounting(st):
    ports = {p["name"]: p for p in st["ports"]}
    rx = ports["p0"]["rx_packets"]
    tx = ports["p1"]["tx_packets"] - ports["p1"].get("tx_originated", 0)
    drops = sum(st["drops"].values())
    punts = sum(st["punts"].values())
    return {"p0_rx": rx, "p1_tx": tx, "drops": drops, "punts": punts,
            "nonzero_drops": {k: v for k, v in st["drops"].items() if v},
            "nonzero_punts": {k: v for k, v in st["punts"].items() if v},
            "difference": rx - tx - drops - punts,
            "p0_hw_ipackets": ports["p0"]["hw"].get("ipackets"),
            "p1_hw_opackets": ports["p1"]["hw"].get("opackets")}


def final_accounting(final, live):
    """Exact check on the final counters (workers stopped). Punts are not in that line: the
    live count is used (with static neighbours nothing should be punted at all)."""
    p = final["ports"]
    rx, tx = p["p0"]["rx"], p["p1"]["tx"] - p["p1"]["originated"]
    drops = sum(final["drops"].values())
    punts = sum(live["punts"].values())
    return {"p0_rx": rx, "p1_tx": tx, "drops": drops, "punts_live": punts,
            "nonzero_drops": {k: v for k, v in final["drops"].items() if v},
            "unexplained": rx - tx - drops - punts}


# ----------------------------------------------------------------------------- report

def fmt_mpps(pps):
    return f"{pps / 1e6:.2f}"


def table(results, mem_mode):
    rows = ["| pattern | testpmd io Mpps (median) | routerd Mpps (median) | ratio | "
            "routerd cycles/packet | memory mode | unexplained packets |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        cpp = f"{r['cycles_per_packet']:.0f}" if r.get("cycles_per_packet") else "n/a"
        rows.append(f"| {r['pattern']} | {fmt_mpps(r['testpmd']['out_pps_median'])} | "
                    f"{fmt_mpps(r['routerd']['out_pps_median'])} | {r['ratio']:.3f} | {cpp} | "
                    f"{mem_mode} | {r['routerd']['unexplained']} |")
    return "\n".join(rows)


def l3fwd_table(results, lookups, tsc_hz=None):
    """routerd beside l3fwd; IPv4 rows also give the issue-18 target for routerd / l3fwd
    fib and every program's cycles per packet (TSC / its own rate)."""
    def cyc(pps):
        return f"{tsc_hz / pps:.0f}" if tsc_hz and pps else "n/a"
    rows = ["| pattern | testpmd io Mpps | routerd Mpps | "
            + " | ".join(f"l3fwd {lk} Mpps | l3fwd {lk} / testpmd | routerd / l3fwd {lk}"
                         for lk in lookups)
            + " | target routerd / l3fwd fib | cycles/packet testpmd, "
            + ", ".join(["routerd"] + [f"l3fwd {lk}" for lk in lookups]) + " |",
            "|---|---|---|" + "---|---|---|" * len(lookups) + "---|---|"]
    for r in results:
        target = L3FWD_TARGETS.get(r["pattern"]) if r.get("family", 4) == 4 else None
        rows.append(f"| {r['pattern']} | {fmt_mpps(r['testpmd']['out_pps_median'])} | "
                    f"{fmt_mpps(r['routerd']['out_pps_median'])} | "
                    + " | ".join(f"{fmt_mpps(r['l3fwd'][lk]['out_pps_median'])} | "
                                 f"{r['l3fwd_ratio'][lk]:.3f} | {r['routerd_over_l3fwd'][lk]:.3f}"
                                 for lk in lookups)
                    + f" | {f'{target:.2f}' if target else '-'} | "
                    + ", ".join(cyc(x) for x in [r['testpmd']['out_pps_median'],
                                                 r['routerd']['out_pps_median']]
                                + [r['l3fwd'][lk]['out_pps_median'] for lk in lookups])
                    + " |")
    return "\n".join(rows)


def ecmp_table(results):
    rows = ["| pattern | testpmd io Mpps | routerd single next hop Mpps | routerd ECMP Mpps | "
            "ECMP / single (median of rounds) | per round | target | cycles/packet single / "
            "ECMP / added | members max/min | FIB load single / ECMP (s) | peak RSS single / "
            "ECMP (MiB) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "ecmp_over_single" not in r:
            continue
        one, rd = r["routerd_single"], r["routerd"]
        t = r["ecmp_target"]
        verdict = f"{t:.2f}: {'met' if r['ecmp_over_single'] >= t else '**not met**'}"
        if r.get("ecmp_added_cycles_per_packet") is not None:
            cyc = (f"{r['single_cycles_per_packet']:.0f} / {r['cycles_per_packet']:.0f} / "
                   f"{r['ecmp_added_cycles_per_packet']:+.0f}")
        else:
            cyc = "n/a"
        spread = [fam["max_over_min"] for e in r["ecmp_members"] if e
                  for k, fam in e.items() if isinstance(fam, dict)]
        sp = f"{max(spread):.3f}" if spread else "n/a"

        def load(x):
            return f"{x['route_load_seconds']:.2f}" if "route_load_seconds" in x else "n/a"

        def rss(x):
            v = [run.get("peak_rss_kib") for run in x["runs"] if run.get("peak_rss_kib")]
            return f"{max(v) / 1024:.0f}" if v else "n/a"
        rows.append(f"| {r['pattern']} | {fmt_mpps(r['testpmd']['out_pps_median'])} | "
                    f"{fmt_mpps(one['out_pps_median'])} | {fmt_mpps(rd['out_pps_median'])} | "
                    f"{r['ecmp_over_single']:.3f} | "
                    + ", ".join(f"{x:.3f}" for x in r["ecmp_pair_ratios"])
                    + f" | {verdict} | {cyc} | {sp} | {load(one)} / {load(rd)} | "
                    f"{rss(one)} / {rss(rd)} |")
    return "\n".join(rows)


def cache_table(results):
    rows = ["| pattern | routerd cache on Mpps | routerd cache off Mpps | cache on/off "
            "(median of rounds) | per round | target | ratio to testpmd, on / off | "
            "cache hit rate (on) |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "routerd_cache_off" not in r:
            continue
        family = r.get("family", 4)
        t = {4: CACHE_TARGETS, 6: CACHE6_TARGETS}.get(family, {}).get(r["pattern"])
        verdict = "none" if t is None else \
            f"{t:.2f}: {'met' if r['cache_on_off'] >= t else '**not met**'}"
        keys = {4: ["route_cache"], 6: ["route_cache6"],
                46: ["route_cache", "route_cache6"]}[family]
        hits = [run.get("live_stats", {}).get(key, {}) for run in r["routerd"]["runs"]
                for key in keys]
        h = sum(x.get("hits", 0) for x in hits)
        m = sum(x.get("misses", 0) + x.get("stale", 0) for x in hits)
        hr = f"{h / (h + m):.3f}" if h + m else "n/a"
        rows.append(f"| {r['pattern']} | {fmt_mpps(r['routerd']['out_pps_median'])} | "
                    f"{fmt_mpps(r['routerd_cache_off']['out_pps_median'])} | "
                    f"{r['cache_on_off']:.3f} | "
                    + ", ".join(f"{x:.3f}" for x in r["cache_pair_ratios"])
                    + f" | {verdict} | {r['ratio']:.3f} / "
                    f"{r['ratio_cache_off']:.3f} | {hr} |")
    return "\n".join(rows)


def plot(results, path, subtitle=""):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    xs = list(range(len(results)))
    ratios = [r["ratio"] for r in results]
    bars = ax.bar(xs, ratios, width=0.6, color="#4878a8", label="routerd / testpmd io")
    for x, r, b in zip(xs, results, bars):
        t = r.get("target_ratio")
        if t is None:
            h = b.get_height()
            ax.text(x, h / 2, f"{r['ratio']:.2f}", ha="center", va="center", color="white",
                    fontsize=11, fontweight="bold")
            continue
        ax.hlines(t, x - 0.4, x + 0.4, colors="#c03030", linestyles="--", linewidth=1.5,
                  label="target" if x == 0 else None)
        ax.text(x + 0.4, t + 0.01, f"{t:.2f}", color="#c03030", ha="right", va="bottom",
                fontsize=8)
        h = b.get_height()
        ax.text(x, h / 2, f"{r['ratio']:.2f}", ha="center", va="center", color="white",
                fontsize=11, fontweight="bold")
        ax.text(x, 0.02, f"{fmt_mpps(r['routerd']['out_pps_median'])} /\n"
                f"{fmt_mpps(r['testpmd']['out_pps_median'])} Mpps", ha="center", va="bottom",
                color="white", fontsize=7)
    ax.set_xticks(xs, [r["pattern"] for r in results])
    ax.set_xlim(-0.7, len(results) - 0.3)
    ax.set_ylabel("routerd / testpmd io (median pps)")
    ax.set_ylim(0, max(1.0, max(ratios) * 1.25, max(TARGETS.values()) * 1.25))
    ax.set_title("routerd forwarding vs testpmd io (pcap in, null out, 1 worker)"
                 + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ----------------------------------------------------------------------------- main

def table_and_binaries(args, repo):
    """The route table, the build directory and routerd/routerctl in it (built if missing);
    shared by every bench subcommand that runs routerd on the full table."""
    table_path = args.table or os.path.join(os.path.dirname(repo), "shared", "data",
                                            "full-table-2024.txt.gz")
    if not os.path.exists(table_path):
        raise BenchError(f"route table {table_path} not found")
    build = os.path.join(repo, args.build_dir) if not os.path.isabs(args.build_dir) \
        else args.build_dir
    routerd_bin = os.path.join(build, "app", "routerd", "routerd")
    routerctl_bin = os.path.join(build, "app", "routerctl", "routerctl")
    if not (os.path.exists(routerd_bin) and os.path.exists(routerctl_bin)):
        log(f"{routerd_bin} missing: building with scripts/build")
        r = subprocess.run([os.path.join(repo, "scripts", "build"), "--builddir", build],
                           stdout=sys.stderr)
        if r.returncode != 0 or not os.path.exists(routerd_bin):
            raise BenchError("scripts/build failed: routerd is not built")
    return table_path, build, routerd_bin, routerctl_bin

def run(args, repo):
    t_begin = time.monotonic()
    if os.geteuid() != 0:
        raise BenchError("must run as root (DPDK, hugepages)")
    if not shutil.which("dpdk-testpmd"):
        raise BenchError("dpdk-testpmd not found (Debian package dpdk; run scripts/bootstrap)")
    patterns = [p.strip() for p in args.patterns.split(",") if p.strip()]
    bad = [p for p in patterns if p not in PATTERNS]
    if bad or not patterns:
        raise BenchError(f"--patterns: unknown pattern(s) {bad}; choose from {PATTERNS}")
    table_path, build, routerd_bin, routerctl_bin = table_and_binaries(args, repo)

    date = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or os.path.join(build, "bench", f"results-{date}")
    os.makedirs(out, exist_ok=True)
    cache = os.path.join(build, "bench", "traces")
    tmp = tempfile.mkdtemp(prefix="routerd-bench.")
    ctx = {"tmp": tmp, "logdir": os.path.join(out, "logs"), "procs": [],
           "warmup": args.warmup, "samples": args.samples, "period": args.duration_per_sample,
           "wait_quiet": args.wait_quiet}
    os.makedirs(ctx["logdir"], exist_ok=True)
    copy_binaries(ctx, routerd=routerd_bin, routerctl=routerctl_bin)

    family = getattr(args, "family", 4)
    lookups = [x.strip() for x in getattr(args, "l3fwd", "none").split(",") if x.strip()]
    lookups = [] if lookups == ["none"] else lookups
    if any(x not in L3FWD_LOOKUPS for x in lookups):
        raise BenchError(f"--l3fwd: choose from {L3FWD_LOOKUPS} or none")
    counts = {p: args.count or DEFAULT_COUNT[p] for p in patterns}
    # [route_cache] enabled = true (True) / false (False); both: the two, every round.
    cache_modes = {"on": [True], "off": [False], "both": [True, False]}[args.route_cache]
    ecmp_patterns = [p for p in patterns if p in ECMP_BASE or p in GRE_BASE]
    if ecmp_patterns and len(cache_modes) > 1:
        raise BenchError(f"--route-cache both does not combine with {ecmp_patterns} (they "
                         "compare ECMP with single next hops, with the cache on or off)")
    max_mbufs = max(counts.values()) + EXTRA_MBUFS
    pool_mb = int(max_mbufs * MBUF_KIB / 1024) + 1
    # FIB_MB covers both families' full tables: --family 4 and 46.
    routerd_mb = -(-((FIB6_MB if family == 6 else FIB_MB) + pool_mb + MARGIN_MB) // 256) * 256
    testpmd_mb = -(-(pool_mb + MARGIN_MB) // 256) * 256
    l3fwd_mb = -(-(L3FWD_TABLE_MB + (L3FWD_TABLE4_MB if family in (4, 46) else 0) + pool_mb
                   + MARGIN_MB) // 256) * 256
    mem = Memory(args.memory, max(routerd_mb, l3fwd_mb if lookups else 0))
    ctx["mem"] = mem
    if lookups:
        ctx["l3fwd"] = build_l3fwd(build, max_mbufs, family)
    machine = machine_info(repo)
    results = []
    with bench_session(mem, tmp, ctx["procs"]):
        mode_text = "hugepages" if mem.mode == "hugepages" else f"no-huge (-m {routerd_mb})"
        log(f"memory: {mem.mode}: {mem.detail}")
        table_sha = file_sha256(table_path)
        for p in patterns:
            base = ECMP_BASE.get(p)
            gbase = GRE_BASE.get(p)
            if gbase:
                # The plain twin is the base pattern itself; the GRE files derive from it.
                trace1, meta1 = ensure_trace(repo, cache, gbase, counts[p], args.seed,
                                             table_path, table_sha, family)
                trace, meta = ensure_gre_trace(cache, p, trace1, meta1)
            else:
                trace, meta = ensure_trace(repo, cache, base or p, counts[p], args.seed,
                                           table_path, table_sha, family,
                                           ECMP_NEXTHOPS if base else 1)
            if base:
                # The single-next-hop twin: the base pattern's own files (shared cache entry).
                trace1, meta1 = ensure_trace(repo, cache, base, counts[p], args.seed,
                                             table_path, table_sha, family)
                if file_sha256(trace + ".pcap") != file_sha256(trace1 + ".pcap"):
                    raise BenchError(f"{p}: the ECMP and single-next-hop traces differ "
                                     f"({trace}.pcap, {trace1}.pcap)")
            mbufs = meta["count"] + EXTRA_MBUFS
            tps, by_mode = [], {m: [] for m in cache_modes}
            singles, uncached = [], []
            l3 = {lk: [] for lk in lookups}
            for k in range(args.rounds):
                tag = p if args.rounds == 1 else f"{p}-r{k + 1}"
                tps.append(run_testpmd(ctx, p, tag, trace, mbufs, testpmd_mb))
                if base or gbase:
                    # ECMP (GRE) and single next hop (plain) back to back, which one first
                    # alternating from round to round (an order effect cancels with drift);
                    # GRE_UNCACHED: the tunnel without its outer-path cache as a third run,
                    # at the other end of the round from the cached one.
                    m = cache_modes[0]
                    runs = ["pattern", "twin"] + (["uncached"] if p in GRE_UNCACHED else [])
                    for kind in (runs if k % 2 == 0 else runs[::-1]):
                        if kind == "pattern":
                            by_mode[m].append(run_routerd(ctx, p, tag, trace, meta, mbufs,
                                                          routerd_mb, m))
                        elif kind == "uncached":
                            uncached.append(run_routerd(ctx, p, f"{tag}-uncached", trace, meta,
                                                        mbufs, routerd_mb, m,
                                                        tunnel_outer_path=False))
                        else:
                            singles.append(run_routerd(
                                ctx, p, f"{tag}-{'plain' if gbase else 'single'}", trace1,
                                meta1, mbufs, routerd_mb, m))
                # --route-cache both: cache on and off in every round, which one first
                # alternating from round to round (an order effect cancels with drift).
                for m in ([] if base or gbase else
                          cache_modes if k % 2 == 0 else cache_modes[::-1]):
                    by_mode[m].append(run_routerd(ctx, p, tag if m else f"{tag}-nocache", trace,
                                                  meta, mbufs, routerd_mb, m))
                # l3fwd after routerd, the lookups in turn, every round.
                for lk in (lookups if k % 2 == 0 else lookups[::-1]):
                    l3[lk].append(run_l3fwd(ctx, lk, tag, trace, meta, l3fwd_mb))
            rds = by_mode[cache_modes[0]]
            offs = by_mode[False] if len(cache_modes) > 1 else []
            tp, rd = pool(tps), pool(rds)
            rd["unexplained"] = sum(r["final_accounting"]["unexplained"] for r in rds)
            off = None
            if offs:
                off = pool(offs)
                off["unexplained"] = sum(r["final_accounting"]["unexplained"] for r in offs)
            loads_p = [r["route_load"]["seconds"] for r in rds if "route_load" in r]
            if loads_p:
                rd["route_load_seconds"] = statistics.median(loads_p)
            ratio = rd["out_pps_median"] / tp["out_pps_median"] if tp["out_pps_median"] else 0
            cpp = machine["tsc_hz"] / rd["out_pps_median"] \
                if machine["tsc_hz"] and rd["out_pps_median"] else None
            tp_cpp = machine["tsc_hz"] / tp["out_pps_median"] \
                if machine["tsc_hz"] and tp["out_pps_median"] else None
            extra = {}
            if lookups:
                extra["l3fwd"] = {lk: pool(l3[lk]) for lk in lookups}
                extra["routerd_over_l3fwd"] = {
                    lk: rd["out_pps_median"] / extra["l3fwd"][lk]["out_pps_median"]
                    if extra["l3fwd"][lk]["out_pps_median"] else 0 for lk in lookups}
                extra["l3fwd_ratio"] = {
                    lk: extra["l3fwd"][lk]["out_pps_median"] / tp["out_pps_median"]
                    if tp["out_pps_median"] else 0 for lk in lookups}
            if off is not None:
                extra |= {"routerd_cache_off": off,
                          "ratio_cache_off": off["out_pps_median"] / tp["out_pps_median"]
                          if tp["out_pps_median"] else 0,
                          # per round (on and off run back to back), then the median:
                          # neighbours in time share this machine's drift
                          "cache_pair_ratios": [a["out_pps_median"] / b["out_pps_median"]
                                                for a, b in zip(rds, offs)],
                          "cache_on_off_pooled": rd["out_pps_median"] / off["out_pps_median"]}
                extra["cache_on_off"] = statistics.median(extra["cache_pair_ratios"])
            if base:
                one, cpp1, pairs = paired(rds, singles, machine["tsc_hz"])
                loads1 = [r["route_load"]["seconds"] for r in singles if "route_load" in r]
                if loads1:
                    one["route_load_seconds"] = statistics.median(loads1)
                extra |= {"ecmp_base": base, "nexthops": ECMP_NEXTHOPS,
                          "routerd_single": one,
                          "ratio_single": one["out_pps_median"] / tp["out_pps_median"]
                          if tp["out_pps_median"] else 0,
                          "single_cycles_per_packet": cpp1,
                          # per round (the two run back to back), then the median
                          "ecmp_pair_ratios": pairs,
                          "ecmp_over_single": statistics.median(pairs),
                          "ecmp_over_single_pooled": rd["out_pps_median"] / one["out_pps_median"]
                          if one["out_pps_median"] else 0,
                          "ecmp_target": ECMP_TARGET,
                          "ecmp_members": [r.get("ecmp") for r in rds]}
            if base and cpp and extra["single_cycles_per_packet"]:
                extra["ecmp_added_cycles_per_packet"] = cpp - extra["single_cycles_per_packet"]
            if gbase:
                one, cpp1, pairs = paired(rds, singles, machine["tsc_hz"])
                extra |= {"gre_base": gbase, "tunnel": meta["tunnel"],
                          "routerd_plain": one,
                          "ratio_plain": one["out_pps_median"] / tp["out_pps_median"]
                          if tp["out_pps_median"] else 0,
                          "plain_cycles_per_packet": cpp1,
                          # per round (the two run back to back), then the median
                          "gre_pair_ratios": pairs,
                          "gre_over_plain": statistics.median(pairs),
                          "gre_over_plain_pooled": rd["out_pps_median"] / one["out_pps_median"]
                          if one["out_pps_median"] else 0,
                          "gre_target": GRE_TARGET.get(p),
                          "gre_added_cycles_per_packet": cpp - cpp1 if cpp and cpp1 else None,
                          "gre_tunnel": [r.get("gre") for r in rds]}
                if uncached:
                    # per round, cached over uncached (the same packets and tunnel)
                    un, cpp_un, upairs = paired(rds, uncached, machine["tsc_hz"])
                    extra |= {"routerd_gre_uncached": un,
                              "gre_uncached_cycles_per_packet": cpp_un,
                              "gre_cached_over_uncached_pairs": upairs,
                              "gre_cached_over_uncached": statistics.median(upairs),
                              "gre_cache_saved_cycles_per_packet":
                                  cpp_un - cpp if cpp and cpp_un else None,
                              "gre_uncached_tunnel": [r.get("gre") for r in uncached]}
            results.append({"pattern": p, "family": family, "trace": meta, "testpmd": tp,
                            "routerd": rd,
                            "route_cache": args.route_cache != "off", **extra,
                            "ratio": ratio,
                            "target_ratio": TARGETS.get(p) if family == 4 else None,
                            "cycles_per_packet": cpp, "testpmd_cycles_per_packet": tp_cpp,
                            "routerd_added_cycles_per_packet":
                                cpp - tp_cpp if cpp and tp_cpp else None})
            log(f"{p}: testpmd {fmt_mpps(tp['out_pps_median'])} Mpps, routerd "
                f"{fmt_mpps(rd['out_pps_median'])} Mpps, ratio {ratio:.3f}"
                + (f"; cache off {fmt_mpps(off['out_pps_median'])} Mpps, cache on/off "
                   f"{extra['cache_on_off']:.3f}" if off is not None else "")
                + (f"; single next hop {fmt_mpps(extra['routerd_single']['out_pps_median'])} "
                   f"Mpps, ECMP/single {extra['ecmp_over_single']:.3f}" if base else "")
                + (f"; plain {fmt_mpps(extra['routerd_plain']['out_pps_median'])} Mpps, "
                   f"{p}/plain {extra['gre_over_plain']:.3f}" if gbase else "")
                + (f"; outer path per packet "
                   f"{fmt_mpps(extra['routerd_gre_uncached']['out_pps_median'])} Mpps, "
                   f"cached/per-packet {extra['gre_cached_over_uncached']:.3f}"
                   if "routerd_gre_uncached" in extra else "")
                + "".join(f"; l3fwd {lk} {fmt_mpps(extra['l3fwd'][lk]['out_pps_median'])} Mpps"
                          f" (routerd/l3fwd {extra['routerd_over_l3fwd'][lk]:.3f})"
                          for lk in lookups))

    elapsed = time.monotonic() - t_begin
    loads = [run["route_load"]["seconds"] for r in results for run in r["routerd"]["runs"]
             if "route_load" in run]
    doc = {
        "machine": machine,
        "memory": {"mode": mem.mode, "detail": mem.detail, "routerd_mb": routerd_mb,
                   "testpmd_mb": testpmd_mb, "l3fwd_mb": l3fwd_mb if lookups else None,
                   "eal_args": mem.eal_args(routerd_mb)},
        "parameters": {"family": family, "l3fwd": lookups,
                       "l3fwd_patches": [list(x) for x in l3fwd_patches(family)]
                       if lookups else None,
                       "patterns": patterns, "samples": args.samples,
                       "duration_per_sample": args.duration_per_sample, "warmup": args.warmup,
                       "rounds": args.rounds, "wait_quiet": args.wait_quiet,
                       "route_cache": args.route_cache,
                       "seed": args.seed, "counts": counts, "table": table_path,
                       "table_sha256": table_sha, "extra_mbufs": EXTRA_MBUFS},
        "results": results,
        "fib_load_seconds_median": statistics.median(loads) if loads else None,
        "bench_seconds": elapsed,
    }
    suffix = "" if family == 4 else str(family)
    json_path = os.path.join(out, f"forward{suffix}.json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    png_path = os.path.join(out, f"forward{suffix}.png")
    plot_err = None
    try:
        plot(results, png_path, f"{machine['date'][:16].replace('T', ' ')}, commit "
             f"{machine['git_commit']}, {mem.mode}, {args.samples} x "
             f"{args.duration_per_sample:g} s samples"
             + (f" x {args.rounds} rounds" if args.rounds > 1 else ""))
    except Exception as e:  # noqa: BLE001 - the numbers matter more than the picture
        plot_err = f"{type(e).__name__}: {e}"

    title = {4: "", 6: ", IPv6", 46: ", mixed IPv4 + IPv6 (50/50, alternating)"}[family]
    print(f"## Forwarding benchmark{title}, {machine['date']}\n")
    dirty = " (+ uncommitted changes)" if machine["git_dirty"] else ""
    print(f"commit {machine['git_commit']}{dirty}, {machine['cpu_model']}, {machine['nproc']} cores"
          f"{' (VM)' if machine['hypervisor'] else ''}, "
          f"{results[0]['routerd'].get('dpdk_version', '?') if results else '?'}\n")
    print(table(results, mode_text))
    print()
    if lookups:
        print(l3fwd_table(results, lookups, machine["tsc_hz"]))
        print()
        if family == 4:
            print("l3fwd: DPDK 22.11 examples/l3fwd from the dpdk-doc package, built by the "
                  "bench with only LPM/FIB IPv4 sizes (2^21 rules, 2^16 tbl8 groups; LPM6/FIB6 "
                  "2^18 and 2^18), its mbuf minimum raised and its Rx checksum offload request "
                  "dropped (the vdevs have none); one lcore polls both ports; --parse-ptype; "
                  "every route of the trace to port 1 (--rule_ipv4). It checks the IPv4 "
                  "version, header length and total length (RFC 1812 5.2.2; the checksum it "
                  "leaves to a NIC offload these vdevs lack) and decrements the TTL; routerd "
                  "also verifies the checksum, drops martians, expiring TTLs and frames for "
                  "other hosts, answers with ICMP, and counts every drop.")
        elif family == 46:
            print("l3fwd: DPDK 22.11 examples/l3fwd from the dpdk-doc package, built by the "
                  "bench with only LPM6/FIB6 sizes (2^18 rules, 2^18 tbl8 groups), LPM/FIB "
                  "IPv4 sizes (2^20 rules, 2^16 tbl8 groups) and its mbuf minimum raised and "
                  "its Rx checksum offload request dropped (the vdevs have none); one lcore "
                  "polls both ports; --parse-ptype; every route of the trace to port 1 "
                  "(--rule_ipv4 and --rule_ipv6). It decrements the IPv4 TTL (RFC 1812 "
                  "checks) but leaves the IPv6 hop limit alone; routerd decrements both.")
        else:
            print("l3fwd: DPDK 22.11 examples/l3fwd from the dpdk-doc package, built by the "
                  "bench with only LPM6/FIB6 sizes (2^18 rules, 2^18 tbl8 groups) and its mbuf "
                  "minimum raised and its Rx checksum offload request dropped (the vdevs have "
                  "none); one lcore polls both ports; --parse-ptype; every IPv6 route of the "
                  "trace to port 1 (--rule_ipv6). It rewrites the Ethernet header but leaves "
                  "the IPv6 hop limit alone; routerd decrements it.")
    if any("ecmp_over_single" in r for r in results):
        if lookups:
            print()
        print(ecmp_table(results))
        print()
        print(f"ECMP: routerd with every route through one {ECMP_NEXTHOPS}-way group (gen-trace "
              f"--nexthops {ECMP_NEXTHOPS}, {ECMP_NEXTHOPS} static neighbours) against routerd "
              "with the base pattern's single-next-hop routes, same trace; every round ran "
              "both back to back, ECMP first in odd rounds; ECMP/single = median over the "
              "rounds of their ratio; added cycles = the difference of cycles/packet "
              "(medians); members max/min = packets of the busiest / the idlest member.")
        print()
    if any("gre_over_plain" in r for r in results):
        print(gre_table(results))
        print()
        print("GRE: routerd with the tunnel (gre: every route `dev gre1`, the tunnel's outer next "
              "hop a static neighbour on p1; gre-decap: the trace's packets inside GRE to p0's "
              "address, gre1 matching them, the inner packets routed by the full table) "
              "against routerd forwarding the base pattern plainly, same packets; every round "
              "ran both back to back, GRE first in odd rounds; GRE/plain = median over the "
              "rounds of their ratio; added cycles = the difference of cycles/packet (medians).")
        print()
    if any("gre_cached_over_uncached" in r for r in results):
        print(gre_cache_table(results))
        print()
        print("Outer-path cache: every round also ran routerd with route_cache.tunnel_outer_path "
              "= false (the tunnel's remote looked up in the FIB for every packet), at the other "
              "end of the round from the cached run; saved = the difference of cycles/packet "
              "(medians).")
        print()
    if args.route_cache == "both":
        print(cache_table(results))
        print()
        print("Route cache: every round ran routerd with [route_cache] enabled = true and "
              "false, on first in odd rounds, off first in even ones; on/off = median over "
              "the rounds of on / off.")
    else:
        print(f"Route cache: {args.route_cache} ([route_cache] enabled = "
              f"{'true' if args.route_cache == 'on' else 'false'}).")
    if loads:
        print(f"FIB load ({results[0]['trace']['routes']} routes, routerd log `route load`): "
              + ", ".join(f"{r['pattern']} {r['routerd']['route_load_seconds']:.2f} s"
                          for r in results if "route_load_seconds" in r["routerd"])
              + f"; median {statistics.median(loads):.2f} s")
    live = [run["live_route_load"] for r in results for run in r["routerd"]["runs"]
            if run.get("live_route_load", {}).get("ok")]
    if live:
        print(f"Full-table reload while forwarding (`routerctl route load`, {live[0]['routes']} "
              f"routes replaced): median {statistics.median(l['seconds'] for l in live):.2f} s in "
              f"routerd, {statistics.median(l['routerctl_seconds'] for l in live):.2f} s for "
              f"routerctl end to end; forwarding meanwhile: "
              + ", ".join(f"{l['forward_mpps_during']:.1f}" for l in live) + " Mpps")
    print(f"Memory: {mem.mode} — {mem.detail}")
    print(f"Samples: {args.samples} x {args.duration_per_sample} s after {args.warmup} s warm-up,"
          f" per process, {args.rounds} round(s) of testpmd then routerd per pattern; "
          "Mpps = null port opackets/s (DPDK telemetry), median.")
    if machine["tsc_hz"]:
        print(f"Cycles/packet: TSC {machine['tsc_hz'] / 1e6:.1f} MHz ({machine['tsc_source']}) / "
              "routerd pps (the worker busy-polls its core).")
    else:
        print("Cycles/packet: n/a (TSC frequency unknown: no dmesg line, no cpu MHz)")
    if all(r.get("routerd_added_cycles_per_packet") for r in results):
        print("Cycles/packet of testpmd io (the devices alone): "
              + ", ".join(f"{r['pattern']} {r['testpmd_cycles_per_packet']:.0f}" for r in results)
              + "; routerd's own work is the difference: "
              + ", ".join(f"{r['pattern']} {r['routerd_added_cycles_per_packet']:.0f}"
                          for r in results) + ".")
    busy = [(r["pattern"], kind, run["load"]) for r in results for kind in ("testpmd", "routerd")
            for run in r[kind]["runs"] if "load" in run]
    worst = max((l["other_processes_cores"] for _, _, l in busy), default=0)
    worst_steal = max((l["steal_cores"] for _, _, l in busy), default=0)
    print(f"Other load during sampling: at most {worst:.2f} cores used by other processes, "
          f"{worst_steal:.2f} cores of steal time"
          + (" -- WARNING: the machine was not quiet, these numbers are disturbed"
             if worst > 0.25 or worst_steal > 0.25 else "") + ".")
    print("Unexplained packets: final counters after SIGTERM, p0 rx - p1 tx - drops - punts.")
    print(f"\nJSON: {json_path}\nPNG:  {png_path}"
          + (f" (not written: {plot_err})" if plot_err else "")
          + f"\nLogs: {ctx['logdir']}\nBench time: {elapsed:.0f} s")
    return 0
