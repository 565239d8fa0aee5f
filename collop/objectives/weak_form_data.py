"""Training data of the weak-form objective: MD runs, their checks, and Landau's least-squares scale.

:func:`select_runs` and :func:`run_velocities` check an MD ``particles`` file
(a ``run`` dimension, known run names, three velocity components);
:class:`WeakFormData` holds the training runs as arrays; :func:`landau_scale`
is the closed-form least-squares Landau ``c0`` of the weak form, used to start
and scale every fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import parse_names
from ..kinetic.geometry import pair_frame
from ..kinetic.testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions
from ..kinetic.weakform import md_side, md_side_variance, pair_coefficients, pair_contributions, time_weights
from ..schema import CollopError

__all__ = ["WeakFormData", "select_runs", "run_velocities", "landau_scale", "noise_weights", "pair_magnitudes",
           "central_ranges"]


def _src(ds) -> str:
    return str(ds.encoding.get("source") or ds.attrs.get("source") or "dataset")


def select_runs(ds, names) -> list[str]:
    """Check that ``ds`` has runs and knows every name; ``"all"`` selects all (:class:`CollopError`)."""
    src = _src(ds)
    if "v" not in ds or "run" not in ds["v"].dims:
        raise CollopError(f"{src}: has no 'run' dimension; the weak-form training needs an MD particles "
                          "file with one run per initial distribution (collop generate md)")
    have = [str(r) for r in ds["run"].values]
    names = parse_names(names)
    if names == ["all"]:
        return have
    if not names:
        raise CollopError(f"{src}: no runs selected")
    missing = [n for n in names if n not in have]
    if missing:
        raise CollopError(f"{src}: unknown run(s) {', '.join(missing)}; the file has {', '.join(have)}")
    if len(set(names)) != len(names):
        raise CollopError(f"{src}: run(s) listed twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return names


def run_velocities(ds, name: str) -> np.ndarray:
    """``v(time, particle, component)`` of one run as float64 (checks 3 components)."""
    src = _src(ds)
    comps = [str(c) for c in ds["component"].values]
    if comps != ["x", "y", "z"]:
        raise CollopError(f"{src}: the metriplectic kernels need 3 velocity components, the file has {comps}")
    return np.asarray(ds["v"].sel(run=name).transpose("time", "particle", "component").values, dtype=np.float64)


@dataclass
class WeakFormData:
    """Training runs of an MD file, ready for :class:`collop.objectives.weak_form.WeakForm`.

    Attributes
    ----------
    v : ndarray, shape (M, T, N, 3)
        Velocities (data units).
    times : ndarray (T,)
    names : list of str
    v_scale : float
        Thermal speed ``sqrt(<|v - v_bar|^2>/3)`` over all runs and frames.
    vbar : ndarray (M, T, 3)
        Mean velocity of every frame.
    velocity_units, time_units, source : str
    grid : KernelGrid
        The ``(u, r, s)`` grid of the operator file's tables (99.9 % of pair magnitudes).
    attrs : dict
        Attributes of the MD file worth recording (``gamma``, ...).
    """

    v: np.ndarray
    times: np.ndarray
    names: list
    v_scale: float
    vbar: np.ndarray
    velocity_units: str
    time_units: str
    source: str
    grid: object = None
    attrs: dict = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return self.v.shape[0]

    @property
    def n_particles(self) -> int:
        return self.v.shape[2]


def _pair_sample(data: WeakFormData, n: int, seed: int):
    """``n`` random pairs (distinct particles, same frame) over all frames: ``v1, v2, vbar (n, 3)``."""
    g = np.random.default_rng(seed)
    M, T, N, _ = data.v.shape
    m, t = g.integers(0, M, n), g.integers(0, T, n)
    i = g.integers(0, N, n)
    j = (i + g.integers(1, N, n)) % N
    return data.v[m, t, i], data.v[m, t, j], data.vbar[m, t]


def pair_magnitudes(data: WeakFormData, n: int = 200_000, seed: int = 1):
    """``u = |v - v'|`` and ``r = |v + v' - 2 vbar|`` of ``n`` random same-frame pairs (velocity units of the data)."""
    v1, v2, vb = _pair_sample(data, n, seed)
    return np.linalg.norm(v1 - v2, axis=-1), np.linalg.norm(v1 + v2 - 2 * vb, axis=-1)


def central_ranges(data: WeakFormData, n: int = 200_000, seed: int = 1):
    """``(u_lo, u_hi), (r_lo, r_hi)``: the 5 % and 95 % quantiles of :func:`pair_magnitudes`.

    The (u, r) range holding 90 % of the training pairs, on which learned
    kernels are compared (Zhao et al., Fig. 1).
    """
    u, r = pair_magnitudes(data, n, seed)
    return np.quantile(u, [0.05, 0.95]), np.quantile(r, [0.05, 0.95])


def noise_weights(v: np.ndarray, times: np.ndarray, tf: TestFunctions) -> np.ndarray:
    """Inverse-variance weights ``w (M, T-1, K)`` of the weak-form residuals, normalised to mean 1.

    ``w_mlk = 1 / var(a_mlk)`` with the sampling variance of the MD side
    (:func:`collop.kinetic.weakform.md_side_variance`); variances below
    1e-12 of the largest (frames that do not change) are raised to it.
    """
    var = md_side_variance(v, times, tf)
    var = np.maximum(var, 1e-12 * max(float(var.max()), 1e-300))
    w = 1.0 / var
    return w / w.mean()


def landau_scale(data: WeakFormData, *, pairs_per_frame: int = 200, seed: int = 0,
                 test_functions=PAPER_TEST_FUNCTIONS, time_rule: str = "trapezoid",
                 weights: np.ndarray | None = None) -> float:
    """Least-squares ``c0`` of the Landau kernel in the weak form, from a small pair sample.

    The Landau model side is linear in ``c0`` (``b = c0 b1``), so the
    weak-form loss is minimised by ``c0 = sum(w a b1)/sum(w b1 b1)``, here with
    independent half-samples in the denominator (unbiased), ``pairs_per_frame``
    pairs per frame, ``b1`` averaged over each frame interval by ``time_rule``
    (:func:`collop.kinetic.weakform.time_weights`) and residual weights
    ``weights (M, T-1, K)`` (default 1). Used as the starting ``c0`` and the
    scale of the networks; if the data do not relax (``c0 <= 0``) the scale
    falls back to ``sigma^3 / (t_end - t_0)``.
    """
    from ..kinetic.kernels import LandauKernel

    tf = TestFunctions(test_functions, data.v_scale)
    a = md_side(data.v, data.times, tf)                                # (M, T-1, K)
    M, T, N, _ = data.v.shape
    kern = LandauKernel(1.0, data.v_scale)
    g = np.random.default_rng(seed)
    b = np.zeros((2, M, T, len(tf)))
    with torch.no_grad():
        for h in range(2):
            i = g.integers(0, N, (M, T, pairs_per_frame))
            j = (i + g.integers(1, N, (M, T, pairs_per_frame))) % N
            mm, tt = np.meshgrid(np.arange(M), np.arange(T), indexing="ij")
            v1 = torch.as_tensor(data.v[mm[..., None], tt[..., None], i].reshape(-1, 3))
            v2 = torch.as_tensor(data.v[mm[..., None], tt[..., None], j].reshape(-1, 3))
            vb = torch.as_tensor(np.repeat(data.vbar.reshape(-1, 3), pairs_per_frame, 0))
            fr = pair_frame(v1, v2, vb)
            co = pair_coefficients(fr, tf.derivatives(v1), tf.derivatives(v2), True)
            c = pair_contributions(kern, fr, co).numpy().reshape(M, T, pairs_per_frame, -1)
            b[h] = c.mean(2)
    bt = np.einsum("lt,hmtk->hmlk", time_weights(data.times, time_rule), b)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float)
    num, den = float((w * a * bt.mean(0)).sum()), float((w * bt[0] * bt[1]).sum())
    c0 = num / den if den > 0 else float("nan")
    if not (math.isfinite(c0) and c0 > 0):
        c0 = data.v_scale ** 3 / max(float(data.times[-1] - data.times[0]), 1e-300)
    return c0
