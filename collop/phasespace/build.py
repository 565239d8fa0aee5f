"""The phase-space file: sub-populations sampled at a start frame, histogrammed at every frame."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import xarray as xr

from ..datasets import phasespace_dataset
from ..grid import VelocityGrid
from ..schema import CollopError
from .deposit import DEPOSITS, histogram
from .sampling import sample_population
from .shapes import parse_population

__all__ = ["build_phasespace"]


def build_phasespace(particles: xr.Dataset, populations, *, grid: VelocityGrid | None = None,
                     n_bins: int = 51, vmax: float | None = None, t0: int = 0,
                     n_particles: int = 300_000, seed: int = 0, unit: float = 1.0,
                     progress: bool = False, frames_per_read: int = 8, deposit: str = "tsc") -> xr.Dataset:
    """Phase-space evolution of sub-populations sampled from a particles dataset.

    Parameters
    ----------
    particles : xarray.Dataset
        A ``particles`` dataset (may be lazily loaded); components x, y are used.
    populations : list of str or dict of str to shape
        Population names (:func:`parse_population` with ``unit``) or name -> shape.
    grid : VelocityGrid, optional
        Histogram grid (velocity units); default ``VelocityGrid.regular(n_bins, vmax)``.
    n_bins : int
        Bins per axis of the default grid.
    vmax : float, optional
        Half-width of the default grid (velocity units); default ``5 * unit``.
    t0 : int
        Frame index at which the populations are sampled.
    n_particles : int
        Particles requested per population (paper: 3e5).
    seed : int
        Population ``i`` uses ``SeedSequence([seed, i])``.
    unit : float
        Velocity unit of the population names, in the particles' velocity units.
    progress : bool
        Show a tqdm progress bar over frame chunks.
    frames_per_read : int
        Frames read from ``particles`` at a time.
    deposit : {"tsc", "cic", "ngp"}
        Particle shape of the histograms (:func:`histogram`); recorded in
        ``attrs["deposit"]``. The default ``tsc`` removes most of the noise
        bias that plain histograms (``ngp``, the paper's) put into learned
        diffusion coefficients (README, "Noise bias").

    Returns
    -------
    xarray.Dataset
        ``phasespace`` dataset ``f(population, time, vx, vy)`` for the frames
        from ``t0`` on, with ``n_particles``, ``acceptance_rate`` and ``ess``
        per population and the sampling reports (JSON) in ``attrs["sampling"]``.
    """
    if deposit not in DEPOSITS:
        raise CollopError(f"unknown deposit {deposit!r}; expected one of {', '.join(DEPOSITS)}")
    if "run" in particles["v"].dims:
        raise CollopError("build_phasespace: particles with a 'run' dimension are not supported; "
                          "select one run first, e.g. ds.isel(run=0)")
    nt = particles.sizes["time"]
    if not 0 <= t0 < nt:
        raise CollopError(f"build_phasespace: t0={t0} is outside the {nt} frames of the particles")
    if isinstance(populations, str):
        populations = [populations]
    shapes = (dict(populations) if isinstance(populations, dict)
              else {str(p): parse_population(p, unit) for p in populations})
    if not shapes:
        raise CollopError("build_phasespace: no populations given")
    grid = grid or VelocityGrid.regular(n_bins, 5.0 * unit if vmax is None else vmax)
    comps = [str(c) for c in particles["component"].values]
    cxy = [comps.index("x"), comps.index("y")]
    v = particles["v"]
    v0 = np.asarray(v.isel(time=t0).values)[:, cxy]
    idx, reports = {}, []
    for i, (name, shape) in enumerate(shapes.items()):
        sel, rep = sample_population(v0, shape, n_particles, np.random.SeedSequence([seed, i]), name=name)
        if sel.size == 0:
            raise CollopError(f"population {name!r}: no particles accepted at frame {t0}")
        idx[name] = sel
        reports.append(rep)
    del v0
    times = np.asarray(particles["time"].values)[t0:]
    f = np.zeros((len(shapes), len(times)) + grid.shape, dtype=np.float32)
    starts = range(t0, nt, frames_per_read)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="phase space", unit="chunk")
    for a in starts:
        blk = np.asarray(v.isel(time=slice(a, a + frames_per_read)).values)
        for p, name in enumerate(shapes):
            f[p, a - t0:a - t0 + len(blk)] = histogram(blk[:, idx[name]][..., cxy], grid, deposit=deposit)
    src = particles.encoding.get("source") or particles.attrs.get("source", "unknown")
    sampling = [dict(asdict(rep), shape=repr(s)) for rep, s in zip(reports, shapes.values())]
    attrs = {"particles_source": str(src), "t0": int(t0), "t0_time": float(times[0]), "seed": int(seed),
             "unit": float(unit), "n_requested": int(n_particles), "sampling": json.dumps(sampling),
             "deposit": deposit}
    extra = {k: ("population", np.array([getattr(r, k) for r in reports], dtype=float))
             for k in ("acceptance_rate", "ess", "ess_fraction", "clipped_fraction", "outside_fraction")}
    return phasespace_dataset(
        f, times, grid.vx, grid.vy, list(shapes), [r.accepted for r in reports],
        velocity_units=particles.attrs.get("velocity_units", "unknown"),
        time_units=particles.attrs.get("time_units", "unknown"), source=str(src), attrs=attrs,
        extra_vars=extra)
