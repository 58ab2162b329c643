"""Seeded train / validation / test splits.

* ``stratified``: rows drawn at random, stratified by label so even the
  rarest label (Heartbleed: 11 flows) lands in every part when it can.
* ``grouped``: whole conversations (same 5-tuple, either direction) go to one
  part only, stratified by each conversation's label, so a test flow never has
  a sibling from the same connection in training.
* ``leave_one_family_out``: every flow of one attack family is held out of
  training and validation and put in the test part (a "zero-day" test).

A split is three arrays of row positions; nothing here touches the values,
so the transform is fitted on ``frame.iloc[split.train]`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowsentinel import schema

__all__ = [
    "SPLIT_KINDS",
    "Split",
    "conversation_keys",
    "grouped_split",
    "leave_one_family_out",
    "make_split",
    "stratified_split",
]

SPLIT_KINDS = ("stratified", "grouped")
_CONVERSATION = ("Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol")


@dataclass(frozen=True)
class Split:
    """Row positions of each part; disjoint, covering every row once."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    seed: int
    held_out_family: str | None = None

    def summary(self) -> dict:
        return {
            "kind": self.kind, "seed": self.seed, "held_out_family": self.held_out_family,
            "train": int(len(self.train)), "val": int(len(self.val)), "test": int(len(self.test)),
        }


def conversation_keys(frame: pd.DataFrame) -> np.ndarray:
    """Direction-insensitive conversation key per row (codes, int64).

    Raises ``ValueError`` naming the identifier columns the data lacks (the
    2017 release's MachineLearningCVE files carry only ``Destination Port``).
    """
    missing = [c for c in _CONVERSATION if c not in frame.columns]
    if missing:
        raise ValueError(
            f"a grouped split needs the identifier columns {list(_CONVERSATION)}; the data lacks "
            f"{missing} (use the TrafficLabelling CSVs of the 2017 release, or --split stratified)"
        )
    a = frame["Src IP"].astype(str) + ":" + frame["Src Port"].astype("int64").astype(str)
    b = frame["Dst IP"].astype(str) + ":" + frame["Dst Port"].astype("int64").astype(str)
    lo = np.where(a.to_numpy() <= b.to_numpy(), a.to_numpy(), b.to_numpy())
    hi = np.where(a.to_numpy() <= b.to_numpy(), b.to_numpy(), a.to_numpy())
    key = pd.Series(lo, dtype=object) + "|" + pd.Series(hi, dtype=object) + "|" + frame["Protocol"].astype("int64").astype(str).to_numpy()
    codes, _ = pd.factorize(key)
    return codes.astype(np.int64)


def _strata(frame: pd.DataFrame) -> np.ndarray:
    if schema.LABEL in frame.columns:
        return pd.factorize(frame[schema.LABEL].astype(str))[0]
    return np.zeros(len(frame), dtype=np.int64)


def _cut(units: np.ndarray, weights: np.ndarray, rng: np.random.Generator, val_size: float, test_size: float):
    """Shuffle units and cut them into train/val/test by cumulative weight."""
    order = rng.permutation(len(units))
    units, weights = units[order], weights[order]
    n = len(units)
    if n == 1:
        return units, units[:0], units[:0]
    cum = np.cumsum(weights) / weights.sum()
    # Position of each unit's midpoint decides its part: test first, then val.
    mid = cum - weights / (2 * weights.sum())
    test = mid < test_size
    val = (mid >= test_size) & (mid < test_size + val_size)
    if n >= 3:  # every part gets at least one unit when there are enough
        if not test.any():
            test[0] = True
        if not val.any():
            val[np.flatnonzero(~test)[0]] = True
        if not (~test & ~val).any():
            val[np.flatnonzero(val)[-1]] = False
    return units[~test & ~val], units[val], units[test]


def _validate_sizes(val_size: float, test_size: float) -> None:
    if not (0 < val_size < 1 and 0 < test_size < 1 and val_size + test_size < 1):
        raise ValueError(f"val_size and test_size must be in (0, 1) and sum below 1; got {val_size}, {test_size}")


def stratified_split(frame: pd.DataFrame, *, seed: int = 0, val_size: float = 0.2, test_size: float = 0.2) -> Split:
    """Random rows, stratified by label (defaults: 60 / 20 / 20).

    Returns
    -------
    Split
        ``train``, ``val``, ``test`` are int64 row positions into ``frame``.
    """
    _validate_sizes(val_size, test_size)
    rng = np.random.default_rng(seed)
    strata = _strata(frame)
    parts: tuple[list, list, list] = ([], [], [])
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        for acc, got in zip(parts, _cut(rows, np.ones(len(rows)), rng, val_size, test_size)):
            acc.append(got)
    return Split(*(np.sort(np.concatenate(p)).astype(np.int64) for p in parts), kind="stratified", seed=seed)


def grouped_split(frame: pd.DataFrame, *, seed: int = 0, val_size: float = 0.2, test_size: float = 0.2) -> Split:
    """Whole conversations per part, stratified by each conversation's majority label."""
    _validate_sizes(val_size, test_size)
    rng = np.random.default_rng(seed)
    groups = conversation_keys(frame)
    strata = _strata(frame)
    g = pd.DataFrame({"g": groups, "s": strata})
    size = g.groupby("g").size()
    counts = g.groupby(["g", "s"]).size().reset_index(name="n")
    major = counts.sort_values(["g", "n"], kind="stable").drop_duplicates("g", keep="last").set_index("g")["s"]
    major = major.reindex(size.index)
    train_g, val_g, test_g = [], [], []
    for s in np.unique(major.to_numpy()):
        ids = size.index.to_numpy()[major.to_numpy() == s]
        w = size.to_numpy()[major.to_numpy() == s].astype(float)
        a, b, c = _cut(ids, w, rng, val_size, test_size)
        train_g.append(a), val_g.append(b), test_g.append(c)
    part = np.empty(groups.max() + 1 if len(groups) else 0, dtype=np.int8)
    part[np.concatenate(train_g)] = 0
    part[np.concatenate(val_g)] = 1
    part[np.concatenate(test_g)] = 2
    where = part[groups]
    return Split(
        np.flatnonzero(where == 0), np.flatnonzero(where == 1), np.flatnonzero(where == 2),
        kind="grouped", seed=seed,
    )


def make_split(frame: pd.DataFrame, kind: str, *, seed: int = 0, val_size: float = 0.2, test_size: float = 0.2) -> Split:
    """Dispatch on ``kind`` (one of ``SPLIT_KINDS``)."""
    if kind == "stratified":
        return stratified_split(frame, seed=seed, val_size=val_size, test_size=test_size)
    if kind == "grouped":
        return grouped_split(frame, seed=seed, val_size=val_size, test_size=test_size)
    raise ValueError(f"unknown split {kind!r}; expected one of {SPLIT_KINDS}")


def leave_one_family_out(
    frame: pd.DataFrame, family: str, *, kind: str = "grouped", seed: int = 0,
    val_size: float = 0.2, test_size: float = 0.2,
) -> Split:
    """Hold every flow of ``family`` out of training and validation.

    The other rows are split as ``make_split(kind)`` would; the held-out
    family's rows all move to the test part, so test recall on that family
    measures detection of an attack the detectors never saw.
    """
    if family == schema.NORMAL or family not in schema.FAMILIES:
        raise ValueError(f"family must be an attack family of {schema.FAMILIES[1:]}, got {family!r}")
    if schema.FAMILY not in frame.columns:
        raise ValueError("leave-one-family-out needs labelled data (a 'Family' column)")
    fam = frame[schema.FAMILY].to_numpy() == family
    if not fam.any():
        raise ValueError(f"no flows of family {family!r} in the data")
    base = make_split(frame, kind, seed=seed, val_size=val_size, test_size=test_size)
    train = base.train[~fam[base.train]]
    val = base.val[~fam[base.val]]
    test = np.sort(np.concatenate([base.test, np.flatnonzero(fam & ~np.isin(np.arange(len(frame)), base.test))]))
    return Split(train, val, test, kind=f"{kind}-lofo", seed=seed, held_out_family=family)
