"""Checks a sweep makes before it writes anything: every point against its data, and the folder.

Both raise a :class:`collop.CollopError` of one line; :func:`preflight`
names the axis value that makes a point fail.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ..options import SpecError, one_line
from ..schema import CollopError
from .grid import Point, SweepSpec, explain

__all__ = ["preflight", "check_out"]


def preflight(points: list[Point], spec: SweepSpec | None = None) -> None:
    """Check every point against its data before anything runs (one line if one fails).

    Each data file must open as its family's data kind and hold the point's
    populations, and the family's size checks must pass on the training data
    (a kernel wider than the grid, a tensor too large for memory): the checks
    :func:`collop.pipeline.run` makes before it touches a run folder. A spec
    error names the axis value that causes it (with ``spec``).
    """
    from ..io import open_dataset
    from ..pipeline import resolve

    opened: dict = {}
    sized: set = set()
    try:
        for p in points:
            res = resolve(p.spec)
            obj = res.objective_cls
            key = (p.spec.data, obj.data_kind)
            if key not in opened:
                opened[key] = open_dataset(p.spec.data, obj.data_kind)
            ds = opened[key]
            train = obj.select(ds, list(p.spec.train))
            obj.select(ds, list(p.spec.test) if p.spec.test is not None else "all")
            size_key = (key, tuple(train), json.dumps(p.spec.objective, sort_keys=True), res.family.family,
                        json.dumps(p.spec.options, sort_keys=True))
            if size_key in sized:
                continue
            try:
                res.family.check_size(res.options, obj.load(ds, train, res.objective_options, role="train"))
            except SpecError as exc:
                raise (explain(exc, spec, p.values) if spec is not None else exc) from None
            sized.add(size_key)
    finally:
        for ds in opened.values():
            with contextlib.suppress(Exception):
                ds.close()


def check_out(out: Path) -> None:
    """Check that ``out`` can hold a sweep: writable, not a run folder, no unreadable index."""
    from ..pipeline.context import OutFolder

    OutFolder(out)
    if (out / "run.json").exists():
        raise SpecError(f"out {out}: holds a training run, not a sweep; choose another folder", field="out")
    idx = out / "sweep.json"
    if idx.exists():
        try:
            d = json.loads(idx.read_text())
            if not isinstance(d, dict) or "points" not in d:
                raise ValueError("not a sweep index")
        except (OSError, ValueError) as exc:
            raise CollopError(f"{idx}: cannot be read as a sweep index ({one_line(exc)})") from None
