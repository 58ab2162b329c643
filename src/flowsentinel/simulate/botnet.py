"""Botnet beaconing (Ares-like): infected hosts poll their C&C server over HTTP every few seconds.

Each poll is a new connection: a small GET, an answer that is nearly always
"no command" and now and then a command whose output is POSTed back, after
which the server (an HTTP/1.0 server) closes the connection.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    MS,
    OLD_LINUX_SERVER,
    WINDOWS_7,
    Capture,
    Network,
    S,
    Tcp,
    lognormal_int,
)

__all__ = ["LABEL", "botnet"]

LABEL = "Botnet"


def botnet(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """5–10 bots, each beaconing every ``period`` ±20 % until ``t1``."""
    rtt = lognormal_int(rng, 80 * MS, 0.3, 20 * MS, 300 * MS)
    for bot in rng.sample(net.clients, rng.randint(5, 10)):
        period = rng.uniform(3, 8) * S
        t = t0 + rng.randint(0, int(period))
        while t < t1:
            conn = Tcp(cap, rng, t, bot, net.c2, 8080, LABEL, WINDOWS_7, OLD_LINUX_SERVER, rtt).open()
            conn.exchange(rng.randint(205, 215), rng.randint(150, 160), think_us=rng.randint(1 * MS, 4 * MS))
            if rng.random() < 0.1:  # a command: run it, POST the output
                conn.wait(rng.randint(50 * MS, 2 * S))
                conn.exchange(rng.randint(300, 4000), rng.randint(150, 160), think_us=rng.randint(1 * MS, 4 * MS))
            conn.close(by_client=False)
            t += int(period * rng.uniform(0.8, 1.2))
