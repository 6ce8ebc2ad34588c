#!/usr/bin/env python3
"""A minimal BGP-4 speaker that announces many IPv4 prefixes (43-bgp's scale peer).

bgp_speaker.py LOCAL PEER LOCAL_AS PEER_AS COUNT BASE
bgp_speaker.py LOCAL PEER LOCAL_AS PEER_AS @FILE

Connects from LOCAL to PEER:179, opens a session (RFC 4271; capabilities: unicast of
LOCAL's family, and 4-octet AS numbers, RFC 6793, which FRR always offers) and keeps it up
with keepalives. On SIGUSR1 it announces COUNT consecutive /24 prefixes from BASE (BASE,
BASE+256, ...), or every prefix of FILE of LOCAL's family (one per line, "1.0.4.0/22",
"2001:db8::/32"; gzip when it ends in .gz; scripts/bench bgp gives it the shared full
table), with next hop LOCAL and AS path LOCAL_AS, packed into UPDATEs of up to 4,096
bytes (about 1,000 /24s each), then an End-of-RIB marker. With IPv6 addresses the
session carries IPv6 unicast only (RFC 4760: the prefixes and next hop in MP_REACH_NLRI),
and the BGP identifier is 10.255.0.N, N the last octet of LOCAL. SIGTERM closes the session (the peer withdraws everything).

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


def open_msg(local_as, router_id, afi=1):
    caps = bytes([1, 4, 0, afi, 0, 1])  # multiprotocol: AFI 1 (IPv4) or 2 (IPv6), SAFI 1
    caps += bytes([65, 4]) + struct.pack("!I", local_as)  # 4-octet AS
    opt = bytes([2, len(caps)]) + caps  # one Capabilities parameter (RFC 5492)
    as2 = local_as if local_as < 65536 else 23456  # AS_TRANS
    return msg(OPEN, struct.pack("!BHH4sB", 4, as2, HOLD, router_id, len(opt)) + opt)


def consecutive(count, base):
    """(length, address) of COUNT consecutive /24s from BASE."""
    first = int(ipaddress.IPv4Address(base))
    return [(24, first + (i << 8)) for i in range(count)]


def from_file(path, family=4):
    """(length, address) of every prefix of the family in PATH; a bad line stops the
    program."""
    opener = gzip.open if path.endswith(".gz") else open
    out = []
    with opener(path, "rt") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#") or (":" in line) != (family == 6):
                continue
            try:
                net = (ipaddress.IPv6Network if family == 6 else ipaddress.IPv4Network)(line)
            except ValueError as e:
                sys.exit(f"bgp_speaker: {path}:{n}: {e}")
            out.append((net.prefixlen, int(net.network_address)))
    return out


def updates(local_as, next_hop, prefixes):
    """UPDATEs carrying prefixes, then End-of-RIB (RFC 4724). An IPv4 next hop: NEXT_HOP and
    the NLRI field; an IPv6 one: MP_REACH_NLRI (RFC 4760) holds both."""
    v6 = len(next_hop) == 16
    attrs = bytes([0x40, 1, 1, 0])  # ORIGIN IGP
    attrs += bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", local_as)  # AS_SEQUENCE, 4-octet
    if not v6:
        attrs += bytes([0x40, 3, 4]) + next_hop  # NEXT_HOP
    # MP_REACH_NLRI (optional, extended length): AFI 2, SAFI 1, next hop, reserved, NLRI.
    mp_head = struct.pack("!HBB", 2, 1, 16) + next_hop + b"\0"
    room = MAX_MSG - 19 - 2 - 2 - len(attrs) - (4 + len(mp_head) if v6 else 0)

    def update(nlri):
        if not v6:
            return msg(UPDATE, struct.pack("!HH", 0, len(attrs)) + attrs + nlri)
        mp = mp_head + nlri
        a = attrs + bytes([0x90, 14]) + struct.pack("!H", len(mp)) + mp
        return msg(UPDATE, struct.pack("!HH", 0, len(a)) + a)

    nlri, size = [], 0
    for plen, addr in prefixes:
        # RFC 4271 4.3: the length, then as few octets as hold it.
        raw = addr.to_bytes(16 if v6 else 4, "big")
        e = bytes([plen]) + raw[:(plen + 7) // 8]
        if size + len(e) > room:
            yield update(b"".join(nlri))
            nlri, size = [], 0
        nlri.append(e)
        size += len(e)
    if nlri:
        yield update(b"".join(nlri))
    if v6:  # End-of-RIB for IPv6 unicast: an empty MP_UNREACH_NLRI
        yield msg(UPDATE, struct.pack("!HH", 0, 6) + bytes([0x80, 15, 3]) + struct.pack("!HB", 2, 1))
    else:
        yield msg(UPDATE, struct.pack("!HH", 0, 0))


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
    family = 6 if ":" in local else 4
    if len(sys.argv) == 6 and sys.argv[5].startswith("@"):
        prefixes = from_file(sys.argv[5][1:], family)
    elif len(sys.argv) == 7 and family == 4:
        prefixes = consecutive(int(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(__doc__.split("\n\n")[1])
    print(f"prefixes {len(prefixes)}", flush=True)
    flags = {"announce": False, "stop": False}
    signal.signal(signal.SIGUSR1, lambda *_: flags.update(announce=True))
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    nh = ipaddress.ip_address(local).packed
    router_id = nh if family == 4 else bytes([10, 255, 0, nh[-1]])
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
    s.sendall(open_msg(local_as, router_id, 2 if family == 6 else 1))
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
