"""MD steps per second of the one-component plasma at a preset's N (collop.sim.md, OpenMM CPU).

For each preset (default: gamma0p23 and gamma2p3, N = 1e4) it builds the OCP
with the preset's PME settings, equilibrates briefly, and times, interleaved
in ``--repeats`` rounds so that load from other processes hits all alike:

* ``nve``      : the production integrator (OpenMM's VerletIntegrator, leap-frog velocity
                 Verlet, in the OCP's CompoundIntegrator);
* ``langevin`` : the thermostat (LangevinMiddleIntegrator);
* ``custom_vv``: the baseline, velocity Verlet as an OpenMM CustomIntegrator on the same
                 system and positions (what collop used first; same trajectory);
* ``force``    : one force evaluation (setPositions + getState(getForces)), the floor.

It prints steps/s (best and median of the rounds), the CPU time per step
over all threads (less sensitive to other load; ``threads / cpu`` estimates
the rate on idle cores), the PME parameters, the measured RMS force error of
the PME settings (against ewaldErrorTolerance 1e-6), and the wall time a
preset needs (``MDConfig.total_steps`` / rate).

Usage::

    .venv/bin/python benchmarks/bench_md.py [--presets gamma0p23,gamma2p3] [--n 10000]
        [--threads 2] [--steps 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collop.sim.md import OCP, preset  # noqa: E402
from collop.sim.md.engine import velocity_verlet  # noqa: E402


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip() or "?"
    except OSError:
        return "?"


def bench(name: str, n: int | None, threads: int, steps: int, repeats: int) -> None:
    import openmm as mm

    cfg = preset(name, **({"n": n} if n else {}))
    ocp = OCP(cfg.n, cfg.gamma, dt=cfg.dt, cutoff=cfg.cutoff, ewald_tolerance=cfg.ewald_tolerance,
              dt_thermostat=cfg.dt_thermostat, friction=cfg.friction, seed=0, threads=threads)
    ocp.thermostat(100)
    x = ocp.positions()
    v = ocp.velocities()
    # baseline: velocity Verlet as a CustomIntegrator on a second context of the same system
    base = mm.Context(ocp.system, velocity_verlet(cfg.dt), mm.Platform.getPlatformByName("CPU"),
                      {"Threads": str(threads), "DeterministicForces": "true"})
    base.setPositions(x)
    base.setVelocities(v * ocp.v_th)
    ocp.begin_nve(v)
    ocp.nve(10)
    base.getIntegrator().step(10)

    def run_nve():
        ocp.nve(steps)

    def run_lang():
        ocp.thermostat(steps)

    def run_custom():
        base.getIntegrator().step(steps)

    def run_force():
        for _ in range(steps):
            base.setPositions(x)
            base.getState(getForces=True)

    timers = {"nve": run_nve, "langevin": run_lang, "custom_vv": run_custom, "force": run_force}
    rates = {k: [] for k in timers}
    cpu = {k: [] for k in timers}
    for _ in range(repeats):
        for k, fn in timers.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            rates[k].append(steps / (time.perf_counter() - t))
            cpu[k].append((time.process_time() - c) / steps)
    alpha, nx, ny, nz = ocp.pme_parameters()
    from collop.sim.md.run import _pme_force_error
    err = _pme_force_error(ocp, cfg, threads)
    print(f"\n{name}: Gamma = {cfg.gamma}, N = {cfg.n}, dt = {cfg.dt}, cutoff = {cfg.cutoff} a, "
          f"ewaldErrorTolerance = {cfg.ewald_tolerance:g}, threads = {threads}")
    print(f"  PME alpha = {alpha:.4f} / a, grid {nx} x {ny} x {nz}, RMS force error = {err:.2e} "
          "of the RMS force")
    for k in timers:
        r = rates[k]
        c = min(cpu[k])
        print(f"  {k:9s} {max(r):8.1f} steps/s best, {statistics.median(r):8.1f} median "
              f"({', '.join(f'{x:.1f}' for x in r)}); CPU {1e3 * c:.1f} ms/step "
              f"(all threads) -> {threads / c:.1f} steps/s on {threads} idle cores")
    nve = statistics.median(rates["nve"])
    print(f"  nve / custom_vv (median): {nve / statistics.median(rates['custom_vv']):.2f}")
    total = cfg.total_steps
    idle = threads / min(cpu["nve"])
    print(f"  preset {name}: {total} steps ({len(cfg.runs)} runs x {cfg.n_frames - 1} dumps x "
          f"{cfg.steps_per_dump} steps + thermostat) -> {total / nve / 60:.1f} min at the median "
          f"nve rate, {total / idle / 60:.1f} min on {threads} idle cores (from the CPU time)")
    base = None  # free the baseline context
    ocp.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="gamma0p23,gamma2p3")
    ap.add_argument("--n", type=int, default=None, help="override the preset's N")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--steps", type=int, default=100, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import openmm

    print(f"collop {_commit()}, OpenMM {openmm.__version__}, {platform.machine()} "
          f"{platform.processor() or ''}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in args.presets.split(","):
        bench(name.strip(), args.n, args.threads, args.steps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
