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
field, raised before anything is written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import SpecError

__all__ = ["SweepSpec", "Point", "parse_sweep_spec", "load_sweep_spec", "expand", "axis_paths",
           "DERIVED_AXES", "point_label"]

#: axes that are not fields of the train spec but set its populations
DERIVED_AXES = ("n_train", "holdout")
#: option groups of a train spec whose members an axis may name as ``GROUP.NAME``
_GROUPS = ("options", "penalties", "objective")
#: train spec fields an axis may not vary
_FIXED = {"out": "each point runs in its own folder in the sweep folder",
          "kind": "a sweep runs train jobs",
          "threads": "threads are how a point runs, not what it computes; set them in the base"}
#: spec fields left out of a point's identity (they do not change its result)
_NOT_IDENTITY = ("out", "threads")


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: a base train spec and a grid of values (see the module docstring).

    Attributes
    ----------
    base : dict
        The train spec every point starts from (without ``out``).
    groups : tuple of dict
        The grid: axes inside a group are zipped, groups are crossed.
    name : str
        A label of the sweep (may be empty).
    """

    base: dict
    groups: tuple
    name: str = ""

    def to_dict(self) -> dict:
        """The spec as JSON data (``axes`` as a mapping when every group has one axis)."""
        if all(len(g) == 1 for g in self.groups):
            axes: Any = {k: list(v) for g in self.groups for k, v in g.items()}
            d = {"base": self.base, "axes": axes, "mode": "product"}
        else:
            d = {"base": self.base, "axes": [{k: list(v) for k, v in g.items()} for g in self.groups]}
        if self.name:
            d["name"] = self.name
        return json.loads(json.dumps(d))

    @property
    def axes(self) -> list[str]:
        """The axis paths, in grid order."""
        return [k for g in self.groups for k in g]

    def size(self) -> int:
        """The number of points."""
        return math.prod(len(next(iter(g.values()))) for g in self.groups)


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


def _train_fields() -> list[str]:
    from ..pipeline import TrainSpec

    return [f.name for f in dataclasses.fields(TrainSpec)]


def axis_paths() -> list[str]:
    """What an axis may name (for help texts): spec fields, ``GROUP.NAME`` and the derived axes."""
    return [f for f in _train_fields() if f not in _FIXED] + [f"{g}.NAME" for g in _GROUPS] + list(DERIVED_AXES)


def _check_path(path) -> None:
    where = f"axes.{path}"
    if not isinstance(path, str) or not path:
        raise SpecError(f"axes: an axis is named by a field path, not {path!r}", field="axes")
    if path in _FIXED:
        raise SpecError(f"{where}: cannot be varied ({_FIXED[path]})", field=where)
    if path in DERIVED_AXES:
        return
    root, dot, rest = path.partition(".")
    fields = _train_fields()
    if root not in fields:
        raise SpecError(f"{where}: unknown field {path!r}; an axis is a train spec field "
                        f"({', '.join(f for f in fields if f not in _FIXED)}), "
                        f"{', '.join(g + '.NAME' for g in _GROUPS)}, or {' or '.join(DERIVED_AXES)}",
                        field=where)
    if dot and (root not in _GROUPS or not rest or "." in rest):
        raise SpecError(f"{where}: unknown field {path!r}; only "
                        f"{', '.join(g + '.NAME' for g in _GROUPS)} have parts", field=where)


def _check_values(path, values) -> list:
    where = f"axes.{path}"
    if not isinstance(values, (list, tuple)):
        raise SpecError(f"{where}: expected a list of values, got {type(values).__name__}", field=where)
    if not values:
        raise SpecError(f"{where}: empty list of values", field=where)
    for i, v in enumerate(values):
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError):
            raise SpecError(f"{where}[{i}]: {v!r} is not a JSON value", field=where) from None
    return json.loads(json.dumps(list(values)))


def _check_unique(grp: dict) -> None:
    """No value (of a lone axis) or combination (of zipped axes) twice."""
    seen: dict = {}
    for i, combo in enumerate(zip(*grp.values())):
        key = json.dumps(combo, sort_keys=True)
        if key in seen:
            what = (f"value {combo[0]!r}" if len(grp) == 1
                    else "combination " + ", ".join(f"{k}={v!r}" for k, v in zip(grp, combo)))
            path = next(iter(grp)) if len(grp) == 1 else None
            raise SpecError(f"axes{'.' + path if path else ''}: {what} appears twice (items {seen[key]} and {i})",
                            field=f"axes.{path}" if path else "axes")
        seen[key] = i


def _groups(axes, mode) -> tuple:
    if mode not in ("product", "zip"):
        raise SpecError(f"mode: expected 'product' or 'zip', got {mode!r}", field="mode")
    if isinstance(axes, dict):
        raw = [axes] if mode == "zip" else [{k: v} for k, v in axes.items()]
    elif isinstance(axes, list):
        if mode != "product":
            raise SpecError("mode: a list of axis groups is crossed group by group; leave mode out",
                            field="mode")
        raw = axes
    else:
        raise SpecError(f"axes: expected a mapping of field path -> list of values, got "
                        f"{type(axes).__name__}", field="axes")
    if not raw or not any(raw):
        raise SpecError("axes: empty grid; give at least one axis (field path -> list of values)",
                        field="axes")
    groups, names = [], set()
    for gi, g in enumerate(raw):
        if not isinstance(g, dict) or not g:
            raise SpecError(f"axes[{gi}]: a group is a non-empty mapping of field path -> list of values",
                            field="axes")
        grp = {}
        for path, values in g.items():
            _check_path(path)
            if path in names:
                raise SpecError(f"axes.{path}: given twice", field=f"axes.{path}")
            names.add(path)
            grp[path] = _check_values(path, values)
        lengths = {k: len(v) for k, v in grp.items()}
        if len(set(lengths.values())) > 1:
            raise SpecError("axes: zipped axes need lists of one length, got "
                            + ", ".join(f"{k} ({n})" for k, n in lengths.items()), field="axes")
        _check_unique(grp)
        groups.append(grp)
    if "n_train" in names and "holdout" in names:
        raise SpecError("axes: n_train and holdout cannot be combined", field="axes")
    if names & {"n_train", "holdout"} and "train" in names:
        raise SpecError("axes: train cannot be varied together with n_train or holdout", field="axes")
    return tuple(groups)


def parse_sweep_spec(value) -> SweepSpec:
    """A :class:`SweepSpec` from a dict, JSON text or a spec (see the module docstring).

    Raises
    ------
    SpecError
        One line naming the field: an unknown key, a bad ``base``, an empty,
        malformed or unknown axis.
    """
    if isinstance(value, SweepSpec):
        return value
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SpecError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(value, dict):
        raise SpecError(f"a sweep spec is a mapping with 'base' and 'axes', not {type(value).__name__}")
    unknown = sorted(set(value) - {"base", "axes", "mode", "name"})
    if unknown:
        raise SpecError(f"{unknown[0]}: unknown field (a sweep spec has base, axes, mode, name)",
                        field=unknown[0])
    for key in ("base", "axes"):
        if key not in value:
            raise SpecError(f"{key}: missing", field=key)
    base = value["base"]
    if not isinstance(base, dict):
        raise SpecError(f"base: expected a train spec (a mapping), got {type(base).__name__}", field="base")
    base = {k: v for k, v in base.items() if k != "out"}
    if base.get("kind", "train") != "train":
        raise SpecError(f"base.kind: a sweep runs train jobs, not {base.get('kind')!r}", field="base.kind")
    name = value.get("name", "")
    if not isinstance(name, str):
        raise SpecError(f"name: expected a string, got {type(name).__name__}", field="name")
    try:
        base = json.loads(json.dumps(base, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"base: not JSON data ({exc})", field="base") from None
    return SweepSpec(base=base, groups=_groups(value["axes"], value.get("mode", "product")), name=name)


def load_sweep_spec(path) -> SweepSpec:
    """Read a sweep spec from a JSON or YAML file (``.yaml``/``.yml``), or a sweep folder's ``sweep.json``.

    A sweep folder (or its ``sweep.json``) gives the spec it was run with.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "sweep.json"
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except Exception as exc:  # yaml.YAMLError
        raise SpecError(f"{path}: not YAML ({' '.join(str(exc).split())})") from None
    if isinstance(data, dict) and "points" in data and isinstance(data.get("spec"), dict):
        data = data["spec"]                        # a sweep folder's index
    try:
        return parse_sweep_spec(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}", field=exc.field) from None


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
