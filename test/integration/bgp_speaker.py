#!/usr/bin/env python3
"""A minimal BGP-4 speaker that announces many IPv4 prefixes (43-bgp's scale peer).

bgp_speaker.py LOCAL PEER LOCAL_AS PEER_AS COUNT BASE

Connects from LOCAL to PEER:179, opens a session (RFC 4271; capabilities: IPv4 unicast
and 4-octet AS numbers, RFC 6793, which FRR always offers) and keeps it up with
keepalives. On SIGUSR1 it announces COUNT consecutive /24 prefixes from BASE (BASE,
BASE+256, ...) with next hop LOCAL and AS path LOCAL_AS, packed about 1,000 to an UPDATE,
then an End-of-RIB marker. SIGTERM closes the session (the peer withdraws everything).

What it prints, one line each, for the test to read: "established", then
"announce_start EPOCH" just before the first UPDATE is written and "announce_sent EPOCH
UPDATES" after the last. Whatever the peer sends is read and dropped; a NOTIFICATION
from it ends the program with status 1. This is no router: it never installs a route.
"""
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


def updates(local_as, next_hop, count, base):
    attrs = bytes([0x40, 1, 1, 0])  # ORIGIN IGP
    attrs += bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", local_as)  # AS_SEQUENCE, 4-octet
    attrs += bytes([0x40, 3, 4]) + next_hop  # NEXT_HOP
    room = MAX_MSG - 19 - 2 - 2 - len(attrs)
    per = room // 4  # a /24 is one length octet and three address octets
    first = int(ipaddress.IPv4Address(base))
    for start in range(0, count, per):
        nlri = b"".join(
            bytes([24]) + struct.pack("!I", first + (i << 8))[:3]
            for i in range(start, min(count, start + per))
        )
        yield msg(UPDATE, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri)
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
    local, peer, local_as, peer_as, count, base = sys.argv[1:7]
    local_as, count = int(local_as), int(count)
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
            for m in updates(local_as, nh, count, base):
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
