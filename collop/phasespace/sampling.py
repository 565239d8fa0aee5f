"""Choosing the particles of a sub-population at its start frame (rejection sampling).

The particles at the start frame are a sample of some background
distribution; keeping each with a probability proportional to
``pdf(target) / background`` gives a sample of the target shape. The report
says how well the background covers the target.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..schema import CollopError

__all__ = ["CoverageWarning", "SamplingReport", "sample_population"]


class CoverageWarning(UserWarning):
    """The particles at the start frame do not cover a target population well."""




@dataclass
class SamplingReport:
    """How well the start-frame particles cover a target population.

    ``acceptance_rate = accepted / n_background``; ``ess`` is Kish's effective
    sample size ``(sum w)^2 / sum w^2`` of the importance weights
    ``w = pdf / background`` over all particles; ``clipped_fraction`` the target
    mass where ``w > threshold`` (under-represented); ``outside_fraction`` the
    target mass in velocity cells without particles.
    """

    name: str
    requested: int
    accepted: int
    n_background: int
    acceptance_rate: float
    ess: float
    ess_fraction: float
    clipped_fraction: float
    outside_fraction: float
    threshold: float
    warnings: list = field(default_factory=list)


def _background(v0):
    n = len(v0)
    nb = int(np.clip(round(np.sqrt(n) / 4), 4, 200))
    lo, hi = v0.min(axis=0), v0.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0) * (1 + 1e-9)
    counts = np.zeros(nb * nb, dtype=np.int64)

    def bins(v):
        i = np.floor((v - lo) / span * nb).astype(np.int64)
        ok = np.all((i >= 0) & (i < nb), axis=1)
        return np.where(ok, i[:, 0] * nb + i[:, 1], 0), ok

    b0, _ = bins(v0)
    counts += np.bincount(b0, minlength=nb * nb)
    return counts, bins, n * np.prod(span / nb)


def sample_population(v0, shape, n: int, seed=None, *, name: str | None = None,
                      min_count: int = 10, max_clipped: float = 1e-3):
    """Choose up to ``n`` of the particles ``v0`` so that they follow ``shape``.

    Parameters
    ----------
    v0 : ndarray, shape (N, 2)
        Velocities of the candidate particles at the start frame (velocity units).
    shape : shape object
        The target; its ``pdf`` is in 1/velocity_units**2.
    n : int
        Particles requested.
    seed : int, SeedSequence or numpy Generator
        Randomness (accept/reject draws, subset choice, support estimate).
    name : str, optional
        Population name for warnings (default ``repr(shape)``).
    min_count : int
        Histogram bins with fewer particles do not set the threshold ``M``.
    max_clipped : float
        ``M`` is the largest weight in bins with >= ``min_count`` particles,
        lowered until at most this target-mass fraction has ``w > M``. This keeps
        a singular or noisy ``w`` (e.g. a ring's 1/v at the origin) from
        setting a huge ``M``; 0 gives the plain maximum.

    Returns
    -------
    indices : ndarray of int
        Sorted indices into ``v0`` of the chosen particles.
    report : SamplingReport

    Notes
    -----
    Rejection sampling from the empirical background: ``bg`` is a 2D histogram
    density of ``v0`` (about sqrt(N)/4 bins per axis, at most 200), particle
    ``i`` has weight ``w_i = pdf(v_i) / bg(v_i)`` and is accepted once with
    probability ``min(1, w_i / M)``; a random ``n`` of the accepted are kept.
    Emits :class:`CoverageWarning` if fewer than ``n`` are accepted, the ESS is
    below ``n``, more than 5% of the target mass is clipped or more than 1%
    lies where there are no particles.
    """
    rng = np.random.default_rng(seed)
    v0 = np.asarray(v0, dtype=float)
    N = len(v0)
    name = repr(shape) if name is None else name
    if v0.ndim != 2 or v0.shape[1] != 2 or N == 0:
        raise CollopError(f"population {name!r}: need particle velocities of shape (N, 2), got {v0.shape}")
    counts, bins, norm = _background(v0)
    b, _ = bins(v0)
    w = shape.pdf(v0[:, 0], v0[:, 1]) / (counts[b] / norm)
    well = (counts[b] >= min_count) & (w > 0)
    wsum = w.sum()
    M = float(w[well].max()) if well.any() else float(w.max())
    if well.any() and max_clipped > 0 and wsum > 0:
        ws = np.sort(w[well])[::-1]
        over = np.cumsum(ws) / wsum  # target mass above ws[k] (inclusive)
        k = int(np.searchsorted(over, max_clipped, side="right"))
        M = float(ws[min(k, ws.size - 1)])
    if M > 0:
        acc = np.flatnonzero(rng.random(N) < w / M)
    else:
        acc = np.zeros(0, dtype=np.int64)
    if acc.size > n:
        acc = np.sort(rng.choice(acc, n, replace=False))
    ess = float(wsum ** 2 / np.sum(w ** 2)) if wsum > 0 else 0.0
    clipped = float(w[w > M].sum() / wsum) if wsum > 0 else 1.0
    ts = shape.sample(20000, rng)
    tb, tok = bins(ts)
    outside = float(np.mean(~tok | (counts[tb] == 0)))
    rep = SamplingReport(name, int(n), int(acc.size), N, acc.size / N, ess, ess / max(n, 1),
                         clipped, outside, M)
    if acc.size < n:
        rep.warnings.append(f"accepted {acc.size} of {n} requested particles")
    if ess < n:
        rep.warnings.append(f"effective sample size {ess:.4g} < {n} requested")
    if clipped > 0.05:
        rep.warnings.append(f"{100 * clipped:.3g}% of the target mass is under-covered (w > M)")
    if outside > 0.01:
        rep.warnings.append(f"{100 * outside:.3g}% of the target mass lies where there are no particles")
    if rep.warnings:
        warnings.warn(f"population {name!r} (from {N} particles): " + "; ".join(rep.warnings),
                      CoverageWarning, stacklevel=2)
    return acc, rep


