"""The Metriplectic tab's figures as :mod:`dashboards.figures` descriptions (one for the page and every export).

- :func:`loss_figure`: the weak-form loss per step and its running mean;
- :func:`g2_figure`: ``g_r²``, ``g_s²`` and ``g_s² − g_r²`` over ``(u, r)`` at one ``s``
  and averaged over ``s`` under the equilibrium distribution (Zhao et al., Figs. 1, 10);
- :func:`speed_figure`, :func:`v12_figure`, :func:`marginal_figure`: MD against the
  models' rollouts at one time (Figs. 2; 3, 4; 17, 18);
- :func:`conservation_figure`, :func:`distance_figure`: moments, entropy and the
  distance to MD over the rollout.

Models are drawn in fixed colours (Landau blue, CM1 green, CM2 red, MD black).
"""
from __future__ import annotations

import math

import numpy as np

from collop.views import Units

from .figures import CYCLE, Axis, ColorScale, Contour, Figure, Image, Line, Plot
from .metriplectic_data import nice_step, clip_to, contour_levels, loss_curves, loss_unit

__all__ = ["MODEL_COLORS", "loss_figure", "g2_figure", "speed_figure", "v12_figure", "marginal_figure",
           "conservation_figure", "distance_figure", "time_text", "without_blanks"]

#: Line colour of each model (and of MD).
MODEL_COLORS = {"md": "#000000", "landau": CYCLE[0], "cm1": CYCLE[2], "cm2": CYCLE[3]}
_DASHES = ["solid", "dashed", "dotted"]


def time_text(t: float, units: Units) -> str:
    """``t = 0.8 1/omega_p``."""
    return f"t = {t:.3g}" + (f" {units.t}" if units.t else "")


def _styles(models: dict) -> dict:
    """Label -> (colour, dash) of each model rollout (a second run of a model is dashed)."""
    seen: dict = {}
    out = {}
    for label, (_, model) in models.items():
        k = seen.get(model, 0)
        seen[model] = k + 1
        out[label] = (MODEL_COLORS.get(model, CYCLE[(4 + k) % len(CYCLE)]), _DASHES[k % len(_DASHES)])
    return out


def loss_figure(loss, units: Units, *, title: str = "Weak-form loss") -> Figure:
    """The loss of every step (thin) and its running mean (thick), on a linear axis (the loss can be negative)."""
    x, y, mean = loss_curves(loss)
    plot = Plot(title, Axis("step"), Axis("loss", loss_unit(units)),
                [Line(x, y, "per step", color="#9ecae1", width=1.0),
                 Line(x, mean, "running mean", color=CYCLE[0], width=2.5)],
                legend_at="below", width=560, height=240)
    return Figure([plot], name="metriplectic-loss", title=title, responsive=True)


def g2_figure(maps: dict | None, units: Units, *, label: str = "", n_levels: int = 12) -> Figure:
    """``g_r²``, ``g_s²`` and ``g_s² − g_r²`` at ``s = maps["s"]`` (top) and averaged over ``s`` (bottom).

    ``g_r²`` and ``g_s²`` share round linear levels (1st to 99th percentile
    of both, values beyond drawn in the end bands) so their colours compare;
    the difference is on a diverging scale centred at zero. Blank: outside
    the physical region ``s <= u r``.
    """
    gunit = units.D
    sq = f"{units.v}²" if units.v else ""
    at = f"s = {maps['s']:.3g}" + (f" {sq}" if sq else "") if maps else "s = –"
    suffix = f" — {label}" if label else ""
    names = [(f"g_r² at {at}", "gr_s"), (f"g_s² at {at}", "gs_s"), (f"g_s² − g_r² at {at}", None),
             ("E_s[g_r²]", "gr_mean"), ("E_s[g_s²]", "gs_mean"), ("E_s[g_s²] − E_s[g_r²]", None)]
    if maps is None:
        plots = [Plot(t, Axis("u", units.v), Axis("r", units.v), [], width=230, height=210) for t, _ in names]
        return Figure(plots, ncols=3, name="g2-contours", title="g_r² and g_s²" + suffix)
    levels = contour_levels([maps[k] for k in ("gr_s", "gs_s", "gr_mean", "gs_mean")], n_levels)
    scale = ColorScale("viridis", float(levels[0]), float(levels[-1]), label="g²", unit=gunit)
    plots = []
    for row in (("gr_s", "gs_s"), ("gr_mean", "gs_mean")):
        a, b = maps[row[0]], maps[row[1]]
        diff = b - a
        fin = np.abs(diff[np.isfinite(diff)])
        lim = float(np.quantile(fin, 0.99)) if fin.size else 1.0
        lim = lim if lim > 0 else 1.0
        step = nice_step(2 * lim, n_levels)
        lim = math.ceil(lim / step) * step
        dlev = np.arange(-round(lim / step), round(lim / step) + 1) * step
        dscale = ColorScale.diverging(lim, label="Δg²", unit=gunit)
        for z, key in ((a, row[0]), (b, row[1])):
            title = next(t for t, k in names if k == key)
            plots.append(Plot(title, Axis("u", units.v), Axis("r", units.v),
                              [Contour(maps["u"], maps["r"], clip_to(z, levels), levels, scale, filled=True)],
                              width=230, height=210))
        title = names[2][0] if row[0] == "gr_s" else names[5][0]
        plots.append(Plot(title, Axis("u", units.v), Axis("r", units.v),
                          [Contour(maps["u"], maps["r"], clip_to(diff, dlev), dlev, dscale, filled=True)],
                          width=230, height=210))
    return Figure(plots, ncols=3, name="g2-contours", title="g_r² and g_s²" + suffix)


_NAN = np.array([np.nan])


def _line(ds, x, y, label, color, dash="solid", width=2.0) -> Line:
    """A line of a summary, or a blank line while the summary is still computed (``ds`` None)."""
    if ds is None:
        return Line(_NAN, _NAN, label, color=color, dash=dash, width=width)
    return Line(x(ds), y(ds), label, color=color, dash=dash, width=width)


def _all_lines(md, models: dict, x, y) -> list:
    """MD (black, thick) then each model in its colour; blank lines for what has not arrived yet.

    Every line is there from the start, so a figure keeps its structure (and
    its Bokeh models) while rollouts arrive one by one.
    """
    styles = _styles(models)
    out = [_line(md, x, y, "MD", MODEL_COLORS["md"], width=2.5)]
    for label, (ds, _) in models.items():
        c, dash = styles[label]
        out.append(_line(ds, x, y, label, c, dash))
    return out


def _at(ds, var: str, ti: int, sel=None) -> np.ndarray:
    da = ds[var].isel(time=min(ti, ds.sizes["time"] - 1))
    return np.asarray((da.sel(sel) if sel else da).values, dtype=float)


def _single(plot: Plot, **kw) -> Figure:
    """A one-plot figure laid out as a grid (an empty second cell): on the page a replaced single Bokeh
    figure was drawn clipped; the exports leave the empty cell out (:func:`without_blanks`)."""
    return Figure([plot, None], ncols=2, **kw)


def without_blanks(fig: Figure) -> Figure:
    """``fig`` without its empty cells (what the export buttons render)."""
    plots = [p for p in fig.plots if p is not None]
    return fig.with_plots(plots) if len(plots) != len(fig.plots) else fig


def speed_figure(md, models: dict, ti: int, units: Units, *, run: str = "") -> Figure:
    """PDF of the speed ``|v|`` at frame ``ti``: MD (black) and each model's rollout (Fig. 2)."""
    t = float(md["time"].values[ti]) if md is not None else 0.0
    title = f"{run + ', ' if run else ''}speed PDF, {time_text(t, units)}"
    lines = _all_lines(md, models, lambda d: d["speed"].values, lambda d: _at(d, "speed_pdf", ti))
    plot = Plot(title, Axis("|v|", units.v), Axis("f(|v|)", units.F), lines, legend_at="below", width=420,
                height=260)
    return _single(plot, name="speed-pdf", title=title)


def v12_figure(md, models: dict, ti: int, units: Units, *, run: str = "") -> Figure:
    """PDFs in the ``v_1``-``v_2`` plane at frame ``ti``: MD and each model (Figs. 3, 4).

    One colour range for every panel and every frame (0 to the largest
    value of any of them), so the relaxation is seen, not hidden by
    per-frame scaling. A rollout still computed is a blank panel.
    """
    sources = [("MD", md)] + [(label, ds) for label, (ds, _) in models.items()]
    have = [ds for _, ds in sources if ds is not None]
    high = max((float(np.nanmax(ds["v12"].values)) for ds in have), default=1.0)
    scale = ColorScale("viridis", 0.0, high if high > 0 else 1.0, label="f(v_1, v_2)", unit=units.f)
    ref = have[0] if have else None
    plots = []
    for label, ds in sources:
        if ds is None:
            img, bounds, t = np.full((2, 2), np.nan), (-1.0, -1.0, 1.0, 1.0), None
            if ref is not None:
                v1 = ref["v1"].values
                h = 0.5 * (v1[1] - v1[0]) if v1.size > 1 else 0.5
                bounds = (v1[0] - h, v1[0] - h, v1[-1] + h, v1[-1] + h)
        else:
            k = min(ti, ds.sizes["time"] - 1)
            v1, v2 = ds["v1"].values, ds["v2"].values
            h = 0.5 * (v1[1] - v1[0]) if v1.size > 1 else 0.5
            img = ds["v12"].isel(time=k).transpose("v2", "v1").values
            bounds = (v1[0] - h, v2[0] - h, v1[-1] + h, v2[-1] + h)
            t = float(ds["time"].values[k])
        when = time_text(t, units) if t is not None else "computing…"
        plots.append(Plot(f"{label}, {when}" + (f" ({run})" if run and label == "MD" else ""),
                          Axis("v_1", units.v), Axis("v_2", units.v), [Image(img, bounds, scale, "f")],
                          equal_aspect=True, width=220, height=220))
    if len(plots) == 1:
        plots.append(None)           # always a grid: the page's view never switches between one plot and a grid
    return Figure(plots, ncols=4, name="v12-pdf", title=f"v_1-v_2 PDFs{', ' + run if run else ''}")


def marginal_figure(md, models: dict, ti: int, units: Units, *, run: str = "") -> Figure:
    """Marginal PDFs of ``v_1``, ``v_2``, ``v_3`` at frame ``ti`` (Figs. 17, 18)."""
    t = float(md["time"].values[ti]) if md is not None else 0.0
    plots = []
    for k, comp in enumerate(("x", "y", "z")):
        lines = _all_lines(md, models, lambda d: d["v"].values,
                           lambda d, c=comp: _at(d, "marginal", ti, {"component": c}))
        plots.append(Plot(f"v_{k + 1} marginal, {time_text(t, units)}", Axis(f"v_{k + 1}", units.v),
                          Axis(f"f(v_{k + 1})", units.F), lines, legend=k == 2, legend_at="right", width=260,
                          height=220))
    return Figure(plots, ncols=3, name="marginal-pdf", title=f"Marginal PDFs{', ' + run if run else ''}")


#: The conservation panels: variable, label, unit kind.
_CONSERVED = [("n", "particles N", ""), ("momentum_drift", "|p(t) − p(0)| / v_th", ""),
              ("energy_drift", "(E(t) − E(0)) / E(0)", ""), ("entropy", "entropy S (k-NN)", "nats")]


def conservation_figure(md, models: dict, units: Units, *, run: str = "") -> Figure:
    """Particle count, momentum, energy and entropy against time: MD and each rollout.

    The solver conserves the particle count exactly and momentum and energy
    to round-off; MD's kinetic energy changes with its potential energy.
    """
    plots = []
    for var, label, unit in _CONSERVED:
        lines = _all_lines(md, models, lambda d: d["time"].values,
                           lambda d, v=var: np.asarray(d[v].values, dtype=float))
        plots.append(Plot(label, Axis("t", units.t), Axis(label, unit), lines, legend=var == "entropy",
                          width=260, height=200))
    return Figure(plots, ncols=2, name="conservation", title=f"Conservation{', ' + run if run else ''}")


def distance_figure(models: dict, units: Units, *, run: str = "") -> Figure:
    """Energy distance between each rollout and MD against time (:func:`collop.kinetic.energy_distance`)."""
    styles = _styles(models)
    layers = []
    for name, (ds, _) in models.items():
        c, dash = styles[name]
        layers.append(_line(ds, lambda d: d["time"].values, lambda d: d["energy_distance"].values, name, c, dash))
    title = f"Energy distance to MD{', ' + run if run else ''}"
    plot = Plot(title, Axis("t", units.t), Axis("energy distance", units.v), layers, legend_at="right",
                width=420, height=220)
    return _single(plot, name="distance", title=title)
