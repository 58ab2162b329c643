"""The parser never crashes: random and mutated frames, truncated and corrupt files.

More than 100 000 frames go through ``decode_frames`` (vectorised, so this is
fast) and every decoded packet through the meter; frames are also decoded one
by one on a subset to show that batching never leaks bytes between frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from flowsentinel.capture import FlowMeter, FlowStreamer, PcapFileSource, RawFrames, decode_frames
from flowsentinel.capture.packets import LINKTYPES

from .conftest import GOLDEN

LINKS = np.array(sorted(LINKTYPES), dtype=np.int32)


def _golden_frames() -> list[tuple[bytes, int]]:
    out = []
    for path in sorted(GOLDEN.glob("*.pcap*")):
        for frames in PcapFileSource(path):
            for off, cap, lt in zip(frames.offsets, frames.caplens, frames.linktypes):
                out.append((frames.data[off:off + cap].tobytes(), int(lt)))
    return out


def _frames(blobs: list[bytes], linktypes: np.ndarray) -> RawFrames:
    lens = np.array([len(b) for b in blobs], dtype=np.int64)
    offs = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    data = np.frombuffer(b"".join(blobs) or b"\0", dtype=np.uint8)
    n = len(blobs)
    return RawFrames(data=data, offsets=offs, caplens=lens, ts_us=np.arange(n, dtype=np.int64) * 10,
                     linktypes=linktypes.astype(np.int32), numbers=np.arange(1, n + 1), source="fuzz")


def _mutants(rng: np.random.Generator, seeds: list[tuple[bytes, int]], count: int):
    blobs, lts = [], []
    for _ in range(count):
        base, lt = seeds[int(rng.integers(len(seeds)))]
        b = bytearray(base)
        op = int(rng.integers(4))
        if op == 0 and b:  # flip bytes
            for pos in rng.integers(0, len(b), int(rng.integers(1, 6))):
                b[int(pos)] = int(rng.integers(256))
        elif op == 1:  # truncate
            b = b[: int(rng.integers(0, len(b) + 1))]
        elif op == 2 and len(b) > 20:  # corrupt a length/offset field region
            pos = int(rng.integers(12, min(len(b), 60)))
            b[pos] = int(rng.choice([0, 1, 5, 0x0F, 0x45, 0x60, 0xFF]))
        else:  # extend with junk
            b += rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        blobs.append(bytes(b))
        lts.append(lt if rng.random() < 0.9 else int(rng.choice(LINKS)))
    return blobs, np.array(lts, dtype=np.int32)


def _check_batch(frames: RawFrames) -> None:
    b = decode_frames(frames)
    assert len(b) + b.malformed + b.non_ip + b.unsupported == len(frames)
    assert (b.plen >= 0).all() and (b.hlen >= 0).all() and (b.hlen <= 60).all()
    assert ((b.sport >= 0) & (b.sport <= 0xFFFF) & (b.dport >= 0) & (b.dport <= 0xFFFF)).all()
    assert np.isin(b.ver, (4, 6)).all()
    meter = FlowMeter()
    chunks = [meter.update(b), meter.flush()]
    assert meter.stats.packets == len(b)
    metered = sum(int(np.sum(c.columns["Total Fwd Packet"]) + np.sum(c.columns["Total Bwd packets"]))
                  for c in chunks if len(c))
    assert metered == len(b)  # every parsed packet lands in exactly one flow


def test_fuzz_random_and_mutated_frames_never_crash() -> None:
    rng = np.random.default_rng(20170706)
    seeds = _golden_frames()
    assert len(seeds) > 50
    total = 0
    for _ in range(6):  # 6 x 10 000 mutated frames
        blobs, lts = _mutants(rng, seeds, 10_000)
        _check_batch(_frames(blobs, lts))
        total += len(blobs)
    for _ in range(5):  # 5 x 10 000 random frames, IP-looking and not
        lens = rng.integers(0, 120, 10_000)
        blobs = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in lens]
        for i in range(0, len(blobs), 2):  # half get a plausible IPv4/IPv6 start
            if blobs[i]:
                blobs[i] = bytes([int(rng.choice([0x45, 0x46, 0x4F, 0x60]))]) + blobs[i][1:]
        lts = rng.choice(LINKS, 10_000)
        lts[::2] = 101
        _check_batch(_frames(blobs, lts))
        total += len(blobs)
    assert total >= 100_000


def test_batch_decoding_equals_one_by_one() -> None:
    rng = np.random.default_rng(7)
    blobs, lts = _mutants(rng, _golden_frames(), 300)
    whole = decode_frames(_frames(blobs, lts))
    parts = [decode_frames(_frames([blob], lts[i:i + 1])) for i, blob in enumerate(blobs)]
    assert whole.malformed == sum(p.malformed for p in parts)
    ok = [p for p in parts if len(p)]
    assert len(whole) == len(ok)
    for name in ("src_lo", "dst_lo", "sport", "dport", "proto", "flags", "win", "plen", "hlen", "icmp_type"):
        assert getattr(whole, name).tolist() == [int(getattr(p, name)[0]) for p in ok], name


@pytest.mark.parametrize("cut", [0, 3, 23, 24, 30, 40, 57, 99, -1, -7])
def test_truncated_pcap_files_are_read_up_to_the_cut(tmp_path, cut: int) -> None:
    data = (GOLDEN / "tcp_handshake.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    try:
        streamer = FlowStreamer(path)
    except ValueError as err:  # too short to be a capture at all: a clear error
        assert "cut.pcap" in str(err)
        return
    flows = streamer.to_frame()
    src = streamer.source
    assert src.stats.truncated or len(data[:cut]) == 24
    assert len(flows) <= 1
    if src.stats.truncated:
        assert "cut.pcap: packet" in src.stats.stop_reason


def test_corrupt_pcapng_blocks_are_reported(tmp_path) -> None:
    data = bytearray((GOLDEN / "udp_active_idle_pcapng.pcapng").read_bytes())
    rng = np.random.default_rng(3)
    for trial in range(200):
        b = bytearray(data)
        for pos in rng.integers(0, len(b), 3):
            b[int(pos)] = int(rng.integers(256))
        b = b[: int(rng.integers(len(b) // 2, len(b) + 1))]
        path = tmp_path / f"m{trial}.pcapng"
        path.write_bytes(bytes(b))
        try:
            FlowStreamer(path).to_frame()
        except ValueError as err:  # unreadable header or unsupported link type: named in the message
            assert path.name in str(err)


def test_absurd_pcapng_timestamps_are_clamped(tmp_path) -> None:
    """A corrupt if_tsresol/if_tsoffset must not overflow the 64-bit times."""
    import struct

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    frame = (GOLDEN / "tcp_handshake.pcap").read_bytes()[40:40 + 74]
    opts = struct.pack("<HHB3x", 9, 1, 0) + struct.pack("<HHq", 14, 8, 2**62) + struct.pack("<HH", 0, 0)
    data = (block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
            + block(1, struct.pack("<HHI", 1, 0, 65535) + opts)
            + block(6, struct.pack("<IIIII", 0, 0xFFFFFFFF, 0xFFFFFFFF, len(frame), len(frame)) + frame))
    path = tmp_path / "huge.pcapng"
    path.write_bytes(data)
    frame_ = FlowStreamer(path).to_frame()
    assert len(frame_) == 1


def test_corrupt_pcap_record_headers_are_reported(tmp_path) -> None:
    data = bytearray((GOLDEN / "tcp_timeout.pcap").read_bytes())
    rng = np.random.default_rng(5)
    stopped = 0
    for trial in range(100):
        b = bytearray(data)
        pos = int(rng.integers(24, len(b) - 4))
        b[pos:pos + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        path = tmp_path / f"r{trial}.pcap"
        path.write_bytes(bytes(b))
        streamer = FlowStreamer(path)
        frame = streamer.to_frame()
        assert int((frame["Total Fwd Packet"] + frame["Total Bwd packets"]).sum()) == streamer.stats.packets
        if streamer.source.stats.truncated:
            stopped += 1
            assert f"r{trial}.pcap: packet " in streamer.source.stats.stop_reason
    assert stopped > 0
