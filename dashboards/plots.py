"""Figures of the app: pure functions from xarray/pandas data to HoloViews elements.

Nothing here touches widgets or files; every function is testable on its own
and is used both for the live page and for export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import holoviews as hv
import xarray as xr
from bokeh.palettes import RdBu, Viridis256, interp_palette

from collop.moments import radial_distribution, speed_shells

__all__ = ["COEFFICIENTS", "f_frame", "f_bounds", "units", "f_image", "f_images", "radial_lines", "radial_curves",
           "isotropic_view",
           "coefficient_curves", "coefficient_compare", "loss_curve", "normalised_difference",
           "rollout_triptych", "rollout_panels", "summary_frame", "summary_table", "EMPTY_LOSS"]

if "bokeh" not in hv.Store.renderers:   # options below are Bokeh's; load it quietly (no notebook output)
    hv.renderer("bokeh")
    hv.Store.set_current_backend("bokeh")

#: Isotropic Fokker-Planck coefficients, in plotting order, with their labels.
COEFFICIENTS = {"A_par": "A∥(v)", "D_par": "D∥(v)", "D_perp": "D⊥(v)"}
#: An empty loss record (the columns the loss stream carries).
EMPTY_LOSS = pd.DataFrame({"epoch": np.zeros(0, int), "loss": np.zeros(0), "stage": np.zeros(0, int)})

_WIDE = dict(responsive=True, min_height=280)
# colour maps as explicit palettes: no name lookups per figure (cheaper first render), same in every backend
SEQUENTIAL = list(Viridis256)
DIVERGING = list(interp_palette(RdBu[11], 255))[::-1]     # blue (negative) -> white -> red (positive)


def units(ds, name="velocity_units") -> str:
    """`` [unit]`` of a dataset's velocities (or of attribute ``name``); empty when unknown."""
    u = ds.attrs.get(name) if ds is not None else None
    return f" [{u}]" if u else ""


# --- phase space ------------------------------------------------------------------

def f_frame(ds: xr.Dataset, population: str, time_index: int) -> tuple[np.ndarray, str]:
    """``f(vx, vy)`` of one population at one frame as an array ``(vy, vx)`` (first row: lowest vy) and its label."""
    da = ds["f"].sel(population=population).isel(time=int(time_index))
    t = float(da["time"])
    return da.transpose("vy", "vx").values, f"{population}, t = {t:g}{units(ds, 'time_units')}"


def f_bounds(ds: xr.Dataset) -> tuple[float, float, float, float]:
    """``(vx_min, vy_min, vx_max, vy_max)`` of the velocity grid, cell edges included."""
    return _bounds(ds["f"])


def f_image(ds: xr.Dataset, population: str, time_index: int) -> hv.Image:
    """``f(vx, vy)`` of one population at one frame."""
    values, label = f_frame(ds, population, time_index)
    img = hv.Image(values[::-1], bounds=f_bounds(ds), kdims=["vx", "vy"], vdims=["f"], label=label)
    return img.opts(cmap=SEQUENTIAL, colorbar=True, tools=["hover"], frame_width=220, frame_height=220,
                    xlabel=f"vx{units(ds)}", ylabel=f"vy{units(ds)}")


def f_images(ds: xr.Dataset, populations, time_index: int) -> hv.Layout:
    """:func:`f_image` of several populations side by side."""
    pops = list(populations) or [str(ds["population"].values[0])]
    return hv.Layout([f_image(ds, p, time_index) for p in pops]).cols(3).opts(shared_axes=False)


def radial_lines(ds: xr.Dataset, population: str, time_indices) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """The speeds and, per frame (in time order, each once), the label and values of ``F(v) = v ∫ f dθ``."""
    idx = sorted({int(i) for i in time_indices}) or [0]
    F = radial_distribution(ds["f"].sel(population=population).isel(time=idx))
    return F["speed"].values, [(f"t = {float(F['time'][k]):g}", F.isel(time=k).values) for k in range(len(idx))]


def radial_curves(ds: xr.Dataset, population: str, time_indices) -> hv.Overlay:
    """The radial distribution ``F(v) = v ∫ f dθ`` of a population at several frames (Fig. 2b)."""
    speed, lines = radial_lines(ds, population, time_indices)
    curves = [hv.Curve((speed, values), "speed", "F", label=label) for label, values in lines]
    return hv.Overlay(curves).opts(
        hv.opts.Curve(tools=["hover"]),
        hv.opts.Overlay(title=f"{population}: F(v) = v ∫ f dθ", xlabel=f"v{units(ds)}",
                        ylabel="v ∫ f dθ", legend_position="top_right", **_WIDE))


# --- operators --------------------------------------------------------------------

def isotropic_view(op: xr.Dataset) -> xr.Dataset:
    """An operator in isotropic form ``A_par, D_par, D_perp(time, speed)``.

    Full operators (``A(time, component, vx, vy)``, ``D(...)``) are projected
    on the radial and azimuthal directions cell by cell and averaged over
    speed shells one bin wide.
    """
    if op.attrs.get("operator") != "fokker_planck_full":
        return op[list(COEFFICIENTS)]
    vx, vy = op["vx"].values, op["vy"].values
    VX, VY = np.meshgrid(vx, vy, indexing="ij")
    s = np.hypot(VX, VY)
    ux, uy = np.where(s > 0, VX / np.where(s > 0, s, 1), 1.0), np.where(s > 0, VY / np.where(s > 0, s, 1), 0.0)
    A, D = op["A"].values, op["D"].values                 # (T, 2, N, M), (T, 2, 2, N, M)
    a_par = A[:, 0] * ux + A[:, 1] * uy
    d_par = D[:, 0, 0] * ux * ux + (D[:, 0, 1] + D[:, 1, 0]) * ux * uy + D[:, 1, 1] * uy * uy
    d_perp = D[:, 0, 0] * uy * uy - (D[:, 0, 1] + D[:, 1, 0]) * ux * uy + D[:, 1, 1] * ux * ux
    M, centres, _, _ = speed_shells(vx, vy)
    count = M.sum(1)
    keep = count > 0
    out = {}
    for name, c in (("A_par", a_par), ("D_par", d_par), ("D_perp", d_perp)):
        flat = c.reshape(c.shape[0], -1) @ M.T
        out[name] = (("time", "speed"), (flat[:, keep] / count[keep]))
    return xr.Dataset(out, coords={"time": op["time"].values, "speed": centres[keep]}, attrs=dict(op.attrs))


def _at_time(da: xr.DataArray, t: float) -> xr.DataArray:
    if da.sizes["time"] == 1:
        return da.isel(time=0)
    tt = da["time"].values
    return da.interp(time=float(np.clip(t, tt[0], tt[-1])))


def coefficient_curves(op: xr.Dataset | None, name: str, times, *, label: str = "") -> hv.Overlay:
    """One coefficient of one operator at several times (an Overlay; empty without an operator)."""
    ylabel = COEFFICIENTS[name]
    opts = hv.opts.Overlay(title=f"{ylabel}{(' — ' + label) if label else ''}", xlabel="v", ylabel=ylabel,
                           legend_position="top_right", framewise=True, **_WIDE)
    iso = None if op is None else isotropic_view(op)
    curves = []
    for t in (list(times) or [0.0]):   # the same curves, empty without an operator: the legend stays put
        xy = ([], []) if iso is None else (iso["speed"].values, _at_time(iso[name], t).values)
        curves.append(hv.Curve(xy, "speed", name, label=f"t = {float(t):g}"))
    return hv.Overlay(curves).opts(hv.opts.Curve(tools=["hover"], framewise=True), opts)


def coefficient_compare(operators: dict, name: str, time: float) -> hv.Overlay:
    """One coefficient of several operators (label -> dataset) at one time, overlaid."""
    ylabel = COEFFICIENTS[name]
    curves = []
    for label, op in operators.items():
        iso = isotropic_view(op)
        dash = "dashed" if op.attrs.get("method") == "truth" else "solid"
        curves.append(hv.Curve((iso["speed"].values, _at_time(iso[name], time).values), "speed", name,
                               label=str(label)).opts(line_dash=dash))
    if not curves:
        curves = [hv.Curve([], "speed", name)]
    return hv.Overlay(curves).opts(
        hv.opts.Curve(tools=["hover"], framewise=True),
        hv.opts.Overlay(title=f"{ylabel} at t = {float(time):g}", xlabel="v", ylabel=ylabel,
                        legend_position="top_right", framewise=True, **_WIDE))


# --- training -----------------------------------------------------------------------

def loss_curve(data: pd.DataFrame | None = None) -> hv.Curve:
    """Training loss against epoch (log scale), as streamed from a run's events."""
    data = EMPTY_LOSS if data is None or len(data) == 0 else data
    return hv.Curve(data, "epoch", ["loss", "stage"], label="training loss").opts(
        logy=True, tools=["hover"], title="Training loss", xlabel="epoch (all stages)", ylabel="loss",
        **_WIDE)


# --- rollout ------------------------------------------------------------------------

def normalised_difference(f_hat: xr.DataArray, f: xr.DataArray) -> xr.DataArray:
    """``(f_hat - f) / max_v f(t)``: each frame's difference over that frame's data peak."""
    peak = f.max(dim=("vx", "vy"))
    return ((f_hat - f) / peak.where(peak > 0, 1.0)).rename("difference")


def rollout_triptych(f: xr.DataArray, f_hat: xr.DataArray, time_index: int, *, title: str = "") -> hv.Layout:
    """Data | model rollout | normalised difference at one frame (the paper's Fig. 3 layout).

    Parameters
    ----------
    f, f_hat : xarray.DataArray
        Data and rollout of one population, dims ``(time, vx, vy)``.
    time_index : int
        Frame to show.
    """
    return hv.Layout(rollout_panels(f, f_hat, time_index, title=title)).cols(3).opts(shared_axes=True)


def rollout_panels(f: xr.DataArray, f_hat: xr.DataArray, time_index: int, *, title: str = "") -> list:
    """The three images of :func:`rollout_triptych` (data, rollout, normalised difference)."""
    i = int(time_index)
    d = normalised_difference(f_hat, f).isel(time=i)
    a, b = f.isel(time=i), f_hat.isel(time=i)
    top = float(max(a.max(), b.max())) or 1.0
    lim = float(np.abs(d).max()) or 1.0
    t = float(f["time"][i])
    common = dict(colorbar=True, frame_width=240, frame_height=240, tools=["hover"], xlabel="vx", ylabel="vy")

    def img(da, vdim, label):
        return hv.Image(da.transpose("vy", "vx").values[::-1],
                        bounds=_bounds(f), kdims=["vx", "vy"], vdims=[vdim], label=label)

    return [
        img(a, "f", f"data, t = {t:g}").opts(cmap=SEQUENTIAL, clim=(0, top), **common),
        img(b, "f", f"rollout{(' — ' + title) if title else ''}").opts(cmap=SEQUENTIAL, clim=(0, top), **common),
        img(d, "difference", "(rollout − data) / max f(t)").opts(cmap=DIVERGING, clim=(-lim, lim), **common),
    ]


def _bounds(f: xr.DataArray):
    vx, vy = f["vx"].values, f["vy"].values
    hx, hy = (vx[1] - vx[0]) / 2, (vy[1] - vy[0]) / 2
    return (vx[0] - hx, vy[0] - hy, vx[-1] + hx, vy[-1] + hy)


# --- summary ------------------------------------------------------------------------

def summary_frame(runs: list[dict]) -> pd.DataFrame:
    """Table 1 of the paper: rollout error mean ± std per method over finished runs.

    The per-population errors (``metrics.per_population``) of all finished
    runs of a method are pooled; mean and (population) standard deviation are
    taken over them.
    """
    rows: dict[str, list[float]] = {}
    count: dict[str, int] = {}
    for r in runs:
        m = r.get("metrics") or {}
        per = m.get("per_population") or {}
        if r.get("status") not in ("finished", "stopped") or not per:
            continue
        method = str(r.get("method") or m.get("method") or "?")
        rows.setdefault(method, []).extend(float(v) for v in per.values() if v is not None)
        count[method] = count.get(method, 0) + 1
    out = []
    for method, vals in sorted(rows.items()):
        v = np.asarray(vals)
        out.append({"method": method, "rollout MAE": float(v.mean()), "std": float(v.std()),
                    "mean ± std": f"{v.mean():.4g} ± {v.std():.2g}", "runs": count[method],
                    "populations": int(v.size)})
    return pd.DataFrame(out, columns=["method", "rollout MAE", "std", "mean ± std", "runs", "populations"])


def summary_table(frame: pd.DataFrame) -> hv.Table:
    """:func:`summary_frame` as a HoloViews table (exportable like the figures)."""
    return hv.Table(frame[["method", "mean ± std", "runs", "populations"]]).opts(
        title="Rollout MAE (Table 1)", width=560, height=160)
