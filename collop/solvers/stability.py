"""Forward-Euler sub-step counts that keep each frame's stencil stable."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from . import _kernels as _k
from .autograd import _use_kernel
from .discretisation import stencil_offsets, stencil_radius
from .rkl import STAGE_CHOICES, rkl2_amplification

__all__ = ["stable_substeps", "spectral_substeps", "ritz_values", "euler_amplification", "min_stable_counts",
           "rkl2_plan"]


def _rates_torch(W: torch.Tensor) -> np.ndarray:
    """Pure-torch :func:`._kernels.stability_rates`: per frame (Gershgorin rate, drift rate), (T, 2)."""
    T, K = W.shape[:2]
    r = stencil_radius(K)
    gersh = W.abs().sum(1).amax((-2, -1))
    drift = torch.zeros_like(gersh)
    if r == 1:
        pairs = [(W[:, km] - W[:, kp], W[:, km] + W[:, kp])       # (-1, 0)/(+1, 0), (0, -1)/(0, +1)
                 for km, kp in ((1, 7), (3, 5))]
    else:
        off = torch.as_tensor(stencil_offsets(r), dtype=W.dtype, device=W.device)[:, :, None, None]
        pairs = [((o * W).sum(1), (o * o * W).sum(1)) for o in (off[:, 0], off[:, 1])]
    for m1, m2 in pairs:
        denom = torch.maximum(m2, 0.1 * m1.abs())
        rate = torch.where(denom > 0, m1 * m1 / torch.where(denom > 0, denom, torch.ones_like(denom)),
                           torch.zeros_like(denom))
        drift = torch.maximum(drift, rate.amax((-2, -1)))
    rates = torch.stack([gersh, drift], -1).double().cpu().numpy()
    rates[~torch.isfinite(W).reshape(T, -1).all(1).cpu().numpy()] = np.nan
    return rates


def stable_substeps(W: torch.Tensor, dt, *, safety: float = 0.9, max_substeps: int = 10_000,
                    per_frame: bool = False, backend: str = "auto"):
    """Forward-Euler sub-steps per frame that keep every frame's operator stable.

    Parameters
    ----------
    W : Tensor, shape (T, K, N, M)
        Stencil weights of the frames (1 / time units), ``K = (2r + 1)**2``.
    dt : float or Tensor of shape (T,)
        Frame intervals (time units).
    safety : float
        Fraction of each bound that a sub-step may use (dimensionless, ``<= 1``).
    max_substeps : int
        Upper limit of the count.
    per_frame : bool
        Return each frame's own count, ``ndarray (T,)`` of int, instead of the
        largest one. The solver then sub-steps each frame only as finely as
        that frame needs.
    backend : {"auto", "numba", "torch"}
        ``auto``: the fused kernel for CPU float32/float64 stencils.

    Returns
    -------
    int or ndarray of int, shape (T,)
        Sub-steps ``n`` per frame (``dt_sub = dt / n``), at least 1. A frame
        with a non-finite weight gets 1, so the caller sees the non-finite
        result at once instead of paying for ``max_substeps``.

    Notes
    -----
    Two bounds per frame, the stricter wins; with ``w_k = W_k`` at one cell:

    * **Gershgorin.** The eigenvalues of the frame's operator lie in discs of
      centre ``w_0`` and radius ``R = sum_{k != 0} |w_k|``; Euler needs
      ``dt_sub (|w_0| + R) <= 2 safety`` at every cell. For pure diffusion this
      is exactly the von Neumann limit ``dt <= h^2 / (2 D)``. This holds for
      any radius.
    * **Centred drift.** Frozen-coefficient von Neumann analysis of one Euler
      sub-step at low wavenumber ``theta`` along an axis: the symbol of the
      stencil is

      .. math::
          \\lambda(\\theta) = \\sum_k w_k e^{i a_k \\theta}
          = m_0 + i\\,\\theta\\, m_1 - \\tfrac12 \\theta^2 m_2 + O(\\theta^3),
          \\qquad m_p = \\sum_k a_k^p w_k,

      and with ``m_0 = 0`` (a conservative operator) the amplification factor
      obeys ``|1 + dt_sub \\lambda|^2 = 1 - \\theta^2 (dt_sub m_2 - dt_sub^2 m_1^2)
      + O(\\theta^4)``. Long waves are damped only if

      .. math:: dt_{sub}\\, m_1^2 \\le m_2,

      a limit the Gershgorin bound misses when drift dominates (``|m_1|``
      large, ``m_2`` small). For the Fokker-Planck stencil ``m_1 = -A / h``
      and ``m_2 = D / h^2`` (``D`` as in ``1/2 div div(D f)``), i.e.
      ``dt_sub <= D / A^2``. The demand is capped beyond a cell Peclet number
      ``|A| h / D = 10``: ``m_2`` is replaced by ``max(m_2, 0.1 |m_1|)``,
      i.e. ``dt_sub <= h / (10 |A|)`` there. As ``D -> 0`` (e.g. early in
      training) no sub-step count makes centred drift strictly stable, and the
      cap keeps the growth per frame bounded. The rate ``m_1^2 / max(m_2, 0.1 |m_1|)``
      is evaluated along ``vx`` (offsets ``a_k``) and along ``vy`` (offsets
      ``b_k``) at every cell; Euler needs ``dt_sub * rate <= safety``. Long
      waves oblique to the axes are not checked separately.

      Which columns enter the moments: for ``r = 1`` only the axis neighbours,
      ``m_1 = W_+ - W_-`` and ``m_2 = W_+ + W_-`` (columns 7/1 along ``vx``,
      5/3 along ``vy``), as in every release so far, so Fokker-Planck counts
      are unchanged bit for bit; the diagonal ``D_xy`` columns that the full
      moments would add contribute only through differences of ``D_xy``
      between neighbouring cells. For ``r > 1`` the moments run over all
      columns, ``m_1 = sum_k a_k W_k`` and ``m_2 = sum_k a_k^2 W_k``: the
      symbol along ``vx`` involves every column, and a wide (kernel) stencil
      may carry its drift and diffusion off the axes.

    The count is ``n = ceil(max(dt G / (2 safety), dt rate / safety))`` per
    frame (``G`` the largest Gershgorin sum), clipped to ``[1, max_substeps]``.
    """
    T = W.shape[0]
    with torch.no_grad():
        dtt = torch.as_tensor(dt, dtype=torch.float64).expand(T).cpu().numpy()
        if backend != "torch" and _use_kernel(W, W):
            rates = _k.stability_rates(W.detach().contiguous().numpy())      # (T, 2)
        else:
            rates = _rates_torch(W.detach())
        if not np.isfinite(rates).all():
            return np.ones(T, dtype=np.int64) if per_frame else 1
        need = np.maximum(rates[:, 0] * dtt / (2.0 * safety), rates[:, 1] * dtt / safety)
    counts = np.clip(np.ceil(need), 1, max_substeps).astype(np.int64)
    return counts if per_frame else int(counts.max())


# --- spectral estimate ---------------------------------------------------------------------

def _distinct_frames(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the distinct frames of ``W (T, ...)`` and, per frame, its representative's position.

    Only runs of bit-identical consecutive frames are merged (a time-invariant
    operator repeats one stencil over every frame).
    """
    T = W.shape[0]
    if T == 1:
        return np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    new = np.ones(T, dtype=bool)
    new[1:] = ~np.all(W[1:] == W[:-1], axis=tuple(range(1, W.ndim)))
    reps = np.flatnonzero(new)
    return reps, np.cumsum(new) - 1


def _arnoldi_ritz(Wd: np.ndarray, m: int, v: np.ndarray) -> np.ndarray:
    """Ritz values of ``m`` Arnoldi steps for each frame's operator ``L_t`` (stencil ``Wd[t]``), batched.

    ``Wd (U, K, N, M)`` float64, start vectors ``v (U, N M)``; returns
    complex ``(U, m)``. Classical Gram-Schmidt applied twice; an exhausted
    Krylov space (e.g. the zero operator) pads with zero Ritz values.
    """
    H = _k.arnoldi_hessenberg(Wd, v, m)
    return np.linalg.eigvals(H[:, :m, :m])


@lru_cache(maxsize=8)
def _start_vectors(seed: int, U: int, n: int) -> np.ndarray:
    """The Arnoldi start vectors of ``U`` distinct frames of ``n`` cells (drawn once per process)."""
    v = np.random.default_rng(seed).standard_normal((U, n))
    v.flags.writeable = False
    return v


def ritz_values(W: torch.Tensor, dt, *, m: int = 16, seed: int = 0, frames=None) -> np.ndarray:
    """Estimates of the outer eigenvalues of each frame's operator, times the frame interval.

    Parameters
    ----------
    W : Tensor, shape (T, K, N, M)
        Stencils of the frames (1 / time units).
    dt : float or Tensor (T,)
        Frame intervals (time units).
    m : int
        Arnoldi steps per frame (the number of Ritz values).
    seed : int
        Seed of the random start vector (the same ``W`` always gives the same values).
    frames : array of bool, shape (T,), optional
        The frames to compute (default: all); the others get NaN. A frame's
        values do not depend on which others are computed.

    Returns
    -------
    ndarray of complex, shape (T, m)
        Ritz values ``z = dt * theta`` (dimensionless). Frames with a
        non-finite weight get NaN.

    Notes
    -----
    ``m`` steps of the Arnoldi process on ``L_t`` from a random start vector
    with zero sum give the eigenvalues ``theta`` of the ``m x m`` Hessenberg
    matrix. They converge first to the eigenvalues on the outside of the
    spectrum, which are the ones that limit an explicit step. Runs of
    identical consecutive frames are computed once.
    """
    T = W.shape[0]
    with torch.no_grad():
        dtt = torch.as_tensor(dt, dtype=torch.float64).expand(T).cpu().numpy()
        Wn = W.detach().cpu().numpy()
    reps, where = _distinct_frames(Wn)
    out = np.full((reps.size, m), np.nan, dtype=complex)
    # one start vector per distinct frame, drawn for all of them, so that a frame's values do
    # not depend on which others are computed
    v0 = _start_vectors(seed, reps.size, Wn[0, 0].size)
    want = np.ones(reps.size, dtype=bool) if frames is None else \
        np.bincount(where, weights=np.asarray(frames, dtype=float), minlength=reps.size)[:reps.size] > 0
    idx = np.flatnonzero(want)
    if idx.size:
        Wd = Wn[reps[idx]].astype(np.float64) * dtt[reps[idx], None, None, None]
        good = np.isfinite(Wd).reshape(idx.size, -1).all(1)
        if good.any():
            out[idx[good]] = _arnoldi_ritz(np.ascontiguousarray(Wd[good]), m, v0[idx[good]])
    return out[where]


def euler_amplification(z):
    """Amplification factor of one forward-Euler step, ``R(z) = 1 + z``."""
    return 1 + z


def spectral_substeps(W: torch.Tensor, dt, *, amplification=euler_amplification, margin: float = 1.1,
                      growth: float = 1e-4, m: int = 16, max_substeps: int = 10_000, seed: int = 0,
                      cap: np.ndarray | None = None, frames=None) -> np.ndarray:
    """Sub-steps per frame from the spectrum of each frame's operator.

    Parameters
    ----------
    W : Tensor, shape (T, K, N, M)
        Stencils of the frames (1 / time units).
    dt : float or Tensor (T,)
        Frame intervals (time units).
    amplification : callable
        ``R(z)``: the factor by which one sub-step of the integrator
        multiplies an eigenmode with ``z = dt_sub * lambda`` (vectorised over
        complex arrays).
    margin : float
        Factor applied to the Ritz values (``>= 1``): they approach the
        outer eigenvalues from inside.
    growth : float
        Excess growth per frame allowed over the exact one, ``|R(z/n)|^n <=
        max(1, |exp(z)|) (1 + growth)`` (dimensionless).
    m : int
        Arnoldi steps per frame (:func:`ritz_values`).
    max_substeps : int
        Upper limit of the count.
    seed : int
        Seed of the Arnoldi start vector.
    cap : ndarray of int (T,), optional
        Per-frame upper limit (e.g. :func:`stable_substeps`, whose bound
        holds for every eigenvalue); frames capped at 1 are not estimated.
    frames : array of bool (T,), optional
        Estimate only these frames (the others get 1, or their ``cap``
        if lower); a frame's count does not depend on which others are
        estimated.

    Returns
    -------
    ndarray of int, shape (T,)
        The smallest ``n >= 1`` per frame for which every Ritz value ``z``
        (scaled by ``margin``) satisfies the growth condition above. Frames
        with a non-finite weight get 1.

    Notes
    -----
    A mode ``exp(lambda t)`` of the semi-discrete system ``df/dt = L f`` is
    multiplied by ``R(dt lambda / n)^n`` over a frame of ``n`` sub-steps,
    against ``exp(dt lambda)`` exactly. The condition asks that no mode grow
    by more than ``1 + growth`` per frame beyond its exact growth (modes with
    ``Re lambda > 0`` grow in the semi-discrete system itself; no sub-step
    count changes that). For forward Euler and ``Re z < 0`` it is close to
    ``n >= |z|^2 / (-2 Re z)``: the eigenvalues must lie in the disc
    ``|1 + z/n| <= 1``.
    """
    if cap is not None:
        frames = (np.asarray(cap) > 1) & (True if frames is None else np.asarray(frames, dtype=bool))
    if frames is not None and not np.asarray(frames).any():
        return np.ones(W.shape[0], dtype=np.int64)
    z = ritz_values(W, dt, m=m, seed=seed, frames=frames) * margin
    counts = min_stable_counts(z, amplification, growth=growth, max_substeps=max_substeps)
    if cap is not None:
        counts = np.minimum(counts, np.asarray(cap, dtype=np.int64))
    return np.maximum(counts, 1)


def min_stable_counts(z: np.ndarray, amplification=euler_amplification, *, growth: float = 1e-4,
                      max_substeps: int = 10_000) -> np.ndarray:
    """Smallest sub-step count per frame for which no estimated mode grows spuriously.

    Parameters
    ----------
    z : ndarray of complex, shape (T, m)
        Eigenvalue estimates times the frame interval (e.g. :func:`ritz_values`);
        rows with a non-finite value get 1.
    amplification : callable
        ``R(z)`` of one sub-step (vectorised over complex arrays).
    growth : float
        Allowed excess growth per frame, ``|R(z/n)|^n <= max(1, |exp(z)|) (1 + growth)``.
    max_substeps : int
        Upper limit of the count.

    Returns
    -------
    ndarray of int, shape (T,)
        Found by doubling then bisection, all frames in lock step.
    """
    T = z.shape[0]
    bad = ~np.isfinite(z).all(1)
    z = np.where(np.isfinite(z), z, 0.0)
    limit = np.log1p(growth) + np.maximum(z.real, 0.0) + 1e-12   # allowed log growth per frame

    def stable(n):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            logg = n[:, None] * np.log(np.abs(amplification(z / n[:, None])))
        return (logg <= limit).all(1) | bad

    hi = np.ones(T, dtype=np.int64)
    ok = stable(hi)
    while not ok.all() and hi.max() < max_substeps:
        hi = np.where(ok, hi, np.minimum(2 * hi, max_substeps))
        ok = stable(hi)
    lo = np.where(hi > 1, hi // 2, 0)                      # largest count known (or assumed) unstable
    while (hi - lo > 1).any():
        mid = np.where(hi - lo > 1, (lo + hi) // 2, hi)
        ok = stable(mid)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(bad, 1, hi).astype(np.int64)


def rkl2_plan(W: torch.Tensor, dt, *, n_substeps=None, margin: float = 1.1, growth: float = 1e-4,
              m: int = 16, seed: int = 0, stage_choices=STAGE_CHOICES, max_substeps: int = 10_000):
    """RKL2 sub-steps and stages per frame from the spectrum of each frame's operator.

    Parameters
    ----------
    W : Tensor, shape (T, K, N, M)
        Stencils of the frames (1 / time units).
    dt : float or Tensor (T,)
        Frame intervals (time units).
    n_substeps : int or array (T,), optional
        Fixed sub-steps per frame; then only the stages are chosen.
    margin, growth, m, seed, max_substeps
        As in :func:`spectral_substeps`.
    stage_choices : sequence of int
        Stage counts considered (each ``>= 2``).

    Returns
    -------
    counts, stages : ndarray of int, shape (T,) each
        Per frame the plan with the fewest applications of the operator,
        ``counts * stages``, among those whose amplification
        ``|R_s(z / n)|^n`` meets the growth condition of
        :func:`spectral_substeps` for every Ritz value ``z`` (scaled by
        ``margin``); ties go to fewer stages. With ``n_substeps`` the
        smallest stable stage count (the largest choice if none is stable).
    """
    z = ritz_values(W, dt, m=m, seed=seed) * margin
    T = z.shape[0]
    choices = [int(s) for s in stage_choices]
    if n_substeps is not None:
        n = np.broadcast_to(np.asarray(n_substeps, dtype=np.int64), (T,)).copy()
        stages = np.full(T, choices[-1], dtype=np.int64)
        found = np.zeros(T, dtype=bool)
        for s in choices:
            need = min_stable_counts(z, lambda x, s=s: rkl2_amplification(x, s), growth=growth,
                                     max_substeps=max_substeps)
            new = ~found & (need <= n)
            stages[new] = s
            found |= new
        return n, stages
    best_cost = np.full(T, np.iinfo(np.int64).max)
    counts = np.ones(T, dtype=np.int64)
    stages = np.full(T, choices[0], dtype=np.int64)
    for s in choices:
        need = min_stable_counts(z, lambda x, s=s: rkl2_amplification(x, s), growth=growth,
                                 max_substeps=max_substeps)
        better = need * s < best_cost
        best_cost = np.where(better, need * s, best_cost)
        counts = np.where(better, need, counts)
        stages = np.where(better, s, stages)
    return counts, stages
