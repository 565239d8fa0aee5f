"""A sweep folder as a tidy table: one row per point, its axis values and its metrics.

>>> t = sweep_table("sweeps/pareto")                                   # doctest: +SKIP
>>> summarize(t, by=["options.k", "options.scheme"])                   # doctest: +SKIP
   options.k options.scheme  rollout_mae_mean  rollout_mae_std  n
0          1        forward           ...

The plots of a sweep are groupings of this table: error against k per scheme
with mean and standard deviation over seeds (``by=["options.k",
"options.scheme"]``), against the number of training populations
(``by=["n_train"]``), against N_t or lambda_reg (``by=["options.nt"]``,
``by=["penalties.reg"]``).
"""
from __future__ import annotations

import json
from pathlib import Path

from .folder import SUMMARY_METRICS as _METRICS  # metric columns first in the table

__all__ = ["read_sweep", "sweep_table", "summarize", "to_xarray"]


def read_sweep(path) -> dict:
    """The contents of a sweep folder's ``sweep.json`` (``path`` is the folder or the file).

    A sweep whose ``status`` is ``running`` also gets ``alive``: whether a
    live process still owns the folder (False: it was killed; rerun it).

    Raises
    ------
    CollopError
        The folder holds no readable sweep index.
    """
    from ..schema import CollopError

    p = Path(path)
    if p.is_dir():
        p = p / "sweep.json"
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise CollopError(f"{path}: not a sweep folder (no sweep.json)") from None
    except (OSError, ValueError) as exc:
        raise CollopError(f"{p}: cannot be read as a sweep index ({' '.join(str(exc).split())})") from None
    if not isinstance(d, dict) or not isinstance(d.get("points"), list):
        raise CollopError(f"{p}: not a sweep index (no points)")
    if d.get("status") == "running":
        from ..runs import run_owner

        d["alive"] = run_owner(p.parent) is not None
    return d


def _cell(v):
    return tuple(v) if isinstance(v, list) else v


def sweep_table(sweep):
    """One row per point of a sweep, as a :class:`pandas.DataFrame`.

    Parameters
    ----------
    sweep : str, path-like or dict
        A sweep folder, its ``sweep.json``, or the index already read.

    Returns
    -------
    pandas.DataFrame
        Columns ``point`` (the id), ``status``, ``error``, one column per
        axis (named by its path; list values as tuples), ``n_train`` (the
        number of training populations, always), ``seed``, then the scalar
        metrics of the point (``rollout_mae``, ``rollout_mae_std``,
        ``train_seconds``, ...; missing for points not done).
    """
    import pandas as pd

    index = sweep if isinstance(sweep, dict) else read_sweep(sweep)
    rows = []
    axes: list[str] = []
    for e in index["points"]:
        values = e.get("values") or {}
        for k in values:
            if k not in axes:
                axes.append(k)
        spec = e.get("spec") or {}
        row = {"point": e.get("id"), "status": e.get("status"), "error": e.get("error")}
        row.update({k: _cell(v) for k, v in values.items()})
        train = spec.get("train") or []
        row.setdefault("n_train", len(train))
        row.setdefault("seed", spec.get("seed"))
        for k, v in (e.get("metrics") or {}).items():
            if k not in row and not isinstance(v, (dict, list)):
                row[k] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["point", "status", "error", *axes, *_METRICS])
    for m in _METRICS:
        if m not in df:
            df[m] = float("nan")
    first = ["point", "status", "error", *axes]
    first += [c for c in ("n_train", "seed") if c not in first]
    first += [m for m in _METRICS if m not in first]
    return df[first + [c for c in df.columns if c not in first]]


def summarize(table, by, metric: str = "rollout_mae", *, statuses=("finished",)):
    """Mean, standard deviation and count of ``metric`` over the points of each group.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`sweep_table`.
    by : str or list of str
        Columns to group by (e.g. ``["options.k", "options.scheme"]``); the
        points of a group differ in the other axes (seeds, usually).
    metric : str
        The column to summarise.
    statuses : tuple of str
        Points counted (default: finished ones only).

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``{metric}_mean``, ``{metric}_std`` (sample standard
        deviation, ``ddof=1``; NaN for a single point) and ``n``, sorted by ``by``.
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, metric] if c not in table.columns]
    if missing:
        from ..schema import CollopError

        raise CollopError(f"no column {missing[0]!r} in the sweep table (columns: {', '.join(map(str, table.columns))})")
    t = table[table["status"].isin(statuses)] if statuses is not None else table
    g = t.groupby(by, sort=True, dropna=False)[metric]
    out = g.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"mean": f"{metric}_mean", "std": f"{metric}_std", "count": "n"})


def to_xarray(table, dims, metric: str = "rollout_mae"):
    """``metric`` as an :class:`xarray.DataArray` over the columns ``dims`` (e.g. k, scheme, seed).

    Points not done are NaN; each combination of ``dims`` must name at most one point.
    """
    t = table.set_index(list(dims))[metric]
    if not t.index.is_unique:
        from ..schema import CollopError

        raise CollopError(f"the columns {', '.join(dims)} do not identify the points; add an axis")
    return t.to_xarray()
