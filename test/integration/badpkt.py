#!/usr/bin/python3
"""Send malformed IPv4 frames (and a valid control) from a host namespace.

Run with Debian's /usr/bin/python3 (python3-scapy), inside the host's namespace:

    badpkt.py --iface eth0 --dst-mac MAC --src 10.1.0.2 --dst 10.2.0.2 --count 5 KIND...

Each KIND is sent --count times as UDP to --dst with destination port PORTS[KIND], so a
capture on the far side tells which kind (if any) got through. Kinds and the routerd drop
reason each one must hit (RFC 1812 section 5.2.2 / 5.3.7):

    bad_checksum         ipv4_bad_checksum    header checksum wrong
    bad_ihl              ipv4_bad_ihl         IHL = 4 (16 bytes)
    bad_version          ipv4_bad_version     version 6 in an IPv4 (0x0800) frame
    truncated            ipv4_truncated       total length 1000, frame carries 48 bytes
    too_short            ipv4_too_short       only 10 bytes of IP header in the frame
    bad_length           ipv4_bad_length      total length 12, below the header length
    martian_source       martian_source       source 127.0.0.1
    martian_destination  martian_destination  destination 0.1.2.3
    other_port_broadcast martian_source       source 10.3.0.255, another port's subnet broadcast
    own_address_source   martian_source       source 10.3.0.1, one of the router's addresses
    bad_fragment         ipv4_bad_fragment    a later fragment at offset 65,512 with 25 bytes
                                              of payload: it would end past byte 65,535
    valid                (forwarded)          a well-formed control packet
"""
import argparse
import sys

from scapy.all import IP, UDP, Ether, Raw, conf, get_if_hwaddr, sendp  # noqa: E402

PORTS = {
    "bad_checksum": 40001,
    "bad_ihl": 40002,
    "bad_version": 40003,
    "truncated": 40004,
    "too_short": 40005,
    "bad_length": 40006,
    "martian_source": 40007,
    "martian_destination": 40008,
    "other_port_broadcast": 40009,
    "own_address_source": 40010,
    "bad_fragment": 40011,
    "valid": 40099,
}
PAYLOAD = b"routerd-it-badpkt"


def ip_bytes(src, dst, dport, **ip_fields):
    """A UDP datagram as bytes, checksum computed by scapy over the fields given."""
    return bytes(IP(src=src, dst=dst, ttl=64, **ip_fields) / UDP(sport=40000, dport=dport) / Raw(PAYLOAD))


def build(kind, src, dst):
    port = PORTS[kind]
    if kind == "valid":
        return ip_bytes(src, dst, port)
    if kind == "bad_checksum":
        b = bytearray(ip_bytes(src, dst, port))
        b[10] ^= 0x5A  # any change of the checksum field makes it wrong
        b[11] ^= 0xA5
        return bytes(b)
    if kind == "bad_ihl":
        b = ip_bytes(src, dst, port, ihl=4)
        assert b[0] == 0x44
        return b
    if kind == "bad_version":
        b = ip_bytes(src, dst, port, version=6)
        assert b[0] >> 4 == 6
        return b
    if kind == "truncated":
        b = ip_bytes(src, dst, port, len=1000)
        assert len(b) < 1000
        return b
    if kind == "too_short":
        return ip_bytes(src, dst, port)[:10]
    if kind == "bad_length":
        return ip_bytes(src, dst, port, len=12)
    if kind == "martian_source":
        return ip_bytes("127.0.0.1", dst, port)
    if kind == "martian_destination":
        return ip_bytes(src, "0.1.2.3", port)
    if kind == "other_port_broadcast":
        return ip_bytes("10.3.0.255", dst, port)
    if kind == "own_address_source":
        return ip_bytes("10.3.0.1", dst, port)
    if kind == "bad_fragment":
        b = ip_bytes(src, dst, port, frag=8189)
        assert 8189 * 8 + len(b) - 20 > 65535
        return b
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("kinds", nargs="+", choices=sorted(PORTS))
    a = ap.parse_args()
    conf.verb = 0
    src_mac = get_if_hwaddr(a.iface)
    for kind in a.kinds:
        ip = build(kind, a.src, a.dst)
        frame = Ether(dst=a.dst_mac, src=src_mac, type=0x0800) / Raw(ip)
        sendp([frame] * a.count, iface=a.iface, verbose=False)
        print(f"sent {a.count} x {kind:20s} frame {len(bytes(frame))} bytes, ip header {ip[:20].hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
