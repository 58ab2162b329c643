"""Shared helpers for the capture tests: golden scenarios and value comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
SCENARIOS = sorted(p.stem for p in GOLDEN.glob("*.json"))


def load_scenario(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())


def as_value(v):
    """JSON's spelling of non-finite numbers → floats."""
    if v in ("NaN", "Infinity", "-Infinity"):
        return float(v.replace("Infinity", "inf"))
    return v


def same(actual, expected) -> bool:
    """Equal, with NaN equal to NaN and a 1e-9 relative tolerance for floats."""
    expected = as_value(expected)
    if isinstance(expected, str):
        return actual == expected
    a, e = float(actual), float(expected)
    if math.isnan(e):
        return math.isnan(a)
    if math.isinf(e):
        return a == e
    return math.isclose(a, e, rel_tol=1e-9, abs_tol=1e-9)


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN
