"""ensure_demo_bundle: trains a verified rf+cnn bundle on simulator traffic once, then reuses it."""

from __future__ import annotations

import json
import logging

from flowsentinel.models.bundle import load_bundle
from flowsentinel.stream.bootstrap import ensure_demo_bundle


def test_demo_bundle_is_trained_once(tmp_path, caplog):
    path = tmp_path / "demo"
    with caplog.at_level(logging.INFO):
        out = ensure_demo_bundle(path, progress=False, seconds=8.0, cnn_epochs=1)  # small: the real one is larger
    assert out == path
    # the first `make demo` shows no warning: one seed is the demo's choice, and metering went fine
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    bundle = load_bundle(path)
    assert set(bundle.detectors) == {"rf", "cnn"}
    manifest = (path / "manifest.json").read_text()
    assert json.loads(manifest)["detectors"]["cnn"]["metadata"]["params"]["n_members"] == 1
    ensure_demo_bundle(path, progress=False)  # already there: nothing is retrained
    assert (path / "manifest.json").read_text() == manifest
