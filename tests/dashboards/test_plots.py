"""The figures are pure functions: check the data they carry."""
import holoviews as hv
import numpy as np
import pytest
import xarray as xr

from collop.datasets import full_operator_dataset, isotropic_operator_dataset
from collop.grid import VelocityGrid
from collop.moments import radial_distribution
from dashboards import plots


def test_f_image_orientation(fp_data):
    ds = fp_data.ds
    img = plots.f_image(ds, "right", 3)                      # population centred at vx = +1.2, vy = 0
    assert isinstance(img, hv.Image)
    da = ds["f"].sel(population="right").isel(time=3)
    for vx, vy in [(1.2, 0.0), (-2.0, 1.6), (0.4, -2.4)]:
        want = float(da.sel(vx=vx, vy=vy, method="nearest"))
        assert float(img[vx, vy]) == pytest.approx(want)
    lay = plots.f_images(ds, ["right", "down"], 0)
    assert len(lay) == 2


def test_live_f_image_matches_the_export(fp_data):
    """The Data tab's Bokeh image holds the same f(vx, vy) as plots.f_image, and follows the frame."""
    from dashboards.data_tab import FImage

    ds = fp_data.ds
    live = FImage(ds, "right", 3)
    vx, vy = ds["vx"].values, ds["vy"].values
    x0, y0, x1, y1 = plots.f_bounds(ds)
    glyph = live.figure.renderers[0].glyph
    assert (glyph.x, glyph.y, glyph.dw, glyph.dh) == pytest.approx((x0, y0, x1 - x0, y1 - y0))
    img = plots.f_image(ds, "right", 3)
    for ix, iy in [(15, 10), (3, 14), (11, 4)]:                 # row iy (from the bottom), column ix
        assert float(live.source.data["image"][0][iy, ix]) == pytest.approx(float(img[vx[ix], vy[iy]]))
    assert live.figure.title.text == img.label
    live.show(7)
    np.testing.assert_array_equal(live.source.data["image"][0],
                                  ds["f"].sel(population="right").isel(time=7).transpose("vy", "vx").values)
    assert "t = 0.7" in live.figure.title.text
    assert live.mapper.high == pytest.approx(float(ds["f"].sel(population="right").isel(time=7).max()))


def test_live_radial_view_matches_the_export(fp_data):
    """The Data tab's Bokeh radial plot holds the curves of plots.radial_curves, and follows its inputs."""
    from dashboards.data_tab import RadialView

    ds = fp_data.ds
    live = RadialView(ds, "centre", [9, 0, 9])
    ov = plots.radial_curves(ds, "centre", [9, 0, 9])
    data = live.source.data
    assert list(data["label"]) == [c.label for c in ov.values()] == ["t = 0", "t = 0.9"]
    for k, curve in enumerate(ov.values()):
        np.testing.assert_allclose(data["xs"][k], curve.dimension_values("speed"))
        np.testing.assert_allclose(data["ys"][k], curve.dimension_values("F"))
    live.show("right", [3])
    assert live.figure.title.text.startswith("right") and list(live.source.data["label"]) == ["t = 0.3"]
    np.testing.assert_allclose(live.source.data["ys"][0], plots.radial_curves(ds, "right", [3]).values()[0]
                               .dimension_values("F"))


def test_radial_curves_overlay(fp_data):
    ov = plots.radial_curves(fp_data.ds, "centre", [0, 9, 0])
    assert isinstance(ov, hv.Overlay) and len(ov) == 2
    F = radial_distribution(fp_data.ds["f"].sel(population="centre").isel(time=9))
    np.testing.assert_allclose(ov.values()[1].dimension_values("F"), F.values)


def _iso_op(t=(0.0, 2.0)):
    sp = np.linspace(0, 5, 11)
    T = np.asarray(t)[:, None]
    return isotropic_operator_dataset(list(t), sp, -0.1 * sp * (1 + T), 0.2 + 0 * sp * T, 0.1 + 0.05 * T + 0 * sp,
                                      method="ps-tensor", velocity_units="u", time_units="s", source="test")


def test_coefficient_curves_interpolate_in_time():
    op = _iso_op()
    ov = plots.coefficient_curves(op, "A_par", [0.0, 1.0, 5.0])
    a = [c.dimension_values("A_par") for c in ov]
    sp = op["speed"].values
    np.testing.assert_allclose(a[0], -0.1 * sp)
    np.testing.assert_allclose(a[1], -0.2 * sp)           # halfway
    np.testing.assert_allclose(a[2], -0.3 * sp)           # clamped at the last time
    empty = plots.coefficient_curves(None, "D_par", [0.0, 1.0])
    assert len(empty) == 2 and all(len(c) == 0 for c in empty)


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
    iso = plots.isotropic_view(op)
    sp = iso["speed"].values
    inner = (sp > 0.3) & (sp < 2.5)
    np.testing.assert_allclose(iso["D_perp"].values[0], 0.4, atol=1e-9)
    np.testing.assert_allclose(iso["A_par"].values[0][inner], -0.5 * sp[inner], rtol=0.08)
    np.testing.assert_allclose(iso["D_par"].values[0][inner], 1 + 0.1 * sp[inner], rtol=0.02)


def test_coefficient_compare_one_curve_per_operator():
    ops = {"truth": _iso_op().assign_attrs(method="truth"), "run": _iso_op()}
    ov = plots.coefficient_compare(ops, "D_perp", 2.0)
    assert [c.label for c in ov] == ["truth", "run"]
    np.testing.assert_allclose(ov.values()[1].dimension_values("D_perp"), 0.2)


def test_normalised_difference_uses_each_frames_peak():
    coords = {"time": [0.0, 1.0], "vx": [0.0, 1.0], "vy": [0.0, 1.0]}
    f = xr.DataArray([[[1.0, 2.0], [0.0, 0.0]], [[4.0, 0.0], [0.0, 8.0]]], dims=("time", "vx", "vy"), coords=coords)
    f_hat = f + xr.DataArray([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [-4.0, 0.0]]], dims=f.dims, coords=coords)
    d = plots.normalised_difference(f_hat, f)
    assert float(d[0, 0, 0]) == pytest.approx(0.5)       # 1 / peak 2
    assert float(d[1, 1, 0]) == pytest.approx(-0.5)      # -4 / peak 8
    lay = plots.rollout_triptych(f, f_hat, 1)
    imgs = list(lay)
    assert len(imgs) == 3 and all(isinstance(i, hv.Image) for i in imgs)
    assert float(imgs[2][1.0, 0.0]) == pytest.approx(-0.5)   # at vx=1, vy=0 (keys in (vx, vy) order)
    assert float(imgs[2][0.0, 1.0]) == pytest.approx(0.0)
    assert float(imgs[1][1.0, 1.0]) == pytest.approx(8.0)


def test_loss_curve_and_summary():
    import pandas as pd

    c = plots.loss_curve(pd.DataFrame({"epoch": [0, 1], "loss": [1.0, 0.5], "stage": [0, 0]}))
    np.testing.assert_allclose(c.dimension_values("loss"), [1.0, 0.5])
    assert len(plots.loss_curve(None)) == 0
    runs = [{"status": "finished", "method": "ps-tensor", "metrics": {"per_population": {"a": 1.0, "b": 3.0}}},
            {"status": "finished", "method": "ps-tensor", "metrics": {"per_population": {"a": 2.0}}},
            {"status": "finished", "method": "tracks", "metrics": {"per_population": {"a": 0.5}}},
            {"status": "failed", "method": "ps-nn", "metrics": {}},
            {"status": "running", "method": "ps-nn", "metrics": {"per_population": {"a": 9.0}}}]
    df = plots.summary_frame(runs)
    assert list(df["method"]) == ["ps-tensor", "tracks"]
    row = df.iloc[0]
    assert row["rollout MAE"] == pytest.approx(2.0) and row["std"] == pytest.approx(np.std([1, 3, 2]))
    assert row["runs"] == 2 and row["populations"] == 3
    assert isinstance(plots.summary_table(df), hv.Table)
