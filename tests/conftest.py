"""Shared test fixtures: where the real CICIDS-2017 sample and the tiny fixtures live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def shared_sample_dir() -> Path:
    """The real labelled sample: $FLOWSENTINEL_DATA (default ../shared/data)."""
    root = Path(os.environ.get("FLOWSENTINEL_DATA", REPO.parent / "shared" / "data"))
    return root / "cicids2017-improved-sample"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    path = shared_sample_dir()
    if not path.is_dir():
        pytest.fail(
            f"the real-data tests need the CICIDS-2017 sample at {path}; "
            "set FLOWSENTINEL_DATA to the folder that holds cicids2017-improved-sample/"
        )
    return path
