"""Rollout error of an operator on phase-space data (DESIGN §4).

Notes
-----
Each test population starts at its first frame and is rolled forward over the
whole record by the same grid solver used in training. With ``f`` the data
and ``f_hat`` the rollout, population ``p`` scores

.. math::
    e_p = \\frac{1}{(T-1) N_v^2} \\sum_{t \\ge 1} \\sum_v
          \\frac{|\\hat f_p(t, v) - f_p(t, v)|}{\\max_v f_p(t, v)},

and ``rollout_mae`` / ``rollout_mae_std`` are the mean and (population)
standard deviation of ``e_p`` over populations (the paper's "MAE - Rollout").
``rollout_l1_rel`` is the public reference code's metric,
``sum_v |f_hat - f| / sum_v f`` per frame, averaged over frames ``t >= 1`` and
populations. ``rollout_negative_mass`` is the largest fraction of a
population's mass that its rollout holds in negative values,
``max_t sum_v max(-f_hat, 0) / sum_v |f_hat|``, over populations: the solvers
never clip ``f`` (that would create mass), so this says how far a rollout
leaves the positive densities.
"""
from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from .data import Record
from .operators import registry
from .schema import SchemaError
from .solvers import ForwardEuler, GridSolver

__all__ = ["rollout", "rollout_error", "evaluate", "as_operator", "speed_support", "coefficient_error"]


def as_operator(operator, data_ds: xr.Dataset | None = None):
    """An operator module from a module or an operator dataset of any registered family.

    The family is looked up in :mod:`collop.operators.registry` by the file's
    ``operator`` form; the units of the file and of ``data_ds`` must agree.
    """
    if isinstance(operator, xr.Dataset):
        src = operator.encoding.get("source", "operator")
        if data_ds is not None:
            for a in ("velocity_units", "time_units"):
                if operator.attrs.get(a) != data_ds.attrs.get(a):
                    raise SchemaError(f"operator {a} {operator.attrs.get(a)!r} differ from the data's "
                                      f"{data_ds.attrs.get(a)!r} ({data_ds.encoding.get('source', 'data')})", src)
        family = registry.for_form(operator.attrs.get("operator"))
        if family is None:
            raise SchemaError(f"operator form {operator.attrs.get('operator')!r} belongs to no registered "
                              "operator family", src)
        return family.from_dataset(operator)
    return operator


@torch.no_grad()
def rollout(operator, ds: xr.Dataset, populations, *, solver: GridSolver | None = None,
            dtype=torch.float64) -> xr.DataArray:
    """Roll each population's first frame forward over the record.

    Returns
    -------
    xarray.DataArray
        ``f_hat(population, time, vx, vy)`` in the data's density units.
    """
    op = as_operator(operator, ds)
    rec = Record.from_dataset(ds, populations, dtype=dtype)
    solver = solver or ForwardEuler()
    W = op.stencil(rec.grid, rec.times[:-1], dtype=dtype)
    out = solver.rollout(rec.f[:, 0], W, torch.as_tensor(rec.dt, dtype=dtype), rec.f.shape[1] - 1)
    f_hat = out.numpy() / rec.scale
    return xr.DataArray(f_hat.astype(np.float32), dims=("population", "time", "vx", "vy"),
                        coords={"population": rec.names, "time": rec.times,
                                "vx": rec.grid.vx, "vy": rec.grid.vy}, name="f_hat")


def rollout_error(f_hat, f) -> dict:
    """Rollout metrics of predictions ``f_hat`` against data ``f`` (both (P, T, N, M))."""
    names = [str(p) for p in f.coords["population"].values] if hasattr(f, "coords") else None
    fh = np.asarray(f_hat, dtype=np.float64)[:, 1:]
    fd = np.asarray(f, dtype=np.float64)[:, 1:]
    err = np.abs(fh - fd)
    peak = fd.max(axis=(-2, -1), keepdims=True)
    per_pop = (err / np.where(peak > 0, peak, 1.0)).mean(axis=(1, 2, 3))
    total = fd.sum(axis=(-2, -1))
    l1 = (err.sum(axis=(-2, -1)) / np.where(total > 0, total, 1.0)).mean()
    names = names or [str(i) for i in range(per_pop.size)]
    absmass = np.abs(fh).sum(axis=(-2, -1))
    neg = (np.clip(-fh, 0, None).sum(axis=(-2, -1)) / np.where(absmass > 0, absmass, 1.0)).max(axis=1)
    return {"rollout_mae": float(per_pop.mean()), "rollout_mae_std": float(per_pop.std()),
            "rollout_l1_rel": float(l1), "rollout_negative_mass": float(neg.max()),
            "per_population": {n: float(v) for n, v in zip(names, per_pop)}}


def evaluate(operator, ds: xr.Dataset, populations, *, solver: GridSolver | None = None) -> dict:
    """Rollout error of an operator (module or operator dataset) on ``populations`` of ``ds``."""
    f_hat = rollout(operator, ds, populations, solver=solver)
    f = ds["f"].sel(population=list(f_hat.coords["population"].values))
    return rollout_error(f_hat.values, f)


def speed_support(ds: xr.Dataset, populations="all", *, min_fraction: float = 1e-3,
                  speed=None) -> xr.DataArray:
    """Which speeds hold at least ``min_fraction`` of the particles, frame by frame.

    The populations' densities are pooled (each weighted by its particle
    count) and binned into speed shells ``[s_k - h/2, s_k + h/2)`` around
    ``speed`` (default: nodes every bin width from 0 to the grid corner).

    Returns
    -------
    xarray.DataArray of bool, dims (time, speed)
    """
    from .data import select_populations
    from .grid import VelocityGrid

    names = select_populations(ds, populations)
    grid = VelocityGrid.from_dataset(ds)
    speed = grid.speed_nodes() if speed is None else np.asarray(speed, dtype=float)
    w = ds["n_particles"].sel(population=names).values.astype(float)
    f = np.tensordot(w / w.sum(), ds["f"].sel(population=names).values.astype(float), 1)  # (T, N, M)
    mass = f * grid.h ** 2                                                            # particle fraction per cell
    VX, VY = grid.mesh()
    edges = np.concatenate([[-np.inf], 0.5 * (speed[1:] + speed[:-1]), [np.inf]])
    shell = np.digitize(np.hypot(VX, VY).ravel(), edges) - 1
    frac = np.stack([np.bincount(shell, weights=m.ravel(), minlength=speed.size) for m in mass])
    return xr.DataArray(frac >= min_fraction, dims=("time", "speed"),
                        coords={"time": ds["time"].values, "speed": speed}, name="support")


def coefficient_error(operator: xr.Dataset, reference: xr.Dataset, support: xr.DataArray) -> dict:
    """Relative L2 error of isotropic coefficients against a reference operator.

    Both operators are linearly interpolated (as the solver does, clamped at the
    ends) to the ``(time, speed)`` points of ``support`` and compared where it
    is True: ``||c - c_ref||_2 / ||c_ref||_2`` for each of A_par, D_par, D_perp.
    """
    out = {}
    mask = support.values
    t, s = support["time"].values, support["speed"].values

    def on_points(ds, name):
        da = ds[name]
        da = da.interp(time=np.clip(t, da.time.values[0], da.time.values[-1])) if da.sizes["time"] > 1 \
            else da.isel(time=[0] * t.size)
        return da.interp(speed=np.clip(s, da.speed.values[0], da.speed.values[-1])).values

    for name in ("A_par", "D_par", "D_perp"):
        a, b = on_points(operator, name)[mask], on_points(reference, name)[mask]
        out[name] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    return out
