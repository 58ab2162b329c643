"""threshold_for_fpr: at most floor(target * n) benign scores reach the threshold, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from flowsentinel.models import threshold_for_fpr


def flagged(scores, thr):
    return int(np.sum(np.asarray(scores) >= thr))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("target", [0.0, 0.001, 0.01, 0.1, 0.5])
def test_meets_target_and_is_smallest(seed, target):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(2000), 2)  # many ties on purpose
    thr = threshold_for_fpr(scores, target)
    assert flagged(scores, thr) / scores.size <= target
    # any smaller threshold that changes the flagged set breaks the target
    lower = scores[scores < thr].max(initial=-np.inf)
    if np.isfinite(lower):
        assert flagged(scores, lower) / scores.size > target


def test_ties_at_the_cut_are_not_flagged():
    scores = np.array([0.1] * 995 + [0.9] * 5)
    thr = threshold_for_fpr(scores, 0.004)  # 4 allowed, but 5 tied at 0.9
    assert flagged(scores, thr) == 0
    assert thr > 0.1


def test_zero_target_flags_nothing_and_full_target_flags_all():
    scores = np.linspace(0, 1, 101)
    assert flagged(scores, threshold_for_fpr(scores, 0.0)) == 0
    assert flagged(scores, threshold_for_fpr(scores, 1.0)) == scores.size


def test_float_rounding_of_target_times_n():
    scores = np.arange(1000) / 1000
    # 0.001 * 1000 is 1 allowed false positive, even though it is 0.999999... in floats
    assert flagged(scores, threshold_for_fpr(scores, 0.001)) == 1


@pytest.mark.parametrize("bad", [np.array([]), np.array([0.1, np.nan])])
def test_rejects_empty_or_non_finite(bad):
    with pytest.raises(ValueError):
        threshold_for_fpr(bad, 0.01)


def test_rejects_target_out_of_range():
    with pytest.raises(ValueError, match="target_fpr"):
        threshold_for_fpr(np.array([0.1, 0.2]), 1.5)


def test_float32_scores_compare_the_same_in_either_precision():
    # ONNX Runtime returns float32; numpy compares float32 arrays with a Python
    # float in float32, so the threshold must sit on a float32 value.
    scores = np.array([0.17518519, 0.5, 0.2, 0.1], dtype=np.float32)
    thr = threshold_for_fpr(scores, 0.25)  # 1 of 4 may be flagged
    assert flagged(scores, thr) == 1
    assert flagged(scores.astype(np.float64), thr) == 1


def test_tail_threshold_estimates_an_unseen_quantile():
    from flowsentinel.models.base import tail_threshold

    rng = np.random.default_rng(0)
    z = rng.logistic(0.0, 1.0, 20_000)  # logit-space scores with a known tail
    scores = 1 / (1 + np.exp(-z))
    thr = tail_threshold(scores[:2_000], 0.001)
    true = 1 / (1 + np.exp(-np.log(1 / 0.001 - 1)))  # logistic quantile: z = log(999)
    assert abs(np.log(thr / (1 - thr)) - np.log(true / (1 - true))) < 1.5
    # on fresh benign scores the realised FPR is near the target, not ~2x it
    assert np.mean(scores[2_000:] >= thr) < 0.003
    assert tail_threshold(scores[:19], 0.001) is None


def test_calibrated_threshold_is_never_looser_than_the_empirical_one():
    from flowsentinel.models.base import calibrate_threshold

    rng = np.random.default_rng(1)
    for n in (30, 996, 5_000):
        benign = rng.beta(1, 20, n).astype(np.float32)
        thr, est = calibrate_threshold(benign, 0.001)
        assert thr >= est["empirical"]
        assert (benign >= thr).sum() <= int(0.001 * n)
        if est["tail"] is not None:
            assert thr >= est["tail"] - 1e-6
