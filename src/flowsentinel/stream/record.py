"""The one verdict record, and the columnar batch the pipeline keeps it in.

:class:`Verdict` is the record of one scored flow; ``Verdict.to_dict()`` is the
JSON shape of ``docs/live.md`` that the store, the WebSocket, ``POST
/api/v1/score`` and every exporter use.  The pipeline scores thousands of flows
per second, so it holds a batch's verdicts column-wise in a
:class:`VerdictBatch` and builds ``Verdict`` objects only for the flows that
leave as JSON (alerts, the newest verdicts of a WebSocket frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel import schema

__all__ = ["TOP_FEATURES", "Verdict", "VerdictBatch", "build_batch", "epoch_seconds", "top_features"]

#: How many features an alert's explanation lists.
TOP_FEATURES = 5


def _num(x: Any) -> float | None:
    """A finite float, or None (JSON has no NaN/Infinity)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Verdict:
    """Every detector's verdict on one flow (see docs/live.md, "The verdict record")."""

    seq: int | None
    flow_id: str | None
    src_ip: str | None
    src_port: int | None
    dst_ip: str | None
    dst_port: int | None
    protocol: int | None
    timestamp: float | None
    ingest_ts: float
    scored_ts: float
    scores: dict[str, float]
    verdicts: dict[str, bool]
    latency_ms: dict[str, float]
    label: str | None = None
    family: str | None = None
    agreement: bool = field(init=False)
    alert: bool = field(init=False)

    def __post_init__(self) -> None:
        v = list(self.verdicts.values())
        self.agreement = all(v) or not any(v)
        self.alert = any(v)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-able dict, keys in the documented order."""
        return {
            "seq": self.seq, "flow_id": self.flow_id,
            "src_ip": self.src_ip, "src_port": self.src_port, "dst_ip": self.dst_ip,
            "dst_port": self.dst_port, "protocol": self.protocol,
            "timestamp": self.timestamp, "ingest_ts": self.ingest_ts, "scored_ts": self.scored_ts,
            "scores": self.scores, "verdicts": self.verdicts, "latency_ms": self.latency_ms,
            "label": self.label, "family": self.family,
            "agreement": self.agreement, "alert": self.alert,
        }


def epoch_seconds(values: pd.Series | np.ndarray | list) -> np.ndarray:
    """Flow start times → float64 epoch seconds (NaN where unknown).

    Accepts numbers (already epoch seconds) or the datetime text the meter and
    both releases write (``2017-07-07 13:39:36.267908``, ``7/7/2017 3:30``),
    read as UTC.
    """
    s = pd.Series(values)
    if len(s) == 0:
        return np.zeros(0, dtype=np.float64)
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    out = ((parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64,
                                                                                    na_value=np.nan)
    return out


def _column(frame: pd.DataFrame, name: str, n: int, kind: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(n, None, dtype=object)
    col = frame[name]
    if kind == "int":
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    out = col.to_numpy(dtype=object)
    if col.hasnans:
        out = np.where(pd.isna(out), None, out)
    return out


def top_features(X: np.ndarray, weights: np.ndarray | None, k: int = TOP_FEATURES
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The features that drove each flow's verdict.

    Parameters
    ----------
    X : ndarray (n_flows, n_features)
        Scaled values (the bundle transform's output).
    weights : ndarray (n_features,) or None
        The forest's feature importances; None ranks by |scaled value| alone.
    k : int

    Returns
    -------
    idx : ndarray of int (n_flows, k)
        Feature indices, strongest first.
    score : ndarray (n_flows, k)
        |scaled value| × importance of each.
    """
    n, f = X.shape
    k = min(k, f)
    w = np.abs(X, dtype=np.float32) if weights is None else np.abs(X) * weights.astype(np.float32)[None, :]
    idx = np.zeros((n, k), dtype=np.int64)
    vals = np.zeros((n, k), dtype=np.float64)
    rows = np.arange(n)
    for t in range(k):  # k rounds of argmax: much faster than a per-row partition for small k
        j = w.argmax(axis=1)
        idx[:, t] = j
        vals[:, t] = w[rows, j]
        w[rows, j] = -1.0
    return idx, vals


@dataclass
class VerdictBatch:
    """The verdicts of one scored micro-batch, column-wise.

    Shapes: ``n`` flows, ``d`` detectors; ``scores`` is (n, d) in ``detectors``
    order, ``latency_ms`` (d,) — the time each detector took on the batch.
    ``alert_rows`` indexes the flows any detector flagged; ``features`` (raw
    values, bundle feature order) and ``top_idx``/``top_weight``/``top_z`` are
    kept for those rows only.
    """

    seq0: int
    detectors: tuple[str, ...]
    thresholds: np.ndarray
    features: tuple[str, ...]
    flow_id: np.ndarray
    src_ip: np.ndarray
    src_port: np.ndarray
    dst_ip: np.ndarray
    dst_port: np.ndarray
    protocol: np.ndarray
    timestamp: np.ndarray
    ingest_ts: np.ndarray
    scored_ts: float
    scores: np.ndarray
    latency_ms: np.ndarray
    label: np.ndarray | None
    family: np.ndarray | None
    alert_rows: np.ndarray
    alert_features: np.ndarray
    top_idx: np.ndarray
    top_weight: np.ndarray
    top_z: np.ndarray
    flags: np.ndarray = field(init=False)
    alert: np.ndarray = field(init=False)
    agreement: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.flags = self.scores >= self.thresholds[None, :]
        self.alert = self.flags.any(axis=1)
        self.agreement = self.flags.all(axis=1) | ~self.alert

    def __len__(self) -> int:
        return len(self.ingest_ts)

    @property
    def labelled(self) -> bool:
        return self.family is not None

    def verdict(self, i: int) -> Verdict:
        """The record of flow ``i`` of this batch."""
        def opt_int(a: np.ndarray) -> int | None:
            v = a[i]
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)

        return Verdict(
            seq=self.seq0 + i if self.seq0 >= 0 else None,
            flow_id=self.flow_id[i], src_ip=self.src_ip[i], src_port=opt_int(self.src_port),
            dst_ip=self.dst_ip[i], dst_port=opt_int(self.dst_port), protocol=opt_int(self.protocol),
            timestamp=_num(self.timestamp[i]), ingest_ts=float(self.ingest_ts[i]), scored_ts=self.scored_ts,
            scores={d: float(self.scores[i, j]) for j, d in enumerate(self.detectors)},
            verdicts={d: bool(self.flags[i, j]) for j, d in enumerate(self.detectors)},
            latency_ms={d: round(float(self.latency_ms[j]), 3) for j, d in enumerate(self.detectors)},
            label=None if self.label is None else self.label[i],
            family=None if self.family is None else self.family[i],
        )

    def to_dicts(self, rows: np.ndarray | range | None = None) -> list[dict[str, Any]]:
        """Verdict dicts of the given rows (all by default)."""
        rows = range(len(self)) if rows is None else rows
        return [self.verdict(int(i)).to_dict() for i in rows]

    def top_features_of(self, a: int) -> list[dict[str, Any]]:
        """Explanation of the ``a``-th alert of this batch (index into ``alert_rows``)."""
        return [{"name": self.features[int(j)], "value": _num(self.alert_features[a, int(j)]),
                 "z": round(float(self.top_z[a, t]), 4), "weight": round(float(self.top_weight[a, t]), 6)}
                for t, j in enumerate(self.top_idx[a])]


def build_batch(frame: pd.DataFrame, *, seq0: int, ingest_ts: np.ndarray, scored_ts: float,
                detectors: tuple[str, ...], thresholds: np.ndarray, scores: np.ndarray,
                latency_ms: np.ndarray, X: np.ndarray, raw: np.ndarray, features: tuple[str, ...],
                importances: np.ndarray | None) -> VerdictBatch:
    """Assemble a :class:`VerdictBatch` from a scored canonical frame.

    Parameters
    ----------
    frame : DataFrame (n_flows, ...)
        Canonical flows (identifiers optional; ``Label``/``Family`` when labelled).
    X : ndarray (n_flows, n_features)
        The transform's output, used for the alerts' explanations.
    raw : ndarray (n_flows, n_features)
        The raw feature values, kept for the alerts.
    scores : ndarray (n_flows, n_detectors)
    """
    n = len(frame)
    flags = scores >= thresholds[None, :]
    alert_rows = np.flatnonzero(flags.any(axis=1))
    Xa = X[alert_rows]
    idx, weight = top_features(Xa, importances)
    z = np.take_along_axis(Xa, idx, axis=1) if len(alert_rows) else np.zeros(idx.shape)
    family = None
    label = None
    if schema.FAMILY in frame.columns:
        family = _column(frame, schema.FAMILY, n, "text")
        label = _column(frame, schema.LABEL, n, "text")
    ts = frame["_ts"].to_numpy(dtype=np.float64) if "_ts" in frame.columns else (
        epoch_seconds(frame["Timestamp"]) if "Timestamp" in frame.columns else np.full(n, np.nan))
    return VerdictBatch(
        seq0=seq0, detectors=detectors, thresholds=thresholds, features=features,
        flow_id=_column(frame, "Flow ID", n, "text"), src_ip=_column(frame, "Src IP", n, "text"),
        src_port=_column(frame, "Src Port", n, "int"), dst_ip=_column(frame, "Dst IP", n, "text"),
        dst_port=_column(frame, "Dst Port", n, "int"), protocol=_column(frame, "Protocol", n, "int"),
        timestamp=ts, ingest_ts=ingest_ts, scored_ts=scored_ts, scores=scores, latency_ms=latency_ms,
        label=label, family=family, alert_rows=alert_rows, alert_features=raw[alert_rows],
        top_idx=idx, top_weight=weight, top_z=z,
    )
