#!/usr/bin/python3
"""MLD and DAD probes from a host namespace, for 37-ipv6-dad-mld.sh.

Run with Debian's /usr/bin/python3 (python3-scapy), inside a host's namespace:

    mld6.py reports --iface eth0 --mac MAC --seconds S   the MLD Reports MAC sends, one JSON
                                                         object a line, while S seconds pass
    mld6.py query --iface eth0 [--v1] [--group G] [--delay-ms D]   sends a Query from the
                                                         host's link-local address
    mld6.py ns --iface eth0 --dst-mac MAC --src S --target T [--wait W]   sends an NS for T
                                                         from S and prints how many NAs for T
                                                         came back within W seconds

Reports are parsed from the bytes (not by scapy's MLD layers, whose names change between
versions): source, destination, hop limit, whether a Router Alert option (value 0) is in a
Hop-by-Hop header, the ICMPv6 type and each record's type and group.
"""
import argparse
import ipaddress
import json
import socket
import struct
import sys
import time

from scapy.all import (  # noqa: E402
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptSrcLLAddr,
    Ether,
    IPv6,
    Raw,
    conf,
    get_if_hwaddr,
    in6_getnsma,
    in6_getnsmac,
    inet_pton,
    sendp,
    sniff,
)
from scapy.layers.inet6 import in6_chksum  # noqa: E402


def ll_of(iface):
    with open("/proc/net/if_inet6") as f:
        for line in f:
            addr, _, _, scope, _, name = line.split()
            if name == iface and scope == "20":
                return str(ipaddress.IPv6Address(bytes.fromhex(addr)))
    sys.exit(f"no link-local address on {iface}")


def parse_report(ip6):
    if len(ip6) < 48 or ip6[6] != 0:
        return None
    hbh_len = (ip6[41] + 1) * 8
    if ip6[40] != 58:
        return None
    hbh = ip6[42:40 + hbh_len]
    alert, i = False, 0
    while i < len(hbh):
        if hbh[i] == 0:
            i += 1
            continue
        if hbh[i] == 5 and hbh[i + 1] == 2 and hbh[i + 2:i + 4] == b"\0\0":
            alert = True
        i += 2 + hbh[i + 1]
    m = ip6[40 + hbh_len:40 + struct.unpack("!H", ip6[4:6])[0]]
    if not m or m[0] not in (131, 132, 143):
        return None
    src, dst = ip6[8:24], ip6[24:40]
    pseudo = src + dst + struct.pack("!I", len(m)) + b"\0\0\0\x3a"
    s = 0
    data = pseudo + m + (b"\0" if len(m) % 2 else b"")
    for k in range(0, len(data), 2):
        s += (data[k] << 8) | data[k + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    out = {
        "src": str(ipaddress.IPv6Address(src)),
        "dst": str(ipaddress.IPv6Address(dst)),
        "hlim": ip6[7],
        "router_alert": alert,
        "type": m[0],
        "checksum_ok": s == 0xFFFF,
        "records": [],
    }
    if m[0] == 143:
        off = 8
        for _ in range(struct.unpack("!H", m[6:8])[0]):
            nsrc = struct.unpack("!H", m[off + 2:off + 4])[0]
            out["records"].append(
                {"type": m[off], "group": str(ipaddress.IPv6Address(m[off + 4:off + 20]))})
            off += 20 + 16 * nsrc + 4 * m[off + 1]
    else:
        out["records"].append({"type": m[0], "group": str(ipaddress.IPv6Address(m[8:24]))})
    return out


def cmd_reports(a):
    def show(p):
        if p[Ether].src.lower() != a.mac.lower() or IPv6 not in p:
            return
        r = parse_report(bytes(p[IPv6]))
        if r:
            r["t"] = round(time.time(), 3)
            print(json.dumps(r), flush=True)

    print("listening", flush=True)
    sniff(iface=a.iface, filter="ip6 and ip6[6] == 0", prn=show, timeout=a.seconds, store=False)


def cmd_query(a):
    src = ll_of(a.iface)
    group = a.group or "::"
    dst = "ff02::1" if group == "::" else group
    if a.v1:
        body = struct.pack("!BBHHH", 130, 0, 0, a.delay_ms, 0) + inet_pton(socket.AF_INET6, group)
    else:
        body = (struct.pack("!BBHHH", 130, 0, 0, a.delay_ms, 0) + inet_pton(socket.AF_INET6, group)
                + struct.pack("!BBH", 2, 125, 0))
    ck = in6_chksum(58, IPv6(src=src, dst=dst), body)
    body = body[:2] + struct.pack("!H", ck) + body[4:]
    hbh = bytes([58, 0, 5, 2, 0, 0, 1, 0])
    ip = IPv6(src=src, dst=dst, hlim=1, nh=0) / Raw(hbh + body)
    mac = "33:33:" + ":".join(f"{b:02x}" for b in inet_pton(socket.AF_INET6, dst)[12:])
    sendp(Ether(dst=mac, src=get_if_hwaddr(a.iface)) / ip, iface=a.iface, verbose=False)


def cmd_ns(a):
    conf.verb = 0
    mine = get_if_hwaddr(a.iface)
    nsma = in6_getnsma(inet_pton(socket.AF_INET6, a.target))
    dst = socket.inet_ntop(socket.AF_INET6, nsma)
    pkt = (Ether(dst=in6_getnsmac(nsma), src=mine) / IPv6(src=a.src, dst=dst, hlim=255)
           / ICMPv6ND_NS(tgt=a.target) / ICMPv6NDOptSrcLLAddr(lladdr=mine))
    got = sniff(iface=a.iface, filter="icmp6 and ip6[40] == 136", timeout=a.wait,
                started_callback=lambda: sendp(pkt, iface=a.iface, verbose=False),
                lfilter=lambda p: ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == a.target)
    print(len(got))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reports")
    r.add_argument("--iface", required=True)
    r.add_argument("--mac", required=True)
    r.add_argument("--seconds", type=float, required=True)
    q = sub.add_parser("query")
    q.add_argument("--iface", required=True)
    q.add_argument("--v1", action="store_true")
    q.add_argument("--group")
    q.add_argument("--delay-ms", type=int, default=1000)
    n = sub.add_parser("ns")
    n.add_argument("--iface", required=True)
    n.add_argument("--dst-mac")
    n.add_argument("--src", required=True)
    n.add_argument("--target", required=True)
    n.add_argument("--wait", type=float, default=1.5)
    a = ap.parse_args()
    {"reports": cmd_reports, "query": cmd_query, "ns": cmd_ns}[a.cmd](a)


if __name__ == "__main__":
    main()
