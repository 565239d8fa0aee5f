"""The Metriplectic training form: its state (a :class:`param.Parameterized`), validation, the job spec."""
from __future__ import annotations

import os

import param

from .form_checks import split_errors
from .metriplectic_data import MODELS, model_of

__all__ = ["MetriplecticForm", "MAX_SEED"]

#: Seeds are integers in [0, 2**32 - 1] (collop.pipeline.spec.MAX_SEED).
MAX_SEED = 2**32 - 1


class MetriplecticForm(param.Parameterized):
    """What the Metriplectic tab will train: ``collop train metriplectic`` as a form.

    The tab's widgets are views of these parameters; :meth:`validate` lists
    what is wrong (one line each), :meth:`spec` gives the job spec that
    :meth:`dashboards.jobs.JobManager.start` runs (the same as the command
    line's), :meth:`load_run` shows a run's own parameters.
    """

    runs = param.List(default=[], doc="runs of the chosen MD file")
    train = param.List(default=[], doc="training runs (initial distributions)")
    test = param.List(default=[], doc="test runs, scored after training")
    model = param.Selector(default="CM2", objects=list(MODELS), doc="collision kernel")
    steps = param.Integer(default=3000, doc="Adam steps (lr 0.01, x0.99 every 2000 steps)")
    pairs = param.Integer(default=100_000, doc="random particle pairs per step, P")
    seed = param.Integer(default=0, doc="seed of the initialisation and the pair sampling")
    source_run = param.String(default="", doc="the run whose parameters the form shows ('': a new run)")

    def set_file(self, runs, train, test) -> None:
        """A new MD file: its runs and the default split (the file's own train/test split)."""
        with param.parameterized.batch_call_watchers(self):
            self.runs = [str(r) for r in runs]
            self.train = [str(r) for r in train]
            self.test = [str(r) for r in test]
            self.source_run = ""

    def validate(self) -> list[str]:
        """What stops a start, one line each (empty when the form is complete)."""
        if not self.runs:
            return ["choose an MD file with runs first"]
        errors = split_errors(self.runs, self.train, self.test, noun="run")
        if not 1 <= int(self.steps) <= 100_000_000:
            errors.append(f"steps must be between 1 and 100000000, not {self.steps}")
        if int(self.pairs) < 2:
            errors.append(f"pairs P must be at least 2, not {self.pairs}")
        elif int(self.pairs) > 100_000_000:
            errors.append(f"pairs P must be at most 100000000, not {self.pairs}")
        if not 0 <= int(self.seed) <= MAX_SEED:
            errors.append(f"seed must be between 0 and {MAX_SEED}")
        return errors

    def spec(self, md_path, out: str = "_"):
        """The :class:`collop.pipeline.TrainSpec` of ``collop train metriplectic MD.nc --model ... --steps ...``."""
        from collop.pipeline import TrainSpec

        return TrainSpec(data=os.path.abspath(md_path), train=list(self.train), test=list(self.test),
                         family="metriplectic", out=str(out),
                         options={"model": MODELS[self.model], "steps": int(self.steps)},
                         objective={"pairs": int(self.pairs)}, seed=int(self.seed))

    def load_run(self, info: dict) -> list[str]:
        """Show a run's own parameters (from its ``run.json``); returns notes on what could not be shown."""
        p = info.get("params") or {}
        notes = []
        label = {v: k for k, v in MODELS.items()}.get(model_of(info))
        have = set(self.runs)
        train = [str(x) for x in p.get("train") or []]
        test = [str(x) for x in p.get("test") or []]
        missing = [x for x in train + test if x not in have]
        if missing:
            notes.append(f"runs not in this MD file: {', '.join(missing)}")
        with param.parameterized.batch_call_watchers(self):
            if label is None:
                notes.append(f"unknown model {p.get('model')!r}")
            else:
                self.model = label
            self.train = [x for x in train if x in have]
            self.test = [x for x in test if x in have]
            for key in ("steps", "pairs", "seed"):
                try:
                    setattr(self, key, int(p[key]))
                except (KeyError, TypeError, ValueError):
                    notes.append(f"{key} not recorded")
            self.source_run = str(info.get("id") or "")
        return notes
