"""The random-batch collision solver (:mod:`collop.kinetic.solver`): conservation, equilibrium, relaxation.

Conservation is exact per pair, so totals may drift only by float64
round-off: ~1e-16 per operation, accumulated over N particles and the steps
(tolerances 1e-12 relative). Statistical statements use N = 20000 particles
with tolerances of several standard errors, stated at each assertion.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collop.kinetic.diagnostics import conservation, energy_distance
from collop.kinetic.kernels import CM1Kernel, CM2Kernel, LandauKernel
from collop.kinetic.solver import CollisionSolver, _kappa_quadrupole, _langevin_over_kappa
from collop.kinetic.testfunctions import TestFunctions
from collop.kinetic.weakform import model_side

N = 20_000


def _cm2(seed=0):
    k = CM2Kernel(1.0, 0.6, seed=seed)
    with torch.no_grad():
        for W, _ in k.net.weights():
            W.mul_(1.5)
    return k


def _bimaxwellian(n=N, seed=0, T=(2.0, 0.5, 0.5)):
    v = np.random.default_rng(seed).normal(size=(n, 3)) * np.sqrt(T)
    return v - v.mean(0) + np.array([0.1, -0.2, 0.05])        # a non-zero mean velocity


@pytest.mark.parametrize("kernel", [LandauKernel(1.0), CM1Kernel(1.0, 1.0, seed=1), _cm2()],
                         ids=["landau", "cm1", "cm2"])
def test_momentum_and_energy_are_conserved_to_round_off(kernel):
    v0 = _bimaxwellian()
    solver = CollisionSolver(kernel, angle=0.2, seed=1)
    v = solver.rollout(v0, np.linspace(0, 0.5, 6))
    c = conservation(v, np.linspace(0, 0.5, 6), entropy=False)
    assert (c["n"] == N).all()                                            # density: exactly
    assert float(np.abs(c["momentum_drift"]).max()) < 1e-12
    assert float(np.abs(c["energy_drift"]).max()) < 1e-12
    assert solver.steps_ >= 5
    assert not np.allclose(v[-1], v0)                                      # something happened


def test_maxwellian_is_stationary_within_sampling_noise():
    """After ~2 relaxation times a Maxwellian is as close to its start as two independent Maxwellian samples.

    The floor is the energy distance between independent samples of the
    same size; the rollout must stay below 1.5x its 95th percentile (over
    20 pairs of samples).
    """
    g = np.random.default_rng(1)
    n = 3000
    v0 = g.normal(size=(n, 3))
    floor = [energy_distance(g.normal(size=(n, 3)), g.normal(size=(n, 3)), max_points=None) for _ in range(20)]
    for kernel in (LandauKernel(1.0), _cm2(2)):
        v = CollisionSolver(kernel, angle=0.2, seed=2).rollout(v0, [0.0, 3.0])
        d = energy_distance(v[-1], v0, max_points=None)
        assert d < 1.5 * np.quantile(floor, 0.95)
        # the particles did move: the final set is not the initial one
        assert np.abs(v[-1] - v0).mean() > 0.3


def test_entropy_increases_during_relaxation():
    """Kozachenko-Leonenko entropy of a bi-Maxwellian relaxing under Landau: non-decreasing within noise.

    Its total rise (0.35 nats from the bi-Maxwellian to the Maxwellian) is
    far above the estimator's frame-to-frame noise (~0.01 nats at N = 20000);
    a decrease larger than 0.02 nats between frames would be a failure.
    """
    times = np.linspace(0, 3, 7)
    v = CollisionSolver(LandauKernel(1.0), angle=0.2, seed=3).rollout(_bimaxwellian(), times)
    S = conservation(v, times)["entropy"].values
    assert np.all(np.diff(S) > -0.02)
    assert S[-1] - S[0] > 0.1


def test_relaxation_rate_matches_the_kinetic_equation():
    """The solver's d<psi>/dt over one short interval matches the weak form of the kinetic equation.

    Bi-Maxwellian, N = 1e5, Landau; one interval of 0.2 (40 steps) repeated
    over 3 seeds. The solver's random-batch error at this step is a few per
    cent; the tolerance is 10 % of the anisotropy-sensitive test function's rate.
    """
    tf = TestFunctions(["gauss:1,0,0", "exp"], 1.0)
    v0 = _bimaxwellian(100_000, seed=4, T=(2.0, 0.5, 0.5))
    kern = LandauKernel(1.0)
    v0t = torch.as_tensor(v0)
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        i = torch.randint(0, v0.shape[0], (1_000_000,), generator=g)
        j = (i + torch.randint(1, v0.shape[0], (1_000_000,), generator=g)) % v0.shape[0]
        b0 = model_side(kern, v0t[i], v0t[j], tf, v0t.mean(0)).numpy()
    rates = []
    for seed in range(3):
        v = CollisionSolver(kern, angle=0.1, seed=seed).rollout(v0, [0.0, 0.05])
        rates.append((tf.values(torch.as_tensor(v[1])).mean(0) - tf.values(v0t).mean(0)).numpy() / 0.05)
    r = np.mean(rates, 0)
    assert abs(r[0] / b0[0] - 1) < 0.1


def test_kappa_of_the_quadrupole_law():
    g = torch.tensor([1e-9, 1e-4, 0.01, 0.08, 0.1, 0.2, 0.3, 0.333], dtype=torch.float64)
    k = _kappa_quadrupole(g)
    assert torch.allclose(_langevin_over_kappa(k), g, rtol=1e-9, atol=0)
    assert (_kappa_quadrupole(torch.tensor([1 / 3, 0.5], dtype=torch.float64)) == 0).all()


def test_von_mises_step_has_the_quadrupole_moment():
    """A pair population turned once: <P2(cos chi)> = 1 - 6 D dt (the mean-field rate), within 4 standard errors."""
    m = 200_000
    kern = LandauKernel(1.0)
    v1 = torch.zeros(m, 3, dtype=torch.float64)
    v2 = torch.zeros(m, 3, dtype=torch.float64)
    v1[:, 0], v2[:, 0] = 0.5, -0.5                                    # |u| = 1, G = 1
    solver = CollisionSolver(kern, seed=5)
    for dt in (0.002, 0.02):
        u = solver._rotate_isotropic(v1, v2, dt, None)
        w = u[:, 0] / u.norm(dim=-1)
        p2 = 1.5 * w * w - 0.5
        expected = 1 - 6 * 4 * dt                                      # D = 4 G/|u|^2
        assert abs(float(p2.mean().detach()) - expected) < 4 * float(p2.std()) / math.sqrt(m)
        assert torch.allclose(u.norm(dim=-1), torch.ones(m, dtype=torch.float64), rtol=1e-14, atol=0)


def test_bad_arguments():
    with pytest.raises(ValueError):
        CollisionSolver(LandauKernel(1.0), angle=0)
    with pytest.raises(ValueError):
        CollisionSolver(LandauKernel(1.0), dt=-1.0)
    with pytest.raises(ValueError):
        CollisionSolver(LandauKernel(1.0)).rollout(np.zeros((4, 3)), [0.0, 0.0])
    with pytest.raises(ValueError):
        CollisionSolver(LandauKernel(1.0)).rollout(np.zeros((4, 2)), [0.0, 1.0])


@pytest.mark.parametrize("kernel", [LandauKernel(1.0), CM1Kernel(1.0, 1.0, seed=1)], ids=["landau", "cm1"])
def test_numba_and_torch_isotropic_steps_agree(kernel):
    """The numba path draws the same random numbers and applies the same formulas: equal to round-off.

    The dynamics is chaotic, so differences of 1e-16 grow; after 20 steps
    they stay below 1e-9 of the thermal speed.
    """
    v0 = _bimaxwellian(3001, seed=7)
    v0[10] = v0[11]                                           # a possible u = 0 pair
    out = {}
    for backend in ("torch", "auto"):
        solver = CollisionSolver(kernel, seed=4)
        solver.backend = backend
        out[backend] = solver.rollout(v0, [0.0, 0.05, 0.1])
    assert np.abs(out["torch"] - out["auto"]).max() < 1e-9
