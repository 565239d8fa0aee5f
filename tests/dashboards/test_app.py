"""The app frame and its tabs, without a browser: construction, bad input, runs from disk."""
import json

import panel as pn
import pytest
from bokeh.application.handlers import FunctionHandler

from collop.cli import main as cli_main
from dashboards import App, TABS
from dashboards.config import SHIPPED_DATA, Config


@pytest.fixture
def app(config):
    a = App(config=config, warm=False)
    yield a
    a.state.manager.close(stop_jobs=True)


def _render(viewable):
    import panel as pn

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
    assert list(fp.curriculum.value["epochs"]) == [1000, 200, 200, 500]      # Table 2, PS-Tensor
    # the coefficients of frame k act from t_k to t_k+1: the last frame (t = 120) has none
    assert fp.coef_times == [0.0, 60.0, 119.0]
    assert max(fp.times_w.options.values()) == 119.0 and fp.compare_w.end == 119.0
    assert fp.reg_v.visible and fp.reg_v.value == 0.0
    fp.method.value = "PS-NN"
    assert list(fp.curriculum.value["lr"]) == [1e-3, 1e-4, 1e-4, 1e-4, 1e-4]
    fp.method.value = "Tracks"
    assert not fp.reg_v.visible
    fp.method.value = "PS-NN"
    for t in app.tabs:
        _render(t)
    app.tick()


def test_data_tab_shows_the_images_then_the_rest(app):
    """Outside a server session the whole Data tab is built at once; the player steps the live images."""
    data = app.tabs[0]
    assert [im.population for im in data.f_images] == data.populations[:2]
    classes = [c for obj in data._body.select(pn.viewable.Viewable) for c in obj.css_classes]
    for css in ("collop-f-plot", "collop-radial-plot", "collop-counts", "collop-provenance"):
        assert css in classes
    before = data.f_images[0].source.data["image"][0]
    data.frame = 40
    assert "t = 40" in data.f_images[0].figure.title.text
    assert (data.f_images[0].source.data["image"][0] != before).any()
    data.populations = [data.populations[1]]
    assert len(data.f_images) == 1 and len(data._f_grid) == 1
    data.radial_population, data.radial_frames = data.populations[0], [0, 60]
    assert list(data.radial.source.data["label"]) == ["t = 0", "t = 60"]
    assert data.radial.figure.title.text.startswith(data.populations[0])
    _render(data)


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
        assert [im.population for im in data.f_images] == data.populations[:1]
        classes = {c for obj in data._body.select(pn.viewable.Viewable) for c in obj.css_classes}
        assert "collop-f-plot" in classes and "collop-radial-plot" not in classes
        session.document.callbacks.trigger_event(DocumentReady())        # what BokehJS sends once loaded
        assert [im.population for im in data.f_images] == data.populations[:2]
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
    app.dataset_select.value = "data2:broken.nc"
    msg = app.error.object
    assert app.error.visible and "broken.nc" in msg and "\n" not in msg and "Traceback" not in msg
    assert app.state.dataset is None
    for t in app.tabs:
        _render(t)
    app.tick()
    app.dataset_select.value = "data:langevin.nc"                            # a good one clears it
    assert not app.error.visible and app.state.dataset is not None
    # a name from the page that leaves the roots is refused the same way
    assert not app.state.select("data:../README.md") and "not accepted" in app.state.error
    assert not app.state.select("data:langevin_truth.nc") and "\n" not in app.state.error


def test_upload_valid_and_invalid(app, tiny_file, roots):
    app.upload.filename = "../../evil name.nc"
    app.upload.value = b"garbage"
    assert app.error.visible and "evil_name.nc" in app.error.object and "\n" not in app.error.object
    assert list(roots["uploads"].iterdir()) == []                 # nothing half-written or invalid kept
    app.upload.filename = "good.nc"
    app.upload.value = tiny_file.read_bytes()
    assert app.state.dataset_name == "uploads:good.nc" and not app.error.visible
    assert (roots["uploads"] / "good.nc").exists() and app.dataset_select.value == "uploads:good.nc"


def test_runs_from_disk_fill_the_tabs(app, config, tiny_file, fp_data, roots, capsys):
    # a run made by the command line, as a terminal user would
    out = roots["runs"] / "cli-run"
    assert cli_main(["-q", "train", "fp", str(tiny_file), "--train", ",".join(fp_data.names[:2]),
                     "--test", ",".join(fp_data.names[2:]), "--model", "tensor", "--curriculum", "1:1e-2:30",
                     "--out", str(out)]) == 0
    app.dataset_select.value = "data2:tiny.nc"
    app.tick()
    runs_tab, fp, rollout = app.tabs[3], app.tabs[1], app.tabs[2]
    assert list(runs_tab.table.value["id"]) == ["cli-run"]
    assert runs_tab.table.value["status"][0] == "finished" and runs_tab.table.value["progress"][0] == "30/30"
    # finished runs on this dataset: Table-1 summary and overlaid coefficients
    assert list(fp.summary.data[0]["metrics"]["per_population"]) == fp_data.names[2:]
    assert list(fp.compare.data) == ["ps-tensor · cli-run"]
    # open it: the FP tab follows it, its loss curve and coefficients come from the run folder
    runs_tab.table.selection = [0]
    runs_tab._open()
    assert app.state.current_run == "cli-run" and app.tab_view.active == 1
    app.tick()
    assert len(fp.loss.data) == 30 and fp.operator.data is not None
    assert "30/30" in fp.progress_text.object and fp.progress.value == 30
    # rollout of the run on a test population
    rollout.show()
    assert rollout.run.value.endswith("cli-run/operator.nc")
    assert rollout.population.value == fp_data.names[2] and rollout.pipe.data is not None
    assert "Rollout MAE" in rollout.score.object
    # rename, then delete
    runs_tab.new_name.value = "renamed"
    runs_tab._rename()
    assert app.state.current_run == "renamed" and list(runs_tab.table.value["id"]) == ["renamed"]
    runs_tab.table.selection = [0]
    runs_tab._delete()
    assert runs_tab.table.value.empty and app.state.current_run == "" and not (roots["runs"] / "renamed").exists()


def test_start_refuses_bad_curriculum(app):
    fp = app.tabs[1]
    df = fp.curriculum.value.copy()
    df.loc[0, "N_u"] = 0
    fp.curriculum.value = df
    fp._start()
    assert fp.message.visible and "stage 1" in fp.message.object and app.state.current_run == ""
    fp.train.value = []
    fp._start()
    assert "training population" in fp.message.object


def test_app_py_only_assembles():
    src = (SHIPPED_DATA.parent / "app.py").read_text()
    code = [ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", '"', "import", "from"))]
    assert code == ['pn.extension("tabulator")', "App().servable()"] or len(code) <= 3
