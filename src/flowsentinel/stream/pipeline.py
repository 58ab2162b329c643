"""The live pipeline: source → bounded buffer → micro-batches → every detector → store → hub.

Stages (asyncio tasks, one event loop)::

    ingest ──► FlowBuffer (≤ capacity flows) ──► batcher ──► 2 scorer threads
           ──► in-flight queue (≤ 3 batches, in order) ──► sink: store thread (commit) ──► hub.publish

* A batch closes when it holds ``batch_max`` flows or its first flow has
  waited ``batch_ms`` milliseconds.
* Scoring (the bundle's one transform, then each detector, timed, then the
  store's statement rows) runs in two worker threads and the SQLite commit in
  a third, never on the event loop; they overlap: batches k+1 and k+2 are
  scored while batch k is committed.  ONNX Runtime releases the GIL, so two scorers use both cores
  of a small machine (one scorer left most of the second core idle: 1.3
  cores busy at saturation).  The sink awaits the batches in the order they
  were taken, so they are committed and published in flow order.
* Every queue is bounded.  When scoring falls behind, a source that can wait
  (a file, the simulator) is slowed: ``ingest`` awaits room.  A live
  interface cannot wait, so what does not fit is shed and counted
  (``flows_shed``).  Nothing is dropped without a count.
* Alerts are committed to the store before they are published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel.models.bundle import Bundle
from flowsentinel.stream.hub import Hub, Update
from flowsentinel.stream.record import VerdictBatch, build_batch
from flowsentinel.stream.sources import FlowSource
from flowsentinel.stream.stats import PipelineStats
from flowsentinel.stream.store import AlertStore

__all__ = ["FlowBuffer", "Pipeline", "Scorer"]

log = logging.getLogger(__name__)

#: Per-frame limits of the WebSocket protocol (docs/live.md).
FRAME_VERDICTS = 100
FRAME_ALERTS = 500
#: Batches scored at once (each in its own thread; the order of commits is kept).
SCORE_THREADS = 2


class FlowBuffer:
    """A bounded FIFO of flow frames, counted in flows.

    ``put`` waits for room (backpressure); ``offer`` never waits and returns
    how many flows it had to shed.  ``take`` returns a batch once ``max_flows``
    are there or the oldest waiting flow has waited ``max_wait_s``.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[tuple[pd.DataFrame, float, float]] = deque()  # frame, ingest_ts, monotonic
        self.depth = 0
        self._closed = False
        self._cond = asyncio.Condition()

    async def put(self, frame: pd.DataFrame, ingest_ts: float) -> None:
        """Add a frame, waiting until there is room for it (a frame over capacity goes in parts)."""
        for i in range(0, len(frame), self.capacity):
            part = frame.iloc[i:i + self.capacity] if len(frame) > self.capacity else frame
            n = len(part)
            async with self._cond:
                await self._cond.wait_for(lambda n=n: self.depth + n <= self.capacity)
                self._append(part, ingest_ts)

    async def offer(self, frame: pd.DataFrame, ingest_ts: float) -> int:
        """Add what fits without waiting; returns the number of flows shed."""
        async with self._cond:
            room = self.capacity - self.depth
            if room <= 0:
                return len(frame)
            shed = max(len(frame) - room, 0)
            self._append(frame.iloc[: len(frame) - shed] if shed else frame, ingest_ts)
            return shed

    def _append(self, frame: pd.DataFrame, ingest_ts: float) -> None:
        self._items.append((frame, ingest_ts, time.monotonic()))
        self.depth += len(frame)
        self._cond.notify_all()

    async def close(self) -> None:
        async with self._cond:
            self._closed = True
            self._cond.notify_all()

    async def take(self, max_flows: int, max_wait_s: float) -> tuple[list[pd.DataFrame], np.ndarray] | None:
        """The next batch: frames and one ingest time per flow; None once closed and empty."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.depth > 0 or self._closed)
            if self.depth == 0:
                return None
            deadline = self._items[0][2] + max_wait_s
            while self.depth < max_flows and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._cond.wait(), left)
                except TimeoutError:
                    break
            frames, stamps, n = [], [], 0
            while self._items and n < max_flows:
                frame, ts, t_in = self._items[0]
                take = min(len(frame), max_flows - n)
                if take == len(frame):
                    self._items.popleft()
                else:
                    self._items[0] = (frame.iloc[take:], ts, t_in)
                    frame = frame.iloc[:take]
                frames.append(frame)
                stamps.append(np.full(take, ts))
                n += take
            self.depth -= n
            self._cond.notify_all()
            return frames, np.concatenate(stamps)


class Scorer:
    """Scores a canonical frame with every detector of a bundle; thread-safe.

    Transforms once with the bundle's fitted transform (the one used in
    training), then times each detector's ``score`` on the batch.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.detectors = tuple(bundle.detectors)
        self.thresholds = np.array([bundle.detectors[d].threshold_ for d in self.detectors], dtype=np.float64)
        self.features = tuple(bundle.features)
        self.importances = None
        for det in bundle.detectors.values():
            imp = getattr(det, "feature_importances_", None)
            if imp is not None and len(imp) == len(self.features):
                self.importances = np.asarray(imp, dtype=np.float64)
                break
        self.warm_up()

    def warm_up(self) -> None:
        """Score a few zero rows with every detector once, so that ONNX Runtime's first-run set-up
        (hundreds of ms) is not charged to the first live batch and its latency."""
        X = np.zeros((8, len(self.features)), dtype=np.float32)
        for name in self.detectors:
            self.bundle.detectors[name].score(X)

    def score(self, frame: pd.DataFrame, ingest_ts: np.ndarray, seq0: int = -1) -> VerdictBatch:
        """Score ``frame`` (n_flows rows) → :class:`VerdictBatch`."""
        t0 = time.perf_counter()
        if all(f in frame.columns for f in self.features):
            raw = frame[list(self.features)].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            raw = None
        X = self.bundle.transform.transform(raw if raw is not None else frame)  # names what is missing
        t_transform = time.perf_counter() - t0
        scores = np.empty((len(frame), len(self.detectors)), dtype=np.float64)
        latency = np.empty(len(self.detectors))
        for j, name in enumerate(self.detectors):
            t = time.perf_counter()
            scores[:, j] = self.bundle.detectors[name].score(X)
            # the shared transform is charged to every detector: each needs it
            latency[j] = (time.perf_counter() - t + t_transform) * 1e3
        return build_batch(frame, seq0=seq0, ingest_ts=ingest_ts, scored_ts=time.time(),
                           detectors=self.detectors, thresholds=self.thresholds, scores=scores,
                           latency_ms=latency, X=X, raw=raw, features=self.features,
                           importances=self.importances)


@dataclass
class LiveView:
    """What a scored batch can show live: its newest verdicts and newest alerts, cut out of it.

    Cut in the scoring thread (numpy only), so an update holds at most
    ``FRAME_VERDICTS + FRAME_ALERTS`` flows however large the batch; turned into
    dicts only if a frame needs them (:class:`~flowsentinel.stream.hub.Update`).
    """

    batch: VerdictBatch   # the cut-down batch
    rows: np.ndarray      # each kept flow's row in the original batch
    vsel: np.ndarray      # positions (in the cut) of the newest verdicts
    aidx: np.ndarray      # indices of the kept alerts among the original batch's alerts
    n_flows: int
    n_alerts: int

    @classmethod
    def of(cls, batch: VerdictBatch) -> LiveView:
        n, n_alerts = len(batch), len(batch.alert_rows)
        newest = np.arange(max(0, n - FRAME_VERDICTS), n)
        aidx = np.arange(max(0, n_alerts - FRAME_ALERTS), n_alerts)
        rows = np.union1d(newest, batch.alert_rows[aidx]).astype(np.int64)
        return cls(batch.subset(rows, aidx), rows, np.searchsorted(rows, newest), aidx, n, n_alerts)

    def numbered(self, seq0: int, first_alert_id: int, scored_ts: float) -> Update:
        """The update of the committed batch (its first flow numbered ``seq0``)."""
        def build() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            b = self.batch
            verdicts = b.to_dicts(self.vsel, seq=(self.rows[self.vsel] + seq0).tolist())
            apos = b.alert_rows
            alerts = b.to_dicts(apos, seq=(self.rows[apos] + seq0).tolist())
            tops = b.top_features_many(list(range(len(apos))))
            for d, top, a in zip(alerts, tops, self.aidx.tolist()):
                d.update(id=first_alert_id + a, status="new", note=None, updated_at=None, top_features=top)
            return verdicts, alerts

        return Update(t=scored_ts, n_flows=self.n_flows, n_alerts=self.n_alerts, build=build)


def make_update(batch: VerdictBatch, first_alert_id: int) -> Update:
    """The live view of a committed batch: its newest verdicts and its alerts, with their store ids."""
    return LiveView.of(batch).numbered(batch.seq0, first_alert_id, batch.scored_ts)


class Pipeline:
    """Runs a source through the bundle's detectors into the store and the hub.

    Parameters
    ----------
    bundle : Bundle
    source : FlowSource
    store : AlertStore
    hub : Hub, optional
    batch_max : int
        A batch closes at this many flows …
    batch_ms : float
        … or when its first flow has waited this long.
    queue_capacity : int
        Flows the ingest buffer holds at most.
    """

    def __init__(self, bundle: Bundle, source: FlowSource, store: AlertStore, hub: Hub | None = None, *,
                 batch_max: int = 4096, batch_ms: float = 20.0, queue_capacity: int = 50_000) -> None:
        if batch_max < 1 or batch_ms <= 0:
            raise ValueError(f"batch_max must be >= 1 and batch_ms > 0, got {batch_max}, {batch_ms}")
        self.bundle, self.source, self.store = bundle, source, store
        self.hub = hub if hub is not None else Hub()
        self.scorer = Scorer(bundle)
        self.batch_max, self.batch_ms = batch_max, batch_ms
        self.buffer: FlowBuffer | None = None
        self.queue_capacity = queue_capacity
        self.stats = PipelineStats(self.scorer.detectors)
        self.state = "starting"
        self.error: str | None = None
        self.run_id: int | None = None
        self._listeners: list[Callable[[VerdictBatch], None]] = []
        self._tasks: list[asyncio.Task] = []
        self._score_pool = ThreadPoolExecutor(SCORE_THREADS, thread_name_prefix="score")
        self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._inflight: asyncio.Queue | None = None
        self.done = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[VerdictBatch], None]) -> None:
        """Call ``fn(batch)`` on the event loop after each batch is committed (metrics exporters)."""
        self._listeners.append(fn)

    async def start(self) -> None:
        self.buffer = FlowBuffer(self.queue_capacity)
        self._inflight = asyncio.Queue(maxsize=SCORE_THREADS + 1)
        self.run_id = await asyncio.get_running_loop().run_in_executor(
            self._store_pool, lambda: self.store.start_run(
                detectors=self.scorer.detectors, thresholds=self.bundle.thresholds,
                features=self.scorer.features, bundle=str(self.bundle.path), source=self.source.spec))
        self.state = "running"
        self._ingest_task = asyncio.create_task(self._ingest(), name="ingest")
        self._tasks = [self._ingest_task, *(asyncio.create_task(c, name=n) for c, n in (
            (self._batcher(), "batcher"), (self._sink(), "sink")))]
        log.info("pipeline started: source %s, detectors %s", self.source.spec, ", ".join(self.scorer.detectors))

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop the source, score and commit what it has handed over, release the worker threads.

        What the source handed over is scored and committed — and from a source that
        ``drains`` (a live interface) also what it yields after the stop, the flows still
        open then, which its meter writes at the end — for at most ``drain_s`` seconds;
        flows still in the pipeline after that are dropped and counted in the log.
        """
        self.source.stop()
        if self._tasks and not self.source.drains:
            self._ingest_task.cancel()  # its buffer closes; batcher and sink finish what it holds
        if self._tasks and not self.done.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(self.done.wait()), drain_s)
            except TimeoutError:
                left = self.stats.flows_in - self.stats.flows_shed - self.stats.flows_scored
                log.warning("stopping: the pipeline did not finish within %.0f s; %d flow(s) taken in and not "
                            "yet scored are dropped", drain_s, left)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._score_pool.shutdown(wait=True)
        self._store_pool.shutdown(wait=True)
        if self.state == "running":
            self.state = "stopped"
        self.done.set()

    # --- stages -------------------------------------------------------------------------------

    async def _ingest(self) -> None:
        buf = self.buffer
        assert buf is not None
        try:
            async for frame in self.source.frames():
                n = len(frame)
                if not n:
                    continue
                self.stats.flows_in += n
                now = time.time()
                if self.source.live:
                    shed = await buf.offer(frame, now)
                    if shed:
                        self.stats.flows_shed += shed
                        log.debug("queue full: %d flows shed", shed)
                else:
                    await buf.put(frame, now)
            self.state = "finished"
            log.info("source %s finished after %d flows", self.source.spec, self.stats.flows_in)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source failure is shown in the stats, not a crash
            self.state, self.error = "error", f"{type(exc).__name__}: {exc}"
            log.error("source %s failed: %s", self.source.spec, self.error)
        finally:
            await buf.close()

    async def _batcher(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.buffer is not None and self._inflight is not None
        while True:
            got = await self.buffer.take(self.batch_max, self.batch_ms / 1e3)
            if got is None:
                await self._inflight.put(None)
                return
            frames, ingest = got
            fut = loop.run_in_executor(self._score_pool, self._score, frames, ingest)
            await self._inflight.put(fut)

    def _score(self, frames: list[pd.DataFrame], ingest: np.ndarray) -> tuple[VerdictBatch, LiveView, Any]:
        # concatenating many small frames is slow: it happens here, off the event loop
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        batch = self.scorer.score(frame, ingest)
        batch.alerts_by_family()  # counted here, off the event loop that reads it
        # the store's rows too: its one writer thread is what an alert flood waits on
        return batch, LiveView.of(batch), self.store.prepare(batch, self.run_id)

    def _commit(self, scored: tuple[VerdictBatch, LiveView, Any]) -> Update:
        batch, view, prepared = scored
        first = self.store.write_batch(batch, self.run_id, prepared)
        return view.numbered(batch.seq0, first, batch.scored_ts)

    async def _sink(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._inflight is not None
        while True:
            fut = await self._inflight.get()
            if fut is None:
                self.done.set()
                return
            try:
                scored = await fut
                update = await loop.run_in_executor(self._store_pool, self._commit, scored)
                batch = scored[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state, self.error = "error", f"{type(exc).__name__}: {exc}"
                log.exception("scoring or storing a batch failed; pipeline stopped")
                self.source.stop()
                self.done.set()
                return
            self.stats.observe(batch)
            self.hub.publish(update)
            for fn in self._listeners:
                try:
                    fn(batch)
                except Exception:  # an exporter must not stop the pipeline
                    log.exception("pipeline listener %r failed", fn)

    # --- views --------------------------------------------------------------------------------

    def source_info(self) -> dict[str, Any]:
        return {"spec": self.source.spec, "kind": self.source.kind, "state": self.state, "error": self.error,
                "labelled": bool(self.source.labelled), "live": self.source.live,
                "capture": self.source.capture_stats()}

    def snapshot(self) -> dict[str, Any]:
        """The Stats object (docs/live.md)."""
        return self.stats.snapshot(
            source=self.source_info(),
            queue_depth=self.buffer.depth if self.buffer else 0, queue_capacity=self.queue_capacity,
            ws_clients=len(self.hub), ws_dropped=self.hub.dropped)
