"""Published equation of state of the classical OCP liquid: the excess internal energy.

Potekhin & Chabrier, Phys. Rev. E 62, 8554 (2000), eq. (16), fit to the
Monte Carlo energies of DeWitt & Slattery (1999):

.. math::

    \\frac{U_{ex}}{N k_B T} = \\Gamma^{3/2}\\Big[\\frac{A_1}{\\sqrt{A_2 + \\Gamma}}
        + \\frac{A_3}{1 + \\Gamma}\\Big] + \\frac{B_1 \\Gamma^2}{B_2 + \\Gamma}
        + \\frac{B_3 \\Gamma^2}{B_4 + \\Gamma^2},\\qquad
    A_3 = -\\frac{\\sqrt3}{2} - \\frac{A_1}{\\sqrt{A_2}},

with ``A1 = -0.9070``, ``A2 = 0.62954``, ``B1 = 0.00456``, ``B2 = 211.6``,
``B3 = -1e-4``, ``B4 = 0.00462``. ``A3`` makes the small-``Gamma`` limit the
Debye-Hueckel ``-(sqrt(3)/2) Gamma^{3/2}``; the large-``Gamma`` slope ``A1`` is
close to the bcc Madelung constant -0.8959. The same form with the
coefficients refitted to Caillol's (1999) Monte Carlo data (Potekhin &
Chabrier, A&A 550, A43 (2013), eq. B.1; ``A1 = -0.907347``, ``A2 = 0.62849``,
``B1 = 0.0045``, ``B2 = 170``, ``B3 = -8.4e-5``, ``B4 = 0.0037``) is
:func:`excess_energy_caillol`. At ``Gamma = 2`` both give -1.321 (they differ
by 1e-4).

``U_ex`` is the Coulomb energy of the ions with the neutralising background
(what :class:`~collop.sim.md.engine.OCP` reports as potential energy).
"""
from __future__ import annotations

import numpy as np

__all__ = ["excess_energy_pc2000", "excess_energy_caillol", "BCC_MADELUNG"]

BCC_MADELUNG = -0.895929255682
"""Madelung energy of the bcc OCP lattice per ion, in ``e^2/a`` (Baiko et al. 2001)."""


def _form(gamma, A1, A2, B1, B2, B3, B4):
    g = np.asarray(gamma, dtype=float)
    A3 = -np.sqrt(3.0) / 2.0 - A1 / np.sqrt(A2)
    return g ** 1.5 * (A1 / np.sqrt(A2 + g) + A3 / (1.0 + g)) + B1 * g ** 2 / (B2 + g) + \
        B3 * g ** 2 / (B4 + g ** 2)


def excess_energy_pc2000(gamma):
    """Excess internal energy per ion of the OCP liquid, ``U_ex / (N k_B T)``, PC2000 eq. (16).

    Parameters
    ----------
    gamma : float or array_like
        Coupling parameter (liquid: ``Gamma < 175``).
    """
    return _form(gamma, -0.9070, 0.62954, 0.00456, 211.6, -1e-4, 0.00462)


def excess_energy_caillol(gamma):
    """As :func:`excess_energy_pc2000` with the coefficients fitted to Caillol (1999) (PC2013 eq. B.1)."""
    return _form(gamma, -0.907347, 0.62849, 0.0045, 170.0, -8.4e-5, 0.0037)
