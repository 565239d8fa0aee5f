"""The Kernel tab's numbers: sweep folders and runs read into tables (pure pandas/xarray, no widgets).

A sweep folder (:mod:`collop.sweep`) indexes its points in ``sweep.json``;
:func:`points_frame` reads it into one row per point with what the plots
group by, taken from each point's own train spec (so an option set in the
sweep's base counts like one set by an axis). The plots are groupings of
that table:

- :func:`pareto_table`: test rollout error against the kernel size ``k``,
  one group per scheme, mean and standard deviation over every other axis
  (seeds, samplings of the data) (Carvalho et al., Figs. 4 and 18);
- :func:`baseline_table`: the PS-Tensor error on the same test populations
  (a horizontal line on the Pareto plot);
- :func:`scan_table`: error against ``N_dists``, ``N_t`` or ``λ_reg``
  (Figs. 12 and 14);
- :func:`coefficient_bands`: mean and standard deviation of A∥, D∥, D⊥
  across seeds (Fig. 13);
- :func:`kernel_maps`: ``K_x`` of a kernel operator file as a k x k grid of
  velocity maps (Figs. 5, 19, 20).

The error is ``rollout_mae`` of the point's ``metrics.json``: the mean over
test populations and frames of ``|f̂ − f| / max f(t)`` (dimensionless,
:func:`collop.metrics.rollout_error`).
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["KERNEL_DEFAULTS", "SCAN_AXES", "points_frame", "runs_frame", "pareto_table", "baseline_table",
           "scan_axis", "scan_table", "coefficient_bands", "kernel_maps", "test_key", "ERROR_AXIS"]

#: Defaults of :class:`collop.operators.kernel.KernelOptions` for points whose spec does not set them.
KERNEL_DEFAULTS = {"k": 2, "scheme": "forward"}
#: Scan axes (sweep axis path -> (symbol, description)), in the order the Scans view offers them.
SCAN_AXES = {"n_train": ("N_dists", "number of training populations"),
             "options.nt": ("N_t", "time nodes of the tensor"),
             "penalties.reg": ("λ_reg", "time-smoothness penalty")}
#: Label of the error axis (dimensionless).
ERROR_AXIS = "test rollout error ⟨|f̂ − f| / max f(t)⟩"

_COLUMNS = ["point", "status", "error", "path", "family", "model", "method", "k", "scheme", "symmetry", "nt",
            "reg", "reg_order", "n_train", "seed", "data", "test", "rollout_mae", "rollout_mae_std"]


def test_key(populations) -> tuple:
    """The sorted tuple of test population names (how test sets are compared)."""
    return tuple(sorted(str(p) for p in populations or ()))


def _num(v, default=math.nan) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _row(point_id, status, error, path, spec: dict, metrics: dict, method=None) -> dict:
    opts = spec.get("options") or {}
    pens = spec.get("penalties") or {}
    family = spec.get("family") or metrics.get("family") or "fokker_planck"
    family = {"fp": "fokker_planck"}.get(family, family)
    model = opts.get("model") or metrics.get("model") or "tensor"
    per_pop = metrics.get("per_population") if isinstance(metrics.get("per_population"), dict) else None
    test = per_pop.keys() if per_pop else (spec.get("test") or ())
    row = {"point": str(point_id), "status": str(status or "pending"), "error": error, "path": path,
           "family": family, "model": model,
           "method": method or metrics.get("method") or (f"kernel-{model}" if family == "kernel" else f"ps-{model}"),
           "k": math.nan, "scheme": "", "symmetry": "", "nt": _num(opts.get("nt")),
           "reg": _num(pens.get("reg"), 0.0), "reg_order": _num(pens.get("reg_order"), 1.0),
           "n_train": len(spec.get("train") or ()), "seed": _num(spec.get("seed"), 0.0),
           "data": str(spec.get("data") or ""), "test": test_key(test),
           "rollout_mae": _num(metrics.get("rollout_mae")), "rollout_mae_std": _num(metrics.get("rollout_mae_std"))}
    if family == "kernel":
        row["k"] = _num(opts.get("k", metrics.get("k", KERNEL_DEFAULTS["k"])))
        row["scheme"] = str(opts.get("scheme") or metrics.get("scheme") or KERNEL_DEFAULTS["scheme"])
    else:
        row["symmetry"] = str(opts.get("symmetry") or metrics.get("symmetry") or "isotropic")
    return row


def points_frame(index: dict, folder=None) -> pd.DataFrame:
    """One row per point of a sweep index (``sweep.json`` as read by :func:`collop.sweep.read_sweep`).

    Parameters
    ----------
    index : dict
    folder : path-like, optional
        The sweep folder; fills ``path`` (the point's run folder).

    Returns
    -------
    pandas.DataFrame
        Columns ``point, status, error, path, family, model, method, k,
        scheme, symmetry, nt, reg, reg_order, n_train, seed, data, test``
        (sorted tuple of test populations: those scored, else the spec's),
        ``rollout_mae``, ``rollout_mae_std`` (NaN until the point is done),
        then one column per sweep axis (``axis:PATH``).
    """
    rows = []
    for e in index.get("points") or []:
        if not isinstance(e, dict):
            continue
        spec = e.get("spec") if isinstance(e.get("spec"), dict) else {}
        metrics = e.get("metrics") if isinstance(e.get("metrics"), dict) else {}
        path = str(Path(folder) / str(e.get("id"))) if folder is not None else ""
        row = _row(e.get("id"), e.get("status"), e.get("error"), path, spec, metrics)
        for k, v in (e.get("values") or {}).items():
            row[f"axis:{k}"] = tuple(v) if isinstance(v, list) else v
        rows.append(row)
    df = pd.DataFrame(rows)
    return pd.DataFrame(columns=_COLUMNS) if df.empty else df


def runs_frame(runs) -> pd.DataFrame:
    """Single runs (entries of :func:`dashboards.runstore.list_all`) as rows like :func:`points_frame`'s."""
    rows = []
    for r in runs or []:
        p = dict(r.get("params") or {})
        spec = {"data": p.get("data") or r.get("dataset"), "train": p.get("train"), "test": p.get("test"),
                "family": p.get("family"), "seed": p.get("seed"),
                "options": {k: p[k] for k in ("model", "symmetry", "nt", "k", "scheme") if p.get(k) is not None},
                "penalties": {k: p[k] for k in ("reg", "reg_order") if p.get(k) is not None}}
        if isinstance(p.get("options"), dict):
            spec["options"].update(p["options"])
        rows.append(_row(r.get("id"), r.get("status"), r.get("error"), r.get("path", ""), spec,
                         r.get("metrics") if isinstance(r.get("metrics"), dict) else {}, r.get("method")))
    df = pd.DataFrame(rows)
    return pd.DataFrame(columns=_COLUMNS) if df.empty else df


def _stats(values) -> tuple[float, float, int]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


def _done(points: pd.DataFrame) -> pd.DataFrame:
    return points[(points["status"] == "finished") & np.isfinite(points["rollout_mae"].astype(float))]


def pareto_table(points: pd.DataFrame) -> pd.DataFrame:
    """Test error against ``k`` per scheme: mean and sample standard deviation over the other axes.

    Parameters
    ----------
    points : pandas.DataFrame
        From :func:`points_frame` (only ``family == "kernel"`` rows count).

    Returns
    -------
    pandas.DataFrame
        ``scheme, k, mean, std, n`` (finished points; ``std`` is 0 for a
        single point) and ``todo`` (points of the group not done yet),
        sorted by scheme then ``k``. A group with no finished point has
        NaN ``mean``.
    """
    ker = points[points["family"] == "kernel"] if len(points) else points
    out = []
    for (scheme, k), g in ker.groupby(["scheme", "k"], sort=True):
        m, s, n = _stats(_done(g)["rollout_mae"])
        todo = int((~g["status"].isin(["finished", "diverged", "failed"])).sum())
        out.append({"scheme": scheme, "k": int(k), "mean": m, "std": s, "n": n, "todo": todo})
    return pd.DataFrame(out, columns=["scheme", "k", "mean", "std", "n", "todo"])


def baseline_table(candidates: pd.DataFrame, test: tuple, data=None) -> pd.DataFrame:
    """The PS-Tensor error on the test populations ``test``: mean and std per symmetry.

    Parameters
    ----------
    candidates : pandas.DataFrame
        Rows of :func:`points_frame` / :func:`runs_frame` (any mix).
    test : tuple
        :func:`test_key` of the Pareto sweep's test set; only finished
        PS-Tensor rows scored on exactly these populations count.
    data : iterable of str, optional
        Data files of the Pareto sweep (compared by resolved path); when
        given, only rows trained on one of them count.

    Returns
    -------
    pandas.DataFrame
        ``label`` (``PS-Tensor (isotropic)``, ...), ``mean``, ``std``, ``n``.
    """
    cols = ["label", "mean", "std", "n"]
    if candidates is None or len(candidates) == 0 or not test:
        return pd.DataFrame(columns=cols)
    c = _done(candidates)
    c = c[(c["family"] == "fokker_planck") & (c["model"] == "tensor")]
    c = c[c["test"].map(lambda t: tuple(t) == tuple(test))]
    if data is not None:
        want = {_real(d) for d in data if d}
        c = c[c["data"].map(lambda d: _real(d) in want)]
    out = []
    for sym, g in c.groupby("symmetry", sort=True):
        m, s, n = _stats(g["rollout_mae"])
        out.append({"label": f"PS-Tensor ({sym})", "mean": m, "std": s, "n": n})
    return pd.DataFrame(out, columns=cols)


def _real(path) -> str:
    return os.path.realpath(str(path)) if path else ""


def scan_axis(index: dict) -> str | None:
    """The scan axis of a sweep (a key of :data:`SCAN_AXES` among its axes), None if it has none."""
    axes = (index.get("spec") or {}).get("axes") or {}
    names = [k for g in axes for k in g] if isinstance(axes, list) else list(axes)
    for a in SCAN_AXES:
        if a in names:
            return a
    return None


def scan_table(points: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Test error against a scan axis: mean and std over seeds (and any other axis), per series.

    Parameters
    ----------
    points : pandas.DataFrame
        From :func:`points_frame`.
    axis : str
        ``n_train`` (N_dists), ``options.nt`` (N_t) or ``penalties.reg``
        (λ_reg; one series per derivative order ``reg_order``).

    Returns
    -------
    pandas.DataFrame
        ``series`` (a label: the method, with the penalty's derivative order
        for λ_reg), ``x``, ``mean``, ``std``, ``n``, ``todo``; sorted.
    """
    cols = ["series", "x", "mean", "std", "n", "todo"]
    if axis not in SCAN_AXES:
        raise ValueError(f"unknown scan axis {axis!r}; expected one of {', '.join(SCAN_AXES)}")
    if len(points) == 0:
        return pd.DataFrame(columns=cols)
    col = {"n_train": "n_train", "options.nt": "nt", "penalties.reg": "reg"}[axis]
    p = points.copy()
    p["series"] = p["method"].astype(str)
    if axis == "penalties.reg":
        order = p["reg_order"].map(lambda o: "1st" if o == 1 else "2nd" if o == 2 else f"order {o:g}")
        p["series"] = p["series"] + ", " + order + " derivative"
    out = []
    for (series, x), g in p.groupby(["series", col], sort=True):
        m, s, n = _stats(_done(g)["rollout_mae"])
        todo = int((~g["status"].isin(["finished", "diverged", "failed"])).sum())
        out.append({"series": series, "x": float(x), "mean": m, "std": s, "n": n, "todo": todo})
    return pd.DataFrame(out, columns=cols)


def coefficient_bands(views: dict, times) -> dict:
    """Mean and standard deviation of A∥, D∥, D⊥ across seeds, per group, at chosen times (Fig. 13).

    Parameters
    ----------
    views : dict of label -> list of xarray.Dataset
        Per group (e.g. ``N_dists = 3``), the isotropic coefficient views of
        its points (:func:`dashboards.plots.coefficient_view`: ``A_par,
        D_par, D_perp (time, speed)``, NaN outside the particle support), all
        on one speed grid.
    times : list of float
        Times (interpolated, clamped to each operator's times).

    Returns
    -------
    dict
        ``{time: {label: {"speed": ndarray, "n": int, name: (mean, std)}}}``
        with ``name`` in A_par, D_par, D_perp; mean and std (``ddof=0``: the
        spread of the seeds at hand) ignore NaN; a speed where no seed has
        a value is NaN.
    """
    out: dict = {}
    for t in times:
        per = {}
        for label, group in views.items():
            group = [v for v in group if v is not None]
            if not group:
                continue
            speed = group[0]["speed"].values
            rec = {"speed": speed, "n": len(group)}
            for name in ("A_par", "D_par", "D_perp"):
                stack = np.stack([_at(v[name], t) for v in group])
                with warnings.catch_warnings():       # a speed no seed reaches: NaN, silently
                    warnings.simplefilter("ignore", RuntimeWarning)
                    rec[name] = (np.nanmean(stack, axis=0), np.nanstd(stack, axis=0))
            per[label] = rec
        out[float(t)] = per
    return out


def _at(da: xr.DataArray, t: float) -> np.ndarray:
    if "time" not in da.dims or da.sizes["time"] == 1:
        return np.asarray(da.isel(time=0).values if "time" in da.dims else da.values, dtype=float)
    tt = da["time"].values
    return np.asarray(da.interp(time=float(np.clip(t, tt[0], tt[-1]))).values, dtype=float)


def kernel_maps(op: xr.Dataset, time: float | None = None, component: str = "x") -> dict:
    """``K_component`` of a kernel operator file at one time, as a k x k grid of velocity maps.

    Parameters
    ----------
    op : xarray.Dataset
        A kernel operator file: ``K(time, component, vx, vy, l, m)`` in
        velocity units / time units.
    time : float, optional
        The nearest time node is used (default the first).
    component : {"x", "y"}

    Returns
    -------
    dict
        ``maps``: ndarray ``(k, k, ny, nx)`` (``maps[a, b]`` is the map of
        window offset ``(l_a, m_b)``, rows along ``vy``), ``l``, ``m`` (the
        offsets, cells), ``limit`` (largest |K| over all maps: the colour
        range ``±limit``), ``time`` (the node used), ``bounds`` (cell edges
        ``x0, y0, x1, y1``), ``scheme``, ``unit``.
    """
    if "K" not in op or set(op["K"].dims) != {"time", "component", "vx", "vy", "l", "m"}:
        raise ValueError("not a kernel operator file (no K(time, component, vx, vy, l, m))")
    K = op["K"]
    ti = 0 if time is None else int(np.abs(K["time"].values.astype(float) - float(time)).argmin())
    kc = K.isel(time=ti).sel(component=component).transpose("l", "m", "vy", "vx").values.astype(float)
    vx, vy = op["vx"].values.astype(float), op["vy"].values.astype(float)
    hx = float(vx[1] - vx[0]) if vx.size > 1 else 1.0
    hy = float(vy[1] - vy[0]) if vy.size > 1 else 1.0
    fin = np.abs(kc[np.isfinite(kc)])
    limit = float(fin.max()) if fin.size and fin.max() > 0 else 1.0
    return {"maps": kc, "l": op["l"].values.astype(int), "m": op["m"].values.astype(int), "limit": limit,
            "time": float(K["time"].values[ti]),
            "bounds": (vx[0] - hx / 2, vy[0] - hy / 2, vx[-1] + hx / 2, vy[-1] + hy / 2),
            "scheme": str(op.attrs.get("scheme", "")),
            "unit": str(op.attrs.get("K_units") or "")}
