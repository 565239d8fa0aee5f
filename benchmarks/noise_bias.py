"""Noise bias of the phase-space method: where does the loss pull the true operator?

Starts a PS-Tensor operator (N_t = 13) *at the true operator* of the Langevin
set and trains it on the training populations for a few hundred epochs at a
fixed unroll length N_u. An unbiased loss leaves it near the truth; a biased
one moves it. Prints the relative L2 errors of A_par, D_par, D_perp against
the truth (speeds holding >= 1e-3 of the particles), the median ratio
learned/true of each coefficient in speed bands, and the test rollout error
relative to the true operator's.

Compare plain histograms (ngp) with particle-shape deposits (tsc) of the same
particles, with and without Gaussian smoothing of the frames:

    python benchmarks/langevin_data.py /tmp/lv --deposit ngp   # and --deposit tsc
    python benchmarks/noise_bias.py --data /tmp/lv/phasespace.nc,data/langevin.nc --nu 1,10 --smooth 0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from collop.solvers import set_kernel_threads  # noqa: E402
from collop.data import Record  # noqa: E402
from collop.grid import VelocityGrid  # noqa: E402
from collop.io import open_dataset  # noqa: E402
from collop.metrics import coefficient_error, evaluate, speed_support  # noqa: E402
from collop.operators import FokkerPlanck  # noqa: E402
from collop.sim.langevin import default_truth, truth_operator_dataset  # noqa: E402
from collop.train import Trainer  # noqa: E402
from langevin_data import TEST, TRAIN  # noqa: E402

BANDS = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5))


def pull(data: str, nu: int, smooth: float, epochs: int, lr: float, nt: int) -> dict:
    ds = open_dataset(data, "phasespace")
    grid, times = VelocityGrid.from_dataset(ds), ds["time"].values
    truth = truth_operator_dataset(default_truth(), ds)
    op = FokkerPlanck.build("tensor", grid, times, nt=nt, velocity_units=ds.velocity_units,
                            time_units=ds.time_units)
    sn, tn = op.field.nodes(0).numpy(), op.field.time_nodes.numpy()
    A, Dp, Dq = default_truth().coefficients(sn[None, :], tn[:, None])
    with torch.no_grad():
        op.field.values.copy_(torch.as_tensor(np.stack([A, Dp, Dq], -1) / op.scales.numpy()))
    Trainer([(nu, lr, epochs)], snapshot_every=0, checkpoint_every=0).fit(
        op, Record.from_dataset(ds, TRAIN, smooth=smooth))
    out = op.to_dataset(grid, times)
    err = coefficient_error(out, truth, speed_support(ds, "all", min_fraction=1e-3))
    ratio = {}
    for c in ("A_par", "D_par", "D_perp"):
        ref = truth[c].interp(time=out.time, speed=out.speed).values
        r = out[c].values / np.where(np.abs(ref) > 0, ref, np.nan)
        ratio[c] = [float(np.nanmedian(r[:, (out.speed.values >= lo) & (out.speed.values < hi)]))
                    for lo, hi in BANDS]
    test = evaluate(out, ds, TEST)["rollout_mae"] / evaluate(truth, ds, TEST)["rollout_mae"]
    return {"err": err, "ratio": ratio, "test_ratio": test, "deposit": ds.attrs.get("deposit", "ngp")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"),
                   help="comma-separated phase-space files of the Langevin set")
    p.add_argument("--nu", default="1,10", help="unroll lengths")
    p.add_argument("--smooth", default="0", help="Gaussian smoothing of the frames, in bins")
    p.add_argument("--epochs", type=int, default=200, help="epochs at N_u = 1 (half that for longer unrolls)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--nt", type=int, default=13)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    set_kernel_threads(a.threads)
    print("deposit smooth N_u | rel. L2 A_par D_par D_perp | D_par/true by speed band 0-1 .. 4-5 | "
          "D_perp/true by band | test rollout / truth")
    for data in a.data.split(","):
        for sigma in (float(s) for s in a.smooth.split(",")):
            for nu in (int(n) for n in a.nu.split(",")):
                r = pull(data, nu, sigma, a.epochs if nu == 1 else a.epochs // 2, a.lr, a.nt)
                e = r["err"]
                print(f"{r['deposit']:4s} {sigma:4g} {nu:3d} | {e['A_par']:.3f} {e['D_par']:.3f} {e['D_perp']:.3f} | "
                      + " ".join(f"{x:.2f}" for x in r["ratio"]["D_par"]) + " | "
                      + " ".join(f"{x:.2f}" for x in r["ratio"]["D_perp"]) + f" | {r['test_ratio']:.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
