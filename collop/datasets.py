"""Constructors for collop's dataset kinds (see :mod:`collop.schema`)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .schema import validate

__all__ = ["particles_dataset", "phasespace_dataset", "isotropic_operator_dataset",
           "full_operator_dataset"]


def _attrs(kind, velocity_units, time_units, source, extra):
    a = {"collop_kind": kind, "velocity_units": velocity_units, "time_units": time_units,
         "source": source}
    a.update({k: v for k, v in (extra or {}).items() if v is not None})
    return a


def particles_dataset(v, time, particle=None, *, velocity_units: str, time_units: str,
                      source: str, attrs: dict | None = None) -> xr.Dataset:
    """A ``particles`` dataset from velocities ``v[time, particle, component]``."""
    v = np.asarray(v, dtype=np.float32)
    nt, n, nc = v.shape
    if particle is None:
        particle = np.arange(n, dtype=np.int64)
    comps = ["x", "y", "z"][:nc]
    ds = xr.Dataset(
        {"v": (("time", "particle", "component"), v)},
        coords={"time": np.asarray(time, dtype=float), "particle": np.asarray(particle, dtype=np.int64),
                "component": comps},
        attrs=_attrs("particles", velocity_units, time_units, source, attrs))
    return validate(ds, check_values=False)


def phasespace_dataset(f, time, vx, vy, populations, n_particles, *, velocity_units: str,
                       time_units: str, source: str, attrs: dict | None = None,
                       extra_vars: dict | None = None) -> xr.Dataset:
    """A ``phasespace`` dataset from densities ``f[population, time, vx, vy]``."""
    ds = xr.Dataset(
        {"f": (("population", "time", "vx", "vy"), np.asarray(f, dtype=np.float32)),
         "n_particles": (("population",), np.asarray(n_particles, dtype=np.int64))},
        coords={"population": [str(p) for p in populations], "time": np.asarray(time, dtype=float),
                "vx": np.asarray(vx, dtype=float), "vy": np.asarray(vy, dtype=float)},
        attrs=_attrs("phasespace", velocity_units, time_units, source, attrs))
    for k, val in (extra_vars or {}).items():
        ds[k] = val
    return validate(ds)


def isotropic_operator_dataset(time, speed, A_par, D_par, D_perp, *, method: str,
                               velocity_units: str, time_units: str, source: str,
                               attrs: dict | None = None) -> xr.Dataset:
    """An isotropic Fokker-Planck ``operator`` dataset.

    ``A_par`` is in velocity_units / time_units, ``D_par`` and ``D_perp`` in
    velocity_units**2 / time_units; all have shape ``(time, speed)``.
    """
    dims = ("time", "speed")
    vu, tu = velocity_units, time_units
    ds = xr.Dataset(
        {"A_par": (dims, np.asarray(A_par, dtype=float), {"units": f"{vu}/{tu}"}),
         "D_par": (dims, np.asarray(D_par, dtype=float), {"units": f"({vu})^2/{tu}"}),
         "D_perp": (dims, np.asarray(D_perp, dtype=float), {"units": f"({vu})^2/{tu}"})},
        coords={"time": np.asarray(time, dtype=float), "speed": np.asarray(speed, dtype=float)},
        attrs=_attrs("operator", vu, tu, source,
                     {"operator": "fokker_planck_isotropic", "method": method, **(attrs or {})}))
    return validate(ds)


def full_operator_dataset(time, vx, vy, A, D, *, method: str, velocity_units: str,
                          time_units: str, source: str, attrs: dict | None = None) -> xr.Dataset:
    """A full Fokker-Planck ``operator`` dataset.

    ``A`` has shape ``(time, 2, nvx, nvy)`` and ``D`` shape ``(time, 2, 2, nvx, nvy)``.
    """
    vu, tu = velocity_units, time_units
    ds = xr.Dataset(
        {"A": (("time", "component", "vx", "vy"), np.asarray(A, dtype=float), {"units": f"{vu}/{tu}"}),
         "D": (("time", "component", "component2", "vx", "vy"), np.asarray(D, dtype=float),
               {"units": f"({vu})^2/{tu}"})},
        coords={"time": np.asarray(time, dtype=float), "component": ["x", "y"],
                "component2": ["x", "y"], "vx": np.asarray(vx, dtype=float),
                "vy": np.asarray(vy, dtype=float)},
        attrs=_attrs("operator", vu, tu, source,
                     {"operator": "fokker_planck_full", "method": method, **(attrs or {})}))
    return validate(ds)
