"""Fused CPU kernels for one explicit step of a local linear operator of radius ``r``.

``out[s, p] = f[s, p] + sum_k W[s, k] * shift_k(f[s, p])`` over the
``(2r+1) x (2r+1)`` neighbourhood, with zeros outside the grid, and its
adjoint. Column ``k`` of ``W`` holds offset ``(a, b) = (k // (2r+1) - r,
k % (2r+1) - r)``. These are the hot loops of training; :mod:`collop.solvers`
wraps them in autograd Functions and uses pure torch for tensors the kernels
do not handle (GPU tensors, other float types). The weights ``W`` are shared
by all ``p`` (the populations), which is what lets the adjoint reduce over
``p`` without a scatter.

The state kernels work on arrays zero-padded by ``r`` cells on each side,
``(S, P, N + 2r, M + 2r)``: a step reads its neighbours without bounds checks
and writes a new padded array whose border is zero, so an unrolled rollout
never copies between steps. :func:`_compiled` builds the kernels of each
radius with ``r`` as a compile-time constant, so ``r = 1`` runs the same
machine code as a hand-written 3 x 3 kernel (``benchmarks/bench_epoch.py``
compares against the release before stencils of any radius).

Floating point: the kernels are compiled with :data:`FASTMATH`, the LLVM
fast-math flags *without* ``nnan`` and ``ninf``. With those two the compiler
may assume that no value is NaN or infinite and drop the propagation the
trainer relies on (a NaN weight must reach the loss).
"""
from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

import numba
import numpy as np
from numba import njit, prange

from .discretisation import stencil_radius

__all__ = ["FASTMATH", "set_kernel_threads", "stencil_forward", "stencil_backward", "abs_diff_sum",
           "abs_diff_grad", "stability_rates", "pad", "step_padded", "step_padded_adjoint",
           "abs_diff_sum_padded", "abs_diff_grad_padded", "steps_padded",
           "steps_padded_adjoint", "arnoldi_hessenberg"]

#: LLVM fast-math flags of the kernels: reassociation (vectorised sums), contraction
#: (fused multiply-add), no signed zeros, reciprocal and approximate functions; not
#: ``nnan``/``ninf``, so NaN and infinity propagate as in IEEE arithmetic.
FASTMATH = frozenset({"reassoc", "contract", "nsz", "arcp", "afn"})
_FM = set(FASTMATH)


def set_kernel_threads(n: int) -> None:
    """Use ``n`` numba threads (clipped to ``[1, NUMBA_NUM_THREADS]``) in the kernels."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


# --- compiled kernels ---------------------------------------------------------------------

@njit(parallel=True, cache=True, fastmath=_FM)
def _abs_diff_sum(a, b):  # pragma: no cover - compiled
    # a, b: (S, R) flattened; per-row sums keep the reduction deterministic
    S, R = a.shape
    rows = np.zeros(S, dtype=np.float64)
    for s in prange(S):
        acc = 0.0
        for q in range(R):
            acc += abs(a[s, q] - b[s, q])
        rows[s] = acc
    return rows.sum()


@njit(parallel=True, cache=True, fastmath=_FM)
def _abs_diff_grad(a, b, g, out):  # pragma: no cover - compiled
    # out += g * sign(a - b)
    S, R = a.shape
    for s in prange(S):
        for q in range(R):
            d = a[s, q] - b[s, q]
            if d > 0:
                out[s, q] += g
            elif d < 0:
                out[s, q] -= g


# --- one window (P, N+2r, M+2r): the bodies every step kernel shares ----------------------
# Module-level and inlined into the kernels of _compiled(r), which pass their constant r: LLVM folds
# it as if it were written in. (Closures of _compiled referring to other closures would not load from
# numba's disk cache: the cache keys a closure by its pickled free variables, and a pickled dispatcher
# differs from one process to the next, so every new process compiled them again.)
@njit(cache=True, fastmath=_FM, inline="always")
def _border(dst, r):  # pragma: no cover - compiled
    # zero the border of a padded window
    P, N2, M2 = dst.shape
    N, M = N2 - 2 * r, M2 - 2 * r
    for p in range(P):
        for i in range(r):
            for j in range(M2):
                dst[p, i, j] = 0.0
                dst[p, N + r + i, j] = 0.0
        for i in range(N):
            for j in range(r):
                dst[p, i + r, j] = 0.0
                dst[p, i + r, M + r + j] = 0.0

@njit(cache=True, fastmath=_FM, inline="always")
def _copy(src, dst, r):  # pragma: no cover - compiled
    # dst = src on a padded window (interior copied, border zeroed)
    _border(dst, r)
    P, N2, M2 = dst.shape
    for p in range(P):
        for i in range(r, N2 - r):
            for j in range(r, M2 - r):
                dst[p, i, j] = src[p, i, j]

@njit(cache=True, fastmath=_FM, inline="always")
def _step(src, Ws, dst, r):  # pragma: no cover - compiled
    # dst = src + sum_k Ws[k] * shift_k(src); Ws: (K, N, M)
    _border(dst, r)
    D = 2 * r + 1
    P, N2, M2 = dst.shape
    N, M = N2 - 2 * r, M2 - 2 * r
    # r = 1: the sum over the neighbourhood in a register per cell, in the order k = 0, 1, ... after
    # the centre (LLVM unrolls the k loops and vectorises over j), 2x faster than adding each k into
    # dst in turn, with the same result to the bit. For r = 2 the register form was faster on a
    # 51 x 51 grid and 1.6x slower on 64 x 64, so wider stencils keep the row form (r is a constant:
    # the branch is resolved at compile time).
    for p in range(P):
        for i in range(N):
            if r == 1:
                for j in range(M):
                    a = src[p, i + r, j + r]
                    for di in range(D):
                        for dj in range(D):
                            a += Ws[di * D + dj, i, j] * src[p, i + di, j + dj]
                    dst[p, i + r, j + r] = a
            else:
                for j in range(M):
                    dst[p, i + r, j + r] = src[p, i + r, j + r]
                for di in range(D):
                    for dj in range(D):
                        k = di * D + dj
                        for j in range(M):
                            dst[p, i + r, j + r] += Ws[k, i, j] * src[p, i + di, j + dj]

@njit(cache=True, fastmath=_FM, inline="always")
def _adjoint(src, Wps, g, dst, gWs, acc, r):  # pragma: no cover - compiled
    # The adjoint of _step at the state src: dst = g + sum_k Wp_k(y - o_k) g(y - o_k) (Wps padded
    # like the states, so the shifted reads need no bounds) and gWs_k(x) += sum_p g(x) src(x + o_k).
    # The two outputs are separate loop nests: fused into one nest in float64 they ran 1.7x slower
    # (issue #13). The first sums each cell's neighbourhood in a register, as _step does (1.4x at
    # r = 1, 2.2x at r = 2 against a row buffer, same result to the bit); the second sums over the
    # populations in a row buffer acc (M,) in the stencil's precision.
    _border(dst, r)
    D = 2 * r + 1
    P, N2, M2 = dst.shape
    N, M = N2 - 2 * r, M2 - 2 * r
    for p in range(P):
        for i in range(N):
            for j in range(M):
                a = g[p, i + r, j + r]
                for di in range(D):
                    for dj in range(D):
                        a += Wps[di * D + dj, i + 2 * r - di, j + 2 * r - dj] * g[p, i + 2 * r - di, j + 2 * r - dj]
                dst[p, i + r, j + r] = a
    for i in range(N):
        for di in range(D):
            for dj in range(D):
                k = di * D + dj
                for j in range(M):
                    acc[j] = 0.0
                for p in range(P):
                    for j in range(M):
                        acc[j] += g[p, i + r, j + r] * src[p, i + di, j + dj]
                for j in range(M):
                    gWs[k, i, j] += acc[j]


@lru_cache(maxsize=None)
def _compiled(r: int) -> SimpleNamespace:
    """The kernels of radius ``r``, compiled with ``r`` as a constant (cached on disk per ``r``).

    A closure's free variables are compile-time constants to numba, so every
    index offset below is constant and the loops vectorise as in a hand-written
    kernel of that radius (a run-time ``r`` made them ~3x slower: negative-index
    wrap-around checks on every shifted read); the shared window bodies above
    are inlined with that constant. numba's on-disk cache keys closures by
    their pickled free variables, here only integers, so each radius compiles
    once and later processes load it (``tests/solvers/test_kernel_cache.py``).
    """
    D = 2 * r + 1

    # --- batched kernels ------------------------------------------------------------------
    @njit(parallel=True, cache=True, fastmath=_FM)
    def _forward(fp, W, outp, active):  # pragma: no cover - compiled
        # fp, outp: (S, P, N+2r, M+2r) zero padded (outp's border is written as zeros);
        # W: (S, (2r+1)^2, N, M); active: (S,) uint8, groups with 0 are copied unchanged
        for s in prange(fp.shape[0]):
            if active[s]:
                _step(fp[s], W[s], outp[s], r)
            else:
                _copy(fp[s], outp[s], r)

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _backward(fp, Wp, gp, gfp, gW, active):  # pragma: no cover - compiled
        # fp, gp: (S, P, N+2r, M+2r) zero-padded state and upstream gradient; Wp: (S, K, N+2r, M+2r)
        # zero-padded weights; gfp: padded output (border written as zeros); gW (S, K, N, M) is
        # accumulated into; inactive groups pass the gradient through.
        for s in prange(fp.shape[0]):
            if active[s]:
                _adjoint(fp[s], Wp[s], gp[s], gfp[s], gW[s], np.empty(fp.shape[3] - 2 * r, dtype=gW.dtype), r)
            else:
                _copy(gp[s], gfp[s], r)

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _abs_diff_sum_p(ap, b):  # pragma: no cover - compiled
        # sum |interior(ap) - b| with ap (S, P, N+2r, M+2r) padded and b (S, P, N, M)
        S, P, N, M = b.shape
        rows = np.zeros(S, dtype=np.float64)
        for s in prange(S):
            acc = 0.0
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        acc += abs(ap[s, p, i + r, j + r] - b[s, p, i, j])
            rows[s] = acc
        return rows.sum()

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _abs_diff_grad_p(ap, b, g, outp):  # pragma: no cover - compiled
        # interior(outp) += g * sign(interior(ap) - b)
        S, P, N, M = b.shape
        for s in prange(S):
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        d = ap[s, p, i + r, j + r] - b[s, p, i, j]
                        if d > 0:
                            outp[s, p, i + r, j + r] += g
                        elif d < 0:
                            outp[s, p, i + r, j + r] -= g

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _abs_diff_grad_p_set(ap, b, g, outp):  # pragma: no cover - compiled
        # outp = padded g * sign(interior(ap) - b), zero border
        S, P, N, M = b.shape
        for s in prange(S):
            _border(outp[s], r)
            for p in range(P):
                for i in range(N):
                    for j in range(M):
                        d = ap[s, p, i + r, j + r] - b[s, p, i, j]
                        outp[s, p, i + r, j + r] = g if d > 0 else (-g if d < 0 else 0.0)

    @njit(parallel=True, cache=True)
    def _stability_rates(W, out):  # pragma: no cover - compiled
        # out[t, 0] = max over cells of sum_k |W_k|; out[t, 1] = max over cells and axes of the
        # centred-drift rate m1^2 / max(m2, 0.1 |m1|) (see collop.solvers.stable_substeps); NaN
        # when any weight of the frame is not finite. r = 1: the moments of the axis neighbours
        # (-1, 0)/(+1, 0) = columns 1/7 and (0, -1)/(0, +1) = columns 3/5; r > 1: the moments of
        # all columns, sum_k a_k W_k and sum_k a_k^2 W_k (likewise with b_k).
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
                    if r == 1:
                        for km, kp in ((1, 7), (3, 5)):
                            diff = W[t, km, i, j] - W[t, kp, i, j]
                            den = max(W[t, km, i, j] + W[t, kp, i, j], 0.1 * abs(diff))
                            if den > 0:
                                d = max(d, diff * diff / den)
                    else:
                        m1x = 0.0
                        m2x = 0.0
                        m1y = 0.0
                        m2y = 0.0
                        for k in range(K):
                            a = k // D - r
                            b = k % D - r
                            w = W[t, k, i, j]
                            m1x += a * w
                            m2x += a * a * w
                            m1y += b * w
                            m2y += b * b * w
                        for m1, m2 in ((m1x, m2x), (m1y, m2y)):
                            den = max(m2, 0.1 * abs(m1))
                            if den > 0:
                                d = max(d, m1 * m1 / den)
            out[t, 0] = np.nan if bad else g
            out[t, 1] = np.nan if bad else d

    @njit(parallel=True, cache=True)
    def _pad_into(a, out):  # pragma: no cover - compiled
        # a (L, N, M) -> out (L, N+2r, M+2r) with a zero border, in one pass
        L, N, M = a.shape
        for q in prange(L):
            _border(out[q:q + 1], r)
            for i in range(N):
                for j in range(M):
                    out[q, i + r, j + r] = a[q, i, j]

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _forward_multi(fp, W, counts, offs, R):  # pragma: no cover - compiled
        # Window s takes counts[s] steps from fp[s] with the stencil W[s]; step k's output goes to
        # R[offs[s] + k] (R: (sum counts, P, N+2r, M+2r), borders written as zeros). Each window
        # does only its own steps: no masked passes for windows that need fewer.
        for s in prange(fp.shape[0]):
            for k in range(counts[s]):
                _step(fp[s] if k == 0 else R[offs[s] + k - 1], W[s], R[offs[s] + k], r)

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _backward_multi(fp, R, counts, offs, Wp, gin, gout, tmp, gW):  # pragma: no cover - compiled
        # The adjoint of _forward_multi: gin[s] is the gradient at window s's last state; gout[s]
        # receives the gradient at fp[s]; gW[s] is accumulated into; tmp is scratch like gout.
        # Steps alternate between tmp[s] and gout[s] so that the last lands in gout[s].
        for s in prange(fp.shape[0]):
            acc = np.empty(fp.shape[3] - 2 * r, dtype=gW.dtype)
            c = counts[s]
            g = gin[s]
            for jstep in range(c):
                k = c - 1 - jstep
                dst = gout[s] if (c - 1 - jstep) % 2 == 0 else tmp[s]
                _adjoint(fp[s] if k == 0 else R[offs[s] + k - 1], Wp[s], g, dst, gW[s], acc, r)
                g = dst

    @njit(parallel=True, cache=True, fastmath=_FM)
    def _arnoldi(Wd, v0, H):  # pragma: no cover - compiled
        # m = H.shape[2] Arnoldi steps per frame u on L_u f = sum_k Wd[u, k] shift_k(f) (zeros outside
        # the grid) from v0[u] minus its mean, classical Gram-Schmidt applied twice; H (U, m+1, m)
        # receives the Hessenberg matrices (zero on entry). One frame's basis (m+1 vectors) stays in
        # cache while it is built: a batched numpy version streamed all frames' bases through memory.
        U, K, N, M = Wd.shape
        m = H.shape[2]
        n = N * M
        for u in prange(U):
            V = np.zeros((m + 1, n))
            vp = np.zeros((N + 2 * r, M + 2 * r))
            w = np.empty(n)
            c = np.empty(m)
            mean = 0.0
            for q in range(n):
                mean += v0[u, q]
            mean /= n
            nrm = 0.0
            for q in range(n):
                V[0, q] = v0[u, q] - mean
                nrm += V[0, q] * V[0, q]
            nrm = np.sqrt(nrm)
            for q in range(n):
                V[0, q] /= nrm
            for j in range(m):
                for i in range(N):
                    for jj in range(M):
                        vp[i + r, jj + r] = V[j, i * M + jj]
                for i in range(N):
                    for jj in range(M):
                        w[i * M + jj] = 0.0
                    for di in range(D):
                        for dj in range(D):
                            k = di * D + dj
                            for jj in range(M):
                                w[i * M + jj] += Wd[u, k, i, jj] * vp[i + di, jj + dj]
                for _ in range(2):                  # CGS2: orthogonal to round-off
                    for l in range(j + 1):
                        acc = 0.0
                        for q in range(n):
                            acc += V[l, q] * w[q]
                        c[l] = acc
                    for l in range(j + 1):
                        for q in range(n):
                            w[q] -= c[l] * V[l, q]
                        H[u, l, j] += c[l]
                nrm = 0.0
                for q in range(n):
                    nrm += w[q] * w[q]
                nrm = np.sqrt(nrm)
                big = 1e-300
                for l in range(j + 1):
                    big = max(big, abs(H[u, l, j]))
                big = max(big, nrm)
                if nrm > 1e-12 * big:               # else the Krylov space is exhausted: zero rows
                    H[u, j + 1, j] = nrm
                    for q in range(n):
                        V[j + 1, q] = w[q] / nrm

    return SimpleNamespace(forward=_forward, backward=_backward, abs_diff_sum_p=_abs_diff_sum_p,
                           abs_diff_grad_p=_abs_diff_grad_p, abs_diff_grad_p_set=_abs_diff_grad_p_set,
                           stability_rates=_stability_rates, pad_into=_pad_into,
                           forward_multi=_forward_multi, backward_multi=_backward_multi, arnoldi=_arnoldi)


# --- Python wrappers -------------------------------------------------------------------------

def _check(f_shape, W_shape, r: int, padded: bool) -> None:
    n, m = f_shape[-2:]
    if padded:
        n, m = n - 2 * r, m - 2 * r
    if W_shape[0] != f_shape[0] or tuple(W_shape[-2:]) != (n, m):
        raise ValueError(f"stencil of shape {tuple(W_shape)} does not fit states of shape {tuple(f_shape)}"
                         + (f" padded by {r}" if padded else ""))


def _active(active, S: int) -> np.ndarray:
    return np.ones(S, dtype=np.uint8) if active is None else np.ascontiguousarray(active, dtype=np.uint8)


def stability_rates(W: np.ndarray) -> np.ndarray:
    """Per frame ``(max sum_k |W_k|, max centred-drift rate)`` of stencils ``W (T, K, N, M)``: ``(T, 2)``.

    NaN rows mark frames with non-finite weights. The rates are defined in
    :func:`collop.solvers.stable_substeps`.
    """
    out = np.empty((W.shape[0], 2), dtype=np.float64)
    _compiled(stencil_radius(W.shape[1])).stability_rates(np.ascontiguousarray(W), out)
    return out


def arnoldi_hessenberg(Wd: np.ndarray, v0: np.ndarray, m: int) -> np.ndarray:
    """Hessenberg matrices ``(U, m+1, m)`` of ``m`` Arnoldi steps on each frame's operator.

    ``Wd (U, K, N, M)`` float64 stencils (the operator ``L_u f = sum_k
    Wd[u, k] shift_k(f)``, zeros outside the grid), ``v0 (U, N M)`` start
    vectors (their mean is removed). Classical Gram-Schmidt applied twice; an
    exhausted Krylov space leaves zero rows and columns.
    """
    Wd = np.ascontiguousarray(Wd, dtype=np.float64)
    U, K, N, M = Wd.shape
    v0 = np.ascontiguousarray(v0, dtype=np.float64)
    if v0.shape != (U, N * M):
        raise ValueError(f"start vectors of shape {v0.shape} do not fit stencils of shape {Wd.shape}")
    H = np.zeros((U, m + 1, m))
    _compiled(stencil_radius(K)).arnoldi(Wd, v0, H)
    return H


def abs_diff_sum(a: np.ndarray, b: np.ndarray) -> float:
    """``sum |a - b|`` accumulated in float64."""
    return _abs_diff_sum(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))


def abs_diff_grad(a: np.ndarray, b: np.ndarray, g: float, out: np.ndarray | None = None) -> np.ndarray:
    """``out + g * sign(a - b)`` (``out`` defaults to zeros and is updated in place)."""
    out = np.zeros_like(a) if out is None else out
    _abs_diff_grad(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1), a.dtype.type(g),
                   out.reshape(out.shape[0], -1))
    return out


def pad(a: np.ndarray, r: int = 1) -> np.ndarray:
    """``a (..., N, M)`` with a border of ``r`` zeros: ``(..., N+2r, M+2r)``."""
    out = np.empty(a.shape[:-2] + (a.shape[-2] + 2 * r, a.shape[-1] + 2 * r), dtype=a.dtype)
    if a.size:
        _compiled(r).pad_into(np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:]),
                              out.reshape((-1,) + out.shape[-2:]))
    else:
        out[...] = 0
    return out


def step_padded(fp: np.ndarray, W: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """:func:`stencil_forward` on and to zero-padded arrays ``(S, P, N+2r, M+2r)`` (no copies)."""
    r = stencil_radius(W.shape[1])
    _check(fp.shape, W.shape, r, padded=True)
    outp = np.empty_like(fp)
    _compiled(r).forward(fp, W, outp, _active(active, fp.shape[0]))
    return outp


def step_padded_adjoint(fp: np.ndarray, Wp: np.ndarray, gp: np.ndarray, gW: np.ndarray,
                        active: np.ndarray | None = None) -> np.ndarray:
    """:func:`stencil_backward` on and to zero-padded arrays; ``gW`` is accumulated in place.

    ``Wp`` is the stencil zero-padded like the states (``pad(W, r)``), ``gW``
    is not padded.
    """
    r = stencil_radius(Wp.shape[1])
    _check(fp.shape, gW.shape, r, padded=True)
    if Wp.shape[-2:] != fp.shape[-2:] or gp.shape != fp.shape:
        raise ValueError("padded stencil, state and gradient shapes differ")
    gfp = np.empty_like(gp)
    _compiled(r).backward(fp, Wp, gp, gfp, gW, _active(active, fp.shape[0]))
    return gfp


def steps_padded(fp: np.ndarray, W: np.ndarray, counts: np.ndarray,
                 out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``counts[s]`` steps of window ``s`` from the padded ``fp (S, P, N+2r, M+2r)`` under ``W[s]``.

    Returns ``(R, offs)``: every step's padded output, stacked,
    ``R (sum(counts), P, N+2r, M+2r)``, window ``s``'s step ``k`` at
    ``R[offs[s] + k]``. Each window does only its own steps (``counts >= 1``).
    ``out``, if given, is an array of at least ``sum(counts)`` rows of that
    shape and dtype whose leading rows become ``R`` (every element is written).
    """
    r = stencil_radius(W.shape[1])
    _check(fp.shape, W.shape, r, padded=True)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if counts.shape != (fp.shape[0],) or (counts < 1).any():
        raise ValueError("counts must hold one count >= 1 per window")
    offs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    n = int(counts.sum())
    if out is None:
        R = np.empty((n,) + fp.shape[1:], dtype=fp.dtype)
    elif out.shape[0] < n or out.shape[1:] != fp.shape[1:] or out.dtype != fp.dtype or not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous with at least sum(counts) rows of the state's shape and dtype")
    else:
        R = out[:n]
    _compiled(r).forward_multi(fp, W, counts, offs, R)
    return R, offs


def steps_padded_adjoint(fp: np.ndarray, R: np.ndarray, counts: np.ndarray, offs: np.ndarray,
                         Wp: np.ndarray, g: np.ndarray, gW: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`steps_padded`: ``g`` at each window's last state -> at ``fp``.

    ``Wp`` is the stencil zero-padded like the states; ``gW (S, K, N, M)`` is
    accumulated in place.
    """
    r = stencil_radius(Wp.shape[1])
    _check(fp.shape, gW.shape, r, padded=True)
    if g.shape != fp.shape or Wp.shape[-2:] != fp.shape[-2:]:
        raise ValueError("padded stencil, state and gradient shapes differ")
    gout = np.empty_like(g)
    tmp = np.empty_like(g)
    _compiled(r).backward_multi(fp, R, np.ascontiguousarray(counts, dtype=np.int64), offs, Wp, g, gout, tmp, gW)
    return gout


def abs_diff_sum_padded(ap: np.ndarray, b: np.ndarray, r: int = 1) -> float:
    """``sum |interior(ap) - b|`` (float64) for ``ap`` padded by ``r`` and plain ``b``."""
    return _compiled(r).abs_diff_sum_p(ap, np.ascontiguousarray(b))


def abs_diff_grad_padded(ap: np.ndarray, b: np.ndarray, g: float, outp: np.ndarray | None = None,
                         r: int = 1) -> np.ndarray:
    """``interior(outp) += g * sign(interior(ap) - b)`` in place; returns ``outp``.

    With ``outp=None`` a new padded array is returned (zero border, interior
    ``g * sign(...)``), written in one pass.
    """
    if outp is None:
        outp = np.empty_like(ap)
        _compiled(r).abs_diff_grad_p_set(ap, np.ascontiguousarray(b), ap.dtype.type(g), outp)
    else:
        _compiled(r).abs_diff_grad_p(ap, np.ascontiguousarray(b), ap.dtype.type(g), outp)
    return outp


def stencil_forward(f: np.ndarray, W: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """``f + sum_k W_k shift_k(f)`` for ``f (S, P, N, M)`` and ``W (S, (2r+1)**2, N, M)``.

    ``active`` (S,) bool, optional: groups where it is False are returned unchanged.
    """
    r = stencil_radius(W.shape[1])
    _check(f.shape, W.shape, r, padded=False)
    out = step_padded(pad(f, r), W, active)
    return np.ascontiguousarray(out[..., r:out.shape[-2] - r, r:out.shape[-1] - r])


def stencil_backward(f: np.ndarray, W: np.ndarray, g: np.ndarray, gW: np.ndarray | None = None,
                     active: np.ndarray | None = None):
    """Gradients of ``sum(g * stencil_forward(f, W, active))`` with respect to ``f`` and ``W``.

    The gradient of ``W`` is added to ``gW`` when given (in place), else to zeros.
    """
    r = stencil_radius(W.shape[1])
    _check(f.shape, W.shape, r, padded=False)
    gW = np.zeros_like(W) if gW is None else gW
    gfp = step_padded_adjoint(pad(f, r), pad(W, r), pad(g, r), gW, active)
    return np.ascontiguousarray(gfp[..., r:gfp.shape[-2] - r, r:gfp.shape[-1] - r]), gW
