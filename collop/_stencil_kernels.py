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
    def _forward(fp, W, outp, active):  # pragma: no cover - compiled
        # fp, outp: (S, P, N+2, M+2) zero padded (outp's border is written as zeros);
        # W: (S, 9, N, M); active: (S,) uint8, groups with 0 are copied unchanged
        S, P, N2, M2 = outp.shape
        N, M = N2 - 2, M2 - 2
        for s in prange(S):
            for p in range(P):
                for j in range(M2):
                    outp[s, p, 0, j] = 0.0
                    outp[s, p, N + 1, j] = 0.0
                for i in range(N):
                    outp[s, p, i + 1, 0] = 0.0
                    outp[s, p, i + 1, M + 1] = 0.0
                    for j in range(M):
                        outp[s, p, i + 1, j + 1] = fp[s, p, i + 1, j + 1]
                    if not active[s]:
                        continue
                    for di in range(3):
                        for dj in range(3):
                            k = di * 3 + dj
                            for j in range(M):
                                outp[s, p, i + 1, j + 1] += W[s, k, i, j] * fp[s, p, i + di, j + dj]

    @njit(parallel=True, cache=True, fastmath=True)
    def _backward(fp, Wp, gp, gfp, gW, active):  # pragma: no cover - compiled
        # fp, gp: (S, P, N+2, M+2) zero-padded state and upstream gradient; Wp: (S, 9, N+2, M+2)
        # zero-padded weights, so the adjoint's shifted reads need no bounds; gfp: padded
        # output (border written as zeros); gW (S, 9, N, M) is accumulated into; inactive
        # groups pass the gradient through.
        S, P, N2, M2 = gfp.shape
        N, M = N2 - 2, M2 - 2
        for s in prange(S):
            for p in range(P):
                for j in range(M2):
                    gfp[s, p, 0, j] = 0.0
                    gfp[s, p, N + 1, j] = 0.0
            for i in range(N):
                for p in range(P):
                    gfp[s, p, i + 1, 0] = 0.0
                    gfp[s, p, i + 1, M + 1] = 0.0
                    for j in range(M):
                        gfp[s, p, i + 1, j + 1] = gp[s, p, i + 1, j + 1]
                    if not active[s]:
                        continue
                    for di in range(3):
                        a = i + 2 - di
                        for dj in range(3):
                            k = di * 3 + dj
                            o = 2 - dj
                            for j in range(M):
                                gfp[s, p, i + 1, j + 1] += Wp[s, k, a, j + o] * gp[s, p, a, j + o]
                    for di in range(3):
                        for dj in range(3):
                            k = di * 3 + dj
                            for j in range(M):
                                gW[s, k, i, j] += gp[s, p, i + 1, j + 1] * fp[s, p, i + di, j + dj]

    @njit(parallel=True, cache=True, fastmath=True)
    def _abs_diff_sum_p(ap, b):  # pragma: no cover - compiled
        # sum |interior(ap) - b| with ap (S, P, N+2, M+2) padded and b (S, P, N, M)
        S, P, N, M = b.shape
        rows = np.zeros(S, dtype=np.float64)
        for s in prange(S):
            acc = 0.0
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        acc += abs(ap[s, p, i + 1, j + 1] - b[s, p, i, j])
            rows[s] = acc
        return rows.sum()

    @njit(parallel=True, cache=True, fastmath=True)
    def _abs_diff_grad_p(ap, b, g, outp):  # pragma: no cover - compiled
        # interior(outp) += g * sign(interior(ap) - b)
        S, P, N, M = b.shape
        for s in prange(S):
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        d = ap[s, p, i + 1, j + 1] - b[s, p, i, j]
                        if d > 0:
                            outp[s, p, i + 1, j + 1] += g
                        elif d < 0:
                            outp[s, p, i + 1, j + 1] -= g

    @njit(parallel=True, cache=True, fastmath=True)
    def _abs_diff_grad_p_set(ap, b, g, outp):  # pragma: no cover - compiled
        # outp = padded g * sign(interior(ap) - b), zero border
        S, P, N, M = b.shape
        for s in prange(S):
            for p in range(P):
                for j in range(M + 2):
                    outp[s, p, 0, j] = 0.0
                    outp[s, p, N + 1, j] = 0.0
                for i in range(N):
                    outp[s, p, i + 1, 0] = 0.0
                    outp[s, p, i + 1, M + 1] = 0.0
                    for j in range(M):
                        d = ap[s, p, i + 1, j + 1] - b[s, p, i, j]
                        outp[s, p, i + 1, j + 1] = g if d > 0 else (-g if d < 0 else 0.0)

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
                        acc += abs(W[t, k, i, j])
                    if not np.isfinite(acc):     # a NaN or inf weight makes the sum non-finite
                        bad = True
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


if HAVE_NUMBA:

    @njit(parallel=True, cache=True)
    def _pad_into(a, out):  # pragma: no cover - compiled
        # a (L, N, M) -> out (L, N+2, M+2) with a zero border, in one pass
        L, N, M = a.shape
        for l in prange(L):
            for j in range(M + 2):
                out[l, 0, j] = 0
                out[l, N + 1, j] = 0
            for i in range(N):
                out[l, i + 1, 0] = 0
                out[l, i + 1, M + 1] = 0
                for j in range(M):
                    out[l, i + 1, j + 1] = a[l, i, j]


def _pad(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[:-2] + (a.shape[-2] + 2, a.shape[-1] + 2), dtype=a.dtype)
    if HAVE_NUMBA and a.ndim >= 2 and a.size:
        _pad_into(a.reshape((-1,) + a.shape[-2:]), out.reshape((-1,) + out.shape[-2:]))
    else:
        out[...] = 0
        out[..., 1:-1, 1:-1] = a
    return out


def _active(active, S: int) -> np.ndarray:
    return np.ones(S, dtype=np.uint8) if active is None else np.ascontiguousarray(active, dtype=np.uint8)


def pad(a: np.ndarray) -> np.ndarray:
    """``a (..., N, M)`` with a border of zeros: ``(..., N+2, M+2)``."""
    return _pad(a)


def step_padded(fp: np.ndarray, W: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """:func:`stencil_forward` on and to zero-padded arrays ``(S, P, N+2, M+2)`` (no copies)."""
    outp = np.empty_like(fp)
    _forward(fp, W, outp, _active(active, fp.shape[0]))
    return outp


def step_padded_adjoint(fp: np.ndarray, Wp: np.ndarray, gp: np.ndarray, gW: np.ndarray,
                        active: np.ndarray | None = None) -> np.ndarray:
    """:func:`stencil_backward` on and to zero-padded arrays; ``gW`` is accumulated in place.

    ``Wp`` is the stencil zero-padded like the states (``pad(W)``), ``gW`` is not padded.
    """
    gfp = np.empty_like(gp)
    _backward(fp, Wp, gp, gfp, gW, _active(active, fp.shape[0]))
    return gfp


def abs_diff_sum_padded(ap: np.ndarray, b: np.ndarray) -> float:
    """``sum |interior(ap) - b|`` (float64) for padded ``ap`` and plain ``b``."""
    return _abs_diff_sum_p(ap, np.ascontiguousarray(b))


def abs_diff_grad_padded(ap: np.ndarray, b: np.ndarray, g: float, outp: np.ndarray | None = None
                         ) -> np.ndarray:
    """``interior(outp) += g * sign(interior(ap) - b)`` in place; returns ``outp``.

    With ``outp=None`` a new padded array is returned (zero border, interior
    ``g * sign(...)``), written in one pass.
    """
    if outp is None:
        outp = np.empty_like(ap)
        _abs_diff_grad_p_set(ap, np.ascontiguousarray(b), ap.dtype.type(g), outp)
    else:
        _abs_diff_grad_p(ap, np.ascontiguousarray(b), ap.dtype.type(g), outp)
    return outp


def stencil_forward(f: np.ndarray, W: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """``f + sum_k W_k shift_k(f)`` for ``f (S, P, N, M)`` and ``W (S, 9, N, M)``.

    ``active`` (S,) bool, optional: groups where it is False are returned unchanged.
    """
    return np.ascontiguousarray(step_padded(_pad(f), W, active)[..., 1:-1, 1:-1])


def stencil_backward(f: np.ndarray, W: np.ndarray, g: np.ndarray, gW: np.ndarray | None = None,
                     active: np.ndarray | None = None):
    """Gradients of ``sum(g * stencil_forward(f, W, active))`` with respect to ``f`` and ``W``.

    The gradient of ``W`` is added to ``gW`` when given (in place), else to zeros.
    """
    gW = np.zeros_like(W) if gW is None else gW
    gfp = step_padded_adjoint(_pad(f), _pad(W), _pad(g), gW, active)
    return np.ascontiguousarray(gfp[..., 1:-1, 1:-1]), gW
