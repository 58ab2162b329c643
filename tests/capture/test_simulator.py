"""The traffic simulator is a packet source like a file: same meter, labelled flows."""

from __future__ import annotations

import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.capture import FlowStreamer
from flowsentinel.capture.simulator import ATTACKS, TrafficSimulator

T0 = 1_500_000_000_000_000


def test_simulated_flows_are_labelled_and_reproducible() -> None:
    sim = TrafficSimulator(duration_s=60, seed=4, start_us=T0)
    frame = FlowStreamer(sim).to_frame()
    labels = sim.labels_for(frame)
    fams = {schema.classify_label(lab).family for lab in labels}
    assert {"Normal", "PortScan", "Brute Force", "DoS", "DDoS"} <= fams
    assert list(frame.columns) == [*schema.IDENTIFIERS, *schema.FEATURES]
    again = FlowStreamer(TrafficSimulator(duration_s=60, seed=4, start_us=T0)).to_frame()
    pd.testing.assert_frame_equal(frame, again)
    scan = frame[[lab == ATTACKS["portscan"] for lab in labels]]
    assert len(scan) == 300 and (scan["Total Fwd Packet"] + scan["Total Bwd packets"]).isin([2, 3]).all()


def test_unknown_attack_is_named() -> None:
    with pytest.raises(ValueError, match="teardrop"):
        TrafficSimulator(attacks=["teardrop"])


def test_realtime_simulation_is_paced_and_flushed() -> None:
    sim = TrafficSimulator(duration_s=1.0, attacks=(), benign_sessions_per_s=20, seed=2, realtime=True)
    streamer = FlowStreamer(sim)
    frame = streamer.to_frame()
    assert streamer.stats.packets == len(sim)
    assert len(frame) > 5
