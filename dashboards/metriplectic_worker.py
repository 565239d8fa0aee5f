"""The slow work of the Metriplectic tab: rollouts of learned kernels and the PDFs and moments of particle sets.

A rollout of 10⁴ particles under a CM2 kernel to the end of an MD run costs
seconds to a minute of CPU. The tab hands it to the app's worker process
(:func:`dashboards.rollout_worker.pool`) from a background thread and never
runs it on the event loop. Results are small summaries (binned PDFs,
conservation diagnostics, distances to MD; no particles) and are cached:

- a model's summary in its run folder, ``<run>/rollouts/<md file stem>-<md run>.nc``,
  written atomically and checked against the operator file, the MD file and
  the binning it was made from (a stale file is recomputed);
- the MD side in memory, per file version.

Every function takes file *stamps* ``(path, size, mtime_ns)``, so a file that
changed is read again, and returns a loaded :class:`xarray.Dataset`.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["stamp", "md_summary", "rollout_summary", "cache_path", "SUMMARY_VERSION"]

#: Bumped when the summary's contents change (older cache files are recomputed).
SUMMARY_VERSION = 1


def stamp(path) -> tuple[str, int, int]:
    """``(path, size, mtime_ns)`` of a file."""
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


def cache_path(run_path, md_path, run: str) -> Path:
    """Where a run's rollout summary for MD run ``run`` of ``md_path`` is cached."""
    return Path(run_path) / "rollouts" / f"{Path(md_path).stem}-{run}.nc"


def _summary(v, times, vmax: float, bins: int) -> xr.Dataset:
    """PDFs (:func:`collop.kinetic.pdf_series`) and conservation diagnostics of ``v (T, N, 3)``."""
    from collop.kinetic import conservation, pdf_series

    out = pdf_series(v, times, vmax=vmax, bins=bins)
    cons = conservation(v, times)
    for name in ("n", "energy", "entropy", "momentum_drift", "energy_drift"):
        out[name] = cons[name]
    out["momentum"] = cons["momentum"]
    return out


@functools.lru_cache(maxsize=8)
def _md_velocities(md_stamp, run: str):
    from collop.io import open_dataset
    from collop.objectives.weak_form import run_velocities

    ds = open_dataset(md_stamp[0], "particles", load=False)
    try:
        return run_velocities(ds, run), np.asarray(ds["time"].values, dtype=float)
    finally:
        ds.close()


@functools.lru_cache(maxsize=16)
def md_summary(md_stamp, run: str, bins: int, vmax: float | None = None) -> xr.Dataset:
    """PDFs and conservation diagnostics of MD run ``run`` (every frame); cached in memory.

    ``vmax`` (the PDFs' half-width) defaults to :func:`dashboards.metriplectic_data.pdf_vmax`
    of the run's velocities; it is in ``attrs["vmax"]`` for the rollouts to use.
    """
    from .metriplectic_data import pdf_vmax

    v, times = _md_velocities(md_stamp, run)
    vmax = float(vmax) if vmax is not None else pdf_vmax(v)
    out = _summary(v, times, vmax, bins)
    out.attrs.update(source="md", run=run, vmax=vmax, bins=int(bins))
    return out


def _cache_ok(ds: xr.Dataset, want: dict) -> bool:
    return all(ds.attrs.get(k) == v for k, v in want.items())


def rollout_summary(op_stamp, md_stamp, run: str, vmax: float, bins: int, cache=None, *, angle: float = 0.1,
                    seed: int = 0, max_points: int = 2000) -> xr.Dataset:
    """Roll an operator file's kernel forward from frame 0 of MD run ``run``; summarise it against MD.

    Parameters
    ----------
    op_stamp, md_stamp : tuple
        :func:`stamp` of the ``metriplectic`` operator file and of the MD file.
    run : str
        The MD run (initial velocities: its first frame; output: its frame times).
    vmax, bins : float, int
        PDF range (velocity units) and bins per axis (:func:`collop.kinetic.pdf_series`).
    cache : path, optional
        Cache file (:func:`cache_path`): read if it matches, else written.
    angle, seed : float, int
        :class:`collop.kinetic.CollisionSolver` time step (median pair rotation, rad) and seed.
    max_points : int
        Particles per sample of the energy distance.

    Returns
    -------
    xarray.Dataset
        The PDFs and conservation variables of :func:`md_summary`, plus
        ``energy_distance(time)`` and ``speed_l1(time)`` to the MD run;
        ``attrs["solver_steps"]``.
    """
    want = {"summary_version": SUMMARY_VERSION, "operator_size": int(op_stamp[1]),
            "operator_mtime_ns": str(op_stamp[2]), "md_file": os.path.basename(md_stamp[0]),
            "md_size": int(md_stamp[1]), "md_mtime_ns": str(md_stamp[2]), "run": str(run), "vmax": float(vmax),
            "bins": int(bins), "angle": float(angle), "seed": int(seed), "max_points": int(max_points)}
    if cache is not None and os.path.exists(cache):
        try:
            with xr.open_dataset(cache, engine="h5netcdf") as old:
                if _cache_ok(old, want):
                    return old.load()
        except (OSError, ValueError):
            pass                                   # unreadable: computed again and replaced
    from collop.io import atomic_path, open_dataset
    from collop.kinetic import CollisionSolver, distance_series
    from collop.operators.metriplectic import Metriplectic

    op = Metriplectic.from_dataset(open_dataset(op_stamp[0], "operator"))
    v_md, times = _md_velocities(md_stamp, run)
    solver = CollisionSolver(op.kernel, angle=angle, seed=seed)
    v = solver.rollout(v_md[0], times)
    out = _summary(v, times, vmax, bins)
    d = distance_series(v, v_md, max_points=max_points, seed=seed)
    out["energy_distance"] = ("time", d["energy_distance"])
    out["speed_l1"] = ("time", d["speed_l1"])
    out.attrs.update(want, source="rollout", model=op.model, solver_steps=int(solver.steps_))
    if cache is not None:
        try:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache) as tmp:
                out.to_netcdf(tmp, engine="h5netcdf")
        except OSError:
            pass                                   # a read-only run folder: the result is still returned
    return out
