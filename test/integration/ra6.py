#!/usr/bin/python3
"""Router Advertisements and Solicitations from a host namespace, for 39-ipv6-ra-rx.sh.

Run with Debian's /usr/bin/python3 (python3-scapy), inside a host's namespace:

    ra6.py ra --iface eth0 --src LL --mac MAC [--hlim H] [--cur-hop-limit C] [--no-slla]
                          sends an RA to ff02::1 from LL (Ethernet source MAC), with MAC in its
                          Source Link-Layer Address option unless --no-slla
    ra6.py rs --iface eth0 --router-mac RMAC --count N [--quiet-s Q]
                          sends N RSs (from the interface's link-local address, with its MAC),
                          each once no RA from RMAC was seen for Q seconds (so the router's
                          MIN_DELAY_BETWEEN_RAS does not hold the answer back), and waits 1 s
                          after the last
    ra6.py delays --pcap FILE --host-mac HMAC --router-mac RMAC
                          from a capture (tcpdump -w), for each RS from HMAC the time to the
                          first RA from RMAC after it: one JSON object a line
"""
import argparse
import ipaddress
import json
import sys
import time

from scapy.all import (  # noqa: E402
    AsyncSniffer,
    Ether,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    get_if_hwaddr,
    rdpcap,
    sendp,
)


def ll_of(iface):
    with open("/proc/net/if_inet6") as f:
        for line in f:
            addr, _, _, scope, _, name = line.split()
            if name == iface and scope == "20":
                return str(ipaddress.IPv6Address(bytes.fromhex(addr)))
    sys.exit(f"no link-local address on {iface}")


def cmd_ra(a):
    ra = ICMPv6ND_RA(chlim=a.cur_hop_limit, routerlifetime=0)
    if not a.no_slla:
        ra = ra / ICMPv6NDOptSrcLLAddr(lladdr=a.mac)
    pkt = Ether(dst="33:33:00:00:00:01", src=a.mac) / IPv6(src=a.src, dst="ff02::1", hlim=a.hlim) / ra
    sendp(pkt, iface=a.iface, verbose=False)


def cmd_rs(a):
    mine = get_if_hwaddr(a.iface)
    src = ll_of(a.iface)
    last_ra = [time.time()]  # as if one had just been seen: wait the full quiet time first

    def seen(p):
        if Ether in p and p[Ether].src.lower() == a.router_mac.lower() and ICMPv6ND_RA in p:
            last_ra[0] = time.time()

    sn = AsyncSniffer(iface=a.iface, filter="icmp6 and ip6[40] == 134", prn=seen, store=False)
    sn.start()
    time.sleep(0.5)
    rs = (Ether(dst="33:33:00:00:00:02", src=mine) / IPv6(src=src, dst="ff02::2", hlim=255)
          / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=mine))
    for i in range(a.count):
        while time.time() - last_ra[0] < a.quiet_s:
            time.sleep(0.05)
        sendp(rs, iface=a.iface, verbose=False)
        print(f"rs {i} sent at {time.time():.3f}", flush=True)
        time.sleep(0.7)  # its answer
    time.sleep(1)
    sn.stop()


def cmd_delays(a):
    rs_times, ra = [], []
    for p in rdpcap(a.pcap):
        if Ether not in p:
            continue
        src = p[Ether].src.lower()
        if ICMPv6ND_RS in p and src == a.host_mac.lower():
            rs_times.append(float(p.time))
        elif ICMPv6ND_RA in p and src == a.router_mac.lower():
            ra.append((float(p.time), p[IPv6].dst))
    for t in rs_times:
        after = [(u, d) for u, d in ra if u >= t]
        if after:
            u, d = after[0]
            print(json.dumps({"rs": round(t, 6), "delay_ms": round((u - t) * 1000, 1), "dst": d}))
        else:
            print(json.dumps({"rs": round(t, 6), "delay_ms": None, "dst": None}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ra")
    r.add_argument("--iface", required=True)
    r.add_argument("--src", required=True)
    r.add_argument("--mac", required=True)
    r.add_argument("--hlim", type=int, default=255)
    r.add_argument("--cur-hop-limit", type=int, default=64)
    r.add_argument("--no-slla", action="store_true")
    s = sub.add_parser("rs")
    s.add_argument("--iface", required=True)
    s.add_argument("--router-mac", required=True)
    s.add_argument("--count", type=int, default=5)
    s.add_argument("--quiet-s", type=float, default=3.5)
    d = sub.add_parser("delays")
    d.add_argument("--pcap", required=True)
    d.add_argument("--host-mac", required=True)
    d.add_argument("--router-mac", required=True)
    a = ap.parse_args()
    {"ra": cmd_ra, "rs": cmd_rs, "delays": cmd_delays}[a.cmd](a)


if __name__ == "__main__":
    main()
