"""Running statistics of the live pipeline: the Stats object of docs/live.md.

Everything is bounded: rates and percentiles come from fixed-length windows
of per-batch samples, confusion counts are four integers per detector.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel import schema
from flowsentinel.stream.record import VerdictBatch

__all__ = ["HISTOGRAM_BINS", "PipelineStats", "weighted_percentile"]

HISTOGRAM_BINS = 20
_RATE_WINDOW_S = 5.0
_HIST_WINDOW_S = 60.0
_LATENCY_BATCHES = 500


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float | None:
    """The ``q``-th percentile (0–100) of ``values`` each repeated ``weights`` times."""
    if len(values) == 0 or weights.sum() <= 0:
        return None
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, q / 100.0 * cum[-1], side="left"))
    return float(values[order][min(k, len(values) - 1)])


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


class _Detector:
    def __init__(self) -> None:
        self.latency: deque[tuple[float, int]] = deque(maxlen=_LATENCY_BATCHES)
        self.hist: deque[tuple[float, np.ndarray]] = deque(maxlen=5000)
        self.busy_s = 0.0
        self.flows = 0
        self.alerts = 0
        self.confusion = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}


class PipelineStats:
    """Counters and windows the pipeline updates once per batch (event-loop thread only)."""

    def __init__(self, detectors: tuple[str, ...]) -> None:
        self.started = time.time()
        self._t0 = time.monotonic()
        self.detectors = detectors
        self.flows_in = 0
        self.flows_scored = 0
        self.flows_shed = 0
        self.batches = 0
        self.alerts = 0
        self.disagreements = 0
        self.labelled_flows = 0
        self.alerts_by_family: dict[str, int] = {}
        self._det = {d: _Detector() for d in detectors}
        self._rate: deque[tuple[float, int]] = deque()

    def observe(self, batch: VerdictBatch) -> None:
        """Fold a scored batch into the statistics."""
        now = time.monotonic()
        n = len(batch)
        self.flows_scored += n
        self.batches += 1
        self._rate.append((now, self.flows_scored))
        while self._rate and self._rate[0][0] < now - 2 * _RATE_WINDOW_S:
            self._rate.popleft()
        n_alerts = len(batch.alert_rows)
        self.alerts += n_alerts
        self.disagreements += int((~batch.agreement).sum())
        truth = None
        if batch.family is not None:
            known = pd.notna(batch.family)
            truth = known & (batch.family != schema.NORMAL)
            self.labelled_flows += int(known.sum())
        for f, c in batch.alerts_by_family().items():
            self.alerts_by_family[f] = self.alerts_by_family.get(f, 0) + c
        for j, name in enumerate(self.detectors):
            det = self._det[name]
            s = batch.scores[:, j]
            flags = batch.flags[:, j]
            det.flows += n
            det.alerts += int(flags.sum())
            det.busy_s += float(batch.latency_ms[j]) / 1e3
            det.latency.append((float(batch.latency_ms[j]), n))
            det.hist.append((now, np.bincount(np.clip((s * HISTOGRAM_BINS).astype(np.int64), 0,
                                                      HISTOGRAM_BINS - 1), minlength=HISTOGRAM_BINS)))
            while det.hist and det.hist[0][0] < now - _HIST_WINDOW_S:
                det.hist.popleft()
            if truth is not None:
                c = det.confusion
                kn_t, kn_f = truth & known, ~truth & known
                c["tp"] += int((flags & kn_t).sum())
                c["fn"] += int((~flags & kn_t).sum())
                c["fp"] += int((flags & kn_f).sum())
                c["tn"] += int((~flags & kn_f).sum())

    def flows_per_s(self) -> float:
        now = time.monotonic()
        window = min(_RATE_WINDOW_S, now - self._t0)
        if window <= 0:
            return 0.0
        base = 0
        for t, cum in self._rate:
            if t < now - window:
                base = cum
            else:
                break
        return (self.flows_scored - base) / window

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """The Stats object (docs/live.md); ``extra`` supplies source, queue and WebSocket fields."""
        rate = self.flows_per_s()
        labelled = self.labelled_flows > 0
        detectors = {}
        for name in self.detectors:
            det = self._det[name]
            lat = np.array([v for v, _ in det.latency]) if det.latency else np.zeros(0)
            w = np.array([n for _, n in det.latency], dtype=np.float64) if det.latency else np.zeros(0)
            hist = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
            for _, h in det.hist:
                hist += h
            c = det.confusion
            precision = _ratio(c["tp"], c["tp"] + c["fp"])
            recall = _ratio(c["tp"], c["tp"] + c["fn"])
            f1 = (2 * precision * recall / (precision + recall)
                  if precision is not None and recall is not None and precision + recall > 0 else None)
            p50, p99 = weighted_percentile(lat, w, 50), weighted_percentile(lat, w, 99)
            detectors[name] = {
                "flows_per_s": rate,
                "capacity_flows_per_s": det.flows / det.busy_s if det.busy_s > 0 else None,
                "latency_ms_p50": None if p50 is None else round(p50, 3),
                "latency_ms_p99": None if p99 is None else round(p99, 3),
                "alerts": det.alerts,
                "histogram": hist.tolist(),
                "confusion": dict(c) if labelled else None,
                "precision": precision if labelled else None,
                "recall": recall if labelled else None,
                "f1": f1 if labelled else None,
            }
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "source": extra.get("source"),
            "flows_in": self.flows_in, "flows_scored": self.flows_scored, "flows_shed": self.flows_shed,
            "flows_per_s": rate,
            "queue_depth": extra.get("queue_depth", 0), "queue_capacity": extra.get("queue_capacity", 0),
            "batches": self.batches,
            "batch_size_mean": self.flows_scored / self.batches if self.batches else 0.0,
            "alerts": self.alerts, "alerts_by_family": dict(self.alerts_by_family),
            "disagreements": self.disagreements,
            "ws_clients": extra.get("ws_clients", 0), "ws_dropped": extra.get("ws_dropped", 0),
            "detectors": detectors,
        }
