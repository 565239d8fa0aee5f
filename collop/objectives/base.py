"""The interface of a training objective."""
from __future__ import annotations

from typing import ClassVar

import torch

from ..options import options

__all__ = ["Objective", "NoObjectiveOptions"]


@options
class NoObjectiveOptions:
    """An objective without options."""


class Objective:
    """What :class:`collop.train.Trainer` minimises.

    Subclasses set ``name`` and ``Options`` and implement :meth:`load`,
    :meth:`prepare`, :meth:`loss` and :meth:`evaluate`.

    Parameters
    ----------
    options : Options, optional
        The objective's options (validated).
    penalties : object, optional
        The operator family's penalty weights, passed to
        ``operator.penalty(penalties, data)`` and added to the loss.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type] = NoObjectiveOptions
    #: Kind of data file the objective trains on (``phasespace``, ``particles``).
    data_kind: ClassVar[str] = "phasespace"

    def __init__(self, options=None, penalties=None):
        self.options = options if options is not None else self.Options()
        self.penalties = penalties

    # -- data ------------------------------------------------------------------------
    @classmethod
    def select(cls, ds, names) -> list[str]:
        """Check the names of ``ds``'s populations (or runs) and expand ``"all"``; a list of names."""
        from ..data import select_populations

        return select_populations(ds, names)

    @classmethod
    def load(cls, ds, names, options, *, role: str = "train"):
        """The data of ``names`` in the dataset ``ds``, ready for :meth:`prepare` (raises ``CollopError``).

        ``role`` is ``"train"`` or ``"test"`` (test data are only checked).
        """
        raise NotImplementedError

    def prepare(self, data) -> None:
        """Called once by :meth:`Trainer.fit` before the first epoch."""
        self.data = data

    # -- the loss ----------------------------------------------------------------------
    def loss(self, op, stage) -> tuple[torch.Tensor, dict]:
        """The loss of ``op`` at curriculum ``stage`` (differentiable) and extra epoch figures."""
        raise NotImplementedError

    def __call__(self, op, stage):
        loss, info = self.loss(op, stage)
        if self.penalties is not None:
            pen = op.penalty(self.penalties, self.data)
            if pen.requires_grad or float(pen) != 0.0:
                loss = loss + pen
        return loss, info

    # -- scoring -----------------------------------------------------------------------
    @classmethod
    def evaluate(cls, operator, data, names, options=None) -> dict:
        """Test metrics of ``operator`` (a module or an operator dataset) on ``names`` of ``data``."""
        raise NotImplementedError
