"""Parametrisations of coefficient fields ``c(x, t)``.

A field maps inputs ``x`` (speed for isotropic operators, ``(vx, vy)`` for
full ones) and times ``t`` to ``C`` channels. Two strategies share one
interface, so any operator can swap them:

* :class:`TensorField` - values on a regular grid of nodes in ``x`` and on
  ``N_t`` time nodes, linearly interpolated (clamped at the ends);
  ``N_t = 1`` is time-invariant.
* :class:`MLPField` - one multilayer perceptron per channel (Appendix A of
  Carvalho et al.: 3 layers, 32 hidden units, LeakyReLU).

Values are in the operator's *natural units* (see
:class:`collop.operators.fokker_planck.FokkerPlanck`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["Field", "TensorField", "MLPField", "linear_weights", "input_diff_norm"]


def linear_weights(nodes: torch.Tensor, x: torch.Tensor):
    """Indices ``i`` and weights ``w`` with ``x ~ (1-w) nodes[i] + w nodes[i+1]``.

    ``x`` outside the nodes is clamped to the end values.
    """
    n = nodes.numel()
    if n == 1:
        z = torch.zeros_like(x, dtype=torch.long)
        return z, torch.zeros_like(x), z
    xc = x.clamp(nodes[0], nodes[-1])
    i = torch.searchsorted(nodes, xc.contiguous(), right=True).sub(1).clamp(0, n - 2)
    w = (xc - nodes[i]) / (nodes[i + 1] - nodes[i])
    return i, w, i + 1


class Field(nn.Module):
    """Interface: ``field(x (P, d), t (T,)) -> (T, P, C)``."""

    n_inputs: int
    n_channels: int

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def time_derivative_penalty(self, order: int, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``sum_c || d^n c / dt^n ||_2`` by finite differences on the time nodes (or ``t``)."""
        vals = self(x, t)
        dt = (t[1:] - t[:-1]).mean() if t.numel() > 1 else torch.ones((), dtype=vals.dtype)
        return _diff_norm(vals, order, dt)


def _diff_norm(vals: torch.Tensor, order: int, dt) -> torch.Tensor:
    """``sum_c ||diff^order(vals, axis=0)/dt^order||_2`` over channels (last axis)."""
    if vals.shape[0] <= order:
        return vals.new_zeros(())
    d = vals
    for _ in range(order):
        d = torch.diff(d, dim=0)
    d = d / dt ** order
    return d.reshape(-1, d.shape[-1]).norm(dim=0).sum()


def input_diff_norm(vals: torch.Tensor, order: int, steps) -> torch.Tensor:
    """``sum_d sum_c ||diff^order(vals, axis=1+d)/steps[d]^order||_2`` for ``vals (T, *inputs, C)``."""
    total = vals.new_zeros(())
    for d, step in enumerate(steps):
        total = total + _diff_norm(vals.movedim(1 + d, 0), order, step)
    return total


class TensorField(Field):
    """Coefficients stored on nodes and linearly interpolated.

    Parameters
    ----------
    nodes : sequence of 1-D arrays
        Node coordinates along each input dimension (strictly increasing).
    time_nodes : 1-D array
        ``N_t`` time nodes (time units); one node means time-invariant.
    n_channels : int
        Number of channels ``C``.
    values : array, optional
        Initial values of shape ``(N_t, *node_shape, C)``; zeros by default
        (the paper's initial guess for discrete operators).
    """

    def __init__(self, nodes, time_nodes, n_channels: int, values=None):
        super().__init__()
        self.n_inputs = len(nodes)
        self.n_channels = n_channels
        for d, nd in enumerate(nodes):
            self.register_buffer(f"nodes{d}", torch.tensor(np.asarray(nd, dtype=np.float64)))
        self.register_buffer("time_nodes", torch.tensor(np.asarray(time_nodes, dtype=np.float64)))
        shape = (len(time_nodes),) + tuple(len(nd) for nd in nodes) + (n_channels,)
        init = torch.zeros(shape, dtype=torch.float64) if values is None else \
            torch.tensor(np.asarray(values, dtype=np.float64)).reshape(shape)
        self.values = nn.Parameter(init)

    def nodes(self, d: int) -> torch.Tensor:
        return getattr(self, f"nodes{d}")

    def _space(self, x: torch.Tensor) -> torch.Tensor:
        """Interpolate every time node to the points ``x``: ``(N_t, P, C)``."""
        v = self.values
        flat = self._on_nodes(x)
        if flat is not None:                      # every point is a node: a view or one gather
            vf = v.reshape(v.shape[0], -1, self.n_channels)
            return vf if isinstance(flat, slice) else vf[:, flat]
        if self.n_inputs == 1:
            i0, w, i1 = linear_weights(self.nodes(0).to(x.dtype), x[:, 0])
            w = w.to(v.dtype)[None, :, None]
            return v[:, i0] * (1 - w) + v[:, i1] * w
        i0, wx, i1 = linear_weights(self.nodes(0).to(x.dtype), x[:, 0])
        j0, wy, j1 = linear_weights(self.nodes(1).to(x.dtype), x[:, 1])
        wx = wx.to(v.dtype)[None, :, None]
        wy = wy.to(v.dtype)[None, :, None]
        return ((v[:, i0, j0] * (1 - wy) + v[:, i0, j1] * wy) * (1 - wx)
                + (v[:, i1, j0] * (1 - wy) + v[:, i1, j1] * wy) * wx)

    def _on_nodes(self, x: torch.Tensor):
        """Flat node index of each point of ``x (P, d)`` when all lie exactly on nodes, else ``None``.

        A ``slice`` when the points are the whole node grid in order (the
        interpolation is then the identity). Cached per ``x`` (a training
        evaluates the same points every epoch). Exact equality, so the values
        and gradients equal the interpolation's to the bit.
        """
        key = (x.data_ptr(), x._version, tuple(x.shape), x.dtype)
        cache = self.__dict__.setdefault("_node_cache", {})
        if key in cache:
            return cache[key]
        flat = torch.zeros(x.shape[0], dtype=torch.long)
        for d in range(self.n_inputs):
            nodes = self.nodes(d).to(x.dtype)
            i = torch.searchsorted(nodes, x[:, d].contiguous()).clamp(max=nodes.numel() - 1)
            if not bool((nodes[i] == x[:, d]).all()):
                flat = None
                break
            flat = flat * nodes.numel() + i
        if flat is not None and flat.numel() == self.values[0, ..., 0].numel() \
                and bool((flat == torch.arange(flat.numel())).all()):
            flat = slice(None)
        cache.clear()
        cache[key] = flat
        return flat

    def forward(self, x, t):
        vs = self._space(x)                       # (N_t, P, C)
        if vs.shape[0] == 1:
            return vs.expand(t.numel(), -1, -1)
        k0, w, k1 = linear_weights(self.time_nodes.to(t.dtype), t)
        if k0.numel() and not bool(w.any()):      # frames on time nodes (one node per frame)
            n, first = k0.numel(), int(k0[0])
            if bool((k0 == torch.arange(first, first + n)).all()):
                return vs[first:first + n]
            return vs[k0]
        w = w.to(vs.dtype)[:, None, None]
        return vs[k0] * (1 - w) + vs[k1] * w

    def time_derivative_penalty(self, order, t, x):
        tn = self.time_nodes
        dt = (tn[1:] - tn[:-1]).mean() if tn.numel() > 1 else 1.0
        return _diff_norm(self.values.reshape(self.values.shape[0], -1, self.n_channels),
                          order, dt)

    def input_derivative_penalty(self, order: int, steps) -> torch.Tensor:
        """``sum_d sum_c ||d^n c/dx_d^n||_2`` on the tensor's nodes; ``steps`` per input axis."""
        return input_diff_norm(self.values, order, steps)


class MLPField(Field):
    """MLPs of the normalised inputs ``(x / x_scale, (t - t0) / t_scale)``: one per channel, or one shared.

    Parameters
    ----------
    n_inputs : int
        Input dimension (1: speed, 2: velocity).
    n_channels : int
        Number of channels, each its own network.
    x_scale : float
        Velocity scale of the inputs (e.g. the grid's corner speed).
    t0, t_scale : float
        Time offset and scale (time units) mapping the record to ``[0, 1]``.
    time_dependent : bool
        Whether ``t`` is an input; ``False`` gives a time-invariant operator.
    hidden, layers : int
        Width and number of linear layers (Appendix A: 32 and 3).
    shared : bool
        One network with ``n_channels`` outputs instead of one network per
        channel (the kernel operators' ``K(v)`` has many channels).
    """

    def __init__(self, n_inputs: int, n_channels: int, *, x_scale: float, t0: float = 0.0,
                 t_scale: float = 1.0, time_dependent: bool = True, hidden: int = 32,
                 layers: int = 3, shared: bool = False):
        super().__init__()
        self.n_inputs = n_inputs
        self.n_channels = n_channels
        self.time_dependent = time_dependent
        self.register_buffer("x_scale", torch.tensor(float(x_scale), dtype=torch.float64))
        self.register_buffer("t0", torch.tensor(float(t0), dtype=torch.float64))
        self.register_buffer("t_scale", torch.tensor(float(t_scale) or 1.0, dtype=torch.float64))
        n_in = n_inputs + int(time_dependent)

        def mlp(n_out):
            mods, width = [], n_in
            for _ in range(layers - 1):
                mods += [nn.Linear(width, hidden), nn.LeakyReLU()]
                width = hidden
            mods.append(nn.Linear(width, n_out))
            return nn.Sequential(*mods)

        self.nets = nn.ModuleList([mlp(n_channels)] if shared else [mlp(1) for _ in range(n_channels)])

    def forward(self, x, t):
        dtype = self.nets[0][0].weight.dtype
        xs = (x / self.x_scale).to(dtype)                      # (P, d)
        T, P = t.numel(), x.shape[0]
        if self.time_dependent:
            ts = ((t - self.t0) / self.t_scale).to(dtype)
            inp = torch.cat([xs[None].expand(T, P, -1), ts[:, None, None].expand(T, P, 1)], -1)
            return torch.cat([net(inp) for net in self.nets], -1)
        out = torch.cat([net(xs) for net in self.nets], -1)
        return out[None].expand(T, -1, -1)
