"""The Kernel tab without a browser: its tables from sweep folders, its figures, its form, its sweep processes.

Sweep folders here are written directly (``sweep.json`` and, where a test
needs them, the points' operator files): they test how the app reads and
groups sweeps, not physics. The errors are random fixture numbers; every
expected mean and spread is recomputed from them with numpy.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from collop.io import atomic_write_text, write_dataset
from dashboards.kernel_data import (KERNEL_DEFAULTS, baseline_table, coefficient_bands, kernel_maps, pareto_table,
                                    points_frame, runs_frame, scan_axis, scan_table)
from dashboards.kernel_form import KernelForm
from dashboards.kernel_plots import EMPTY_RANGE, kernel_figure, pareto_figure, scan_figure, zero_position

sys.path.insert(0, str(Path(__file__).parent))
from runfactory import make_run  # noqa: E402

TRAIN = ["centre", "right"]
TEST = ["upleft", "down"]


def _point(pid, family, *, k=None, scheme=None, seed=0, status="finished", mae=None, test=TEST, data="d.nc",
           train=TRAIN, options=None, penalties=None, values=None):
    opts = dict(options or {})
    if k is not None:
        opts["k"] = k
    if scheme is not None:
        opts["scheme"] = scheme
    spec = {"data": str(data), "train": list(train), "test": list(test), "family": family, "options": opts,
            "penalties": dict(penalties or {}), "seed": seed, "curriculum": "1:1e-2:5"}
    metrics = {} if mae is None else {"rollout_mae": float(mae), "per_population": {t: float(mae) for t in test}}
    return {"id": pid, "values": dict(values or {}), "status": status, "error": None, "attempts": 1,
            "metrics": metrics, "spec": spec}


def write_sweep(folder, points, axes=None, name="test sweep", status="finished") -> dict:
    """A sweep folder's ``sweep.json`` holding ``points`` (entries as :func:`_point` makes them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict = {}
    for p in points:
        counts[p["status"]] = counts.get(p["status"], 0) + 1
    index = {"collop_sweep": 1, "name": name, "spec": {"base": {}, "axes": axes or {}, "mode": "product"},
             "status": status, "counts": counts, "points": points}
    atomic_write_text(folder / "sweep.json", json.dumps(index))
    return index


def _pareto_points(rng, ks=(1, 2, 3), schemes=("forward", "backward"), seeds=(0, 1, 2)):
    pts, errs = [], {}
    for s in schemes:
        for k in ks:
            for seed in seeds:
                e = float(rng.uniform(0.01, 0.1))
                errs.setdefault((s, k), []).append(e)
                pts.append(_point(f"k{k}-{s}-{seed}", "kernel", k=k, scheme=s, seed=seed, mae=e,
                                  values={"options.k": k, "options.scheme": s, "seed": seed}))
    return pts, errs


# --- tables ------------------------------------------------------------------------------

def test_pareto_table_is_mean_and_sample_std_over_seeds():
    rng = np.random.default_rng(1)
    pts, errs = _pareto_points(rng)
    pts.append(_point("k4-forward-0", "kernel", k=4, scheme="forward", status="running"))
    pts.append(_point("k4-forward-1", "kernel", k=4, scheme="forward", status="failed"))
    pts.append(_point("fp-0", "fokker_planck", options={"model": "tensor"}, mae=0.5))       # not on the curve
    t = pareto_table(points_frame({"points": pts}))
    assert set(t["scheme"]) == {"forward", "backward"}
    for (s, k), v in errs.items():
        row = t[(t["scheme"] == s) & (t["k"] == k)].iloc[0]
        assert row["n"] == 3 and row["todo"] == 0
        assert row["mean"] == pytest.approx(np.mean(v), rel=1e-12)
        assert row["std"] == pytest.approx(np.std(v, ddof=1), rel=1e-12)
    k4 = t[(t["scheme"] == "forward") & (t["k"] == 4)].iloc[0]
    assert np.isnan(k4["mean"]) and k4["n"] == 0 and k4["todo"] == 1     # the running point; the failed one is done
    assert list(t["k"][t["scheme"] == "forward"]) == [1, 2, 3, 4]


def test_points_take_k_and_scheme_from_the_spec_or_the_family_defaults():
    from collop.operators.kernel import KernelOptions

    o = KernelOptions()
    assert KERNEL_DEFAULTS == {"k": o.k, "scheme": o.scheme}
    pts = [_point("a", "kernel", mae=0.1), _point("b", "kernel", options={"k": 3, "scheme": "centred"}, mae=0.2)]
    f = points_frame({"points": pts}, folder="/sweeps/s")
    assert list(f["k"]) == [o.k, 3] and list(f["scheme"]) == [o.scheme, "centred"]
    assert list(f["path"]) == ["/sweeps/s/a", "/sweeps/s/b"]
    assert f["test"].iloc[0] == tuple(sorted(TEST))
    empty = points_frame({"points": []})
    assert len(pareto_table(empty)) == 0 and "rollout_mae" in empty


def test_baseline_is_ps_tensor_on_the_same_test_populations_and_data(tmp_path):
    rng = np.random.default_rng(2)
    iso = rng.uniform(0.01, 0.05, 3)
    pts = [_point(f"iso{i}", "fokker_planck", options={"model": "tensor", "symmetry": "isotropic"}, mae=e,
                  seed=i) for i, e in enumerate(iso)]
    pts += [_point("full", "fokker_planck", options={"model": "tensor", "symmetry": "full"}, mae=0.03),
            _point("nn", "fokker_planck", options={"model": "nn"}, mae=0.9),                  # not PS-Tensor
            _point("other-test", "fokker_planck", options={"model": "tensor"}, mae=0.9, test=["down"]),
            _point("other-data", "fokker_planck", options={"model": "tensor"}, mae=0.9, data="e.nc"),
            _point("unfinished", "fokker_planck", options={"model": "tensor"}, status="running")]
    b = baseline_table(points_frame({"points": pts}), tuple(sorted(TEST)), {"d.nc"})
    assert list(b["label"]) == ["PS-Tensor (full)", "PS-Tensor (isotropic)"]
    row = b.set_index("label").loc["PS-Tensor (isotropic)"]
    assert row["n"] == 3 and row["mean"] == pytest.approx(iso.mean()) and row["std"] == pytest.approx(iso.std(ddof=1))
    # single runs count too (the Runs folder), scored on the same populations
    run = make_run(tmp_path, "tensor-run", test=TEST, errors={"upleft": 0.02, "down": 0.04})
    info = json.loads((run / "run.json").read_text())
    info["path"], info["id"] = str(run), "tensor-run"
    rows = runs_frame([info])
    assert rows.iloc[0]["family"] == "fokker_planck" and rows.iloc[0]["model"] == "tensor"
    b2 = baseline_table(rows, tuple(sorted(TEST)))
    assert b2.iloc[0]["mean"] == pytest.approx(0.03) and b2.iloc[0]["n"] == 1
    assert len(baseline_table(rows, ("nothing",))) == 0


def test_scan_tables_group_over_seeds():
    rng = np.random.default_rng(3)
    pts, want = [], {}
    train_all = ["a", "b", "c", "d", "e", "f", "g"]
    for n in (1, 3, 7):
        for seed in range(3):
            e = float(rng.uniform(0.01, 0.1))
            want.setdefault(n, []).append(e)
            pts.append(_point(f"n{n}-{seed}", "fokker_planck", options={"model": "nn"}, seed=seed, mae=e,
                              train=train_all[:n], values={"n_train": n, "seed": seed}))
    idx = {"spec": {"axes": {"n_train": [1, 3, 7], "seed": [0, 1, 2]}}, "points": pts}
    assert scan_axis(idx) == "n_train"
    t = scan_table(points_frame(idx), "n_train")
    assert list(t["x"]) == [1.0, 3.0, 7.0] and set(t["series"]) == {"ps-nn"}
    for n, v in want.items():
        r = t[t["x"] == n].iloc[0]
        assert r["mean"] == pytest.approx(np.mean(v)) and r["std"] == pytest.approx(np.std(v, ddof=1))
    # lambda_reg: one series per derivative order, and 0 drawn a decade below the smallest positive value
    pts = [_point(f"r{r}-{o}", "fokker_planck", options={"model": "tensor"}, penalties={"reg": r, "reg_order": o},
                  mae=0.01 * (1 + r * 1e4) * o) for r in (0, 1e-6, 1e-5) for o in (1, 2)]
    idx = {"spec": {"axes": [{"penalties.reg": [0, 1e-6, 1e-5]}, {"penalties.reg_order": [1, 2]}]}, "points": pts}
    assert scan_axis(idx) == "penalties.reg"
    t = scan_table(points_frame(idx), "penalties.reg")
    assert sorted(set(t["series"])) == ["ps-tensor, 1st derivative", "ps-tensor, 2nd derivative"]
    fig = scan_figure(t, "penalties.reg")
    assert zero_position(t["x"]) == pytest.approx(1e-7)
    assert fig.plots[0].x.log and "0 drawn at 1e-07" in fig.plots[0].x.text
    first = fig.plots[0].lines()[0]
    assert first.x[0] == pytest.approx(1e-7) and np.all(first.x > 0)
    assert scan_axis({"spec": {"axes": {"seed": [0]}}}) is None
    with pytest.raises(ValueError, match="unknown scan axis"):
        scan_table(points_frame(idx), "options.k")


def test_coefficient_bands_are_nan_aware_mean_and_std_across_seeds():
    import xarray as xr

    rng = np.random.default_rng(4)
    speed = np.linspace(0, 3, 7)

    def view(a):
        return xr.Dataset({n: (("time", "speed"), np.stack([a, 2 * a])) for n in ("A_par", "D_par", "D_perp")},
                          coords={"time": [0.0, 1.0], "speed": speed})

    a = [rng.normal(size=7) for _ in range(3)]
    a[0][-1] = np.nan                       # outside one seed's support
    for x in a:
        x[0] = np.nan                       # outside every seed's support
    bands = coefficient_bands({"N = 3": [view(x) for x in a]}, [0.0, 1.0])
    m, s = bands[0.0]["N = 3"]["A_par"]
    stack = np.stack(a)
    assert np.isnan(m[0]) and np.isnan(s[0])
    np.testing.assert_allclose(m[1:], np.nanmean(stack[:, 1:], 0), rtol=1e-12)
    np.testing.assert_allclose(s[1:], np.nanstd(stack[:, 1:], 0), rtol=1e-12)
    np.testing.assert_allclose(bands[1.0]["N = 3"]["D_par"][0][1:], 2 * np.nanmean(stack[:, 1:], 0), rtol=1e-12)
    assert bands[0.0]["N = 3"]["n"] == 3


# --- kernels and figures ----------------------------------------------------------------------

def kernel_file(path, k: int, scheme="forward", scale=1e-3, seed=0, n=21, units=("0.01c", "frame")):
    """A kernel operator file with random K (``scale`` in natural units) on an ``n x n`` grid."""
    from collop.grid import VelocityGrid
    from collop.operators.fields import TensorField
    from collop.operators.kernel import KernelOperator

    grid = VelocityGrid.regular(n, 4.0)
    vals = np.random.default_rng(seed).normal(scale=scale, size=(1, n, n, 2 * k * k))
    op = KernelOperator(TensorField([grid.vx, grid.vy], [0.0], 2 * k * k, vals), k=k, scheme=scheme,
                        velocity_units=units[0], time_units=units[1])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_dataset(op.to_dataset(grid, [0.0], source="tests/dashboards/test_kernel_tab.py"), path)
    return path


def test_kernel_maps_grid_and_diverging_scale(tmp_path):
    import xarray as xr

    from collop.views import Units
    from dashboards.export import render
    from dashboards.render_mpl import drawn, to_matplotlib

    with xr.open_dataset(kernel_file(tmp_path / "op.nc", 3)) as op:
        op = op.load()
    m = kernel_maps(op)
    K = op["K"].isel(time=0).sel(component="x")
    assert m["maps"].shape == (3, 3, 21, 21) and list(m["l"]) == [-1, 0, 1]
    np.testing.assert_array_equal(m["maps"][0, 2], K.sel(l=-1, m=1).transpose("vy", "vx").values)
    assert m["limit"] == pytest.approx(float(np.abs(K).max()))
    assert m["bounds"][0] == pytest.approx(-4.0) and m["bounds"][2] == pytest.approx(4.0)
    fig = kernel_figure(m, Units("0.01c", "frame"))
    assert len(fig.plots) == 9 and fig.ncols == 3
    assert fig.plots[0].title == "l = -1, m = 1" and fig.plots[-1].title == "l = 1, m = -1"   # largest m on top
    d = fig.describe()
    for p in d["plots"]:
        (cb,) = p["colorbars"]
        assert cb["cmap"] == "RdBu_r" and cb["low"] == -cb["high"] == pytest.approx(-m["limit"])
        assert cb["label"] == "K_x [0.01c/frame]" and p["x"] == "vx [0.01c]"
    # the export draws what the page describes: colormap, range, a colour bar per map, labels with units
    got = drawn(to_matplotlib(fig))["plots"]
    assert [p["colorbars"] for p in got] == [p["colorbars"] for p in d["plots"]]
    assert [(p["x"], p["y"], p["title"]) for p in got] == [(p["x"], p["y"], p["title"]) for p in d["plots"]]
    assert render(fig, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not a kernel operator"):
        kernel_maps(op.rename({"K": "A"}))


def test_pareto_figure_lines_baselines_and_empty_range():
    from dashboards.render_mpl import drawn, to_matplotlib

    rng = np.random.default_rng(5)
    pts, errs = _pareto_points(rng, ks=(1, 2), schemes=("forward",), seeds=(0, 1))
    t = pareto_table(points_frame({"points": pts}))
    b = baseline_table(points_frame({"points": [_point("fp", "fokker_planck", options={"model": "tensor"},
                                                       mae=0.02)]}), tuple(sorted(TEST)))
    fig = pareto_figure(t, b)
    p = fig.plots[0]
    (line, base) = p.lines()
    np.testing.assert_allclose(line.y, [np.mean(errs[("forward", k)]) for k in (1, 2)])
    np.testing.assert_allclose(line.yerr, [np.std(errs[("forward", k)], ddof=1) for k in (1, 2)])
    assert base.label == "PS-Tensor (isotropic), 1 run(s)" and list(base.y) == [0.02, 0.02] and base.dash == "dashed"
    assert p.y.log and p.y.range is None and p.x.text == "kernel size k [cells]"
    got = drawn(to_matplotlib(fig))["plots"][0]
    # (matplotlib lists lines with error bars after plain ones in its legend: compare the entries, not their order)
    assert got["ylog"] and sorted(got["lines"]) == sorted(["forward", "PS-Tensor (isotropic), 1 run(s)"])
    # k is a count: ticks at whole numbers only, in the export and on the page
    assert p.x.integer
    ticks = to_matplotlib(fig).axes[0].get_xticks()
    assert len(ticks) >= 2 and np.array_equal(ticks, np.round(ticks))
    from dashboards.render_bokeh import BokehView

    assert BokehView(fig).figures[0].xaxis[0].ticker.min_interval == 1
    # before any point is done: the lines are there (NaN), on a fixed log range, and the export still works
    pending = [dict(e, status="pending", metrics={}) for e in pts]
    fig0 = pareto_figure(pareto_table(points_frame({"points": pending})))
    assert fig0.plots[0].y.range == EMPTY_RANGE and np.isnan(fig0.plots[0].lines()[0].y).all()
    assert fig0.structure() == pareto_figure(t).structure()     # the page updates in place as points land
    from dashboards.export import render

    assert render(fig0, "pdf")[:4] == b"%PDF"


# --- the form ----------------------------------------------------------------------------------

def test_form_validates_and_builds_the_sweep_specs():
    f = KernelForm()
    assert f.validate() == ["choose a usable dataset first"]
    split = [f"normal_{a}_{b}" for a in (-1, 0, 1) for b in (-1, 0, 1)]
    f.set_dataset(["ring_1.0", *split], (21, 21))
    assert f.train == split and f.test == ["ring_1.0"]            # the paper's Section 3.2 split
    f.set_dataset(["a", "b", "c", "d"], (21, 21))
    assert f.train == ["a", "b"] and f.test == ["c", "d"]
    f.set_dataset(["ring_1.0", *split], (21, 21))
    f.train, f.test = ["normal_0_0"], ["ring_1.0"]
    assert f.validate() == []
    for ks, msg in (("0, 1", "below 1"), ("two", "not an integer"), ("", "at least one"), ("22", "larger than the grid")):
        f.ks = ks
        assert any(msg in e for e in f.validate()), ks
    f.ks = "1, 2, 2"
    f.schemes = []
    assert "choose at least one scheme" in f.validate()
    f.schemes = ["centred", "forward"]
    f.curriculum = "custom"
    f.custom = "1:x:3"
    assert any(e.startswith("curriculum:") for e in f.validate())
    f.custom = "1:1e-2:3"
    f.grid = (21, 20)
    f.tie = True
    assert any("square grid" in e for e in f.validate())
    f.grid, f.tie = (21, 21), False
    spec, base = f.specs("/data/x.nc")
    assert spec["axes"] == {"options.k": [1, 2], "options.scheme": ["forward", "centred"], "seed": [0, 1, 2]}
    assert spec["base"]["family"] == "kernel" and spec["base"]["curriculum"] == "1:1e-2:3"
    assert spec["base"]["train"] == ["normal_0_0"] and spec["base"]["test"] == ["ring_1.0"]
    assert base["base"]["family"] == "fokker_planck" and base["base"]["options"]["model"] == "tensor"
    assert base["axes"] == {"seed": [0, 1, 2]} and base["base"]["test"] == spec["base"]["test"]
    from collop.sweep import expand, parse_sweep_spec

    assert len(expand(parse_sweep_spec(spec), "/tmp/nowhere")) == 2 * 2 * 3      # a valid sweep spec
    assert "penalties" not in spec["base"]                # no penalty unless asked for
    f.l1 = 1e-5
    spec = f.specs("/data/x.nc")[0]
    assert spec["base"]["penalties"] == {"l1": 1e-5}
    assert len(expand(parse_sweep_spec(spec), "/tmp/nowhere")) == 2 * 2 * 3
    with pytest.raises(ValueError):
        f.l1 = -1.0
    f.baseline = False
    assert f.specs("/data/x.nc")[1] is None


# --- sweep processes and folders ------------------------------------------------------------------

def test_sweep_folders_and_names(tmp_path):
    from dashboards.runstore import RunError
    from dashboards.sweep_jobs import list_sweeps, log_tail, sweep_dir, sweep_info, sweeps_root

    root = sweeps_root(tmp_path)
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(RunError):
            sweep_dir(root, bad)
    dead = root / "dead"
    dead.mkdir(parents=True)
    (dead / "job.json").write_text(json.dumps({"pid": 2 ** 22 + 12345, "started": "x"}))
    (dead / "sweep.log").write_text("collop: error: spec.json: base: expected a train spec\n")
    info = sweep_info(dead)
    assert info["status"] == "failed" and info["error"] == "collop: error: spec.json: base: expected a train spec"
    assert log_tail(dead) == info["error"]
    write_sweep(root / "done", [_point("a", "kernel", mae=0.1)])
    (root / "not-a-sweep").mkdir()
    ids = [s["id"] for s in list_sweeps(tmp_path)]
    assert sorted(ids) == ["dead", "done"]
    assert sweep_info(root / "done")["n_points"] == 1


def test_a_starting_sweep_shows_its_planned_points(tiny_file, tmp_path):
    """Before the sweep process writes its index, the plan comes from spec.json: every point pending."""
    from dashboards.kernel_scans import planned

    spec = KernelForm(ks="1, 3", seeds="0, 1", schemes=["forward", "centred"], curriculum="custom")
    spec.set_dataset(["centre", "right", "upleft", "down"], (21, 21))
    (tmp_path / "spec.json").write_text(json.dumps(spec.specs(str(tiny_file))[0]))
    f = planned(tmp_path)
    assert len(f) == 8 and set(f["status"]) == {"pending"} and set(f["k"]) == {1, 3}
    t = pareto_table(f)
    assert list(zip(t["scheme"], t["k"], t["todo"])) == [("centred", 1, 2), ("centred", 3, 2), ("forward", 1, 2),
                                                         ("forward", 3, 2)]
    assert t["mean"].isna().all()
    (tmp_path / "spec.json").write_text("{not json")
    assert len(planned(tmp_path)) == 0


def test_a_sweep_the_process_refuses_is_reported_in_one_line(tmp_path):
    """The sweep process checks the spec; a data file that does not exist ends it with a one-line reason."""
    from dashboards.sweep_jobs import SweepJobs, sweep_info

    jobs = SweepJobs(tmp_path)
    spec = {"base": {"data": str(tmp_path / "missing.nc"), "train": ["a"], "family": "kernel",
                     "curriculum": "1:1e-2:1"}, "axes": {"options.k": [1]}}
    sid = jobs.start(spec, workers=1)
    assert jobs.wait(sid, timeout=120) == 2           # bad input: exit status 2, nothing run
    info = sweep_info(jobs.root / sid)
    assert info["status"] == "failed" and "missing.nc" in info["error"] and "\n" not in info["error"]
    assert not (jobs.root / sid / "sweep.json").exists()
    assert jobs.stop(sid) == f"{sid}: not running"
    with pytest.raises(ValueError, match="workers"):
        jobs.start(spec, workers=0)


# --- the tab, in-process (no server: background work runs at once) -------------------------------

def test_tab_follows_a_sweep_as_its_points_land(config, tiny_file, fp_data):
    from dashboards.kernel_tab import LIST_EVERY, KernelTab
    from dashboards.state import AppState
    from dashboards.sweep_jobs import sweeps_root

    folder = sweeps_root(config.runs) / "pareto-test"
    done = _point("k1", "kernel", k=1, scheme="forward", mae=0.05, data=tiny_file)
    todo = _point("k2", "kernel", k=2, scheme="forward", status="running", data=tiny_file)
    write_sweep(folder, [done, todo], axes={"options.k": [1, 2]}, status="running")
    units = (fp_data.ds.attrs["velocity_units"], fp_data.ds.attrs["time_units"])
    kernel_file(folder / "k1" / "operator.nc", 1, units=units)
    s = AppState(config=config, manager=None)
    assert s.select(config.name_of(tiny_file)), s.error
    tab = KernelTab(state=s)
    assert tab.sweep == "pareto-test" and tab.form.populations == fp_data.names
    (line,) = tab.pareto.fig.plots[0].lines()
    assert line.y[0] == pytest.approx(0.05) and np.isnan(line.y[1])
    assert tab.point == "k1" and len(tab.kernel_view.fig.plots) == 1
    assert tab.kernel_view.fig.plots[0].images()[0].color.cmap == "RdBu_r"
    assert tab.rollout_note.object == "", tab.rollout_note.object
    assert [p.title.split(",")[0] for p in tab.rollout_view.fig.plots] == ["data", "rollout — k = 1", "(f̂ − f) / max f(t)"]
    # the second point lands: the next listing redraws the plot (same structure: updated in place)
    figs_before = tab.pareto.view.figures[0]
    write_sweep(folder, [done, dict(_point("k2", "kernel", k=2, scheme="forward", mae=0.02, data=tiny_file))],
                axes={"options.k": [1, 2]})
    kernel_file(folder / "k2" / "operator.nc", 2, units=units)
    st = os.stat(folder / "sweep.json")
    os.utime(folder / "sweep.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    for _ in range(LIST_EVERY):
        tab.tick()
    (line,) = tab.pareto.fig.plots[0].lines()
    np.testing.assert_allclose(line.y, [0.05, 0.02])
    assert tab.pareto.view.figures[0] is figs_before
    assert "2/2 points done" in tab.sweep_text.object
    tab.point = "k2"
    assert len(tab.kernel_view.fig.plots) == 4 and tab.kernel_view.fig.ncols == 2
    kx = [p.images()[0].values for p in tab.kernel_view.fig.plots]
    tab.kernel_component.value = "y"                      # K_y of the same point
    assert tab.kernel_view.fig.title.startswith("K_y") and len(tab.kernel_view.fig.plots) == 4
    import xarray as xr

    with xr.open_dataset(folder / "k2" / "operator.nc") as op:
        want = op["K"].isel(time=0).sel(component="y").transpose("l", "m", "vy", "vx").values
    got = [p.images()[0].values for p in tab.kernel_view.fig.plots]
    np.testing.assert_allclose(got[2], want[0, 0])         # bottom-left map: l = m = lowest offset
    assert not all(np.array_equal(a, b) for a, b in zip(kx, got))
    tab.kernel_component.value = "x"
    bad = '<img src=x onerror="alert(1)">'
    write_sweep(sweeps_root(config.runs) / "evil", [_point("p", "kernel", mae=0.1, data=tiny_file)], name=bad)
    tab._refresh(force=True)
    tab.sweep = "evil"
    assert "evil" in tab.sweep_text.object and "<img" not in tab.sweep_text.object
    # a name the page does not list (e.g. sent by a crafted client) is never acted on
    tab.sweep = "../outside"
    tab._stop()
    tab._resume()
    assert tab.message.object == ""


@pytest.mark.slow
def test_stop_then_resume_a_sweep_from_the_app(tiny_file, tmp_path):
    """Stop: the running point stops after its epoch (exit 130, resumable); Resume finishes only what is left."""
    import time

    from dashboards.sweep_jobs import SweepJobs, sweep_info

    jobs = SweepJobs(tmp_path)
    spec = {"base": {"data": str(tiny_file), "train": TRAIN, "test": TEST, "family": "kernel", "threads": 1,
                     "curriculum": "1:1e-2:100000"}, "axes": {"options.k": [1]}}
    sid = jobs.start(spec, workers=1)
    folder = jobs.root / sid
    deadline = time.time() + 300
    while not (sweep_info(folder)["counts"].get("running") and list(folder.glob("k1*/checkpoint.pt"))):
        assert time.time() < deadline and jobs.running() == [sid], sweep_info(folder)
        time.sleep(0.5)
    assert "stopping" in jobs.stop(sid)
    assert jobs.wait(sid, timeout=300) == 130
    info = sweep_info(folder)
    assert info["status"] == "stopped" and info["counts"] == {"stopped": 1}
    with pytest.raises(ValueError, match="not a sweep folder"):
        jobs.resume("nothing-here", workers=1)
    jobs.resume(sid, workers=1)
    assert sweep_info(folder)["status"] == "starting"
    deadline = time.time() + 300
    while sweep_info(folder)["status"] != "running" or not sweep_info(folder)["counts"].get("running"):
        assert time.time() < deadline, sweep_info(folder)
        time.sleep(0.5)
    jobs.stop(sid)
    assert jobs.wait(sid, timeout=300) == 130
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    starts = [e for e in events if e.get("event") == "point" and e.get("status") == "started"]
    assert [e["resumed"] for e in starts] == [False, True]          # continued from its checkpoint, not restarted
