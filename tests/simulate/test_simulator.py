"""The traffic simulator: seeded, labelled, every family present, metered like a file."""

from __future__ import annotations

import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.capture import FlowStreamer, meter_pcap
from flowsentinel.simulate import (
    ATTACKS,
    TrafficSimulator,
    parse_attacks,
    simulate_flows,
)

ATTACK_FAMILIES = set(schema.FAMILIES[1:])


@pytest.fixture(scope="module")
def sim() -> TrafficSimulator:
    return TrafficSimulator(duration_s=60, seed=4)


@pytest.fixture(scope="module")
def flows(sim) -> pd.DataFrame:
    return simulate_flows(sim)


def test_every_label_and_family_comes_out_of_the_meter(flows) -> None:
    assert list(flows.columns) == [*schema.IDENTIFIERS, *schema.FEATURES, "Label"]
    counts = flows["Label"].value_counts()
    assert set(counts.index) == {"BENIGN", *ATTACKS.values()}, counts
    infos = [schema.classify_label(lab) for lab in counts.index]
    assert {i.family for i in infos} == {schema.NORMAL, *ATTACK_FAMILIES}
    assert counts["BENIGN"] >= 300  # enough benign flows to measure a false-positive rate
    assert (flows["Total Fwd Packet"] + flows["Total Bwd packets"] >= 1).all()


def test_same_seed_same_packets_and_flows(sim, flows) -> None:
    again = TrafficSimulator(duration_s=60, seed=4)
    assert len(again) == len(sim) and again._packets == sim._packets
    pd.testing.assert_frame_equal(simulate_flows(again), flows)
    other = TrafficSimulator(duration_s=60, seed=5)
    assert other._packets != sim._packets


def test_adding_an_attack_leaves_benign_traffic_alone() -> None:
    quiet = simulate_flows(TrafficSimulator(duration_s=20, attacks="none", seed=3))
    noisy = simulate_flows(TrafficSimulator(duration_s=20, attacks=["portscan"], seed=3))
    assert set(quiet["Label"]) == {"BENIGN"}
    benign = noisy[noisy["Label"] == "BENIGN"].reset_index(drop=True)
    pd.testing.assert_frame_equal(benign.drop(columns="Label"), quiet.drop(columns="Label"))
    assert (noisy["Label"] == "Portscan").sum() >= 1000


def test_pcap_and_direct_metering_agree(tmp_path) -> None:
    sim = TrafficSimulator(duration_s=15, attacks=["ddos", "heartbleed", "dos-slowloris"], seed=9)
    path = tmp_path / "sim.pcap"
    assert sim.write_pcap(path) == len(sim)
    from_file = meter_pcap(path)
    direct = FlowStreamer(sim).to_frame()
    pd.testing.assert_frame_equal(from_file, direct)
    assert set(sim.labels_for(from_file)) == {"BENIGN", "DDoS", "Heartbleed", "DoS Slowloris"}


def test_addresses_are_private_or_documentation_ranges(flows) -> None:
    import ipaddress

    allowed = [ipaddress.ip_network(n) for n in
               ("10.0.0.0/8", "192.168.0.0/16", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for ip in set(flows["Src IP"]) | set(flows["Dst IP"]):
        assert any(ipaddress.ip_address(ip) in net for net in allowed), ip


def test_attack_names_are_checked_and_old_names_still_work() -> None:
    assert parse_attacks("all") == tuple(ATTACKS)
    assert parse_attacks("none") == ()
    assert parse_attacks("synflood,slowloris,ssh-bruteforce") == ("ddos", "dos-slowloris", "ssh-patator")
    with pytest.raises(ValueError, match="teardrop"):
        TrafficSimulator(attacks=["teardrop"])
    with pytest.raises(ValueError, match="duration_s"):
        TrafficSimulator(duration_s=0)


def test_realtime_simulation_is_paced_and_flushed() -> None:
    sim = TrafficSimulator(duration_s=1.0, attacks=(), benign_sessions_per_s=20, seed=2, realtime=True)
    streamer = FlowStreamer(sim)
    frame = streamer.to_frame()
    assert streamer.stats.packets == len(sim)
    assert len(frame) > 5
