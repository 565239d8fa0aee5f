"""The Scans view's form: a scan of Carvalho et al.'s Appendices D.4 and D.5 to launch (a :class:`param.Parameterized`).

Three scans, each a sweep (:mod:`collop.sweep.grid`) of Fokker-Planck
trainings crossed with the seeds:

- **N_dists** (Fig. 12): axis ``n_train``, training on the first n of the
  chosen training populations, in the order chosen (the paper's Table 4
  order for sim1: two uniform, then the normals); PS-NN by default.
- **N_t** (Fig. 14, left): axis ``options.nt``, the time nodes of a
  PS-Tensor.
- **λ_reg** (Fig. 14, right): axis ``penalties.reg``, the weight of the
  penalty on the first or second time derivative of a PS-Tensor with one
  node per frame.

The defaults are the grids of the paper's scans on sim1.
"""
from __future__ import annotations

import param

from collop.train import parse_curriculum

from .form_checks import parse_floats, parse_ints, split_errors

__all__ = ["ScanForm", "SCANS"]

#: Scan axis -> (label, default values, default model).
SCANS = {
    "n_train": ("N_dists (Fig. 12)", "1, 2, 3, 5, 7", "nn"),
    "options.nt": ("N_t (Fig. 14)", "1, 5, 25, 50", "tensor"),
    "penalties.reg": ("λ_reg (Fig. 14)", "0, 1e-6, 1e-5, 1e-4", "tensor"),
}
#: Curriculum presets: label -> curriculum (None: Table 2's for the model; "custom": the form's text).
CURRICULA = {
    "Table 2 (the model's column)": None,
    "short (3 stages, 150 epochs)": "1:1e-2:100,2:1e-2:30,5:1e-2:20",
    "cut (1 stage, 5 epochs: a smoke test)": "1:1e-2:5",
    "custom": "custom",
}
_TABLE2 = {"tensor": "ps-tensor", "nn": "ps-nn"}


class ScanForm(param.Parameterized):
    """What the Scans view's Start will sweep; :meth:`validate` lists problems, :meth:`spec` gives the sweep spec."""

    populations = param.List(default=[], doc="populations of the dataset")
    scan = param.Selector(default="n_train", objects=list(SCANS), doc="the scanned axis")
    scan_values = param.String(default=SCANS["n_train"][1], doc="values of the scanned axis")
    model = param.Selector(default="nn", objects=["nn", "tensor"], doc="PS-NN or PS-Tensor")
    symmetry = param.Selector(default="isotropic", objects=["isotropic", "full"],
                              doc="coefficient form (isotropic: A_par, D_par, D_perp of |v|)")
    reg_order = param.Selector(default=1, objects=[1, 2], doc="time derivative penalised by λ_reg")
    train = param.List(default=[], doc="training populations, in order (N_dists takes the first n)")
    test = param.List(default=[], doc="test populations")
    seeds = param.String(default="0, 1, 2", doc="random seeds (one training per seed and value)")
    curriculum = param.Selector(default=list(CURRICULA)[0], objects=list(CURRICULA), doc="curriculum preset")
    custom = param.String(default="1:1e-2:100", doc="a custom curriculum N_u:lr:epochs,...")

    @param.depends("scan", watch=True)
    def _defaults(self):
        _, values, model = SCANS[self.scan]
        self.scan_values, self.model = values, model

    def set_dataset(self, populations) -> None:
        """A new dataset: all populations but the last third train, the rest test (sim1: Table 4's seven and five)."""
        pops = [str(p) for p in populations]
        n = max(1, len(pops) - len(pops) // 3) if len(pops) > 1 else len(pops)
        with param.parameterized.batch_call_watchers(self):
            self.populations = pops
            self.train = pops[:n]
            self.test = pops[n:] or pops

    def curriculum_spec(self) -> str:
        c = CURRICULA[self.curriculum]
        return _TABLE2[self.model] if c is None else self.custom.strip() if c == "custom" else c

    def axis_values(self) -> list:
        """The scanned values (ValueError with one line if they do not parse)."""
        if self.scan == "n_train":
            vals = parse_ints(self.scan_values, "N_dists", low=1)
            big = [v for v in vals if v > len(self.train)]
            if big:
                raise ValueError(f"N_dists: {big[0]} is more than the {len(self.train)} training populations chosen")
            return vals
        if self.scan == "options.nt":
            return parse_ints(self.scan_values, "N_t", low=1)
        return parse_floats(self.scan_values, "λ_reg")

    def validate(self) -> list[str]:
        """What stops a start, one line each (empty when the form is complete)."""
        if not self.populations:
            return ["choose a usable dataset first"]
        errors = split_errors(self.populations, self.train, self.test)
        for check in (self.axis_values, lambda: parse_ints(self.seeds, "seeds", low=0)):
            try:
                check()
            except ValueError as exc:
                errors.append(str(exc))
        try:
            parse_curriculum(self.curriculum_spec())
        except ValueError as exc:
            errors.append(f"curriculum: {exc}")
        return errors

    def spec(self, data_path) -> dict:
        """The sweep spec on ``data_path`` (call :meth:`validate` first)."""
        label = SCANS[self.scan][0].split(" (")[0]
        model = {"nn": "PS-NN", "tensor": "PS-Tensor"}[self.model]
        base = {"data": str(data_path), "train": list(self.train), "test": list(self.test),
                "family": "fokker_planck", "options": {"model": self.model, "symmetry": self.symmetry},
                "curriculum": self.curriculum_spec(), "threads": 1}
        name = f"{label} scan with {model}"
        if self.scan == "penalties.reg":
            base["penalties"] = {"reg_order": int(self.reg_order)}
            name += f" (derivative of order {int(self.reg_order)} in time)"
        return {"name": name, "mode": "product", "base": base,
                "axes": {self.scan: self.axis_values(), "seed": parse_ints(self.seeds, "seeds", low=0)}}
