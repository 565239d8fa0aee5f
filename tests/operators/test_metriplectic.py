"""The ``metriplectic`` operator family (:mod:`collop.operators.metriplectic`): options, files, rebuilding."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from collop.io import open_dataset, write_dataset
from collop.kinetic.diagnostics import gain_table, gain_table_mean_s
from collop.kinetic.kernels import CM2Kernel, LandauKernel, omega_matrix
from collop.operators import registry
from collop.operators.metriplectic import KernelGrid, Metriplectic, MetriplecticOptions
from collop.options import SpecError, parse
from collop.schema import SchemaError, validate


def _cm2_op(temperature=1.2):
    k = CM2Kernel(1.1, 0.4, seed=4)
    with torch.no_grad():
        for W, _ in k.net.weights():
            W.mul_(2.0)
    return Metriplectic(k, velocity_units="v_th", time_units="1/omega_p", temperature=temperature)


def test_registered_with_its_form_and_objective():
    fam = registry.get("metriplectic")
    assert fam is Metriplectic and registry.for_form("metriplectic") is Metriplectic
    assert fam.objective == "weak_form"
    assert Metriplectic.default_curriculum(MetriplecticOptions(steps=123)) == "1:0.01:123"
    assert Metriplectic.method_name(MetriplecticOptions(model="cm1")) == "cm1"


def test_options_are_validated():
    assert parse(MetriplecticOptions, {"model": "landau"}).model == "landau"
    with pytest.raises(SpecError, match="options.model"):
        parse(MetriplecticOptions, {"model": "boltzmann"}, where="options")
    with pytest.raises(SpecError, match="options.layers"):
        parse(MetriplecticOptions, {"layers": 1}, where="options")


@pytest.mark.parametrize("model", ["landau", "cm1", "cm2"])
def test_file_round_trip_rebuilds_the_kernel(model, tmp_path):
    """Write, read, rebuild: omega is the same on random pairs (float32 weights stored in float64: exact)."""
    if model == "cm2":
        op = _cm2_op()
    else:
        k = Metriplectic.build(model, v_scale=1.1, c0=0.9, seed=2)
        op = Metriplectic(k, velocity_units="v_th", time_units="1/omega_p")
    grid = KernelGrid.default(1.1)
    ds = op.to_dataset(grid, [0.0, 1.0], source="test", attrs={"seed": 3})
    path = write_dataset(ds, tmp_path / "op.nc")
    back = Metriplectic.from_dataset(open_dataset(path, "operator"))
    assert back.model == model and back.velocity_units == "v_th" and back.time_units == "1/omega_p"
    g = torch.Generator().manual_seed(0)
    v1, v2 = torch.randn(200, 3, generator=g, dtype=torch.float64), torch.randn(200, 3, generator=g,
                                                                              dtype=torch.float64)
    with torch.no_grad():
        W0, W1 = omega_matrix(op.kernel, v1, v2), omega_matrix(back.kernel, v1, v2)
    assert torch.allclose(W0, W1, rtol=1e-5, atol=1e-6 * float(W0.abs().max()))   # float32 vs float64 nets
    # the tables are the kernel's gains on the grid
    Gr, Gs = gain_table(op.kernel, grid.u, grid.r, grid.s)
    assert np.allclose(ds["g_r2"].values[0], Gr) and np.allclose(ds["g_s2"].values[0], Gs)
    assert ds.attrs["seed"] == 3 and ds["time"].size == 1


def test_landau_tables_are_c0_over_u():
    op = Metriplectic(LandauKernel(0.7, 1.0), velocity_units="v", time_units="t")
    ds = op.to_dataset(KernelGrid.default(1.0))
    u = ds["u"].values
    assert np.allclose(ds["g_I2"].values[0], 0.7 / u, rtol=1e-12)
    assert np.allclose(ds["g_r2"].values[0], (0.7 / u)[:, None, None], rtol=1e-12)
    assert np.allclose(ds["g_r2_mean_s"].values[0], ds["g_s2_mean_s"].values[0])
    assert ds.attrs["c0"] == pytest.approx(0.7)


def test_mean_over_s_is_the_equilibrium_average():
    """E_s[G] at (u, r) equals a Monte Carlo average over isotropic directions (3 standard errors)."""
    op = _cm2_op()
    u, r = np.array([0.5, 1.5]), np.array([0.3, 2.0])
    Mr, Ms = gain_table_mean_s(op.kernel, u, r)
    g = np.random.default_rng(0)
    x = g.uniform(-1, 1, 200_000)
    for i, uu in enumerate(u):
        for j, rr in enumerate(r):
            s = uu * rr * np.sqrt(1 - x * x)
            Gr, Gs = gain_table(op.kernel, [uu], [rr], s)
            for got, sample in ((Mr[i, j], Gr.ravel()), (Ms[i, j], Gs.ravel())):
                assert abs(got - sample.mean()) < 3 * sample.std() / np.sqrt(x.size) + 1e-7 * abs(got)


def test_cm2_isotropic_part_is_between_its_gains():
    op = _cm2_op()
    ds = op.to_dataset(KernelGrid.default(1.1))
    gI = ds["g_I2"].values[0]
    lo = np.minimum(ds["g_r2"].values[0], ds["g_s2"].values[0]).min(axis=(1, 2))
    hi = np.maximum(ds["g_r2"].values[0], ds["g_s2"].values[0]).max(axis=(1, 2))
    assert np.all(gI >= lo - 1e-12) and np.all(gI <= hi + 1e-12)


def test_bad_operator_files_are_refused(tmp_path):
    ds = _cm2_op().to_dataset(KernelGrid.default(1.1))
    bad = ds.copy()
    bad.attrs["weight_layout"] = json.dumps([["net.W0", [2, 10, 3]]])
    with pytest.raises(SchemaError, match="weights"):
        validate(bad)
    bad = ds.copy()
    bad.attrs["model"] = "boltzmann"
    with pytest.raises(SchemaError, match="model"):
        validate(bad)
    bad = ds.copy()
    bad.attrs["v_scale"] = -1.0
    with pytest.raises(SchemaError, match="v_scale"):
        validate(bad)
    bad = ds.drop_vars("g_s2")
    with pytest.raises(SchemaError, match="g_s2"):
        validate(bad)
    # a file of another family is not a metriplectic operator
    other = ds.copy()
    other.attrs["hidden"] = 7                         # layout no longer matches the networks
    with pytest.raises(SchemaError, match="weight_layout"):
        Metriplectic.from_dataset(other)
