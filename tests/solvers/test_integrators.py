"""Tests of the time integrators (:mod:`collop.solvers.integrators`): conservation, exact
solutions, backends, Heun; for Fokker-Planck stencils and a radius-2 flux-form operator.

Conventions: ``C[f] = -div(A f) + 1/2 div div(D f)``; isotropic
``A = A_par v_hat``, ``D = D_par v_hat v_hat^T + D_perp (I - v_hat v_hat^T)``.

Several checks use *exact discrete moment identities* of the flux-form scheme:
with zero flux through the outer boundary and the centred fluxes of
:func:`collop.solvers.fp_flux_divergence`, summation by parts gives, up to
terms proportional to the mass in the outermost cells,

* ``d/dt sum f = 0``;
* ``d/dt sum v_x f = sum A_x f``  (the ``D`` fluxes telescope away);
* ``d/dt sum (v_x - m_x)^2 f = sum D_xx f`` when ``A = 0``.

All three are linear in ``f``, so forward Euler preserves them step by step
(e.g. ``var(t_k) - var(0) = D t_k`` exactly for constant ``D``). Where the
distribution stays away from the boundary, tolerances are therefore set by
round-off and by the Gaussian tail mass in the outer cells, not by the
O(h^2) truncation error - which makes them sensitive to sign or factor errors
in ``A`` and ``D``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collop.grid import VelocityGrid
from collop.operators import FokkerPlanck
from collop.solvers import ForwardEuler, Heun, stable_substeps

from ._helpers import dense_matrix, flux_form_stencil, mass_operator, stencil, tendency_matrix


# --- helpers --------------------------------------------------------------------------

def _moments(f: torch.Tensor, grid: VelocityGrid):
    """mass, means and variances of f (N, M) (float64)."""
    f = f.detach().double().numpy()
    VX, VY = grid.mesh()
    m = f.sum()
    mx, my = (f * VX).sum() / m, (f * VY).sum() / m
    return m, mx, my, (f * (VX - mx) ** 2).sum() / m, (f * (VY - my) ** 2).sum() / m


# --- mass conservation -----------------------------------------------------------------

# Measured (this machine): float64 max |sum f / sum f0 - 1| <= 6e-16 over 1000 steps;
# float32 1.0e-7 .. 1.7e-7. The float64 tolerance is far stricter than 1e-6 because the
# flux form conserves sum f to round-off. float32: each step rounds every cell
# (eps = 6e-8); these errors accumulate like a random walk, ~sqrt(1000) * 6e-8 = 2e-6 at
# worst, so 1e-5 keeps a margin while a leaking boundary (the "edge" case has 4 % of
# its mass in the outermost cells) would lose >1e-3.
MASS_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("symmetry", ["isotropic", "full"])
@pytest.mark.parametrize("where", ["inside", "edge"])
def test_mass_conserved_over_1000_euler_steps(dtype, symmetry, where, make_iso, make_full, make_gaussian):
    grid = VelocityGrid.regular(51, 5.0)
    times = np.linspace(0.0, 1.0, 11)
    op = mass_operator(symmetry, grid, times, make_iso, make_full)
    W = stencil(op, grid, times[:-1], dtype)
    assert W.abs().amax() > 0
    if where == "inside":
        f0 = make_gaussian(grid, (0.5, -0.3), 0.8)
    else:  # touching the vx = +5 wall: zero flux conserves mass regardless
        f0 = make_gaussian(grid, (3.5, 0.4), 1.5)
        assert f0[-1].sum() / f0.sum() > 0.03
    f0 = torch.as_tensor(f0, dtype=dtype)[None]
    out = ForwardEuler().rollout(f0, W, 0.1, 10, n_sub=100)          # 10 frames x 100 = 1000 steps
    mass = out.double().sum((-2, -1))
    rel = (mass / mass[:, :1] - 1).abs().max().item()
    assert rel < MASS_TOL[dtype], rel
    # the operator really did something (not a vacuous test)
    assert (out[0, -1] - out[0, 0]).abs().max() > 0.05 * out[0, 0].max()


# --- exactness of trivial cases, backends ---------------------------------------------------

@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_operator_leaves_f_unchanged(backend, dtype):
    grid = VelocityGrid.regular(15, 3.0)
    times = np.linspace(0, 1, 6)
    op = FokkerPlanck.build("tensor", grid, times)          # zeros: the paper's initial guess
    W = stencil(op, grid, times[:-1], dtype)
    assert stable_substeps(W, 0.2) == 1
    f0 = torch.rand(3, 15, 15, dtype=dtype, generator=torch.Generator().manual_seed(0))
    out = ForwardEuler(backend=backend).rollout(f0, W, 0.2, 5, n_sub=7)
    assert torch.equal(out, f0[:, None].expand_as(out))    # bit-exact: f + 0 * shift(f) == f


# Measured max |numba - torch| / max|f| over 50 steps: float32 2.3e-7 .. 3.2e-7, float64
# <= 6e-16. Tolerances: float32 1e-6 (a few ulps after 50 re-roundings; the numba kernel
# may contract multiply-adds (fast-math "contract"), so its rounding differs); float64 1e-12.
BACKEND_TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("solver", [ForwardEuler, Heun])
def test_numba_and_torch_backends_agree(dtype, solver, make_iso, make_full):
    grid = VelocityGrid.regular(23, 4.0)
    times = np.linspace(0, 1, 6)
    for op in (mass_operator("isotropic", grid, times, make_iso, make_full),
               mass_operator("full", grid, times, make_iso, make_full)):
        W = stencil(op, grid, times[:-1], dtype)
        f0 = torch.rand(3, 23, 23, dtype=dtype, generator=torch.Generator().manual_seed(2))
        a = solver(backend="numba").rollout(f0, W, 0.2, 5, n_sub=10)
        b = solver(backend="torch").rollout(f0, W, 0.2, 5, n_sub=10)
        assert ((a - b).abs().max() / b.abs().max()).item() < BACKEND_TOL[dtype]


# --- exact solutions ---------------------------------------------------------------------------

def test_constant_diffusion_gaussian_variance_grows_as_D_t(make_iso, make_gaussian):
    """(a) A = 0, D_par = D_perp = D: <v_x^2> = s0^2 + D t."""
    grid = VelocityGrid.regular(81, 8.0)          # h = 0.2; final sigma 1.0 -> tail at the wall ~ e^-32
    D, s0 = 0.64, 0.6
    op = make_iso(grid, [0.0], 0.0, D, D)
    W = stencil(op, grid, [0.0])
    f0 = torch.as_tensor(make_gaussian(grid, (0.0, 0.0), s0))[None]
    out = ForwardEuler().rollout(f0, W.expand(4, -1, -1, -1), 0.25, 4)
    _, _, _, vx0, vy0 = _moments(out[0, 0], grid)
    for k in range(1, 5):
        m, mx, my, vx, vy = _moments(out[0, k], grid)
        # discrete moment identity: exact up to round-off (measured 3e-15); a wrong factor
        # in D (1/2 div div) or in the time step changes it at O(1)
        assert (vx - vx0) == pytest.approx(D * 0.25 * k, rel=1e-9)
        assert (vy - vy0) == pytest.approx(D * 0.25 * k, rel=1e-9)
        assert abs(mx) < 1e-12 and abs(my) < 1e-12
    # the profile against the continuous solution N(0, s0^2 + D t): differences come from the
    # O(h^2) truncation (measured 4.0e-3 of the peak at h = 0.2, t = 1); 1.5e-2 allows ~4x
    s2 = s0 ** 2 + D * 1.0
    VX, VY = grid.mesh()
    exact = np.exp(-(VX ** 2 + VY ** 2) / (2 * s2)) / (2 * np.pi * s2)
    assert np.abs(out[0, -1].numpy() - exact).max() / exact.max() < 1.5e-2


def _covariance(f: torch.Tensor, grid: VelocityGrid) -> float:
    f = f.detach().double().numpy()
    VX, VY = grid.mesh()
    m = f.sum()
    mx, my = (f * VX).sum() / m, (f * VY).sum() / m
    return ((VX - mx) * (VY - my) * f).sum() / m


def test_constant_full_diffusion_tensor_moments_grow_as_D_t(make_full, make_gaussian):
    """(a') full symmetry, A = 0, constant D with D_xy != 0: var_x, var_y, cov grow as D_xx t,
    D_yy t, D_xy t - exactly, by the discrete identity d<v_i v_j>/dt = <D_ij> (sign of the
    cross term!)."""
    grid = VelocityGrid.regular(61, 6.0)          # h = 0.2; final sigma <= 1 -> 6 sigma to the walls
    Dxx, Dyy, Dxy = 0.5, 0.3, 0.2
    op = make_full(grid, [0.0], 0.0, 0.0, Dxx, Dyy, Dxy)
    W = stencil(op, grid, [0.0])
    f0 = torch.as_tensor(make_gaussian(grid, (0.3, -0.2), 0.5))[None]
    out = ForwardEuler().rollout(f0, W.expand(4, -1, -1, -1), 0.25, 4)
    _, _, _, vx0, vy0 = _moments(out[0, 0], grid)
    c0 = _covariance(out[0, 0], grid)
    for k in range(1, 5):
        _, mx, my, vx, vy = _moments(out[0, k], grid)
        t = 0.25 * k
        # measured deviation <= 4.5e-11 (the Gaussian tail reaching the walls); 1e-8 is 200x that
        assert vx - vx0 == pytest.approx(Dxx * t, rel=1e-8)
        assert vy - vy0 == pytest.approx(Dyy * t, rel=1e-8)
        assert _covariance(out[0, k], grid) - c0 == pytest.approx(Dxy * t, rel=1e-8)
        assert mx == pytest.approx(0.3, abs=1e-10) and my == pytest.approx(-0.2, abs=1e-10)


def test_constant_drift_moves_mean_as_A_t(make_full, make_gaussian):
    """(b) full symmetry, constant A = (a, b), small D: the mean moves as A t (sign check)."""
    grid = VelocityGrid.regular(51, 5.0)          # h = 0.2
    a, b, D = 0.7, -0.4, 0.2                      # cell Peclet a h / D = 0.7: Euler is stable
    op = make_full(grid, [0.0], a, b, D, D, 0.0)
    W = stencil(op, grid, [0.0])
    f0 = torch.as_tensor(make_gaussian(grid, (-1.0, 0.5), 0.5))[None]
    out = ForwardEuler().rollout(f0, W.expand(5, -1, -1, -1), 0.4, 5)
    for k in range(6):
        _, mx, my, _, _ = _moments(out[0, k], grid)
        # exact identity d<v>/dt = <A> up to the tail at the walls (measured <= 1.1e-10)
        assert mx == pytest.approx(-1.0 + a * 0.4 * k, abs=1e-9)
        assert my == pytest.approx(0.5 + b * 0.4 * k, abs=1e-9)


def test_linear_drag_mean_decays_exponentially(make_iso, make_gaussian):
    """(c) A_par = -nu v, D -> 0+: <v>(t) = <v>(0) exp(-nu t) to first order in the time step."""
    grid = VelocityGrid.regular(41, 4.0)          # h = 0.195
    nu, D = 0.5, 0.05
    op = make_iso(grid, [0.0], lambda s, t: -nu * s, D, D)
    W = stencil(op, grid, [0.0])
    # stable_substeps would give 2 per frame here, which is *not* stable for this
    # drift-dominated stencil (see test_stable_substeps_spectral_radius); 20 is (dt_sub A^2 < D)
    n_sub, dt, n_frames = 20, 0.1, 20
    f0 = torch.as_tensor(make_gaussian(grid, (1.0, -0.7), 0.4))[None]   # >= 7.5 sigma from the walls
    out = ForwardEuler().rollout(f0, W.expand(n_frames, -1, -1, -1), dt, n_frames, n_sub=n_sub)
    # bounded: drag compresses f towards variance D / (2 nu) (peak 3.2); measured max 1.84
    # (central differences at cell Peclet > 2 give small negative wiggles, min -0.06)
    assert out.abs().max() <= 1 / (2 * np.pi * D / (2 * nu))
    _, mx0, my0, _, _ = _moments(out[0, 0], grid)
    for k in range(1, n_frames + 1):
        _, mx, my, _, _ = _moments(out[0, k], grid)
        # the discrete scheme: each sub-step multiplies the mean by (1 - nu dt_sub), up to
        # the mass in the wall cells. That is not negligible here: at cell Peclet |A| h / D
        # up to 10 the central fluxes carry grid-scale wiggles out to the walls, where |f|
        # reaches 1e-6 by t = 2 (measured deviation 7e-8, also with 10x more sub-steps, so
        # it is not a time-step effect); 1e-6 still catches any error in A (O(dt) effects
        # are > 1e-4).
        discrete = (1 - nu * dt / n_sub) ** (n_sub * k)
        assert mx / mx0 == pytest.approx(discrete, rel=1e-6)
        assert my / my0 == pytest.approx(discrete, rel=1e-6)
        # and that is exp(-nu t) up to the Euler error nu^2 t dt_sub / 2 (<= 1.3e-3 at t = 2)
        t = dt * k
        assert mx / mx0 == pytest.approx(math.exp(-nu * t), rel=nu ** 2 * t * dt / n_sub)


def test_parallel_diffusion_spreads_along_v_hat(make_iso, make_gaussian):
    """(d) Gaussian at (3, 0), D_par = 2 D_perp: x variance grows twice as fast as y variance."""
    grid = VelocityGrid.regular(51, 5.0)
    D_perp = 0.1
    op = make_iso(grid, [0.0], 0.0, 2 * D_perp, D_perp)
    W = stencil(op, grid, [0.0])
    f0 = torch.as_tensor(make_gaussian(grid, (3.0, 0.0), 0.4))[None]
    out = ForwardEuler().rollout(f0, W.expand(4, -1, -1, -1), 0.25, 4)
    _, mx0, my0, vx0, vy0 = _moments(out[0, 0], grid)
    _, mx1, my1, vx1, vy1 = _moments(out[0, -1], grid)
    # d var_x/dt = <D_xx> = D_par <cos^2> + D_perp <sin^2>; at (3, 0) with an angular
    # spread ~ 0.5/3 rad (growing), <sin^2> ~ 0.02 -> ratio ~ 1.93 (measured 1.93); swapped
    # D_par/D_perp gives 0.5, a missing rotation gives 1.0
    ratio = (vx1 - vx0) / (vy1 - vy0)
    assert 1.85 < ratio <= 2.0, ratio
    assert (vy1 - vy0) == pytest.approx(D_perp * 1.0, rel=0.05)
    assert abs(my1) < 1e-12
    # the same Gaussian rotated to 45 degrees: D_xy = (D_par - D_perp)/2 -> cov grows at
    # ~ +D_perp/2, reduced by the angular spread delta to ~ (1 - 2 <delta^2>) of that
    # (measured 0.954); a sign error in the isotropic D_xy or the flux cross term flips it
    f45 = torch.as_tensor(make_gaussian(grid, (3 / np.sqrt(2), 3 / np.sqrt(2)), 0.4))[None]
    out = ForwardEuler().rollout(f45, W.expand(4, -1, -1, -1), 0.25, 4)
    dcov = _covariance(out[0, -1], grid) - _covariance(out[0, 0], grid)
    assert 0.85 < dcov / (0.5 * D_perp * 1.0) <= 1.0


# --- Heun -------------------------------------------------------------------------------------

def test_heun_agrees_with_euler_to_first_order_and_is_more_accurate(make_iso, make_gaussian):
    """Against the exact solution of the semi-discrete system, f(t) = expm(L t) f0.

    The comparison is with the *semi-discrete* solution on purpose: against the continuous
    Gaussian the O(h^2) spatial error dominates and partially cancels Euler's time error
    (measured: Euler 1.4e-2 vs Heun 2.8e-2 of the peak on this grid), which says nothing about
    the time integrators.
    """
    grid = VelocityGrid.regular(21, 4.0)
    D, t = 0.4, 1.0
    op = make_iso(grid, [0.0], 0.0, D, D)
    W = stencil(op, grid, [0.0])
    f0 = torch.as_tensor(make_gaussian(grid, (0.3, -0.2), 0.6))
    exact = (torch.linalg.matrix_exp(tendency_matrix(W) * t) @ f0.reshape(-1)).reshape(21, 21)
    n0 = stable_substeps(W, t)
    err_e, err_h, diff = [], [], []
    for n in (n0, 2 * n0, 4 * n0):
        e = ForwardEuler().rollout(f0[None], W, t, 1, n_sub=n)[0, 1]
        h = Heun().rollout(f0[None], W, t, 1, n_sub=n)[0, 1]
        err_e.append(((e - exact).abs().max() / exact.max()).item())
        err_h.append(((h - exact).abs().max() / exact.max()).item())
        diff.append(((h - e).abs().max() / exact.max()).item())
    # measured: Euler 3.8e-2, 1.9e-2, 9.2e-3 (order 1); Heun 3.2e-3, 7.1e-4, 1.7e-4 (order 2)
    for k in range(2):
        assert 1.8 < err_e[k] / err_e[k + 1] < 2.2          # first order
        assert 3.5 < err_h[k] / err_h[k + 1] < 5.0          # second order (measured 4.55, 4.23)
        assert 1.8 < diff[k] / diff[k + 1] < 2.2            # Heun - Euler = O(dt): agree to first order
    assert all(h < 0.2 * e for h, e in zip(err_h, err_e))
    # one sub-step: Heun and Euler differ only at O(dt^2) (the (dt L)^2 / 2 term)
    f = f0[None, None]
    one = [(Heun().step(f, W * s) - ForwardEuler().step(f, W * s)).abs().max().item()
           for s in (0.02, 0.01)]
    assert one[0] / one[1] == pytest.approx(4.0, rel=1e-6)


def test_radius2_flux_form_operator_conserves_mass_over_1000_steps():
    """A random flux-form operator of radius 2 (face fluxes: random linear combinations of f within
    radius 2, zero on the outer faces) conserves sum f over 1000 Euler steps, float64, both backends."""
    n, m = 17, 14
    W = flux_form_stencil(n, m, seed=3)
    L = dense_matrix(W)
    # every column of the operator sums to zero (round-off of ~20 O(1) terms: measured 1e-15)
    assert np.abs(L.sum(0)).max() < 1e-13
    assert W[[0, 4, 20, 24]].abs().max() > 0.01     # the corners of the 5 x 5 stencil are used
    dt, n_sub = 2.0, 100                              # 10 frames x 100 sub-steps = 1000 steps
    assert stable_substeps(W[None], dt) <= n_sub      # inside the stability bound
    f0 = torch.rand(2, n, m, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for backend in ("numba", "torch"):
        out = ForwardEuler(backend=backend).rollout(f0, W.expand(10, -1, -1, -1), dt, 10, n_sub=n_sub)
        mass = out.sum((-2, -1))
        # each step adds round-off ~ eps * sum|f| (float64) to the mass; over 1000 steps a random
        # walk of it stays ~1e-14 relative (measured 1.2e-15); 1e-12 would flag any leaking boundary
        # or non-conservative column (the operator moves O(1) of the mass per frame)
        assert ((mass / mass[:, :1] - 1).abs().max()).item() < 1e-12
        assert out.abs().max() < 2 * f0.max()          # bounded
        assert (out[:, -1] - out[:, 0]).abs().max() > 0.1 * f0.max()   # the operator did something
