"""Numba kernels of the collision solver's isotropic step (:meth:`CollisionSolver._rotate_isotropic`).

Two passes over the pairs (the gains are evaluated in between, by the
kernel): :func:`pair_speeds` gives ``|u|``, :func:`turn_pairs` turns every
pair's relative velocity by the von Mises-Fisher law with the quadrupole
moment ``1 - 6 D dt`` and writes the velocities back. The frame ``(u~, r~, s~)``
and the formulas are those of the PyTorch path, which the tests compare
with (same random numbers, results equal to round-off).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._pair_kernels import orthogonal_unit

__all__ = ["pair_speeds", "turn_pairs", "kappa_quadrupole"]

_OPTS = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_OPTS)
def pair_speeds(v, i, j, tol):
    """``|v_i - v_j|`` of every pair, 0 where the pair counts as ``u = 0`` (see :mod:`geometry`)."""
    m = i.shape[0]
    out = np.zeros(m)
    for p in range(m):
        a, b = i[p], j[p]
        ux, uy, uz = v[a, 0] - v[b, 0], v[a, 1] - v[b, 1], v[a, 2] - v[b, 2]
        a2 = ux * ux + uy * uy + uz * uz
        sc = (v[a, 0] ** 2 + v[a, 1] ** 2 + v[a, 2] ** 2 + v[b, 0] ** 2 + v[b, 1] ** 2 + v[b, 2] ** 2)
        if a2 > tol * tol * sc:
            out[p] = math.sqrt(a2)
    return out


@numba.njit(**_OPTS)
def _lok(k):
    """``(coth k - 1/k)/k`` (1/3 at 0)."""
    if k < 1e-3:
        return 1.0 / 3.0 - k * k / 45.0
    return (1.0 / math.tanh(k) - 1.0 / k) / k


@numba.njit(**_OPTS)
def kappa_quadrupole(g):
    """``kappa`` with ``(coth k - 1/k)/k = g``: 0 for ``g >= 1/3``, ``inf`` for ``g <= 0``."""
    if g <= 0.0:
        return math.inf
    if g >= 1.0 / 3.0:
        return 0.0
    if g < 0.08:
        return (1.0 + math.sqrt(max(1.0 - 4.0 * g, 0.0))) / (2.0 * g)
    lo, hi = 0.0, 12.0                       # (coth k - 1/k)/k decreases from 1/3 to 0.0764 on [0, 12]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _lok(mid) > g:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@numba.njit(**_OPTS)
def turn_pairs(v, i, j, vbar, G, dt, x, phi, tol):
    """Turn each pair ``(i[p], j[p])`` of ``v`` (in place) with gain ``G[p]`` over ``dt``.

    ``x`` in (0, 1] and ``phi`` in [0, 2 pi) are the pair's random numbers
    (the cosine's quantile and the azimuth).
    """
    m = i.shape[0]
    for p in range(m):
        a_, b_ = i[p], j[p]
        v1x, v1y, v1z = v[a_, 0], v[a_, 1], v[a_, 2]
        v2x, v2y, v2z = v[b_, 0], v[b_, 1], v[b_, 2]
        ux, uy, uz = v1x - v2x, v1y - v2y, v1z - v2z
        a2 = ux * ux + uy * uy + uz * uz
        sc = v1x * v1x + v1y * v1y + v1z * v1z + v2x * v2x + v2y * v2y + v2z * v2z
        if not a2 > tol * tol * sc:
            continue
        a = math.sqrt(a2)
        uhx, uhy, uhz = ux / a, uy / a, uz / a
        rx, ry, rz = v1x + v2x - 2 * vbar[0], v1y + v2y - 2 * vbar[1], v1z + v2z - 2 * vbar[2]
        cu = uhx * rx + uhy * ry + uhz * rz
        px, py, pz = rx - cu * uhx, ry - cu * uhy, rz - cu * uhz
        np2 = px * px + py * py + pz * pz
        if np2 > tol * tol * (rx * rx + ry * ry + rz * rz):
            n = math.sqrt(np2)
            rtx, rty, rtz = px / n, py / n, pz / n
        else:
            rtx, rty, rtz = orthogonal_unit(uhx, uhy, uhz)
        stx = uhy * rtz - uhz * rty
        sty = uhz * rtx - uhx * rtz
        stz = uhx * rty - uhy * rtx
        tau = 4.0 * max(G[p], 0.0) * dt / a2
        k = kappa_quadrupole(2.0 * tau)
        xx = x[p]
        if k < 1e-6:
            w = 2.0 * xx - 1.0
        elif math.isinf(k):
            w = 1.0
        else:
            w = 1.0 + math.log(xx + (1.0 - xx) * math.exp(-2.0 * k)) / k
        w = min(max(w, -1.0), 1.0)
        sw = math.sqrt(max(1.0 - w * w, 0.0))
        cph, sph = math.cos(phi[p]), math.sin(phi[p])
        dx = w * uhx + sw * (cph * rtx + sph * stx)
        dy = w * uhy + sw * (cph * rty + sph * sty)
        dz = w * uhz + sw * (cph * rtz + sph * stz)
        nd = math.sqrt(dx * dx + dy * dy + dz * dz)
        nx, ny, nz = a * dx / nd, a * dy / nd, a * dz / nd
        cx, cy, cz = 0.5 * (v1x + v2x), 0.5 * (v1y + v2y), 0.5 * (v1z + v2z)
        v[a_, 0], v[a_, 1], v[a_, 2] = cx + 0.5 * nx, cy + 0.5 * ny, cz + 0.5 * nz
        v[b_, 0], v[b_, 1], v[b_, 2] = cx - 0.5 * nx, cy - 0.5 * ny, cz - 0.5 * nz
