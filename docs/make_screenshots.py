"""Screenshots of the real app for the README (``docs/screenshots/*.png``).

Starts ``panel serve app.py`` on a temporary run store, drives it in Debian's
chromium like a user (Data tab one frame on; a short PS-Tensor training on
``data/langevin.nc`` followed live, compared with the true operator; its
rollout against the data and the run compared with the true operator (Fig. 3
layout, error against time); the run list) and saves one PNG per tab.

Usage: python docs/make_screenshots.py [--epochs 100] [--out docs/screenshots]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "dashboards"))

from appdriver import AppServer, launch_browser, load_app, open_tab, pane_text, short_curriculum  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="collop-shots-"))
    srv = AppServer(tmp / "runs", log=tmp / "server.log")
    try:
        srv.wait_ready()
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            load_app(page, srv.url)
            # the radial distribution and the tables follow the first view
            page.locator(".collop-radial-plot").first.wait_for(timeout=60_000)
            page.locator(".collop-counts .tabulator-row").first.wait_for(timeout=60_000)
            page.locator(".collop-data-time button").nth(6).click()        # one frame on: t = 1
            time.sleep(3)
            page.screenshot(path=str(out / "data_tab.png"))

            open_tab(page, "Fokker–Planck")
            short_curriculum(page, a.epochs)
            page.locator(".collop-start button").click()
            deadline = time.time() + 900
            while "finished" not in pane_text(page, "collop-progress-text") and time.time() < deadline:
                time.sleep(1)
            time.sleep(3)
            page.screenshot(path=str(out / "fp_tab.png"), full_page=True)

            open_tab(page, "Rollout")
            page.locator(".collop-rollout-plot").first.wait_for(timeout=120_000)
            deadline = time.time() + 300
            while "Rollout MAE" not in pane_text(page, "collop-rollout-score") and time.time() < deadline:
                time.sleep(1)
            page.wait_for_function("""() => [...Bokeh.documents[0].all_models].some(m => m.name === 'collop-plot'
                && m.title && m.title.text.startsWith('data, t ='))""", timeout=600_000)
            page.locator(".collop-rollout-time .pn-player-button, .collop-rollout-time button").nth(5).click()  # play
            time.sleep(12)
            page.screenshot(path=str(out / "rollout_tab.png"), full_page=True)

            open_tab(page, "Runs")
            page.locator(".collop-runs-table").first.wait_for(timeout=60_000)
            time.sleep(3)
            page.screenshot(path=str(out / "runs_tab.png"))
            browser.close()
    finally:
        srv.stop()
    for f in sorted(out.glob("*.png")):
        print(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
