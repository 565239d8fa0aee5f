"""Presets ``sim1``, ``sim2``, ``sim3``: this machine's analogues of the paper's Table 3.

Units as in :class:`~collop.sim.pic.engine.PICConfig`: lengths in ``lambda_D``,
time in ``1/omega_p``, velocities in ``v_th`` (= the paper's 0.01c; waterbag
radius ``v_w = 2``). The paper's ``Delta_x = 0.01 c/omega_p`` is one Debye
length for ``v_th = 0.01c``, so ``dx = 1`` keeps its ``Delta_x / lambda_D``,
``N_ppc``, ``m``, ``t_max`` and ``Delta_t_dump``; what changes is the box (so
that ~1e6 particles run in minutes on 2 CPU cores) and the time step (an
electrostatic code has no light-wave CFL limit: ``omega_p dt`` is set to resolve
the plasma period and keep ``v_max dt < dx`` instead of the paper's
``c dt = 0.98 dx / sqrt(2)``, i.e. ``omega_p dt = 0.0069``).

========  =========  =====  =  ====  ==========  =====  =======  ========
preset    f0         N_ppc  m  dx    box         dt     t_max    dt_dump
========  =========  =====  =  ====  ==========  =====  =======  ========
sim1      waterbag   4      1  1     512 x 512   0.106  100      0.53
sim2      waterbag   25     2  1     160 x 160   0.1825 730      3.65
sim3      Maxwell.   1      2  1     1024 x 1024 0.1    100      1.0     (quiet)
========  =========  =====  =  ====  ==========  =====  =======  ========

sim3 uses ``m = 2`` where the paper has ``m = 1``: at one particle per cell and
``dx = lambda_D`` our momentum-conserving linear-shape scheme heats the plasma
by about 4% of the total energy per 100/omega_p (grid aliasing), above the 2%
energy-conservation budget; quadratic shapes bring that under 0.5%
(``--order 1`` restores the paper's choice).

sim3 also loads its particles quietly (one per cell at the cell centre, like
OSIRIS's regular in-cell placement, velocities in ``(v, -v)`` pairs): with
uniform random positions at one particle per Debye area the initial density
noise holds an electrostatic energy of about 35% of the kinetic energy, whose
release heats the plasma unevenly and leaves the v_x kurtosis near 3.3 instead
of 3 (measured on a 128 x 128 box). sim1 and sim2 keep random positions (they
are meant to start out of equilibrium; lattice loading would slow sim1's
relaxation from 68% to 55% of the way to a Maxwellian by t = 100, measured on a
128 x 128 box).
"""
from __future__ import annotations

from .engine import PICConfig, PICError

__all__ = ["PRESETS", "preset"]

PRESETS = {
    "sim1": PICConfig(nx=512, ny=512, dx=1.0, ppc=4, order=1, dt=0.106, t_max=100.0, dt_dump=0.53,
                      distribution="waterbag", v_w=2.0, name="sim1"),
    "sim2": PICConfig(nx=160, ny=160, dx=1.0, ppc=25, order=2, dt=0.1825, t_max=730.0,
                      dt_dump=3.65, distribution="waterbag", v_w=2.0, name="sim2"),
    "sim3": PICConfig(nx=1024, ny=1024, dx=1.0, ppc=1, order=2, dt=0.1, t_max=100.0, dt_dump=1.0,
                      distribution="maxwellian", v_th=1.0, quiet=True, name="sim3"),
}
"""The presets (see the module docstring for the scaling against the paper's Table 3)."""


def preset(name: str, **overrides) -> PICConfig:
    """The preset ``name`` with some parameters replaced (see :class:`PICConfig`).

    Raises
    ------
    PICError
        Unknown preset or parameter, or an invalid value.
    """
    if name not in PRESETS:
        raise PICError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    fields = set(PICConfig.__dataclass_fields__)
    bad = [k for k in overrides if k not in fields]
    if bad:
        raise PICError(f"unknown PIC parameter(s) {', '.join(bad)}; expected some of {', '.join(sorted(fields))}")
    kw = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].replace(**kw)
