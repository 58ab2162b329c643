"""A packet-level traffic simulator: benign sessions and attacks, as a packet source.

:class:`TrafficSimulator` writes Ethernet/IPv4 frames for web and DNS sessions
and for a few attacks of CICIDS-2017's families (port scan, SSH brute force,
Slowloris, SYN flood), and yields them as :class:`RawFrames` batches, so
``FlowStreamer(TrafficSimulator(...))`` meters them with the very code that
meters files and interfaces.  Every conversation carries a ground-truth label
(:meth:`TrafficSimulator.labels_for`), which makes the simulator useful for
demos and end-to-end tests of the live pipeline without a network.

With ``realtime=True`` packets are stamped with the wall clock and released at
their time, and the simulator tells the streamer when to expire idle flows,
like a live interface does.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence

import numpy as np

from flowsentinel.capture.packets import ACK, FIN, LINKTYPE_ETHERNET, PSH, RST, SYN, RawFrames

__all__ = ["ATTACKS", "TrafficSimulator"]

_ETH = bytes.fromhex("000c29bbbbbb000c29aaaaaa0800")
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_ZERO = bytes(1500)
S = 1_000_000

#: Attack generators by name, with the CICIDS-2017 label they produce.
ATTACKS: dict[str, str] = {
    "portscan": "Portscan",
    "ssh-bruteforce": "SSH-Patator",
    "slowloris": "DoS Slowloris",
    "synflood": "DDoS",
}


def _ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


class _Builder:
    """Frames of one simulated capture, with the label of each conversation."""

    def __init__(self) -> None:
        self.packets: list[tuple[int, bytes]] = []
        self.labels: dict[tuple, str] = {}

    def label(self, a: str, ap: int, b: str, bp: int, proto: int, label: str) -> None:
        self.labels[_conv(a, ap, b, bp, proto)] = label

    def tcp(self, t: int, src: str, sp: int, dst: str, dp: int, flags: int, size: int = 0,
            win: int = 29200) -> None:
        l4 = _TCP.pack(sp, dp, t & 0xFFFFFFFF, 0, 5 << 4, flags, win, 0, 0) + _ZERO[:size]
        self._ip(t, src, dst, 6, l4)

    def udp(self, t: int, src: str, sp: int, dst: str, dp: int, size: int) -> None:
        self._ip(t, src, dst, 17, _UDP.pack(sp, dp, 8 + size, 0) + _ZERO[:size])

    def _ip(self, t: int, src: str, dst: str, proto: int, l4: bytes) -> None:
        frame = _ETH + _IP.pack(0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, _ip(src), _ip(dst)) + l4
        self.packets.append((t, frame + _ZERO[: max(0, 60 - len(frame))]))


def _conv(a: str, ap: int, b: str, bp: int, proto: int) -> tuple:
    return (proto, *sorted(((a, ap), (b, bp))))


class TrafficSimulator:
    """Simulated traffic as a packet source (an iterable of frame batches).

    Parameters
    ----------
    duration_s : float
        Length of the simulated capture.
    attacks : sequence of str
        Names from :data:`ATTACKS` to mix in (each once, at a random time).
    benign_sessions_per_s : float
        Web and DNS sessions started per second.
    seed : int
        Seed of every random choice (same seed, same packets).
    start_us : int, optional
        Time of the first packet (µs since the epoch); now when None.
    realtime : bool
        Release packets at their timestamps (wall clock) instead of at once.
    batch_packets : int
        Frames per batch when not in real time.

    Examples
    --------
    >>> sim = TrafficSimulator(duration_s=30, attacks=["portscan"], seed=1)
    >>> flows = FlowStreamer(sim).to_frame()          # doctest: +SKIP
    >>> labels = sim.labels_for(flows)                # doctest: +SKIP
    """

    def __init__(self, duration_s: float = 60.0, attacks: Sequence[str] = tuple(ATTACKS),
                 benign_sessions_per_s: float = 5.0, seed: int = 0, start_us: int | None = None,
                 realtime: bool = False, batch_packets: int = 4096) -> None:
        unknown = [a for a in attacks if a not in ATTACKS]
        if unknown:
            raise ValueError(f"unknown attack(s) {unknown}; expected some of {sorted(ATTACKS)}")
        if duration_s <= 0 or benign_sessions_per_s < 0:
            raise ValueError("duration_s must be > 0 and benign_sessions_per_s >= 0")
        self.duration_us = int(duration_s * S)
        self.attacks = tuple(attacks)
        self.rate = float(benign_sessions_per_s)
        self.seed = seed
        self.realtime = realtime
        self.batch_packets = batch_packets
        self.start_us = int(time.time() * S) if start_us is None else int(start_us)
        self.path = "simulator"
        self._last_expire = 0.0
        b = _Builder()
        self._generate(b, np.random.default_rng(seed))
        b.packets.sort(key=lambda p: p[0])
        self._packets = b.packets
        self._labels = b.labels

    # -- traffic --------------------------------------------------------------------------------
    def _generate(self, b: _Builder, rng: np.random.Generator) -> None:
        t0, end = self.start_us, self.start_us + self.duration_us
        n = rng.poisson(self.rate * self.duration_us / S)
        for start in np.sort(rng.integers(t0, end, n)).tolist():
            client = f"192.168.10.{int(rng.integers(2, 250))}"
            if rng.random() < 0.7:
                self._web(b, rng, start, client, f"172.16.0.{int(rng.integers(1, 30))}")
            else:
                self._dns(b, rng, start, client, "192.168.10.3")
        attacker, victim = "205.174.165.73", "192.168.10.50"
        for name in self.attacks:
            start = int(rng.integers(t0, t0 + max(1, self.duration_us // 2)))
            getattr(self, "_" + name.replace("-", "_"))(b, rng, start, attacker, victim, end)

    def _web(self, b, rng, t, c, s) -> None:
        sp = int(rng.integers(32768, 61000))
        b.label(c, sp, s, 80, 6, "BENIGN")
        rtt = int(rng.integers(500, 30_000))
        b.tcp(t, c, sp, s, 80, SYN)
        b.tcp(t + rtt, s, 80, c, sp, SYN | ACK)
        t += rtt + 50
        b.tcp(t, c, sp, s, 80, ACK)
        b.tcp(t + 20, c, sp, s, 80, PSH | ACK, int(rng.integers(200, 700)))
        t += rtt
        body = int(rng.integers(500, 60_000))
        while body > 0:
            seg = min(1460, body)
            body -= seg
            b.tcp(t, s, 80, c, sp, ACK | (PSH if body == 0 else 0), seg)
            t += int(rng.integers(10, 300))
        b.tcp(t, c, sp, s, 80, ACK)
        t += int(rng.integers(1000, 3 * S))
        b.tcp(t, c, sp, s, 80, FIN | ACK)
        b.tcp(t + rtt, s, 80, c, sp, FIN | ACK)
        b.tcp(t + rtt + 30, c, sp, s, 80, ACK)

    def _dns(self, b, rng, t, c, s) -> None:
        sp = int(rng.integers(32768, 61000))
        b.label(c, sp, s, 53, 17, "BENIGN")
        b.udp(t, c, sp, s, 53, int(rng.integers(28, 60)))
        b.udp(t + int(rng.integers(100, 5000)), s, 53, c, sp, int(rng.integers(60, 300)))

    def _portscan(self, b, rng, t, a, v, end) -> None:
        for i, port in enumerate(rng.permutation(np.arange(1, 1025))[:300].tolist()):
            sp = 40000 + i
            b.label(a, sp, v, port, 6, ATTACKS["portscan"])
            t += int(rng.integers(50, 400))
            b.tcp(t, a, sp, v, port, SYN, win=1024)
            if port in (22, 80, 443):
                b.tcp(t + 80, v, port, a, sp, SYN | ACK)
                b.tcp(t + 160, a, sp, v, port, RST, win=0)
            else:
                b.tcp(t + 80, v, port, a, sp, RST | ACK, win=0)

    def _ssh_bruteforce(self, b, rng, t, a, v, end) -> None:
        for _ in range(40):
            sp = int(rng.integers(32768, 61000))
            b.label(a, sp, v, 22, 6, ATTACKS["ssh-bruteforce"])
            b.tcp(t, a, sp, v, 22, SYN)
            b.tcp(t + 200, v, 22, a, sp, SYN | ACK)
            b.tcp(t + 400, a, sp, v, 22, ACK)
            tt = t + 1000
            for k in range(8):  # banner, key exchange, one password try
                src, dst, s_, d_ = (v, a, 22, sp) if k % 2 == 0 else (a, v, sp, 22)
                b.tcp(tt, src, s_, dst, d_, PSH | ACK, int(rng.integers(40, 1200)))
                tt += int(rng.integers(300, 20_000))
            b.tcp(tt, v, 22, a, sp, FIN | ACK)
            b.tcp(tt + 200, a, sp, v, 22, FIN | ACK)
            b.tcp(tt + 400, v, 22, a, sp, ACK)
            t = tt + int(rng.integers(200_000, 900_000))

    def _slowloris(self, b, rng, t, a, v, end) -> None:
        for i in range(30):
            sp = 50000 + i
            b.label(a, sp, v, 80, 6, ATTACKS["slowloris"])
            s = t + i * 5000
            b.tcp(s, a, sp, v, 80, SYN)
            b.tcp(s + 300, v, 80, a, sp, SYN | ACK)
            b.tcp(s + 600, a, sp, v, 80, ACK)
            b.tcp(s + 900, a, sp, v, 80, PSH | ACK, 120)
            b.tcp(s + 1200, v, 80, a, sp, ACK)
            k = s + 10 * S
            while k < end:  # a header line every ~10 s keeps the request open
                b.tcp(k, a, sp, v, 80, PSH | ACK, int(rng.integers(5, 30)))
                b.tcp(k + 300, v, 80, a, sp, ACK)
                k += int(rng.integers(9 * S, 12 * S))

    def _synflood(self, b, rng, t, a, v, end) -> None:
        for i in range(2000):
            src = f"10.{int(rng.integers(0, 256))}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"
            sp = int(rng.integers(1024, 65535))
            b.label(src, sp, v, 80, 6, ATTACKS["synflood"])
            tt = t + i * int(rng.integers(20, 200))
            b.tcp(tt, src, sp, v, 80, SYN, win=512)
            b.tcp(tt + 100, v, 80, src, sp, SYN | ACK)

    # -- source protocol ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._packets)

    def labels_for(self, frame) -> list[str]:
        """Ground-truth label of each flow of a frame (``BENIGN`` or a CICIDS-2017 label)."""
        out = []
        for a, ap, b, bp, proto in zip(frame["Src IP"], frame["Src Port"], frame["Dst IP"],
                                       frame["Dst Port"], frame["Protocol"]):
            out.append(self._labels.get(_conv(a, int(ap), b, int(bp), int(proto)), "BENIGN"))
        return out

    def expire_now(self) -> int | None:
        """Wall-clock µs for an expiry check (real time only), else None."""
        if not self.realtime:
            return None
        now = time.time()
        if now - self._last_expire >= 1.0:
            self._last_expire = now
            return int(now * S)
        return None

    def __iter__(self) -> Iterator[RawFrames]:
        pk = self._packets
        number = 0
        if not self.realtime:
            for i in range(0, len(pk), self.batch_packets):
                part = pk[i:i + self.batch_packets]
                yield _frames(part, number)
                number += len(part)
            return
        # real time: release what is due every ~10 ms
        wall0, t0 = time.time() * S, self.start_us
        i = 0
        while i < len(pk):
            due = t0 + (time.time() * S - wall0)
            j = i
            while j < len(pk) and pk[j][0] <= due:
                j += 1
            yield _frames(pk[i:j], number)
            number += j - i
            i = j
            time.sleep(0.01)


def _frames(part: list[tuple[int, bytes]], first: int) -> RawFrames:
    n = len(part)
    lens = np.fromiter((len(f) for _, f in part), dtype=np.int64, count=n)
    offs = np.zeros(n, dtype=np.int64)
    if n:
        offs[1:] = np.cumsum(lens)[:-1]
    data = np.frombuffer(b"".join(f for _, f in part), dtype=np.uint8) if n else np.zeros(0, np.uint8)
    return RawFrames(data=data, offsets=offs, caplens=lens,
                     ts_us=np.fromiter((t for t, _ in part), dtype=np.int64, count=n),
                     linktypes=np.full(n, LINKTYPE_ETHERNET, dtype=np.int32),
                     numbers=np.arange(first + 1, first + 1 + n, dtype=np.int64), source="simulator")
