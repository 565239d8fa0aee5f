"""collop.views: units, the isotropic view of any operator, particle support, rollout error per frame, sampling."""
import json

import numpy as np
import pytest
import xarray as xr

from collop.datasets import full_operator_dataset, isotropic_operator_dataset, phasespace_dataset
from collop.grid import VelocityGrid
from collop.views import (FEW_PARTICLES, Units, coefficient_support, isotropic_view, masked, normalised_difference,
                          rollout_error_by_time, sampling_table)


def test_units_from_attributes():
    u = Units.of(xr.Dataset(attrs={"velocity_units": "0.01c", "time_units": "frame"}))
    assert (u.v, u.t, u.A, u.D, u.f, u.F) == ("0.01c", "frame", "0.01c/frame", "(0.01c)²/frame", "1/(0.01c)²",
                                              "1/(0.01c)")
    u = Units("0.01c", "1/omega_p")                    # dividing by 1/omega_p multiplies by omega_p
    assert (u.A, u.D) == ("0.01c·omega_p", "(0.01c)²·omega_p")
    assert Units("v_th", "s").D == "v_th²/s" and Units("m/s", "s").A == "(m/s)/s"
    assert Units.of(None).A == "" and Units().f == ""


def test_isotropic_view_of_a_full_operator():
    grid = VelocityGrid.regular(31, 3.0)
    VX, VY = grid.mesh()
    s = np.hypot(VX, VY)
    ux, uy = np.divide(VX, s, out=np.ones_like(s), where=s > 0), np.divide(VY, s, out=np.zeros_like(s), where=s > 0)
    a_par, d_par, d_perp = -0.5 * s, 1.0 + 0.1 * s, 0.4 + 0 * s
    A = np.stack([a_par * ux, a_par * uy])[None]
    D = np.stack([np.stack([d_par * ux * ux + d_perp * uy * uy, (d_par - d_perp) * ux * uy]),
                  np.stack([(d_par - d_perp) * ux * uy, d_par * uy * uy + d_perp * ux * ux])])[None]
    op = full_operator_dataset([0.0], grid.vx, grid.vy, A, D, method="ps-tensor", velocity_units="u",
                               time_units="s", source="test")
    iso = isotropic_view(op)
    sp = iso["speed"].values
    inner = (sp > 0.3) & (sp < 2.5)
    # D_perp is constant: its shell averages are exact to round-off
    np.testing.assert_allclose(iso["D_perp"].values[0], 0.4, atol=1e-9)
    # linear profiles averaged over shells one bin wide: the tent weights shift each value by up to ~8%
    # near the centre (few cells per shell) and ~2% further out
    np.testing.assert_allclose(iso["A_par"].values[0][inner], -0.5 * sp[inner], rtol=0.08)
    np.testing.assert_allclose(iso["D_par"].values[0][inner], 1 + 0.1 * sp[inner], rtol=0.02)


def _iso(n_samples=None):
    sp = np.linspace(0, 5, 11)
    t = np.array([0.0, 1.0, 2.0])
    one = np.ones((3, 11))
    op = isotropic_operator_dataset(t, sp, -0.1 * one, 0.2 * one, 0.1 * one, method="m", velocity_units="u",
                                    time_units="s", source="test")
    if n_samples is not None:
        op["n_samples"] = (("time", "speed"), n_samples)
        op.attrs["min_count"] = 10
    return op


def test_support_from_particle_counts():
    n = np.zeros((3, 11))
    n[:, :4] = 50
    n[1, 4] = 9                                          # below min_count: no estimate there
    iso = isotropic_view(_iso(n))
    sup = coefficient_support(iso)
    assert sup.values[:, :4].all() and not sup.values[:, 4:].any()
    m = masked(iso, sup)
    assert np.isnan(m["D_par"].values[:, 4:]).all() and np.isfinite(m["D_par"].values[:, :4]).all()


def test_support_from_training_data():
    grid = VelocityGrid.regular(21, 5.0)
    f = np.zeros((1, 3, 21, 21))
    VX, VY = grid.mesh()
    f[0, :, np.hypot(VX, VY) < 1.5] = 1.0            # particles only inside |v| < 1.5
    f[0, 2, np.hypot(VX, VY) < 3.0] = 1.0            # ... and in the last frame inside |v| < 3
    da = xr.DataArray(f, dims=("population", "time", "vx", "vy"),
                      coords={"population": ["p"], "time": [0.0, 1.0, 2.0], "vx": grid.vx, "vy": grid.vy})
    iso = isotropic_view(_iso())
    sup = coefficient_support(iso, da)
    sp = iso["speed"].values
    # shells whose tent weights reach an occupied cell (one bin width h = 0.5 of slack)
    assert sup.values[0][sp <= 1.0].all() and not sup.values[0][sp >= 2.5].any()
    assert sup.values[2][sp <= 2.5].all() and not sup.values[2][sp >= 4.0].any()
    const = iso.isel(time=[0])                        # a time-invariant operator: any frame counts
    assert coefficient_support(const, da).values[0][sp <= 2.5].all()
    assert coefficient_support(iso).values.all()      # no data, no counts: everything


def test_normalised_difference_and_error_by_time():
    coords = {"time": [0.0, 1.0], "vx": [0.0, 1.0], "vy": [0.0, 1.0]}
    f = xr.DataArray([[[1.0, 2.0], [0.0, 0.0]], [[4.0, 0.0], [0.0, 8.0]]], dims=("time", "vx", "vy"), coords=coords)
    f_hat = f + xr.DataArray([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [-4.0, 0.0]]], dims=f.dims, coords=coords)
    d = normalised_difference(f_hat, f)
    assert float(d[0, 0, 0]) == pytest.approx(0.5)       # 1 / peak 2
    assert float(d[1, 1, 0]) == pytest.approx(-0.5)      # -4 / peak 8
    e = rollout_error_by_time(f_hat, f)
    np.testing.assert_allclose(e.values, [0.5 / 4, 0.5 / 4])   # one bin of four off by half the peak
    # the mean over frames t >= 1 is collop.metrics' rollout MAE of this population
    from collop.metrics import rollout_error

    mae = rollout_error(f_hat.values[None], f.expand_dims(population=["p"]))["rollout_mae"]
    assert float(e.isel(time=slice(1, None)).mean()) == pytest.approx(mae, rel=1e-12)


def _phasespace(n_particles, sampling=None):
    grid = VelocityGrid.regular(11, 2.0)
    f = np.full((2, 2, 11, 11), 1.0 / (grid.h ** 2 * 121))
    attrs = {"n_requested": 300000}
    if sampling is not None:
        attrs["sampling"] = json.dumps(sampling)
    return phasespace_dataset(f, [0.0, 1.0], grid.vx, grid.vy, ["a", "b"], n_particles, velocity_units="u",
                              time_units="s", source="test", attrs=attrs,
                              extra_vars={"ess_fraction": ("population", [3.1, 0.5]),
                                          "outside_fraction": ("population", [0.0, 0.9])})


def test_sampling_table_flags_few_particles_and_uncovered_targets():
    t = sampling_table(_phasespace([1373, 300000]))
    assert list(t["flag"]) == ["poor", "poor"]
    assert t["warnings"][0].startswith(f"few particles: 1,373 < {FEW_PARTICLES:,}")
    assert "90% of the target mass lies where there are no particles" in t["warnings"][1]
    np.testing.assert_allclose(t["in_grid"], 1.0, rtol=1e-6)        # uniform f normalised on the grid
    # peak-bin noise 1/sqrt(N h^2 max f) = 1/sqrt(N / 121) for a uniform f on 121 bins
    np.testing.assert_allclose(t["peak_noise"], 1 / np.sqrt(np.array([1373, 300000]) / 121), rtol=1e-5)
    ok = sampling_table(_phasespace([300000, 300000], sampling=[
        {"name": "a", "warnings": []}, {"name": "b", "warnings": ["accepted 1 of 2 requested particles"]}]))
    assert list(ok["flag"]) == ["", "poor"] and ok["warnings"][1] == "accepted 1 of 2 requested particles"
