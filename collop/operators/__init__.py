"""Collision operators as torch modules, one family per file."""
from .fields import Field, MLPField, TensorField
from .fokker_planck import FokkerPlanck, Full, Isotropic

__all__ = ["Field", "TensorField", "MLPField", "FokkerPlanck", "Isotropic", "Full"]
