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
with as many sub-steps as the stability bound asks for.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..data import Record
from ..options import options
from ..solvers import ForwardEuler, GridSolver
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
    """

    smooth: float = Field(0.0, ge=0, le=1000, allow_inf_nan=False,
                          description="Gaussian smoothing of the training frames in velocity, in bins "
                                      "(default 0: raw histograms, as in the paper)")
    dtype: Literal["float32", "float64"] = Field("float32", description="precision of the training rollouts")


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
        self.solver = solver or ForwardEuler()
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
        n_sub = self.solver.substeps(W.detach(), self.dt)                 # per frame
        Wdt = self.solver.scaled(W, self.dt, n_sub)
        loss = self.solver.unrolled_abs_error(Wdt, fs, nu, n_sub) / (nu * fs[:S].numel())
        return loss, {"n_substeps": int(np.max(n_sub)), "mean_substeps": float(np.mean(n_sub))}

    @classmethod
    def evaluate(cls, operator, data, names, options=None) -> dict:
        """Rollout error (DESIGN §4) of ``operator`` on the populations ``names`` of ``data``."""
        from ..metrics import evaluate

        return evaluate(operator, data, names)
