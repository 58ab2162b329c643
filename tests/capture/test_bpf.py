"""BPF expressions filter capture files like they filter interfaces."""

from __future__ import annotations

import pytest

from flowsentinel.capture import FlowStreamer, PcapFileSource
from flowsentinel.capture.bpf import BpfFilter
from flowsentinel.simulate import TrafficSimulator


@pytest.fixture(scope="module")
def pcap(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpf") / "sim.pcap"
    TrafficSimulator(duration_s=10, attacks=["portscan", "ftp-patator"], seed=6).write_pcap(path)
    return path


def test_filter_keeps_only_matching_frames(pcap) -> None:
    everything = FlowStreamer(pcap).to_frame()
    source = BpfFilter(PcapFileSource(pcap), "udp port 53")
    dns = FlowStreamer(source).to_frame()
    assert len(dns) > 0 and set(dns["Protocol"]) == {17} and set(dns["Dst Port"]) == {53}
    assert len(dns) == ((everything["Protocol"] == 17) & (everything["Dst Port"] == 53)).sum()
    assert source.matched > 0 and source.dropped > 0
    ftp = FlowStreamer(BpfFilter(PcapFileSource(pcap), "tcp port 21")).to_frame()
    assert set(ftp["Dst Port"]) == {21}


def test_bad_expression_is_quoted(pcap) -> None:
    with pytest.raises(ValueError, match="tcp prot 80"):
        BpfFilter(PcapFileSource(pcap), "tcp prot 80")
