"""Tests of collop.tracks on synthetic Langevin (Euler-Maruyama) particle data.

Statistical tolerances: the estimator of a second moment D = <dv^2>/dt from N
Gaussian samples has relative standard error sqrt(2/N); the estimator of
A = <dv>/dt has standard error sqrt(D / (N dt)). Checks use either 5 standard
errors (per bin) or a fixed 5 % only in bins where 5 % >= 5 standard errors,
so a correct estimator fails with probability << 1e-5 per bin.
"""
from __future__ import annotations

import numpy as np
import pytest

from collop import tracks
from collop.datasets import particles_dataset
from collop.grid import VelocityGrid
from collop.schema import CollopError, validate

N = 200_000
DT_FRAME = 0.1
INNER = 10  # Euler-Maruyama steps per frame


def simulate(v0, n_frames, drift, noise, seed=0, dt_frame=DT_FRAME):
    """Euler-Maruyama of dv = drift(v) dt + noise(v) dW; returns v[time, particle, 2], time.

    ``noise(v)`` returns B with shape (N, 2, 2) (or (2, 2)), so D = B B^T.
    """
    rng = np.random.default_rng(seed)
    h = dt_frame / INNER
    v = np.array(v0, dtype=float)
    out = [v.copy()]
    for _ in range(n_frames - 1):
        for _ in range(INNER):
            dw = rng.standard_normal(v.shape) * np.sqrt(h)
            B = noise(v)
            dv_noise = dw @ B.T if B.ndim == 2 else np.einsum("nij,nj->ni", B, dw)
            v = v + drift(v) * h + dv_noise
        out.append(v.copy())
    return np.stack(out), np.arange(n_frames) * dt_frame


def ring(n, smin, smax, seed=1):
    """Speeds uniform in [smin, smax], uniform angle (flat speed density -> unbiased tent means)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(smin, smax, n)
    th = rng.uniform(0, 2 * np.pi, n)
    return np.stack([s * np.cos(th), s * np.sin(th)], axis=1)


def particles(v, t):
    return particles_dataset(v, t, velocity_units="u", time_units="t", source="synthetic")


def zero_drift(v):
    return np.zeros_like(v)


COARSE = VelocityGrid.regular(21, 4.0)  # speed nodes every 0.38 u: ~4e4 particles per node


def well_sampled(ds, n_min=2e4):
    # sqrt(2 / 2e4) = 1 %, so a 5 % tolerance is 5 standard errors
    return ds["n_samples"].values >= n_min


def test_isotropic_constant_diffusion():
    D = 0.5
    v, t = simulate(ring(N, 0.5, 3.0), 3, zero_drift, lambda v: np.sqrt(D) * np.eye(2))
    ds = tracks.estimate(particles(v, t), grid=COARSE)
    validate(ds, "operator")
    assert ds.attrs["method"] == "tracks" and ds.attrs["ndump"] == 1 and ds.attrs["overlap"] == 0
    assert ds["A_par"].attrs["units"] == "u/t" and ds["D_par"].attrs["units"] == "(u)^2/t"
    m = well_sampled(ds)
    assert m.sum() >= 8
    np.testing.assert_allclose(ds["D_par"].values[m], D, rtol=0.05)
    np.testing.assert_allclose(ds["D_perp"].values[m], D, rtol=0.05)
    se = np.sqrt(D / (ds["n_samples"].values[m] * DT_FRAME))  # standard error of A_par
    assert np.all(np.abs(ds["A_par"].values[m]) < 5 * se)
    # speeds with too few particles are written as 0 (no statistics)
    empty = ds["n_samples"].values < 10
    assert empty.any() and np.all(ds["D_par"].values[empty] == 0)


def test_isotropic_linear_drag_sign():
    nu, D = 0.5, 1e-3
    v, t = simulate(ring(N, 0.5, 3.0), 2, lambda v: -nu * v, lambda v: np.sqrt(D) * np.eye(2))
    ds = tracks.estimate(particles(v, t), grid=COARSE)
    m = well_sampled(ds) & (ds["speed"].values > 0.9) & (ds["speed"].values < 2.6)
    assert m.sum() >= 3
    s = ds["speed"].values[m[0]]
    # exact mean of the discrete scheme: v ((1 - nu h)^INNER - 1) / dt  (~2.5 % below -nu v)
    exact = s * ((1 - nu * DT_FRAME / INNER) ** INNER - 1) / DT_FRAME
    A = ds["A_par"].values[0, m[0]]
    assert np.all(A < 0)  # drag points against v
    # 1 %: noise is sqrt(D/(N dt)) ~ 5e-4 << 1 % of |A| ~ 0.5; the tent average of
    # a linear function over a flat speed density is exact
    np.testing.assert_allclose(A, exact, rtol=0.01)
    np.testing.assert_allclose(A, -nu * s, rtol=0.05)  # the continuous drag, within O(nu dt)


def test_isotropic_anisotropic_par_perp_not_swapped():
    d_par, d_perp = 0.4, 0.2

    def noise(v):
        u = v / np.linalg.norm(v, axis=1, keepdims=True)
        tt = np.stack([-u[:, 1], u[:, 0]], axis=1)
        return (np.sqrt(d_par) * u[:, :, None] * u[:, None, :]
                + np.sqrt(d_perp) * tt[:, :, None] * tt[:, None, :])

    v, t = simulate(ring(N, 1.0, 3.5), 2, zero_drift, noise)
    ds = tracks.estimate(particles(v, t), grid=COARSE)
    # the direction v_hat turns by ~sqrt(D dt)/v <= 0.14 rad within an interval, mixing
    # par and perp by ~(D_par - D_perp) theta^2/2 < 1 %; statistics: 5 % >= 5 se
    m = well_sampled(ds) & (ds["speed"].values >= 1.5)
    assert m.sum() >= 3
    np.testing.assert_allclose(ds["D_par"].values[m], d_par, rtol=0.05)
    np.testing.assert_allclose(ds["D_perp"].values[m], d_perp, rtol=0.05)


def test_full_anisotropic_diffusion_and_drift():
    Dm = np.array([[0.6, 0.2], [0.2, 0.3]])
    A0 = np.array([0.5, -0.3])
    B = np.linalg.cholesky(Dm)
    rng = np.random.default_rng(3)
    v0 = rng.uniform(-2, 2, (N, 2))
    v, t = simulate(v0, 2, lambda v: np.broadcast_to(A0, v.shape), lambda v: B, seed=4)
    grid = VelocityGrid.regular(4, 2.0)  # 16 bins of ~1.25e4 particles
    ds = tracks.estimate(particles(v, t), symmetry="full", grid=grid)
    validate(ds, "operator")
    assert ds["A"].dims == ("time", "component", "vx", "vy")
    n = ds["n_samples"].values[0]
    assert n.sum() == N  # all particles lie inside the grid
    for i, ci in enumerate("xy"):
        A = ds["A"].sel(component=ci).values[0]
        se = np.sqrt(Dm[i, i] / (n * DT_FRAME))
        assert np.all(np.abs(A - A0[i]) < 5 * se)
        for j, cj in enumerate("xy"):
            Dij = ds["D"].sel(component=ci, component2=cj).values[0]
            # raw second moment: <dv_i dv_j>/dt = D_ij + A_i A_j dt
            expected = Dm[i, j] + A0[i] * A0[j] * DT_FRAME
            se = np.sqrt((Dm[i, i] * Dm[j, j] + Dm[i, j] ** 2) / n)  # Gaussian product moment
            assert np.all(np.abs(Dij - expected) < 5 * se + 0.01 * abs(expected)), (ci, cj)


def test_full_default_grid_drops_nothing_and_min_count():
    v, t = simulate(ring(5000, 0.0, 2.0), 3, zero_drift, lambda v: 0.1 * np.eye(2))
    ds = tracks.estimate(particles(v, t), symmetry="full", n_bins=11, min_count=50)
    validate(ds, "operator")
    vmax = ds["vx"].values[-1] + (ds["vx"].values[1] - ds["vx"].values[0]) / 2
    assert vmax >= np.abs(v[:-1]).max()
    assert np.all(ds["n_samples"].sum(("vx", "vy")).values == 5000)
    few = ds["n_samples"].values < 50
    assert few.any() and np.all(ds["A"].values.transpose(1, 0, 2, 3)[:, few] == 0)


def test_intervals_and_time_coordinate():
    v, t = simulate(ring(2000, 0.5, 2.0), 9, zero_drift, lambda v: 0.1 * np.eye(2))
    p = particles(v, t)
    kw = dict(grid=COARSE, min_count=1)
    non1 = tracks.estimate(p, ndump=1, **kw)
    non2 = tracks.estimate(p, ndump=2, **kw)
    ov2 = tracks.estimate(p, ndump=2, overlap=True, **kw)
    non3 = tracks.estimate(p, ndump=3, **kw)
    np.testing.assert_allclose(non1["time"], t[:8])
    np.testing.assert_allclose(non2["time"], t[[0, 2, 4, 6]])  # half of the ndump=1 intervals
    np.testing.assert_allclose(ov2["time"], t[:7])
    np.testing.assert_allclose(non3["time"], t[[0, 3]])  # k + 3 <= 8
    assert ov2.sizes["time"] > non2.sizes["time"]
    assert ov2.attrs["overlap"] == 1 and non2.attrs["ndump"] == 2
    # overlapping intervals at the non-overlapping starts give identical values
    np.testing.assert_allclose(ov2["D_par"].values[::2], non2["D_par"].values)
    scan = tracks.scan_ndump(p, [1, 2, 4])
    assert sorted(scan) == [1, 2, 4] and scan[4].sizes["time"] == 2
    assert all(np.array_equal(scan[1]["speed"], s["speed"]) for s in scan.values())


def test_three_components_use_x_y():
    v, t = simulate(ring(20000, 0.5, 2.0), 2, zero_drift, lambda v: 0.2 * np.eye(2))
    v3 = np.concatenate([v, np.ones(v.shape[:2] + (1,))], axis=2)
    a = tracks.estimate(particles(v, t), grid=COARSE)
    b = tracks.estimate(particles(v3, t), grid=COARSE)
    np.testing.assert_allclose(a["D_par"].values, b["D_par"].values)


@pytest.mark.parametrize("kw, match", [
    (dict(ndump=0), "ndump"), (dict(ndump=3), "ndump"), (dict(ndump=1.5), "ndump"),
    (dict(symmetry="spherical"), "symmetry"), (dict(speed=[1.0]), "speed"),
])
def test_errors(kw, match):
    v, t = simulate(ring(100, 0.5, 2.0), 3, zero_drift, lambda v: 0.1 * np.eye(2))
    p = particles(v, t)
    p.encoding["source"] = "runs/sim1.nc"
    with pytest.raises(CollopError, match=match) as exc:
        tracks.estimate(p, **kw)
    assert str(exc.value).startswith("runs/sim1.nc: ") and "\n" not in str(exc.value)


def test_run_dimension_rejected():
    v, t = simulate(ring(100, 0.5, 2.0), 3, zero_drift, lambda v: 0.1 * np.eye(2))
    p = particles(v, t)
    p = p.assign(v=p["v"].expand_dims(run=2).copy())
    with pytest.raises(CollopError, match="run"):
        tracks.estimate(p)
