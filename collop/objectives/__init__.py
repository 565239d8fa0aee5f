"""Training objectives: what the shared training loop minimises.

An objective prepares the data once, then gives the loss of an operator for
each curriculum stage. The loop itself (:class:`collop.train.Trainer`:
curriculum, events, stop flag, checkpoints, NaN handling, best weights) does
not know which objective it runs. Families name their objective in
``Operator.objective``; :data:`OBJECTIVES` maps those names to classes.
"""
from .base import Objective
from .registry import OBJECTIVES, get, register
from .rollout import RolloutMAE, RolloutOptions

__all__ = ["Objective", "RolloutMAE", "RolloutOptions", "OBJECTIVES", "get", "register"]
