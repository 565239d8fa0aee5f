"""The training loop shared by every operator family and objective.

One loop serves the command line, the app and sweeps: a curriculum of stages
(each an unroll horizon or batch setting, a learning rate and a number of
epochs) run with Adam on the loss an *objective* gives
(:mod:`collop.objectives`: the unrolled rollout MAE of eq. (8) of Carvalho et
al., or a weak-form loss). The loop reports progress to a callback, honours a
stop flag, checkpoints so an interrupted run resumes, stops cleanly on a
non-finite loss, and keeps the weights with the lowest training loss of the
last stage reached.
"""
from __future__ import annotations

import copy
import math
import os
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, field

import torch

from .io.netcdf import atomic_path
from .schema import CollopError

__all__ = ["Stage", "CURRICULA", "parse_curriculum", "Trainer", "CheckpointError", "read_checkpoint"]


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
    """A curriculum from a name in :data:`CURRICULA`, ``"1:1e-2:1000,2:1e-2:200"``, or stages.

    Raises
    ------
    ValueError
        An empty curriculum, a stage that is not ``N_u:lr:epochs``, or one with
        ``N_u < 1``, a negative or non-finite ``lr``, or ``epochs < 1``.
    """
    if isinstance(spec, str):
        if spec in CURRICULA:
            return CURRICULA[spec]
        if not spec.strip():
            raise ValueError("empty curriculum")
        stages = []
        for part in spec.split(","):
            try:
                nu, lr, ep = part.split(":")
                stages.append(Stage(int(nu), float(lr), int(ep)))
            except ValueError:
                raise ValueError(f"bad curriculum stage {part!r}; expected N_u:lr:epochs") from None
    else:
        stages = [s if isinstance(s, Stage) else Stage(*s) for s in spec]
    if not stages:
        raise ValueError("empty curriculum")
    for st in stages:
        if st.n_unroll < 1 or not (st.lr >= 0 and math.isfinite(st.lr)) or st.epochs < 1:
            raise ValueError(f"stage {st.n_unroll}:{st.lr:g}:{st.epochs} needs N_u >= 1, a finite lr >= 0 "
                             "and epochs >= 1")
    return tuple(stages)


def _adam(op, lr: float) -> torch.optim.Adam:
    """Adam on ``op``'s parameters; PyTorch's fused update (one pass over each tensor) where it applies.

    The fused step equals the loop of single-tensor operations to rounding (2e-16
    after 200 float64 steps) and takes 2 ms instead of 12-19 ms on PS-Tensor's 2.4
    million sim1 parameters (2 threads).
    """
    params = [p for p in op.parameters() if p.requires_grad]
    devices = {p.device.type for p in params}
    fused = bool(params) and len(devices) == 1 and devices <= {"cpu", "cuda"} and \
        all(p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64) for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


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


#: What a training keeps of each stage: the weights of the lowest loss, the last weights, or the mean
#: of the iterates over the stage's second half.
KEEP = ("best", "last", "average")


def _accumulate_mean(mean: dict | None, op, n: int) -> dict:
    """The running mean of ``op``'s weights with its ``n``-th iterate added (``n = 1`` starts it)."""
    if n == 1:
        return copy.deepcopy(op.state_dict())
    for k, v in op.state_dict().items():
        if v.is_floating_point():
            mean[k].add_(v.detach() - mean[k], alpha=1.0 / n)
        else:
            mean[k] = v.detach().clone()
    return mean


class CheckpointError(CollopError, ValueError):
    """A checkpoint file that cannot be used (truncated, foreign, or from another curriculum)."""


def read_checkpoint(path) -> dict:
    """Load a checkpoint written by :class:`Trainer` without executing anything in it.

    ``torch.load(weights_only=True)`` unpickles only tensors and plain
    containers, so a crafted file cannot run code.

    Raises
    ------
    CheckpointError
        One line naming the file: unreadable, truncated, or not a checkpoint.
    """
    path = os.fspath(path)
    try:
        ck = torch.load(path, weights_only=True, map_location="cpu")
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a usable checkpoint (truncated or corrupt? {first[:160]})") from None
    if not isinstance(ck, dict) or not {"operator", "optimizer", "state", "curriculum"} <= set(ck):
        raise CheckpointError(f"{path}: not a collop checkpoint")
    return ck


class Trainer:
    r"""Fits an operator with a curriculum, minimising an injected objective.

    Parameters
    ----------
    curriculum : str or sequence of Stage
        Stages; default Table 2's ``ps-tensor`` column.
    objective : Objective, optional
        What is minimised (default :class:`collop.objectives.RolloutMAE` with
        forward Euler: the unrolled rollout MAE of eq. 8).
    seed : int
        Seeds torch before training.
    callback : callable, optional
        Receives event dicts: ``{"event": "stage"|"epoch"|"snapshot"|"checkpoint"|"done", ...}``.
    stop : threading.Event, multiprocessing.Event or callable, optional
        Checked before every epoch; when set the run stops cleanly.
    checkpoint : path, optional
        File to checkpoint to every ``checkpoint_every`` epochs and at the end;
        when it exists, :meth:`fit` resumes from it.
    resume_from : dict, optional
        A checkpoint already read with :func:`read_checkpoint` (the pipeline
        reads it before it touches the run folder); takes the place of
        reading ``checkpoint``.
    snapshot_every : int
        Epochs between coefficient snapshots sent to the callback.
    lr_decay : (float, int), optional
        ``(gamma, every)``: multiply the stage's learning rate by ``gamma``
        every ``every`` epochs of the stage (e.g. ``(0.99, 2000)``).

    Notes
    -----
    An objective may carry its own defaults, used where the arguments above
    are not given: ``lr_decay``, ``snapshot_every``, ``checkpoint_every``
    (an epoch of a stochastic objective is one cheap step), and
    ``keep``, what is kept of each stage (:data:`KEEP`): ``"best"`` (the
    default) the weights of the lowest training loss; ``"last"`` the last
    weights with a finite loss (a noisy loss's minimum is noise);
    ``"average"`` the mean of the iterates over the stage's second half
    (Polyak-Ruppert averaging),

    .. math:: \bar\theta = \frac{1}{E - \lceil E/2 \rceil}
              \sum_{e = \lceil E/2 \rceil}^{E - 1} \theta_{e+1},

    with ``theta_{e+1}`` the weights after epoch ``e`` of ``E``: on a noisy
    gradient the iterates wander around the minimiser and their mean much
    less. With ``"last"`` and ``"average"``, ``best_loss_`` is the loss of
    the last epoch.

    Attributes
    ----------
    status_ : str
        ``finished``, ``stopped`` or ``diverged``.
    message_ : str
    best_loss_ : float
        Lowest training loss of the last stage reached.
    history_ : list of dict
        ``stage, epoch, loss, seconds`` per epoch, plus what the objective
        reports (the rollout objective: ``n_substeps, mean_substeps``, the
        largest and the mean sub-steps per frame, and ``estimated_frames``,
        the frames estimated spectrally so far).
    train_seconds_ : float
    stage_reached_ : int
    """

    def __init__(self, curriculum="ps-tensor", *, objective=None, seed: int = 0, callback=None,
                 stop=None, checkpoint=None, resume_from: dict | None = None,
                 checkpoint_every: int | None = None, snapshot_every: int | None = None, lr_decay=None):
        self.curriculum = parse_curriculum(curriculum)
        if objective is None:
            from .objectives import RolloutMAE
            objective = RolloutMAE()
        self.objective = objective
        self.seed = int(seed)
        self.callback, self.stop = callback, stop
        self.checkpoint = None if checkpoint is None else os.fspath(checkpoint)
        self.resume_from = resume_from
        if checkpoint_every is None:
            checkpoint_every = getattr(objective, "checkpoint_every", 100)
        if snapshot_every is None:
            snapshot_every = getattr(objective, "snapshot_every", 25)
        self.checkpoint_every, self.snapshot_every = int(checkpoint_every), int(snapshot_every)
        self.lr_decay = lr_decay if lr_decay is not None else getattr(objective, "lr_decay", None)
        self.keep = getattr(objective, "keep", "best")
        if self.keep not in KEEP:
            raise ValueError(f"keep={self.keep!r}: expected one of {', '.join(KEEP)}")

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
        self._emit(event="checkpoint", stage=st.stage, epoch=st.epoch, epochs_done=len(st.history))

    def _load(self, op, st: _State):
        ck = self.resume_from
        if ck is None:
            if not (self.checkpoint and os.path.exists(self.checkpoint)):
                return None
            ck = read_checkpoint(self.checkpoint)
        where = self.checkpoint or "checkpoint"
        if [tuple(s.values()) for s in ck["curriculum"]] != [tuple(asdict(s).values()) for s in self.curriculum]:
            raise CheckpointError(f"{where}: checkpoint was written with another curriculum")
        try:
            op.load_state_dict(ck["operator"])
        except RuntimeError as exc:
            raise CheckpointError(f"{where}: checkpoint holds another operator "
                                  f"({str(exc).splitlines()[0][:160]})") from None
        for k, v in ck["state"].items():
            setattr(st, k, v)
        return ck["optimizer"]

    def _lr(self, stage: Stage, epoch: int) -> float:
        if not self.lr_decay:
            return stage.lr
        gamma, every = self.lr_decay
        return stage.lr * gamma ** (epoch // int(every))

    # -- the loop -------------------------------------------------------------
    def fit(self, op, data) -> "Trainer":
        """Train ``op`` (in place) on ``data``; returns ``self``."""
        torch.manual_seed(self.seed)
        self.objective.prepare(data)
        st = _State()
        opt = _adam(op, self.curriculum[0].lr)
        ck_opt = self._load(op, st)
        if ck_opt is not None:
            opt.load_state_dict(ck_opt)
        elapsed0 = st.history[-1]["seconds"] if st.history else 0.0
        t_start = time.perf_counter() - elapsed0
        self.status_, self.message_ = "finished", ""
        fallback = copy.deepcopy(op.state_dict()) if st.best_state is None else st.best_state
        n_stages = len(self.curriculum)
        while st.stage < n_stages:
            stage = self.curriculum[st.stage]
            if st.epoch == 0:
                horizon = getattr(self.objective, "horizon", None)
                self._emit(event="stage", stage=st.stage, n_stages=n_stages,
                           n_unroll=horizon(stage) if horizon else stage.n_unroll,
                           lr=stage.lr, epochs=stage.epochs)
            while st.epoch < stage.epochs:
                if _stop_requested(self.stop):
                    self.status_, self.message_ = "stopped", "stop requested"
                    break
                for g in opt.param_groups:
                    g["lr"] = self._lr(stage, st.epoch)
                opt.zero_grad(set_to_none=True)
                loss, info = self.objective(op, stage)
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    self.status_ = "diverged"
                    self.message_ = (f"non-finite loss at stage {st.stage + 1} epoch {st.epoch + 1}; "
                                     "kept the best weights")
                    break
                if self.keep == "last" or (self.keep == "best" and lv < st.best_loss):
                    st.best_loss = lv
                    st.best_state = copy.deepcopy(op.state_dict())
                loss.backward()
                opt.step()
                op.project_()
                if self.keep == "average":
                    st.best_loss = lv
                    first = (stage.epochs + 1) // 2     # ceil(E/2): the first epoch averaged
                    st.best_state = (_accumulate_mean(st.best_state, op, st.epoch - first + 1)
                                     if st.epoch >= first else
                                     copy.deepcopy(op.state_dict()))  # the last iterate until then
                seconds = time.perf_counter() - t_start
                rec = {"stage": st.stage, "epoch": st.epoch, "loss": lv, **info, "seconds": seconds}
                st.history.append(rec)
                st.epoch += 1
                self._emit(event="epoch", n_stages=n_stages, epochs=stage.epochs, **rec)
                if self.snapshot_every and st.epoch % self.snapshot_every == 0:
                    self._emit(event="snapshot", stage=st.stage, epoch=st.epoch, operator=op)
                if self.checkpoint_every and st.epoch % self.checkpoint_every == 0:
                    self._save(op, opt, st)
            if self.status_ != "finished":
                break
            if st.stage < n_stages - 1:
                fallback = st.best_state or fallback
                st.best_loss, st.best_state = math.inf, None
                st.epoch = 0
            st.stage += 1
        if st.stage >= n_stages:
            st.stage = n_stages - 1
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
