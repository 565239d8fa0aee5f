"""The Metriplectic tab's data functions, worker, form, figures and the tab itself (no browser).

MD files here are made by hand: a few hundred Gaussian velocities per run (zero mean, unit temperature),
in the layout of ``collop generate md`` (a ``run`` dimension with a ``split`` coordinate). Operators are
Landau kernels with a known ``c0``, whose tables are ``g_r² = g_s² = c0/u`` exactly.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from collop.io import write_dataset
from collop.runs import RunFolder
from dashboards import metriplectic_data as mdata
from dashboards import metriplectic_figures as mfig
from dashboards import metriplectic_worker as mw
from dashboards.metriplectic_form import MetriplecticForm

RUNS = ["uniform", "bimaxwellian", "trimodal", "chi2"]
SPLIT = ["train", "train", "test", "test"]
C0 = 0.3


def md_dataset(n=300, times=(0.0, 0.5, 1.0, 1.5), runs=RUNS, split=SPLIT, seed=0, with_split=True):
    g = np.random.default_rng(seed)
    v = g.normal(size=(len(runs), len(times), n, 3)).astype(np.float32)
    coords = {"run": list(runs), "time": np.asarray(times, float), "particle": np.arange(n),
              "component": ["x", "y", "z"]}
    if with_split:
        coords["split"] = ("run", list(split))
    return xr.Dataset({"v": (("run", "time", "particle", "component"), v)}, coords=coords,
                      attrs={"collop_kind": "particles", "velocity_units": "v_th = sqrt(k_B T / m)",
                             "time_units": "1/omega_p", "source": "tests (Gaussian velocities)", "gamma": 2.3,
                             "train_runs": "uniform,bimaxwellian", "test_runs": "trimodal,chi2"})


def landau_operator(c0=C0):
    from collop.kinetic import LandauKernel
    from collop.operators.metriplectic import Metriplectic

    op = Metriplectic(LandauKernel(c0, 1.0), velocity_units="v_th = sqrt(k_B T / m)", time_units="1/omega_p")
    return op.to_dataset(source="tests")


@pytest.fixture
def md_file(roots):
    path = roots["data"] / "md_small.nc"
    write_dataset(md_dataset(), path)
    return path


def finished_run(runs_root, run_id, md_path, model="landau", c0=C0, updated=None):
    folder = RunFolder(runs_root / run_id)
    params = {"data": str(md_path), "train": RUNS[:2], "test": RUNS[2:], "family": "metriplectic",
              "model": model, "steps": 10, "pairs": 100, "seed": 0}
    folder.create("metriplectic", params, str(md_path), method=model)
    write_dataset(landau_operator(c0), folder.path / "operator.nc")
    for e in range(10):
        folder.append_event({"event": "epoch", "stage": 0, "epoch": e, "loss": 1e-3 / (e + 1), "seconds": e})
    folder.append_event({"event": "done", "status": "finished", "message": ""})
    folder.set_status("finished", metrics={"epochs": 10})
    return folder.path


# --- data -------------------------------------------------------------------------------------

def test_md_files_lists_particle_files_with_runs_only(config, roots, md_file, tiny_file):
    write_dataset(md_dataset(with_split=False).isel(run=0, drop=True), roots["data"] / "one_run.nc")
    (roots["data"] / "junk.nc").write_bytes(b"not hdf5")
    names = set(mdata.md_files(config).values())
    assert any(n.endswith(":md_small.nc") for n in names)
    assert not any(n.endswith(("one_run.nc", "junk.nc", "tiny.nc")) for n in names)
    assert mdata.is_md_file(md_file) and not mdata.is_md_file(roots["data"] / "missing.nc")


def test_md_runs_from_split_and_from_attributes():
    ds = md_dataset()
    assert mdata.md_runs(ds) == {"all": RUNS, "train": RUNS[:2], "test": RUNS[2:]}
    no_split = md_dataset(with_split=False)
    assert mdata.md_runs(no_split)["train"] == ["uniform", "bimaxwellian"]
    bare = no_split.copy()
    bare.attrs = {k: v for k, v in bare.attrs.items() if not k.endswith("_runs")}
    r = mdata.md_runs(bare)
    assert r["train"] == RUNS[:2] and r["test"] == RUNS[2:]        # half and half when nothing says


def test_metriplectic_runs_and_newest_per_model(tmp_path):
    md = tmp_path / "md.nc"
    md.write_bytes(b"x")
    other = tmp_path / "other.nc"
    other.write_bytes(b"y")
    runs = [{"id": "a", "kind": "metriplectic", "params": {"data": str(md), "model": "cm2"}, "status": "finished",
             "updated": "2026-01-01T10:00"},
            {"id": "b", "kind": "metriplectic", "params": {"data": str(md), "model": "cm2"}, "status": "finished",
             "updated": "2026-01-02T10:00"},
            {"id": "c", "kind": "metriplectic", "params": {"data": str(md), "model": "landau"},
             "status": "running", "updated": "2026-01-03T10:00"},
            {"id": "d", "kind": "metriplectic", "params": {"data": str(other), "model": "cm1"},
             "status": "finished"},
            {"id": "e", "kind": "fokker_planck", "params": {"data": str(md), "model": "tensor"},
             "status": "finished"}]
    assert [r["id"] for r in mdata.metriplectic_runs(runs, md)] == ["a", "b", "c"]
    done = mdata.metriplectic_runs(runs, md, finished_only=True)
    assert [r["id"] for r in done] == ["a", "b"]
    assert mdata.newest_per_model(done) == {"cm2": "b"}
    assert mdata.newest_per_model(mdata.metriplectic_runs(runs, md)) == {"cm2": "b", "landau": "c"}
    assert mdata.metriplectic_runs(runs, None) == []


def test_units():
    u = mdata.short_units(md_dataset().attrs)
    assert (u.v, u.t) == ("v_th", "1/omega_p")
    assert u.D == "v_th²·omega_p"                       # g² in velocity²/time
    assert mdata.loss_unit(u) == "omega_p²"
    assert mdata.loss_unit(mdata.short_units({"velocity_units": "m/s", "time_units": "s"})) == "1/s²"
    assert mdata.loss_unit(mdata.short_units({})) == ""


def test_g2_maps_of_a_landau_kernel():
    op = landau_operator()
    s_mid = float(op["s"].values[5])
    m = mdata.g2_maps(op, s_mid)
    u, r = m["u"], m["r"]
    want = np.broadcast_to(C0 / u[None, :], (r.size, u.size))
    # Landau: g_r² = g_s² = c0/u for every r and s (float64 tables: round-off only)
    np.testing.assert_allclose(m["gr_mean"], want, rtol=1e-10)
    np.testing.assert_allclose(m["gs_mean"], want, rtol=1e-10)
    inside = s_mid <= u[None, :] * r[:, None]
    np.testing.assert_allclose(m["gr_s"][inside], want[inside], rtol=1e-10)
    assert np.isnan(m["gr_s"][~inside]).all() and np.isnan(m["gs_s"][~inside]).all() and (~inside).any()
    # s is clipped to the table
    assert mdata.g2_maps(op, 1e9)["s"] == pytest.approx(float(op["s"].values[-1]))


def test_g2_maps_interpolates_linearly_in_s():
    op = landau_operator()
    U, R, S = np.meshgrid(op["u"].values, op["r"].values, op["s"].values, indexing="ij")
    op["g_r2"] = (("time", "u", "r", "s"), (U + 2 * R + 3 * S)[None])     # linear in s: interpolation exact
    s = 0.5 * (float(op["s"].values[3]) + float(op["s"].values[4]))
    m = mdata.g2_maps(op, s)
    u, r = m["u"], m["r"]
    inside = s <= u[None, :] * r[:, None]
    np.testing.assert_allclose(m["gr_s"][inside], (u[None, :] + 2 * r[:, None] + 3 * s)[inside], rtol=1e-12)


def test_contour_levels():
    a = np.linspace(0.1234, 0.3611, 200)
    lv = mdata.contour_levels([a, np.full(3, np.nan)], 12)
    assert np.all(np.diff(lv) > 0)
    assert lv[0] <= np.quantile(a, 0.01) and lv[-1] >= np.quantile(a, 0.99)
    step = lv[1] - lv[0]
    mant = step / 10 ** np.floor(np.log10(step))
    assert min(abs(mant - m) for m in (1, 2, 2.5, 5, 10)) < 1e-9, f"step {step} is not round"
    assert 6 <= lv.size - 1 <= 25
    np.testing.assert_allclose(lv / step, np.round(lv / step), atol=1e-9)
    const = mdata.contour_levels([np.full(10, 2.0)], 8)
    assert np.all(np.diff(const) > 0) and const[0] < 2.0 < const[-1]
    g = mdata.contour_levels([np.geomspace(1e-3, 10, 50)], 10, log=True)
    assert g.size == 11 and np.allclose(np.diff(np.log(g)), np.log(g[1] / g[0]))
    assert np.all(np.diff(mdata.contour_levels([], 5)) > 0)
    z = mdata.clip_to(np.array([-1.0, 0.5, 9.0, np.nan]), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(z[:3], [0.0, 0.5, 1.0])
    assert np.isnan(z[3])


def test_loss_curves_keep_negative_losses():
    loss = pd.DataFrame({"epoch": np.arange(100), "loss": np.where(np.arange(100) % 2, 1.0, -1.0) + 2.0,
                         "stage": 0})
    loss.loc[3, "loss"] = -0.5
    x, y, mean = mdata.loss_curves(loss, window=10)
    assert x[0] == 1 and y[3] == -0.5                                        # steps from 1, negatives kept
    assert np.all(np.abs(mean[10:-10] - 2.0) < 0.2)                          # the running mean shows the trend
    assert [a.size for a in mdata.loss_curves(None)] == [0, 0, 0]


def test_pdf_vmax():
    v = np.zeros((2, 1000, 3))
    v[..., 0] = np.linspace(0, 3.2, 1000)
    assert mdata.pdf_vmax(v, q=1.0) == 3.5
    assert mdata.pdf_vmax(np.zeros((1, 3))) == 0.5


# --- the worker -----------------------------------------------------------------------------------

def test_md_summary(md_file):
    out = mw.md_summary(mw.stamp(md_file), "trimodal", 20)
    vmax = out.attrs["vmax"]
    assert vmax >= 3.0 and out.sizes == {"time": 4, "speed": 20, "v1": 20, "v2": 20, "component": 3, "v": 20}
    d = vmax / 20
    # each PDF integrates to the fraction of particles inside its range: at most 1, and most of them
    speed = out["speed_pdf"].sum("speed").values * d
    assert np.all(speed <= 1 + 1e-12) and np.all(speed > 0.98)
    v12 = out["v12"].sum(("v1", "v2")).values * (2 * d) ** 2               # v12 bins are 2 vmax / 20 wide
    assert np.all(v12 <= 1 + 1e-12) and np.all(v12 > 0.98)
    assert (out["n"].values == 300).all()


def test_rollout_summary_conserves_and_is_cached(md_file, tmp_path, monkeypatch):
    op_path = tmp_path / "operator.nc"
    write_dataset(landau_operator(), op_path)
    cache = mw.cache_path(tmp_path / "run", md_file, "chi2")
    out = mw.rollout_summary(mw.stamp(op_path), mw.stamp(md_file), "chi2", 4.0, 20, str(cache))
    assert cache.is_file() and out.attrs["solver_steps"] > 0
    assert (out["n"].values == 300).all()                                      # density: exactly
    # the pairwise solver conserves momentum and energy per collision: float64 round-off over the
    # rollout, then float32 storage of nothing (diagnostics are float64): 1e-10 is far above round-off
    assert np.abs(out["energy_drift"].values).max() < 1e-10
    assert np.abs(out["momentum_drift"].values).max() < 1e-10
    e = out["energy_distance"].values
    # the same particles at t = 0: zero up to the square root of round-off
    assert e[0] == pytest.approx(0.0, abs=1e-6) and np.all(np.isfinite(e))
    # a second call reads the cache: no solver runs
    import collop.kinetic

    def boom(*a, **k):
        raise AssertionError("rolled out again")
    monkeypatch.setattr(collop.kinetic, "CollisionSolver", boom)
    again = mw.rollout_summary(mw.stamp(op_path), mw.stamp(md_file), "chi2", 4.0, 20, str(cache))
    xr.testing.assert_allclose(again["speed_pdf"], out["speed_pdf"])
    # another binning does not match the cache: computed again
    with pytest.raises(AssertionError, match="rolled out again"):
        mw.rollout_summary(mw.stamp(op_path), mw.stamp(md_file), "chi2", 4.0, 30, str(cache))


# --- the form -------------------------------------------------------------------------------------

def test_form_validates_and_builds_the_cli_spec(tmp_path):
    f = MetriplecticForm()
    assert f.validate() == ["choose an MD file with runs first"]
    f.set_file(RUNS, RUNS[:2], RUNS[2:])
    assert f.validate() == []
    f.pairs = 1
    assert any("pairs P must be at least 2" in e for e in f.validate())
    f.pairs, f.train, f.test, f.steps = 5000, ["nope"], [], 0
    errs = " ".join(f.validate())
    assert "unknown runs: nope" in errs and "at least one test run" in errs and "steps must be" in errs
    f.train, f.test, f.steps, f.model = RUNS[:2], ["chi2"], 40, "CM1"
    spec = f.spec(tmp_path / "md.nc")
    assert spec.family == "metriplectic" and spec.options == {"model": "cm1", "steps": 40}
    assert spec.objective == {"pairs": 5000} and list(spec.train) == RUNS[:2] and list(spec.test) == ["chi2"]
    from collop.pipeline import resolve

    assert resolve(spec).method == "cm1"                  # the family accepts it, as `collop train` would


def test_form_shows_a_runs_parameters():
    f = MetriplecticForm()
    f.set_file(RUNS, RUNS[:2], RUNS[2:])
    notes = f.load_run({"id": "r1", "method": "landau", "params": {"model": "landau", "train": ["uniform", "gone"],
                                                                  "test": ["chi2"], "steps": 77, "pairs": 99,
                                                                  "seed": 3}})
    assert (f.model, f.train, f.test, f.steps, f.pairs, f.seed) == ("Landau", ["uniform"], ["chi2"], 77, 99, 3)
    assert notes == ["runs not in this MD file: gone"] and f.source_run == "r1"


# --- figures -----------------------------------------------------------------------------------------

def test_g2_figure_shares_levels_and_centres_the_difference():
    op = landau_operator()
    units = mdata.short_units(op.attrs)
    fig = mfig.g2_figure(mdata.g2_maps(op, 1.0), units, label="landau")
    d = fig.describe()
    assert d["name"] == "g2-contours" and len(d["plots"]) == 6
    bars = [p["colorbars"][0] for p in d["plots"]]
    g2 = [b for b, p in zip(bars, d["plots"]) if "−" not in p["title"]]
    diff = [b for b, p in zip(bars, d["plots"]) if "−" in p["title"]]
    assert len({(b["low"], b["high"]) for b in g2}) == 1 and g2[0]["label"] == "g² [v_th²·omega_p]"
    assert all(b["cmap"] == "RdBu_r" and b["low"] == -b["high"] for b in diff)
    assert all(p["x"] == "u [v_th]" and p["y"] == "r [v_th]" for p in d["plots"])
    assert mfig.g2_figure(None, units).describe()["plots"][0]["colorbars"] == []


def test_every_figure_exports_what_it_describes(md_file, tmp_path):
    from PIL import Image

    from dashboards.export import render

    md = mw.md_summary(mw.stamp(md_file), "trimodal", 20)
    op_path = tmp_path / "operator.nc"
    write_dataset(landau_operator(), op_path)
    model = mw.rollout_summary(mw.stamp(op_path), mw.stamp(md_file), "trimodal", md.attrs["vmax"], 20)
    models = {"landau · r1": (model, "landau")}
    units = mdata.short_units(md_dataset().attrs)
    loss = pd.DataFrame({"epoch": np.arange(5), "loss": [3.0, -1.0, 2.0, 1.0, 0.5], "stage": 0})
    figs = [mfig.loss_figure(loss, units), mfig.g2_figure(mdata.g2_maps(landau_operator(), 1.0), units),
            mfig.speed_figure(md, models, 2, units, run="trimodal"), mfig.v12_figure(md, models, 2, units),
            mfig.marginal_figure(md, models, 2, units), mfig.conservation_figure(md, models, units),
            mfig.distance_figure(models, units)]
    for fig in figs:
        import io

        meta = json.loads(Image.open(io.BytesIO(render(fig, "png"))).text["Description"])
        want = [p for p in fig.describe()["plots"] if p is not None]
        assert [(p["title"], p["x"], p["y"]) for p in meta["plots"]] == [(p["title"], p["x"], p["y"]) for p in want]
        assert [len(p["colorbars"]) for p in meta["plots"]] == [len(p["colorbars"]) for p in want]
    assert b"<html" in render(figs[1], "html").lower()
    speed = figs[2].describe()["plots"][0]
    assert speed["lines"] == ["MD", "landau · r1"] and "t = 1 1/omega_p" in speed["title"]
    v12 = figs[3].describe()["plots"]
    assert len({(p["colorbars"][0]["low"], p["colorbars"][0]["high"]) for p in v12}) == 1   # one colour range


# --- the tab (no server: background work runs at once) ------------------------------------------------

def test_tab_follows_a_run_and_compares_it_with_md(config, roots, md_file):

    from dashboards.metriplectic_tab import MetriplecticTab
    from dashboards.state import AppState

    finished_run(roots["runs"], "landau-run", md_file)
    st = AppState(config=config, manager=None)
    tab = MetriplecticTab(state=st)
    name = [n for n in tab.md_w.options.values() if n.endswith("md_small.nc")][0]
    tab.md_w.value = name
    assert tab.md_path == md_file.resolve() or os.path.samefile(tab.md_path, md_file)
    assert tab.form.train == RUNS[:2] and tab.form.test == RUNS[2:]
    assert tab.shown == "landau-run"
    tab.tick()
    assert "finished" in tab.progress_text.object and "final operator" in tab.progress_text.object
    d = tab.g2_view.fig.describe()
    assert d["plots"][3]["colorbars"] and "landau-run" in d["title"]
    c = tab.compare
    assert c.test_run == "trimodal" and c.compare == ["landau-run"]
    assert list(c.table.object["model"]) == ["landau"]
    assert (roots["runs"] / "landau-run" / "rollouts" / "md_small-trimodal.nc").is_file()
    assert c.speed_view.fig.describe()["plots"][0]["lines"] == ["MD", "landau-run"]     # run_label of the id
    c.frame = 3
    assert "t = 1.5" in c.speed_view.fig.describe()["plots"][0]["title"]
    # a run that finishes later joins the comparison; the first stays
    finished_run(roots["runs"], "cm1-run", md_file, model="cm1", c0=2 * C0)
    st.refresh_runs(force=True)
    assert c.compare == ["landau-run", "cm1-run"] and list(c.table.object["model"]) == ["landau", "cm1"]
    assert c.cons_view.fig.describe()["plots"][3]["lines"] == ["MD", "landau-run", "cm1-run"]
    smax = float(landau_operator()["s"].values[-1])
    assert tab.param.s_value.bounds == (0.0, smax)              # the slider spans the table's s
    tab.s_value = smax / 2
    assert f"s = {smax / 2:.3g}" in tab.g2_view.fig.describe()["plots"][0]["title"]


def test_tab_start_refuses_a_bad_form(config, md_file):
    from dashboards.metriplectic_tab import MetriplecticTab
    from dashboards.state import AppState

    tab = MetriplecticTab(state=AppState(config=config, manager=None))
    tab.md_w.value = [n for n in tab.md_w.options.values() if n.endswith("md_small.nc")][0]
    tab.form.pairs = 1
    tab._start()
    assert tab.message.visible and "Cannot start" in tab.message.object


@pytest.mark.filterwarnings("ignore:The 'phony_dims' kwarg")       # h5netcdf, on the crafted file
def test_tab_reports_an_unreadable_md_file_in_one_line(config, roots):
    import h5py

    from dashboards.metriplectic_tab import MetriplecticTab
    from dashboards.state import AppState

    with h5py.File(roots["data"] / "broken.nc", "w") as fh:       # looks like an MD file from its header only
        fh.attrs["collop_kind"] = "particles"
        fh["run"] = np.arange(2)
        fh["v"] = np.zeros(3)
    tab = MetriplecticTab(state=AppState(config=config, manager=None))
    name = [n for n in tab.md_w.options.values() if n.endswith("broken.nc")][0]
    tab.md_w.value = name
    text = tab.message.object
    assert tab.message.visible and "broken" in text and "\n" not in text
    assert str(roots["data"]) not in text and tab.md_path is None and tab.start.disabled
    tab.choose("data:../../etc/passwd")                  # a name from outside the roots
    assert "outside" in tab.message.object or "not accepted" in tab.message.object


def test_start_hands_the_cli_spec_to_the_job_manager(config, roots, md_file):
    from pathlib import Path

    from dashboards.jobs import JobManager
    from dashboards.metriplectic_tab import MetriplecticTab
    from dashboards.state import AppState

    class Recorder(JobManager):                 # records the job instead of starting a worker
        jobs: list = []

        def _launch(self, job):
            self.jobs.append(job)
            return Path(job["run_dir"]).name

    manager = Recorder(roots["runs"], warm=False)
    st = AppState(config=config, manager=manager)
    tab = MetriplecticTab(state=st)
    tab.md_w.value = [n for n in tab.md_w.options.values() if n.endswith("md_small.nc")][0]
    tab.form.param.update(model="CM2", steps=25, pairs=1000, seed=7)
    tab._start()
    job = manager.jobs[-1]
    spec = job["spec"]
    assert job["kind"] == "train" and job["method"] == "cm2"
    assert (spec["family"], spec["options"], spec["objective"], spec["seed"]) == \
        ("metriplectic", {"model": "cm2", "steps": 25}, {"pairs": 1000}, 7)
    assert spec["train"] == RUNS[:2] and spec["test"] == RUNS[2:] and os.path.samefile(spec["data"], md_file)
    run_id = Path(job["run_dir"]).name
    assert "Started run" in tab.message.object and tab.message.visible
    st.refresh_runs(force=True)                  # its folder is not written yet: the tab still shows it
    assert tab.shown == run_id and run_id in tab.shown_w.options.values()
    # the run appears and finishes: the message stops being true and goes; the tab shows the run
    finished_run(roots["runs"], run_id, md_file, model="cm2")
    st.refresh_runs(force=True)
    tab.shown = run_id
    tab.tick()
    assert not tab.message.visible and "finished" in tab.progress_text.object


def test_figures_keep_their_structure_while_rollouts_arrive(md_file, tmp_path):
    md = mw.md_summary(mw.stamp(md_file), "chi2", 20)
    op_path = tmp_path / "operator.nc"
    write_dataset(landau_operator(), op_path)
    model = mw.rollout_summary(mw.stamp(op_path), mw.stamp(md_file), "chi2", md.attrs["vmax"], 20)
    units = mdata.short_units(md_dataset().attrs)
    pending, done = {"r1": (None, "landau")}, {"r1": (model, "landau")}
    for make in (lambda m: mfig.speed_figure(md, m, 1, units), lambda m: mfig.v12_figure(md, m, 1, units),
                 lambda m: mfig.marginal_figure(md, m, 1, units), lambda m: mfig.conservation_figure(md, m, units),
                 lambda m: mfig.distance_figure(m, units)):
        before, after = make(pending), make(done)
        # the page updates the same Bokeh models in place when the rollout lands (no rebuild)
        assert before.structure() == after.structure()
        blank = [ly for p in before.plots if p is not None for ly in p.layers if getattr(ly, "label", "") == "r1"]
        assert all(np.isnan(np.asarray(ly.y, float)).all() for ly in blank)
    fig = mfig.speed_figure(md, done, 1, units)
    assert fig.plots[1] is None and len(mfig.without_blanks(fig).plots) == 1
    from dashboards.metriplectic_compare import summary_table

    assert list(summary_table({**done, "r2": (None, "cm2")})["run"]) == ["r1"]       # pending runs: no row


def test_text_from_the_md_file_is_escaped(config, roots):
    from dashboards.metriplectic_tab import MetriplecticTab
    from dashboards.state import AppState

    xss = '<img src=x onerror="alert(1)">'
    ds = md_dataset(runs=[f"{xss}a", "b", "c", "d"])
    ds.attrs["gamma"] = xss
    write_dataset(ds, roots["data"] / "xss_md.nc")
    tab = MetriplecticTab(state=AppState(config=config, manager=None))
    tab.md_w.value = [n for n in tab.md_w.options.values() if n.endswith("xss_md.nc")][0]
    assert "<img" not in tab.md_info.object and "&lt;img" in tab.md_info.object
    assert all("<" not in label for label in tab.train_w.options)            # choices.js renders labels as HTML
    assert f"{xss}a" in tab.train_w.options.values() and tab.form.train == [f"{xss}a", "b"]


def test_a_run_opened_elsewhere_is_shown_with_its_file_and_parameters(config, roots, md_file):
    from dashboards.metriplectic_tab import MetriplecticTab
    from dashboards.state import AppState

    finished_run(roots["runs"], "opened-run", md_file, model="cm1")
    st = AppState(config=config, manager=None)
    st.current_run = "opened-run"                 # the Runs tab's Open, before this tab was built
    tab = MetriplecticTab(state=st)
    assert tab.md_name.endswith("md_small.nc") and tab.shown == "opened-run"
    assert (tab.form.model, tab.form.steps, tab.form.pairs) == ("CM1", 10, 100)
    tab.open_run("no-such-run")                   # not a metriplectic run: nothing changes
    assert tab.shown == "opened-run"
