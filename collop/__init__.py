"""collop: learn plasma collision operators from particle data.

The top-level names are imported on first use, so ``import collop`` (and the
``collop`` command's start-up) costs almost nothing.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "CollopError": "collop.schema", "SchemaError": "collop.schema", "validate": "collop.schema",
    "VelocityGrid": "collop.grid", "open_dataset": "collop.io", "write_dataset": "collop.io",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'collop' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
