"""Checks shared by the launch forms (Kernel, Scans, Metriplectic): lists typed on the page, train/test choices.

Each returns values or one-line messages; the forms collect the messages and
show them together instead of starting.
"""
from __future__ import annotations

import math
import re

__all__ = ["parse_ints", "parse_floats", "split_errors"]


def _parse(text: str, what: str, convert, noun: str, check) -> list:
    parts = [p for p in re.split(r"[,\s]+", str(text or "").strip()) if p]
    if not parts:
        raise ValueError(f"{what}: give at least one {noun}")
    out = []
    for p in parts:
        try:
            v = convert(p)
        except ValueError:
            raise ValueError(f"{what}: {p!r} is not {'an' if noun[0] in 'aeiou' else 'a'} {noun}") from None
        problem = check(v)
        if problem:
            raise ValueError(f"{what}: {p} {problem}")
        if v not in out:
            out.append(v)
    return out


def parse_ints(text: str, what: str, low: int | None = None) -> list[int]:
    """``"1, 2,3"`` -> ``[1, 2, 3]`` (unique, in order); ValueError with a one-line message."""
    return _parse(text, what, int, "integer", lambda v: f"is below {low}" if low is not None and v < low else "")


def parse_floats(text: str, what: str, low: float = 0.0) -> list[float]:
    """``"0, 1e-6"`` -> ``[0.0, 1e-06]`` (unique, in order, finite and >= ``low``); ValueError with one line."""
    return _parse(text, what, float, "number",
                  lambda v: f"is not a finite number >= {low:g}" if not math.isfinite(v) or v < low else "")


def split_errors(known, train, test, noun: str = "population") -> list[str]:
    """Names not in ``known``, and an empty training or test choice, one line each."""
    unknown = [x for x in [*train, *test] if x not in known]
    errors = [f"unknown {noun}s: {', '.join(unknown)}"] if unknown else []
    return errors + [f"choose at least one {role} {noun}" for role, xs in (("training", train), ("test", test))
                     if not xs]
