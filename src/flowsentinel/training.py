"""Training and evaluation jobs: the steps between flow records and a bundle.

``train_bundle``: clean → for each seed: split → fit the transform on the
training rows only → fit every detector → calibrate its threshold on the
validation rows → measure it on the test rows.  The first seed's transform and
detectors are written to the bundle; every seed's test metrics go into the
manifest with their mean and spread, because a single CNN run varies a lot.

``evaluate_bundle``: score labelled flows with a bundle and measure every
detector, leaving out the rows the bundle was trained or calibrated on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from flowsentinel import schema
from flowsentinel.data.clean import clean_flows, row_hashes
from flowsentinel.data.split import SPLIT_KINDS, leave_one_family_out, make_split
from flowsentinel.evaluation.metrics import curves, detection_metrics
from flowsentinel.evaluation.summary import summarize_runs
from flowsentinel.models import DETECTORS, make_detector
from flowsentinel.models.bundle import Bundle, save_bundle
from flowsentinel.models.transform import FlowTransform

__all__ = ["TrainConfig", "attack_labels", "evaluate_bundle", "select_features", "train_bundle"]

log = logging.getLogger(__name__)

TRAINING_ROWS_FILE = "training_rows.npy"


@dataclass
class TrainConfig:
    """Everything that decides what a bundle learns; recorded in its manifest."""

    detectors: tuple[str, ...] = ("rf", "cnn")
    split: str = "grouped"
    seeds: tuple[int, ...] = (0, 1, 2)
    target_fpr: float = 0.001
    benign_prevalence: float = 0.99
    include_identifiers: bool = False
    attempted: str = "normal"
    val_size: float = 0.2
    test_size: float = 0.2
    hold_out_family: str | None = None
    detector_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        unknown = [d for d in self.detectors if d not in DETECTORS]
        if unknown or not self.detectors:
            raise ValueError(f"unknown detector(s) {unknown}; choose from {sorted(DETECTORS)}")
        if self.split not in SPLIT_KINDS:
            raise ValueError(f"unknown split {self.split!r}; choose from {SPLIT_KINDS}")
        if self.hold_out_family is not None and self.hold_out_family not in schema.FAMILIES[1:]:
            raise ValueError(f"--hold-out must be an attack family of {schema.FAMILIES[1:]}, "
                             f"got {self.hold_out_family!r}")
        if not self.seeds:
            raise ValueError("at least one seed is needed")
        if not 0 < self.target_fpr < 1:
            raise ValueError(f"target FPR must be in (0, 1), got {self.target_fpr}")
        if not 0 <= self.benign_prevalence < 1:
            raise ValueError(f"benign prevalence must be in [0, 1), got {self.benign_prevalence}")


def select_features(frame: pd.DataFrame, include_identifiers: bool = False) -> list[str]:
    """The model inputs: every schema feature the data has, in schema order.

    Identifiers (``Src Port``, ``Dst Port``, ``Protocol``) are added only when
    asked: on CICIDS-2017 they are near-perfect shortcuts (``Dst Port`` alone
    scores F1 0.99) that do not carry over to other networks.
    """
    features = [f for f in schema.FEATURES if f in frame.columns]
    if include_identifiers:
        missing = [c for c in schema.PORT_IDENTIFIERS if c not in frame.columns]
        if missing:
            raise ValueError(f"--include-identifiers needs the columns {missing}, which the data lacks")
        features = [*schema.PORT_IDENTIFIERS, *features]
    if not features:
        raise ValueError("the data has none of the flow features; nothing to train on")
    return features


def attack_labels(frame: pd.DataFrame) -> np.ndarray:
    """0/1 target: 1 for every family but Normal.  Shape (n_flows,)."""
    return (frame[schema.FAMILY].to_numpy() != schema.NORMAL).astype(np.int64)


def train_bundle(
    frame: pd.DataFrame,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    load_summary: dict | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> Path:
    """Train every configured detector over every seed and write the bundle.

    Parameters
    ----------
    frame : DataFrame (n_flows, ...)
        Labelled canonical flows from ``load_flows``.
    out : path
        Bundle folder to write.
    config : TrainConfig
    load_summary : dict, optional
        The loader's report, kept in the manifest.

    Returns
    -------
    Path
        The bundle folder.
    """
    config = config or TrainConfig()
    config.validate()
    if schema.FAMILY not in frame.columns:
        raise ValueError("training needs labelled flows (a Label column)")
    features = select_features(frame, config.include_identifiers)
    cleaned, cleaning = clean_flows(frame, features, attempted=config.attempted)
    y = attack_labels(cleaned)
    if y.min() == y.max():
        raise ValueError("training needs both benign and attack flows; the data has only one class")
    families = cleaned[schema.FAMILY].to_numpy()

    runs: dict[str, list[dict]] = {name: [] for name in config.detectors}
    kept: dict[str, Any] = {}
    steps = len(config.seeds) * len(config.detectors)
    bar = tqdm(total=steps, desc="training", unit="model", disable=(not progress) if progress is not None else None)
    try:
        for i, seed in enumerate(config.seeds):
            if config.hold_out_family:
                split = leave_one_family_out(cleaned, config.hold_out_family, kind=config.split, seed=seed,
                                             val_size=config.val_size, test_size=config.test_size)
            else:
                split = make_split(cleaned, config.split, seed=seed, val_size=config.val_size,
                                   test_size=config.test_size)
            transform = FlowTransform(features).fit(cleaned.iloc[split.train])
            X = {part: transform.transform(cleaned.iloc[idx]) for part, idx in
                 (("train", split.train), ("val", split.val), ("test", split.test))}
            detectors = {}
            for name in config.detectors:
                bar.set_postfix_str(f"seed {seed}: {name}")
                det = make_detector(name, random_state=seed, **config.detector_params.get(name, {}))
                t0 = time.perf_counter()
                det.fit(X["train"], y[split.train], X["val"], y[split.val], target_fpr=config.target_fpr)
                fit_s = time.perf_counter() - t0
                scores = det.score(X["test"])
                metrics = detection_metrics(
                    y[split.test], scores, det.threshold_, families[split.test],
                    benign_prevalence=config.benign_prevalence,
                )
                metrics.update(seed=seed, fit_seconds=round(fit_s, 2))
                runs[name].append(metrics)
                log.info("seed %d %s: recall %.4f, FPR %.4f%%, precision@%.0f%% benign %.4f (fit %.1fs)",
                         seed, name, _nan(metrics["recall"]), 100 * _nan(metrics["fpr"]),
                         100 * config.benign_prevalence, _nan(metrics["precision_at_prevalence"]), fit_s)
                detectors[name] = det
                if i == 0:
                    kept.setdefault("curves", {})[name] = curves(y[split.test], scores)
                bar.update(1)
            if i == 0:
                kept.update(transform=transform, detectors=detectors, split=split)
    finally:
        bar.close()

    split = kept["split"]
    seen = np.concatenate([split.train, split.val])
    metadata = {
        "config": asdict(config),
        "data": {"load": load_summary or {}, "cleaning": cleaning.to_dict(), "rows": int(len(cleaned))},
        "split": split.summary(),
        "metrics": {
            name: {"test": runs[name][0], "seeds": summarize_runs(runs[name]), "runs": runs[name],
                   "curves": kept["curves"][name]}
            for name in config.detectors
        },
    }
    hashes = np.unique(row_hashes(cleaned.iloc[seen], features))
    path = save_bundle(out, kept["transform"], kept["detectors"], metadata=metadata, overwrite=overwrite,
                       extra_files={TRAINING_ROWS_FILE: hashes})
    for name in config.detectors:
        s = metadata["metrics"][name]["seeds"]
        n = len(config.seeds)
        log.info("%s over %d seed%s: recall %s, FPR %s", name, n, "" if n == 1 else "s",
                 _pm(s, "recall"), _pm(s, "fpr"))
    return path


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _pm(summary: dict, key: str) -> str:
    entry = summary.get(key) or {}
    std = _nan(entry.get("std"))
    mean = f"{_nan(entry.get('mean')):.4f}"
    return mean if std != std else f"{mean} ± {std:.4f}"  # one seed has no spread


def evaluate_bundle(
    bundle: Bundle,
    frame: pd.DataFrame,
    *,
    benign_prevalence: float | None = None,
    exclude_training_rows: bool = True,
    load_summary: dict | None = None,
) -> dict:
    """Measure every detector of ``bundle`` on labelled flows.

    Rows the bundle saw while training or calibrating (matched by their
    feature vector) are left out and counted, so evaluating on the training
    data set again still gives held-out numbers.

    Returns
    -------
    dict
        The evaluation document: ``rows``, ``excluded_training_rows``,
        ``benign_prevalence``, ``data`` and ``detectors`` → name → metrics
        (plus ``curves``, ``feature_importances`` and training-time ``seeds``).
    """
    if schema.FAMILY not in frame.columns:
        raise ValueError("evaluation needs labelled flows (a Label column)")
    meta = bundle.manifest.get("metadata", {})
    config = meta.get("config", {})
    prevalence = benign_prevalence if benign_prevalence is not None else config.get("benign_prevalence", 0.99)
    features = list(bundle.features)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        bundle.transform.transform(frame.head(1))  # raises MissingFeatureError with the full message
    cleaned, cleaning = clean_flows(frame, features, attempted=config.get("attempted", "normal"))
    excluded = 0
    trained = bundle.extra_array(TRAINING_ROWS_FILE) if exclude_training_rows else None
    if trained is not None and len(cleaned):
        seen = np.isin(row_hashes(cleaned, features), trained)
        excluded = int(seen.sum())
        cleaned = cleaned.loc[~seen].reset_index(drop=True)
    if not len(cleaned):
        raise ValueError("no rows left to evaluate: every row was used to train or calibrate this bundle")
    y = attack_labels(cleaned)
    families = cleaned[schema.FAMILY].to_numpy()
    scores = bundle.score_frame(cleaned)
    detectors = {}
    for name, s in scores.items():
        det = bundle.detectors[name]
        m = detection_metrics(y, s, det.threshold_, families, benign_prevalence=prevalence)
        m["curves"] = curves(y, s)
        importances = det.metadata().get("feature_importances")
        if importances is not None and len(importances) == len(features):
            m["feature_importances"] = dict(zip(features, map(float, importances)))
        trained_metrics = meta.get("metrics", {}).get(name, {})
        if "seeds" in trained_metrics:
            m["seeds"] = trained_metrics["seeds"]
        detectors[name] = m
    return {
        "rows": int(len(cleaned)),
        "excluded_training_rows": excluded,
        "benign_prevalence": prevalence,
        "bundle": str(bundle.path),
        "data": {"load": load_summary or {}, "cleaning": cleaning.to_dict()},
        "detectors": detectors,
    }


def score_flows(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """Each flow's score and verdict from every detector, beside its identifiers.

    Returns
    -------
    DataFrame (n_flows, ...)
        Identifier columns the input has, ``<detector>_score`` and
        ``<detector>_attack`` (0/1) per detector, and ``Label``/``Family``
        when the input is labelled.
    """
    scores = bundle.score_frame(frame)
    out = frame[[c for c in schema.IDENTIFIERS if c in frame.columns]].copy()
    for name, s in scores.items():
        out[f"{name}_score"] = s
        out[f"{name}_attack"] = (s >= bundle.detectors[name].threshold_).astype(np.int8)
    for col in (schema.LABEL, schema.FAMILY):
        if col in frame.columns:
            out[col] = frame[col].to_numpy()
    return out


def parse_detectors(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"rf,cnn"`` → ``("rf", "cnn")``, refusing names that are not detectors."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if n not in DETECTORS]
    if unknown or not names:
        raise ValueError(f"unknown detector(s) {unknown or text!r}; choose from {','.join(sorted(DETECTORS))}")
    return tuple(dict.fromkeys(names))


def parse_params(items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """``["cnn.n_members=1", "rf.n_estimators=200"]`` → ``{"cnn": {"n_members": 1}, ...}``.

    Values are read as JSON when they parse (numbers, booleans, lists, null),
    else kept as text; the detector's constructor checks them.
    """
    import json

    params: dict[str, dict[str, Any]] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        det, dot, name = key.partition(".")
        if not sep or not dot or not det or not name:
            raise ValueError(f"--set {item!r}: expected DETECTOR.PARAM=VALUE, e.g. cnn.n_members=1")
        if det not in DETECTORS:
            raise ValueError(f"--set {item!r}: unknown detector {det!r}; choose from {sorted(DETECTORS)}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        params.setdefault(det, {})[name] = parsed
    return params

