"""Heartbleed: TLS heartbeat requests that claim 64 kB of payload, answered with 64 kB of server memory.

The attacker's script finishes a TLS handshake with the vulnerable server,
then sends tiny heartbeat records over and over; each is answered by a
~65 kB record, so the flows are tiny one way and huge the other.  As in the
dataset's capture of this attack, the server's segmentation offload shows up
as super-segments of 9–12 MSS.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    LINUX_2017,
    MS,
    OLD_LINUX_SERVER,
    Capture,
    Network,
    Stack,
    Tcp,
)

__all__ = ["LABEL", "heartbleed"]

LABEL = "Heartbleed"


def heartbleed(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """Connections of one to six heartbeat leaks each, one after another, until ``t1``."""
    rtt = rng.randint(150, 900)
    t = t0
    while t < t1:
        server = Stack("openssl-1.0.1-tso", 64, OLD_LINUX_SERVER.syn_win, OLD_LINUX_SERVER.win, 20, 12,
                       1448 * rng.randint(9, 12))
        conn = Tcp(cap, rng, t, net.attacker, net.web, 443, LABEL, LINUX_2017, server, rtt, server_far=False).open()
        conn.exchange(rng.randint(220, 320), rng.randint(2200, 4200))  # hello, certificate, done
        for _ in range(rng.randint(1, 6)):  # a few leaks per connection, then a fresh one
            conn.exchange(8, 65_540, think_us=rng.randint(100, 2 * MS), rate_bps=400e6)
            conn.wait(rng.randint(50 * MS, 600 * MS))
        conn.reset(by_client=True)
        t = conn.t + rng.randint(100 * MS, 1500 * MS)
