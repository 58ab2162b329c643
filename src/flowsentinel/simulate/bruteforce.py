"""Password guessing with patator: FTP and SSH log-in attempts against the site's file server.

Every connection tries one to three passwords; failed log-ins are answered
after the server's deliberate delay (vsftpd's and OpenSSH's), so the flows are
short exchanges of small messages separated by seconds.
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

__all__ = ["ftp_patator", "ssh_patator"]


def _waves(rng: random.Random, t0: int, t1: int, per_s: float):
    t = t0
    while t < t1:
        t += int(rng.expovariate(per_s / S))
        yield t


def ftp_patator(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """FTP USER/PASS guesses: about 8 connections a second."""
    rtt = rng.randint(150, 900)
    for t in _waves(rng, t0, t1, 8.0):
        conn = Tcp(cap, rng, t, net.attacker, net.files, 21, "FTP-Patator", LINUX_2017, OLD_LINUX_SERVER, rtt,
                   server_far=False).open()
        conn.wait(rng.randint(300, 3 * MS)).send(False, 20)  # "220 (vsFTPd 3.0.3)"
        for _ in range(rng.randint(1, 3)):
            conn.exchange(rng.randint(11, 18), 34, think_us=rng.randint(50, 500))  # USER → 331
            conn.exchange(rng.randint(8, 22), 22, think_us=rng.randint(900 * MS, 3 * S))  # PASS → 530
        if rng.random() < 0.7:
            conn.exchange(6, 14)  # QUIT → 221 Goodbye.
            conn.close(by_client=False)
        else:
            conn.close(by_client=True)


def ssh_patator(cap: Capture, rng: random.Random, net: Network, t0: int, t1: int) -> None:
    """SSH password guesses with paramiko: about 4 connections a second."""
    rtt = rng.randint(150, 900)
    for t in _waves(rng, t0, t1, 4.0):
        conn = Tcp(cap, rng, t, net.attacker, net.files, 22, "SSH-Patator", LINUX_2017, OLD_LINUX_SERVER, rtt,
                   server_far=False).open()
        conn.send(True, 24)  # "SSH-2.0-paramiko_2.x\r\n"
        conn.wait(rng.randint(300, 2 * MS)).send(False, 41)  # OpenSSH banner
        conn.exchange(rng.randint(620, 700), rng.randint(1000, 1080))  # KEXINIT
        conn.exchange(144, rng.randint(720, 1100), think_us=lognormal_int(rng, 6 * MS, 0.5, 1 * MS, 50 * MS))
        conn.exchange(rng.choice((16, 64)), 52)  # NEWKEYS, service request
        for _ in range(rng.randint(1, 3)):
            conn.exchange(rng.randint(100, 130), rng.choice((52, 68, 84)),
                          think_us=rng.randint(1800 * MS, 2600 * MS))  # failed password, after the delay
        conn.close(by_client=True)
