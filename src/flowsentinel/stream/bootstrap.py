"""A demo bundle for a fresh machine: train rf + cnn on simulator traffic when none exists.

The simulator's flows go through the same path as any labelled data set
(written as a flow CSV, read back by the one loader, trained by
``train_bundle``), so the demo bundle is an ordinary, verified bundle.
Sized to finish in well under a minute on two cores: two 60 s simulated captures
with extra benign sessions, one seed, a one-member CNN with few epochs.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

__all__ = ["DEMO_SEEDS", "ensure_demo_bundle"]

log = logging.getLogger(__name__)

#: Simulator seeds of the demo bundle's training traffic; the live demo source uses other seeds.
DEMO_SEEDS = (101, 102)


def ensure_demo_bundle(path: str | Path, progress: bool | None = True, seconds: float = 60.0,
                       cnn_epochs: int = 6) -> Path:
    """Return ``path`` if it holds a bundle; else train one on simulated traffic there.

    Parameters
    ----------
    path : path
        Bundle folder.
    progress : bool, optional
        Progress bars while simulating and training.
    seconds : float
        Simulated seconds per seed (two seeds).
    cnn_epochs : int
        Upper bound on the CNN's epochs (early stopping may end sooner).

    Returns
    -------
    Path
        The bundle folder.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from flowsentinel.capture import write_flow_csv
    from flowsentinel.data.loader import load_flows
    from flowsentinel.simulate import TrafficSimulator, simulate_flows
    from flowsentinel.training import TrainConfig, train_bundle

    path = Path(path)
    if (path / "manifest.json").is_file():
        return path
    log.info("no bundle at %s: training a demo bundle (rf + cnn) on simulated traffic", path)
    frames = []
    quiet = (not progress) if progress is not None else None  # None: bars only on a terminal
    for seed in tqdm(DEMO_SEEDS, desc="simulating", unit="capture", disable=quiet):
        sim = TrafficSimulator(duration_s=seconds, seed=seed, benign_sessions_per_s=40.0)
        frames.append(simulate_flows(sim))
    frame = pd.concat(frames, ignore_index=True)
    labels = frame.pop("Label")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "simulated_flows.csv"
        write_flow_csv(frame, csv, labels=labels)
        loaded = load_flows([csv], progress=progress)
    config = TrainConfig(detectors=("rf", "cnn"), seeds=(0,),
                         detector_params={"cnn": {"n_members": 1, "max_epochs": cnn_epochs, "batch_size": 512}})
    return train_bundle(loaded.frame, path, config, load_summary=loaded.report.to_dict(), progress=progress)
