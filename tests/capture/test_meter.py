"""Meter behaviour beyond single rules: batching, memory bounds, flushing, outputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.capture import (
    FlowMeter,
    FlowStreamer,
    PcapFileSource,
    PcapFormatError,
    decode_frames,
    flows_to_frame,
    get_profile,
    meter_pcap,
    write_flow_csv,
    write_pcap,
)

from .conftest import GOLDEN
from .synth import closing_connections, synthetic_frames


@pytest.fixture(scope="module")
def synth_pcap(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "synth.pcap"
    frames = synthetic_frames(20_000, seed=1)
    # stretch time so that flow timeouts and active/idle gaps happen
    write_pcap(path, [(ts + i * 20_000, f) for i, (ts, f) in enumerate(frames)])
    return path


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["Timestamp", "Flow ID", "Src Port"]).reset_index(drop=True)


@pytest.mark.parametrize("batch_size", [1, 61, 997])
def test_flows_do_not_depend_on_batching(synth_pcap, batch_size: int) -> None:
    """Early writing (timeouts passed) + tombstones give the release's flows for any batching,
    in the same order (flows are written in the order they ended)."""
    whole = meter_pcap(synth_pcap, batch_size=1_000_000)
    if batch_size == 1:  # one packet per batch is slow; check a prefix of the capture
        frames = next(iter(PcapFileSource(synth_pcap, batch_size=800)))
        meter = FlowMeter()
        chunks = []
        for i in range(len(frames)):
            sub = type(frames)(frames.data, frames.offsets[i:i + 1], frames.caplens[i:i + 1],
                               frames.ts_us[i:i + 1], frames.linktypes[i:i + 1], frames.numbers[i:i + 1])
            chunks.append(meter.update(decode_frames(sub)))
        chunks.append(meter.flush())
        one = flows_to_frame(chunks)
        meter = FlowMeter()
        ref = flows_to_frame([meter.update(decode_frames(frames)), meter.flush()])
        pd.testing.assert_frame_equal(one, ref)
        return
    pieces = meter_pcap(synth_pcap, batch_size=batch_size)
    pd.testing.assert_frame_equal(pieces, whole)
    assert whole["Total TCP Flow Time"].max() > 0


def test_written_flows_leave_the_packet_pool(synth_pcap) -> None:
    """Emitting often (live capture) gives the same flows, and the pool holds mostly open flows."""
    meter = FlowMeter(emit_interval_s=0.0)
    chunks, pooled = [], []
    for frames in PcapFileSource(synth_pcap, batch_size=500):
        chunks.append(meter.update(decode_frames(frames)))
        assert meter._dead * 2 <= meter._pooled
        pooled.append(meter._pooled)
    chunks.append(meter.flush())
    assert max(pooled) < 20_000 / 2  # flows time out, their packets go
    pd.testing.assert_frame_equal(flows_to_frame([c for c in chunks if len(c)]), meter_pcap(synth_pcap))


def test_every_packet_lands_in_one_flow_and_timeouts_cut(synth_pcap) -> None:
    streamer = FlowStreamer(synth_pcap)
    frame = streamer.to_frame()
    assert int((frame["Total Fwd Packet"] + frame["Total Bwd packets"]).sum()) == streamer.stats.packets == 20_000
    assert (frame["Flow Duration"] <= 120_000_000).all()
    tcp = frame[frame["Protocol"] == 6]
    assert (tcp["Total TCP Flow Time"] >= tcp["Flow Duration"]).all()
    assert (frame["Idle Min"][frame["Idle Max"] > 0] > 5_000_000).all()


def test_max_flows_evicts_and_counts(synth_pcap) -> None:
    bounded = FlowStreamer(synth_pcap, max_flows=50)
    frame = bounded.to_frame()
    assert bounded.stats.evicted > 0
    assert bounded.meter.open_flows == 0  # flushed
    assert int((frame["Total Fwd Packet"] + frame["Total Bwd packets"]).sum()) == 20_000


def test_tombstones_are_bounded_and_counted(synth_pcap) -> None:
    s = FlowStreamer(synth_pcap, max_tombstones=10, batch_size=500)
    s.to_frame()
    assert s.stats.tombstones_dropped > 0


def test_flush_writes_open_flows() -> None:
    meter = FlowMeter()
    frames = next(iter(PcapFileSource(GOLDEN / "tcp_handshake.pcap")))
    assert len(meter.update(decode_frames(frames))) == 0  # still open: no timeout passed
    assert meter.open_flows == 1
    assert len(meter.flush()) == 1 and meter.open_flows == 0


def test_expire_uses_the_given_clock() -> None:
    meter = FlowMeter()
    frames = next(iter(PcapFileSource(GOLDEN / "tcp_handshake.pcap")))
    meter.update(decode_frames(frames))
    t0 = int(frames.ts_us[0])
    assert len(meter.expire(t0 + 120_000_000)) == 0  # not *more* than the timeout yet
    assert len(meter.expire(t0 + 120_000_001)) == 1


def test_disordered_packets_are_counted(tmp_path, caplog) -> None:
    frames = synthetic_frames(50, seed=3)
    frames[10], frames[20] = frames[20], frames[10]
    path = tmp_path / "dis.pcap"
    write_pcap(path, frames)
    s = FlowStreamer(path)
    s.to_frame()
    assert s.stats.disordered >= 1
    assert "older than a packet before them" in caplog.text


def test_bad_inputs_say_what_was_expected(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pcap"):
        FlowStreamer(tmp_path / "nope.pcap")
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"hello, this is not a capture file at all")
    with pytest.raises(PcapFormatError, match="junk.pcap: not a pcap or pcapng file"):
        FlowStreamer(junk)
    odd = tmp_path / "odd.pcap"
    write_pcap(odd, [(0, b"\0" * 20)], linktype=147)
    with pytest.raises(PcapFormatError, match="link type 147 is not supported"):
        FlowStreamer(odd)
    with pytest.raises(ValueError, match="unknown semantics profile 'cicids2018'"):
        get_profile("cicids2018")
    with pytest.raises(ValueError, match="max_flows"):
        FlowMeter(max_flows=0)


def test_frame_and_records_agree() -> None:
    s = FlowStreamer(GOLDEN / "tcp_timeout.pcap")
    chunks = list(s)
    frame = flows_to_frame(chunks)
    records = [r for c in chunks for r in c.records()]
    again = flows_to_frame(records)
    assert list(frame.columns) == [*schema.IDENTIFIERS, *schema.FEATURES]
    pd.testing.assert_frame_equal(_sorted(frame), _sorted(again), check_dtype=False)


def test_csv_round_trip_through_the_team_loader(tmp_path) -> None:
    from flowsentinel.data.loader import load_flows

    frame = pd.concat([meter_pcap(GOLDEN / f"{n}.pcap") for n in ("tcp_timeout", "edge_values", "icmp")],
                      ignore_index=True)
    path = write_flow_csv(frame, tmp_path / "flows.csv")
    text = path.read_text()
    assert text.splitlines()[0].startswith("id,Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,")
    assert "Infinity" in text and "NaN" in text
    loaded = load_flows(path, require_labels=False, progress=False).frame
    assert len(loaded) == len(frame)
    for c in schema.FEATURES:
        a = loaded[c].to_numpy(float)
        b = frame[c].to_numpy(float)
        assert np.array_equal(a, b, equal_nan=True), c
    labelled = write_flow_csv(frame, tmp_path / "lab.csv", labels=["BENIGN"] * len(frame))
    assert load_flows(labelled, progress=False).frame["Label"].eq("BENIGN").all()


def test_profiles_name_every_quirk() -> None:
    release, fixed = get_profile(), get_profile("corrected")
    quirks = [f for f in vars(release) if f.startswith("quirk_")]
    assert len(quirks) >= 8
    assert all(getattr(release, q) for q in quirks) and not any(getattr(fixed, q) for q in quirks)
    assert release.flow_timeout_us == 120_000_000 and release.activity_timeout_us == 5_000_000
    assert math.isclose(release.bulk_gap_us, 1e6) and release.bulk_min_packets == 4


def test_pcapng_simple_and_obsolete_packet_blocks(tmp_path) -> None:
    import struct

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    frames = []
    for frames_ in PcapFileSource(GOLDEN / "udp_active_idle.pcap"):
        frames += [frames_.data[o:o + c].tobytes() for o, c in zip(frames_.offsets, frames_.caplens)]
    us = 1_499_349_546_000_000
    data = (block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
            + block(1, struct.pack("<HHI", 1, 0, 65535))  # default resolution: microseconds
            + block(3, struct.pack("<I", len(frames[0])) + frames[0])
            + block(2, struct.pack("<HHIIII", 0, 0, us >> 32, us & 0xFFFFFFFF, len(frames[1]), len(frames[1]))
                    + frames[1])
            + block(6, struct.pack("<IIIII", 0, us >> 32, (us + 5) & 0xFFFFFFFF, len(frames[2]), len(frames[2]))
                    + frames[2]))
    path = tmp_path / "blocks.pcapng"
    path.write_bytes(data)
    s = FlowStreamer(path)
    frame = s.to_frame()
    assert s.stats.packets == 3
    assert int((frame["Total Fwd Packet"] + frame["Total Bwd packets"]).sum()) == 3


def test_closed_connection_is_written_once_quiet() -> None:
    """With closed_wait_us, a connection ready to close is written by the timer once it has been
    quiet for longer than that, with the release's features; without it, it waits (timeout/SYN)."""
    frames = next(iter(PcapFileSource(GOLDEN / "tcp_handshake.pcap")))
    last = int(frames.ts_us[-1])
    release = meter_pcap(GOLDEN / "tcp_handshake.pcap")
    meter = FlowMeter(closed_wait_us=2_000_000, emit_interval_s=0.0)
    assert len(meter.update(decode_frames(frames))) == 0
    assert len(meter.expire(last + 2_000_000)) == 0  # not *more* than the wait yet
    chunk = meter.expire(last + 2_000_001)
    assert len(chunk) == 1 and meter.open_flows == 0
    pd.testing.assert_frame_equal(flows_to_frame(chunk), release)
    plain = FlowMeter(emit_interval_s=0.0)
    plain.update(decode_frames(frames))
    assert len(plain.expire(last + 2_000_001)) == 0 and plain.open_flows == 1
    with pytest.raises(ValueError, match="closed_wait_us"):
        FlowMeter(closed_wait_us=-1)


def test_quiet_rule_does_not_depend_on_batching_or_the_timer(tmp_path) -> None:
    path = tmp_path / "closing.pcap"
    n = 60
    write_pcap(path, closing_connections(n, seed=4))
    whole = FlowStreamer(path, closed_wait_s=2.0, batch_size=1_000_000).to_frame()
    # a straggler 3 s after closing starts a flow of its own; one 0.5 s after stays in it
    assert len(whole) == n + n // 3
    assert len(meter_pcap(path)) == n
    # live-like: small batches, the timer firing between them (never past the next packet)
    frames = next(iter(PcapFileSource(path, batch_size=1_000_000)))
    meter = FlowMeter(closed_wait_us=2_000_000, emit_interval_s=0.0)
    rng = np.random.default_rng(1)
    chunks, i = [], 0
    while i < len(frames):
        j = min(i + int(rng.integers(1, 40)), len(frames))
        sub = type(frames)(frames.data, frames.offsets[i:j], frames.caplens[i:j], frames.ts_us[i:j],
                           frames.linktypes[i:j], frames.numbers[i:j])
        chunks.append(meter.update(decode_frames(sub)))
        if j < len(frames):
            chunks.append(meter.expire(int(rng.integers(frames.ts_us[j - 1], frames.ts_us[j] + 1))))
        i = j
    chunks.append(meter.flush())
    pd.testing.assert_frame_equal(flows_to_frame([c for c in chunks if len(c)]), whole)
