"""Velocity-space sub-populations of particles and their histograms.

A *sub-population* is a set of particles chosen at a start frame ``t0`` so
that their velocities follow a target distribution (a *shape*); following the
same particles over later frames and histogramming them gives the phase-space
evolution ``f(population, time, vx, vy)`` that the operator learners fit
(Carvalho et al., Appendix C). Velocities are in the particles'
``velocity_units``; population names follow the paper's Table 4 and are in
units of ``unit`` (the paper's 0.01c = v_w/2).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import xarray as xr
from scipy.special import ndtr, ndtri

from . import _deposit_kernels as _dk
from .datasets import phasespace_dataset
from .grid import VelocityGrid
from .schema import CollopError

__all__ = ["Uniform", "Normal", "Ring", "Waterbag", "Maxwellian", "Mixture", "TABLE4",
           "parse_population", "CoverageWarning", "SamplingReport", "sample_population",
           "histogram", "build_phasespace"]

TABLE4 = ["uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0",
          "normal_-2_-2", "normal_-2_0", "normal_rot0", "normal_rot45", "ring_0.5", "ring_1.0",
          "ring_1.5"]
"""The paper's 12 sub-populations (Table 4), in its order, velocities in units of 0.01c."""


class CoverageWarning(UserWarning):
    """The particles at the start frame do not cover a target population well."""


def _xy(vx, vy):
    return np.asarray(vx, dtype=float), np.asarray(vy, dtype=float)


# Every shape has pdf(vx, vy) (a probability density in 2D velocity space,
# integrating to 1, in 1/velocity_units**2), sample(n, rng) -> (n, 2) and
# moments() -> (mean (2,), covariance (2, 2)).

@dataclass(frozen=True)
class Uniform:
    """Uniform density on the rectangle ``[xmin, xmax] x [ymin, ymax]`` (velocity units)."""

    xmin: float
    xmax: float
    ymin: float
    ymax: float

    def __post_init__(self):
        for k in ("xmin", "xmax", "ymin", "ymax"):
            object.__setattr__(self, k, float(getattr(self, k)))
        if not (self.xmin < self.xmax and self.ymin < self.ymax):
            raise CollopError(f"Uniform needs xmin < xmax and ymin < ymax, got {self}")

    def pdf(self, vx, vy):
        vx, vy = _xy(vx, vy)
        inside = (vx >= self.xmin) & (vx <= self.xmax) & (vy >= self.ymin) & (vy <= self.ymax)
        return inside / ((self.xmax - self.xmin) * (self.ymax - self.ymin))

    def sample(self, n, rng):
        u = rng.random((n, 2))
        return np.column_stack([self.xmin + (self.xmax - self.xmin) * u[:, 0],
                                self.ymin + (self.ymax - self.ymin) * u[:, 1]])

    def moments(self):
        w = np.array([self.xmax - self.xmin, self.ymax - self.ymin])
        return (np.array([self.xmin + self.xmax, self.ymin + self.ymax]) / 2,
                np.diag(w ** 2 / 12))


@dataclass(frozen=True)
class Normal:
    """Bivariate normal with ``mean`` (velocity units) and ``cov`` (velocity units**2)."""

    mean: tuple = (0.0, 0.0)
    cov: tuple = ((1.0, 0.0), (0.0, 1.0))

    def __post_init__(self):
        m = tuple(float(x) for x in np.asarray(self.mean, dtype=float).reshape(2))
        c = np.asarray(self.cov, dtype=float).reshape(2, 2)
        if not np.allclose(c, c.T) or np.linalg.det(c) <= 0 or c[0, 0] <= 0:
            raise CollopError(f"Normal covariance must be symmetric positive definite, "
                              f"got {c.tolist()}")
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "cov", tuple(tuple(float(x) for x in row) for row in c))

    @classmethod
    def rotated(cls, sigma_major2, sigma_minor2, angle_deg, mean=(0.0, 0.0)):
        """Normal with variance ``sigma_major2`` along the direction at ``angle_deg`` (degrees,
        counter-clockwise from +vx) and ``sigma_minor2`` across it (velocity units**2)."""
        a = np.deg2rad(angle_deg)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return cls(mean, r @ np.diag([sigma_major2, sigma_minor2]) @ r.T)

    def pdf(self, vx, vy):
        vx, vy = _xy(vx, vy)
        c = np.asarray(self.cov)
        inv, det = np.linalg.inv(c), np.linalg.det(c)
        dx, dy = vx - self.mean[0], vy - self.mean[1]
        q = inv[0, 0] * dx * dx + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy * dy
        return np.exp(-0.5 * q) / (2 * np.pi * np.sqrt(det))

    def sample(self, n, rng):
        return rng.standard_normal((n, 2)) @ np.linalg.cholesky(np.asarray(self.cov)).T + self.mean

    def moments(self):
        return np.array(self.mean), np.array(self.cov)


@dataclass(frozen=True)
class Ring:
    """Isotropic ring: speed ~ Normal(``radius``, ``sigma``) truncated to >= 0, uniform angle.

    ``pdf(v) = p(|v|) / (2 pi |v|)`` with ``p`` the truncated-normal speed density;
    it has an integrable 1/|v| singularity at the origin when ``p(0) > 0``.
    """

    radius: float
    sigma: float = 0.2

    def __post_init__(self):
        object.__setattr__(self, "radius", float(self.radius))
        object.__setattr__(self, "sigma", float(self.sigma))
        if self.radius < 0 or self.sigma <= 0:
            raise CollopError(f"Ring needs radius >= 0 and sigma > 0, got {self}")

    def pdf(self, vx, vy):
        s = np.hypot(*_xy(vx, vy))
        z = (s - self.radius) / self.sigma
        p = np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * self.sigma * ndtr(self.radius / self.sigma))
        return p / (2 * np.pi * np.maximum(s, 1e-9 * (self.radius + self.sigma)))

    def sample(self, n, rng):
        # inverse CDF of the truncated normal: z = -ndtri(u Phi(a)) lies in (-a, inf)
        z = -ndtri(rng.random(n) * ndtr(self.radius / self.sigma))
        s = np.maximum(self.radius + self.sigma * z, 0.0)
        th = rng.random(n) * 2 * np.pi
        return np.column_stack([s * np.cos(th), s * np.sin(th)])

    def moments(self):
        a = self.radius / self.sigma
        lam = np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi) / ndtr(a)
        mean_s = self.radius + self.sigma * lam
        var_s = self.sigma ** 2 * (1 - a * lam - lam ** 2)
        return np.zeros(2), np.eye(2) * (var_s + mean_s ** 2) / 2


@dataclass(frozen=True)
class Waterbag:
    """Uniform disk of ``radius`` (velocity units): ``f = 1/(pi R^2)`` for ``|v| <= R`` (paper eq. 7)."""

    radius: float

    def __post_init__(self):
        object.__setattr__(self, "radius", float(self.radius))
        if self.radius <= 0:
            raise CollopError(f"Waterbag needs radius > 0, got {self}")

    def pdf(self, vx, vy):
        return (np.hypot(*_xy(vx, vy)) <= self.radius) / (np.pi * self.radius ** 2)

    def sample(self, n, rng):
        s = self.radius * np.sqrt(rng.random(n))
        th = rng.random(n) * 2 * np.pi
        return np.column_stack([s * np.cos(th), s * np.sin(th)])

    def moments(self):
        return np.zeros(2), np.eye(2) * self.radius ** 2 / 4


@dataclass(frozen=True)
class Maxwellian:
    """2D isotropic Maxwellian: normal with variance ``vth**2`` per component around ``mean``."""

    vth: float
    mean: tuple = (0.0, 0.0)

    def __post_init__(self):
        object.__setattr__(self, "vth", float(self.vth))
        if self.vth <= 0:
            raise CollopError(f"Maxwellian needs vth > 0, got {self}")
        object.__setattr__(self, "mean", tuple(float(x) for x in np.reshape(self.mean, 2)))

    def _normal(self):
        return Normal(self.mean, np.eye(2) * self.vth ** 2)

    def pdf(self, vx, vy):
        return self._normal().pdf(vx, vy)

    def sample(self, n, rng):
        return self._normal().sample(n, rng)

    def moments(self):
        return self._normal().moments()


@dataclass(frozen=True)
class Mixture:
    """Weighted sum of shapes; ``weights`` are normalised to sum to 1."""

    components: tuple
    weights: tuple = field(default=None)

    def __post_init__(self):
        comps = tuple(self.components)
        w = np.ones(len(comps)) if self.weights is None else np.asarray(self.weights, dtype=float)
        if not comps or w.shape != (len(comps),) or np.any(w < 0) or w.sum() <= 0:
            raise CollopError(f"Mixture needs components and as many non-negative weights, got {self}")
        object.__setattr__(self, "components", comps)
        object.__setattr__(self, "weights", tuple(float(x) for x in w / w.sum()))

    def pdf(self, vx, vy):
        return sum(w * c.pdf(vx, vy) for c, w in zip(self.components, self.weights))

    def sample(self, n, rng, stratified=False):
        """``n`` samples: multinomial counts, shuffled; or (``stratified``) counts
        proportional to the weights (largest remainder), components in order."""
        if stratified:
            exact = n * np.asarray(self.weights)
            k = np.floor(exact).astype(int)
            k[np.argsort(k - exact, kind="stable")[: n - k.sum()]] += 1
        else:
            k = rng.multinomial(n, self.weights)
        v = np.concatenate([c.sample(int(ki), rng) for c, ki in zip(self.components, k)])
        return v if stratified else v[rng.permutation(len(v))]

    def moments(self):
        ms = [c.moments() for c in self.components]
        m = sum(w * mi for w, (mi, _) in zip(self.weights, ms))
        c = sum(w * (ci + np.outer(mi, mi)) for w, (mi, ci) in zip(self.weights, ms))
        return m, c - np.outer(m, m)


def parse_population(name: str, unit: float = 1.0):
    """Shape of a population name (the paper's Table 4 and a few more).

    Parameters
    ----------
    name : str
        ``uniform_XMIN_XMAX_YMIN_YMAX``, ``normal_MX_MY`` (covariance 0.05 I),
        ``normal_MX_MY_SXX_SYY[_SXY]``, ``normal_rotANGLE`` (mean 0, variance 1
        along the direction at ANGLE degrees, 0.05 across), ``ring_R[_SIGMA]``
        (sigma 0.2), ``waterbag_R`` or ``maxwellian_VTH[_MX_MY]``. The paper's
        ``normal_{-1,-1}`` spelling is accepted too.
    unit : float
        Velocity unit of the numbers in ``name``, in the target velocity units
        (e.g. 0.01 to read the paper's names, in 0.01c, into units of c).
        Means, bounds, radii and widths scale with ``unit``, covariances with ``unit**2``.

    Raises
    ------
    CollopError
        Unknown or malformed name.
    """
    s = str(name).replace("{", "").replace("}", "").replace(",", "_").strip()
    kind, _, rest = s.partition("_")
    toks = rest.split("_") if rest else []
    try:
        if kind == "normal" and len(toks) == 1 and toks[0].startswith("rot"):
            return Normal.rotated(unit ** 2, 0.05 * unit ** 2, float(toks[0][3:]))
        x = [float(t) for t in toks]
        if kind == "uniform" and len(x) == 4:
            return Uniform(*(unit * np.array(x)))
        if kind == "normal" and len(x) == 2:
            return Normal(unit * np.array(x), 0.05 * unit ** 2 * np.eye(2))
        if kind == "normal" and len(x) in (4, 5):
            sxy = x[4] if len(x) == 5 else 0.0
            return Normal(unit * np.array(x[:2]), unit ** 2 * np.array([[x[2], sxy], [sxy, x[3]]]))
        if kind == "ring" and len(x) in (1, 2):
            return Ring(unit * x[0], unit * (x[1] if len(x) == 2 else 0.2))
        if kind == "waterbag" and len(x) == 1:
            return Waterbag(unit * x[0])
        if kind == "maxwellian" and len(x) in (1, 3):
            return Maxwellian(unit * x[0], unit * np.array(x[1:] or [0.0, 0.0]))
    except (ValueError, CollopError) as exc:
        raise CollopError(f"malformed population name {name!r}: {exc}") from None
    raise CollopError(f"unknown population name {name!r}; expected e.g. one of {', '.join(TABLE4)}, "
                      "waterbag_R, maxwellian_VTH or normal_MX_MY_SXX_SYY[_SXY]")


@dataclass
class SamplingReport:
    """How well the start-frame particles cover a target population.

    ``acceptance_rate = accepted / n_background``; ``ess`` is Kish's effective
    sample size ``(sum w)^2 / sum w^2`` of the importance weights
    ``w = pdf / background`` over all particles; ``clipped_fraction`` the target
    mass where ``w > threshold`` (under-represented); ``outside_fraction`` the
    target mass in velocity cells without particles.
    """

    name: str
    requested: int
    accepted: int
    n_background: int
    acceptance_rate: float
    ess: float
    ess_fraction: float
    clipped_fraction: float
    outside_fraction: float
    threshold: float
    warnings: list = field(default_factory=list)


def _background(v0):
    n = len(v0)
    nb = int(np.clip(round(np.sqrt(n) / 4), 4, 200))
    lo, hi = v0.min(axis=0), v0.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0) * (1 + 1e-9)
    counts = np.zeros(nb * nb, dtype=np.int64)

    def bins(v):
        i = np.floor((v - lo) / span * nb).astype(np.int64)
        ok = np.all((i >= 0) & (i < nb), axis=1)
        return np.where(ok, i[:, 0] * nb + i[:, 1], 0), ok

    b0, _ = bins(v0)
    counts += np.bincount(b0, minlength=nb * nb)
    return counts, bins, n * np.prod(span / nb)


def sample_population(v0, shape, n: int, seed=None, *, name: str | None = None,
                      min_count: int = 10, max_clipped: float = 1e-3):
    """Choose up to ``n`` of the particles ``v0`` so that they follow ``shape``.

    Parameters
    ----------
    v0 : ndarray, shape (N, 2)
        Velocities of the candidate particles at the start frame (velocity units).
    shape : shape object
        The target; its ``pdf`` is in 1/velocity_units**2.
    n : int
        Particles requested.
    seed : int, SeedSequence or numpy Generator
        Randomness (accept/reject draws, subset choice, support estimate).
    name : str, optional
        Population name for warnings (default ``repr(shape)``).
    min_count : int
        Histogram bins with fewer particles do not set the threshold ``M``.
    max_clipped : float
        ``M`` is the largest weight in bins with >= ``min_count`` particles,
        lowered until at most this target-mass fraction has ``w > M``. This keeps
        a singular or noisy ``w`` (e.g. a ring's 1/v at the origin) from
        setting a huge ``M``; 0 gives the plain maximum.

    Returns
    -------
    indices : ndarray of int
        Sorted indices into ``v0`` of the chosen particles.
    report : SamplingReport

    Notes
    -----
    Rejection sampling from the empirical background: ``bg`` is a 2D histogram
    density of ``v0`` (about sqrt(N)/4 bins per axis, at most 200), particle
    ``i`` has weight ``w_i = pdf(v_i) / bg(v_i)`` and is accepted once with
    probability ``min(1, w_i / M)``; a random ``n`` of the accepted are kept.
    Emits :class:`CoverageWarning` if fewer than ``n`` are accepted, the ESS is
    below ``n``, more than 5% of the target mass is clipped or more than 1%
    lies where there are no particles.
    """
    rng = np.random.default_rng(seed)
    v0 = np.asarray(v0, dtype=float)
    N = len(v0)
    name = repr(shape) if name is None else name
    if v0.ndim != 2 or v0.shape[1] != 2 or N == 0:
        raise CollopError(f"population {name!r}: need particle velocities of shape (N, 2), got {v0.shape}")
    counts, bins, norm = _background(v0)
    b, _ = bins(v0)
    w = shape.pdf(v0[:, 0], v0[:, 1]) / (counts[b] / norm)
    well = (counts[b] >= min_count) & (w > 0)
    wsum = w.sum()
    M = float(w[well].max()) if well.any() else float(w.max())
    if well.any() and max_clipped > 0 and wsum > 0:
        ws = np.sort(w[well])[::-1]
        over = np.cumsum(ws) / wsum  # target mass above ws[k] (inclusive)
        k = int(np.searchsorted(over, max_clipped, side="right"))
        M = float(ws[min(k, ws.size - 1)])
    if M > 0:
        acc = np.flatnonzero(rng.random(N) < w / M)
    else:
        acc = np.zeros(0, dtype=np.int64)
    if acc.size > n:
        acc = np.sort(rng.choice(acc, n, replace=False))
    ess = float(wsum ** 2 / np.sum(w ** 2)) if wsum > 0 else 0.0
    clipped = float(w[w > M].sum() / wsum) if wsum > 0 else 1.0
    ts = shape.sample(20000, rng)
    tb, tok = bins(ts)
    outside = float(np.mean(~tok | (counts[tb] == 0)))
    rep = SamplingReport(name, int(n), int(acc.size), N, acc.size / N, ess, ess / max(n, 1),
                         clipped, outside, M)
    if acc.size < n:
        rep.warnings.append(f"accepted {acc.size} of {n} requested particles")
    if ess < n:
        rep.warnings.append(f"effective sample size {ess:.4g} < {n} requested")
    if clipped > 0.05:
        rep.warnings.append(f"{100 * clipped:.3g}% of the target mass is under-covered (w > M)")
    if outside > 0.01:
        rep.warnings.append(f"{100 * outside:.3g}% of the target mass lies where there are no particles")
    if rep.warnings:
        warnings.warn(f"population {name!r} (from {N} particles): " + "; ".join(rep.warnings),
                      CoverageWarning, stacklevel=2)
    return acc, rep


DEPOSITS = ("ngp", "cic", "tsc")


def _shape_weights(x, deposit: str):
    """Cell offsets and weights of the particle shape along one axis.

    ``x`` is the position in bin units relative to the first bin centre.
    Returns a list of ``(index, weight)`` pairs (arrays like ``x``) whose weights
    sum to one for every particle: cloud in cell (``cic``, linear) or
    triangular shaped cloud (``tsc``, quadratic spline), as in PIC charge
    deposition.
    """
    if deposit == "cic":
        i = np.floor(x)
        w = x - i
        return [(i, 1.0 - w), (i + 1, w)]
    i = np.floor(x + 0.5)
    d = x - i
    return [(i - 1, 0.5 * (0.5 - d) ** 2), (i, 0.75 - d * d), (i + 1, 0.5 * (0.5 + d) ** 2)]


def histogram(v, grid: VelocityGrid, *, deposit: str = "ngp", max_elements: int = 1 << 24,
              backend: str = "auto"):
    """Density of particles on ``grid`` at every frame.

    Parameters
    ----------
    v : ndarray, shape (T, n, 2) or (n, 2)
        Velocities (grid units) of the same ``n`` particles at ``T`` frames.
    grid : VelocityGrid
        Bin centres; with ``ngp`` a particle is in the bin whose half-open cell
        ``[edge_k, edge_k+1)`` contains it.
    deposit : {"ngp", "cic", "tsc"}
        Particle shape: the plain histogram (``ngp``, the paper's), or a
        linear (``cic``) or quadratic (``tsc``) shape spread over 2 x 2 or 3 x 3
        bins. Mass and mean velocity are deposited exactly; the shapes add a
        variance per axis of ``h**2/4`` (tsc, exactly) or ``w (1 - w) h**2``
        (cic, ``w`` the position within the bin; ``h**2/6`` on average). See Notes.
    max_elements : int
        Frames are binned in chunks of about this many particles (memory bound).
    backend : {"auto", "numpy"}
        ``auto`` deposits cic/tsc with a fused numba kernel; ``numpy`` is the
        reference path.

    Returns
    -------
    ndarray, shape (T, nvx, nvy) or (nvx, nvy), float32
        ``f`` with ``sum(f) * h**2`` = fraction of the ``n`` particles' mass
        deposited inside the grid.

    Notes
    -----
    With ``ngp`` a particle's contribution jumps when it crosses a bin edge,
    so over a frame in which particles move a fraction of a bin the
    histogram's bin-scale noise changes by ``O(sqrt(D dt) / h)``, while a
    Fokker-Planck operator on the grid changes it only by ``O(D dt / h**2)``.
    Smooth shapes make each bin's value a smooth function of the particle
    velocities, so the noise evolves diffusively, like the operator predicts
    (see the README, "Noise bias").
    """
    if deposit not in DEPOSITS:
        raise CollopError(f"unknown deposit {deposit!r}; expected one of {', '.join(DEPOSITS)}")
    v = np.asarray(v)
    single = v.ndim == 2
    v = v[None] if single else v
    T, n = v.shape[:2]
    nx, ny = grid.shape
    h = grid.h
    x0, y0 = grid.vx[0], grid.vy[0]
    if deposit != "ngp" and backend == "auto" and _dk.HAVE_NUMBA:
        out = _dk.deposit(v, x0, y0, h, grid.shape, DEPOSITS.index(deposit))
        f = (out / (max(n, 1) * h * h)).astype(np.float32)
        return f[0] if single else f
    out = np.zeros((T, nx * ny), dtype=np.float64)
    step = max(1, max_elements // max(n, 1))
    for a in range(0, T, step):
        blk = v[a:a + step]
        frame = np.arange(len(blk))[:, None] * (nx * ny)
        if deposit == "ngp":   # bin edges as in the docstring: [edge_k, edge_k+1)
            wx = [(np.floor((blk[..., 0] - grid.edges_x[0]) / h), None)]
            wy = [(np.floor((blk[..., 1] - grid.edges_y[0]) / h), None)]
        else:
            wx = _shape_weights((blk[..., 0] - x0) / h, deposit)
            wy = _shape_weights((blk[..., 1] - y0) / h, deposit)
        acc = np.zeros(len(blk) * nx * ny)
        for ix, ax in wx:
            okx = (ix >= 0) & (ix < nx)
            for iy, ay in wy:
                ok = okx & (iy >= 0) & (iy < ny)
                flat = (frame + ix * ny + iy)[ok].astype(np.int64)
                acc += np.bincount(flat, weights=None if ax is None else (ax * ay)[ok],
                                   minlength=len(blk) * nx * ny)
        out[a:a + len(blk)] = acc.reshape(len(blk), nx * ny)
    f = (out / (max(n, 1) * h * h)).reshape(T, nx, ny).astype(np.float32)
    return f[0] if single else f


def build_phasespace(particles: xr.Dataset, populations, *, grid: VelocityGrid | None = None,
                     n_bins: int = 51, vmax: float | None = None, t0: int = 0,
                     n_particles: int = 300_000, seed: int = 0, unit: float = 1.0,
                     progress: bool = False, frames_per_read: int = 8, deposit: str = "tsc") -> xr.Dataset:
    """Phase-space evolution of sub-populations sampled from a particles dataset.

    Parameters
    ----------
    particles : xarray.Dataset
        A ``particles`` dataset (may be lazily loaded); components x, y are used.
    populations : list of str or dict of str to shape
        Population names (:func:`parse_population` with ``unit``) or name -> shape.
    grid : VelocityGrid, optional
        Histogram grid (velocity units); default ``VelocityGrid.regular(n_bins, vmax)``.
    n_bins : int
        Bins per axis of the default grid.
    vmax : float, optional
        Half-width of the default grid (velocity units); default ``5 * unit``.
    t0 : int
        Frame index at which the populations are sampled.
    n_particles : int
        Particles requested per population (paper: 3e5).
    seed : int
        Population ``i`` uses ``SeedSequence([seed, i])``.
    unit : float
        Velocity unit of the population names, in the particles' velocity units.
    progress : bool
        Show a tqdm progress bar over frame chunks.
    frames_per_read : int
        Frames read from ``particles`` at a time.
    deposit : {"tsc", "cic", "ngp"}
        Particle shape of the histograms (:func:`histogram`); recorded in
        ``attrs["deposit"]``. The default ``tsc`` removes most of the noise
        bias that plain histograms (``ngp``, the paper's) put into learned
        diffusion coefficients (README, "Noise bias").

    Returns
    -------
    xarray.Dataset
        ``phasespace`` dataset ``f(population, time, vx, vy)`` for the frames
        from ``t0`` on, with ``n_particles``, ``acceptance_rate`` and ``ess``
        per population and the sampling reports (JSON) in ``attrs["sampling"]``.
    """
    if deposit not in DEPOSITS:
        raise CollopError(f"unknown deposit {deposit!r}; expected one of {', '.join(DEPOSITS)}")
    if "run" in particles["v"].dims:
        raise CollopError("build_phasespace: particles with a 'run' dimension are not supported; "
                          "select one run first, e.g. ds.isel(run=0)")
    nt = particles.sizes["time"]
    if not 0 <= t0 < nt:
        raise CollopError(f"build_phasespace: t0={t0} is outside the {nt} frames of the particles")
    if isinstance(populations, str):
        populations = [populations]
    shapes = (dict(populations) if isinstance(populations, dict)
              else {str(p): parse_population(p, unit) for p in populations})
    if not shapes:
        raise CollopError("build_phasespace: no populations given")
    grid = grid or VelocityGrid.regular(n_bins, 5.0 * unit if vmax is None else vmax)
    comps = [str(c) for c in particles["component"].values]
    cxy = [comps.index("x"), comps.index("y")]
    v = particles["v"]
    v0 = np.asarray(v.isel(time=t0).values)[:, cxy]
    idx, reports = {}, []
    for i, (name, shape) in enumerate(shapes.items()):
        sel, rep = sample_population(v0, shape, n_particles, np.random.SeedSequence([seed, i]), name=name)
        if sel.size == 0:
            raise CollopError(f"population {name!r}: no particles accepted at frame {t0}")
        idx[name] = sel
        reports.append(rep)
    del v0
    times = np.asarray(particles["time"].values)[t0:]
    f = np.zeros((len(shapes), len(times)) + grid.shape, dtype=np.float32)
    starts = range(t0, nt, frames_per_read)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="phase space", unit="chunk")
    for a in starts:
        blk = np.asarray(v.isel(time=slice(a, a + frames_per_read)).values)
        for p, name in enumerate(shapes):
            f[p, a - t0:a - t0 + len(blk)] = histogram(blk[:, idx[name]][..., cxy], grid, deposit=deposit)
    src = particles.encoding.get("source") or particles.attrs.get("source", "unknown")
    sampling = [dict(asdict(rep), shape=repr(s)) for rep, s in zip(reports, shapes.values())]
    attrs = {"particles_source": str(src), "t0": int(t0), "t0_time": float(times[0]), "seed": int(seed),
             "unit": float(unit), "n_requested": int(n_particles), "sampling": json.dumps(sampling),
             "deposit": deposit}
    extra = {k: ("population", np.array([getattr(r, k) for r in reports], dtype=float))
             for k in ("acceptance_rate", "ess", "ess_fraction", "clipped_fraction", "outside_fraction")}
    return phasespace_dataset(
        f, times, grid.vx, grid.vy, list(shapes), [r.accepted for r in reports],
        velocity_units=particles.attrs.get("velocity_units", "unknown"),
        time_units=particles.attrs.get("time_units", "unknown"), source=str(src), attrs=attrs,
        extra_vars=extra)
