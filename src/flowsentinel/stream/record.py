"""The one verdict record, and the columnar batch the pipeline keeps it in.

:class:`Verdict` is the record of one scored flow; ``Verdict.to_dict()`` is the
JSON shape of ``docs/live.md`` that the store, the WebSocket, ``POST
/api/v1/score`` and every exporter use.  The pipeline scores thousands of flows
per second, so it holds a batch's verdicts column-wise in a
:class:`VerdictBatch` and builds ``Verdict`` objects only for the flows that
leave as JSON (alerts, the newest verdicts of a WebSocket frame).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel import schema

__all__ = ["TOP_FEATURES", "UNLABELLED", "Verdict", "VerdictBatch", "build_batch", "epoch_seconds", "top_features"]

#: How many features an alert's explanation lists.
TOP_FEATURES = 5
#: The family of alerts from a source without ground truth.
UNLABELLED = "unlabelled"


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
        return np.full(n, np.nan) if kind == "int" else np.full(n, None, dtype=object)
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

    def alerts_by_family(self) -> dict[str, int]:
        """How many of this batch's alerts fall in each family (``unlabelled`` without ground truth).

        Hash-counted once per batch (the scorer thread asks first); the statistics and
        the Prometheus exporter then read it on the event loop.
        """
        return self._alert_families

    @functools.cached_property
    def _alert_families(self) -> dict[str, int]:
        k = len(self.alert_rows)
        if not k:
            return {}
        if self.family is None:
            return {UNLABELLED: k}
        counts = pd.Series(self.family[self.alert_rows], dtype=object).fillna(UNLABELLED).value_counts()
        return {str(f): int(c) for f, c in counts.items()}

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

    def subset(self, rows: np.ndarray, alerts: np.ndarray) -> VerdictBatch:
        """The same batch cut down to ``rows`` (sorted) and, of its alerts, those at positions ``alerts``.

        Every alert among ``rows`` must be listed in ``alerts``.
        """
        pick = {name: getattr(self, name)[rows] for name in (
            "flow_id", "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "timestamp", "ingest_ts", "scores")}
        return VerdictBatch(
            seq0=self.seq0, detectors=self.detectors, thresholds=self.thresholds, features=self.features,
            scored_ts=self.scored_ts, latency_ms=self.latency_ms,
            label=None if self.label is None else self.label[rows],
            family=None if self.family is None else self.family[rows],
            alert_rows=np.searchsorted(rows, self.alert_rows[alerts]),
            alert_features=self.alert_features[alerts], top_idx=self.top_idx[alerts],
            top_weight=self.top_weight[alerts], top_z=self.top_z[alerts], **pick)

    def to_dicts(self, rows: np.ndarray | range | list | None = None,
                 seq: list[int] | None = None) -> list[dict[str, Any]]:
        """Verdict dicts of the given rows (all by default), built column-wise (same as ``verdict(i).to_dict()``).

        ``seq`` overrides the sequence numbers (for a :meth:`subset`).
        """
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return []
        dets = self.detectors
        lat = {d: round(float(self.latency_ms[j]), 3) for j, d in enumerate(dets)}

        def ints(a: np.ndarray) -> list:
            return [None if x is None or x != x else int(x) for x in a[rows].tolist()]

        def texts(a: np.ndarray | None) -> list:
            return [None] * len(rows) if a is None else a[rows].tolist()

        if seq is None:
            seq = (rows + self.seq0).tolist() if self.seq0 >= 0 else [None] * len(rows)
        stamp = [None if x != x or x in (float("inf"), float("-inf")) else x
                 for x in self.timestamp[rows].tolist()]
        scores = self.scores[rows].tolist()
        flags = self.flags[rows].tolist()
        cols = zip(seq, texts(self.flow_id), texts(self.src_ip), ints(self.src_port), texts(self.dst_ip),
                   ints(self.dst_port), ints(self.protocol), stamp, self.ingest_ts[rows].tolist(), scores, flags,
                   texts(self.label), texts(self.family), self.alert[rows].tolist(), self.agreement[rows].tolist())
        scored_ts = self.scored_ts
        return [{"seq": q, "flow_id": fid, "src_ip": sip, "src_port": sp, "dst_ip": dip, "dst_port": dp,
                 "protocol": pr, "timestamp": ts, "ingest_ts": it, "scored_ts": scored_ts,
                 "scores": dict(zip(dets, sc)), "verdicts": dict(zip(dets, fl)), "latency_ms": dict(lat),
                 "label": lb, "family": fm, "agreement": ag, "alert": al}
                for q, fid, sip, sp, dip, dp, pr, ts, it, sc, fl, lb, fm, al, ag in cols]

    def top_features_of(self, a: int) -> list[dict[str, Any]]:
        """Explanation of the ``a``-th alert of this batch (index into ``alert_rows``)."""
        return self.top_features_many([a])[0]

    def top_features_many(self, alerts: list[int]) -> list[list[dict[str, Any]]]:
        """Explanations of several alerts of this batch (indices into ``alert_rows``)."""
        if not alerts:
            return []
        names = self.features
        idx = self.top_idx[alerts]
        vals = np.take_along_axis(self.alert_features[alerts], idx, axis=1)
        vals = np.where(np.isfinite(vals), vals, np.nan).tolist()
        # in float64: a float32 rounded to 4 places still prints as 1.6999000310897827
        z = np.round(self.top_z[alerts].astype(np.float64), 4).tolist()
        w = np.round(self.top_weight[alerts].astype(np.float64), 6).tolist()
        return [[{"name": names[j], "value": None if v != v else v, "z": zz, "weight": ww}
                 for j, v, zz, ww in zip(ii, vv, zr, wr)]
                for ii, vv, zr, wr in zip(idx.tolist(), vals, z, w)]


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
