"""Metriplectic collision kernels ``omega(v, v')`` (Zhao et al., eq. 3 and Appendix A).

Three models share one form,

.. math::
    \\omega = G_r\\, \\tilde r \\tilde r^T + G_s\\, \\tilde s \\tilde s^T
    = P \\left(g_r^2 \\tilde r \\tilde r^T + g_s^2 \\tilde s \\tilde s^T\\right) P,

with the pair frame of :mod:`collop.kinetic.geometry`:

* :class:`LandauKernel`: ``G_r = G_s = c0 / u`` (``omega = c0 P / u``);
* :class:`CM1Kernel`: ``G_r = G_s = g_I(u)^2`` (``omega = g_I^2 P``), ``g_I`` an MLP of ``u``;
* :class:`CM2Kernel`: ``G_r = g_r(u, r, s)^2``, ``G_s = g_s(u, r, s)^2``, two MLPs
  (Appendix B: 6 layers of 10 units).

Every kernel satisfies, for any ``G >= 0`` (Appendix A): ``omega = omega^T >= 0``,
``omega(v, v') = omega(v', v)``, ``omega(Uv, Uv') = U omega U^T`` for
orthogonal ``U``, ``omega u = 0`` and ``omega(v, v') = omega(-v, -v')``.

Units and scales
----------------
``u, r`` are in the data's velocity units, ``s`` in their square, ``omega``
(and ``G``) in velocity**2 / time, ``c0`` in velocity**3 / time. The MLPs see
``(u/sigma, r/sigma, s/sigma^2)`` with ``sigma`` the data's thermal speed, and
``G = G0 * g^2`` with a scale ``G0`` set from the data, so the networks work
with numbers of order one.

Notes
-----
The weak form and the particle solver need the *u-divergence* of the kernel
(``D = d omega_ij/dv_j - d omega_ij/dv'_j = 2 d omega_ij/du_j``), which has
the closed form (``a = |u|``, ``c = u . r``, ``G_{r,s} = dG_r/ds``)

.. math::
    \\nabla_u \\cdot \\omega = -\\frac{G_r + G_s}{a}\\,\\tilde u
    + \\frac{c}{a}\\left(\\frac{G_s - G_r}{s} - G_{r,s}\\right)\\tilde r,

derived from ``div P = -2 u~/a``, ``div(s~ s~^T) = -u~/a + (c/(a s)) r~`` and
``grad_u s = (r x s_vec)/s``; the derivative of ``G`` in ``|u|`` does not
enter. :func:`divergence` evaluates it; the tests check it against automatic
differentiation.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .geometry import PairFrame, pair_frame

__all__ = ["Kernel", "LandauKernel", "CM1Kernel", "CM2Kernel", "PairMLP", "KERNELS", "omega_matrix",
           "divergence"]


class PairMLP(nn.Module):
    """``n_nets`` independent MLPs with scalar outputs, stored as stacked weights.

    Layer ``l`` holds ``W{l} (n_nets, out, in)`` and ``b{l} (n_nets, out)``;
    hidden layers use ``tanh``. :meth:`forward` also gives the derivative of
    net 0 with respect to one input column (forward mode, for ``dG_r/ds``).

    Parameters
    ----------
    n_in : int
        Inputs per net.
    n_nets : int
        Number of nets.
    hidden : int
        Units per hidden layer.
    layers : int
        Linear layers per net (``layers - 1`` hidden layers).
    generator : torch.Generator, optional
        Source of the initial weights (uniform ``+-1/sqrt(fan_in)``, like ``nn.Linear``).
    """

    def __init__(self, n_in: int, n_nets: int, hidden: int = 10, layers: int = 6, generator=None,
                 dtype=torch.float32):
        super().__init__()
        self.n_in, self.n_nets, self.hidden, self.n_layers = n_in, n_nets, hidden, layers
        dims = [n_in] + [hidden] * (layers - 1) + [1]
        for i in range(layers):
            bound = 1.0 / math.sqrt(dims[i])
            W = (torch.rand(n_nets, dims[i + 1], dims[i], generator=generator, dtype=torch.float64) * 2 - 1) * bound
            b = (torch.rand(n_nets, dims[i + 1], generator=generator, dtype=torch.float64) * 2 - 1) * bound
            setattr(self, f"W{i}", nn.Parameter(W.to(dtype)))
            setattr(self, f"b{i}", nn.Parameter(b.to(dtype)))

    def weights(self):
        return [(getattr(self, f"W{i}"), getattr(self, f"b{i}")) for i in range(self.n_layers)]

    #: ``"auto"`` (numba kernels for float32 weights on the CPU, else PyTorch), ``"torch"`` or ``"numba"``
    backend = "auto"

    def _use_numba(self, x) -> bool:
        if self.backend == "torch":
            return False
        ok = self.W0.dtype == torch.float32 and x.device.type == "cpu"
        if self.backend == "numba" and not ok:
            raise ValueError("the numba backend needs float32 weights on the CPU")
        return ok

    def packed(self):
        """Weights in the layout of :mod:`collop.kinetic._mlp_kernels` (differentiable views)."""
        L = self.n_layers
        W_in, b_in = self.W0, self.b0
        if L > 2:
            W_hid = torch.stack([getattr(self, f"W{i}") for i in range(1, L - 1)], 1)
            b_hid = torch.stack([getattr(self, f"b{i}") for i in range(1, L - 1)], 1)
        else:
            W_hid = W_in.new_zeros(self.n_nets, 0, self.hidden, self.hidden)
            b_hid = W_in.new_zeros(self.n_nets, 0, self.hidden)
        Wl, bl = getattr(self, f"W{L - 1}"), getattr(self, f"b{L - 1}")
        return W_in, b_in, W_hid, b_hid, Wl[:, 0, :], bl[:, 0]

    def forward(self, x: torch.Tensor, tangent_col: int | None = None, tangent_scale: float = 1.0):
        """Outputs ``y (n_nets, P)`` and, if ``tangent_col`` is given, ``dy_0/dx[:, col] * tangent_scale``."""
        if self._use_numba(x):
            y, yd = _NumbaMLP.apply(x.to(torch.float32), -1 if tangent_col is None else int(tangent_col),
                                    float(tangent_scale), *self.packed())
            return y, (yd if tangent_col is not None else None)
        return self._forward_torch(x, tangent_col, tangent_scale)

    def _forward_torch(self, x, tangent_col=None, tangent_scale=1.0):
        F = torch.nn.functional
        outs, dy = [], None
        L = self.n_layers
        for n in range(self.n_nets):
            h, dh = x, None
            want = tangent_col is not None and n == 0
            for i, (W, b) in enumerate(self.weights()):
                z = F.linear(h, W[n], b[n])
                if want:
                    dz = (W[n][:, tangent_col] * tangent_scale).expand(z.shape) if i == 0 else F.linear(dh, W[n])
                if i < L - 1:
                    h = torch.tanh(z)
                    if want:
                        dh = (1 - h * h) * dz
                else:
                    h = z
                    if want:
                        dh = dz
            outs.append(h[..., 0])
            if want:
                dy = dh[..., 0]
        return torch.stack(outs), dy


class _NumbaMLP(torch.autograd.Function):
    """``(y, ydot)`` of :class:`PairMLP` by the numba kernels; gradients for the weights only."""

    @staticmethod
    def forward(ctx, x, col, ts, W_in, b_in, W_hid, b_hid, W_out, b_out):
        from . import _mlp_kernels as K

        ws = [t.detach().contiguous().numpy() for t in (W_in, b_in, W_hid, b_hid, W_out, b_out)]
        xn = x.detach().contiguous().numpy()
        y, yd = K.forward(xn, *ws, col, np.float32(ts))
        ctx.save_for_backward(x)
        ctx.ws, ctx.col, ctx.ts = ws, col, ts
        return torch.from_numpy(y), torch.from_numpy(yd)

    @staticmethod
    def backward(ctx, gy, gyd):
        import numba

        from . import _mlp_kernels as K

        (x,) = ctx.saved_tensors
        gy = (torch.zeros(ctx.ws[0].shape[0], x.shape[0]) if gy is None else gy).to(torch.float32).contiguous()
        gyd = (torch.zeros(x.shape[0]) if gyd is None else gyd).to(torch.float32).contiguous()
        grads = K.backward(x.detach().contiguous().numpy(), *ctx.ws, ctx.col, np.float32(ctx.ts), gy.numpy(),
                           gyd.numpy(), numba.get_num_threads())
        out = [torch.from_numpy(np.ascontiguousarray(g)).to(torch.float32) for g in grads]
        return (None, None, None, *out)


class Kernel(nn.Module):
    """A metriplectic kernel: gains ``G_r, G_s`` of the pair magnitudes ``(u, r, s)``.

    Attributes
    ----------
    model : str
        ``landau``, ``cm1`` or ``cm2``.
    isotropic : bool
        ``G_r == G_s`` (Landau, CM1): ``omega = G P``.
    v_scale : Tensor
        ``sigma``: velocity scale of the inputs (data units).
    g_scale : Tensor
        ``G0``: scale of the gains (velocity**2 / time).
    """

    model = ""
    isotropic = True

    def __init__(self, v_scale: float = 1.0, g_scale: float = 1.0):
        super().__init__()
        self.register_buffer("v_scale", torch.tensor(float(v_scale), dtype=torch.float64))
        self.register_buffer("g_scale", torch.tensor(float(g_scale), dtype=torch.float64))

    @property
    def dtype(self):
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.float64

    def gains(self, a: torch.Tensor, rho: torch.Tensor, s: torch.Tensor, *, ds: bool = False):
        """``(G_r, G_s, dG_r/ds or None)`` at magnitudes ``a = |u|, rho = |r|, s = |u x r|`` (data units)."""
        raise NotImplementedError

    def frame_gains(self, fr: PairFrame, *, ds: bool = False):
        """:meth:`gains` on a frame, with ``G = 0`` where ``u = 0`` (and finite everywhere)."""
        a = torch.where(fr.ok_u, fr.a, torch.ones_like(fr.a))
        Gr, Gs, dGr = self.gains(a.to(self.dtype), fr.rho.to(self.dtype), fr.s.to(self.dtype), ds=ds)
        dt = fr.a.dtype
        zero = torch.zeros((), dtype=dt)
        Gr = torch.where(fr.ok_u, Gr.to(dt), zero)
        Gs = torch.where(fr.ok_u, Gs.to(dt), zero)
        if dGr is not None:
            dGr = torch.where(fr.ok_s, dGr.to(dt), zero)
        return Gr, Gs, dGr

    def forward(self, v1, v2, vbar=None):
        """``omega(v1, v2)`` as ``(P, 3, 3)`` matrices (see :func:`omega_matrix`)."""
        return omega_matrix(self, v1, v2, vbar)

    def describe(self) -> dict:
        """Scalars that define the kernel besides its weights (written to operator files)."""
        return {"model": self.model, "v_scale": float(self.v_scale), "g_scale": float(self.g_scale)}


class LandauKernel(Kernel):
    """``omega = c0 P / |u|``; ``c0 = c_scale * exp(log_c0)`` (velocity**3 / time).

    Parameters
    ----------
    c0 : float
        Initial ``c0`` (data units).
    v_scale : float
        Velocity scale (only recorded; Landau has no network).
    """

    model = "landau"
    isotropic = True

    def __init__(self, c0: float = 1.0, v_scale: float = 1.0, dtype=torch.float64):
        if not (c0 > 0 and math.isfinite(c0)):
            raise ValueError(f"c0 must be positive and finite, got {c0}")
        super().__init__(v_scale, c0 / v_scale)
        self.register_buffer("c_scale", torch.tensor(float(c0), dtype=torch.float64))
        self.log_c0 = nn.Parameter(torch.zeros((), dtype=dtype))

    @property
    def c0(self) -> torch.Tensor:
        return self.c_scale.to(self.log_c0.dtype) * torch.exp(self.log_c0)

    def gains(self, a, rho, s, *, ds=False):
        G = self.c0 / a
        return G, G, (torch.zeros_like(G) if ds else None)

    def describe(self):
        return {**super().describe(), "c0": float(self.c0.detach())}


class CM1Kernel(Kernel):
    """``omega = g_I(u)^2 P`` with ``g_I`` an MLP of ``u / sigma``; ``G = G0 g_I^2``."""

    model = "cm1"
    isotropic = True

    def __init__(self, v_scale: float = 1.0, g_scale: float = 1.0, *, hidden: int = 10, layers: int = 6,
                 seed: int = 0, dtype=torch.float32):
        super().__init__(v_scale, g_scale)
        gen = torch.Generator().manual_seed(int(seed))
        self.net = PairMLP(1, 1, hidden, layers, generator=gen, dtype=dtype)
        _start_at_one(self.net)

    def gains(self, a, rho, s, *, ds=False):
        x = (a / self.v_scale.to(a.dtype))[:, None]
        y, _ = self.net(x)
        G = self.g_scale.to(a.dtype) * y[0] * y[0]
        return G, G, (torch.zeros_like(G) if ds else None)

    def describe(self):
        return {**super().describe(), "hidden": self.net.hidden, "layers": self.net.n_layers}


class CM2Kernel(Kernel):
    """``omega = g_r^2 r~r~^T + g_s^2 s~s~^T``; ``g_r, g_s`` MLPs of ``(u/sigma, r/sigma, s/sigma^2)``."""

    model = "cm2"
    isotropic = False

    def __init__(self, v_scale: float = 1.0, g_scale: float = 1.0, *, hidden: int = 10, layers: int = 6,
                 seed: int = 0, dtype=torch.float32):
        super().__init__(v_scale, g_scale)
        gen = torch.Generator().manual_seed(int(seed))
        self.net = PairMLP(3, 2, hidden, layers, generator=gen, dtype=dtype)
        _start_at_one(self.net)

    def inputs(self, a, rho, s):
        sig = self.v_scale.to(a.dtype)
        return torch.stack([a / sig, rho / sig, s / (sig * sig)], -1)

    def gains(self, a, rho, s, *, ds=False):
        sig = self.v_scale.to(a.dtype)
        x = self.inputs(a, rho, s)
        y, dy = self.net(x, tangent_col=2 if ds else None, tangent_scale=1.0 / float(sig) ** 2)
        G0 = self.g_scale.to(a.dtype)
        Gr, Gs = G0 * y[0] * y[0], G0 * y[1] * y[1]
        return Gr, Gs, (2 * G0 * y[0] * dy if ds else None)

    def describe(self):
        return {**super().describe(), "hidden": self.net.hidden, "layers": self.net.n_layers}


def _start_at_one(net: PairMLP) -> None:
    """Start every net near ``g = 1`` (so ``G ~ G0``): a small last layer, output bias 1."""
    W, b = net.weights()[-1]
    with torch.no_grad():
        W.mul_(0.1)
        b.fill_(1.0)


KERNELS = {"landau": LandauKernel, "cm1": CM1Kernel, "cm2": CM2Kernel}


def omega_matrix(kernel: Kernel, v1, v2, vbar=None) -> torch.Tensor:
    """``omega(v1[p], v2[p])`` as ``(P, 3, 3)`` (see :mod:`collop.kinetic.geometry` for degenerate pairs)."""
    fr = pair_frame(v1, v2, vbar)
    Gr, Gs, _ = kernel.frame_gains(fr)
    avg = 0.5 * (Gr + Gs)
    Gr = torch.where(fr.ok_s, Gr, avg)
    Gs = torch.where(fr.ok_s, Gs, avg)
    rr = fr.rt[..., :, None] * fr.rt[..., None, :]
    ss = fr.st[..., :, None] * fr.st[..., None, :]
    return Gr[..., None, None] * rr + Gs[..., None, None] * ss


def divergence(kernel: Kernel, v1, v2, vbar=None) -> torch.Tensor:
    """``sum_j d omega_ij / du_j`` at fixed ``r`` (shape ``(P, 3)``; see the module Notes).

    Zero where ``u = 0``; the ``r~`` term is dropped where ``r`` is parallel
    to ``u`` (its direction average is zero).
    """
    fr = pair_frame(v1, v2, vbar)
    Gr, Gs, dGr = kernel.frame_gains(fr, ds=True)
    return divergence_from_frame(fr, Gr, Gs, dGr)


def divergence_from_frame(fr: PairFrame, Gr, Gs, dGr) -> torch.Tensor:
    a = torch.where(fr.ok_u, fr.a, torch.ones_like(fr.a))
    s = torch.where(fr.ok_s, fr.s, torch.ones_like(fr.s))
    radial = -(Gr + Gs) / a
    tang = torch.where(fr.ok_s, fr.c / a * ((Gs - Gr) / s - dGr), torch.zeros_like(a))
    return radial[..., None] * fr.uh + tang[..., None] * fr.rt
