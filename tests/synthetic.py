"""A tiny known-truth phase-space record shared by the pipeline, CLI-free solver and integrator tests.

Importable from any test module: ``tests/`` is on ``sys.path`` (its ``conftest.py`` puts it there).
"""
from __future__ import annotations

import numpy as np

from collop.datasets import isotropic_operator_dataset, phasespace_dataset
from collop.grid import VelocityGrid
from collop.metrics import rollout

GRID = VelocityGrid.regular(15, 3.0)
TIMES = np.arange(6.0)


def tiny_phasespace():
    """Three Gaussians rolled forward by a known isotropic operator: 15 x 15 bins, 6 frames; ``(ds, truth)``."""
    s = GRID.speed_nodes()
    nt = TIMES.size
    truth = isotropic_operator_dataset(TIMES, s, -0.05 * s[None] * np.ones((nt, 1)), np.full((nt, s.size), 0.02),
                                       np.full((nt, s.size), 0.03), method="truth", velocity_units="u",
                                       time_units="t", source="test")
    VX, VY = GRID.mesh()
    f0 = []
    for mx, my in [(0.0, 0.0), (-1.0, 0.0), (1.0, 1.0)]:
        f = np.exp(-((VX - mx) ** 2 + (VY - my) ** 2) / (2 * 0.5 ** 2))
        f0.append(f / (f.sum() * GRID.h ** 2))
    F = np.repeat(np.array(f0)[:, None], nt, 1)
    ds = phasespace_dataset(F, TIMES, GRID.vx, GRID.vy, ["a", "b", "c"], [1000] * 3, velocity_units="u",
                            time_units="t", source="test")
    ds["f"].values[:] = np.clip(rollout(truth, ds, ["a", "b", "c"]).values, 0, None)
    return ds, truth
