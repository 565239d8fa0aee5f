"""The one-component plasma (OCP) as an OpenMM system, in reduced units.

Reduced units
-------------
N ions of charge ``e`` and mass ``m`` in a periodic cube of volume ``V`` at
number density ``n = N / V``, on a uniform neutralising background:

* length: the Wigner-Seitz radius ``a = (3 / (4 pi n))**(1/3)``; the box side
  is ``L = (4 pi N / 3)**(1/3) a``;
* energy: ``e^2 / (4 pi eps0 a)``; the coupling parameter is
  ``Gamma = e^2 / (4 pi eps0 a k_B T)``, so ``k_B T = 1 / Gamma``;
* time: ``1 / omega_p`` with ``omega_p^2 = n e^2 / (eps0 m) = 3 e^2 / (4 pi eps0 m a^3)``;
* velocity: ``a omega_p``; the thermal speed is
  ``v_th = sqrt(k_B T / m) = a omega_p / sqrt(3 Gamma)``. Datasets written by
  :mod:`collop.sim.md` give velocities in ``v_th``.

Mapping onto OpenMM's units (nm, ps, amu, kJ/mol, e)
----------------------------------------------------
``a`` is 1 nm, the ion charge is 1 e, the energy unit ``e^2 / (4 pi eps0 a)`` is
OpenMM's Coulomb constant ``k_e`` = 138.9354576 kJ/mol (read from OpenMM
itself, :func:`coulomb_constant`), and the ion mass is ``m = 3 k_e`` amu, which
makes ``omega_p = sqrt(3 k_e / (m a^2)) = 1 / ps``. Then one OpenMM picosecond
is ``1 / omega_p``, one nm/ps is ``a omega_p``, and the temperature is
``T = k_e / (Gamma R)`` kelvin (``R`` the molar gas constant). Only ``Gamma``
matters for the dynamics in reduced units; :func:`ocp_parameters` converts a
physical plasma (density, temperature, ion mass) into ``Gamma``, ``a`` and
``omega_p``.

Energy of the OCP and the background term
-----------------------------------------
The Ewald energy of N point charges ``q_i`` (total ``Q``) in a periodic box
with a uniform neutralising background (Gaussian units times ``k_e``) is

.. math::

    E = \\frac{k_e}{2}\\sum_{i,j,\\mathbf n}{}' q_i q_j
        \\frac{\\operatorname{erfc}(\\alpha r_{ij\\mathbf n})}{r_{ij\\mathbf n}}
      + \\frac{2\\pi k_e}{V}\\sum_{\\mathbf k\\ne0}\\frac{e^{-k^2/4\\alpha^2}}{k^2}
        \\Big|\\sum_j q_j e^{i\\mathbf k\\cdot\\mathbf r_j}\\Big|^2
      - \\frac{k_e\\alpha}{\\sqrt\\pi}\\sum_i q_i^2
      - \\frac{\\pi k_e Q^2}{2 V \\alpha^2}.

The last term, :func:`plasma_energy`, is the interaction of the background
(charge density ``-Q/V``) with the screening clouds ``q_i (delta - Gaussian)``
that the real-space sum carries, plus its share of the background's own
energy: ``(1/2) (-Q/V) Q \\int erfc(alpha r)/r d^3r = -pi Q^2 / (2 V alpha^2)``.
It depends on no position (no force) but on ``alpha`` and ``V``; without it the
energy depends on the Ewald splitting parameter. Older OpenMM releases omitted
it (openmm/openmm#4905, added by #4907 in 2025); OpenMM 8.6.1 includes it. Which
is the case is checked at run time (:func:`openmm_adds_plasma_energy`: the
energy of one ion in a box with two splitting parameters), and
:func:`energy_offset` returns the term to add, zero when OpenMM has it.
The total is then the OCP potential energy ``U`` (ions + background), whose
``U / (N k_B T)`` is the excess internal energy of the OCP equations of state
(a bcc lattice gives the Madelung energy ``-0.895929 e^2/a`` per ion).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ...schema import CollopError

__all__ = ["MDError", "coulomb_constant", "ion_mass", "temperature_kelvin", "thermal_speed",
           "box_length", "ocp_parameters", "build_system", "initial_positions", "plasma_energy",
           "openmm_adds_plasma_energy", "energy_offset", "pme_parameters", "potential_energy",
           "kinetic_energy",
           "R_KJ"]

R_KJ = 8.31446261815324e-3
"""Molar gas constant in kJ/(mol K) (OpenMM's ``MOLAR_GAS_CONSTANT_R``)."""


class MDError(CollopError, ValueError):
    """An invalid MD configuration, preset, distribution or output path."""


def _openmm():
    try:
        import openmm
    except ImportError as exc:  # pragma: no cover - openmm is a dependency
        raise MDError("collop.sim.md needs OpenMM: pip install openmm") from exc
    return openmm


def _kj(quantity) -> float:
    """An OpenMM energy as a float in kJ/mol."""
    from openmm import unit

    return float(quantity.value_in_unit(unit.kilojoule_per_mole))


@functools.lru_cache(maxsize=1)
def coulomb_constant() -> float:
    """OpenMM's ``1/(4 pi eps0)`` in kJ/mol nm / e^2: the energy of two unit charges 1 nm apart.

    Read from OpenMM (no cutoff, Reference platform), so that the reduced
    units match the engine's own constant to the last digit.
    """
    mm = _openmm()
    s = mm.System()
    nb = mm.NonbondedForce()
    nb.setNonbondedMethod(mm.NonbondedForce.NoCutoff)
    for _ in range(2):
        s.addParticle(1.0)
        nb.addParticle(1.0, 0.0, 0.0)
    s.addForce(nb)
    ctx = mm.Context(s, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions([mm.Vec3(0, 0, 0), mm.Vec3(1, 0, 0)])
    e = _kj(ctx.getState(getEnergy=True).getPotentialEnergy())
    del ctx
    return e


def ion_mass() -> float:
    """Ion mass in amu, ``3 k_e``: it makes ``omega_p = 1/ps`` when ``a = 1 nm``."""
    return 3.0 * coulomb_constant()


def temperature_kelvin(gamma: float) -> float:
    """OpenMM temperature (K) of coupling ``gamma``: ``k_B T = k_e / Gamma`` kJ/mol."""
    return coulomb_constant() / (gamma * R_KJ)


def thermal_speed(gamma: float) -> float:
    """``v_th = sqrt(k_B T / m) = 1 / sqrt(3 Gamma)`` in ``a omega_p`` (= OpenMM nm/ps)."""
    return 1.0 / math.sqrt(3.0 * gamma)


def box_length(n: int) -> float:
    """Box side ``L = (4 pi N / 3)**(1/3)`` in ``a`` (= OpenMM nm)."""
    return (4.0 * math.pi * n / 3.0) ** (1.0 / 3.0)


def ocp_parameters(density_m3: float, kT_eV: float, mass_amu: float = 1.007276) -> dict:
    """Reduced parameters of a physical OCP of singly charged ions.

    Parameters
    ----------
    density_m3 : float
        Ion number density (m^-3).
    kT_eV : float
        Temperature (eV).
    mass_amu : float
        Ion mass (amu); default a proton.

    Returns
    -------
    dict
        ``gamma``, ``a_m`` (Wigner-Seitz radius, m), ``omega_p_per_s`` (rad/s),
        ``time_unit_fs`` (``1/omega_p`` in fs), ``thermal_speed_m_per_s``.

    Notes
    -----
    ``Gamma = e^2 / (4 pi eps0 a k_B T)``, ``omega_p = sqrt(n e^2 / (eps0 m))``.
    The paper's OCP (1e6 ions in (100 A)^3, k_B T = 100 eV and 10 eV) has
    ``Gamma`` = 0.232 and 2.32 and, for protons, ``1/omega_p`` = 0.76 fs.
    """
    e, eps0, amu = 1.602176634e-19, 8.8541878128e-12, 1.66053906660e-27
    a = (3.0 / (4.0 * math.pi * density_m3)) ** (1.0 / 3.0)
    m = mass_amu * amu
    kT = kT_eV * e
    wp = math.sqrt(density_m3 * e ** 2 / (eps0 * m))
    return {"gamma": e ** 2 / (4.0 * math.pi * eps0 * a * kT), "a_m": a, "omega_p_per_s": wp,
            "time_unit_fs": 1e15 / wp, "thermal_speed_m_per_s": math.sqrt(kT / m)}


def build_system(n: int, *, cutoff: float, ewald_tolerance: float):
    """The OCP as an :class:`openmm.System` of ``n`` ions (reduced units mapped as above).

    Parameters
    ----------
    n : int
        Number of ions.
    cutoff : float
        Real-space cutoff of PME (``a``); must be below half the box side.
    ewald_tolerance : float
        OpenMM's ``ewaldErrorTolerance``: it sets the splitting parameter
        ``alpha = sqrt(-ln(2 tol)) / cutoff`` and the PME grid.

    Returns
    -------
    openmm.System
        One ``NonbondedForce`` (PME, no dispersion correction) on ``n`` ions of
        charge 1 e and mass :func:`ion_mass`.
    """
    mm = _openmm()
    L = box_length(n)
    if not 0 < cutoff < L / 2:
        raise MDError(f"cutoff {cutoff} a must be positive and below half the box side "
                      f"({L / 2:.3g} a for N = {n})")
    system = mm.System()
    system.setDefaultPeriodicBoxVectors(mm.Vec3(L, 0, 0), mm.Vec3(0, L, 0), mm.Vec3(0, 0, L))
    nb = mm.NonbondedForce()
    nb.setNonbondedMethod(mm.NonbondedForce.PME)
    nb.setCutoffDistance(cutoff)
    nb.setEwaldErrorTolerance(ewald_tolerance)
    nb.setUseDispersionCorrection(False)
    m = ion_mass()
    for _ in range(n):
        system.addParticle(m)
        nb.addParticle(1.0, 0.0, 0.0)
    system.addForce(nb)
    return system


def initial_positions(n: int, rng: np.random.Generator, jitter: float = 0.1) -> np.ndarray:
    """``n`` positions (``a``, shape (n, 3)) on a simple-cubic grid with random vacancies, jittered.

    The grid has the smallest ``g**3 >= n`` sites; ``n`` of them are drawn at
    random and each moved by a Gaussian of standard deviation ``jitter`` grid
    spacings. No two ions start close together, so the thermostat run that
    follows starts from a moderate Coulomb energy.
    """
    L = box_length(n)
    g = int(math.ceil(n ** (1.0 / 3.0) - 1e-9))
    sites = rng.choice(g ** 3, size=n, replace=False)
    ijk = np.stack(np.unravel_index(sites, (g, g, g)), axis=1).astype(float)
    h = L / g
    return np.mod((ijk + 0.5 + jitter * rng.standard_normal((n, 3))) * h, L)


def plasma_energy(total_charge: float, volume: float, alpha: float) -> float:
    """``-pi k_e Q^2 / (2 V alpha^2)`` (kJ/mol): the background term of the Ewald energy.

    Parameters
    ----------
    total_charge : float
        ``Q`` (e).
    volume : float
        ``V`` (nm^3, = ``a^3``).
    alpha : float
        Ewald splitting parameter (1/nm).
    """
    return -math.pi * coulomb_constant() * total_charge ** 2 / (2.0 * volume * alpha ** 2)


def _one_ion_energy(cutoff: float) -> tuple[float, float]:
    mm = _openmm()
    L = 4.0
    s = mm.System()
    s.setDefaultPeriodicBoxVectors(mm.Vec3(L, 0, 0), mm.Vec3(0, L, 0), mm.Vec3(0, 0, L))
    nb = mm.NonbondedForce()
    nb.setNonbondedMethod(mm.NonbondedForce.PME)
    nb.setCutoffDistance(cutoff)
    nb.setEwaldErrorTolerance(1e-6)
    s.addParticle(1.0)
    nb.addParticle(1.0, 0.0, 0.0)
    s.addForce(nb)
    ctx = mm.Context(s, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions([mm.Vec3(0.1, 0.2, 0.3)])
    e = _kj(ctx.getState(getEnergy=True).getPotentialEnergy())
    alpha = pme_parameters(ctx)[0]
    del ctx
    return e, alpha


@functools.lru_cache(maxsize=1)
def openmm_adds_plasma_energy() -> bool:
    """Whether this OpenMM's PME energy already holds :func:`plasma_energy`.

    One ion in a 4 nm box at two real-space cutoffs (two splitting parameters
    ``alpha``): with the term the two energies agree (the Ewald energy does not
    depend on ``alpha``); without it they differ by the difference of the
    terms.
    """
    (e1, a1), (e2, a2) = _one_ion_energy(1.0), _one_ion_energy(1.9)
    missing = plasma_energy(1.0, 64.0, a2) - plasma_energy(1.0, 64.0, a1)  # what e2 - e1 would be
    diff = e2 - e1
    if abs(diff) < 0.05 * abs(missing):
        return True
    if abs(diff + missing) < 0.05 * abs(missing):
        return False
    raise MDError(f"cannot tell whether OpenMM's PME energy holds the neutralising-background "
                  f"term (one-ion energies {e1:.6g}, {e2:.6g} kJ/mol at alpha {a1:.4g}, {a2:.4g})")


def pme_parameters(context) -> tuple[float, int, int, int]:
    """``(alpha (1/nm), nx, ny, nz)`` of the (first) NonbondedForce in ``context``, as OpenMM chose them.

    Forces are evaluated once first: OpenMM's CPU platform sets its PME kernel
    up lazily, and asking before the first evaluation raises ``std::bad_cast``.
    """
    mm = _openmm()
    context.getState(getEnergy=True)
    system = context.getSystem()
    for i in range(system.getNumForces()):
        force = system.getForce(i)
        if isinstance(force, mm.NonbondedForce):
            a, nx, ny, nz = force.getPMEParametersInContext(context)
            return float(a), int(nx), int(ny), int(nz)
    raise MDError("the context has no NonbondedForce")


def energy_offset(context, n: int) -> float:
    """The constant (kJ/mol) to add to OpenMM's potential energy to get the OCP energy.

    :func:`plasma_energy` at the context's splitting parameter when this OpenMM
    omits it (releases before openmm/openmm#4907), else 0.
    """
    if openmm_adds_plasma_energy():
        return 0.0
    return plasma_energy(float(n), box_length(n) ** 3, pme_parameters(context)[0])


def potential_energy(state, offset: float) -> float:
    """OCP potential energy (``e^2/a``) of an OpenMM state, with the :func:`energy_offset`."""
    return (_kj(state.getPotentialEnergy()) + offset) / coulomb_constant()


def kinetic_energy(state) -> float:
    """Kinetic energy (``e^2/a``) of an OpenMM state."""
    return _kj(state.getKineticEnergy()) / coulomb_constant()
