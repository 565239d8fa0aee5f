"""Tests of :func:`collop.solvers.stable_substeps` for Fokker-Planck (r = 1) and wider stencils."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collop.grid import VelocityGrid
from collop.solvers import ForwardEuler, stable_substeps
from collop.solvers._kernels import stability_rates

from ._helpers import (dense_matrix, diffusive_stencil, embed, euler_matrix, fourth_order_stencil, stencil)


# --- Fokker-Planck stencils (r = 1) -----------------------------------------------------------

def test_stable_substeps_pure_diffusion_value_and_rollout(make_iso):
    grid = VelocityGrid.regular(21, 4.0)
    D, dt = 50.0, 0.1
    op = make_iso(grid, [0.0], 0.0, D, D)
    W = stencil(op, grid, [0.0])
    # docstring: n = ceil(max_frames(dt * max_cells(|W_0| + sum_k |W_k|)) / (2 safety)); for
    # pure diffusion an interior cell has |W_0| = 2D/h^2 and four neighbours D/(2h^2)
    expected = math.ceil(dt * (4 * D / grid.h ** 2) / (2 * 0.9))     # = ceil(76.56) = 77
    n = stable_substeps(W, dt)
    assert n == expected == 77
    assert stable_substeps(W, dt, safety=0.5) == math.ceil(dt * 4 * D / grid.h ** 2)
    # per-frame intervals: the worst frame decides
    W2 = torch.cat([W, 0.25 * W])
    assert stable_substeps(W2, torch.tensor([0.01, 0.2])) == math.ceil(0.2 * D / grid.h ** 2 / 1.8)
    f0 = torch.rand(2, 21, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = ForwardEuler().rollout(f0, W.expand(20, -1, -1, -1), dt, 20)
    # dt_sub <= h^2 / (2D): every Euler update is a convex combination -> maximum principle
    peak = out.abs().amax((-2, -1))
    assert (peak <= peak[:, :1] * (1 + 1e-12)).all()
    # a sub-step count below the bound is unstable (this check can fail)
    bad = ForwardEuler().rollout(f0, W.expand(20, -1, -1, -1), dt, 20, n_sub=int(0.45 * n))
    assert not (bad.abs().amax() < 10 * f0.max())


def _spectral_radius(W, dt):
    n = stable_substeps(W, dt)
    return torch.linalg.eigvals(euler_matrix(W * dt / n)).abs().max().item()


@pytest.mark.parametrize("case", ["diffusion", "anisotropic", "mild_drift"])
def test_stable_substeps_spectral_radius(case, make_iso, make_full):
    """The Euler sub-step matrix at stable_substeps has spectral radius <= 1 (diffusion-dominated)."""
    grid = VelocityGrid.regular(15, 3.0)           # h = 0.4
    op = {"diffusion": lambda: make_iso(grid, [0.0], 0.0, 0.7, 0.7),
          "anisotropic": lambda: make_iso(grid, [0.0], 0.0, 1.0, 0.2),
          "mild_drift": lambda: make_full(grid, [0.0], 0.3, -0.2, 0.5, 0.4, 0.1)}[case]()
    assert _spectral_radius(stencil(op, grid, [0.0]), 0.5) <= 1 + 1e-12


def test_stable_substeps_is_stable_for_drift_dominated_stencil(make_full):
    grid = VelocityGrid.regular(21, 5.0)
    op = make_full(grid, [0.0], 1.0, 0.3, 0.1, 0.1, 0.03)
    assert _spectral_radius(stencil(op, grid, [0.0]), 1.0) <= 1 + 1e-9


def test_stable_substeps_per_frame(make_iso):
    """Per-frame counts: each frame's own bound; their maximum is the scalar answer."""
    grid = VelocityGrid.regular(21, 4.0)
    Ws = [stencil(make_iso(grid, [0.0], 0.0, D, D), grid, [0.0]) for D in (1.0, 5.0, 50.0)]
    W, dt = torch.cat(Ws), 0.1
    per = stable_substeps(W, dt, per_frame=True)
    assert per.tolist() == [stable_substeps(w, dt) for w in Ws]
    assert per[0] < per[2] == 77 and int(per.max()) == stable_substeps(W, dt)
    assert stable_substeps(W * float("nan"), dt, per_frame=True).tolist() == [1, 1, 1]
    # a rollout with per-frame counts stays bounded (maximum principle) while using fewer steps
    f0 = torch.rand(2, 21, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = ForwardEuler().rollout(f0, W, dt, 3)
    peak = out.abs().amax((-2, -1))
    assert (peak <= peak[:, :1] * (1 + 1e-12)).all()


def _hand_built():
    """r = 1 stencils (T, 9, 3, 4) written down by hand: diffusion, drift, capped drift, corners.

    Column order (k // 3 - 1, k % 3 - 1): 1 = (-1, 0), 7 = (+1, 0), 3 = (0, -1), 5 = (0, +1)."""
    W = np.zeros((4, 9, 3, 4))
    W[0, [1, 7, 3, 5]] = 1.0
    W[0, 4] = -4.0                                       # 2-D diffusion: G = 8, no drift
    W[1, 1], W[1, 7], W[1, 4] = 3.0, 1.0, -4.0           # x drift: diff = 2, both = 4 -> rate 1
    W[1, 3, 1, 2], W[1, 5, 1, 2] = 0.5, 2.5              # y drift at one cell: diff 2, both 3 -> 4/3
    W[2, 1], W[2, 7], W[2, 4] = 1.05, -0.95, -0.1        # cell Peclet > 10: den = 0.1 |diff| -> rate 20
    W[3, [0, 2, 6, 8]] = 0.5                             # only corners: no axis drift for r = 1
    W[3, 7], W[3, 4] = 0.2, -2.2
    return torch.as_tensor(W)


def _todays_rule(W: np.ndarray) -> np.ndarray:
    """The r = 1 rates as defined before stencils of any radius (numpy, float64), per frame."""
    gersh = np.abs(W).sum(1).max((-2, -1))
    drift = np.zeros(W.shape[0])
    for km, kp in ((1, 7), (3, 5)):
        diff, both = W[:, km] - W[:, kp], W[:, km] + W[:, kp]
        den = np.maximum(both, 0.1 * np.abs(diff))
        rate = np.where(den > 0, diff * diff / np.where(den > 0, den, 1.0), 0.0)
        drift = np.maximum(drift, rate.max((-2, -1)))
    return np.stack([gersh, drift], -1)


def test_r1_rates_and_counts_are_todays_rule_on_hand_built_stencils():
    """For r = 1 the bound is the axis-neighbour rule: Gershgorin sum and
    (W_- - W_+)^2 / max(W_- + W_+, 0.1 |W_- - W_+|), bit for bit, on both backends."""
    W = _hand_built()
    rates = stability_rates(W.numpy())
    np.testing.assert_array_equal(rates, _todays_rule(W.numpy()))
    # by hand: frame 1's y-drift cell has sum |W| = 3 + 1 + 4 + 0.5 + 2.5 = 11; frame 3's x
    # neighbours (0, 0.2) give 0.04 / 0.2 = 0.2 and its corners (0.5 each) are ignored
    np.testing.assert_allclose(rates, [[8.0, 0.0], [11.0, 4 / 3], [2.1, 20.0], [4.4, 0.2]], rtol=1e-15)
    dt = torch.tensor([0.9, 0.9, 0.45, 9.0], dtype=torch.float64)
    # n = ceil(max(dt G / (2 * 0.9), dt rate / 0.9)):
    #     4, max(5.5, 1.33) -> 6, max(0.5, 10) -> 10, max(22, 2) -> 22
    for backend in ("auto", "torch"):
        assert stable_substeps(W, dt, per_frame=True, backend=backend).tolist() == [4, 6, 10, 22]


def test_stable_substeps_kernel_matches_torch_reference(make_iso):
    """The fused numba bound and the pure-torch bound give the same per-frame counts (r = 1 and 2)."""
    grid = VelocityGrid.regular(21, 4.0)
    rng = np.random.default_rng(0)
    Ws = [stencil(make_iso(grid, [0.0], float(a), float(d), float(q)), grid, [0.0])
          for a, d, q in rng.uniform([-30, 0, 0], [30, 60, 60], (6, 3))]
    W = torch.cat(Ws)
    dt = torch.linspace(0.05, 0.2, 6, dtype=W.dtype)
    wide = torch.cat([embed(W[:3], 2), torch.stack([diffusive_stencil(21, 21, 2, s) for s in range(3)])])
    for w in (W, wide):
        fused = stable_substeps(w, dt, per_frame=True, backend="numba")
        reference = stable_substeps(w, dt, per_frame=True, backend="torch")
        assert fused.tolist() == reference.tolist() and len(set(fused.tolist())) > 1
        bad = w.clone()
        bad[2, 0, 3, 3] = float("inf")
        assert stable_substeps(bad, dt, per_frame=True).tolist() == [1] * 6
        assert stable_substeps(bad, dt, per_frame=True, backend="torch").tolist() == [1] * 6


# --- wider stencils (r > 1) -----------------------------------------------------------------------

def test_random_diffusive_radius2_stencil_stays_bounded_at_the_bound():
    """A random symmetric radius-2 graph Laplacian: at stable_substeps every Euler update is a convex
    combination, so the rollout obeys the maximum principle; 40 % of the count blows up."""
    n, m, dt = 13, 11, 0.5
    W = diffusive_stencil(n, m, 2, seed=1)
    nsub = stable_substeps(W[None], dt)
    assert nsub > 5                                       # the bound is doing something
    f0 = torch.rand(2, n, m, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = ForwardEuler().rollout(f0, W.expand(30, -1, -1, -1), dt, 30)
    peak = out.abs().amax((-2, -1))
    assert (peak <= peak[:, :1] * (1 + 1e-12)).all()
    # too few sub-steps: the largest eigenvalue of a graph Laplacian exceeds half the Gershgorin
    # radius, so 0.4 n sub-steps leave |1 + dt_sub lambda| > 1 (this check can fail)
    bad = ForwardEuler().rollout(f0, W.expand(30, -1, -1, -1), dt, 30, n_sub=int(0.4 * nsub))
    assert not (bad.abs().amax() < 10 * f0.max())


def test_radius2_drift_bound_stabilises_a_drift_dominated_stencil():
    """Fourth-order centred drift + diffusion (radius 2) with cell Peclet |A| h / nu = 12.5: the
    Gershgorin count alone is unstable; the moment rule (dt m_1^2 <= m_2) makes the Euler matrix's
    spectral radius <= 1."""
    n, m, h, dt = 21, 19, 0.25, 1.0
    W = fourth_order_stencil(n, m, h, 1.0, -0.5, 0.02)[None]
    rates = stability_rates(W.numpy())[0]
    # m_1 = -A_x / h = -4, m_2 = 2 nu / h^2 = 0.64 along vx: rate 16 / 0.64 = 25
    assert rates[1] == pytest.approx(25.0, rel=1e-12)
    nsub = stable_substeps(W, dt)
    n_gersh = math.ceil(dt * rates[0] / 1.8)
    assert nsub > 3 * n_gersh
    L = dense_matrix(W[0])
    rho = np.abs(np.linalg.eigvals(np.eye(n * m) + L * dt / nsub)).max()
    rho_gersh = np.abs(np.linalg.eigvals(np.eye(n * m) + L * dt / n_gersh)).max()
    # measured 0.975 and 1.49
    assert rho <= 1 + 1e-12 and rho_gersh > 1.1


def test_embedded_fokker_planck_stencil_keeps_its_counts(make_full):
    """A radius-1 Fokker-Planck stencil written with r = 2 (zero outer ring): with D_xy = 0 the
    all-column moments equal the axis ones, so the counts are identical; with D_xy != 0 the
    drift-dominated case stays stable."""
    grid = VelocityGrid.regular(21, 5.0)
    times = np.array([0.0, 0.5, 1.0])
    op = make_full(grid, times, lambda x, y, t: 1.0 - 0.2 * x, lambda x, y, t: 0.3 + 0 * y,
                   lambda x, y, t: 0.1 + 0.05 * t + 0 * x, lambda x, y, t: 0.1 + 0.02 * y ** 2 / 25, 0.0)
    W = stencil(op, grid, times)
    dt = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    counts = stable_substeps(W, dt, per_frame=True)
    assert counts.tolist() == stable_substeps(embed(W, 2), dt, per_frame=True).tolist()
    assert counts.tolist() == stable_substeps(embed(W, 3), dt, per_frame=True).tolist()
    W = embed(stencil(make_full(grid, [0.0], 1.0, 0.3, 0.1, 0.1, 0.03), grid, [0.0]), 2)
    n = stable_substeps(W, 1.0)
    assert np.abs(np.linalg.eigvals(np.eye(21 * 21) + dense_matrix(W[0]) / n)).max() <= 1 + 1e-9


def test_ritz_values_reach_the_dense_spectrum_and_survive_an_exhausted_krylov_space():
    """With as many Arnoldi steps as the grid has cells the Krylov space is the whole space, and the
    Ritz values are the operator's eigenvalues (Gram-Schmidt twice keeps the basis orthogonal to
    round-off: tolerance 1e-8 of the spectral radius); the zero operator exhausts the space at once and
    gives zeros, not NaN."""
    from collop.solvers import _kernels as k
    from collop.solvers.stability import ritz_values

    rng = np.random.default_rng(3)
    N = M = 5
    W = rng.standard_normal((2, 9, N, M)) * 0.1
    W[1] = 0.0
    z = ritz_values(torch.from_numpy(W), 1.0, m=N * M)
    eye = np.eye(N * M).reshape(N * M, 1, N, M)
    L = (k.stencil_forward(eye, np.repeat(W[:1], N * M, 0)) - eye).reshape(N * M, N * M).T
    exact = np.linalg.eigvals(L)
    scale = np.abs(exact).max()
    assert np.allclose(np.sort_complex(z[0]), np.sort_complex(exact), atol=1e-8 * scale, rtol=0)
    assert np.all(z[1] == 0)
