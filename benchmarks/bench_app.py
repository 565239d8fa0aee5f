"""App responsiveness in a real browser: first image, full Data tab, frame step, Fokker-Planck tab, opened run.

1. Starts ``panel serve app.py --warm`` (localhost, a temporary run store
   holding finished runs made by ``tests/dashboards/runfactory.py``, no
   training) together with a one-line Panel page served by the same process:
   the **baseline**, the floor that Panel, BokehJS and this machine set right
   now (the machine is shared and its load varies; the load average is
   printed at the start and the end).
2. Repeats ``--loads`` times, each in a new chromium context (a new session):

   - **first image**: from navigation to the Data tab's first f(vx, vy) image
     holding data (target <= 2 s with ``--warm``);
   - **full Data tab**: until the radial distribution has its curves and the
     sampling table its rows;
   - **frame step**: ``--trips`` steps of the frame player (the Player
     model's ``value``, as a click does), each until the server has sent back
     the new image (target <= 1 s);
   - **FP tab first shown**: from the click on the tab to its Start button and
     the comparison plots holding curves;
   - **run opened**: from Open in the Runs tab to the Fokker-Planck tab
     following the run with its loss curve drawn.
3. Prints the medians (and every value), and writes them as JSON with ``--json``.

Usage: python benchmarks/bench_app.py [--loads 5] [--trips 10] [--training] [--json FILE]

``--training`` also starts a PS-Tensor training in the background (one
thread), so that one core is busy as when a user trains while exploring.
It is a benchmark, not a timed test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "dashboards"))

from appdriver import AppServer, launch_browser, open_tab, pane_text  # noqa: E402

# Resolves when an f(vx, vy) image holds data.
IMAGES_READY_JS = """() => window.Bokeh && Bokeh.documents.length > 0 && [...Bokeh.documents[0].all_models].some(
  m => m.type === 'ColumnDataSource' && (m.data instanceof Map ? m.data.has('image') : 'image' in m.data)
       && (m.data instanceof Map ? m.data.get('image') : m.data['image']).length > 0)"""

# Moves the frame player one step and resolves with the milliseconds until an image source changes.
ROUND_TRIP_JS = """() => new Promise((resolve, reject) => {
  const doc = Bokeh.documents[0];
  const player = [...doc.all_models].find(m => m.type === 'Player' || m.type === 'panel.models.widgets.Player');
  if (!player) { reject('no Player widget'); return; }
  const t0 = performance.now();
  let done = false;
  const cb = (ev) => {
    const m = ev.model;
    if (done || !m || m.type !== 'ColumnDataSource') return;
    const has = m.data instanceof Map ? m.data.has('image') : 'image' in m.data;
    if (!has) return;
    done = true; doc.remove_on_change(cb); resolve(performance.now() - t0);
  };
  doc.on_change(cb);
  player.value = player.value >= player.end ? player.start : player.value + 1;
  setTimeout(() => { if (!done) { done = true; doc.remove_on_change(cb); reject('no answer in 20 s'); } }, 20000);
})"""

# Whether the plots whose title contains `part` hold curves.
CURVES_JS = """(part) => [...Bokeh.documents[0].all_models].some(m => m.name === 'collop-plot' && m.title
  && m.title.text.includes(part) && m.renderers.some(r => r.data_source && r.glyph.type === 'Line'
  && (r.data_source.data instanceof Map ? r.data_source.data.get('y') : r.data_source.data['y']).length > 0))"""

BLANK = 'import panel as pn\npn.panel("baseline", css_classes=["blank"]).servable()\n'


def _wait(page, js, arg=None, timeout=180_000):
    page.wait_for_function(js, arg=arg, timeout=timeout)


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loads", type=int, default=5)
    p.add_argument("--trips", type=int, default=10)
    p.add_argument("--training", action="store_true", help="train in the background meanwhile")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from runfactory import DATA, make_run

    tmp = Path(tempfile.mkdtemp(prefix="collop-bench-app-"))
    runs = tmp / "runs"
    for k in range(3):
        make_run(runs, f"bench-{k}", method="ps-nn" if k % 2 else "ps-tensor", scale=1.0 + 0.1 * k)
    blank = tmp / "blank.py"
    blank.write_text(BLANK)
    load0 = os.getloadavg()
    srv = AppServer(runs, warm=True, log=tmp / "server.log", apps=[blank])
    train = None
    res = {"first_image_s": [], "data_tab_s": [], "frame_step_ms": [], "fp_tab_s": [], "run_opened_s": [],
           "baseline_s": []}
    try:
        res["server_ready_s"] = srv.wait_ready(timeout=300)
        print(f"server listening after {res['server_ready_s']:.1f} s (--warm: imports + one build)", flush=True)
        srv.get()
        if a.training:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            train = subprocess.Popen(
                [sys.executable, "-m", "collop", "-q", "train", "fp", str(DATA), "--threads", "1",
                 "--train", "uniform_-5_5_-5_5,uniform_-5_0_-5_0,normal_0_0,normal_-1_-1,normal_-1_0",
                 "--model", "tensor", "--out", str(runs / "bench-training")],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(10)
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            for i in range(a.loads):
                ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(srv.url.rsplit("/", 1)[0] + "/blank", timeout=180_000)
                page.wait_for_selector(".blank", timeout=180_000)
                res["baseline_s"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                page.goto(srv.url, timeout=180_000)
                _wait(page, IMAGES_READY_JS)
                res["first_image_s"].append(time.perf_counter() - t0)
                page.locator(".collop-counts .tabulator-row").first.wait_for(timeout=180_000)
                _wait(page, CURVES_JS, "F(v) = v")
                res["data_tab_s"].append(time.perf_counter() - t0)
                for _ in range(a.trips):
                    res["frame_step_ms"].append(page.evaluate(ROUND_TRIP_JS))
                    time.sleep(0.1)
                t0 = time.perf_counter()
                open_tab(page, "Fokker–Planck")
                page.locator(".collop-start button").first.wait_for(timeout=180_000)
                _wait(page, CURVES_JS, "at t =")
                res["fp_tab_s"].append(time.perf_counter() - t0)
                run_id = f"bench-{i % 3}"
                open_tab(page, "Runs")
                row = page.locator(".collop-runs-table .tabulator-row", has_text=run_id).first
                row.locator('[tabulator-field="id"]').click()
                page.wait_for_function("""() => [...Bokeh.documents[0].all_models].some(m => m.css_classes
                    && m.css_classes.includes('collop-download-operator') && !m.disabled)""", timeout=60_000)
                t0 = time.perf_counter()
                page.locator(".collop-run-open button").click()
                deadline = time.time() + 180
                while run_id not in pane_text(page, "collop-progress-text") and time.time() < deadline:
                    time.sleep(0.02)
                _wait(page, CURVES_JS, "Training loss")
                res["run_opened_s"].append(time.perf_counter() - t0)
                print(f"  session {i + 1}: baseline {res['baseline_s'][-1]:.2f} s, first image "
                      f"{res['first_image_s'][-1]:.2f} s, Data tab {res['data_tab_s'][-1]:.2f} s, frame step median "
                      f"{_median(res['frame_step_ms'][-a.trips:]):.0f} ms, FP tab {res['fp_tab_s'][-1]:.2f} s, "
                      f"run opened {res['run_opened_s'][-1]:.2f} s", flush=True)
                ctx.close()
            browser.close()
    finally:
        if train is not None and train.poll() is None:
            train.terminate()
            train.wait(timeout=30)
        srv.stop()
    res["loadavg_start"], res["loadavg_end"] = load0, os.getloadavg()
    res["medians"] = {k: _median(v) for k, v in res.items() if isinstance(v, list) and v and k != "loadavg_start"}
    m = res["medians"]
    print(f"medians over {a.loads} sessions ({a.trips} frame steps each)"
          f"{' while a training runs' if a.training else ''}:")
    print(f"  baseline page (one pane, same server)  {m['baseline_s']:.2f} s")
    print(f"  first image (--warm)                    {m['first_image_s']:.2f} s   (target <= 2 s)")
    print(f"  full Data tab                           {m['data_tab_s']:.2f} s")
    print(f"  frame step                              {m['frame_step_ms']:.0f} ms  (target <= 1000 ms)")
    print(f"  Fokker-Planck tab first shown           {m['fp_tab_s']:.2f} s")
    print(f"  run opened                              {m['run_opened_s']:.2f} s")
    print(f"load average (1, 5, 15 min): start {tuple(round(x, 2) for x in load0)}, "
          f"end {tuple(round(x, 2) for x in res['loadavg_end'])} on {os.cpu_count()} cores")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
