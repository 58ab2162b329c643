"""Detectors behind one contract, the fitted transform, and the model bundle.

>>> from flowsentinel.models import FlowTransform, make_detector, save_bundle, load_bundle
"""

from __future__ import annotations

from typing import Any

from flowsentinel.models.base import Detector, NotFittedError, threshold_for_fpr
from flowsentinel.models.bundle import Bundle, BundleError, load_bundle, save_bundle
from flowsentinel.models.cnn import CNNDetector
from flowsentinel.models.forest import RandomForestDetector
from flowsentinel.models.transform import FlowTransform, MissingFeatureError

__all__ = [
    "DETECTORS",
    "Bundle",
    "BundleError",
    "CNNDetector",
    "Detector",
    "FlowTransform",
    "MissingFeatureError",
    "NotFittedError",
    "RandomForestDetector",
    "load_bundle",
    "make_detector",
    "save_bundle",
    "threshold_for_fpr",
]

#: Every detector, by its short name; the contract test runs on each entry.
DETECTORS: dict[str, type[Detector]] = {
    RandomForestDetector.name: RandomForestDetector,
    CNNDetector.name: CNNDetector,
}


def make_detector(name: str, **params: Any) -> Detector:
    """Build an unfitted detector by short name.

    Parameters
    ----------
    name : str
        A key of :data:`DETECTORS` (``"rf"``, ``"cnn"``).
    **params
        Constructor keyword arguments of that detector.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; known detectors: {', '.join(sorted(DETECTORS))}"
        ) from None
    return cls(**params)
