"""Benchmark: full Table-2 curricula for PS-Tensor and PS-NN on the Langevin set.

Prints, per model, the wall time and peak memory of training (by default the
5 training populations of the paper's main body, ~120 frames, 51 x 51), the
test rollout error next to the true operator's, and the relative L2 error of
the recovered coefficients. Each training is a job spec run by
:func:`collop.pipeline.run`, as from the command line or the app.

Usage: python benchmarks/bench_training.py [--data data/langevin.nc] [--threads 1]
       [--models tensor,nn] [--curriculum SPEC] [--nt N] [--smooth SIGMA] [--reg-velocity L]
       [--train A,B,..] [--test C,D,..] [--parallel] [--save DIR] [--json FILE]
Each model trains in its own process so peak memory is its own.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from langevin_data import TEST, TRAIN  # noqa: E402


def _train(model: str, data: str, threads: int, curriculum, smooth, save, nt, reg_velocity, train, test,
           queue):
    """One training through the pipeline (its own process, so its peak memory is its own)."""
    import tempfile

    from collop.io import open_dataset
    from collop.metrics import coefficient_error, evaluate, speed_support
    from collop.pipeline import TrainSpec, run
    from collop.sim.langevin import default_truth, truth_operator_dataset

    def progress(ev):
        if ev["event"] == "stage" or (ev["event"] == "epoch" and (ev["epoch"] + 1) % 100 == 0):
            print(f"  [{model}] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in ev.items() if k not in ("operator", "event")),
                  flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(save) / f"ps-{model}" if save else Path(tmp) / "run"
        spec = TrainSpec(data=data, train=train, test=test, out=str(out), threads=threads, seed=0,
                         options={"model": model, "nt": nt if model == "tensor" else None},
                         penalties={"reg_velocity": reg_velocity}, objective={"smooth": smooth},
                         curriculum=curriculum)
        t = time.perf_counter()
        result = run(spec, callback=progress)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        op_ds = open_dataset(out / "operator.nc", "operator")
        ds = open_dataset(data, "phasespace")
        truth = truth_operator_dataset(default_truth(), ds)
        sup = speed_support(ds, "all", min_fraction=1e-3)
        m = result.metrics
        queue.put({"model": model, "smooth": smooth, "nt": nt if model == "tensor" else None,
                   "reg_velocity": reg_velocity,
                   "threads": threads, "wall_s": wall, "peak_rss_mib": peak, "status": result.status,
                   "best_loss": m["best_loss"], "epochs": m["epochs"], "train": train, "test_populations": test,
                   "test": {k: m[k] for k in ("rollout_mae", "rollout_mae_std", "rollout_l1_rel")},
                   "truth_test": evaluate(truth, ds, test), "coef_rel_l2": coefficient_error(op_ds, truth, sup)})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", default="tensor,nn")
    p.add_argument("--curriculum", default=None)
    p.add_argument("--smooth", type=float, default=0.0,
                   help="Gaussian smoothing of the training record, in bins (default 0: the data as they are)")
    p.add_argument("--nt", type=int, default=None,
                   help="time nodes of the PS-Tensor operator (default: collop's default)")
    p.add_argument("--reg-velocity", type=float, default=0.0,
                   help="lambda_v of the speed-derivative penalty (default 0)")
    p.add_argument("--train", default=",".join(TRAIN),
                   help="training populations (default: Table 4's N_train = 5 set)")
    p.add_argument("--test", default=",".join(TEST), help="test populations (default: the other five)")
    p.add_argument("--save", default=None, help="folder for the learned operator files")
    p.add_argument("--parallel", action="store_true", help="train the models at the same time")
    p.add_argument("--json", default=None, help="also write the results here")
    a = p.parse_args(argv)
    ctx = mp.get_context("spawn")
    results = []
    models = a.models.split(",")
    if a.save:
        Path(a.save).mkdir(parents=True, exist_ok=True)
    q = ctx.Queue()
    procs = [ctx.Process(target=_train, args=(m, a.data, a.threads, a.curriculum, a.smooth, a.save, a.nt, a.reg_velocity,
                                                  a.train.split(","), a.test.split(","), q))
             for m in models]
    for i, proc in enumerate(procs):
        proc.start()
        if not a.parallel:
            results.append(q.get())
            proc.join()
    if a.parallel:
        results = [q.get() for _ in procs]
        for proc in procs:
            proc.join()
    print(f"train {a.train}; test {a.test}")
    print(f"data {a.data}; smooth {a.smooth} bins; PS-Tensor nt {a.nt}; lambda_v {a.reg_velocity}; {a.threads} thread(s) per model; "
          f"{'in parallel' if a.parallel else 'one after another'}")
    for r in results:
        model = r["model"]
        name = "PS-Tensor" if model == "tensor" else "PS-NN"
        print(f"{name:9s} wall {r['wall_s']:7.1f} s  peak RSS {r['peak_rss_mib']:7.0f} MiB  "
              f"epochs {r['epochs']}  status {r['status']}", flush=True)
        print(f"          test rollout MAE {r['test']['rollout_mae']:.4e} +- {r['test']['rollout_mae_std']:.1e}"
              f"  (true operator {r['truth_test']['rollout_mae']:.4e}, ratio "
              f"{r['test']['rollout_mae'] / r['truth_test']['rollout_mae']:.3f})", flush=True)
        print("          coefficient rel. L2: " + ", ".join(f"{k} {v:.3f}" for k, v in r["coef_rel_l2"].items()),
              flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
