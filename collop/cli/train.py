"""``collop train FAMILY`` (one sub-command per registered operator family) and ``collop run``.

The flags of a family's command come from its option classes (``Options``,
``Penalties`` and its objective's ``Options``): every field is a flag
(``nt`` -> ``--nt``) with the field's type, choices and description, so a
newly registered family gets its command without editing this file.
"""
from __future__ import annotations

import argparse
import sys
import typing

from ._common import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, Parser, UsageError, names,
                      progress, seed_type)

__all__ = ["add_parsers", "cmd_train", "cmd_run", "FIELD_FLAGS"]

#: spec field -> the flag of ``collop train`` that sets it (for error messages); the family
#: option flags are added as the parser is built
FIELD_FLAGS: dict[str, str] = {"curriculum": "--curriculum", "seed": "--seed", "train": "--train",
                               "test": "--test", "threads": "--threads", "out": "--out", "resume": "--resume"}


def _flag_type(annotation):
    """(argparse kwargs) for a field annotation: choices for Literal, the scalar type, bool flags."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and type(None) in args):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _flag_type(inner[0])
    if origin is typing.Literal:
        kind = type(args[0])
        return {"type": kind, "choices": list(args)}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if annotation in (int, float, str):
        return {"type": annotation}
    return {"type": str}


def _add_fields(parser, cls, group: str, title: str, taken: dict, flags: dict) -> list[tuple[str, str]]:
    """Add one flag per field of ``cls``; returns ``[(dest, field)]``."""
    fields = getattr(cls, "__pydantic_fields__", {})
    if not fields:
        return []
    g = parser.add_argument_group(title)
    out = []
    for name, info in fields.items():
        flag = "--" + name.replace("_", "-")
        if flag in taken:
            raise RuntimeError(f"flag {flag} of {group}.{name} clashes with {taken[flag]}")
        taken[flag] = f"{group}.{name}"
        dest = f"{group}__{name}"
        kw = _flag_type(info.annotation)
        default = info.default
        extra = f" (default {default})" if default not in (None, ...) and not isinstance(default, bool) else ""
        g.add_argument(flag, dest=dest, default=argparse.SUPPRESS, metavar=None if "choices" in kw
                       or kw.get("action") else name.upper(), help=(info.description or "") + extra, **kw)
        flags[f"{group}.{name}"] = flag
        out.append((dest, name))
    return out


def add_parsers(sub, common) -> None:
    """``train FAMILY`` for every registered family, and ``run SPEC.json``."""
    from .. import objectives
    from ..operators import registry

    train = sub.add_parser("train", help="learn an operator from data")
    families = registry.by_cli_name()
    tsub = train.add_subparsers(dest="family", metavar="{" + ",".join(families) + "}", parser_class=Parser)
    tsub.required = True
    for cli_name, fam in families.items():
        obj = objectives.get(fam.objective)
        p = tsub.add_parser(cli_name, parents=[common], help=fam.description or fam.family,
                            description=f"Learn {fam.description or fam.family} "
                                        f"(family {fam.family}, objective {obj.name}).")
        p.add_argument("data", metavar="DATA.nc", help=f"{obj.data_kind} file")
        p.add_argument("--train", required=True, metavar="A,B,..", help="training populations")
        p.add_argument("--test", metavar="C,D,..", default=None,
                       help="test populations (default: all); may overlap --train")
        taken = {"--train": "train", "--test": "test", "--seed": "seed", "--curriculum": "curriculum",
                 "--out": "out", "--resume": "resume", "--threads": "threads", "--quiet": "quiet"}
        flags = dict(FIELD_FLAGS)
        fields = {"options": _add_fields(p, fam.Options, "options", "operator options", taken, flags),
                  "penalties": _add_fields(p, fam.Penalties, "penalties", "penalties", taken, flags),
                  "objective": _add_fields(p, obj.Options, "objective", "objective options", taken, flags)}
        p.add_argument("--seed", type=seed_type, default=0, help="seed (0 to 2**32 - 1; default 0)")
        p.add_argument("--curriculum", default=None, metavar="SPEC",
                       help="a name (" + ", ".join(_curricula()) + ") or N_u:lr:epochs,... "
                            "(default: the family's)")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
        p.add_argument("--out", required=True, metavar="DIR", help="run folder")
        p.set_defaults(func=cmd_train, family_name=fam.family, fields=fields, field_flags=flags)

    rp = sub.add_parser("run", parents=[common], help="run a job spec (JSON)",
                        description="Run a job spec: a JSON file as recorded in a run folder's run.json "
                                    "('spec'), or written by hand (see collop.pipeline).")
    rp.add_argument("spec", metavar="SPEC.json", help="job spec file ('-' for standard input); "
                                                      "a run.json is read for its 'spec'")
    rp.add_argument("--out", default=None, metavar="DIR", help="run folder (overrides the spec's)")
    rp.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    rp.set_defaults(func=cmd_run, field_flags={"out": "--out", "resume": "--resume"})


def _curricula():
    from ..train import CURRICULA

    return list(CURRICULA)


def _run_spec(args, spec) -> int:
    """Run ``spec`` with a progress bar, Ctrl-C/SIGTERM as a clean stop; the exit status."""
    from ..pipeline import run
    from ..pipeline.context import StopFlag
    from ..pipeline.signals import handle_signals

    stop = getattr(args, "_stop", None) or StopFlag()
    state = {"bar": None, "offsets": None}

    def say(msg):
        bar = state["bar"]
        (bar.write(f"collop: {msg}", file=sys.stderr) if bar is not None
         else print(f"collop: {msg}", file=sys.stderr, flush=True))

    def callback(ev):
        kind = ev.get("event")
        if kind == "stage":
            if state["bar"] is None:
                state["bar"] = progress(args, total=state.get("total"), desc=f"{spec.kind}", unit="epoch")
            if not args.quiet:
                state["bar"].write(f"collop: stage {ev['stage'] + 1}/{ev['n_stages']}: unroll "
                                   f"{ev['n_unroll']} frame(s), lr {ev['lr']:g}, {ev['epochs']} epochs")
        elif kind == "epoch" and state["bar"] is not None:
            bar = state["bar"]
            bar.set_postfix(stage=ev["stage"] + 1, loss=f"{ev['loss']:.3e}", refresh=False)
            bar.update(1)

    if spec.kind == "train":
        from ..pipeline import resolve
        res = resolve(spec)
        state["total"] = sum(s.epochs for s in res.curriculum)
    kw = {"progress": not args.quiet} if spec.kind == "tracks" else {}
    try:
        with handle_signals(stop, notify=say):
            result = run(spec, callback=callback, stop=stop, resume=args.resume, **kw)
    finally:
        if state["bar"] is not None:
            state["bar"].close()
    m = result.metrics or {}
    if result.status == "diverged":
        print(f"collop: error: {result.path}: training diverged: {result.message}", file=sys.stderr)
        return EXIT_DIVERGED
    if not args.quiet:
        if "rollout_mae" in m:
            print(f"{result.status}: rollout_mae {m['rollout_mae']:.4g} (+- {m['rollout_mae_std']:.2g}) on "
                  f"{len(m.get('test', []))} population(s), {m.get('train_seconds', 0):.1f} s -> "
                  f"{result.path / 'operator.nc'}")
        else:
            print(f"{result.status} -> {result.path / 'operator.nc'}")
    return EXIT_INTERRUPTED if result.status == "stopped" else EXIT_OK


def cmd_train(args) -> int:
    """``collop train FAMILY``: build the job spec from the flags and run it."""
    from ..pipeline import TrainSpec

    groups = {g: {name: getattr(args, dest) for dest, name in fl if hasattr(args, dest)}
              for g, fl in args.fields.items()}
    train = names(args.train)
    if not train:
        raise UsageError("--train: no population names")
    test = names(args.test) if args.test is not None else None
    if test is not None and not test:
        raise UsageError("--test: no population names")
    spec = TrainSpec(data=str(args.data), train=train, test=test, family=args.family_name,
                     options=groups["options"], penalties=groups["penalties"],
                     objective=groups["objective"], curriculum=args.curriculum, seed=args.seed,
                     threads=args.threads or 1, out=str(args.out))
    return _run_spec(args, spec)


def cmd_run(args) -> int:
    """``collop run SPEC.json``: run a job spec file."""
    import dataclasses
    import json
    from pathlib import Path

    from ..options import SpecError
    from ..pipeline import spec_from_dict

    src = args.spec
    try:
        text = sys.stdin.read() if src == "-" else Path(src).read_text()
    except OSError as exc:
        raise UsageError(f"{src}: cannot be read ({exc.strerror or exc})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{src}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(d, dict) and "spec" in d and "kind" in d and "status" in d:   # a run.json
        d = d["spec"]
    try:
        spec = spec_from_dict(d)
        if spec.kind == "train":
            from ..pipeline import resolve
            resolve(spec)                      # the family's options, named in the file's terms
    except SpecError as exc:
        raise SpecError(f"{src}: {exc}", field=exc.field) from None
    if args.out:
        spec = dataclasses.replace(spec, out=args.out)
    if args.threads is not None:
        spec = dataclasses.replace(spec, threads=args.threads)
    return _run_spec(args, spec)
