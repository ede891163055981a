"""Sekisho lab UDP sink: appends each datagram to a file as one line (ulogd2 JSON in UDP mode).

usage: python3 -u udp-sink.py HOST PORT FILE
"""
import socket
import sys

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
print("listening on %s:%d" % (host, port), flush=True)
with open(path, "ab", 0) as f:
    while True:
        f.write(s.recv(65535).rstrip(b"\n") + b"\n")
