"""The weak-form terms (:mod:`collop.kinetic.weakform`) and test functions (:mod:`collop.kinetic.testfunctions`).

Monte Carlo comparisons use a tolerance of 4 combined standard errors (a
false alarm about once in 16000 runs); exact identities use float64
round-off tolerances.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from collop.kinetic.geometry import pair_frame
from collop.kinetic.kernels import CM1Kernel, CM2Kernel, LandauKernel, omega_matrix
from collop.kinetic.testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions
from collop.kinetic.weakform import md_side, md_side_variance, pair_coefficients, pair_contributions, time_weights
from collop.options import SpecError

F64 = torch.float64
SPECS = list(PAPER_TEST_FUNCTIONS) + ["gauss:0.5,-0.3,0.2,0.7", "shell:1.5"]


def _cm2():
    k = CM2Kernel(1.0, 0.5, dtype=F64, seed=3)
    with torch.no_grad():
        for W, _ in k.net.weights():
            W.mul_(2.0)
    return k


@pytest.mark.parametrize("spec", SPECS)
def test_test_function_derivatives_match_autograd(spec):
    tf = TestFunctions([spec], 1.7)
    v = torch.randn(20, 3, dtype=F64, generator=torch.Generator().manual_seed(0)) * 1.7
    grad = tf.gradient(v)[:, 0]
    hess = tf.hessian(v)[:, 0]
    for p in range(v.shape[0]):
        f = lambda x: tf.values(x[None])[0, 0]          # noqa: E731
        assert torch.allclose(torch.autograd.functional.jacobian(f, v[p]), grad[p], rtol=1e-10, atol=1e-13)
        assert torch.allclose(torch.autograd.functional.hessian(f, v[p]), hess[p], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("spec,problem", [("cube", "unknown"), ("shell", "takes 1"), ("gauss:1,2", "takes 3"),
                                          ("gauss:0,0,0,-1", "positive"), ("exp:2", "takes 0"),
                                          ("shell:x", "numbers")])
def test_bad_test_function_specs(spec, problem):
    with pytest.raises(SpecError, match=problem):
        TestFunctions([spec], 1.0)


def _score_form(kernel, v1, v2, tf, T):
    """``-1/2 E[(grad psi - grad' psi')^T omega (grad log f - grad' log f')]`` for ``f = N(0, diag(T))``."""
    W = omega_matrix(kernel, v1, v2)
    B = -v1 / T + v2 / T
    gd = tf.gradient(v1) - tf.gradient(v2)
    return -0.5 * torch.einsum("pki,pij,pj->pk", gd, W, B)


@pytest.mark.parametrize("kernel", [LandauKernel(1.0), CM1Kernel(1.0, 1.0, dtype=F64, seed=1), _cm2()],
                         ids=["landau", "cm1", "cm2"])
def test_integration_by_parts_matches_the_score_form(kernel):
    """For an anisotropic Gaussian the pair terms (B5) agree with the form that uses the exact score."""
    tf = TestFunctions(SPECS, 1.0)
    T = torch.tensor([2.0, 0.5, 0.8], dtype=F64)
    g = torch.Generator().manual_seed(11)
    P = 250_000
    v1 = torch.randn(P, 3, generator=g, dtype=F64) * T.sqrt()
    v2 = torch.randn(P, 3, generator=g, dtype=F64) * T.sqrt()
    with torch.no_grad():
        fr = pair_frame(v1, v2)
        c = pair_contributions(kernel, fr, pair_coefficients(fr, tf.derivatives(v1), tf.derivatives(v2),
                                                             kernel.isotropic))
        sc = _score_form(kernel, v1, v2, tf, T)
    se = torch.sqrt(c.var(0) / P + sc.var(0) / P)
    assert ((c.mean(0) - sc.mean(0)).abs() <= 4 * se).all()
    assert (sc.mean(0).abs() > 4 * se).sum() >= 3         # the test has power: most terms are resolved


@pytest.mark.parametrize("kernel", [LandauKernel(1.0), _cm2()], ids=["landau", "cm2"])
def test_maxwellian_is_stationary_in_the_weak_form(kernel):
    tf = TestFunctions(SPECS, 1.0)
    g = torch.Generator().manual_seed(12)
    P = 300_000
    v1, v2 = torch.randn(P, 3, generator=g, dtype=F64), torch.randn(P, 3, generator=g, dtype=F64)
    with torch.no_grad():
        fr = pair_frame(v1, v2)
        c = pair_contributions(kernel, fr, pair_coefficients(fr, tf.derivatives(v1), tf.derivatives(v2),
                                                             kernel.isotropic))
    assert (c.mean(0).abs() <= 4 * c.std(0) / P ** 0.5).all()


def test_isotropic_and_general_coefficients_agree_for_equal_gains():
    """With G_r = G_s = G and no s dependence, A G + B G equals L G for every pair."""
    tf = TestFunctions(SPECS, 1.0)
    g = torch.Generator().manual_seed(13)
    v1, v2 = torch.randn(1000, 3, generator=g, dtype=F64), torch.randn(1000, 3, generator=g, dtype=F64)
    fr = pair_frame(v1, v2)
    d1, d2 = tf.derivatives(v1), tf.derivatives(v2)
    (L,) = pair_coefficients(fr, d1, d2, True)
    A, B, _ = pair_coefficients(fr, d1, d2, False)
    assert torch.allclose(A + B, L, rtol=1e-11, atol=1e-12)


def test_md_side_is_the_finite_difference_of_the_means():
    tf = TestFunctions(["exp", "v2exp"], 1.0)
    g = np.random.default_rng(0)
    v0 = g.normal(size=(500, 3))
    times = np.array([0.0, 0.5, 1.5])
    v = np.stack([v0, 1.1 * v0, 0.9 * v0])
    a = md_side(v, times, tf)
    m = [tf.values(torch.as_tensor(x)).mean(0).numpy() for x in v]
    assert np.allclose(a, [(m[1] - m[0]) / 0.5, (m[2] - m[1]) / 1.0], rtol=1e-12, atol=0)


# --- time rules and the noise of the MD side ------------------------------------------------------

@pytest.mark.parametrize("rule,degree", [("cubic", 3), ("trapezoid", 1), ("forward", 0)])
def test_time_weights_integrate_polynomials_exactly(rule, degree):
    """Each rule's interval mean is exact for polynomials of its degree, on unevenly spaced frames."""
    t = np.array([0.0, 0.1, 0.3, 0.35, 0.8, 1.0])
    W = time_weights(t, rule)
    assert W.shape == (5, 6) and np.allclose(W.sum(1), 1, rtol=0, atol=1e-13)
    c = np.random.default_rng(0).normal(size=degree + 1)
    P = np.polyint(c)
    exact = (np.polyval(P, t[1:]) - np.polyval(P, t[:-1])) / np.diff(t)
    assert np.allclose(W @ np.polyval(c, t), exact, rtol=1e-12, atol=1e-12)
    if rule != "cubic":                      # and not exact one degree higher (the rule's order is what it says)
        c2 = np.r_[1.0, np.zeros(degree + 1)]
        P2 = np.polyint(c2)
        assert not np.allclose(W @ np.polyval(c2, t), (np.polyval(P2, t[1:]) - np.polyval(P2, t[:-1])) / np.diff(t))


def test_cubic_weights_on_even_frames_and_few_frames():
    W = time_weights(np.linspace(0, 1, 6), "cubic")
    assert np.allclose(W[2, 1:5] * 24, [-1, 13, 13, -1], rtol=0, atol=1e-12)
    assert np.allclose(time_weights([0.0, 1.0], "cubic"), [[0.5, 0.5]])          # 2 frames: the trapezoid
    with pytest.raises(ValueError, match="unknown time rule"):
        time_weights([0.0, 1.0], "simpson")


def test_md_side_variance_is_the_variance_of_the_mean_increment():
    tf = TestFunctions(["exp", "gauss:1,0,0"], 1.0)
    g = np.random.default_rng(1)
    v = g.normal(size=(2, 3, 400, 3))
    v[:, 1] += 0.3 * g.normal(size=(2, 400, 3))
    times = np.array([0.0, 0.5, 1.5])
    var = md_side_variance(v, times, tf, chunk=150)                    # chunks do not change the result
    psi = tf.values(torch.as_tensor(v)).numpy()                       # (2, 3, 400, 2)
    d = np.diff(psi, axis=1) / np.diff(times)[None, :, None, None]
    assert np.allclose(var, d.var(2) / 400, rtol=1e-10, atol=0)
