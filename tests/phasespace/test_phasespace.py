"""Tests of collop.phasespace: shapes, population names, rejection sampling, histograms.

Statistical tolerances: a sample mean of n draws has standard error sqrt(C_ii / n);
a sample covariance element has standard error std((x_i - m_i)(x_j - m_j)) / sqrt(n)
(estimated from the sample itself, valid for non-Gaussian shapes). Checks use 4-5
standard errors, so a correct implementation fails with probability < 1e-4 per check.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from collop.datasets import particles_dataset
from collop.grid import VelocityGrid
from collop.io import open_dataset, write_dataset
from collop.phasespace import (TABLE4, CoverageWarning, Maxwellian, Mixture, Normal, Ring, Uniform,
                               Waterbag, build_phasespace, histogram, parse_population,
                               sample_population)
from collop.schema import CollopError, validate

SHAPES = [Uniform(-5, 5, -5, 5), Uniform(-1.5, 0.3, -2, 1), Normal.rotated(1.0, 0.05, 45, (0.3, -0.2)),
          Normal((-1, -1), ((0.05, 0), (0, 0.05))), Ring(0.5, 0.2), Ring(1.0, 0.2), Ring(1.5, 0.2),
          Waterbag(2.0), Maxwellian(1.0, (0.5, 0.0)),
          Mixture((Ring(0.5), Normal((1, 1), ((0.05, 0), (0, 0.05)))), (1, 3))]


@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_pdf_integrates_to_one(shape):
    # Midpoint rule on a 0.01 grid over [-8, 8]^2 (cell centres avoid the ring's
    # integrable 1/v singularity at the origin). Smooth densities integrate to
    # ~1e-13; the waterbag's discontinuous edge and the ring's 1/v cusp give
    # errors ~2e-4 (measured), so 1e-3 tests normalisation, not quadrature.
    h = 0.01
    e = np.arange(-8, 8 + h / 2, h)
    c = 0.5 * (e[1:] + e[:-1])
    X, Y = np.meshgrid(c, c, indexing="ij")
    assert abs(shape.pdf(X, Y).sum() * h * h - 1) < 1e-3


@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_sample_moments(shape):
    n = 200_000
    x = shape.sample(n, np.random.default_rng(1))
    assert x.shape == (n, 2)
    mean, cov = shape.moments()
    m = x.mean(0)
    assert np.all(np.abs(m - mean) < 4.5 * np.sqrt(np.diag(cov) / n))
    d = x - m
    for i in range(2):
        for j in range(2):
            prod = d[:, i] * d[:, j]
            assert abs(prod.mean() - cov[i, j]) < 4.5 * prod.std() / np.sqrt(n) + 1e-12


def test_sample_follows_pdf():
    # The ring's sampler and pdf must describe the same distribution: compare
    # a radial histogram of samples with the pdf's radial marginal (chi-square-like bound).
    r = Ring(0.5, 0.2)
    x = r.sample(400_000, np.random.default_rng(2))
    s = np.hypot(*x.T)
    edges = np.linspace(0, 1.5, 31)
    cnt, _ = np.histogram(s, edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    expect = r.pdf(mid, 0 * mid) * 2 * np.pi * mid * np.diff(edges) * len(s)
    # midpoint rule of a smooth radial density over a 0.05 bin: error < 1% of the count
    assert np.all(np.abs(cnt - expect) < 5 * np.sqrt(expect) + 0.01 * expect + 5)


def test_table4_names():
    assert len(TABLE4) == 12 and len(set(TABLE4)) == 12
    s = {k: parse_population(k) for k in TABLE4}
    assert s["uniform_-5_5_-5_5"] == Uniform(-5, 5, -5, 5)
    assert s["uniform_-5_0_-5_0"] == Uniform(-5, 0, -5, 0)
    for name, mu in [("normal_0_0", (0, 0)), ("normal_-1_-1", (-1, -1)), ("normal_-1_0", (-1, 0)),
                     ("normal_-2_-2", (-2, -2)), ("normal_-2_0", (-2, 0))]:
        assert isinstance(s[name], Normal)
        np.testing.assert_allclose(s[name].mean, mu)
        np.testing.assert_allclose(s[name].cov, [[0.05, 0], [0, 0.05]])
    np.testing.assert_allclose(s["normal_rot0"].cov, [[1, 0], [0, 0.05]], atol=1e-12)
    np.testing.assert_allclose(s["normal_rot45"].cov, [[0.525, 0.475], [0.475, 0.525]], atol=1e-12)
    np.testing.assert_allclose(s["normal_rot45"].mean, (0, 0))
    for r in (0.5, 1.0, 1.5):
        assert s[f"ring_{r}"] == Ring(r, 0.2)


def test_other_names_and_unit():
    assert parse_population("waterbag_2") == Waterbag(2.0)
    assert parse_population("maxwellian_1.5") == Maxwellian(1.5)
    n = parse_population("normal_1_2_0.5_0.3_0.1")
    np.testing.assert_allclose(n.cov, [[0.5, 0.1], [0.1, 0.3]])
    assert parse_population("normal_{-1,-1}") == parse_population("normal_-1_-1")  # paper spelling
    u = 0.01
    p = parse_population("normal_-1_-1", unit=u)
    np.testing.assert_allclose(p.mean, (-0.01, -0.01))
    np.testing.assert_allclose(p.cov, np.eye(2) * 0.05 * u ** 2)
    np.testing.assert_allclose(parse_population("normal_rot0", unit=u).cov, np.diag([1, 0.05]) * u ** 2)
    ring = parse_population("ring_1.5", unit=u)
    assert ring.radius == pytest.approx(0.015) and ring.sigma == pytest.approx(0.002)
    assert parse_population("uniform_-5_0_-5_0", unit=2.0) == Uniform(-10, 0, -10, 0)
    assert parse_population("waterbag_2", unit=u).radius == pytest.approx(0.02)


@pytest.mark.parametrize("bad", ["", "foo_1", "normal_1", "normal_a_b", "uniform_1_0_0_1",
                                 "ring_-1", "normal_0_0_1_1_5", "normal_rotx", "waterbag",
                                 "ring_1_2_3"])
def test_bad_names(bad):
    with pytest.raises(CollopError, match=repr(bad).replace("[", r"\[")):
        parse_population(bad)


def test_rejection_sampling_reproduces_target():
    bg = Maxwellian(1.5).sample(400_000, np.random.default_rng(10))
    target = Normal((0.5, -0.3), ((0.3, 0.1), (0.1, 0.2)))
    n = 20_000
    with warnings.catch_warnings():
        warnings.simplefilter("error", CoverageWarning)
        idx, rep = sample_population(bg, target, n, 3, name="t")
    assert idx.size == n == rep.accepted and np.unique(idx).size == n
    assert rep.acceptance_rate == pytest.approx(n / len(bg))
    assert rep.ess > n and rep.clipped_fraction < 0.01 and rep.outside_fraction == 0
    x = bg[idx]
    # 5 standard errors: 4 for the estimator plus an allowance for the noise of
    # the histogram estimate of the background (measured over 20 seeds: the
    # spread of the estimates is below the plain standard error).
    se = np.sqrt(np.diag(target.cov) / n)
    assert np.all(np.abs(x.mean(0) - target.mean) < 5 * se)
    d = x - x.mean(0)
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        prod = d[:, i] * d[:, j]
        assert abs(prod.mean() - target.cov[i][j]) < 5 * prod.std() / np.sqrt(n)
    idx2, _ = sample_population(bg, target, n, 3, name="t")
    np.testing.assert_array_equal(idx, idx2)


def test_few_accepted_returns_what_there_is():
    bg = Maxwellian(1.0).sample(20_000, np.random.default_rng(0))
    with pytest.warns(CoverageWarning, match="accepted"):
        idx, rep = sample_population(bg, Normal((0, 0), ((0.05, 0), (0, 0.05))), 50_000, 0, name="p")
    assert 0 < rep.accepted == idx.size < 50_000


def test_target_outside_support_warns():
    bg = Maxwellian(0.5).sample(50_000, np.random.default_rng(0))
    with pytest.warns(CoverageWarning, match="normal_4_4.*no particles"):
        _, rep = sample_population(bg, parse_population("normal_4_4"), 1000, 0, name="normal_4_4")
    assert rep.outside_fraction > 0.5 and rep.warnings


def test_histogram_normalisation():
    grid = VelocityGrid.regular(21, 5.0)
    rng = np.random.default_rng(0)
    v = (rng.standard_normal((5, 3000, 2)) * np.array([1, 3, 5, 0.5, 4])[:, None, None]).astype(np.float32)
    f = histogram(v, grid)
    assert f.shape == (5, 21, 21) and f.dtype == np.float32
    h = grid.h
    inside = np.all(np.abs(v) < 5.0, axis=-1).mean(axis=1)
    assert np.sum(inside < 1) == 3 and np.all(inside > 0)  # frames 1, 2, 4 have particles outside
    # float32 round-off of ~441 summed terms: relative 1e-6
    np.testing.assert_allclose(f.sum(axis=(1, 2), dtype=np.float64) * h * h, inside, rtol=1e-6)
    for k in range(5):
        cnt, _, _ = np.histogram2d(v[k, :, 0], v[k, :, 1], [grid.edges_x, grid.edges_y])
        np.testing.assert_allclose(f[k] * 3000 * h * h, cnt, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(histogram(v[2], grid), f[2])
    # chunked over frames gives the same numbers
    np.testing.assert_array_equal(histogram(v, grid, max_elements=3000), f)


@pytest.mark.parametrize("deposit, shape_var", [("cic", 1 / 6), ("tsc", 1 / 4)])
def test_smooth_deposits_keep_mass_and_mean_and_add_known_variance(deposit, shape_var):
    """Shape deposits are partitions of unity with zero mean, so mass and the mean velocity are exact
    (to float32 round-off, 1e-6 relative), and the second moment grows by the shape's variance:
    h^2/4 exactly for tsc; w(1-w) h^2 for cic (w: position within the bin), h^2/6 on average, so
    for cic the tolerance is 5 standard errors of that average (std of w(1-w) is 0.075 h^2)."""
    grid = VelocityGrid.regular(41, 5.0)
    h = grid.h
    rng = np.random.default_rng(1)
    v = rng.standard_normal((3, 20_000, 2)) * np.array([0.5, 0.7, 0.9])[:, None, None] + 0.3
    f = histogram(v, grid, deposit=deposit).astype(np.float64)
    VX, VY = grid.mesh()
    mass = f.sum((1, 2)) * h * h
    np.testing.assert_allclose(mass, 1.0, rtol=1e-6)
    for k in range(3):
        mx = (f[k] * VX).sum() * h * h
        vxx = (f[k] * VX ** 2).sum() * h * h
        np.testing.assert_allclose(mx, v[k, :, 0].mean(), atol=1e-5)
        tol = 1e-5 * vxx if deposit == "tsc" else 5 * 0.075 * h * h / np.sqrt(v.shape[1])
        np.testing.assert_allclose(vxx, (v[k, :, 0] ** 2).mean() + shape_var * h * h, atol=tol)
    # a single particle on a bin centre: cic puts it in that bin, tsc spreads 1/8, 3/4, 1/8 per axis
    one = histogram(np.array([[grid.vx[20], grid.vy[20]]]), grid, deposit=deposit) * h * h
    w = {"cic": [0.0, 1.0, 0.0], "tsc": [0.125, 0.75, 0.125]}[deposit]
    np.testing.assert_allclose(one[19:22, 19:22], np.outer(w, w), atol=1e-7)


@pytest.mark.parametrize("deposit", ["cic", "tsc"])
def test_fused_deposit_matches_numpy_reference(deposit):
    """The numba deposit and the numpy path agree to float32 round-off, edges included
    (particles beyond the grid lose the weight that falls outside, in both)."""
    grid = VelocityGrid.regular(21, 3.0)
    rng = np.random.default_rng(2)
    v = (rng.standard_normal((4, 5000, 2)) * 1.5).astype(np.float32)
    v[0, :3] = np.nan   # non-finite velocities deposit nothing
    ref = histogram(v, grid, deposit=deposit, backend="numpy")
    got = histogram(v, grid, deposit=deposit)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * ref.max())


def test_unknown_deposit_is_an_error():
    with pytest.raises(CollopError, match="unknown deposit 'box'"):
        histogram(np.zeros((3, 2)), VelocityGrid.regular(5, 1.0), deposit="box")


def _particles(n=80_000, frames=5, seed=0):
    rng = np.random.default_rng(seed)
    v0 = Maxwellian(1.5).sample(n, rng)
    steps = rng.standard_normal((frames, n, 2)) * 0.05
    v = v0[None] + np.concatenate([np.zeros((1, n, 2)), np.cumsum(steps, 0)])
    return particles_dataset(v, np.arange(frames + 1) * 0.5, velocity_units="0.01c",
                             time_units="1/omega_p", source="synthetic")


POPS = ["normal_0_0", "ring_1.0", "normal_-1_0"]


def test_build_phasespace():
    parts = _particles()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CoverageWarning)
        ds = build_phasespace(parts, POPS, n_bins=21, n_particles=1000, seed=5, t0=1)
    validate(ds, "phasespace")
    assert ds["f"].dims == ("population", "time", "vx", "vy")
    assert ds["f"].shape == (3, 5, 21, 21)
    assert list(ds["population"].values) == POPS
    np.testing.assert_allclose(ds["time"], parts["time"].values[1:])
    np.testing.assert_allclose(ds["vx"], VelocityGrid.regular(21, 5.0).vx)
    assert list(ds["n_particles"].values) == [1000] * 3
    assert ds.attrs["velocity_units"] == "0.01c" and ds.attrs["time_units"] == "1/omega_p"
    assert ds.attrs["t0"] == 1 and ds.attrs["seed"] == 5 and "Ring" in ds.attrs["sampling"]
    assert np.all(ds["acceptance_rate"] > 0) and np.all(ds["ess"] > 1000)
    # mean velocity of normal_-1_0 at t0 from the histogram: 5 standard errors
    # (5 * sqrt(0.05 / 1000) = 0.035) plus the bin-centre aliasing bias of a normal
    # with sigma = 0.22 on bins of h = 0.48, (h / pi) exp(-2 pi^2 sigma^2 / h^2) = 0.002
    f0 = ds["f"].sel(population="normal_-1_0").isel(time=0)
    h = float(ds.vx[1] - ds.vx[0])
    mass = float(f0.sum()) * h * h
    assert mass == pytest.approx(1.0)
    mx = float((f0 * ds.vx).sum()) * h * h / mass
    my = float((f0 * ds.vy).sum()) * h * h / mass
    assert abs(mx + 1) < 0.04 and abs(my) < 0.04
    same = build_phasespace(parts, POPS, n_bins=21, n_particles=1000, seed=5, t0=1)
    np.testing.assert_array_equal(same["f"].values, ds["f"].values)
    other = build_phasespace(parts, POPS, n_bins=21, n_particles=1000, seed=6, t0=1)
    assert not np.array_equal(other["f"].values, ds["f"].values)


def test_build_phasespace_lazy_file(tmp_path):
    parts = _particles(n=20_000, frames=10)
    path = write_dataset(parts, tmp_path / "p.nc")
    lazy = open_dataset(path, "particles", load=False)
    shapes = {"a": Normal((0.5, 0.5), ((0.1, 0), (0, 0.1))), "b": Ring(1.0)}
    ds = build_phasespace(lazy, shapes, n_bins=11, vmax=4.0, n_particles=500, seed=1,
                          frames_per_read=3)
    mem = build_phasespace(parts, shapes, n_bins=11, vmax=4.0, n_particles=500, seed=1)
    lazy.close()
    np.testing.assert_array_equal(ds["f"].values, mem["f"].values)
    assert ds.attrs["source"] == ds.attrs["particles_source"] == str(path)


def test_build_phasespace_errors():
    parts = _particles(n=2000, frames=2)
    with pytest.raises(CollopError, match="normal_bogus"):
        build_phasespace(parts, ["normal_0_0", "normal_bogus"], n_particles=100)
    with pytest.raises(CollopError, match="t0"):
        build_phasespace(parts, ["normal_0_0"], n_particles=100, t0=7)
    multi = parts.expand_dims(run=2).transpose("run", ...)
    with pytest.raises(CollopError, match="run"):
        build_phasespace(multi, ["normal_0_0"], n_particles=100)
