"""Cost of one training epoch on the Langevin set, by unroll length.

Times ``--epochs`` full-batch epochs (forward, adjoint, Adam step; the 5
training populations x 121 frames x 51 x 51) after ``--warmup`` epochs that
compile the kernels, for each ``N_u`` in ``--nu``.

Usage: python benchmarks/bench_epoch.py [--model tensor|nn] [--nu 1,10] [--threads 2]
       [--epochs 50] [--warmup 30]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from langevin_data import TRAIN  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"))
    p.add_argument("--model", default="tensor", choices=("tensor", "nn"))
    p.add_argument("--nt", type=int, default=25)
    p.add_argument("--nu", default="1,10")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=30)
    a = p.parse_args(argv)

    import torch

    from collop._stencil_kernels import set_kernel_threads
    from collop.data import Record
    from collop.grid import VelocityGrid
    from collop.io import open_dataset
    from collop.operators import FokkerPlanck
    from collop.train import Trainer

    torch.set_num_threads(a.threads)
    set_kernel_threads(a.threads)
    ds = open_dataset(a.data, "phasespace")
    grid, times = VelocityGrid.from_dataset(ds), ds["time"].values
    rec = Record.from_dataset(ds, TRAIN)
    op = FokkerPlanck.build(a.model, grid, times, nt=a.nt if a.model == "tensor" else None)
    for nu in (int(x) for x in a.nu.split(",")):
        kw = dict(snapshot_every=0, checkpoint_every=0)
        Trainer([(nu, 1e-3, a.warmup)], **kw).fit(op, rec)
        t = time.perf_counter()
        Trainer([(nu, 1e-3, a.epochs)], **kw).fit(op, rec)
        ms = (time.perf_counter() - t) / a.epochs * 1e3
        print(f"{a.model} N_u {nu:3d}: {ms:7.1f} ms per epoch ({a.threads} thread(s), {a.epochs} epochs)",
              flush=True)


if __name__ == "__main__":
    main()
