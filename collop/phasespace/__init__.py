"""Velocity-space sub-populations of particles and their histograms.

A *sub-population* is a set of particles chosen at a start frame ``t0`` so
that their velocities follow a target distribution (a *shape*); following the
same particles over later frames and histogramming them gives the phase-space
evolution ``f(population, time, vx, vy)`` that the operator learners fit
(Carvalho et al., Appendix C). Velocities are in the particles'
``velocity_units``; population names follow the paper's Table 4 and are in
units of ``unit`` (the paper's 0.01c = v_w/2).
"""
from .build import build_phasespace
from .deposit import DEPOSITS, histogram
from .sampling import CoverageWarning, SamplingReport, sample_population
from .shapes import TABLE4, Maxwellian, Mixture, Normal, Ring, Uniform, Waterbag, parse_population

__all__ = ["Uniform", "Normal", "Ring", "Waterbag", "Maxwellian", "Mixture", "TABLE4",
           "parse_population", "CoverageWarning", "SamplingReport", "sample_population",
           "DEPOSITS", "histogram", "build_phasespace"]
