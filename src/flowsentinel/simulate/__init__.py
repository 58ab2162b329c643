"""Simulate: seeded, labelled packet-level traffic for demos, tests and training.

Benign behaviours (:mod:`~flowsentinel.simulate.benign`: web browsing over
HTTP/HTTPS, DNS, SSH sessions, bulk transfers, idle keep-alives) and one
module per attack family of CICIDS-2017 (port scan, DoS, DDoS, brute force,
web attacks, botnet, infiltration, Heartbleed) write Ethernet frames through
:mod:`~flowsentinel.simulate.wire`.  :class:`TrafficSimulator` mixes them into
one capture, which is written as a pcap or fed straight into the flow meter,
so labelled flows come out of the same code as live traffic.

Nothing is sent on any network: addresses are private or documentation
ranges, written only into files and memory.

>>> from flowsentinel.simulate import TrafficSimulator, simulate_flows
>>> sim = TrafficSimulator(duration_s=60, seed=7)
>>> sim.write_pcap("sim.pcap")                 # doctest: +SKIP
>>> flows = simulate_flows(sim)                # doctest: +SKIP  (features + "Label")
"""

from flowsentinel.simulate.simulator import (
    ALIASES,
    ATTACKS,
    DEFAULT_START_US,
    TrafficSimulator,
    parse_attacks,
    simulate_flows,
)

__all__ = ["ALIASES", "ATTACKS", "DEFAULT_START_US", "TrafficSimulator", "parse_attacks", "simulate_flows"]
