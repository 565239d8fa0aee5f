#!/usr/bin/env python
"""Cross-check of collop's PIC engine against pi-PIC (``pipic``) on the sim1 physics.

The sim1 preset is a strongly collisional 2D electron waterbag (paper eq. 7,
radius ``v_w``) over a fixed neutralising background; PIC "collisions" relax it
toward a Maxwellian. This script runs the same initial state in two independent
codes and compares the relaxation:

- **collop** (``collop.sim.pic``): 2D periodic *electrostatic* PIC, FFT Poisson
  solve, leapfrog, shape order ``m`` from the preset;
- **pipic** 1.3 (pi-PIC, PyPI): 2D periodic *electromagnetic* PIC, solver
  ``fourier_boris`` = Boris pusher + spectral (analytic-in-time) Maxwell solver
  on a collocated grid with Gauss-law (divergence) cleaning; linear (CIC)
  weighting for deposit and gather (``src/fourier_boris_solver.h``), i.e. the
  paper's ``m = 1``.

Matched: particles per cell, ``Delta_x / lambda_D``, shape order 1, box in
``lambda_D``, duration in ``1/omega_p``, and the *identical* initial particles
(pipic places them, exactly ``ppc`` per cell at uniform random offsets; the
positions are read back and the same waterbag velocities, drawn with numpy from
``--seed``, are given to both codes). Units: collop's (``lambda_D``, ``v_th``,
``1/omega_p``) with ``v_th = 0.01 c`` as in the paper (``v_w = 0.02 c``); pipic
runs in CGS at ``n_0 = 1e18 cm^-3`` (only the dimensionless numbers matter).

Background: pipic has no explicit ion species option for a uniform background;
its Fourier solver freezes, at the first field update, whatever background makes
the field consistent with Gauss's law, and ignores the ``k = 0`` mode. We advance
the *empty* box once (background := 0 at every ``k != 0``, i.e. uniform), then add
the electrons and take one ``dt = 0`` step, which sets ``E`` to the Poisson field
of the electrons over a uniform background -- the same initial field as collop's.

Time step: pipic is electromagnetic, and at collop's ``omega_p dt = 0.106`` the
light modes turn by ``k c dt`` up to ~47 rad per step; they alias onto the
particles and soak up energy (measured: ``W_B / W_E = 0.56``, total energy -5.6 %
over 100/omega_p, relaxation twice as fast). The paper (OSIRIS, also EM) used ``c dt = 0.98 dx / sqrt(2)``; we run
pipic at that step (``dt_cfl``) for the comparison and, as a control, also at the
preset's ``dt``. collop runs at the preset's ``dt`` and at ``dt_cfl``.

Runs (all with the same particles; the box is reduced to ``--box`` cells per side
unless ``--full``, because pipic at ``dt_cfl`` needs ~14x more steps):

    pipic  dt_cfl    the cross-check proper
    collop dt_cfl    same steps as pipic
    collop preset dt collop's own setting
    pipic  preset dt the EM-aliasing control

Outputs: a table on stdout, ``docs/figures/pipic_crosscheck.json`` and ``.png``.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/pipic_crosscheck.py            # ~10 min, 1 thread
    PYTHONPATH=. .venv/bin/python benchmarks/pipic_crosscheck.py --quick    # ~20 s smoke check
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
C_OVER_VTH = 100.0
"""Speed of light in collop's velocity unit ``v_th = 0.01 c`` (paper: ``v_w = 0.02 c = 2 v_th``)."""
N0_CGS = 1e18
"""Electron density of the pipic run, cm^-3 (arbitrary: the run is dimensionless)."""
KURT_WATERBAG = 2.0
"""Kurtosis of one component of the 2D isotropic waterbag (derived in ``kurtosis_waterbag``)."""
KURT_MAXWELL = 3.0


def kurtosis_waterbag() -> float:
    """Kurtosis of ``v_x`` for ``v`` uniform on a disc of radius ``R``: exactly 2.

    ``|v|^2`` is uniform on ``[0, R^2]`` so ``<v^2> = R^2/2``, ``<v^4> = R^4/3``; with an
    independent uniform angle, ``<cos^2> = 1/2``, ``<cos^4> = 3/8``. Hence
    ``<v_x^2> = R^2/4``, ``<v_x^4> = R^4/8`` and ``K = (R^4/8) / (R^2/4)^2 = 2``.
    For any isotropic 2D distribution ``K_x = (3/2) <v^4> / <v^2>^2``; the 2D Maxwellian
    gives 3.
    """
    R = 1.0
    m2 = (R ** 2 / 2) * 0.5
    m4 = (R ** 4 / 3) * 3 / 8
    return m4 / m2 ** 2


# --- parameters -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """One run, in collop's normalised units (lengths ``lambda_D``, times ``1/omega_p``)."""

    nx: int
    ny: int
    dx: float
    ppc: int
    order: int
    dt: float
    t_max: float
    dt_diag: float
    v_w: float
    seed: int

    @property
    def n_particles(self):
        return self.nx * self.ny * self.ppc

    @property
    def diag_every(self):
        return max(1, int(round(self.dt_diag / self.dt)))

    @property
    def n_diag(self):
        return int(round(self.t_max / (self.diag_every * self.dt)))

    @property
    def n_steps(self):
        return self.n_diag * self.diag_every


def dt_cfl(dx: float) -> float:
    """The paper's (OSIRIS) step ``c dt = 0.98 dx / sqrt(2)`` in ``1/omega_p`` for ``dx`` in ``lambda_D``."""
    return 0.98 * dx / math.sqrt(2) / C_OVER_VTH


def load_preset(name: str = "sim1"):
    """collop's preset as a ``PICConfig`` (read from code, not copied), or ``None`` if absent."""
    try:
        import collop.sim.pic as P
    except Exception as exc:  # pragma: no cover - depends on the tree
        print(f"[preset] collop.sim.pic not importable ({exc}); using placeholders", file=sys.stderr)
        return None
    for attr in ("PRESETS", "presets"):
        obj = getattr(P, attr, None)
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if obj is not None and hasattr(obj, "PRESETS") and name in obj.PRESETS:
            return obj.PRESETS[name]
    for fn in ("preset", "get_preset"):
        f = getattr(P, fn, None)
        if callable(f):
            try:
                return f(name)
            except Exception:
                pass
    for sub in ("presets",):
        try:
            import importlib
            mod = importlib.import_module(f"collop.sim.pic.{sub}")
        except Exception:
            continue
        for attr in ("PRESETS",):
            d = getattr(mod, attr, None)
            if isinstance(d, dict) and name in d:
                return d[name]
        f = getattr(mod, "preset", None)
        if callable(f):
            return f(name)
    print(f"[preset] no preset {name!r} in collop.sim.pic yet; using PICConfig defaults", file=sys.stderr)
    cfg = getattr(P, "PICConfig", None)
    return cfg(name=f"{name}-placeholder") if cfg is not None else None


def base_spec(cfg, seed: int) -> Spec:
    """The preset's dimensionless numbers as a :class:`Spec` (placeholders if ``cfg`` is None)."""
    if cfg is None:
        return Spec(nx=256, ny=256, dx=1.0, ppc=4, order=1, dt=0.1, t_max=100.0, dt_diag=1.0,
                    v_w=2.0, seed=seed)
    return Spec(nx=int(cfg.nx), ny=int(cfg.ny), dx=float(cfg.dx), ppc=int(cfg.ppc),
                order=int(cfg.order), dt=float(cfg.dt), t_max=float(cfg.t_max),
                dt_diag=float(cfg.dt_dump), v_w=float(cfg.v_w), seed=seed)


# --- shared diagnostics ---------------------------------------------------------------------

SPEED_EDGES = np.linspace(0.0, 4.0, 41)  # |v| in v_th (the waterbag edge is v_w = 2)


def kurt(v):
    from collop.moments import component_kurtosis
    return float(component_kurtosis(v))


def speed_hist(vx, vy):
    """``f(v) = v * int f dtheta`` of the particles, normalised to unit mass (per ``v_th``)."""
    h, _ = np.histogram(np.hypot(vx, vy), bins=SPEED_EDGES)
    return (h / (h.sum() * np.diff(SPEED_EDGES))).tolist()


class Recorder:
    """Diagnostics at every diagnostic index; radial f(v) at the indices in ``snap_idx``."""

    def __init__(self, snap_idx):
        self.rows = []
        self.snaps = {}
        self.snap_idx = set(snap_idx)

    def add(self, idx, t, vx, vy, kin, we, wb=0.0):
        self.rows.append(dict(t=float(t), kurt_x=kurt(vx), kurt_y=kurt(vy), kinetic=float(kin),
                              field_E=float(we), field_B=float(wb),
                              total=float(kin + we + wb)))
        if idx in self.snap_idx:
            self.snaps[float(t)] = speed_hist(vx, vy)

    def result(self, **extra):
        cols = {k: [r[k] for r in self.rows] for k in self.rows[0]}
        return dict(series=cols, radial={f"{k:g}": v for k, v in self.snaps.items()}, **extra)


# --- pipic ----------------------------------------------------------------------------------

@contextlib.contextmanager
def _in_dir(path):
    """pipic writes pipic_log.txt / pipic_performance.txt into the cwd: keep them out of the repo."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _import_pipic():
    with _in_dir(tempfile.gettempdir()):
        import pipic  # noqa: F401
    # pipic's C++ side writes pipic_performance.txt into the cwd at process exit
    # (static destructors run after Python's atexit hooks): leave the cwd first
    import atexit
    atexit.register(os.chdir, tempfile.gettempdir())
    return pipic


def initial_velocities(n, v_w, seed):
    """Waterbag (eq. 7) of radius ``v_w``: uniform on the disc, numpy PCG64(seed)."""
    rng = np.random.default_rng(seed)
    s = v_w * np.sqrt(rng.random(n))
    th = 2 * np.pi * rng.random(n)
    return s * np.cos(th), s * np.sin(th)


class PipicRun:
    """A pipic ``fourier_boris`` box in CGS set up to the dimensionless ``Spec``."""

    def __init__(self, spec: Spec, workdir: str):
        pipic = _import_pipic()
        from numba import cfunc
        from pipic import consts, types

        self.spec = spec
        self.workdir = workdir
        c, me, e = consts.light_velocity, consts.electron_mass, consts.electron_charge
        self.me, self.c = me, c
        n0 = N0_CGS
        self.wp = math.sqrt(4 * math.pi * n0 * e ** 2 / me)
        self.vth = c / C_OVER_VTH
        self.lD = self.vth / self.wp
        Lx, Ly = spec.nx * spec.dx * self.lD, spec.ny * spec.dx * self.lD
        for n in (spec.nx, spec.ny):
            if n & (n - 1):
                raise SystemExit(f"pipic needs power-of-two grids, got {spec.nx} x {spec.ny}")
        with _in_dir(workdir):
            sim = pipic.init(solver="fourier_boris", nx=spec.nx, xmin=0.0, xmax=Lx,
                             ny=spec.ny, ymin=0.0, ymax=Ly)
            sim.log_policy(log_to_file=False, log_to_screen=False)
            sim.set_rng_seed(spec.seed)
            # empty box: the solver freezes the background at the first update -> 0 at k != 0
            sim.advance(time_step=spec.dt / self.wp, number_of_iterations=1)

            @cfunc(types.add_particles_callback)
            def density(r, dd, di):  # pragma: no cover - compiled
                return n0

            sim.add_particles(name="electron", number=spec.n_particles, charge=-e, mass=me,
                              temperature=0.0, density=density.address)
        self.sim = sim
        self.N = sim.get_number_of_particles()
        if self.N != spec.n_particles:
            raise SystemExit(f"pipic placed {self.N} particles, expected {spec.n_particles}")
        self.volume = Lx * Ly * (sim.zmax - sim.zmin)
        self.e_norm = n0 * me * self.vth ** 2 * self.volume  # -> energies per area in n0 m v_th^2
        self.cell_vol = (Lx / spec.nx) * (Ly / spec.ny) * (sim.zmax - sim.zmin)
        self._buf = np.zeros((self.N, 6))
        self._cnt = np.zeros(1, dtype=np.intc)
        self._fe = np.zeros(2)

        @cfunc(types.particle_loop_callback)
        def set_p(r, p, w, pid, dd, di):  # pragma: no cover - compiled
            i = di[0]
            p[0] = dd[2 * i]
            p[1] = dd[2 * i + 1]
            p[2] = 0.0
            di[0] = i + 1

        @cfunc(types.particle_loop_callback)
        def get_all(r, p, w, pid, dd, di):  # pragma: no cover - compiled
            i = di[0]
            dd[6 * i] = r[0]
            dd[6 * i + 1] = r[1]
            dd[6 * i + 2] = p[0]
            dd[6 * i + 3] = p[1]
            dd[6 * i + 4] = p[2]
            dd[6 * i + 5] = w[0]
            di[0] = i + 1

        @cfunc(types.field_loop_callback)
        def field_en(ind, r, E, B, dd, di):  # pragma: no cover - compiled
            dd[0] += E[0] * E[0] + E[1] * E[1] + E[2] * E[2]
            dd[1] += B[0] * B[0] + B[1] * B[1] + B[2] * B[2]

        self._set_p, self._get_all, self._field_en = set_p, get_all, field_en

    def set_velocities(self, vx, vy):
        """Momenta ``p = gamma m v`` for velocities in ``v_th``, in pipic's particle-loop order."""
        v = np.column_stack([vx, vy]) * self.vth
        g = 1.0 / np.sqrt(1.0 - (v ** 2).sum(1) / self.c ** 2)
        p = np.ascontiguousarray((v * (g * self.me)[:, None]).reshape(-1))
        self._cnt[0] = 0
        with _in_dir(self.workdir):
            self.sim.particle_loop(name="electron", handler=self._set_p.address,
                                   data_double=p.ctypes.data, data_int=self._cnt.ctypes.data)
        assert self._cnt[0] == self.N

    def state(self):
        """(x, y) in ``lambda_D``, (vx, vy, vz) in ``v_th``, kinetic energy (relativistic), ``n0 m v_th^2``."""
        self._cnt[0] = 0
        with _in_dir(self.workdir):
            self.sim.particle_loop(name="electron", handler=self._get_all.address,
                                   data_double=self._buf.ctypes.data, data_int=self._cnt.ctypes.data)
        b = self._buf
        p = b[:, 2:5]
        mc = self.me * self.c
        g = np.sqrt(1.0 + (p ** 2).sum(1) / mc ** 2)
        v = p / (self.me * g)[:, None] / self.vth
        kin = float((b[:, 5] * self.me * self.c ** 2 * (g - 1.0)).sum()) / self.e_norm
        return b[:, 0] / self.lD, b[:, 1] / self.lD, v, kin

    def field_energy(self):
        """(E, B) energies ``sum (E^2 or B^2) dV / 8 pi`` in ``n0 m v_th^2`` per area."""
        self._fe[:] = 0.0
        with _in_dir(self.workdir):
            self.sim.field_loop(handler=self._field_en.address, data_double=self._fe.ctypes.data)
        f = self._fe * self.cell_vol / (8 * math.pi) / self.e_norm
        return float(f[0]), float(f[1])

    def poisson_start(self):
        """One ``dt = 0`` step: the Fourier solver's Gauss-law cleaning sets the Poisson field."""
        with _in_dir(self.workdir):
            self.sim.advance(time_step=0.0, number_of_iterations=1)

    def close(self):
        """Free the pipic box; its destructor writes pipic_performance.txt into the cwd."""
        import gc
        with _in_dir(self.workdir):
            self.sim = None
            gc.collect()

    def advance(self, n):
        with _in_dir(self.workdir):
            self.sim.advance(time_step=self.spec.dt / self.wp, number_of_iterations=int(n))


def pipic_initial_state(spec: Spec):
    """The shared initial state: pipic's particle positions and numpy waterbag velocities."""
    with tempfile.TemporaryDirectory() as wd:
        run = PipicRun(spec, wd)
        vx, vy = initial_velocities(run.N, spec.v_w, spec.seed)
        run.set_velocities(vx, vy)
        x, y, v, _ = run.state()
        run.close()
    return x, y, v[:, 0].copy(), v[:, 1].copy()


def run_pipic(spec: Spec, x0, y0, vx0, vy0, snap_times, label="pipic", progress=True):
    with tempfile.TemporaryDirectory() as wd:
        run = PipicRun(spec, wd)
        run.set_velocities(vx0, vy0)
        run.poisson_start()
        rec = Recorder(snap_times)
        x, y, v, kin = run.state()
        if not (np.array_equal(x, x0) and np.array_equal(y, y0)):
            raise SystemExit("pipic did not reproduce the shared initial positions (rng seed?)")
        rec.add(0, 0.0, v[:, 0], v[:, 1], kin, *run.field_energy())
        t_adv = 0.0
        vz_max = 0.0
        for k in range(1, spec.n_diag + 1):
            t0 = time.perf_counter()
            run.advance(spec.diag_every)
            t_adv += time.perf_counter() - t0
            x, y, v, kin = run.state()
            vz_max = max(vz_max, float(np.abs(v[:, 2]).max()))
            rec.add(k, k * spec.diag_every * spec.dt, v[:, 0], v[:, 1], kin, *run.field_energy())
            if progress and (k % max(1, spec.n_diag // 10) == 0 or k == spec.n_diag):
                r = rec.rows[-1]
                print(f"  [{label}] t={r['t']:7.2f} K_x={r['kurt_x']:.3f} K_y={r['kurt_y']:.3f} "
                      f"E_tot={r['total']:.5f} W_B/W_E={r['field_B'] / max(r['field_E'], 1e-300):.3f} "
                      f"({t_adv:.0f} s)", flush=True)
        run.close()
    ps = spec.n_particles * spec.n_steps / t_adv
    return rec.result(engine="pipic", spec=asdict(spec), seconds=t_adv, particle_steps_per_s=ps,
                      max_abs_vz=vz_max)


# --- collop ---------------------------------------------------------------------------------

def run_collop(spec: Spec, x0, y0, vx0, vy0, snap_times, label="collop", progress=True):
    from collop.sim.pic.engine import PIC, PICConfig

    cfg = PICConfig(nx=spec.nx, ny=spec.ny, dx=spec.dx, ppc=spec.ppc, order=spec.order, dt=spec.dt,
                    t_max=spec.n_steps * spec.dt, dt_dump=spec.diag_every * spec.dt,
                    distribution="waterbag", v_w=spec.v_w, seed=spec.seed, name="pipic-crosscheck")
    pic = PIC(cfg, x=x0, y=y0, vx=vx0, vy=vy0)
    rec = Recorder(snap_times)
    t_step = 0.0
    for k in range(spec.n_steps + 1):
        dump = (k % spec.diag_every == 0)
        t0 = time.perf_counter()
        if k < spec.n_steps:
            diag, v = pic.step(dump=dump)
        else:  # last diagnostic: one extra step (not timed) to get the centred velocities
            diag, v = pic.step(dump=True)
        if k < spec.n_steps:
            t_step += time.perf_counter() - t0
        if dump:
            v = np.asarray(v, dtype=np.float64)
            rec.add(k // spec.diag_every, diag["time"], v[:, 0], v[:, 1], diag["kinetic"], diag["field"])
            j = k // spec.diag_every
            if progress and j > 0 and (j % max(1, spec.n_diag // 10) == 0 or j == spec.n_diag):
                r = rec.rows[-1]
                print(f"  [{label}] t={r['t']:7.2f} K_x={r['kurt_x']:.3f} K_y={r['kurt_y']:.3f} "
                      f"E_tot={r['total']:.5f} ({t_step:.0f} s)", flush=True)
    ps = spec.n_particles * spec.n_steps / t_step
    return rec.result(engine="collop", backend=pic.backend, spec=asdict(spec), seconds=t_step,
                      particle_steps_per_s=ps)


def read_collop_data(path: Path):
    """Kurtosis vs time from a collop particles dataset (e.g. ``data/sim1_particles.nc``), if present."""
    if not path.exists():
        return None
    try:
        import xarray as xr
        ds = xr.open_dataset(path)
        names = [n for n in ("v", "velocity", "velocities") if n in ds]
        if names:
            v = ds[names[0]]
            comp = [d for d in v.dims if d not in ("time", "particle", "id")]
            vx = v.isel({comp[0]: 0}).transpose("time", ...).values
            vy = v.isel({comp[0]: 1}).transpose("time", ...).values
        else:
            vx = ds["vx"].transpose("time", ...).values
            vy = ds["vy"].transpose("time", ...).values
        t = ds["time"].values.astype(float)
        from collop.moments import component_kurtosis
        return dict(engine="collop (data file)", path=os.path.relpath(path, ROOT),
                    n_particles=int(vx.shape[1]),
                    series=dict(t=t.tolist(), kurt_x=component_kurtosis(vx, axis=1).tolist(),
                                kurt_y=component_kurtosis(vy, axis=1).tolist()))
    except Exception as exc:  # a layout this reader does not know: say so, don't fail the run
        print(f"[data] could not read {path}: {exc}", file=sys.stderr)
        return None


# --- analysis -------------------------------------------------------------------------------

def relaxation(series, k0=KURT_WATERBAG, k_inf=KURT_MAXWELL):
    """Half-way time (mean kurtosis of v_x, v_y first reaches ``(k0 + k_inf)/2``, linearly
    interpolated on a 5-point running mean) and an exponential fit ``K = k_inf - (k_inf - k0) e^{-t/tau}``."""
    t = np.asarray(series["t"])
    k = 0.5 * (np.asarray(series["kurt_x"]) + np.asarray(series["kurt_y"]))
    ks = np.convolve(np.pad(k, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    half = 0.5 * (k0 + k_inf)
    t_half = None
    above = np.nonzero(ks >= half)[0]
    if above.size and above[0] > 0:
        i = above[0]
        t_half = float(t[i - 1] + (half - ks[i - 1]) * (t[i] - t[i - 1]) / (ks[i] - ks[i - 1]))
    # least squares on y = log((k_inf - k) / (k_inf - k0)) = -t / tau, using points with k < k_inf - 0.05
    y = (k_inf - k) / (k_inf - k0)
    ok = (y > 0.05) & (t > 0)
    tau = None
    if ok.sum() >= 3:
        slope = np.sum(t[ok] * np.log(y[ok])) / np.sum(t[ok] ** 2)
        tau = float(-1.0 / slope) if slope < 0 else None
    return dict(t_half=t_half, tau_fit=tau, k_end=float(ks[-1]), k_end_raw=float(k[-1]),
                progress_end=float((ks[-1] - k0) / (k_inf - k0)))


def energy_summary(series):
    tot = np.asarray(series["total"])
    out = dict(total_rel_change=float((tot[-1] - tot[0]) / tot[0]),
               total_rel_maxdev=float(np.abs(tot - tot[0]).max() / tot[0]),
               kinetic_rel_change=float((series["kinetic"][-1] - series["kinetic"][0]) / series["kinetic"][0]))
    we, wb = np.asarray(series["field_E"]), np.asarray(series["field_B"])
    out["field_E_end"] = float(we[-1])
    out["field_B_end"] = float(wb[-1])
    out["B_over_E_mean"] = float(wb[1:].mean() / we[1:].mean()) if we[1:].mean() > 0 else 0.0
    return out


def plot(results, path: Path, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    styles = {"pipic_cfl": ("C0", "-"), "collop_cfl": ("C1", "-"), "collop_preset": ("C1", "--"),
              "pipic_preset": ("C0", ":"), "collop_full": ("C3", "-"), "collop_data": ("C2", "-.")}
    for key, r in results.items():
        s = r["series"]
        col, ls = styles.get(key, ("k", "-"))
        k = 0.5 * (np.asarray(s["kurt_x"]) + np.asarray(s["kurt_y"]))
        ax[0].plot(s["t"], k, color=col, ls=ls, lw=1.4, label=r["label"])
        if "total" in s:
            tot = np.asarray(s["total"])
            ax[1].plot(s["t"], tot / tot[0] - 1, color=col, ls=ls, lw=1.2, label=r["label"])
    ax[0].axhline(KURT_WATERBAG, color="gray", lw=0.6)
    ax[0].axhline(KURT_MAXWELL, color="gray", lw=0.6)
    ax[0].axhline(0.5 * (KURT_WATERBAG + KURT_MAXWELL), color="gray", lw=0.6, ls=":")
    ax[0].set(xlabel=r"$\omega_p t$", ylabel=r"kurtosis of $v_x$, $v_y$ (mean)",
              title="waterbag relaxation (2 = waterbag, 3 = Maxwellian)")
    ax[0].legend(fontsize=8)
    ax[1].set(xlabel=r"$\omega_p t$", ylabel=r"$E_{tot}(t)/E_{tot}(0) - 1$",
              title="total energy (kinetic + field)")
    ax[1].legend(fontsize=8)
    vc = 0.5 * (SPEED_EDGES[1:] + SPEED_EDGES[:-1])
    for key, ls in (("pipic_cfl", "-"), ("collop_cfl", "--")):
        if key not in results:
            continue
        snaps = results[key]["radial"]
        for i, (ts, h) in enumerate(sorted(snaps.items(), key=lambda kv: float(kv[0]))):
            ax[2].plot(vc, h, color=f"C{i + 3}", ls=ls, lw=1.2,
                       label=f"{results[key]['label'].split(' ')[0]} t={float(ts):.0f}")
    vv = np.linspace(0, 4, 200)
    ax[2].plot(vv, vv * np.exp(-vv ** 2 / 2), color="k", lw=0.8, ls=":", label=r"Maxwellian $v e^{-v^2/2}$")
    ax[2].set(xlabel=r"$|v| / v_{th}$", ylabel=r"$f(v) = v\int f\,d\theta$",
              title="radial distribution (solid pipic, dashed collop)")
    ax[2].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput(spec: Spec, steps: int):
    """Particle-steps/s of both codes on ``spec`` (after one warm-up step), no diagnostics."""
    x0, y0, vx0, vy0 = pipic_initial_state(spec)
    out = {}
    with tempfile.TemporaryDirectory() as wd:
        run = PipicRun(spec, wd)
        run.set_velocities(vx0, vy0)
        run.poisson_start()
        run.advance(1)
        t0 = time.perf_counter()
        run.advance(steps)
        out["pipic"] = spec.n_particles * steps / (time.perf_counter() - t0)
        run.close()
    from collop.sim.pic.engine import PIC, PICConfig
    cfg = PICConfig(nx=spec.nx, ny=spec.ny, dx=spec.dx, ppc=spec.ppc, order=spec.order, dt=spec.dt,
                    t_max=spec.dt * (steps + 1), dt_dump=spec.dt, v_w=spec.v_w, seed=spec.seed)
    pic = PIC(cfg, x=x0, y=y0, vx=vx0, vy=vy0)
    pic.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        pic.step()
    out["collop"] = spec.n_particles * steps / (time.perf_counter() - t0)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="sim1")
    ap.add_argument("--quick", action="store_true", help="32x32 box, t_max 10: a ~20 s smoke check")
    ap.add_argument("--full", action="store_true", help="the preset's full box (slow for pipic at dt_cfl)")
    ap.add_argument("--box", type=int, default=64, help="cells per side of the cross-check box (power of 2)")
    ap.add_argument("--t-max", type=float, default=None, help="override the preset's duration (1/omega_p)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="OpenMP (pipic) / numba+torch (collop) threads")
    ap.add_argument("--skip-preset-dt", action="store_true", help="only the dt_cfl pair")
    ap.add_argument("--collop-full", action="store_true",
                    help="also run collop alone on the preset's full box at the preset dt")
    ap.add_argument("--seeds", type=int, default=4,
                    help="extra collop runs (preset dt) from other seeds: the realisation spread")
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures" / "pipic_crosscheck"),
                    help="output stem: writes STEM.json and STEM.png")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--bench", type=int, nargs="*", metavar="CELLS",
                    help="only measure throughput (preset dt, ppc, order) on CELLS x CELLS boxes, e.g. 256 512")
    ap.add_argument("--bench-steps", type=int, default=20)
    a = ap.parse_args(argv)

    os.environ["OMP_NUM_THREADS"] = str(a.threads)  # before pipic (OpenMP) is loaded
    import numba
    import torch
    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(a.threads)
    try:
        _import_pipic()
    except ImportError as exc:
        raise SystemExit(f"pipic is not importable ({exc}); install the 'crosscheck' extra: "
                         "pip install 'collop[crosscheck]'")

    cfg = load_preset(a.preset)
    base = base_spec(cfg, a.seed)
    if a.bench:
        res = []
        for n in a.bench:
            sp = replace(base, nx=n, ny=n)
            r = throughput(sp, a.bench_steps)
            res.append(dict(cells=n, n_particles=sp.n_particles, threads=a.threads, steps=a.bench_steps, **r))
            print(f"{n}x{n} cells, {sp.n_particles} particles, {a.threads} thread(s): "
                  f"pipic {r['pipic']:.3g}, collop {r['collop']:.3g} particle-steps/s", flush=True)
        return dict(bench=res)
    preset_name = getattr(cfg, "name", None) or f"{a.preset} (placeholder)"
    if a.quick:
        base = replace(base, nx=32, ny=32, t_max=10.0, dt_diag=1.0)
    elif not a.full:
        base = replace(base, nx=a.box, ny=a.box)
    if a.t_max is not None:
        base = replace(base, t_max=a.t_max)
    if base.order != 1:
        print(f"[warn] preset shape order m={base.order}; pipic only has linear (CIC) weighting, m=1",
              file=sys.stderr)
    dtc = dt_cfl(base.dx)
    cfl = replace(base, dt=dtc)
    snap_times = sorted({0, *(round(f * base.n_diag) for f in (0.1, 0.3, 1.0))})  # diag indices
    print(f"preset {preset_name}: {asdict(base)}")
    print(f"N = {base.n_particles} particles, dx/lambda_D = {base.dx:g}, ppc = {base.ppc}, "
          f"N_D = {base.ppc / base.dx ** 2:g}/lambda_D^2, box {base.nx * base.dx:g} lambda_D, "
          f"preset omega_p dt = {base.dt:g}, dt_cfl = {dtc:.5f} ({cfl.n_steps} steps), "
          f"threads = {a.threads}", flush=True)

    x0, y0, vx0, vy0 = pipic_initial_state(base)
    prog = not a.quiet
    results = {}
    results["pipic_cfl"] = run_pipic(cfl, x0, y0, vx0, vy0, snap_times, "pipic dt_cfl", prog)
    results["pipic_cfl"]["label"] = f"pipic (EM), dt={dtc:.4f}"
    results["collop_cfl"] = run_collop(cfl, x0, y0, vx0, vy0, snap_times, "collop dt_cfl", prog)
    results["collop_cfl"]["label"] = f"collop (ES), dt={dtc:.4f}"
    if not a.skip_preset_dt and abs(base.dt - dtc) > 1e-12:
        results["collop_preset"] = run_collop(base, x0, y0, vx0, vy0, snap_times, "collop dt", prog)
        results["collop_preset"]["label"] = f"collop (ES), dt={base.dt:g} (preset)"
        results["pipic_preset"] = run_pipic(base, x0, y0, vx0, vy0, snap_times, "pipic dt", prog)
        results["pipic_preset"]["label"] = f"pipic (EM), dt={base.dt:g} (preset)"
    spread = []
    for j in range(1, a.seeds + 1):
        sp = replace(base, seed=a.seed + j)
        xs, ys, vxs, vys = pipic_initial_state(sp)
        r = run_collop(sp, xs, ys, vxs, vys, [], f"collop seed {sp.seed}", False)
        spread.append(dict(seed=sp.seed, **relaxation(r["series"]),
                           kurt=(0.5 * (np.asarray(r["series"]["kurt_x"]) + r["series"]["kurt_y"])).tolist()))
    if a.collop_full and not a.full:
        full = replace(base_spec(cfg, a.seed), **({"t_max": a.t_max} if a.t_max else {}))
        xs, ys, vxs, vys = pipic_initial_state(full)
        results["collop_full"] = run_collop(full, xs, ys, vxs, vys, [], "collop full box", prog)
        results["collop_full"]["label"] = (f"collop (ES), dt={full.dt:g}, full {full.nx}x{full.ny} box")
    data = read_collop_data(ROOT / "data" / f"{a.preset}_particles.nc")
    if data is not None:
        data["label"] = f"collop {a.preset} data file ({data['n_particles']} particles, own seed/box)"
        results["collop_data"] = data

    # table
    print()
    hdr = (f"{'run':38s} {'t_half':>7s} {'tau_fit':>8s} {'K_end':>6s} {'dE_tot':>9s} "
           f"{'W_B/W_E':>8s} {'p-steps/s':>10s}")
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for key, r in results.items():
        rel = relaxation(r["series"])
        en = energy_summary(r["series"]) if "total" in r["series"] else {}
        r["relaxation"], r["energy"] = rel, en
        summary[key] = dict(label=r["label"], **rel, **en,
                            particle_steps_per_s=r.get("particle_steps_per_s"))
        fmt = lambda v, f: (f"{v:{f}}" if v is not None else "-")  # noqa: E731
        print(f"{r['label'][:38]:38s} {fmt(rel['t_half'], '7.2f')} {fmt(rel['tau_fit'], '8.2f')} "
              f"{rel['k_end']:6.3f} {fmt(en.get('total_rel_change'), '+9.2e')} "
              f"{fmt(en.get('B_over_E_mean'), '8.3f')} {fmt(r.get('particle_steps_per_s'), '10.3g')}")
    a_ = summary["pipic_cfl"]
    b_ = summary["collop_cfl"]
    if a_["tau_fit"] and b_["tau_fit"]:
        print(f"\ntau_fit(pipic)/tau_fit(collop) at dt_cfl = {a_['tau_fit'] / b_['tau_fit']:.3f}")
    if a_["t_half"] and b_["t_half"]:
        print(f"t_half(pipic)/t_half(collop) at dt_cfl = {a_['t_half'] / b_['t_half']:.3f}")
    if spread:
        for q in ("t_half", "tau_fit"):
            vals = [d[q] for d in spread if d[q] is not None]
            if len(vals) >= 2:
                print(f"collop seed spread ({len(vals)} other seeds, preset dt): {q} = "
                      f"{np.mean(vals):.2f} +- {np.std(vals, ddof=1):.2f}")
        ks = np.asarray([d["kurt"] for d in spread])
        print(f"collop seed spread of the kurtosis curve: rms over seeds, max over t = "
              f"{ks.std(axis=0, ddof=1).max():.3f}" if len(spread) >= 2 else "")
    kp = 0.5 * (np.asarray(results["pipic_cfl"]["series"]["kurt_x"]) + results["pipic_cfl"]["series"]["kurt_y"])
    kc = 0.5 * (np.asarray(results["collop_cfl"]["series"]["kurt_x"]) + results["collop_cfl"]["series"]["kurt_y"])
    print(f"max |K_pipic - K_collop| over the record at dt_cfl = {np.abs(kp - kc).max():.3f}")

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(preset=preset_name, command=" ".join(["benchmarks/pipic_crosscheck.py", *(argv or sys.argv[1:])]),
                kurtosis_waterbag=kurtosis_waterbag(), kurtosis_maxwellian=KURT_MAXWELL,
                c_over_vth=C_OVER_VTH, n0_cgs=N0_CGS, dt_cfl=dtc, threads=a.threads,
                cpu_count=os.cpu_count(), summary=summary, collop_seed_spread=spread,
                pipic_solver="fourier_boris (Boris + spectral Maxwell, divergence cleaning, CIC)")
    with open(out.with_suffix(".json"), "w") as fh:
        json.dump(dict(meta=meta, runs=results), fh, indent=1)
    title = (f"{preset_name}: {base.nx}x{base.ny} cells, dx={base.dx:g} lambda_D, ppc={base.ppc}, m=1, "
             f"N={base.n_particles}, seed {a.seed}; same initial particles in both codes")
    plot(results, out.with_suffix(".png"), title)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return dict(meta=meta, runs=results)


if __name__ == "__main__":
    main()
