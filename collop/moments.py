"""Reductions of velocity-space densities: radial distribution and moments.

These are the quantities the paper plots next to the operators (Fig. 2b's
radial distribution) and the ones that tell whether a distribution has
relaxed (the kurtosis of one velocity component).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .grid import VelocityGrid

__all__ = ["radial_distribution", "component_kurtosis"]


def radial_distribution(f: xr.DataArray, speed=None, *, subdivide: int = 4) -> xr.DataArray:
    """Radial distribution ``f(v) = v * integral f(v, theta) dtheta`` of a 2D density.

    Parameters
    ----------
    f : xarray.DataArray
        Density on a uniform velocity grid, with trailing dims ``(vx, vy)``
        (any leading dims, e.g. ``population, time``), in 1/velocity_units**2.
    speed : array_like, optional
        Centres of the speed shells, in velocity units (default: every bin
        width from 0 to the grid corner).
    subdivide : int
        Each cell is split into ``subdivide**2`` equal sub-cells, each binned
        by its own centre (1: whole cells).

    Returns
    -------
    xarray.DataArray
        ``f(..., speed)`` in 1/velocity_units: the mass in each shell divided
        by the shell's width, so ``sum f(v) dv`` is the mass on the grid.

    Notes
    -----
    Each cell's mass ``f h^2`` is shared equally among its sub-cells, and each
    sub-cell's share goes to the shell holding the sub-cell's centre; the
    shells are ``[s_k - w_k/2, s_k + w_k/2)`` with ``w_k`` the spacing of the
    shell centres. This is the binned form of
    ``f(v) = v \\int_0^{2\\pi} f(v\\cos\\theta, v\\sin\\theta)\\, d\\theta``.
    """
    grid = VelocityGrid(np.asarray(f["vx"].values, float), np.asarray(f["vy"].values, float))
    speed = grid.speed_nodes() if speed is None else np.asarray(speed, dtype=float)
    edges = np.concatenate([[speed[0] - 0.5 * (speed[1] - speed[0])],
                            0.5 * (speed[1:] + speed[:-1]),
                            [speed[-1] + 0.5 * (speed[-1] - speed[-2])]])
    edges[0] = max(edges[0], 0.0)
    VX, VY = grid.mesh()
    k = max(int(subdivide), 1)
    off = ((np.arange(k) + 0.5) / k - 0.5) * grid.h                     # sub-cell centre offsets
    sx = VX[:, :, None, None] + off[:, None]
    sy = VY[:, :, None, None] + off[None, :]
    shell = np.digitize(np.hypot(sx, sy).reshape(VX.size, k * k), edges) - 1   # (cells, sub-cells)
    cell = np.repeat(np.arange(VX.size), k * k)
    shell = shell.ravel()
    inside = (shell >= 0) & (shell < speed.size)
    # (cells x shells) weights: a single matmul bins every leading index at once
    onehot = np.zeros((VX.size, speed.size))
    np.add.at(onehot, (cell[inside], shell[inside]), grid.h ** 2 / (k * k))
    lead = [d for d in f.dims if d not in ("vx", "vy")]
    vals = f.transpose(*lead, "vx", "vy").values
    flat = vals.reshape(-1, VX.size).astype(float)
    out = (flat @ onehot / np.diff(edges)).reshape(vals.shape[:-2] + (speed.size,))
    coords = {d: f[d].values for d in lead if d in f.coords}
    coords["speed"] = speed
    return xr.DataArray(out, dims=(*lead, "speed"), coords=coords, name="f_radial",
                        attrs={"long_name": "radial distribution v * int f dtheta"})


def component_kurtosis(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kurtosis ``<(v - <v>)^4> / <(v - <v>)^2>^2`` of samples along ``axis``.

    Parameters
    ----------
    v : array_like
        Samples of one velocity component (any units).
    axis : int
        Axis of the samples.

    Returns
    -------
    numpy.ndarray
        Dimensionless; 3 for a Maxwellian, 2 for one component of the 2D
        isotropic waterbag (uniform disc: v_x has density ~ sqrt(R^2 - v_x^2)).
    """
    v = np.asarray(v, dtype=float)
    d = v - v.mean(axis=axis, keepdims=True)
    m2 = (d * d).mean(axis=axis)
    return (d ** 4).mean(axis=axis) / (m2 * m2)
