"""Sweep specs: a base training and the grid of values to vary, expanded into train specs.

A sweep spec is JSON (or YAML) data::

    {"base": {"data": "data/sim3.nc", "train": ["normal_0_0", "normal_1_0"],
              "family": "kernel", "options": {"model": "tensor"}, "curriculum": "kernel"},
     "axes": {"options.k": [1, 2, 3, 4, 5],
              "options.scheme": ["forward", "backward", "centred"],
              "seed": [0, 1, 2]},
     "mode": "product"}

``base``
    A train job spec (:class:`collop.pipeline.TrainSpec` as a dict) without
    ``out``: every point runs in its own folder inside the sweep folder (an
    ``out`` in the base is ignored, so a run's ``run.json`` ``spec`` can serve
    as a base).
``axes``
    Field path -> list of values. A path is a field of the train spec
    (``seed``, ``train``, ``test``, ``curriculum``, ``data``, ``family``,
    ``options``, ...) or one option of a family's option set
    (``options.NAME``, ``penalties.NAME``, ``objective.NAME``), so the
    grid accepts any registered family's options. Two derived axes change
    the populations:

    ``n_train``
        ``n`` -> train on the first ``n`` populations of the base's ``train``
        (list them in the order of the paper's Table 4 to get its columns).
    ``holdout``
        a population of the base's ``train`` -> train on the others and
        test on it alone (one fold of a cross-validation).

    ``axes`` may also be a list of groups (each a mapping): the axes inside a
    group are zipped (equal lengths) and the groups are crossed.
``mode``
    ``"product"`` (default: every combination) or ``"zip"`` (the i-th value
    of every axis together; all lists of one length), for a mapping ``axes``.
``name``
    Optional label of the sweep.

:func:`expand` turns a spec into its points: validated train specs, each
with a stable id (a readable label of its values and a hash of its whole
spec), so that rerunning, or extending, a sweep finds the points already done.
Every problem is a :class:`collop.options.SpecError` of one line naming the
field, raised before anything is written. The spec itself is parsed and
checked in :mod:`collop.sweep.spec`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import SpecError
from .spec import DERIVED_AXES, SweepSpec, axis_paths, load_sweep_spec, parse_sweep_spec  # noqa: F401

__all__ = ["SweepSpec", "Point", "parse_sweep_spec", "load_sweep_spec", "expand", "axis_paths",
           "DERIVED_AXES", "point_label"]

#: spec fields left out of a point's identity (they do not change its result)
_NOT_IDENTITY = ("out", "threads")


@dataclass(frozen=True)
class Point:
    """One training of a sweep.

    Attributes
    ----------
    id : str
        Its folder name in the sweep folder: a label of its axis values and
        8 hex digits of a hash of its train spec (without ``out``/``threads``).
    values : dict
        Axis path -> value.
    spec : TrainSpec
        The job (``out`` is the point's folder, an absolute path).
    """

    id: str
    values: dict
    spec: Any = field(compare=False)

    def to_dict(self) -> dict:
        from ..pipeline import spec_to_dict

        return {"id": self.id, "values": self.values, "spec": spec_to_dict(self.spec)}


# -- expansion ---------------------------------------------------------------------------

def _combinations(spec: SweepSpec):
    lists = [[dict(zip(g, vals)) for vals in zip(*g.values())] for g in spec.groups]
    for combo in itertools.product(*lists):
        values = {}
        for part in combo:
            values.update(part)
        yield {k: values[k] for k in spec.axes}


def _apply(base: dict, values: dict) -> dict:
    d = json.loads(json.dumps(base))
    for path, v in values.items():
        where = f"axes.{path}"
        if path == "n_train" or path == "holdout":
            train = d.get("train")
            if not isinstance(train, list) or not all(isinstance(x, str) for x in train):
                raise SpecError(f"{where}: needs the base's train to be a list of population names",
                                field=where)
            if path == "n_train":
                if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= len(train):
                    raise SpecError(f"{where}: {v!r} is not a number of populations from 1 to "
                                    f"{len(train)} (the base's train)", field=where)
                d["train"] = train[:v]
            else:
                if v not in train:
                    raise SpecError(f"{where}: {v!r} is not one of the base's training populations "
                                    f"({', '.join(train)})", field=where)
                if len(train) < 2:
                    raise SpecError(f"{where}: holding a population out needs two or more in the base's train",
                                    field=where)
                d["train"] = [x for x in train if x != v]
                d["test"] = [v]
            continue
        root, dot, rest = path.partition(".")
        if dot:
            group = d.get(root)
            group = dict(group) if isinstance(group, dict) else {}
            group[rest] = v
            d[root] = group
        else:
            d[root] = v
    return d


def _short(path: str) -> str:
    return {"n_train": "n", "holdout": "out", "curriculum": "cur"}.get(path, path.rpartition(".")[2])


def _value_text(v) -> str:
    if isinstance(v, (list, tuple)):
        return f"{len(v)}items"
    if isinstance(v, dict):
        return f"{len(v)}keys"
    if isinstance(v, float):
        v = f"{v:g}"
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(v)).strip("-._")
    return (text or "x")[:24]


def point_label(values: dict) -> str:
    """A readable, file-name-safe label of a point's axis values (``k2_scheme-forward_seed0``)."""
    parts = []
    for k, v in values.items():
        s = _value_text(v)
        name = _short(k)
        parts.append(f"{name}{s}" if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and not s.startswith("-") else f"{name}-{s}")
    return "_".join(parts)[:120]


def _identity(d: dict) -> str:
    key = {k: v for k, v in d.items() if k not in _NOT_IDENTITY}
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def _blame(exc: SpecError, values: dict) -> str:
    """Which axis a spec error is about (its path), or None for the base."""
    f = exc.field or ""
    for path in values:
        if f == path or f.startswith(path + "."):
            return path
    if values.keys() & {"n_train", "holdout"} and f in ("train", "test"):
        return next(k for k in values if k in ("n_train", "holdout"))
    return None


def expand(spec, out) -> list[Point]:
    """The points of a sweep: validated train specs, one folder each under ``out``.

    Parameters
    ----------
    spec : SweepSpec, dict or str
        The sweep (see the module docstring).
    out : str or path-like
        The sweep folder; point ``p`` runs in ``out/p.id``.

    Returns
    -------
    list of Point
        In grid order (the last axis varies fastest).

    Raises
    ------
    SpecError
        A value that makes an invalid training names its axis and value
        (``axes.options.k[2] = 0: ...``); a bad base names ``base.FIELD``.
        Family options are checked against the family (unknown options,
        ranges, the curriculum); data files are checked by the runner.
    """
    from ..pipeline import TrainSpec, resolve, spec_from_dict

    spec = parse_sweep_spec(spec)
    out = Path(os.path.abspath(out))
    base = dict(spec.base)
    if isinstance(base.get("data"), str) and base["data"]:
        base["data"] = os.path.abspath(base["data"])
    points, ids = [], {}
    for values in _combinations(spec):
        d = _apply(base, values)
        if isinstance(d.get("data"), str) and d["data"]:
            d["data"] = os.path.abspath(d["data"])
        d["out"] = str(out / "_")                  # placeholder until the id is known
        try:
            ts: TrainSpec = spec_from_dict(d)
            resolve(ts)
        except SpecError as exc:
            raise explain(exc, spec, values) from None
        from ..pipeline import spec_to_dict

        full = spec_to_dict(ts)
        pid = f"{point_label(values)}-{_identity(full)}"
        if pid in ids:
            raise SpecError(f"axes: points {ids[pid]} and {len(points)} are the same training "
                            f"({point_label(values)})", field="axes")
        ids[pid] = len(points)
        ts = dataclasses.replace(ts, out=str(out / pid))
        points.append(Point(pid, values, ts))
    return points


def explain(exc: SpecError, spec: SweepSpec, values: dict) -> SpecError:
    """A point's spec error as the sweep's: naming the axis and value (``axes.options.k[2] = 0: ...``)
    or the base (``base.options.model: ...``)."""
    path = _blame(exc, values)
    if path is None:
        return SpecError(f"base.{exc}", field=f"base.{exc.field}" if exc.field else "base")
    items = spec_axis_values(spec, path)
    i = items.index(values[path]) if values[path] in items else "?"
    return SpecError(f"axes.{path}[{i}] = {values[path]!r}: {exc}", field=f"axes.{path}")


def spec_axis_values(spec: SweepSpec, path: str) -> list:
    for g in spec.groups:
        if path in g:
            return g[path]
    raise KeyError(path)
