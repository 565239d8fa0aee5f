"""Strict JSON and timestamps for run folders."""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone

__all__ = ["to_json", "_now", "_clean"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _clean(obj):
    """``obj`` with non-finite floats as None and numpy scalars/arrays as Python values."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalar / array
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def to_json(obj, indent: int | None = 2) -> str:
    """Strict JSON of ``obj`` (NaN/Inf written as null, numpy values as Python values)."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)
