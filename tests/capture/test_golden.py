"""Golden captures: every meter rule against hand-computed flows.

The captures and expectations are written by ``scripts/make_golden_pcaps.py``;
each scenario's ``about`` text (in its JSON) says which rules it covers.
"""

from __future__ import annotations

import pytest

from flowsentinel import schema
from flowsentinel.capture import FlowStreamer

from .conftest import GOLDEN, SCENARIOS, load_scenario, same

KEY = ("Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp")


def _check(frame, expected: list[dict], where: str) -> None:
    assert list(frame.columns) == [*schema.IDENTIFIERS, *schema.FEATURES]
    assert len(frame) == len(expected), f"{where}: {len(frame)} flows, expected {len(expected)}"
    rows = {tuple(r[k] for k in KEY): r for r in frame.to_dict("records")}
    assert len(rows) == len(frame), f"{where}: two flows share identifiers"
    for exp in expected:
        key = tuple(exp[k] for k in KEY)
        assert key in rows, f"{where}: no flow {key}; flows: {sorted(rows)}"
        row = rows[key]
        bad = {c: (row[c], v) for c, v in exp.items() if not same(row[c], v)}
        assert not bad, f"{where}: flow {key}: (got, expected) {bad}"


@pytest.mark.parametrize("profile", ["cicids2017", "corrected"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_scenario(name: str, profile: str) -> None:
    sc = load_scenario(name)
    for fname in sc["files"]:
        streamer = FlowStreamer(GOLDEN / fname, profile=profile)
        frame = streamer.to_frame()
        _check(frame, sc["flows"][profile], f"{fname} [{profile}]")
        for counter, value in sc["stats"].items():
            assert getattr(streamer.stats, counter) == value, f"{fname}: stats.{counter}"


def test_every_rule_scenario_is_present() -> None:
    expected = {"tcp_handshake", "tcp_teardown_then_syn", "tcp_new_flow_direction", "tcp_timeout",
                "udp_active_idle", "udp_timeout_direction", "icmp", "bulk", "ipv6", "link_oddities",
                "edge_values", "first_packet_counters"}
    assert expected <= set(SCENARIOS)


def test_link_types_give_identical_flows() -> None:
    """Ethernet pcap, pcapng (ns), Linux cooked v1/v2 and raw IP: the same flows."""
    sc = load_scenario("udp_active_idle")
    frames = [FlowStreamer(GOLDEN / f).to_frame() for f in sc["files"]]
    assert len(sc["files"]) == 5
    for other in frames[1:]:
        assert frames[0].equals(other)
