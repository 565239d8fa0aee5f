"""Time integrators of the rollout objective, side by side in one run (issue #13).

Each configuration trains the same operator on the same data through
:func:`collop.pipeline.run` and prints, per configuration:

* stencil applications per frame (sub-steps x stages; forward Euler: sub-steps),
  mean and max over frames, at the first and the last epoch;
* mean epoch time (wall and CPU) at N_u = 1 (stage 1) and at the last stage's N_u;
* the full-curriculum wall and CPU time;
* ``rollout_l1_rel`` and ``rollout_mae`` of the test populations.

Configurations (``--configs``): ``euler-gershgorin`` (forward Euler with the
Gershgorin bound: the solver before issue #13, the baseline), ``euler-spectral``
(forward Euler, counts from the Ritz values, the default: re-estimated every 10
epochs or when a frame's Gershgorin count grows), ``euler-spectral-every`` (the
same, estimated every epoch), ``rkl2`` (RKL2 super-time-stepping), ``euler-1``
(one Euler step per frame, as in the paper).

Cases (``--case``):

``sim1``
    ``data/sim1.nc``, PS-Tensor (full symmetry, one time node per frame) on the
    five Table-4 training populations, tested on all twelve; Table-2 curriculum.
``sim3``
    The real-data stand-in: 2 populations (``normal_0_0``, ``normal_1_0``) x the
    first 96 frames x 51 x 51 of ``data/sim3_split.nc`` (Delta t omega_p = 1),
    ``--model tensor --symmetry full --nt 1``, Table-2 curriculum, trained and
    tested on both.

With ``--operator OP.nc`` no training runs: the epochs of every configuration
are timed on that (trained) operator instead, at N_u = 1 and 10 (loss and
gradient, ``--repeats`` each), and its test rollouts are scored with each
integrator. This compares the integrators where the learned coefficients have
grown the counts, without training each one for the full curriculum.

Usage::

    python benchmarks/bench_integrator.py --case sim3 --threads 1 \\
        [--configs euler-gershgorin,euler-spectral,rkl2] [--curriculum SPEC] [--json OUT]
    python benchmarks/bench_integrator.py --case sim1 --operator RUN/operator.nc --threads 2
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collop.io import open_dataset, write_dataset  # noqa: E402
from collop.pipeline import TrainSpec, run  # noqa: E402

CONFIGS = {
    "euler-gershgorin": {"integrator": "euler", "stability": "gershgorin"},
    "euler-spectral": {"integrator": "euler", "stability": "spectral"},
    "euler-spectral-every": {"integrator": "euler", "stability": "spectral", "estimate_every": 1},
    "rkl2": {"integrator": "rkl2"},
    "euler-1": {"integrator": "euler", "substeps": 1},
}
SIM1_TRAIN = ("uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0")
SIM3_POPS = ("normal_0_0", "normal_1_0")


def case_data(case: str, tmp: Path):
    """(data file, train populations, family options) of a case."""
    if case == "sim1":
        return ROOT / "data" / "sim1.nc", SIM1_TRAIN, {"model": "tensor", "symmetry": "full"}
    ds = open_dataset(ROOT / "data" / "sim3_split.nc", "phasespace")
    sub = ds.sel(population=list(SIM3_POPS)).isel(time=slice(0, 96))
    path = tmp / "sim3_2pop_96.nc"
    write_dataset(sub, path)
    return path, SIM3_POPS, {"model": "tensor", "symmetry": "full", "nt": 1}


def train_one(name: str, data, train, options, curriculum, threads: int, out: Path) -> dict:
    epochs = []

    def cb(ev):
        if ev.get("event") == "epoch":
            epochs.append({k: ev.get(k) for k in ("stage", "epoch", "n_substeps", "mean_substeps", "estimated_frames",
                                                  "seconds")}
                          | {"cpu": time.process_time()})

    spec = TrainSpec(data=str(data), train=train, out=str(out), options=options,
                     objective=CONFIGS[name], curriculum=curriculum, threads=threads)
    c0, t0 = time.process_time(), time.perf_counter()
    res = run(spec, callback=cb)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = res.metrics
    stages = sorted({e["stage"] for e in epochs})

    def per_epoch(stage):
        ev = [e for e in epochs if e["stage"] == stage]
        idx = epochs.index(ev[0])
        prev = epochs[idx - 1] if idx > 0 else {"seconds": 0.0, "cpu": c0}
        n = len(ev)
        return {"wall_s": round((ev[-1]["seconds"] - prev["seconds"]) / n, 4),
                "cpu_s": round((ev[-1]["cpu"] - prev["cpu"]) / n, 4), "epochs": n,
                "applications_mean": round(float(np.mean([e["mean_substeps"] for e in ev])), 2),
                "applications_max": int(max(e["n_substeps"] for e in ev))}

    return {"config": name, **CONFIGS[name], "status": res.status,
            "epochs": len(epochs), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "estimated_frames": epochs[-1].get("estimated_frames") if epochs else None,
            "first_epoch_applications": [epochs[0]["mean_substeps"], epochs[0]["n_substeps"]] if epochs else None,
            "last_epoch_applications": [epochs[-1]["mean_substeps"], epochs[-1]["n_substeps"]] if epochs else None,
            "stage_first": per_epoch(stages[0]) if stages else None,
            "stage_last": per_epoch(stages[-1]) if stages else None,
            "rollout_l1_rel": m.get("rollout_l1_rel"), "rollout_mae": m.get("rollout_mae"),
            "rollout_negative_mass": m.get("rollout_negative_mass"), "best_loss": m.get("best_loss"),
            "run": str(out)}


def time_operator(name: str, data, train, op_file, repeats: int) -> dict:
    """Epoch time of configuration ``name`` on a trained operator (no training), and its scores."""
    from collop.metrics import as_operator
    from collop.objectives import RolloutMAE
    from collop.objectives.rollout import RolloutOptions
    from collop.train import Stage

    ds = open_dataset(data, "phasespace")
    op_ds = open_dataset(op_file, "operator")
    op = as_operator(op_ds, ds)
    obj = RolloutMAE(RolloutOptions(**CONFIGS[name]))
    obj.prepare(RolloutMAE.load(ds, list(train)))
    row = {"config": name, **CONFIGS[name]}
    for nu in (1, 10):
        obj.loss(op, Stage(nu, 1e-2, 1))[0].backward()            # warm-up (compilation, padded record)
        cpu, wall, apps = [], [], None
        for _ in range(repeats):
            op.zero_grad()
            c0, t0 = time.process_time(), time.perf_counter()
            loss, info = obj.loss(op, Stage(nu, 1e-2, 1))
            loss.backward()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
            apps = info
        row[f"nu{nu}"] = {"cpu_s": round(float(np.median(cpu)), 4), "wall_s": round(float(np.median(wall)), 4),
                          "applications_mean": round(apps["mean_substeps"], 2),
                          "applications_max": apps["n_substeps"], "loss": float(loss)}
    c0 = time.process_time()
    m = RolloutMAE.evaluate(op_ds, ds, [str(p) for p in ds["population"].values], RolloutOptions(**CONFIGS[name]))
    row.update(rollout_l1_rel=m["rollout_l1_rel"], rollout_mae=m["rollout_mae"],
               rollout_negative_mass=m["rollout_negative_mass"], evaluate_cpu_s=round(time.process_time() - c0, 2))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", choices=["sim1", "sim3"], required=True)
    p.add_argument("--configs", default="euler-gershgorin,euler-spectral,rkl2")
    p.add_argument("--curriculum", default="ps-tensor", help="default Table 2 (ps-tensor)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", default=None, metavar="DIR", help="keep the run folders here")
    p.add_argument("--json", default=None, metavar="OUT")
    p.add_argument("--operator", default=None, metavar="OP.nc", help="time epochs on this operator (no training)")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    import torch

    from collop.solvers import set_kernel_threads
    torch.set_num_threads(a.threads)
    set_kernel_threads(a.threads)
    rows = []
    if a.operator:
        with tempfile.TemporaryDirectory() as td:
            data, train, _ = case_data(a.case, Path(td))
            for name in a.configs.split(","):
                rows.append(time_operator(name, data, train, a.operator, a.repeats))
                print(json.dumps(rows[-1]), flush=True)
        base = rows[0]
        print(f"\n{'config':18s} {'apps N_u=1':>10s} {'apps N_u=10':>11s} {'cpu N_u=1':>10s} {'cpu N_u=10':>10s} "
              f"{'ratio N_u=10':>12s} {'l1_rel':>8s} {'MAE':>9s}")
        for r in rows:
            print(f"{r['config']:18s} {r['nu1']['applications_mean']:>10.2f} {r['nu10']['applications_mean']:>11.2f} "
                  f"{r['nu1']['cpu_s']:>9.3f}s {r['nu10']['cpu_s']:>9.3f}s "
                  f"{base['nu10']['cpu_s'] / r['nu10']['cpu_s']:>12.2f} {r['rollout_l1_rel']:>8.4f} {r['rollout_mae']:>9.3e}")
        if a.json:
            Path(a.json).write_text(json.dumps({"case": a.case, "operator": a.operator, "rows": rows}, indent=1))
        return
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(a.keep) if a.keep else Path(td)
        tmp.mkdir(parents=True, exist_ok=True)
        data, train, options = case_data(a.case, tmp)
        for name in a.configs.split(","):       # compile every kernel first: no configuration pays for it
            train_one(name, data, train, options, "1:1e-2:1,2:1e-2:1", a.threads, tmp / f"warmup-{name}")
        for name in a.configs.split(","):
            row = train_one(name, data, train, options, a.curriculum, a.threads, tmp / f"{a.case}-{name}")
            rows.append(row)
            print(json.dumps(row), flush=True)
    base = rows[0]
    print(f"\n{'config':18s} {'apps/frame (first, last epoch)':>30s} {'epoch N_u=1':>12s} {'epoch last':>11s} "
          f"{'total wall':>10s} {'total cpu':>10s} {'l1_rel':>8s} {'MAE':>9s} {'cpu ratio':>9s}")
    for r in rows:
        fa, la = r["first_epoch_applications"], r["last_epoch_applications"]
        print(f"{r['config']:18s} {f'{fa[0]:.1f}/{fa[1]} -> {la[0]:.1f}/{la[1]}':>30s} "
              f"{r['stage_first']['cpu_s']:>11.3f}s {r['stage_last']['cpu_s']:>10.3f}s {r['wall_s']:>9.0f}s "
              f"{r['cpu_s']:>9.0f}s {r['rollout_l1_rel'] or float('nan'):>8.4f} {r['rollout_mae'] or float('nan'):>9.3e} "
              f"{base['cpu_s'] / r['cpu_s']:>9.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"case": a.case, "threads": a.threads, "curriculum": a.curriculum,
                                            "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
