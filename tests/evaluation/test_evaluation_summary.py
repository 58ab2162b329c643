"""summarize_runs: mean and sample spread over seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flowsentinel.evaluation import detection_metrics, summarize_runs


def _run(seed: int, f1: float, dos: float, **extra) -> dict:
    return {
        "seed": seed,
        "f1": f1,
        "roc_auc": None if seed == 2 else 0.9,
        "confusion_matrix": {"tp": 10 + seed, "fp": 1},
        "per_family": {"DoS": dos},
        "curves": {"roc": {"fpr": [0.0, 1.0]}},
        **extra,
    }


def test_mean_std_min_max_by_hand():
    summary = summarize_runs([_run(0, 0.7, 0.5), _run(1, 0.8, 0.6), _run(2, 0.9, 0.7)])
    f1 = summary["f1"]
    assert f1["mean"] == pytest.approx(0.8)
    assert f1["std"] == pytest.approx(0.1)  # sample std (n - 1), not 0.0816
    assert (f1["min"], f1["max"], f1["n"]) == (pytest.approx(0.7), pytest.approx(0.9), 3)
    assert summary["n_runs"] == 3 and summary["seeds"] == [0, 1, 2]


def test_nested_metrics_are_summarised():
    summary = summarize_runs([_run(0, 0.7, 0.5), _run(1, 0.8, 0.6), _run(2, 0.9, 0.7)])
    assert summary["per_family"]["DoS"]["mean"] == pytest.approx(0.6)
    assert summary["confusion_matrix"]["tp"]["mean"] == pytest.approx(11)
    assert summary["confusion_matrix"]["fp"]["std"] == 0.0
    assert "curves" not in summary and "seed" not in summary


def test_summary_keys_are_not_overwritten_by_run_keys():
    summary = summarize_runs([{"seed": 4, "n_runs": 99, "f1": 0.5}, {"seed": 5, "f1": 0.7}])
    assert summary["n_runs"] == 2 and summary["seeds"] == [4, 5]


def test_none_and_missing_values_are_left_out_and_counted():
    runs = [_run(0, 0.7, 0.5), _run(1, 0.8, 0.6), _run(2, 0.9, 0.7)]
    del runs[1]["per_family"]["DoS"]
    summary = summarize_runs(runs)
    assert summary["roc_auc"]["n"] == 2  # None in seed 2
    assert summary["per_family"]["DoS"]["n"] == 2
    assert summary["per_family"]["DoS"]["mean"] == pytest.approx(0.6)


def test_single_run_has_no_std_and_no_seeds_without_seed_key():
    summary = summarize_runs([{"f1": 0.5}])
    assert summary["f1"]["std"] is None
    assert summary["f1"]["mean"] == 0.5
    assert "seeds" not in summary


def test_real_metric_dicts_summarise_to_strict_json():
    rng = np.random.default_rng(1)
    runs = []
    for seed in range(3):
        y = rng.integers(0, 2, 200)
        fam = np.where(y == 1, rng.choice(["DoS", "PortScan"], 200), "Normal")
        metrics = detection_metrics(y, rng.random(200) + 0.5 * y, 0.6, fam)
        runs.append({"seed": seed, **metrics})
    summary = summarize_runs(runs)
    json.dumps(summary, allow_nan=False)
    assert set(summary["per_family"]) == {"DoS", "PortScan"}
    assert summary["precision"]["n"] == 3


def test_empty_and_non_dict_runs_are_rejected():
    with pytest.raises(ValueError, match="at least one run"):
        summarize_runs([])
    with pytest.raises(TypeError, match="run 1"):
        summarize_runs([{"f1": 0.5}, [0.5]])
