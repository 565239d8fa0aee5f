"""A particle solver for the metriplectic kinetic equation: random-batch binary collisions.

The method
----------
The kinetic equation (Zhao et al., eq. 1) in Fokker-Planck form is

.. math::
    \\partial_t f = \\partial_i\\partial_j (f A_{ij}) - \\partial_i (f B_i),
    \\quad A = \\int \\omega f' dv', \\quad B = \\int 2\\,\\nabla_u\\!\\cdot\\omega\\; f' dv'

(eq. B1), the law of particles that each receive the drift ``B`` and the
diffusion ``2A``. :class:`CollisionSolver` realises it with *binary
collisions in random batches of two* (Takizuka & Abe 1977 for the Landau
kernel; Jin, Li & Liu 2020 for random batches), for any kernel of the
family. Each step:

1. pair the particles at random (``N/2`` pairs: O(N) work);
2. for each pair ``(v, v')`` change the relative velocity ``u`` by
   ``du = 4 (div_u omega)_tan dt + xi``, ``xi ~ N(0, 8 omega dt)`` (the tangential
   part of the drift; ``omega u = 0`` puts ``xi`` in the plane orthogonal to ``u``);
3. rescale to the old length, ``u' = |u| (u + du)/|u + du|``, and set
   ``v = c + u'/2``, ``v' = c - u'/2`` with the pair's centre ``c``.

Step 3 is where the radial part of the drift goes: to first order in ``dt``
the rescaling moves ``u`` by exactly ``-4 tr(omega) u~/|u| dt``, the radial part
of ``4 div_u omega dt``. Each particle's increment then has mean
``2 div_u omega dt`` and covariance ``2 omega dt``, which is eq. (B1) with the
partner drawn from the others; the scheme is weakly first order in ``dt``.

Why this method
---------------
* **Momentum and energy are conserved exactly per pair**: the centre ``c``
  and ``|u|`` are unchanged, so totals change only by floating-point
  round-off (~1e-16 relative in float64), whatever the kernel, the time step
  or the random numbers.
* **No estimate of grad log f is needed.** Deterministic particle methods
  (the blob method of Carrillo et al. 2020) move particles with a score
  estimated from the particles; in three dimensions with ``N <= 1e5`` that
  estimate is smoothed over a bandwidth ``h ~ 0.2-0.3 v_th``, which slows a
  bi-Maxwellian relaxation by ~10 % (the smoothed temperatures are ``T + h^2``).
  Collisions have no such bias, which matters for the known-truth tests (a
  Landau ``c0`` recovered to 3 %).
* **The Maxwellian is an exact equilibrium**: the pair update is a
  reversible diffusion of ``u~`` on the sphere ``|u| = const`` with the
  uniform measure invariant, and a Maxwellian is uniform in ``u~`` at fixed
  ``|u|``, ``r``.
* **Cost**: one kernel evaluation per pair and step, O(N).

Its price is sampling noise, of the same kind as the MD data's: the
entropy increases on average (H-theorem), not step by step.

Time step: ``dt = angle^2 / median(8 tr(omega) / |u|^2)`` over the pairs of
the initial particles, i.e. the median pair turns by ``angle`` (default 0.1
rad) per step; :meth:`CollisionSolver.rollout` divides every output interval
into equal steps no longer than that.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .geometry import pair_frame
from .kernels import Kernel

__all__ = ["CollisionSolver"]


def _select(fr, idx):
    """The frames of pairs ``idx``."""
    from .geometry import PairFrame

    return PairFrame(**{k: getattr(fr, k)[idx] for k in ("a", "rho", "s", "c", "uh", "rt", "st", "ok_u", "ok_s")})


class CollisionSolver:
    """Random-batch binary-collision particle solver (see the module docstring).

    Parameters
    ----------
    kernel : Kernel
        The collision kernel (data units).
    angle : float
        Target median rotation of a pair per step (radians); sets the automatic time step.
    dt : float, optional
        A fixed maximal time step (time units) instead of the automatic one.
    seed : int
        Seed of the pairings and the noise.
    dtype : torch.dtype
        Precision of the particle velocities (float64: conservation to ~1e-16).

    Attributes
    ----------
    dt_ : float
        The maximal time step of the last rollout.
    steps_ : int
        Steps taken by the last rollout.
    """

    def __init__(self, kernel: Kernel, *, angle: float = 0.1, dt: float | None = None, seed: int = 0,
                 dtype=torch.float64, max_substeps: int = 8):
        if not (angle > 0 and math.isfinite(angle)):
            raise ValueError(f"angle must be positive, got {angle}")
        if dt is not None and not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be positive, got {dt}")
        self.kernel, self.angle, self.dt, self.dtype = kernel, float(angle), dt, dtype
        self.max_substeps = int(max_substeps)
        #: ``"auto"``: numba kernels for isotropic kernels in float64; ``"torch"``: PyTorch only
        self.backend = "auto"
        self.gen = torch.Generator().manual_seed(int(seed))

    # -- one step -------------------------------------------------------------------
    @torch.no_grad()
    def step(self, v: torch.Tensor, dt: float, vbar: torch.Tensor | None = None) -> torch.Tensor:
        """Advance the particles ``v (N, 3)`` by ``dt`` (in place; also returned)."""
        N = v.shape[0]
        m = N // 2
        if m == 0:
            return v
        perm = torch.randperm(N, generator=self.gen)
        i, j = perm[:m], perm[m:2 * m]
        if self.kernel.isotropic and self.backend != "torch" and v.dtype == torch.float64 and v.is_contiguous():
            return self._step_isotropic_numba(v, i, j, dt, vbar)
        v1, v2 = v[i], v[j]
        cen = 0.5 * (v1 + v2)
        if self.kernel.isotropic:
            u_new = self._rotate_isotropic(v1, v2, dt, vbar)
        else:
            u_new = self._rotate_substeps(v1, v2, dt, vbar)
        v[i] = cen + 0.5 * u_new
        v[j] = cen - 0.5 * u_new
        return v

    def _step_isotropic_numba(self, v, i, j, dt, vbar):
        """:meth:`_rotate_isotropic` for all pairs by the numba kernels (same random numbers, same result)."""
        from . import _collision_kernels as ck
        from .geometry import degenerate_tolerance

        tol = degenerate_tolerance(v.dtype)
        vn, i_n, j_n = v.numpy(), i.numpy(), j.numpy()
        a = torch.from_numpy(ck.pair_speeds(vn, i_n, j_n, tol))
        ok = a > 0
        a_safe = torch.where(ok, a, torch.ones_like(a)).to(self.kernel.dtype)
        G, _, _ = self.kernel.gains(a_safe, a_safe, torch.zeros_like(a_safe))
        G = torch.where(ok, G.detach().to(torch.float64), torch.zeros_like(a))
        x = 1 - torch.rand(a.shape, generator=self.gen, dtype=torch.float64)
        phi = 2 * math.pi * torch.rand(a.shape, generator=self.gen, dtype=torch.float64)
        vb = (vbar if vbar is not None else torch.zeros(3, dtype=torch.float64)).to(torch.float64).numpy()
        ck.turn_pairs(vn, i_n, j_n, vb, G.numpy(), float(dt), x.numpy(), phi.numpy(), tol)
        return v

    def _rotate_isotropic(self, v1, v2, dt, vbar):
        """``omega = G P``: the direction of ``u`` diffuses on the sphere with ``D = 4 G/|u|^2``.

        Only the even moments of the direction of ``u`` reach the one-particle
        distribution (the pair's two particles are ``c +- u/2``), the lowest
        being the quadrupole, whose mean-field change in ``dt`` is
        ``-6 D dt`` (to first order, averaged over partners). The new
        direction is drawn from the von Mises-Fisher law with
        ``<P_2(cos chi)> = 1 - 6 D dt`` exactly, or uniformly where
        ``6 D dt >= 1`` (a pair cannot relax further: the random-batch error
        of the method, largest for Coulomb-like ``G ~ 1/u``).
        """
        fr = pair_frame(v1, v2, vbar)
        G, _, _ = self.kernel.frame_gains(fr)
        return self._vmf(fr, G, dt, v1 - v2)

    def _vmf(self, fr, G, dt, u_old):
        """The von Mises-Fisher turn of :meth:`_rotate_isotropic` for frames ``fr`` and gains ``G``."""
        a = torch.where(fr.ok_u, fr.a, torch.ones_like(fr.a))
        tau = 4 * G.clamp_min(0) * dt / (a * a)
        kappa = _kappa_quadrupole(2 * tau)
        x = 1 - torch.rand(tau.shape, generator=self.gen, dtype=a.dtype)            # (0, 1]
        small = kappa < 1e-6
        ks = torch.where(small, torch.ones_like(kappa), kappa)
        w = torch.where(small, 2 * x - 1, 1 + torch.log(x + (1 - x) * torch.exp(-2 * ks)) / ks)
        w = w.clamp(-1, 1)
        phi = 2 * math.pi * torch.rand(tau.shape, generator=self.gen, dtype=a.dtype)
        sw = torch.sqrt((1 - w * w).clamp_min(0))
        d = (w[:, None] * fr.uh + (sw * torch.cos(phi))[:, None] * fr.rt + (sw * torch.sin(phi))[:, None] * fr.st)
        u_new = fr.a[:, None] * d / d.norm(dim=-1, keepdim=True)
        return torch.where(fr.ok_u[:, None], u_new, u_old)

    def _rotate_substeps(self, v1, v2, dt, vbar):
        """General kernels: Gaussian steps in the plane orthogonal to ``u``, renormalised.

        A pair that would turn by more than ``angle`` takes
        ``n = ceil(8 tr(omega) dt / (|u|^2 angle^2))`` sub-steps, evaluating the
        gains again at each (``s`` changes as ``u`` turns; ``|u|`` and ``r`` do
        not). Pairs that would need more than :attr:`max_substeps` turn by
        many radians in ``dt``: their direction is close to uniform whatever
        the anisotropy, and they take the von Mises-Fisher turn of the
        isotropic kernel ``(G_r + G_s)/2`` (:meth:`_rotate_isotropic`).
        """
        cen = 0.5 * (v1 + v2)
        u = v1 - v2
        fr = pair_frame(v1, v2, vbar)
        Gr, Gs, _ = self.kernel.frame_gains(fr)
        a = torch.where(fr.ok_u, fr.a, torch.ones_like(fr.a))
        lam = 8 * (Gr + Gs).clamp_min(0) / (a * a)
        need = torch.ceil(lam * dt / self.angle ** 2)
        big = fr.ok_u & (need > self.max_substeps)
        if bool(big.any()):
            idx = torch.nonzero(big)[:, 0]
            sub = _select(fr, idx)
            u[idx] = self._vmf(sub, 0.5 * (Gr[idx] + Gs[idx]), dt, u[idx])
        n = torch.where(fr.ok_u & ~big, need.clamp_min(1), torch.zeros_like(need)).long()
        for k in range(int(n.max()) if n.numel() else 0):
            act = torch.nonzero(n > k)[:, 0]
            h = (dt / n[act]).to(u.dtype)
            ua, ca = u[act], cen[act]
            fa = pair_frame(ca + 0.5 * ua, ca - 0.5 * ua, vbar)
            Gr, Gs, dGr = self.kernel.frame_gains(fa, ds=True)
            avg = 0.5 * (Gr + Gs)
            Gr, Gs = torch.where(fa.ok_s, Gr, avg).clamp_min(0), torch.where(fa.ok_s, Gs, avg).clamp_min(0)
            z = torch.randn(act.numel(), 2, generator=self.gen, dtype=u.dtype)
            sh = torch.sqrt(8 * h)
            du = (sh * Gr.sqrt() * z[:, 0])[:, None] * fa.rt + (sh * Gs.sqrt() * z[:, 1])[:, None] * fa.st
            aa = torch.where(fa.ok_u, fa.a, torch.ones_like(fa.a))
            s = torch.where(fa.ok_s, fa.s, torch.ones_like(fa.s))
            tang = torch.where(fa.ok_s, fa.c / aa * ((Gs - Gr) / s - dGr), torch.zeros_like(aa))
            w = ua + du + (4 * h * tang)[:, None] * fa.rt
            nw = w.norm(dim=-1, keepdim=True)
            u[act] = w * (fa.a[:, None] / torch.where(nw > 0, nw, torch.ones_like(nw)))
        return u

    # -- time step ------------------------------------------------------------------
    @torch.no_grad()
    def auto_dt(self, v: torch.Tensor, n_pairs: int = 20_000) -> float:
        """``angle^2 / median(8 tr(omega)/|u|^2)`` over random pairs of ``v`` (time units)."""
        N = v.shape[0]
        if N < 2:
            return math.inf
        gen = torch.Generator().manual_seed(12345)
        i = torch.randint(0, N, (n_pairs,), generator=gen)
        j = (i + torch.randint(1, N, (n_pairs,), generator=gen)) % N
        vbar = v.mean(0)
        fr = pair_frame(v[i], v[j], vbar)
        Gr, Gs, _ = self.kernel.frame_gains(fr)
        ok = fr.ok_u
        rate = 8 * (Gr + Gs)[ok].clamp_min(0) / fr.a[ok] ** 2
        med = float(rate.median()) if rate.numel() else 0.0
        return self.angle ** 2 / med if med > 0 else math.inf

    # -- rollout -------------------------------------------------------------------------
    def rollout(self, v0, times, *, callback=None) -> np.ndarray:
        """Particles at ``times`` starting from ``v0`` at ``times[0]``.

        Parameters
        ----------
        v0 : array, shape (N, 3)
            Initial velocities (data units).
        times : array, shape (T,)
            Increasing output times (time units); ``times[0]`` is the start.
        callback : callable, optional
            ``callback(k, v)`` after output frame ``k`` is reached.

        Returns
        -------
        ndarray, shape (T, N, 3)
            Velocities (the solver's precision).
        """
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) <= 0):
            raise ValueError("times must be a non-empty increasing 1-D array")
        v = torch.as_tensor(np.asarray(v0), dtype=self.dtype).clone()
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"v0 must have shape (N, 3), got {tuple(v.shape)}")
        vbar = v.mean(0)
        dt_max = self.dt if self.dt is not None else self.auto_dt(v)
        self.dt_, self.steps_ = dt_max, 0
        out = np.empty((times.size,) + tuple(v.shape), dtype=np.float64 if self.dtype == torch.float64
                       else np.float32)
        out[0] = v.numpy()
        if callback is not None:
            callback(0, v)
        for k in range(1, times.size):
            span = times[k] - times[k - 1]
            n = max(1, int(math.ceil(span / dt_max - 1e-9))) if math.isfinite(dt_max) else 1
            for _ in range(n):
                self.step(v, span / n, vbar)
            self.steps_ += n
            out[k] = v.numpy()
            if callback is not None:
                callback(k, v)
        return out


def _langevin_over_kappa(k: torch.Tensor) -> torch.Tensor:
    """``(coth k - 1/k)/k``, stable at small and large ``k`` (1/3 at 0)."""
    ks = k.clamp_min(1e-300)
    tiny = ks < 1e-3
    t = torch.tanh(ks)
    return torch.where(tiny, 1 / 3 - ks * ks / 45, (1 / t - 1 / ks) / ks)


def _dlangevin_over_kappa(k: torch.Tensor) -> torch.Tensor:
    """Derivative of :func:`_langevin_over_kappa` (negative)."""
    ks = k.clamp_min(1e-300)
    tiny = ks < 1e-3
    t = torch.tanh(ks)
    L = 1 / t - 1 / ks
    dL = 1 / (ks * ks) - (1 / (t * t) - 1)
    return torch.where(tiny, -2 * ks / 45, (dL * ks - L) / (ks * ks))


_KAPPA_TABLE: dict = {}


def _kappa_table(dtype):
    """``(g, kappa)`` on ``kappa in [0, 12]`` for interpolation (``g`` increasing)."""
    if dtype not in _KAPPA_TABLE:
        k = torch.linspace(12.0, 0.0, 4001, dtype=torch.float64)
        _KAPPA_TABLE[dtype] = (_langevin_over_kappa(k).to(dtype), k.to(dtype))
    return _KAPPA_TABLE[dtype]


def _kappa_quadrupole(g: torch.Tensor) -> torch.Tensor:
    """``kappa`` of the von Mises-Fisher law with ``<P_2> = 1 - 3 g``, i.e. ``(coth k - 1/k)/k = g``.

    ``g >= 1/3`` gives 0 (uniform directions); ``g -> 0`` gives ``k ~ 1/g``.
    Large ``k`` (``g < 0.08``, ``k > 11``): ``coth k = 1`` to 1e-9, so
    ``k = (1 + sqrt(1 - 4 g)) / (2 g)``; otherwise a table on ``[0, 12]``
    interpolated and polished by two Newton steps.
    """
    g = g.clamp_min(0)
    uniform = g >= 1 / 3
    gs = torch.where(g > 0, g, torch.ones_like(g))
    k_big = (1 + torch.sqrt((1 - 4 * gs).clamp_min(0))) / (2 * gs)
    tg, tk = _kappa_table(g.dtype)
    idx = torch.searchsorted(tg, gs.clamp(float(tg[0]), float(tg[-1])).contiguous()).clamp(1, tg.numel() - 1)
    g0, g1, k0, k1 = tg[idx - 1], tg[idx], tk[idx - 1], tk[idx]
    k = k0 + (gs - g0) * (k1 - k0) / (g1 - g0)
    for _ in range(2):
        k = (k - (_langevin_over_kappa(k) - gs) / _dlangevin_over_kappa(k)).clamp_min(0)
    k = torch.where(gs < 0.08, k_big, k)
    k = torch.where(g <= 0, torch.full_like(g, math.inf), k)
    return torch.where(uniform, torch.zeros_like(g), k)
