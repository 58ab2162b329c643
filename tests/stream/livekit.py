"""Shared inputs of the live-service tests: a small rf+cnn bundle and labelled replay files.

Trained once per test session on simulator traffic (one seed), kept in the
session's temporary folder so ``tests/stream`` and ``tests/service`` share it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flowsentinel.capture import write_flow_csv
from flowsentinel.simulate import TrafficSimulator, simulate_flows
from flowsentinel.training import TrainConfig, train_bundle


def simulated_frame(seed: int, seconds: float = 20.0, benign_rate: float = 20.0) -> pd.DataFrame:
    return simulate_flows(TrafficSimulator(duration_s=seconds, seed=seed, benign_sessions_per_s=benign_rate))


def write_labelled_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame = frame.copy()
    labels = frame.pop("Label")
    write_flow_csv(frame, path, labels=labels)
    return path


def live_bundle(root: Path) -> Path:
    """A verified rf+cnn bundle (small forest, one-member CNN, two epochs) under ``root``."""
    path = root / "live-bundle"
    if (path / "manifest.json").is_file():
        return path
    from flowsentinel.data.loader import load_flows

    csv = write_labelled_csv(simulated_frame(seed=21), root / "live-train.csv")
    frame = load_flows([csv], progress=False).frame
    config = TrainConfig(detectors=("rf", "cnn"), seeds=(0,), split="stratified",
                         detector_params={"rf": {"n_estimators": 20},
                                          "cnn": {"n_members": 1, "max_epochs": 2, "batch_size": 512}})
    return train_bundle(frame, path, config, progress=False)


def replay_csv(root: Path) -> Path:
    """Labelled flows of another simulator seed, as a CSV of the improved release."""
    path = root / "live-replay.csv"
    if not path.is_file():
        write_labelled_csv(simulated_frame(seed=22), path)
    return path
