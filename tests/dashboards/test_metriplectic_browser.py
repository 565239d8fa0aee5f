"""The Metriplectic tab in the browser: a short CM2 training started from the tab, its loss and g² contours
updating live, and the contour figure exported as PNG matching the page (issue 15).

The MD file is a small cut of the shipped Γ = 2.3 set (500 particles, every fourth frame), so that 300 weak-form
steps and the scoring rollouts take seconds; the app runs as ``panel serve app.py`` on 127.0.0.1 only.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from appdriver import AppServer, have_chromium, launch_browser, load_app, model_text, open_tab, plots
from appdriver import wait_until as _wait

# a real training and its scoring in a worker: about a minute on a quiet machine, minutes on a busy one
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(not have_chromium(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium chromium-driver)")]

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
STEPS = 300          # one snapshot (every 250 steps) before the final operator: the contours change once at least

# Contour renderers of the figure-layer plots whose title contains `part`: their filled polygons, as
# numbers that change when the drawn field changes.
CONTOURS_JS = """(part) => {
  const out = [];
  const val = (d, k) => d instanceof Map ? d.get(k) : d[k];
  const walk = (a, acc) => {
    if (typeof a === 'number') { acc.n++; acc.sum += a; }
    else if (a && typeof a.length === 'number') for (const x of a) walk(x, acc);
    return acc;
  };
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.name !== 'collop-plot' || !m.title || !m.title.text.includes(part)) continue;
    for (const r of m.renderers) {
      if (r.type !== 'ContourRenderer') continue;
      const acc = walk(val(r.fill_renderer.data_source.data, 'xs') || [], {n: 0, sum: 0});
      out.push({title: m.title.text, n: acc.n, sum: acc.sum});
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import xarray as xr

    from collop.io import write_dataset

    data = tmp_path_factory.mktemp("mdroot")
    with xr.open_dataset(ROOT / "data" / "md_gamma2p3.nc") as ds:
        small = ds.isel(particle=slice(0, 500), time=slice(0, None, 4)).load()
    write_dataset(small, data / "small_md.nc")
    runs = tmp_path_factory.mktemp("runs")
    srv = AppServer(runs, extra=["--data-root", str(data)], log=tmp_path_factory.mktemp("log") / "server.log")
    try:
        srv.wait_ready()
        srv.get()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def page(server):
    with playwright_api.sync_playwright() as p:
        browser = launch_browser(p)
        ctx = browser.new_context(viewport={"width": 1600, "height": 1200}, accept_downloads=True)
        yield ctx.new_page()
        ctx.close()
        browser.close()



def _set_int(page, css: str, value: int) -> None:
    box = page.locator(f".{css} input").first
    box.fill(str(value))
    box.press("Enter")


def test_cm2_training_from_the_tab(page, server):
    load_app(page, server.url)
    open_tab(page, "Metriplectic")
    select = page.locator(".collop-mp-md select").first
    select.wait_for(timeout=120_000)
    label = _wait(lambda: [o for o in select.locator("option").all_inner_texts() if o.endswith("small_md.nc")], 60,
                  "the small MD file among the choices")[0]
    select.select_option(label=label)
    _wait(lambda: "500" in (model_text(page, "collop-mp-md-info") or ""), 60, "the MD file's description")
    page.locator(".collop-mp-model select").first.select_option("CM2")
    _set_int(page, "collop-mp-steps", STEPS)
    _set_int(page, "collop-mp-pairs", 2000)
    time.sleep(1.0)                                  # the inputs reach the server
    page.locator(".collop-mp-start button").click()
    _wait(lambda: "Started run" in (model_text(page, "collop-mp-message") or ""), 60, "the start message")

    # the live loss fills in (step axis, loss in omega_p², the running mean beside the raw loss)
    loss = _wait(lambda: [p for p in plots(page, "Weak-form loss") if p["lines"] and p["lines"][0]["n"] >= 20],
                 300, "the live loss")[0]
    assert loss["tags"]["lines"] == ["per step", "running mean"]
    assert loss["y_label"] == "loss [omega_p²]" and loss["x_label"] == "step"

    # the contours appear with the first snapshot, then change with the final operator
    def contours():
        c = page.evaluate(CONTOURS_JS, "E_s[g_s²]")
        return c if c and c[0]["n"] > 0 else None
    progress = lambda: model_text(page, "collop-mp-progress-text") or ""      # noqa: E731
    _wait(lambda: "snapshot after 250 steps" in progress(), 300, "the first snapshot's contours")
    first = _wait(contours, 60, "the contours of the snapshot")
    _wait(lambda: "final operator" in progress() and "finished" in progress(), 300, "the final operator")
    final = _wait(lambda: (c := contours()) and c != first and c, 60, "the contours to change")
    assert final != first
    g2 = plots(page, "E_s[g_r²]")
    assert g2 and g2[0]["x_label"] == "u [v_th]" and g2[0]["y_label"] == "r [v_th]"

    # export the contour figure as PNG: it draws what the page describes
    with page.expect_download(timeout=120_000) as dl:
        page.locator(".collop-export-g2-contours-png button").first.click()
    png = Path(dl.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and dl.value.suggested_filename == "g2-contours.png"
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    assert im.size[0] > 800 and im.size[1] > 400
    drawn = {p["title"]: p for p in json.loads(im.text["Description"])["plots"]}
    page_desc = {p["title"]: p["tags"] for p in plots(page, "") if p["title"] in drawn}
    assert len(drawn) == 6 and set(page_desc) == set(drawn), "the export has the page's six plots"
    for title, want in page_desc.items():
        got = drawn[title]
        assert (got["x"], got["y"]) == (want["x"], want["y"])
        assert [c["cmap"] for c in got["colorbars"]] == [c["cmap"] for c in want["colorbars"]]
        assert [c["label"] for c in got["colorbars"]] == [c["label"] for c in want["colorbars"]]
        for g, w in zip(got["colorbars"], want["colorbars"]):
            assert g["low"] == pytest.approx(w["low"], rel=1e-6, abs=1e-12)
            assert g["high"] == pytest.approx(w["high"], rel=1e-6, abs=1e-12)
    assert drawn["E_s[g_s²] − E_s[g_r²]"]["colorbars"][0]["cmap"] == "RdBu_r"
