"""The Kernel tab's figures as descriptions (:mod:`dashboards.figures`): page and exports from one source.

Pure functions from the tables of :mod:`dashboards.kernel_data` to
:class:`~dashboards.figures.Figure` s; nothing here draws or reads files.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from collop.views import COEFFICIENTS, Units

from .figures import Axis, ColorScale, Figure, Image, Line, Plot
from .kernel_data import ERROR_AXIS, SCAN_AXES

__all__ = ["pareto_figure", "kernel_figure", "scan_figure", "bands_figure", "SCHEME_COLORS", "zero_position"]

#: One colour per scheme (the same on every Pareto plot); baselines are black.
SCHEME_COLORS = {"forward": "#1f77b4", "backward": "#ff7f0e", "centred": "#2ca02c"}
#: Dash styles of successive baselines (isotropic, full, ...).
BASELINE_DASH = ("dashed", "dotted")
_ERR = Axis(ERROR_AXIS, "dimensionless", log=True)
#: The error axis's range while no point has a value (a log axis cannot be fitted to nothing).
EMPTY_RANGE = (1e-3, 1.0)


def _error_axis(lines) -> Axis:
    """The error axis: fitted to the data, or :data:`EMPTY_RANGE` while no line has a finite positive value."""
    for ln in lines:
        y = np.asarray(ln.y, dtype=float)
        if (np.isfinite(y) & (y > 0)).any():
            return _ERR
    return Axis(_ERR.label, _ERR.unit, log=True, range=EMPTY_RANGE)


def pareto_figure(table: pd.DataFrame, baselines: pd.DataFrame | None = None, *, title: str = "") -> Figure:
    """Test rollout error against k, one line per scheme with error bars over seeds (Figs. 4 and 18).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`dashboards.kernel_data.pareto_table`; groups without a
        finished point are drawn as gaps (their line is there from the start,
        so the plot fills in place as points finish).
    baselines : pandas.DataFrame, optional
        :func:`dashboards.kernel_data.baseline_table`: each a horizontal
        dashed line across the k range, labelled with its number of runs.
    """
    lines = []
    ks = sorted({int(k) for k in table["k"]}) if len(table) else [1, 2]
    for scheme, g in table.groupby("scheme", sort=False) if len(table) else []:
        g = g.sort_values("k")
        lines.append(Line(g["k"].to_numpy(float), g["mean"].to_numpy(float), str(scheme),
                          color=SCHEME_COLORS.get(str(scheme)), marker=True,
                          yerr=np.nan_to_num(g["std"].to_numpy(float))))
    for i, (_, b) in enumerate((baselines if baselines is not None else pd.DataFrame()).iterrows()):
        x = np.array([ks[0], ks[-1]], dtype=float)
        lines.append(Line(x, np.full(2, float(b["mean"])), f"{b['label']}, {int(b['n'])} run(s)", color="black",
                          dash=BASELINE_DASH[i % len(BASELINE_DASH)], width=1.5))
    if not lines:
        lines = [Line(np.zeros(0), np.zeros(0), "")]
    plot = Plot(title or "Test error against kernel size (mean ± std over seeds)",
                Axis("kernel size k", "cells", integer=True), _error_axis(lines), lines, width=520, height=300)
    return Figure([plot], name="pareto-plot", responsive=True, title=plot.title)


def kernel_figure(maps: dict | None, units: Units, *, label: str = "", component: str = "x") -> Figure:
    """``K_x`` as a k x k grid of velocity maps on one diverging scale centred at zero (Figs. 5, 19, 20).

    Parameters
    ----------
    maps : dict or None
        :func:`dashboards.kernel_data.kernel_maps`; None draws one empty map.

    Notes
    -----
    Columns run over the offset ``l`` (along v_x), rows over ``m`` (along
    v_y) with the largest ``m`` on top, so the grid is laid out like the
    window in velocity space. Every map shares the colour range
    ``±max |K|``.
    """
    v = units.v
    unit = units.A if v else (maps or {}).get("unit") or ""       # K has the units of A: velocity / time
    name = f"K_{component}"
    if maps is None:
        img = Image(np.full((2, 2), np.nan), (0, 0, 1, 1), ColorScale.diverging(1.0, name, unit))
        return Figure([Plot("no kernel chosen", Axis("vx", v), Axis("vy", v), [img], equal_aspect=True,
                            width=200, height=200)], ncols=1, name="kernel-maps", title="Kernel")
    k = len(maps["l"])
    size = 200 if k <= 2 else 160 if k <= 3 else 120
    scale = ColorScale.diverging(maps["limit"], name, unit)
    plots = []
    for b in reversed(range(len(maps["m"]))):
        for a in range(k):
            plots.append(Plot(f"l = {maps['l'][a]}, m = {maps['m'][b]}", Axis("vx", v), Axis("vy", v),
                              [Image(maps["maps"][a, b], maps["bounds"], scale, name)], equal_aspect=True,
                              width=size, height=size))
    t = f"t = {maps['time']:g}" + (f" [{units.t}]" if units.t else "")
    title = f"{name}, {t}" + (f" — {label}" if label else f", {maps.get('scheme') or '?'} scheme")
    return Figure(plots, ncols=k, name="kernel-maps", title=title)


def zero_position(xs) -> float:
    """Where ``x = 0`` is drawn on a log axis: one decade below the smallest positive value (1e-7 without one)."""
    pos = [float(x) for x in xs if float(x) > 0]
    return min(pos) / 10 if pos else 1e-7


def scan_figure(table: pd.DataFrame, axis: str, *, title: str = "") -> Figure:
    """Test error against a scan axis, mean ± std over seeds, one line per series (Figs. 12 and 14).

    ``N_t`` and ``λ_reg`` are on log axes; ``λ_reg = 0`` is drawn one decade
    below the smallest positive value, and the axis label says where. A
    dashed line marks the best mean (Fig. 12).
    """
    sym, what = SCAN_AXES[axis]
    log = axis in ("options.nt", "penalties.reg")
    zero = zero_position(table["x"]) if len(table) and axis == "penalties.reg" else None
    lines = []
    for series, g in table.groupby("series", sort=True) if len(table) else []:
        g = g.sort_values("x")
        x = g["x"].to_numpy(float)
        if zero is not None:
            x = np.where(x > 0, x, zero)
        lines.append(Line(x, g["mean"].to_numpy(float), str(series), marker=True,
                          yerr=np.nan_to_num(g["std"].to_numpy(float))))
    if len(table) and np.isfinite(table["mean"].astype(float)).any():
        best = float(np.nanmin(table["mean"].astype(float)))
        xs = [ln.x for ln in lines]
        lo, hi = float(min(np.nanmin(x) for x in xs)), float(max(np.nanmax(x) for x in xs))
        lines.append(Line(np.array([lo, hi]), np.array([best, best]), "best mean", color="black", dash="dashed",
                          width=1.0))
    if not lines:
        lines = [Line(np.zeros(0), np.zeros(0), "")]
    unit = {"n_train": "populations", "options.nt": "time nodes", "penalties.reg": "dimensionless"}[axis]
    label = f"{sym}, {what}" + (f" (0 drawn at {zero:g})" if zero is not None else "")
    plot = Plot(title or f"Test error against {sym} (mean ± std over seeds)", Axis(label, unit, log=log, integer=axis == "n_train"),
                _error_axis(lines), lines, width=420, height=260)
    return Figure([plot], name=f"scan-{axis.replace('.', '-')}", title=plot.title, responsive=True)


def bands_figure(bands: dict, units: Units, *, group: str = "") -> Figure:
    """A∥, D∥, D⊥ against speed: mean line and ±1 std band across seeds per group, one row per time (Fig. 13).

    Parameters
    ----------
    bands : dict
        :func:`dashboards.kernel_data.coefficient_bands`.
    group : str
        What the groups are (``N_dists``), for the title.
    """
    plots = []
    times = list(bands) or [0.0]
    for t in times:
        per = bands.get(t, {})
        tl = f"t = {float(t):g}" + (f" [{units.t}]" if units.t else "")
        for name, sym in COEFFICIENTS.items():
            lines = []
            for label, rec in per.items():
                m, s = rec[name]
                lines.append(Line(rec["speed"], m, f"{label}, {rec['n']} seed{'s' if rec['n'] != 1 else ''}", band=(m - s, m + s)))
            if not lines:
                lines = [Line(np.zeros(0), np.zeros(0), "")]
            plots.append(Plot(f"{sym}(v), {tl}", Axis("v", units.v), Axis(sym, units.coefficient(name)), lines,
                              width=220, height=200, legend_at="below"))
    return Figure(plots, ncols=3, name="coefficient-bands",
                  title="Coefficients across seeds (mean ± std)" + (f" by {group}" if group else ""))
