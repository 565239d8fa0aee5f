"""Tests of the coefficient parametrisations (:mod:`collop.operators.fields`).

Interpolated values are compared with numbers computed by hand; equalities
that are exact in real arithmetic are checked to 1e-12 (float64 round-off).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from collop.grid import VelocityGrid
from collop.operators import FokkerPlanck, MLPField, TensorField
from collop.operators.fields import linear_weights


def _x(*vals):
    return torch.tensor(vals, dtype=torch.float64)[:, None]


def _t(*vals):
    return torch.tensor(vals, dtype=torch.float64)


def test_linear_weights_and_clamping():
    nodes = _t(0.0, 1.0, 3.0)
    i, w, j = linear_weights(nodes, _t(-1.0, 0.0, 0.25, 1.0, 2.5, 3.0, 7.0))
    assert i.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert j.tolist() == [1, 1, 1, 2, 2, 2, 2]
    assert torch.allclose(w, _t(0.0, 0.0, 0.25, 0.0, 0.75, 1.0, 1.0), atol=1e-15)


def test_tensor_field_linear_in_speed_and_time():
    # speed nodes 0, 1, 3; time nodes 0, 2; two channels
    vals = np.zeros((2, 3, 2))
    vals[0, :, 0] = [0.0, 2.0, 6.0]      # t = 0, channel 0
    vals[1, :, 0] = [1.0, 1.0, 1.0]      # t = 2, channel 0
    vals[0, :, 1] = [5.0, 4.0, 0.0]
    vals[1, :, 1] = [-1.0, 3.0, 3.0]
    field = TensorField([[0.0, 1.0, 3.0]], [0.0, 2.0], 2, vals)
    out = field(_x(0.5, 2.0, -1.0, 4.0), _t(0.0, 0.5, 2.0, 5.0))
    assert out.shape == (4, 4, 2)
    # by hand, channel 0:
    #  t=0:  x=0.5 -> 1.0, x=2 -> 4.0, x=-1 (clamped to 0) -> 0.0, x=4 (clamped to 3) -> 6.0
    #  t=2:  1.0 everywhere;  t=0.5 -> 0.75 * (t=0) + 0.25 * (t=2);  t=5 clamped to t=2
    c0_t0 = np.array([1.0, 4.0, 0.0, 6.0])
    c0_t2 = np.ones(4)
    expected0 = np.stack([c0_t0, 0.75 * c0_t0 + 0.25 * c0_t2, c0_t2, c0_t2])
    # channel 1: t=0: 4.5, 2.0, 5.0, 0.0;  t=2: 1.0, 3.0, -1.0, 3.0
    c1_t0 = np.array([4.5, 2.0, 5.0, 0.0])
    c1_t2 = np.array([1.0, 3.0, -1.0, 3.0])
    expected1 = np.stack([c1_t0, 0.75 * c1_t0 + 0.25 * c1_t2, c1_t2, c1_t2])
    np.testing.assert_allclose(out[..., 0].detach().numpy(), expected0, atol=1e-12)
    np.testing.assert_allclose(out[..., 1].detach().numpy(), expected1, atol=1e-12)


def test_tensor_field_bilinear_in_velocity():
    # nodes vx: 0, 1; vy: 0, 2; value = 1 + 2 vx + 3 vy + 4 vx vy at the corners (bilinear: exact)
    vx, vy = np.array([0.0, 1.0]), np.array([0.0, 2.0])
    VX, VY = np.meshgrid(vx, vy, indexing="ij")
    vals = (1 + 2 * VX + 3 * VY + 4 * VX * VY)[None, ..., None]
    field = TensorField([vx, vy], [0.0], 1, vals)
    pts = torch.tensor([[0.5, 1.0], [0.25, 0.5], [1.0, 2.0], [2.0, -1.0]], dtype=torch.float64)
    out = field(pts, _t(0.0))[0, :, 0].detach().numpy()
    px, py = np.array([0.5, 0.25, 1.0, 1.0]), np.array([1.0, 0.5, 2.0, 0.0])   # last clamped to (1, 0)
    np.testing.assert_allclose(out, 1 + 2 * px + 3 * py + 4 * px * py, atol=1e-12)


def _interpolated(field, x, t):
    """The general bilinear-in-space, linear-in-time path, without the on-node shortcut."""
    field._on_nodes = lambda x: None
    vs = field._space(x)
    k0, w, k1 = linear_weights(field.time_nodes, t)
    w = w[:, None, None]
    out = vs[k0] * (1 - w) + vs[k1] * w
    del field._on_nodes
    return out


@pytest.mark.parametrize("order", ["grid", "shuffled"])
def test_tensor_field_on_its_nodes_equals_the_interpolation_to_the_bit(order):
    # training evaluates a PS-Tensor field exactly on its nodes and frame times; that path
    # skips the interpolation and must give the same values and gradients
    vx, vy, tn = np.linspace(-2, 2, 5), np.linspace(-1, 1, 4), np.arange(6.0)
    rng = np.random.default_rng(0)
    field = TensorField([vx, vy], tn, 3, rng.standard_normal((6, 5, 4, 3)))
    VX, VY = np.meshgrid(vx, vy, indexing="ij")
    x = torch.tensor(np.stack([VX.ravel(), VY.ravel()], -1))
    if order == "shuffled":
        x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1))]
    t = torch.tensor(tn[1:5])
    fast = field(x, t)
    flat = field._on_nodes(x)
    assert isinstance(flat, slice) == (order == "grid")
    g = torch.randn(fast.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    (fast * g).sum().backward()
    grad_fast = field.values.grad.clone()
    field.values.grad = None
    slow = _interpolated(field, x, t)
    (slow * g).sum().backward()
    assert torch.equal(fast, slow)
    assert torch.equal(grad_fast, field.values.grad)


def test_tensor_field_off_its_nodes_still_interpolates():
    field = TensorField([np.array([0.0, 1.0]), np.array([0.0, 1.0])], np.array([0.0]), 1,
                        np.array([0.0, 1.0, 2.0, 3.0]))
    x = torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]], dtype=torch.float64)
    assert field._on_nodes(x) is None
    assert torch.allclose(field(x, _t(0.0))[0, :, 0], _t(0.0, 1.5, 3.0), atol=1e-15)


def test_tensor_field_single_time_node_is_time_invariant():
    vals = np.array([[[1.0], [3.0]]])                 # (N_t=1, 2 speed nodes, 1 channel)
    field = TensorField([[0.0, 2.0]], [0.7], 1, vals)
    out = field(_x(0.0, 1.0, 2.0), _t(-5.0, 0.0, 0.7, 100.0))
    assert out.shape == (4, 3, 1)
    for k in range(4):
        np.testing.assert_allclose(out[k, :, 0].detach().numpy(), [1.0, 2.0, 3.0], atol=1e-12)


def test_tensor_field_time_derivative_penalty_by_hand():
    # time nodes 0, 0.5, 1 (dt = 0.5); one speed node; channels: c0 = 0, 1, 3; c1 = 2, 2, 2
    vals = np.array([[[0.0, 2.0]], [[1.0, 2.0]], [[3.0, 2.0]]])
    field = TensorField([[0.0]], [0.0, 0.5, 1.0], 2, vals)
    # order 1: diffs/dt of c0 = (2, 4) -> ||.||_2 = sqrt(20); c1 -> 0
    assert float(field.time_derivative_penalty(1, None, None).detach()) == pytest.approx(np.sqrt(20.0), rel=1e-12)
    # order 2: (3 - 2*1 + 0)/dt^2 = 4 -> 4
    assert float(field.time_derivative_penalty(2, None, None).detach()) == pytest.approx(4.0, rel=1e-12)


def test_tensor_field_input_derivative_penalty_by_hand():
    # 2 time nodes x 4 speed nodes x 1 channel; c = v^2 at t0 (second differences 2, 2)
    # and 0 at t1. Steps of 2 grid bins divide the differences by 2^order.
    v = np.arange(4.0)
    vals = np.stack([v ** 2, np.zeros(4)])[..., None]
    field = TensorField([v], [0.0, 1.0], 1, vals)
    # order 2: (2, 2, 0, 0) / 2^2 -> ||.||_2 = sqrt(0.5)
    assert float(field.input_derivative_penalty(2, [2.0]).detach()) == pytest.approx(np.sqrt(0.5), rel=1e-12)
    # order 1: (1, 3, 5, 0, 0, 0) / 2 -> sqrt(35) / 2
    assert float(field.input_derivative_penalty(1, [2.0]).detach()) == pytest.approx(np.sqrt(35.0) / 2, rel=1e-12)
    # a straight line in speed costs nothing at order 2
    line = TensorField([v], [0.0], 1, (3.0 * v - 1.0)[None, :, None])
    assert float(line.input_derivative_penalty(2, [1.0]).detach()) == pytest.approx(0.0, abs=1e-12)


def test_input_derivative_penalty_sums_both_axes_of_a_full_field():
    # one time node, 3 x 4 nodes, one channel: c = x^2 + 2 y^2 (second differences 2 along x, 4 along y)
    x, y = np.meshgrid(np.arange(3.0), np.arange(4.0), indexing="ij")
    field = TensorField([np.arange(3.0), np.arange(4.0)], [0.0], 1, (x ** 2 + 2 * y ** 2)[None, ..., None])
    # along x: 1 x 4 entries of 2 -> 4; along y: 3 x 2 entries of 4 -> 4 sqrt(6)
    pen = float(field.input_derivative_penalty(2, [1.0, 1.0]).detach())
    assert pen == pytest.approx(4.0 + 4.0 * np.sqrt(6.0), rel=1e-12)
    grid = VelocityGrid.regular(5, 1.0)
    op = FokkerPlanck.build("tensor", grid, [0.0, 1.0], symmetry="full", nt=1)
    assert float(op.regularization(2, [0.0], along="velocity", grid=grid).detach()) == 0.0


def test_velocity_penalty_is_the_same_for_tensor_and_mlp_fields():
    """Both parametrisations give the same penalty for the same coefficients on the grid's speeds."""
    grid = VelocityGrid.regular(11, 3.0)
    times = np.linspace(0.0, 1.0, 3)

    def coeffs(v):           # natural units; v in grid bins. D > 0 so softplus can be inverted
        return torch.stack([-0.1 * v ** 2, 0.2 + 0.05 * v ** 3, 0.3 + 0 * v], -1)

    tensor = FokkerPlanck.build("tensor", grid, times, nt=1)
    with torch.no_grad():
        tensor.field.values[0] = coeffs(torch.tensor(grid.speed_nodes()) / grid.h)
    pen_t = float(tensor.regularization(2, times, along="velocity", grid=grid))

    class Exact(MLPField):   # an MLP field whose raw outputs give exactly ``coeffs``
        def forward(self, x, t):
            c = coeffs(x[:, 0] / grid.h)
            raw = torch.cat([c[:, :1], torch.log(torch.expm1(c[:, 1:]))], -1)
            return raw[None].expand(t.numel(), -1, -1)

    mlp = FokkerPlanck.build("nn", grid, times, nt=1)
    mlp.field = Exact(1, 3, x_scale=grid.corner_speed, time_dependent=False)
    # the MLP is evaluated at the 3 frame times, the tensor on its one time node
    pen_m = float(mlp.regularization(2, times, along="velocity", grid=grid))
    assert pen_t > 0.1
    assert pen_m == pytest.approx(np.sqrt(3.0) * pen_t, rel=1e-10)
    with pytest.raises(ValueError, match="grid"):
        tensor.regularization(2, times, along="velocity")
    with pytest.raises(ValueError, match="along"):
        tensor.regularization(2, times, along="speed", grid=grid)


def test_mlp_architecture_appendix_a():
    """3 Linear layers, 32 hidden units, LeakyReLU; one network per channel."""
    grid = VelocityGrid.regular(11, 3.0)
    for symmetry, n_in, n_ch in (("isotropic", 1, 3), ("full", 2, 5)):
        for nt, time_input in ((None, 1), (1, 0)):
            op = FokkerPlanck.build("nn", grid, np.linspace(0, 1, 5), symmetry=symmetry, nt=nt)
            field = op.field
            assert isinstance(field, MLPField)
            assert len(field.nets) == n_ch
            for net in field.nets:
                linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
                acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
                assert [(l.in_features, l.out_features) for l in linears] == \
                    [(n_in + time_input, 32), (32, 32), (32, 1)]
                assert len(acts) == 2
                assert isinstance(net[-1], nn.Linear)      # linear output layer


def test_mlp_time_invariant_is_constant_in_t_and_time_dependent_is_not():
    torch.manual_seed(0)
    f_const = MLPField(1, 3, x_scale=4.0, t0=0.0, t_scale=2.0, time_dependent=False)
    f_time = MLPField(1, 3, x_scale=4.0, t0=0.0, t_scale=2.0, time_dependent=True)
    x, t = _x(0.0, 1.0, 3.5), _t(0.0, 0.3, 1.1, 2.0)
    a = f_const(x, t)
    assert a.shape == (4, 3, 3)
    assert torch.equal(a, a[:1].expand_as(a))
    b = f_time(x, t)
    assert (b[1:] - b[:1]).abs().max() > 1e-4


def test_mlp_inputs_are_normalised():
    """(x / x_scale, (t - t0) / t_scale): rescaling the inputs and scales leaves outputs unchanged."""
    torch.manual_seed(1)
    a = MLPField(2, 2, x_scale=1.0, t0=0.0, t_scale=1.0)
    b = MLPField(2, 2, x_scale=5.0, t0=3.0, t_scale=10.0)
    b.load_state_dict({**a.state_dict(), "x_scale": b.x_scale, "t0": b.t0, "t_scale": b.t_scale})
    x = torch.tensor([[0.1, -0.3], [0.7, 0.2]], dtype=torch.float64)
    t = _t(0.0, 0.5)
    torch.testing.assert_close(a(x, t), b(5.0 * x, 3.0 + 10.0 * t), rtol=1e-6, atol=1e-6)
