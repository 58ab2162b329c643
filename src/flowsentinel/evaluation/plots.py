"""PNG plots for the evaluation report.

Each function draws one figure from plain dicts (the shapes produced by
:mod:`flowsentinel.evaluation.metrics`) and writes it to ``path``.  Figures
are built with :class:`matplotlib.figure.Figure` on an Agg canvas rather than
through ``pyplot``, so plotting keeps no global state, needs no display and
is safe from any thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "plot_confusion_matrices",
    "plot_feature_importances",
    "plot_per_family_recall",
    "plot_pr",
    "plot_roc",
]

log = logging.getLogger(__name__)

_DPI = 110
#: Smallest FPR drawn on the log axis when a curve starts at exactly 0.
_MIN_LOG_FPR = 1e-6

Point = tuple[float, float]


def _text(value: object) -> str:
    """Make a user-supplied string safe to draw as matplotlib text.

    ``$`` would start mathtext (and can raise on malformed input) and a
    legend label starting with ``_`` would be silently hidden.
    """
    label = str(value).replace("$", r"\$")
    return f" {label}" if label.startswith("_") else label


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    log.debug("wrote %s", path)
    return path


def plot_roc(
    roc_by_detector: Mapping[str, Mapping[str, list]],
    path: Path,
    *,
    operating_points: Mapping[str, Point] | None = None,
) -> Path:
    """ROC curves of several detectors on one axis, FPR on a log scale.

    Parameters
    ----------
    roc_by_detector : dict of str to dict
        Detector name → ``{"fpr": list (n_points,), "tpr": list (n_points,)}``
        as in ``curves(...)["roc"]``.
    path : Path
        PNG file to write.
    operating_points : dict of str to (fpr, tpr), optional
        Each detector's point at its chosen threshold, drawn as a marker.

    Returns
    -------
    Path
        ``path``.  The log axis starts just below the smallest positive FPR,
        since the region that matters for deployment is FPR 1e-4 to 1e-2.
    """
    fig = _new_figure(6.4, 4.8)
    ax = fig.add_subplot()
    positive = [
        f for roc in roc_by_detector.values() for f in roc["fpr"] if f is not None and f > 0
    ]
    floor = max(min(positive) / 2, _MIN_LOG_FPR) if positive else _MIN_LOG_FPR
    points = operating_points or {}
    for name, roc in roc_by_detector.items():
        fpr = np.clip(np.asarray(roc["fpr"], dtype=float), floor, 1.0)
        (line,) = ax.plot(fpr, roc["tpr"], label=_text(name), drawstyle="steps-post")
        if points.get(name) and None not in points[name]:
            x, y = points[name]
            ax.plot(max(x, floor), y, "o", color=line.get_color(), markersize=6)
    grid = np.logspace(np.log10(floor), 0, 100)
    ax.plot(grid, grid, ":", color="grey", label="chance")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false-positive rate (benign flows flagged, log scale)")
    ax.set_ylabel("true-positive rate (recall)")
    ax.set_title("ROC (marker: operating threshold)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_pr(
    pr_by_detector: Mapping[str, Mapping[str, list]],
    path: Path,
    *,
    operating_points: Mapping[str, Point] | None = None,
    attack_share: float | None = None,
) -> Path:
    """Precision-recall curves of several detectors on one axis.

    Parameters
    ----------
    pr_by_detector : dict of str to dict
        Detector name → ``{"recall": list (n_points,), "precision": list
        (n_points,)}`` as in ``curves(...)["pr"]``.
    path : Path
        PNG file to write.
    operating_points : dict of str to (recall, precision), optional
        Each detector's point at its chosen threshold.
    attack_share : float, optional
        Share of attacks in the test rows: the precision of a random
        detector, drawn as a dotted baseline.

    Returns
    -------
    Path
        ``path``.
    """
    fig = _new_figure(6.4, 4.8)
    ax = fig.add_subplot()
    points = operating_points or {}
    for name, pr in pr_by_detector.items():
        (line,) = ax.plot(pr["recall"], pr["precision"], label=_text(name), drawstyle="steps-post")
        if points.get(name) and None not in points[name]:
            ax.plot(*points[name], "o", color=line.get_color(), markersize=6)
    if attack_share is not None:
        ax.axhline(attack_share, linestyle=":", color="grey", label="chance (test-set share)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (on the test rows' class mix)")
    ax.set_title("Precision-recall (marker: operating threshold)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return _save(fig, path)


def plot_confusion_matrices(
    matrices: Mapping[str, Mapping[str, int]], path: Path
) -> Path:
    """One 2×2 confusion matrix per detector, side by side.

    Parameters
    ----------
    matrices : dict of str to dict
        Detector name → ``{"tn", "fp", "fn", "tp"}`` counts.
    path : Path
        PNG file to write.

    Returns
    -------
    Path
        ``path``.  Cells are shaded by the share of their actual class (row),
        so the rare benign row stays readable next to the attack row, and
        annotated with count and share.
    """
    names = list(matrices)
    fig = _new_figure(3.6 * max(len(names), 1), 3.4)
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        cm = matrices[name]
        counts = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]], dtype=float)
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        for (row, col), count in np.ndenumerate(counts):
            colour = "white" if shares[row, col] > 0.6 else "black"
            ax.text(col, row, f"{int(count):,}\n{shares[row, col]:.1%}",
                    ha="center", va="center", color=colour)
        ax.set_xticks([0, 1], ["benign", "attack"])
        ax.set_yticks([0, 1], ["benign", "attack"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(_text(name))
    return _save(fig, path)


def plot_per_family_recall(
    recall_by_detector: Mapping[str, Mapping[str, float | None]],
    path: Path,
    *,
    support: Mapping[str, int] | None = None,
) -> Path:
    """Grouped bars: recall of each detector on each attack family.

    Parameters
    ----------
    recall_by_detector : dict of str to dict
        Detector name → ``{family: recall}`` (``per_family`` of the metrics).
    path : Path
        PNG file to write.
    support : dict of str to int, optional
        Test rows per family, shown under the family name: recall on a family
        with a handful of rows (Heartbleed, Infiltration) is not a rate.

    Returns
    -------
    Path
        ``path``.  Families appear in first-seen order across detectors.
    """
    families = list(dict.fromkeys(f for rec in recall_by_detector.values() for f in rec))
    names = list(recall_by_detector)
    fig = _new_figure(max(6.4, 1.1 * len(families) + 2), 4.4)
    ax = fig.add_subplot()
    x = np.arange(len(families))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        heights = [recall_by_detector[name].get(f) for f in families]
        bars = [np.nan if h is None else h for h in heights]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, bars, width, label=_text(name))
    labels = [
        _text(f) + (f"\nn={support[f]:,}" if support and f in support else "") for f in families
    ]
    ax.set_xticks(x, labels, rotation=30 if len(families) > 6 else 0, ha="center")
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("recall (share of the family's flows flagged)")
    ax.set_title("Recall per attack family")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: bars reach 1.0
    return _save(fig, path)


def plot_feature_importances(
    importances: Mapping[str, float],
    path: Path,
    *,
    top: int = 20,
    title: str = "Feature importances",
) -> Path:
    """Horizontal bars of the ``top`` most important features.

    Parameters
    ----------
    importances : dict of str to float
        Feature name → importance (e.g. impurity decrease or permutation).
    path : Path
        PNG file to write.
    top : int
        How many features to show, most important at the top.
    title : str
        Figure title (drawn as plain text).

    Returns
    -------
    Path
        ``path``.
    """
    ranked = sorted(
        ((name, float(v)) for name, v in importances.items() if v is not None),
        key=lambda item: item[1],
        reverse=True,
    )[:top]
    fig = _new_figure(7.0, 1.0 + 0.28 * max(len(ranked), 1))
    ax = fig.add_subplot()
    names = [_text(name) for name, _ in reversed(ranked)]
    ax.barh(np.arange(len(ranked)), [v for _, v in reversed(ranked)])
    ax.set_yticks(np.arange(len(ranked)), names)
    ax.set_xlabel("importance")
    ax.set_title(_text(title))
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)
