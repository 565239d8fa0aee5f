"""Properties of the metriplectic kernels (:mod:`collop.kinetic.kernels`), in float64 on random pairs.

Identities that hold exactly (Zhao et al., eq. 2 and Proposition A.2) are
checked to 1e-12 relative to the kernel's size: float64 round-off of a few
dozen operations. CM2 networks get random, large weights so that
``g_r != g_s`` and ``omega`` depends on ``r`` and ``s``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from collop.kinetic import geometry
from collop.kinetic.kernels import CM1Kernel, CM2Kernel, LandauKernel, PairMLP, divergence, omega_matrix

F64 = torch.float64
ROUND_OFF = 1e-12


def _kernels():
    cm1 = CM1Kernel(1.3, 0.7, dtype=F64, seed=1)
    cm2 = CM2Kernel(1.3, 0.7, dtype=F64, seed=2)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for k in (cm1, cm2):
            for W, b in k.net.weights():
                W.copy_(torch.randn(W.shape, generator=gen, dtype=F64))
                b.copy_(torch.randn(b.shape, generator=gen, dtype=F64))
    return {"landau": LandauKernel(0.8, 1.3), "cm1": cm1, "cm2": cm2}


KERNELS = _kernels()


def _pairs(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    v1 = torch.randn(n, 3, generator=g, dtype=F64) * 1.3
    v2 = torch.randn(n, 3, generator=g, dtype=F64) * 1.3
    vbar = torch.randn(3, generator=g, dtype=F64) * 0.2
    return v1, v2, vbar


def _random_orthogonal(seed, proper=True):
    g = torch.Generator().manual_seed(seed)
    Q, R = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=F64))
    Q = Q * torch.sign(torch.diagonal(R))
    if (torch.det(Q) > 0) != proper:
        Q[:, 0] = -Q[:, 0]
    return Q


def _scale(W):
    return float(W.detach().abs().max())


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_is_symmetric_and_exchange_symmetric(name):
    k = KERNELS[name]
    v1, v2, vb = _pairs()
    W = omega_matrix(k, v1, v2, vb)
    assert (W - W.transpose(1, 2)).abs().max() <= ROUND_OFF * _scale(W)
    assert (W - omega_matrix(k, v2, v1, vb)).abs().max() <= ROUND_OFF * _scale(W)


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("proper", [True, False])
def test_rotation_covariance(name, proper):
    """omega(Uv, Uv') = U omega U^T for rotations and reflections (v_bar rotates too)."""
    k = KERNELS[name]
    v1, v2, vb = _pairs(seed=1)
    U = _random_orthogonal(3, proper)
    W = omega_matrix(k, v1, v2, vb)
    WU = omega_matrix(k, v1 @ U.T, v2 @ U.T, vb @ U.T)
    assert (WU - U @ W @ U.T).abs().max() <= ROUND_OFF * _scale(W)


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_annihilates_u_and_is_psd(name):
    k = KERNELS[name]
    v1, v2, vb = _pairs(seed=2)
    W = omega_matrix(k, v1, v2, vb)
    u = v1 - v2
    assert (W @ u[..., None]).abs().max() <= ROUND_OFF * _scale(W) * float(u.abs().max())
    ev = torch.linalg.eigvalsh(W)
    assert ev.min() >= -ROUND_OFF * _scale(W)
    assert (ev[:, 1:] > 0).all()          # rank 2: positive in the plane orthogonal to u


@pytest.mark.parametrize("name", list(KERNELS))
def test_parity(name):
    """omega(v, v') = omega(-v, -v') (Proposition A.2), with v_bar -> -v_bar."""
    k = KERNELS[name]
    v1, v2, vb = _pairs(seed=3)
    W = omega_matrix(k, v1, v2, vb)
    assert (W - omega_matrix(k, -v1, -v2, -vb)).abs().max() <= ROUND_OFF * _scale(W)


def test_landau_and_cm1_forms():
    """Landau is c0 P/|u|; CM1 is g^2(|u|) P, independent of r."""
    v1, v2, vb = _pairs(seed=4)
    u = v1 - v2
    a = u.norm(dim=-1)
    P = torch.eye(3, dtype=F64) - u[:, :, None] * u[:, None, :] / (a * a)[:, None, None]
    W = omega_matrix(KERNELS["landau"], v1, v2, vb)
    assert torch.allclose(W, 0.8 * P / a[:, None, None], rtol=1e-12, atol=0)
    cm1 = KERNELS["cm1"]
    Wc = omega_matrix(cm1, v1, v2, vb)
    shift = omega_matrix(cm1, v1 + 0.3, v2 + 0.3, vb)     # same u, other r
    assert (Wc - shift).abs().max() <= ROUND_OFF * _scale(Wc)
    G, _, _ = cm1.gains(a, a, a)
    assert torch.allclose(Wc, G[:, None, None] * P, rtol=1e-11, atol=0)


@pytest.mark.parametrize("name", list(KERNELS))
def test_divergence_matches_autograd(name):
    """The closed-form div_u omega (module Notes) equals automatic differentiation of omega(u) at fixed r."""
    k = KERNELS[name]
    v1, v2, vb = _pairs(n=40, seed=5)
    r = v1 + v2 - 2 * vb
    ana = divergence(k, v1, v2, vb)
    num = []
    for p in range(v1.shape[0]):
        def om(u, rp=r[p]):
            return omega_matrix(k, ((u + rp) / 2 + vb)[None], ((rp - u) / 2 + vb)[None], vb)[0]
        J = torch.autograd.functional.jacobian(om, v1[p] - v2[p])
        num.append(torch.einsum("ijj->i", J))
    num = torch.stack(num)
    assert (ana - num).abs().max() <= 1e-10 * float(num.abs().max())    # chains of derivatives: ~1e-13


def test_cm1_divergence_is_radial():
    """omega = g(u) P: div_u omega = -2 g u~ / |u| (the derivative of g does not enter)."""
    k = KERNELS["cm1"]
    v1, v2, vb = _pairs(seed=6)
    u = v1 - v2
    a = u.norm(dim=-1)
    G, _, _ = k.gains(a, a, a)
    assert torch.allclose(divergence(k, v1, v2, vb), -2 * (G / a)[:, None] * u / a[:, None], rtol=1e-11, atol=1e-14)


# --- degenerate pairs --------------------------------------------------------------

def _degenerate_pairs():
    g = torch.Generator().manual_seed(7)
    v = torch.randn(6, 3, generator=g, dtype=F64)
    u = torch.randn(6, 3, generator=g, dtype=F64)
    v1 = torch.cat([v, v[:3] + u[:3], torch.zeros(1, 3, dtype=F64)])
    # r parallel to u: v1 = (1 + t) w, v2 = (1 - t) w (r = 2 w, u = 2 t w); r = 0: v2 = -v1; u = 0: v2 = v1
    w = u[3:6]
    v1 = torch.cat([v1[:6], 1.3 * w, u[:2], v[:1]])
    v2 = torch.cat([v[:6] + torch.tensor([[0.0, 0.0, 0.0]] * 3 + [[1.0, 0.0, 0.0]] * 3, dtype=F64), 0.7 * w,
                    -u[:2], v[:1]])
    return v1, v2


@pytest.mark.parametrize("name", list(KERNELS))
def test_degenerate_pairs_are_finite_with_finite_gradients(name):
    """u = 0, r parallel to u and r = 0: omega, its divergence and parameter gradients stay finite."""
    k = KERNELS[name]
    v1, v2 = _degenerate_pairs()
    fr = geometry.pair_frame(v1, v2)
    assert (~fr.ok_u).any() and (fr.ok_u & ~fr.ok_s).sum() >= 3        # the cases are really there
    W = omega_matrix(k, v1, v2)
    D = divergence(k, v1, v2)
    assert torch.isfinite(W).all() and torch.isfinite(D).all()
    assert (W[~fr.ok_u] == 0).all()
    # where r is parallel to u the kernel is the direction average (G_r + G_s)/2 P: symmetric, annihilates u
    deg = fr.ok_u & ~fr.ok_s
    u = (v1 - v2)[deg]
    assert (W[deg] @ u[..., None]).abs().max() <= ROUND_OFF * max(_scale(W), 1.0)
    k.zero_grad()
    (W.sum() + D.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in k.parameters())


def test_degenerate_cm2_is_the_direction_average():
    k = KERNELS["cm2"]
    w = torch.tensor([[0.3, -1.1, 0.4]], dtype=F64)
    v1, v2 = 1.4 * w, 0.6 * w                       # r = 2 w parallel to u = 0.8 w
    a, rho = (v1 - v2).norm(dim=-1), (v1 + v2).norm(dim=-1)
    Gr, Gs, _ = k.gains(a, rho, torch.zeros(1, dtype=F64))
    uh = (v1 - v2) / a
    P = torch.eye(3, dtype=F64) - uh[0, :, None] * uh[0, None, :]
    assert torch.allclose(omega_matrix(k, v1, v2)[0], 0.5 * (Gr + Gs) * P, rtol=1e-12, atol=1e-15)


# --- the numba networks ------------------------------------------------------------------

@pytest.mark.parametrize("n_in,n_nets,col", [(3, 2, 2), (1, 1, None), (3, 2, None), (3, 1, 0)])
@pytest.mark.parametrize("layers", [2, 6])
def test_numba_networks_match_torch(n_in, n_nets, col, layers):
    """Outputs, the input tangent and all weight gradients agree to float32 round-off (a few 1e-7 relative)."""
    net = PairMLP(n_in, n_nets, 10, layers, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for W, b in net.weights():
            W.mul_(2)
            b.normal_(generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(3)
    x = torch.rand(777, n_in, generator=g) * 3
    gy, gyd = torch.randn(n_nets, 777, generator=g), torch.randn(777, generator=g)
    res = {}
    for backend in ("torch", "numba"):
        net.backend = backend
        net.zero_grad()
        y, yd = net(x, col, 0.7)
        loss = (y * gy).sum() + ((yd * gyd).sum() if yd is not None else 0)
        loss.backward()
        res[backend] = (y.detach(), yd, [p.grad.clone() for p in net.parameters()])
    net.backend = "auto"
    (y0, d0, g0), (y1, d1, g1) = res["torch"], res["numba"]
    assert torch.allclose(y0, y1, rtol=1e-5, atol=1e-5 * float(y0.abs().max()))
    if col is not None:
        assert torch.allclose(d0.detach(), d1.detach(), rtol=1e-5, atol=1e-5 * float(d0.abs().max()))
    for a, b in zip(g0, g1):
        assert (a - b).abs().max() <= 2e-5 * float(a.abs().max()) + 1e-7


def test_landau_c0_is_positive_and_scaled():
    k = LandauKernel(2.5, 1.0)
    assert float(k.c0) == pytest.approx(2.5)
    with torch.no_grad():
        k.log_c0.fill_(np.log(2.0))
    assert float(k.c0) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        LandauKernel(-1.0)
