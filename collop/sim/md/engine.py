"""An OpenMM context of the OCP with two integrators: a thermostat and NVE velocity Verlet.

:class:`OCP` holds one :class:`openmm.Context` with a
:class:`openmm.CompoundIntegrator` of

0. :class:`openmm.LangevinMiddleIntegrator` at ``Gamma`` (friction in
   ``omega_p``) for equilibration;
1. :class:`openmm.VerletIntegrator` for NVE. It is the leap-frog form of
   velocity Verlet: the same positions, with velocities held half a step
   behind (``v_{n-1/2}``). :meth:`OCP.begin_nve` starts it from synchronous
   velocities ``v_0`` by setting ``v_{-1/2} = v_0 - (dt/2) F(x_0)/m``, and
   :meth:`OCP.snapshot` returns the synchronous ``v_n = v_{n-1/2} + (dt/2) F(x_n)/m``,
   so the dumped trajectory is velocity Verlet's,

   .. math::

       v \\leftarrow v + \\tfrac{dt}{2} F(x)/m,\\quad x \\leftarrow x + dt\\,v,\\quad
       v \\leftarrow v + \\tfrac{dt}{2} F(x)/m,

   to round-off (checked against :func:`velocity_verlet`, a CustomIntegrator,
   in the tests), at the speed of OpenMM's built-in integrator (the
   CustomIntegrator is ~15% slower at N = 1e4 on the CPU platform).

Everything is in the reduced units of :mod:`collop.sim.md.system` (``a``,
``1/omega_p``, ``e^2/a``); velocities go in and out in ``v_th``.
"""
from __future__ import annotations

import numpy as np

from .system import (MDError, _openmm, build_system, coulomb_constant, energy_offset, ion_mass,
                     initial_positions, pme_parameters, potential_energy, temperature_kelvin,
                     thermal_speed)

__all__ = ["OCP", "velocity_verlet"]


def velocity_verlet(dt: float):
    """Velocity Verlet as an OpenMM ``CustomIntegrator`` with step ``dt`` (ps = ``1/omega_p``).

    Synchronous positions and velocities, one force evaluation per step; the
    reference that :class:`OCP`'s leap-frog NVE is checked against.
    """
    mm = _openmm()
    vv = mm.CustomIntegrator(dt)
    vv.addUpdateContextState()
    vv.addComputePerDof("v", "v + 0.5*dt*f/m")
    vv.addComputePerDof("x", "x + dt*v")
    vv.addComputePerDof("v", "v + 0.5*dt*f/m")
    return vv


class OCP:
    """N ions of the OCP at coupling ``gamma`` in one OpenMM context (CPU platform).

    Parameters
    ----------
    n : int
        Number of ions.
    gamma : float
        Coupling parameter ``Gamma`` (sets the thermostat temperature and ``v_th``).
    dt : float
        Time step of the NVE integrator (``1/omega_p``).
    dt_thermostat : float, optional
        Time step of the Langevin thermostat (default ``dt``).
    cutoff : float
        PME real-space cutoff (``a``).
    ewald_tolerance : float
        OpenMM's ``ewaldErrorTolerance``.
    friction : float
        Langevin friction (``omega_p``).
    seed : int
        Seeds the positions and the thermostat's random forces.
    threads : int, optional
        CPU threads (default: OpenMM's choice, all cores).
    deterministic : bool
        Ask OpenMM for bit-reproducible forces (``DeterministicForces``).
    """

    def __init__(self, n: int, gamma: float, *, dt: float, cutoff: float, ewald_tolerance: float,
                 dt_thermostat: float | None = None, friction: float = 1.0, seed: int = 0,
                 threads: int | None = None, deterministic: bool = True):
        mm = _openmm()
        self.n, self.gamma, self.dt = int(n), float(gamma), float(dt)
        self.v_th = thermal_speed(gamma)
        self.system = build_system(self.n, cutoff=cutoff, ewald_tolerance=ewald_tolerance)
        lang = mm.LangevinMiddleIntegrator(temperature_kelvin(gamma), friction,
                                           dt if dt_thermostat is None else dt_thermostat)
        lang.setRandomNumberSeed(int(seed) % (2 ** 31 - 1) + 1)
        self.integrator = mm.CompoundIntegrator()
        self.integrator.addIntegrator(lang)
        self.integrator.addIntegrator(mm.VerletIntegrator(dt))
        props = {"DeterministicForces": "true" if deterministic else "false"}
        if threads:
            props["Threads"] = str(int(threads))
        self.context = mm.Context(self.system, self.integrator,
                                  mm.Platform.getPlatformByName("CPU"), props)
        rng = np.random.default_rng(seed)
        self.context.setPositions(initial_positions(self.n, rng))
        self.context.setVelocities(self.v_th * rng.standard_normal((self.n, 3)))
        self.offset = energy_offset(self.context, self.n)
        self.kT = 1.0 / self.gamma  # e^2/a
        self._half = 0.5 * self.dt / ion_mass()  # (dt/2) / m: kJ/mol/nm -> nm/ps

    # --- state ---------------------------------------------------------------------------
    def pme_parameters(self) -> tuple[float, int, int, int]:
        """``(alpha (1/a), nx, ny, nz)`` chosen by OpenMM."""
        a, nx, ny, nz = pme_parameters(self.context)
        return float(a), int(nx), int(ny), int(nz)

    def save(self):
        """The current state (positions, velocities), for :meth:`restore`."""
        return self.context.getState(getPositions=True, getVelocities=True)

    def restore(self, state) -> None:
        """Go back to a state returned by :meth:`save`."""
        self.context.setState(state)

    def velocities(self) -> np.ndarray:
        """Velocities (``v_th``), shape (n, 3), float64."""
        from openmm import unit

        st = self.context.getState(getVelocities=True)
        return st.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond) / self.v_th

    def set_velocities(self, v: np.ndarray) -> None:
        """Replace the velocities by ``v`` (``v_th``, shape (n, 3))."""
        v = np.asarray(v, dtype=float)
        if v.shape != (self.n, 3):
            raise MDError(f"velocities must have shape ({self.n}, 3), got {v.shape}")
        self.context.setVelocities(v * self.v_th)

    def positions(self) -> np.ndarray:
        """Positions (``a``), shape (n, 3), as OpenMM holds them (not wrapped into the box)."""
        from openmm import unit

        st = self.context.getState(getPositions=True)
        return st.getPositions(asNumpy=True).value_in_unit(unit.nanometer)

    def set_positions(self, x: np.ndarray) -> None:
        """Replace the positions by ``x`` (``a``, shape (n, 3))."""
        self.context.setPositions(np.asarray(x, dtype=float))

    def _forces(self, state) -> np.ndarray:
        from openmm import unit

        return state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)

    def energies(self) -> tuple[float, float]:
        """``(kinetic, potential)`` per ion in ``k_B T`` as the context holds them.

        The potential is the OCP energy (ions + background,
        :func:`~collop.sim.md.system.energy_offset` included). The kinetic
        energy is that of the velocities in the context, which lag the positions
        by half a step during NVE and Langevin runs; :meth:`snapshot` gives the
        synchronous one.
        """
        st = self.context.getState(getEnergy=True, getVelocities=True)
        from openmm import unit

        v = st.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond) / self.v_th
        return (0.5 * float(np.mean(np.sum(v * v, axis=1))),
                potential_energy(st, self.offset) / (self.n * self.kT))

    def begin_nve(self, v: np.ndarray) -> None:
        """Start NVE from synchronous velocities ``v`` (``v_th``, shape (n, 3)) at the current positions.

        Sets the leap-frog velocities ``v_{-1/2} = v - (dt/2) F(x)/m``.
        """
        v = np.asarray(v, dtype=float)
        if v.shape != (self.n, 3):
            raise MDError(f"velocities must have shape ({self.n}, 3), got {v.shape}")
        f = self._forces(self.context.getState(getForces=True))
        self.context.setVelocities(v * self.v_th - self._half * f)

    def snapshot(self):
        """``(v, kinetic, potential)`` during NVE: synchronous velocities (n, 3) in ``v_th``
        (``v_n = v_{n-1/2} + (dt/2) F(x_n)/m``) and energies per ion in ``k_B T``, from one state."""
        from openmm import unit

        st = self.context.getState(getVelocities=True, getForces=True, getEnergy=True)
        v = st.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond)
        v = (v + self._half * self._forces(st)) / self.v_th
        return (v, 0.5 * float(np.mean(np.sum(v * v, axis=1))),
                potential_energy(st, self.offset) / (self.n * self.kT))

    # --- stepping ---------------------------------------------------------------------------
    def thermostat(self, steps: int) -> None:
        """``steps`` Langevin steps at ``Gamma``."""
        if steps > 0:
            self.integrator.setCurrentIntegrator(0)
            self.integrator.step(int(steps))

    def nve(self, steps: int) -> None:
        """``steps`` NVE steps (leap-frog; start with :meth:`begin_nve`)."""
        if steps > 0:
            self.integrator.setCurrentIntegrator(1)
            self.integrator.step(int(steps))

    def close(self) -> None:
        """Free the OpenMM context."""
        del self.context

    @property
    def coulomb_constant(self) -> float:
        """OpenMM's ``k_e`` (kJ/mol nm / e^2), the energy unit ``e^2/a``."""
        return coulomb_constant()
