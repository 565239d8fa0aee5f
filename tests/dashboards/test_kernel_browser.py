"""The Kernel tab in a real browser: start a small Pareto sweep, watch its points land, export the plot.

``panel serve app.py`` with a data root holding the tests' tiny 21 x 21
record, driven by Playwright in Debian's chromium. The sweep is the real
thing, ``collop sweep run`` on a dask ``LocalCluster`` in its own process,
cut to k in {1, 2} x 1 seed x 1 scheme with a one-stage curriculum of 300
epochs (a few seconds per point on the tiny record) and one worker, so its
two points land seconds apart, one after the other.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest

from appdriver import AppServer, block_outside, have_chromium, load_app, open_tab, pane_text, plots
from appdriver import wait_until as _wait

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900),   # a real sweep: 100-190 s
              pytest.mark.skipif(not have_chromium(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium chromium-driver)")]

playwright_api = pytest.importorskip("playwright.sync_api")

TITLE = "Test error against k"


def _kill_sweeps(runs: Path) -> None:
    """End the sweep processes this test started (by the pids their folders recorded) if any still run."""
    for job in (runs / "sweeps").glob("*/job.json"):
        with contextlib.suppress(OSError, ValueError, ProcessLookupError, PermissionError):
            pid = int(json.loads(job.read_text())["pid"])
            from collop.runs.ownership import _proc_start

            if _proc_start(pid) == json.loads(job.read_text()).get("start_ticks"):
                os.killpg(pid, signal.SIGINT)
                time.sleep(5)
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, fp_data):
    from collop.io import write_dataset
    from dashboards.config import SHIPPED_DATA, Config

    runs = tmp_path_factory.mktemp("runs")
    root = tmp_path_factory.mktemp("kdata")
    write_dataset(fp_data.ds, root / "tiny.nc")
    name = Config.build([SHIPPED_DATA, root], runs=runs, uploads=runs / "uploads").name_of(root / "tiny.nc")
    srv = AppServer(runs, extra=["--data-root", str(root)], log=tmp_path_factory.mktemp("log") / "server.log")
    try:
        srv.wait_ready()
        srv.get()
        yield {"server": srv, "runs": runs, "dataset": name}
    finally:
        srv.stop()
        _kill_sweeps(runs)




def _fill(page, css: str, text: str) -> None:
    box = page.locator(f".{css} input").first
    box.fill(text)
    box.press("Enter")


def test_start_a_sweep_watch_the_pareto_plot_fill_and_export_it(setup, browser):
    from PIL import Image

    srv, runs = setup["server"], setup["runs"]
    ctx = browser.new_context(viewport={"width": 1600, "height": 1300}, accept_downloads=True)
    blocked: list = []
    block_outside(ctx, blocked)          # nothing may leave the machine, however the tab grows
    page = ctx.new_page()
    try:
        load_app(page, f"{srv.url}?dataset={setup['dataset']}")
        open_tab(page, "Kernel")
        page.locator(".collop-kernel-start button").wait_for(timeout=120_000)
        _wait(lambda: page.locator(".collop-kernel-start button").is_enabled(), 60, "the dataset in the Kernel tab")
        # a small sweep, set up as a user would: k = 1, 2; one seed; forward only; the cut curriculum; 1 worker
        _fill(page, "collop-kernel-ks", "1, 2")
        _fill(page, "collop-kernel-seeds", "0")
        _fill(page, "collop-kernel-workers", "1")
        for scheme in ("backward", "centred"):
            page.locator(".collop-kernel-schemes button", has_text=scheme).click()
        page.locator(".collop-kernel-curriculum select").select_option(label="custom")
        page.locator(".collop-kernel-custom input").first.wait_for(timeout=30_000)
        _fill(page, "collop-kernel-custom", "1:1e-2:300")
        page.locator(".collop-kernel-baseline input").uncheck()
        time.sleep(1.0)                       # the last edits reach the server
        page.locator(".collop-kernel-start button").click()
        _wait(lambda: "Started sweep" in pane_text(page, "collop-kernel-message"), 60, "the sweep to start")

        # live: the plot receives its points one by one, as they finish
        seen = []

        def finite():
            ps = [p for p in plots(page, TITLE) if p["lines"]]
            n = max([sum(y is not None for y in p["lines"][0]["y"]) for p in ps] or [0])
            if not seen or seen[-1] != n:
                seen.append(n)
            return n == 2
        _wait(finite, 600, "both points on the Pareto plot", poll=0.2)
        assert seen[-1] == 2 and 1 in seen, f"the points did not arrive one by one: {seen}"
        sweep = _wait(lambda: next((p for p in (runs / "sweeps").iterdir() if (p / "sweep.json").exists()), None),
                      10, "the sweep folder")
        idx = json.loads((sweep / "sweep.json").read_text())
        want = {e["values"]["options.k"]: e["metrics"]["rollout_mae"] for e in idx["points"]}
        p = next(p for p in plots(page, TITLE) if p["lines"] and len(p["lines"][0]["y"]) == 2
                 and None not in p["lines"][0]["y"])
        assert p["x_label"] == "kernel size k [cells]" and p["y_log"]
        assert p["tags"]["lines"] == ["forward"]
        xs, ys = p["lines"][0]["x"], p["lines"][0]["y"]
        assert {int(x): y for x, y in zip(xs, ys)} == pytest.approx(want, rel=1e-6)
        _wait(lambda: "finished" in pane_text(page, "collop-kernel-sweep-text"), 120, "the sweep to finish")
        assert page.locator(".collop-kernel-stop button").is_disabled()

        # export: the PNG shows what the page describes
        with page.expect_download(timeout=120_000) as dl:
            page.locator(".collop-export-pareto-plot-png button").first.click()
        data = Path(dl.value.path()).read_bytes()
        assert dl.value.suggested_filename == "pareto-plot.png" and data[:8] == b"\x89PNG\r\n\x1a\n"
        im = Image.open(io.BytesIO(data))
        assert im.size[0] > 400 and im.size[1] > 200
        (drawn,) = json.loads(im.text["Description"])["plots"]
        assert drawn["title"] == p["title"] and drawn["x"] == p["tags"]["x"] and drawn["y"] == p["tags"]["y"]
        assert drawn["ylog"] and drawn["lines"] == ["forward"]
        # the chosen point's kernel maps and rollout came in too, from this machine only
        _wait(lambda: any(p["images"] and p["colorbars"] for p in plots(page, ", m = ")), 120,
              "the kernel maps of a finished point")
        # the k = 2 point: a 2 x 2 grid of maps on one diverging scale centred at zero
        sel = page.locator(".collop-kernel-point select")
        sel.select_option(label=next(t for t in sel.locator("option").all_inner_texts() if t.startswith("k = 2")))
        maps = _wait(lambda: [p for p in plots(page, ", m = ") if p["images"]] if len(
            [p for p in plots(page, ", m = ") if p["images"]]) >= 4 else None, 120, "the 2 x 2 kernel maps")
        assert {m["title"] for m in maps} >= {f"l = {a}, m = {b}" for a in (-1, 0) for b in (-1, 0)}
        for m in maps:
            (cb,) = m["colorbars"]
            assert cb["low"] == -cb["high"] and cb["title"].startswith("K_x [")
        assert blocked == []
    finally:
        ctx.close()
