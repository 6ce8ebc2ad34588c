#!/usr/bin/python3
"""ecmp_flows.py: UDP flows for test/integration/40-ecmp.sh, and what arrived where.

  send --dst ADDR --dport N --sports A-B [--src ADDR[,ADDR...]] [--rounds R] [--pps P] [--tag T]
       [--size BYTES] [--loop]
      R rounds over the source ports A..B (one datagram per flow and round), paced at P
      datagrams per second (a flow per source address and port), each payload starting with "T:ROUND " (so a capture tells the
      phases of a test apart). --size makes the datagrams that long (the kernel fragments
      what exceeds the MTU). --loop repeats the rounds until killed. Prints how many
      datagrams went to each flow ("sent N per flow, M in all").
  sink IFACE OUT
      Logs every IPv4/IPv6 UDP packet (or fragment) arriving on IFACE to OUT, one line each:
      "FAMILY SRC TAG SPORT DPORT IPID FRAGOFF MF" (IPID: an unfragmented IPv6 packet's flow
      label); the TAG, SPORT and DPORT of a fragment that is not the first are "-". Also binds UDP ports 5000-5019 (both families) and throws their
      data away, so the host sends no Port Unreachable back through the router.
  flows --tag T LOG...
      JSON {"LOG name": {"SPORT": datagrams of tag T}} of the sink logs (a path per log).
Plain sockets, no scapy: 1,000 flows take a second, not a minute.
"""
import argparse
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time


def ports(spec):
    a, _, b = spec.partition("-")
    return range(int(a), int(b or a) + 1)


def send(args):
    fam = socket.AF_INET6 if ":" in args.dst else socket.AF_INET
    flows = [(a, p) for a in (args.src or "").split(",") for p in ports(args.sports)]
    # One socket per flow: raise the open-files limit to what 1,000 of them need.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(flows) + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    socks = []
    for src, p in flows:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET:
            # Fragment locally, never set DF: the fragments test wants DF clear.
            s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
        else:
            s.setsockopt(socket.IPPROTO_IPV6, 23, 0)  # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DONT
        s.bind((src or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), p))
        socks.append(s)
    # A background job of a non-interactive shell starts with SIGINT ignored: take it back (and
    # TERM), so that tb_bg_stop's INT ends the loop with the summary printed.
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    gap = 1.0 / args.pps
    sent = [0] * len(socks)
    t_next = time.monotonic()
    rnd = 0
    try:
        while args.loop or rnd < args.rounds:
            for i, s in enumerate(socks):
                head = f"{args.tag}:{rnd} ".encode()
                payload = head + b"x" * max(0, args.size - len(head))
                try:
                    s.sendto(payload, (args.dst, args.dport))
                    sent[i] += 1
                except OSError as e:  # counted as not sent: the receiver's counts then differ
                    print(f"sendto from {flows[i]}: {e}", file=sys.stderr)
                t_next += gap
                d = t_next - time.monotonic()
                if d > 0:
                    time.sleep(d)
            rnd += 1
    except KeyboardInterrupt:
        pass
    per = sorted(set(sent))
    print(f"sent {'/'.join(map(str, per))} per flow, {sum(sent)} in all, {rnd} rounds")
    if args.per_flow:
        with open(args.per_flow, "w") as f:
            json.dump({str(p): n for (_, p), n in zip(flows, sent)}, f)


def sink(args):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind((args.iface, 0))
    udp = []
    for fam, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for p in range(5000, 5020):
            u = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            u.bind((any_addr, p))
            u.setblocking(False)
            udp.append(u)
    out = open(args.out, "w")
    out.write("# ready\n")
    out.flush()

    def udp_fields(b, fam, src, ipid, off, mf):
        if off != 0 or len(b) < 8:
            return f"{fam} {src} - - - {ipid} {off} {mf}"
        sp, dp = struct.unpack("!HH", b[:4])
        tag = b[8:40].split(b" ", 1)[0].decode("ascii", "replace") or "-"
        return f"{fam} {src} {tag} {sp} {dp} {ipid} {off} {mf}"

    while True:
        r, _, _ = select.select([s] + udp, [], [], 0.1)
        if not r:
            out.flush()
            continue
        for sock in r:
            if sock is not s:
                try:
                    while True:
                        sock.recv(65535)
                except BlockingIOError:
                    pass
                continue
            while True:
                try:
                    data, addr = s.recvfrom(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if addr[2] == socket.PACKET_OUTGOING or len(data) < 14:
                    continue
                et = struct.unpack("!H", data[12:14])[0]
                p = data[14:]
                line = None
                if et == 0x0800 and len(p) >= 20 and p[9] == 17:
                    ihl = (p[0] & 15) * 4
                    ipid, fo = struct.unpack("!HH", p[4:8])
                    src = socket.inet_ntop(socket.AF_INET, p[12:16])
                    line = udp_fields(p[ihl:], 4, src, ipid, (fo & 0x1FFF) * 8, (fo >> 13) & 1)
                elif et == 0x86DD and len(p) >= 40:
                    nh, b = p[6], p[40:]
                    src = socket.inet_ntop(socket.AF_INET6, p[8:24])
                    if nh == 17:  # the flow label in the IPID column
                        label = struct.unpack("!I", p[0:4])[0] & 0xFFFFF
                        line = udp_fields(b, 6, src, label, 0, 0)
                    elif nh == 44 and len(b) >= 8 and b[0] == 17:
                        fo, ident = struct.unpack("!HI", b[2:8])
                        line = udp_fields(b[8:], 6, src, ident, fo & 0xFFF8, fo & 1)
                if line:
                    out.write(line + "\n")


def flows(args):
    res = {}
    for log in args.logs:
        name = os.path.basename(log).rsplit(".", 1)[0]
        m = res.setdefault(name, {})
        with open(log) as f:
            for ln in f:
                w = ln.split()
                if len(w) == 8 and w[2].split(":")[0] == args.tag:
                    m[w[3]] = m.get(w[3], 0) + 1
    json.dump(res, sys.stdout, sort_keys=True)
    print()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("send")
    a.add_argument("--dst", required=True)
    a.add_argument("--src")
    a.add_argument("--dport", type=int, default=5001)
    a.add_argument("--sports", required=True)
    a.add_argument("--rounds", type=int, default=1)
    a.add_argument("--pps", type=float, default=2000)
    a.add_argument("--tag", default="x")
    a.add_argument("--size", type=int, default=16)
    a.add_argument("--loop", action="store_true")
    a.add_argument("--per-flow")
    a = sub.add_parser("sink")
    a.add_argument("iface")
    a.add_argument("out")
    a = sub.add_parser("flows")
    a.add_argument("--tag", required=True)
    a.add_argument("logs", nargs="+")
    args = ap.parse_args()
    {"send": send, "sink": sink, "flows": flows}[args.cmd](args)


if __name__ == "__main__":
    main()
