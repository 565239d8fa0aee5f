"""Presets ``gamma0p23``, ``gamma2p3`` (the paper's two temperatures) and ``tiny`` (tests).

The paper (Zhao et al., Appendix C) simulates 1e6 protons... at 100 eV and 10 eV
(``Gamma`` = 0.232 and 2.321) with ``dt = 1e-4`` fs (``1.3e-4 / omega_p``),
PPPM at relative accuracy 1e-4, 0.4 fs of equilibration and 20 fs
(``26 / omega_p``) of production. The presets keep ``Gamma``, the seven
initial distributions and the PME accuracy, and scale the rest to 15 minutes
of a 2-core CPU and the size budget of ``data/``:

==========  =====  ======  ====  =======  =======  ======  =====  ======  =====
preset      Gamma  N       dt    t_prod   dt_dump  frames  t_eq   t_dec   runs
==========  =====  ======  ====  =======  =======  ======  =====  ======  =====
gamma0p23   0.232  10000   0.01  30       0.75     41      10     2       7
gamma2p3    2.321  10000   0.01  8        0.2      41      10     3       7
tiny        2.321  250     0.01  1        0.25     5       2      0.5     7
==========  =====  ======  ====  =======  =======  ======  =====  ======  =====

(times in ``1/omega_p``; thermostat: Langevin, friction ``omega_p``, step 0.02.)

Why these numbers (measured with this module, see ``benchmarks/bench_md.py``
and ``tests/sim/test_md.py``):

* **Run length.** A bi-Maxwellian with ``T_par / T_perp = 4`` relaxes with an
  e-folding time of about 9 / omega_p at ``Gamma = 0.232`` (ratio 1.07 at
  t = 30) and 2.5 / omega_p at ``Gamma = 2.321`` (ratio 1.12 at t = 8), so
  each run covers the approach to the Maxwellian.
* **Time step.** ``dt = 0.01 / omega_p`` conserves the energy to about 1e-4 of
  the kinetic energy over 30 / omega_p at ``Gamma = 0.232`` (the harder case:
  fast ions, closest approach ``Gamma a``), and to a few 1e-6 at 2.321.
* **PME.** ``cutoff = 4 a`` with ``ewaldErrorTolerance = 3e-4`` gives an RMS
  force error of about 8e-5 of the RMS force (measured against
  ``ewaldErrorTolerance = 1e-6``; recorded in each file as
  ``pme_force_error_rms``), the paper's 1e-4, at the cheapest of the cutoffs
  tried (3, 4, 5 a).
* **N and frames.** 1e4 ions per run keep 7 runs of 41 frames in ~20 MB per
  file (float32 rounded to 14 mantissa bits, gzip), two files within the
  100 MB of ``data/``; a 40 x 40 v1-v2 histogram then holds ~6 ions per bin
  on average, ~25 near the peak. N is limited by the storage budget, not by
  time: ``gamma2p3`` runs in a few minutes.
* **Equilibration.** From the jittered lattice, the potential energy settles
  within ~4 / omega_p at ``Gamma = 2`` (and at once at 0.23); 10 / omega_p of
  thermostat leaves margin. Consecutive runs start from configurations
  ``t_dec`` apart on the thermostat chain (a few collision times).
"""
from __future__ import annotations

from .config import MDConfig, RunSpec
from .system import MDError

__all__ = ["PAPER_RUNS", "PRESETS", "preset"]

PAPER_RUNS = (
    RunSpec("uniform", "uniform", split="train"),
    RunSpec("bimaxwellian", "bimaxwellian", split="train"),
    RunSpec("double_well", "double_well", split="train"),
    RunSpec("trimodal", "trimodal", split="test"),
    RunSpec("chi2", "chi2", split="test"),
    RunSpec("radial_oscillation", "radial_oscillation", split="test"),
    RunSpec("bkw", "bkw", split="test"),
)
"""The paper's seven initial distributions: C1a-c train, C2a-c and BKW test."""

PRESETS = {
    "gamma0p23": MDConfig(name="gamma0p23", gamma=0.232, n=10000, runs=PAPER_RUNS, dt=0.01,
                          dt_dump=0.75, t_production=30.0, t_equilibration=10.0,
                          t_decorrelation=2.0),
    "gamma2p3": MDConfig(name="gamma2p3", gamma=2.321, n=10000, runs=PAPER_RUNS, dt=0.01,
                         dt_dump=0.2, t_production=8.0, t_equilibration=10.0,
                         t_decorrelation=3.0),
    "tiny": MDConfig(name="tiny", gamma=2.321, n=250, runs=PAPER_RUNS, dt=0.01, dt_dump=0.25,
                     t_production=1.0, t_equilibration=2.0, t_decorrelation=0.5),
}
"""The presets by name (see the module docstring)."""


def preset(name: str, **overrides) -> MDConfig:
    """The preset ``name``, with some fields of :class:`MDConfig` replaced (``None`` keeps one).

    Raises
    ------
    MDError
        Unknown preset or parameter, or an invalid value.
    """
    if name not in PRESETS:
        raise MDError(f"unknown MD preset {name!r}; expected one of {', '.join(PRESETS)}")
    kw = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].replace(**kw) if kw else PRESETS[name].check()
