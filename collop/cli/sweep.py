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

import json
import sys
from pathlib import Path

from ._common import EXIT_INTERRUPTED, EXIT_OK, UsageError, names, note, positive_int, seed_type

__all__ = ["add_parser", "cmd_run", "cmd_select", "cmd_show", "EXIT_INCOMPLETE"]

#: exit status of a sweep in which some points failed
EXIT_INCOMPLETE = 4


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


# -- building the spec from files and flags ---------------------------------------------------

def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pair(text: str, flag: str) -> tuple[str, str]:
    path, eq, value = text.partition("=")
    if not eq or not path.strip():
        raise UsageError(f"{flag} {text!r}: expected PATH=VALUE")
    return path.strip(), value


def _set(d: dict, path: str, value) -> None:
    root, dot, rest = path.partition(".")
    if dot:
        group = dict(d.get(root) or {})
        group[rest] = value
        d[root] = group
    else:
        d[root] = value


def _read(path: str):
    p = Path(path)
    if p.is_dir():
        for name in ("sweep.json", "selection.json"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise UsageError(f"{path}: a folder without sweep.json or selection.json")
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except Exception as exc:  # yaml.YAMLError
        raise UsageError(f"{path}: not YAML ({' '.join(str(exc).split())})") from None


def _spec(args) -> dict:
    """The sweep (or selection) spec as a dict: SPEC's, with the flags applied."""
    src = args.spec
    if src.endswith((".nc", ".h5", ".zarr")) or (Path(src).is_file() and Path(src).suffix in (".nc", ".h5")):
        if not args.train:
            raise UsageError(f"{src}: a data file needs --train (the base's training populations)")
        d = {"base": {"data": src}, "axes": {}}
    else:
        raw = _read(src)
        if not isinstance(raw, dict):
            raise UsageError(f"{src}: expected a JSON/YAML mapping, got {type(raw).__name__}")
        if isinstance(raw.get("spec"), dict) and ("points" in raw or "candidates" in raw):
            d = dict(raw["spec"])                                    # sweep.json / selection.json
        elif "base" in raw:
            d = dict(raw)
        elif isinstance(raw.get("spec"), dict) and "status" in raw:  # a run.json
            d = {"base": raw["spec"], "axes": {}}
        else:                                                        # a train spec
            d = {"base": raw, "axes": {}}
    base = d.get("base")
    if not isinstance(base, dict):
        raise UsageError(f"{src}: base: expected a train spec (a mapping)")
    base = dict(base)
    if args.train is not None:
        base["train"] = names(args.train)
    if args.test is not None:
        base["test"] = names(args.test)
    if args.family is not None:
        base["family"] = {"fp": "fokker_planck"}.get(args.family, args.family)
    if args.curriculum is not None:
        base["curriculum"] = args.curriculum
    if args.seed is not None:
        base["seed"] = args.seed
    if args.threads is not None:
        base["threads"] = args.threads
    for item in args.set_:
        path, value = _pair(item, "--set")
        _set(base, path, _value(value))
    d["base"] = base
    if args.axis:
        axes = d.get("axes", {})
        if isinstance(axes, dict) and d.get("mode", "product") == "product":
            axes = dict(axes)
            for item in args.axis:
                path, values = _pair(item, "--axis")
                axes[path] = [_value(v) for v in names(values)]
        else:
            groups = list(axes) if isinstance(axes, list) else [axes]
            d.pop("mode", None)
            for item in args.axis:
                path, values = _pair(item, "--axis")
                groups.append({path: [_value(v) for v in names(values)]})
            axes = groups
        d["axes"] = axes
    return d


# -- running with a progress bar --------------------------------------------------------------

class _Progress:
    """A tqdm bar over a sweep's points, fed by its events."""

    def __init__(self, args, desc: str):
        self.args, self.desc = args, desc
        self.bar = None
        self.running, self.failed = set(), 0

    def write(self, msg: str) -> None:
        if self.args.quiet:
            return
        if self.bar is not None:
            self.bar.write(f"collop: {msg}", file=sys.stderr)
        else:
            print(f"collop: {msg}", file=sys.stderr, flush=True)

    def __call__(self, ev: dict) -> None:
        from ._common import progress

        stage = ev.get("stage")
        label = f"{self.desc} {stage}" if stage else self.desc
        if ev.get("event") == "sweep" and ev.get("status") == "started":
            self.close()
            self.running, self.failed = set(), 0
            self.bar = progress(self.args, total=ev["n_points"], initial=ev["n_done"], desc=label, unit="point")
            if ev["n_done"]:
                self.write(f"{label}: {ev['n_done']} of {ev['n_points']} point(s) done already; "
                           f"running {ev['n_todo']} on {ev['where']}")
            else:
                self.write(f"{label}: running {ev['n_points']} point(s) on {ev['where']}")
        elif ev.get("event") == "sweep" and ev.get("status") == "stopping":
            self.write("stopping: running points stop after their current epoch (Ctrl-C again to abort)")
        elif ev.get("event") == "point" and self.bar is not None:
            st = ev.get("status")
            if st == "started":
                self.running.add(ev["point"])
            else:
                self.running.discard(ev["point"])
                if st == "failed":
                    self.failed += 1
                    self.write(f"point {ev['point']} failed: {ev.get('error')}")
                if st != "stopped":
                    self.bar.update(1)
            mae = (ev.get("metrics") or {}).get("rollout_mae")
            post = {"running": len(self.running), "failed": self.failed}
            if mae is not None:
                post["last_mae"] = f"{mae:.3e}"
            self.bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _running(args, fn):
    """Call ``fn(stop)`` with Ctrl-C/SIGTERM as a clean stop (a second one aborts)."""
    from ..pipeline.context import StopFlag

    stop = getattr(args, "_stop", None) or StopFlag()
    stop.graceful = True
    try:
        return fn(stop)
    finally:
        stop.graceful = False


def _where(args) -> dict:
    if args.retries < 0:
        raise UsageError(f"--retries: expected an integer >= 0, got {args.retries}")
    if args.scheduler is not None:
        return {"scheduler": args.scheduler, "retries": args.retries}
    import os

    cpus = os.cpu_count() or 1
    if args.workers > cpus:
        note(args, f"{args.workers} workers on {cpus} CPU(s): they will share the CPUs")
    return {"workers": args.workers, "retries": args.retries}


def cmd_run(args) -> int:
    """``collop sweep run``."""
    from ..sweep import run_sweep

    d = _spec(args)
    out = args.out
    if out is None:
        if Path(args.spec).is_dir() and (Path(args.spec) / "sweep.json").is_file():
            out = args.spec
        else:
            raise UsageError("--out: the sweep folder is required (SPEC is not a sweep folder)")
    bar = _Progress(args, "sweep")
    try:
        result = _running(args, lambda stop: run_sweep(d, out, callback=bar, stop=stop, **_where(args)))
    finally:
        bar.close()
    c = result.counts
    if not args.quiet:
        print(f"{result.status}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
              + f" in {result.seconds:.1f} s -> {result.path / 'sweep.json'}")
    if result.status == "stopped":
        return EXIT_INTERRUPTED
    return EXIT_OK if result.status == "finished" else EXIT_INCOMPLETE


def cmd_select(args) -> int:
    """``collop sweep select``."""
    from ..sweep import run_selection
    from ..sweep.select import parse_select_spec

    d = _spec(args)
    spec = parse_select_spec(d, aggregate=args.aggregate, finals=args.finals)
    bar = _Progress(args, "select")
    try:
        result = _running(args, lambda stop: run_selection(spec, args.out, truth=args.truth, callback=bar,
                                                           stop=stop, **_where(args)))
    finally:
        bar.close()
    if result.status == "stopped":
        print(f"stopped -> {result.path / 'selection.json'}")
        return EXIT_INTERRUPTED
    _print_selection(spec, result)          # the result itself, printed even with -q
    return EXIT_OK if result.status == "finished" else EXIT_INCOMPLETE


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _print_selection(spec, result) -> None:
    import math

    axes = spec.grid.axes
    head = " ".join(f"{a:>14s}" for a in axes)
    rule = "geometric mean" if spec.aggregate == "geometric" else "arithmetic mean"
    print(f"held-out rollout MAE x 1e3 per fold; score = {rule} over {len(spec.train)} folds")
    print(f"{head} " + " ".join(f"{p[:12]:>12s}" for p in spec.train) + f" {'score x 1e3':>12s}")
    for c in result.candidates:
        vals = " ".join(f"{_fmt(c['values'][a]):>14s}" for a in axes)
        folds = " ".join(f"{1e3 * c['folds'][p]:12.4f}" if c["folds"].get(p) is not None else f"{'-':>12s}"
                         for p in spec.train)
        score = f"{1e3 * c['score']:12.4f}" if math.isfinite(c["score"]) else f"{'-':>12s}"
        mark = "  <- chosen" if c["values"] == result.chosen else ""
        print(f"{vals} {folds} {score}{mark}")
    for f in result.finals:
        m = f.get("metrics") or {}
        line = (f"final ({', '.join(f'{k}={_fmt(v)}' for k, v in f['values'].items())}): {f['status']}, "
                f"test rollout MAE {m.get('rollout_mae', float('nan')):.4e}")
        if f.get("truth_rollout_mae"):
            line += f" ({m.get('rollout_mae', float('nan')) / f['truth_rollout_mae']:.3f}x the truth's)"
        elif "truth_rollout_mae" in f:
            line += f" (the truth's: {f['truth_rollout_mae']:.4e})"
        if "coefficient_error" in f:
            line += "; coefficient rel. L2: " + ", ".join(f"{k} {v:.3f}" for k, v in f["coefficient_error"].items())
        print(line + f" -> {f['path']}")
    print(f"{result.seconds:.0f} s -> {result.path / 'selection.json'}")


def cmd_show(args) -> int:
    """``collop sweep show``."""
    import math

    from ..sweep import summarize, sweep_table

    t = sweep_table(args.folder)
    if args.by:
        t = summarize(t, names(args.by), args.metric)
    else:
        keep = [c for c in t.columns if c in ("point", "status", "error") or c in _axes(args.folder)
                or c in ("n_train", "seed", args.metric, f"{args.metric}_std", "train_seconds")]
        t = t[keep]
    if args.json:
        recs = t.to_dict(orient="records")
        print(json.dumps([{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                           for k, v in r.items()} for r in recs], indent=2, default=str))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
            print(t.to_string(index=False))
    return EXIT_OK


def _axes(folder) -> list[str]:
    from ..sweep import read_sweep

    idx = read_sweep(folder)
    out = []
    for e in idx["points"]:
        for k in e.get("values") or {}:
            if k not in out:
                out.append(k)
    return out
