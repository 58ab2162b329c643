"""Infiltration: an inside host runs a dropper that calls back to the attacker (Meterpreter-like).

The dropper arrives out of band (a USB stick or a file-sharing download, as
in CICIDS-2017), so the first packets to the attacker are the implant's: it
fetches the second stage (~180 kB) over a reverse TCP connection on which the
handler speaks first (a 4-byte length, then the stage), then switches its
transport to reverse HTTPS: it polls the attacker's handler every second or so on keep-alive
connections that it replaces every 4–15 s; the operator's
commands come back in the poll answers and their output is POSTed.
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

__all__ = ["LABEL", "infiltration"]

LABEL = "Infiltration"


def _tls(conn: Tcp) -> None:
    rng = conn.rng
    conn.exchange(rng.randint(180, 220), rng.randint(1100, 1300))  # the implant's ClientHello; a self-signed cert
    conn.exchange(rng.randint(120, 140), rng.randint(50, 60))


def infiltration(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """4–8 victims: the second stage and a polling reverse session each, until ``t1``."""
    rtt = lognormal_int(rng, 50 * MS, 0.3, 10 * MS, 200 * MS)
    t = t0
    for victim in rng.sample(net.clients, rng.randint(4, 8)):
        t += rng.randint(1 * S, 5 * S)
        stage = Tcp(cap, rng, t, victim, net.attacker, 4444, LABEL, WINDOWS_7, OLD_LINUX_SERVER, rtt).open()
        stage.wait(rng.randint(1 * MS, 20 * MS)).send(False, 4).send(False, rng.randint(179_000, 181_000),
                                                                    rate_bps=20e6)
        stage.wait(rng.randint(50 * MS, 500 * MS)).close(by_client=True)
        conn = Tcp(cap, rng, stage.t + rng.randint(100 * MS, 1 * S), victim, net.attacker, 443, LABEL, WINDOWS_7,
                   OLD_LINUX_SERVER, rtt).open()
        _tls(conn)
        while conn.t < t1 and conn.t < cap.end_us:
            stop = conn.t + rng.randint(4 * S, 15 * S)
            while conn.t < stop:
                conn.wait(rng.randint(800 * MS, 1500 * MS))
                if rng.random() < 0.1:  # a command arrives; its output goes back at the next poll
                    conn.exchange(rng.randint(330, 380), rng.randint(300, 800))
                    conn.wait(rng.randint(5 * MS, 300 * MS))
                    conn.exchange(lognormal_int(rng, 2000, 1.5, 400, 300_000), rng.randint(330, 360),
                                  rate_bps=10e6)
                else:
                    conn.exchange(rng.randint(330, 380), rng.randint(330, 360))
            conn.close(by_client=True)
            conn = Tcp(cap, rng, conn.t + rng.randint(100 * MS, 1 * S), victim, net.attacker, 443, LABEL,
                       WINDOWS_7, OLD_LINUX_SERVER, rtt).open()
            _tls(conn)
        conn.reset(by_client=True)
