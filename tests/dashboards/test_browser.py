"""The real app in a real browser: ``panel serve app.py`` driven by Playwright + Debian's chromium.

One server (with its own run store) serves every test of this module. The
tests follow what a physicist does: open the page, choose a dataset, start a
short training, watch the loss and coefficient plots fill while it runs,
export a figure, and see the same runs from a second browser tab.

Chromium comes from Debian (``make test`` installs it when run as root);
without it these tests are skipped with that reason.
"""
from __future__ import annotations

import struct

import pytest

from appdriver import (AppServer, column_length, have_chromium, load_app, model_text, open_tab, pane_text, plots,
                       short_curriculum)
from appdriver import wait_until as _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900),
              pytest.mark.skipif(not have_chromium(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium chromium-driver)")]

playwright_api = pytest.importorskip("playwright.sync_api")

EPOCHS = 60   # one stage; a snapshot (live coefficients) is written every 25 epochs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    srv = AppServer(runs, log=tmp_path_factory.mktemp("log") / "server.log")
    try:
        srv.wait_ready()
        srv.get()          # the first session pays the imports
        yield srv
    finally:
        srv.stop()





def _run_id(page, before: str = "") -> str:
    """The id of the run the FP tab follows, once it differs from ``before``."""
    def current():
        text = pane_text(page, "collop-progress-text")
        rid = text.split("·")[0].strip().strip("*") if "·" in text else ""
        return rid if rid and rid != before else ""
    return _wait(current, 60, "the started run to be followed")


def test_page_loads_and_listens_on_localhost_only(server, page):
    load_app(page, server.url)
    options = page.locator(".collop-dataset-select select option").all_inner_texts()
    assert "data/langevin.nc" in options
    assert "121 frames" in pane_text(page, "collop-dataset-info")
    assert server.listening_addresses() == {"127.0.0.1"}


def test_first_view_then_the_rest_of_the_data_tab(server, page):
    """The first page holds an f(vx, vy) image with data; the second image, the radial plot and the tables
    follow after load."""
    html = server.get().decode()
    assert "bokeh-mathjax" not in html          # no TeX on the page: no 1.8 MB MathJax bundle
    load_app(page, server.url)
    page.wait_for_function("""() => [...Bokeh.documents[0].all_models].filter(m => m.type === 'ColumnDataSource'
        && (m.data instanceof Map ? m.data.has('image') : 'image' in m.data)).length === 2""", timeout=60_000)
    assert sorted(column_length(page, "image")) == [1, 1]      # two populations, one frame each
    page.locator(".collop-radial-plot").first.wait_for(timeout=60_000)
    page.locator(".collop-counts .tabulator-row").first.wait_for(timeout=60_000)
    assert page.locator(".collop-counts .tabulator-row").count() == 10          # one row per population
    # a step of the frame player (its buttons: slower, first, previous, reverse, pause, play, next, ...)
    page.locator(".collop-data-time button").nth(6).click()
    _wait(lambda: page.evaluate("""() => [...Bokeh.documents[0].all_models].some(m => m.type === 'Title'
        && m.text.includes('t = 1 '))"""), 30, "the images of frame 1")


def test_choosing_another_dataset_rebuilds_the_data_tab(server, page):
    load_app(page, server.url)
    page.locator(".collop-radial-plot").first.wait_for(timeout=60_000)
    page.locator(".collop-dataset-select select").select_option(label="data/sim1.nc")
    titles_js = "() => [...Bokeh.documents[0].all_models].filter(m => m.type === 'Title').map(m => m.text)"
    _wait(lambda: sum("1/omega_p" in t for t in page.evaluate(titles_js)) == 2, 60, "the images of data/sim1.nc")
    assert "12 populations" in pane_text(page, "collop-dataset-info")
    _wait(lambda: page.locator(".collop-radial-plot").count() == 1 and
          page.locator(".collop-counts .tabulator-row").count() > 0, 60, "the radial plot and tables of sim1")


def test_training_streams_live_then_exports_png(server, page):
    load_app(page, server.url)
    page.locator(".collop-dataset-select select").select_option(label="data/langevin.nc")
    open_tab(page, "Fokker–Planck")
    short_curriculum(page, EPOCHS)
    def loss_points():
        return max((ln["n"] for p in plots(page, "Training loss") for ln in p["lines"]), default=0)

    def coef_lines():
        return sum(ln["n"] > ln["nan"] for p in plots(page, "A∥(v)") if p["title"] == "A∥(v)" for ln in p["lines"])

    # before the start: the live loss and coefficient plots are empty
    assert loss_points() == 0 and coef_lines() == 0

    page.locator(".collop-start button").click()
    run_id = _run_id(page)
    assert run_id.startswith("ps-tensor-")

    # while it runs, the loss curve and (after the first snapshot) the coefficient curves receive data
    seen = {"loss_running": 0, "coef_running": False}

    def live():
        status = pane_text(page, "collop-progress-text")
        n_loss = loss_points()
        if "running" in status:
            seen["loss_running"] = max(seen["loss_running"], n_loss)
            if coef_lines() > 0:
                seen["coef_running"] = True
            assert "ETA" in status and "elapsed" in status
        return seen["coef_running"] and seen["loss_running"] > 0 or "finished" in status

    _wait(live, 300, "live loss and coefficient data")
    assert seen["loss_running"] > 0, "the loss plot got no data while the run was running"
    assert seen["coef_running"], "the coefficient plots got no data while the run was running"

    # it finishes: every epoch reached the loss plot, and the status says so
    _wait(lambda: "finished" in pane_text(page, "collop-progress-text"), 300, "the run to finish")
    _wait(lambda: loss_points() == EPOCHS, 30, f"{EPOCHS} loss points")

    # export the loss figure as PNG: a real image
    with page.expect_download(timeout=120_000) as dl:
        page.locator(".collop-export-loss-plot-png button").first.click()
    data = open(dl.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 200 and height > 100
    assert dl.value.suggested_filename.endswith(".png")
    # the "Started run" message has cleared once the run was running
    assert "Started run" not in (model_text(page, "collop-fp-message") or "")


def test_second_tab_sees_the_same_runs(server, browser):
    ctx_a = browser.new_context(viewport={"width": 1600, "height": 1300})
    ctx_b = browser.new_context(viewport={"width": 1600, "height": 1300})
    try:
        a, b = ctx_a.new_page(), ctx_b.new_page()
        load_app(a, server.url)
        load_app(b, server.url)
        open_tab(b, "Runs")
        table_b = b.locator(".collop-runs-table")
        table_b.wait_for(timeout=60_000)

        open_tab(a, "Fokker–Planck")
        short_curriculum(a, 30)
        a.locator(".collop-start button").click()
        run_id = _run_id(a)
        # the run started in tab A appears in tab B's run list without a reload
        _wait(lambda: table_b.get_by_text(run_id).count() > 0, 60, f"run {run_id} in the second tab")
    finally:
        ctx_a.close()
        ctx_b.close()


def test_bad_upload_shows_one_line_message(server, page, tmp_path):
    load_app(page, server.url)
    bad = tmp_path / "broken.nc"
    bad.write_bytes(b"this is not a netCDF file\n" * 10)
    page.locator(".collop-upload input[type=file]").set_input_files(str(bad))
    text = _wait(lambda: pane_text(page, "collop-dataset-error").strip(), 60, "the upload's error message")
    assert "broken.nc" in text
    assert "\n" not in text.strip() and "Traceback" not in text
