#!/usr/bin/env python3
"""Build the flow meter's golden captures and their hand-computed expected flows.

Run on purpose when a rule changes:

    python scripts/make_golden_pcaps.py            # writes tests/capture/golden/

Every scenario below is a handful of packets written byte by byte (no packet
library) with the expected features worked out from the scenario itself: the
numbers in ``expect`` come from the packet list by the rules of the release's
meter (see ``src/flowsentinel/capture/profiles.py``), never from running the
meter.  Standard deviations use :func:`statistics.stdev` (sample, n - 1).

Each scenario writes ``<name>.pcap`` (some also as pcapng / other link types)
and ``<name>.json``: ``{"files": [...], "stats": {...}, "flows": {profile:
[expected flow, ...]}}``; an expected flow lists only the columns the scenario
is about, plus the identifiers that find it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics as stats
import struct
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "capture" / "golden"
T0 = 1_499_349_546_000_000  # 2017-07-06 13:59:06 UTC, in microseconds
S = 1_000_000  # one second in microseconds

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
SYN_OPTS = bytes.fromhex("020405b4" "0402" "080a0000000100000000" "01" "030307")  # 20 bytes
TS_OPTS = bytes.fromhex("0101" "080a0000000200000001")  # 12 bytes
MAC_A, MAC_B = bytes.fromhex("000c29aaaaaa"), bytes.fromhex("000c29bbbbbb")


# -- bytes ------------------------------------------------------------------------
def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src: str, dst: str) -> tuple[bytes, bytes]:
    return bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))


def ipv4(src: str, dst: str, proto: int, payload: bytes, frag: int = 0, options: bytes = b"") -> bytes:
    s, d = ip4(src, dst)
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 0x1234, frag, 64, proto, 0, s, d)
    hdr += options
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes) -> bytes:
    import ipaddress

    s = ipaddress.IPv6Address(src).packed
    d = ipaddress.IPv6Address(dst).packed
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + s + d + payload


def tcp(sport: int, dport: int, flags: int, win: int, payload: bytes = b"", opts: bytes = b"") -> bytes:
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, off << 4, flags, win, 0, 0) + opts + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(type_: int, code: int, payload: bytes = b"") -> bytes:
    return struct.pack("!BBHI", type_, code, 0, 0x00010001) + payload


def eth(l3: bytes, ethertype: int = 0x0800, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    frame = MAC_B + MAC_A + tag + struct.pack("!H", ethertype) + l3
    return frame + b"\0" * max(0, 60 - len(frame))  # Ethernet minimum frame: padding


def arp(op: int) -> bytes:
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + MAC_A + bytes([10, 0, 0, 1]) + MAC_B + bytes([10, 0, 0, 2])
    return eth(body, 0x0806)


def sll(l3: bytes, ethertype: int) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_A + b"\0\0", ethertype) + l3


def sll2(l3: bytes, ethertype: int) -> bytes:
    return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 0, 6, MAC_A + b"\0\0") + l3


def write_pcap(path: Path, packets: list[tuple[int, bytes]], linktype: int = 1) -> None:
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for ts, frame in packets:
            fh.write(struct.pack("<IIII", ts // S, ts % S, len(frame), len(frame)) + frame)


def write_pcapng(path: Path, packets: list[tuple[int, bytes]], linktype: int = 1) -> None:
    """pcapng with nanosecond timestamps (if_tsresol = 9)."""

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
    idb = block(1, struct.pack("<HHI", linktype, 0, 65535) + opts)
    out = [shb, idb]
    for ts, frame in packets:
        ns = ts * 1000
        out.append(block(6, struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, len(frame), len(frame)) + frame))
    path.write_bytes(b"".join(out))


def stamp(t: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=T0 + t)).strftime("%Y-%m-%d %H:%M:%S.%f")


def sd(values: list[float]) -> float:
    return stats.stdev(values) if len(values) > 1 else 0.0


def ident(src: str, sport: int, dst: str, dport: int, proto: int, t: int, flow_id: str | None = None) -> dict:
    fid = flow_id or f"{src}-{dst}-{sport}-{dport}-{proto}"
    return {"Flow ID": fid, "Src IP": src, "Src Port": sport, "Dst IP": dst, "Dst Port": dport,
            "Protocol": proto, "Timestamp": stamp(t)}


def both(flow: dict) -> dict:
    return {"cicids2017": flow, "corrected": flow}


# -- scenarios ------------------------------------------------------------------------
def s_tcp_handshake() -> dict:
    """A whole TCP connection, flushed at the end of the capture.

    Covers: first packet sets the direction, Flow ID format, payload and header
    lengths with options, sample std, µs times, rates, flag counts, subflows
    (release: total // packets), Bwd Init Win (release: last backward
    window; corrected: first non-zero), Fwd Act Data Pkts.
    """
    c, s = "192.168.10.5", "192.168.10.50"
    P = [  # t, from client?, flags, win, payload, options
        (0, True, SYN, 29200, 0, SYN_OPTS), (100, False, SYN | ACK, 28960, 0, SYN_OPTS),
        (200, True, ACK, 229, 0, TS_OPTS), (1000, True, PSH | ACK, 229, 100, TS_OPTS),
        (1100, False, ACK, 227, 0, TS_OPTS), (2000, False, PSH | ACK, 227, 300, TS_OPTS),
        (2100, True, ACK, 237, 0, TS_OPTS), (3000, True, FIN | ACK, 237, 0, TS_OPTS),
        (3100, False, FIN | ACK, 235, 0, TS_OPTS), (3200, True, ACK, 237, 0, TS_OPTS),
    ]
    pkts = []
    for t, fwd, fl, win, n, opts in P:
        sp, dp = (40000, 80) if fwd else (80, 40000)
        pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 6, tcp(sp, dp, fl, win, b"x" * n, opts)))))
    fl_ = [0, 0, 100, 0, 0, 0]
    bl = [0, 0, 300, 0]
    allp = [0] * 8 + [100, 300]
    iat = [100, 100, 800, 100, 900, 100, 900, 100, 100]
    fiat = [200, 800, 1100, 900, 200]
    biat = [1000, 900, 1100]
    common = {
        **ident(c, 40000, s, 80, 6, 0),
        "Flow Duration": 3200, "Total Fwd Packet": 6, "Total Bwd packets": 4,
        "Total Length of Fwd Packet": 100, "Total Length of Bwd Packet": 300,
        "Fwd Packet Length Max": 100, "Fwd Packet Length Min": 0, "Fwd Packet Length Mean": 100 / 6,
        "Fwd Packet Length Std": sd(fl_), "Bwd Packet Length Max": 300, "Bwd Packet Length Min": 0,
        "Bwd Packet Length Mean": 75.0, "Bwd Packet Length Std": sd(bl),
        "Flow Bytes/s": 400 / 0.0032, "Flow Packets/s": 10 / 0.0032,
        "Flow IAT Mean": 3200 / 9, "Flow IAT Std": sd(iat), "Flow IAT Max": 900, "Flow IAT Min": 100,
        "Fwd IAT Total": 3200, "Fwd IAT Mean": 640.0, "Fwd IAT Std": sd(fiat), "Fwd IAT Max": 1100,
        "Fwd IAT Min": 200, "Bwd IAT Total": 3000, "Bwd IAT Mean": 1000.0, "Bwd IAT Std": sd(biat),
        "Bwd IAT Max": 1100, "Bwd IAT Min": 900, "Fwd PSH Flags": 1, "Bwd PSH Flags": 1,
        "Fwd URG Flags": 0, "Bwd URG Flags": 0, "Fwd RST Flags": 0, "Bwd RST Flags": 0,
        "Fwd Header Length": 40 + 5 * 32, "Bwd Header Length": 40 + 3 * 32,
        "Fwd Packets/s": 6 / 0.0032, "Bwd Packets/s": 4 / 0.0032,
        "Packet Length Min": 0, "Packet Length Max": 300, "Packet Length Mean": 40.0,
        "Packet Length Std": sd(allp), "Packet Length Variance": stats.variance(allp),
        "FIN Flag Count": 2, "SYN Flag Count": 2, "RST Flag Count": 0, "PSH Flag Count": 2,
        "ACK Flag Count": 9, "URG Flag Count": 0, "CWR Flag Count": 0, "ECE Flag Count": 0,
        "Down/Up Ratio": 4 / 6, "Average Packet Size": 40.0, "Fwd Segment Size Avg": 100 / 6,
        "Bwd Segment Size Avg": 75.0, "Fwd Bytes/Bulk Avg": 0, "Fwd Packet/Bulk Avg": 0,
        "Fwd Bulk Rate Avg": 0, "Bwd Bytes/Bulk Avg": 0, "Bwd Packet/Bulk Avg": 0, "Bwd Bulk Rate Avg": 0,
        "FWD Init Win Bytes": 29200, "Fwd Act Data Pkts": 1, "Fwd Seg Size Min": 32,
        "Idle Mean": 0.0, "Idle Std": 0.0, "Idle Max": 0, "Idle Min": 0,
        "ICMP Code": -1, "ICMP Type": -1, "Total TCP Flow Time": 3200,
    }
    release = {**common, "Subflow Fwd Packets": 0, "Subflow Fwd Bytes": 10, "Subflow Bwd Packets": 0,
               "Subflow Bwd Bytes": 30, "Bwd Init Win Bytes": 235,
               "Active Mean": 0.0, "Active Std": 0.0, "Active Max": 0, "Active Min": 0}
    fixed = {**common, "Subflow Fwd Packets": 6, "Subflow Fwd Bytes": 100, "Subflow Bwd Packets": 4,
             "Subflow Bwd Bytes": 300, "Bwd Init Win Bytes": 28960,
             "Active Mean": 3200.0, "Active Std": 0.0, "Active Max": 3200, "Active Min": 3200}
    return {"packets": pkts, "flows": {"cicids2017": [release], "corrected": [fixed]}}


def s_tcp_teardown_then_syn() -> dict:
    """FIN both ways + ACK only marks the flow ready; a late RST stays in it (no
    "TCP appendix" flow); the next SYN writes it and starts a new flow.  Without
    the closing ACK (FIN both ways only) the release's flow is not ready: a
    later SYN joins it."""
    c, s = "192.168.10.5", "192.168.10.50"
    P = [(0, True, SYN), (100, False, SYN | ACK), (200, True, ACK), (300, True, FIN | ACK),
         (400, False, FIN | ACK), (500, True, ACK), (5000, False, RST),
         (10000, True, SYN), (10100, False, SYN | ACK), (10200, True, RST)]
    pkts = []
    for t, fwd, fl in P:
        sp, dp = (40000, 80) if fwd else (80, 40000)
        pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 6, tcp(sp, dp, fl, 1000)))))
    first = {**ident(c, 40000, s, 80, 6, 0), "Total Fwd Packet": 4, "Total Bwd packets": 3,
             "Flow Duration": 5000, "Bwd RST Flags": 1, "RST Flag Count": 1, "FIN Flag Count": 2,
             "Total TCP Flow Time": 5000}
    second = {**ident(c, 40000, s, 80, 6, 10000), "Total Fwd Packet": 2, "Total Bwd packets": 1,
              "Flow Duration": 200, "Fwd RST Flags": 1, "SYN Flag Count": 2, "Total TCP Flow Time": 200}
    Q = [(0, True, SYN), (100, False, SYN | ACK), (300, True, FIN | ACK), (400, False, FIN | ACK),
         (20000, True, SYN)]
    for t, fwd, fl in Q:
        sp, dp = (40010, 80) if fwd else (80, 40010)
        pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 6, tcp(sp, dp, fl, 1000)))))
    pkts.sort(key=lambda p: p[0])
    no_ack = {**ident(c, 40010, s, 80, 6, 0), "Total Fwd Packet": 3, "Total Bwd packets": 2,
              "SYN Flag Count": 3, "FIN Flag Count": 2, "Flow Duration": 20000}
    return {"packets": pkts, "flows": both([first, second, no_ack])}


def s_tcp_new_flow_direction() -> dict:
    """After a flow is ready to close: a SYN-ACK starts a flow that keeps the old
    direction and TCP time; a SYN without ACK from the server starts a flow in
    the server's direction (release: Flow ID keeps the first orientation)."""
    c, s = "192.168.10.5", "192.168.10.50"
    A = [(0, True, SYN, 20), (100, False, SYN | ACK, 20), (200, True, FIN | ACK, 20),
         (300, False, FIN | ACK, 20), (400, True, ACK, 20), (1000, False, SYN | ACK, 20),
         (1500, True, ACK, 32)]
    B = [(0, True, SYN, 20), (100, False, RST | ACK, 20), (2000, False, SYN, 20), (2100, True, SYN | ACK, 20)]
    pkts = []
    for conv, port in ((A, 40001), (B, 40002)):
        for t, fwd, fl, hl in conv:
            sp, dp = (port, 80) if fwd else (80, port)
            opts = TS_OPTS if hl == 32 else b""
            pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 6, tcp(sp, dp, fl, 500, b"", opts)))))
    pkts.sort(key=lambda p: p[0])
    a1 = {**ident(c, 40001, s, 80, 6, 0), "Total Fwd Packet": 3, "Total Bwd packets": 2,
          "Flow Duration": 400, "Total TCP Flow Time": 400}
    a2 = {**ident(c, 40001, s, 80, 6, 1000), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "Flow Duration": 500, "Total TCP Flow Time": 1500, "FWD Init Win Bytes": 0}
    b1 = {**ident(c, 40002, s, 80, 6, 0), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "Bwd RST Flags": 1, "Total TCP Flow Time": 100}
    b2 = {**ident(s, 80, c, 40002, 6, 2000), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "Flow Duration": 100, "Total TCP Flow Time": 100, "FWD Init Win Bytes": 500,
          "Fwd Seg Size Min": 20}
    release = [a1, {**a2, "Fwd Seg Size Min": 0}, b1,
               {**b2, "Flow ID": f"{c}-{s}-40002-80-6"}]
    fixed = [a1, {**a2, "Fwd Seg Size Min": 32}, b1, b2]
    return {"packets": pkts, "flows": {"cicids2017": release, "corrected": fixed}}


def s_tcp_timeout() -> dict:
    """A connection cut by the 120 s flow timeout: pieces keep the direction,
    Total TCP Flow Time adds up across pieces (the last one flushed at the end),
    a piece that starts backward has FWD Init Win 0 and (release) Fwd Seg Size
    Min 0; the first packet's payload is not an "act data" packet (release)."""
    c, s = "10.0.0.1", "10.0.0.2"
    P = [(0, True, 10), (50 * S, False, 20), (100 * S, True, 30), (130 * S, False, 40),
         (200 * S, True, 50), (260 * S, False, 60)]
    pkts = []
    for t, fwd, n in P:
        sp, dp = (40003, 443) if fwd else (443, 40003)
        win = 1000 if fwd else 2000
        pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 6, tcp(sp, dp, ACK, win, b"y" * n)))))
    base = ident(c, 40003, s, 443, 6, 0)
    p1 = {**base, "Total Fwd Packet": 2, "Total Bwd packets": 1, "Flow Duration": 100 * S,
          "Total TCP Flow Time": 100 * S, "FWD Init Win Bytes": 1000, "Bwd Init Win Bytes": 2000,
          "Idle Mean": 50.0 * S, "Idle Std": 0.0, "Idle Max": 50 * S, "Idle Min": 50 * S,
          "Active Mean": 0.0, "Active Max": 0, "Fwd Seg Size Min": 20}
    p2 = {**ident(c, 40003, s, 443, 6, 130 * S), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "Flow Duration": 70 * S, "Total TCP Flow Time": 200 * S, "FWD Init Win Bytes": 0,
          "Bwd Init Win Bytes": 2000, "Fwd Act Data Pkts": 1, "Total Length of Bwd Packet": 40}
    p3 = {**ident(c, 40003, s, 443, 6, 260 * S), "Total Fwd Packet": 0, "Total Bwd packets": 1,
          "Flow Duration": 0, "Total TCP Flow Time": 260 * S, "Fwd Seg Size Min": 0,
          "Flow Bytes/s": math.inf, "Flow Packets/s": math.inf, "Flow IAT Mean": math.nan,
          "Down/Up Ratio": 0.0}
    release = [{**p1, "Fwd Act Data Pkts": 1}, {**p2, "Fwd Seg Size Min": 0}, p3]
    fixed = [{**p1, "Fwd Act Data Pkts": 2}, {**p2, "Fwd Seg Size Min": 20}, p3]
    return {"packets": pkts, "flows": {"cicids2017": release, "corrected": fixed}}


def _udp_active_idle_packets() -> list[tuple[int, bool, int]]:
    return [(0, True, 40), (1 * S, False, 80), (2 * S, True, 40), (12 * S, False, 80), (13 * S, True, 40),
            (19 * S, True, 40), (25 * S, False, 80), (25 * S + S // 2, True, 40)]


def s_udp_active_idle() -> dict:
    """Active/idle periods (gap > 5 s), zero-length periods dropped, last period
    never closed (release) or closed (corrected); subflows (release: per packet;
    corrected: 1 s gaps); UDP header length 8.  The same packets are written as
    Ethernet pcap, pcapng (ns), Linux cooked v1/v2 and raw IP: same flows."""
    c, s = "10.0.0.1", "10.0.0.2"
    l3s = []
    for t, fwd, n in _udp_active_idle_packets():
        sp, dp = (5353, 53) if fwd else (53, 5353)
        l3s.append((T0 + t, ipv4(c if fwd else s, s if fwd else c, 17, udp(sp, dp, b"q" * n))))
    pkts = [(t, eth(l3)) for t, l3 in l3s]
    extra = {
        "pcapng": ("ng", [(t, eth(l3)) for t, l3 in l3s], 1),
        "sll": ("pcap", [(t, sll(l3, 0x0800)) for t, l3 in l3s], 113),
        "sll2": ("pcap", [(t, sll2(l3, 0x0800)) for t, l3 in l3s], 276),
        "raw": ("pcap", l3s, 101),
    }
    common = {**ident(c, 5353, s, 53, 17, 0), "Total Fwd Packet": 5, "Total Bwd packets": 3,
              "Total Length of Fwd Packet": 200, "Total Length of Bwd Packet": 240,
              "Flow Duration": 25 * S + S // 2, "Fwd Header Length": 40, "Bwd Header Length": 24,
              "Fwd Seg Size Min": 8, "FWD Init Win Bytes": 0, "Bwd Init Win Bytes": 0,
              "Idle Mean": 22 * S / 3, "Idle Std": sd([10 * S, 6 * S, 6 * S]), "Idle Max": 10 * S,
              "Idle Min": 6 * S, "Total TCP Flow Time": 0, "Fwd Bytes/Bulk Avg": 0, "Bwd Bytes/Bulk Avg": 0}
    release = {**common, "Active Mean": 1.5 * S, "Active Std": sd([2 * S, 1 * S]), "Active Max": 2 * S,
               "Active Min": 1 * S, "Subflow Fwd Packets": 0, "Subflow Fwd Bytes": 25,
               "Subflow Bwd Packets": 0, "Subflow Bwd Bytes": 30, "Fwd Act Data Pkts": 4}
    act = [2 * S, 1 * S, S // 2]
    fixed = {**common, "Active Mean": sum(act) / 3, "Active Std": sd(act), "Active Max": 2 * S,
             "Active Min": S // 2, "Subflow Fwd Packets": 1, "Subflow Fwd Bytes": 50,
             "Subflow Bwd Packets": 0, "Subflow Bwd Bytes": 60, "Fwd Act Data Pkts": 5}
    return {"packets": pkts, "extra": extra, "flows": {"cicids2017": [release], "corrected": [fixed]}}


def s_udp_timeout_direction() -> dict:
    """A non-TCP flow cut by the timeout: the new flow takes the new packet's
    direction (release: Flow ID keeps the first orientation)."""
    c, s = "10.0.0.1", "10.0.0.2"
    P = [(0, True, 10), (1 * S, False, 20), (125 * S, False, 30), (126 * S, True, 40)]
    pkts = []
    for t, fwd, n in P:
        sp, dp = (6000, 7000) if fwd else (7000, 6000)
        pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 17, udp(sp, dp, b"u" * n)))))
    f1 = {**ident(c, 6000, s, 7000, 17, 0), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "Total Length of Fwd Packet": 10, "Flow Duration": 1 * S}
    f2 = {**ident(s, 7000, c, 6000, 17, 125 * S), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "Total Length of Fwd Packet": 30, "Total Length of Bwd Packet": 40, "Flow Duration": 1 * S}
    return {"packets": pkts, "flows": {"cicids2017": [f1, {**f2, "Flow ID": f"{c}-{s}-6000-7000-17"}],
                                       "corrected": [f1, f2]}}


def s_icmp() -> dict:
    """ICMP: ports 0, no payload/header/window values, code and type of the first
    packet; echo request and reply stay one flow; a flow splits only when both
    the code and the type change."""
    a, b = "192.168.1.1", "192.168.1.2"
    P = [(0, True, 8, 0), (1000, False, 0, 0), (2000, True, 8, 0), (3000, False, 0, 0),
         (10000, False, 3, 3), (11000, False, 3, 1)]
    pkts = [(T0 + t, eth(ipv4(a if fwd else b, b if fwd else a, 1, icmp(ty, co, b"p" * 56))))
            for t, fwd, ty, co in P]
    zero = {"Total Length of Fwd Packet": 0, "Total Length of Bwd Packet": 0, "Fwd Header Length": 0,
            "Bwd Header Length": 0, "FWD Init Win Bytes": 0, "Bwd Init Win Bytes": 0,
            "Fwd Seg Size Min": 0, "Packet Length Max": 0}
    f1 = {**ident(a, 0, b, 0, 1, 0), **zero, "Total Fwd Packet": 2, "Total Bwd packets": 2,
          "ICMP Type": 8, "ICMP Code": 0, "Flow Duration": 3000}
    f2 = {**ident(b, 0, a, 0, 1, 10000), **zero, "Total Fwd Packet": 2, "Total Bwd packets": 0,
          "ICMP Type": 3, "ICMP Code": 3, "Flow Duration": 1000}
    return {"packets": pkts, "flows": {"cicids2017": [f1, {**f2, "Flow ID": f"{a}-{b}-0-0-1"}],
                                       "corrected": [f1, f2]}}


def s_bulk() -> dict:
    """Bulk: 4+ same-direction payload packets with gaps <= 1 s and no payload
    from the other side in between; a 5th packet continues the bulk."""
    c, s = "10.0.0.1", "10.0.0.2"
    P = [(0, True, 1000), (100_000, True, 1000), (200_000, True, 1000), (300_000, True, 1000),
         (400_000, True, 1000), (500_000, False, 200), (600_000, True, 100), (700_000, True, 100),
         (800_000, True, 100), (1_000_000, False, 500), (1_200_000, False, 500),
         (3_000_000, False, 500), (3_100_000, False, 500)]
    pkts = []
    for t, fwd, n in P:
        sp, dp = (9000, 9001) if fwd else (9001, 9000)
        pkts.append((T0 + t, eth(ipv4(c if fwd else s, s if fwd else c, 17, udp(sp, dp, b"b" * n)))))
    f = {**ident(c, 9000, s, 9001, 17, 0), "Total Fwd Packet": 8, "Total Bwd packets": 5,
         "Fwd Bytes/Bulk Avg": 5000, "Fwd Packet/Bulk Avg": 5, "Fwd Bulk Rate Avg": int(5000 / 0.4),
         "Bwd Bytes/Bulk Avg": 0, "Bwd Packet/Bulk Avg": 0, "Bwd Bulk Rate Avg": 0}
    return {"packets": pkts, "flows": both([f])}


def s_ipv6() -> dict:
    """IPv6 (beyond the release): TCP with a hop-by-hop extension header on one
    packet, and ICMPv6 echo request/reply as one flow (protocol 58)."""
    c, s = "2001:db8::1", "2001:db8::2"
    hbh = bytes([6, 0]) + b"\x01\x04\0\0\0\0"  # next header TCP, 8 bytes, PadN
    pkts = [
        (T0, eth(ipv6(c, s, 6, tcp(50000, 443, SYN, 64800, b"", SYN_OPTS)), 0x86DD)),
        (T0 + 100, eth(ipv6(s, c, 6, tcp(443, 50000, SYN | ACK, 64260, b"", SYN_OPTS)), 0x86DD)),
        (T0 + 200, eth(ipv6(c, s, 0, hbh + tcp(50000, 443, PSH | ACK, 502, b"z" * 200, TS_OPTS)), 0x86DD)),
        (T0 + 1000, eth(ipv6(c, s, 58, icmp(128, 0, b"e" * 32)), 0x86DD)),
        (T0 + 1100, eth(ipv6(s, c, 58, icmp(129, 0, b"e" * 32)), 0x86DD)),
    ]
    f1 = {**ident(c, 50000, s, 443, 6, 0), "Total Fwd Packet": 2, "Total Bwd packets": 1,
          "Total Length of Fwd Packet": 200, "Fwd Header Length": 72, "Bwd Header Length": 40,
          "FWD Init Win Bytes": 64800, "Bwd Init Win Bytes": 64260, "Flow Duration": 200}
    f2 = {**ident(c, 0, s, 0, 58, 1000), "Total Fwd Packet": 1, "Total Bwd packets": 1,
          "ICMP Type": 128, "ICMP Code": 0, "Total Length of Fwd Packet": 0}
    return {"packets": pkts, "flows": both([f1, f2])}


def s_link_oddities() -> dict:
    """ARP makes no flow; Ethernet padding is not payload; a VLAN tag is skipped;
    IPv4 options are skipped; another IP protocol and a non-first fragment are
    protocol 0 with ports 0 (release) or keep their protocol (corrected);
    truncated headers are counted as malformed, never a crash."""
    c, s = "10.0.0.1", "10.0.0.2"
    good_tcp = ipv4("10.0.9.1", "10.0.9.2", 6, tcp(1111, 22, SYN, 1024, b"", SYN_OPTS),
                    options=b"\x01\x01\x01\x00")
    pkts = [
        (T0, arp(1)), (T0 + 10, arp(2)),
        (T0 + 100, eth(ipv4(c, s, 17, udp(7777, 8888, b"abcd")))),  # padded to 60 bytes
        (T0 + 200, eth(ipv4(s, c, 17, udp(8888, 7777, b"0123456789")), vlan=5)),
        (T0 + 300, eth(good_tcp)),
        (T0 + 400, eth(ipv4("10.1.0.1", "10.1.0.2", 47, b"\0\0\x08\0" + b"g" * 20))),
        (T0 + 500, eth(ipv4("10.2.0.1", "10.2.0.2", 17, b"f" * 64, frag=0x0010))),
        (T0 + 600, eth(ipv4(c, s, 17, udp(7777, 8888, b"x")))[:14 + 12]),  # IPv4 header cut
        (T0 + 700, eth(ipv4(c, s, 6, tcp(1, 2, SYN, 1)))[:14 + 20 + 10]),  # TCP header cut
    ]
    udpf = {**ident(c, 7777, s, 8888, 17, 100), "Total Fwd Packet": 1, "Total Bwd packets": 1,
            "Total Length of Fwd Packet": 4, "Total Length of Bwd Packet": 10, "Packet Length Max": 10}
    tcpf = {**ident("10.0.9.1", 1111, "10.0.9.2", 22, 6, 300), "Fwd Header Length": 40,
            "FWD Init Win Bytes": 1024, "Total Fwd Packet": 1}
    gre = {"Total Fwd Packet": 1, "Total Length of Fwd Packet": 0, "Fwd Header Length": 0, "ICMP Type": -1}
    release = [udpf, tcpf, {**ident("10.1.0.1", 0, "10.1.0.2", 0, 0, 400), **gre},
               {**ident("10.2.0.1", 0, "10.2.0.2", 0, 0, 500), **gre}]
    fixed = [udpf, tcpf, {**ident("10.1.0.1", 0, "10.1.0.2", 0, 47, 400), **gre},
             {**ident("10.2.0.1", 0, "10.2.0.2", 0, 17, 500), **gre}]
    return {"packets": pkts, "stats": {"malformed": 2, "non_ip": 2, "packets": 5},
            "flows": {"cicids2017": release, "corrected": fixed}}


def s_edge_values() -> dict:
    """One-packet and zero-duration flows (non-finite rates written as computed,
    no inter-arrival time: NaN), and two ports of one host (release: direction
    by source IP only, so every packet is forward)."""
    pkts = [
        (T0, eth(ipv4("10.3.0.1", "10.3.0.2", 6, tcp(1234, 80, SYN, 8192, b"", SYN_OPTS)))),
        (T0 + 50, eth(ipv4("10.4.0.1", "10.4.0.2", 17, udp(1000, 2000, b"a" * 20)))),
        (T0 + 50, eth(ipv4("10.4.0.2", "10.4.0.1", 17, udp(2000, 1000, b"b" * 30)))),
        (T0 + 100, eth(ipv4("127.0.0.1", "127.0.0.1", 17, udp(5000, 6000, b"c" * 10)))),
        (T0 + 300, eth(ipv4("127.0.0.1", "127.0.0.1", 17, udp(6000, 5000, b"d" * 20)))),
    ]
    one = {**ident("10.3.0.1", 1234, "10.3.0.2", 80, 6, 0), "Flow Duration": 0, "Total Fwd Packet": 1,
           "Flow Bytes/s": math.nan, "Flow Packets/s": math.inf, "Flow IAT Mean": math.nan,
           "Flow IAT Std": math.nan, "Flow IAT Max": math.nan, "Flow IAT Min": math.nan,
           "Fwd Packets/s": 0.0, "Packet Length Std": 0.0, "Packet Length Variance": 0.0,
           "Subflow Fwd Packets": 1, "Fwd Seg Size Min": 40, "Total TCP Flow Time": 0}
    zero = {**ident("10.4.0.1", 1000, "10.4.0.2", 2000, 17, 50), "Flow Duration": 0,
            "Flow Bytes/s": math.inf, "Flow Packets/s": math.inf, "Flow IAT Mean": 0.0,
            "Flow IAT Std": 0.0, "Fwd Packets/s": 0.0, "Bwd Packets/s": 0.0}
    same = ident("127.0.0.1", 5000, "127.0.0.1", 6000, 17, 100)
    release = [{**one, "Subflow Fwd Packets": 1}, zero,
               {**same, "Total Fwd Packet": 2, "Total Bwd packets": 0, "Total Length of Fwd Packet": 30}]
    fixed = [one, zero, {**same, "Total Fwd Packet": 1, "Total Bwd packets": 1, "Total Length of Fwd Packet": 10}]
    return {"packets": pkts, "flows": {"cicids2017": release, "corrected": fixed}}


def s_first_packet_counters() -> dict:
    """Release: the flow's first packet is not counted by Fwd Act Data Pkts nor
    by the per-direction RST counters (the overall flag counts do count it)."""
    c, s, d = "10.5.0.1", "10.5.0.2", "10.5.0.3"
    pkts = [
        (T0, eth(ipv4(c, s, 6, tcp(3333, 80, PSH | ACK, 100, b"m" * 50)))),
        (T0 + 1, eth(ipv4(d, s, 6, tcp(4444, 80, RST, 0)))),
        (T0 + 100, eth(ipv4(c, s, 6, tcp(3333, 80, ACK, 100, b"n" * 60)))),
        (T0 + 101, eth(ipv4(s, d, 6, tcp(80, 4444, RST | ACK, 0)))),
        (T0 + 200, eth(ipv4(s, c, 6, tcp(80, 3333, ACK, 200)))),
        (T0 + 300, eth(ipv4(c, s, 6, tcp(3333, 80, RST, 0)))),
    ]
    f1 = {**ident(c, 3333, s, 80, 6, 0), "Fwd RST Flags": 1, "RST Flag Count": 1}
    f2 = {**ident(d, 4444, s, 80, 6, 1), "Bwd RST Flags": 1, "RST Flag Count": 2}
    release = [{**f1, "Fwd Act Data Pkts": 1}, {**f2, "Fwd RST Flags": 0}]
    fixed = [{**f1, "Fwd Act Data Pkts": 2}, {**f2, "Fwd RST Flags": 1}]
    return {"packets": pkts, "flows": {"cicids2017": release, "corrected": fixed}}


SCENARIOS = {
    "tcp_handshake": s_tcp_handshake,
    "tcp_teardown_then_syn": s_tcp_teardown_then_syn,
    "tcp_new_flow_direction": s_tcp_new_flow_direction,
    "tcp_timeout": s_tcp_timeout,
    "udp_active_idle": s_udp_active_idle,
    "udp_timeout_direction": s_udp_timeout_direction,
    "icmp": s_icmp,
    "bulk": s_bulk,
    "ipv6": s_ipv6,
    "link_oddities": s_link_oddities,
    "edge_values": s_edge_values,
    "first_packet_counters": s_first_packet_counters,
}


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=GOLDEN, help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in SCENARIOS.items():
        sc = build()
        files = [f"{name}.pcap"]
        write_pcap(args.out / files[0], sc["packets"])
        for suffix, (fmt, pk, lt) in sc.get("extra", {}).items():
            fname = f"{name}_{suffix}.{'pcapng' if fmt == 'ng' else 'pcap'}"
            (write_pcapng if fmt == "ng" else write_pcap)(args.out / fname, pk, lt)
            files.append(fname)
        doc = {"scenario": name, "about": " ".join(build.__doc__.split()), "files": files,
               "stats": sc.get("stats", {}),
               "flows": {p: [{k: _json_value(v) for k, v in f.items()} for f in fl]
                         for p, fl in sc["flows"].items()}}
        (args.out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(SCENARIOS)} scenarios to {args.out}")  # a script's result line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
