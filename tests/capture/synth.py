"""Synthetic traffic for throughput and consistency tests (seeded, fast to build)."""

from __future__ import annotations

import struct

import numpy as np

from flowsentinel.capture import write_pcap

_ETH = bytes.fromhex("000c29bbbbbb000c29aaaaaa0800")


def synthetic_frames(n_packets: int, seed: int = 0, n_hosts: int = 500) -> list[tuple[int, bytes]]:
    """Interleaved TCP and UDP conversations with handshakes, data and teardowns.

    Returns ``(timestamp µs, Ethernet frame)`` pairs in time order.
    """
    rng = np.random.default_rng(seed)
    out: list[tuple[int, bytes]] = []
    t = 1_500_000_000_000_000
    pack_ip = struct.Struct("!BBHHHBBH4s4s").pack
    pack_tcp = struct.Struct("!HHIIBBHHH").pack
    pack_udp = struct.Struct("!HHHH").pack
    open_convs: list[list] = []
    while len(out) < n_packets:
        if len(open_convs) < 200 or rng.random() < 0.05:
            a = bytes([10, 0, *rng.integers(0, 256, 2).tolist()])
            b = bytes([172, 16, int(rng.integers(0, n_hosts)) % 256, 1])
            proto = 6 if rng.random() < 0.85 else 17
            open_convs.append([a, b, int(rng.integers(1024, 65535)), int(rng.choice([80, 443, 22, 53])),
                               proto, 0, int(rng.integers(6, 40))])
        i = int(rng.integers(0, len(open_convs)))
        c = open_convs[i]
        a, b, sp, dp, proto, k, length = c
        fwd = k == 0 or rng.random() < 0.55
        src, dst, s, d = (a, b, sp, dp) if fwd else (b, a, dp, sp)
        size = int(rng.choice([0, 0, 0, 40, 120, 600, 1460]))
        if proto == 6:
            flags = 0x02 if k == 0 else (0x12 if k == 1 else (0x11 if k >= length - 2 else 0x18 if size else 0x10))
            l4 = pack_tcp(s, d, k, k, 5 << 4, flags, 8192, 0, 0) + b"\0" * size
        else:
            l4 = pack_udp(s, d, 8 + size, 0) + b"\0" * size
        ip = pack_ip(0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0, src, dst) + l4
        t += int(rng.exponential(200)) + 1
        out.append((t, _ETH + ip))
        c[5] = k + 1
        if k + 1 >= length:
            open_convs.pop(i)
    return out


def write_synthetic_pcap(path, n_packets: int, seed: int = 0) -> int:
    """Write :func:`synthetic_frames` to ``path``; returns the packet count."""
    return write_pcap(path, synthetic_frames(n_packets, seed))
