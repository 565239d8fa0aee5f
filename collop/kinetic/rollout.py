"""Roll a kernel forward from initial particle sets and write the result as a ``particles`` dataset."""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..schema import validate
from .solver import CollisionSolver

__all__ = ["rollout_runs", "known_truth"]


def rollout_runs(kernel, initial: dict, times, *, angle: float = 0.1, dt: float | None = None, seed: int = 0,
                 velocity_units: str = "", time_units: str = "", source: str = "",
                 attrs: dict | None = None, progress=None) -> xr.Dataset:
    """Particles of the kinetic equation with ``kernel`` from each initial set, at ``times``.

    Parameters
    ----------
    kernel : collop.kinetic.Kernel
        The collision kernel (data units).
    initial : dict
        Run name -> initial velocities ``(N, 3)`` (all runs the same ``N``).
    times : array (T,)
        Output times; ``times[0]`` is the initial time.
    angle, dt : float
        Time step of :class:`CollisionSolver` (median pair rotation, or a fixed maximum).
    seed : int
        Run ``k`` uses seed ``seed + k``.
    velocity_units, time_units, source : str
        The dataset's attributes.
    attrs : dict, optional
        Extra attributes.
    progress : callable, optional
        ``progress(run_index, frame_index)`` after each output frame.

    Returns
    -------
    xarray.Dataset
        A ``particles`` dataset ``v(run, time, particle, component)`` (float32),
        with ``solver_steps(run)`` and the solver's time step in ``dt_max(run)``.
    """
    names = list(initial)
    if not names:
        raise ValueError("no initial particle sets")
    n = {np.asarray(v).shape[0] for v in initial.values()}
    if len(n) != 1:
        raise ValueError(f"every run needs the same number of particles, got {sorted(n)}")
    times = np.asarray(times, dtype=float)
    out, steps, dts = [], [], []
    for k, name in enumerate(names):
        solver = CollisionSolver(kernel, angle=angle, dt=dt, seed=seed + k)
        cb = (lambda f, v, k=k: progress(k, f)) if progress is not None else None
        out.append(solver.rollout(initial[name], times, callback=cb).astype(np.float32))
        steps.append(solver.steps_)
        dts.append(solver.dt_)
    a = {"collop_kind": "particles", "velocity_units": velocity_units, "time_units": time_units,
         "source": source, "generator": "collop.kinetic.CollisionSolver", "solver_angle": float(angle),
         "seed": int(seed), "kernel_model": kernel.model}
    a.update({k: v for k, v in (attrs or {}).items() if v is not None})
    ds = xr.Dataset({"v": (("run", "time", "particle", "component"), np.stack(out), {"units": velocity_units}),
                     "solver_steps": (("run",), np.asarray(steps, dtype=np.int64)),
                     "dt_max": (("run",), np.asarray(dts, dtype=float))},
                    coords={"run": names, "time": times, "particle": np.arange(next(iter(n)), dtype=np.int64),
                            "component": ["x", "y", "z"]},
                    attrs=a)
    return validate(ds, "particles")


def known_truth(kernel, runs=("uniform", "bimaxwellian", "double_well"), *, n: int = 20_000, times=None,
                angle: float = 0.1, seed: int = 0, velocity_units: str = "v_th", time_units: str = "t") -> xr.Dataset:
    """A particles file with one run per initial distribution, rolled out under a known kernel.

    The initial velocities are the MD initial distributions of
    :mod:`collop.sim.md.distributions` (zero mean, unit temperature); the
    dataset then has the layout of an MD file, and a weak-form fit should
    recover ``kernel``. The kernel's description is in ``attrs["truth"]``.

    Parameters
    ----------
    kernel : collop.kinetic.Kernel
    runs : sequence of str
        Distribution names (also the run names).
    n : int
        Particles per run.
    times : array, optional
        Output times (default ``linspace(0, 3, 16)``).
    angle, seed
        See :func:`rollout_runs`; the initial sets use ``seed`` too.
    """
    import json

    from ..sim.md.distributions import sample

    rng = np.random.default_rng(seed)
    initial = {r: sample(r, n, rng) for r in runs}
    times = np.linspace(0.0, 3.0, 16) if times is None else np.asarray(times, dtype=float)
    return rollout_runs(kernel, initial, times, angle=angle, seed=seed, velocity_units=velocity_units,
                        time_units=time_units, source=f"collop.kinetic.known_truth ({kernel.model})",
                        attrs={"truth": json.dumps(kernel.describe())})
