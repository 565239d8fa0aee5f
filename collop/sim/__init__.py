"""Data generators. :mod:`collop.sim.langevin`: particles under a known Fokker-Planck operator; :mod:`collop.sim.pic`: a 2D electrostatic PIC."""
from .langevin import IsotropicTruth, default_truth, generate, truth_operator_dataset

__all__ = ["IsotropicTruth", "default_truth", "generate", "truth_operator_dataset"]
