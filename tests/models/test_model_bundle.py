"""Bundle: round trip, manifest contents, and refusal of every kind of damage."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from flowsentinel.models import (
    BundleError,
    Detector,
    load_bundle,
    make_detector,
    save_bundle,
)

FAST = {"rf": {"n_estimators": 20}, "cnn": {"max_epochs": 4, "patience": 2, "threads": 1}}


@pytest.fixture(scope="module")
def fitted_detectors(split_xy) -> dict[str, Detector]:
    d = split_xy
    return {
        name: make_detector(name, random_state=1, **params).fit(d["X"], d["y"], d["X_val"], d["y_val"])
        for name, params in FAST.items()
    }


@pytest.fixture(scope="module")
def master(tmp_path_factory, split_xy, fitted_detectors):
    path = tmp_path_factory.mktemp("bundles") / "master"
    return save_bundle(path, split_xy["transform"], fitted_detectors,
                       extra_files={"training_rows.npy": np.arange(10, dtype=np.uint64)},
                       metadata={"split": "synthetic",
                                 "metrics": {"rf": {"auc": np.float64(0.99), "precision": float("nan")}}})


@pytest.fixture
def bundle(master, tmp_path):
    """A fresh copy of the saved bundle that a test may damage."""
    return shutil.copytree(master, tmp_path / "bundle")


def manifest_of(path):
    return json.loads((path / "manifest.json").read_text())


def write_manifest(path, manifest):
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_round_trip_scores_equal_and_manifest_complete(bundle, split_xy, fitted_detectors):
    loaded = load_bundle(bundle)
    frame = split_xy["frame"].iloc[split_xy["test_rows"]]
    scores = loaded.score_frame(frame)
    X = split_xy["transform"].transform(frame)
    assert set(scores) == set(fitted_detectors)
    for name, det in fitted_detectors.items():
        assert np.array_equal(scores[name], det.score(X))
        assert loaded.detectors[name].threshold_ == det.threshold_
    m = loaded.manifest
    assert m["format"] == "flowsentinel-bundle" and m["format_version"] == 1
    assert list(loaded.features) == m["features"] == list(split_xy["transform"].features)
    assert {"python", "numpy", "sklearn", "torch", "onnxruntime", "flowsentinel"} <= set(m["versions"])
    assert m["metadata"]["metrics"]["rf"]["auc"] == pytest.approx(0.99)
    assert m["metadata"]["metrics"]["rf"]["precision"] is None  # strict JSON: no NaN

    def no_constants(name):
        raise AssertionError(f"manifest.json holds {name}, which strict JSON readers reject")

    json.loads((bundle / "manifest.json").read_text(), parse_constant=no_constants)
    assert len(m["detectors"]["rf"]["metadata"]["feature_importances"]) == len(loaded.features)
    for entry in m["detectors"].values():
        assert {"class", "threshold", "artifacts", "metadata"} <= set(entry)
        assert all(a in m["files"] for a in entry["artifacts"])
    preds = loaded.predict_frame(frame)
    assert all(p.dtype == bool for p in preds.values())


def test_no_pickle_written_and_loading_needs_none(bundle, monkeypatch, split_xy):
    names = [p.name for p in bundle.rglob("*") if p.is_file()]
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib", ".pt", ".pth"))]

    def refuse(*_a, **_k):
        raise AssertionError("a bundle must load without unpickling anything")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded = load_bundle(bundle)
    assert loaded.score_frame(split_xy["frame"].iloc[:5])["cnn"].shape == (5,)


def test_existing_folder_is_not_overwritten_by_accident(master, split_xy, fitted_detectors):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_bundle(master, split_xy["transform"], fitted_detectors, metadata={})


def test_flipped_byte_in_artifact_is_refused(bundle):
    onnx = bundle / "rf" / "rf.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"rf\.onnx: SHA-256 mismatch"):
        load_bundle(bundle)


def test_truncated_artifact_is_refused(bundle):
    weights = bundle / "cnn" / "cnn.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"cnn\.safetensors: SHA-256 mismatch.*100 bytes"):
        load_bundle(bundle)


def test_missing_artifact_is_refused(bundle):
    (bundle / "cnn" / "cnn.onnx").unlink()
    with pytest.raises(BundleError, match=r"cnn\.onnx is listed in the manifest but missing"):
        load_bundle(bundle)


def test_missing_or_truncated_manifest_is_refused(bundle):
    text = (bundle / "manifest.json").read_text()
    (bundle / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(BundleError, match="manifest.json is not valid JSON"):
        load_bundle(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(bundle)


def test_edited_feature_order_is_refused(bundle):
    m = manifest_of(bundle)
    m["features"][0], m["features"][1] = m["features"][1], m["features"][0]
    write_manifest(bundle, m)
    with pytest.raises(BundleError, match="feature list disagrees.*position 0"):
        load_bundle(bundle)


def test_edited_feature_order_everywhere_in_manifest_is_still_refused(bundle):
    m = manifest_of(bundle)
    for feats in (m["features"], m["transform"]["features"]):
        feats[0], feats[1] = feats[1], feats[0]
    write_manifest(bundle, m)
    with pytest.raises(BundleError, match="features.json"):
        load_bundle(bundle)


@pytest.mark.parametrize("name", ["../outside.onnx", "/etc/passwd", "rf/../../x"])
def test_path_escape_is_refused(bundle, name):
    m = manifest_of(bundle)
    m["files"][name] = "0" * 64
    write_manifest(bundle, m)
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle)


def test_symlink_out_of_the_bundle_is_refused(bundle, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(bundle / "rf" / "rf.onnx", outside)
    (bundle / "rf" / "rf.onnx").unlink()
    (bundle / "rf" / "rf.onnx").symlink_to(outside)
    with pytest.raises(BundleError, match="outside the bundle folder"):
        load_bundle(bundle)


@pytest.mark.parametrize("key,value,message", [
    ("format", "sklearn-pickle", "format is 'sklearn-pickle'"),
    ("format_version", 2, "format_version 2 is not supported.*upgrade flowsentinel"),
])
def test_wrong_format_or_version_is_refused(bundle, key, value, message):
    m = manifest_of(bundle)
    m[key] = value
    write_manifest(bundle, m)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle)


def test_unknown_detector_kind_is_refused(bundle):
    m = manifest_of(bundle)
    m["detectors"]["rf"]["kind"] = "evil"
    write_manifest(bundle, m)
    with pytest.raises(BundleError, match="unknown kind 'evil'"):
        load_bundle(bundle)


def test_not_a_bundle_folder(tmp_path):
    with pytest.raises(BundleError, match="not a bundle folder"):
        load_bundle(tmp_path / "nope")


def test_extra_arrays_are_checksummed_and_read_without_pickle(bundle):
    loaded = load_bundle(bundle)
    assert np.array_equal(loaded.extra_array("training_rows.npy"), np.arange(10))
    assert loaded.extra_array("other.npy") is None
    extra = bundle / "extra" / "training_rows.npy"
    extra.write_bytes(extra.read_bytes()[:-8])
    with pytest.raises(BundleError, match=r"training_rows\.npy: SHA-256 mismatch"):
        load_bundle(bundle)


def test_object_arrays_are_not_stored(tmp_path, split_xy, fitted_detectors):
    with pytest.raises(ValueError, match="numeric array"):
        save_bundle(tmp_path / "b", split_xy["transform"], fitted_detectors,
                    extra_files={"x.npy": np.array([{"a": 1}], dtype=object)})
