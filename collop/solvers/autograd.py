"""Differentiable stencil steps and losses: torch autograd wrappers of the fused CPU kernels.

Every function here has a pure-torch path (any device, any float type) and,
for CPU float32/float64 tensors, a fused numba path (:mod:`._kernels`) whose
adjoint is hand-written. Both compute the same thing; the torch path is the
reference the tests compare against.

Stencils follow :mod:`collop.solvers.discretisation`: ``W (S, K, N, M)``,
``K = (2r + 1)**2``, column ``k`` at offset ``(k // (2r+1) - r, k % (2r+1) - r)``,
zero outside the grid.
"""
from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F

from . import _kernels as _k
from . import _sparse_kernels as _sk
from .discretisation import stencil_radius

__all__ = ["stencil_apply", "stencil_tendency", "unrolled_abs_error", "abs_diff_sum", "sparse_rows"]


def _use_kernel(f: torch.Tensor, W: torch.Tensor) -> bool:
    """Whether the fused CPU kernels handle these tensors (CPU, float32/float64, one dtype)."""
    return (f.device.type == "cpu" and W.device.type == "cpu"
            and f.dtype in (torch.float32, torch.float64) and f.dtype == W.dtype)


def _torch_stencil(f: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Reference step ``f + sum_k W_k shift_k(f)`` in pure torch (columns summed in order ``k``)."""
    r = stencil_radius(W.shape[1])
    d = 2 * r + 1
    n, m = f.shape[-2:]
    fp = F.pad(f, (r, r, r, r))
    out = f
    for k in range(d * d):
        a, b = divmod(k, d)
        out = out + W[:, None, k] * fp[..., a:a + n, b:b + m]
    return out


class _StencilFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, W):
        ctx.save_for_backward(f, W)
        out = _k.stencil_forward(f.detach().numpy(), W.detach().numpy())
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, g):
        f, W = ctx.saved_tensors
        gf, gW = _k.stencil_backward(f.detach().numpy(), W.detach().numpy(),
                                     g.detach().contiguous().numpy())
        return torch.from_numpy(gf), torch.from_numpy(gW)


def stencil_apply(f: torch.Tensor, W: torch.Tensor, *, backend: str = "auto") -> torch.Tensor:
    """One explicit step ``f + sum_k W_k shift_k(f)`` (zero outside the grid).

    Parameters
    ----------
    f : Tensor, shape (S, P, N, M)
        ``S`` groups (e.g. start frames) of ``P`` distributions each (any
        units; the result has the same).
    W : Tensor, shape (S, K, N, M)
        Stencil weights times the time step (dimensionless), shared by the
        ``P`` distributions of a group; ``K = (2r + 1)**2``.
    backend : {"auto", "numba", "torch"}
        ``auto`` uses the fused numba kernel for CPU float32/float64 tensors
        and pure torch otherwise.

    Returns
    -------
    Tensor, shape (S, P, N, M)

    Notes
    -----
    .. math:: f'_{s,p,i,j} = f_{s,p,i,j} + \\sum_k W_{s,k,i,j} f_{s,p,i+a_k,j+b_k}

    The adjoint (fused path) is
    ``df_{i,j} = g_{i,j} + sum_k W_{k,i-a_k,j-b_k} g_{i-a_k,j-b_k}`` and
    ``dW_{k,i,j} = sum_p g_{p,i,j} f_{p,i+a_k,j+b_k}``.
    """
    if backend == "torch" or (backend == "auto" and not _use_kernel(f, W)):
        return _torch_stencil(f, W)
    return _StencilFunction.apply(f.contiguous(), W.contiguous())


def stencil_tendency(f: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``L f = sum_k W_k shift_k(f)``: the right-hand side, without the identity.

    Parameters
    ----------
    f : Tensor, shape (S, P, N, M)
        Distributions (units of ``f``).
    W : Tensor, shape (S, K, N, M)
        Stencil weights (1 / time units).

    Returns
    -------
    Tensor, shape (S, P, N, M)
        Units of ``f`` / time units (pure torch).
    """
    return _torch_stencil(f, W) - f


_STARTS: list = []   # [(weakref to the record, its version, S, r, padded starts)], one entry


def _padded_starts(fs: torch.Tensor, S: int, r: int) -> np.ndarray:
    """``pad(fs[:S], r)``, kept while ``fs`` lives unchanged: a training pads its record once.

    The padded starts are only read (the kernels write new arrays), so sharing
    them between epochs is safe.
    """
    if _STARTS:
        ref, version, s0, r0, fp = _STARTS[0]
        if ref() is fs and version == fs._version and s0 == S and r0 == r:
            return fp
    fp = _k.pad(fs.detach().numpy()[:S], r)
    _STARTS[:] = [(weakref.ref(fs), fs._version, S, r, fp)]
    return fp


class _Pool:
    """Buffers for the unrolled states, reused from one epoch to the next.

    A training allocates the same few hundred MB of sub-step states every
    epoch; fresh arrays cost a page fault per 4 KiB on first touch, which took
    as long as the stencil steps themselves. Buffers come back after the
    backward pass has used them; anything not given back is garbage collected
    as usual.
    """

    def __init__(self):
        self.free: list[np.ndarray] = []
        self.key = None

    def take(self, rows: int, tail: tuple, dtype) -> np.ndarray:
        key = (tail, np.dtype(dtype))
        if key != self.key:
            self.free, self.key = [], key
        fits = [i for i, a in enumerate(self.free) if a.shape[0] >= rows]
        if fits:
            return self.free.pop(min(fits, key=lambda i: self.free[i].shape[0]))
        return np.empty((int(rows * 1.25) + 1,) + tail, dtype=dtype)   # room for counts to grow

    def give(self, a: np.ndarray) -> None:
        if (a.shape[1:], a.dtype) == self.key and len(self.free) < 64:
            self.free.append(a)


_POOL = _Pool()


def _unroll(Wdt: torch.Tensor, fs: torch.Tensor, nu: int, counts: np.ndarray):
    """Forward-Euler unrolls of every start frame: per unrolled frame its start states, every
    sub-step's output (window ``s`` takes its own frame's count), and the loss."""
    W = Wdt.detach().numpy()
    F_ = fs.detach().numpy()
    r = stencil_radius(W.shape[1])
    S = F_.shape[0] - nu
    f = _padded_starts(fs, S, r)
    frames, total = [], 0.0
    for u in range(nu):
        c = np.ascontiguousarray(counts[u:u + S])
        buf = _POOL.take(int(c.sum()), f.shape[1:], f.dtype)
        R, offs = _k.steps_padded(f, W[u:u + S], c, out=buf)
        last = R[offs + c - 1]
        frames.append((f, R, offs, c, last, buf))
        f = last
        total += _k.abs_diff_sum_padded(f, F_[u + 1:u + 1 + S], r)
    return frames, total


class _UnrolledMAE(torch.autograd.Function):
    """Sum over ``u`` of ``sum|f_u - fs[u]|`` for forward-Euler unrolls, fused.

    Forward and adjoint run in the numba kernels with the per-frame stencils
    sliced in place, so no autograd graph is built per step. ``counts`` holds
    each frame's sub-steps; each start frame's window takes the count of the
    frame it is in, and no more (the kernels loop over sub-steps per window).
    The states stay zero-padded by the stencil radius ``r`` throughout.
    """

    @staticmethod
    def forward(ctx, Wdt, fs, nu, counts):
        frames, total = _unroll(Wdt, fs, nu, counts)
        ctx.frames, ctx.nu, ctx.counts = frames, nu, counts
        ctx.save_for_backward(Wdt, fs)
        return torch.tensor(total, dtype=torch.float64)

    @staticmethod
    def backward(ctx, gl):
        Wdt, fs = ctx.saved_tensors
        W, F_ = Wdt.detach().numpy(), fs.detach().numpy()
        nu, counts = ctx.nu, ctx.counts
        S, r = F_.shape[0] - nu, stencil_radius(W.shape[1])
        # the states are freed after the first backward (a training keeps the loss alive into
        # the next epoch); a second backward (e.g. gradcheck's reentrancy check) recomputes them
        frames = ctx.frames if ctx.frames is not None else _unroll(Wdt, fs, nu, counts)[0]
        ctx.frames = None
        gW = np.zeros_like(W)
        Wp = _k.pad(W, r)              # padded once: the adjoint's shifted reads need no bounds
        g = None
        for u in reversed(range(nu)):
            f0, R, offs, c, last, buf = frames[u]
            g = _k.abs_diff_grad_padded(last, F_[u + 1:u + 1 + S], float(gl), g, r)
            g = _k.steps_padded_adjoint(f0, R, c, offs, Wp[u:u + S], g, gW[u:u + S])
            frames[u] = None
            _POOL.give(buf)          # its states are no longer needed
        return torch.from_numpy(gW), None, None, None


def unrolled_abs_error(Wdt: torch.Tensor, fs: torch.Tensor, nu: int, counts: np.ndarray) -> torch.Tensor:
    """Fused forward-Euler unrolled L1 error, differentiable in the stencil.

    Parameters
    ----------
    Wdt : Tensor, shape (T-1, K, N, M)
        Per-frame stencils times the sub-step (dimensionless); CPU, the dtype of ``fs``.
    fs : Tensor, shape (T, P, N, M)
        The record, frame-major (units of ``f``); no gradient.
    nu : int
        Frames unrolled from each start ``t <= T-1-nu``.
    counts : ndarray of int, shape (T-1,)
        Sub-steps of each frame.

    Returns
    -------
    Tensor, float64, scalar
        ``sum_t sum_{u=1..nu} sum |f_hat(t + u) - f(t + u)|`` (units of ``f``),
        where ``f_hat`` starts at ``f(t)`` and takes ``counts[t']`` Euler
        sub-steps ``f <- f + Wdt[t'] f`` in frame ``t'``. NaN in ``Wdt`` gives NaN.
    """
    return _UnrolledMAE.apply(Wdt.contiguous(), fs.contiguous(), nu, np.asarray(counts, dtype=np.int64))


class _AbsDiffSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return torch.tensor(_k.abs_diff_sum(a.detach().numpy(), b.detach().numpy()), dtype=torch.float64)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return torch.from_numpy(_k.abs_diff_grad(a.detach().numpy(), b.detach().numpy(), float(g))), None


def abs_diff_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum |a - b|`` as a float64 scalar (fused kernel on CPU; ``b`` gets no gradient).

    Parameters
    ----------
    a, b : Tensor, same shape ``(S, ...)``
        Any units (the result has the same).

    Returns
    -------
    Tensor, float64, scalar
    """
    if _use_kernel(a, b) and not b.requires_grad:
        return _AbsDiffSum.apply(a.contiguous(), b.contiguous())
    return (a - b).abs().sum(dtype=torch.float64)


class _SparseRows(torch.autograd.Function):
    """``XT @ G.T`` in the numba CSR kernels; the result is C-contiguous ``(T, R)``."""

    @staticmethod
    def forward(ctx, XT, G):
        csr = (G.crow_indices().numpy(), G.col_indices().numpy(), G.values().numpy())
        ctx.csr, ctx.n_cols = csr, G.shape[1]
        return torch.from_numpy(_sk.csr_rows(*csr, XT.detach().numpy()))

    @staticmethod
    def backward(ctx, g):
        return torch.from_numpy(_sk.csr_rows_adjoint(*ctx.csr, g.detach().contiguous().numpy(),
                                                    ctx.n_cols)), None


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, G, GT):
        ctx.GT = GT
        return G @ X

    @staticmethod
    def backward(ctx, g):
        return ctx.GT @ g.contiguous(), None, None


def sparse_rows(G: torch.Tensor, GT: torch.Tensor, XT: torch.Tensor) -> torch.Tensor:
    """``XT @ G.T``: a fixed sparse matrix applied to every row of ``XT``.

    Parameters
    ----------
    G : Tensor, sparse CSR, shape (R, Q)
        Fixed linear map (e.g. coefficients -> flattened stencil weights).
    GT : Tensor, sparse CSR, shape (Q, R)
        ``G``'s transpose, precomputed (used off the CPU kernels).
    XT : Tensor, shape (T, Q)
        One input vector per row (e.g. per frame); differentiable.

    Returns
    -------
    Tensor, shape (T, R)
        C-contiguous, so what consumes it needs no transpose.
    """
    if _use_kernel(XT, XT) and G.layout == torch.sparse_csr and G.dtype == XT.dtype:
        return _SparseRows.apply(XT.contiguous(), G)
    return _SparseLinear.apply(XT.T.contiguous(), G, GT).T.contiguous()
