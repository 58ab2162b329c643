"""The vectorised meter against a literal per-packet reference, on random traffic.

Random TCP/UDP/ICMP conversations with random flags, payloads and gaps (some
over the 5 s activity timeout, some over the 120 s flow timeout, some
conversations between two ports of one host) go through ``FlowStreamer`` and
through ``reference_meter.RefMeter``; every column of every flow must agree,
for both profiles, with and without the live rule for closed connections
(``closed_wait_s``).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.capture import FlowStreamer, PcapFileSource, decode_frames, get_profile, write_pcap
from flowsentinel.capture.packets import format_ip

from .reference_meter import RefMeter

FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x30, 0x01, 0x00, 0x50, 0x90, 0x19]


def _random_capture(seed: int, n: int) -> list[tuple[int, bytes]]:
    rng = np.random.default_rng(seed)
    hosts = [bytes([10, 0, 0, i]) for i in range(1, 6)]
    convs = []
    for _ in range(25):
        a, b = rng.choice(len(hosts), 2)
        proto = int(rng.choice([6, 6, 6, 17, 1]))
        convs.append((hosts[a], hosts[b], int(rng.integers(1000, 1010)), int(rng.choice([80, 1000, 1005])), proto))
    out, t = [], 1_500_000_000_000_000
    flipped = [False] * len(convs)
    for _ in range(n):
        k = int(rng.integers(len(convs)))
        a, b, pa, pb, proto = convs[k]
        if rng.random() < 0.25:  # runs of one direction make bulks possible
            flipped[k] = not flipped[k]
        if flipped[k]:
            a, b, pa, pb = b, a, pb, pa
        r = rng.random()
        t += int(rng.integers(1, 2000)) if r < 0.985 else (int(rng.integers(2, 9)) * 1_000_000 if r < 0.998
                                                           else int(rng.integers(60, 200)) * 1_000_000)
        size = int(rng.choice([0, 0, 0, 10, 100, 1000]))
        if proto == 6:
            opts = b"" if rng.random() < 0.5 else b"\x01" * 12
            l4 = struct.pack("!HHIIBBHHH", pa, pb, 0, 0, (20 + len(opts)) // 4 << 4, int(rng.choice(FLAGS)),
                             int(rng.integers(0, 4)) * 1000, 0, 0) + opts + bytes(size)
        elif proto == 17:
            l4 = struct.pack("!HHHH", pa, pb, 8 + size, 0) + bytes(size)
        else:
            l4 = struct.pack("!BBHI", int(rng.choice([0, 8, 3])), int(rng.choice([0, 1, 3])), 0, 0) + bytes(size)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0, a, b) + l4
        out.append((t, bytes.fromhex("000c29bbbbbb000c29aaaaaa0800") + ip))
    return out


def _reference(path, profile, closed_wait_us: int | None = None) -> pd.DataFrame:
    ref = RefMeter(profile, closed_wait_us)
    for frames in PcapFileSource(path):
        b = decode_frames(frames)
        cols = {c: getattr(b, c).tolist() for c in ("ts", "ver", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport",
                                                  "dport", "proto", "flags", "win", "plen", "hlen", "icmp_type",
                                                  "icmp_code")}
        for i in range(len(b)):
            p = {c: v[i] for c, v in cols.items()}
            p["src"] = format_ip(p["ver"], p["src_hi"], p["src_lo"])
            p["dst"] = format_ip(p["ver"], p["dst_hi"], p["dst_lo"])
            ref.add(p)
    return pd.DataFrame(ref.finish(), columns=[*schema.IDENTIFIERS, *schema.FEATURES])


@pytest.mark.parametrize("profile", ["cicids2017", "corrected"])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("closed_wait_s", [None, 3.0])
def test_meter_matches_reference(tmp_path, seed: int, profile: str, closed_wait_s: float | None) -> None:
    """Also with the live rule: a closed connection quiet for 3 s is written (gaps of 2-9 s are drawn)."""
    path = tmp_path / "random.pcap"
    write_pcap(path, _random_capture(seed, 3000))
    prof = get_profile(profile)
    ours = FlowStreamer(path, profile=prof, batch_size=777, closed_wait_s=closed_wait_s).to_frame()
    wait_us = None if closed_wait_s is None else int(closed_wait_s * 1e6)
    ref = _reference(path, prof, wait_us)
    assert len(ours) == len(ref)
    if closed_wait_s is not None:  # the rule did cut some connections the release keeps whole
        assert len(ours) > len(FlowStreamer(path, profile=prof).to_frame())
    ours = ours.sort_values("Timestamp").reset_index(drop=True)
    ref = ref.sort_values("Timestamp").reset_index(drop=True)
    assert ours["Timestamp"].is_unique
    assert ours["Total TCP Flow Time"].gt(ours["Flow Duration"]).any()  # timeouts did cut connections
    assert (ours["Idle Max"] > 0).any() and (ours["Fwd Bytes/Bulk Avg"] > 0).any()
    bad = []
    for c in [*schema.IDENTIFIERS, *schema.FEATURES]:
        for i, (a, b) in enumerate(zip(ours[c].tolist(), ref[c].tolist())):
            if isinstance(b, str) or isinstance(a, str):
                same = a == b
            elif math.isnan(float(b)):
                same = math.isnan(float(a))
            else:
                same = math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
            if not same:
                bad.append((i, c, a, b))
    assert not bad, f"{len(bad)} differences, e.g. {bad[:8]}"
