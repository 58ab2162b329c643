"""Offline throughput floor: a pcap file is metered at >= 100 000 packets/s on one core.

The rate is measured on the process's CPU time (one core; other load on the
machine does not count against it) and logged; the floor asserted is lower
(50 000 packets/s) so a slow CI machine does not fail the build, while a real
regression (a slow per-packet path) still does.
"""

from __future__ import annotations

import logging
import time

from flowsentinel.capture import FlowStreamer, write_pcap

from .synth import synthetic_frames

log = logging.getLogger(__name__)


def test_offline_packets_per_second(tmp_path) -> None:
    frames = synthetic_frames(60_000, seed=11)
    path = tmp_path / "tp.pcap"
    write_pcap(path, frames)
    FlowStreamer(path).to_frame()  # warm up imports and caches
    best = 0.0
    for _ in range(2):
        start = time.process_time()
        s = FlowStreamer(path)
        n_flows = sum(len(c) for c in s)
        rate = s.stats.packets / (time.process_time() - start)
        best = max(best, rate)
    log.info("offline metering: %.0f packets/s (%d flows)", best, n_flows)
    assert best >= 50_000, f"{best:.0f} packets/s"
