"""bench_dpdk: DPDK plumbing for scripts/bench (run with /usr/bin/python3).

- Telemetry: a client for a DPDK process's telemetry socket
  (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2, SOCK_SEQPACKET, JSON answers).
- Memory: reserve 2 MiB hugepages (and mount hugetlbfs) or fall back to --no-huge, and put
  the machine back as it was afterwards.
- Cleanup of what an EAL process leaves behind: /dev/hugepages/<prefix>map_* and
  /var/run/dpdk/<prefix>.
- bench_session: the set-up and teardown around one whole bench run (signals, memory,
  the processes started, the temporary directory).
"""
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time

RUNTIME_DIR = "/var/run/dpdk"
HP_SYSFS = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
HP_MOUNT = "/dev/hugepages"
HP_SIZE_MB = 2


class BenchError(Exception):
    """Something could not run: scripts/bench prints it as one line and exits non-zero."""


# ----------------------------------------------------------------------------- telemetry

class Telemetry:
    """One connection to a DPDK telemetry v2 socket."""

    def __init__(self, prefix, timeout=30.0, alive=None):
        self.path = os.path.join(RUNTIME_DIR, prefix, "dpdk_telemetry.v2")
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.settimeout(5.0)
                s.connect(self.path)
                hello = json.loads(s.recv(4096).decode())
                break
            except (OSError, ValueError) as e:
                last = e
                s.close()
                if alive is not None and not alive():
                    raise BenchError(f"process exited before its telemetry socket {self.path} "
                                     "answered")
                if time.monotonic() > deadline:
                    raise BenchError(f"telemetry socket {self.path}: {last}")
                time.sleep(0.1)
        self.sock = s
        self.version = hello.get("version", "?")
        self.pid = hello.get("pid")
        self.max_len = int(hello.get("max_output_len", 16384))

    def query(self, cmd):
        self.sock.send(cmd.encode())
        data = self.sock.recv(self.max_len)
        if not data:
            raise BenchError(f"telemetry socket {self.path}: closed")
        return json.loads(data.decode())

    def port_stats(self, port_id):
        """(monotonic time of the answer, stats dict) for /ethdev/stats,<port_id>."""
        t0 = time.monotonic()
        ans = self.query(f"/ethdev/stats,{port_id}")
        t1 = time.monotonic()
        st = ans.get("/ethdev/stats")
        if not isinstance(st, dict):
            raise BenchError(f"telemetry /ethdev/stats,{port_id}: unexpected answer {ans}")
        return (t0 + t1) / 2, st

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------- cleanup

def cleanup_prefix(prefix):
    """Removes the hugepage files and the runtime directory of one EAL file prefix."""
    for f in glob.glob(os.path.join(HP_MOUNT, prefix + "map_*")):
        try:
            os.unlink(f)
        except OSError:
            pass
    shutil.rmtree(os.path.join(RUNTIME_DIR, prefix), ignore_errors=True)


def stop_process(proc, sig_first=None, timeout=20.0):
    """Ends one process we started (by its Popen), politely first. Returns its exit code."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    if sig_first is not None:
        try:
            proc.send_signal(sig_first)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


# ----------------------------------------------------------------------------- memory

def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = int(v.split()[0])
    return out


def hugetlbfs_mounts():
    with open("/proc/mounts") as f:
        return [l.split()[1] for l in f if l.split()[2:3] == ["hugetlbfs"]]


class Memory:
    """Chooses the EAL memory mode and undoes every change to the machine in release().

    want: "auto" (hugepages, else --no-huge), "huge" (hugepages or fail), "nohuge".
    eal_args(mb) gives the EAL options for a process that needs about mb MiB.
    """

    def __init__(self, want, need_mb):
        self.want = want
        self.need_mb = need_mb
        self.mode = None           # "hugepages" or "no-huge"
        self.detail = ""
        self.prev_nr = None        # nr_hugepages before we changed it
        self.mounted = False
        self.made_dir = False
        self.reserved_pages = 0
        self.set_nr = None         # nr_hugepages as we last set it

    def setup(self):
        if self.want == "nohuge":
            self.mode, self.detail = "no-huge", "--no-huge asked for"
            return
        why = self._try_huge()
        if why is None:
            self.mode = "hugepages"
            return
        if self.want == "huge":
            raise BenchError(f"hugepages asked for (--huge) but unavailable: {why}")
        self.mode = "no-huge"
        self.detail = f"hugepages unavailable ({why}); fell back to --no-huge"

    def _try_huge(self):
        if os.geteuid() != 0:
            return "not root"
        if not os.path.exists(HP_SYSFS):
            return f"{HP_SYSFS} missing (no 2 MiB hugepage support)"
        pages = -(-self.need_mb // HP_SIZE_MB)
        try:
            mounts = hugetlbfs_mounts()
            if HP_MOUNT not in mounts:
                if mounts:
                    return f"hugetlbfs mounted at {mounts[0]}, not {HP_MOUNT}"
                if not os.path.isdir(HP_MOUNT):
                    os.makedirs(HP_MOUNT)
                    self.made_dir = True
                subprocess.run(["mount", "-t", "hugetlbfs", "nodev", HP_MOUNT], check=True,
                               capture_output=True, text=True)
                self.mounted = True
            # Persistent pool size (sysfs counts surplus pages of running processes too).
            mi = meminfo()
            self.prev_nr = mi["HugePages_Total"] - mi["HugePages_Surp"]
            free = mi["HugePages_Free"]
            if free < pages:
                with open(HP_SYSFS, "w") as f:
                    f.write(str(mi["HugePages_Total"] + pages - free))
            free = meminfo()["HugePages_Free"]
            if free < pages:
                self._restore()
                return f"only {free} of {pages} 2 MiB pages could be reserved"
            with open(HP_SYSFS) as f:
                self.set_nr = int(f.read())
            self.reserved_pages = self.set_nr - self.prev_nr
        except (OSError, subprocess.CalledProcessError) as e:
            self._restore()
            msg = getattr(e, "stderr", None) or str(e)
            return msg.strip()
        self.detail = (f"2 MiB hugepages: {pages} needed, {self.reserved_pages} reserved by the "
                       f"bench (nr_hugepages {self.prev_nr} -> "
                       f"{self.prev_nr + self.reserved_pages})"
                       + (f", hugetlbfs mounted on {HP_MOUNT}" if self.mounted else ""))
        return None

    def ensure(self, mb):
        """Before each EAL process: tops the reservation up if another process took some of
        the free pages since setup() (others on the machine may use hugepages too)."""
        if self.mode != "hugepages":
            return
        if HP_MOUNT not in hugetlbfs_mounts():   # another bench run unmounted it meanwhile
            r = subprocess.run(["mount", "-t", "hugetlbfs", "nodev", HP_MOUNT],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError(f"hugepages: cannot mount hugetlbfs on {HP_MOUNT}: "
                                 f"{r.stderr.strip()}")
            self.mounted = True
        pages = -(-mb // HP_SIZE_MB)
        free = meminfo()["HugePages_Free"]
        if free >= pages:
            return
        try:
            with open(HP_SYSFS) as f:
                cur = int(f.read())
            with open(HP_SYSFS, "w") as f:
                f.write(str(cur + pages - free))
            self.set_nr = cur + pages - free
        except OSError as e:
            raise BenchError(f"hugepages: only {free} free, {pages} needed, cannot reserve more: "
                             f"{e}")
        free = meminfo()["HugePages_Free"]
        if free < pages:
            raise BenchError(f"hugepages: only {free} free, {pages} needed (other processes use "
                             "them); try --no-huge")

    def eal_args(self, mb):
        # With hugepages, -m makes the EAL take all of it at startup (right after ensure()),
        # so other processes on the machine cannot take the pages while routerd builds its FIB.
        if self.mode == "hugepages":
            return ["-m", str(mb)]
        return ["--no-huge", "-m", str(mb)]

    def hint(self):
        if self.mode != "hugepages":
            return ""
        free = meminfo()["HugePages_Free"]
        return (f" (hugepages: {free} free 2 MiB pages now; another process may have taken "
                "them: retry, or use --no-huge)")

    def _restore(self):
        if self.prev_nr is not None:
            try:
                with open(HP_SYSFS) as f:
                    cur = int(f.read())
                # Someone else changed it meanwhile: leave their setting alone.
                if self.set_nr is None or cur == self.set_nr:
                    with open(HP_SYSFS, "w") as f:
                        f.write(str(self.prev_nr))
            except OSError:
                pass
            self.prev_nr = None
        if self.mounted:
            # Only if nothing else put files there meanwhile.
            if not os.listdir(HP_MOUNT):
                subprocess.run(["umount", HP_MOUNT], capture_output=True)
            self.mounted = False
        if self.made_dir and not os.path.ismount(HP_MOUNT):
            try:
                os.rmdir(HP_MOUNT)
            except OSError:
                pass
            self.made_dir = False

    def release(self):
        self._restore()


# ----------------------------------------------------------------------------- session

@contextlib.contextmanager
def bench_session(mem, tmp, procs):
    """The frame around one bench run (`scripts/bench forward`, `scripts/bench churn`).

    On entry: SIGINT and SIGTERM raise KeyboardInterrupt, then mem.setup(). Inside, a
    KeyboardInterrupt (^C or kill) becomes BenchError("interrupted (...)"). On the way out,
    whatever happened (inside, or in mem.setup()): every process still in `procs` (the
    list the run appends its Popens to and removes them from) is stopped, SIGTERM first;
    mem.release() puts the machine's hugepages back; the directory `tmp` is removed; the
    previous SIGINT and SIGTERM handlers are restored.
    """
    old_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in old_handlers:
        signal.signal(s, on_signal)
    try:
        mem.setup()
        yield
    except KeyboardInterrupt as e:
        raise BenchError(f"interrupted ({e})")
    finally:
        for proc in list(procs):
            stop_process(proc, signal.SIGTERM, timeout=10)
        mem.release()
        shutil.rmtree(tmp, ignore_errors=True)
        for s, h in old_handlers.items():
            signal.signal(s, h)
