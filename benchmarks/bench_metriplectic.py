"""Speed of the metriplectic pipeline: weak-form training steps, time to a converged CM2, particle-solver steps.

Three measurements, each against a baseline measured in the same run (the
machine is shared, so only ratios and CPU times are steady):

1. **Weak-form steps/s** at ``--pairs`` pairs per step (default 1e5, the
   paper's P) for Landau, CM1 and CM2: forward, backward and an Adam step.
   Fast path (numba pair and network kernels, float32) against the PyTorch
   reference path (the same formulas in PyTorch, float32). Target: CM2 >= 20
   steps/s.
2. **Wall time to a converged CM2**: CM2 trained with Adam (lr 0.01, x0.99
   every 2000 steps: Appendix B) at ``--pairs``; every ``--check`` steps the
   equilibrium averages ``E_s[g_r^2]``, ``E_s[g_s^2]`` are evaluated on the
   ``(u, r)`` range holding 90 % of the training pairs; converged when two
   consecutive checks change them by less than ``--tol`` (relative, max over
   the grid). Target: <= 15 min.
3. **Particle-solver steps/s** at ``--n-solver`` particles (default 1e5) for
   Landau, CM1 and CM2; baseline: the PyTorch path of the same step
   (isotropic kernels).

Data: ``--data MD.nc`` (an MD particles file; its ``bimaxwellian``,
``uniform`` and ``double_well`` runs train), or by default a known-truth set
made by the solver under Landau ``c0 = 1`` with the MD presets' shape
(3 runs x 41 frames x 1e4 particles).

Usage: python benchmarks/bench_metriplectic.py [--data MD.nc] [--pairs 100000] [--threads 1]
       [--steps 20] [--max-train-steps 20000] [--check 500] [--tol 0.02] [--skip-converge]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRAIN = ["uniform", "bimaxwellian", "double_well"]


def _data(path):
    from collop.io import open_dataset
    from collop.kinetic.kernels import LandauKernel
    from collop.kinetic.rollout import known_truth

    if path:
        return open_dataset(path, "particles"), path
    ds = known_truth(LandauKernel(1.0), runs=TRAIN, n=10_000, times=np.linspace(0, 8, 41), angle=0.2, seed=0)
    return ds, "known truth (Landau c0 = 1, solver angle 0.2), 3 runs x 41 frames x 1e4 particles"


def _timed(fn, n):
    """(wall s, CPU s) per call of ``fn`` over ``n`` calls."""
    w, c = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - w) / n, (time.process_time() - c) / n


def bench_steps(ds, pairs, steps):
    import torch

    from collop.kinetic.kernels import PairMLP
    from collop.objectives.weak_form import WeakForm, WeakFormOptions
    from collop.operators.metriplectic import Metriplectic, MetriplecticOptions
    from collop.train import Stage

    data = WeakForm.load(ds, TRAIN)
    out = {}
    for model in ("landau", "cm1", "cm2"):
        op = Metriplectic.from_options(MetriplecticOptions(model=model), data)
        opt = torch.optim.Adam(op.parameters(), lr=1e-3)
        row = {}
        for backend in ("auto", "torch"):
            obj = WeakForm(WeakFormOptions(pairs=pairs))
            obj.backend = backend
            PairMLP.backend = backend
            obj.prepare(data)

            def step():
                opt.zero_grad()
                loss, _ = obj(op, Stage(1, 1e-3, 1))
                loss.backward()
                opt.step()

            step()
            row[backend] = _timed(step, steps)
        PairMLP.backend = "auto"
        out[model] = row
        (wf, cf), (wt, ct) = row["auto"], row["torch"]
        print(f"  {model:7s} fast {1 / wf:6.1f} steps/s (CPU {1e3 * cf:6.1f} ms/step)   "
              f"PyTorch {1 / wt:6.1f} steps/s (CPU {1e3 * ct:6.1f} ms/step)   CPU speed-up x{ct / cf:.2f}", flush=True)
    return out


def bench_converge(ds, pairs, max_steps, check, tol):
    import torch

    from collop.kinetic.diagnostics import gain_table_mean_s
    from collop.objectives.weak_form import WeakForm, WeakFormOptions
    from collop.objectives.weak_form_data import central_ranges
    from collop.operators.metriplectic import Metriplectic, MetriplecticOptions
    from collop.train import Stage, Trainer

    data = WeakForm.load(ds, TRAIN)
    uq, rq = central_ranges(data)
    uu, rr = np.linspace(*uq, 24), np.linspace(*rq, 24)
    op = Metriplectic.from_options(MetriplecticOptions(model="cm2"), data)
    obj = WeakForm(WeakFormOptions(pairs=pairs))
    state = {"prev": None, "calm": 0, "t0": time.perf_counter(), "done": None, "log": []}
    stop = {"flag": False}

    def cb(ev):
        if ev.get("event") != "epoch" or (ev["epoch"] + 1) % check:
            return
        with torch.no_grad():
            Mr, Ms = gain_table_mean_s(op.kernel, uu, rr)
        cur = np.stack([Mr, Ms])
        change = math.inf if state["prev"] is None else float(np.max(np.abs(cur / state["prev"] - 1)))
        state["prev"] = cur
        state["calm"] = state["calm"] + 1 if change < tol else 0
        wall = time.perf_counter() - state["t0"]
        ratio = float(np.median(Mr / Ms))
        state["log"].append({"step": ev["epoch"] + 1, "wall_s": wall, "loss": ev["loss"], "change": change,
                             "median_gr2_over_gs2": ratio})
        print(f"  step {ev['epoch'] + 1:6d}  {wall:7.1f} s  loss {ev['loss']: .3e}  max change {change:.3f}  "
              f"median E_s[g_r^2]/E_s[g_s^2] {ratio:.3f}", flush=True)
        if state["calm"] >= 2 and state["done"] is None:
            state["done"] = {"steps": ev["epoch"] + 1, "wall_s": wall}
            stop["flag"] = True

    Trainer([Stage(1, 0.01, max_steps)], objective=obj, callback=cb, stop=lambda: stop["flag"],
            snapshot_every=0, checkpoint_every=0).fit(op, data)
    return {"converged": state["done"], "log": state["log"], "u_range": [float(uu[0]), float(uu[-1])],
            "r_range": [float(rr[0]), float(rr[-1])]}


def bench_solver(n, steps):
    import torch

    from collop.kinetic.kernels import CM1Kernel, CM2Kernel, LandauKernel
    from collop.kinetic.solver import CollisionSolver

    v0 = np.random.default_rng(0).normal(size=(n, 3)) * np.sqrt([2.0, 0.5, 0.5])
    out = {}
    for kernel in (LandauKernel(1.0), CM1Kernel(1.0, 1.0, seed=1), CM2Kernel(1.0, 1.0, seed=2)):
        row = {}
        for backend in ("auto", "torch") if kernel.isotropic else ("auto",):
            solver = CollisionSolver(kernel, seed=0)
            solver.backend = backend
            v = torch.as_tensor(v0).clone()
            dt = solver.auto_dt(v)
            vbar = v.mean(0)
            solver.step(v, dt, vbar)
            row[backend] = _timed(lambda: solver.step(v, dt, vbar), steps)
        out[kernel.model] = row
        wf, cf = row["auto"]
        line = f"  {kernel.model:7s} {1 / wf:6.1f} steps/s (CPU {1e3 * cf:6.1f} ms/step)"
        if "torch" in row:
            wt, ct = row["torch"]
            line += f"   PyTorch {1 / wt:6.1f} steps/s (CPU {1e3 * ct:6.1f} ms/step)   CPU speed-up x{ct / cf:.2f}"
        print(line, flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    ap.add_argument("--max-train-steps", type=int, default=20_000)
    ap.add_argument("--check", type=int, default=500)
    ap.add_argument("--tol", type=float, default=0.02)
    ap.add_argument("--n-solver", type=int, default=100_000)
    ap.add_argument("--skip-converge", action="store_true")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    import numba
    import torch

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"commit {commit}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    ds, what = _data(args.data)
    print(f"data: {what}")
    res = {"commit": commit, "threads": args.threads, "pairs": args.pairs, "data": what}
    print(f"1. weak-form training steps at P = {args.pairs}:")
    res["steps"] = bench_steps(ds, args.pairs, args.steps)
    if not args.skip_converge:
        print(f"2. CM2 to convergence (checks every {args.check} steps, tolerance {args.tol}):")
        res["converge"] = bench_converge(ds, args.pairs, args.max_train_steps, args.check, args.tol)
        c = res["converge"]["converged"]
        print(f"  converged after {c['steps']} steps, {c['wall_s']:.0f} s" if c else "  not converged")
    print(f"3. particle-solver steps at N = {args.n_solver}:")
    res["solver"] = bench_solver(args.n_solver, max(3, args.steps // 2))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
