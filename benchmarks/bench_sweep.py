"""Benchmark: a sweep of 12 trainings on 2 dask workers against the same trainings one after another.

Both are measured in the same run, on the same machine:

* serial: the 12 train specs of the sweep run by ``collop.pipeline.run`` one
  after another in this process (1 thread). One untimed training first loads
  the compiled kernels, so the serial time holds no start-up cost;
* sweep: ``collop.sweep.run_sweep`` with a new local cluster of 2 worker
  processes (1 thread each), timed from the call to its return: cluster start,
  the workers' imports and kernel loading, the 12 trainings, indexing and
  shutdown.

The target is sweep <= 0.6 x serial. The trainings: PS-Tensor on the Langevin
set (2 training populations, N_t = 5, ``--curriculum``), the grid lambda_v in
{0, 1e-3, 1e-2} x seed in {0, 1, 2, 3}.

On a shared machine whose load drifts, ``--rounds 2`` measures in the order
serial, sweep, sweep, serial and compares the sums, which cancels a load that
changes linearly in time. The 1-minute load average is printed at every
phase's start and end.

Usage: python benchmarks/bench_sweep.py [--data data/langevin.nc] [--curriculum 1:1e-2:600,2:1e-2:150]
       [--workers 2] [--rounds 1|2] [--keep DIR] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def sweep_spec(data: str, curriculum: str) -> dict:
    return {"name": "bench_sweep",
            "base": {"data": data, "train": ["normal_0_0", "normal_-1_-1"], "test": ["ring_1.0"],
                     "options": {"model": "tensor", "nt": 5}, "curriculum": curriculum, "threads": 1},
            "axes": {"penalties.reg_velocity": [0, 1e-3, 1e-2], "seed": [0, 1, 2, 3]}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"))
    p.add_argument("--curriculum", default="1:1e-2:600,2:1e-2:150")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, choices=(1, 2), default=1,
                   help="1: serial then sweep; 2: serial, sweep, sweep, serial (load drift cancels)")
    p.add_argument("--keep", default=None, help="keep the run folders here (default: a temporary folder)")
    p.add_argument("--json", default=None, help="also write the figures here")
    a = p.parse_args(argv)

    import dataclasses

    from collop.pipeline import run
    from collop.pipeline.context import use_threads
    from collop.sweep import expand, run_sweep

    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_sweep."))
    root.mkdir(parents=True, exist_ok=True)
    spec = sweep_spec(a.data, a.curriculum)
    points = expand(spec, root / "serial-0")
    print(f"{len(points)} trainings: {spec['base']['train']} -> {spec['base']['test']}, curriculum "
          f"{a.curriculum}, N_t 5; {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}", flush=True)

    def serial_phase(tag):
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        rows = []
        for pt in expand(spec, root / f"serial-{tag}"):
            t = time.perf_counter()
            r = run(pt.spec)
            rows.append({"point": pt.id, "seconds": time.perf_counter() - t, "status": r.status,
                         "rollout_mae": r.metrics["rollout_mae"]})
        wall = time.perf_counter() - t0
        print(f"serial ({tag}): {wall:.1f} s ({wall / len(rows):.1f} s per training); load average "
              f"{load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        return wall, rows

    def sweep_phase(tag):
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        res = run_sweep(spec, root / f"sweep-{tag}", workers=a.workers)
        wall = time.perf_counter() - t0
        print(f"sweep ({tag}) on {a.workers} workers: {wall:.1f} s ({res.status}: {res.counts}); load average "
              f"{load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        return wall, res

    with use_threads(1):
        warm = dataclasses.replace(points[0].spec, out=str(root / "warm-up"))
        t = time.perf_counter()
        run(warm)
        print(f"warm-up training (untimed): {time.perf_counter() - t:.1f} s", flush=True)
        order = ["serial", "sweep"] if a.rounds == 1 else ["serial", "sweep", "sweep", "serial"]
        walls = {"serial": [], "sweep": []}
        serial, sweeps = [], []
        for i, phase in enumerate(order):
            if phase == "serial":
                w, rows = serial_phase(i)
                serial.append(rows)
            else:
                w, res = sweep_phase(i)
                sweeps.append(res)
            walls[phase].append(w)
    t_serial, t_sweep = sum(walls["serial"]), sum(walls["sweep"])

    # the same trainings give the same numbers either way
    same = all(e["metrics"]["rollout_mae"] == r["rollout_mae"]
               for res in sweeps for rows in serial
               for e, r in zip(sorted(res.points, key=lambda e: e["id"]), sorted(rows, key=lambda r: r["point"])))
    ratio = t_sweep / t_serial
    print(f"\nserial {t_serial:.1f} s, sweep {t_sweep:.1f} s (sums over {a.rounds} round(s)), ratio {ratio:.3f} "
          f"(target <= 0.6: {'met' if ratio <= 0.6 else 'NOT met'}); rollout errors identical: {same}")
    out = {"n_points": len(points), "workers": a.workers, "curriculum": a.curriculum, "rounds": a.rounds,
           "serial_s": walls["serial"], "sweep_s": walls["sweep"], "ratio": ratio, "identical": same,
           "serial": serial}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
