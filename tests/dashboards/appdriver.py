"""Driving the real app in Debian's chromium: server and browser helpers.

Shared by the browser tests (``tests/dashboards/test_browser.py``) and the
app benchmark (``benchmarks/bench_app.py``). Playwright's own browser
download does not work on these machines, so the system chromium is driven
through ``executable_path``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# Text of a Panel markup pane: its content lives in the host's shadow root,
# after the <style>/<link> elements.
PANE_TEXT_JS = ("e => [...(e.shadowRoot || e).children].filter(c => c.tagName === 'DIV')"
                ".map(c => c.innerText).join('\\n')")

# Lengths of every ColumnDataSource column in the page's Bokeh document,
# as a list of {column: length} dicts (one per source).
SOURCES_JS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (m.type !== 'ColumnDataSource') continue;
      const d = m.data, rec = {};
      const keys = d instanceof Map ? [...d.keys()] : Object.keys(d);
      for (const k of keys) { const v = d instanceof Map ? d.get(k) : d[k]; rec[k] = v ? v.length : 0; }
      out.push(rec);
    }
  }
  return out;
}"""


# Every figure of the figure layer (dashboards.render_bokeh) in the page: its description (tags) and what
# the Bokeh models really hold (axis labels and types, ranges, colour mappers, colour bars, legends,
# line data), for the figures whose title contains `part` (all when empty). Figures of hidden tabs are
# included.
PLOTS_JS = """(part) => {
  const out = [];
  const val = (d, k) => d instanceof Map ? d.get(k) : d[k];
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (m.name !== 'collop-plot') continue;
      const title = m.title ? m.title.text : '';
      if (part && !title.includes(part)) continue;
      const panels = {right: m.right, below: m.below, center: m.center, left: m.left, above: m.above};
      const legend = Object.keys(panels).filter(k => panels[k].some(x => x.type === 'Legend'));
      const colorbars = m.right.filter(x => x.type === 'ColorBar').map(cb => ({
        title: cb.title, mapper: cb.color_mapper.type, palette: [...cb.color_mapper.palette],
        low: cb.color_mapper.low, high: cb.color_mapper.high}));
      const lines = [], images = [];
      for (const r of m.renderers) {
        if (!r.data_source) continue;
        const d = r.data_source.data;
        if (r.glyph.type === 'Line') {
          const y = [...val(d, 'y')].map(v => (v === null || Number.isNaN(v)) ? null : v);
          const fin = y.filter(v => v !== null);
          lines.push({n: y.length, nan: y.length - fin.length, ymin: Math.min(...fin), ymax: Math.max(...fin),
                      x: [...val(d, 'x')], y: y});
        } else if (r.glyph.type === 'Image') {
          images.push({mapper: r.glyph.color_mapper.type});
        }
      }
      const isAxis = (x) => x.type.endsWith('Axis');
      const xa = [...m.below, ...m.above].filter(isAxis)[0], ya = [...m.left, ...m.right].filter(isAxis)[0];
      out.push({title: title, tags: m.tags.length ? JSON.parse(m.tags[0]) : null,
                x_label: xa.axis_label, y_label: ya.axis_label,
                x_log: xa.type === 'LogAxis', y_log: ya.type === 'LogAxis',
                x_range: [m.x_range.start, m.x_range.end], y_range: [m.y_range.start, m.y_range.end],
                colorbars: colorbars, legend: legend, lines: lines, images: images});
    }
  }
  return out;
}"""


def plots(page, part: str = "") -> list[dict]:
    """The figure-layer plots of the page whose title contains ``part`` (see PLOTS_JS)."""
    return page.evaluate(PLOTS_JS, part)


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``panel serve app.py`` in its own process group, on a free localhost port.

    Parameters
    ----------
    runs : path
        The run store (``--args --runs``).
    warm : bool
        Pass ``--warm`` (import and build once at start-up).
    extra : list of str
        More arguments after ``--args``.
    serve_args : list of str
        More arguments of ``panel serve`` (before ``--args``).
    apps : list of paths
        More scripts served by the same process (at ``/<stem>``).
    """

    def __init__(self, runs, *, warm: bool = False, extra=(), log=None, serve_args=(), env=None, apps=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/app"
        panel = Path(sys.executable).with_name("panel")
        cmd = [str(panel), "serve", str(ROOT / "app.py"), *map(str, apps), "--address", "127.0.0.1",
               "--port", str(self.port),
               "--allow-websocket-origin", f"127.0.0.1:{self.port}", *(["--warm"] if warm else []), *serve_args,
               "--args", "--runs", str(runs), *extra]
        env = {**os.environ, "BOKEH_IN_DOCKER": "1", "PYTHONPATH": str(ROOT), **(env or {})}
        self.log = open(log or os.devnull, "w")
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait until the server answers on its port (not the page: no session is made); seconds taken."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"panel serve exited with status {self.proc.returncode}")
            try:
                with contextlib.closing(socket.create_connection(("127.0.0.1", self.port), timeout=1)):
                    return time.perf_counter() - self.t_start
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"panel serve did not listen on port {self.port} within {timeout:.0f} s")

    def get(self, timeout: float = 180.0) -> bytes:
        with urllib.request.urlopen(self.url, timeout=timeout) as r:
            return r.read()

    def listening_addresses(self) -> set[str]:
        """Local addresses of the sockets listening on the server's port (from /proc/net/tcp*)."""
        out = set()
        for table, fam in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                addr, port = local.split(":")
                if state != "0A" or int(port, 16) != self.port:   # 0A = LISTEN
                    continue
                if fam == 4:
                    out.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    raw = bytes.fromhex(addr)
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    out.add(socket.inet_ntop(socket.AF_INET6, raw))
        return out

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "ws://127.0.0.1", "blob:", "data:", "file:", "about:")


def block_outside(page_or_context, blocked: list) -> None:
    """Abort every request that would leave the machine, recording its URL in ``blocked``."""
    def route(r):
        if r.request.url.startswith(LOCAL_PREFIXES):
            return r.continue_()
        blocked.append(r.request.url)
        return r.abort()
    page_or_context.route("**/*", route)


def pane_text(page, css: str, timeout: float = 30_000) -> str:
    """Text of the Panel markup pane with CSS class ``css``."""
    return page.locator(f".{css}").first.evaluate(PANE_TEXT_JS, timeout=timeout)


MODEL_TEXT_JS = """(css) => { for (const doc of Bokeh.documents) for (const m of doc.all_models)
  if (m.css_classes && m.css_classes.includes(css) && typeof m.text === 'string') return m.text; return null; }"""


def model_text(page, css: str) -> str | None:
    """The ``text`` of the Panel markup pane with CSS class ``css``, read from its Bokeh model (hidden or not)."""
    return page.evaluate(MODEL_TEXT_JS, css)


def sources(page) -> list[dict]:
    return page.evaluate(SOURCES_JS)


def column_length(page, column: str, others=()) -> list[int]:
    """Lengths of every source holding ``column`` (and each of ``others``)."""
    return [rec[column] for rec in sources(page) if column in rec and all(o in rec for o in others)]


def open_tab(page, title: str) -> None:
    page.locator(".collop-tabs").get_by_text(title, exact=True).first.click()


def load_app(page, url: str, timeout: float = 120_000) -> float:
    """Open the app and wait for the dataset chooser; seconds taken."""
    t0 = time.perf_counter()
    page.goto(url, timeout=timeout)
    page.wait_for_selector(".collop-dataset-select select", timeout=timeout)
    return time.perf_counter() - t0


def short_curriculum(page, epochs: int) -> None:
    """Cut the FP tab's curriculum table to one stage of ``epochs`` epochs, as a user would."""
    rows = page.locator(".collop-curriculum .tabulator-row")
    rows.first.wait_for(timeout=60_000)
    while rows.count() > 1:
        n = rows.count()
        page.locator(".collop-curriculum-remove button").click()
        deadline = time.time() + 20
        while rows.count() == n and time.time() < deadline:
            time.sleep(0.1)
    cell = rows.first.locator('[tabulator-field="epochs"]')
    cell.click()
    box = cell.locator("input")
    box.fill(str(epochs))
    box.press("Enter")
    deadline = time.time() + 20
    while cell.inner_text().strip() != str(epochs) and time.time() < deadline:
        time.sleep(0.1)


def wait_until(cond, timeout: float, what: str, poll: float = 0.25):
    """Poll ``cond()`` until it returns something true (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
