"""The traffic simulator: a seeded mix of benign sessions and attack episodes as a packet source.

:class:`TrafficSimulator` plays the benign behaviours of
:mod:`~flowsentinel.simulate.benign` (Poisson session starts) and one episode
of each chosen attack, and yields the frames as
:class:`~flowsentinel.capture.packets.RawFrames` batches, so
``FlowStreamer(TrafficSimulator(...))`` meters them with the code that meters
files and interfaces.  Every conversation carries its label
(:meth:`TrafficSimulator.labels_for`).

Determinism: each behaviour and each attack draws from its own random stream,
seeded from ``(seed, name)``, so the same seed gives the same packets, and
adding an attack does not change the benign traffic.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from flowsentinel.capture.packets import LINKTYPE_ETHERNET, RawFrames
from flowsentinel.capture.pcapfile import write_pcap
from flowsentinel.simulate import (
    benign,
    botnet,
    bruteforce,
    ddos,
    dos,
    heartbleed,
    infiltration,
    portscan,
    webattack,
)
from flowsentinel.simulate.wire import Capture, Network, S, conversation

__all__ = ["ALIASES", "ATTACKS", "DEFAULT_START_US", "PERSISTENT", "TrafficSimulator", "parse_attacks", "simulate_flows"]

log = logging.getLogger(__name__)

Episode = Callable[[Capture, random.Random, Network, int, int], None]

#: Attack name → (label it produces, episode generator).
_REGISTRY: dict[str, tuple[str, Episode]] = {
    "portscan": (portscan.LABEL, portscan.portscan),
    "dos-hulk": ("DoS Hulk", dos.hulk),
    "dos-goldeneye": ("DoS GoldenEye", dos.goldeneye),
    "dos-slowloris": ("DoS Slowloris", dos.slowloris),
    "dos-slowhttptest": ("DoS Slowhttptest", dos.slowhttptest),
    "ddos": (ddos.LABEL, ddos.ddos),
    "ftp-patator": ("FTP-Patator", bruteforce.ftp_patator),
    "ssh-patator": ("SSH-Patator", bruteforce.ssh_patator),
    "botnet": (botnet.LABEL, botnet.botnet),
    "web-bruteforce": ("Web Attack - Brute Force", webattack.brute_force),
    "web-xss": ("Web Attack - XSS", webattack.xss),
    "web-sqli": ("Web Attack - SQL Injection", webattack.sql_injection),
    "infiltration": (infiltration.LABEL, infiltration.infiltration),
    "heartbleed": (heartbleed.LABEL, heartbleed.heartbleed),
}

#: Attack names (``--attacks``) and the improved-release label each produces.
ATTACKS: dict[str, str] = {name: label for name, (label, _) in _REGISTRY.items()}
#: Older names kept working.
ALIASES: dict[str, str] = {"ssh-bruteforce": "ssh-patator", "slowloris": "dos-slowloris", "synflood": "ddos"}
#: Attacks that run for the whole capture (persistent infections) instead of an episode.
PERSISTENT = {"botnet", "infiltration"}
#: First packet time when not in real time: 2017-07-03 13:00:00 UTC (a CICIDS-2017 working day).
DEFAULT_START_US = 1_499_086_800 * S


def parse_attacks(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"all"``, ``"none"``, ``""`` or a comma-separated list of attack names → canonical names.

    Raises
    ------
    ValueError
        Naming the unknown attack(s) and listing the known ones.
    """
    if text is None:
        return tuple(ATTACKS)
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if items == ["all"]:
        return tuple(ATTACKS)
    if items in ([], ["none"]):
        return ()
    names = [ALIASES.get(i, i) for i in items]
    unknown = [i for i, n in zip(items, names) if n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; choose from {', '.join(ATTACKS)} (or 'all', 'none')")
    return tuple(dict.fromkeys(names))


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"flowsentinel-simulate:{seed}:{name}")


class TrafficSimulator:
    """Simulated, labelled traffic as a packet source (an iterable of frame batches).

    Parameters
    ----------
    duration_s : float
        Length of the simulated capture (packets after it are not captured).
    attacks : str or sequence of str, optional
        Attack names of :data:`ATTACKS` (or ``"all"``/``"none"``); each runs
        one episode at a random time (botnet and infiltration run throughout).
        All of them by default.
    benign_sessions_per_s : float
        Benign sessions (page visits, look-ups, SSH log-ins, transfers,
        long-lived connections) started per second.
    seed : int
        Seed of every random choice (same seed, same packets).
    start_us : int, optional
        Time of the start (µs since the epoch); the wall clock in real time,
        else :data:`DEFAULT_START_US`.
    realtime : bool
        Release packets at their timestamps (wall clock) instead of at once.
    batch_packets : int
        Frames per batch when not in real time.

    Examples
    --------
    >>> sim = TrafficSimulator(duration_s=30, attacks=["portscan"], seed=1)
    >>> flows = FlowStreamer(sim).to_frame()          # doctest: +SKIP
    >>> labels = sim.labels_for(flows)                # doctest: +SKIP
    >>> sim.write_pcap("sim.pcap")                    # doctest: +SKIP
    """

    def __init__(self, duration_s: float = 60.0, attacks: str | Sequence[str] | None = None,
                 benign_sessions_per_s: float = 5.0, seed: int = 0, start_us: int | None = None,
                 realtime: bool = False, batch_packets: int = 4096) -> None:
        self.attacks = parse_attacks(attacks)
        if not duration_s > 0 or not benign_sessions_per_s >= 0:
            raise ValueError(f"duration_s must be > 0 (got {duration_s}) and benign_sessions_per_s >= 0 "
                             f"(got {benign_sessions_per_s})")
        if batch_packets < 1:
            raise ValueError(f"batch_packets must be >= 1, got {batch_packets}")
        self.duration_us = int(duration_s * S)
        self.rate = float(benign_sessions_per_s)
        self.seed = int(seed)
        self.realtime = realtime
        self.batch_packets = batch_packets
        if start_us is None:
            start_us = int(time.time() * S) if realtime else DEFAULT_START_US
        self.start_us = int(start_us)
        self.path = "simulator"
        self._last_expire = 0.0
        t0 = time.perf_counter()
        cap = Capture(self.start_us + self.duration_us)
        self._generate(cap)
        cap.packets.sort(key=lambda p: p[0])
        self._packets = cap.packets
        self._labels = cap.labels
        log.debug("simulated %d packets of %d conversations in %.2fs", len(self._packets), len(self._labels),
                  time.perf_counter() - t0)

    # -- traffic --------------------------------------------------------------------------------
    def _generate(self, cap: Capture) -> None:
        t0, end = self.start_us, self.start_us + self.duration_us
        net = Network(_stream(self.seed, "network"))
        for name, (play, share) in benign.BEHAVIOURS.items():
            rng = _stream(self.seed, name)
            t = t0
            rate = self.rate * share
            if rate <= 0:
                continue
            while True:
                t += int(rng.expovariate(rate) * S)
                if t >= end:
                    break
                play(cap, rng, net, t)
        for name in self.attacks:
            rng = _stream(self.seed, name)
            if name in PERSISTENT:
                start, stop = t0 + int(0.02 * self.duration_us), end
            else:
                start = t0 + int(rng.uniform(0.02, 0.55) * self.duration_us)
                stop = min(end, start + int(rng.uniform(0.25, 0.4) * self.duration_us))
            _REGISTRY[name][1](cap, rng, net, start, stop)

    # -- outputs --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._packets)

    def labels_for(self, frame: pd.DataFrame) -> list[str]:
        """Ground-truth label of each flow of a flow frame (``BENIGN`` or an improved-release label).

        Parameters
        ----------
        frame : DataFrame
            Flows with ``Src IP``, ``Src Port``, ``Dst IP``, ``Dst Port`` and ``Protocol``.

        Returns
        -------
        list of str, length n_flows
        """
        labels = self._labels
        return [labels.get(conversation(int(proto), a, int(ap), b, int(bp)), benign.BENIGN)
                for a, ap, b, bp, proto in zip(frame["Src IP"], frame["Src Port"], frame["Dst IP"],
                                               frame["Dst Port"], frame["Protocol"])]

    def write_pcap(self, path: str | os.PathLike[str]) -> int:
        """Write every packet to a classic pcap file; returns the number written."""
        return write_pcap(path, self._packets)

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


def simulate_flows(sim: TrafficSimulator, profile: str | None = None) -> pd.DataFrame:
    """Meter a simulation and attach its labels.

    Parameters
    ----------
    sim : TrafficSimulator
    profile : str, optional
        Meter semantics profile (``cicids2017`` by default).

    Returns
    -------
    DataFrame (n_flows, 89)
        ``schema.IDENTIFIERS + schema.FEATURES`` and ``Label``.
    """
    from flowsentinel.capture.streamer import FlowStreamer

    frame = FlowStreamer(sim, profile=profile).to_frame()
    frame["Label"] = sim.labels_for(frame)
    return frame


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

