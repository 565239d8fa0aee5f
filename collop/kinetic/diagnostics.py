"""Diagnostics of particle velocity sets: moments, entropy, PDFs, distances, kernel tables.

Everything takes velocities ``v (..., N, 3)`` in data units and returns
numbers or :mod:`xarray` objects a plot can use directly.

Distances between a model rollout and MD
----------------------------------------
:func:`energy_distance` is the number every table reports: the energy
distance of Szekely & Rizzo between the two velocity samples,

.. math::
    \\mathcal E(X, Y) = 2\\,E|X - Y| - E|X - X'| - E|Y - Y'|,

reported as ``sqrt(E)`` in velocity units; it is zero if and only if the two
distributions are equal, needs no bins and is rotation invariant. With
finite samples it has a positive floor of order ``sigma / sqrt(n)``
(:func:`energy_distance` with ``max_points = n``); compare it with the same
distance between two halves of the MD sample.
:func:`pdf_l1` (the L1 distance between binned PDFs of the speed, of
``(v1, v2)`` or of each component) is given too, for the figures.
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr
from scipy.special import digamma

__all__ = ["moments", "entropy_knn", "conservation", "energy_distance", "pdf_l1", "speed_pdf",
           "v12_pdf", "marginal_pdfs", "pdf_series", "distance_series", "gain_table", "gain_table_mean_s"]


def moments(v) -> dict:
    """Density (particle count), momentum ``mean(v)`` and energy ``mean(|v|^2)/2`` per frame.

    Parameters
    ----------
    v : array, shape (..., N, 3)

    Returns
    -------
    dict
        ``n (...)``, ``momentum (..., 3)``, ``energy (...)`` (unit mass, per particle).
    """
    v = np.asarray(v, dtype=np.float64)
    return {"n": np.full(v.shape[:-2], v.shape[-2]), "momentum": v.mean(-2),
            "energy": 0.5 * (v * v).sum(-1).mean(-1)}


def entropy_knn(v, k: int = 4) -> float:
    """Kozachenko-Leonenko estimate of ``S = -int f log f dv`` (nats, velocity units) of one sample.

    ``S = psi(N) - psi(k) + log(4 pi / 3) + 3 mean(log eps_i)``, ``eps_i`` the
    distance from particle ``i`` to its ``k``-th nearest neighbour; consistent,
    with a bias that shrinks with ``N`` (the same for all frames of a rollout).
    """
    from scipy.spatial import cKDTree

    v = np.asarray(v, dtype=np.float64)
    n = v.shape[0]
    if n <= k:
        raise ValueError(f"need more than k={k} particles, got {n}")
    d, _ = cKDTree(v).query(v, k=k + 1)
    eps = np.maximum(d[:, -1], 1e-300)
    return float(digamma(n) - digamma(k) + math.log(4 * math.pi / 3) + 3 * np.mean(np.log(eps)))


def conservation(v, times, *, entropy: bool = True, k: int = 4) -> xr.Dataset:
    """Density, momentum, energy and entropy of a rollout ``v (T, N, 3)`` over ``times``.

    Returns
    -------
    xarray.Dataset
        ``n(time)``, ``momentum(time, component)``, ``energy(time)``,
        ``entropy(time)`` (if asked), plus ``momentum_drift`` (``|p(t) - p(0)|``
        over the thermal speed) and ``energy_drift`` (relative).
    """
    v = np.asarray(v)
    m = moments(v)
    ds = xr.Dataset({"n": ("time", m["n"]), "momentum": (("time", "component"), m["momentum"]),
                     "energy": ("time", m["energy"])},
                    coords={"time": np.asarray(times, dtype=float), "component": ["x", "y", "z"]})
    vth = math.sqrt(max(2 * float(m["energy"][0]) / 3, 1e-300))
    ds["momentum_drift"] = ("time", np.linalg.norm(m["momentum"] - m["momentum"][0], axis=-1) / vth)
    ds["energy_drift"] = ("time", (m["energy"] - m["energy"][0]) / m["energy"][0])
    if entropy:
        ds["entropy"] = ("time", np.array([entropy_knn(x, k) for x in v]))
    return ds


def _subsample(x, n, rng):
    x = np.asarray(x, dtype=np.float64)
    if n is None or x.shape[0] <= n:
        return x
    return x[rng.choice(x.shape[0], n, replace=False)]


def _mean_dist(a, b, chunk=1024) -> float:
    from scipy.spatial.distance import cdist

    tot = 0.0
    for i in range(0, a.shape[0], chunk):
        tot += cdist(a[i:i + chunk], b).sum()
    return tot / (a.shape[0] * b.shape[0])


def energy_distance(x, y, *, max_points: int | None = 2000, seed: int = 0) -> float:
    """``sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|)`` between two samples (velocity units).

    Parameters
    ----------
    x, y : array, shape (n, 3) and (m, 3)
    max_points : int, optional
        Use a random subset of at most this many points of each sample (the
        pairwise sums cost ``O(n m)``); None uses all.
    seed : int
        Seed of the subsets.
    """
    rng = np.random.default_rng(seed)
    a, b = _subsample(x, max_points, rng), _subsample(y, max_points, rng)
    e = 2 * _mean_dist(a, b) - _mean_dist(a, a) - _mean_dist(b, b)
    return float(math.sqrt(max(e, 0.0)))


def _edges(lim, bins):
    return np.linspace(-lim, lim, bins + 1)


def speed_pdf(v, edges):
    """PDF of ``|v|`` on ``edges`` (integrates to the fraction inside)."""
    s = np.linalg.norm(np.asarray(v, dtype=np.float64), axis=-1)
    h, _ = np.histogram(s, edges)
    return h / (s.size * np.diff(edges))


def v12_pdf(v, edges):
    """PDF of ``(v_1, v_2)`` on ``edges x edges``."""
    v = np.asarray(v, dtype=np.float64)
    h, _, _ = np.histogram2d(v[:, 0], v[:, 1], [edges, edges])
    d = np.diff(edges)
    return h / (v.shape[0] * d[:, None] * d[None, :])


def marginal_pdfs(v, edges):
    """PDFs of ``v_1, v_2, v_3``: shape ``(3, bins)``."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([np.histogram(v[:, c], edges)[0] / (v.shape[0] * np.diff(edges)) for c in range(3)])


def pdf_l1(x, y, *, kind: str = "speed", bins: int = 40, vmax: float | None = None) -> float:
    """L1 distance ``int |f_x - f_y|`` between binned PDFs (0 to 2).

    Parameters
    ----------
    kind : {"speed", "v12", "marginal"}
        ``|v|``; ``(v_1, v_2)``; the three components (mean of the three distances).
    bins : int
        Bins per axis.
    vmax : float, optional
        Range (``[0, vmax]`` or ``[-vmax, vmax]``); default the 99.9th
        percentile of ``|v|`` of both samples.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if vmax is None:
        vmax = float(np.quantile(np.linalg.norm(np.concatenate([x, y]), axis=-1), 0.999))
    if kind == "speed":
        e = np.linspace(0, vmax, bins + 1)
        return float(np.sum(np.abs(speed_pdf(x, e) - speed_pdf(y, e)) * np.diff(e)))
    e = _edges(vmax, bins)
    d = np.diff(e)
    if kind == "v12":
        return float(np.sum(np.abs(v12_pdf(x, e) - v12_pdf(y, e)) * d[:, None] * d[None, :]))
    if kind == "marginal":
        return float(np.mean(np.sum(np.abs(marginal_pdfs(x, e) - marginal_pdfs(y, e)) * d, -1)))
    raise ValueError(f"kind must be 'speed', 'v12' or 'marginal', not {kind!r}")


def pdf_series(v, times, *, vmax: float, bins: int = 40) -> xr.Dataset:
    """Binned PDFs of a series of velocity sets ``v (T, N, 3)`` for plots (Zhao et al., Figs. 2-4, 17-18).

    Returns
    -------
    xarray.Dataset
        ``speed_pdf(time, speed)`` on ``[0, vmax]``, ``v12(time, v1, v2)`` and
        ``marginal(time, component, v)`` on ``[-vmax, vmax]``, bin centres as
        coordinates; each integrates to the fraction of particles inside.
    """
    se = np.linspace(0.0, vmax, bins + 1)
    e = _edges(vmax, bins)
    c = 0.5 * (e[1:] + e[:-1])
    v = np.asarray(v)
    return xr.Dataset(
        {"speed_pdf": (("time", "speed"), np.stack([speed_pdf(x, se) for x in v])),
         "v12": (("time", "v1", "v2"), np.stack([v12_pdf(x, e) for x in v])),
         "marginal": (("time", "component", "v"), np.stack([marginal_pdfs(x, e) for x in v]))},
        coords={"time": np.asarray(times, dtype=float), "speed": 0.5 * (se[1:] + se[:-1]), "v1": c, "v2": c,
                "v": c, "component": ["x", "y", "z"]})


def distance_series(model, md, *, max_points: int | None = 2000, seed: int = 0) -> dict:
    """Energy distance and speed-PDF L1 distance per frame of two series ``(T, N, 3)``."""
    T = min(len(model), len(md))
    return {"energy_distance": np.array([energy_distance(model[t], md[t], max_points=max_points, seed=seed + t)
                                         for t in range(T)]),
            "speed_l1": np.array([pdf_l1(model[t], md[t], kind="speed") for t in range(T)])}


# --- kernel tables -------------------------------------------------------------------

def gain_table(kernel, u, r, s):
    """``G_r, G_s`` of ``kernel`` on the grid ``u x r x s`` (data units): two arrays ``(nu, nr, ns)``.

    Points with ``s > u r`` are outside the physical region (``s = u r sin(theta)``)
    but the kernel's functions are defined there too.
    """
    import torch

    U, R, S = np.meshgrid(np.asarray(u, float), np.asarray(r, float), np.asarray(s, float), indexing="ij")
    dt = torch.float64
    with torch.no_grad():
        Gr, Gs, _ = kernel.gains(torch.as_tensor(U.ravel(), dtype=dt).to(kernel.dtype),
                                 torch.as_tensor(R.ravel(), dtype=dt).to(kernel.dtype),
                                 torch.as_tensor(S.ravel(), dtype=dt).to(kernel.dtype))
    return (Gr.double().numpy().reshape(U.shape), Gs.double().numpy().reshape(U.shape))


def gain_table_mean_s(kernel, u, r, *, n_quad: int = 32):
    """``E_s[G_r]`` and ``E_s[G_s]`` on ``u x r`` under the equilibrium distribution (Zhao et al., Fig. 1).

    For two independent velocities of an isotropic Maxwellian, ``u`` and ``r``
    are independent and isotropic, so given ``|u|`` and ``|r|`` the cosine
    ``x`` of their angle is uniform on ``[-1, 1]`` and ``s = |u| |r| sqrt(1 - x^2)``,
    whatever the temperature. The average ``int_0^1 G(u, r, u r sqrt(1-x^2)) dx``
    is taken with ``n_quad`` Gauss-Legendre nodes.
    """
    import torch

    x, w = np.polynomial.legendre.leggauss(n_quad)
    x, w = 0.5 * (x + 1), 0.5 * w                       # nodes on [0, 1]
    U, R, X = np.meshgrid(np.asarray(u, float), np.asarray(r, float), x, indexing="ij")
    S = U * R * np.sqrt(1 - X * X)
    dt = torch.float64
    with torch.no_grad():
        Gr, Gs, _ = kernel.gains(torch.as_tensor(U.ravel(), dtype=dt).to(kernel.dtype),
                                 torch.as_tensor(R.ravel(), dtype=dt).to(kernel.dtype),
                                 torch.as_tensor(S.ravel(), dtype=dt).to(kernel.dtype))
    Gr = Gr.double().numpy().reshape(U.shape)
    Gs = Gs.double().numpy().reshape(U.shape)
    return (Gr * w).sum(-1), (Gs * w).sum(-1)
