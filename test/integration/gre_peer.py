#!/usr/bin/python3
"""gre_peer.py: a userspace GRE end (RFC 2784, RFC 2890 keys and sequence numbers) for the
tests of routerd's tunnels, since the test kernels have no ip_gre module.

  gre_peer.py --local A --remote B [--key K | --send-key K --recv-key K] [--csum]
              [--corrupt-csum] [--require-csum] [--seq] [--ttl N] [--df inherit|set|clear]
              [--tun NAME] [--mtu N] [--addr PREFIX ...] [--route PREFIX ...] [--stats FILE]
              [--verbose]

Run it inside a network namespace that owns the outer address A (ip netns exec NS ...). It
makes a TUN device (default gre0p) with the given MTU, addresses and routes, then:

- decapsulates: a raw IPv4 socket for protocol 47, bound to A, takes every GRE packet to A
  (the kernel reassembles outer fragments first). A packet from B whose GRE header is valid
  (version 0, bits 1-5 zero but K and S: RFC 2784 2.3, RFC 2890), whose key is the one required
  (none without --recv-key: a keyed packet is then as wrong as a wrong key), whose checksum
  (when present, or required with --require-csum) is right and whose protocol is IPv4
  (0x0800) or IPv6 (0x86DD) matching the inner version nibble, goes into the TUN. Every
  refusal is counted by reason, never silently dropped.
- encapsulates: each packet the TUN gives (the namespace's kernel routed it there) gets a
  GRE header (C, K, S as configured; protocol from the version nibble) and an outer IPv4
  header (IP_HDRINCL: TTL, DF per --df: inherit copies an inner IPv4 DF and sets it for
  IPv6 inner, as Linux's pmtudisc tunnels do) and is sent to B.

Counters (JSON) are printed to stdout at exit (SIGTERM, SIGINT) and on SIGUSR1, and kept in
--stats FILE (rewritten atomically within 0.2 s of a change, and at exit). "ready" is printed
(and the stats file written) once the TUN is up. Pure standard library: CI has no scapy
guarantee for this, and a second implementation of the wire format is the point.
"""
import argparse
import fcntl
import ipaddress
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

IPPROTO_GRE = 47
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

GRE_C = 0x8000  # checksum present (RFC 2784)
GRE_R = 0x4000  # routing present (RFC 1701, must be zero in RFC 2784)
GRE_K = 0x2000  # key present (RFC 2890)
GRE_S = 0x1000  # sequence number present (RFC 2890)
# RFC 2784 2.3: a receiver discards a packet with any of bits 1-5 set (R, strict source route
# and the top recursion bit of RFC 1701) other than K and S (RFC 2890); bits 6-12 are ignored.
GRE_MUST_BE_ZERO = GRE_R | 0x0800 | 0x0400
GRE_VERSION = 0x0007
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD

COUNTERS = (
    "rx_packets", "rx_bytes",          # decapsulated into the TUN
    "rx_not_from_remote",              # GRE to our address from another source
    "rx_short",                        # too short for its own GRE header
    "rx_bad_version",                  # GRE version not 0
    "rx_bad_reserved",                 # one of bits 1-5 set, other than K and S (RFC 2784 2.3)
    "rx_bad_key",                      # key missing, unexpected or not the required one
    "rx_bad_csum",                     # checksum present and wrong
    "rx_no_csum",                      # no checksum with --require-csum
    "rx_bad_proto",                    # protocol type not IPv4/IPv6, or not the inner version
    "rx_csum_present", "rx_key_present", "rx_seq_present",
    "rx_seq_out_of_order",             # sequence number not above the previous one (counted only)
    "rx_tun_errors",                   # write to the TUN failed
    "rx_inner_v4", "rx_inner_v6",
    "tx_packets", "tx_bytes",          # encapsulated and sent
    "tx_inner_v4", "tx_inner_v6",
    "tx_not_ip",                       # TUN packet neither IPv4 nor IPv6
    "tx_too_big",                      # sendto EMSGSIZE (outer larger than the kernel's path MTU)
    "tx_errors",                       # other sendto errors
    "socket_errors",                   # recv errors (ICMP errors reported on the raw socket)
    "tun_errors",                      # TUN read errors
)


def csum16(data):
    """The Internet checksum (RFC 1071) of data, as the value to store."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def gre_header(proto, key=None, csum=False, seq=None):
    """The GRE header without a checksum value (filled in by encapsulate)."""
    flags = (GRE_C if csum else 0) | (GRE_K if key is not None else 0) | (GRE_S if seq is not None else 0)
    h = struct.pack("!HH", flags, proto)
    if csum:
        h += b"\0\0\0\0"  # checksum, reserved1
    if key is not None:
        h += struct.pack("!I", key)
    if seq is not None:
        h += struct.pack("!I", seq)
    return h


def encapsulate(inner, proto, key=None, csum=False, seq=None, corrupt_csum=False):
    """GRE header + inner, checksum filled in when csum (wrong on purpose with corrupt_csum)."""
    h = gre_header(proto, key, csum, seq)
    pkt = h + inner
    if csum:
        c = csum16(pkt) ^ (0x5A5A if corrupt_csum else 0)
        pkt = pkt[:4] + struct.pack("!H", c) + pkt[6:]
    return pkt


def outer_ipv4(src, dst, payload_len, ttl, df, ident=0):
    """An IPv4 header for IP_HDRINCL; the kernel fills the checksum (and the id when 0)."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, 0x4000 if df else 0,
                       ttl, IPPROTO_GRE, 0, src, dst)


class Peer:
    def __init__(self, a):
        self.a = a
        self.local = socket.inet_aton(a.local)
        self.remote = socket.inet_aton(a.remote)
        self.c = {k: 0 for k in COUNTERS}
        self.dirty = True
        self.last_seq = None
        self.tx_seq = 0
        self.stop = False

    # --- setup ---------------------------------------------------------------------------
    def open_tun(self):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        ifr = struct.pack("16sH22x", self.a.tun.encode(), IFF_TUN | IFF_NO_PI)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
        os.set_blocking(fd, False)
        self.tun = fd

        def ip(*args):
            subprocess.run(["ip", *args], check=True)

        ip("link", "set", self.a.tun, "mtu", str(self.a.mtu))
        for p in self.a.addr:
            if ":" in p:
                ip("-6", "addr", "add", p, "dev", self.a.tun, "nodad")
            else:
                ip("addr", "add", p, "dev", self.a.tun)
        ip("link", "set", self.a.tun, "up")
        for p in self.a.route:
            ip("-6" if ":" in p else "-4", "route", "add", p, "dev", self.a.tun)

    def open_sock(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.bind((self.a.local, 0))  # the kernel then hands us only GRE to our address
        s.setblocking(False)
        self.sock = s

    # --- decapsulation -------------------------------------------------------------------
    def count(self, k, n=1):
        self.c[k] += n
        self.dirty = True

    def decap(self, pkt):
        a = self.a
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[12:16] != self.remote:
            return self.count("rx_not_from_remote")
        g = pkt[ihl:]
        if len(g) < 4:
            return self.count("rx_short")
        flags, proto = struct.unpack("!HH", g[:4])
        if flags & GRE_VERSION:
            return self.count("rx_bad_version")
        if flags & GRE_MUST_BE_ZERO:
            return self.count("rx_bad_reserved")
        hlen = 4 + 4 * bool(flags & GRE_C) + 4 * bool(flags & GRE_K) + 4 * bool(flags & GRE_S)
        if len(g) < hlen:
            return self.count("rx_short")
        off = 4
        if flags & GRE_C:
            self.count("rx_csum_present")
            if csum16(g) != 0:
                return self.count("rx_bad_csum")
            off += 4
        elif a.require_csum:
            return self.count("rx_no_csum")
        key = None
        if flags & GRE_K:
            self.count("rx_key_present")
            (key,) = struct.unpack("!I", g[off:off + 4])
            off += 4
        if key != a.recv_key:
            if a.verbose:
                print(f"rx: key {key} != required {a.recv_key}", file=sys.stderr)
            return self.count("rx_bad_key")
        if flags & GRE_S:
            self.count("rx_seq_present")
            (seq,) = struct.unpack("!I", g[off:off + 4])
            off += 4
            # RFC 2890 2.2: serial number arithmetic.
            if self.last_seq is not None and not (0 < ((seq - self.last_seq) & 0xFFFFFFFF) < 0x80000000):
                self.count("rx_seq_out_of_order")
            self.last_seq = seq
        inner = g[off:]
        ver = inner[0] >> 4 if inner else 0
        if not ((proto == ETH_P_IP and ver == 4) or (proto == ETH_P_IPV6 and ver == 6)):
            return self.count("rx_bad_proto")
        try:
            os.write(self.tun, inner)
        except OSError:
            return self.count("rx_tun_errors")
        self.count("rx_packets")
        self.count("rx_bytes", len(inner))
        self.count("rx_inner_v4" if ver == 4 else "rx_inner_v6")
        if a.verbose:
            print(f"rx: {len(inner)} bytes inner v{ver} flags 0x{flags:04x} key {key}", file=sys.stderr)

    # --- encapsulation -------------------------------------------------------------------
    def encap(self, inner):
        a = self.a
        ver = inner[0] >> 4 if inner else 0
        if ver == 4:
            proto, df = ETH_P_IP, bool(inner[6] & 0x40)
        elif ver == 6:
            proto, df = ETH_P_IPV6, True
        else:
            return self.count("tx_not_ip")
        df = {"inherit": df, "set": True, "clear": False}[a.df]
        seq = None
        if a.seq:
            seq = self.tx_seq
            self.tx_seq = (self.tx_seq + 1) & 0xFFFFFFFF
        g = encapsulate(inner, proto, a.send_key, a.csum or a.corrupt_csum, seq, a.corrupt_csum)
        pkt = outer_ipv4(self.local, self.remote, len(g), a.ttl, df) + g
        try:
            self.sock.sendto(pkt, (a.remote, 0))
        except OSError as e:
            if e.errno == 90:  # EMSGSIZE
                return self.count("tx_too_big")
            if a.verbose:
                print(f"tx: {e}", file=sys.stderr)
            return self.count("tx_errors")
        self.count("tx_packets")
        self.count("tx_bytes", len(inner))
        self.count("tx_inner_v4" if ver == 4 else "tx_inner_v6")
        if a.verbose:
            print(f"tx: {len(inner)} bytes inner v{ver} df {int(df)}", file=sys.stderr)

    # --- counters ------------------------------------------------------------------------
    def snapshot(self):
        d = dict(self.c)
        a = self.a
        d.update(local=a.local, remote=a.remote, send_key=a.send_key, recv_key=a.recv_key,
                 csum=a.csum or a.corrupt_csum, seq=a.seq, tun=a.tun, mtu=a.mtu)
        return d

    def write_stats(self):
        self.dirty = False
        if not self.a.stats:
            return
        tmp = self.a.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.snapshot(), f)
            f.write("\n")
        os.replace(tmp, self.a.stats)

    def run(self):
        self.open_tun()
        self.open_sock()

        def stop(*_):
            self.stop = True

        # A background job of a non-interactive shell starts with SIGINT ignored: take it back.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGUSR1, lambda *_: print(json.dumps(self.snapshot()), flush=True))
        sel = selectors.DefaultSelector()
        sel.register(self.tun, selectors.EVENT_READ, "tun")
        sel.register(self.sock, selectors.EVENT_READ, "sock")
        self.write_stats()
        print("ready", flush=True)
        next_write = 0.0
        while not self.stop:
            for key, _ in sel.select(0.2):
                # Drain each source (bounded), so neither direction starves the other.
                for _ in range(64):
                    try:
                        if key.data == "tun":
                            self.encap(os.read(self.tun, 65536))
                        else:
                            self.decap(self.sock.recv(65536))
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        # An ICMP error about what we sent (a hard one, e.g. protocol
                        # unreachable) is reported on the raw socket's next call: note it and
                        # go on, as a tunnel end would.
                        print(f"{key.data}: {e}", file=sys.stderr, flush=True)
                        self.count("socket_errors" if key.data == "sock" else "tun_errors")
                        break
            now = time.monotonic()
            if self.dirty and now >= next_write:
                self.write_stats()
                next_write = now + 0.2
        self.write_stats()
        print(json.dumps(self.snapshot()), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--local", required=True, help="our outer IPv4 address")
    p.add_argument("--remote", required=True, help="the other end's outer IPv4 address")
    p.add_argument("--key", type=lambda s: int(s, 0), help="key to send and require")
    p.add_argument("--send-key", type=lambda s: int(s, 0), help="key to send (overrides --key)")
    p.add_argument("--recv-key", type=lambda s: int(s, 0), help="key to require (overrides --key)")
    p.add_argument("--csum", action="store_true", help="send the checksum (C bit)")
    p.add_argument("--corrupt-csum", action="store_true",
                   help="send a wrong checksum (C bit set), to test the other end's check")
    p.add_argument("--require-csum", action="store_true", help="drop packets without a checksum")
    p.add_argument("--seq", action="store_true", help="send sequence numbers (S bit)")
    p.add_argument("--ttl", type=int, default=64, help="outer TTL (default 64)")
    p.add_argument("--df", choices=("inherit", "set", "clear"), default="inherit",
                   help="outer DF (default inherit: inner IPv4's DF; always for IPv6 inner)")
    p.add_argument("--tun", default="gre0p", help="TUN device name (default gre0p)")
    p.add_argument("--mtu", type=int,
                   help="TUN MTU (default: 1480 minus the GRE header: 1476 plain, 1472 keyed)")
    p.add_argument("--addr", action="append", default=[], help="address/len on the TUN (repeat)")
    p.add_argument("--route", action="append", default=[], help="prefix routed into the TUN (repeat)")
    p.add_argument("--stats", help="JSON counters file")
    p.add_argument("--verbose", action="store_true", help="one line per packet on stderr")
    a = p.parse_args()
    for x in (a.local, a.remote):
        if ipaddress.ip_address(x).version != 4:
            p.error(f"{x}: outer addresses are IPv4")
    a.send_key = a.send_key if a.send_key is not None else a.key
    a.recv_key = a.recv_key if a.recv_key is not None else a.key
    for k in (a.send_key, a.recv_key):
        if k is not None and not 0 <= k <= 0xFFFFFFFF:
            p.error(f"key {k} out of range 0..4294967295")
    if a.mtu is None:
        a.mtu = 1480 - len(gre_header(0, a.send_key, a.csum or a.corrupt_csum, 0 if a.seq else None))
    if not 1 <= a.ttl <= 255:
        p.error("--ttl must be 1..255")
    Peer(a).run()


if __name__ == "__main__":
    main()
