"""Kinetic theory of the metriplectic collision operator of Zhao et al. (PRL 2025).

- :mod:`~collop.kinetic.geometry`: the pair frame ``(u~, r~, s~)`` and degenerate pairs.
- :mod:`~collop.kinetic.kernels`: Landau, CM1 and CM2 kernels ``omega(v, v')`` and their divergence.
- :mod:`~collop.kinetic.testfunctions`: the test functions ``psi_k`` of the weak form.
- :mod:`~collop.kinetic.weakform`: the weak-form terms (eqs. 4-7, B2-B5).
- :mod:`~collop.kinetic.solver`: :class:`CollisionSolver`, the conservative particle solver.
- :mod:`~collop.kinetic.diagnostics`: moments, entropy, PDFs, distances, kernel tables.
- :mod:`~collop.kinetic.rollout`: rollouts of several initial sets as a particles dataset;
  known-truth datasets.
"""
from .diagnostics import (conservation, distance_series, energy_distance, entropy_knn, gain_table,
                          gain_table_mean_s, marginal_pdfs, moments, pdf_l1, pdf_series, speed_pdf, v12_pdf)
from .geometry import PairFrame, pair_frame
from .kernels import KERNELS, CM1Kernel, CM2Kernel, Kernel, LandauKernel, divergence, omega_matrix
from .rollout import known_truth, rollout_runs
from .solver import CollisionSolver
from .testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions
from .weakform import md_side, model_side, pair_coefficients, pair_contributions

__all__ = ["PairFrame", "pair_frame", "Kernel", "LandauKernel", "CM1Kernel", "CM2Kernel", "KERNELS",
           "omega_matrix", "divergence", "TestFunctions", "PAPER_TEST_FUNCTIONS", "md_side", "model_side",
           "pair_coefficients", "pair_contributions", "CollisionSolver", "moments", "entropy_knn",
           "conservation", "energy_distance", "pdf_l1", "speed_pdf", "v12_pdf", "marginal_pdfs",
           "gain_table", "gain_table_mean_s", "pdf_series", "distance_series", "rollout_runs", "known_truth"]
