"""Choose PS-Tensor's regularisation on the Langevin set by cross-validation, and check it against the truth.

A thin wrapper of ``collop sweep select`` (:mod:`collop.sweep.select`): it
builds the selection spec below, runs it on a local dask cluster, and scores
the final operator's coefficients against the known truth (which plays no
part in the choice).

Candidates (``--candidates``, set before any of these runs, not tuned on the
truth): triples lambda_v:N_t:lambda_reg, i.e. ``penalties.reg_velocity`` (2nd
speed derivative), ``options.nt`` and ``penalties.reg`` (1st time
derivative). The default four are the unregularised N_t = 25 tensor, the
lambda_v = 1e-3 that the README's hand-picked runs favoured, and that value
with fewer time nodes (N_t = 5) or with a time penalty (lambda_reg = 1e-3).
Folds: every training population held out once. Rule: ``--aggregate``
(default geometric; see :mod:`collop.sweep.select` for why). ``--finals all``
(the default here) also trains every candidate on all training populations,
so the truth shows what each candidate would have given.

Usage::

    python benchmarks/select_reg_velocity.py --out DIR [--data data/langevin.nc]
        [--truth data/langevin_truth.nc] [--train A,B,..] [--test C,..]
        [--candidates 0:25:0,1e-3:25:0,1e-3:5:0,1e-3:25:1e-3] [--aggregate geometric|mean]
        [--finals all|chosen] [--workers 2] [--spec-only]

The same selection from the command line: write the spec (``--spec-only``
prints it) and run ``collop sweep select SPEC.json --out DIR --truth
data/langevin_truth.nc --workers 2``. With 5 training populations and 4
candidates that is 20 fold trainings plus 4 final ones; a rerun resumes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from langevin_data import TEST, TRAIN  # noqa: E402


def selection_spec(data, train, test, candidates, aggregate="geometric", finals="all",
                   curriculum=None) -> dict:
    """The selection spec: PS-Tensor with the (lambda_v, N_t, lambda_reg) candidates."""
    base = {"data": str(data), "train": list(train), "test": list(test), "family": "fokker_planck",
            "options": {"model": "tensor"}, "seed": 0, "threads": 1}
    if curriculum:
        base["curriculum"] = curriculum
    return {"name": "langevin regularisation", "base": base,
            "axes": {"penalties.reg_velocity": [c[0] for c in candidates],
                     "options.nt": [c[1] for c in candidates], "penalties.reg": [c[2] for c in candidates]},
            "mode": "zip",
            "aggregate": aggregate, "finals": finals}


def _candidates(text: str):
    out = []
    for part in text.split(","):
        lam, nt, reg = part.split(":")
        out.append((float(lam), int(nt), float(reg)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="the selection folder (required unless --spec-only)")
    p.add_argument("--data", default=str(HERE.parent / "data" / "langevin.nc"))
    p.add_argument("--truth", default=str(HERE.parent / "data" / "langevin_truth.nc"))
    p.add_argument("--train", default=",".join(TRAIN), help="training populations (default: Table 4's N_train = 5)")
    p.add_argument("--test", default=",".join(TEST), help="test populations of the final training(s)")
    p.add_argument("--candidates", default="0:25:0,1e-3:25:0,1e-3:5:0,1e-3:25:1e-3",
                   help="lambda_v:N_t:lambda_reg triples")
    p.add_argument("--curriculum", default=None, help="default: Table 2's ps-tensor")
    p.add_argument("--aggregate", choices=("geometric", "mean"), default="geometric")
    p.add_argument("--finals", choices=("chosen", "all"), default="all")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--spec-only", action="store_true", help="print the selection spec and exit")
    a = p.parse_args(argv)
    spec = selection_spec(a.data, a.train.split(","), a.test.split(","), _candidates(a.candidates),
                          a.aggregate, a.finals, a.curriculum)
    if a.spec_only:
        print(json.dumps(spec, indent=2))
        return 0
    if not a.out:
        p.error("--out is required")
    from collop.cli import main as collop_main

    spec_file = Path(a.out).with_suffix(".spec.json")
    spec_file.write_text(json.dumps(spec, indent=2) + "\n")
    print(f"spec: {spec_file}", flush=True)
    return collop_main(["sweep", "select", str(spec_file), "--out", a.out, "--truth", a.truth,
                        "--workers", str(a.workers)])


if __name__ == "__main__":
    sys.exit(main())
