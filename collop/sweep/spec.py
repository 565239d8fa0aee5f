"""Sweep specs: parse and check a base training and its grid of values (the format is in
:mod:`collop.sweep.grid`).

:func:`parse_sweep_spec` checks the spec's own structure (fields, axes,
values, modes); :func:`read_spec_file` reads any spec file (JSON or YAML) for
the sweep, selection and command-line loaders. Every problem is a
:class:`collop.options.SpecError` of one line naming the field.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..options import SpecError, one_line

__all__ = ["SweepSpec", "parse_sweep_spec", "load_sweep_spec", "read_spec_file", "loads_spec",
           "axis_paths", "DERIVED_AXES"]

#: axes that are not fields of the train spec but set its populations
DERIVED_AXES = ("n_train", "holdout")
#: option groups of a train spec whose members an axis may name as ``GROUP.NAME``
_GROUPS = ("options", "penalties", "objective")
#: train spec fields an axis may not vary
_FIXED = {"out": "each point runs in its own folder in the sweep folder",
          "kind": "a sweep runs train jobs",
          "threads": "threads are how a point runs, not what it computes; set them in the base"}


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
        value = loads_spec(value)
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



def loads_spec(text) -> Any:
    """JSON text of a spec as data (one line if it is not JSON)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def read_spec_file(path, index: str | None = None) -> Any:
    """The data of a spec file: JSON, or YAML for ``.yaml``/``.yml`` (one line naming the file if not).

    Parameters
    ----------
    path : str or path-like
        The file, or a folder holding ``index`` (e.g. ``sweep.json``).
    index : str, optional
        The file to read in a folder.
    """
    p = Path(path)
    if index is not None and p.is_dir():
        p = p / index
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except Exception as exc:  # yaml.YAMLError
        raise SpecError(f"{path}: not YAML ({one_line(exc)})") from None


def load_sweep_spec(path) -> SweepSpec:
    """Read a sweep spec from a JSON or YAML file (``.yaml``/``.yml``), or a sweep folder's ``sweep.json``.

    A sweep folder (or its ``sweep.json``) gives the spec it was run with.
    """
    data = read_spec_file(path, "sweep.json")
    if isinstance(data, dict) and "points" in data and isinstance(data.get("spec"), dict):
        data = data["spec"]                        # a sweep folder's index
    try:
        return parse_sweep_spec(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}", field=exc.field) from None
