"""Capture: packet sources and the CICFlowMeter-exact flow meter.

Packets → flows in the canonical schema, with the semantics of the meter that
produced the improved CICIDS-2017 release (profile ``cicids2017``, the
default) or with its quirks fixed (profile ``corrected``).

One path for every source: a source yields frame batches (``PcapFileSource``,
``LiveSource``, ``flowsentinel.simulate.TrafficSimulator``), ``decode_frames`` parses them and
``FlowMeter`` turns packets into flow records; ``FlowStreamer`` ties them.

>>> from flowsentinel.capture import FlowStreamer, LiveSource, meter_pcap, write_flow_csv
>>> flows = meter_pcap("capture.pcap")                   # doctest: +SKIP
>>> write_flow_csv(flows, "capture_flows.csv")           # doctest: +SKIP
>>> for chunk in FlowStreamer(LiveSource("eth0", bpf_filter="tcp or udp")):  # doctest: +SKIP
...     handle(chunk)
"""

from flowsentinel.capture.live import LiveCaptureError, LiveSource
from flowsentinel.capture.meter import FlowChunk, FlowMeter, MeterStats
from flowsentinel.capture.packets import (
    LINKTYPES,
    PacketBatch,
    RawFrames,
    decode_frames,
)
from flowsentinel.capture.pcapfile import PcapFileSource, PcapFormatError, write_pcap
from flowsentinel.capture.profiles import PROFILES, SemanticsProfile, get_profile
from flowsentinel.capture.streamer import (
    FlowStreamer,
    flows_to_frame,
    meter_pcap,
    write_flow_csv,
)

__all__ = [
    "LINKTYPES",
    "PROFILES",
    "FlowChunk",
    "FlowMeter",
    "FlowStreamer",
    "LiveCaptureError",
    "LiveSource",
    "MeterStats",
    "PacketBatch",
    "PcapFileSource",
    "PcapFormatError",
    "RawFrames",
    "SemanticsProfile",
    "TrafficSimulator",
    "decode_frames",
    "flows_to_frame",
    "get_profile",
    "meter_pcap",
    "write_flow_csv",
    "write_pcap",
]


def __getattr__(name: str):
    # The simulator lives in flowsentinel.simulate, which imports this package;
    # resolving it lazily keeps the import graph one-way.
    if name == "TrafficSimulator":
        from flowsentinel.simulate import TrafficSimulator

        return TrafficSimulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
