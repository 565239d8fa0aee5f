"""Fixtures of the app's tests: a tiny phase-space file, configs on temporary folders."""
from __future__ import annotations

import pytest

from collop.io import write_dataset


@pytest.fixture(scope="session", autouse=True)
def _panel():
    import panel as pn

    pn.extension("tabulator")


@pytest.fixture
def roots(tmp_path):
    """Folders: data (a root), runs, uploads, and an outside folder."""
    d = {k: tmp_path / k for k in ("data", "runs", "uploads", "outside")}
    for p in d.values():
        p.mkdir()
    return d


@pytest.fixture
def tiny_file(fp_data, roots):
    """The conftest's 4-population, 10-frame, 21x21 record as a file in the data root."""
    path = roots["data"] / "tiny.nc"
    write_dataset(fp_data.ds, path)
    return path


@pytest.fixture
def config(roots):
    from dashboards.config import SHIPPED_DATA, Config

    return Config.build([SHIPPED_DATA, roots["data"]], runs=roots["runs"], uploads=roots["uploads"])


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, one per test module (browser tests only)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from appdriver import launch_browser

    with playwright_api.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A page in a new browser context (a new session), sized by the module's ``VIEWPORT`` (default 1600 x 1300)."""
    width, height = getattr(request.module, "VIEWPORT", (1600, 1300))
    ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    yield ctx.new_page()
    ctx.close()
