"""Shared test fixtures: where the real CICIDS-2017 sample lives, and the tiny synthetic CSVs
(written for each session by scripts/make_fixtures.py, never committed)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_sample_dir() -> Path:
    """The real labelled sample: $FLOWSENTINEL_DATA (default ../shared/data)."""
    root = Path(os.environ.get("FLOWSENTINEL_DATA", REPO.parent / "shared" / "data"))
    return root / "cicids2017-improved-sample"


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("make_fixtures", REPO / "scripts" / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_fixtures(tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    path = shared_sample_dir()
    if not path.is_dir():
        pytest.fail(
            f"the real-data tests need the CICIDS-2017 sample at {path}; "
            "set FLOWSENTINEL_DATA to the folder that holds cicids2017-improved-sample/"
        )
    return path
