"""The one contract every detector in DETECTORS must pass (pyod/river style).

Adding a detector = one module + an entry in DETECTORS; this file then runs on
it unchanged.  FAST gives small training settings so the suite stays quick.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from flowsentinel.models import DETECTORS, Detector, NotFittedError, make_detector

FAST: dict[str, dict] = {
    "rf": {"n_estimators": 30},
    "cnn": {"max_epochs": 8, "patience": 3, "batch_size": 128, "threads": 1},
}
TARGET_FPR = 0.05


def build(name: str, seed: int = 7) -> Detector:
    return make_detector(name, random_state=seed, **FAST.get(name, {}))


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def fitted(request, split_xy):
    d = split_xy
    det = build(request.param).fit(d["X"], d["y"], d["X_val"], d["y_val"], target_fpr=TARGET_FPR)
    return request.param, det


def test_registry_names_match_classes():
    for name, cls in DETECTORS.items():
        assert cls.name == name
        assert issubclass(cls, Detector)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="known detectors: cnn, rf"):
        make_detector("svm")


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_unfitted_detector_refuses_to_score(name, split_xy):
    with pytest.raises(NotFittedError, match="not fitted"):
        build(name).score(split_xy["X_test"])


def test_score_shape_dtype_and_range(fitted, split_xy):
    _, det = fitted
    X = split_xy["X_test"]
    s = det.score(X)
    assert s.shape == (len(X),)
    assert np.issubdtype(s.dtype, np.floating)
    assert np.all((s >= 0) & (s <= 1))
    # batch 1, a 1-D flow and float64 input give the same answer as the batch
    np.testing.assert_allclose(det.score(X[:1]), s[:1], atol=1e-6)
    np.testing.assert_allclose(det.score(X[0]), s[:1], atol=1e-6)
    np.testing.assert_allclose(det.score(X[:5].astype(np.float64)), s[:5], atol=1e-6)


def test_wrong_feature_count_is_refused(fitted, split_xy):
    _, det = fitted
    with pytest.raises(ValueError, match=r"expected shape \(n_flows, "):
        det.score(split_xy["X_test"][:, :-1])


def test_predict_applies_threshold(fitted, split_xy):
    _, det = fitted
    X = split_xy["X_test"]
    s = det.score(X)
    pred = det.predict(X)
    assert pred.dtype == bool
    assert np.array_equal(pred, s >= det.threshold_)
    saved = det.threshold_
    try:
        det.threshold_ = float(np.median(s))
        assert np.array_equal(det.predict(X), s >= det.threshold_)
        det.threshold_ = 1.5
        assert not det.predict(X).any()
    finally:
        det.threshold_ = saved


def test_threshold_respects_target_fpr_on_validation(fitted, split_xy):
    _, det = fitted
    benign = det.score(split_xy["X_val"][split_xy["y_val"] == 0])
    assert np.mean(benign >= det.threshold_) <= TARGET_FPR
    assert det.target_fpr_ == TARGET_FPR


def test_auc_clearly_above_chance(fitted, split_xy):
    name, det = fitted
    auc = roc_auc_score(split_xy["y_test"], det.score(split_xy["X_test"]))
    assert auc > 0.9, f"{name}: AUC {auc:.3f} on an easy synthetic problem"


def test_save_load_round_trip_gives_identical_scores(fitted, split_xy, tmp_path):
    _, det = fitted
    files = det.save(tmp_path)
    assert files and all((tmp_path / f).is_file() for f in files)
    assert not any(f.endswith((".pkl", ".pickle", ".joblib", ".pt")) for f in files)
    meta = json.loads(json.dumps({"threshold": det.threshold_, "artifacts": files,
                                  "metadata": det.metadata()}))
    again = type(det).load(tmp_path, meta)
    X = split_xy["X_test"]
    assert np.array_equal(again.score(X), det.score(X))
    assert again.threshold_ == det.threshold_
    assert np.array_equal(again.predict(X), det.predict(X))


def test_metadata_is_json_and_recreates_params(fitted):
    _, det = fitted
    md = json.loads(json.dumps(det.metadata()))
    assert md["n_features"] == det.n_features_in_
    assert type(det)(**md["params"]).params() == det.params()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_same_seed_same_scores_and_validation_carved(name, split_xy):
    d = split_xy
    a = build(name, seed=3).fit(d["X"], d["y"])
    b = build(name, seed=3).fit(d["X"], d["y"])
    np.testing.assert_allclose(a.score(d["X_test"]), b.score(d["X_test"]), atol=1e-6)
    assert a.threshold_ == pytest.approx(b.threshold_, abs=1e-6)
    # no validation set given: a seeded, stratified slice of the training rows is held out
    assert 0 < a.n_val_benign_ < (d["y"] == 0).sum()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_fit_rejects_bad_input(name, split_xy):
    d = split_xy
    with pytest.raises(ValueError, match="both benign"):
        build(name).fit(d["X"], np.ones_like(d["y"]))
    bad = d["X"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="FlowTransform"):
        build(name).fit(bad, d["y"])
    with pytest.raises(ValueError, match="rows but"):
        build(name).fit(d["X"], d["y"][:-1])
