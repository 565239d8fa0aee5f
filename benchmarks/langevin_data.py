"""Build the known-truth Langevin dataset used by the recovery tests and benchmarks.

Particles evolved by ``collop.sim.langevin.default_truth()`` from a mixture of
the populations below, then the populations are rejection-sampled at frame 0
and deposited with the tsc particle shape on a 51 x 51 grid over [-5, 5]^2
(units of 0.01c, as in the paper). The phase-space file is what ships as
``data/langevin.nc``.

Usage: python benchmarks/langevin_data.py OUTDIR [--per-component N] [--n N] [--frames F]
       [--deposit ngp|cic|tsc]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from collop.io import write_dataset
from collop.phasespace import build_phasespace
from collop.sim.langevin import default_truth, generate, truth_operator_dataset

TRAIN = ["uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0"]
TEST = ["normal_-2_-2", "normal_-2_0", "normal_rot45", "ring_1.0", "ring_1.5"]
POPULATIONS = TRAIN + TEST
#: The paper's Table 4, column N_train = 7 (Appendix D.4: the test error and the
#: spread of the learned coefficients plateau from 7 training populations on).
TRAIN_7 = TRAIN + ["normal_-2_-2", "normal_-2_0"]
TEST_7 = [p for p in POPULATIONS if p not in TRAIN_7]


def build(out: Path, per_component: int = 400_000, n: int = 300_000, frames: int = 120,
          seed: int = 0, progress: bool = True, deposit: str = "tsc"):
    out.mkdir(parents=True, exist_ok=True)
    truth = default_truth()
    t = time.perf_counter()
    parts = generate(truth, POPULATIONS, n_particles=per_component * len(POPULATIONS),
                     n_frames=frames, seed=seed, progress=progress)
    print(f"generate: {time.perf_counter() - t:.1f} s", flush=True)
    write_dataset(parts, out / "particles.nc", compress=None)
    t = time.perf_counter()
    ps = build_phasespace(parts, POPULATIONS, n_bins=51, vmax=5.0, n_particles=n, seed=seed,
                          progress=progress, deposit=deposit)
    print(f"phasespace: {time.perf_counter() - t:.1f} s", flush=True)
    write_dataset(ps, out / "phasespace.nc")
    write_dataset(truth_operator_dataset(truth, ps), out / "truth.nc")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--per-component", type=int, default=400_000)
    p.add_argument("--n", type=int, default=300_000)
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deposit", default="tsc", choices=("ngp", "cic", "tsc"))
    a = p.parse_args()
    build(a.out, a.per_component, a.n, a.frames, a.seed, deposit=a.deposit)
