"""Explicit time integration of ``df/dt = L(t) f`` on the velocity grid, frame by frame.

``L(t)`` is given per frame as a stencil ``W (T, K, N, M)`` of any radius
(:mod:`collop.solvers.discretisation`). :class:`GridSolver` owns the frame
loop, the sub-stepping and the unrolled training loss; subclasses override
:meth:`GridSolver.step` (and :meth:`GridSolver.plan` for several stages per
sub-step). :class:`ForwardEuler` is the paper's scheme, :class:`RKL2`
Runge-Kutta-Legendre super-time-stepping; :func:`make_solver` builds either
by name (``docs/integrators.md``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .autograd import _use_kernel, abs_diff_sum, stencil_apply
from .autograd import unrolled_abs_error as _fused_unrolled_abs_error
from .rkl import MIN_STAGES, rkl2_coefficients
from .stability import rkl2_plan, spectral_substeps, stable_substeps

__all__ = ["GridSolver", "ForwardEuler", "Heun", "RKL2", "StepPlan", "INTEGRATORS", "STABILITY", "make_solver"]

#: How sub-step counts follow from each frame's operator (see :meth:`GridSolver.substeps`).
STABILITY = ("spectral", "gershgorin")


def _counts(n_sub, T: int) -> np.ndarray:
    """Sub-steps per frame as ``ndarray (T,)`` of int from an int or a sequence."""
    c = np.asarray(n_sub, dtype=np.int64)
    return np.broadcast_to(c, (T,)).copy() if c.ndim == 0 else c[:T].copy()


@dataclass(frozen=True)
class StepPlan:
    """How each frame is integrated: ``substeps[k]`` sub-steps of ``stages[k]`` stages each.

    Attributes
    ----------
    substeps : ndarray of int, shape (T,)
        Sub-steps of frame ``k`` (each of length ``dt_k / substeps[k]``).
    stages : ndarray of int, shape (T,)
        Applications of the operator per sub-step (1 for forward Euler).
    """

    substeps: np.ndarray
    stages: np.ndarray

    @classmethod
    def of(cls, n_sub, T: int, stages=1) -> "StepPlan":
        """A plan from a plan, an int or a sequence of sub-step counts (``stages`` likewise)."""
        if isinstance(n_sub, StepPlan):
            return StepPlan(n_sub.substeps[:T].copy(), n_sub.stages[:T].copy())
        return cls(_counts(n_sub, T), _counts(stages, T))

    def __getitem__(self, sl) -> "StepPlan":
        return StepPlan(self.substeps[sl], self.stages[sl])

    @property
    def applications(self) -> np.ndarray:
        """Applications of the operator per frame, ``substeps * stages`` (the cost)."""
        return self.substeps * self.stages


@dataclass
class _Held:
    """A held spectral estimate: for stencils of ``shape`` and intervals ``dt``, each frame's
    Gershgorin count at its last estimate, its spectral count, and the calls made since."""

    shape: tuple
    dt: np.ndarray
    gersh: np.ndarray
    counts: np.ndarray
    calls: int = 1


#: A fixed sub-step count is checked against the estimate on the first call and every
#: ``CHECK_EVERY``-th call after (until it warns).
CHECK_EVERY = 25


class GridSolver:
    """Rolls distributions forward frame by frame under per-frame stencils.

    Subclasses implement :meth:`step` (and :meth:`plan` when a sub-step has
    several stages). The frame loop, sub-stepping and the indexing of
    per-frame operators live here.

    Parameters
    ----------
    n_substeps : int, optional
        Fixed sub-steps per frame (e.g. 1, the paper's scheme). A count below
        the stability estimate warns once per solver; by default each frame's
        own count from the estimate.
    backend : {"auto", "numba", "torch"}
        Passed to :func:`stencil_apply`.
    stability : {"spectral", "gershgorin"}
        The estimate behind the counts: ``gershgorin`` is
        :func:`stable_substeps` (a bound over every cell); ``spectral`` is
        :func:`spectral_substeps` on the Ritz values of each frame's operator,
        never above the Gershgorin count.
    hold : int
        Calls for which a spectral estimate is reused (1: estimated on every
        call). Within them a frame whose Gershgorin count exceeds its value
        at its last estimate is re-estimated at once (its coefficients grew),
        and a held count never exceeds the current Gershgorin count.
        Training sets it (``RolloutOptions.estimate_every``): estimating every
        frame costs as much as an epoch on records of many frames.

    Notes
    -----
    Frame ``k`` advances ``t_k -> t_{k+1}`` in ``n_k`` equal sub-steps of
    ``dt_sub = (t_{k+1} - t_k) / n_k`` with the frame's operator ``L_k``
    held fixed; :meth:`scaled` forms ``W_k dt_sub`` once per frame.
    """

    name = ""
    #: One sub-step's amplification factor ``R(z)`` for the spectral estimate.
    amplification = None

    def __init__(self, n_substeps: int | None = None, backend: str = "auto", stability: str = "spectral",
                 hold: int = 1):
        if stability not in STABILITY:
            raise ValueError(f"stability must be one of {', '.join(STABILITY)}, got {stability!r}")
        if int(hold) < 1:
            raise ValueError(f"hold must be >= 1, got {hold!r}")
        self.n_substeps = n_substeps
        self.backend = backend
        self.stability = stability
        self.hold = int(hold)
        self._warned = False
        self._calls = 0
        self._held: _Held | None = None
        #: frames estimated spectrally so far (a held count is not estimated)
        self.frames_estimated = 0

    def step(self, f: torch.Tensor, Wdt: torch.Tensor, stages=None) -> torch.Tensor:  # pragma: no cover
        """Advance ``f (S, P, N, M)`` by one sub-step; ``Wdt (S, K, N, M)``: stencil times the sub-step;
        ``stages``: ndarray (S,) of stages per group (multi-stage integrators)."""
        raise NotImplementedError

    def estimate(self, W: torch.Tensor, dt) -> np.ndarray:
        """Sub-steps each frame needs by the :attr:`stability` estimate, ``ndarray (T,)``."""
        gersh = stable_substeps(W, dt, per_frame=True)
        if self.stability == "gershgorin":
            return gersh
        kw = {} if self.amplification is None else {"amplification": self.amplification}
        dtn = torch.as_tensor(dt, dtype=torch.float64).detach().cpu().numpy()
        h = self._held
        if h is not None and h.shape == tuple(W.shape) and np.array_equal(h.dt, dtn) and h.calls < self.hold:
            grown = gersh > h.gersh
            if grown.any():                       # only the frames whose coefficients grew
                fresh = spectral_substeps(W, dt, cap=gersh, frames=grown, **kw)
                h.gersh[grown], h.counts[grown] = gersh[grown], fresh[grown]
                self.frames_estimated += int((grown & (gersh > 1)).sum())
            h.calls += 1
            return np.minimum(h.counts, gersh)
        counts = spectral_substeps(W, dt, cap=gersh, **kw)
        self.frames_estimated += int((gersh > 1).sum())
        self._held = _Held(tuple(W.shape), dtn, gersh.copy(), counts.copy()) if self.hold > 1 else None
        return counts

    def _warn_fixed(self, need: np.ndarray, fixed: np.ndarray, what: str) -> None:
        if self._warned or not (fixed < need).any():
            return
        self._warned = True
        warnings.warn(f"substeps={int(fixed.min())} is below the {self.stability} stability estimate of "
                      f"{self.name} ({what} up to {int(need.max())} per frame): rollouts may grow "
                      "without bound", RuntimeWarning, stacklevel=3)

    def substeps(self, W: torch.Tensor, dt) -> np.ndarray:
        """Sub-steps of each frame, ``ndarray (T,)``: the fixed count, or each frame's estimate.

        Parameters
        ----------
        W : Tensor, shape (T, K, N, M)
            Stencils (1 / time units).
        dt : float or Tensor (T,)
            Frame intervals (time units).
        """
        if self.n_substeps:
            fixed = _counts(self.n_substeps, W.shape[0])
            # checked on the first call and every CHECK_EVERY-th after (the estimate can cost as
            # much as an epoch), until it warns
            if not self._warned and self._calls % CHECK_EVERY == 0:
                self._warn_fixed(self.estimate(W, dt), fixed, "sub-steps")
            self._calls += 1
            return fixed
        return self.estimate(W, dt)

    def plan(self, W: torch.Tensor, dt, n_sub=None) -> StepPlan:
        """The :class:`StepPlan` of each frame (one stage per sub-step here).

        ``n_sub`` (int, array or plan) fixes the sub-steps; by default :meth:`substeps`.
        """
        T = W.shape[0]
        if n_sub is None:
            return StepPlan.of(self.substeps(W, dt), T)
        return StepPlan.of(n_sub, T)

    def scaled(self, W: torch.Tensor, dt, n_sub) -> torch.Tensor:
        """Stencil per frame times its sub-step ``dt / n_sub``.

        Parameters
        ----------
        W : Tensor, shape (T, K, N, M)
            Stencils (1 / time units).
        dt : float or Tensor (T,)
            Frame intervals (time units).
        n_sub : int, array (T,) or StepPlan
            Sub-steps per frame.

        Returns
        -------
        Tensor, shape (T, K, N, M)
            Dimensionless ``W_k dt_k / n_k``.
        """
        T = W.shape[0]
        dt = torch.as_tensor(dt, dtype=W.dtype, device=W.device).expand(T)
        n = torch.as_tensor(StepPlan.of(n_sub, T).substeps, dtype=W.dtype, device=W.device)
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
        n_sub : int, array (T-1,) or StepPlan
            Sub-steps (and stages) of each frame.

        Returns
        -------
        Tensor, float64, scalar
            Units of ``f``.
        """
        S = fs.shape[0] - nu
        plan = StepPlan.of(n_sub, Wdt.shape[0])
        f = fs[:S]
        loss = fs.new_zeros((), dtype=torch.float64)
        for u in range(nu):
            c, st = plan.substeps[u:u + S], plan.stages[u:u + S]
            for k in range(int(c.max())):
                step = self.step(f, Wdt[u:u + S], st)
                f = step if c.min() > k else torch.where(
                    torch.as_tensor(c > k, device=f.device)[:, None, None, None], step, f)
            loss = loss + abs_diff_sum(f, fs[u + 1:u + 1 + S])
        return loss

    def advance(self, f: torch.Tensor, Wdt: torch.Tensor, n_sub: int, stages: int = 1) -> torch.Tensor:
        """One frame: ``n_sub`` sub-steps (of ``stages`` stages) with the same operator."""
        st = np.full(f.shape[0], int(stages), dtype=np.int64)
        for _ in range(n_sub):
            f = self.step(f, Wdt, st)
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
        n_sub : int, array (n_frames,) or StepPlan, optional
            Sub-steps per frame; by default :meth:`plan`.

        Returns
        -------
        Tensor, shape (P, n_frames + 1, N, M)
            ``f0`` followed by the predicted frames.
        """
        W = W[:n_frames]
        if torch.as_tensor(dt).ndim:
            dt = torch.as_tensor(dt)[:n_frames]
        plan = self.plan(W.detach(), dt, n_sub)
        Wdt = self.scaled(W, dt, plan)
        f = f0[None]
        out = [f0]
        for k in range(n_frames):
            f = self.advance(f, Wdt[k:k + 1], int(plan.substeps[k]), int(plan.stages[k]))
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

    name = "euler"

    def step(self, f, Wdt, stages=None):
        return stencil_apply(f, Wdt, backend=self.backend)

    def unrolled_abs_error(self, Wdt, fs, nu, n_sub):
        if self.backend != "torch" and _use_kernel(fs, Wdt) and not fs.requires_grad:
            return _fused_unrolled_abs_error(Wdt, fs, nu, StepPlan.of(n_sub, Wdt.shape[0]).substeps)
        return super().unrolled_abs_error(Wdt, fs, nu, n_sub)


class Heun(GridSolver):
    """Heun's method (explicit trapezoid), second order.

    Notes
    -----
    .. math::
        f^* = f^n + dt_{sub} L f^n, \\qquad
        f^{n+1} = \\tfrac12 \\left(f^n + f^* + dt_{sub} L f^*\\right)
    """

    name = "heun"

    @staticmethod
    def amplification(z):
        """``R(z) = 1 + z + z^2 / 2``."""
        return 1 + z + 0.5 * z * z

    def step(self, f, Wdt, stages=None):
        f1 = stencil_apply(f, Wdt, backend=self.backend)
        return 0.5 * (f + stencil_apply(f1, Wdt, backend=self.backend))


class RKL2(GridSolver):
    r"""Runge-Kutta-Legendre super-time-stepping, second order (Meyer, Balsara & Aslam 2014).

    Parameters
    ----------
    n_substeps : int, optional
        Fixed sub-steps per frame; the stages of each are still chosen from
        the spectral estimate (the largest stage choice, with a warning, if
        none is stable).
    backend : {"auto", "numba", "torch"}
        Passed to :func:`stencil_apply` (one fused stencil application per stage).
    stability : {"spectral"}
        RKL2's stages always follow the spectral (Ritz) estimate: the
        Gershgorin discs do not fit its stability region.

    Notes
    -----
    One sub-step of length ``tau`` with ``s`` stages
    (:mod:`collop.solvers.rkl`):

    .. math::
        Y_0 = f^n,\quad Y_1 = Y_0 + \tilde\mu_1 \tau L Y_0,\quad
        Y_j = \mu_j Y_{j-1} + \nu_j Y_{j-2} + (1-\mu_j-\nu_j) Y_0
              + \tilde\mu_j \tau L Y_{j-1} + \tilde\gamma_j \tau L Y_0,\quad
        f^{n+1} = Y_s.

    Each stage costs one application of the stencil
    (``tau L Y = stencil_apply(Y, W tau) - Y``), computed on the differences
    ``Y_j - Y_0`` (weights summing to zero), so a zero operator leaves ``f``
    unchanged bit for bit; ``s`` stages are stable on
    the real interval ``[-(s^2+s-2)/2, 0]`` of ``tau lambda``. The step is
    linear in ``f`` for a fixed stencil, and its adjoint is the same
    recurrence transposed: autograd runs it backwards through the fused
    stencil adjoint. Groups of a batch may have different stage counts
    (``stages`` per group); a group whose stages are done is carried
    unchanged.
    """

    name = "rkl2"

    def __init__(self, n_substeps: int | None = None, backend: str = "auto", stability: str = "spectral",
                 hold: int = 1):
        super().__init__(n_substeps, backend, "spectral")       # plans are computed on every call

    def plan(self, W, dt, n_sub=None) -> StepPlan:
        T = W.shape[0]
        if isinstance(n_sub, StepPlan):
            return StepPlan.of(n_sub, T)
        fixed = n_sub if n_sub is not None else (self.n_substeps or None)
        counts, stages = rkl2_plan(W, dt, n_substeps=fixed)
        if fixed is not None and not self._warned:
            from .rkl import STAGE_CHOICES
            full, _ = rkl2_plan(W, dt, n_substeps=None)
            self._warned = bool((stages >= STAGE_CHOICES[-1]).any() and (full > counts).any())
            if self._warned:
                warnings.warn(f"substeps={int(np.min(counts))} is below the spectral stability estimate of "
                              f"rkl2 even at {STAGE_CHOICES[-1]} stages (up to {int(full.max())} sub-steps "
                              "per frame): rollouts may grow without bound", RuntimeWarning, stacklevel=2)
        return StepPlan(counts, stages)

    def substeps(self, W, dt) -> np.ndarray:
        return self.plan(W, dt).substeps

    def step(self, f, Wdt, stages=None):
        S = f.shape[0]
        st = np.full(S, MIN_STAGES, dtype=np.int64) if stages is None else np.asarray(stages, dtype=np.int64)
        st = np.broadcast_to(st, (S,))
        smax = int(st.max())
        coef = np.zeros((smax + 1, S, 4))
        for s in np.unique(st):
            coef[:s + 1, st == s] = rkl2_coefficients(int(s))[:, None, :]
        c = torch.as_tensor(coef, dtype=f.dtype, device=f.device)[..., None, None, None]   # (smax+1, S, 4, 1,1,1)
        # in differences d_j = Y_j - Y_0 (weights summing to zero): a zero operator leaves f bit for bit
        y0 = f
        ly0 = stencil_apply(y0, Wdt, backend=self.backend) - y0          # tau L Y0
        dm2, dm1 = torch.zeros_like(f), c[1, :, 2] * ly0
        for j in range(2, smax + 1):
            y = y0 + dm1
            ly = stencil_apply(y, Wdt, backend=self.backend) - y          # tau L Y_{j-1}
            mu, nu, mut, gat = c[j, :, 0], c[j, :, 1], c[j, :, 2], c[j, :, 3]
            d = mu * dm1 + nu * dm2 + mut * ly + gat * ly0
            if (st < j).any():
                d = torch.where(torch.as_tensor(st >= j, device=f.device)[:, None, None, None], d, dm1)
            dm2, dm1 = dm1, d
        return y0 + dm1


#: integrator name -> class
INTEGRATORS = {"euler": ForwardEuler, "rkl2": RKL2}


def make_solver(integrator: str = "euler", substeps: int | None = None, stability: str = "spectral",
                backend: str = "auto", hold: int = 1) -> GridSolver:
    """The grid solver named ``integrator``.

    Parameters
    ----------
    integrator : {"euler", "rkl2"}
        Forward Euler (the paper's scheme) or Runge-Kutta-Legendre super-time-stepping.
    substeps : int, optional
        Fixed sub-steps per frame (default: from the stability estimate).
    stability : {"spectral", "gershgorin"}
        The estimate behind Euler's counts (RKL2 always uses ``spectral``).
    backend : {"auto", "numba", "torch"}
    hold : int
        Calls for which Euler's spectral estimate is reused (:class:`GridSolver`).

    Raises
    ------
    ValueError
        An unknown integrator or stability name.
    """
    if integrator not in INTEGRATORS:
        raise ValueError(f"unknown integrator {integrator!r}; known: {', '.join(INTEGRATORS)}")
    return INTEGRATORS[integrator](substeps, backend, stability, hold)
