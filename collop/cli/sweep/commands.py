"""``collop sweep run``, ``select`` and ``show``: run a sweep or a selection, print a sweep folder."""
from __future__ import annotations

import json
from pathlib import Path

from .._common import EXIT_INTERRUPTED, EXIT_OK, UsageError, names, note
from .progress import Progress, running
from .spec import sweep_spec

__all__ = ["cmd_run", "cmd_select", "cmd_show", "EXIT_INCOMPLETE"]

#: exit status of a sweep in which some points failed
EXIT_INCOMPLETE = 4


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
    from ...sweep import run_sweep

    d = sweep_spec(args)
    out = args.out
    if out is None:
        if Path(args.spec).is_dir() and (Path(args.spec) / "sweep.json").is_file():
            out = args.spec
        else:
            raise UsageError("--out: the sweep folder is required (SPEC is not a sweep folder)")
    bar = Progress(args, "sweep")
    try:
        result = running(args, lambda stop: run_sweep(d, out, callback=bar, stop=stop, **_where(args)))
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
    from ...sweep import run_selection
    from ...sweep.select import parse_select_spec

    d = sweep_spec(args)
    spec = parse_select_spec(d, aggregate=args.aggregate, finals=args.finals)
    bar = Progress(args, "select")
    try:
        result = running(args, lambda stop: run_selection(spec, args.out, truth=args.truth, callback=bar,
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

    from ...sweep import summarize, sweep_table

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
    from ...sweep import read_sweep

    idx = read_sweep(folder)
    out = []
    for e in idx["points"]:
        for k in e.get("values") or {}:
            if k not in out:
                out.append(k)
    return out
