"""Kernels built from a Fokker-Planck operator reproduce collop's own FP right-hand side to round-off."""
from __future__ import annotations

import pytest
import torch

from collop.operators.kernel import kernel_from_fokker_planck, kernel_stencil
from collop.solvers import fp_flux_divergence, stencil_tendency

N, M, H = 9, 8, 0.3
GEN = torch.Generator().manual_seed(0)


def _coeffs(full: bool):
    c = torch.rand(1, 5, N, M, dtype=torch.float64, generator=GEN)
    c[:, :2] -= 0.5                                   # A of either sign
    c[:, 2:4] += 0.2                                  # D_xx, D_yy > 0
    c[:, 4] = 0.3 * (c[:, 4] - 0.5) if full else 0.0  # |D_xy| small enough for D >= 0
    return c


def _f():
    return torch.rand(1, 1, N, M, dtype=torch.float64, generator=GEN)


# round-off: every tendency is a sum of O(10) terms of O(1/h^2) magnitude in float64
TOL = 1e-12


# the smallest window of each case (reference offsets -floor(k/2) .. floor((k-1)/2)), and one larger;
# with the paper's printed offsets the forward and backward rows swap for diagonal D
@pytest.mark.parametrize("convention, scheme, k, full", [
    ("reference", "forward", 2, False), ("reference", "forward", 3, True), ("reference", "forward", 4, True),
    ("reference", "backward", 3, False), ("reference", "backward", 3, True), ("reference", "backward", 4, True),
    ("paper", "backward", 2, False), ("paper", "forward", 3, False), ("paper", "forward", 3, True),
    ("paper", "backward", 3, True)])
def test_kernel_reproduces_the_fokker_planck_tendency(convention, scheme, k, full):
    """The right-hand side of collop's own FP solver, to round-off, from the kernel built of A and D."""
    c, f = _coeffs(full), _f()
    K = kernel_from_fokker_planck(c, H, k, scheme, convention)
    W = kernel_stencil(K, H, scheme, k, convention)
    got = stencil_tendency(f, W)[0, 0]
    want = fp_flux_divergence(c * f[0], H)[0]
    scale = float(want.abs().max())
    assert float((got - want).abs().max()) <= TOL * scale


@pytest.mark.parametrize("convention, scheme, k, full", [
    ("reference", "forward", 2, True), ("reference", "forward", 1, False), ("reference", "backward", 2, False),
    ("reference", "centred", 3, False), ("paper", "forward", 2, False), ("paper", "backward", 2, True)])
def test_windows_too_small_to_hold_the_fokker_planck_flux_are_refused(convention, scheme, k, full):
    with pytest.raises(ValueError):
        kernel_from_fokker_planck(_coeffs(full), H, k, scheme, convention)
