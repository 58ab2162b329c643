"""The one fitted transform shared by training and live scoring.

Flow features are heavy-tailed (byte and packet rates reach 1e9, durations
1e8 µs) and some are non-finite for zero-duration flows.  ``FlowTransform``
applies one documented rule, in this order, to every feature:

1. **NaN → 0** (a missing rate means "no traffic observed").
2. **signed log**: ``sign(x) * log1p(|x|)``; ``±Inf`` stays ``±Inf`` here.
3. **clip** to the per-feature ``[min_, max_]`` seen on the training rows
   (finite values only), so ``+Inf`` becomes the training maximum and ``-Inf``
   the training minimum, and unseen extremes cannot blow up a model.
4. **standardise** with the training mean and standard deviation
   (``scale_ = 1`` for zero-variance features).

Only the rows passed to :meth:`FlowTransform.fit` are used, so fit it on the
training split only.  The learned state serialises to a plain JSON dict
(:meth:`FlowTransform.to_dict`) stored in the bundle manifest; nothing is
pickled.  :meth:`FlowTransform.transform` is on the live path: float32,
vectorised, a handful of in-place numpy operations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel.schema import FEATURES, PORT_IDENTIFIERS, RELEASE_2017_MISSING

__all__ = ["FlowTransform", "MissingFeatureError", "NotFittedError"]

log = logging.getLogger(__name__)

_ALLOWED = frozenset(FEATURES) | frozenset(PORT_IDENTIFIERS)


class MissingFeatureError(ValueError):
    """Input data lacks one or more features that a fitted model uses."""


class NotFittedError(RuntimeError):
    """A transform or detector was used before ``fit`` (or ``load``)."""


def _missing_message(missing: Sequence[str]) -> str:
    names = ", ".join(repr(m) for m in missing)
    msg = (
        f"data lacks {names}, which this model uses" if len(missing) == 1
        else f"data lacks {len(missing)} features that this model uses: {names}"
    )
    release = [m for m in missing if m in RELEASE_2017_MISSING]
    if release:
        msg += (
            f"; the 2017 release has no {', '.join(repr(m) for m in release)} column"
            f"{'s' if len(release) > 1 else ''} — retrain without "
            f"{'them' if len(release) > 1 else 'it'}, or score data of the improved release"
        )
    else:
        msg += "; map the source onto the canonical schema (flowsentinel.schema) first"
    return msg


class FlowTransform:
    """NaN rule, signed log, clipping and standard scaling, fitted on training rows.

    Parameters
    ----------
    features : sequence of str
        Canonical feature names (``schema.FEATURES``, optionally plus
        ``Src Port``/``Dst Port``/``Protocol`` when identifiers were asked for
        explicitly), in the order the model sees them.

    Attributes
    ----------
    min_, max_ : ndarray (n_features,) float32
        Per-feature range of the signed-log values on the training rows.
    mean_, scale_ : ndarray (n_features,) float32
        Standardisation statistics after clipping; ``scale_`` is 1 where the
        training rows have zero variance.
    n_samples_seen_ : int
        Number of rows the transform was fitted on.
    """

    def __init__(self, features: Sequence[str]) -> None:
        features = tuple(features)
        if not features:
            raise ValueError("FlowTransform needs at least one feature")
        unknown = [f for f in features if f not in _ALLOWED]
        if unknown:
            raise ValueError(
                f"unknown feature name(s) {unknown}; use canonical names from "
                "flowsentinel.schema.FEATURES (or Src Port/Dst Port/Protocol)"
            )
        dupes = sorted({f for f in features if features.count(f) > 1})
        if dupes:
            raise ValueError(f"feature(s) listed more than once: {dupes}")
        self.features: tuple[str, ...] = features
        self._index = list(features)

    # -- input -----------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return len(self.features)

    def _as_array(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Return a fresh C-contiguous float32 copy, shape (n_flows, n_features)."""
        if isinstance(data, pd.DataFrame):
            missing = [f for f in self.features if f not in data.columns]
            if missing:
                raise MissingFeatureError(_missing_message(missing))
            # selecting columns is the slow part for small frames; skip it when
            # the frame already holds exactly the features in order
            sub = data if list(data.columns) == self._index else data[self._index]
            try:
                return np.array(sub.to_numpy(dtype=np.float32), dtype=np.float32, order="C", copy=True)
            except (TypeError, ValueError):
                bad = [c for c in self._index if not pd.api.types.is_numeric_dtype(sub[c])]
                raise ValueError(
                    f"feature column(s) {bad} are not numeric; convert them (e.g. the 2017 "
                    "release writes 'Infinity'/'NaN' as text) with flowsentinel.data before scoring"
                ) from None
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ValueError(
                f"expected an array of shape (n_flows, {self.n_features}) in the transform's "
                f"feature order, got shape {arr.shape}"
            )
        return np.array(arr, dtype=np.float32, order="C", copy=True)

    # -- fit / transform -------------------------------------------------------
    def fit(self, data: pd.DataFrame | np.ndarray) -> FlowTransform:
        """Learn clipping range and scaling statistics from training rows only.

        Parameters
        ----------
        data : DataFrame or ndarray (n_flows, n_features)
            Training rows; a frame must contain every feature by name, an
            array must already be in ``features`` order.

        Returns
        -------
        self
        """
        x = self._as_array(data)
        if x.shape[0] == 0:
            raise ValueError("cannot fit FlowTransform on zero rows")
        x = self._log(x)
        finite = np.isfinite(x)
        big = np.finfo(np.float32).max
        lo = np.where(finite, x, big).min(axis=0)
        hi = np.where(finite, x, -big).max(axis=0)
        none = ~finite.any(axis=0)
        lo[none] = 0.0
        hi[none] = 0.0
        np.clip(x, lo, hi, out=x)
        # float64 statistics: float32 sums over many rows lose precision
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        scale = np.where(std > 1e-12, std, 1.0)
        self.min_ = lo.astype(np.float32)
        self.max_ = hi.astype(np.float32)
        self.mean_ = mean.astype(np.float32)
        self.scale_ = scale.astype(np.float32)
        self.n_samples_seen_ = int(x.shape[0])
        self._prepare()
        n_nonfinite = int((~finite).sum())
        log.debug("FlowTransform fitted on %d rows, %d features (%d non-finite values clipped)",
                  x.shape[0], x.shape[1], n_nonfinite)
        return self

    def _prepare(self) -> None:
        self._inv_scale = (1.0 / self.scale_).astype(np.float32)

    @staticmethod
    def _log(x: np.ndarray) -> np.ndarray:
        """In place: NaN → 0, then sign(x) * log1p(|x|)."""
        np.copyto(x, 0.0, where=np.isnan(x))
        mag = np.abs(x)
        np.log1p(mag, out=mag)
        return np.copysign(mag, x, out=x)

    def transform(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Apply the fitted rule.

        Parameters
        ----------
        data : DataFrame or ndarray (n_flows, n_features)
            A frame with the canonical column names (extra columns are
            ignored) or an array already in ``features`` order.  A 1-D array
            of length ``n_features`` is one flow.

        Returns
        -------
        ndarray (n_flows, n_features) float32
            Finite, standardised values in ``features`` order.

        Raises
        ------
        MissingFeatureError
            If a frame lacks features this transform uses (all are named).
        """
        if not hasattr(self, "mean_"):
            raise NotFittedError("FlowTransform is not fitted; call fit() on training rows first")
        x = self._log(self._as_array(data))
        np.clip(x, self.min_, self.max_, out=x)
        x -= self.mean_
        x *= self._inv_scale
        return x

    def fit_transform(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``fit(data)`` then ``transform(data)``; see both."""
        return self.fit(data).transform(data)

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state (lists of floats); stored in the bundle manifest."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("FlowTransform is not fitted; nothing to serialise")
        return {
            "class": "FlowTransform",
            "version": 1,
            "rule": "nan->0; sign(x)*log1p(|x|); clip [min,max]; (x-mean)/scale",
            "features": list(self.features),
            "n_samples_seen": self.n_samples_seen_,
            "min": [float(v) for v in self.min_],
            "max": [float(v) for v in self.max_],
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FlowTransform:
        """Rebuild a fitted transform from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If the dict is not a version-1 FlowTransform state or its arrays
            do not match the feature list.
        """
        if state.get("class") != "FlowTransform" or state.get("version") != 1:
            raise ValueError(
                f"not a version-1 FlowTransform state (class={state.get('class')!r}, "
                f"version={state.get('version')!r})"
            )
        obj = cls(state["features"])
        n = obj.n_features
        arrays = {}
        for key in ("min", "max", "mean", "scale"):
            arr = np.asarray(state[key], dtype=np.float32)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"FlowTransform state {key!r} must be {n} finite numbers")
            arrays[key] = arr
        if np.any(arrays["scale"] <= 0):
            raise ValueError("FlowTransform state 'scale' must be positive")
        obj.min_, obj.max_ = arrays["min"], arrays["max"]
        obj.mean_, obj.scale_ = arrays["mean"], arrays["scale"]
        obj.n_samples_seen_ = int(state.get("n_samples_seen", 0))
        obj._prepare()
        return obj

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "mean_") else "not fitted"
        return f"FlowTransform({self.n_features} features, {fitted})"
