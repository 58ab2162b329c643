"""Synthetic traffic for throughput and consistency tests (seeded, fast to build)."""

from __future__ import annotations

import struct

import numpy as np

from flowsentinel.capture import write_pcap

_ETH = bytes.fromhex("000c29bbbbbb000c29aaaaaa0800")
_SIZES = np.array([0, 0, 0, 40, 120, 600, 1460])
_PORTS = np.array([80, 443, 22, 53])


def synthetic_frames(n_packets: int, seed: int = 0, n_hosts: int = 500) -> list[tuple[int, bytes]]:
    """Interleaved TCP and UDP conversations with handshakes, data and teardowns.

    Returns ``(timestamp µs, Ethernet frame)`` pairs in time order.
    """
    rng = np.random.default_rng(seed)
    m = n_packets + 1
    u_new, u_pick, u_dir, u_proto = (rng.random(m).tolist() for _ in range(4))
    sizes = rng.choice(_SIZES, m).tolist()
    gaps = (rng.exponential(200, m).astype(np.int64) + 1).tolist()
    hosts_a = rng.integers(0, 256, (m, 2)).tolist()
    hosts_b = rng.integers(0, n_hosts, m).tolist()
    sports = rng.integers(1024, 65535, m).tolist()
    dports = rng.choice(_PORTS, m).tolist()
    lengths = rng.integers(6, 40, m).tolist()
    pack_ip = struct.Struct("!BBHHHBBH4s4s").pack
    pack_tcp = struct.Struct("!HHIIBBHHH").pack
    pack_udp = struct.Struct("!HHHH").pack
    zeros = bytes(1500)
    out: list[tuple[int, bytes]] = []
    t = 1_500_000_000_000_000
    conv: list[list] = []
    j = 0
    while len(out) < n_packets:
        if len(conv) < 200 or u_new[j] < 0.05:
            conv.append([bytes([10, 0, *hosts_a[j]]), bytes([172, 16, hosts_b[j] % 256, 1]), sports[j],
                         dports[j], 6 if u_proto[j] < 0.85 else 17, 0, lengths[j]])
        i = int(u_pick[j] * len(conv))
        c = conv[i]
        a, b, sp, dp, proto, k, length = c
        fwd = k == 0 or u_dir[j] < 0.55
        src, dst, s, d = (a, b, sp, dp) if fwd else (b, a, dp, sp)
        size = sizes[j]
        if proto == 6:
            flags = 0x02 if k == 0 else (0x12 if k == 1 else (0x11 if k >= length - 2 else 0x18 if size else 0x10))
            l4 = pack_tcp(s, d, k, k, 5 << 4, flags, 8192, 0, 0) + zeros[:size]
        else:
            l4 = pack_udp(s, d, 8 + size, 0) + zeros[:size]
        t += gaps[j]
        out.append((t, _ETH + pack_ip(0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0, src, dst) + l4))
        c[5] = k + 1
        if k + 1 >= length:
            conv.pop(i)
        j = (j + 1) % m
    return out


def write_synthetic_pcap(path, n_packets: int, seed: int = 0) -> int:
    """Write :func:`synthetic_frames` to ``path``; returns the packet count."""
    return write_pcap(path, synthetic_frames(n_packets, seed))


def closing_connections(n: int, seed: int) -> list[tuple[int, bytes]]:
    """``n`` whole TCP connections (teardown: FIN both ways, then the last ACK), overlapping in
    time; a third get a straggler 0.5 s after closing (within a 2 s quiet spell), a third one 3 s
    after (beyond it)."""
    rng = np.random.default_rng(seed)
    eth = bytes.fromhex("000c29bbbbbb000c29aaaaaa0800")
    c, s = bytes([10, 1, 0, 1]), bytes([10, 1, 0, 2])
    out = []
    for i in range(n):
        t = 1_500_000_000_000_000 + int(rng.integers(0, 20_000_000))
        steps = [(0, True, 0x02), (300, False, 0x12), (300, True, 0x10), (2000, True, 0x18),
                 (500, False, 0x10), (1000, True, 0x11), (400, False, 0x11), (300, True, 0x10)]
        late = {0: None, 1: 500_000, 2: 3_000_000}[i % 3]
        if late is not None:
            steps.append((late, False, int(rng.choice([0x10, 0x04, 0x11]))))
        for gap, fwd, flags in steps:
            t += gap
            sp, dp = (20000 + i, 80) if fwd else (80, 20000 + i)
            l4 = struct.pack("!HHIIBBHHH", sp, dp, 0, 0, 5 << 4, flags, 1000, 0, 0) + bytes(10 if flags == 0x18 else 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, 6, 0, *((c, s) if fwd else (s, c)))
            out.append((t, eth + ip + l4))
    out.sort(key=lambda p: p[0])
    return out
