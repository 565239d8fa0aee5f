"""The metriplectic operator family of Zhao et al. (PRL 2025): Landau, CM1 and CM2 kernels.

The kinetic equation is ``df/dt = div int omega(v, v') [f' grad f - f grad' f'] dv'``
with the kernels of :mod:`collop.kinetic.kernels`:

* ``landau``: ``omega = c0 P / u``;
* ``cm1``: ``omega = g_I(u)^2 P``;
* ``cm2``: ``omega = P (g_r^2 r~r~^T + g_s^2 s~s~^T) P``, ``g_r, g_s`` MLPs of ``(u, r, s)``

(``u = v - v'``, ``r = v + v' - 2 v_bar``, ``s = |u x r|``, ``P = I - u~u~^T``).
They are fitted by the weak-form objective (:mod:`collop.objectives.weak_form`)
on MD particle files with one run per initial distribution, and rolled out by
:class:`collop.kinetic.CollisionSolver`.

The operator file (form ``metriplectic``)
-----------------------------------------
Tables that let other codes use the kernel without collop, on a grid
``u (u) x r (r) x s (s)`` in the data's velocity units (``s`` in their square):

``g_r2(time, u, r, s)``, ``g_s2(time, u, r, s)``
    ``g_r^2`` and ``g_s^2`` in velocity**2/time (equal for Landau and CM1).
    The physical region is ``s <= u r``.
``g_I2(time, u)``
    Landau and CM1: the kernel ``g_I^2(u)`` (Landau: ``c0/u``). CM2: the
    isotropic part ``E[(g_r^2 + g_s^2)/2 | u]`` for two velocities of the
    Maxwellian at the file's ``temperature``.
``g_r2_mean_s(time, u, r)``, ``g_s2_mean_s(time, u, r)``
    ``E_s[g^2]`` at given ``u, r`` under the equilibrium distribution (Fig. 1).
``weights(weight)``
    Every network parameter, flattened in the order of ``attrs["weight_layout"]``
    (JSON ``[[name, shape], ...]``); :meth:`Metriplectic.from_dataset` rebuilds
    the operator from them.

``time`` has length 1 (the kernels are time-invariant). ``attrs`` carry
``model``, ``hidden``, ``layers``, ``v_scale`` (``sigma``: the networks see
``u/sigma, r/sigma, s/sigma^2``), ``g_scale`` (``G = g_scale * net^2``),
``c0`` (Landau) and ``temperature`` (``sigma^2``, velocity**2).

To assemble ``omega`` from the tables: ``omega = g_r2 r~r~^T + g_s2 s~s~^T``
with ``u~ = u/|u|``, ``r~ = P r/|P r|``, ``s~ = u~ x r~`` (where ``r`` is
parallel to ``u`` use ``(g_r2 + g_s2)/2 P``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field

from ..kinetic.diagnostics import gain_table, gain_table_mean_s
from ..kinetic.kernels import KERNELS, CM1Kernel, CM2Kernel, Kernel, LandauKernel
from ..options import options
from ..schema import SchemaError, validate
from .base import Operator

__all__ = ["Metriplectic", "MetriplecticOptions", "KernelGrid", "FORM"]

FORM = "metriplectic"


@options
class MetriplecticOptions:
    """How a metriplectic kernel is parametrised.

    Attributes
    ----------
    model : {"landau", "cm1", "cm2"}
        ``c0 P/u``; ``g_I(u)^2 P``; ``P(g_r^2 r~r~^T + g_s^2 s~s~^T)P``.
    hidden, layers : int
        Units per hidden layer and linear layers of each MLP (Appendix B: 10, 6).
    steps : int
        Adam steps of the default curriculum (one stage at lr 0.01; the
        objective decays it x0.99 every 2000 steps). Ignored when a
        curriculum is given.
    """

    model: Literal["landau", "cm1", "cm2"] = Field("cm2", description="collision kernel")
    hidden: int = Field(10, ge=1, le=256, description="units per hidden layer of the MLPs (cm1, cm2)")
    layers: int = Field(6, ge=2, le=16, description="linear layers per MLP (cm1, cm2)")
    steps: int = Field(3000, ge=1, le=100_000_000,
                       description="training steps of the default curriculum (lr 0.01)")


@dataclass(frozen=True)
class KernelGrid:
    """The ``(u, r, s)`` grid of an operator file's tables (data units)."""

    u: np.ndarray
    r: np.ndarray
    s: np.ndarray

    @classmethod
    def from_pairs(cls, a, rho, s, *, n_u: int = 40, n_r: int = 40, n_s: int = 16,
                   q: float = 0.999) -> "KernelGrid":
        """A grid covering the ``q`` quantile of sampled pair magnitudes."""
        umax, rmax, smax = (float(np.quantile(np.asarray(x, float), q)) for x in (a, rho, s))
        return cls(np.linspace(umax / n_u, umax, n_u), np.linspace(0.0, rmax, n_r),
                   np.linspace(0.0, smax, n_s))

    @classmethod
    def default(cls, v_scale: float) -> "KernelGrid":
        """A grid for a Maxwellian of thermal speed ``v_scale`` (u, r up to ~6 sigma)."""
        sig = float(v_scale)
        return cls(np.linspace(0.15, 6.0, 40) * sig, np.linspace(0.0, 6.5, 40) * sig,
                   np.linspace(0.0, 18.0, 16) * sig * sig)


class Metriplectic(Operator):
    """A metriplectic collision operator (``metriplectic`` family; see the module docstring).

    Parameters
    ----------
    kernel : Kernel
        Landau, CM1 or CM2 kernel (data units).
    velocity_units, time_units : str
    temperature : float, optional
        ``k_B T / m`` of the data (velocity**2); default ``v_scale**2``.
    """

    family = "metriplectic"
    cli_name = "metriplectic"
    description = "a metriplectic collision kernel (Landau, CM1, CM2)"
    Options = MetriplecticOptions
    objective = "weak_form"
    forms = {FORM: {"g_r2": ("time", "u", "r", "s"), "g_s2": ("time", "u", "r", "s"),
                    "g_I2": ("time", "u"), "g_r2_mean_s": ("time", "u", "r"),
                    "g_s2_mean_s": ("time", "u", "r"), "weights": ("weight",)}}
    coefficients = {FORM: ("g_r2_mean_s", "g_s2_mean_s", "g_I2")}

    def __init__(self, kernel: Kernel, *, velocity_units: str = "", time_units: str = "",
                 temperature: float | None = None):
        super().__init__()
        self.kernel = kernel
        self.method = kernel.model
        self.velocity_units, self.time_units = velocity_units, time_units
        self.temperature = float(temperature) if temperature is not None else float(kernel.v_scale) ** 2

    @property
    def model(self) -> str:
        return self.kernel.model

    # -- construction ---------------------------------------------------------------
    @staticmethod
    def build(model: str, *, v_scale: float, c0: float, hidden: int = 10, layers: int = 6, seed: int = 0,
              dtype=None) -> Kernel:
        """A fresh kernel: Landau at ``c0``; CM1, CM2 with ``G0 = c0 / v_scale`` and ``g ~ 1`` at the start."""
        if model == "landau":
            return LandauKernel(c0, v_scale, dtype=dtype or torch.float64)
        cls = {"cm1": CM1Kernel, "cm2": CM2Kernel}[model]
        return cls(v_scale, c0 / v_scale, hidden=hidden, layers=layers, seed=seed,
                   dtype=dtype or torch.float32)

    @classmethod
    def from_options(cls, options: MetriplecticOptions, data, *, seed: int = 0) -> "Metriplectic":
        """A fresh operator for :class:`collop.objectives.weak_form.WeakFormData`.

        The scale ``c0`` (Landau's start, ``G0 = c0/sigma`` for the networks)
        is the least-squares Landau fit of the weak form on a small pair sample
        (:func:`collop.objectives.weak_form.landau_scale`).
        """
        from ..objectives.weak_form import landau_scale

        c0 = landau_scale(data, seed=seed)
        kernel = cls.build(options.model, v_scale=data.v_scale, c0=c0, hidden=options.hidden,
                           layers=options.layers, seed=seed)
        return cls(kernel, velocity_units=data.velocity_units, time_units=data.time_units,
                   temperature=data.v_scale ** 2)

    @classmethod
    def default_curriculum(cls, options: MetriplecticOptions) -> str:
        """One stage of ``options.steps`` steps at lr 0.01 (Appendix B)."""
        return f"1:0.01:{options.steps}"

    @classmethod
    def method_name(cls, options: MetriplecticOptions) -> str:
        return options.model

    # -- operator files ---------------------------------------------------------------
    def weight_layout(self) -> list:
        return [[k, list(v.shape)] for k, v in self.kernel.named_parameters()]

    @torch.no_grad()
    def to_dataset(self, grid=None, times=None, *, source: str = "", attrs: dict | None = None) -> xr.Dataset:
        """The operator file (form ``metriplectic``; see the module docstring).

        Parameters
        ----------
        grid : KernelGrid, optional
            Table grid (default :meth:`KernelGrid.default` of the kernel's ``v_scale``).
        times : array, optional
            Frame times of the data; the file's single ``time`` is ``times[0]`` (default 0).
        """
        k = self.kernel
        grid = grid if isinstance(grid, KernelGrid) else KernelGrid.default(float(k.v_scale))
        t0 = float(np.asarray(times, dtype=float)[0]) if times is not None and len(times) else 0.0
        Gr, Gs = gain_table(k, grid.u, grid.r, grid.s)
        Mr, Ms = gain_table_mean_s(k, grid.u, grid.r)
        gI = self.isotropic_part(grid.u)
        flat = np.concatenate([p.detach().double().reshape(-1).numpy() for p in k.parameters()]) \
            if any(True for _ in k.parameters()) else np.zeros(0)
        vu, tu = self.velocity_units, self.time_units
        gunits = f"({vu})^2/{tu}"
        a = {"collop_kind": "operator", "velocity_units": vu, "time_units": tu, "source": source,
             "operator": FORM, "method": self.method, "model": k.model,
             "weight_layout": json.dumps(self.weight_layout()), "temperature": self.temperature,
             "kernel": "omega = g_r2 r~r~^T + g_s2 s~s~^T; u = v - v', r = v + v' - 2 v_bar, s = |u x r|, "
                       "u~ = u/|u|, r~ = P r/|P r|, s~ = u~ x r~, P = I - u~u~^T",
             **{key: v for key, v in k.describe().items() if key != "model"}}
        a.update({key: v for key, v in (attrs or {}).items() if v is not None})
        ds = xr.Dataset(
            {"g_r2": (("time", "u", "r", "s"), Gr[None], {"units": gunits}),
             "g_s2": (("time", "u", "r", "s"), Gs[None], {"units": gunits}),
             "g_I2": (("time", "u"), gI[None], {"units": gunits}),
             "g_r2_mean_s": (("time", "u", "r"), Mr[None], {"units": gunits}),
             "g_s2_mean_s": (("time", "u", "r"), Ms[None], {"units": gunits}),
             "weights": (("weight",), flat)},
            coords={"time": [t0], "u": grid.u, "r": grid.r, "s": grid.s},
            attrs=a)
        ds["u"].attrs["units"] = vu
        ds["r"].attrs["units"] = vu
        ds["s"].attrs["units"] = f"({vu})^2"
        return validate(ds)

    def isotropic_part(self, u, n: int = 24) -> np.ndarray:
        """``g_I^2(u)`` (Landau, CM1), or ``E[(G_r + G_s)/2 | u]`` at the operator's temperature (CM2).

        ``r`` of two Maxwellian velocities is ``N(0, 2T I)``: its magnitude is
        taken at the midpoints of ``n`` equal-probability bins of the chi(3) law.
        """
        from scipy.stats import chi

        u = np.asarray(u, dtype=float)
        k = self.kernel
        if k.isotropic:
            Gr, _ = gain_table(k, u, [0.0], [0.0])
            return Gr[:, 0, 0]
        r = np.sqrt(2 * self.temperature) * chi.ppf((np.arange(n) + 0.5) / n, 3)
        Mr, Ms = gain_table_mean_s(k, u, r)
        return 0.5 * (Mr + Ms).mean(-1)

    @classmethod
    def validate_dataset(cls, ds, src) -> None:
        """Coordinates increasing, ``u > 0``, ``r, s >= 0``; a known model; weights match the layout."""
        from ..schema import check_increasing

        u = check_increasing(ds, "u", src)
        if u[0] <= 0:
            raise SchemaError("coordinate 'u' must be positive", src)
        for c in ("r", "s"):
            if check_increasing(ds, c, src)[0] < 0:
                raise SchemaError(f"coordinate {c!r} has negative values", src)
        model = ds.attrs.get("model")
        if model not in KERNELS:
            raise SchemaError(f"attribute 'model' is {model!r}, expected one of {', '.join(KERNELS)}", src)
        for key in ("v_scale", "g_scale"):
            val = ds.attrs.get(key)
            if not isinstance(val, (int, float, np.floating, np.integer)) or not np.isfinite(val) or val <= 0:
                raise SchemaError(f"attribute {key!r} must be a positive number, is {val!r}", src)
        try:
            layout = json.loads(ds.attrs.get("weight_layout", ""))
            n = sum(int(np.prod(shape)) for _, shape in layout)
        except (ValueError, TypeError):
            raise SchemaError("attribute 'weight_layout' is not a JSON list of [name, shape]", src) from None
        if n != ds.sizes.get("weight", 0):
            raise SchemaError(f"variable 'weights' has {ds.sizes.get('weight', 0)} values, "
                              f"'weight_layout' needs {n}", src)

    @classmethod
    def from_dataset(cls, ds) -> "Metriplectic":
        """The operator of a ``metriplectic`` file, rebuilt from its weights (data units)."""
        src = ds.encoding.get("source")
        if ds.attrs.get("operator") != FORM:
            raise SchemaError(f"operator form {ds.attrs.get('operator')!r} is not {FORM!r}", src)
        cls.validate_dataset(ds, src)
        at = ds.attrs
        model = at["model"]
        v_scale = float(at["v_scale"])
        if model == "landau":
            c0 = float(at.get("c0", float(at["g_scale"]) * v_scale))
            kernel = LandauKernel(c0, v_scale)
            with torch.no_grad():
                kernel.log_c0.zero_()
        else:
            kernel = cls.build(model, v_scale=v_scale, c0=float(at["g_scale"]) * v_scale,
                               hidden=int(at.get("hidden", 10)), layers=int(at.get("layers", 6)),
                               dtype=torch.float64)
            layout = json.loads(at["weight_layout"])
            mine = [[k, list(v.shape)] for k, v in kernel.named_parameters()]
            if [[k, list(s)] for k, s in layout] != mine:
                raise SchemaError("'weight_layout' does not match the networks of attributes "
                                  f"model/hidden/layers ({model}, {at.get('hidden')}, {at.get('layers')})", src)
            flat = torch.as_tensor(np.asarray(ds["weights"].values, dtype=np.float64))
            with torch.no_grad():
                i = 0
                for p in kernel.parameters():
                    p.copy_(flat[i:i + p.numel()].reshape(p.shape))
                    i += p.numel()
        return cls(kernel, velocity_units=at["velocity_units"], time_units=at["time_units"],
                   temperature=float(at.get("temperature", v_scale ** 2)))
