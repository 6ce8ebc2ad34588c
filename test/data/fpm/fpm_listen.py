#!/usr/bin/env python3
"""Accepts one FPM connection on 127.0.0.1:2620 and appends the raw byte stream to a file,
flushing after every read, so that a capture script can cut it between steps."""
import socket
import sys

out = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 2620))
s.listen(1)
conn, _ = s.accept()
with open(out, "ab") as f:
    while True:
        b = conn.recv(65536)
        if not b:
            break
        f.write(b)
        f.flush()
