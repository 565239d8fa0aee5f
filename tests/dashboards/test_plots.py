"""The app's figure descriptions: the data, units, scales and colour ranges they carry."""
import numpy as np
import pytest
import xarray as xr

from collop.datasets import isotropic_operator_dataset
from collop.moments import radial_distribution
from collop.views import Units
from dashboards import plots
from dashboards.figures import Image, Line


def test_f_plot_orientation_units_and_fixed_colour_range(fp_data):
    ds = fp_data.ds
    p = plots.f_plot(ds, "right", 3)                      # population centred at vx = +1.2, vy = 0
    img = p.layers[0]
    assert isinstance(img, Image) and img.color.cmap == "viridis"
    da = ds["f"].sel(population="right").isel(time=3)
    for ix, iy in [(15, 10), (3, 14), (11, 4)]:           # row iy (from the bottom), column ix
        assert img.values[iy, ix] == pytest.approx(float(da.isel(vx=ix, vy=iy)))
    u = Units.of(ds)
    assert p.x.text == f"vx [{u.v}]" and img.color.text == f"f [{u.f}]"
    # fixed over frames: 0 .. the population's largest value over all frames
    assert (img.color.low, img.color.high) == (0.0, pytest.approx(float(ds["f"].sel(population="right").max())))
    per = plots.f_plot(ds, "right", 3, fixed=False).layers[0].color
    assert per.limits(img.values) == (pytest.approx(float(da.min())), pytest.approx(float(da.max())))
    log = plots.f_plot(ds, "right", 3, log=True).layers[0].color
    assert log.log and log.high / log.low == pytest.approx(1e4)
    fig = plots.f_figure(ds, ["right", "down"], 0)
    assert len(fig.plots) == 2 and fig.name == "f-plot"


def test_radial_figure(fp_data):
    fig = plots.radial_figure(fp_data.ds, "centre", [9, 0, 9])
    lines = fig.plots[0].layers
    assert [ln.label for ln in lines] == ["t = 0", "t = 0.9"]
    F = radial_distribution(fp_data.ds["f"].sel(population="centre").isel(time=9))
    np.testing.assert_allclose(lines[1].y, F.values)
    assert fig.plots[0].y.unit == Units.of(fp_data.ds).F


def _iso_op(t=(0.0, 2.0)):
    sp = np.linspace(0, 5, 11)
    T = np.asarray(t)[:, None]
    return isotropic_operator_dataset(list(t), sp, -0.1 * sp * (1 + T), 0.2 + 0 * sp * T, 0.1 + 0.05 * T + 0 * sp,
                                      method="ps-tensor", velocity_units="u", time_units="s", source="test")


def test_coefficient_curves_interpolate_in_time_with_units():
    op = _iso_op()
    u = Units.of(op)
    fig = plots.coefficient_figure(plots.coefficient_view(op), [0.0, 1.0, 5.0], u)
    a = [ln.y for ln in fig.plots[0].layers]
    sp = op["speed"].values
    np.testing.assert_allclose(a[0], -0.1 * sp)
    np.testing.assert_allclose(a[1], -0.2 * sp)           # halfway
    np.testing.assert_allclose(a[2], -0.3 * sp)           # clamped at the last time
    assert [p.y.text for p in fig.plots] == ["A∥ [u/s]", "D∥ [u²/s]", "D⊥ [u²/s]"]
    empty = plots.coefficient_figure(None, [0.0, 1.0], u)
    assert all(len(ln.x) == 0 for p in empty.plots for ln in p.layers)


def test_coefficients_blank_outside_the_particle_support(fp_data):
    op = _iso_op()
    f = fp_data.ds["f"].isel(population=[0])
    view = plots.coefficient_view(op, f.where(np.hypot(f["vx"], f["vy"]) < 1.0, 0.0))
    d = plots.coefficient_figure(view, [0.0], Units()).plots[1].layers[0]
    assert np.isnan(d.y[d.x > 2.0]).all() and np.isfinite(d.y[d.x < 0.5]).all()


def test_compare_figure_one_curve_per_operator():
    truth = _iso_op().assign_attrs(method="truth")
    views = {"truth": plots.coefficient_view(truth), "run": plots.coefficient_view(_iso_op())}
    views["truth"].attrs["method"] = "truth"
    fig = plots.compare_figure(views, 2.0, Units("u", "s"))
    lines = fig.plots[2].layers
    assert [ln.label for ln in lines] == ["truth", "run"]
    assert lines[0].dash == "dashed" and lines[0].color == "black" and lines[1].dash == "solid"
    np.testing.assert_allclose(lines[1].y, 0.2)


def test_loss_figure_is_log():
    import pandas as pd

    fig = plots.loss_figure(pd.DataFrame({"epoch": [0, 1], "loss": [1.0, 0.5], "stage": [0, 0]}))
    p = fig.plots[0]
    assert p.y.log and "dimensionless" in p.y.text
    np.testing.assert_allclose(p.layers[0].y, [1.0, 0.5])
    assert len(plots.loss_figure(None).plots[0].layers[0].x) == 0


def _pair():
    coords = {"time": [0.0, 1.0], "vx": [0.0, 1.0, 2.0], "vy": [0.0, 1.0, 2.0]}
    f = xr.DataArray(np.random.default_rng(0).random((2, 3, 3)) + 0.1, dims=("time", "vx", "vy"), coords=coords)
    return f, f * 1.1


def test_rollout_figure_shares_f_scale_and_centres_the_difference():
    f, f_hat = _pair()
    fig = plots.rollout_figure(f, f_hat, 1, Units("u", "s"), title="run")
    data, roll, diff = (p.layers[0] for p in fig.plots)
    assert data.color.low == roll.color.low == 0.0
    assert data.color.high == roll.color.high == pytest.approx(float(max(f.max(), f_hat.max())))
    d = (f_hat - f) / f.max(("vx", "vy"))
    lim = float(abs(d).max())
    assert diff.color.cmap == "RdBu_r"
    assert (diff.color.low, diff.color.high) == (pytest.approx(-lim), pytest.approx(lim))
    np.testing.assert_allclose(diff.values, d.isel(time=1).transpose("vy", "vx").values, rtol=1e-6)


def test_fig3_and_error_against_time():
    f, f_hat = _pair()
    fig = plots.fig3_figure(f, {"a": f_hat, "b": f * 0.9}, [0, 1], Units("u", "s"), population="p")
    assert fig.ncols == 2 and len(fig.plots) == 2 + 2 * 2 * 2            # data row, then per run two rows
    assert [fig.plots[k].title for k in (0, 2, 4)] == ["data, t = 0 [s]", "a: f̂", "a: f̂ − f"]
    assert all(p.layers[0].color.cmap == "RdBu_r" for p in fig.plots[4:6])
    from collop.views import rollout_error_by_time

    e = rollout_error_by_time(f_hat.expand_dims(population=["p", "q"]), f.expand_dims(population=["p", "q"]))
    fig = plots.error_time_figure({"a": e}, Units("u", "s"))
    line = fig.plots[0].layers[0]
    assert isinstance(line, Line) and list(line.x) == [1.0] and line.band is not None
    assert fig.plots[0].x.text == "t [s]" and "dimensionless" in fig.plots[0].y.text
