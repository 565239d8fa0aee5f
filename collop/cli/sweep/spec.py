"""The spec of ``collop sweep run|select``: SPEC's file (or a data file), with the flags applied."""
from __future__ import annotations

import json
from pathlib import Path

from .._common import UsageError, names

__all__ = ["sweep_spec"]


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pair(text: str, flag: str) -> tuple[str, str]:
    path, eq, value = text.partition("=")
    if not eq or not path.strip():
        raise UsageError(f"{flag} {text!r}: expected PATH=VALUE")
    return path.strip(), value


def _set(d: dict, path: str, value) -> None:
    root, dot, rest = path.partition(".")
    if dot:
        group = dict(d.get(root) or {})
        group[rest] = value
        d[root] = group
    else:
        d[root] = value


def _read(path: str):
    """The data of SPEC's file, or of a sweep or selection folder's index."""
    from ...sweep.spec import read_spec_file

    index = None
    if Path(path).is_dir():
        index = next((n for n in ("sweep.json", "selection.json") if (Path(path) / n).is_file()), None)
        if index is None:
            raise UsageError(f"{path}: a folder without sweep.json or selection.json")
    return read_spec_file(path, index)


def sweep_spec(args) -> dict:
    """The sweep (or selection) spec as a dict: SPEC's, with the flags applied."""
    src = args.spec
    if src.endswith((".nc", ".h5", ".zarr")) or (Path(src).is_file() and Path(src).suffix in (".nc", ".h5")):
        if not args.train:
            raise UsageError(f"{src}: a data file needs --train (the base's training populations)")
        d = {"base": {"data": src}, "axes": {}}
    else:
        raw = _read(src)
        if not isinstance(raw, dict):
            raise UsageError(f"{src}: expected a JSON/YAML mapping, got {type(raw).__name__}")
        if isinstance(raw.get("spec"), dict) and ("points" in raw or "candidates" in raw):
            d = dict(raw["spec"])                                    # sweep.json / selection.json
        elif "base" in raw:
            d = dict(raw)
        elif isinstance(raw.get("spec"), dict) and "status" in raw:  # a run.json
            d = {"base": raw["spec"], "axes": {}}
        else:                                                        # a train spec
            d = {"base": raw, "axes": {}}
    base = d.get("base")
    if not isinstance(base, dict):
        raise UsageError(f"{src}: base: expected a train spec (a mapping)")
    base = dict(base)
    if args.train is not None:
        base["train"] = names(args.train)
    if args.test is not None:
        base["test"] = names(args.test)
    if args.family is not None:
        base["family"] = {"fp": "fokker_planck"}.get(args.family, args.family)
    if args.curriculum is not None:
        base["curriculum"] = args.curriculum
    if args.seed is not None:
        base["seed"] = args.seed
    if args.threads is not None:
        base["threads"] = args.threads
    for item in args.set_:
        path, value = _pair(item, "--set")
        _set(base, path, _value(value))
    d["base"] = base
    if args.axis:
        axes = d.get("axes", {})
        if isinstance(axes, dict) and d.get("mode", "product") == "product":
            axes = dict(axes)
            for item in args.axis:
                path, values = _pair(item, "--axis")
                axes[path] = [_value(v) for v in names(values)]
        else:
            groups = list(axes) if isinstance(axes, list) else [axes]
            d.pop("mode", None)
            for item in args.axis:
                path, values = _pair(item, "--axis")
                groups.append({path: [_value(v) for v in names(values)]})
            axes = groups
        d["axes"] = axes
    return d

