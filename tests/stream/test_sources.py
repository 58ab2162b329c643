"""Source specs: what each builds, and errors that name the spec and the file."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.stream.sources import (
    InterfaceSource,
    PcapSource,
    ReplaySource,
    SimulateSource,
    SourceError,
    parse_source,
)


def test_specs_build_their_sources(replay_path, tmp_path):
    assert isinstance(parse_source(None), SimulateSource)
    assert parse_source("simulate:7").seed == 7
    r = parse_source(f"replay:{replay_path}@250")
    assert isinstance(r, ReplaySource) and r.rate == 250 and not r.loop and not r.live
    r = parse_source(f"replay:{replay_path}@1e3,loop")
    assert r.rate == 1000 and r.loop
    assert parse_source(f"replay:{replay_path}").rate is None
    pcap = tmp_path / "x.pcap"
    pcap.write_bytes(b"")
    assert isinstance(parse_source(f"pcap:{pcap}@2"), PcapSource)
    iface = parse_source("iface:eth0")
    assert isinstance(iface, InterfaceSource) and iface.live


@pytest.mark.parametrize("spec, words", [
    ("kafka:topic", ["unknown source", "kafka:topic"]),
    ("simulate:seven", ["seed", "simulate:seven"]),
    ("replay:/no/such/flows.csv", ["/no/such/flows.csv", "does not exist"]),
    ("replay:{csv}@fast", ["rate", "'fast'"]),
    ("replay:{csv}@-5", ["positive"]),
    ("pcap:/no/such.pcap", ["/no/such.pcap"]),
    ("iface:", ["interface"]),
])
def test_bad_specs_are_clear_errors(spec, words, replay_path):
    with pytest.raises(SourceError) as err:
        parse_source(spec.format(csv=replay_path))
    for w in words:
        assert w in str(err.value)


async def _collect(source, limit=10_000):
    frames, n = [], 0
    async for frame in source.frames():
        frames.append(frame)
        n += len(frame)
        if n >= limit:
            source.stop()
            break
    return frames


def test_replay_yields_canonical_labelled_frames(replay_path):
    frames = asyncio.run(_collect(ReplaySource(replay_path)))
    total = sum(map(len, frames))
    first = frames[0]
    assert total > 1000 and all(len(f) <= 4096 for f in frames)
    for col in (*schema.FEATURES, *schema.IDENTIFIERS, schema.LABEL, schema.FAMILY, "_ts"):
        assert col in first.columns
    assert first["_ts"].notna().all() and set(first[schema.FAMILY]) <= set(schema.FAMILIES)


def test_replay_loops_when_asked(replay_path):
    src = ReplaySource(replay_path, loop=True)
    n_file = len(src.load())
    frames = asyncio.run(_collect(src, limit=2 * n_file + 1))
    assert sum(map(len, frames)) > 2 * n_file


def test_simulate_source_is_labelled_and_paced():
    src = SimulateSource(seed=3, window_s=1.0, windows=1)
    frames = asyncio.run(_collect(src))
    assert sum(map(len, frames)) > 10
    assert all(schema.FAMILY in f.columns for f in frames)


def test_simulate_source_takes_attacks_in_turn_over_mostly_benign_traffic():
    from flowsentinel.simulate import ATTACKS
    from flowsentinel.simulate.simulator import PERSISTENT

    src = SimulateSource(seed=5)
    episodes = [a for a in ATTACKS if a not in PERSISTENT]
    turn = [src.window_attacks(k) for k in range(len(episodes))]
    assert all(set(PERSISTENT) <= set(w) and len(w) == len(PERSISTENT) + 1 for w in turn)
    assert sorted(w[-1] for w in turn) == sorted(episodes)  # each episode once per turn
    assert src.window_attacks(len(episodes)) == turn[0]
    assert [w[-1] for w in turn] != [w[-1] for w in (SimulateSource(seed=6).window_attacks(k)
                                                        for k in range(len(episodes)))]
    assert set(SimulateSource(attacks="all").window_attacks(0)) == set(ATTACKS)

    k = next(k for k, w in enumerate(turn) if w[-1] == "dos-hulk")
    frame = src._window(k, 1.5e9)
    labels = set(frame[schema.LABEL])
    allowed = {"BENIGN"} | {ATTACKS[a] for a in turn[k]}
    assert labels <= {schema.classify_label(x).label for x in allowed} and len(labels) >= 3
    assert (frame[schema.FAMILY] == schema.NORMAL).mean() > 0.6
    with pytest.raises(SourceError, match="rotate"):
        SimulateSource(attacks="some")


def test_pcap_source_meters_the_file_like_capture_does(tmp_path):
    from flowsentinel.capture import FlowStreamer, PcapFileSource
    from flowsentinel.simulate import TrafficSimulator

    pcap = tmp_path / "sim.pcap"
    TrafficSimulator(duration_s=4.0, seed=21, attacks="portscan,ssh-patator").write_pcap(pcap)
    # as fast as possible, and paced at 50x the file's own timing; with the dataset's rule and
    # with serve's live rule for closed connections (capture --closed-wait gives the same flows)
    for speed, wait in ((None, None), (50.0, None), (None, 0.5), (50.0, 0.5)):
        expected = FlowStreamer(PcapFileSource(pcap), closed_wait_s=wait).to_frame()
        assert len(expected) > 100
        src = PcapSource(pcap, speed=speed, closed_wait_s=wait)
        frames = asyncio.run(_collect(src, limit=10**9))
        got = [f for f in frames if len(f)]
        assert not src.labelled
        assert sum(map(len, got)) == len(expected)
        ids = sorted(i for f in got for i in f["Flow ID"])
        assert ids == sorted(expected["Flow ID"])
        assert all("_ts" in f.columns and f["_ts"].notna().all() for f in got)
        got_frame = pd.concat(got, ignore_index=True)
        for name in ("Flow Duration", "Total Fwd Packet", "Total Bwd packets", "Total TCP Flow Time"):
            assert sorted(got_frame[name]) == sorted(expected[name]), name
        cap = src.capture_stats()  # what the stats and /metrics show for a packet source
        packets = int((expected["Total Fwd Packet"] + expected["Total Bwd packets"]).sum())
        assert cap == {"packets": packets, "kernel_drops": 0, "malformed": 0, "non_ip": cap["non_ip"],
                       "flows": len(expected), "open_flows": 0, "evicted": 0}
    assert ReplaySource(pcap.with_suffix(".csv"), frame=expected).capture_stats() is None

    # serve --bpf: the same filter as capture --bpf, on files too
    udp = FlowStreamer(PcapFileSource(pcap)).to_frame().query("Protocol == 17")
    src = parse_source(f"pcap:{pcap}", bpf="udp")
    got = [f for f in asyncio.run(_collect(src, limit=10**9)) if len(f)]
    assert 0 < sum(map(len, got)) == len(udp) and all((f["Protocol"] == 17).all() for f in got)
    with pytest.raises(ValueError, match="not a filter"):
        parse_source(f"pcap:{pcap}", bpf="not a filter ((")
    with pytest.raises(SourceError, match="pcap: and iface:"):
        parse_source("simulate", bpf="udp")
