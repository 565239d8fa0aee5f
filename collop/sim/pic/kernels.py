"""Particle <-> grid kernels of the 2D PIC: charge deposit, field gather and the leapfrog push.

Two implementations of the same arithmetic:

- numba (CPU, the default where numba is present): one fused pass per step that
  gathers ``E`` at ``x^n``, pushes ``v`` and ``x`` and deposits the density at
  ``x^{n+1}``. Particles are split into :data:`N_CHUNKS` fixed blocks, each
  depositing into its own private grid; the grids are summed in a fixed order,
  so the numbers do not depend on the thread count.
- torch (the reference, and the CUDA path): the same steps with ``index_add_``
  and advanced indexing, on any device.

Grid nodes sit at ``x_i = i * dx`` (``i = 0 .. nx-1``), periodic. Positions are in
units of ``dx`` inside the kernels (``g = x / dx``). Shape functions of order
``m`` (the paper's ``m``):

- ``m = 1`` (CIC, linear): ``i = floor(g)``, ``d = g - i``; weights ``1-d, d`` on
  nodes ``i, i+1``.
- ``m = 2`` (TSC, quadratic): ``i = round(g)``, ``d = g - i`` in ``[-1/2, 1/2]``;
  weights ``(1/2 - d)^2/2, 3/4 - d^2, (1/2 + d)^2/2`` on nodes ``i-1, i, i+1``.

The 2D weight is the product of the 1D weights. The same weights deposit charge
and interpolate the field, so with an anti-symmetric gradient the self-force
vanishes and total momentum is conserved to round-off.
"""
from __future__ import annotations

import math

import numpy as np

from numba import njit, prange

__all__ = ["N_CHUNKS", "row_sort_perm", "deposit_numba", "gather_numba", "step_numba",
           "deposit_torch", "gather_torch", "step_torch"]

N_CHUNKS = 4
"""Fixed number of particle blocks (private deposit grids) of the numba path."""
_NBLK = 64  # grid blocks of the parallel reduction


# --- numba ---------------------------------------------------------------------------------


@njit(inline="always", fastmath=False)
def _w1(g):  # pragma: no cover - compiled
    i = math.floor(g)
    d = g - i
    return int(i), 1.0 - d, d, 0.0

@njit(inline="always", fastmath=False)
def _w2(g):  # pragma: no cover - compiled
    i = math.floor(g + 0.5)
    d = g - i
    return int(i) - 1, 0.5 * (0.5 - d) ** 2, 0.75 - d * d, 0.5 * (0.5 + d) ** 2

@njit(inline="always")
def _weights(g, order):  # pragma: no cover - compiled
    if order == 1:
        return _w1(g)
    return _w2(g)

@njit(inline="always")
def _cells(gx, gy, order, nx, ny):  # pragma: no cover - compiled
    # periodic row offsets r0..r2, columns j0..j2 and shape weights of the cells a particle touches
    i0, ax0, ax1, ax2 = _weights(gx, order)
    j0, ay0, ay1, ay2 = _weights(gy, order)
    if i0 < 0:
        i0 += nx
    if j0 < 0:
        j0 += ny
    i1 = i0 + 1 if i0 + 1 < nx else 0
    j1 = j0 + 1 if j0 + 1 < ny else 0
    i2 = i1 + 1 if i1 + 1 < nx else 0
    j2 = j1 + 1 if j1 + 1 < ny else 0
    return i0 * ny, i1 * ny, i2 * ny, j0, j1, j2, ax0, ax1, ax2, ay0, ay1, ay2

@njit(inline="always")
def _dep(grid, gx, gy, w, order, nx, ny):  # pragma: no cover - compiled
    # grid: flat (nx*ny,) row-major
    r0, r1, r2, j0, j1, j2, ax0, ax1, ax2, ay0, ay1, ay2 = _cells(gx, gy, order, nx, ny)
    grid[r0 + j0] += w * ax0 * ay0
    grid[r0 + j1] += w * ax0 * ay1
    grid[r1 + j0] += w * ax1 * ay0
    grid[r1 + j1] += w * ax1 * ay1
    if order == 2:
        grid[r0 + j2] += w * ax0 * ay2
        grid[r1 + j2] += w * ax1 * ay2
        grid[r2 + j0] += w * ax2 * ay0
        grid[r2 + j1] += w * ax2 * ay1
        grid[r2 + j2] += w * ax2 * ay2

@njit(inline="always")
def _gat(Ex, Ey, gx, gy, order, nx, ny):  # pragma: no cover - compiled
    # Ex, Ey: flat (nx*ny,) row-major
    r0, r1, r2, j0, j1, j2, ax0, ax1, ax2, ay0, ay1, ay2 = _cells(gx, gy, order, nx, ny)
    ex = (ax0 * (ay0 * Ex[r0 + j0] + ay1 * Ex[r0 + j1])
          + ax1 * (ay0 * Ex[r1 + j0] + ay1 * Ex[r1 + j1]))
    ey = (ax0 * (ay0 * Ey[r0 + j0] + ay1 * Ey[r0 + j1])
          + ax1 * (ay0 * Ey[r1 + j0] + ay1 * Ey[r1 + j1]))
    if order == 2:
        ex += ax0 * ay2 * Ex[r0 + j2] + ax1 * ay2 * Ex[r1 + j2] + ax2 * (
            ay0 * Ex[r2 + j0] + ay1 * Ex[r2 + j1] + ay2 * Ex[r2 + j2])
        ey += ax0 * ay2 * Ey[r0 + j2] + ax1 * ay2 * Ey[r1 + j2] + ax2 * (
            ay0 * Ey[r2 + j0] + ay1 * Ey[r2 + j1] + ay2 * Ey[r2 + j2])
    return ex, ey

@njit(parallel=True, cache=True)
def _reduce(priv, out, nblk):  # pragma: no cover - compiled
    # priv: (C, M), out: (M,); out = sum over c in fixed order
    C, M = priv.shape
    for b in prange(nblk):
        a = b * M // nblk
        e = (b + 1) * M // nblk
        for k in range(a, e):
            out[k] = priv[0, k]
        for c in range(1, C):
            for k in range(a, e):
                out[k] += priv[c, k]

@njit(parallel=True, cache=True)
def _deposit(x, y, inv_dx, w, order, priv, nx, ny):  # pragma: no cover - compiled
    C = priv.shape[0]
    n = x.size
    for c in prange(C):
        g = priv[c]
        g[:] = 0.0
        a = c * n // C
        b = (c + 1) * n // C
        for p in range(a, b):
            _dep(g, x[p] * inv_dx, y[p] * inv_dx, w, order, nx, ny)

@njit(parallel=True, cache=True)
def _gather(x, y, inv_dx, order, Ex, Ey, nx, ny, ex, ey):  # pragma: no cover - compiled
    for p in prange(x.size):
        ex[p], ey[p] = _gat(Ex, Ey, x[p] * inv_dx, y[p] * inv_dx, order, nx, ny)

@njit(parallel=True, cache=True)
def _step(x, y, vx, vy, Ex, Ey, nx, ny, qm_dt, dt, Lx, Ly, inv_dx, w, order, priv, sums,
          dump, vdump):  # pragma: no cover - compiled
    # sums[c] = (sum_p (v_old^2 + v_new^2) / 2, sum_p vx_new, sum_p vy_new) over chunk c
    C = priv.shape[0]
    n = x.size
    for c in prange(C):
        g = priv[c]
        g[:] = 0.0
        a = c * n // C
        b = (c + 1) * n // C
        k2 = 0.0
        px = 0.0
        py = 0.0
        for p in range(a, b):
            ex, ey = _gat(Ex, Ey, x[p] * inv_dx, y[p] * inv_dx, order, nx, ny)
            ux = vx[p]
            uy = vy[p]
            nvx = ux + qm_dt * ex
            nvy = uy + qm_dt * ey
            k2 += 0.5 * (ux * ux + uy * uy + nvx * nvx + nvy * nvy)
            px += nvx
            py += nvy
            if dump:
                vdump[p, 0] = 0.5 * (ux + nvx)
                vdump[p, 1] = 0.5 * (uy + nvy)
            vx[p] = nvx
            vy[p] = nvy
            xn = x[p] + nvx * dt
            yn = y[p] + nvy * dt
            # |v dt| < dx <= L (checked by PICConfig): one wrap suffices
            if xn < 0.0:
                xn += Lx
                if xn >= Lx:  # -tiny + Lx rounds to Lx
                    xn = 0.0
            elif xn >= Lx:
                xn -= Lx
            if yn < 0.0:
                yn += Ly
                if yn >= Ly:
                    yn = 0.0
            elif yn >= Ly:
                yn -= Ly
            x[p] = xn
            y[p] = yn
            _dep(g, xn * inv_dx, yn * inv_dx, w, order, nx, ny)
        sums[c, 0] = k2
        sums[c, 1] = px
        sums[c, 2] = py



@njit(cache=True)
def _row_sort_perm(x, inv_dx, nx):  # pragma: no cover - compiled
    # stable counting sort of the particles by grid row int(x / dx)
    n = x.size
    count = np.zeros(nx + 1, dtype=np.int64)
    key = np.empty(n, dtype=np.int64)
    for p in range(n):
        k = int(x[p] * inv_dx)
        if k >= nx:
            k = nx - 1
        key[p] = k
        count[k + 1] += 1
    for k in range(nx):
        count[k + 1] += count[k]
    perm = np.empty(n, dtype=np.int64)
    for p in range(n):
        k = key[p]
        perm[count[k]] = p
        count[k] += 1
    return perm


def row_sort_perm(x, dx, nx):
    """Permutation that orders particles by grid row ``int(x / dx)`` (stable; for cache locality)."""
    return _row_sort_perm(x, 1.0 / dx, int(nx))


def deposit_numba(x, y, dx, shape, order, w, priv=None):
    """Density on the grid: ``n[i, j] = sum_p w S(x_i - x_p) S(y_j - y_p)`` (numba).

    ``x, y`` float64 (N,) in length units; ``shape = (nx, ny)``; ``w`` the weight
    of one particle divided by the cell area. Returns an (nx, ny) float64 array.
    """
    nx, ny = shape
    if priv is None:
        priv = np.empty((N_CHUNKS, nx * ny))
    _deposit(x, y, 1.0 / dx, float(w), int(order), priv, nx, ny)
    out = np.empty((nx, ny))
    _reduce(priv, out.reshape(-1), _NBLK)
    return out


def gather_numba(x, y, dx, order, Ex, Ey):
    """Field at the particles: ``E_p = sum_ij E[i, j] S(x_i - x_p) S(y_j - y_p)`` (numba)."""
    ex = np.empty_like(x)
    ey = np.empty_like(y)
    nx, ny = Ex.shape
    _gather(x, y, 1.0 / dx, int(order), Ex.reshape(-1), Ey.reshape(-1), nx, ny, ex, ey)
    return ex, ey


def step_numba(x, y, vx, vy, Ex, Ey, qm, dt, L, dx, order, w, priv, dens, vdump=None):
    """One fused leapfrog step in place (numba); returns ``(sum_p (v_old^2 + v_new^2)/2, P)``.

    ``v^{n+1/2} = v^{n-1/2} + (q/m) E(x^n) dt``, ``x^{n+1} = x^n + v^{n+1/2} dt``
    (periodic), then ``dens`` (nx, ny) receives the density at ``x^{n+1}``. With
    ``vdump`` (N, 2) given, it receives ``(v^{n-1/2} + v^{n+1/2}) / 2``.
    """
    sums = np.zeros((priv.shape[0], 3))
    dump = vdump is not None
    vd = vdump if dump else np.empty((1, 2))
    nx, ny = Ex.shape
    _step(x, y, vx, vy, Ex.reshape(-1), Ey.reshape(-1), nx, ny, float(qm * dt), float(dt),
          float(L[0]), float(L[1]), 1.0 / dx, float(w), int(order), priv, sums, dump, vd)
    _reduce(priv, dens.reshape(-1), _NBLK)
    tot = sums.sum(axis=0)
    return float(tot[0]), tot[1:].copy()


# --- torch -----------------------------------------------------------------------------------

def _weights_torch(g, order):
    import torch

    if order == 1:
        i = torch.floor(g)
        d = g - i
        return i.long(), [1.0 - d, d]
    i = torch.floor(g + 0.5)
    d = g - i
    return i.long() - 1, [0.5 * (0.5 - d) ** 2, 0.75 - d * d, 0.5 * (0.5 + d) ** 2]


def _stencil_torch(x, y, dx, order, shape):
    nx, ny = shape
    i0, ax = _weights_torch(x / dx, order)
    j0, ay = _weights_torch(y / dx, order)
    for a in range(len(ax)):
        ia = (i0 + a) % nx
        for b in range(len(ay)):
            yield ia * ny + (j0 + b) % ny, ax[a] * ay[b]


def deposit_torch(x, y, dx, shape, order, w):
    """Torch reference of :func:`deposit_numba` (any device); returns an (nx, ny) tensor."""
    import torch

    nx, ny = shape
    out = torch.zeros(nx * ny, dtype=x.dtype, device=x.device)
    for idx, wt in _stencil_torch(x, y, dx, order, shape):
        out.index_add_(0, idx, wt * w)
    return out.view(nx, ny)


def gather_torch(x, y, dx, order, Ex, Ey):
    """Torch reference of :func:`gather_numba` (any device)."""
    import torch

    ex = torch.zeros_like(x)
    ey = torch.zeros_like(y)
    fx, fy = Ex.reshape(-1), Ey.reshape(-1)
    for idx, wt in _stencil_torch(x, y, dx, order, tuple(Ex.shape)):
        ex += wt * fx[idx]
        ey += wt * fy[idx]
    return ex, ey


def step_torch(x, y, vx, vy, Ex, Ey, qm, dt, L, dx, order, w, vdump=None):
    """Torch reference of :func:`step_numba`; returns ``(kinetic_sum, P, density)``."""
    import torch

    ex, ey = gather_torch(x, y, dx, order, Ex, Ey)
    nvx = vx + qm * dt * ex
    nvy = vy + qm * dt * ey
    k2 = 0.5 * (vx * vx + vy * vy + nvx * nvx + nvy * nvy).sum()
    if vdump is not None:
        vdump[:, 0] = 0.5 * (vx + nvx)
        vdump[:, 1] = 0.5 * (vy + nvy)
    vx.copy_(nvx)
    vy.copy_(nvy)
    x.add_(vx * dt).remainder_(L[0])
    y.add_(vy * dt).remainder_(L[1])
    x.masked_fill_(x >= L[0], 0.0)
    y.masked_fill_(y >= L[1], 0.0)
    dens = deposit_torch(x, y, dx, tuple(Ex.shape), order, w)
    P = torch.stack([nvx.sum(), nvy.sum()])
    return float(k2), P.detach().cpu().numpy().astype(np.float64), dens
