"""Differentiable grid solver for local linear operators on a 2-D velocity grid.

Each frame's operator is a stencil ``W (T, K, N, M)`` of radius ``r``,
``K = (2r + 1)**2``, column ``k`` at cell offset
``(k // (2r+1) - r, k % (2r+1) - r)``, zero outside the grid
(:mod:`.discretisation`). The Fokker-Planck flux form has ``r = 1``.

Modules: :mod:`.discretisation` (stencil convention, the generic probe, the
Fokker-Planck flux form), :mod:`.autograd` (differentiable steps and losses
over the fused CPU kernels), :mod:`.stability` (sub-step counts),
:mod:`.integrators` (time integration: forward Euler, Heun, RKL2 super-time-stepping),
:mod:`.rkl` (the RKL2 coefficients and amplification factor).
"""
from ._kernels import set_kernel_threads
from .autograd import abs_diff_sum, sparse_rows, stencil_apply, stencil_tendency, unrolled_abs_error
from .discretisation import (_probe_kappa, fp_flux_divergence, fp_stencil_weights, probe_stencil,
                             stencil_offsets, stencil_radius, stencil_weights)
from .integrators import INTEGRATORS, RKL2, STABILITY, ForwardEuler, GridSolver, Heun, StepPlan, make_solver
from .stability import ritz_values, spectral_substeps, stable_substeps

__all__ = ["stencil_radius", "stencil_offsets", "probe_stencil", "stencil_weights", "fp_flux_divergence",
           "fp_stencil_weights", "stencil_apply", "stencil_tendency", "unrolled_abs_error", "abs_diff_sum",
           "sparse_rows", "stable_substeps", "spectral_substeps", "ritz_values", "GridSolver", "ForwardEuler", "Heun",
           "RKL2", "StepPlan", "INTEGRATORS", "STABILITY", "make_solver", "set_kernel_threads",
           "_probe_kappa"]
