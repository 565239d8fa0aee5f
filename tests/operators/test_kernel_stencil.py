"""The kernel stencil: the operator as defined, mass conservation, a zero kernel, gradients (every scheme, k = 1..5)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from collop.operators.kernel import kernel_radius, kernel_stencil, window_offsets
from collop.solvers import stencil_apply, stencil_tendency

N, M, H = 9, 8, 0.3
GEN = torch.Generator().manual_seed(0)

# round-off: every tendency is a sum of O(10) terms of O(1/h^2) magnitude in float64
TOL = 1e-12


def _f():
    return torch.rand(1, 1, N, M, dtype=torch.float64, generator=GEN)


def test_offsets_and_radius():
    assert list(window_offsets(2)) == [-1, 0] and list(window_offsets(2, "paper")) == [0, 1]
    assert list(window_offsets(3)) == [-1, 0, 1] and list(window_offsets(4)) == [-2, -1, 0, 1]
    assert [kernel_radius(k) for k in range(1, 6)] == [1, 1, 2, 2, 3]
    assert [kernel_radius(k, "backward") for k in range(1, 6)] == [1, 2, 2, 3, 3]
    assert [kernel_radius(k, "centred") for k in range(1, 6)] == [1, 2, 2, 3, 3]


def _random_K(k, scale=1.0, T=1):
    return scale * (torch.rand(T, 2, N, M, k, k, dtype=torch.float64, generator=GEN) - 0.5)


SCHEMES = ("forward", "backward", "centred")


def _tendency_by_definition(K, f, h, scheme, k, convention):
    """``C = sum_i D_i (K_i * f)`` written out: ``f = 0`` outside the grid, zero flux on the outer faces."""
    T, _, n, m = K.shape[:4]
    off = [int(o) for o in window_offsets(k, convention)]
    w0, w1 = {"forward": (0.0, 1.0), "backward": (1.0, 0.0), "centred": (0.5, 0.5)}[scheme]
    R = max(abs(o) for o in off)
    fp = torch.nn.functional.pad(f, (R, R, R, R))            # (T, N + 2R, M + 2R)
    out = torch.zeros(T, n, m, dtype=K.dtype)
    for comp in (0, 1):
        g = torch.zeros(T, n, m, dtype=K.dtype)
        for a, l in enumerate(off):
            for b, mm in enumerate(off):
                g += K[:, comp, :, :, a, b] * fp[:, R + l:R + l + n, R + mm:R + mm + m]
        gi = g if comp == 0 else g.transpose(1, 2)           # faces along the first axis of gi
        F = torch.zeros(T, gi.shape[1] + 1, gi.shape[2], dtype=K.dtype)
        F[:, 1:-1] = w0 * gi[:, :-1] + w1 * gi[:, 1:]
        div = (F[:, 1:] - F[:, :-1]) / h
        out += div if comp == 0 else div.transpose(1, 2)
    return out


@pytest.mark.parametrize("convention", ["reference", "paper"])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_stencil_matches_the_definition(scheme, k, convention):
    """Any kernel, every scheme and convention: the stencil's tendency is the operator as defined."""
    K = _random_K(k, T=2)
    f = torch.rand(2, 1, N, M, dtype=torch.float64, generator=GEN)
    W = kernel_stencil(K, H, scheme, k, convention)
    assert W.shape == (2, (2 * kernel_radius(k, scheme, convention) + 1) ** 2, N, M)
    got = torch.stack([stencil_tendency(f[t:t + 1], W[t:t + 1])[0, 0] for t in range(2)])
    want = _tendency_by_definition(K, f[:, 0], H, scheme, k, convention)
    assert float((got - want).abs().max()) <= TOL * float(want.abs().max())


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_mass_is_conserved_over_1000_steps(scheme, k):
    """Zero flux through the outer faces: the tendency sums to zero whatever K is.

    A random kernel is not a stable operator; the step is chosen so that 1000 steps grow ``f`` at
    most by ``e`` (``(1 + |W| dt)**1000``), while a leak through a boundary face would still move
    the mass by ~1e-3 of the boundary cells' mass per step, far above the tolerance.
    """
    from collop.solvers._kernels import pad, step_padded

    W = kernel_stencil(_random_K(k), H, scheme, k)
    dt = 1e-3 / float(W.abs().sum(1).max())
    f = _f()
    m0 = float(f.sum())
    r = kernel_radius(k, scheme)
    Wdt = (W * dt).numpy()
    g = pad(f.numpy(), r)                     # the fused kernel the solver runs, step after step
    for _ in range(1000):
        g = step_padded(g, Wdt)
    assert np.isfinite(g).all()
    assert abs(float(g.sum()) - m0) <= 1e-12 * m0


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_a_zero_kernel_leaves_f_unchanged(scheme, k):
    W = kernel_stencil(torch.zeros(1, 2, N, M, k, k, dtype=torch.float64), H, scheme, k)
    f = _f()
    assert torch.equal(stencil_apply(f, W * 0.1), f)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_gradcheck_of_a_step(scheme, k):
    n, m = 6, 5
    K = (torch.rand(1, 2, n, m, k, k, dtype=torch.float64, generator=GEN) - 0.5).requires_grad_()
    f = torch.rand(1, 2, n, m, dtype=torch.float64, generator=GEN).requires_grad_()

    def step(K, f):
        return stencil_apply(f, 0.05 * kernel_stencil(K, 0.5, scheme, k))

    assert torch.autograd.gradcheck(step, (K, f), eps=1e-6, atol=1e-8, fast_mode=True)
