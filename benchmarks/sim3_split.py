"""The sim3 train/test split of the kernel-operator study (Carvalho et al., Section 3.2).

The paper trains its kernel operators on Sim-3 (a thermal, time-invariant
plasma) with "9 train sub-populations (sampled from normal distributions
centred at different positions) and 19 test sub-populations (distinct normal
distributions, rings, quadrants, etc.)", taken from its reference [41]
(arXiv:2601.10885), which does not list them either. This module names the
split collop uses in their place; ``data/sim3_split.nc`` holds these 28
populations. Velocities are in units of v_th (= the paper's 0.01c); the
names are those of :func:`collop.phasespace.shapes.parse_population`.

Training: nine isotropic normals (covariance 0.05 I, as in the paper's
Table 4) centred on the 3 x 3 grid {-1, 0, 1}^2 inside the thermal bulk.
A grid of pitch 1 v_th keeps the corner populations at >= 1.5e4 particles of
sim3's 1,048,576 (centres at +-2 v_th leave about 1e3, too few for 51 x 51
histograms).

Test (19): six isotropic normals between and outside the training centres
(the four half-way points (+-0.5, +-0.5), (-2, 0) as in the reference code's
example data, and (0, 1.5)); four anisotropic normals (``normal_rot0`` and
``normal_rot45`` of Table 4, two off-centre tilted ones); four rings (radii
0.5, 1, 1.5, 2, width 0.2; the reference example's ``ring_normal_2_0.2`` is
``ring_2.0``); four quadrants, uniform squares of side 2 v_th in each
quadrant; and the central square ``uniform_-1_1_-1_1``.

Import it from a script run in ``benchmarks/`` (``from sim3_split import
TRAIN, TEST``); ``benchmarks/sweeps/*.json`` list the same names.
"""
from __future__ import annotations

__all__ = ["TRAIN", "TEST", "ALL", "GRID_CENTRES", "DATA"]

#: the shipped phase-space file that holds every population of the split
DATA = "data/sim3_split.nc"

#: centres of the nine training normals (v_th)
GRID_CENTRES = [(x, y) for x in (-1, 0, 1) for y in (-1, 0, 1)]

#: nine training normals, covariance 0.05 I, on the 3 x 3 grid
TRAIN = [f"normal_{x}_{y}" for x, y in GRID_CENTRES]

#: nineteen test populations: normals, anisotropic normals, rings, quadrants, a central square
TEST = [
    # isotropic normals (covariance 0.05 I) between and outside the training centres
    "normal_0.5_0.5", "normal_-0.5_-0.5", "normal_0.5_-0.5", "normal_-0.5_0.5", "normal_-2_0", "normal_0_1.5",
    # anisotropic normals: variance 1 along / 0.05 across at 0 and 45 degrees; two off-centre tilted ones
    "normal_rot0", "normal_rot45", "normal_1_-1_0.2_0.05_0.05", "normal_-1_1_0.05_0.2_-0.05",
    # rings of width 0.2
    "ring_0.5", "ring_1.0", "ring_1.5", "ring_2.0",
    # quadrants (uniform squares of side 2) and the central square
    "uniform_0_2_0_2", "uniform_-2_0_0_2", "uniform_-2_0_-2_0", "uniform_0_2_-2_0", "uniform_-1_1_-1_1",
]

#: every population, training first
ALL = TRAIN + TEST

assert len(TRAIN) == 9 and len(TEST) == 19 and len(set(ALL)) == 28
