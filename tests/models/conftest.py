"""Small synthetic flow data for the models tests (numpy only, generated in memory)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowsentinel.schema import FEATURES


def make_flows(n: int = 1500, seed: int = 0, attack_rate: float = 0.4) -> tuple[pd.DataFrame, np.ndarray]:
    """Heavy-tailed raw features in canonical columns; attacks shift a few of them.

    Returns a frame with every ``schema.FEATURES`` column plus ``Dst Port``
    and a 0/1 label vector (1 = attack).  Easy on purpose: a working detector
    separates it with AUC near 1.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < attack_rate).astype(np.int64)
    raw = rng.lognormal(mean=3.0, sigma=2.0, size=(n, len(FEATURES)))
    # attacks: more packets, shorter durations, larger rates on a handful of features
    raw[:, :4] *= np.where(y[:, None] == 1, 20.0, 1.0)
    raw[:, 13:15] *= np.where(y[:, None] == 1, 50.0, 1.0)
    raw[:, 30:35] = np.where(y[:, None] == 1, rng.integers(3, 6, (n, 5)), rng.integers(0, 2, (n, 5)))
    frame = pd.DataFrame(raw, columns=list(FEATURES))
    frame["Dst Port"] = rng.integers(1, 65535, n)
    return frame, y


@pytest.fixture(scope="session")
def flows() -> tuple[pd.DataFrame, np.ndarray]:
    return make_flows()


@pytest.fixture(scope="session")
def split_xy(flows):
    """Transformed train / validation / test arrays (transform fitted on train only)."""
    from flowsentinel.models import FlowTransform

    frame, y = flows
    n = len(y)
    tr, va, te = np.arange(0, int(0.6 * n)), np.arange(int(0.6 * n), int(0.8 * n)), np.arange(int(0.8 * n), n)
    tf = FlowTransform(FEATURES).fit(frame.iloc[tr])
    return {
        "transform": tf,
        "frame": frame,
        "X": tf.transform(frame.iloc[tr]), "y": y[tr],
        "X_val": tf.transform(frame.iloc[va]), "y_val": y[va],
        "X_test": tf.transform(frame.iloc[te]), "y_test": y[te],
        "test_rows": te,
    }
