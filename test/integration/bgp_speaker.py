#!/usr/bin/env python3
"""A minimal BGP-4 speaker that announces many IPv4 prefixes (43-bgp's scale peer).

bgp_speaker.py LOCAL PEER LOCAL_AS PEER_AS COUNT BASE
bgp_speaker.py LOCAL PEER LOCAL_AS PEER_AS @FILE

Connects from LOCAL to PEER:179, opens a session (RFC 4271; capabilities: IPv4 unicast
and 4-octet AS numbers, RFC 6793, which FRR always offers) and keeps it up with
keepalives. On SIGUSR1 it announces COUNT consecutive /24 prefixes from BASE (BASE,
BASE+256, ...), or every IPv4 prefix of FILE (one per line, "1.0.4.0/22"; gzip when it
ends in .gz; IPv6 lines skipped; scripts/bench bgp gives it the shared full table), with
next hop LOCAL and AS path LOCAL_AS, packed into UPDATEs of up to 4,096 bytes (about
1,000 /24s each), then an End-of-RIB marker. SIGTERM closes the session (the peer
withdraws everything).

What it prints, one line each, for the test to read: "established", then
"announce_start EPOCH" just before the first UPDATE is written and "announce_sent EPOCH
UPDATES" after the last. Whatever the peer sends is read and dropped; a NOTIFICATION
from it ends the program with status 1. This is no router: it never installs a route.
"""
import gzip
import ipaddress
import select
import signal
import socket
import struct
import sys
import time

HOLD = 90
OPEN, UPDATE, NOTIFICATION, KEEPALIVE = 1, 2, 3, 4
MAX_MSG = 4096  # RFC 4271's largest message


def msg(kind, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(local_as, router_id):
    caps = bytes([1, 4, 0, 1, 0, 1])  # multiprotocol: AFI 1 (IPv4), SAFI 1 (unicast)
    caps += bytes([65, 4]) + struct.pack("!I", local_as)  # 4-octet AS
    opt = bytes([2, len(caps)]) + caps  # one Capabilities parameter (RFC 5492)
    as2 = local_as if local_as < 65536 else 23456  # AS_TRANS
    return msg(OPEN, struct.pack("!BHH4sB", 4, as2, HOLD, router_id, len(opt)) + opt)


def consecutive(count, base):
    """(length, address) of COUNT consecutive /24s from BASE."""
    first = int(ipaddress.IPv4Address(base))
    return [(24, first + (i << 8)) for i in range(count)]


def from_file(path):
    """(length, address) of every IPv4 prefix in PATH; a bad line stops the program."""
    opener = gzip.open if path.endswith(".gz") else open
    out = []
    with opener(path, "rt") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#") or ":" in line:
                continue
            try:
                net = ipaddress.IPv4Network(line)
            except ValueError as e:
                sys.exit(f"bgp_speaker: {path}:{n}: {e}")
            out.append((net.prefixlen, int(net.network_address)))
    return out


def updates(local_as, next_hop, prefixes):
    attrs = bytes([0x40, 1, 1, 0])  # ORIGIN IGP
    attrs += bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", local_as)  # AS_SEQUENCE, 4-octet
    attrs += bytes([0x40, 3, 4]) + next_hop  # NEXT_HOP
    room = MAX_MSG - 19 - 2 - 2 - len(attrs)
    head = struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs
    nlri, size = [], 0
    for plen, addr in prefixes:
        # RFC 4271 4.3: the length, then as few octets as hold it.
        e = bytes([plen]) + struct.pack("!I", addr)[:(plen + 7) // 8]
        if size + len(e) > room:
            yield msg(UPDATE, head + b"".join(nlri))
            nlri, size = [], 0
        nlri.append(e)
        size += len(e)
    if nlri:
        yield msg(UPDATE, head + b"".join(nlri))
    yield msg(UPDATE, struct.pack("!HH", 0, 0))  # End-of-RIB (RFC 4724)


class Reader:
    """Splits the byte stream into BGP messages."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def messages(self):
        data = self.sock.recv(65536)
        if not data:
            sys.exit("bgp_speaker: the peer closed the connection")
        self.buf += data
        while len(self.buf) >= 19:
            length, kind = struct.unpack("!HB", self.buf[16:19])
            if length < 19 or len(self.buf) < length:
                break
            body, self.buf = self.buf[19:length], self.buf[length:]
            if kind == NOTIFICATION:
                sys.exit(f"bgp_speaker: NOTIFICATION from the peer: {body.hex()}")
            yield kind


def main():
    local, peer, local_as, peer_as = sys.argv[1:5]
    local_as = int(local_as)
    if len(sys.argv) == 6 and sys.argv[5].startswith("@"):
        prefixes = from_file(sys.argv[5][1:])
    elif len(sys.argv) == 7:
        prefixes = consecutive(int(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(__doc__.split("\n\n")[1])
    print(f"prefixes {len(prefixes)}", flush=True)
    flags = {"announce": False, "stop": False}
    signal.signal(signal.SIGUSR1, lambda *_: flags.update(announce=True))
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    nh = ipaddress.IPv4Address(local).packed
    while True:  # the peer may not listen yet
        try:
            s = socket.create_connection((peer, 179), timeout=2, source_address=(local, 0))
            break
        except OSError:
            if flags["stop"]:
                return
            time.sleep(0.5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(None)
    s.sendall(open_msg(local_as, nh))
    reader = Reader(s)
    state, last_ka = "opensent", 0.0
    print(f"connected to {peer} (AS {peer_as})", flush=True)
    while not flags["stop"]:
        now = time.time()
        if state != "opensent" and now - last_ka >= HOLD / 3:
            s.sendall(msg(KEEPALIVE))
            last_ka = now
        if state == "established" and flags["announce"]:
            flags["announce"] = False
            print(f"announce_start {time.time():.6f}", flush=True)
            n = 0
            for m in updates(local_as, nh, prefixes):
                s.sendall(m)
                n += 1
            print(f"announce_sent {time.time():.6f} {n}", flush=True)
        try:
            ready, _, _ = select.select([s], [], [], 0.2)
        except InterruptedError:
            continue
        if not ready:
            continue
        for kind in reader.messages():
            if kind == OPEN and state == "opensent":
                s.sendall(msg(KEEPALIVE))
                state, last_ka = "openconfirm", time.time()
            elif kind == KEEPALIVE and state == "openconfirm":
                state = "established"
                print("established", flush=True)
    s.close()


if __name__ == "__main__":
    main()
