"""Run an MD configuration and write its ``particles`` file: :func:`generate`.

The procedure (Zhao et al., Appendix C), for a configuration of R runs:

1. ions on a jittered lattice, then ``t_equilibration`` of Langevin
   thermostat at ``Gamma``;
2. for run r: the thermostat chain goes on for ``t_decorrelation`` (r > 0),
   its configuration is saved, and the velocities are replaced by a sample of
   the run's distribution (zero mean, kinetic temperature exactly ``T``,
   :func:`~collop.sim.md.distributions.sample`);
3. NVE velocity Verlet for ``t_production``, dumping every ion's velocity
   (ids 0..N-1, stable) and the kinetic and potential energies every ``dt_dump``;
4. back to the saved configuration, the thermostat chain continues (step 2).

The runs share the thermostat chain, not their NVE trajectories: each starts
from an equilibrium configuration ``t_decorrelation`` after the previous one.
"""
from __future__ import annotations

import json
import os
import platform
import time as _time
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from ...schema import validate
from .config import MDConfig
from .distributions import sample
from .engine import OCP
from .presets import preset as _preset
from .system import MDError, _openmm, box_length

__all__ = ["generate", "simulate", "round_mantissa", "VELOCITY_UNITS", "TIME_UNITS"]

VELOCITY_UNITS = "v_th = sqrt(k_B T / m)"
"""Velocities are in the thermal speed at the set temperature."""
TIME_UNITS = "1/omega_p"


def round_mantissa(a: np.ndarray, bits: int | None) -> np.ndarray:
    """float32 ``a`` rounded to nearest with ``bits`` of the 23 mantissa bits kept.

    The dropped low bits become zeros, which gzip (with byte shuffling) packs
    well. Relative error at most ``2**-(bits+1)``. ``None`` or 23: unchanged.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    if bits is None or bits >= 23:
        return a
    drop = 23 - int(bits)
    u = a.view(np.uint32)
    half = np.uint32(1 << (drop - 1))
    mask = np.uint32((0xFFFFFFFF >> drop) << drop)
    return ((u + half) & mask).view(np.float32)


def _resolve(config) -> MDConfig:
    if isinstance(config, str):
        return _preset(config)
    if isinstance(config, MDConfig):
        return config.check()
    raise MDError(f"expected a preset name or an MDConfig, got {type(config).__name__}")


def _check_out(out) -> Path:
    p = Path(out)
    if p.is_dir():
        raise MDError(f"{out}: is a directory, expected a file name for the MD data")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise MDError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise MDError(f"{out}: folder {parent} is not writable")
    return p


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MDError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


class _Progress:
    """Progress as a tqdm bar (``True``), a callback of event dicts, or nothing."""

    def __init__(self, progress, total: int, name: str):
        self.cb = progress if callable(progress) else None
        self.bar = None
        self.done = 0
        self.total = total
        self.t0 = _time.perf_counter()
        if progress is True:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc=f"md {name}", unit="step", unit_scale=True)

    def __call__(self, stage: str, run: str | None, steps: int) -> None:
        self.done += steps
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix_str(f"{stage} {run or ''}".strip(), refresh=False)
        if self.cb is not None:
            self.cb({"stage": stage, "run": run, "steps_done": self.done, "steps_total": self.total,
                     "elapsed_s": _time.perf_counter() - self.t0})

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _pme_force_error(ocp: OCP, cfg: MDConfig, threads) -> float:
    """RMS force error of the run's PME relative to the RMS force, against ``ewaldErrorTolerance = 1e-6``."""
    from openmm import unit

    from .system import build_system

    mm = _openmm()
    x = ocp.positions()

    def forces(system):
        props = {"Threads": str(int(threads))} if threads else {}
        ctx = mm.Context(system, mm.VerletIntegrator(cfg.dt), mm.Platform.getPlatformByName("CPU"), props)
        ctx.setPositions(x)
        f = ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(
            unit.kilojoule_per_mole / unit.nanometer)
        del ctx
        return np.asarray(f)

    ref = forces(build_system(cfg.n, cutoff=cfg.cutoff, ewald_tolerance=1e-6))
    got = forces(ocp.system)
    return float(np.sqrt(np.mean(np.sum((got - ref) ** 2, axis=1)) / np.mean(np.sum(ref ** 2, axis=1))))


def simulate(config, *, seed: int = 0, progress: bool | Callable = False,
             threads: int | None = None, measure_pme_error: bool = True) -> xr.Dataset:
    """Run an MD configuration and return its ``particles`` dataset (in memory, not written).

    Parameters and returns as :func:`generate` (without ``out``). The velocities
    are float32, rounded to ``config.keep_bits`` mantissa bits.
    """
    cfg = _resolve(config)
    seed = _check_seed(seed)
    ss = np.random.SeedSequence(seed)
    s_engine, s_vel = ss.spawn(2)
    engine_seed = int(s_engine.generate_state(1)[0])
    vel_rngs = [np.random.default_rng(s) for s in s_vel.spawn(len(cfg.runs))]

    R, T, N = len(cfg.runs), cfg.n_frames, cfg.n
    v = np.empty((R, T, N, 3), dtype=np.float32)
    kin = np.empty((R, T))
    pot = np.empty((R, T))
    prog = _Progress(progress, cfg.total_steps, cfg.name)
    t_start, cpu_start = _time.perf_counter(), _time.process_time()
    pme_err = None
    ocp = OCP(N, cfg.gamma, dt=cfg.dt, cutoff=cfg.cutoff, ewald_tolerance=cfg.ewald_tolerance,
              dt_thermostat=cfg.dt_thermostat, friction=cfg.friction, seed=engine_seed,
              threads=threads, deterministic=True)
    try:
        _chunked(ocp.thermostat, cfg.thermostat_steps(cfg.t_equilibration),
                 max(1, cfg.thermostat_steps(1.0)), lambda k: prog("equilibrate", None, k))
        for r, run in enumerate(cfg.runs):
            if r > 0:
                _chunked(ocp.thermostat, cfg.thermostat_steps(cfg.t_decorrelation),
                         max(1, cfg.thermostat_steps(1.0)), lambda k: prog("decorrelate", run.name, k))
            if r == 0 and measure_pme_error:
                pme_err = _pme_force_error(ocp, cfg, threads)
            chain = ocp.save()
            ocp.begin_nve(sample(run.distribution, N, vel_rngs[r], **run.params))
            for f in range(T):
                if f:
                    ocp.nve(cfg.steps_per_dump)
                    prog("production", run.name, cfg.steps_per_dump)
                vf, kin[r, f], pot[r, f] = ocp.snapshot()
                v[r, f] = vf
            ocp.restore(chain)
        alpha, nx, ny, nz = ocp.pme_parameters()
    finally:
        prog.close()
        ocp.close()
    seconds = (_time.perf_counter() - t_start, _time.process_time() - cpu_start)
    return _dataset(cfg, seed, v, kin, pot, seconds, threads, (alpha, nx, ny, nz), pme_err)


def _chunked(fn, steps: int, chunk: int, report) -> None:
    while steps > 0:
        k = min(chunk, steps)
        fn(k)
        report(k)
        steps -= k


def _dataset(cfg: MDConfig, seed, v, kin, pot, seconds, threads, pme, pme_err) -> xr.Dataset:
    import openmm

    alpha, nx, ny, nz = pme
    names = [r.name for r in cfg.runs]
    runs = {r.name: r.to_dict() for r in cfg.runs}
    attrs = {
        "collop_kind": "particles",
        "velocity_units": VELOCITY_UNITS,
        "time_units": TIME_UNITS,
        "source": f"collop.sim.md:{cfg.name} (OpenMM {openmm.__version__}, one-component plasma)",
        "generator": "collop.sim.md.generate",
        "preset": cfg.name,
        "seed": int(seed),
        "gamma": float(cfg.gamma),
        "n_ions": int(cfg.n),
        "a": "1 (lengths in the Wigner-Seitz radius a = (3/(4 pi n))^(1/3))",
        "omega_p": "1 (times in 1/omega_p, omega_p^2 = n e^2/(eps0 m))",
        "box_length": float(box_length(cfg.n)),
        "box_length_units": "a",
        "dt": float(cfg.dt),
        "dt_dump": float(cfg.dt_dump),
        "t_production": float(cfg.t_production),
        "t_equilibration": float(cfg.t_equilibration),
        "t_decorrelation": float(cfg.t_decorrelation),
        "dt_thermostat": float(cfg.dt_thermostat),
        "thermostat": f"Langevin (OpenMM LangevinMiddleIntegrator), friction {cfg.friction} omega_p",
        "integrator": "velocity Verlet, NVE (OpenMM VerletIntegrator, leap-frog, velocities "
                      "synchronised at the dumps)",
        "electrostatics": "Coulomb by PME with a uniform neutralising background",
        "ewald_error_tolerance": float(cfg.ewald_tolerance),
        "pme_cutoff": float(cfg.cutoff),
        "pme_alpha": float(alpha),
        "pme_grid": np.array([nx, ny, nz], dtype=np.int64),
        "velocity_mantissa_bits": int(cfg.keep_bits if cfg.keep_bits is not None else 23),
        "distribution_params": json.dumps(runs, sort_keys=True),
        "train_runs": ",".join(r.name for r in cfg.runs if r.split == "train"),
        "test_runs": ",".join(r.name for r in cfg.runs if r.split == "test"),
        "md_config": cfg.to_json(),
        "openmm_version": openmm.__version__,
        "platform": "OpenMM CPU",
        "threads": int(threads) if threads else os.cpu_count() or 0,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "wall_seconds": float(seconds[0]),
        "cpu_seconds": float(seconds[1]),
        "load_average": float(os.getloadavg()[0]),
    }
    if pme_err is not None:
        attrs["pme_force_error_rms"] = pme_err
    ds = xr.Dataset(
        {"v": (("run", "time", "particle", "component"), round_mantissa(v, cfg.keep_bits),
               {"units": VELOCITY_UNITS}),
         "kinetic_energy": (("run", "time"), kin,
                            {"units": "k_B T per ion", "long_name": "kinetic energy per ion"}),
         "potential_energy": (("run", "time"), pot,
                              {"units": "k_B T per ion",
                               "long_name": "Coulomb energy per ion (ions + background)"})},
        coords={"run": names, "time": cfg.times, "particle": np.arange(cfg.n, dtype=np.int64),
                "component": ["x", "y", "z"],
                "distribution": ("run", [r.distribution for r in cfg.runs]),
                "split": ("run", [r.split for r in cfg.runs])},
        attrs=attrs)
    return validate(ds, "particles")


def write_md(ds: xr.Dataset, out, *, compress: int = 4) -> Path:
    """Write an MD ``particles`` dataset atomically: gzip + shuffle, one chunk per (run, frame)."""
    out = Path(out)
    validate(ds, "particles", source=str(out), check_values=False)
    from ...io import atomic_path

    enc = {}
    for name, var in ds.data_vars.items():
        e = {"compression": "gzip", "compression_opts": int(compress), "shuffle": True}
        if name == "v":
            e["chunksizes"] = tuple(1 if d in ("run", "time") else s for d, s in var.sizes.items())
        enc[name] = e
    with atomic_path(out) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=enc)
    return out


def generate(config, out=None, *, seed: int = 0, progress: bool | Callable = False,
             threads: int | None = None, compress: int = 4):
    """Run a preset or configuration of the one-component plasma and write its ``particles`` file.

    Everything (configuration, seed, output path) is checked before any
    computation; the file is written through a temporary file renamed into
    place, so a failure or an interrupt leaves nothing at ``out``.

    Parameters
    ----------
    config : str or MDConfig
        A preset name (:data:`~collop.sim.md.presets.PRESETS`: ``"gamma0p23"``,
        ``"gamma2p3"``, ``"tiny"``) or a configuration.
    out : path-like, optional
        The netCDF file to write; ``None`` returns the dataset without writing.
    seed : int
        Seeds the initial lattice, the thermostat and every run's velocities;
        the same seed gives the same file on the same machine (OpenMM's
        ``DeterministicForces``) with the same thread count.
    progress : bool or callable
        ``True``: a tqdm bar over the time steps. A callable receives a dict
        per chunk of steps: ``stage`` (``"equilibrate"``, ``"decorrelate"``,
        ``"production"``), ``run``, ``steps_done``, ``steps_total``, ``elapsed_s``.
    threads : int, optional
        OpenMM CPU threads (default: all cores).
    compress : int
        gzip level (1-9).

    Returns
    -------
    xarray.Dataset
        ``v(run, time, particle, component)`` float32 in ``v_th`` at the dump
        times (``1/omega_p``); ``kinetic_energy(run, time)`` and
        ``potential_energy(run, time)`` per ion in ``k_B T``; coordinates
        ``run`` (names), ``distribution(run)``, ``split(run)``
        (``"train"``/``"test"``); the configuration, the PME parameters, the
        measured PME force error, the seed and the wall time in ``attrs``.

    Raises
    ------
    MDError
        Invalid configuration, preset, seed or output path (one line).
    """
    cfg = _resolve(config)
    seed = _check_seed(seed)
    if not isinstance(compress, (int, np.integer)) or not 1 <= compress <= 9:
        raise MDError(f"compress must be a gzip level 1..9, got {compress!r}")
    if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
        raise MDError(f"threads must be a positive integer, got {threads!r}")
    path = _check_out(out) if out is not None else None
    ds = simulate(cfg, seed=seed, progress=progress, threads=threads)
    if path is not None:
        write_md(ds, path, compress=compress)
    return ds
