"""The ``train`` job: fit an operator of any registered family and score it."""
from __future__ import annotations

import os

import numpy as np

from .. import objectives
from ..io import open_dataset, write_dataset
from ..operators import registry
from ..options import SpecError, parse, to_dict
from ..schema import CollopError
from ..train import Trainer, parse_curriculum, read_checkpoint
from .context import OutFolder, RunContext, RunResult, check_threads, finite_or_none, use_threads
from .spec import TrainSpec

__all__ = ["resolve", "run_train", "Resolved", "RESUME_FIELDS"]

#: Fields of the spec that a resumed run must share with the run it continues.
RESUME_FIELDS = ("data", "train", "family", "options", "penalties", "objective", "curriculum", "seed")

#: ``estimate_every`` was added after the solver options: a run started with those but without
#: it estimated every epoch, and resumes when the new spec says ``estimate_every=1``. (Runs from
#: before the solver options are refused: the default sub-step rule changed.)
LEGACY_OBJECTIVE = {"estimate_every": 1}


def _with_legacy(old: dict) -> dict:
    obj = old.get("objective")
    if isinstance(obj, dict) and "integrator" in obj:
        old = {**old, "objective": {**LEGACY_OBJECTIVE, **obj}}
    return old


class Resolved:
    """A train spec with its family, options and curriculum resolved (defaults filled in).

    Attributes
    ----------
    spec : TrainSpec
    family : type
        The operator family class.
    options, penalties, objective_options
        Validated option dataclasses.
    objective_cls : type
    curriculum : tuple of Stage
    curriculum_spec : str
        The curriculum as given, or the family's default name.
    method : str
    """

    def __init__(self, spec: TrainSpec):
        self.spec = spec
        try:
            self.family = registry.get(spec.family)
        except SpecError as exc:
            raise SpecError(str(exc), field="family") from None
        fam = self.family
        self.options = parse(fam.Options, spec.options, where="options")
        self.penalties = parse(fam.Penalties, spec.penalties, where="penalties")
        self.objective_cls = objectives.get(fam.objective)
        self.objective_options = parse(self.objective_cls.Options, spec.objective, where="objective")
        self.curriculum_spec = spec.curriculum if spec.curriculum is not None \
            else fam.default_curriculum(self.options)
        try:
            self.curriculum = parse_curriculum(self.curriculum_spec)
            if any(st.lr <= 0 for st in self.curriculum):
                raise ValueError("every stage needs a learning rate > 0")
        except (ValueError, TypeError) as exc:
            raise SpecError(f"curriculum {self.curriculum_spec!r}: {exc}", field="curriculum") from None
        self.method = fam.method_name(self.options)

    def to_dict(self) -> dict:
        """The spec with every default filled in (what ``run.json`` records)."""
        d = to_dict(self.spec)
        d.update(family=self.family.family, options=to_dict(self.options),
                 penalties=to_dict(self.penalties), objective=to_dict(self.objective_options),
                 curriculum=self.curriculum_spec)
        return d

    def flat_params(self) -> dict:
        """``run.json``'s flat ``params``: data, populations, every option, seed, curriculum."""
        d = self.to_dict()
        return {"data": d["data"], "train": d["train"], "test": d["test"], "family": d["family"],
                **d["options"], **d["penalties"], **d["objective"], "seed": d["seed"],
                "curriculum": d["curriculum"], "threads": d["threads"]}


def resolve(spec: TrainSpec) -> Resolved:
    """Validate a train spec against its family (raises :class:`SpecError` naming the field)."""
    return Resolved(spec)


def _absolute(spec: TrainSpec) -> TrainSpec:
    import dataclasses

    return dataclasses.replace(spec, data=os.path.abspath(spec.data), out=os.path.abspath(spec.out))


def _refuse_if_owned(path) -> None:
    """A run folder that a live process owns is refused, naming the owner."""
    from ..runs import RunBusyError, run_owner

    owner = run_owner(path)
    if owner is not None:
        raise RunBusyError(f"{path}: the run folder is in use by process {owner.get('pid')} on "
                           f"{owner.get('host')} (since {owner.get('started')}); wait for it to end "
                           "or stop it first")


def _snapshot_attrs(ev, status="running"):
    return {"stage": int(ev["stage"]), "status": status}


def run_train(spec: TrainSpec, *, callback=None, stop=None, resume: bool = False) -> RunResult:
    """Run a train spec (see :func:`collop.pipeline.run`)."""
    spec = _absolute(spec)
    res = resolve(spec)
    check_threads(spec.threads)
    with use_threads(spec.threads):
        return _run(spec, res, callback, stop, resume)


def _run(spec: TrainSpec, res: Resolved, callback, stop, resume: bool) -> RunResult:
    # 1. validate everything, and build the operator, before touching the run folder
    fam, obj_cls = res.family, res.objective_cls
    ds = open_dataset(spec.data, obj_cls.data_kind)
    train_names = obj_cls.select(ds, list(spec.train))
    test_names = obj_cls.select(ds, list(spec.test) if spec.test is not None else "all")
    data = obj_cls.load(ds, train_names, res.objective_options, role="train")
    obj_cls.load(ds, test_names, res.objective_options, role="test")   # the test data are usable too
    fam.check_size(res.options, data)
    resolved = res.to_dict()
    resolved.update(train=train_names, test=test_names)
    out = OutFolder(spec.out)
    _refuse_if_owned(out.path)
    ctx = RunContext(out, kind=fam.cli_name or fam.family, method=res.method,
                     params=res.flat_params() | {"test": test_names}, dataset=spec.data, spec=resolved,
                     callback=callback)
    held = [n for n in ("run.json", "checkpoint.pt", "operator.nc", "metrics.json")
            if (out.path / n).exists()] if out.existed else []
    if held and not resume:
        raise SpecError(f"out {spec.out}: already holds a run ({', '.join(held)}); resume it "
                        "(--resume) or choose another folder", field="out")
    if resume and ctx.run.exists():
        try:
            old = ctx.run.read().get("spec")
        except (OSError, ValueError) as exc:
            raise CollopError(f"{ctx.run.run_file}: cannot be read ({exc})") from None
        if old is not None:
            old = _with_legacy(old)
            diff = [k for k in RESUME_FIELDS if old.get(k) != resolved.get(k)]
            if diff:
                raise CollopError(f"resume {spec.out}: the run was started with other "
                                  + ", ".join(f"{k} ({old.get(k)!r} != {resolved.get(k)!r})" for k in diff))
    op = fam.from_options(res.options, data, seed=spec.seed)

    # 2. own the folder; read a checkpoint before run.json changes
    ctx.claim()
    exc_out = None
    try:
        checkpoint = out.path / "checkpoint.pt"
        ck = read_checkpoint(checkpoint) if resume and checkpoint.exists() else None
        ctx.start(epochs_done=len(ck["state"]["history"]) if ck is not None else None)
        return _fit(ctx, res, op, data, ds, train_names, test_names, ck, checkpoint, stop)
    except BaseException as exc:
        exc_out = exc
        raise
    finally:
        ctx.close(exc_out)


def _fit(ctx, res: Resolved, op, data, ds, train_names, test_names, ck, checkpoint, stop) -> RunResult:
    spec, run = res.spec, ctx.run
    grid, times = getattr(data, "grid", None), getattr(data, "times", None)
    offsets = np.concatenate([[0], np.cumsum([s.epochs for s in res.curriculum])]).astype(int)

    def bridge(ev):
        kind = ev.get("event")
        if kind == "stage":
            ctx.event(ev, record={k: ev[k] for k in ("event", "stage", "n_stages", "n_unroll", "lr", "epochs")})
        elif kind == "epoch":
            ctx.trained = True
            ctx.event(ev, record={"event": "epoch", "stage": ev["stage"], "epoch": ev["epoch"],
                                  "loss": ev["loss"], "seconds": round(float(ev["seconds"]), 4)})
        elif kind == "snapshot":
            done = int(offsets[ev["stage"]] + ev["epoch"])
            run.save_snapshot(ev["operator"], done, grid=grid, times=times, source=spec.data,
                              attrs=_snapshot_attrs(ev), event={"stage": ev["stage"]})
            if ctx.callback is not None:
                ctx.callback(ev)
        elif kind == "checkpoint":
            ctx.event(ev, record={"event": "checkpoint", "stage": ev["stage"], "epoch": ev["epoch"]})
        elif ctx.callback is not None:           # "done": the pipeline writes its own after scoring
            ctx.callback(ev)

    objective = res.objective_cls(res.objective_options, res.penalties)
    trainer = Trainer(res.curriculum, objective=objective, seed=spec.seed, callback=bridge,
                      checkpoint=checkpoint, resume_from=ck, stop=stop)
    if ck is not None:
        ctx.trained = True
    if stop is not None and hasattr(stop, "graceful"):
        stop.graceful = True
    try:
        trainer.fit(op, data)
    finally:
        if stop is not None and hasattr(stop, "graceful"):
            stop.graceful = False
    status, message = trainer.status_, trainer.message_

    # write the operator, then score the file as written
    best = finite_or_none(trainer.best_loss_)
    opts = {**to_dict(res.options), **to_dict(res.penalties), **to_dict(res.objective_options)}
    attrs = {"data": spec.data, "train": ",".join(train_names), "test": ",".join(test_names),
             "family": res.family.family, **{k: v for k, v in opts.items() if v is not None},
             "seed": int(spec.seed), "curriculum": res.curriculum_spec, "status": status,
             "best_loss": best if best is not None else float("nan"),
             "train_seconds": float(trainer.train_seconds_)}
    op_path = run.path / "operator.nc"
    write_dataset(op.to_dataset(grid, times, source=spec.data, attrs=attrs), op_path)
    op_ds = open_dataset(op_path, "operator")
    scores = res.objective_cls.evaluate(op_ds, ds, test_names, res.objective_options)
    metrics = {**scores, "train_seconds": float(trainer.train_seconds_), "status": status,
               "message": message, "method": res.method, "family": res.family.family,
               **to_dict(res.options), "train": train_names, "test": test_names, "best_loss": best,
               "seed": int(spec.seed), "data": spec.data, "operator": "operator.nc",
               "epochs": len(trainer.history_), "stage_reached": int(trainer.stage_reached_) + 1,
               "n_stages": len(res.curriculum)}
    ctx.write_json("metrics.json", metrics)
    ctx.finish(status, metrics=metrics, message=message,
               extra={"best_loss": best, "seconds": round(float(trainer.train_seconds_), 4),
                      "rollout_mae": metrics.get("rollout_mae")})
    return RunResult(status, run.path, metrics, message, info={"epochs": len(trainer.history_)})
