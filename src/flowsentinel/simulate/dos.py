"""DoS attacks on the intranet web server: HTTP floods (Hulk, GoldenEye) and slow attacks.

* Hulk: many short connections, each one GET with a unique random URL and
  headers; the server answers with its page or the client gives up.
* GoldenEye: keep-alive connections that send several GET/POST requests with
  random headers before letting the server time them out.
* Slowloris: hundreds of connections each holding an unfinished request open
  with one short header line every ~15 s.
* Slowhttptest: slow read (a tiny receive window, drained slowly) and slow
  POST bodies.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    ACK,
    FIN,
    LINUX_2017,
    MS,
    OLD_LINUX_SERVER,
    Capture,
    Network,
    S,
    Stack,
    Tcp,
    lognormal_int,
)

__all__ = ["goldeneye", "hulk", "slowhttptest", "slowloris"]

_PAGE = 11_595  # the victim's default page, bytes (headers included)


def _attacker(rng: random.Random) -> tuple[int, Stack]:
    return rng.randint(150, 900), LINUX_2017


def hulk(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """An HTTP GET flood of one-request connections at ~100 per second."""
    rtt, st = _attacker(rng)
    t = t0
    while t < t1:
        t += int(rng.expovariate(1 / (10 * MS)))
        conn = Tcp(cap, rng, t, net.attacker, net.web, 80, "DoS Hulk", st, OLD_LINUX_SERVER, rtt,
                   server_far=False).open()
        conn.wait(rng.randint(20, 400))
        req = rng.randint(330, 520)
        r = rng.random()
        if r < 0.65:
            conn.exchange(req, _PAGE + rng.randint(-3, 3), think_us=lognormal_int(rng, 3 * MS, 1.0, 200, 2 * S),
                          rate_bps=200e6)
            conn.wait(rng.randint(100, 3 * MS)).close(by_client=rng.random() < 0.7)
        elif r < 0.9:  # the overloaded server has not answered before the client resets
            conn.send(True, req).wait(lognormal_int(rng, 1 * S, 0.8, 100 * MS, 10 * S)).reset(by_client=True)
        else:
            conn.send(True, req).wait(lognormal_int(rng, 5 * S, 0.5, 1 * S, 20 * S))
            conn.pkt(conn.t, False, ACK | FIN)  # the server times the request out
            conn.wait(rtt).reset(by_client=True)


def goldeneye(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """Keep-alive HTTP flood: ~15 connections per second with several random requests each."""
    rtt, st = _attacker(rng)
    t = t0
    while t < t1:
        t += int(rng.expovariate(1 / (70 * MS)))
        conn = Tcp(cap, rng, t, net.attacker, net.web, 80, "DoS GoldenEye", st, OLD_LINUX_SERVER, rtt,
                   server_far=False).open()
        for i in range(rng.randint(1, 6)):
            if i:
                conn.wait(rng.randint(10 * MS, 3 * S))
            resp = _PAGE + rng.randint(-3, 3) if rng.random() < 0.7 else rng.randint(350, 600)
            conn.exchange(rng.randint(400, 1100), resp, think_us=lognormal_int(rng, 5 * MS, 1.0, 300, 3 * S),
                          rate_bps=200e6)
        conn.wait(5 * S + rng.randint(0, 50 * MS)).close(by_client=False)  # Apache's KeepAliveTimeout


def slowloris(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """150–400 connections, each kept open by a short header line every ~15 s."""
    rtt, st = _attacker(rng)
    n = rng.randint(150, 400)
    opened = t0
    for _ in range(n):
        opened += rng.randint(1 * MS, 20 * MS)
        conn = Tcp(cap, rng, opened, net.attacker, net.web, 80, "DoS Slowloris", st, OLD_LINUX_SERVER, rtt,
                   server_far=False).open()
        conn.send(True, rng.randint(190, 240))
        while conn.t < t1:
            conn.wait(15 * S + rng.randint(0, 400 * MS))
            conn.send(True, rng.randint(9, 16))  # "X-a: 4711\r\n"
        conn.reset(by_client=True)


def slowhttptest(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """Slow read and slow POST connections, opened in waves until ``t1``."""
    rtt, st = _attacker(rng)
    small = Stack("slowhttptest-read", 64, rng.choice((28, 32, 64, 128)), 1, 20, 12, 1448)
    t = t0
    while t < t1:
        t += int(rng.expovariate(1 / (150 * MS)))
        if rng.random() < 0.5:  # slow read: a tiny window, drained slowly
            conn = Tcp(cap, rng, t, net.attacker, net.web, 80, "DoS Slowhttptest", small, OLD_LINUX_SERVER, rtt,
                       server_far=False).open()
            conn.send(True, rng.randint(90, 160))
            stop = conn.t + rng.randint(20 * S, 110 * S)
            while conn.t < stop and conn.t < t1:
                conn.wait(conn.reply_delay(False))
                conn.pkt(conn.t, False, ACK | 0x08, small.syn_win)
                conn.wait(rng.randint(1 * S, 3 * S))
                conn.pkt(conn.t, True, ACK, win=small.syn_win)
            conn.reset(by_client=False)
        else:  # slow POST: a large Content-Length, then a few body bytes every ~10 s
            conn = Tcp(cap, rng, t, net.attacker, net.web, 80, "DoS Slowhttptest", st, OLD_LINUX_SERVER, rtt,
                       server_far=False).open()
            conn.send(True, rng.randint(230, 330))
            stop = conn.t + rng.randint(20 * S, 110 * S)
            while conn.t < stop and conn.t < t1:
                conn.wait(rng.randint(9 * S, 11 * S))
                conn.send(True, rng.randint(1, 24))
            conn.reset(by_client=False)
