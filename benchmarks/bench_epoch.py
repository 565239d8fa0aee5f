"""Cost of one training epoch on the Langevin set, by unroll length, optionally against a baseline commit.

Times ``--epochs`` full-batch epochs (forward, adjoint, Adam step; the 5
training populations x 121 frames x 51 x 51) after ``--warmup`` epochs that
compile the kernels, for each ``N_u`` in ``--nu``. The timed code is only
``FokkerPlanck.build``, ``Record.from_dataset`` and
``Trainer(stages, snapshot_every=0, checkpoint_every=0).fit(op, rec)``.

With ``--baseline REF`` the ``collop/`` package of commit ``REF`` is
extracted (``git archive``) into a temporary folder, and ``--rounds`` rounds
alternate timing runs of the baseline and of this tree, each in a fresh
subprocess with ``PYTHONPATH`` pointing at its tree (the order flips every
round, so drift in the machine's load hits both alike). It prints every
run's wall and CPU ms per epoch, per tree the median wall and CPU times and
the smallest CPU time over the rounds, and the ratios this tree / baseline.
On a shared machine the CPU time is the steadier figure, and its minimum
the run least disturbed by other processes (cache and memory contention
still inflate CPU time).

Usage: python benchmarks/bench_epoch.py [--model tensor|nn] [--nu 1,10] [--threads 1]
       [--epochs 50] [--warmup 30] [--baseline REF] [--rounds 3]
Example: python benchmarks/bench_epoch.py --threads 1 --baseline 93f24e3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _time_epochs(data: str, model: str, nt: int, nus: list[int], threads: int, epochs: int, warmup: int,
                 populations: list[str]) -> dict[int, tuple[float, float]]:
    """(wall, CPU) ms per epoch for each ``N_u``, with whichever ``collop`` is importable.

    The CPU time (``time.process_time``, all threads of the process) is what a
    loaded, shared machine disturbs least: waiting for a core does not count.
    """
    import numba
    import torch

    from collop.data import Record
    from collop.grid import VelocityGrid
    from collop.io import open_dataset
    from collop.operators import FokkerPlanck
    from collop.train import Trainer

    torch.set_num_threads(threads)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    ds = open_dataset(data, "phasespace")
    grid, times = VelocityGrid.from_dataset(ds), ds["time"].values
    rec = Record.from_dataset(ds, populations)
    op = FokkerPlanck.build(model, grid, times, nt=nt if model == "tensor" else None)
    out = {}
    for nu in nus:
        kw = dict(snapshot_every=0, checkpoint_every=0)
        Trainer([(nu, 1e-3, warmup)], **kw).fit(op, rec)
        t, c = time.perf_counter(), time.process_time()
        Trainer([(nu, 1e-3, epochs)], **kw).fit(op, rec)
        out[nu] = ((time.perf_counter() - t) / epochs * 1e3, (time.process_time() - c) / epochs * 1e3)
    return out


def _worker(a) -> None:
    import collop
    res = _time_epochs(a.data, a.model, a.nt, a.nus, a.threads, a.epochs, a.warmup, a.populations)
    print(json.dumps({"collop": str(Path(collop.__file__).parent), "ms": res}), flush=True)


def _run_tree(tree: Path, a) -> dict[int, tuple[float, float]]:
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_NUM_THREADS=str(max(a.threads, 1)),
               OMP_NUM_THREADS=str(a.threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--data", a.data, "--model", a.model,
           "--nt", str(a.nt), "--nu", a.nu, "--threads", str(a.threads), "--epochs", str(a.epochs),
           "--warmup", str(a.warmup), "--populations", ",".join(a.populations)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if p.returncode:
        raise SystemExit(f"bench_epoch: the run on {tree} failed:\n{p.stderr[-2000:]}")
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    if Path(rec["collop"]).resolve() != (tree / "collop").resolve():
        raise SystemExit(f"bench_epoch: the run meant for {tree} imported {rec['collop']}")
    return {int(k): tuple(v) for k, v in rec["ms"].items()}


def _compare(a) -> None:
    ref = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", a.baseline], check=True,
                         capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "collop"],
                           capture_output=True, text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="bench_epoch_"))
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "collop"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        trees = {f"baseline {ref}": tmp, f"this tree {head}{' +changes' if dirty else ''}": ROOT}
        names = list(trees)
        runs = {n: [] for n in names}
        print(f"{a.model}, {a.threads} thread(s), {a.epochs} timed epochs after {a.warmup} warm-up, "
              f"{a.rounds} rounds", flush=True)
        for k in range(a.rounds):
            for n in (names if k % 2 == 0 else names[::-1]):
                res = _run_tree(trees[n], a)
                runs[n].append(res)
                print(f"  round {k + 1} {n:28s} " + "  ".join(f"N_u {nu:3d}: {w:7.1f} ms wall {c:7.1f} ms CPU"
                                                            for nu, (w, c) in res.items()), flush=True)
        print("ms per epoch over the rounds (ratio = this tree / baseline):")
        for nu in a.nus:
            for j, what, stat in ((0, "wall median", statistics.median), (1, "CPU median", statistics.median),
                                  (1, "CPU min", min)):
                v = [stat(r[nu][j] for r in runs[n]) for n in names]
                print(f"  N_u {nu:3d} {what:11s}: baseline {v[0]:7.1f}  this tree {v[1]:7.1f}  "
                      f"ratio {v[1] / v[0]:.3f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT / "data" / "langevin.nc"))
    p.add_argument("--model", default="tensor", choices=("tensor", "nn"))
    p.add_argument("--nt", type=int, default=25)
    p.add_argument("--nu", default="1,10")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--baseline", metavar="REF", help="git commit to compare against in the same run")
    p.add_argument("--rounds", type=int, default=3, help="alternating runs per tree with --baseline")
    p.add_argument("--populations", help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.data = str(Path(a.data).resolve())
    a.nus = [int(x) for x in a.nu.split(",")]
    if a.worker:                       # collop comes from PYTHONPATH: the tree being timed
        a.populations = a.populations.split(",")
        return _worker(a)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from langevin_data import TRAIN
    a.populations = TRAIN
    if a.baseline:
        return _compare(a)
    res = _time_epochs(a.data, a.model, a.nt, a.nus, a.threads, a.epochs, a.warmup, a.populations)
    for nu, (w, c) in res.items():
        print(f"{a.model} N_u {nu:3d}: {w:7.1f} ms wall, {c:7.1f} ms CPU per epoch ({a.threads} thread(s), "
              f"{a.epochs} epochs)", flush=True)


if __name__ == "__main__":
    main()
