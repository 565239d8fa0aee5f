"""The unrolled rollout MAE of Carvalho et al. (eq. 8), for operators on a velocity grid.

Notes
-----
Stage ``s`` of the curriculum unrolls ``N_u`` frames from every start frame
``t`` of every training population (full batch) and scores

.. math::
    \\mathcal L_{N_u} = \\frac{1}{N_u N_v^2} \\sum_{u=1}^{N_u} \\sum_{v}
    |\\hat f^{(t+u)}(v) - f^{(t+u)}(v)|,

averaged over the batch, with ``f`` in grid units (:class:`collop.data.Record`).
Each frame's operator is the family's stencil
(:meth:`collop.operators.base.Operator.stencil`), advanced by the grid solver
named by ``integrator`` (:func:`collop.solvers.make_solver`) with as many
sub-steps (and stages) as the stability estimate asks for, or a fixed count.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..data import Record
from ..options import options, parse
from ..solvers import GridSolver, make_solver
from .base import Objective

__all__ = ["RolloutMAE", "RolloutOptions"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@options
class RolloutOptions:
    """Options of the rollout objective.

    Attributes
    ----------
    smooth : float
        Standard deviation, in bins, of a Gaussian filter applied to every
        training frame (0: the histograms as they are, as in the paper).
    dtype : {"float32", "float64"}
        Precision of the training rollouts (coefficients are float64).
    integrator : {"euler", "rkl2"}
        Time integration of the rollouts, in training and scoring: forward
        Euler (the paper's scheme) or Runge-Kutta-Legendre super-time-stepping
        (see ``docs/integrators.md``).
    substeps : int, optional
        Fixed sub-steps per frame (1: one step per frame, as in the paper);
        a count below the stability estimate warns once. Default: each
        frame's count from the estimate.
    stability : {"spectral", "gershgorin"}
        The estimate behind forward Euler's counts: the Ritz values of each
        frame's operator (never above the Gershgorin bound), or the Gershgorin
        bound over every cell. RKL2 always uses ``spectral``.
    estimate_every : int
        Training epochs for which a spectral estimate is reused (1: every
        epoch). A frame whose Gershgorin count grows past its value at its
        last estimate is re-estimated at once, and a held count never exceeds
        the current Gershgorin count. Scoring always estimates afresh.
    """

    smooth: float = Field(0.0, ge=0, le=1000, allow_inf_nan=False,
                          description="Gaussian smoothing of the training frames in velocity, in bins "
                                      "(default 0: raw histograms, as in the paper)")
    dtype: Literal["float32", "float64"] = Field("float32", description="precision of the training rollouts")
    integrator: Literal["euler", "rkl2"] = Field("euler", description="time integrator of the rollouts: "
                                                 "euler (the paper's) or rkl2 (super-time-stepping)")
    substeps: int | None = Field(None, ge=1, le=10_000, description="fixed sub-steps per frame (default: "
                                 "from the stability estimate; 1 as in the paper)")
    stability: Literal["spectral", "gershgorin"] = Field("spectral", description="stability estimate behind "
                                                         "the sub-step counts")
    estimate_every: int = Field(10, ge=1, le=10_000, description="epochs a spectral estimate is reused in "
                                "training (1: every epoch; sooner when a frame's Gershgorin count grows)")


#: the fields of :class:`RolloutOptions` that choose the solver (recorded in operator files)
SOLVER_FIELDS = ("integrator", "substeps", "stability")


class RolloutMAE(Objective):
    """Unrolled rollout MAE (eq. 8) of a grid operator on phase-space records.

    Parameters
    ----------
    options : RolloutOptions, optional
    penalties : object, optional
        The family's penalty weights.
    solver : GridSolver, optional
        Time integration (default: forward Euler with sub-steps from the
        stability bound).
    dtype : torch.dtype, optional
        Overrides ``options.dtype``.
    """

    name = "rollout"
    Options = RolloutOptions
    data_kind = "phasespace"

    def __init__(self, options=None, penalties=None, *, solver: GridSolver | None = None, dtype=None):
        super().__init__(options, penalties)
        o = self.options
        self.solver = solver or make_solver(o.integrator, o.substeps, o.stability, hold=o.estimate_every)
        self.dtype = dtype if dtype is not None else _DTYPES[self.options.dtype]

    @classmethod
    def load(cls, ds, names, options=None, *, role: str = "train") -> Record:
        """The populations ``names`` of the phase-space dataset ``ds`` as a record."""
        opts = options if options is not None else cls.Options()
        return Record.from_dataset(ds, names, smooth=opts.smooth if role == "train" else 0.0)

    def prepare(self, data: Record) -> None:
        super().prepare(data)
        T = data.f.shape[1]
        if T < 2:
            raise ValueError("need at least two frames to train")
        self.fs = data.f.to(self.dtype).permute(1, 0, 2, 3).contiguous()   # (T, P, N, M)
        self.dt = torch.as_tensor(data.dt, dtype=self.dtype)

    def horizon(self, stage) -> int:
        """Frames unrolled at ``stage`` (at most the record's length)."""
        return min(stage.n_unroll, self.fs.shape[0] - 1)

    def loss(self, op, stage):
        data, fs = self.data, self.fs
        nu = self.horizon(stage)
        S = fs.shape[0] - nu
        W = op.stencil(data.grid, data.times[:-1], dtype=self.dtype)     # (T-1, K, N, M)
        plan = self.solver.plan(W.detach(), self.dt)                      # per frame
        Wdt = self.solver.scaled(W, self.dt, plan)
        loss = self.solver.unrolled_abs_error(Wdt, fs, nu, plan) / (nu * fs[:S].numel())
        cost = plan.applications                                           # stencil applications per frame
        return loss, {"n_substeps": int(np.max(cost)), "mean_substeps": float(np.mean(cost)),
                      "estimated_frames": int(self.solver.frames_estimated)}

    @classmethod
    def options_from_file(cls, op_ds, **override) -> RolloutOptions:
        """The solver options recorded in an operator file's attributes, with ``override`` applied.

        Files without them (written before the option existed, or by Tracks)
        get the defaults. A bad value raises :class:`collop.options.SpecError`
        naming the field.
        """
        attrs = getattr(op_ds, "attrs", {}) or {}
        rec = {k: (attrs[k].item() if hasattr(attrs[k], "item") else attrs[k])
               for k in SOLVER_FIELDS if k in attrs}
        return parse(RolloutOptions, {**rec, **{k: v for k, v in override.items() if v is not None}})

    @classmethod
    def evaluate(cls, operator, data, names, options=None) -> dict:
        """Rollout error (DESIGN §4) of ``operator`` on the populations ``names`` of ``data``.

        The solver follows ``options``, else the options recorded in the operator file.
        """
        from ..metrics import evaluate

        o = options if options is not None else cls.options_from_file(operator)
        return evaluate(operator, data, names, solver=make_solver(o.integrator, o.substeps, o.stability))
