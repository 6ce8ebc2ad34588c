#!/usr/bin/python3
"""soak_flood.py: one flood of hostile traffic at the router, for scripts/soak.

Runs inside a host namespace and writes Ethernet frames to IFACE through a raw AF_PACKET
socket, paced to --pps (0: as fast as the socket takes them), for --seconds or until SIGTERM/SIGINT. Every frame is
built on the fly from random fields, so no two are alike (a repeated pool would let the
router's tables settle after one round). Frames are built with struct rather than scapy:
scapy manages a few thousand frames a second, this a few hundred thousand.

    soak_flood.py KIND --iface eth0 --router-mac MAC --seconds S [--pps N] [--json FILE]
                  [--src IP] [--router-ips A,B,..] [--arp-net NET/LEN] [--scan-net NET/LEN]
                  [--sink IP] [--syn-net NET/LEN | --syn-from-src] [--syn-dst IP]
                  [--closed-port N] [--seed N]

KIND (what each frame is):
  arp      ARP request for the router's address, from a random sender in --arp-net (a
           connected subnet of the port) with a random MAC: RFC 826 makes the router learn
           each sender.
  scan     UDP from --src to a random address of --scan-net (connected, almost all absent):
           the router has to ARP for each.
  ptb      ICMP Fragmentation Needed to the router from a random spoofed source, quoting an
           echo request "from" one of the router's addresses to a random destination, with a
           random next-hop MTU.
  frag     the first fragment (MF set, offset 0) of a 2,000-byte echo request to one of the
           router's addresses, from --src or a random spoofed source; the rest never comes.
  icmperr  Destination Unreachable / Time Exceeded, half addressed to the router (quoting a
           packet from it, or from a random host), half through it to --sink (quoting a
           packet from the sink).
  ttl1     UDP from --src to --sink (or a random host beyond the router) with TTL 1: transit
           traffic that expires at the router, which owes a rate-limited Time Exceeded.
  syn179   TCP SYNs to --syn-dst (default: the first of --router-ips, the router's port-0
           address) port 179 (BGP, in the control-plane allow list), each from a random
           source address of --syn-net (default --arp-net: spoofed on-link senders the
           kernel has to resolve to answer) and a random source port, random sequence
           number, an MSS option and a correct checksum; with --syn-from-src from --src.
           With [control_plane] on, routerd hands them to the kernel under its token bucket.
  synclosed  the same SYNs to --closed-port (default 8080), a port the allow list does not
           name: routerd drops each (drops.cp_denied) and answers nothing.
  syn179v6, synclosedv6  the same over IPv6: to --syn6-dst, from random interface ids of
           --syn6-net (spoofed on-link senders), or with --syn-from-src from --src6.
  null     the scan's UDP frames, but to a MAC address nobody has: the router drops them at
           its first check (l2_other_host). The generator and the TAP pay what they pay for
           any flood, the router's control thread nothing: the soak's second baseline.

Meanwhile it reads what comes back on the same socket and counts it (ARP replies, ICMP by
type/code), since the router's answers are part of what a flood provokes. At the end it
prints "started" when the first frame is about to go, and at the end prints (and writes to
--json) one JSON object: sent, errors (frames the socket refused:
ENOBUFS/EAGAIN), seconds, pps, received counts.
"""
import argparse
import errno
import ipaddress
import json
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
BCAST = b"\xff" * 6
FRAG_PAYLOAD = bytes(1000)
KINDS = ("arp", "scan", "ptb", "frag", "icmperr", "ttl1", "syn179", "synclosed", "syn179v6",
         "synclosedv6", "null")
TCP_SYN = 0x02
# A unicast MAC nobody on the link has: the router drops such frames at its first check.
FOREIGN_MAC = b"\x02\x00\x00\x5e\xed\x01"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip2b(a):
    return socket.inet_aton(a) if isinstance(a, str) else struct.pack("!I", a)


def mac2b(m):
    return bytes(int(x, 16) for x in m.split(":"))


def ipv4(src, dst, proto, payload, ttl=64, ident=0, flags_frag=0, total=None):
    """An IPv4 header (no options, correct checksum) followed by payload. total overrides the
    total length field (for quoted headers of datagrams longer than what is quoted)."""
    tl = total if total is not None else 20 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tl, ident, flags_frag, ttl, proto, 0, ip2b(src), ip2b(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def icmp(typ, code, rest, data):
    h = struct.pack("!BBH4s", typ, code, 0, rest) + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # no checksum (RFC 768)


def tcp_syn(src, dst, sport, dport, seq, v6=False):
    """A TCP SYN with an MSS option (1460) and a correct checksum over the pseudo-header: the
    kernel verifies it on a TAP, and a SYN with a bad one would never reach the socket.
    v6: src and dst are 16-byte IPv6 addresses (RFC 8200 8.1 pseudo-header)."""
    opts = struct.pack("!BBH", 2, 4, 1440 if v6 else 1460)
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (5 + len(opts) // 4) << 4, TCP_SYN, 64240, 0, 0) + opts
    if v6:
        pseudo = src + dst + struct.pack("!IxxxB", len(h), 6)
    else:
        pseudo = ip2b(src) + ip2b(dst) + struct.pack("!BBH", 0, 6, len(h))
    return h[:16] + struct.pack("!H", csum(pseudo + h)) + h[18:]


def ipv6(src, dst, nxt, payload, hops=64):
    """An IPv6 header (16-byte addresses, no flow label) followed by payload."""
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nxt, hops, src, dst) + payload


def eth(dst, src, etype, payload):
    f = dst + src + struct.pack("!H", etype) + payload
    return f + b"\0" * max(0, 60 - len(f))


class Net:
    """Random host addresses of a subnet, skipping the network and broadcast addresses and any
    address in `avoid`."""

    def __init__(self, cidr, avoid=()):
        n = ipaddress.ip_network(cidr, strict=False)
        self.base, self.size = int(n.network_address), n.num_addresses
        self.avoid = {int(ipaddress.ip_address(a)) for a in avoid}

    def pick(self, rng):
        while True:
            a = self.base + rng.randrange(1, self.size - 1)
            if a not in self.avoid:
                return a


def random_unicast(rng):
    """A random address outside 0/8, 10/8, 127/8, 169.254/16 and 224/3."""
    while True:
        a = rng.getrandbits(32)
        top = a >> 24
        if top in (0, 10, 127) or top >= 224 or (a >> 16) == 0xA9FE:
            continue
        return a


def random_mac(rng):
    b = bytearray(rng.getrandbits(48).to_bytes(6, "big"))
    b[0] = (b[0] & 0xFC) | 0x02  # unicast, locally administered
    return bytes(b)


def spoofed(rng):
    return 0xAC100000 + rng.randrange(1, 1 << 20)  # 172.16.0.0/12: private, not martian


class Builder:
    def __init__(self, a, my_mac, rng):
        self.a, self.rng, self.my = a, rng, my_mac
        self.rmac = mac2b(a.router_mac)
        self.rips = [int(ipaddress.ip_address(x)) for x in a.router_ips.split(",")]
        self.src = int(ipaddress.ip_address(a.src))
        self.sink = int(ipaddress.ip_address(a.sink))
        avoid = a.router_ips.split(",") + [a.src]
        self.arp_net = Net(a.arp_net, avoid)
        self.scan_net = Net(a.scan_net, avoid)
        # The router's address on the ARP subnet: the target of every request.
        n = ipaddress.ip_network(a.arp_net, strict=False)
        self.arp_target = next(r for r in self.rips if ipaddress.ip_address(r) in n)
        self.syn_net = None if a.syn_from_src else Net(a.syn_net or a.arp_net, avoid)
        self.syn_dst = int(ipaddress.ip_address(a.syn_dst)) if a.syn_dst else self.rips[0]
        self.src6 = ipaddress.IPv6Address(a.src6).packed if a.src6 else None
        self.syn6_dst = ipaddress.IPv6Address(a.syn6_dst).packed if a.syn6_dst else None
        self.syn6_net = ipaddress.IPv6Network(a.syn6_net, strict=False) if a.syn6_net else None

    def frame(self, kind):
        return getattr(self, "f_" + kind)()

    def ip_frame(self, pkt):
        return eth(self.rmac, self.my, ETH_P_IP, pkt)

    def f_arp(self):
        r = self.rng
        mac = random_mac(r)
        arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, mac, ip2b(self.arp_net.pick(r)),
                          b"\0" * 6, ip2b(self.arp_target))
        return eth(BCAST, mac, ETH_P_ARP, arp)

    def f_scan(self):
        r = self.rng
        return self.ip_frame(ipv4(self.src, self.scan_net.pick(r), 17,
                                  udp(r.randrange(1024, 65536), r.randrange(1, 65536), b"soak-scan"),
                                  ident=r.getrandbits(16)))

    def f_ptb(self):
        r = self.rng
        # The quoted datagram: a 1500-byte DF echo request the router "sent".
        inner = ipv4(r.choice(self.rips), random_unicast(r) if r.random() < 0.5 else self.scan_net.pick(r),
                     1, icmp(8, 0, struct.pack("!HH", r.getrandbits(16), r.getrandbits(16)), b""),
                     ident=r.getrandbits(16), flags_frag=0x4000, total=1500)
        mtu = r.randrange(552, 1500)
        msg = icmp(3, 4, struct.pack("!HH", 0, mtu), inner)
        return self.ip_frame(ipv4(spoofed(r), r.choice(self.rips), 1, msg, ident=r.getrandbits(16)))

    def f_frag(self):
        r = self.rng
        # An echo request of 8 + 1,980 bytes; this is its first 1,008. Its checksum would cover
        # the whole message, which nobody can verify without the rest: a random one will do.
        msg = struct.pack("!BBHI", 8, 0, r.getrandbits(16), r.getrandbits(32)) + FRAG_PAYLOAD
        src = self.src if r.random() < 0.5 else spoofed(r)
        return self.ip_frame(ipv4(src, r.choice(self.rips), 1, msg, ident=r.getrandbits(16), flags_frag=0x2000))

    def f_icmperr(self):
        r = self.rng
        typ, code = r.choice([(3, 0), (3, 1), (3, 3), (3, 13), (11, 0), (11, 1)])
        rest = struct.pack("!I", 0)
        if r.random() < 0.5:  # to the router
            qsrc = r.choice(self.rips) if r.random() < 0.5 else random_unicast(r)
            inner = ipv4(qsrc, random_unicast(r), 17, udp(r.randrange(1024, 65536), 33434, b""),
                         ident=r.getrandbits(16))
            return self.ip_frame(ipv4(spoofed(r), r.choice(self.rips), 1, icmp(typ, code, rest, inner),
                                      ident=r.getrandbits(16)))
        # Through the router: the sink "sent" a datagram to us that failed on the way.
        inner = ipv4(self.sink, self.src, 17, udp(r.randrange(1024, 65536), r.randrange(1, 65536), b""),
                     ident=r.getrandbits(16))
        return self.ip_frame(ipv4(self.src, self.sink, 1, icmp(typ, code, rest, inner), ident=r.getrandbits(16)))

    def syn(self, dport):
        r = self.rng
        src = self.src if self.syn_net is None else self.syn_net.pick(r)
        return self.ip_frame(ipv4(src, self.syn_dst, 6,
                                  tcp_syn(src, self.syn_dst, r.randrange(1024, 65536), dport, r.getrandbits(32)),
                                  ident=r.getrandbits(16), flags_frag=0x4000))

    def f_syn179(self):
        return self.syn(179)

    def f_synclosed(self):
        return self.syn(self.a.closed_port)

    def syn6(self, dport):
        r = self.rng
        if self.a.syn_from_src:
            src = self.src6
        else:  # a random interface id of the on-link /64: never the router's ::1
            n = self.syn6_net
            src = (n.network_address + r.randrange(2, min(n.num_addresses, 1 << 64) - 1)).packed
        return eth(self.rmac, self.my, ETH_P_IPV6,
                   ipv6(src, self.syn6_dst, 6,
                        tcp_syn(src, self.syn6_dst, r.randrange(1024, 65536), dport, r.getrandbits(32), v6=True)))

    def f_syn179v6(self):
        return self.syn6(179)

    def f_synclosedv6(self):
        return self.syn6(self.a.closed_port)

    def f_null(self):
        r = self.rng
        return eth(FOREIGN_MAC, self.my, ETH_P_IP,
                   ipv4(self.src, self.scan_net.pick(r), 17,
                        udp(r.randrange(1024, 65536), r.randrange(1, 65536), b"soak-scan"),
                        ident=r.getrandbits(16)))

    def f_ttl1(self):
        r = self.rng
        dst = self.sink if r.random() < 0.5 else self.scan_net.pick(r)
        return self.ip_frame(ipv4(self.src, dst, 17, udp(r.randrange(1024, 65536), 33434 + r.randrange(100),
                                                         b"soak-ttl1"), ttl=1, ident=r.getrandbits(16)))


def classify(f):
    """A name for a received frame: arp-reply, arp-request, icmp-T-C, tcp-FLAGS (tcp-SA: a
    SYN-ACK, tcp-RA: a reset), ip-P, other."""
    if len(f) < 14:
        return "other"
    et = struct.unpack_from("!H", f, 12)[0]
    if et == ETH_P_ARP and len(f) >= 22:
        return {1: "arp-request", 2: "arp-reply"}.get(struct.unpack_from("!H", f, 20)[0], "arp-other")
    if et == ETH_P_IP and len(f) >= 34:
        ihl = (f[14] & 0xF) * 4
        if f[23] == 1 and len(f) >= 14 + ihl + 2:
            return f"icmp-{f[14 + ihl]}-{f[15 + ihl]}"
        if f[23] == 6 and len(f) >= 14 + ihl + 14:
            fl = f[14 + ihl + 13]
            return "tcp-" + "".join(c for c, bit in zip("FSRPAU", (1, 2, 4, 8, 16, 32)) if fl & bit)
        return f"ip-{f[23]}"
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--router-mac", required=True)
    ap.add_argument("--router-ips", default="10.1.0.1,10.2.0.1,10.3.0.1")
    ap.add_argument("--src", default="10.1.0.2", help="this host's address")
    ap.add_argument("--arp-net", default="10.100.0.0/16")
    ap.add_argument("--scan-net", default="10.200.0.0/16")
    ap.add_argument("--sink", default="10.3.0.3")
    ap.add_argument("--syn-net", default=None, help="sources of the SYN floods (default: --arp-net)")
    ap.add_argument("--syn-from-src", action="store_true", help="SYN floods from --src, random ports")
    ap.add_argument("--syn-dst", default=None, help="default: the first of --router-ips")
    ap.add_argument("--closed-port", type=int, default=8080)
    ap.add_argument("--src6", default="2001:db8:1::2", help="this host's IPv6 address")
    ap.add_argument("--syn6-dst", default="2001:db8:1::1", help="the IPv6 SYN floods' target")
    ap.add_argument("--syn6-net", default="2001:db8:1::/64",
                    help="sources of the IPv6 SYN floods (random interface ids)")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pps", type=int, default=5000, help="0: unpaced")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.setblocking(False)
    my_mac = s.getsockname()[4][:6]
    rng = random.Random(a.seed)
    b = Builder(a, my_mac, rng)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sent = errors = 0
    received = {}
    print("started", flush=True)  # scripts/soak times its samples from this line
    burst = 32
    start = time.monotonic()
    end = start + a.seconds
    next_t = start

    def drain():
        while True:
            try:
                f, addr = s.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            k = classify(f)
            received[k] = received.get(k, 0) + 1

    while True:
        now = time.monotonic()
        if now >= end or stop:
            break
        if a.pps > 0 and now < next_t:
            drain()
            # Sleep until the next burst is due, waking early for incoming frames.
            select.select([s], [], [], max(0.0, min(next_t - now, end - now)))
            continue
        for _ in range(burst):
            try:
                s.send(b.frame(a.kind))
                sent += 1
            except (BlockingIOError, InterruptedError):
                errors += 1
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                errors += 1
        if a.pps > 0:
            next_t += burst / a.pps
            # Fell far behind (descheduled): do not try to catch up with one huge burst.
            next_t = max(next_t, time.monotonic() - 0.05)
        drain()
    elapsed = time.monotonic() - start
    time.sleep(0.1)  # replies still on their way
    drain()
    out = {"kind": a.kind, "sent": sent, "errors": errors, "seconds": round(elapsed, 3),
           "pps": round(sent / elapsed) if elapsed > 0 else 0, "target_pps": a.pps,
           "received": dict(sorted(received.items()))}
    text = json.dumps(out)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
