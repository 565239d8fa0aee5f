"""Runge-Kutta-Legendre (RKL2) super-time-stepping: coefficients, amplification factor, stage counts.

Meyer, Balsara & Aslam (2012, MNRAS 422, 2102; 2014, J. Comput. Phys. 257,
594). An ``s``-stage RKL2 step of length ``tau`` for ``df/dt = L f`` is the
recurrence

.. math::
    Y_0 &= f^n, \\qquad Y_1 = Y_0 + \\tilde\\mu_1 \\tau L Y_0, \\\\
    Y_j &= \\mu_j Y_{j-1} + \\nu_j Y_{j-2} + (1 - \\mu_j - \\nu_j) Y_0
           + \\tilde\\mu_j \\tau L Y_{j-1} + \\tilde\\gamma_j \\tau L Y_0
           \\quad (2 \\le j \\le s), \\qquad f^{n+1} = Y_s,

with ``w_1 = 4 / (s^2 + s - 2)``, ``b_0 = b_1 = b_2 = 1/3``,
``b_j = (j^2 + j - 2) / (2 j (j + 1))``, ``a_j = 1 - b_j``,
``mu~_1 = b_1 w_1``, ``mu_j = (2j - 1)/j  b_j / b_{j-1}``,
``nu_j = -(j - 1)/j  b_j / b_{j-2}``, ``mu~_j = mu_j w_1`` and
``gamma~_j = -a_{j-1} mu~_j``. Its amplification factor is

.. math:: R_s(z) = a_s + b_s P_s(1 + w_1 z),

with ``P_s`` the Legendre polynomial: second order in ``z = tau lambda``,
``|R_s| <= 1`` on the real interval ``-(s^2 + s - 2)/2 <= z <= 0``, so ``s``
stages (``s`` applications of ``L``) cover ``(s^2 + s - 2)/4`` forward-Euler
steps of a diffusion problem. Every stage is a combination of states whose
weights sum to one plus flux-form tendencies, so ``sum f`` is conserved to
round-off.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MIN_STAGES", "rkl2_coefficients", "rkl2_amplification", "rkl2_real_extent", "STAGE_CHOICES"]

MIN_STAGES = 2
#: Stage counts considered when choosing a plan (cost grows linearly, reach quadratically).
STAGE_CHOICES = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40)


def _b(j: np.ndarray) -> np.ndarray:
    j = np.asarray(j, dtype=np.float64)
    return np.where(j < 2, 1.0 / 3.0, (j * j + j - 2) / (2 * np.maximum(j, 1) * (j + 1)))


def rkl2_coefficients(s: int) -> np.ndarray:
    """Stage coefficients of an ``s``-stage RKL2 step.

    Parameters
    ----------
    s : int
        Stages, ``s >= 2``.

    Returns
    -------
    ndarray, shape (s + 1, 4)
        Row ``j`` is ``(mu_j, nu_j, mu~_j, gamma~_j)`` (dimensionless); row 1
        holds ``(1, 0, mu~_1, 0)`` and row 0 is unused (zeros).
    """
    s = int(s)
    if s < MIN_STAGES:
        raise ValueError(f"RKL2 needs at least {MIN_STAGES} stages, got {s}")
    w1 = 4.0 / (s * s + s - 2)
    c = np.zeros((s + 1, 4))
    c[1] = (1.0, 0.0, _b(1) * w1, 0.0)
    for j in range(2, s + 1):
        bj, bj1, bj2 = _b(j), _b(j - 1), _b(j - 2)
        mu = (2 * j - 1) / j * bj / bj1
        nu = -(j - 1) / j * bj / bj2
        c[j] = (mu, nu, mu * w1, -(1.0 - bj1) * mu * w1)
    return c


def rkl2_amplification(z, s: int):
    """``R_s(z)``: the factor by which one ``s``-stage RKL2 step multiplies an eigenmode.

    Evaluated by running the stage recurrence on the scalar ``z = tau
    lambda`` (complex arrays broadcast), so it is the integrator's own
    factor, equal to ``a_s + b_s P_s(1 + w_1 z)``.
    """
    z = np.asarray(z)
    c = rkl2_coefficients(s)
    y0 = np.ones_like(z, dtype=np.result_type(z, np.float64))
    y1 = y0 + c[1, 2] * z
    ym2, ym1 = y0, y1
    for j in range(2, int(s) + 1):
        mu, nu, mut, gat = c[j]
        y = mu * ym1 + nu * ym2 + (1 - mu - nu) * y0 + mut * z * ym1 + gat * z * y0
        ym2, ym1 = ym1, y
    return ym1


def rkl2_real_extent(s: int) -> float:
    """Length of the real stability interval of ``s`` stages, ``(s^2 + s - 2) / 2`` (in ``tau |lambda|``)."""
    s = int(s)
    return (s * s + s - 2) / 2.0
