#!/usr/bin/env python3
"""A TCP/UDP peer for the control-plane interface test (41-control-plane).

serve tcp|udp ADDR PORT LOG: answers every connection (or datagram) by echoing what it
  got, prefixed with "echo:", and appends one line per message to LOG. Runs until killed.
send tcp|udp ADDR PORT MSG [TIMEOUT]: sends MSG and prints the answer; exit 0 when the
  answer is "echo:" + MSG, 1 otherwise (refused, timed out, wrong answer).
"""
import socket
import sys


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(proto, addr, port, log):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family(addr), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(8)
    while True:
        if proto == "tcp":
            c, peer = s.accept()
            c.settimeout(5)
            data = c.recv(4096)
            c.sendall(b"echo:" + data)
            c.close()
        else:
            data, peer = s.recvfrom(4096)
            s.sendto(b"echo:" + data, peer)
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (proto, peer[0], data.decode(errors="replace")))


def send(proto, addr, port, msg, timeout):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family(addr), kind)
    s.settimeout(timeout)
    try:
        if proto == "tcp":
            s.connect((addr, port))
            s.sendall(msg.encode())
            got = s.recv(4096)
        else:
            s.sendto(msg.encode(), (addr, port))
            got, _ = s.recvfrom(4096)
    except OSError as e:
        print("no answer: %s" % e)
        return 1
    print(got.decode(errors="replace"))
    return 0 if got == b"echo:" + msg.encode() else 1


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) >= 6 and sys.argv[1] == "send":
        timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 3.0
        sys.exit(send(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], timeout))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
