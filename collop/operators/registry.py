"""The registry of operator families: one line per family.

Each entry maps a family name to ``"module:Class"``; the module is imported
the first time the family is used, so reading the registry costs nothing.
:func:`register` adds a family at run time (a plug-in or a test), with the
class itself or its import path.
"""
from __future__ import annotations

import importlib

from ..options import SpecError

__all__ = ["FAMILIES", "register", "get", "names", "for_form", "forms", "by_cli_name"]

#: family name -> "module:Class"
FAMILIES: dict[str, object] = {
    "fokker_planck": "collop.operators.fokker_planck:FokkerPlanck",
    "kernel": "collop.operators.kernel:KernelOperator",
    "metriplectic": "collop.operators.metriplectic:Metriplectic",
}


def register(cls, name: str | None = None) -> None:
    """Add a family: an :class:`~collop.operators.base.Operator` subclass or its ``"module:Class"``."""
    key = name or getattr(cls, "family", None)
    if not key:
        raise ValueError("a family needs a name")
    FAMILIES[key] = cls


def _load(entry):
    if isinstance(entry, str):
        mod, _, cls = entry.partition(":")
        return getattr(importlib.import_module(mod), cls)
    return entry


def get(name: str):
    """The family class called ``name`` (its registry name or its ``cli_name``)."""
    if name in FAMILIES:
        cls = _load(FAMILIES[name])
        FAMILIES[name] = cls
        return cls
    for key in list(FAMILIES):
        cls = get(key)
        if cls.cli_name and cls.cli_name == name:
            return cls
    raise SpecError(f"family: unknown operator family {name!r}; known: {', '.join(names())}")


def names() -> list[str]:
    """Registered family names."""
    return list(FAMILIES)


def by_cli_name() -> dict[str, type]:
    """``{cli_name or family: class}`` of every family."""
    return {(get(k).cli_name or k): get(k) for k in names()}


def forms() -> dict[str, dict[str, tuple[str, ...]]]:
    """Every operator-file form of every family, with its variables' dimensions."""
    out = {}
    for k in names():
        out.update(get(k).forms)
    return out


def for_form(form: str):
    """The family that writes operator files of form ``form`` (None if no family does)."""
    for k in names():
        cls = get(k)
        if form in cls.forms:
            return cls
    return None
