"""Port scans: nmap SYN (half-open) and connect scans of the site's servers.

A SYN probe to a closed port is answered by RST|ACK (the internal hosts
filter nothing), to an open port by SYN|ACK, which the scanner's kernel resets.
A connect scan completes the handshake on open ports and resets at once.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    ACK,
    LINUX_2017,
    MS,
    NMAP,
    OLD_LINUX_SERVER,
    RST,
    SYN,
    Capture,
    Network,
    S,
    Tcp,
)

__all__ = ["LABEL", "portscan"]

LABEL = "Portscan"
_OPEN = {21, 22, 80, 443, 445, 139, 3389}


def portscan(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """Scans of 1000 ports each, one after another, until ``t1``."""
    t = t0
    while t < t1:
        target = rng.choice((net.web, net.files, net.dns))
        ports = rng.sample(range(1, 10_000), 1000)
        connect = rng.random() < 0.4
        sport = rng.randrange(40_000, 65_000)  # nmap -sS keeps one source port
        rtt = rng.randint(200, 2 * MS)
        for port in ports:
            t += int(rng.expovariate(1 / 400)) + 20
            if connect:
                conn = Tcp(cap, rng, t, net.attacker, target, port, LABEL, LINUX_2017, OLD_LINUX_SERVER, rtt,
                           server_far=False)
                if port in _OPEN:
                    conn.open().reset(by_client=True)
                else:
                    conn.pkt(t, True, SYN, syn=True)
                    conn.pkt(t + 30, False, RST | ACK, win=0)
                continue
            cap.label(6, net.attacker, sport, target, port, LABEL)
            cap.tcp(t, net.attacker, sport, target, port, SYN, 0, NMAP.syn_win, NMAP.syn_opts, NMAP.ttl)
            if port in _OPEN:
                cap.tcp(t + 40, target, port, net.attacker, sport, SYN | ACK, 0, OLD_LINUX_SERVER.syn_win, 20, 64)
                cap.tcp(t + 40 + rtt, net.attacker, sport, target, port, RST, 0, 0, 0, NMAP.ttl)
            else:  # the internal hosts filter nothing: closed ports answer
                cap.tcp(t + 40, target, port, net.attacker, sport, RST | ACK, 0, 0, 0, 64)
        t += rng.randint(2 * S, 20 * S)
