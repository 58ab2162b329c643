"""Mean and spread of metrics over repeated runs (seeds).

One split and one seed say little about a detector: results are reported over
at least three seeds as mean ± sample standard deviation, with min and max.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

from ._json import to_jsonable

__all__ = ["summarize_runs", "stats"]


#: Keys of a run that identify it rather than measure it, and the summary's
#: own keys, which a metric must not overwrite.
_ID_KEYS = frozenset({"seed", "seeds", "n_runs"})


def stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean, sample std (n − 1), min and max of the defined values.

    Parameters
    ----------
    values : sequence of float or None (n_runs,)
        One value per run; ``None`` (undefined in that run) is left out.

    Returns
    -------
    dict
        ``{"mean", "std", "min", "max", "n"}`` where ``n`` counts the defined
        values.  ``mean``/``min``/``max`` are ``None`` when ``n == 0`` and
        ``std`` is ``None`` when ``n < 2`` (a sample std needs two values).
    """
    defined = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(defined)
    return {
        "mean": statistics.fmean(defined) if n else None,
        "std": statistics.stdev(defined) if n >= 2 else None,
        "min": min(defined) if n else None,
        "max": max(defined) if n else None,
        "n": n,
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _numeric_keys(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Keys holding numbers (or None) and keys holding mappings, in first-seen order."""
    scalars: dict[str, None] = {}
    nested: dict[str, None] = {}
    for run in runs:
        for key, value in run.items():
            if key in _ID_KEYS:
                continue
            if isinstance(value, Mapping):
                nested[key] = None
            elif _is_number(value):
                scalars[key] = None
    return [k for k in scalars if k not in nested], list(nested)


def _summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Recursively summarise numeric leaves; lists and strings are skipped."""
    scalars, nested = _numeric_keys(runs)
    out: dict[str, Any] = {}
    for key in scalars:
        values = [run.get(key) if _is_number(run.get(key)) else None for run in runs]
        out[key] = stats(values)
    for key in nested:
        children = [run.get(key) if isinstance(run.get(key), Mapping) else {} for run in runs]
        summary = _summarize(children)
        if summary:
            out[key] = summary
    return out


def summarize_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarise per-seed metric dicts into mean, std, min and max.

    Parameters
    ----------
    runs : sequence of dict (n_runs,)
        One :func:`~flowsentinel.evaluation.detection_metrics` result per run,
        optionally with a ``"seed"`` key.

    Returns
    -------
    dict
        ``{"n_runs": int, "seeds": [...] (only if every run has a "seed"),
        <metric>: {...}, ...}``: beside ``n_runs`` and ``seeds`` the summary
        mirrors a run's structure with every numeric leaf replaced by
        ``{"mean", "std", "min", "max", "n"}`` (see :func:`stats`), e.g.
        ``summary["f1"]["mean"]`` or ``summary["per_family"]["DoS"]["std"]``.
        A value that is ``None`` or
        absent in a run (a family missing from one seed's test rows) is left
        out of that leaf and ``n`` says how many runs it covers.  Lists (such
        as curves) and strings are not summarised.

    Raises
    ------
    ValueError
        If ``runs`` is empty.
    TypeError
        If a run is not a mapping.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("summarize_runs needs at least one run; got none")
    for i, run in enumerate(runs):
        if not isinstance(run, Mapping):
            raise TypeError(f"run {i} is a {type(run).__name__}, expected a metrics dict")
    out: dict[str, Any] = {"n_runs": len(runs)}
    if all("seed" in run for run in runs):
        out["seeds"] = [run["seed"] for run in runs]
    out.update(_summarize(runs))
    return to_jsonable(out)
