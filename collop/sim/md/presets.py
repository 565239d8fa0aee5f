"""Presets ``gamma0p23``, ``gamma2p3`` (the paper's two temperatures) and ``tiny`` (tests).

The paper (Zhao et al., Appendix C) simulates 1e6 monovalent ions in
(100 A)^3 at 100 eV and 10 eV (``Gamma`` = 0.232 and 2.321) with
``dt = 1e-4`` fs, PPPM at relative accuracy 1e-4, 0.4 fs of equilibration
and 20 fs of production; for protons ``1/omega_p`` = 0.76 fs, so
``dt = 1.3e-4 / omega_p`` and the production is ``26 / omega_p``. The
presets keep ``Gamma``, the seven initial distributions and the PME
accuracy, and scale the rest to 15 minutes of a 2-core CPU and the size
budget of ``data/``:

==========  =====  ======  ====  =======  =======  ======  =====  =====  ======  ========
preset      Gamma  N       dt    t_prod   dt_dump  frames  t_eq   t_dec  cutoff  ewald tol
==========  =====  ======  ====  =======  =======  ======  =====  =====  ======  ========
gamma0p23   0.232  10000   0.01  30       0.75     41      10     2      4       3e-4
gamma2p3    2.321  10000   0.01  8        0.2      41      10     3      5       1.2e-4
tiny        2.321  250     0.01  1        0.25     5       2      0.5    4       3e-4
==========  =====  ======  ====  =======  =======  ======  =====  =====  ======  ========

(times in ``1/omega_p``, cutoff in ``a``; 7 runs each (:data:`PAPER_RUNS`);
thermostat: Langevin, friction ``omega_p``, step 0.02.)

Why these numbers (measured with this module; ``benchmarks/bench_md.py``,
``tests/sim/test_md.py`` and ``data/README.md`` give the commands):

* **Run length.** A bi-Maxwellian with ``T_par / T_perp = 4`` relaxes with an
  e-folding time of about 9 / omega_p at ``Gamma = 0.232`` (ratio 1.11 at
  t = 30 in ``data/md_gamma0p23.nc``) and 2.5 / omega_p at ``Gamma = 2.321``
  (1.12 at t = 8), so each run covers the approach to the Maxwellian.
* **Time step.** ``dt = 0.01 / omega_p`` conserves the energy to
  ``max |E - E0| / K0`` <= 2.1e-4 over 30 / omega_p at ``Gamma = 0.232`` (the
  hard case: fast ions, closest approach ~ ``Gamma a``; the bi-Maxwellian's
  hot tail is the worst) and ~1e-6 at 2.321. ``dt = 0.02`` gave 1.8e-2 for the
  bi-Maxwellian at 0.232 (N = 1000): too coarse.
* **PME.** RMS force error below 1e-4 of the RMS force (the paper's relative
  accuracy 1e-4; measured against ``ewaldErrorTolerance = 1e-6`` and recorded
  as ``pme_force_error_rms``: 9.0e-5 and 7.7e-5 at N = 1e4). At 0.232,
  cutoff 4 a with tolerance 3e-4 (grid 80^3) is the cheapest of the cutoffs
  tried (3, 4, 5 a); at 2.321 the correlated liquid has smaller forces, the
  same settings give 2.3e-4, and cutoff 5 a with 1.2e-4 (grid 84^3) is needed.
* **N and frames.** 1e4 ions per run keep 7 runs of 41 frames in 20.6 MB per
  file (float32 rounded to 14 mantissa bits, gzip), two files within the
  100 MB of ``data/``; a 40 x 40 v1-v2 histogram then holds ~6 ions per bin
  on average, ~25 near the peak. N is limited by the storage budget and the
  15 minutes: gamma0p23 needs ~480 s of CPU time (about 4 min of wall time
  on two idle cores), gamma2p3 ~180 s.
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
                         t_decorrelation=3.0, cutoff=5.0, ewald_tolerance=1.2e-4),
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
