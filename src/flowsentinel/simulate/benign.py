"""Benign behaviours: web browsing (HTTP/HTTPS), DNS, SSH sessions, bulk transfers, idle keep-alives.

Each function plays one session that starts at ``t`` and labels its
conversations ``BENIGN``.  Sizes and times are drawn from heavy-tailed
(log-normal) distributions around typical values of real traffic: page
objects of a few kB with a long tail, round trips of tens of milliseconds to
remote sites and a fraction of a millisecond inside the site, typing gaps of
a few hundred milliseconds, heartbeats every half minute or so.
"""

from __future__ import annotations

import random

from flowsentinel.simulate.wire import (
    ACK,
    LINUX,
    LINUX_2017,
    MACOS,
    MS,
    OLD_LINUX_SERVER,
    Capture,
    Network,
    S,
    Tcp,
    lan_rtt,
    lognormal_int,
    udp_exchange,
)

__all__ = ["BEHAVIOURS", "BENIGN", "bulk", "dns", "keepalive", "ssh", "web"]

BENIGN = "BENIGN"


def dns(cap: Capture, rng: random.Random, net: Network, t: int) -> int:
    """A/AAAA look-ups at the site's resolver, which sometimes asks a remote one."""
    client, _ = net.client(rng)
    rtt = lan_rtt(rng)
    for _ in range(1 if rng.random() < 0.6 else 2):
        q = rng.randint(17, 45) + (11 if rng.random() < 0.5 else 0)
        if rng.random() < 0.3:  # cache miss: the resolver asks upstream first
            remote, _, rrtt = net.remote_server(rng)
            udp_exchange(cap, rng, t + 100, net.dns, remote, 53, BENIGN, q, q + rng.randint(16, 240), rrtt,
                         ttl=64)
            rtt += rrtt
        t = udp_exchange(cap, rng, t, client, net.dns, 53, BENIGN, q, q + rng.randint(16, 260), rtt)
        t += rng.randint(50, 5 * MS)
    return t


def _tls_setup(conn: Tcp) -> None:
    rng = conn.rng
    conn.exchange(rng.randint(230, 600), rng.randint(1500, 5600))  # ClientHello / ServerHello+certificates
    conn.exchange(rng.randint(60, 140), rng.randint(50, 290))  # key exchange, Finished / tickets


def web(cap: Capture, rng: random.Random, net: Network, t: int) -> int:
    """A page visit: DNS, then 1–6 parallel keep-alive connections fetching objects.

    85 % of visits go to remote sites (HTTPS 80 %), the rest to the intranet
    server.
    """
    client, cst = net.client(rng)
    if rng.random() < 0.85:
        server, sst, rtt = net.remote_server(rng)
        far = True
        t = dns(cap, rng, net, t) + 200
    else:
        server, sst, rtt, far = net.web, OLD_LINUX_SERVER, lan_rtt(rng), True  # capture at the server's switch
    https = rng.random() < 0.8
    n_conn = min(6, 1 + int(rng.expovariate(1 / 1.2)))
    end = t
    for k in range(n_conn):
        conn = Tcp(cap, rng, t + k * rng.randint(200, 150 * MS), client, server, 443 if https else 80,
                   BENIGN, cst, sst, rtt, server_far=far).open()
        if https:
            _tls_setup(conn)
        for i in range(1 + int(rng.expovariate(1 / 2.5))):
            if i:
                conn.wait(lognormal_int(rng, 300 * MS, 1.5, 5 * MS, 20 * S))
            req = lognormal_int(rng, 480, 0.35, 180, 2500) + (29 if https else 0)
            resp = lognormal_int(rng, 9000, 1.6, 150, 3_000_000)
            conn.exchange(req, resp, think_us=lognormal_int(rng, 25 * MS, 1.0, 500, 2 * S),
                          rate_bps=lognormal_int(rng, 40e6, 0.8, 2e6, 500e6))
        r = rng.random()
        if r < 0.45:  # the server's keep-alive timer ends it
            conn.wait(rng.choice((5, 15, 60, 65)) * S + rng.randint(0, 200 * MS)).close(by_client=False)
        elif r < 0.85:
            conn.wait(lognormal_int(rng, 2 * S, 1.5, 10 * MS, 90 * S)).close(by_client=True)
        else:  # the tab is closed: browsers often reset
            conn.wait(lognormal_int(rng, 3 * S, 1.0, 10 * MS, 60 * S)).reset(by_client=True)
        end = max(end, conn.t)
    return end


def ssh(cap: Capture, rng: random.Random, net: Network, t: int) -> int:
    """An interactive OpenSSH session: key exchange, public-key log-in, typing and output bursts."""
    client = rng.choice(net.clients)
    cst = rng.choice((LINUX, LINUX_2017, MACOS))
    if rng.random() < 0.5:
        server, sst, rtt = net.files, OLD_LINUX_SERVER, lan_rtt(rng)
    else:
        server, sst, rtt = net.remote_server(rng)
    conn = Tcp(cap, rng, t, client, server, 22, BENIGN, cst, sst, rtt).open()
    conn.send(False, rng.randint(21, 42))  # server banner
    conn.send(True, rng.randint(21, 42))  # client banner
    conn.exchange(rng.randint(1350, 1650), rng.randint(1000, 1150))  # KEXINIT both ways
    conn.exchange(rng.randint(44, 1230), rng.randint(500, 1150))  # ECDH / PQ init and reply
    conn.exchange(rng.choice((16, 60)), 44)  # NEWKEYS, service request
    conn.exchange(rng.randint(400, 700), rng.randint(28, 60))  # public-key auth
    conn.exchange(rng.randint(100, 500), rng.randint(500, 4000))  # channel, pty, shell, motd
    stop = t + lognormal_int(rng, 120 * S, 1.0, 10 * S, 1800 * S)
    while conn.t < stop and conn.t < cap.end_us:
        for _ in range(rng.randint(1, 40)):  # a command: keystrokes echoed one by one
            conn.exchange(36, 36, think_us=rng.randint(100, 900))
            conn.wait(lognormal_int(rng, 180 * MS, 0.6, 30 * MS, 2 * S))
        conn.exchange(36, lognormal_int(rng, 600, 2.0, 36, 400_000), think_us=rng.randint(1 * MS, 300 * MS))
        conn.wait(lognormal_int(rng, 4 * S, 1.4, 200 * MS, 300 * S))
    conn.exchange(rng.randint(36, 100), rng.randint(36, 150))
    conn.close(by_client=False)
    return conn.t


def bulk(cap: Capture, rng: random.Random, net: Network, t: int) -> int:
    """A large download (or upload) over HTTPS or SCP at a steady rate."""
    client, cst = net.client(rng)
    server, sst, rtt = net.remote_server(rng)
    port = 22 if rng.random() < 0.2 else 443
    conn = Tcp(cap, rng, t, client, server, port, BENIGN, cst, sst, rtt).open()
    if port == 443:
        _tls_setup(conn)
    else:
        conn.exchange(rng.randint(1350, 1650), rng.randint(1000, 1150))
        conn.exchange(rng.randint(400, 700), rng.randint(28, 60))
    size = lognormal_int(rng, 1_500_000, 1.0, 200_000, 30_000_000)
    rate = lognormal_int(rng, 30e6, 0.8, 2e6, 400e6)
    conn.send(True, rng.randint(300, 900))
    conn.wait(conn.reply_delay(False) + rng.randint(1 * MS, 50 * MS))
    conn.send(rng.random() < 0.15, size, rate_bps=rate)  # mostly downloads
    conn.wait(rng.randint(10 * MS, 2 * S)).close(by_client=True)
    return conn.t


def keepalive(cap: Capture, rng: random.Random, net: Network, t: int) -> int:
    """A long-lived idle connection (push, chat, sync) kept up by heartbeats every ~25–90 s."""
    client, cst = net.client(rng)
    server, sst, rtt = net.remote_server(rng)
    port = rng.choice((443, 443, 443, 5222, 5223))
    conn = Tcp(cap, rng, t, client, server, port, BENIGN, cst, sst, rtt).open()
    _tls_setup(conn)
    conn.exchange(rng.randint(100, 600), rng.randint(100, 2000))
    period = rng.uniform(25, 90) * S
    tcp_probe = rng.random() < 0.3  # TCP keep-alive probes instead of application heartbeats
    stop = t + lognormal_int(rng, 300 * S, 1.0, 60 * S, 3600 * S)
    while conn.t < stop and conn.t < cap.end_us:
        conn.wait(period * rng.uniform(0.97, 1.03))
        if tcp_probe:
            conn.pkt(conn.t, True, ACK, rng.choice((0, 1)))
            conn.wait(conn.reply_delay(False))
            conn.pkt(conn.t, False, ACK)
        else:
            conn.exchange(rng.randint(29, 90), rng.randint(29, 90))
        if rng.random() < 0.05:  # now and then a message arrives
            conn.wait(rng.randint(1 * S, 10 * S)).exchange(rng.randint(29, 90), rng.randint(200, 8000))
    conn.close(by_client=rng.random() < 0.5)
    return conn.t


#: Benign behaviours and their share of benign session starts.
BEHAVIOURS: dict[str, tuple[object, float]] = {
    "web": (web, 0.50),
    "dns": (dns, 0.30),
    "ssh": (ssh, 0.04),
    "bulk": (bulk, 0.06),
    "keepalive": (keepalive, 0.10),
}

assert abs(sum(share for _, share in BEHAVIOURS.values()) - 1.0) < 1e-9
