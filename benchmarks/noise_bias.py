"""Noise bias of the phase-space method: raw versus smoothed training frames.

Trains PS-Tensor (N_t = 13, stage 1 of Table 2 for 300 epochs) on the Langevin
set's training populations, once on the raw histograms and once with the
frames smoothed by a Gaussian of one bin, and prints the relative L2 errors of
A_par, D_par, D_perp against the truth (speeds holding >= 1e-3 of the
particles) and the test rollout error relative to the true operator's.

Usage: python benchmarks/noise_bias.py [--data data/langevin.nc] [--smooth 0,1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from collop.data import Record  # noqa: E402
from collop.grid import VelocityGrid  # noqa: E402
from collop.io import open_dataset  # noqa: E402
from collop.metrics import coefficient_error, evaluate, speed_support  # noqa: E402
from collop.operators import FokkerPlanck  # noqa: E402
from collop.train import Trainer  # noqa: E402
from langevin_data import TEST, TRAIN  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"))
    p.add_argument("--truth", default=str(HERE.parent / "data" / "langevin_truth.nc"))
    p.add_argument("--smooth", default="0,1")
    p.add_argument("--curriculum", default="1:1e-2:300")
    p.add_argument("--nt", type=int, default=13)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    ds, truth = open_dataset(a.data, "phasespace"), open_dataset(a.truth, "operator")
    grid, times = VelocityGrid.from_dataset(ds), ds["time"].values
    support = speed_support(ds, "all", min_fraction=1e-3)
    true_err = evaluate(truth, ds, TEST)["rollout_mae"]
    for sigma in (float(s) for s in a.smooth.split(",")):
        op = FokkerPlanck.build("tensor", grid, times, nt=a.nt, velocity_units=ds.velocity_units,
                                time_units=ds.time_units)
        Trainer(a.curriculum, snapshot_every=0, checkpoint_every=0).fit(
            op, Record.from_dataset(ds, TRAIN, smooth=sigma))
        out = op.to_dataset(grid, times)
        err = coefficient_error(out, truth, support)
        ratio = evaluate(out, ds, TEST)["rollout_mae"] / true_err
        print(f"smooth {sigma:g} bins: " + ", ".join(f"{k} {v:.3f}" for k, v in err.items())
              + f"; test rollout / truth {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
