"""Fused CPU kernels for one explicit step of a local linear operator.

``out[s, p] = f[s, p] + sum_k W[s, k] * shift_k(f[s, p])`` over the ``3 x 3``
neighbourhood, with zeros outside the grid, and its adjoint. These are the
hot loops of training; :mod:`collop.solvers` wraps them in an autograd
Function and falls back to pure torch where numba is missing or the tensors
live on a GPU. The weights ``W`` are shared by all ``p`` (the populations),
which is what lets the adjoint reduce over ``p`` without a scatter.
"""
from __future__ import annotations

import numpy as np

try:  # numba is a hard dependency, but keep the torch path importable without it
    import numba
    from numba import njit, prange
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "stencil_forward", "stencil_backward", "abs_diff_sum", "abs_diff_grad",
           "stability_rates", "set_kernel_threads"]


def set_kernel_threads(n: int) -> None:
    if HAVE_NUMBA:
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


if HAVE_NUMBA:

    @njit(parallel=True, cache=True, fastmath=True)
    def _forward(fp, W, out, active):  # pragma: no cover - compiled
        # fp: (S, P, N+2, M+2) zero padded; W: (S, 9, N, M); out: (S, P, N, M);
        # active: (S,) uint8, groups with 0 are copied unchanged
        S, P, N, M = out.shape
        for s in prange(S):
            if not active[s]:
                for p in range(P):
                    for i in range(N):
                        for j in range(M):
                            out[s, p, i, j] = fp[s, p, i + 1, j + 1]
                continue
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        out[s, p, i, j] = fp[s, p, i + 1, j + 1]
                    for di in range(3):
                        for dj in range(3):
                            k = di * 3 + dj
                            for j in range(M):
                                out[s, p, i, j] += W[s, k, i, j] * fp[s, p, i + di, j + dj]

    @njit(parallel=True, cache=True, fastmath=True)
    def _backward(fp, W, gp, gf, gW, active):  # pragma: no cover - compiled
        # gp: (S, P, N+2, M+2) zero-padded upstream gradient; gW is accumulated into;
        # inactive groups pass the gradient through (identity step)
        S, P, N, M = gf.shape
        for s in prange(S):
            if not active[s]:
                for p in range(P):
                    for i in range(N):
                        for j in range(M):
                            gf[s, p, i, j] = gp[s, p, i + 1, j + 1]
                continue
            for i in range(N):
                for p in range(P):
                    for di in range(3):
                        for dj in range(3):
                            k = di * 3 + dj
                            for j in range(M):
                                gW[s, k, i, j] += gp[s, p, i + 1, j + 1] * fp[s, p, i + di, j + dj]
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        gf[s, p, i, j] = gp[s, p, i + 1, j + 1]
                    for di in range(3):
                        ii = i - di + 1
                        if ii < 0 or ii >= N:
                            continue
                        for dj in range(3):
                            k = di * 3 + dj
                            j0 = max(0, dj - 1)
                            j1 = min(M, M + dj - 1)
                            for j in range(j0, j1):
                                gf[s, p, i, j] += W[s, k, ii, j - dj + 1] * gp[s, p, ii + 1, j - dj + 2]


    @njit(parallel=True, cache=True, fastmath=True)
    def _abs_diff_sum(a, b):  # pragma: no cover - compiled
        # a, b: (S, R) flattened; per-row sums keep the reduction deterministic
        S, R = a.shape
        rows = np.zeros(S, dtype=np.float64)
        for s in prange(S):
            acc = 0.0
            for r in range(R):
                acc += abs(a[s, r] - b[s, r])
            rows[s] = acc
        return rows.sum()

    @njit(parallel=True, cache=True, fastmath=True)
    def _abs_diff_grad(a, b, g, out):  # pragma: no cover - compiled
        # out += g * sign(a - b)
        S, R = a.shape
        for s in prange(S):
            for r in range(R):
                d = a[s, r] - b[s, r]
                if d > 0:
                    out[s, r] += g
                elif d < 0:
                    out[s, r] -= g


    @njit(parallel=True, cache=True)
    def _stability_rates(W, out):  # pragma: no cover - compiled
        # out[t, 0] = max over cells of sum_k |W_k|; out[t, 1] = max of the centred-drift rate
        # (see collop.solvers.stable_substeps); NaN when any weight of the frame is not finite
        T, K, N, M = W.shape
        for t in prange(T):
            g = 0.0
            d = 0.0
            bad = False
            for i in range(N):
                for j in range(M):
                    acc = 0.0
                    for k in range(K):
                        w = W[t, k, i, j]
                        if not np.isfinite(w):
                            bad = True
                        acc += abs(w)
                    g = max(g, acc)
                    for km, kp in ((1, 7), (3, 5)):
                        diff = W[t, km, i, j] - W[t, kp, i, j]
                        den = max(W[t, km, i, j] + W[t, kp, i, j], 0.1 * abs(diff))
                        if den > 0:
                            d = max(d, diff * diff / den)
            out[t, 0] = np.nan if bad else g
            out[t, 1] = np.nan if bad else d


def stability_rates(W: np.ndarray) -> np.ndarray:
    """Per frame ``(max sum_k |W_k|, max centred-drift rate)`` of stencils ``W (T, 9, N, M)``: ``(T, 2)``.

    NaN rows mark frames with non-finite weights.
    """
    out = np.empty((W.shape[0], 2), dtype=np.float64)
    _stability_rates(W, out)
    return out


def abs_diff_sum(a: np.ndarray, b: np.ndarray) -> float:
    """``sum |a - b|`` accumulated in float64."""
    return _abs_diff_sum(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))


def abs_diff_grad(a: np.ndarray, b: np.ndarray, g: float, out: np.ndarray | None = None) -> np.ndarray:
    """``out + g * sign(a - b)`` (``out`` defaults to zeros and is updated in place)."""
    out = np.zeros_like(a) if out is None else out
    _abs_diff_grad(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1), a.dtype.type(g),
                   out.reshape(out.shape[0], -1))
    return out


def _pad(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[:-2] + (a.shape[-2] + 2, a.shape[-1] + 2), dtype=a.dtype)
    out[..., 1:-1, 1:-1] = a
    return out


def _active(active, S: int) -> np.ndarray:
    return np.ones(S, dtype=np.uint8) if active is None else np.ascontiguousarray(active, dtype=np.uint8)


def stencil_forward(f: np.ndarray, W: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """``f + sum_k W_k shift_k(f)`` for ``f (S, P, N, M)`` and ``W (S, 9, N, M)``.

    ``active`` (S,) bool, optional: groups where it is False are returned unchanged.
    """
    out = np.empty_like(f)
    _forward(_pad(f), W, out, _active(active, f.shape[0]))
    return out


def stencil_backward(f: np.ndarray, W: np.ndarray, g: np.ndarray, gW: np.ndarray | None = None,
                     active: np.ndarray | None = None):
    """Gradients of ``sum(g * stencil_forward(f, W, active))`` with respect to ``f`` and ``W``.

    The gradient of ``W`` is added to ``gW`` when given (in place), else to zeros.
    """
    gf = np.empty_like(f)
    gW = np.zeros_like(W) if gW is None else gW
    _backward(_pad(f), W, _pad(g), gf, gW, _active(active, f.shape[0]))
    return gf, gW
