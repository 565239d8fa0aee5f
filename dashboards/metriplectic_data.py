"""Data of the Metriplectic tab, without Panel: MD files, metriplectic runs, g² maps, loss, PDF ranges.

Everything here is a plain function of files, run entries and datasets, so
that the tab stays thin and the unit tests need no browser. The slow parts
(rollouts, PDFs and conservation of a rollout) live in
:mod:`dashboards.metriplectic_worker`.
"""
from __future__ import annotations

import functools
import math
import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from collop.views import Units

from .runstore import same_file

__all__ = ["MODELS", "md_files", "is_md_file", "md_runs", "is_metriplectic", "metriplectic_runs", "model_of",
           "newest_per_model", "short_units", "loss_unit", "g2_maps", "nice_step", "contour_levels", "clip_to",
           "loss_curves", "pdf_vmax"]

#: The kernels of the family (Zhao et al.): label -> model argument.
MODELS = {"CM2": "cm2", "CM1": "cm1", "Landau": "landau"}


@functools.lru_cache(maxsize=256)
def _md_stamp(stamp) -> bool:
    import h5py

    try:
        with h5py.File(stamp[0], "r") as fh:
            kind = fh.attrs.get("collop_kind")
            kind = kind.decode() if isinstance(kind, bytes) else kind
            return kind == "particles" and "run" in fh and "v" in fh
    except Exception:  # not HDF5 / unreadable: not an MD file
        return False


def is_md_file(path) -> bool:
    """Whether ``path`` is a particles file with a ``run`` dimension (read from its HDF5 header only)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _md_stamp((str(path), st.st_size, st.st_mtime_ns))


def md_files(config) -> dict[str, str]:
    """Label -> name (``root:relative``) of the MD particle files (with runs) under the data roots."""
    out = {}
    for name in config.list_files():
        if is_md_file(config.resolve(name)):
            out[config.label(name)] = name
    return out


def md_runs(ds: xr.Dataset) -> dict:
    """Runs of an MD file: ``all``, ``train`` and ``test`` (from the ``split`` coordinate or the attributes)."""
    names = [str(r) for r in ds["run"].values]
    if "split" in ds.coords:
        split = [str(s) for s in np.atleast_1d(ds["split"].values)]
        train = [n for n, s in zip(names, split) if s == "train"]
        test = [n for n, s in zip(names, split) if s == "test"]
    else:
        train = [n for n in str(ds.attrs.get("train_runs", "")).split(",") if n in names]
        test = [n for n in str(ds.attrs.get("test_runs", "")).split(",") if n in names]
    if not train:
        train = names[: max(1, len(names) // 2)]
    if not test:
        test = [n for n in names if n not in train] or names
    return {"all": names, "train": train, "test": test}


def is_metriplectic(info: dict) -> bool:
    """Whether a run entry is a training of the metriplectic family."""
    p = info.get("params") or {}
    return info.get("kind") == "metriplectic" or p.get("family") == "metriplectic" or \
        ((info.get("spec") or {}).get("family") == "metriplectic")


def metriplectic_runs(runs, md_path, finished_only: bool = False) -> list[dict]:
    """The metriplectic runs (entries of :func:`dashboards.runstore.list_all`) trained on ``md_path``."""
    if md_path is None:
        return []
    out = []
    for r in runs:
        if not is_metriplectic(r):
            continue
        data = (r.get("params") or {}).get("data") or r.get("dataset")
        if data and same_file(data, md_path):
            if not finished_only or r.get("status") in ("finished", "stopped"):
                out.append(r)
    return out


def model_of(info: dict) -> str:
    """``landau``, ``cm1`` or ``cm2`` of a run entry ('' if unknown)."""
    m = str((info.get("params") or {}).get("model") or info.get("method") or "")
    return m if m in MODELS.values() else ""


def newest_per_model(runs) -> dict[str, str]:
    """Model -> id of its newest run (by ``updated``/``created``), in the order of :data:`MODELS`."""
    best: dict[str, tuple] = {}
    for r in runs:
        m = model_of(r)
        if not m:
            continue
        key = str(r.get("updated") or r.get("created") or "")
        if m not in best or key >= best[m][0]:
            best[m] = (key, r["id"])
    return {m: best[m][1] for m in MODELS.values() if m in best}


def short_units(attrs) -> Units:
    """The :class:`collop.views.Units` of a file, velocity unit shortened to its name (``v_th = ...`` -> ``v_th``)."""
    u = Units.of(xr.Dataset(attrs=dict(attrs)))
    v = re.split(r"\s*=\s*", u.v, maxsplit=1)[0].strip() if u.v else ""
    return Units(v, u.t)


def loss_unit(units: Units) -> str:
    """Unit of the weak-form loss, 1/time²: ``omega_p²`` for a time unit ``1/omega_p``."""
    t = units.t
    if not t:
        return ""
    m = re.match(r"^1\s*/\s*(.+)$", t)
    if m:
        inner = m.group(1)
        return f"{inner}²" if re.fullmatch(r"[A-Za-z_]\w*", inner) else f"({inner})²"
    return f"1/({t})²" if not re.fullmatch(r"[A-Za-z_]\w*", t) else f"1/{t}²"


def g2_maps(op: xr.Dataset, s: float) -> dict:
    """``g_r²`` and ``g_s²`` over ``(u, r)`` at ``s`` and averaged over ``s`` (Zhao et al., Figs. 1 and 10).

    Parameters
    ----------
    op : xarray.Dataset
        A ``metriplectic`` operator file (tables ``g_r2(time, u, r, s)``,
        ``g_s2``, ``g_r2_mean_s(time, u, r)``, ``g_s2_mean_s``), in
        velocity**2/time.
    s : float
        ``s = |u × r|`` in velocity**2 (linear interpolation between the
        table's ``s`` nodes; clipped to them).

    Returns
    -------
    dict
        ``u``, ``r`` (velocity), ``s`` (the value used), and arrays
        ``(n_r, n_u)`` (rows r, columns u): ``gr_s``, ``gs_s`` (NaN outside
        the physical region ``s <= u r``), ``gr_mean``, ``gs_mean``.
    """
    u = np.asarray(op["u"].values, dtype=float)
    r = np.asarray(op["r"].values, dtype=float)
    sg = np.asarray(op["s"].values, dtype=float)
    s = float(np.clip(s, sg[0], sg[-1]))

    def at_s(name):
        g = np.asarray(op[name].isel(time=0).values, dtype=float)        # (u, r, s)
        if sg.size == 1:
            return g[..., 0]
        k = int(np.clip(np.searchsorted(sg, s) - 1, 0, sg.size - 2))
        w = (s - sg[k]) / (sg[k + 1] - sg[k])
        return (1 - w) * g[..., k] + w * g[..., k + 1]

    outside = s > u[:, None] * r[None, :]                                   # (u, r)
    gr, gs = at_s("g_r2"), at_s("g_s2")
    gr[outside] = np.nan
    gs[outside] = np.nan
    return {"u": u, "r": r, "s": s, "gr_s": gr.T, "gs_s": gs.T,
            "gr_mean": np.asarray(op["g_r2_mean_s"].isel(time=0).values, dtype=float).T,
            "gs_mean": np.asarray(op["g_s2_mean_s"].isel(time=0).values, dtype=float).T}


def nice_step(span: float, n: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) near ``span / n``."""
    raw = span / max(n, 1)
    p = 10.0 ** math.floor(math.log10(raw))
    return next(m * p for m in (1, 2, 2.5, 5, 10) if m * p >= raw * (1 - 1e-9))


def contour_levels(arrays, n: int = 12, *, log: bool = False, q: tuple = (0.01, 0.99)) -> np.ndarray:
    """Shared contour levels of several fields, covering quantiles ``q`` of their finite values.

    Linear (default): round levels (steps of 1, 2, 2.5 or 5 times a power of
    ten, about ``n`` bands) so that the colour bars read plainly. ``log``:
    ``n + 1`` geometric levels over the positive values. Always strictly
    increasing (a constant field gets a small band around it).
    """
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if log:
        vals = vals[vals > 0]
    if vals.size == 0:
        return np.geomspace(1e-3, 1.0, n + 1) if log else np.linspace(0.0, 1.0, n + 1)
    lo, hi = (float(x) for x in np.quantile(vals, q))
    if log:
        if not hi > lo * (1 + 1e-9):
            lo, hi = lo / 1.5, hi * 1.5
        return np.geomspace(lo, hi, n + 1)
    if not hi - lo > 1e-12 * max(abs(lo), abs(hi), 1e-300):
        d = abs(lo) * 0.1 or 1.0
        lo, hi = lo - d, hi + d
    step = nice_step(hi - lo, n)
    start, stop = math.floor(lo / step), math.ceil(hi / step)
    return np.arange(start, stop + 1) * step


def clip_to(z, levels) -> np.ndarray:
    """``z`` clipped into ``[levels[0], levels[-1]]`` (NaN kept), so that every point gets a band's colour."""
    z = np.asarray(z, dtype=float)
    return np.where(np.isfinite(z), np.clip(z, levels[0], levels[-1]), np.nan)


def loss_curves(loss: pd.DataFrame, window: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step, loss per step and its running mean over ``window`` steps (centred; NaN-aware).

    The weak-form loss of one step is a noisy estimate (with the split
    estimator it can be negative), so the running mean is what shows the
    trend.
    """
    if loss is None or len(loss) == 0:
        z = np.zeros(0)
        return z, z, z
    x = loss["epoch"].to_numpy(dtype=float) + 1.0
    y = loss["loss"].to_numpy(dtype=float)
    w = int(max(1, min(window, math.ceil(len(y) / 5))))
    mean = pd.Series(y).rolling(w, center=True, min_periods=1).mean().to_numpy(dtype=float)
    return x, y, mean


def pdf_vmax(v, q: float = 0.999, step: float = 0.5) -> float:
    """Half-width of the PDF plots: the ``q`` quantile of ``|v|`` over all frames, rounded up to ``step``."""
    s = np.linalg.norm(np.asarray(v, dtype=float).reshape(-1, 3), axis=-1)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return 1.0
    return float(max(step, math.ceil(float(np.quantile(s, q)) / step) * step))
