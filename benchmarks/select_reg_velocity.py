"""Choose the speed-smoothness weight lambda_v of PS-Tensor by cross-validation.

The truth is not used to choose. For every lambda_v in ``--lambdas`` and every
training population P, a PS-Tensor operator (Table-2 curriculum, N_t from
``--nt``) is trained on the other training populations and scored by its
rollout error (DESIGN section 4) on P, which it has not seen. The lambda_v with
the lowest held-out error over the folds is chosen: by the arithmetic mean
(``--aggregate mean``, the default), or by the geometric mean (``geometric``),
which weighs every fold alike instead of by its noise floor (a wide population
such as the full uniform box has a rollout MAE ~50x a narrow one's). The
operator is then trained on all training populations with it and, because
this is the known-truth Langevin set, scored against the truth (coefficients
and test rollout), which is the only place the truth enters. ``--finals all`` also trains and scores the
other values on all training populations, to show what the choice gains.

Usage::

    python benchmarks/select_reg_velocity.py [--data data/langevin.nc]
        [--lambdas 0,1e-3,1e-2,1e-1] [--nt 25] [--workers 2] [--finals chosen|all]
        [--aggregate mean|geometric] [--train A,B,..] [--test C,..] [--save DIR] [--json FILE]

Each training runs in its own process with one torch/numba thread; ``--workers``
run at the same time. With 5 training populations and 4 values that is 20
trainings plus the final one(s).
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from langevin_data import TEST, TRAIN  # noqa: E402


def _job(args):
    """Train on ``train`` with ``lam``; return the rollout error on ``score`` (and truth errors)."""
    data, lam, nt, train, score, truth_scores, curriculum, save = args
    import torch

    from collop._stencil_kernels import set_kernel_threads
    from collop.data import Record
    from collop.grid import VelocityGrid
    from collop.io import open_dataset
    from collop.metrics import coefficient_error, evaluate, speed_support
    from collop.operators import FokkerPlanck
    from collop.sim.langevin import default_truth, truth_operator_dataset
    from collop.train import Trainer

    torch.set_num_threads(1)
    set_kernel_threads(1)
    ds = open_dataset(data, "phasespace")
    grid, times = VelocityGrid.from_dataset(ds), ds["time"].values
    op = FokkerPlanck.build("tensor", grid, times, nt=nt, velocity_units=ds.attrs["velocity_units"],
                            time_units=ds.attrs["time_units"])
    t0 = time.perf_counter()
    Trainer(curriculum, reg_velocity=lam, seed=0, snapshot_every=0, checkpoint_every=0).fit(
        op, Record.from_dataset(ds, train))
    op_ds = op.to_dataset(grid, times)
    out = {"lambda_v": lam, "train": train, "score": score, "seconds": time.perf_counter() - t0,
           "rollout": evaluate(op_ds, ds, score)}
    if save:
        from collop.io import write_dataset
        write_dataset(op_ds, Path(save) / f"ps-tensor-lambda_v-{lam:g}.nc")
    if truth_scores:
        truth = truth_operator_dataset(default_truth(), ds)
        out["truth_rollout"] = evaluate(truth, ds, score)
        out["coef_rel_l2"] = coefficient_error(op_ds, truth, speed_support(ds, "all", min_fraction=1e-3))
    return out


def _aggregate(errors, how: str) -> float:
    """The folds' held-out errors combined into one score (lower is better)."""
    if how == "geometric":
        return math.exp(sum(math.log(e) for e in errors) / len(errors))
    return sum(errors) / len(errors)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"))
    p.add_argument("--lambdas", default="0,1e-3,1e-2,1e-1")
    p.add_argument("--nt", type=int, default=25)
    p.add_argument("--curriculum", default="ps-tensor")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--finals", choices=("chosen", "all"), default="chosen",
                   help="train on all training populations with the chosen lambda_v only, or with every one")
    p.add_argument("--save", default=None, help="folder for the final operator file(s)")
    p.add_argument("--train", default=",".join(TRAIN),
                   help="training populations (default: Table 4's N_train = 5 set); one fold per population")
    p.add_argument("--test", default=",".join(TEST), help="test populations of the final training(s)")
    p.add_argument("--aggregate", choices=("mean", "geometric"), default="mean",
                   help="how the held-out errors of the folds are combined (default: arithmetic mean)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    train, test = a.train.split(","), a.test.split(",")
    if a.save:
        Path(a.save).mkdir(parents=True, exist_ok=True)
    lams = [float(x) for x in a.lambdas.split(",")]
    folds = [(a.data, lam, a.nt, [q for q in train if q != held], [held], False, a.curriculum, None)
             for lam in lams for held in train]
    t0 = time.perf_counter()

    def report(r):
        kind = "final" if "coef_rel_l2" in r else f"held out {r['score'][0]}"
        print(f"  lambda_v {r['lambda_v']:g} {kind}: rollout MAE {r['rollout']['rollout_mae']:.4e} "
              f"({r['seconds']:.0f} s)", flush=True)

    with mp.get_context("spawn").Pool(a.workers) as pool:
        results = []
        for r in pool.imap_unordered(_job, folds):
            results.append(r)
            report(r)
        cv = {lam: [r["rollout"]["rollout_mae"] for r in results if r["lambda_v"] == lam] for lam in lams}
        score = {lam: _aggregate(cv[lam], a.aggregate) for lam in lams}
        best = min(lams, key=score.get)
        finals = [(a.data, lam, a.nt, train, test, True, a.curriculum, a.save)
                  for lam in (lams if a.finals == "all" else [best])]
        for r in pool.imap_unordered(_job, finals):
            results.append(r)
            report(r)
    print(f"{len(results)} trainings in {time.perf_counter() - t0:.0f} s with {a.workers} worker(s)")
    print(f"\n{'lambda_v':>9s} {f'held-out MAE x1e3 ({a.aggregate} over folds)':>41s}   "
          "all training populations: A_par  D_par  D_perp  test/truth")
    for lam in lams:
        line = f"{lam:9.0e} {1e3 * score[lam]:41.4f}{' <- chosen' if lam == best else '          '}"
        fin = next((r for r in results if r["lambda_v"] == lam and "coef_rel_l2" in r), None)
        if fin is not None:
            e = fin["coef_rel_l2"]
            ratio = fin["rollout"]["rollout_mae"] / fin["truth_rollout"]["rollout_mae"]
            line += f"  {e['A_par']:.3f}  {e['D_par']:.3f}  {e['D_perp']:.3f}  {ratio:.3f}"
        print(line, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"chosen": best, "aggregate": a.aggregate,
                                            "cv": {str(k): v for k, v in cv.items()},
                                            "results": results}, indent=2))
    return best, results


if __name__ == "__main__":
    main()
