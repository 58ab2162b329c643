"""Web attacks on the intranet web application: log-in brute force, XSS and SQL injection.

The attacker's scripts (a browser driven by Selenium, or a Python client)
send requests whose size follows the payload — a form POST, a script in the
query string, an injected SQL fragment — and get the application's page back.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    LINUX_2017,
    MS,
    OLD_LINUX_SERVER,
    Capture,
    Network,
    S,
    Tcp,
    lognormal_int,
)

__all__ = ["brute_force", "sql_injection", "xss"]


def _session(cap, rng, net, t, label, requests, req, resp, gap) -> int:
    conn = Tcp(cap, rng, t, net.attacker, net.web, 80, label, LINUX_2017, OLD_LINUX_SERVER, rng.randint(150, 900),
               server_far=False).open()
    for i in range(requests()):
        if i:
            conn.wait(gap())
        conn.exchange(req(), resp(), think_us=lognormal_int(rng, 8 * MS, 0.6, 1 * MS, 300 * MS), rate_bps=150e6)
    conn.wait(5 * S + rng.randint(0, 30 * MS)).close(by_client=False)
    return conn.t


def _episode(cap, rng, net, t0, t1, per_s, **kw) -> None:
    t = t0
    while t < t1:
        t += int(rng.expovariate(per_s / S))
        _session(cap, rng, net, t, **kw)


def brute_force(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """Log-in form POSTs with a new password each, a few per connection."""
    _episode(cap, rng, net, t0, t1, 3.0, label="Web Attack - Brute Force",
             requests=lambda: rng.randint(1, 4),
             req=lambda: rng.randint(640, 720), resp=lambda: rng.randint(1700, 1800),
             gap=lambda: rng.randint(200 * MS, 900 * MS))


def xss(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """GETs with a script in a query parameter; the page reflects it."""
    _episode(cap, rng, net, t0, t1, 2.0, label="Web Attack - XSS", requests=lambda: rng.randint(1, 3),
             req=lambda: rng.randint(700, 1600), resp=lambda: rng.randint(5200, 6900),
             gap=lambda: rng.randint(1 * S, 4 * S))


def sql_injection(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """GETs with an injected SQL fragment; error or data pages come back."""
    _episode(cap, rng, net, t0, t1, 2.0, label="Web Attack - SQL Injection", requests=lambda: rng.randint(1, 2),
             req=lambda: rng.randint(480, 900), resp=lambda: rng.randint(4300, 4900),
             gap=lambda: rng.randint(500 * MS, 3 * S))
