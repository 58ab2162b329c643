"""The pipeline end to end (no HTTP): every flow scored or counted, backpressure, shedding, fan-out."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from flowsentinel.stream import AlertStore, FlowBuffer, FlowSource, Hub, Pipeline, Update
from flowsentinel.stream.sources import ReplaySource


async def _run(bundle, source, store, **kw):
    pipe = Pipeline(bundle, source, store, **kw)
    await pipe.start()
    await asyncio.wait_for(pipe.done.wait(), 120)
    await pipe.stop()
    return pipe


def test_every_flow_is_scored_stored_and_counted(tmp_path, bundle, replay_path):
    store = AlertStore(tmp_path / "p.db")
    depths = []
    pipe = Pipeline(bundle, ReplaySource(replay_path), store, batch_max=256, queue_capacity=1000)
    hub_sub = pipe.hub.subscribe()
    pipe.hub.mailbox = 10_000
    hub_sub.maxsize = 10_000

    async def go():
        await pipe.start()
        while not pipe.done.is_set():
            depths.append(pipe.buffer.depth)
            await asyncio.sleep(0.001)
        await pipe.stop()

    asyncio.run(go())
    s = pipe.snapshot()
    n = len(pd.read_csv(replay_path, usecols=["Label"]))
    assert s["flows_in"] == s["flows_scored"] == n and s["flows_shed"] == 0
    assert s["source"]["state"] == "finished" and s["source"]["labelled"]
    assert max(depths) <= 1000  # backpressure kept the queue bounded
    assert s["batches"] >= n / 256 and s["batch_size_mean"] <= 256
    for name, det in s["detectors"].items():
        c = det["confusion"]
        assert sum(c.values()) == n
        assert det["f1"] == pytest.approx(2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]))
        assert det["precision"] == pytest.approx(c["tp"] / (c["tp"] + c["fp"]))
        assert sum(det["histogram"]) == n and len(det["histogram"]) == 20
        assert det["latency_ms_p50"] <= det["latency_ms_p99"]
    assert s["alerts"] == store.count_alerts() == sum(s["alerts_by_family"].values())
    updates = hub_sub.drain()
    assert sum(u.n_flows for u in updates) == n
    seqs = [v["seq"] for u in updates for v in u.verdicts]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ids = [a["id"] for u in updates for a in u.alerts]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) == s["alerts"]
    stored = store.get_alert(ids[-1])
    assert stored is not None and stored["seq"] == updates[-1].alerts[-1]["seq"]
    # batches are scored two at a time but stored in flow order: seq i is the file's row i
    kept = store.recent_verdicts(n)[::-1]
    file_ids = pd.read_csv(replay_path, usecols=["Flow ID"])["Flow ID"].tolist()
    assert [v["seq"] for v in kept] == list(range(n)) and [v["flow_id"] for v in kept] == file_ids
    store.close()


class _FastLive(FlowSource):
    """A live source that never waits: frames as fast as the loop turns."""

    kind, live, labelled = "frames", True, True

    def __init__(self, frame: pd.DataFrame, n_frames: int) -> None:
        super().__init__("test-live")
        self.frame, self.n_frames = frame, n_frames

    async def frames(self):
        for _ in range(self.n_frames):
            yield self.frame
            await asyncio.sleep(0)


def test_a_live_source_is_shed_and_counted_when_scoring_falls_behind(tmp_path, bundle, replay_path):
    src = ReplaySource(replay_path)
    frame = src.load().head(500)
    store = AlertStore(tmp_path / "s.db", verdict_window=0)
    pipe = Pipeline(bundle, _FastLive(frame, 60), store, batch_max=500, queue_capacity=1000)
    real = pipe.scorer.score

    def slow(*args, **kw):
        time.sleep(0.02)
        return real(*args, **kw)

    pipe.scorer.score = slow
    asyncio.run(_run_pipe(pipe))
    s = pipe.snapshot()
    assert s["flows_in"] == 60 * 500
    assert s["flows_shed"] > 0
    assert s["flows_in"] == s["flows_scored"] + s["flows_shed"]  # nothing lost without a count
    store.close()


async def _run_pipe(pipe):
    await pipe.start()
    await asyncio.wait_for(pipe.done.wait(), 120)
    await pipe.stop()


def test_buffer_closes_a_batch_at_n_flows_or_t_ms():
    frame = pd.DataFrame({"x": np.arange(10)})

    async def go():
        buf = FlowBuffer(100)
        await buf.put(frame, 1.0)
        await buf.put(frame, 2.0)
        frames, ingest = await buf.take(15, 10.0)  # N reached: no waiting for T
        assert sum(map(len, frames)) == 15 and ingest.tolist() == [1.0] * 10 + [2.0] * 5
        frames, ingest = await buf.take(15, 0.01)  # T passed with 5 flows
        assert sum(map(len, frames)) == 5 and buf.depth == 0
        assert await buf.offer(pd.DataFrame({"x": np.arange(150)}), 3.0) == 50
        assert buf.depth == 100
        await buf.close()
        frames, _ = await buf.take(1000, 0.01)
        assert sum(map(len, frames)) == 100
        assert await buf.take(10, 0.01) is None

    asyncio.run(go())


def test_a_stuck_subscriber_loses_counted_updates_and_blocks_no_one():
    hub = Hub(mailbox=3)
    stuck, reader = hub.subscribe(), hub.subscribe()
    got = []
    for i in range(10):
        hub.publish(Update(t=float(i), n_flows=5, n_alerts=1, verdicts=[], alerts=[{"id": i}]))
        got += reader.drain()
    assert len(got) == 10
    assert stuck.pending() == 3 and stuck.dropped == 7 * 5 and stuck.dropped_alerts == 7
    assert hub.dropped == 35
    hub.unsubscribe(stuck)
    assert len(hub) == 1


class _Capture(FlowSource):
    """Like a live interface: after ``stop`` it still yields the flows its meter held (``tail``),
    a little later, then ends; or, with ``hang``, never ends."""

    kind, live, labelled, drains = "frames", True, True, True

    def __init__(self, frame: pd.DataFrame, tail: pd.DataFrame, hang: bool = False) -> None:
        super().__init__("test-capture")
        self.frame, self.tail, self.hang = frame, tail, hang

    async def frames(self):
        while not self._stop.is_set():
            yield self.frame
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the meter's flush
        yield self.tail
        while self.hang:
            await asyncio.sleep(1)


class _Sleepy(FlowSource):
    """A source that hands over one frame and then sleeps a long time (the simulator between windows)."""

    kind, live, labelled = "frames", True, True

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__("test-sleepy")
        self.frame = frame

    async def frames(self):
        yield self.frame
        await asyncio.sleep(600)


def _frames(replay_path):
    frame = ReplaySource(replay_path).load()
    return frame.iloc[:200].reset_index(drop=True), frame.iloc[200:260].reset_index(drop=True)


def test_stop_scores_what_a_draining_source_yields_after_it(tmp_path, bundle, replay_path):
    """A live interface's flows still open at a stop are written then: they are scored and stored."""
    head, tail = _frames(replay_path)
    store = AlertStore(tmp_path / "d.db")
    pipe = Pipeline(bundle, _Capture(head, tail), store)

    async def go():
        await pipe.start()
        while pipe.stats.flows_scored < 3 * len(head):
            await asyncio.sleep(0.02)
        await pipe.stop()

    asyncio.run(go())
    s = pipe.snapshot()
    assert s["flows_in"] == s["flows_scored"] and s["flows_in"] % len(head) == len(tail)
    newest = store.recent_verdicts(len(tail))[::-1]
    assert [v["flow_id"] for v in newest] == tail["Flow ID"].tolist()
    store.close()


def test_stop_does_not_wait_out_a_sleeping_source_and_keeps_what_it_took(tmp_path, bundle, replay_path):
    head, _ = _frames(replay_path)
    store = AlertStore(tmp_path / "e.db")
    pipe = Pipeline(bundle, _Sleepy(head), store, batch_ms=5000.0)  # the frame waits in the buffer

    async def go():
        await pipe.start()
        while pipe.stats.flows_in < len(head):
            await asyncio.sleep(0.02)
        t = time.monotonic()
        await pipe.stop(drain_s=30)
        return time.monotonic() - t

    took = asyncio.run(go())
    assert took < 10  # not the source's 600 s sleep, nor the 30 s drain limit
    s = pipe.snapshot()
    assert s["flows_in"] == s["flows_scored"] == len(head)
    assert len(store.recent_verdicts(1000)) == len(head)
    store.close()


def test_a_drain_that_never_ends_is_cut_off_and_logged(tmp_path, bundle, replay_path, caplog):
    head, tail = _frames(replay_path)
    store = AlertStore(tmp_path / "f.db")
    pipe = Pipeline(bundle, _Capture(head, tail, hang=True), store)

    async def go():
        await pipe.start()
        while pipe.stats.flows_scored < len(head):
            await asyncio.sleep(0.02)
        await pipe.stop(drain_s=1.0)

    asyncio.run(go())
    assert pipe.snapshot()["flows_scored"] % len(head) == len(tail)  # the tail came in time
    assert "did not finish within 1 s; 0 flow(s)" in caplog.text
    store.close()
