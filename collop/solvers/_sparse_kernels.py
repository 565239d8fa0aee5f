"""Fused CPU kernels for a fixed sparse matrix applied to every row of a dense array.

The operators build their stencils as ``W = XT @ G.T``: ``G (R, K)`` is a fixed
CSR matrix (the flux-form stencil composed with the symmetry's map) and
``XT (T, K)`` holds the coefficients of every frame. The stencil kernels want
``W`` frame-major and C-contiguous, ``(T, R)``. A library product gives
``G @ X`` as ``(R, T)``, whose transpose costs more than the product, so
these kernels compute row blocks of ``G @ X`` in a small buffer and write
them out transposed. :mod:`collop.solvers.autograd` wraps them in an autograd
Function. Compiled with the NaN-preserving fast-math flags of :mod:`._kernels`.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ._kernels import FASTMATH

__all__ = ["csr_rows", "csr_rows_adjoint"]

_BLOCK = 64     # rows of G per block: the (block, T) buffer stays in L1/L2


@njit(parallel=True, cache=True, fastmath=set(FASTMATH))
def _csr_rows(indptr, indices, data, X, out):  # pragma: no cover - compiled
    # out[t, r] = sum_q data[q] X[indices[q], t] over row r; X is (K, T)
    T, R = out.shape
    nb = (R + _BLOCK - 1) // _BLOCK
    for b in prange(nb):
        r0 = b * _BLOCK
        r1 = min(R, r0 + _BLOCK)
        buf = np.zeros((r1 - r0, T), dtype=out.dtype)
        for r in range(r0, r1):
            for q in range(indptr[r], indptr[r + 1]):
                w = data[q]
                c = indices[q]
                for t in range(T):
                    buf[r - r0, t] += w * X[c, t]
        for t in range(T):
            for r in range(r0, r1):
                out[t, r] = buf[r - r0, t]


@njit(parallel=True, cache=True, fastmath=set(FASTMATH))
def _csr_rows_adjoint(indptr, indices, data, g, parts):  # pragma: no cover - compiled
    # parts[c, k, t] accumulates sum_r G[r, k] g[t, r] over chunk c's row blocks
    T, R = g.shape
    nb = (R + _BLOCK - 1) // _BLOCK
    nc = parts.shape[0]
    for c in prange(nc):
        buf = np.empty((_BLOCK, T), dtype=g.dtype)
        for b in range(c * nb // nc, (c + 1) * nb // nc):
            r0 = b * _BLOCK
            r1 = min(R, r0 + _BLOCK)
            for t in range(T):
                for r in range(r0, r1):
                    buf[r - r0, t] = g[t, r]
            for r in range(r0, r1):
                for q in range(indptr[r], indptr[r + 1]):
                    w = data[q]
                    k = indices[q]
                    for t in range(T):
                        parts[c, k, t] += w * buf[r - r0, t]


def csr_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, XT: np.ndarray) -> np.ndarray:
    """``XT @ G.T`` for the CSR matrix ``G (R, K)``: ``G`` applied to every row of ``XT (T, K)``.

    The result ``(T, R)`` is C-contiguous.
    """
    out = np.empty((XT.shape[0], indptr.size - 1), dtype=XT.dtype)
    _csr_rows(indptr, indices, data, np.ascontiguousarray(XT.T), out)
    return out


def csr_rows_adjoint(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, g: np.ndarray,
                     n_cols: int) -> np.ndarray:
    """``g @ G`` for the CSR matrix ``G (R, n_cols)`` and ``g (T, R)``: the adjoint of :func:`csr_rows`.

    Each thread's chunk of rows accumulates into its own buffer and the buffers
    are summed at the end: no races, and the same result on every run with the
    same number of threads.
    """
    nc = max(1, numba.get_num_threads())
    parts = np.zeros((nc, n_cols, g.shape[0]), dtype=g.dtype)
    _csr_rows_adjoint(indptr, indices, data, np.ascontiguousarray(g), parts)
    return np.ascontiguousarray(parts.sum(0).T)
