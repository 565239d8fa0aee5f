"""Tests of collop.sim.langevin, the known-truth Fokker-Planck particle generator.

Statistical tolerances: for N Gaussian samples the sample mean has standard
error sqrt(var / N) and the sample variance relative standard error
sqrt(2 / (N - 1)). Checks use 4.5 standard errors (failure probability < 1e-5
per check for a correct generator) plus, where stated, a bound on the
Euler-Maruyama discretisation error.
"""
from __future__ import annotations

import numpy as np
import pytest

from collop.grid import VelocityGrid
from collop.phasespace import Normal, build_phasespace
from collop.schema import CollopError, validate
from collop.sim import IsotropicTruth, default_truth, generate, truth_operator_dataset

N = 40_000


def _var_ok(sample_var, true_var, n=N, extra=0.0):
    return np.abs(sample_var - true_var) <= 4.5 * true_var * np.sqrt(2 / (n - 1)) + extra


def test_constant_diffusion_variance_grows_as_D_t():
    D = 0.01
    truth = IsotropicTruth.constant(D_par=D, D_perp=D)
    init = Normal((1.0, -0.5), ((0.02, 0), (0, 0.02)))
    ds = generate(truth, init, n_particles=N, n_frames=10, dt_frame=2.0, seed=1)
    v = ds["v"].values.astype(float)
    t = ds["time"].values
    # isotropic constant D: Euler-Maruyama is exact in distribution, var = var0 + D t
    for k in (1, 5, 10):
        for c in range(2):
            assert _var_ok(v[k, :, c].var(), 0.02 + D * t[k])
        assert np.all(np.abs(v[k].mean(0) - (1.0, -0.5)) < 4.5 * np.sqrt((0.02 + D * t[k]) / N))


def test_linear_drag_mean_decays_exponentially():
    nu, D = 0.05, 0.002
    truth = IsotropicTruth.constant(D_par=D, D_perp=D, nu=nu)
    m0 = np.array([2.0, -1.0])
    ds = generate(truth, Normal(m0, ((0.01, 0), (0, 0.01))), n_particles=N, n_frames=20,
                  n_inner=4, seed=2)
    v = ds["v"].values.astype(float)
    dt = 0.25
    for k in (5, 10, 20):
        t = float(ds["time"][k])
        # Euler-Maruyama gives exactly (1 - nu dt)^(t/dt) for a linear drift; its
        # distance from exp(-nu t) is the discretisation error allowed here.
        disc = abs((1 - nu * dt) ** (t / dt) - np.exp(-nu * t)) * np.abs(m0)
        se = np.sqrt(v[k].var(0) / N)
        assert np.all(np.abs(v[k].mean(0) - m0 * np.exp(-nu * t)) < 4.5 * se + disc)
        # and, sharper, the discrete-time mean itself
        assert np.all(np.abs(v[k].mean(0) - m0 * (1 - nu * dt) ** (t / dt)) < 4.5 * se)


def test_pure_drift_sign():
    th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    v0 = 2.0 * np.column_stack([np.cos(th), np.sin(th)])
    ds = generate(IsotropicTruth.constant(A_par=-0.1), v0, n_frames=10, seed=0)
    v = ds["v"].values.astype(float)
    speed = np.hypot(v[..., 0], v[..., 1])
    t = ds["time"].values
    # deterministic: only float32 storage round-off (~2e-7 relative) remains
    np.testing.assert_allclose(speed, (2.0 - 0.1 * t)[:, None] * np.ones(64), atol=1e-5)
    np.testing.assert_allclose(v[-1] / speed[-1][:, None], v0 / 2.0, atol=1e-5)


def test_anisotropic_diffusion():
    Dperp = 0.0005
    truth = IsotropicTruth.constant(D_par=2 * Dperp, D_perp=Dperp)
    ds = generate(truth, np.tile([2.0, 0.0], (N, 1)), n_frames=20, seed=3)
    v = ds["v"].values[-1].astype(float)
    t = float(ds["time"][-1])
    vx, vy = v.var(0)
    # geometric error: directions turn by ~ sqrt(var_y)/2 = 0.05 rad, mixing
    # D_par and D_perp by sin^2 ~ 0.25% -> allow 1% extra
    assert _var_ok(vx, 2 * Dperp * t, extra=0.01 * vx)
    assert _var_ok(vy, Dperp * t, extra=0.01 * vy)
    # ratio of two independent variance estimates: relative error sqrt(2) * sqrt(2/N)
    assert abs(vx / vy - 2) < 4.5 * 2 * np.sqrt(4 / N) + 0.02


def test_zero_velocity_is_handled():
    truth = IsotropicTruth.constant(A_par=-0.1, D_par=0.001, D_perp=0.004)
    ds = generate(truth, np.zeros((N, 2)), n_frames=1, n_inner=1, seed=4)
    v = ds["v"].values[1].astype(float)
    assert np.all(np.isfinite(v))
    # at v = 0: no drift and B = sqrt(D_perp) I
    for c in range(2):
        assert _var_ok(v[:, c].var(), 0.004)
    assert np.all(np.abs(v.mean(0)) < 4.5 * np.sqrt(0.004 / N))


def test_reproducible_and_valid():
    kw = dict(n_particles=70_000, n_frames=3, seed=7)  # > 65536: two noise blocks
    a = generate(default_truth(), "waterbag_2", **kw)
    b = generate(default_truth(), "waterbag_2", n_threads=1, **kw)
    np.testing.assert_array_equal(a["v"].values, b["v"].values)
    c = generate(default_truth(), "waterbag_2", **dict(kw, seed=8))
    assert not np.array_equal(a["v"].values, c["v"].values)
    validate(a, "particles")
    assert a["v"].dtype == np.float32 and a["v"].shape == (4, 70_000, 2)
    np.testing.assert_array_equal(a["particle"], np.arange(70_000))
    np.testing.assert_allclose(a["time"], np.arange(4.0))
    assert a.attrs["seed"] == 7 and a.attrs["n_inner"] == 4 and a.attrs["dt_frame"] == 1.0
    assert "D0=0.006" in a.attrs["truth"] and a.attrs["velocity_units"] == "0.01c"


def test_population_list_is_split_evenly():
    ds = generate(default_truth(), ["normal_-1_0", "normal_1_0"], n_particles=1001, n_frames=1,
                  seed=0, progress=True)
    v0 = ds["v"].values[0]
    assert np.all(v0[:501, 0] < 0) and np.all(v0[501:, 0] > 0)  # 6.7 sigma from the split
    with pytest.raises(CollopError, match="bogus"):
        generate(default_truth(), "bogus_1", n_particles=10, n_frames=1)


def test_negative_diffusion_raises():
    with pytest.raises(CollopError, match="negative"):
        generate(IsotropicTruth.constant(D_par=-1.0, D_perp=1.0), "normal_0_0", n_particles=10,
                 n_frames=1)


def test_default_truth_and_tabulate():
    tr = default_truth(v_c=2.0, D0=0.006, nu0=0.004, tau=30.0)
    A, Dp, Dq = tr.coefficients(np.array([0.0, 2.0]), np.array([[0.0], [1e6]]))
    np.testing.assert_allclose(A, [[0, -0.004 * 2 * 2 / 1.25], [0, -0.004 * 2 / 1.25]])
    np.testing.assert_allclose(Dp, [[0.012, 0.006], [0.006, 0.003]])
    np.testing.assert_allclose(Dq, [[0.012, 0.012 / 1.5], [0.006, 0.006 / 1.5]])
    op = tr.tabulate(np.arange(5.0), np.linspace(0, 5, 11), "0.01c", "frame")
    validate(op, "operator")
    assert op.attrs["method"] == "truth" and op["A_par"].shape == (5, 11)
    assert op.attrs["operator"] == "fokker_planck_isotropic"


def test_truth_operator_dataset():
    tr = default_truth()
    parts = generate(tr, "maxwellian_1", n_particles=20_000, n_frames=4, seed=0)
    op = truth_operator_dataset(tr, parts)
    validate(op, "operator")
    np.testing.assert_allclose(op["time"], parts["time"])
    assert op.sizes["speed"] == 101 and op["speed"][-1] > 3
    ps = build_phasespace(parts, ["normal_0_0"], n_bins=21, n_particles=500)
    op2 = truth_operator_dataset(tr, ps)
    validate(op2, "operator")
    g = VelocityGrid.from_dataset(ps)
    np.testing.assert_allclose(np.diff(op2["speed"]), g.h / 2)
    assert op2["speed"][-1] >= g.corner_speed - 1e-9
