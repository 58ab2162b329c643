"""Detection metrics for one detector on one labelled test set.

Inputs are plain arrays so that this module needs nothing from
``flowsentinel.models``: ``y_true`` (1 = attack), ``scores`` (P(attack), higher
means more anomalous) and the operating ``threshold`` (a row is flagged as an
attack iff ``score >= threshold``).  Every result is JSON-serialisable: Python
ints and floats, and ``None`` wherever a quantity is undefined on the given
rows (for example ROC-AUC when only one class is present) -- never NaN.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from flowsentinel.schema import FAMILIES, NORMAL

from ._json import clean_float, to_jsonable

__all__ = [
    "DEFAULT_BENIGN_PREVALENCE",
    "MAX_CURVE_POINTS",
    "curves",
    "detection_metrics",
    "precision_at_prevalence",
]

log = logging.getLogger(__name__)

#: Share of benign flows assumed in deployed traffic (see ``precision_at_prevalence``).
DEFAULT_BENIGN_PREVALENCE = 0.99
#: Most points kept per curve by :func:`curves`.
MAX_CURVE_POINTS = 500


# --- input checks -------------------------------------------------------------


def _labels(y_true: ArrayLike) -> np.ndarray:
    """Validate binary labels and return them as a bool array (True = attack)."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional (n_flows,), got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y_true is empty: there are no rows to evaluate")
    if y.dtype == bool:
        return y
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"y_true must hold 0/1 labels (1 = attack), got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"y_true must hold only 0 (benign) and 1 (attack); {int(bad.sum())} rows do not, "
            f"first at row {first} (value {y[first]!r})"
        )
    return y.astype(bool)


def _scores(scores: ArrayLike, n_rows: int) -> np.ndarray:
    """Validate scores: one finite float per row."""
    s = np.asarray(scores, dtype=float)
    if s.shape != (n_rows,):
        raise ValueError(f"scores must have shape ({n_rows},) like y_true, got {s.shape}")
    bad = ~np.isfinite(s)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"scores must be finite; {int(bad.sum())} rows are NaN or infinite, "
            f"first at row {first}"
        )
    return s


def _families(families: ArrayLike, attack: np.ndarray) -> np.ndarray:
    """Validate per-row family names against the labels.

    A row is benign iff its family is ``"Normal"``; rows where the family and
    ``y_true`` disagree would make per-family recall meaningless, so they are
    an error rather than something to average over.
    """
    fam = np.asarray(families, dtype=object)
    if fam.shape != attack.shape:
        raise ValueError(f"families must have shape {attack.shape} like y_true, got {fam.shape}")
    non_str = {type(v).__name__ for v in set(fam.tolist()) if not isinstance(v, str)}
    if non_str:
        raise ValueError(
            f"families must be family names (str) from flowsentinel.schema.FAMILIES; "
            f"found values of type {', '.join(sorted(non_str))} (missing families?)"
        )
    disagree = (fam == NORMAL) == attack
    if disagree.any():
        first = int(np.flatnonzero(disagree)[0])
        raise ValueError(
            f"families and y_true disagree on {int(disagree.sum())} rows (family {NORMAL!r} "
            f"must be y_true 0, every other family 1); first at row {first}: "
            f"family {fam[first]!r}, y_true {int(attack[first])}"
        )
    unknown = sorted(set(fam.tolist()) - set(FAMILIES))
    if unknown:
        log.warning("families not in flowsentinel.schema.FAMILIES: %s", unknown)
    return fam


def _check_prevalence(benign_prevalence: float) -> float:
    pi = float(benign_prevalence)
    if not 0.0 <= pi <= 1.0:
        raise ValueError(f"benign_prevalence must be a share in [0, 1], got {benign_prevalence!r}")
    return pi


# --- small pure formulas ------------------------------------------------------


def _ratio(num: int, den: int) -> float | None:
    """``num / den`` as a float, ``None`` when ``den`` is 0 (undefined)."""
    return num / den if den else None


def _family_order(name: str) -> tuple[int, str]:
    """Sort key: schema report order first, then unknown names alphabetically."""
    return (FAMILIES.index(name), "") if name in FAMILIES else (len(FAMILIES), name)


def precision_at_prevalence(
    tpr: float | None, fpr: float | None, benign_prevalence: float = DEFAULT_BENIGN_PREVALENCE
) -> float | None:
    """Precision the detector would reach at a stated share of benign traffic.

    ``TPR·(1−π) / (TPR·(1−π) + FPR·π)`` with ``π = benign_prevalence``.  TPR and
    FPR do not depend on the class mix of the test set, precision does: the
    CICIDS-2017 sample is only ~12% benign, so a detector that labels every
    flow "attack" already scores precision ~0.88 and F1 0.92–0.94 there.  Real
    networks are 80–99% benign, where every false positive weighs 7–800× more.
    Re-weighting to ``π`` gives the precision an analyst would see in the alert
    queue.

    Parameters
    ----------
    tpr, fpr : float or None
        True- and false-positive rates at the operating threshold.
    benign_prevalence : float
        π, the share of benign flows in deployed traffic, in [0, 1].

    Returns
    -------
    float or None
        ``None`` when undefined: a rate is unknown (no attacks or no benign rows
        in the test set) or nothing would ever be flagged (TPR = FPR = 0 or
        π = 1 with FPR = 0).
    """
    pi = _check_prevalence(benign_prevalence)
    if tpr is None or fpr is None:
        return None
    hits = float(tpr) * (1.0 - pi)
    false_alarms = float(fpr) * pi
    if hits + false_alarms == 0.0:
        return None
    return hits / (hits + false_alarms)


def _auc(metric: Any, attack: np.ndarray, s: np.ndarray, name: str) -> float | None:
    """ROC-AUC or average precision; ``None`` when the test rows hold one class."""
    n_attacks = int(attack.sum())
    if n_attacks == 0 or n_attacks == attack.size:
        log.warning("%s is undefined: the test rows hold only one class", name)
        return None
    return clean_float(metric(attack, s))


def _per_family(
    fam: np.ndarray, flagged: np.ndarray
) -> tuple[dict[str, float], dict[str, int]]:
    """Recall and support for every attack family present, in report order."""
    names = sorted({name for name in set(fam.tolist()) if name != NORMAL}, key=_family_order)
    recall: dict[str, float] = {}
    support: dict[str, int] = {}
    for name in names:
        rows = fam == name
        support[name] = int(rows.sum())
        recall[name] = float(flagged[rows].mean())
    return recall, support


# --- public API ---------------------------------------------------------------


def detection_metrics(
    y_true: ArrayLike,
    scores: ArrayLike,
    threshold: float,
    families: ArrayLike | None = None,
    *,
    benign_prevalence: float = DEFAULT_BENIGN_PREVALENCE,
) -> dict[str, Any]:
    """Metrics of one detector at one operating threshold.

    Parameters
    ----------
    y_true : array-like (n_flows,)
        1 (or True) for an attack flow, 0 for benign.
    scores : array-like (n_flows,)
        P(attack) or any score where higher means more anomalous; finite.
    threshold : float
        Operating point: a flow is flagged iff ``score >= threshold``.
    families : array-like of str (n_flows,), optional
        Family name per flow from ``flowsentinel.schema.FAMILIES``;
        ``"Normal"`` marks benign rows and must agree with ``y_true``.
    benign_prevalence : float, keyword-only
        π used for ``precision_at_prevalence`` (default 0.99).

    Returns
    -------
    dict
        ``rows``, ``attacks``, ``benign`` (ints); ``threshold``; ``precision``,
        ``recall``, ``f1``, ``fpr`` (benign rows flagged), ``roc_auc``,
        ``pr_auc`` (average precision), ``precision_at_prevalence``,
        ``benign_prevalence`` (floats); ``confusion_matrix`` ``{tn, fp, fn,
        tp}``; ``per_family`` ``{family: recall}`` and ``per_family_support``
        ``{family: n}`` for every attack family present (empty without
        ``families``).  A value that is undefined on these rows is ``None``,
        never NaN: precision with nothing flagged, recall without attacks,
        FPR without benign rows, ROC-AUC and PR-AUC when the rows hold only
        one class (both are then meaningless), F1 when tp + fp + fn = 0.

    Raises
    ------
    ValueError
        On empty or mis-shaped inputs, labels other than 0/1, non-finite
        scores, or families that disagree with ``y_true``.
    """
    attack = _labels(y_true)
    s = _scores(scores, attack.size)
    if math.isnan(float(threshold)):
        raise ValueError("threshold is NaN; expected the operating score threshold")
    pi = _check_prevalence(benign_prevalence)

    flagged = s >= float(threshold)
    tp = int(np.sum(flagged & attack))
    fp = int(np.sum(flagged & ~attack))
    fn = int(np.sum(~flagged & attack))
    tn = int(np.sum(~flagged & ~attack))

    recall = _ratio(tp, tp + fn)
    fpr = _ratio(fp, fp + tn)
    per_family: dict[str, float] = {}
    support: dict[str, int] = {}
    if families is not None:
        per_family, support = _per_family(_families(families, attack), flagged)

    result = {
        "rows": int(attack.size),
        "attacks": tp + fn,
        "benign": tn + fp,
        "threshold": float(threshold),
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "fpr": fpr,
        "roc_auc": _auc(roc_auc_score, attack, s, "ROC-AUC"),
        "pr_auc": _auc(average_precision_score, attack, s, "PR-AUC"),
        "precision_at_prevalence": precision_at_prevalence(recall, fpr, pi),
        "benign_prevalence": pi,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "per_family": per_family,
        "per_family_support": support,
    }
    return to_jsonable(result)


def _downsample(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices into ``n`` points, first and last always kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _roc_keep(fpr: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of ROC points to keep: half evenly spaced, half log-spaced in FPR.

    Reports plot FPR on a log axis, where the operating region (FPR 1e-4 to
    1e-2) would otherwise be a handful of points.
    """
    if fpr.size <= max_points:
        return np.arange(fpr.size)
    even = _downsample(fpr.size, max_points // 2)
    positive = fpr[fpr > 0]
    if positive.size == 0:
        return even
    targets = np.logspace(np.log10(positive.min()), 0.0, max_points - even.size)
    logged = np.minimum(np.searchsorted(fpr, targets), fpr.size - 1)
    return np.union1d(even, logged)


def _columns(columns: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, list]:
    return {name: to_jsonable(values[keep]) for name, values in columns.items()}


def curves(
    y_true: ArrayLike, scores: ArrayLike, *, max_points: int = MAX_CURVE_POINTS
) -> dict[str, dict[str, list] | None]:
    """ROC and precision-recall curve points, small enough for JSON and plots.

    Parameters
    ----------
    y_true : array-like (n_flows,)
        1 for attack, 0 for benign.
    scores : array-like (n_flows,)
        Higher means more anomalous.
    max_points : int, keyword-only
        Most points kept per curve (default 500); endpoints are always kept.

    Returns
    -------
    dict
        ``{"roc": {"fpr", "tpr", "thresholds"}, "pr": {"precision", "recall",
        "thresholds"}}``, each a dict of equal-length lists ordered as
        scikit-learn returns them (ROC by rising FPR, PR by falling recall).
        Thresholds that do not exist (ROC's leading ``inf``, PR's final point)
        are ``None``.  A curve that is undefined because the rows hold one
        class is ``None`` itself (ROC needs both classes, PR needs attacks).
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    attack = _labels(y_true)
    s = _scores(scores, attack.size)
    n_attacks = int(attack.sum())
    out: dict[str, dict[str, list] | None] = {"roc": None, "pr": None}
    if 0 < n_attacks < attack.size:
        fpr, tpr, thr = roc_curve(attack, s)
        keep = _roc_keep(fpr, max_points)
        out["roc"] = _columns({"fpr": fpr, "tpr": tpr, "thresholds": thr}, keep)
    else:
        log.warning("ROC curve is undefined: the rows hold only one class")
    if n_attacks > 0:
        precision, recall, thr = precision_recall_curve(attack, s)
        thr = np.append(thr.astype(float), np.nan)  # the (recall 0, precision 1) end point
        keep = _downsample(recall.size, max_points)
        out["pr"] = _columns({"precision": precision, "recall": recall, "thresholds": thr}, keep)
    else:
        log.warning("PR curve is undefined: the rows hold no attacks")
    return out
