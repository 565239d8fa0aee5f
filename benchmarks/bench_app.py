"""App responsiveness: first page load with ``--warm`` and widget round-trips during a training.

1. Starts ``panel serve app.py --warm`` (localhost, a temporary run store) and
   times the server's start-up (imports and the warm-up build).
2. **First page load:** a fresh chromium context opens the page and waits
   until the Data tab's f(vx, vy) images are drawn (their ColumnDataSources
   hold data). The first view is the sidebar, the tab bar and the Data
   tab's controls with the image of its first population; the second
   population's image, the radial distribution and the tables follow once
   the page has loaded and are not waited for. Repeated ``--loads`` times, each in a new context (a new
   session). Target: <= 3 s. Each load is broken down into the moments
   when the HTML's first byte arrived (the server has built the session's
   document), the scripts were loaded and run (DOMContentLoaded; both from
   the browser's navigation timing), the websocket opened (BokehJS asks for
   the document) and the images held data (BokehJS has built the
   document's views); the last two are timed from the start of the load.
3. Starts a PS-Tensor training with the full Table-2 curriculum on
   ``data/langevin.nc`` in the background (``collop train fp`` into the
   app's run store, one thread), so the second core is busy training and the
   app's run list follows it.
4. **Widget round-trip:** in the page, moves the Data tab's frame player one
   step (the Player model's ``value``, as a click does) and waits until the
   server has sent back the new f(vx, vy) images; repeated ``--trips``
   times. Target: median <= 300 ms.

Prints both figures (and writes them as JSON with ``--json``). It is a
benchmark, not a timed test.

Usage: python benchmarks/bench_app.py [--loads 5] [--trips 30] [--json FILE]
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

from appdriver import AppServer, launch_browser, load_app  # noqa: E402

# Resolves when the f(vx, vy) images hold data.
IMAGES_READY_JS = """() => Bokeh.documents.length > 0 && [...Bokeh.documents[0].all_models].some(
  m => m.type === 'ColumnDataSource' && (m.data instanceof Map ? m.data.has('image') : 'image' in m.data)
       && (m.data instanceof Map ? m.data.get('image') : m.data['image']).length > 0)"""

# Moves the frame player one step and resolves with the milliseconds until an
# image source changes (the server's answer).
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
  setTimeout(() => { if (!done) { done = true; doc.remove_on_change(cb); reject('no answer in 10 s'); } }, 10000);
})"""


# Seconds from the navigation's start to the HTML's first byte and to DOMContentLoaded.
NAVIGATION_JS = """() => { const n = performance.getEntriesByType('navigation')[0];
  return {html: n.responseStart / 1000, scripts: n.domContentLoadedEventEnd / 1000}; }"""


def _parts_text(p: dict) -> str:
    return (f"HTML {p['html']:.2f} s, scripts run {p['scripts']:.2f} s, websocket {p['websocket']:.2f} s, "
            f"images {p['images']:.2f} s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loads", type=int, default=5)
    p.add_argument("--trips", type=int, default=30)
    p.add_argument("--no-training", action="store_true", help="measure round-trips without a training")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="collop-bench-app-"))
    srv = AppServer(tmp / "runs", warm=True, log=tmp / "server.log")
    train = None
    result = {}
    try:
        result["server_ready_s"] = srv.wait_ready(timeout=300)
        print(f"server listening after {result['server_ready_s']:.1f} s (--warm: imports + one build)", flush=True)
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            loads, parts = [], []
            for i in range(a.loads):
                ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = ctx.new_page()
                ws_open = []
                page.on("websocket", lambda ws: ws_open.append(time.perf_counter()))
                t0 = time.perf_counter()
                load_app(page, srv.url)
                page.wait_for_function(IMAGES_READY_JS, timeout=120_000)
                loads.append(time.perf_counter() - t0)
                nav = page.evaluate(NAVIGATION_JS)
                parts.append({"html": nav["html"], "scripts": nav["scripts"],
                              "websocket": ws_open[0] - t0 if ws_open else float("nan"), "images": loads[-1]})
                print(f"  page load {i + 1}: {loads[-1]:.2f} s  ({_parts_text(parts[-1])})", flush=True)
                if i < a.loads - 1:
                    ctx.close()
            result["first_load_s"] = loads[0]
            result["load_median_s"] = statistics.median(loads)
            result["load_parts_s"] = parts

            if not a.no_training:
                env = {**os.environ, "PYTHONPATH": str(ROOT)}
                train = subprocess.Popen(
                    [sys.executable, "-m", "collop", "-q", "train", "fp", str(ROOT / "data" / "langevin.nc"),
                     "--train", "uniform_-5_5_-5_5,uniform_-5_0_-5_0,normal_0_0,normal_-1_-1,normal_-1_0",
                     "--model", "tensor", "--out", str(tmp / "runs" / "bench-training")],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.time() + 120
                while not (tmp / "runs" / "bench-training" / "events.jsonl").exists() and time.time() < deadline:
                    time.sleep(0.2)
                time.sleep(3)   # into the epochs
                if train.poll() is not None:
                    raise RuntimeError("the background training ended early")
            trips = []
            for _ in range(a.trips):
                trips.append(page.evaluate(ROUND_TRIP_JS))
                time.sleep(0.1)
            result["round_trip_ms"] = trips
            result["round_trip_median_ms"] = statistics.median(trips)
            result["training_running"] = train is not None and train.poll() is None
            browser.close()
    finally:
        if train is not None and train.poll() is None:
            train.terminate()
            train.wait(timeout=30)
        srv.stop()
    trips = sorted(result["round_trip_ms"])
    print(f"first page load (--warm): {result['first_load_s']:.2f} s (median of {a.loads}: "
          f"{result['load_median_s']:.2f} s; target <= 3 s)")
    med = {k: statistics.median(p[k] for p in result["load_parts_s"]) for k in result["load_parts_s"][0]}
    print(f"  medians: {_parts_text(med)}")
    print(f"widget round-trip {'while a training runs' if not a.no_training else '(idle)'}: median "
          f"{result['round_trip_median_ms']:.0f} ms, p90 {trips[int(0.9 * (len(trips) - 1))]:.0f} ms over "
          f"{len(trips)} (target <= 300 ms)")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
