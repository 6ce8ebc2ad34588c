#!/usr/bin/python3
"""fpm_stream: a zebra-like FPM byte stream of the full table, and a sender for it
(`scripts/bench fpm`, issue 16 "Speed").

What FRR 8.4.4's zebra (-M dplane_fpm_nl, next-hop-group mode) sends, as in the captures in
test/data/fpm/nhg/ (lib/fpm/fpm.hpp documents the format):
  - FPM header: version 1, type 1 (netlink), 16-bit big-endian length counting the header;
  - RTM_NEWNEXTHOP, flags 0x501 (REQUEST|REPLACE|CREATE), nhmsg {family, scope 0, protocol
    11 (zebra), flags 0}, then NHA_ID, NHA_GATEWAY, NHA_OIF; a group: family AF_UNSPEC,
    NHA_ID, NHA_GROUP (struct nexthop_grp {id, weight - 1, 0, 0} per member);
  - RTM_NEWROUTE, flags 0x501 for IPv4 and 0x401 for IPv6, rtmsg {family, dst_len, 0, 0,
    table 254, protocol 186 (bgp), scope 0, type 1 (unicast), flags 0}, then RTA_DST (the
    full 4 or 16 bytes), RTA_PRIORITY 20, RTA_NH_ID;
  - nlmsg_seq 0, nlmsg_pid zebra's netlink port id (any constant).
zebra puts one dplane context per FPM frame: one netlink message a frame (two for a route
change, RTM_DELROUTE + RTM_NEWROUTE); its batching is in the TCP writes (many frames per
write), never several routes in one frame. "zebra" framing does the same; "packed" puts as
many messages in one frame as fit under 64 KiB, for comparison.

The route part of the stream (every prefix, in the table's order) does not depend on the
running routerd and is written to a cache file once; the next hops name routerd's kernel
interfaces by ifindex, so they are built per run (nexthop_bytes) and sent first.

Next hops (ids fixed): 1 = 10.1.0.2 on p0, 2 = 10.2.0.2 on p1, 3 = group {1, 2};
4 = 2001:db8:1::2 on p0, 5 = 2001:db8:2::2 on p1, 6 = group {4, 5}. Route i of a family
uses, by i % 4: single p0, single p1, single p0, the group (a quarter of the routes ECMP).

As a program (run inside the control namespace with `ip netns exec NS`):
  fpm_stream.py send HOST:PORT HEAD_FILE ROUTES_FILE [HEAD2 ROUTES2 ...]
connects, writes HEAD_FILE then ROUTES_FILE as fast as the socket takes them, prints one
JSON line {"connected", "first_byte", "last_byte", "bytes"} (CLOCK_MONOTONIC seconds, the
same clock as the bench's); each further pair is sent, and its line printed, when a line
arrives on stdin; then it keeps the connection open until stdin closes (a closed
connection would start routerd's hold timer).
"""
import gzip
import ipaddress
import json
import os
import socket
import struct
import sys
import time

VERSION = 1          # of the stream file's format: a change regenerates the cache
FPM_VERSION, FPM_TYPE_NETLINK = 1, 1
FPM_MAX_FRAME = 65535
RTM_NEWROUTE, RTM_NEWNEXTHOP = 24, 104
NLM_F_REQUEST, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x100, 0x400
RTA_DST, RTA_PRIORITY, RTA_NH_ID = 1, 6, 30
NHA_ID, NHA_GROUP, NHA_OIF, NHA_GATEWAY = 1, 2, 5, 6
AF_INET, AF_INET6 = 2, 10
RT_TABLE_MAIN, RTPROT_ZEBRA, RTPROT_BGP, RTN_UNICAST = 254, 11, 186, 1
ROUTE_METRIC = 20    # zebra's NL_DEFAULT_ROUTE_METRIC, as in the captures
NL_PID = 3040727612  # the captures' nlmsg_pid
FRAMINGS = ("zebra", "packed")

# Next hops: (id, family, gateway, port index) and groups (id, members).
NEXTHOPS = [(1, AF_INET, "10.1.0.2", 0), (2, AF_INET, "10.2.0.2", 1),
            (4, AF_INET6, "2001:db8:1::2", 0), (5, AF_INET6, "2001:db8:2::2", 1)]
GROUPS = [(3, [1, 2]), (6, [4, 5])]
ROUTE_NH = {AF_INET: [1, 2, 1, 3], AF_INET6: [4, 5, 4, 6]}   # by route index % 4
# routerd's port subnets (the bench's config): a table prefix equal to one would be
# hidden by the connected route and never count as installed.
PORT_SUBNETS = {ipaddress.ip_network(n) for n in
                ("10.1.0.0/24", "10.2.0.0/24", "2001:db8:1::/64", "2001:db8:2::/64")}


def attr(t, payload):
    """One rtattr, padded to 4 bytes."""
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * (-n % 4)


def nlmsg(t, flags, body):
    return struct.pack("=IHHII", 16 + len(body), t, flags, 0, NL_PID) + body


def fpm_frame(msgs):
    payload = b"".join(msgs)
    n = 4 + len(payload)
    assert n <= FPM_MAX_FRAME
    return struct.pack("!BBH", FPM_VERSION, FPM_TYPE_NETLINK, n) + payload


def route_msg(net):
    fam = AF_INET if net.version == 4 else AF_INET6
    return fam, net.network_address.packed, net.prefixlen


def newroute(fam, dst, plen, nh_id):
    body = struct.pack("=BBBBBBBBI", fam, plen, 0, 0, RT_TABLE_MAIN, RTPROT_BGP, 0,
                       RTN_UNICAST, 0)
    body += attr(RTA_DST, dst) + attr(RTA_PRIORITY, struct.pack("=I", ROUTE_METRIC)) \
        + attr(RTA_NH_ID, struct.pack("=I", nh_id))
    flags = NLM_F_REQUEST | NLM_F_CREATE | (NLM_F_REPLACE if fam == AF_INET else 0)
    return nlmsg(RTM_NEWROUTE, flags, body)


def newnexthop(nh_id, fam, gw, oif):
    body = struct.pack("=BBBBI", fam, 0, RTPROT_ZEBRA, 0, 0)
    body += attr(NHA_ID, struct.pack("=I", nh_id)) + attr(NHA_GATEWAY, gw) \
        + attr(NHA_OIF, struct.pack("=I", oif))
    return nlmsg(RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, body)


def newgroup(nh_id, members):
    body = struct.pack("=BBBBI", 0, 0, RTPROT_ZEBRA, 0, 0)
    grp = b"".join(struct.pack("=IBBH", m, 0, 0, 0) for m in members)
    body += attr(NHA_ID, struct.pack("=I", nh_id)) + attr(NHA_GROUP, grp)
    return nlmsg(RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, body)


# --traffic (bench_fpm): the trace comes in on p0 (net_pcap), so every next hop is on p1;
# the update stream (ids + UPDATE_SHIFT) moves every route to other gateways there.
NEXTHOPS_P1 = [(1, AF_INET, "10.2.0.2", 1), (2, AF_INET, "10.2.0.3", 1),
               (4, AF_INET6, "2001:db8:2::2", 1), (5, AF_INET6, "2001:db8:2::3", 1)]
UPDATE_SHIFT = 10
NEXTHOPS_UPDATE = [(11, AF_INET, "10.2.0.4", 1), (12, AF_INET, "10.2.0.5", 1),
                   (14, AF_INET6, "2001:db8:2::4", 1), (15, AF_INET6, "2001:db8:2::5", 1)]
GROUPS_UPDATE = [(13, [11, 12]), (16, [14, 15])]


def nexthop_bytes(ifindex, nexthops=None, groups=None):
    """The next hops and groups, one frame each as zebra sends them, for the kernel
    interface indexes ifindex[0] (p0) and ifindex[1] (p1)."""
    out = [fpm_frame([newnexthop(i, fam, ipaddress.ip_address(gw).packed, ifindex[port])])
           for i, fam, gw, port in (nexthops or NEXTHOPS)]
    out += [fpm_frame([newgroup(i, members)]) for i, members in (groups or GROUPS)]
    return b"".join(out)


def shift_nexthops(src, dst, delta):
    """Copies a route stream with every RTA_NH_ID raised by delta (RTA_NH_ID is each
    message's last attribute: its last 4 bytes)."""
    data = bytearray(open(src, "rb").read())
    off = 0
    while off < len(data):
        flen = struct.unpack_from("!H", data, off + 2)[0]
        m, end = off + 4, off + flen
        while m < end:
            n = struct.unpack_from("=I", data, m)[0]
            nh = struct.unpack_from("=I", data, m + n - 4)[0]
            struct.pack_into("=I", data, m + n - 4, nh + delta)
            m += (n + 3) & ~3
        off = end
    with open(dst + ".tmp", "wb") as f:
        f.write(data)
    os.replace(dst + ".tmp", dst)


def read_table(path):
    """(IPv4 networks, IPv6 networks, skipped counts) of a table file (one prefix a line,
    '#' comments, gzip if .gz), in file order, without duplicates, default routes or a
    port's own subnet."""
    opener = gzip.open if path.endswith(".gz") else open
    v4, v6, seen = [], [], set()
    skipped = {"malformed": 0, "duplicate": 0, "default_route": 0, "port_subnet": 0,
               "link_local_or_multicast": 0}
    with opener(path, "rt", encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                net = ipaddress.ip_network(line, strict=True)
            except ValueError:
                skipped["malformed"] += 1
                continue
            if net.prefixlen == 0:
                skipped["default_route"] += 1
            elif net in PORT_SUBNETS:
                skipped["port_subnet"] += 1
            elif net.version == 6 and (net.network_address.is_link_local
                                       or net.network_address.is_multicast):
                skipped["link_local_or_multicast"] += 1   # routerd ignores these (fpm_apply)
            elif net in seen:
                skipped["duplicate"] += 1
            else:
                seen.add(net)
                (v4 if net.version == 4 else v6).append(net)
    return v4, v6, skipped


def write_routes(path, nets4, nets6, framing):
    """Writes the RTM_NEWROUTE stream (IPv4 first, then IPv6, as zebra's replay does by
    table) to path. Returns (frames, bytes)."""
    frames = size = 0
    with open(path + ".tmp", "wb") as f:
        pending, pending_len = [], 4

        def flush():
            nonlocal pending, pending_len, frames, size
            if pending:
                b = fpm_frame(pending)
                f.write(b)
                frames += 1
                size += len(b)
                pending, pending_len = [], 4

        for nets in (nets4, nets6):
            for i, net in enumerate(nets):
                fam, dst, plen = route_msg(net)
                m = newroute(fam, dst, plen, ROUTE_NH[fam][i % 4])
                if framing == "zebra":
                    pending = [m]
                    flush()
                    continue
                if pending_len + len(m) > FPM_MAX_FRAME:
                    flush()
                pending.append(m)
                pending_len += len(m)
        flush()
    os.replace(path + ".tmp", path)
    return frames, size


def ensure_stream(cache, table, table_sha, framing, log=lambda m: None):
    """The cached route stream of a table and framing: (path, meta), generated when missing
    or stale (another table, framing or VERSION)."""
    os.makedirs(cache, exist_ok=True)
    base = os.path.join(cache, f"fpm-{table_sha[:12]}-{framing}")
    meta_path = base + ".json"
    try:
        meta = json.load(open(meta_path))
        if meta.get("version") == VERSION and meta.get("table_sha256") == table_sha \
                and meta.get("framing") == framing and os.path.exists(base + ".bin") \
                and os.path.getsize(base + ".bin") == meta.get("bytes"):
            meta["cached"] = True
            return base + ".bin", meta
    except (OSError, ValueError):
        pass
    log(f"generating the FPM route stream ({framing} framing) of {table} into {cache}")
    t0 = time.monotonic()
    nets4, nets6, skipped = read_table(table)
    frames, size = write_routes(base + ".bin", nets4, nets6, framing)
    meta = {"version": VERSION, "table": table, "table_sha256": table_sha, "framing": framing,
            "routes4": len(nets4), "routes6": len(nets6), "frames": frames, "bytes": size,
            "skipped": skipped, "route_nexthops": {"ipv4": ROUTE_NH[AF_INET],
                                                   "ipv6": ROUTE_NH[AF_INET6]},
            "generate_seconds": time.monotonic() - t0}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    meta["cached"] = False
    return base + ".bin", meta


def send(endpoint, files):
    host, _, port = endpoint.rpartition(":")
    s = socket.create_connection((host.strip("[]"), int(port)))
    connected = time.monotonic()
    for k in range(0, len(files), 2):
        if k and not sys.stdin.readline():    # the next pair when the bench says so
            break
        total = 0
        first = None
        for path in files[k:k + 2]:
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    if first is None:
                        first = time.monotonic()
                    s.sendall(chunk)
                    total += len(chunk)
        last = time.monotonic()
        print(json.dumps({"connected": connected, "first_byte": first, "last_byte": last,
                          "bytes": total}), flush=True)
    sys.stdin.read()     # the bench closes our stdin when it is done
    s.close()


if __name__ == "__main__":
    if len(sys.argv) < 5 or len(sys.argv) % 2 == 0 or sys.argv[1] != "send":
        print("usage: fpm_stream.py send HOST:PORT HEAD_FILE ROUTES_FILE [HEAD2 ROUTES2...]",
              file=sys.stderr)
        sys.exit(2)
    send(sys.argv[2], sys.argv[3:])
