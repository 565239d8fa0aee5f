"""The Kernel tab's sweep form: what a Pareto sweep over the kernel size will run (a :class:`param.Parameterized`).

The form turns into a sweep spec (:mod:`collop.sweep.grid`): a base kernel
training on the chosen dataset and populations, and the grid ``options.k x
options.scheme x seed``. With :attr:`KernelForm.baseline` a second spec
trains PS-Tensor on the same populations with the same seeds, the Pareto
plot's horizontal baseline.
"""
from __future__ import annotations

import param

from collop.train import parse_curriculum

from .form_checks import parse_ints, split_errors

__all__ = ["KernelForm", "Placement", "CURRICULA", "SCHEMES", "LOCAL"]

#: Kernel finite-difference schemes (:data:`collop.operators.kernel.SCHEMES`).
SCHEMES = ["forward", "backward", "centred"]
#: Curriculum presets of the form: label -> (kernel curriculum, PS-Tensor curriculum of the baseline).
CURRICULA = {
    "Table 2 (K column, 1600 epochs)": ("kernel", "ps-tensor"),
    "short (3 stages, 150 epochs)": ("1:1e-2:100,2:1e-3:30,5:1e-3:20", "1:1e-2:100,2:1e-2:30,5:1e-2:20"),
    "cut (1 stage, 5 epochs: a smoke test)": ("1:1e-2:5", "1:1e-2:5"),
    "custom": (None, None),
}
#: The :attr:`Placement.where` of a new local cluster.
LOCAL = "local"
#: The paper's Section 3.2 split of sim3 (its reference [41]): nine training normals on a grid of centres.
SPLIT_TRAIN = [f"normal_{a}_{b}" for a in (-1, 0, 1) for b in (-1, 0, 1)]


class Placement(param.Parameterized):
    """Where the page's sweeps run: a new dask ``LocalCluster`` or a running scheduler the server names.

    The choices are :data:`LOCAL` and the server's
    :attr:`dashboards.config.Config.schedulers` (never an address typed on
    the page). Whether a scheduler answers is checked by the sweep process,
    which ends at once with a one-line reason if none does.
    """

    where = param.Selector(default=LOCAL, objects=[LOCAL], doc="local, or a scheduler address the server names")
    workers = param.Integer(default=2, bounds=(1, 64), doc="dask workers of a new local cluster (1 thread each)")

    def __init__(self, schedulers=(), **params):
        super().__init__(**params)
        self.param.where.objects = [LOCAL, *schedulers]

    def launch(self) -> dict:
        """Keyword arguments of :meth:`dashboards.sweep_jobs.SweepJobs.start` / ``resume``."""
        return {"workers": int(self.workers), "scheduler": None if self.where == LOCAL else self.where}


class KernelForm(param.Parameterized):
    """What the Kernel tab's Start will sweep.

    The tab's widgets are views of these parameters; :meth:`validate` lists
    what is wrong and :meth:`specs` gives the sweep specs.
    """

    populations = param.List(default=[], doc="populations of the dataset")
    grid = param.Tuple(default=(0, 0), length=2, doc="bins of the dataset's velocity grid (nx, ny)")
    train = param.List(default=[], doc="training populations")
    test = param.List(default=[], doc="test populations")
    ks = param.String(default="1, 2, 3, 4, 5", doc="kernel sizes k")
    schemes = param.ListSelector(default=list(SCHEMES), objects=list(SCHEMES), doc="finite-difference schemes")
    seeds = param.String(default="0, 1, 2", doc="random seeds (one training per seed and grid point)")
    model = param.Selector(default="tensor", objects=["tensor", "nn"], doc="K as a tensor or an MLP of v")
    tie = param.Boolean(default=False, doc="K_y(vx, vy, l, m) = K_x(vy, vx, m, l) (square grids)")
    l1 = param.Number(default=0.0, bounds=(0, None), doc="L1 penalty on K (0: none, the paper's training; "
                      "docs/kernel.md section 7)")
    curriculum = param.Selector(default=list(CURRICULA)[0], objects=list(CURRICULA), doc="curriculum preset")
    custom = param.String(default="1:1e-2:100", doc="a custom curriculum N_u:lr:epochs,...")
    baseline = param.Boolean(default=True, doc="also sweep PS-Tensor over the seeds (the baseline line)")

    def set_dataset(self, populations, grid=(0, 0)) -> None:
        """A new dataset: its populations, grid and the default split (the paper's, when present)."""
        pops = [str(p) for p in populations]
        train = [p for p in SPLIT_TRAIN if p in pops]
        if len(train) < len(SPLIT_TRAIN):
            train = pops[: max(1, len(pops) // 2)]
        with param.parameterized.batch_call_watchers(self):
            self.populations = pops
            self.grid = tuple(int(g) for g in grid)
            self.train = train
            self.test = [p for p in pops if p not in train] or pops

    def curricula(self) -> tuple[str, str]:
        """The (kernel, PS-Tensor) curriculum specs of the chosen preset (the custom one for both)."""
        kern, fp = CURRICULA[self.curriculum]
        if kern is None:
            return self.custom.strip(), self.custom.strip()
        return kern, fp

    def validate(self) -> list[str]:
        """What stops a start, one line each (empty when the form is complete)."""
        if not self.populations:
            return ["choose a usable dataset first"]
        errors = split_errors(self.populations, self.train, self.test)
        try:
            ks = parse_ints(self.ks, "k", low=1)
            big = [k for k in ks if self.grid[0] and k > min(self.grid)]
            if big:
                errors.append(f"k: {big[0]} is larger than the grid ({self.grid[0]} x {self.grid[1]} bins)")
        except ValueError as exc:
            errors.append(str(exc))
        if not self.schemes:
            errors.append("choose at least one scheme")
        try:
            parse_ints(self.seeds, "seeds", low=0)
        except ValueError as exc:
            errors.append(str(exc))
        if self.tie and self.grid[0] != self.grid[1]:
            errors.append(f"tie needs a square grid (this one is {self.grid[0]} x {self.grid[1]} bins)")
        try:
            parse_curriculum(self.curricula()[0])
        except ValueError as exc:
            errors.append(f"curriculum: {exc}")
        return errors

    def specs(self, data_path, name: str = "") -> tuple[dict, dict | None]:
        """The kernel sweep spec and (with :attr:`baseline`) the PS-Tensor one, on ``data_path``.

        Call :meth:`validate` first.
        """
        kern, fp = self.curricula()
        ks = parse_ints(self.ks, "k", low=1)
        seeds = parse_ints(self.seeds, "seeds", low=0)
        base = {"data": str(data_path), "train": list(self.train), "test": list(self.test), "threads": 1}
        label = name or "Pareto curve over the kernel size k"
        spec = {"name": label, "mode": "product",
                "base": {**base, "family": "kernel", "curriculum": kern,
                         "options": {"model": self.model, "tie": bool(self.tie), "nt": 1},
                         **({"penalties": {"l1": float(self.l1)}} if self.l1 > 0 else {})},
                "axes": {"options.k": ks, "options.scheme": [s for s in SCHEMES if s in self.schemes],
                         "seed": seeds}}
        if not self.baseline:
            return spec, None
        bspec = {"name": f"PS-Tensor baseline of: {label}", "mode": "product",
                 "base": {**base, "family": "fokker_planck", "curriculum": fp,
                          "options": {"model": "tensor", "symmetry": "isotropic", "nt": 1}},
                 "axes": {"seed": seeds}}
        return spec, bspec
