"""Conversion of metric structures to strict JSON values.

Metrics are computed with NumPy, whose scalars are not JSON-serialisable, and
undefined quantities come out as NaN, which strict JSON cannot hold.  Every
evaluation result passes through :func:`to_jsonable` so that what we write can
be read back by any JSON parser (``json.loads(..., parse_constant=...)`` is
never needed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["clean_float", "to_jsonable"]


def clean_float(value: Any) -> float | None:
    """Return ``value`` as a Python float, or ``None`` when it is NaN/±inf/None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def to_jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` to plain JSON types.

    NumPy scalars and arrays become Python numbers and lists, non-finite
    floats become ``None``, tuples become lists, paths become strings and
    mapping keys become strings.  Anything else that JSON cannot hold raises
    ``TypeError`` naming the type, rather than being silently stringified.
    """
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return clean_float(obj)
    if isinstance(obj, Mapping):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(value) for value in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(value) for value in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(f"cannot write a {type(obj).__name__} to evaluation JSON: {obj!r:.80}")
