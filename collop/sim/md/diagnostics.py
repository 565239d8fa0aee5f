"""Checks of MD velocity data: distance to the Maxwellian, its sampling floor, temperatures, energy drift.

Velocities are in ``v_th`` of the set temperature, so the equilibrium is the
standard normal in each component.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

__all__ = ["DEFAULT_EDGES", "maxwellian_distance", "maxwellian_distance_floor", "temperatures",
           "energy_drift"]

DEFAULT_EDGES = np.linspace(-4.0, 4.0, 21)
"""Bin edges (``v_th``) of :func:`maxwellian_distance`: 20 bins of 0.4."""


def _bin_probabilities(edges, temperature=1.0):
    cdf = ndtr(np.asarray(edges, dtype=float) / math.sqrt(temperature))
    p = np.diff(cdf)
    return p, 1.0 - p.sum()  # in-range bins, and the mass outside [edges[0], edges[-1]]


def maxwellian_distance(v, edges=DEFAULT_EDGES, temperature: float = 1.0) -> float:
    """Mean over components of the L1 distance between the binned marginal and the Maxwellian.

    Parameters
    ----------
    v : array_like, shape (N, C)
        Velocities (``v_th``).
    edges : array_like
        Bin edges (``v_th``); mass outside them forms one more bin.
    temperature : float
        Temperature of the Maxwellian (in the set ``T``; variance per component).

    Returns
    -------
    float
        ``D = (1/C) sum_c sum_b |n_cb / N - p_b|`` over the bins and the
        outside bin, with ``p_b`` the Maxwellian's probability of bin b. ``D``
        lies in [0, 2]; a sample of the Maxwellian gives
        :func:`maxwellian_distance_floor` on average.
    """
    v = np.asarray(v, dtype=float)
    n = v.shape[0]
    p, p_out = _bin_probabilities(edges, temperature)
    d = 0.0
    for c in range(v.shape[1]):
        counts, _ = np.histogram(v[:, c], bins=edges)
        out = n - counts.sum()
        d += np.abs(counts / n - p).sum() + abs(out / n - p_out)
    return float(d / v.shape[1])


def maxwellian_distance_floor(n: int, edges=DEFAULT_EDGES) -> tuple[float, float]:
    """Mean and standard deviation of :func:`maxwellian_distance` for ``n`` Maxwellian velocities.

    Normal approximation of each bin count (``n p`` large): ``E|p_hat - p| =
    sqrt(2 p (1-p) / (pi n))`` and ``Var|p_hat - p| = (1 - 2/pi) p (1-p) / n``;
    bins treated as independent and the C components averaged (so the standard
    deviation of the mean over 3 independent components is divided by sqrt(3)).
    """
    p, p_out = _bin_probabilities(edges)
    q = np.append(p, p_out)
    var = q * (1.0 - q) / n
    mean = float(np.sum(np.sqrt(2.0 * var / math.pi)))
    sd = float(math.sqrt(np.sum((1.0 - 2.0 / math.pi) * var)) / math.sqrt(3.0))
    return mean, sd


def temperatures(v) -> np.ndarray:
    """Kinetic temperature of each component, ``<(v_c - <v_c>)^2>`` (in ``T``), shape (..., C)."""
    v = np.asarray(v, dtype=float)
    return np.var(v, axis=-2)


def energy_drift(kinetic, potential) -> np.ndarray:
    """``max_t |E(t) - E(0)| / K(0)`` along the last axis, ``E = K + U`` (per-ion energies).

    The drift is measured against the initial kinetic energy ``K(0) = 3/2 k_B T``
    per ion, not against ``|E|``: the OCP's total energy with the background
    is close to zero at ``Gamma ~ 2`` (about -0.07 k_B T per ion at 2.3), so
    ``|E|`` is no scale.
    """
    k, u = np.asarray(kinetic, dtype=float), np.asarray(potential, dtype=float)
    e = k + u
    return np.max(np.abs(e - e[..., :1]), axis=-1) / k[..., 0]
