#!/usr/bin/python3
"""Send malformed and unusual IPv6 frames from a host namespace, and read back captures.

Run with Debian's /usr/bin/python3 (python3-scapy), inside a host's namespace:

    badpkt6.py send --iface eth0 --dst-mac MAC --src S --dst D --count 5 --record SENT KIND...
    badpkt6.py seen --pcap H1.pcap --record SENT        what reached the far side, by kind
    badpkt6.py errors --pcap H0.pcap --from R          ICMPv6 errors from R, by kind

Every packet carries b"rit6:" + KIND in its payload, so a capture tells the kinds apart
whatever headers come first. `send` records the IPv6 bytes of each kind (hex, JSON) so
`seen` can tell whether what arrived is what was sent but for the hop limit. Kinds, and
what routerd must do with them (RFC 8200; routerd drop reason or outcome):

    too_short        ipv6_too_short       20 bytes of IPv6 header in the frame
    truncated        ipv6_truncated       payload length 1000, the frame carries 31 bytes
    bad_version      ipv6_bad_version     version 4 in an IPv6 (0x86dd) frame
    multicast_source ipv6_bad_source      source ff02::1
    hbh_router_alert (forwarded)          Hop-by-Hop, Router Alert (MLD): forwarded, counted
    hbh_unknown_10   ipv6_option_discard  Hop-by-Hop, Pad1 then option type 0x9e at byte 43:
                                          Parameter Problem code 2, pointer 43
    hbh_unknown_01   ipv6_option_discard  Hop-by-Hop, option type 0x5e: dropped silently
    hbh_malformed    ipv6_bad_ext_header  Hop-by-Hop, an option whose data runs past the
                                          header: Parameter Problem code 0, pointer 44
    unknown_nh       (forwarded)          next header 253 (RFC 3692 experimental)
    fragment         (forwarded)          Fragment header (first fragment, M set), unchanged
    dest_options     (forwarded)          Destination Options with an unknown 10xxxxxx
                                          option: not the router's to look at (RFC 8200 4)
    valid            (forwarded)          plain UDP, the control
"""
import argparse
import ipaddress
import json
import sys

from scapy.all import (  # noqa: E402
    UDP,
    Ether,
    HBHOptUnknown,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    Pad1,
    Raw,
    RouterAlert,
    conf,
    get_if_hwaddr,
    rdpcap,
    sendp,
)

KINDS = [
    "too_short", "truncated", "bad_version", "multicast_source", "hbh_router_alert",
    "hbh_unknown_10", "hbh_unknown_01", "hbh_malformed", "unknown_nh", "fragment",
    "dest_options", "valid",
]
UDP_PORT = 40100


def marker(kind):
    return b"rit6:" + kind.encode() + b";"


def build(kind, src, dst):
    """The IPv6 packet (bytes from the IPv6 header on) for KIND."""
    data = Raw(marker(kind) + b"x" * 8)
    udp = UDP(sport=40000, dport=UDP_PORT) / data
    if kind == "valid":
        return bytes(IPv6(src=src, dst=dst) / udp)
    if kind == "too_short":
        return bytes(IPv6(src=src, dst=dst) / udp)[:20]
    if kind == "truncated":
        b = bytes(IPv6(src=src, dst=dst, plen=1000) / udp)
        assert len(b) < 1040
        return b
    if kind == "bad_version":
        b = bytes(IPv6(src=src, dst=dst, version=4) / udp)
        assert b[0] >> 4 == 4
        return b
    if kind == "multicast_source":
        return bytes(IPv6(src="ff02::1", dst=dst) / udp)
    if kind == "hbh_router_alert":
        return bytes(IPv6(src=src, dst=dst) / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)]) / udp)
    if kind in ("hbh_unknown_10", "hbh_unknown_01", "hbh_malformed"):
        otype = 0x5E if kind == "hbh_unknown_01" else 0x9E
        b = bytearray(bytes(IPv6(src=src, dst=dst) /
                            IPv6ExtHdrHopByHop(options=[Pad1(), HBHOptUnknown(otype=otype, optdata=b"ab")]) / udp))
        assert b[43] == otype and b[44] == 2
        if kind == "hbh_malformed":
            b[44] = 5  # the option's data would end at byte 50, the header ends at 48
        return bytes(b)
    if kind == "unknown_nh":
        return bytes(IPv6(src=src, dst=dst, nh=253) / data)
    if kind == "fragment":
        # A first fragment (M set) must carry a multiple of 8 bytes (RFC 8200 4.5), or h1
        # answers it with a Parameter Problem of its own.
        body = marker(kind) + b"x" * (-len(marker(kind)) % 8)
        return bytes(IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=0x1234, m=1, offset=0) /
                     UDP(sport=40000, dport=UDP_PORT) / Raw(body))
    if kind == "dest_options":
        b = bytes(IPv6(src=src, dst=dst) /
                  IPv6ExtHdrDestOpt(options=[Pad1(), HBHOptUnknown(otype=0x9E, optdata=b"ab")]) / udp)
        assert b[6] == 60 and b[43] == 0x9E
        return b
    raise ValueError(kind)


def kind_of(raw):
    for k in KINDS:
        if marker(k) in raw:
            return k
    return None


def cmd_send(a):
    conf.verb = 0
    src_mac = get_if_hwaddr(a.iface)
    record = {}
    for kind in a.kinds:
        ip = build(kind, a.src, a.dst)
        record[kind] = ip.hex()
        frame = Ether(dst=a.dst_mac, src=src_mac, type=0x86DD) / Raw(ip)
        sendp([frame] * a.count, iface=a.iface, verbose=False)
        print(f"sent {a.count} x {kind:17s} frame {len(bytes(frame))} bytes, ip {ip[:8].hex()} .. {ip[40:48].hex()}")
    if a.record:
        with open(a.record, "w") as f:
            json.dump(record, f)
    return 0


def cmd_seen(a):
    """Per kind: frames seen, and how many are the sent packet with only the hop limit lower."""
    with open(a.record) as f:
        sent = {k: bytes.fromhex(v) for k, v in json.load(f).items()}
    out = {k: {"seen": 0, "unchanged": 0} for k in KINDS}
    for p in rdpcap(a.pcap):
        raw = bytes(p)
        k = kind_of(raw)
        if k is None or len(raw) < 14 + 40:
            continue
        ip = raw[14:]
        out[k]["seen"] += 1
        want = sent.get(k)
        if want and len(ip) == len(want) and ip[:7] == want[:7] and ip[7] == want[7] - 1 and ip[8:] == want[8:]:
            out[k]["unchanged"] += 1
    print(json.dumps(out))
    return 0


def cmd_errors(a):
    """ICMPv6 errors from --from (the router: the far host's own Port Unreachable and the like
    are not counted), by the kind of the packet they quote: [type, code, pointer] each."""
    router = ipaddress.IPv6Address(a.from_).packed
    out = {}
    for p in rdpcap(a.pcap):
        raw = bytes(p)
        if len(raw) < 14 + 48 or raw[12:14] != b"\x86\xdd":
            continue
        ip = raw[14:]
        if ip[6] != 58 or ip[40] >= 128 or ip[8:24] != router:
            continue
        k = kind_of(ip[48:])
        if k is None:
            continue
        out.setdefault(k, []).append([ip[40], ip[41], int.from_bytes(ip[44:48], "big")])
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--iface", default="eth0")
    s.add_argument("--dst-mac", required=True)
    s.add_argument("--src", required=True)
    s.add_argument("--dst", required=True)
    s.add_argument("--count", type=int, default=5)
    s.add_argument("--record")
    s.add_argument("kinds", nargs="+", choices=KINDS)
    s = sub.add_parser("seen")
    s.add_argument("--pcap", required=True)
    s.add_argument("--record", required=True)
    s = sub.add_parser("errors")
    s.add_argument("--pcap", required=True)
    s.add_argument("--from", dest="from_", required=True)
    a = ap.parse_args()
    return {"send": cmd_send, "seen": cmd_seen, "errors": cmd_errors}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
