"""detection_metrics and curves on tiny hand-written examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from flowsentinel.evaluation import curves, detection_metrics, precision_at_prevalence

# Ten flows, hand-labelled.  Threshold 0.5 flags rows 3, 4 (benign: 2 fp),
# 6, 7, 8, 9 (attacks: 4 tp) and misses row 5 (1 fn); rows 0-2 are tn.
Y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
S = np.array([0.1, 0.2, 0.3, 0.6, 0.9, 0.4, 0.5, 0.7, 0.8, 0.95])
FAM = ["Normal"] * 5 + ["DoS", "DoS", "PortScan", "PortScan", "DDoS"]


@pytest.fixture
def tiny() -> dict:
    return detection_metrics(Y, S, 0.5, FAM)


def test_confusion_matrix_and_rates_match_hand_count(tiny):
    assert tiny["confusion_matrix"] == {"tn": 3, "fp": 2, "fn": 1, "tp": 4}
    assert (tiny["rows"], tiny["attacks"], tiny["benign"]) == (10, 5, 5)
    assert tiny["precision"] == pytest.approx(4 / 6)
    assert tiny["recall"] == pytest.approx(4 / 5)
    assert tiny["f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 1))
    assert tiny["fpr"] == pytest.approx(2 / 5)
    assert tiny["threshold"] == 0.5


def test_aucs_match_hand_count(tiny):
    # 25 (attack, benign) pairs; the attack scores higher in 19 of them.
    assert tiny["roc_auc"] == pytest.approx(19 / 25)
    assert 0.0 < tiny["pr_auc"] <= 1.0


def test_per_family_recall_and_support(tiny):
    # row 5 (DoS, 0.4) is the only miss
    assert tiny["per_family"] == {"DoS": 0.5, "DDoS": 1.0, "PortScan": 1.0}
    assert tiny["per_family_support"] == {"DoS": 2, "DDoS": 1, "PortScan": 2}
    assert "Normal" not in tiny["per_family"]


def test_per_family_follows_schema_report_order(tiny):
    assert list(tiny["per_family"]) == ["DoS", "DDoS", "PortScan"]


def test_without_families_per_family_is_empty():
    result = detection_metrics(Y, S, 0.5)
    assert result["per_family"] == {} and result["per_family_support"] == {}


def test_score_equal_to_threshold_counts_as_attack():
    result = detection_metrics([1, 0], [0.5, 0.5], 0.5)
    assert result["confusion_matrix"] == {"tn": 0, "fp": 1, "fn": 0, "tp": 1}
    just_above = detection_metrics([1, 0], [0.5, 0.5], np.nextafter(0.5, 1.0))
    assert just_above["confusion_matrix"]["tp"] == 0


def test_result_is_strict_json_with_python_types(tiny):
    text = json.dumps(tiny, allow_nan=False)
    assert json.loads(text) == tiny
    assert type(tiny["rows"]) is int and type(tiny["precision"]) is float


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_gives_none_auc_not_a_crash(label):
    y = np.full(4, label)
    fam = ["Normal"] * 4 if label == 0 else ["DoS"] * 4
    result = detection_metrics(y, [0.1, 0.4, 0.6, 0.9], 0.5, fam)
    assert result["roc_auc"] is None and result["pr_auc"] is None
    assert result["precision_at_prevalence"] is None
    json.dumps(result, allow_nan=False)
    if label == 0:
        assert result["recall"] is None and result["fpr"] == 0.5
    else:
        assert result["fpr"] is None and result["recall"] == 0.5


def test_nothing_flagged_gives_none_precision():
    result = detection_metrics([0, 1], [0.1, 0.2], 0.9)
    assert result["precision"] is None
    assert result["recall"] == 0.0 and result["f1"] == 0.0


# --- prevalence adjustment -----------------------------------------------------


def test_prevalence_formula_by_hand():
    # TPR 0.8, FPR 0.4, pi 0.99: 0.008 / (0.008 + 0.396)
    assert precision_at_prevalence(0.8, 0.4, 0.99) == pytest.approx(0.008 / 0.404)


def test_zero_fpr_gives_perfect_precision_at_any_prevalence():
    for pi in (0.5, 0.9, 0.99, 0.999):
        assert precision_at_prevalence(0.3, 0.0, pi) == 1.0


def test_prevalence_equal_to_sample_gives_sample_precision(tiny):
    sample_pi = tiny["benign"] / tiny["rows"]
    again = detection_metrics(Y, S, 0.5, benign_prevalence=sample_pi)
    assert again["precision_at_prevalence"] == pytest.approx(tiny["precision"])


def test_all_attack_predictor_looks_good_on_sample_but_not_at_99_percent_benign():
    # a CICIDS-like sample: 12% benign; the "detector" flags everything
    y = np.array([0] * 12 + [1] * 88)
    result = detection_metrics(y, np.ones(100), 0.5)
    assert result["precision"] == pytest.approx(0.88)
    assert result["f1"] > 0.9  # the misleading headline number
    assert result["precision_at_prevalence"] == pytest.approx(0.01)
    assert result["precision_at_prevalence"] < 0.05


def test_undefined_prevalence_inputs_give_none():
    assert precision_at_prevalence(None, 0.1) is None
    assert precision_at_prevalence(0.0, 0.0) is None


def test_prevalence_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="benign_prevalence"):
        detection_metrics(Y, S, 0.5, benign_prevalence=1.5)


# --- input errors a user can act on ------------------------------------------------


def test_families_disagreeing_with_labels_name_the_row():
    fam = list(FAM)
    fam[2] = "DoS"
    with pytest.raises(ValueError, match="first at row 2"):
        detection_metrics(Y, S, 0.5, fam)


def test_missing_family_values_are_rejected():
    fam = list(FAM)
    fam[7] = None
    with pytest.raises(ValueError, match="NoneType"):
        detection_metrics(Y, S, 0.5, fam)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 2], [0.1, 0.2], "only 0"),
        ([0, 1], [0.1, float("nan")], "finite"),
        ([0, 1], [0.1], "shape"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs_raise_with_a_reason(y, s, message):
    with pytest.raises(ValueError, match=message):
        detection_metrics(y, s, 0.5)


# --- curves ----------------------------------------------------------------------


def test_curves_are_equal_length_strict_json():
    result = curves(Y, S)
    for name in ("roc", "pr"):
        columns = list(result[name].values())
        assert len({len(c) for c in columns}) == 1
    json.dumps(result, allow_nan=False)
    assert result["roc"]["fpr"][0] == 0.0 and result["roc"]["fpr"][-1] == 1.0
    assert result["roc"]["thresholds"][0] is None  # scikit-learn's leading inf


def test_curves_are_downsampled_but_keep_ends_and_order():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20_000)
    s = rng.random(20_000) + 0.3 * y
    result = curves(y, s, max_points=200)
    fpr = np.array(result["roc"]["fpr"])
    assert 2 <= fpr.size <= 200 and len(result["pr"]["recall"]) <= 200
    assert np.all(np.diff(fpr) >= 0) and fpr[0] == 0.0 and fpr[-1] == 1.0
    assert fpr[1] < 1e-2  # low-FPR region kept for log-scale plots
    assert result["pr"]["recall"][0] == 1.0 and result["pr"]["recall"][-1] == 0.0


def test_curves_with_one_class_are_none():
    only_benign = curves([0, 0, 0], [0.1, 0.2, 0.3])
    assert only_benign == {"roc": None, "pr": None}
    only_attacks = curves([1, 1], [0.1, 0.2])
    assert only_attacks["roc"] is None and only_attacks["pr"] is not None
    assert not math.isnan(only_attacks["pr"]["precision"][0])
