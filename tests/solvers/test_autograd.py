"""Tests of :mod:`collop.solvers.autograd`: the fused step and its adjoint for any stencil radius,
the fused unrolled MAE, and the sparse row kernel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from collop.grid import VelocityGrid
from collop.operators import FokkerPlanck
from collop.solvers import ForwardEuler, sparse_rows, stencil_apply, unrolled_abs_error

from ._helpers import dense_matrix


def _random(r, S, P, n, m, seed, scale=0.05):
    gen = torch.Generator().manual_seed(seed)
    f = torch.rand(S, P, n, m, dtype=torch.float64, generator=gen)
    W = scale * torch.randn(S, (2 * r + 1) ** 2, n, m, dtype=torch.float64, generator=gen)
    return f, W


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("r", [2, 3])
def test_step_matches_dense_matrix_reference(r, backend):
    """One step f + L f against the (N*M) x (N*M) matrix built entry by entry from W (float64,
    non-square grid, random W, several groups sharing a stencil)."""
    n, m = 2 * r + 5, 2 * r + 8
    f, W = _random(r, 2, 3, n, m, seed=r, scale=1.0)
    out = stencil_apply(f, W, backend=backend)
    for s in range(2):
        L = dense_matrix(W[s])
        ref = f[s].reshape(3, -1).numpy() + f[s].reshape(3, -1).numpy() @ L.T
        # sums of (2r+1)^2 <= 49 products of O(1) numbers: round-off <= ~49 eps ~ 1e-14
        np.testing.assert_allclose(out[s].reshape(3, -1).numpy(), ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("r", [1, 2, 3])
def test_stencil_apply_gradcheck(r, backend):
    # non-square grid and several groups/populations: catches transposed or mis-indexed adjoints
    n, m = (6, 7) if r < 3 else (7, 8)
    f, W = _random(r, 2, 2, n, m, seed=10 + r)
    f.requires_grad_()
    W.requires_grad_()
    # r = 3 has 5.5k weights: fast mode (random projections of the Jacobian) keeps it ~1 s
    assert gradcheck(lambda f, W: stencil_apply(f, W, backend=backend), (f, W), fast_mode=r == 3)


class _OneStep(torch.nn.Module):
    """Operator -> stencil at an in-between time -> one forward-Euler step of f0."""

    def __init__(self, op, grid, times):
        super().__init__()
        self.op, self.grid, self.times = op, grid, times

    def forward(self, f0):
        W = self.op.stencil(self.grid, self.times, dtype=torch.float64)
        return ForwardEuler(n_substeps=1).rollout(f0, W, 0.05, 1)[:, 1]


@pytest.mark.parametrize("model,symmetry", [("tensor", "isotropic"), ("tensor", "full"),
                                            ("nn", "isotropic"), ("nn", "full")])
def test_operator_stencil_euler_step_gradcheck(model, symmetry):
    """d(one Euler step)/d(tensor values or MLP parameters), float64, 9 x 9 grid."""
    grid = VelocityGrid.regular(9, 3.0)
    times = np.array([0.0, 0.5, 1.0])
    op = FokkerPlanck.build(model, grid, times, symmetry=symmetry, seed=3).double()
    gen = torch.Generator().manual_seed(1)
    if model == "tensor":
        with torch.no_grad():
            op.field.values.copy_(torch.rand(op.field.values.shape, dtype=torch.float64, generator=gen))
    # between time nodes: the time interpolation is differentiated too
    net = _OneStep(op, grid, np.array([0.25]))
    f0 = torch.rand(2, 9, 9, dtype=torch.float64, generator=gen)
    names = [n for n, _ in net.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in net.named_parameters())

    def fn(*ps):
        return functional_call(net, dict(zip(names, ps)), (f0,))

    # fast mode (random projections of the Jacobian) for the larger parameter sets keeps this ~1 s
    fast = sum(p.numel() for p in params) > 200
    assert gradcheck(fn, params, fast_mode=fast)


def _record(r, T, P, n, m, seed):
    gen = torch.Generator().manual_seed(seed)
    fs = torch.rand(T, P, n, m, dtype=torch.float64, generator=gen)
    Wdt = 0.03 * torch.randn(T - 1, (2 * r + 1) ** 2, n, m, dtype=torch.float64, generator=gen)
    return fs, Wdt


@pytest.mark.parametrize("r", [1, 2])
def test_fused_unrolled_mae_matches_torch_and_passes_gradcheck(r):
    """The fused unroll (per-frame sub-step counts, each window stepping its own frame's count in
    the kernel) equals the autograd-traced torch unroll (masked groups), and its hand-written
    adjoint passes gradcheck with respect to the stencil."""
    # r = 1: the full Jacobian (5 x 9 x 4 x 5 = 900 columns); r = 2: random projections of it (fast
    # mode), since its full Jacobian (5250 columns) alone took 40 s
    fs, Wdt = _record(r, 6, 2, 4, 5, seed=20 + r) if r == 1 else _record(r, 6, 2, 6, 7, seed=20 + r)
    counts = np.array([1, 3, 2, 1, 2])
    nu = 2
    fused = unrolled_abs_error(Wdt, fs, nu, counts)
    ref = ForwardEuler(backend="torch").unrolled_abs_error(Wdt, fs, nu, counts)
    # the same sums in another order (per-row float64 accumulation): relative round-off ~1e-15
    assert fused.item() == pytest.approx(ref.item(), rel=1e-12)
    W = Wdt.clone().requires_grad_()
    # |.| has kinks where f_hat = f; random data keep every |f_hat - f| far above gradcheck's eps
    assert gradcheck(lambda w: ForwardEuler().unrolled_abs_error(w, fs, nu, counts), (W,), fast_mode=r == 2)


def test_unrolled_states_reuse_their_buffers_between_epochs():
    """The sub-step states of one epoch's unroll are reused by the next (no fresh page-faulting
    arrays every epoch), and the loss and gradient do not change for it."""
    from collop.solvers import autograd as ag
    fs, Wdt = _record(1, 6, 2, 6, 7, seed=5)
    counts = np.array([1, 3, 2, 1, 2])
    W = Wdt.clone().requires_grad_()
    loss1 = unrolled_abs_error(W, fs, 2, counts)
    loss1.backward()
    g1 = W.grad.clone()
    pooled = [id(a) for a in ag._POOL.free]
    assert len(pooled) == 2                                            # one buffer per unrolled frame
    W.grad = None
    loss2 = unrolled_abs_error(W, fs, 2, counts)
    assert not ag._POOL.free                                           # both taken again
    loss2.backward()
    assert sorted(id(a) for a in ag._POOL.free) == sorted(pooled)      # the same arrays came back
    assert loss2.item() == loss1.item() and torch.equal(W.grad, g1)
    with pytest.raises(ValueError, match="at least sum"):
        from collop.solvers import _kernels as _k
        _k.steps_padded(_k.pad(fs[:4].numpy(), 1), Wdt[:4].numpy(), np.array([2, 2, 2, 2]),
                        out=np.empty((7, 2, 8, 9)))


def test_per_window_step_counts_are_checked():
    from collop.solvers import _kernels as _k
    fp = _k.pad(np.zeros((3, 1, 4, 4)), 1)
    W = np.zeros((3, 9, 4, 4))
    with pytest.raises(ValueError, match="one count >= 1 per window"):
        _k.steps_padded(fp, W, np.array([1, 0, 2]))
    with pytest.raises(ValueError, match="one count >= 1 per window"):
        _k.steps_padded(fp, W, np.array([1, 2]))
    R, offs = _k.steps_padded(fp, W, np.array([1, 3, 2]))
    assert R.shape[0] == 6 and offs.tolist() == [0, 1, 4]


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("r", [1, 2])
def test_nan_in_stencil_makes_the_unrolled_loss_nan(r, backend):
    """A NaN weight must reach the loss (the trainer's divergence check relies on it): the fused
    kernels' fast-math flags must not assume finite values."""
    fs, Wdt = _record(r, 5, 2, 9, 10, seed=30 + r)
    Wdt[2, 0, 4, 5] = float("nan")
    loss = ForwardEuler(backend=backend).unrolled_abs_error(Wdt, fs, 2, 2)
    assert torch.isnan(loss)
    Wdt[2, 0, 4, 5] = float("inf")
    assert not torch.isfinite(ForwardEuler(backend=backend).unrolled_abs_error(Wdt, fs, 2, 2))
    f = stencil_apply(fs[:4], torch.nan_to_num(Wdt, posinf=float("nan")),
                      backend="numba" if backend == "auto" else "torch")
    assert torch.isnan(f[2]).any() and torch.isfinite(f[[0, 1, 3]]).all()


@pytest.mark.parametrize("n_rows", [1, 63, 64, 200])       # less than, at and over a row block
def test_sparse_rows_kernel_matches_dense_and_passes_gradcheck(n_rows):
    gen = torch.Generator().manual_seed(n_rows)
    dense = torch.randn(n_rows, 17, generator=gen, dtype=torch.float64)
    dense[torch.rand(n_rows, 17, generator=gen) < 0.8] = 0.0       # ~3 entries per row, some rows empty
    G = dense.to_sparse_csr()
    GT = dense.T.contiguous().to_sparse_csr()
    XT = torch.randn(7, 17, generator=gen, dtype=torch.float64, requires_grad=True)
    out = sparse_rows(G, GT, XT)
    assert out.is_contiguous() and out.shape == (7, n_rows)
    np.testing.assert_allclose(out.detach().numpy(), (XT @ dense.T).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x: sparse_rows(G, GT, x), (XT,), eps=1e-6, atol=1e-9)


def test_mismatched_stencil_is_rejected():
    f, W = _random(1, 2, 2, 6, 7, seed=0)
    with pytest.raises(ValueError, match="columns"):
        stencil_apply(f, W[:, :8])
    with pytest.raises(ValueError, match="does not fit"):
        stencil_apply(f, W[:, :, :5], backend="numba")
