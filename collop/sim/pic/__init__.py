"""A 2D periodic electrostatic particle-in-cell engine (one electron species, fixed ions).

- :mod:`~collop.sim.pic.engine`: :class:`PICConfig` (parameters, normalisation and
  equations), :class:`PIC` (the state, stepped), the FFT field solve.
- :mod:`~collop.sim.pic.kernels`: deposit / gather / push, numba (CPU) and torch
  (reference, CUDA).
- :mod:`~collop.sim.pic.presets`: ``sim1``, ``sim2``, ``sim3`` (analogues of the
  paper's Table 3).
- :mod:`~collop.sim.pic.run`: :func:`generate`, which runs a configuration and
  streams every particle's velocity at every dump into a ``particles`` dataset.
"""
from .engine import PIC, PICConfig, PICError, field_solve
from .presets import PRESETS, preset
from .run import TIME_UNITS, VELOCITY_UNITS, generate, kurtosis

__all__ = ["PIC", "PICConfig", "PICError", "field_solve", "PRESETS", "preset", "generate",
           "kurtosis", "VELOCITY_UNITS", "TIME_UNITS"]
