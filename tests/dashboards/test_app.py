"""The app frame and its tabs, without a browser: construction, bad input, runs from disk, the forms' state."""
import json

import panel as pn
import pytest
from bokeh.application.handlers import FunctionHandler

from dashboards import App, TABS
from dashboards.config import SHIPPED_DATA


@pytest.fixture
def app(config):
    a = App(config=config, warm=False)
    yield a
    a.state.manager.close(stop_jobs=True)


def _render(viewable):
    return pn.panel(viewable).get_root()


def test_tabs_construct_on_the_default_dataset(app):
    s = app.state
    assert s.dataset_name == "data:langevin.nc" and s.error == ""
    assert s.particles_path.name == "langevin_particles.nc" and s.truth_path.name == "langevin_truth.nc"
    labels = set(s.dataset_options)
    assert "data/langevin.nc" in labels and "data/langevin_truth.nc" not in labels   # partners are not datasets
    assert [type(t) for t in app.tabs] == TABS
    fp = app.tabs[1]
    assert fp.method.options == ["PS-Tensor", "PS-NN", "Tracks"]
    assert list(fp.form.curriculum["epochs"]) == [1000, 200, 200, 500]      # Table 2, PS-Tensor
    # the coefficients of frame k act from t_k to t_k+1: the last frame (t = 120) has none
    assert fp.coef_times == [0.0, 60.0, 119.0]
    assert max(fp.times_w.options.values()) == 119.0 and fp.compare_w.end == 119.0
    assert fp.reg_v.visible and fp.form.reg_velocity == 0.0
    fp.form.method = "PS-NN"
    assert list(fp.form.curriculum["lr"]) == [1e-3, 1e-4, 1e-4, 1e-4, 1e-4]
    assert list(fp.curriculum.value["lr"]) == [1e-3, 1e-4, 1e-4, 1e-4, 1e-4]   # the table shows the form
    fp.form.method = "Tracks"
    assert not fp.reg_v.visible and fp.ndump.visible
    fp.form.method = "PS-NN"
    for t in app.tabs:
        _render(t)
    app.tick()
    # units on every axis, from the dataset's attributes
    assert [p.y.text for p in fp.coef_view.fig.plots] == ["A∥ [0.01c/frame]", "D∥ [(0.01c)²/frame]",
                                                         "D⊥ [(0.01c)²/frame]"]


def test_data_tab_shows_the_images_then_the_rest(app):
    """Outside a server session the whole Data tab is built at once; the player steps the live images."""
    data = app.tabs[0]
    assert list(data.f_views) == data.populations[:2]
    classes = [c for obj in data._body.select(pn.viewable.Viewable) for c in obj.css_classes]
    for css in ("collop-f-plot", "collop-radial-plot", "collop-counts", "collop-provenance"):
        assert css in classes
    first = data.f_views[data.populations[0]]
    src = first.view.figures[0].renderers[0].data_source
    before = src.data["image"][0]
    data.frame = 40
    assert "t = 40" in first.view.figures[0].title.text
    assert src is first.view.figures[0].renderers[0].data_source            # updated in place
    assert (src.data["image"][0] != before).any()
    high = first.view.figures[0].renderers[0].glyph.color_mapper.high
    data.frame = 100
    assert first.view.figures[0].renderers[0].glyph.color_mapper.high == high   # fixed over frames
    data.log_color = True
    assert type(first.view.figures[0].renderers[0].glyph.color_mapper).__name__ == "LogColorMapper"
    data.populations = [data.populations[1]]
    assert len(data.f_views) == 1 and len(data._f_grid) == 1
    data.radial_population, data.radial_frames = data.populations[0], [0, 60]
    assert [ln.label for ln in data.radial.fig.plots[0].layers] == ["t = 0", "t = 60"]
    assert [p.title.split(",")[0] for p in data.f_figure().plots] == data.populations    # the export: the page
    _render(data)


def test_data_tab_flags_poorly_sampled_populations_and_hides_build_paths(config):
    from dashboards.data_tab import provenance_frame, sampling_frame
    from dashboards.datasets import load

    ds = load(SHIPPED_DATA / "sim1.nc")
    samp = sampling_frame(ds).set_index("population")
    assert samp.loc["normal_-2_-2", "flag"] == "poor" and "1,373" in samp.loc["normal_-2_-2", "warnings"]
    assert samp.loc["normal_-2_-2", "particles"] == "1,373"
    assert samp.loc["uniform_-5_5_-5_5", "ESS / requested"] == "3.14"      # explained on the page
    prov = provenance_frame(ds).set_index("attribute")["value"]
    assert "sampling" not in prov.index
    assert prov["source"] == "sim1_all.nc" and not any("/tmp/" in v for v in prov.values)


def test_served_data_tab_builds_the_rest_after_load(config):
    """Under a server the first document holds one image; the rest comes when the browser says it is ready."""
    from bokeh.events import DocumentReady
    from panel.io.application import Application
    from panel.io.session import generate_session
    from panel.io.state import set_curdoc

    made = {}

    def page(doc):
        with set_curdoc(doc):
            made["app"] = App(config=config, warm=False)
            made["app"].servable()

    session = generate_session(Application(FunctionHandler(page)))
    data = made["app"].tab(0)
    try:
        assert list(data.f_views) == data.populations[:1]
        classes = {c for obj in data._body.select(pn.viewable.Viewable) for c in obj.css_classes}
        assert "collop-f-plot" in classes and "collop-radial-plot" not in classes
        session.document.callbacks.trigger_event(DocumentReady())        # what BokehJS sends once loaded
        assert list(data.f_views) == data.populations[:2]
        classes = {c for obj in data._body.select(pn.viewable.Viewable) for c in obj.css_classes}
        assert {"collop-radial-plot", "collop-counts", "collop-provenance"} <= classes
    finally:
        made["app"].state.manager.close()


def test_each_dataset_renders(config, tiny_file):
    a = App(config=config, dataset="data2:tiny.nc", warm=False)
    s = a.state
    assert s.error == "" and s.particles_path is None and s.truth_path is None
    assert a.tabs[1].method.options == ["PS-Tensor", "PS-NN"]                  # no particles: no Tracks
    for t in a.tabs:
        _render(t)
    a.tabs[2].show()


def test_bad_dataset_shows_one_line(app, roots):
    (roots["data"] / "broken.nc").write_bytes(b"this is not netCDF")
    app.state.refresh_datasets()
    app.dataset_select.options = app.state.dataset_options
    app._choose("data2:broken.nc")
    msg = app.state.error
    assert app.error.visible and "broken.nc" in msg and "\n" not in msg and "Traceback" not in msg
    assert "broken\\.nc" in app.error.object                              # shown as literal text
    assert str(roots["data"]) not in msg
    assert app.state.dataset is None
    for t in app.tabs:
        _render(t)
    app.tick()
    app._choose("data:langevin.nc")                                          # a good one clears it
    assert not app.error.visible and app.state.dataset is not None
    # a name from the page that leaves the roots is refused the same way
    assert not app.state.select("data:../README.md") and "not accepted" in app.state.error
    assert not app.state.select("data:langevin_truth.nc") and "\n" not in app.state.error
    assert not app.state.select("data:" + "a" * 5000 + ".nc") and "too long" in app.state.error
    assert len(app.state.error) < 200


def test_upload_validates_and_never_overwrites(app, tiny_file, roots):
    s = app.state
    assert not s.upload("../../evil name.nc", b"garbage")
    assert "evil_name.nc" in s.error and "\n" not in s.error and ".upload-" not in s.error
    assert [p for p in roots["uploads"].iterdir()] == []                  # nothing half-written or invalid kept
    assert s.upload("good.nc", tiny_file.read_bytes()) and s.dataset_name == "uploads:good.nc" and s.notice == ""
    assert s.upload("good.nc", tiny_file.read_bytes()) and s.dataset_name == "uploads:good-2.nc"
    assert "good-2.nc" in s.notice
    assert sorted(p.name for p in roots["uploads"].iterdir()) == ["good-2.nc", "good.nc"]


def test_chunked_upload_enforces_its_limit(app, tiny_file, roots):
    import base64

    up = app.upload
    up.max_bytes = 1000
    up._handle_msg({"kind": "too_large", "name": "big.nc", "size": 5_000_000})
    assert "5 MB" in app.state.error and "limit of 0.001 MB" in app.state.error
    # a client that lies about the size is stopped when the bytes exceed the limit
    up._handle_msg({"kind": "start", "id": "x", "name": "liar.nc", "size": 10, "chunks": 1})
    up._handle_msg({"kind": "chunk", "id": "x", "index": 0, "data": base64.b64encode(b"\0" * 2000).decode()})
    assert "over the upload limit" in app.state.error and not list(roots["uploads"].iterdir())
    up.max_bytes = 10_000_000
    data = tiny_file.read_bytes()
    up._handle_msg({"kind": "start", "id": "y", "name": "tiny.nc", "size": len(data), "chunks": 2})
    half = len(data) // 2
    for k, part in enumerate((data[:half], data[half:])):
        up._handle_msg({"kind": "chunk", "id": "y", "index": k, "data": base64.b64encode(part).decode()})
    up._handle_msg({"kind": "end", "id": "y"})
    assert app.state.dataset_name == "uploads:tiny.nc" and app.dataset_select.value == "uploads:tiny.nc"
    assert [p.name for p in roots["uploads"].iterdir()] == ["tiny.nc"]      # the temporary file is gone


def test_runs_from_disk_fill_the_tabs(app, config, roots):
    from runfactory import DATA, make_run

    make_run(roots["runs"], "made-run", method="ps-nn", data=DATA, curriculum="1:0.001:30", seed=4)
    app.state.refresh_runs(force=True)
    app.tick()
    runs_tab, fp, rollout = app.tabs[3], app.tabs[1], app.tabs[2]
    assert list(runs_tab.table.value["id"]) == ["made-run"]
    assert runs_tab.table.value["status"][0] == "finished" and runs_tab.table.value["progress"][0] == "30/30"
    # finished runs on this dataset: per-run and per-method Table 1, overlaid coefficients
    assert list(fp.run_table.object["run"]) == ["made-run"]
    assert list(fp.method_table.object["method"]) == ["ps-nn"]
    assert fp.compare_runs == ["made-run"]
    labels = [ln.label for ln in fp.compare_view.fig.plots[0].layers]
    assert labels == ["truth", "ps-nn · made-run"]
    # open it: the FP tab follows it and shows its own parameters
    runs_tab.table.selection = [0]
    runs_tab._open()
    assert app.state.current_run == "made-run" and app.tab_view.active == 1
    app.tick()
    assert len(fp.feed.loss) == 30 and fp.feed.operator is not None
    assert "30/30 epochs" in fp.progress_text.object and fp.progress.value == 30
    assert "elapsed" in fp.progress_text.object
    assert fp.form.method == "PS-NN" and fp.form.seed == 4 and list(fp.form.curriculum["epochs"]) == [30]
    assert fp.form.source_run == "made-run" and "made\\-run" in fp.source_note.object
    fp.form.seed = 5                                                         # an edit: a new run's parameters
    assert fp.form.source_run == "" and fp.source_note.object == ""
    # rollout of the run on a test population (computed at once outside a server)
    rollout.show()
    assert rollout.run.value.endswith("made-run/operator.nc")
    assert rollout.population.value == "normal_-2_-2" and rollout._data is not None
    assert "Rollout MAE" in rollout.score.object
    assert [ln.label.split(" (")[0] for ln in rollout.err_view.fig.plots[0].layers] == ["true operator", "made-run"]
    # downloads of the selected run
    runs_tab.table.selection = [0]
    assert runs_tab._operator_file().read(4) == b"\x89HDF"
    assert json.loads(runs_tab._metrics_file().read())["epochs"] == 30
    assert runs_tab._summary_csv().read().decode().startswith("run,method,dataset")
    # rename, then delete to the trash, restore, delete again, empty the trash (asks first)
    runs_tab.new_name.value = "renamed"
    runs_tab._rename()
    assert app.state.current_run == "renamed" and list(runs_tab.table.value["id"]) == ["renamed"]
    runs_tab.table.selection = [0]
    runs_tab._delete()
    assert runs_tab.table.value.empty and app.state.current_run == "" and not (roots["runs"] / "renamed").exists()
    assert runs_tab.trash_select.options == ["renamed"]
    runs_tab._restore()
    assert list(runs_tab.table.value["id"]) == ["renamed"]
    runs_tab.table.selection = [0]
    runs_tab._delete()
    runs_tab._empty()
    assert "Click again" in runs_tab.message.object and (roots["runs"] / ".trash" / "renamed").exists()
    runs_tab._empty()
    assert not (roots["runs"] / ".trash" / "renamed").exists()


def test_start_refuses_bad_input_next_to_the_button(app):
    fp = app.tabs[1]
    df = fp.form.curriculum.copy()
    df.loc[0, "N_u"] = 0
    fp.form.curriculum = df
    fp._start()
    assert fp.message.visible and "stage 1" in fp.message.object and app.state.current_run == ""
    fp.form.train = []
    fp._start()
    assert "training population" in fp.message.object
    controls = fp._layout[0]
    assert controls.objects.index(fp.message) == 1                     # right under Start / Stop


def test_messages_clear_when_no_longer_true(app, roots):
    from runfactory import DATA, make_run

    fp = app.tabs[1]
    make_run(roots["runs"], "r1", data=DATA)
    app.state.refresh_runs(force=True)
    fp._transient = ("started", "r1")
    fp.message.object, fp.message.visible, fp.message.alert_type = "Started run r1…", True, "success"
    app.state.current_run = "r1"
    app.tick()                                   # r1 is no longer starting: the message has gone
    assert not fp.message.visible and fp._transient is None


def test_fp_form_loads_a_runs_parameters():
    from dashboards.fp_form import FPForm

    f = FPForm()
    f.set_dataset(["a", "b", "c"], have_particles=True)
    notes = f.load_run({"id": "r", "method": "ps-nn", "params": {
        "train": ["a", "zz"], "test": ["c"], "symmetry": "full", "nt": None, "reg": 0.5, "reg_velocity": 0.1,
        "seed": 7, "curriculum": "2:0.001:12"}})
    assert (f.method, f.symmetry, f.train, f.test, f.reg, f.reg_velocity, f.seed) == \
        ("PS-NN", "full", ["a"], ["c"], 0.5, 0.1, 7)
    assert f.curriculum.to_dict("list") == {"N_u": [2], "lr": [0.001], "epochs": [12]}
    assert notes == ["populations not in this dataset: zz"] and f.source_run == "r"
    assert f.validate() == [] and f.job()["curriculum"] == "2:0.001:12"
    f.load_run({"id": "t", "method": "tracks", "params": {"test": ["b"], "ndump": 3, "symmetry": "isotropic"}})
    assert (f.method, f.ndump, f.test) == ("Tracks", 3, ["b"])
    f.train, f.test = [], []
    f.method = "PS-Tensor"
    assert f.validate() == ["choose at least one training population", "choose at least one test population"]


def test_rollouts_leave_the_event_loop(config, monkeypatch):
    """Under a server, a rollout runs in a worker thread and its result comes back on the session's loop."""
    import threading
    import time

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from dashboards.base import Background

    doc = Document()
    ran_in, delivered, ticks = [], [], []
    doc.add_next_tick_callback = lambda cb: ticks.append(cb)            # the session's loop, by hand
    doc._session_context = lambda: object()
    bg = Background()

    def slow():
        ran_in.append(threading.current_thread().name)
        time.sleep(0.5)
        return 42

    with set_curdoc(doc):
        t0 = time.perf_counter()
        fut = bg.submit(slow, lambda f: delivered.append(f.result()))
        assert time.perf_counter() - t0 < 0.2                          # returned at once
    assert fut.result(timeout=10) == 42 and ran_in[0].startswith("collop-background")
    deadline = time.time() + 5
    while not ticks and time.time() < deadline:
        time.sleep(0.01)
    assert delivered == [] and len(ticks) == 1                          # not yet: it waits for the loop
    ticks[0]()
    assert delivered == [42]
    # a newer submission supersedes an older one
    with set_curdoc(doc):
        bg.submit(lambda: 1, delivered.append)
        bg.submit(lambda: 2, lambda f: delivered.append(f.result()))
    deadline = time.time() + 5
    while len(ticks) < 3 and time.time() < deadline:
        time.sleep(0.01)
    for cb in ticks[1:]:
        cb()
    assert delivered == [42, 2]


def test_app_py_only_assembles():
    import ast

    tree = ast.parse((SHIPPED_DATA.parent / "app.py").read_text())
    body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))
            and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]      # docstring
    assert [ast.unparse(n) for n in body] == ["pn.extension('tabulator')", "App().servable()"]


def test_open_shows_a_run_in_the_tab_of_its_family(app, roots):
    """Open sends a run to the first registered tab that follows its family; the FP tab ignores other families."""
    from collop.runs import RunFolder
    from runfactory import DATA, make_run

    make_run(roots["runs"], "fp-run", method="ps-tensor", data=DATA)
    for rid, family in (("md-run", "metriplectic"), ("k-run", "kernel")):
        folder = RunFolder(roots["runs"] / rid)
        folder.create("train", {"family": family, "data": str(DATA)}, str(DATA), method=family)
        folder.set_status("finished")
    app.state.refresh_runs(force=True)
    app.tick()
    runs_tab, fp = app.tabs[3], app.tabs[1]
    titles = [t.title for t in app.tabs]
    ids = list(runs_tab.table.value["id"])

    def open_(rid):
        runs_tab.table.selection = [ids.index(rid)]
        runs_tab._open()

    open_("fp-run")
    assert app.state.current_run == "fp-run" and app.tab_view.active == titles.index("Fokker–Planck")
    app.tick()
    followed = fp.feed.run_path
    assert followed is not None and followed.name == "fp-run"
    open_("md-run")
    assert app.state.current_run == "md-run" and app.tab_view.active == titles.index("Metriplectic")
    app.tick()
    assert fp.feed.run_path == followed                    # the FP tab still shows fp-run, and did not raise
    open_("k-run")                                        # no tab follows kernel runs: a warning, nothing opened
    assert app.state.current_run == "md-run" and "No tab follows kernel runs" in runs_tab.message.object
