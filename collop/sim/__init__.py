"""Data generators. :mod:`collop.sim.langevin`: particles under a known Fokker-Planck operator; :mod:`collop.sim.pic`: a 2D electrostatic PIC; :mod:`collop.sim.md`: molecular dynamics of the one-component plasma on OpenMM (``from collop.sim.md import generate``; not imported here, so that OpenMM loads only when used)."""
from .langevin import IsotropicTruth, default_truth, generate, truth_operator_dataset

__all__ = ["IsotropicTruth", "default_truth", "generate", "truth_operator_dataset"]
