"""The app's frame: a dataset chooser in the sidebar and the registered tabs."""
from __future__ import annotations

import gc
import sys

import panel as pn
import param

from .base import alert, set_alert
from .config import Config
from .jobs import get_manager
from .state import AppState
from .tabs import TABS

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

    The server's heap (panel, bokeh, holoviews, xarray, the cached datasets)
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
        Data roots and runs folder (default: from ``sys.argv`` and the environment).
    dataset : str, optional
        Name (``root:relative``) of the dataset to open first (default: the
        page's ``?dataset=`` query argument, else ``data:langevin.nc``).
    tabs : list of Tab classes, optional
        Default :data:`dashboards.tabs.TABS`.
    warm : bool
        Keep a warm training worker waiting once the Fokker-Planck tab is shown
        (see :mod:`dashboards.jobs`).

    Examples
    --------
    >>> App().servable()                     # doctest: +SKIP   (app.py)
    >>> App()                                # doctest: +SKIP   (a notebook cell)
    """

    state = param.ClassSelector(class_=AppState)

    def __init__(self, config: Config | None = None, dataset: str | None = None, tabs=None, warm: bool = True,
                 **params):
        config = config or Config.from_args(sys.argv[1:])
        manager = get_manager(config.runs, warm=warm, eager=False)   # the FP tab starts the warm worker
        super().__init__(state=AppState(config=config, manager=manager), **params)
        s = self.state
        query = pn.state.session_args.get("dataset") if pn.state.curdoc is not None else None
        if query:
            dataset = query[0].decode(errors="replace")
        self.dataset_select = pn.widgets.Select(label="Dataset", options=s.dataset_options,
                                                css_classes=["collop-dataset-select"], sizing_mode="stretch_width")
        self.upload = pn.widgets.FileInput(accept=".nc,.h5,.hdf5,.nc4", css_classes=["collop-upload"],
                                           sizing_mode="stretch_width", multiple=False)
        self.error = alert(name="dataset-error")
        self.info = pn.pane.Markdown("", css_classes=["collop-dataset-info"], sizing_mode="stretch_width")
        # Tabs are built when first shown (the first page builds only the Data tab): until
        # then a tab holds a placeholder, swapped for the tab when it is chosen.
        self._tab_classes = list(tabs or TABS)
        self._built: dict[int, object] = {}
        self.tab_view = pn.Tabs(*[(cls.title, pn.pane.Markdown("Loading…")) for cls in self._tab_classes],
                                dynamic=True, css_classes=["collop-tabs"], sizing_mode="stretch_width")
        self.tab_view.param.watch(lambda e: self.tab(e.new).show(), "active")
        self.dataset_select.param.watch(lambda e: self._choose(e.new), "value")
        self.upload.param.watch(self._uploaded, "value")
        s.param.watch(self._show_tab, "show_tab")
        s.param.watch(lambda *_: self._describe(), ["dataset", "error"])
        self.tab(0)
        self._choose(dataset or s.default_name(), set_widget=True)
        self._callback = None
        if pn.state.curdoc is not None:
            pn.state.onload(self._start_polling)
            if getattr(pn.state.curdoc, "session_context", None) is not None:   # under `panel serve`
                pn.state.onload(_freeze_heap)

    # -- tabs ----------------------------------------------------------------------
    def tab(self, i: int):
        """Tab ``i``, built (and swapped into the tab view) on first use."""
        if i not in self._built:
            t = self._built[i] = self._tab_classes[i](state=self.state)
            self.tab_view[i] = (t.title, t)
        return self._built[i]

    @property
    def tabs(self) -> list:
        """Every tab, in order (builds those not built yet)."""
        return [self.tab(i) for i in range(len(self._tab_classes))]

    # -- sidebar -------------------------------------------------------------------
    def _choose(self, name, set_widget: bool = False) -> None:
        if not name:
            return
        if name not in self.state.dataset_options.values():
            self.state.refresh_datasets()
            self.dataset_select.options = self.state.dataset_options
        self.state.select(name)
        if set_widget and name in self.dataset_select.options.values() and self.dataset_select.value != name:
            self.dataset_select.value = name
        self._describe()

    def _uploaded(self, event) -> None:
        if not event.new:
            return
        ok = self.state.upload(self.upload.filename or "upload.nc", event.new)
        if ok:
            self.dataset_select.options = self.state.dataset_options
            self.dataset_select.value = self.state.dataset_name
        self._describe()

    def _describe(self) -> None:
        s = self.state
        set_alert(self.error, s.error, "danger")
        ds = s.dataset
        if ds is None:
            self.info.object = ""
            return
        parts = [f"**{ds.sizes['population']}** populations · **{ds.sizes['time']}** frames · "
                 f"**{ds.sizes['vx']}×{ds.sizes['vy']}** bins",
                 f"units: v in {ds.attrs.get('velocity_units', '?')}, t in {ds.attrs.get('time_units', '?')}",
                 "particles: " + (s.particles_path.name if s.particles_path else "none (no Tracks)"),
                 "true operator: " + (s.truth_path.name if s.truth_path else "none")]
        self.info.object = "\n\n".join(parts)

    def _show_tab(self, event) -> None:
        for i, cls in enumerate(self._tab_classes):
            if cls.title == event.new:
                self.tab(i)
                self.tab_view.active = i
        self.state.show_tab = ""

    # -- polling -------------------------------------------------------------------
    def _start_polling(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.tick, period=POLL_MS)

    def tick(self) -> None:
        """One poll: re-read the runs folder if it changed, then let every tab update its streams."""
        self.state.refresh_runs()
        for t in list(self._built.values()):
            t.tick()

    # -- views ---------------------------------------------------------------------
    def sidebar(self) -> list:
        """The sidebar's contents."""
        return [self.dataset_select, pn.pane.Markdown("Upload a phase-space file:", margin=(10, 5, 0, 5)),
                self.upload, self.error, self.info]

    def __panel__(self):
        return pn.Row(pn.Column(*self.sidebar(), width=300), self.tab_view, sizing_mode="stretch_width")

    def page(self, title: str = "collop") -> pn.Column:
        """The served page: a header bar, the sidebar (dataset chooser) and the tabs (used by :meth:`servable`).

        A plain layout, not a :mod:`panel.template`: the Bootstrap template's extra
        roots, template scripts and styles made the first page load about 0.6 s
        slower (and the Fast template's Google web font blocks the first paint
        offline).
        """
        header = pn.pane.HTML(f"<div>{title}</div>", css_classes=["collop-header"], sizing_mode="stretch_width",
                              margin=0, stylesheets=[HEADER_CSS])
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
        return self.page(title or "collop").servable(title=title or "collop", location=location)
