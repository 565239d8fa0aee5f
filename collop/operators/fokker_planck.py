"""Time-dependent Fokker-Planck operators.

One module composes the three options of an operator:

* parametrisation - :class:`~collop.operators.fields.TensorField` or
  :class:`~collop.operators.fields.MLPField`;
* symmetry - :class:`Isotropic` (``A_par, D_par, D_perp`` of speed) or
  :class:`Full` (``A_x, A_y, D_xx, D_yy, D_xy`` of velocity);
* time dependence - ``N_t`` time nodes for tensors (1: time-invariant), a time
  input or not for MLPs.

Notes
-----
The operator is ``C[f] = -div(A f) + 1/2 div div(D f)`` with
``A_i = <dv_i>/dt`` and ``D_ij = <dv_i dv_j>/dt``. Isotropic:
``A = A_par v_hat``, ``D = D_par v_hat v_hat^T + D_perp (I - v_hat v_hat^T)``.

Fields work in *natural units*: velocities in bins ``h``, time in frames
``dt`` (the record's mean frame interval), so ``A`` is in ``h/dt`` and ``D``
in ``h^2/dt``. ``FokkerPlanck.a_scale = h/dt`` and ``d_scale = h^2/dt``
convert to the data's units; operator files store data units.

``D`` stays positive semi-definite: tensor fields are projected onto the PSD
cone after every optimiser step (:meth:`FokkerPlanck.project_`), MLP outputs
pass through softplus (isotropic) or a Cholesky factor (full).
"""
from __future__ import annotations

import os
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..datasets import full_operator_dataset, isotropic_operator_dataset
from ..grid import VelocityGrid
from ..options import SpecError, options
from ..schema import SchemaError
from ..solvers import sparse_rows
from ._fp_stencil import _build_stencil_matrix
from .base import Operator
from .fields import MLPField, TensorField, input_diff_norm
from .symmetries import SYMMETRIES, Full, Isotropic

__all__ = ["FokkerPlanck", "FokkerPlanckOptions", "FokkerPlanckPenalties", "Isotropic", "Full",
           "SYMMETRIES"]


@options
class FokkerPlanckOptions:
    """How a Fokker-Planck operator is parametrised.

    Attributes
    ----------
    model : {"tensor", "nn"}
        Coefficients as a discrete tensor on nodes (PS-Tensor, initialised at
        zero) or as MLPs (PS-NN, seeded random initialisation).
    symmetry : {"isotropic", "full"}
        ``A_par, D_par, D_perp`` of speed, or ``A_x, A_y, D_xx, D_yy, D_xy`` of
        velocity.
    nt : int, optional
        Time nodes of a tensor (default: one per frame; 1 = time-invariant).
        For MLPs, 1 drops the time input.
    hidden, layers : int
        Width and number of linear layers of each MLP (Appendix A: 32, 3).
    """

    model: Literal["tensor", "nn"] = Field("tensor", description="discrete tensor or neural network coefficients")
    symmetry: Literal["isotropic", "full"] = Field("isotropic", description="form of A and D")
    nt: int | None = Field(None, ge=1, description="time nodes (tensor; default one per frame); 1 = time-invariant")
    hidden: int = Field(32, ge=1, le=4096, description="hidden units per MLP layer (nn)")
    layers: int = Field(3, ge=2, le=32, description="linear layers per MLP (nn)")


@options
class FokkerPlanckPenalties:
    """Smoothness penalties of a Fokker-Planck operator (natural units).

    Attributes
    ----------
    reg : float
        ``lambda_reg``, weight of ``sum_c ||d^n c/dt^n||_2`` (Appendix D.5).
    reg_order : {1, 2}
        Order ``n`` of the time derivative.
    reg_velocity : float
        ``lambda_v``, weight of ``sum_c ||d^m c/dv^m||_2`` across velocity
        (speed for isotropic operators), per grid bin.
    reg_velocity_order : {1, 2}
        Order ``m`` of the velocity derivative (2: straight lines cost nothing).
    """

    reg: float = Field(0.0, ge=0, allow_inf_nan=False, description="weight of the time-derivative penalty")
    reg_order: Literal[1, 2] = Field(1, description="order of the penalised time derivative")
    reg_velocity: float = Field(0.0, ge=0, allow_inf_nan=False,
                                description="weight of the penalty on velocity (speed) derivatives, per grid bin")
    reg_velocity_order: Literal[1, 2] = Field(2, description="order of the penalised velocity derivative")


class FokkerPlanck(Operator):
    """A Fokker-Planck operator with swappable parametrisation and symmetry.

    The ``fokker_planck`` family of :mod:`collop.operators.registry`: options
    :class:`FokkerPlanckOptions`, penalties :class:`FokkerPlanckPenalties`,
    fitted by the unrolled rollout MAE; stencil radius 1.

    Parameters
    ----------
    field : Field
        The parametrisation; its channels are those of ``symmetry``.
    symmetry : {"isotropic", "full"}
        Form of ``A`` and ``D``.
    a_scale, d_scale : float
        Natural units of ``A`` (velocity/time) and ``D`` (velocity**2/time).
    method : str
        Name written to operator files (``ps-tensor``, ``ps-nn``, ...).
    """

    family = "fokker_planck"
    cli_name = "fp"
    description = "a Fokker-Planck operator"
    Options = FokkerPlanckOptions
    Penalties = FokkerPlanckPenalties
    objective = "rollout"
    forms = {
        "fokker_planck_isotropic": {"A_par": ("time", "speed"), "D_par": ("time", "speed"),
                                    "D_perp": ("time", "speed")},
        "fokker_planck_full": {"A": ("time", "component", "vx", "vy"),
                               "D": ("time", "component", "component2", "vx", "vy")},
    }
    coefficients = {"fokker_planck_isotropic": ("A_par", "D_par", "D_perp"),
                    "fokker_planck_full": ("A", "D")}
    radius = 1

    def __init__(self, field, symmetry: str = "isotropic", *, a_scale: float = 1.0,
                 d_scale: float = 1.0, method: str = "ps-tensor",
                 velocity_units: str = "", time_units: str = ""):
        super().__init__()
        self.field = field
        self.symmetry = SYMMETRIES[symmetry]
        self.method = method
        self.velocity_units, self.time_units = velocity_units, time_units
        self.register_buffer("scales", torch.tensor(
            [a_scale] * 2 + [d_scale] * 3 if symmetry == "full" else [a_scale, d_scale, d_scale],
            dtype=torch.float64))

    # -- construction -------------------------------------------------------
    @classmethod
    def build(cls, model: str, grid: VelocityGrid, times, *, symmetry: str = "isotropic",
              nt: int | None = None, seed: int = 0, velocity_units: str = "",
              time_units: str = "", hidden: int = 32, layers: int = 3) -> "FokkerPlanck":
        """A fresh operator for a dataset's grid and frame times.

        Parameters
        ----------
        model : {"tensor", "nn"}
            Discrete tensor (zeros) or MLPs (seeded random init).
        grid : VelocityGrid
            The phase-space grid; tensors live on its speed nodes (isotropic)
            or bin centres (full).
        times : array
            Frame times of the record (time units).
        nt : int, optional
            Time nodes of a tensor (default: one per frame); for MLPs
            ``nt == 1`` drops the time input.
        """
        times = np.asarray(times, dtype=float)
        sym = SYMMETRIES[symmetry]
        dt = float(np.diff(times).mean()) if times.size > 1 else 1.0
        h = grid.h
        if model == "tensor":
            nt = times.size if nt is None else int(nt)
            tn = np.linspace(times[0], times[-1], nt) if nt > 1 else times[:1]
            nodes = [grid.speed_nodes()] if sym is Isotropic else [grid.vx, grid.vy]
            field = TensorField(nodes, tn, len(sym.channels))
            method = "ps-tensor"
        elif model == "nn":
            gen = torch.random.fork_rng()
            with gen:
                torch.manual_seed(seed)
                field = MLPField(sym.n_inputs, len(sym.channels), x_scale=grid.corner_speed,
                                 t0=times[0], t_scale=times[-1] - times[0],
                                 time_dependent=(nt != 1), hidden=hidden, layers=layers)
                # Start near the zero operator, like the tensor's initial guess: the
                # diffusion channels' output bias -4 gives softplus ~ 0.02 h^2/dt.
                with torch.no_grad():
                    for c in sym.softplus_channels:
                        field.nets[c][-1].bias.fill_(-4.0)
            method = "ps-nn"
        else:
            raise ValueError(f"unknown model {model!r}; expected 'tensor' or 'nn'")
        return cls(field, symmetry, a_scale=h / dt, d_scale=h * h / dt, method=method,
                   velocity_units=velocity_units, time_units=time_units)

    @classmethod
    def from_options(cls, options: FokkerPlanckOptions, data, *, seed: int = 0) -> "FokkerPlanck":
        """A fresh operator for a :class:`~collop.data.Record` (see :meth:`build`)."""
        return cls.build(options.model, data.grid, data.times, symmetry=options.symmetry,
                         nt=options.nt, seed=seed, velocity_units=data.velocity_units,
                         time_units=data.time_units, hidden=options.hidden, layers=options.layers)

    @classmethod
    def default_curriculum(cls, options: FokkerPlanckOptions) -> str:
        """Table 2 of Carvalho et al.: ``ps-tensor`` or ``ps-nn``."""
        return cls.method_name(options)

    @classmethod
    def method_name(cls, options: FokkerPlanckOptions) -> str:
        return "ps-tensor" if options.model == "tensor" else "ps-nn"

    @classmethod
    def check_size(cls, options: FokkerPlanckOptions, data) -> None:
        """Refuse a tensor whose parameters (with Adam's state) would not fit in memory."""
        if options.model != "tensor":
            return
        nt = len(data.times) if options.nt is None else options.nt
        nodes = data.grid.speed_nodes().size if options.symmetry == "isotropic" else int(np.prod(data.grid.shape))
        n_ch = 3 if options.symmetry == "isotropic" else 5
        need = 6 * 8 * nt * nodes * n_ch        # values, gradient, 2 Adam moments, 2 copies (float64)
        try:
            have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return
        if need > 0.5 * have:
            raise SpecError(f"options.nt: {nt} time nodes x {nodes} nodes x {n_ch} channels need about "
                            f"{need / 2**30:.3g} GiB, more than half of this machine's "
                            f"{have / 2**30:.3g} GiB", field="options.nt")

    @classmethod
    def validate_dataset(cls, ds, src) -> None:
        """Speeds of an isotropic file start at >= 0; a full file's components are x, y."""
        from ..schema import check_increasing, check_uniform

        if ds.attrs.get("operator") == "fokker_planck_isotropic":
            s = check_increasing(ds, "speed", src)
            if s[0] < 0:
                raise SchemaError("coordinate 'speed' has negative values", src)
            if s.size < 2:
                raise SchemaError("coordinate 'speed' needs at least 2 points", src)
            return
        check_uniform(ds, "vx", src)
        check_uniform(ds, "vy", src)
        for c in ("component", "component2"):
            vals = [str(x) for x in ds[c].values] if c in ds.coords else None
            if vals != ["x", "y"]:
                raise SchemaError(f"coordinate {c!r} must be ['x', 'y'], is {vals}", src)

    def penalty(self, penalties: FokkerPlanckPenalties, data) -> torch.Tensor:
        """``reg * ||d^n c/dt^n|| + reg_velocity * ||d^m c/dv^m||`` (see :meth:`regularization`)."""
        total = torch.zeros((), dtype=torch.float64)
        if penalties.reg > 0:
            total = total + penalties.reg * self.regularization(penalties.reg_order, data.times[:-1])
        if penalties.reg_velocity > 0:
            total = total + penalties.reg_velocity * self.regularization(
                penalties.reg_velocity_order, data.times[:-1], along="velocity", grid=data.grid)
        return total

    @classmethod
    def from_dataset(cls, ds) -> "FokkerPlanck":
        """A fixed (tabulated) operator from an ``operator`` dataset, in its units."""
        form = ds.attrs.get("operator")
        kw = dict(method=ds.attrs.get("method", "file"), velocity_units=ds.attrs["velocity_units"],
                  time_units=ds.attrs["time_units"])
        if form == "fokker_planck_isotropic":
            vals = np.stack([ds[c].values for c in Isotropic.channels], -1)
            field = TensorField([ds["speed"].values], ds["time"].values, 3, vals)
            return cls(field, "isotropic", **kw)
        if form == "fokker_planck_full":
            A, D = ds["A"].values, ds["D"].values
            vals = np.stack([A[:, 0], A[:, 1], D[:, 0, 0], D[:, 1, 1], 0.5 * (D[:, 0, 1] + D[:, 1, 0])], -1)
            field = TensorField([ds["vx"].values, ds["vy"].values], ds["time"].values, 5, vals)
            return cls(field, "full", **kw)
        raise SchemaError(f"operator form {form!r} is not a Fokker-Planck operator",
                          ds.encoding.get("source"))

    # -- evaluation ---------------------------------------------------------
    def channels(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Physical channels (data units) at inputs ``x (P, d)`` and times ``t``: ``(T, P, C)``."""
        raw = self.field(x, t)
        ch = self.symmetry.constrain(raw) if isinstance(self.field, MLPField) else raw
        return ch * self.scales.to(ch.dtype)

    def coefficient_maps(self, grid: VelocityGrid, times, dtype=torch.float64) -> torch.Tensor:
        """``(A_x, A_y, D_xx, D_yy, D_xy)`` at the grid's cell centres: ``(T, 5, N, M)``."""
        VX, VY = grid.mesh()
        vx = torch.as_tensor(VX.ravel())
        vy = torch.as_tensor(VY.ravel())
        t = torch.tensor(np.asarray(times, dtype=np.float64))
        x, inverse = self.symmetry.inputs(vx, vy)
        ch = self.channels(x, t).to(dtype)[:, inverse]            # (T, P, C)
        maps = self.symmetry.cartesian(ch, vx.to(dtype), vy.to(dtype))                 # (T, 5, P)
        return maps.reshape(t.numel(), 5, *grid.shape)

    def _stencil_matrix(self, grid: VelocityGrid, dtype):
        """Sparse ``G`` with ``W.flatten() = G @ channels(x_unique).flatten()``, cached per grid."""
        key = (grid.shape, grid.h, float(grid.vx[0]), float(grid.vy[0]), dtype)
        cache = self.__dict__.setdefault("_stencil_cache", {})
        if key not in cache:
            cache.clear()
            cache[key] = _build_stencil_matrix(self.symmetry, grid, dtype)
        return cache[key]

    def stencil(self, grid: VelocityGrid, times, dtype=torch.float32) -> torch.Tensor:
        """Stencil weights ``W (T, 9, N, M)`` of the operator at the frame ``times``.

        Equal to ``fp_stencil_weights(coefficient_maps(grid, times), grid.h)``
        but computed as one sparse product from the channels at the unique
        input points (speeds, for isotropic operators), which is far cheaper to
        differentiate.
        """
        G, GT, x = self._stencil_matrix(grid, dtype)
        t = torch.tensor(np.asarray(times, dtype=np.float64))
        ch = self.channels(x, t).to(dtype)                        # (T, U, C)
        W = sparse_rows(G, GT, ch.reshape(t.numel(), -1))
        return W.reshape(t.numel(), 9, *grid.shape)

    @torch.no_grad()
    def project_(self) -> None:
        """Project tensor coefficients onto ``D >= 0`` (no-op for MLPs)."""
        if isinstance(self.field, TensorField):
            nodes = self.field.nodes(0) if self.symmetry is Isotropic else None
            self.symmetry.project_(self.field.values, nodes)

    def regularization(self, order: int, times, along: str = "time", grid: VelocityGrid | None = None
                       ) -> torch.Tensor:
        """A smoothness penalty ``sum_c ||d^n c/ds^n||_2`` in natural units.

        Parameters
        ----------
        order : {1, 2}
            Order ``n`` of the finite-difference derivative.
        times : array
            Frame times (time units); MLPs are evaluated there.
        along : {"time", "velocity"}
            ``"time"``: ``s = t`` in time units (Appendix D.5 of Carvalho et
            al.). ``"velocity"``: ``s`` is each input (speed, or ``vx`` and
            ``vy``) measured in grid bins, summed over inputs; this is the
            "norm of the derivatives of the operator" of their Section 2.1
            taken across velocity.
        grid : VelocityGrid
            Needed for ``along="velocity"``: the bin width, and the nodes MLPs
            are evaluated on (speeds one bin apart, or the bin centres).
        """
        t = torch.tensor(np.asarray(times, dtype=np.float64))
        tensor = isinstance(self.field, TensorField)
        if along == "time":
            if tensor:
                return self.field.time_derivative_penalty(order, t, None)
            nodes = torch.linspace(0, float(self.field.x_scale), 48, dtype=torch.float64)
            x = nodes[:, None] if self.symmetry.n_inputs == 1 else torch.stack(
                torch.meshgrid(nodes - nodes[-1] / 2, nodes - nodes[-1] / 2, indexing="ij"), -1).reshape(-1, 2)
            return self.field.time_derivative_penalty(order, t, x)
        if along != "velocity":
            raise ValueError(f"along must be 'time' or 'velocity', not {along!r}")
        if grid is None:
            raise ValueError("a velocity-derivative penalty needs the grid")
        if tensor:
            steps = [float((n[1:] - n[:-1]).mean()) / grid.h if n.numel() > 1 else 1.0
                     for n in (self.field.nodes(d) for d in range(self.field.n_inputs))]
            return self.field.input_derivative_penalty(order, steps)
        nodes = [grid.speed_nodes()] if self.symmetry is Isotropic else [grid.vx, grid.vy]
        mesh = np.meshgrid(*nodes, indexing="ij")
        x = torch.tensor(np.stack([m.ravel() for m in mesh], -1))
        vals = self.channels(x, t) / self.scales                    # (T, P, C), natural units
        return input_diff_norm(vals.reshape(t.numel(), *mesh[0].shape, -1), order, [1.0] * len(nodes))

    # -- export ---------------------------------------------------------------
    @torch.no_grad()
    def to_dataset(self, grid: VelocityGrid, times, *, source: str = "",
                   attrs: dict | None = None):
        """The operator file (data units).

        Isotropic operators are written as ``A_par, D_par, D_perp(time, speed)``
        with speeds from 0 to the grid corner; full ones as ``A, D`` on the
        grid's bin centres. Tensors are written on their own nodes, MLPs on the
        frame times (isotropic speeds every half bin).
        """
        kw = dict(method=self.method, velocity_units=self.velocity_units,
                  time_units=self.time_units, source=source, attrs=attrs)
        tensor = isinstance(self.field, TensorField)
        t = self.field.time_nodes if tensor else torch.tensor(np.asarray(times, dtype=np.float64))
        if self.symmetry is Isotropic:
            speed = self.field.nodes(0) if tensor else torch.as_tensor(grid.speed_nodes(grid.h / 2))
            ch = self.channels(speed[:, None], t).numpy()
            return isotropic_operator_dataset(t.numpy(), speed.numpy(), ch[..., 0], ch[..., 1],
                                              ch[..., 2], **kw)
        maps = self.coefficient_maps(grid, t.numpy()).numpy()        # (T, 5, N, M)
        A = maps[:, :2]
        D = np.stack([np.stack([maps[:, 2], maps[:, 4]], 1), np.stack([maps[:, 4], maps[:, 3]], 1)], 1)
        return full_operator_dataset(t.numpy(), grid.vx, grid.vy, A, D, **kw)
