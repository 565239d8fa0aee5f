"""Velocity distributions of the sub-populations (shapes) and their names.

Every shape has ``pdf(vx, vy)`` (a probability density in 2-D velocity space,
integrating to 1, in 1/velocity_units**2), ``sample(n, rng) -> (n, 2)`` and
``moments() -> (mean (2,), covariance (2, 2))``. Population names follow the
paper's Table 4 (Carvalho et al.) and are in units of ``unit`` (the paper's
0.01c = v_w/2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from ..schema import CollopError

__all__ = ["Uniform", "Normal", "Ring", "Waterbag", "Maxwellian", "Mixture", "TABLE4", "parse_population"]

TABLE4 = ["uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0",
          "normal_-2_-2", "normal_-2_0", "normal_rot0", "normal_rot45", "ring_0.5", "ring_1.0",
          "ring_1.5"]
"""The paper's 12 sub-populations (Table 4), in its order, velocities in units of 0.01c."""


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


