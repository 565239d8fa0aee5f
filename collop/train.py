"""Curriculum training of operators by unrolled phase-space rollouts.

One loop serves the command line, the app and sweeps. It reports progress to
a callback, honours a stop flag, checkpoints so an interrupted run resumes,
and stops cleanly on a non-finite loss.

Notes
-----
Stage ``s`` of the curriculum unrolls ``N_u`` frames from every start frame
``t`` of every training population (full batch) and minimises eq. (8) of
Carvalho et al.,

.. math::
    \\mathcal L_{N_u} = \\frac{1}{N_u N_v^2} \\sum_{u=1}^{N_u} \\sum_{v}
    |\\hat f^{(t+u)}(v) - f^{(t+u)}(v)|,

averaged over the batch, plus ``lambda_reg * sum_c ||d^n c/dt^n||_2``
(Appendix D.5) and, optionally, ``lambda_v * sum_c ||d^m c/dv^m||_2`` across
velocity (in grid bins), with Adam. ``f`` is in grid units (see
:class:`collop.data.Record`). The weights kept are those with the lowest
training loss in the last stage reached.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .data import Record
from .io.netcdf import atomic_path
from .solvers import ForwardEuler, GridSolver

__all__ = ["Stage", "CURRICULA", "parse_curriculum", "Trainer"]


@dataclass(frozen=True)
class Stage:
    """One curriculum stage: unroll ``n_unroll`` frames, learning rate ``lr``, ``epochs``."""

    n_unroll: int
    lr: float
    epochs: int


#: Table 2 of Carvalho et al.
CURRICULA = {
    "ps-tensor": (Stage(1, 1e-2, 1000), Stage(2, 1e-2, 200), Stage(5, 1e-2, 200), Stage(10, 1e-2, 500)),
    "ps-nn": (Stage(1, 1e-3, 500), Stage(1, 1e-4, 500), Stage(2, 1e-4, 200), Stage(5, 1e-4, 200),
              Stage(10, 1e-4, 500)),
    "kernel": (Stage(1, 1e-2, 500), Stage(1, 1e-3, 500), Stage(2, 1e-3, 200), Stage(5, 1e-3, 200),
               Stage(10, 1e-3, 500)),
}


def parse_curriculum(spec) -> tuple[Stage, ...]:
    """A curriculum from a name in :data:`CURRICULA`, ``"1:1e-2:1000,2:1e-2:200"``, or stages."""
    if isinstance(spec, str):
        if spec in CURRICULA:
            return CURRICULA[spec]
        stages = []
        for part in spec.split(","):
            try:
                nu, lr, ep = part.split(":")
                stages.append(Stage(int(nu), float(lr), int(ep)))
            except ValueError:
                raise ValueError(f"bad curriculum stage {part!r}; expected N_u:lr:epochs") from None
        return tuple(stages)
    return tuple(s if isinstance(s, Stage) else Stage(*s) for s in spec)


def _stop_requested(stop) -> bool:
    if stop is None:
        return False
    if hasattr(stop, "is_set"):
        return bool(stop.is_set())
    return bool(stop())


@dataclass
class _State:
    stage: int = 0
    epoch: int = 0          # next epoch to run within the stage
    best_loss: float = math.inf
    best_state: dict | None = None
    history: list = field(default_factory=list)


class Trainer:
    """Fits an operator to phase-space records with an unrolled curriculum.

    Parameters
    ----------
    curriculum : str or sequence of Stage
        Stages; default Table 2's ``ps-tensor`` column.
    solver : GridSolver
        Time integration (default forward Euler, sub-steps from the stability bound).
    reg : float
        ``lambda_reg``; 0 disables the penalty.
    reg_order : {1, 2}
        Order of the penalised time derivative.
    reg_velocity : float
        ``lambda_v``, weight of the penalty on velocity derivatives (speed for
        isotropic operators), in natural units per grid bin; 0 disables it.
        It fills in where the data leave a coefficient undetermined (speeds
        few training populations reach) from where they do not.
    reg_velocity_order : {1, 2}
        Order of the penalised velocity derivative (default 2: straight lines
        cost nothing).
    seed : int
        Seeds torch before training.
    callback : callable, optional
        Receives event dicts: ``{"event": "stage"|"epoch"|"snapshot"|"checkpoint"|"done", ...}``.
    stop : threading.Event, multiprocessing.Event or callable, optional
        Checked before every epoch; when set the run stops cleanly.
    checkpoint : path, optional
        File to checkpoint to every ``checkpoint_every`` epochs and at the end;
        when it exists, :meth:`fit` resumes from it.
    snapshot_every : int
        Epochs between coefficient snapshots sent to the callback.
    dtype : torch dtype
        Precision of the rollouts (float32 default; coefficients are float64).

    Attributes
    ----------
    status_ : str
        ``finished``, ``stopped`` or ``diverged``.
    message_ : str
    best_loss_ : float
        Lowest training loss of the last stage reached.
    history_ : list of dict
        ``stage, epoch, loss, n_substeps, mean_substeps, seconds`` per epoch
        (the largest and the mean sub-steps per frame).
    train_seconds_ : float
    """

    def __init__(self, curriculum="ps-tensor", *, solver: GridSolver | None = None, reg: float = 0.0,
                 reg_order: int = 1, reg_velocity: float = 0.0, reg_velocity_order: int = 2,
                 seed: int = 0, callback=None, stop=None, checkpoint=None,
                 checkpoint_every: int = 100, snapshot_every: int = 25, dtype=torch.float32):
        self.curriculum = parse_curriculum(curriculum)
        if not self.curriculum:
            raise ValueError("empty curriculum")
        if reg_order not in (1, 2) or reg_velocity_order not in (1, 2):
            raise ValueError("reg_order and reg_velocity_order must be 1 or 2")
        if reg < 0 or reg_velocity < 0:
            raise ValueError("regularisation weights must be >= 0")
        self.solver = solver or ForwardEuler()
        self.reg, self.reg_order, self.seed = float(reg), int(reg_order), int(seed)
        self.reg_velocity, self.reg_velocity_order = float(reg_velocity), int(reg_velocity_order)
        self.callback, self.stop = callback, stop
        self.checkpoint = None if checkpoint is None else os.fspath(checkpoint)
        self.checkpoint_every, self.snapshot_every = int(checkpoint_every), int(snapshot_every)
        self.dtype = dtype

    # -- helpers ------------------------------------------------------------
    def _emit(self, **event):
        if self.callback is not None:
            self.callback(event)

    def _save(self, op, opt, st: _State):
        if not self.checkpoint:
            return
        with atomic_path(self.checkpoint) as tmp:
            torch.save({"operator": op.state_dict(), "optimizer": opt.state_dict(),
                        "state": asdict(st), "curriculum": [asdict(s) for s in self.curriculum]}, tmp)
        self._emit(event="checkpoint", stage=st.stage, epoch=st.epoch)

    def _load(self, op, st: _State):
        if not (self.checkpoint and os.path.exists(self.checkpoint)):
            return None
        ck = torch.load(self.checkpoint, weights_only=False)
        if [tuple(s.values()) for s in ck["curriculum"]] != [tuple(asdict(s).values()) for s in self.curriculum]:
            raise ValueError(f"{self.checkpoint}: checkpoint was written with another curriculum")
        op.load_state_dict(ck["operator"])
        for k, v in ck["state"].items():
            setattr(st, k, v)
        return ck["optimizer"]

    def _loss(self, op, data: Record, fs: torch.Tensor, nu: int):
        """Eq. (8) for all start frames; ``fs`` is (T, P, N, M)."""
        T = fs.shape[0]
        S = T - nu
        W = op.stencil(data.grid, data.times[:-1], dtype=self.dtype)   # (T-1, 9, N, M)
        dt = torch.as_tensor(data.dt, dtype=self.dtype)
        n_sub = self.solver.substeps(W.detach(), dt)          # per frame
        Wdt = self.solver.scaled(W, dt, n_sub)
        loss = self.solver.unrolled_abs_error(Wdt, fs, nu, n_sub) / (nu * fs[:S].numel())
        if self.reg > 0:
            loss = loss + self.reg * op.regularization(self.reg_order, data.times[:-1])
        if self.reg_velocity > 0:
            loss = loss + self.reg_velocity * op.regularization(
                self.reg_velocity_order, data.times[:-1], along="velocity", grid=data.grid)
        return loss, n_sub

    # -- the loop -------------------------------------------------------------
    def fit(self, op, data: Record) -> "Trainer":
        """Train ``op`` (in place) on ``data``; returns ``self``."""
        torch.manual_seed(self.seed)
        T = data.f.shape[1]
        if T < 2:
            raise ValueError("need at least two frames to train")
        fs = data.f.to(self.dtype).permute(1, 0, 2, 3).contiguous()   # (T, P, N, M)
        st = _State()
        opt = torch.optim.Adam(op.parameters(), lr=self.curriculum[0].lr)
        ck_opt = self._load(op, st)
        if ck_opt is not None:
            opt.load_state_dict(ck_opt)
        elapsed0 = st.history[-1]["seconds"] if st.history else 0.0
        t_start = time.perf_counter() - elapsed0
        self.status_, self.message_ = "finished", ""
        fallback = copy.deepcopy(op.state_dict()) if st.best_state is None else st.best_state
        while st.stage < len(self.curriculum):
            stage = self.curriculum[st.stage]
            nu = min(stage.n_unroll, T - 1)
            for g in opt.param_groups:
                g["lr"] = stage.lr
            if st.epoch == 0:
                self._emit(event="stage", stage=st.stage, n_stages=len(self.curriculum),
                           n_unroll=nu, lr=stage.lr, epochs=stage.epochs)
            while st.epoch < stage.epochs:
                if _stop_requested(self.stop):
                    self.status_, self.message_ = "stopped", "stop requested"
                    break
                opt.zero_grad(set_to_none=True)
                loss, n_sub = self._loss(op, data, fs, nu)
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    self.status_ = "diverged"
                    self.message_ = (f"non-finite loss at stage {st.stage + 1} epoch {st.epoch + 1}; "
                                     "kept the best weights")
                    break
                if lv < st.best_loss:
                    st.best_loss = lv
                    st.best_state = copy.deepcopy(op.state_dict())
                loss.backward()
                opt.step()
                op.project_()
                seconds = time.perf_counter() - t_start
                rec = {"stage": st.stage, "epoch": st.epoch, "loss": lv,
                       "n_substeps": int(np.max(n_sub)), "mean_substeps": float(np.mean(n_sub)),
                       "seconds": seconds}
                st.history.append(rec)
                st.epoch += 1
                self._emit(event="epoch", n_stages=len(self.curriculum), epochs=stage.epochs, **rec)
                if self.snapshot_every and st.epoch % self.snapshot_every == 0:
                    self._emit(event="snapshot", stage=st.stage, epoch=st.epoch, operator=op)
                if self.checkpoint_every and st.epoch % self.checkpoint_every == 0:
                    self._save(op, opt, st)
            if self.status_ != "finished":
                break
            if st.stage < len(self.curriculum) - 1:
                fallback = st.best_state or fallback
                st.best_loss, st.best_state = math.inf, None
                st.epoch = 0
            st.stage += 1
        if st.stage >= len(self.curriculum):
            st.stage = len(self.curriculum) - 1
            st.epoch = self.curriculum[-1].epochs
        self._save(op, opt, st)
        best = st.best_state or fallback
        op.load_state_dict(best)
        self.best_loss_ = st.best_loss
        self.history_ = st.history
        self.train_seconds_ = st.history[-1]["seconds"] if st.history else 0.0
        self.stage_reached_ = st.stage
        self._emit(event="done", status=self.status_, message=self.message_,
                   best_loss=self.best_loss_, seconds=self.train_seconds_, operator=op)
        return self
