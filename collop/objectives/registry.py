"""Objective names -> classes (one line per objective)."""
from __future__ import annotations

import importlib

from ..options import SpecError

__all__ = ["OBJECTIVES", "get", "register"]

#: objective name -> "module:Class"
OBJECTIVES: dict[str, object] = {
    "rollout": "collop.objectives.rollout:RolloutMAE",
    "weak_form": "collop.objectives.weak_form:WeakForm",
}


def register(cls, name: str | None = None) -> None:
    """Add an objective class (or its ``"module:Class"`` path)."""
    OBJECTIVES[name or cls.name] = cls


def get(name: str):
    """The objective class called ``name``."""
    if name not in OBJECTIVES:
        raise SpecError(f"objective: unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
    entry = OBJECTIVES[name]
    if isinstance(entry, str):
        mod, _, cls = entry.partition(":")
        entry = OBJECTIVES[name] = getattr(importlib.import_module(mod), cls)
    return entry
