"""Velocity histograms of particles with a particle shape (ngp, cic, tsc)."""
from __future__ import annotations

import numpy as np

from . import _kernels as _dk
from ..grid import VelocityGrid
from ..schema import CollopError

__all__ = ["DEPOSITS", "histogram"]


DEPOSITS = ("ngp", "cic", "tsc")


def _shape_weights(x, deposit: str):
    """Cell offsets and weights of the particle shape along one axis.

    ``x`` is the position in bin units relative to the first bin centre.
    Returns a list of ``(index, weight)`` pairs (arrays like ``x``) whose weights
    sum to one for every particle: cloud in cell (``cic``, linear) or
    triangular shaped cloud (``tsc``, quadratic spline), as in PIC charge
    deposition.
    """
    if deposit == "cic":
        i = np.floor(x)
        w = x - i
        return [(i, 1.0 - w), (i + 1, w)]
    i = np.floor(x + 0.5)
    d = x - i
    return [(i - 1, 0.5 * (0.5 - d) ** 2), (i, 0.75 - d * d), (i + 1, 0.5 * (0.5 + d) ** 2)]


def histogram(v, grid: VelocityGrid, *, deposit: str = "ngp", max_elements: int = 1 << 24,
              backend: str = "auto"):
    """Density of particles on ``grid`` at every frame.

    Parameters
    ----------
    v : ndarray, shape (T, n, 2) or (n, 2)
        Velocities (grid units) of the same ``n`` particles at ``T`` frames.
    grid : VelocityGrid
        Bin centres; with ``ngp`` a particle is in the bin whose half-open cell
        ``[edge_k, edge_k+1)`` contains it.
    deposit : {"ngp", "cic", "tsc"}
        Particle shape: the plain histogram (``ngp``, the paper's), or a
        linear (``cic``) or quadratic (``tsc``) shape spread over 2 x 2 or 3 x 3
        bins. Mass and mean velocity are deposited exactly; the shapes add a
        variance per axis of ``h**2/4`` (tsc, exactly) or ``w (1 - w) h**2``
        (cic, ``w`` the position within the bin; ``h**2/6`` on average). See Notes.
    max_elements : int
        Frames are binned in chunks of about this many particles (memory bound).
    backend : {"auto", "numpy"}
        ``auto`` deposits cic/tsc with a fused numba kernel; ``numpy`` is the
        reference path.

    Returns
    -------
    ndarray, shape (T, nvx, nvy) or (nvx, nvy), float32
        ``f`` with ``sum(f) * h**2`` = fraction of the ``n`` particles' mass
        deposited inside the grid.

    Notes
    -----
    With ``ngp`` a particle's contribution jumps when it crosses a bin edge,
    so over a frame in which particles move a fraction of a bin the
    histogram's bin-scale noise changes by ``O(sqrt(D dt) / h)``, while a
    Fokker-Planck operator on the grid changes it only by ``O(D dt / h**2)``.
    Smooth shapes make each bin's value a smooth function of the particle
    velocities, so the noise evolves diffusively, like the operator predicts
    (see the README, "Noise bias").
    """
    if deposit not in DEPOSITS:
        raise CollopError(f"unknown deposit {deposit!r}; expected one of {', '.join(DEPOSITS)}")
    v = np.asarray(v)
    single = v.ndim == 2
    v = v[None] if single else v
    T, n = v.shape[:2]
    nx, ny = grid.shape
    h = grid.h
    x0, y0 = grid.vx[0], grid.vy[0]
    if deposit != "ngp" and backend == "auto":
        out = _dk.deposit(v, x0, y0, h, grid.shape, DEPOSITS.index(deposit))
        f = (out / (max(n, 1) * h * h)).astype(np.float32)
        return f[0] if single else f
    out = np.zeros((T, nx * ny), dtype=np.float64)
    step = max(1, max_elements // max(n, 1))
    for a in range(0, T, step):
        blk = v[a:a + step]
        frame = np.arange(len(blk))[:, None] * (nx * ny)
        if deposit == "ngp":   # bin edges as in the docstring: [edge_k, edge_k+1)
            wx = [(np.floor((blk[..., 0] - grid.edges_x[0]) / h), None)]
            wy = [(np.floor((blk[..., 1] - grid.edges_y[0]) / h), None)]
        else:
            wx = _shape_weights((blk[..., 0] - x0) / h, deposit)
            wy = _shape_weights((blk[..., 1] - y0) / h, deposit)
        acc = np.zeros(len(blk) * nx * ny)
        for ix, ax in wx:
            okx = (ix >= 0) & (ix < nx)
            for iy, ay in wy:
                ok = okx & (iy >= 0) & (iy < ny)
                flat = (frame + ix * ny + iy)[ok].astype(np.int64)
                acc += np.bincount(flat, weights=None if ax is None else (ax * ay)[ok],
                                   minlength=len(blk) * nx * ny)
        out[a:a + len(blk)] = acc.reshape(len(blk), nx * ny)
    f = (out / (max(n, 1) * h * h)).reshape(T, nx, ny).astype(np.float32)
    return f[0] if single else f


