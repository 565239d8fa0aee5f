"""Explicit time integration of ``df/dt = L(t) f`` on the velocity grid, frame by frame.

``L(t)`` is given per frame as a stencil ``W (T, K, N, M)`` of any radius
(:mod:`collop.solvers.discretisation`). :class:`GridSolver` owns the frame
loop, the sub-stepping and the unrolled training loss; subclasses override
only :meth:`GridSolver.step`.
"""
from __future__ import annotations

import numpy as np
import torch

from .autograd import _use_kernel, abs_diff_sum, stencil_apply
from .autograd import unrolled_abs_error as _fused_unrolled_abs_error
from .stability import stable_substeps

__all__ = ["GridSolver", "ForwardEuler", "Heun"]


def _counts(n_sub, T: int) -> np.ndarray:
    """Sub-steps per frame as ``ndarray (T,)`` of int from an int or a sequence."""
    c = np.asarray(n_sub, dtype=np.int64)
    return np.broadcast_to(c, (T,)).copy() if c.ndim == 0 else c[:T].copy()


class GridSolver:
    """Rolls distributions forward frame by frame under per-frame stencils.

    Subclasses implement :meth:`step`. The frame loop, sub-stepping and the
    indexing of per-frame operators live here.

    Parameters
    ----------
    n_substeps : int, optional
        Sub-steps per frame; by default each frame's own count from
        :func:`stable_substeps`.
    backend : {"auto", "numba", "torch"}
        Passed to :func:`stencil_apply`.

    Notes
    -----
    Frame ``k`` advances ``t_k -> t_{k+1}`` in ``n_k`` equal sub-steps of
    ``dt_sub = (t_{k+1} - t_k) / n_k`` with the frame's operator ``L_k``
    held fixed; :meth:`scaled` forms ``W_k dt_sub`` once per frame.
    """

    def __init__(self, n_substeps: int | None = None, backend: str = "auto"):
        self.n_substeps = n_substeps
        self.backend = backend

    def step(self, f: torch.Tensor, Wdt: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Advance ``f (S, P, N, M)`` by one sub-step; ``Wdt (S, K, N, M)``: stencil times the sub-step."""
        raise NotImplementedError

    def substeps(self, W: torch.Tensor, dt) -> np.ndarray:
        """Sub-steps of each frame, ``ndarray (T,)``: the fixed count, or each frame's stability bound.

        Parameters
        ----------
        W : Tensor, shape (T, K, N, M)
            Stencils (1 / time units).
        dt : float or Tensor (T,)
            Frame intervals (time units).
        """
        if self.n_substeps:
            return _counts(self.n_substeps, W.shape[0])
        return stable_substeps(W, dt, per_frame=True)

    def scaled(self, W: torch.Tensor, dt, n_sub) -> torch.Tensor:
        """Stencil per frame times its sub-step ``dt / n_sub``.

        Parameters
        ----------
        W : Tensor, shape (T, K, N, M)
            Stencils (1 / time units).
        dt : float or Tensor (T,)
            Frame intervals (time units).
        n_sub : int or array (T,)
            Sub-steps per frame.

        Returns
        -------
        Tensor, shape (T, K, N, M)
            Dimensionless ``W_k dt_k / n_k``.
        """
        T = W.shape[0]
        dt = torch.as_tensor(dt, dtype=W.dtype, device=W.device).expand(T)
        n = torch.as_tensor(_counts(n_sub, T), dtype=W.dtype, device=W.device)
        return W * (dt / n)[:, None, None, None]

    def unrolled_abs_error(self, Wdt: torch.Tensor, fs: torch.Tensor, nu: int, n_sub) -> torch.Tensor:
        """``sum_u sum |f_hat(t + u) - f(t + u)|`` over all start frames ``t``.

        Parameters
        ----------
        Wdt : Tensor, shape (T-1, K, N, M)
            Per-frame stencils times the sub-step (dimensionless).
        fs : Tensor, shape (T, P, N, M)
            The record, frame-major (units of ``f``); every frame
            ``t <= T-1-nu`` is a start.
        nu : int
            Frames unrolled from each start.
        n_sub : int or array (T-1,)
            Sub-steps of each frame.

        Returns
        -------
        Tensor, float64, scalar
            Units of ``f``.
        """
        S = fs.shape[0] - nu
        counts = _counts(n_sub, Wdt.shape[0])
        f = fs[:S]
        loss = fs.new_zeros((), dtype=torch.float64)
        for u in range(nu):
            c = counts[u:u + S]
            for k in range(int(c.max())):
                step = self.step(f, Wdt[u:u + S])
                f = step if c.min() > k else torch.where(
                    torch.as_tensor(c > k, device=f.device)[:, None, None, None], step, f)
            loss = loss + abs_diff_sum(f, fs[u + 1:u + 1 + S])
        return loss

    def advance(self, f: torch.Tensor, Wdt: torch.Tensor, n_sub: int) -> torch.Tensor:
        """One frame: ``n_sub`` sub-steps with the same operator."""
        for _ in range(n_sub):
            f = self.step(f, Wdt)
        return f

    def rollout(self, f0: torch.Tensor, W: torch.Tensor, dt, n_frames: int,
                n_sub=None) -> torch.Tensor:
        """Roll ``f0`` forward ``n_frames`` frames.

        Parameters
        ----------
        f0 : Tensor, shape (P, N, M)
            Distributions at frame 0 (units of ``f``).
        W : Tensor, shape (>= n_frames, K, N, M)
            Stencil of each frame (1 / time units); frame ``k`` advances ``k -> k+1``.
        dt : float or Tensor (>= n_frames,)
            Frame intervals (time units).
        n_frames : int
            Frames to advance.
        n_sub : int or array (n_frames,), optional
            Sub-steps per frame; by default :meth:`substeps`.

        Returns
        -------
        Tensor, shape (P, n_frames + 1, N, M)
            ``f0`` followed by the predicted frames.
        """
        W = W[:n_frames]
        if torch.as_tensor(dt).ndim:
            dt = torch.as_tensor(dt)[:n_frames]
        counts = self.substeps(W, dt) if n_sub is None else _counts(n_sub, n_frames)
        Wdt = self.scaled(W, dt, counts)
        f = f0[None]
        out = [f0]
        for k in range(n_frames):
            f = self.advance(f, Wdt[k:k + 1], int(counts[k]))
            out.append(f[0])
        return torch.stack(out, dim=1)


class ForwardEuler(GridSolver):
    """Forward Euler, first order (the paper's scheme).

    Notes
    -----
    .. math:: f^{n+1} = f^n + dt_{sub} L f^n

    :meth:`unrolled_abs_error` runs fused in the numba kernels (forward and
    adjoint, no autograd graph per step) for CPU float32/float64 tensors.
    """

    def step(self, f, Wdt):
        return stencil_apply(f, Wdt, backend=self.backend)

    def unrolled_abs_error(self, Wdt, fs, nu, n_sub):
        if self.backend != "torch" and _use_kernel(fs, Wdt) and not fs.requires_grad:
            return _fused_unrolled_abs_error(Wdt, fs, nu, _counts(n_sub, Wdt.shape[0]))
        return super().unrolled_abs_error(Wdt, fs, nu, n_sub)


class Heun(GridSolver):
    """Heun's method (explicit trapezoid), second order.

    Notes
    -----
    .. math::
        f^* = f^n + dt_{sub} L f^n, \\qquad
        f^{n+1} = \\tfrac12 \\left(f^n + f^* + dt_{sub} L f^*\\right)
    """

    def step(self, f, Wdt):
        f1 = stencil_apply(f, Wdt, backend=self.backend)
        return 0.5 * (f + stencil_apply(f1, Wdt, backend=self.backend))
