"""Tests of :mod:`collop.solvers.discretisation`: the stencil convention, the generic probe and
the Fokker-Planck flux form."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from collop.grid import VelocityGrid
from collop.operators import FokkerPlanck
from collop.solvers import (fp_flux_divergence, fp_stencil_weights, probe_stencil, stencil_offsets,
                            stencil_radius, stencil_tendency, stencil_weights)

from ._helpers import dense_matrix, offsets


def test_stencil_convention():
    for r in range(5):
        K = (2 * r + 1) ** 2
        assert stencil_radius(K) == r
        assert [tuple(o) for o in stencil_offsets(r)] == offsets(r)
    # r = 1 is the Fokker-Planck ordering (k // 3 - 1, k % 3 - 1)
    assert [tuple(o) for o in stencil_offsets(1)] == [(k // 3 - 1, k % 3 - 1) for k in range(9)]
    for K in (0, 4, 8, 10, 24, 26):
        with pytest.raises(ValueError, match="columns"):
            stencil_radius(K)


def _random_stencil(r, n, m, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((2 * r + 1) ** 2, n, m, dtype=torch.float64, generator=gen)


def _inside(W):
    """``W`` with the columns whose neighbour lies outside the grid set to zero."""
    K, n, m = W.shape
    r = stencil_radius(K)
    ii, jj = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    out = W.clone()
    for k, (a, b) in enumerate(offsets(r)):
        out[k][torch.as_tensor(~((ii + a >= 0) & (ii + a < n) & (jj + b >= 0) & (jj + b < m)))] = 0
    return out


@pytest.mark.parametrize("r", [1, 2, 3])
def test_probe_recovers_random_two_channel_stencil(r):
    """fn(g) = L1 g_0 + L2 g_1 with dense matrices built from random stencils: the probe returns
    both stencils (zero where the neighbour lies outside the grid), on a non-square grid."""
    n, m = 2 * r + 5, 2 * r + 4
    W1, W2 = _random_stencil(r, n, m, 1), _random_stencil(r, n, m, 2)
    L1, L2 = (torch.as_tensor(dense_matrix(W)) for W in (W1, W2))

    def fn(g):
        B = g.shape[0]
        return (g[:, 0].reshape(B, -1) @ L1.T + g[:, 1].reshape(B, -1) @ L2.T).reshape(B, n, m)

    kappa = probe_stencil(fn, 2, (n, m), r)
    assert kappa.shape == (2, (2 * r + 1) ** 2, n, m) and kappa.dtype == torch.float64
    # each coefficient is read off one evaluation (a sum of one non-zero term): exact up to
    # the matrix product's round-off (measured 0)
    torch.testing.assert_close(kappa[0], _inside(W1), rtol=0, atol=1e-14)
    torch.testing.assert_close(kappa[1], _inside(W2), rtol=0, atol=1e-14)


def test_probe_rejects_a_wider_or_nonlinear_function():
    n, m = 9, 10
    L = torch.as_tensor(dense_matrix(_random_stencil(2, n, m, 3)))

    def radius2(g):
        return (g[:, 0].reshape(g.shape[0], -1) @ L.T).reshape(-1, n, m)

    with pytest.raises(ValueError, match="radius 1"):
        probe_stencil(radius2, 1, (n, m), 1)
    assert probe_stencil(radius2, 1, (n, m), 2).shape == (1, 25, n, m)
    with pytest.raises(ValueError, match="not linear"):
        probe_stencil(lambda g: g[:, 0] ** 2, 1, (n, m), 1)
    with pytest.raises(ValueError, match="not linear"):
        probe_stencil(lambda g: g[:, 0] + 1.0, 1, (n, m), 1)


def test_stencil_weights_apply_the_probed_function():
    """stencil_tendency(f, stencil_weights(probe(fn), c)) == fn(c * f) for a radius-2, 2-channel fn."""
    n, m = 10, 13
    gen = torch.Generator().manual_seed(4)
    L1, L2 = (torch.as_tensor(dense_matrix(_random_stencil(2, n, m, s))) for s in (5, 6))

    def fn(g):
        B = g.shape[0]
        return (g[:, 0].reshape(B, -1) @ L1.T + g[:, 1].reshape(B, -1) @ L2.T).reshape(B, n, m)

    coeffs = torch.randn(3, 2, n, m, dtype=torch.float64, generator=gen)
    f = torch.rand(3, 1, n, m, dtype=torch.float64, generator=gen)
    W = stencil_weights(probe_stencil(fn, 2, (n, m), 2), coeffs)
    assert W.shape == (3, 25, n, m)
    # sums of 50 products of O(1) numbers in a different order: round-off ~1e-14
    torch.testing.assert_close(stencil_tendency(f, W)[:, 0], fn(coeffs * f), rtol=0, atol=1e-12)


def test_fp_stencil_weights_reproduce_the_flux_divergence():
    """The stencil of the flux form applied to f equals fp_flux_divergence(c * f) (non-square grid)."""
    n, m, h = 11, 14, 0.3
    gen = torch.Generator().manual_seed(7)
    coeffs = torch.randn(2, 5, n, m, dtype=torch.float64, generator=gen)
    f = torch.rand(2, 1, n, m, dtype=torch.float64, generator=gen)
    W = fp_stencil_weights(coeffs, h)
    assert W.shape == (2, 9, n, m)
    ref = fp_flux_divergence(coeffs * f, h)
    # O(1/h^2) = 11 weights times O(1) values, summed in another order: round-off ~1e-13
    torch.testing.assert_close(stencil_tendency(f, W)[:, 0], ref, rtol=0, atol=1e-11)
    # the flux form conserves mass: sum of the tendency is zero for any f
    assert ref.sum((-2, -1)).abs().max() < 1e-11


@pytest.mark.parametrize("model", ["tensor", "nn"])
@pytest.mark.parametrize("symmetry", ["isotropic", "full"])
def test_fp_stencil_weights_of_coefficient_maps_equals_operator_stencil(model, symmetry):
    # non-square, off-centre grid: a transposed or shifted map would not match
    h = 0.3
    grid = VelocityGrid(-2.0 + h * np.arange(11), -1.4 + h * np.arange(13))
    times = np.array([0.0, 0.3, 0.7, 1.0])
    op = FokkerPlanck.build(model, grid, times, symmetry=symmetry, seed=5).double()
    if model == "tensor":
        with torch.no_grad():
            op.field.values.copy_(torch.randn(op.field.values.shape, dtype=torch.float64,
                                              generator=torch.Generator().manual_seed(4)))
    t = np.array([0.1, 0.5, 0.95])
    with torch.no_grad():
        ref = fp_stencil_weights(op.coefficient_maps(grid, t, dtype=torch.float64), grid.h)
        W = op.stencil(grid, t, dtype=torch.float64)
    assert W.shape == ref.shape == (3, 9, 11, 13)
    assert ((W - ref).abs().max() / ref.abs().max()).item() < 1e-12
