"""DDoS from many sources: an HTTP flood from a botnet of LOIC-like clients plus a spoofed SYN flood.

Each flooding host opens connection after connection with a minimal GET;
spoofed SYNs are answered with SYN-ACKs that the server retransmits, since
the forged sources never complete the handshake.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    ACK,
    MS,
    OLD_LINUX_SERVER,
    SYN,
    WINDOWS,
    Capture,
    Network,
    S,
    Stack,
    Tcp,
    lognormal_int,
)

__all__ = ["LABEL", "ddos"]

LABEL = "DDoS"
_FLOODER = Stack("loic", 128, 8192, 256, 8, 0, 1460)


def ddos(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """~100 sources, 60 % of their connections HTTP GETs and 40 % spoofed SYNs, until ``t1``."""
    sources = [f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(rng.randint(60, 150))]
    rtt = {s: lognormal_int(rng, 60 * MS, 0.6, 5 * MS, 400 * MS) for s in sources}
    t = t0
    while t < t1:
        t += int(rng.expovariate(1 / (8 * MS)))
        src = rng.choice(sources)
        if rng.random() < 0.6:
            stack = _FLOODER if rng.random() < 0.7 else WINDOWS
            conn = Tcp(cap, rng, t, src, net.web, 80, LABEL, stack, OLD_LINUX_SERVER, rtt[src], server_far=False).open()
            conn.send(True, rng.choice((16, 18, 20, 77)))  # "GET / HTTP/1.0\r\n\r\n" and the like
            if rng.random() < 0.5:
                conn.wait(lognormal_int(rng, 2 * MS, 1.0, 200, 1 * S))
                conn.send(False, rng.choice((11_595, 11_595, 482)), rate_bps=100e6)
                conn.reset(by_client=True)
            else:
                conn.wait(lognormal_int(rng, 500 * MS, 1.0, 10 * MS, 10 * S)).reset(by_client=True)
        else:
            spoofed = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            sp = rng.randint(1024, 65535)
            cap.label(6, spoofed, sp, net.web, 80, LABEL)
            cap.tcp(t, spoofed, sp, net.web, 80, SYN, 0, rng.choice((512, 1024, 8192)), 0, rng.randint(40, 250))
            rt = t + 40
            for backoff in range(rng.randint(1, 5)):  # the server retransmits its SYN-ACK
                cap.tcp(rt, net.web, 80, spoofed, sp, SYN | ACK, 0, OLD_LINUX_SERVER.syn_win, 20, 64)
                rt += (1 << backoff) * S
