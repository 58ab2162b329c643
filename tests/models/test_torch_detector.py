"""TorchDetector specifics: member averaging, training history, device choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flowsentinel.models import CNNDetector


@pytest.fixture(scope="module")
def pair(split_xy):
    d = split_xy
    det = CNNDetector(n_members=2, max_epochs=3, patience=2, lr_patience=1, threads=1, random_state=5)
    return det.fit(d["X"], d["y"], d["X_val"], d["y_val"])


def test_members_are_averaged_inside_the_served_graph(pair, split_xy):
    X = split_xy["X_test"]
    with torch.no_grad():
        probs = [torch.sigmoid(m(torch.from_numpy(X)).reshape(-1)).numpy() for m in pair.network_]
    assert len(probs) == 2 and not np.allclose(probs[0], probs[1])
    np.testing.assert_allclose(pair.score(X), np.mean(probs, axis=0), atol=1e-5)


def test_history_and_best_epoch_per_member(pair):
    md = json.loads(json.dumps(pair.metadata()))
    assert len(md["history"]) == 2 and len(md["best_epoch"]) == 2
    for hist, best in zip(md["history"], md["best_epoch"]):
        assert 1 <= best <= len(hist) <= 3
        assert all(np.isfinite(h["val_loss"]) for h in hist)


def test_ensemble_round_trip(pair, split_xy, tmp_path):
    files = pair.save(tmp_path)
    assert sorted(files) == ["cnn.onnx", "cnn.safetensors"]
    again = CNNDetector.load(tmp_path, {"threshold": pair.threshold_, "metadata": pair.metadata()})
    assert len(again.network_) == 2
    assert np.array_equal(again.score(split_xy["X_test"]), pair.score(split_xy["X_test"]))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_members"):
        CNNDetector(n_members=0)
    with pytest.raises(ValueError, match="kernel_size"):
        CNNDetector(kernel_size=4)
    with pytest.raises(ValueError, match="device"):
        CNNDetector(device="tpu")


def test_global_torch_state_is_restored(split_xy):
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    d = split_xy
    CNNDetector(max_epochs=1, threads=1).fit(d["X"], d["y"], d["X_val"], d["y_val"])
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
