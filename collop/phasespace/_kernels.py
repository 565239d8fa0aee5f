"""Fused particle-shape deposit (cic, tsc) for :func:`collop.phasespace.histogram`.

One pass over the particles per frame, frames in parallel (each frame owns its
output slice, so there are no write races). The numpy path in
:mod:`collop.phasespace.deposit` is the reference; tests check they agree.
"""
from __future__ import annotations

import math

import numpy as np

from numba import njit, prange

__all__ = ["deposit"]


@njit(parallel=True, cache=True)
def _deposit(v, x0, y0, inv_h, order, out):  # pragma: no cover - compiled
    # v (T, n, 2); out (T, nx, ny) float64, zeroed; order 1: cic (2 points), 2: tsc (3 points)
    T, n = v.shape[0], v.shape[1]
    nx, ny = out.shape[1], out.shape[2]
    npts = order + 1
    for t in prange(T):
        wx = np.empty(3)
        wy = np.empty(3)
        for p in range(n):
            x = (v[t, p, 0] - x0) * inv_h
            y = (v[t, p, 1] - y0) * inv_h
            if not (x > -2.0 and x < nx + 1.0 and y > -2.0 and y < ny + 1.0):
                continue   # outside the grid's reach (or NaN)
            if order == 1:
                ix = int(math.floor(x))
                iy = int(math.floor(y))
                dx = x - ix
                dy = y - iy
                wx[0], wx[1] = 1.0 - dx, dx
                wy[0], wy[1] = 1.0 - dy, dy
            else:
                ix = int(math.floor(x + 0.5))
                iy = int(math.floor(y + 0.5))
                dx = x - ix
                dy = y - iy
                wx[0], wx[1], wx[2] = 0.5 * (0.5 - dx) ** 2, 0.75 - dx * dx, 0.5 * (0.5 + dx) ** 2
                wy[0], wy[1], wy[2] = 0.5 * (0.5 - dy) ** 2, 0.75 - dy * dy, 0.5 * (0.5 + dy) ** 2
                ix -= 1
                iy -= 1
            for a in range(npts):
                i = ix + a
                if i < 0 or i >= nx:
                    continue
                for b in range(npts):
                    j = iy + b
                    if 0 <= j < ny:
                        out[t, i, j] += wx[a] * wy[b]


def deposit(v: np.ndarray, x0: float, y0: float, h: float, shape: tuple, order: int) -> np.ndarray:
    """Particle weight per bin ``(T, nx, ny)`` float64 for velocities ``v (T, n, 2)``."""
    out = np.zeros((v.shape[0],) + tuple(shape), dtype=np.float64)
    _deposit(np.ascontiguousarray(v), float(x0), float(y0), 1.0 / float(h), int(order), out)
    return out
