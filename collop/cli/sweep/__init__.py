"""``collop sweep run|select|show``: many trainings on dask.distributed.

``collop sweep run SPEC --out DIR [--workers N | --scheduler ADDRESS] [--axis PATH=V1,V2 ...]``
    Run every point of a sweep spec (JSON or YAML; see :mod:`collop.sweep.grid`)
    that is not done yet. ``SPEC`` may also be a train spec or a run's
    ``run.json`` (the base, with ``--axis`` giving the grid), a data file with
    ``--train`` (the base built from flags), or a sweep folder (resume it).
``collop sweep select SPEC --out DIR [--aggregate geometric|mean] [--finals chosen|all] [--truth T.nc]``
    Choose a setting by cross-validation over the training populations and
    train it on all of them (:mod:`collop.sweep.select`).
``collop sweep show DIR [--by COL,..] [--metric NAME] [--json]``
    The points of a sweep folder, or their mean and spread grouped by columns.

Exit status: 0 every point done; 2 bad input (nothing written); 4 some points
failed (recorded in ``sweep.json`` with their errors); 130 stopped by Ctrl-C
or SIGTERM (running points stop after their epoch; rerun to resume).
"""
from __future__ import annotations

from .._common import positive_int, seed_type
from .commands import EXIT_INCOMPLETE, cmd_run, cmd_select, cmd_show

__all__ = ["add_parser", "cmd_run", "cmd_select", "cmd_show", "EXIT_INCOMPLETE"]


def _where_options(p) -> None:
    g = p.add_argument_group("where it runs")
    g.add_argument("--workers", type=positive_int, default=2, metavar="N",
                   help="worker processes of the local dask cluster, one thread each (default 2)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running dask scheduler (tcp://host:8786) or its scheduler file (.json), "
                        "e.g. one started by dask-jobqueue on SLURM; no local cluster is started")
    g.add_argument("--retries", type=int, default=1, metavar="N",
                   help="extra attempts of a point that raises an unexpected error (default 1)")


def _grid_options(p) -> None:
    g = p.add_argument_group("the base and the grid (added to SPEC's)")
    g.add_argument("--axis", action="append", default=[], metavar="PATH=V1,V2,..",
                   help="an axis of the grid (crossed with the others), e.g. options.nt=5,25 or seed=0,1,2; "
                        "values are JSON (numbers, true/false) or text")
    g.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="set_",
                   help="a field of the base train spec, e.g. options.model=tensor or penalties.reg=1e-5")
    g.add_argument("--train", default=None, metavar="A,B,..", help="training populations of the base")
    g.add_argument("--test", default=None, metavar="C,D,..", help="test populations of the base")
    g.add_argument("--family", default=None, metavar="NAME", help="operator family of the base (default fp)")
    g.add_argument("--curriculum", default=None, metavar="SPEC", help="curriculum of the base")
    g.add_argument("--seed", type=seed_type, default=None, help="seed of the base")


def add_parser(sub, common) -> None:
    sw = sub.add_parser("sweep", help="many trainings on dask.distributed (grids, cross-validated selection)",
                        description="Sweeps of trainings over a grid of settings, run on dask.distributed.")
    ssub = sw.add_subparsers(dest="sweep_command", metavar="{run,select,show}", parser_class=type(sw))
    ssub.required = True

    r = ssub.add_parser("run", parents=[common], help="run the points of a sweep not done yet",
                        description="Run a sweep: each point is a training in its own run folder inside "
                                    "--out; a rerun skips the points done.")
    r.add_argument("spec", metavar="SPEC", help="sweep spec (.json/.yaml), train spec or run.json (a base), "
                                                "a data file (with --train), or a sweep folder to resume")
    r.add_argument("--out", default=None, metavar="DIR", help="the sweep folder (default: SPEC if it is one)")
    _grid_options(r)
    _where_options(r)
    r.set_defaults(func=cmd_run, field_flags={"workers": "--workers", "scheduler": "--scheduler",
                                              "out": "--out", "retries": "--retries"})

    s = ssub.add_parser("select", parents=[common], help="choose a setting by cross-validation",
                        description="Hold out one training population at a time, score every candidate "
                                    "setting by its held-out rollout error, choose the best by the "
                                    "aggregate rule, and train it on all training populations.")
    s.add_argument("spec", metavar="SPEC", help="selection spec (.json/.yaml; a sweep spec whose axes are the "
                                                "candidates), a train spec, or a data file (with --train)")
    s.add_argument("--out", required=True, metavar="DIR", help="the selection folder")
    s.add_argument("--aggregate", choices=("geometric", "mean"), default=None,
                   help="how the folds' held-out errors combine (default geometric; see collop.sweep.select)")
    s.add_argument("--finals", choices=("chosen", "all"), default=None,
                   help="train the chosen candidate on all populations (default), or every candidate")
    s.add_argument("--truth", default=None, metavar="OP.nc",
                   help="a true operator: score the final coefficients against it (not used to choose)")
    _grid_options(s)
    _where_options(s)
    s.set_defaults(func=cmd_select, field_flags={"workers": "--workers", "scheduler": "--scheduler",
                                                 "out": "--out", "aggregate": "--aggregate",
                                                 "finals": "--finals"})

    w = ssub.add_parser("show", parents=[common], help="the points of a sweep folder",
                        description="Print the points of a sweep folder, or the mean and standard deviation "
                                    "of a metric grouped by columns (--by).")
    w.add_argument("folder", metavar="DIR")
    w.add_argument("--by", default=None, metavar="COL,..", help="group by these columns (e.g. options.k,options.scheme)")
    w.add_argument("--metric", default="rollout_mae", help="the metric (default rollout_mae)")
    w.add_argument("--json", action="store_true", help="print JSON records")
    w.set_defaults(func=cmd_show)
