"""Tests of the rollout metrics (:mod:`collop.metrics`)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from collop.datasets import isotropic_operator_dataset
from collop.metrics import evaluate, rollout, rollout_error
from collop.operators import FokkerPlanck
from collop.schema import SchemaError
from collop.solvers import ForwardEuler


def test_rollout_error_by_hand():
    # f, f_hat: (P=2, T=3, 2, 2). Frame 0 differs wildly and must be ignored.
    f = np.zeros((2, 3, 2, 2))
    fh = np.zeros_like(f)
    f[:, 0] = 1.0
    fh[:, 0] = 100.0
    # population 0
    f[0, 1] = [[1, 0], [0, 1]]      # max 1, sum 2
    fh[0, 1] = [[1, 1], [0, 1]]     # |d| sums to 1 -> mean(|d|/max) = 1/4; l1 = 1/2
    f[0, 2] = [[2, 2], [0, 0]]      # max 2, sum 4
    fh[0, 2] = [[2, 0], [0, 0]]     # |d| sums to 2 -> (2/2)/4 = 1/4; l1 = 2/4
    # population 1
    f[1, 1] = [[4, 0], [0, 0]]      # max 4, sum 4
    fh[1, 1] = 0.0                  # (4/4)/4 = 1/4; l1 = 1
    f[1, 2] = 1.0
    fh[1, 2] = 1.0                  # exact: 0; l1 = 0
    # e_0 = (1/4 + 1/4)/2 = 1/4; e_1 = (1/4 + 0)/2 = 1/8
    f_da = xr.DataArray(f, dims=("population", "time", "vx", "vy"), coords={"population": ["a", "b"]})
    out = rollout_error(fh, f_da)
    assert out["rollout_mae"] == pytest.approx(0.1875, abs=1e-15)        # mean(1/4, 1/8)
    assert out["rollout_mae_std"] == pytest.approx(0.0625, abs=1e-15)    # population std
    assert out["rollout_l1_rel"] == pytest.approx(0.5, abs=1e-15)        # mean(1/2, 1/2, 1, 0)
    assert out["per_population"] == pytest.approx({"a": 0.25, "b": 0.125}, abs=1e-15)
    # plain arrays: populations are numbered
    assert set(rollout_error(fh, f)["per_population"]) == {"0", "1"}
    # the peak normalisation is per frame: scaling one frame of both scales nothing
    f2, fh2 = f.copy(), fh.copy()
    f2[0, 2] *= 10
    fh2[0, 2] *= 10
    assert rollout_error(fh2, f2)["rollout_mae"] == pytest.approx(0.1875, abs=1e-15)


def test_rollout_keeps_first_frame_and_mass(fp_data):
    fh = rollout(fp_data.truth_ds, fp_data.ds, ["right", "down"], solver=ForwardEuler(n_substeps=fp_data.n_sub))
    assert fh.dims == ("population", "time", "vx", "vy")
    assert list(fh["population"].values) == ["right", "down"]
    np.testing.assert_array_equal(fh.isel(time=0).values,
                                  fp_data.ds["f"].sel(population=["right", "down"]).isel(time=0).values)
    mass = fh.values.astype(float).sum((-2, -1))
    np.testing.assert_allclose(mass / mass[:, :1], 1.0, rtol=1e-6)     # float32 output


def test_true_operator_has_zero_error_on_its_own_data(fp_data):
    solver = ForwardEuler(n_substeps=fp_data.n_sub)
    err = evaluate(fp_data.truth_ds, fp_data.ds, "all", solver=solver)
    # the same solver reproduces the data up to their float32 storage (measured: exactly 0)
    assert err["rollout_mae"] < 1e-6 and err["rollout_l1_rel"] < 1e-5
    assert set(err["per_population"]) == set(fp_data.names)
    # also as a module rather than a file
    assert evaluate(FokkerPlanck.from_dataset(fp_data.truth_ds), fp_data.ds, "all",
                    solver=solver)["rollout_mae"] < 1e-6
    # 4x more sub-steps leave only the O(dt) Euler time error (measured 1.9e-4), far below
    # that of a wrong operator (A_par sign flipped: measured 3.3e-2)
    finer = evaluate(fp_data.truth_ds, fp_data.ds, "all", solver=ForwardEuler(n_substeps=8))["rollout_mae"]
    wrong_ds = fp_data.truth_ds.copy(deep=True)
    wrong_ds["A_par"] = -wrong_ds["A_par"]                 # drag -> anti-drag
    wrong = evaluate(wrong_ds, fp_data.ds, "all", solver=solver)["rollout_mae"]
    assert 1e-6 < finer < 1e-3 and wrong > 50 * finer


@pytest.mark.parametrize("attr", ["velocity_units", "time_units"])
def test_evaluate_rejects_operator_with_other_units(fp_data, attr):
    units = {"velocity_units": "v_th", "time_units": "1/nu_ref", attr: "m/s" if attr == "velocity_units" else "s"}
    other = fp_data.make_truth(fp_data.grid, **units)
    assert other.attrs[attr] != fp_data.ds.attrs[attr]
    with pytest.raises(SchemaError, match=attr):
        evaluate(other, fp_data.ds, "all")


def test_rollout_error_reports_negative_mass():
    """The largest fraction of a rollout's |mass| held in negative values, over frames and populations."""
    from collop.metrics import rollout_error

    f = np.ones((2, 3, 4, 4))
    fh = f.copy()
    fh[1, 2, 0, 0] = -2.0           # population 1, frame 2: |mass| 15 + 2 = 17, negative 2
    m = rollout_error(fh, f)
    assert m["rollout_negative_mass"] == pytest.approx(2.0 / 17.0, rel=1e-12)
    assert rollout_error(f, f)["rollout_negative_mass"] == 0.0
