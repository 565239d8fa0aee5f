"""Advection and diffusion coefficients from particle tracks (the "Tracks" method).

The coefficients of the Fokker-Planck operator

    C[f] = -div(A f) + 1/2 div div(D f)

are estimated from the velocity changes of individual particles over an
interval ``dt = t[k + ndump] - t[k]`` (seed paper, Appendix D.1, eqs. 9-10),
conditioned on the particle velocity at the start of the interval. The result
is an ``operator`` dataset (:mod:`collop.schema`) in the same form as the
phase-space methods write, so all methods compare in one plot.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .datasets import full_operator_dataset, isotropic_operator_dataset
from .grid import VelocityGrid
from .schema import CollopError, check_kind

__all__ = ["estimate", "scan_ndump", "interval_starts"]

SYMMETRIES = ("isotropic", "full")


def _fail(src: str, problem: str):
    raise CollopError(f"{src or '<particles>'}: {problem}")


def interval_starts(n_frames: int, ndump: int, overlap: bool) -> np.ndarray:
    """Start frames of the intervals ``[k, k + ndump]``.

    Non-overlapping: ``k = 0, ndump, 2 ndump, ...`` while ``k + ndump <= n_frames - 1``;
    overlapping: every ``k = 0, 1, ..., n_frames - 1 - ndump``.
    """
    return np.arange(0, n_frames - ndump, 1 if overlap else ndump)


def _round_up(x: float) -> float:
    """``x`` rounded up to two significant digits (1.0 for ``x <= 0``)."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    scale = 10.0 ** (np.floor(np.log10(x)) - 1)
    return float(np.ceil(x / scale * (1 - 1e-12)) * scale)


class _Frames:
    """Reads ``v[time=k, component=x,y]`` one frame at a time, keeping the last one read."""

    def __init__(self, v: xr.DataArray):
        self.v, self.k, self.val = v, None, None

    def __call__(self, k: int) -> np.ndarray:
        if k != self.k:
            self.k = k
            self.val = np.asarray(self.v.isel(time=k).values, dtype=np.float64)
        return self.val


def _tent(speed_nodes: np.ndarray, s: np.ndarray):
    """Linear (tent) interpolation weights of speeds ``s`` onto increasing ``speed_nodes``.

    Returns ``(j, w0, w1)``: a particle adds ``w0`` to node ``j`` and ``w1`` to node
    ``j + 1``; particles outside ``[speed_nodes[0], speed_nodes[-1]]`` get zero weight.
    """
    n = speed_nodes.size
    j = np.searchsorted(speed_nodes, s, side="right") - 1
    inside = (j >= 0) & (s <= speed_nodes[-1])
    j = np.clip(j, 0, n - 2)
    w1 = np.clip((s - speed_nodes[j]) / np.diff(speed_nodes)[j], 0.0, 1.0)
    w1 = np.where(inside, w1, 0.0)
    w0 = np.where(inside, 1.0 - w1, 0.0)
    return j, w0, w1


def _grid_index(grid: VelocityGrid, v: np.ndarray) -> np.ndarray:
    """Flat bin index of each velocity ``v[:, 2]`` on ``grid``; -1 outside the grid."""
    idx = []
    for c, centres in enumerate((grid.vx, grid.vy)):
        e0, h, n = centres[0] - grid.h / 2, grid.h, centres.size
        i = np.floor((v[:, c] - e0) / h).astype(np.int64)
        i[(i == n) & (v[:, c] <= e0 + n * h * (1 + 1e-12))] = n - 1  # right edge is inside
        idx.append(np.where((i >= 0) & (i < n), i, -1))
    ix, iy = idx
    return np.where((ix >= 0) & (iy >= 0), ix * grid.vy.size + iy, -1)


def _default_grid(frames: _Frames, starts, n_bins, vmax) -> VelocityGrid:
    if vmax is None:
        vmax = _round_up(max(float(np.abs(frames(int(k))).max()) for k in starts))
    return VelocityGrid.regular(n_bins, vmax)


def estimate(particles: xr.Dataset, *, ndump: int = 1, overlap: bool = False,
             symmetry: str = "isotropic", grid: VelocityGrid | None = None, n_bins: int = 51,
             vmax: float | None = None, speed: np.ndarray | None = None, min_count: int = 10,
             progress: bool = False) -> xr.Dataset:
    """Estimate Fokker-Planck coefficients from particle tracks.

    Parameters
    ----------
    particles : xarray.Dataset
        A ``particles`` dataset, ``v(time, particle, component)``, possibly read
        lazily; only frames ``k`` and ``k + ndump`` are in memory at any time.
        For 3-D data only the ``x`` and ``y`` components are used (speeds are
        ``|(v_x, v_y)|``). A ``run`` dimension is not supported.
    ndump : int
        Interval length in frames, ``dt = t[k + ndump] - t[k]`` (``N_dump``).
    overlap : bool
        Use every start frame ``k = 0, 1, ...`` (overlapping intervals) instead of
        ``k = 0, ndump, 2 ndump, ...`` (non-overlapping, the paper's choice).
    symmetry : {"isotropic", "full"}
        ``"isotropic"``: ``A_par, D_par, D_perp(time, speed)``; ``"full"``:
        ``A(time, component, vx, vy)``, ``D(time, component, component2, vx, vy)``.
    grid : VelocityGrid, optional
        Velocity bins (full) or source of the default speed nodes (isotropic).
        Default ``VelocityGrid.regular(n_bins, vmax)``.
    n_bins, vmax : int, float, optional
        Default grid; ``vmax`` defaults to the largest ``|v_x|, |v_y|`` over the
        interval start frames, rounded up to two significant digits (an extra
        read pass; pass ``grid`` or ``vmax`` to avoid it).
    speed : ndarray, optional
        Increasing speed nodes (isotropic only), default ``grid.speed_nodes()``.
    min_count : int
        Bins (speed nodes) with fewer particles (less total tent weight) get 0
        for every coefficient.
    progress : bool
        Show a tqdm progress bar over the intervals.

    Returns
    -------
    xarray.Dataset
        ``operator`` dataset with ``attrs["method"] = "tracks"``, ``attrs["ndump"]``,
        ``attrs["overlap"]`` (0 or 1) and ``attrs["min_count"]``; ``time`` is the
        interval start ``t[k]``. ``A`` is in velocity_units/time_units, ``D`` in
        velocity_units**2/time_units. ``n_samples`` holds the number of particles
        (isotropic: total tent weight) behind each value.

    Raises
    ------
    CollopError
        Bad ``ndump``, ``symmetry`` or ``speed``, or a ``run`` dimension.

    Notes
    -----
    With ``dv_i = v_i(t + dt) - v_i(t)`` and averages over the particles whose
    start velocity ``v(t)`` lies in a bin (eqs. 9 and 10),

        A_i(t, v_bin) = <dv_i> / dt,        D_ij(t, v_bin) = <dv_i dv_j> / dt.

    ``D`` is the raw second moment, so it includes ``A_i A_j dt`` on top of the
    diffusion. The isotropic form ``A = A_par v_hat``,
    ``D = D_par v_hat v_hat^T + D_perp (I - v_hat v_hat^T)`` is estimated per
    particle with ``v_hat = v(t)/|v(t)|``, ``t_hat = (-v_hat_y, v_hat_x)``:
    ``A_par = <dv.v_hat>/dt``, ``D_par = <(dv.v_hat)^2>/dt``,
    ``D_perp = <(dv.t_hat)^2>/dt``, averaged with linear (tent) weights of
    ``|v(t)|`` onto the two neighbouring speed nodes.
    """
    src = particles.encoding.get("source", "") or particles.attrs.get("source", "")
    check_kind(particles, "particles", src or None)
    if "run" in particles["v"].dims:
        _fail(src, "has a 'run' dimension, which the tracks estimator does not support; "
                   "select one run first")
    if symmetry not in SYMMETRIES:
        _fail(src, f"symmetry {symmetry!r} is not one of {', '.join(SYMMETRIES)}")
    t = np.asarray(particles["time"].values, dtype=float)
    if not isinstance(ndump, (int, np.integer)) or ndump < 1:
        _fail(src, f"ndump must be an integer >= 1, got {ndump!r}")
    if ndump >= t.size:
        _fail(src, f"ndump={ndump} needs more than {ndump} frames, the file has {t.size}")
    v = particles["v"].transpose("time", "particle", "component").isel(component=slice(0, 2))
    frames = _Frames(v)
    starts = interval_starts(t.size, int(ndump), overlap)
    if grid is None and (symmetry == "full" or speed is None):
        grid = _default_grid(frames, starts, n_bins, vmax)
    if symmetry == "isotropic":
        nodes = grid.speed_nodes() if speed is None else np.asarray(speed, dtype=float)
        if nodes.ndim != 1 or nodes.size < 2 or nodes[0] < 0 or np.any(np.diff(nodes) <= 0):
            _fail(src, "speed nodes must be >= 0, strictly increasing and at least 2")
        shape = (nodes.size,)
    else:
        shape = grid.shape
    nbin = int(np.prod(shape))

    n_moments = 4 if symmetry == "isotropic" else 6  # weight + 3 / weight + 2 + 3
    out = np.zeros((starts.size, n_moments, nbin))
    it = starts
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(starts, desc=f"tracks ndump={ndump}", unit="interval")
    for row, k in enumerate(it):
        v0 = frames(int(k))
        v1 = frames(int(k) + ndump)
        dt = t[k + ndump] - t[k]
        dv = v1 - v0
        if symmetry == "isotropic":
            s = np.hypot(v0[:, 0], v0[:, 1])
            safe = np.where(s > 0, s, 1.0)
            ux, uy = np.where(s > 0, v0[:, 0] / safe, 1.0), np.where(s > 0, v0[:, 1] / safe, 0.0)
            par = dv[:, 0] * ux + dv[:, 1] * uy
            perp = -dv[:, 0] * uy + dv[:, 1] * ux
            j, w0, w1 = _tent(nodes, s)
            idx, w = np.concatenate([j, j + 1]), np.concatenate([w0, w1])
            q = [np.ones_like(par), par / dt, par ** 2 / dt, perp ** 2 / dt]
            for m, qm in enumerate(q):
                out[row, m] = np.bincount(idx, w * np.concatenate([qm, qm]), minlength=nbin)
        else:
            b = _grid_index(grid, v0)
            keep = b >= 0
            b, d = b[keep], dv[keep]
            q = [np.ones(b.size), d[:, 0] / dt, d[:, 1] / dt, d[:, 0] ** 2 / dt,
                 d[:, 0] * d[:, 1] / dt, d[:, 1] ** 2 / dt]
            for m, qm in enumerate(q):
                out[row, m] = np.bincount(b, qm, minlength=nbin)

    count = out[:, 0]
    ok = count >= max(min_count, 1e-300)
    mean = np.where(ok[:, None], out[:, 1:] / np.where(ok, count, 1.0)[:, None], 0.0)
    kw = dict(method="tracks", velocity_units=particles.attrs.get("velocity_units", ""),
              time_units=particles.attrs.get("time_units", ""), source=src,
              attrs={"ndump": int(ndump), "overlap": int(bool(overlap)),
                     "min_count": min_count, "symmetry": symmetry})
    time = t[starts]
    if symmetry == "isotropic":
        ds = isotropic_operator_dataset(time, nodes, mean[:, 0], mean[:, 1], mean[:, 2], **kw)
        ds["n_samples"] = (("time", "speed"), count)
    else:
        nx, ny = shape
        A = mean[:, 0:2].reshape(-1, 2, nx, ny)
        Dxx, Dxy, Dyy = (mean[:, m].reshape(-1, nx, ny) for m in (2, 3, 4))
        D = np.stack([np.stack([Dxx, Dxy], 1), np.stack([Dxy, Dyy], 1)], 1)
        ds = full_operator_dataset(time, grid.vx, grid.vy, A, D, **kw)
        ds["n_samples"] = (("time", "vx", "vy"), count.reshape(-1, nx, ny))
    ds["n_samples"].attrs.update(units="particles", long_name="particles behind each value"
                                 + (" (total tent weight)" if symmetry == "isotropic" else ""))
    return ds


def scan_ndump(particles: xr.Dataset, ndumps, overlap: bool = False, **kw) -> dict[int, xr.Dataset]:
    """:func:`estimate` for each interval length in ``ndumps``.

    The default grid is computed once (from ``ndump = 1`` start frames) and shared,
    so the operators of different ``ndump`` lie on the same speed nodes / bins.

    Returns
    -------
    dict
        ``{ndump: operator dataset}``.
    """
    ndumps = [int(n) for n in ndumps]
    needs_grid = kw.get("symmetry", "isotropic") == "full" or kw.get("speed") is None
    if (kw.get("grid") is None and kw.get("vmax") is None and needs_grid
            and "run" not in particles["v"].dims and particles.sizes.get("time", 0) > 1):
        v = particles["v"].transpose("time", "particle", "component").isel(component=slice(0, 2))
        starts = range(particles.sizes["time"] - 1)
        kw["grid"] = _default_grid(_Frames(v), starts, kw.pop("n_bins", 51), None)
    return {n: estimate(particles, ndump=n, overlap=overlap, **kw) for n in ndumps}
