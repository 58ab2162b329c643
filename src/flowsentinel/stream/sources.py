"""Flow sources of the live pipeline: one spec string, one async interface.

``parse_source("replay:flows.csv@1000")`` returns a :class:`FlowSource`; its
:meth:`~FlowSource.frames` is an async iterator of pandas DataFrames in the
canonical schema (identifiers included, ``Label``/``Family`` when the source
has ground truth, plus ``_ts``: each flow's start as epoch seconds).  Every
blocking step (reading a file, metering packets, simulating) runs in a worker
thread, never on the event loop.

============================  ==============================================
spec                          source
============================  ==============================================
``simulate[:SEED]``           the packet simulator, metered, paced in real time
``replay:FILE[@RATE][,loop]`` a CSV/Parquet of either release at RATE flows/s
``pcap:FILE[@SPEED]``         a capture file metered at SPEED × its timing
``iface:NAME``                a live interface (libpcap)
============================  ==============================================

Sources that can wait (files, the simulator's synthetic traffic) are slowed
when scoring falls behind; a live interface cannot, so its flows are shed and
counted instead (``FlowSource.live``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel import schema
from flowsentinel.stream.record import epoch_seconds

__all__ = ["FlowSource", "PcapSource", "ReplaySource", "SimulateSource", "InterfaceSource",
           "SourceError", "parse_source"]

log = logging.getLogger(__name__)

#: Largest frame a source yields at once.
MAX_CHUNK = 4096
_TICK_S = 0.01


class SourceError(ValueError):
    """A source spec or file that cannot be used; the message names it and what was expected."""


class FlowSource:
    """Base class: a named, async stream of canonical flow frames.

    Attributes
    ----------
    spec : str
        The spec string it was built from.
    kind : str
        ``simulate``, ``replay``, ``pcap``, ``iface`` or ``frames``.
    live : bool
        True when the source cannot be slowed down (flows are shed instead).
    labelled : bool
        True when frames carry ``Label`` and ``Family``.
    drains : bool
        True when, after :meth:`stop`, :meth:`frames` still yields flows that exist nowhere
        else (a live interface's open flows) before it ends: the pipeline waits for them.
        Other sources are cut off at the stop; what they had handed over is still scored.
    """

    kind = "frames"
    live = False
    labelled = False
    drains = False
    _streamer: Any = None  # the FlowStreamer of a source that meters packets, once it runs

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._stop = threading.Event()

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "labelled": self.labelled, "live": self.live}

    def frames(self) -> AsyncIterator[pd.DataFrame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self) -> None:
        """Raise now, with a message naming it, if the source cannot start (files are checked when
        the source is built; a live interface is opened and closed here)."""

    def capture_stats(self) -> dict[str, int] | None:
        """Packet counters of a source that meters packets (None for flow sources): packets
        metered, ``kernel_drops`` (packets the kernel dropped before capture), ``malformed``,
        ``non_ip``, ``flows`` written, ``open_flows`` in the meter, ``evicted`` (written early for
        memory).  Safe to call from any thread while the source runs."""
        streamer = self._streamer
        if streamer is None:
            return None
        st = streamer.stats
        return {"packets": st.packets, "kernel_drops": st.kernel_drops, "malformed": st.malformed,
                "non_ip": st.non_ip, "flows": st.flows, "open_flows": streamer.meter.open_flows,
                "evicted": st.evicted}

    def stop(self) -> None:
        """Ask the source to end soon (from any thread)."""
        self._stop.set()


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``_ts`` (epoch seconds) and ``Family`` (from ``Label``) once, at the edge."""
    if "_ts" not in frame.columns:
        frame["_ts"] = epoch_seconds(frame["Timestamp"]) if "Timestamp" in frame.columns \
            else np.full(len(frame), np.nan)
    if schema.LABEL in frame.columns and schema.FAMILY not in frame.columns:
        infos = {raw: schema.classify_label(raw) for raw in pd.unique(frame[schema.LABEL])}
        frame[schema.LABEL] = frame[schema.LABEL].map(lambda r: infos[r].label)
        frame[schema.FAMILY] = frame[schema.LABEL].map(
            {info.label: info.family for info in infos.values()})
    return frame


async def _in_thread(make: Callable[[], Iterable[Any]], stop: threading.Event,
                     maxsize: int = 4) -> AsyncIterator[Any]:
    """Iterate a blocking iterable in a worker thread; bounded hand-over, so the thread waits too."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize)
    done = object()
    space = threading.Semaphore(maxsize)

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: the consumer is gone, and nothing waits for it
            stop.set()

    def work() -> None:
        try:
            for item in make():
                while not space.acquire(timeout=0.2):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                put(item)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            put(done)

    thread = threading.Thread(target=work, name="flow-source", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is done:
                return
            space.release()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _split(frame: pd.DataFrame, size: int = MAX_CHUNK) -> Iterable[pd.DataFrame]:
    for i in range(0, len(frame), size):
        yield frame.iloc[i:i + size]


async def _pace_by_time(frame: pd.DataFrame, due_s: np.ndarray, t0: float, stop: threading.Event
                        ) -> AsyncIterator[pd.DataFrame]:
    """Release rows when the wall clock passes ``t0 + due_s`` (rows sorted by ``due_s``)."""
    order = np.argsort(due_s, kind="stable")
    frame, due_s = frame.iloc[order], due_s[order]
    i, n = 0, len(frame)
    while i < n and not stop.is_set():
        tick = time.monotonic()
        j = int(np.searchsorted(due_s, tick - t0, side="right"))
        if j > i:
            for part in _split(frame.iloc[i:j]):
                yield part
            i = j
        if i < n:
            await asyncio.sleep(_until_next_tick(tick, t0 + due_s[i]))


def _until_next_tick(tick: float, next_due: float) -> float:
    """Seconds to sleep after a release at ``tick``: flows are released at most once per
    ``_TICK_S`` (each release costs the pipeline a frame, whatever its size), and never
    sooner than the next flow is due; at most 0.1 s, so a stop is seen soon."""
    return max(min(max(tick + _TICK_S, next_due) - time.monotonic(), _TICK_S * 10), 0.0)


class SimulateSource(FlowSource):
    """The packet simulator, metered window by window and released in real time.

    Each window simulates ``window_s`` seconds of traffic starting now
    (seed, seed + 1, …), meters it in a worker thread and releases every flow
    when its last packet would have been seen.  Labelled.

    Traffic looks like a network that is mostly benign: ``benign_sessions_per_s``
    sessions of every benign behaviour, the persistent infections (botnet
    beacons, the infiltrated host) all the time, and one attack episode per
    window, the attacks taking turns in a seeded order (:meth:`window_attacks`).
    About 84 % of the flows are benign over a full turn; a port-scan window is
    about half attack flows, a Heartbleed window one flow.  ``attacks="all"``
    runs every attack in every window instead (~6 % benign).
    """

    kind = "simulate"
    live = True
    labelled = True

    def __init__(self, spec: str = "simulate", seed: int = 0, window_s: float = 10.0,
                 benign_sessions_per_s: float = 40.0, windows: int | None = None,
                 attacks: str = "rotate") -> None:
        super().__init__(spec)
        if attacks not in ("rotate", "all"):
            raise SourceError(f"source {spec!r}: attacks must be 'rotate' or 'all', got {attacks!r}")
        self.seed, self.window_s, self.rate, self.windows = int(seed), window_s, benign_sessions_per_s, windows
        self.attacks = attacks

    def window_attacks(self, k: int) -> tuple[str, ...]:
        """The attacks of window ``k``: every persistent one, and the ``k``-th episode of the turn."""
        from flowsentinel.simulate import ATTACKS
        from flowsentinel.simulate.simulator import PERSISTENT

        if self.attacks == "all":
            return tuple(ATTACKS)
        episodes = [a for a in ATTACKS if a not in PERSISTENT]
        random.Random(self.seed).shuffle(episodes)
        return (*(a for a in ATTACKS if a in PERSISTENT), episodes[k % len(episodes)])

    def _window(self, k: int, start_s: float) -> pd.DataFrame:
        from flowsentinel.simulate import TrafficSimulator, simulate_flows

        sim = TrafficSimulator(duration_s=self.window_s, seed=self.seed + k, start_us=int(start_s * 1e6),
                               benign_sessions_per_s=self.rate, attacks=self.window_attacks(k))
        return _finish(simulate_flows(sim))

    async def frames(self) -> AsyncIterator[pd.DataFrame]:
        k = 0
        start = time.time()
        nxt = asyncio.ensure_future(asyncio.to_thread(self._window, 0, start))
        try:
            while not self._stop.is_set() and (self.windows is None or k < self.windows):
                frame = await nxt
                k += 1
                nxt = asyncio.ensure_future(asyncio.to_thread(self._window, k, start + k * self.window_s))
                end = frame["_ts"].to_numpy() + frame["Flow Duration"].to_numpy(dtype=np.float64) / 1e6
                due = np.clip(np.nan_to_num(end - start, nan=0.0), 0.0, k * self.window_s)
                t0 = time.monotonic() - (time.time() - start)
                async for part in _pace_by_time(frame, due, t0, self._stop):
                    yield part
                start_wall = start + k * self.window_s
                if time.time() < start_wall:
                    await asyncio.sleep(start_wall - time.time())
        finally:
            nxt.cancel()


def _has_label(path: Path) -> bool:
    """Whether a flow file has a ``Label`` column (its header only; the loader checks the rest)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            import gzip

            opener = gzip.open if path.suffix.lower() == ".gz" else open
            with opener(path, "rt", encoding="latin-1") as fh:
                names = fh.readline().split(",")
    except (OSError, ValueError):
        return False
    return any(n.strip().casefold() == schema.LABEL.casefold() for n in names)


class ReplaySource(FlowSource):
    """A labelled (or unlabelled) flow file of either release, at ``rate`` flows/s.

    Without a rate it is read as fast as the pipeline takes it.  ``loop``
    starts over at the end (for demos and benchmarks).
    """

    kind = "replay"

    def __init__(self, path: str | os.PathLike[str], rate: float | None = None, loop: bool = False,
                 spec: str | None = None, frame: pd.DataFrame | None = None) -> None:
        super().__init__(spec or f"replay:{path}" + (f"@{rate:g}" if rate else "") + (",loop" if loop else ""))
        self.path = Path(path)
        if frame is None and not self.path.is_file():
            raise SourceError(f"source {self.spec!r}: {self.path} does not exist or is not a file "
                              "(expected a CSV/Parquet flow file of either CICIDS-2017 release)")
        if rate is not None and not rate > 0:
            raise SourceError(f"source {self.spec!r}: the rate must be a positive number of flows/s, got {rate}")
        self.rate, self.loop = rate, loop
        self._frame = frame
        self.labelled = schema.LABEL in frame.columns if frame is not None else _has_label(self.path)

    def load(self) -> pd.DataFrame:
        """Read the file through the one loader (both releases, every quirk handled)."""
        if self._frame is None:
            from flowsentinel.data.loader import load_flows

            loaded = load_flows([self.path], require_labels=False, progress=False)
            if not len(loaded.frame):
                raise SourceError(f"source {self.spec!r}: {self.path} holds no flows")
            self._frame = loaded.frame
        frame = _finish(self._frame.reset_index(drop=True))
        self.labelled = schema.FAMILY in frame.columns
        self._frame = frame
        return frame

    async def frames(self) -> AsyncIterator[pd.DataFrame]:
        frame = await asyncio.to_thread(self.load)
        n = len(frame)
        if self.rate is None:
            while not self._stop.is_set():
                for part in _split(frame, 2048):
                    if self._stop.is_set():
                        return
                    yield part
                if not self.loop:
                    return
        t0, sent = time.monotonic(), 0
        while not self._stop.is_set():
            tick = time.monotonic()
            due = int((tick - t0) * self.rate)
            if not self.loop:
                due = min(due, n)
            while due > sent and not self._stop.is_set():  # all that is due, in chunks
                take = min(due - sent, MAX_CHUNK)
                a, b = sent % n, sent % n + take
                part = frame.iloc[a:min(b, n)]
                if b > n:
                    part = pd.concat([part, frame.iloc[: b - n]], ignore_index=True)
                sent += take
                yield part
            if not self.loop and sent >= n:
                return
            await asyncio.sleep(_until_next_tick(tick, t0 + (sent + 1) / self.rate))


class PcapSource(FlowSource):
    """A pcap/pcapng file, metered in a worker thread; flows released at ``speed`` × the file's timing.

    ``closed_wait_s``: write a closed TCP connection once it has been quiet that long
    (:class:`~flowsentinel.capture.meter.FlowMeter` ``closed_wait_us``; None: the release's rule).
    """

    kind = "pcap"

    def __init__(self, path: str | os.PathLike[str], speed: float | None = None, spec: str | None = None,
                 profile: str | None = None, closed_wait_s: float | None = None, bpf: str | None = None) -> None:
        super().__init__(spec or f"pcap:{path}" + (f"@{speed:g}" if speed else ""))
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"source {self.spec!r}: {self.path} does not exist or is not a file "
                              "(expected a pcap or pcapng capture)")
        if speed is not None and not speed > 0:
            raise SourceError(f"source {self.spec!r}: the speed must be a positive factor, got {speed}")
        self.speed, self.profile, self.closed_wait_s, self.bpf = speed, profile, closed_wait_s, bpf
        if bpf:
            from flowsentinel.capture.bpf import BpfFilter

            BpfFilter([], bpf)  # a filter that does not compile is refused now, quoted

    def _chunks(self) -> Iterable[pd.DataFrame]:
        from flowsentinel.capture import FlowStreamer, PcapFileSource, flows_to_frame
        from flowsentinel.capture.bpf import BpfFilter

        frames = PcapFileSource(self.path, batch_size=16_384)
        streamer = self._streamer = FlowStreamer(BpfFilter(frames, self.bpf) if self.bpf else frames,
                                                 profile=self.profile, closed_wait_s=self.closed_wait_s)
        for chunk in streamer:
            yield _finish(flows_to_frame(chunk))

    async def frames(self) -> AsyncIterator[pd.DataFrame]:
        first: float | None = None
        t0 = time.monotonic()
        async for frame in _in_thread(self._chunks, self._stop):
            if self.speed is None:
                for part in _split(frame):
                    yield part
                continue
            end = frame["_ts"].to_numpy() + frame["Flow Duration"].to_numpy(dtype=np.float64) / 1e6
            if first is None:
                first = float(np.nanmin(frame["_ts"].to_numpy())) if len(frame) else 0.0
            due = np.nan_to_num((end - first) / self.speed, nan=0.0)
            async for part in _pace_by_time(frame, due, t0, self._stop):
                yield part


class InterfaceSource(FlowSource):
    """A live interface through libpcap; flows are shed (counted) when scoring falls behind.

    ``closed_wait_s`` as for :class:`PcapSource` (the wall clock writes flows whose timeout or
    quiet spell has passed once a second, also when no packets arrive).  :meth:`stop` ends the
    capture, and the flows still open are written and yielded before :meth:`frames` ends
    (unlike a file, they cannot be read again); the pipeline waits for them.
    """

    kind = "iface"
    live = True
    drains = True

    def __init__(self, name: str, spec: str | None = None, bpf_filter: str | None = None,
                 profile: str | None = None, closed_wait_s: float | None = None) -> None:
        super().__init__(spec or f"iface:{name}")
        if not name:
            raise SourceError(f"source {self.spec!r}: name an interface, e.g. iface:eth0")
        self.name, self.bpf_filter, self.profile = name, bpf_filter, profile
        self.closed_wait_s = closed_wait_s
        self._live = None
        self._abandon = threading.Event()  # the consumer is gone: the worker quits at once

    def _chunks(self) -> Iterable[pd.DataFrame]:
        from flowsentinel.capture import FlowStreamer, LiveSource, flows_to_frame

        self._live = LiveSource(self.name, bpf_filter=self.bpf_filter)
        if self._stop.is_set():  # stopped while the capture was opening
            self._live.stop()
        self._streamer = FlowStreamer(self._live, profile=self.profile, closed_wait_s=self.closed_wait_s)
        for chunk in self._streamer:
            yield _finish(flows_to_frame(chunk))

    def check(self) -> None:
        """Open the interface (and the BPF filter) once: LiveCaptureError says why it cannot be captured."""
        from flowsentinel.capture import LiveSource

        LiveSource(self.name, bpf_filter=self.bpf_filter).close()

    def stop(self) -> None:
        """End the capture; the open flows still come out of :meth:`frames` (the meter's flush)."""
        super().stop()
        if self._live is not None:
            self._live.stop()

    async def frames(self) -> AsyncIterator[pd.DataFrame]:
        async for frame in _in_thread(self._chunks, self._abandon):
            for part in _split(frame):
                yield part


def _number(spec: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SourceError(f"source {spec!r}: {what} {text!r} is not a number") from None
    if not value > 0 or not np.isfinite(value):
        raise SourceError(f"source {spec!r}: {what} must be a positive number, got {text!r}")
    return value


def parse_source(spec: str | None, closed_wait_s: float | None = None, bpf: str | None = None) -> FlowSource:
    """Build the source a ``--source`` spec names (see the module docstring).

    ``closed_wait_s`` and ``bpf`` (a pcap-filter expression) go to the sources that meter
    packets (``pcap:``, ``iface:``); a filter for any other source is an error.

    Raises
    ------
    SourceError
        Naming the spec and what was expected; files are checked to exist now.
    """
    spec = (spec or "simulate").strip()
    kind, _, rest = spec.partition(":")
    if bpf and kind not in ("pcap", "iface"):
        raise SourceError(f"source {spec!r}: a BPF filter ({bpf!r}) applies to packets, i.e. to pcap: and "
                          "iface: sources only")
    if kind == "simulate":
        if not rest:
            return SimulateSource(spec)
        try:
            return SimulateSource(spec, seed=int(rest))
        except ValueError:
            raise SourceError(f"source {spec!r}: the seed must be an integer, e.g. simulate:7") from None
    if kind == "replay":
        loop = rest.endswith(",loop")
        body = rest[: -len(",loop")] if loop else rest
        path, at, rate = body.rpartition("@") if "@" in body else (body, "", "")
        if not path:
            raise SourceError(f"source {spec!r}: expected replay:FILE[@RATE][,loop]")
        return ReplaySource(path, _number(spec, rate, "the rate") if at else None, loop=loop, spec=spec)
    if kind == "pcap":
        path, at, speed = rest.rpartition("@") if "@" in rest else (rest, "", "")
        if not path:
            raise SourceError(f"source {spec!r}: expected pcap:FILE[@SPEED]")
        return PcapSource(path, _number(spec, speed, "the speed") if at else None, spec=spec,
                          closed_wait_s=closed_wait_s, bpf=bpf)
    if kind == "iface":
        return InterfaceSource(rest, spec=spec, closed_wait_s=closed_wait_s, bpf_filter=bpf)
    raise SourceError(f"unknown source {spec!r}; expected simulate[:SEED], replay:FILE[@RATE][,loop], "
                      "pcap:FILE[@SPEED] or iface:NAME")
