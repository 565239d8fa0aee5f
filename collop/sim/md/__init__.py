"""Molecular dynamics of the one-component plasma (OCP) on OpenMM: the data of Zhao et al.

- :mod:`~collop.sim.md.system`: reduced units (``a``, ``omega_p``, ``Gamma``) and their
  mapping onto OpenMM's, the OpenMM system (Coulomb by PME with a neutralising
  background) and its energy (the background term).
- :mod:`~collop.sim.md.engine`: :class:`OCP`, one OpenMM context with a Langevin
  thermostat and NVE velocity Verlet.
- :mod:`~collop.sim.md.distributions`: the initial velocity distributions (Appendix C, BKW).
- :mod:`~collop.sim.md.config`, :mod:`~collop.sim.md.presets`: :class:`MDConfig`,
  :class:`RunSpec`; presets ``gamma0p23``, ``gamma2p3``, ``tiny``.
- :mod:`~collop.sim.md.run`: :func:`generate` (the procedure, the file),
  :func:`simulate` (the same in memory).
- :mod:`~collop.sim.md.eos`: published OCP equation of state (excess energy).
"""
from .config import MDConfig, RunSpec
from .distributions import DISTRIBUTIONS, sample
from .engine import OCP
from .eos import excess_energy_pc2000
from .presets import PAPER_RUNS, PRESETS, preset
from .run import TIME_UNITS, VELOCITY_UNITS, generate, simulate, write_md
from .system import MDError, ocp_parameters

__all__ = ["MDConfig", "RunSpec", "DISTRIBUTIONS", "sample", "OCP", "excess_energy_pc2000",
           "PAPER_RUNS", "PRESETS", "preset", "generate", "simulate", "write_md", "TIME_UNITS",
           "VELOCITY_UNITS", "MDError", "ocp_parameters"]
