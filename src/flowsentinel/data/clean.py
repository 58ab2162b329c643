"""Dataset hygiene before any split, with a count for everything touched.

Row-level cleaning lives here (attempted labels, duplicates, conflicting
labels, constant columns).  The *value* rule for non-finite and missing
numbers is not applied here: it belongs to the fitted transform
(``flowsentinel.models.transform``) so that training and live scoring use the
very same code.  This module only counts such values, per column.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from flowsentinel import schema

__all__ = ["ATTEMPTED_POLICIES", "CleaningReport", "clean_flows", "row_hashes"]

log = logging.getLogger(__name__)

#: What to do with improved-release ``… - Attempted`` rows: attacks that
#: never reached their target.  By default they are Normal traffic.
ATTEMPTED_POLICIES = ("normal", "drop")


@dataclass
class CleaningReport:
    """Every count of ``clean_flows``; JSON-able through ``to_dict``."""

    rows_in: int = 0
    attempted_rows: int = 0
    attempted_policy: str = "normal"
    attempted_dropped: int = 0
    nonfinite_values: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    duplicates_removed: int = 0
    duplicates_by_label: dict[str, int] = field(default_factory=dict)
    conflicting_vectors: int = 0
    conflicting_rows: int = 0
    conflicting_classes_vectors: int = 0  # same vector labelled Normal and attack
    constant_columns: list[str] = field(default_factory=list)
    rows_out: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def row_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """64-bit hash of each row over ``columns`` (order-sensitive, index-free).

    Returns
    -------
    ndarray of uint64, shape (n_rows,)
    """
    return pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy()


def clean_flows(
    frame: pd.DataFrame,
    features: Sequence[str],
    *,
    attempted: str = "normal",
    deduplicate: bool = True,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the dataset-level cleaning rules and count what each one did.

    Parameters
    ----------
    frame : DataFrame (n_flows, ...)
        Canonical frame from ``load_flows`` with ``Label``/``Family``/``Attempted``.
    features : sequence of str
        The model's input columns.  Duplicates are judged over these plus the
        label: without the port columns many scan flows are identical, and a
        copy in both train and test would inflate every score.
    attempted : {"normal", "drop"}
        ``… - Attempted`` rows become Normal (default) or are removed.
    deduplicate : bool
        Remove exact duplicates (keep the first).  Always before any split.

    Returns
    -------
    (DataFrame, CleaningReport)
        The cleaned frame (fresh 0..n-1 index) and the counts.
    """
    if attempted not in ATTEMPTED_POLICIES:
        raise ValueError(f"attempted must be one of {ATTEMPTED_POLICIES}, got {attempted!r}")
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"the data lacks feature column(s) {missing}; cannot clean over them")
    report = CleaningReport(rows_in=len(frame), attempted_policy=attempted)
    labelled = schema.LABEL in frame.columns and schema.FAMILY in frame.columns

    if labelled and schema.ATTEMPTED in frame.columns:
        att = frame[schema.ATTEMPTED].to_numpy(dtype=bool)
        report.attempted_rows = int(att.sum())
        if att.any():
            if attempted == "drop":
                frame = frame.loc[~att]
                report.attempted_dropped = int(att.sum())
            else:
                frame = frame.copy()
                frame.loc[att, schema.FAMILY] = schema.NORMAL

    values = frame[list(features)].to_numpy(dtype=np.float64)
    nan = np.isnan(values)
    inf = np.isinf(values)
    report.missing_values = {c: int(n) for c, n in zip(features, nan.sum(axis=0)) if n}
    report.nonfinite_values = {c: int(n) for c, n in zip(features, inf.sum(axis=0)) if n}

    if deduplicate and len(frame):
        key_cols = list(features) + ([schema.LABEL] if labelled else [])
        dup = pd.Series(row_hashes(frame, key_cols)).duplicated().to_numpy()
        report.duplicates_removed = int(dup.sum())
        if labelled and dup.any():
            report.duplicates_by_label = {
                str(k): int(v) for k, v in frame.loc[dup, schema.LABEL].value_counts().items()
            }
        frame = frame.loc[~dup]
        values = values[~dup]

    if labelled and len(frame):
        fh = pd.Series(row_hashes(frame, features))
        n_labels = fh.groupby(fh.to_numpy()).transform("size").to_numpy()
        conflicted = n_labels > 1  # after dedup, a repeated vector has different labels
        report.conflicting_rows = int(conflicted.sum())
        report.conflicting_vectors = int(fh[conflicted].nunique())
        if conflicted.any():
            normal = pd.Series(frame[schema.FAMILY].to_numpy()[conflicted] == schema.NORMAL)
            both = normal.groupby(fh[conflicted].to_numpy()).agg(["min", "max"])
            report.conflicting_classes_vectors = int((both["min"] != both["max"]).sum())
        if report.conflicting_rows:
            log.warning(
                "%d feature vectors occur with more than one label (%d rows; %d of them both Normal "
                "and attack); kept, but no detector can separate them",
                report.conflicting_vectors, report.conflicting_rows, report.conflicting_classes_vectors,
            )

    if len(values):
        finite = np.where(np.isfinite(values), values, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            lo, hi = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
        report.constant_columns = [c for c, a, b in zip(features, lo, hi) if not a < b]

    frame = frame.reset_index(drop=True)
    report.rows_out = len(frame)
    if labelled:
        report.labels = {str(k): int(v) for k, v in frame[schema.LABEL].value_counts().items()}
        report.families = {str(k): int(v) for k, v in frame[schema.FAMILY].value_counts().items()}
    log.info(
        "cleaning: %d rows in, %d duplicates removed, %d attempted (%s), %d conflicting rows, "
        "%d constant columns, %d rows out",
        report.rows_in, report.duplicates_removed, report.attempted_rows, attempted,
        report.conflicting_rows, len(report.constant_columns), report.rows_out,
    )
    return frame, report
