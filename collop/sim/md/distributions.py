"""Initial velocity distributions of the MD runs (Zhao et al., Appendix C and Fig. 2).

Every sampler draws velocities in units of the thermal speed
``v_th = sqrt(k_B T / m)`` (the paper gives the forms without their units or,
for most, their parameters; the defaults below are collop's choices). Then
:func:`sample` shifts the sample to zero mean and rescales it by one factor so
that its kinetic temperature is exactly the set one,
``sum |v|^2 / (3 N) = v_th^2``; the shape (and any anisotropy) is kept.

=====================  =====  ==================================================
name                   paper  density (``v`` in ``v_th`` before standardising)
=====================  =====  ==================================================
``maxwellian``         --     ``exp(-|v|^2 / 2)`` (equilibrium; for checks)
``uniform``            C1a    ``U[-sqrt(3) s, sqrt(3) s]^3`` with ``s = 1``
``bimaxwellian``       C1b    ``prod_i exp(-v_i^2 / (2 T_i))``, ``T = (2, 1/2, 1/2)``
``double_well``        C1c    ``prod_i [a1 N(v_i; +b1, s1^2) + a2 N(v_i; -b2, s2^2)]``
``trimodal``           C2a    ``rho^2 e^{-rho^2} g(theta) f_eq(v_3)`` in the v1-v2 plane
``chi2``               C2b    ``|v|^2 exp(-|v|^2 / (2 sigma^2))``, ``sigma^2 = 3/5``
``radial_oscillation`` C2c    ``exp(-alpha w^2) cos^2(w^2)``, ``w = |v| / v0``
``bkw``                Fig.2  BKW solution at ``K = K0`` (see :func:`bkw`)
=====================  =====  ==================================================

Where the paper leaves a choice:

* C1b: the paper gives ``sigma_i`` without values; the default temperatures
  ``(2, 1/2, 1/2)`` (``T_par / T_perp = 4``) give a clear anisotropy relaxation,
  the classic process on which Landau's time scale ``c0`` is fitted.
* C1c: the training set is the *symmetric* double well (``a1 = a2``, ``b1 = b2``,
  ``s1 = s2``); defaults ``b = 0.9``, ``s = 0.45`` in every component (eight
  Gaussian blobs, four in the v1-v2 plane).
* C2a: ``N(2 n pi / 3, 1/16)`` is read as mean and *variance*, so the angular
  peaks have standard deviation 1/4 rad; ``rho = |v_12|`` and ``v_3`` are in
  ``v_th`` so that each in-plane component, like ``v_3``, has variance 1.
* C2b: ``sigma^2 = 3/5`` gives the set temperature before any rescaling.
* C2c: ``alpha = 1/2``; the unit ``v0`` of the oscillation is fixed by the
  rescaling to the set temperature (rings at ``w^2 = 0, pi, 2 pi, ...``).
* BKW: ``f = (2 pi K)^{-3/2} e^{-|v|^2/2K} [(5K-3)/(2K) + (1-K)|v|^2/(2K^2)]``,
  the Bobylev-Krook-Wu solution for Maxwell molecules at unit temperature,
  ``K = 1 - exp(-t/6)``. At ``K = 3/5`` (a start often used, ``t = 5.5``) it is
  the C2b density exactly; the default ``K0 = 0.7`` (``t = 7.2``: 36% Maxwellian
  and 64% of the C2b shape with ``sigma^2 = K0``) keeps the two runs distinct.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .system import MDError

__all__ = ["Distribution", "DISTRIBUTIONS", "sample", "standardise", "resolve_params"]


@dataclass(frozen=True)
class Distribution:
    """A named initial velocity distribution.

    Parameters
    ----------
    name : str
        Key in :data:`DISTRIBUTIONS`.
    label : str
        The paper's equation (``"C1a"`` ...), or ``"--"``.
    sampler : callable
        ``sampler(n, rng, **params) -> ndarray (n, 3)`` in ``v_th`` (before
        :func:`standardise`).
    defaults : dict
        Default parameters (all parameters the sampler takes).
    """

    name: str
    label: str
    sampler: Callable
    defaults: dict


def _per_component(x, what):
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        a = None
    if a is not None and a.ndim == 0:
        a = np.full(3, float(a))
    if a is None or a.shape != (3,) or not np.all(np.isfinite(a)):
        raise MDError(f"{what} must be a finite number or 3 numbers, got {x!r}")
    return a


def maxwellian(n, rng):
    """Isotropic Maxwellian of unit temperature."""
    return rng.standard_normal((n, 3))


def uniform(n, rng):
    """C1a: ``U[-sqrt(3), sqrt(3)]^3`` (unit variance per component)."""
    s = math.sqrt(3.0)
    return rng.uniform(-s, s, (n, 3))


def bimaxwellian(n, rng, temperatures=(2.0, 0.5, 0.5)):
    """C1b: independent Gaussians of variances ``temperatures`` (in ``T``)."""
    t = _per_component(temperatures, "temperatures")
    if np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise MDError(f"bimaxwellian temperatures must be positive, got {list(t)}")
    return rng.standard_normal((n, 3)) * np.sqrt(t)


def double_well(n, rng, b1=0.9, b2=0.9, sigma1=0.45, sigma2=0.45, alpha1=0.5, alpha2=0.5):
    """C1c: per component, weight ``alpha1`` on ``N(+b1, sigma1^2)`` and ``alpha2`` on ``N(-b2, sigma2^2)``.

    Each parameter is a number (all components) or 3 numbers; weights are
    normalised per component.
    """
    b1, b2 = _per_component(b1, "b1"), _per_component(b2, "b2")
    s1, s2 = _per_component(sigma1, "sigma1"), _per_component(sigma2, "sigma2")
    a1, a2 = _per_component(alpha1, "alpha1"), _per_component(alpha2, "alpha2")
    if np.any(s1 <= 0) or np.any(s2 <= 0):
        raise MDError("double_well widths sigma1, sigma2 must be positive")
    if np.any(a1 < 0) or np.any(a2 < 0) or np.any(a1 + a2 <= 0):
        raise MDError("double_well weights alpha1, alpha2 must be non-negative, not both zero")
    first = rng.random((n, 3)) < a1 / (a1 + a2)
    z = rng.standard_normal((n, 3))
    return np.where(first, b1 + s1 * z, -b2 + s2 * z)


def trimodal(n, rng, theta_variance=1.0 / 16.0):
    """C2a: three angular peaks at ``2 n pi / 3`` in the v1-v2 plane, Maxwellian ``v_3``.

    In-plane density ``rho^2 exp(-rho^2) g(theta)`` (``rho = |v_12|``): the
    area element ``rho d rho d theta`` makes ``rho^2 ~ Gamma(2, 1)``;
    ``g = sum_n N(2 n pi / 3, theta_variance)``.
    """
    if not theta_variance > 0:
        raise MDError(f"trimodal theta_variance must be positive, got {theta_variance!r}")
    rho = np.sqrt(rng.gamma(2.0, 1.0, n))
    theta = 2.0 * math.pi * rng.integers(1, 4, n) / 3.0 + math.sqrt(theta_variance) * rng.standard_normal(n)
    return np.stack([rho * np.cos(theta), rho * np.sin(theta), rng.standard_normal(n)], axis=1)


def _isotropic(speed, rng):
    d = rng.standard_normal((speed.size, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * speed[:, None]


def chi2(n, rng, sigma2=0.6):
    """C2b: ``|v|^2 exp(-|v|^2 / (2 sigma2))``; ``|v|^2 / sigma2`` is chi-squared, 5 degrees of freedom."""
    if not sigma2 > 0:
        raise MDError(f"chi2 sigma2 must be positive, got {sigma2!r}")
    return _isotropic(np.sqrt(sigma2 * rng.chisquare(5, n)), rng)


def radial_oscillation(n, rng, alpha=0.5):
    """C2c: ``exp(-alpha w^2) cos^2(w^2)`` in ``w = |v| / v0`` (``v0`` set by the rescaling).

    Rejection sampling: Gaussian proposals of variance ``1 / (2 alpha)`` per
    component, accepted with probability ``cos^2(w^2)`` (about one in two),
    in vectorised rounds.
    """
    if not alpha > 0:
        raise MDError(f"radial_oscillation alpha must be positive, got {alpha!r}")
    out, have = np.empty((n, 3)), 0
    while have < n:
        m = int(1.2 * 2 * (n - have)) + 16
        w = rng.standard_normal((m, 3)) / math.sqrt(2.0 * alpha)
        keep = w[rng.random(m) < np.cos(np.sum(w * w, axis=1)) ** 2]
        k = min(keep.shape[0], n - have)
        out[have:have + k] = keep[:k]
        have += k
    return out


def bkw(n, rng, K0=0.7):
    """BKW initial condition at ``K = K0`` (3/5 <= K0 <= 1), unit temperature.

    A mixture: weight ``(5K-3)/(2K)`` on a Maxwellian of variance ``K``, the
    rest on ``|v|^2 e^{-|v|^2/2K}`` (``|v|^2 / K`` chi-squared, 5 degrees of freedom).
    """
    if not 0.6 <= K0 <= 1.0:
        raise MDError(f"bkw K0 must lie in [3/5, 1] (positivity), got {K0!r}")
    w1 = (5.0 * K0 - 3.0) / (2.0 * K0)
    gauss = rng.random(n) < w1
    v = _isotropic(np.sqrt(K0 * rng.chisquare(5, n)), rng)
    v[gauss] = math.sqrt(K0) * rng.standard_normal((int(gauss.sum()), 3))
    return v


def _defaults(fn) -> dict:
    import inspect

    return {k: (list(p.default) if isinstance(p.default, tuple) else p.default)
            for k, p in inspect.signature(fn).parameters.items() if k not in ("n", "rng")}


DISTRIBUTIONS = {d.name: d for d in (
    Distribution("maxwellian", "--", maxwellian, _defaults(maxwellian)),
    Distribution("uniform", "C1a", uniform, _defaults(uniform)),
    Distribution("bimaxwellian", "C1b", bimaxwellian, _defaults(bimaxwellian)),
    Distribution("double_well", "C1c", double_well, _defaults(double_well)),
    Distribution("trimodal", "C2a", trimodal, _defaults(trimodal)),
    Distribution("chi2", "C2b", chi2, _defaults(chi2)),
    Distribution("radial_oscillation", "C2c", radial_oscillation, _defaults(radial_oscillation)),
    Distribution("bkw", "Fig. 2", bkw, _defaults(bkw)),
)}
"""The distributions by name."""


def resolve_params(name: str, params: dict | None = None) -> dict:
    """The full parameter set of distribution ``name``: its defaults updated by ``params``.

    Raises
    ------
    MDError
        Unknown distribution or parameter.
    """
    if name not in DISTRIBUTIONS:
        raise MDError(f"unknown velocity distribution {name!r}; expected one of "
                      f"{', '.join(DISTRIBUTIONS)}")
    d = DISTRIBUTIONS[name]
    params = dict(params or {})
    bad = sorted(set(params) - set(d.defaults))
    if bad:
        allowed = ", ".join(d.defaults) or "none"
        raise MDError(f"unknown parameter(s) {', '.join(bad)} of distribution {name!r} "
                      f"(parameters: {allowed})")
    return {**d.defaults, **params}


def standardise(v: np.ndarray) -> np.ndarray:
    """Shift ``v`` (n, 3) to zero mean and scale it so that ``mean |v|^2 = 3`` (unit temperature)."""
    v = np.asarray(v, dtype=float)
    v = v - v.mean(axis=0)
    return v * math.sqrt(3.0 / np.mean(np.sum(v * v, axis=1)))


def sample(name: str, n: int, rng: np.random.Generator, **params) -> np.ndarray:
    """``n`` velocities (``v_th``, shape (n, 3)) of distribution ``name``, standardised.

    The sample has zero mean and kinetic temperature exactly 1
    (``sum |v|^2 = 3 n``); see :func:`standardise`.

    Parameters
    ----------
    name : str
        A key of :data:`DISTRIBUTIONS`.
    n : int
        Number of velocities (>= 2).
    rng : numpy.random.Generator
        Source of randomness.
    **params
        The distribution's parameters (see its sampler).
    """
    if int(n) < 2:
        raise MDError(f"need at least 2 velocities, got {n}")
    p = resolve_params(name, params)
    v = DISTRIBUTIONS[name].sampler(int(n), rng, **p)
    return standardise(v)
