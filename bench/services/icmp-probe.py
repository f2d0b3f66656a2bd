"""
ICMP echo probe for bench/services/fwaas.ts, run inside an instance's namespace (root, raw socket):
sends an echo request to TARGET every INTERVAL_MS, each with an identifier of its own, so every
request is a new connection to the firewalls on the way (one `ping` is one conntrack entry for all
its requests, which an allow rule's removal does not cut when established flows are kept).
Prints `<epoch ms> <sequence>` for each reply, flushed, until killed or SECONDS have passed.

    python3 icmp-probe.py TARGET INTERVAL_MS SECONDS
"""

import os
import select
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> None:
    target, interval, seconds = sys.argv[1], float(sys.argv[2]) / 1000, float(sys.argv[3])
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    base = (os.getpid() * 7919) & 0xFFFF
    sent = 0
    start = time.monotonic()
    next_send = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_send:
            ident = (base + sent) & 0xFFFF
            header = struct.pack("!BBHHH", 8, 0, 0, ident, sent & 0xFFFF)
            payload = b"neutrino-bench"
            packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, sent & 0xFFFF)
            sock.sendto(packet + payload, (target, 0))
            sent += 1
            next_send += interval
            continue
        ready, _, _ = select.select([sock], [], [], next_send - now)
        if not ready:
            continue
        data, (source, _) = sock.recvfrom(2048)
        header_length = (data[0] & 0x0F) * 4
        kind, _, _, ident, sequence = struct.unpack("!BBHHH", data[header_length : header_length + 8])
        if kind == 0 and source == target and (ident - base) & 0xFFFF == sequence & 0xFFFF:
            print(f"{time.time() * 1000:.1f} {sequence}", flush=True)


main()
