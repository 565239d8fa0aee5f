"""The Fokker-Planck training form: its state (a :class:`param.Parameterized`), validation, a run's own parameters."""
from __future__ import annotations

import numpy as np
import pandas as pd
import param

# Table 2's curricula and their parser live with the trainer (importing it imports torch: at server start,
# not when the tab is first shown)
from collop.train import parse_curriculum

__all__ = ["FPForm", "METHODS", "METHOD_OF", "curriculum_frame", "curriculum_spec", "DEFAULT_TRAIN"]

#: Method label -> model argument (``tracks``: estimate from particle tracks).
METHODS = {"PS-Tensor": "tensor", "PS-NN": "nn", "Tracks": "tracks"}
#: A run's ``method`` (run.json) -> the form's label.
METHOD_OF = {"ps-tensor": "PS-Tensor", "ps-nn": "PS-NN", "tracks": "Tracks"}
#: The paper's N_train = 5 training populations (Table 4), used when the dataset has them.
DEFAULT_TRAIN = ["uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0"]


def _stages(spec):
    return parse_curriculum(spec)


def curriculum_frame(spec: str) -> pd.DataFrame:
    """A curriculum (a name such as ``ps-tensor`` or ``N_u:lr:epochs,...``) as an editable table."""
    return pd.DataFrame([{"N_u": s.n_unroll, "lr": s.lr, "epochs": s.epochs} for s in _stages(spec)],
                        columns=["N_u", "lr", "epochs"])


def curriculum_spec(frame: pd.DataFrame) -> str:
    """The ``N_u:lr:epochs,...`` spec of a table; ValueError with a one-line message if a row is bad."""
    if frame is None or len(frame) == 0:
        raise ValueError("the curriculum has no stages")
    parts = []
    for i, row in enumerate(frame.itertuples(index=False), 1):
        try:
            nu, lr, ep = float(row.N_u), float(row.lr), float(row.epochs)
        except (TypeError, ValueError):
            raise ValueError(f"curriculum stage {i}: N_u, lr and epochs must be numbers") from None
        if not (np.isfinite([nu, lr, ep]).all() and nu >= 1 and nu == int(nu) and lr > 0 and ep >= 1
                and ep == int(ep)):
            raise ValueError(f"curriculum stage {i}: needs an integer N_u >= 1, lr > 0 and integer epochs >= 1")
        parts.append(f"{int(nu)}:{lr:.6g}:{int(ep)}")
    return ",".join(parts)


class FPForm(param.Parameterized):
    """What the Fokker-Planck tab will train (or the parameters of the run it shows).

    The tab's widgets are views of these parameters; :meth:`validate` lists
    what is wrong, :meth:`job` gives the job manager's arguments, and
    :meth:`load_run` fills the form from a run's ``run.json``.
    """

    populations = param.List(default=[], doc="populations of the dataset")
    have_particles = param.Boolean(default=False, doc="the dataset has a particles file (Tracks possible)")
    train = param.List(default=[], doc="training populations")
    test = param.List(default=[], doc="test populations")
    method = param.Selector(default="PS-Tensor", objects=list(METHODS))
    symmetry = param.Selector(default="isotropic", objects=["isotropic", "full"])
    nt = param.Integer(default=0, bounds=(0, None), doc="tensor time nodes (0: one per frame)")
    reg = param.Number(default=0.0, bounds=(0, None), doc="time-smoothness penalty λ_reg")
    reg_velocity = param.Number(default=0.0, bounds=(0, None), doc="speed-smoothness penalty λ_v")
    seed = param.Integer(default=0, doc="random seed")
    ndump = param.Integer(default=1, bounds=(1, None), doc="Tracks: frames per interval")
    curriculum = param.DataFrame(default=None, doc="stages N_u, lr, epochs (Table 2)")
    source_run = param.String(default="", doc="the run whose parameters the form shows ('' : a new run)")

    def __init__(self, **params):
        super().__init__(**params)
        if self.curriculum is None:
            self.curriculum = curriculum_frame("ps-tensor")

    @property
    def model(self) -> str:
        return METHODS[self.method]

    def methods(self) -> list[str]:
        """The methods possible on this dataset."""
        return [m for m in METHODS if m != "Tracks" or self.have_particles]

    def set_dataset(self, populations, have_particles: bool) -> None:
        """A new dataset: its populations, the default train/test split, the default method."""
        pops = [str(p) for p in populations]
        train = [p for p in DEFAULT_TRAIN if p in pops] or pops[: max(1, len(pops) // 2)]
        with param.parameterized.batch_call_watchers(self):
            self.populations, self.have_particles = pops, bool(have_particles)
            self.train = train
            self.test = [p for p in pops if p not in train] or pops
            if self.method not in self.methods():
                self.method = "PS-Tensor"
            self.source_run = ""

    def reset_curriculum(self) -> None:
        """The paper's Table 2 curriculum of the chosen method."""
        self.curriculum = curriculum_frame("ps-nn" if self.model == "nn" else "ps-tensor")

    def validate(self) -> list[str]:
        """What stops a start, one line each (empty when the form is complete)."""
        errors = []
        if not self.populations:
            errors.append("choose a usable dataset first")
            return errors
        unknown = [p for p in [*self.train, *self.test] if p not in self.populations]
        if unknown:
            errors.append(f"unknown populations: {', '.join(unknown)}")
        if self.model != "tracks":
            if not self.train:
                errors.append("choose at least one training population")
            try:
                curriculum_spec(self.curriculum)
            except ValueError as exc:
                errors.append(str(exc))
        elif not self.have_particles:
            errors.append("Tracks needs the dataset's particles file")
        if not self.test:
            errors.append("choose at least one test population")
        return errors

    def job(self) -> dict:
        """Keyword arguments of :meth:`dashboards.jobs.JobManager.start_fp` (not for Tracks)."""
        return {"train": list(self.train), "test": list(self.test), "model": self.model,
                "symmetry": self.symmetry, "nt": self.nt or None, "reg": float(self.reg),
                "reg_velocity": float(self.reg_velocity), "seed": int(self.seed),
                "curriculum": curriculum_spec(self.curriculum)}

    def load_run(self, info: dict) -> list[str]:
        """Show a run's own parameters (from ``run.json``); returns notes on what could not be shown."""
        p = info.get("params") or {}
        notes = []
        method = METHOD_OF.get(str(info.get("method") or ""), None)
        if method is None:
            method = {"tensor": "PS-Tensor", "nn": "PS-NN"}.get(str(p.get("model")), None)
        if method is None:
            notes.append(f"unknown method {info.get('method')!r}")
            method = self.method
        pops = set(self.populations)
        with param.parameterized.batch_call_watchers(self):
            self.method = method
            if p.get("symmetry") in ("isotropic", "full"):
                self.symmetry = p["symmetry"]
            train = [str(x) for x in (p.get("train") or [])]
            test = [str(x) for x in (p.get("test") or [])]
            missing = [x for x in train + test if x not in pops]
            if missing:
                notes.append(f"populations not in this dataset: {', '.join(missing)}")
            if method != "Tracks":
                self.train = [x for x in train if x in pops]
                self.nt = int(p.get("nt") or 0)
                self.reg = float(p.get("reg") or 0.0)
                self.reg_velocity = float(p.get("reg_velocity") or 0.0)
                self.seed = int(p.get("seed") or 0)
                spec = p.get("curriculum") or ("ps-nn" if method == "PS-NN" else "ps-tensor")
                try:
                    self.curriculum = curriculum_frame(spec)
                except (ValueError, TypeError):
                    notes.append(f"curriculum {spec!r} cannot be shown")
            else:
                self.ndump = int(p.get("ndump") or 1)
            if test:
                self.test = [x for x in test if x in pops]
            self.source_run = str(info.get("id") or "")
        return notes
