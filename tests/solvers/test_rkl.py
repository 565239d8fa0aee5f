"""Tests of every time integrator (forward Euler, Heun, RKL2) and of RKL2 super-time-stepping
(:mod:`collop.solvers.rkl`, :class:`collop.solvers.RKL2`): mass to round-off, gradcheck, the zero
operator, fused against pure-torch stencils, the exact solution of a constant-coefficient diffusion
mode (second-order convergence), the amplification factor and the stage plans."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.polynomial import legendre
from torch.autograd import gradcheck

from collop.grid import VelocityGrid
from collop.solvers import RKL2, ForwardEuler, Heun, StepPlan, fp_stencil_weights, spectral_substeps
from collop.solvers.rkl import rkl2_amplification, rkl2_coefficients, rkl2_real_extent
from collop.solvers.stability import min_stable_counts, rkl2_plan

from ._helpers import dense_matrix, mass_operator, stencil

SOLVERS = [ForwardEuler, Heun, RKL2]


def _plan(solver, T, n, stages=4):
    """A fixed plan: ``n`` sub-steps per frame (RKL2: of ``stages`` stages)."""
    return StepPlan.of(n, T, stages if solver is RKL2 else 1)


# --- the RKL2 polynomial ---------------------------------------------------------------------

@pytest.mark.parametrize("s", [2, 3, 5, 10, 17])
def test_rkl2_recurrence_is_the_legendre_polynomial(s):
    """The stage recurrence applied to a scalar equals a_s + b_s P_s(1 + w_1 z) (Meyer et al. 2014, eq. 16)."""
    z = np.linspace(-rkl2_real_extent(s), 0.0, 41) + 0.3j
    b = (s * s + s - 2) / (2 * s * (s + 1))
    w1 = 4.0 / (s * s + s - 2)
    ref = (1 - b) + b * legendre.legval(1 + w1 * z, np.eye(s + 1)[s])
    # the recurrence and legval round differently; the values are O(1): 1e-12 is far above round-off
    np.testing.assert_allclose(rkl2_amplification(z, s), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("s", [2, 4, 9])
def test_rkl2_is_stable_on_its_real_interval_and_second_order(s):
    z = np.linspace(-rkl2_real_extent(s), 0.0, 2001)
    assert np.abs(rkl2_amplification(z, s)).max() <= 1 + 1e-12           # |R| <= 1 (round-off)
    assert np.abs(rkl2_amplification(-1.05 * rkl2_real_extent(s), s)) > 1  # and not beyond it
    # R(z) - exp(z) = O(z^3): halving z divides the error by ~8 (between 7 and 9)
    e1 = abs(rkl2_amplification(1e-2, s) - np.exp(1e-2))
    e2 = abs(rkl2_amplification(5e-3, s) - np.exp(5e-3))
    assert 7 < e1 / e2 < 9


def test_rkl2_needs_two_stages():
    with pytest.raises(ValueError, match="at least 2 stages"):
        rkl2_coefficients(1)


# --- every integrator -----------------------------------------------------------------------

# float64 flux form: each stage sums fluxes that cancel to round-off (~1e-16 per stage); over
# 1000 sub-steps (RKL2: 4000 stages) a random walk of such errors stays below 1e-13, and
# 1e-12 leaves a margin while any leak through the boundary (the Gaussian touches the wall)
# would lose > 1e-3.
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("symmetry", ["isotropic", "full"])
def test_mass_conserved_over_1000_steps(solver, symmetry, make_iso, make_full, make_gaussian):
    grid = VelocityGrid.regular(41, 5.0)
    times = np.linspace(0.0, 1.0, 11)
    W = stencil(mass_operator(symmetry, grid, times, make_iso, make_full), grid, times[:-1])
    f0 = torch.as_tensor(make_gaussian(grid, (3.0, 0.4), 1.5))[None]
    assert f0[0, -1].sum() / f0.sum() > 0.01                          # touches the vx = +5 wall
    out = solver().rollout(f0, W, 0.1, 10, n_sub=_plan(solver, 10, 100))   # 1000 sub-steps
    mass = out.sum((-2, -1))
    assert (mass / mass[:, :1] - 1).abs().max().item() < 1e-12
    assert (out[0, -1] - out[0, 0]).abs().max() > 0.05 * out[0, 0].max()   # it did something


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_zero_operator_leaves_f_unchanged(solver, backend):
    W = torch.zeros(4, 9, 13, 13, dtype=torch.float64)
    f0 = torch.rand(3, 13, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = solver(backend=backend).rollout(f0, W, 0.2, 4, n_sub=_plan(solver, 4, 3, stages=6))
    assert torch.equal(out, f0[:, None].expand_as(out))                 # bit for bit


# numba (fused stencil kernel, fast-math contraction) against pure torch: float64 round-off
# of a few hundred operations, ~1e-15 relative; 1e-12 is far above it and far below any
# difference in the scheme (a wrong coefficient changes the result at 1e-3 or more).
@pytest.mark.parametrize("solver", SOLVERS)
def test_fused_and_reference_stencils_agree(solver, make_iso, make_full):
    grid = VelocityGrid.regular(19, 4.0)
    times = np.linspace(0, 1, 6)
    W = stencil(mass_operator("full", grid, times, make_iso, make_full), grid, times[:-1])
    f0 = torch.rand(3, 19, 19, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    plan = _plan(solver, 5, 3, stages=5)
    a = solver(backend="numba").rollout(f0, W, 0.2, 5, n_sub=plan)
    b = solver(backend="torch").rollout(f0, W, 0.2, 5, n_sub=plan)
    assert ((a - b).abs().max() / b.abs().max()).item() < 1e-12


def _record(T, P, n, seed):
    gen = torch.Generator().manual_seed(seed)
    fs = torch.rand(T, P, n, n, dtype=torch.float64, generator=gen)
    Wdt = 0.03 * torch.randn(T - 1, 9, n, n, dtype=torch.float64, generator=gen)
    return fs, Wdt


@pytest.mark.parametrize("solver", SOLVERS)
def test_unrolled_loss_gradcheck(solver):
    """The unrolled L1 loss (per-frame sub-steps and, for RKL2, per-frame stages, so groups of a batch
    are masked) passes gradcheck in float64 with respect to the stencil."""
    fs, Wdt = _record(6, 2, 5, seed=7)
    plan = StepPlan(np.array([1, 3, 2, 1, 2]), np.array([2, 4, 3, 5, 2]) if solver is RKL2 else np.ones(5, int))
    W = Wdt.clone().requires_grad_()
    # |.| has kinks where f_hat = f; random data keep every |f_hat - f| far above gradcheck's eps.
    # RKL2's 16 stages per frame make the full Jacobian slow (~45 s): its check uses gradcheck's
    # fast mode (a random projection of the Jacobian, as test_autograd does for r = 3)
    assert gradcheck(lambda w: solver().unrolled_abs_error(w, fs, 2, plan), (W,), fast_mode=solver is RKL2)


def test_rkl2_step_gradcheck_in_f_and_stencil():
    gen = torch.Generator().manual_seed(3)
    f = torch.rand(2, 2, 5, 6, dtype=torch.float64, generator=gen).requires_grad_()
    W = (0.05 * torch.randn(2, 9, 5, 6, dtype=torch.float64, generator=gen)).requires_grad_()
    assert gradcheck(lambda f, w: RKL2().step(f, w, np.array([3, 5])), (f, W))


def test_rkl2_unrolled_loss_equals_frame_by_frame_rollouts():
    """Masked groups in the batch: each start frame's loss is that of its own rollout."""
    fs, Wdt = _record(6, 2, 5, seed=11)
    plan = StepPlan(np.array([1, 3, 2, 1, 2]), np.array([2, 4, 3, 5, 2]))
    solver = RKL2()
    total = solver.unrolled_abs_error(Wdt, fs, 2, plan)
    ref = 0.0
    for t in range(4):
        f = fs[t][None]
        for u in range(2):
            f = solver.advance(f, Wdt[t + u:t + u + 1], int(plan.substeps[t + u]), int(plan.stages[t + u]))
            ref += (f[0] - fs[t + u + 1]).abs().sum().item()
    assert total.item() == pytest.approx(ref, rel=1e-12)                # same sums, another order


# --- exact solution of a diffusion mode -----------------------------------------------------

def _diffusion_mode(n=8, D=0.5, h=0.25):
    """Constant D_xx = D_yy = D, no drift: the flux form is (D / 2h^2) times the 5-point Laplacian with
    zero-flux walls, whose eigenvectors are cos(pi k (i + 1/2) / n), eigenvalue -(D/h^2)(1 - cos(pi k/n))
    per axis."""
    c = torch.zeros(1, 5, n, n, dtype=torch.float64)
    c[:, 2] = D
    c[:, 3] = D
    W = fp_stencil_weights(c, h)
    i = np.arange(n) + 0.5
    kx, ky = 1, 2
    mode = np.cos(np.pi * kx * i / n)[:, None] * np.cos(np.pi * ky * i / n)[None, :]
    lam = -(D / h ** 2) * ((1 - np.cos(np.pi * kx / n)) + (1 - np.cos(np.pi * ky / n)))
    return W, torch.as_tensor(mode), lam


def test_diffusion_mode_is_an_eigenvector_of_the_stencil():
    W, mode, lam = _diffusion_mode()
    Lf = dense_matrix(W[0]) @ mode.numpy().ravel()
    np.testing.assert_allclose(Lf, lam * mode.numpy().ravel(), atol=1e-12 * abs(lam))


@pytest.mark.parametrize("solver,order", [(RKL2, 2), (ForwardEuler, 1), (Heun, 2)])
def test_convergence_order_on_a_diffusion_mode(solver, order):
    """f = 1 + 0.5 mode decays as exp(lam t): the error ratio on halving the sub-step is 2**order."""
    W, mode, lam = _diffusion_mode()
    f0 = (1.0 + 0.5 * mode)[None]
    dt = 2.0 / abs(lam)                     # the mode decays by e^-2 over the frame
    exact = 1.0 + 0.5 * np.exp(lam * dt) * mode
    errs = []
    # on 8 x 8 cells the stiffest eigenvalue is ~10.4 lam: 12 sub-steps keep every scheme stable
    for n in (12, 24, 48):
        out = solver().rollout(f0, W, dt, 1, n_sub=_plan(solver, 1, n, stages=5))
        errs.append((out[0, 1] - exact).abs().max().item())
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    # asymptotic rates; at these step sizes the next term shifts them by < 0.2
    assert np.all(np.abs(rates - order) < 0.25), rates


def test_rkl2_one_super_step_covers_many_euler_steps():
    """Pure diffusion: the plan needs far fewer stencil applications than forward Euler's sub-steps,
    and its rollout stays bounded (the stiffest mode inside the real stability interval)."""
    W, mode, lam = _diffusion_mode(n=31, D=1.0, h=0.1)
    dt = 1.0
    euler = spectral_substeps(W, dt)[0]
    n, s = rkl2_plan(W, dt)
    assert n[0] * s[0] * 4 < euler                                       # measured: 1 x 32 vs 219
    f0 = torch.rand(1, 31, 31, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = RKL2().rollout(f0, W.expand(20, -1, -1, -1), dt, 20)
    assert out.abs().max() <= f0.abs().max() * (1 + 1e-3)                 # no growth beyond round-off


# --- spectral estimate -------------------------------------------------------------------------

def test_spectral_euler_count_matches_the_exact_spectrum_on_a_drift_diffusion_stencil(make_full):
    grid = VelocityGrid.regular(17, 3.0)
    W = stencil(make_full(grid, [0.0], lambda x, y, t: -0.8 * x, lambda x, y, t: 0.3 - 0.8 * y,
                          0.5, 0.3, lambda x, y, t: 0.1 + 0 * x), grid, [0.0])
    dt = 2.0
    lam = np.linalg.eigvals(dense_matrix(W[0])) * dt
    exact = int(min_stable_counts(lam[None])[0])
    got = int(spectral_substeps(W, dt)[0])
    # Ritz values approach the outer eigenvalues from inside; the 1.1 margin may ask one more
    assert exact <= got <= int(np.ceil(1.1 * exact)) + 1, (exact, got)
