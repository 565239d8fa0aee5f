"""Collision operators as torch modules: one family per module, found through :mod:`.registry`.

Every family implements :class:`~collop.operators.base.Operator`; the
Fokker-Planck family composes a parametrisation (:mod:`.fields`) with a
symmetry (:mod:`.symmetries`).
"""
from .base import Operator
from .fields import Field, MLPField, TensorField
from .fokker_planck import FokkerPlanck, FokkerPlanckOptions, FokkerPlanckPenalties
from .symmetries import Full, Isotropic

__all__ = ["Operator", "Field", "TensorField", "MLPField", "FokkerPlanck", "FokkerPlanckOptions",
           "FokkerPlanckPenalties", "Isotropic", "Full"]
