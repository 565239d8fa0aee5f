"""The app's figures as descriptions: pure functions from xarray data to :class:`~dashboards.figures.Figure`.

Nothing here draws or touches widgets: the page draws these descriptions
with :mod:`dashboards.render_bokeh`, the exports with
:mod:`dashboards.render_mpl`. Units come from the data's attributes
(:class:`collop.views.Units`): v in its velocity unit, A in v/t, D in v²/t,
f in 1/v², F(v) in 1/v; errors and the training loss are dimensionless.
"""
from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import xarray as xr

from collop.moments import radial_distribution
from collop.views import (COEFFICIENTS, Units, coefficient_support, isotropic_view, masked,
                          normalised_difference, rollout_error_by_time)

from .figures import Axis, ColorScale, Figure, Image, Line, Plot

__all__ = ["COEFFICIENTS", "EMPTY_LOSS", "f_bounds", "f_frame", "f_range", "f_plot", "f_figure", "radial_lines",
           "radial_figure", "coefficient_view", "coefficient_figure", "compare_figure", "loss_figure",
           "rollout_figure", "fig3_figure", "error_time_figure", "time_label"]

#: An empty loss record (the columns a run's loss carries).
EMPTY_LOSS = pd.DataFrame({"epoch": np.zeros(0, int), "loss": np.zeros(0), "stage": np.zeros(0, int)})
LOSS_LABEL = "training loss (dimensionless)"
ERROR_LABEL = "(f̂ − f) / max f(t)"


def time_label(ds, t: float) -> str:
    """``t = 3 [frame]``."""
    u = Units.of(ds).time
    return f"t = {float(t):g}" + (f" [{u}]" if u else "")


# --- phase space ------------------------------------------------------------------

def f_bounds(ds) -> tuple[float, float, float, float]:
    """``(vx_min, vy_min, vx_max, vy_max)`` of the velocity grid, cell edges included."""
    vx, vy = ds["vx"].values, ds["vy"].values
    hx, hy = (vx[1] - vx[0]) / 2, (vy[1] - vy[0]) / 2
    return (float(vx[0] - hx), float(vy[0] - hy), float(vx[-1] + hx), float(vy[-1] + hy))


def f_frame(ds: xr.Dataset, population: str, time_index: int) -> tuple[np.ndarray, str]:
    """``f(vx, vy)`` of one population at one frame as an array ``(vy, vx)`` (row 0: lowest vy) and its title."""
    da = ds["f"].sel(population=population).isel(time=int(time_index))
    return da.transpose("vy", "vx").values, f"{population}, {time_label(ds, float(da['time']))}"


_PEAKS: dict[int, dict] = {}


def f_peak(ds: xr.Dataset, population: str) -> float:
    """The largest f of a population over all frames (remembered while the dataset object lives)."""
    key = id(ds)
    if key not in _PEAKS:
        _PEAKS[key] = {}
        weakref.finalize(ds, _PEAKS.pop, key, None)
    peaks = _PEAKS[key]
    if population not in peaks:
        hi = float(ds["f"].sel(population=population).max())
        peaks[population] = hi if hi > 0 else 1.0
    return peaks[population]


def f_range(ds: xr.Dataset, population: str, log: bool = False) -> tuple[float, float]:
    """The colour range of a population's f over all its frames (fixed, so the relaxation shows).

    Linear: 0 to the largest value. Log: the largest value down to 1e-4 of
    it (a histogram's smallest non-zero bins are single particles: noise).
    """
    hi = f_peak(ds, population)
    return (hi * 1e-4, hi) if log else (0.0, hi)


def f_plot(ds: xr.Dataset, population: str, time_index: int, *, log: bool = False, fixed: bool = True) -> Plot:
    """The f(vx, vy) image of one population at one frame, with its colour bar.

    Parameters
    ----------
    log : bool
        Logarithmic colour scale.
    fixed : bool
        Colour range fixed over the population's frames (:func:`f_range`);
        False scales each frame to its own range.
    """
    u = Units.of(ds)
    values, title = f_frame(ds, population, time_index)
    lo, hi = f_range(ds, population, log) if fixed else (None, None)
    if not fixed and log:
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
        lo, hi = top * 1e-4, top
    scale = ColorScale(log=log, low=lo, high=hi, label="f", unit=u.f)
    return Plot(title, Axis("vx", u.v), Axis("vy", u.v), [Image(values, f_bounds(ds), scale, "f")],
                equal_aspect=True, width=220, height=220)


def f_figure(ds: xr.Dataset, populations, time_index: int, *, log: bool = False, fixed: bool = True) -> Figure:
    """:func:`f_plot` of several populations, three per row."""
    pops = list(populations) or [str(ds["population"].values[0])]
    return Figure([f_plot(ds, p, time_index, log=log, fixed=fixed) for p in pops], ncols=3, name="f-plot",
                  title=f"f(vx, vy), {time_label(ds, float(ds['time'][int(time_index)]))}")


def radial_lines(ds: xr.Dataset, population: str, time_indices) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """The speeds and, per frame (in time order, each once), the label and values of ``F(v) = v ∫ f dθ``."""
    idx = sorted({int(i) for i in time_indices}) or [0]
    F = radial_distribution(ds["f"].sel(population=population).isel(time=idx))
    return F["speed"].values, [(f"t = {float(F['time'][k]):g}", F.isel(time=k).values) for k in range(len(idx))]


def radial_figure(ds: xr.Dataset, population: str, time_indices) -> Figure:
    """The radial distribution ``F(v) = v ∫ f dθ`` of a population at several frames (the paper's Fig. 2b)."""
    u = Units.of(ds)
    speed, lines = radial_lines(ds, population, time_indices)
    plot = Plot(f"{population}: F(v) = v ∫ f dθ", Axis("v", u.v), Axis("F(v)", u.F),
                [Line(speed, values, label) for label, values in lines], height=260, width=560)
    return Figure([plot], name="radial-plot", responsive=True, title=plot.title)


# --- operators --------------------------------------------------------------------

def coefficient_view(op: xr.Dataset, f: xr.DataArray | None = None) -> xr.Dataset:
    """An operator's isotropic coefficients, blank (NaN) outside the particle support.

    Parameters
    ----------
    op : xarray.Dataset
        Any Fokker-Planck operator dataset.
    f : xarray.DataArray, optional
        The densities it was learned from (``(population, time, vx, vy)``);
        see :func:`collop.views.coefficient_support`. Tracks operators carry
        their own particle counts; a true operator is shown everywhere
        (``f=None`` and no counts).
    """
    iso = isotropic_view(op)
    return masked(iso, coefficient_support(iso, f))


def _at_time(da: xr.DataArray, t: float) -> np.ndarray:
    if da.sizes["time"] == 1:
        return da.isel(time=0).values
    tt = da["time"].values
    return da.interp(time=float(np.clip(t, tt[0], tt[-1]))).values


def _coef_plot(name: str, units: Units, title: str, lines: list) -> Plot:
    return Plot(title, Axis("v", units.v), Axis(COEFFICIENTS[name], units.coefficient(name)), lines,
                width=200, height=200, legend_at="below")


def coefficient_figure(view: xr.Dataset | None, times, units: Units, *, label: str = "") -> Figure:
    """A run's A∥, D∥, D⊥ against speed at several times (empty curves without an operator).

    Parameters
    ----------
    view : xarray.Dataset or None
        :func:`coefficient_view` of the operator.
    times : list of float
        Times of the curves (interpolated, clamped to the operator's times).
    """
    plots = []
    for name, sym in COEFFICIENTS.items():
        lines = []
        for t in (list(times) or [0.0]):     # the same curves without an operator: the legend stays put
            xy = (np.zeros(0), np.zeros(0)) if view is None else (view["speed"].values, _at_time(view[name], t))
            lines.append(Line(*xy, label=f"t = {float(t):g}"))
        plots.append(_coef_plot(name, units, f"{sym}(v)", lines))
    return Figure(plots, ncols=3, name="coefficients", title="Coefficients" + (f" — {label}" if label else ""))


def compare_figure(views: dict, time: float, units: Units) -> Figure:
    """One coefficient of several operators at one time, overlaid (true operator dashed), for each of A∥, D∥, D⊥.

    Parameters
    ----------
    views : dict of str to xarray.Dataset
        Label -> :func:`coefficient_view`; an operator with
        ``attrs["method"] == "truth"`` is drawn dashed in black.
    """
    plots = []
    for name, sym in COEFFICIENTS.items():
        lines = []
        for label, v in views.items():
            truth = v.attrs.get("method") == "truth"
            lines.append(Line(v["speed"].values, _at_time(v[name], time), str(label),
                              color="black" if truth else None, dash="dashed" if truth else "solid"))
        if not lines:
            lines = [Line(np.zeros(0), np.zeros(0), "")]
        plots.append(_coef_plot(name, units, f"{sym}(v) at t = {float(time):g}", lines))
    return Figure(plots, ncols=3, name="compare", title=f"Coefficients at t = {float(time):g}")


# --- training -----------------------------------------------------------------------

def loss_figure(data: pd.DataFrame | None, *, title: str = "Training loss") -> Figure:
    """Training loss against epoch (counted over all stages), on a log axis."""
    data = EMPTY_LOSS if data is None or len(data) == 0 else data
    y = data["loss"].to_numpy(dtype=float)
    y = np.where(y > 0, y, np.nan)
    plot = Plot(title, Axis("epoch (all stages)"), Axis(LOSS_LABEL, log=True),
                [Line(data["epoch"].to_numpy(dtype=float), y, "")], legend=False, width=560, height=240)
    return Figure([plot], name="loss-plot", responsive=True, title=title)


# --- rollout ------------------------------------------------------------------------

def _bounds(f: xr.DataArray):
    return f_bounds(f)


def _img(da: xr.DataArray, bounds, scale: ColorScale, name: str) -> Image:
    return Image(da.transpose("vy", "vx").values, bounds, scale, name)


def rollout_figure(f: xr.DataArray, f_hat: xr.DataArray, time_index: int, units: Units, *, title: str = "",
                   log: bool = False) -> Figure:
    """Data | rollout | normalised difference at one frame.

    Data and rollout share one colour range, fixed over all frames (0 to the
    largest value of either; log: down to 1e-4 of it). The difference
    ``(f̂ − f) / max f(t)`` is on a diverging scale centred at zero whose
    limit is the largest |difference| over all frames.
    """
    i = int(time_index)
    d = normalised_difference(f_hat, f)
    top = float(max(f.max(), f_hat.max())) or 1.0
    lim = float(np.nanmax(np.abs(d.values))) if d.size else 1.0
    lo = top * 1e-4 if log else 0.0
    b = _bounds(f)
    t = float(f["time"][i])
    tl = f"t = {t:g}" + (f" [{units.t}]" if units.t else "")
    fs = ColorScale(log=log, low=lo, high=top, label="f", unit=units.f)
    v = units.v
    plots = [
        Plot(f"data, {tl}", Axis("vx", v), Axis("vy", v), [_img(f.isel(time=i), b, fs, "f")], equal_aspect=True,
             width=240, height=240),
        Plot(f"rollout{(' — ' + title) if title else ''}, {tl}", Axis("vx", v), Axis("vy", v),
             [_img(f_hat.isel(time=i), b, fs, "f̂")], equal_aspect=True, width=240, height=240),
        Plot(f"{ERROR_LABEL}, {tl}", Axis("vx", v), Axis("vy", v),
             [_img(d.isel(time=i), b, ColorScale.diverging(lim, ERROR_LABEL), "difference")], equal_aspect=True,
             width=240, height=240),
    ]
    return Figure(plots, ncols=3, name="rollout-plot", title=f"Rollout{(' — ' + title) if title else ''}, {tl}")


def fig3_figure(f: xr.DataArray, rollouts: dict, time_indices, units: Units, *, population: str = "") -> Figure:
    """The paper's Fig. 3 layout: data on the first row, then per run its rollout and its difference.

    Parameters
    ----------
    f : xarray.DataArray
        The population's data ``(time, vx, vy)``.
    rollouts : dict of str to xarray.DataArray
        Run label -> its rollout of the population.
    time_indices : list of int
        Frames, one per column.

    Notes
    -----
    Every density is divided by the data's peak at its frame, ``max f(t)``,
    as in the paper, so all f rows share the colour range 0..max over the
    panels, and every difference row the diverging range ±max |(f̂ − f)/max f(t)|
    over all runs and columns (the colour bars say so). The data row's titles
    give each column's time.
    """
    idx = [int(i) for i in time_indices]
    peak = f.max(dim=("vx", "vy"))
    peak = peak.where(peak > 0, 1.0)
    b = _bounds(f)
    v = units.v
    rows = [("data", f / peak)] + [(lab, fh / peak) for lab, fh in rollouts.items()]
    diffs = {lab: normalised_difference(fh, f) for lab, fh in rollouts.items()}
    top = max(float(r.isel(time=idx).max()) for _, r in rows) or 1.0
    lim = max([float(np.nanmax(np.abs(d.isel(time=idx).values))) for d in diffs.values()] or [1.0]) or 1.0
    fs = ColorScale(low=0.0, high=top, label="f / max f(t)")
    ds_ = ColorScale.diverging(lim, ERROR_LABEL)
    plots = []

    def tl(i):
        return f"t = {float(f['time'][i]):g}" + (f" [{units.t}]" if units.t else "")

    for lab, arr in rows:          # columns: frames (their times in the data row's titles)
        for i in idx:
            plots.append(Plot(f"data, {tl(i)}" if lab == "data" else f"{lab}: f̂", Axis("vx", v), Axis("vy", v),
                              [_img(arr.isel(time=i), b, fs, "f / max f")], equal_aspect=True, width=170, height=170))
        if lab != "data":
            for i in idx:
                plots.append(Plot(f"{lab}: f̂ − f", Axis("vx", v), Axis("vy", v),
                                  [_img(diffs[lab].isel(time=i), b, ds_, "difference")], equal_aspect=True,
                                  width=170, height=170))
    return Figure(plots, ncols=len(idx), name="fig3-plot",
                  title=f"Rollouts of {population}" if population else "Rollouts")


def error_time_figure(errors: dict, units: Units) -> Figure:
    """Rollout error against time for several runs: mean over test populations with a ±1 std band.

    Parameters
    ----------
    errors : dict of str to xarray.DataArray
        Run label -> :func:`collop.views.rollout_error_by_time` of its
        rollouts, dims ``(population, time)``.
    """
    lines = []
    for lab, e in errors.items():
        e = e.isel(time=slice(1, None))                     # t = 0 is the start: no error by construction
        m, s = e.mean("population").values, e.std("population").values
        lines.append(Line(e["time"].values, m, f"{lab} ({e.sizes['population']} pops)",
                          band=(m - s, m + s) if e.sizes["population"] > 1 else None))
    if not lines:
        lines = [Line(np.zeros(0), np.zeros(0), "")]
    plot = Plot("Rollout error against time (mean ± std over test populations)", Axis("t", units.t),
                Axis("mean |f̂ − f| / max f(t)", "dimensionless"), lines, width=560, height=260)
    return Figure([plot], name="error-time-plot", responsive=True, title=plot.title)


def rollout_errors(f_hat: xr.DataArray, f: xr.DataArray) -> xr.DataArray:
    """:func:`collop.views.rollout_error_by_time` (re-exported for the tabs)."""
    return rollout_error_by_time(f_hat, f)
