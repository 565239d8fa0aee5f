"""Reductions of velocity-space densities: radial distribution and moments.

These are the quantities the paper plots next to the operators (Fig. 2b's
radial distribution) and the ones that tell whether a distribution has
relaxed (the kurtosis of one velocity component).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["speed_shells", "radial_distribution", "component_kurtosis"]


def speed_shells(vx, vy, width: float | None = None):
    """Tent weights of the cells of a (vx, vy) grid on speed shells.

    Parameters
    ----------
    vx, vy : array_like
        Uniform bin centres, in velocity units.
    width : float, optional
        Shell width (default one bin, ``h``).

    Returns
    -------
    M : numpy.ndarray, shape (S, len(vx) * len(vy))
        ``M[k, cell]``: the share of the cell that goes to shell ``k``. Each
        cell is shared linearly between the two shells whose centres
        ``(k + 1/2) width`` bracket its speed (cells below the first centre go
        whole to it), so every column sums to 1.
    centres : numpy.ndarray
        Shell centres.
    width, h : float
        Shell width and bin width.
    """
    vx, vy = np.asarray(vx, float), np.asarray(vy, float)
    h = float(np.diff(vx).mean())
    width = h if width is None else float(width)
    speed = np.hypot(vx[:, None], vy[None, :]).ravel()
    x = speed / width - 0.5                        # position in units of shells, 0 at the first centre
    k0 = np.floor(x).astype(int)
    frac = x - k0
    n = k0.max() + 2
    M = np.zeros((n, speed.size))
    cells = np.arange(speed.size)
    low = k0 >= 0                                  # cells below the first centre all go to it
    np.add.at(M, (np.where(low, k0, 0), cells), np.where(low, 1.0 - frac, 1.0))
    np.add.at(M, (np.where(low, k0 + 1, 0), cells), np.where(low, frac, 0.0))
    if not M[-1].any():
        M = M[:-1]
    return M, (np.arange(M.shape[0]) + 0.5) * width, width, h


def radial_distribution(f: xr.DataArray, width: float | None = None) -> xr.DataArray:
    r"""Radial distribution ``F(v) = v * integral f(v, theta) dtheta`` of a 2D density.

    Parameters
    ----------
    f : xarray.DataArray
        Density on a uniform velocity grid, with trailing dims ``(vx, vy)``
        (any leading dims, e.g. ``population, time``), in 1/velocity_units**2.
    width : float, optional
        Width of the speed shells, in velocity units (default one bin).

    Returns
    -------
    xarray.DataArray
        ``F(..., speed)`` in 1/velocity_units at the shell centres
        ``(k + 1/2) width``: each shell's mass divided by its width, so
        ``sum(F) * width == sum(f) * h**2`` (the fraction of particles on the
        grid).

    Notes
    -----
    Each cell's mass ``f h^2`` is shared between the two shells nearest to
    its speed, linearly (:func:`speed_shells`); the tent keeps the square
    grid's varying cell count per shell from making the curve jagged. This is
    the binned form of
    ``F(v) = v \int_0^{2\pi} f(v\cos\theta, v\sin\theta)\, d\theta``.
    """
    M, centres, width, h = speed_shells(f["vx"].values, f["vy"].values, width)
    lead = [d for d in f.dims if d not in ("vx", "vy")]
    arr = f.transpose(*lead, "vx", "vy").values.astype(float)
    flat = arr.reshape(arr.shape[:-2] + (-1,))
    F = flat @ M.T * (h * h / width)               # one matmul bins every leading index at once
    coords = {d: f[d].values for d in lead if d in f.coords}
    coords["speed"] = centres
    return xr.DataArray(F, dims=(*lead, "speed"), coords=coords, name="F",
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
