"""The app's frame: a dataset chooser in the sidebar and the registered tabs."""
from __future__ import annotations

import gc
import sys

import panel as pn
import param

from .access import refusal
from .base import alert, defer, set_alert, spinner
from .config import Config
from .jobs import get_manager
from .state import AppState
from .tabs import TABS
from .text import md
from .upload import ChunkedUpload, format_mb

__all__ = ["App"]

POLL_MS = 500

#: The header bar of the served page.
HEADER_CSS = """
:host { background: #1f5fa0; }
div { color: white; font-size: 1.5em; padding: 8px 24px; }
"""


def _no_mathjax_bundle() -> None:
    """Serve pages without BokehJS's MathJax bundle (1.8 MB of JavaScript) unless ``pn.extension("mathjax")``.

    Panel 1.9 adds ``bokeh-mathjax`` to every served page that holds a
    Markdown or HTML pane (``panel.io.resources._panel_use_mathjax``), although
    the panes render TeX only with that extension loaded. The app writes no
    TeX; without the bundle a ``$$...$$`` in a dataset's attributes shows as
    plain text. Parsing the bundle cost about 0.1 s of each first page load.
    """
    from panel.io import resources

    if getattr(resources, "_panel_use_mathjax", None) is not None:
        resources._panel_use_mathjax = lambda roots: False


_HEAP_FROZEN = False


def _freeze_heap() -> None:
    """Once per process, after the first session has loaded: move every object alive now out of the GC's reach.

    The server's heap (panel, bokeh, torch, xarray, the cached datasets)
    holds millions of objects, and each full collection walked all of them:
    collections of 0.1-0.8 s stalled the event loop while a page loaded.
    Frozen objects are never collected by the cyclic GC (reference counting
    still frees them); with ``--warm`` this runs at start-up, after the
    warm-up session was built, whose own cyclic garbage therefore stays in
    memory (once, not per session).
    """
    global _HEAP_FROZEN
    if not _HEAP_FROZEN:
        _HEAP_FROZEN = True
        gc.collect()
        gc.freeze()


class App(pn.viewable.Viewer):
    """The collop app of one session.

    Parameters
    ----------
    config : Config, optional
        Data roots, runs folder and server settings (default: from
        ``sys.argv`` and the environment).
    dataset : str, optional
        Name (``root:relative``) of the dataset to open first (default: the
        page's ``?dataset=`` query argument, else ``data:langevin.nc``).
    tabs : list of Tab classes, optional
        Default :data:`dashboards.tabs.TABS`.
    warm : bool
        Keep a warm training worker waiting once the Fokker-Planck tab is shown
        (see :mod:`dashboards.jobs`).

    Notes
    -----
    Under ``panel serve``, a session from a client that is not on this
    machine is refused (see :mod:`dashboards.access`) unless the server was
    started with ``--args --allow-remote`` or ``COLLOP_ALLOW_REMOTE=1``: the
    app then builds nothing but a one-sentence page.

    Examples
    --------
    >>> App().servable()                     # doctest: +SKIP   (app.py)
    >>> App()                                # doctest: +SKIP   (a notebook cell)
    """

    state = param.ClassSelector(class_=AppState)

    def __init__(self, config: Config | None = None, dataset: str | None = None, tabs=None, warm: bool = True,
                 **params):
        config = config or Config.from_args(sys.argv[1:])
        self.refused = refusal(pn.state.curdoc, config.allow_remote)
        if self.refused:
            super().__init__(**params)         # no state, no widgets, no jobs: nothing to act on
            return
        manager = get_manager(config.runs, warm=warm, eager=False)   # the FP tab starts the warm worker
        super().__init__(state=AppState(config=config, manager=manager), **params)
        s = self.state
        query = pn.state.session_args.get("dataset") if pn.state.curdoc is not None else None
        if query:
            dataset = query[0].decode(errors="replace")
        self.dataset_select = pn.widgets.Select(label="Dataset", options=s.dataset_options,
                                                css_classes=["collop-dataset-select"], sizing_mode="stretch_width")
        self.upload = ChunkedUpload(config.uploads, self._uploaded, self._upload_failed,
                                    accept=",".join((".nc", ".h5", ".hdf5", ".nc4")),
                                    max_bytes=int(config.max_upload_mb * 1e6), css_classes=["collop-upload"],
                                    sizing_mode="stretch_width")
        self.upload_status = pn.pane.Markdown(pn.bind(md, self.upload.param.progress),
                                              css_classes=["collop-upload-status"], margin=(0, 5))
        self.error = alert(name="dataset-error")
        self.notice = alert(kind="info", name="dataset-notice")
        self.info = pn.pane.Markdown("", css_classes=["collop-dataset-info"], sizing_mode="stretch_width")
        self.busy = spinner("busy")              # shown while a dataset is opened
        # Tabs are built when first shown (the first page builds only the Data tab): until
        # then a tab holds a placeholder with a spinner, swapped for the tab once built. Built
        # tabs stay in the document (not dynamic): a hidden tab's models stay attached, so
        # switching back is instant and Panel never restyles a detached model (it then falls
        # back to stylesheets on its CDN, which an offline machine cannot reach).
        self._tab_classes = list(tabs or TABS)
        self._built: dict[int, object] = {}
        self._slots = [pn.Column(self._placeholder(cls.title), sizing_mode="stretch_width", margin=0)
                       for cls in self._tab_classes]
        self.tab_view = pn.Tabs(*[(cls.title, slot) for cls, slot in zip(self._tab_classes, self._slots)],
                                dynamic=False, css_classes=["collop-tabs"], sizing_mode="stretch_width")
        self.tab_view.param.watch(self._tab_chosen, "active")
        self.dataset_select.param.watch(self._chosen, "value")
        s.param.watch(self._show_tab, "show_tab")
        s.param.watch(lambda *_: self._describe(), ["dataset", "error", "notice"])
        self.tab(0)
        self._choose(dataset or s.default_name(), set_widget=True)
        self._callback = None
        if pn.state.curdoc is not None:
            pn.state.onload(self._start_polling)
            if getattr(pn.state.curdoc, "session_context", None) is not None:   # under `panel serve`
                pn.state.onload(_freeze_heap)

    @staticmethod
    def _placeholder(title: str):
        return pn.Row(pn.indicators.LoadingSpinner(value=True, width=28, height=28),
                      pn.pane.Markdown(f"Loading the {title} tab…"), css_classes=["collop-tab-loading"])

    # -- tabs ----------------------------------------------------------------------
    def tab(self, i: int):
        """Tab ``i``, built (and put in its slot of the tab view, in place of the placeholder) on first use."""
        if i not in self._built:
            t = self._built[i] = self._tab_classes[i](state=self.state)
            self._slots[i].objects = [t]
        return self._built[i]

    def _tab_chosen(self, event) -> None:
        i = event.new
        if i in self._built:
            self._built[i].show()
        else:      # the placeholder (with its spinner) shows while the tab is built on the next tick
            defer(lambda: self.tab(i).show())

    @property
    def tabs(self) -> list:
        """Every tab, in order (builds those not built yet)."""
        return [self.tab(i) for i in range(len(self._tab_classes))]

    # -- sidebar -------------------------------------------------------------------
    def _chosen(self, event) -> None:
        """A dataset chosen in the page: show the spinner, open it on the next tick."""
        if event.new and event.new != self.state.dataset_name:
            self.busy.visible = True
            self.tab_view.loading = True
            defer(self._choose, event.new)

    def _choose(self, name, set_widget: bool = False) -> None:
        try:
            self._choose_now(name, set_widget)
        finally:
            self.busy.visible = False
            self.tab_view.loading = False

    def _choose_now(self, name, set_widget: bool) -> None:
        if not name:
            return
        if name not in self.state.dataset_options.values():
            self.state.refresh_datasets()
            self.dataset_select.options = self.state.dataset_options
        self.state.notice = ""
        self.state.select(name)
        if set_widget and name in self.dataset_select.options.values() and self.dataset_select.value != name:
            self.dataset_select.value = name
        self._describe()

    def _uploaded(self, filename: str, path) -> None:
        ok = self.state.upload_file(filename, path)
        if ok:
            self.dataset_select.options = self.state.dataset_options
            self.dataset_select.value = self.state.dataset_name
        self._describe()

    def _upload_failed(self, message: str) -> None:
        self.state.notice = ""
        self.state.error = self.state.public(message)

    def _describe(self) -> None:
        s = self.state
        set_alert(self.error, s.error, "danger")
        set_alert(self.notice, s.notice, "info")
        ds = s.dataset
        if ds is None:
            self.info.object = ""
            return
        u = ds.attrs
        parts = [f"**{ds.sizes['population']}** populations · **{ds.sizes['time']}** frames · "
                 f"**{ds.sizes['vx']}×{ds.sizes['vy']}** bins",
                 f"units: v in {md(u.get('velocity_units', '?'))}, t in {md(u.get('time_units', '?'))}",
                 "particles: " + (md(s.particles_path.name) if s.particles_path else "none (no Tracks)"),
                 "true operator: " + (md(s.truth_path.name) if s.truth_path else "none"),
                 f"uploads up to {format_mb(s.config.max_upload_mb * 1e6)}"]
        self.info.object = "\n\n".join(parts)

    def _show_tab(self, event) -> None:
        """Bring a tab forward; a tab not built yet is built on the next tick, once it is visible.

        (A Tabulator made or refilled inside a hidden tab keeps showing its old rows.)
        """
        if not event.new:
            return
        for i, cls in enumerate(self._tab_classes):
            if cls.title == event.new:
                self.tab_view.active = i
        self.state.show_tab = ""

    # -- polling -------------------------------------------------------------------
    def _start_polling(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.tick, period=POLL_MS)

    def tick(self) -> None:
        """One poll: re-read the runs folder if it changed, then let every tab update."""
        self.state.refresh_runs()
        for t in list(self._built.values()):
            t.tick()

    # -- views ---------------------------------------------------------------------
    def sidebar(self) -> list:
        """The sidebar's contents."""
        return [pn.Row(self.dataset_select, self.busy, sizing_mode="stretch_width"),
                pn.pane.Markdown("Upload a phase-space file:", margin=(10, 5, 0, 5)),
                self.upload, self.upload_status, self.error, self.notice, self.info]

    def __panel__(self):
        if self.refused:
            return pn.pane.Markdown(md(self.refused), css_classes=["collop-refused"])
        return pn.Row(pn.Column(*self.sidebar(), width=300), self.tab_view, sizing_mode="stretch_width")

    def page(self, title: str = "collop") -> pn.Column:
        """The served page: a header bar, the sidebar (dataset chooser) and the tabs (used by :meth:`servable`).

        A plain layout, not a :mod:`panel.template`: the Bootstrap template's extra
        roots, template scripts and styles made the first page load about 0.6 s
        slower (and the Fast template's Google web font blocks the first paint
        offline).
        """
        header = pn.pane.HTML(f"<div>{md(title)}</div>", css_classes=["collop-header"], sizing_mode="stretch_width",
                              margin=0, stylesheets=[HEADER_CSS])
        if self.refused:
            return pn.Column(header, pn.pane.Markdown(md(self.refused), css_classes=["collop-refused"]),
                             sizing_mode="stretch_width", margin=0)
        body = pn.Row(pn.Column(*self.sidebar(), width=320, css_classes=["collop-sidebar"]), self.tab_view,
                      sizing_mode="stretch_width")
        return pn.Column(header, body, sizing_mode="stretch_width", margin=0)

    def servable(self, title: str | None = None, location: bool = True, area: str = "main",
                 target: str | None = None):
        """Serve the app's page (``panel serve app.py``)."""
        doc = pn.state.curdoc
        if doc is None or getattr(doc, "session_context", None) is None:   # not under `panel serve`
            return super().servable(title, location, area, target)
        _no_mathjax_bundle()
        return self.page(title or "collop").servable(title=title or "collop", location=location and not self.refused)
