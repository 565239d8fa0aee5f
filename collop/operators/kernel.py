"""Integro-differential kernel operators (Carvalho et al., Section 2.2 and Appendix E).

The operator is

.. math::
    C[f] = \\sum_{i \\in \\{x, y\\}} D_i \\, (K_i \\star f), \\qquad
    (K_i \\star f)(v) = \\sum_{l, m} K_i(v, l, m) \\, f(v_x + l\\Delta, v_y + m\\Delta),

a cross-correlation of ``f`` with a velocity-dependent ``k x k`` kernel per
component, followed by a finite difference ``D_i`` along that component.

Notes
-----
**Flux form, exact mass conservation.** ``g_i = K_i \\star f`` lives at cell
centres; the difference is written as the divergence of a flux on cell faces,
``C(i) = (F_{i+1/2} - F_{i-1/2}) / h`` with

* forward (default): ``F_{i+1/2} = g(i+1)``, i.e. ``D g(i) = (g(i+1) - g(i))/h``;
* backward: ``F_{i+1/2} = g(i)``;
* centred: ``F_{i+1/2} = (g(i) + g(i+1)) / 2``;

and ``F = 0`` on the outer faces of the grid. The tendency therefore sums to
zero over the grid: mass is conserved to round-off. (The public reference code
``ml-pic-collision-operators`` pads ``g`` with zeros instead, which lets mass
leave through the lower faces.) Positivity is not forced: ``f`` is never
clipped in a step (clipping would create mass); rollouts report their negative
mass instead.

**Window offsets.** ``l, m`` run over ``-floor(k/2) .. floor((k-1)/2)``
(``offsets="reference"``, the reference code's convention, the default), so
``k = 2`` gives ``{-1, 0}``. The paper's eq. (6) prints the bounds the other
way round, ``-floor((k-1)/2) .. floor(k/2)`` (``offsets="paper"``); its
Appendix E.1 notes that switching them swaps the forward and backward
results. With the reference offsets a forward ``k = 2`` kernel holds exactly
the centred advection-diffusion flux of :func:`collop.solvers.fp_flux_divergence`
with diagonal ``D`` (the paper's Fig. 4/18 result):

.. math::
    K_x(i{+}1, j; -1, 0) = -\\tfrac12 A_x(i,j) - \\tfrac{D_{xx}(i,j)}{2h},\\quad
    K_x(i{+}1, j; 0, 0) = -\\tfrac12 A_x(i{+}1,j) + \\tfrac{D_{xx}(i{+}1,j)}{2h}

(the flux ``F = -J`` of the Fokker-Planck face flux ``J``; likewise ``K_y``).
A full ``D`` adds the centred cross term ``\\partial_y (D_{xy} f)`` to the
``x`` faces, which spans three cells in ``y``: it needs ``k = 3`` (``m`` in
``{-1, 0, 1}``). The backward scheme needs ``k = 3`` even for diagonal ``D``
(``F_{i+1/2} = g(i)`` must reach ``f(i+1)``), and ``k = 3`` also holds full
``D``. The centred scheme shares each ``g(i)`` between two faces and cannot
hold a general advection-diffusion flux at any ``k``.

**Units.** ``K`` is in velocity units / time units (``F`` has the units of
``A f``). Parameters are stored in natural units, ``h/dt`` (bins per frame),
like the Fokker-Planck coefficients.

**Stencil.** The operator is local and linear, with radius
``r = max(floor(k/2), floor((k-1)/2) + 1)`` (forward), ``floor(k/2) + 1``
(backward, centred) for the reference offsets: the grid solver advances it
like any other stencil (:mod:`collop.solvers`).

**Modules.** This module holds the options, the operator and its file form;
:mod:`collop.operators._kernel_stencil` the offsets, the radius and
:func:`kernel_stencil`; :mod:`collop.operators.kernel_equivalence`
:func:`kernel_from_fokker_planck` (all importable from here). Measurements:
``docs/kernel.md``.
"""
from __future__ import annotations

import os
from typing import Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field

from ..datasets import _attrs
from ..grid import VelocityGrid
from ..options import SpecError, options
from ..schema import SchemaError
from ._kernel_stencil import SCHEMES, kernel_radius, kernel_stencil, window_offsets
from .base import Operator
from .fields import MLPField, TensorField
from .kernel_equivalence import kernel_from_fokker_planck

__all__ = ["KernelOperator", "KernelOptions", "KernelPenalties", "SCHEMES", "window_offsets",
           "kernel_radius", "kernel_stencil", "kernel_from_fokker_planck"]


@options
class KernelOptions:
    """How a kernel operator is parametrised.

    Attributes
    ----------
    k : int
        Kernel size: a ``k x k`` window.
    scheme : {"forward", "backward", "centred"}
        Finite difference of the outer derivative.
    offsets : {"reference", "paper"}
        Window offsets (see the module Notes).
    model : {"tensor", "nn"}
        ``K`` as a tensor on the bin centres (initialised at zero) or an MLP of ``v``.
    nt : int
        Time nodes (tensor) or, for the MLP, 1 (time-invariant) or more (time as an input).
    tie : bool
        ``K_y(v_x, v_y, l, m) = K_x(v_y, v_x, m, l)`` (needs a square grid with ``vx == vy``).
    hidden, layers : int
        MLP width and number of linear layers (the reference's ``K2D_NN``: 64, two hidden layers).
    """

    k: int = Field(2, ge=1, le=15, description="kernel size: a k x k window")
    scheme: Literal["forward", "backward", "centred"] = Field("forward", description="finite difference of "
                                                                                    "the outer derivative")
    offsets: Literal["reference", "paper"] = Field("reference", description="window offsets: the reference "
                                                   "code's -floor(k/2)..floor((k-1)/2) or eq. 6 as printed")
    model: Literal["tensor", "nn"] = Field("tensor", description="discrete tensor or neural network kernel")
    nt: int = Field(1, ge=1, description="time nodes (1: time-invariant)")
    tie: bool = Field(False, description="K_y(vx, vy, l, m) = K_x(vy, vx, m, l)")
    hidden: int = Field(64, ge=1, le=4096, description="hidden units per MLP layer (nn)")
    layers: int = Field(3, ge=2, le=32, description="linear layers of the MLP (nn)")


@options
class KernelPenalties:
    """Penalties of a kernel operator.

    Attributes
    ----------
    l1 : float
        Weight of the sparsity penalty ``mean_cells sum_{i,l,m} |K_i|`` (natural units).
    """

    l1: float = Field(0.0, ge=0, allow_inf_nan=False, description="weight of the L1 sparsity penalty on K")


class KernelOperator(Operator):
    """A kernel operator ``C[f] = sum_i D_i (K_i * f)`` (see the module docstring).

    Parameters
    ----------
    field : TensorField or MLPField
        ``K`` in natural units: channels ``(component, l, m)`` flattened
        (``k**2`` channels with ``tie``, else ``2 k**2``), inputs ``(vx, vy)``.
    k, scheme, convention, tie
        As in :class:`KernelOptions`.
    k_scale : float
        Natural unit of ``K`` (velocity units / time units).
    """

    family = "kernel"
    cli_name = "kernel"
    description = "an integro-differential kernel operator"
    Options = KernelOptions
    Penalties = KernelPenalties
    objective = "rollout"
    forms = {"kernel": {"K": ("time", "component", "vx", "vy", "l", "m")}}
    coefficients = {"kernel": ("K",)}

    def __init__(self, field, *, k: int, scheme: str = "forward", convention: str = "reference",
                 tie: bool = False, k_scale: float = 1.0, method: str = "kernel-tensor",
                 velocity_units: str = "", time_units: str = ""):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
        self.field, self.k, self.scheme, self.convention, self.tie = field, int(k), scheme, convention, bool(tie)
        self.method, self.velocity_units, self.time_units = method, velocity_units, time_units
        self.register_buffer("k_scale", torch.tensor(float(k_scale), dtype=torch.float64))
        self.radius = kernel_radius(self.k, scheme, convention)

    # -- construction -------------------------------------------------------------
    @classmethod
    def _check(cls, options: KernelOptions, grid: VelocityGrid) -> None:
        n, m = grid.shape
        if options.k > min(n, m):
            raise SpecError(f"options.k: {options.k} is larger than the grid ({n} x {m} bins)", field="options.k")
        if options.tie and (n != m or not np.allclose(grid.vx, grid.vy)):
            raise SpecError(f"options.tie: K_y(vx, vy, l, m) = K_x(vy, vx, m, l) needs a square grid with "
                            f"vx == vy (this one is {n} x {m})", field="options.tie")

    @classmethod
    def from_options(cls, options: KernelOptions, data, *, seed: int = 0) -> "KernelOperator":
        grid, times = data.grid, np.asarray(data.times, dtype=float)
        cls._check(options, grid)
        dt = float(np.diff(times).mean()) if times.size > 1 else 1.0
        n_ch = options.k ** 2 * (1 if options.tie else 2)
        if options.model == "tensor":
            tn = np.linspace(times[0], times[-1], options.nt) if options.nt > 1 else times[:1]
            field = TensorField([grid.vx, grid.vy], tn, n_ch)
        else:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                field = MLPField(2, n_ch, x_scale=grid.corner_speed, t0=times[0], t_scale=times[-1] - times[0],
                                 time_dependent=options.nt > 1, hidden=options.hidden, layers=options.layers,
                                 shared=True)
                with torch.no_grad():          # start near the zero operator, like the tensor
                    field.nets[0][-1].weight.mul_(1e-2)
                    field.nets[0][-1].bias.zero_()
        return cls(field, k=options.k, scheme=options.scheme, convention=options.offsets, tie=options.tie,
                   k_scale=grid.h / dt, method=cls.method_name(options), velocity_units=data.velocity_units,
                   time_units=data.time_units)

    @classmethod
    def default_curriculum(cls, options) -> str:
        """Table 2's ``K`` column."""
        return "kernel"

    @classmethod
    def method_name(cls, options) -> str:
        return f"kernel-{options.model}"

    @classmethod
    def check_size(cls, options: KernelOptions, data) -> None:
        cls._check(options, data.grid)
        if options.model != "tensor":
            return
        n = options.nt * int(np.prod(data.grid.shape)) * options.k ** 2 * (1 if options.tie else 2)
        need = 6 * 8 * n
        try:
            have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return
        if need > 0.5 * have:
            raise SpecError(f"options.nt: a {options.k} x {options.k} tensor kernel with {options.nt} time "
                            f"nodes needs about {need / 2**30:.3g} GiB, more than half of this machine's "
                            f"{have / 2**30:.3g} GiB", field="options.nt")

    # -- the kernel ------------------------------------------------------------------
    def kernel(self, grid: VelocityGrid, times, natural: bool = False) -> torch.Tensor:
        """``K (T, 2, N, M, k, k)`` at the bin centres and ``times`` (data units; natural with ``natural``)."""
        k = self.k
        n, m = grid.shape
        t = torch.tensor(np.asarray(times, dtype=np.float64))
        if isinstance(self.field, TensorField) and self.field.time_nodes.numel() == 1:
            vals = self.field.values.expand(t.numel(), *self.field.values.shape[1:])
        else:
            VX, VY = grid.mesh()
            x = torch.tensor(np.stack([VX.ravel(), VY.ravel()], -1))
            vals = self.field(x, t).reshape(t.numel(), n, m, -1)
        if self.tie:
            kx = vals.reshape(t.numel(), n, m, k, k)
            ky = kx.transpose(1, 2).transpose(3, 4)        # K_y(i, j, l, m) = K_x(j, i, m, l)
            K = torch.stack([kx, ky], 1)
        else:
            K = vals.reshape(t.numel(), n, m, 2, k, k).permute(0, 3, 1, 2, 4, 5)
        return K if natural else K * self.k_scale.to(K.dtype)

    def stencil(self, grid: VelocityGrid, times, dtype=torch.float32) -> torch.Tensor:
        """Per-frame stencil ``W (T, (2r+1)**2, N, M)`` (1/time units) of radius :attr:`radius`.

        A time-invariant tensor kernel builds one stencil and repeats it.
        """
        T = len(times)
        if isinstance(self.field, TensorField) and self.field.time_nodes.numel() == 1:
            W = kernel_stencil(self.kernel(grid, np.asarray(times)[:1]), grid.h, self.scheme, self.k,
                               self.convention)
            return W.to(dtype).expand(T, *W.shape[1:])
        return kernel_stencil(self.kernel(grid, times), grid.h, self.scheme, self.k, self.convention).to(dtype)

    @torch.no_grad()
    def project_(self) -> None:
        """No constraint on ``K`` (its sign is not fixed by the form)."""

    def penalty(self, penalties: KernelPenalties, data) -> torch.Tensor:
        """``l1 * mean_cells sum_{i,l,m} |K|`` in natural units (tensor: on its values)."""
        if not penalties.l1:
            return torch.zeros((), dtype=torch.float64)
        if isinstance(self.field, TensorField):
            vals = self.field.values
        else:
            vals = self.kernel(data.grid, data.times[:-1], natural=True)
        n_cells = int(np.prod(data.grid.shape)) * vals.shape[0]
        return penalties.l1 * vals.abs().sum() / n_cells

    # -- files --------------------------------------------------------------------------
    @torch.no_grad()
    def to_dataset(self, grid: VelocityGrid, times, *, source: str = "", attrs: dict | None = None):
        """The operator file: ``K(time, component, vx, vy, l, m)`` in velocity units / time units.

        Tensors are written on their own time nodes, MLPs on the frame times.
        Attributes: ``scheme``, ``k``, ``offsets`` (the convention), ``window``
        (the offsets), ``tie``.
        """
        tensor = isinstance(self.field, TensorField)
        t = self.field.time_nodes.numpy() if tensor else np.asarray(times, dtype=float)
        K = self.kernel(grid, t).double().numpy()
        off = window_offsets(self.k, self.convention)
        a = _attrs("operator", self.velocity_units, self.time_units, source, attrs)
        a.update(operator="kernel", method=self.method, scheme=self.scheme, k=int(self.k),
                 offsets=self.convention, window=",".join(str(int(o)) for o in off), tie=int(self.tie),
                 K_units=f"{self.velocity_units}/{self.time_units}")
        return xr.Dataset({"K": (("time", "component", "vx", "vy", "l", "m"), K)},
                          coords={"time": t, "component": ["x", "y"], "vx": grid.vx, "vy": grid.vy,
                                  "l": off, "m": off}, attrs=a)

    @classmethod
    def validate_dataset(cls, ds, src) -> None:
        from ..schema import check_uniform

        check_uniform(ds, "vx", src)
        check_uniform(ds, "vy", src)
        if ds.attrs.get("scheme") not in SCHEMES:
            raise SchemaError(f"attribute 'scheme' is {ds.attrs.get('scheme')!r}, expected one of "
                              f"{', '.join(SCHEMES)}", src)
        conv = ds.attrs.get("offsets", "reference")
        if conv not in ("reference", "paper"):
            raise SchemaError(f"attribute 'offsets' is {conv!r}, expected 'reference' or 'paper'", src)
        k = ds.sizes["l"]
        if ds.sizes["m"] != k or not np.array_equal(ds["l"].values, window_offsets(k, conv)) \
                or not np.array_equal(ds["m"].values, window_offsets(k, conv)):
            raise SchemaError(f"coordinates 'l' and 'm' must be the {conv} offsets of a {k} x {k} window", src)
        comps = [str(c) for c in ds["component"].values] if "component" in ds.coords else None
        if comps != ["x", "y"]:
            raise SchemaError(f"coordinate 'component' must be ['x', 'y'], is {comps}", src)

    @classmethod
    def from_dataset(cls, ds) -> "KernelOperator":
        """A fixed kernel from an operator file (data units, linear in time between its nodes)."""
        K = np.asarray(ds["K"].values, dtype=np.float64)          # (T, 2, N, M, k, k)
        T, _, n, m, k, _ = K.shape
        vals = np.moveaxis(K, 1, 3).reshape(T, n, m, 2 * k * k)
        field = TensorField([ds["vx"].values, ds["vy"].values], ds["time"].values, 2 * k * k, vals)
        return cls(field, k=k, scheme=ds.attrs["scheme"], convention=ds.attrs.get("offsets", "reference"),
                   tie=False, method=ds.attrs.get("method", "file"), velocity_units=ds.attrs["velocity_units"],
                   time_units=ds.attrs["time_units"])
