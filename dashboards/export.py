"""The page's figures and their exports: one description, drawn on the page and into PNG, SVG, PDF and HTML.

:class:`FigureView` shows a :class:`~dashboards.figures.Figure` on the page
(Bokeh models updated in place). :func:`figure_card` adds the export
buttons, which render *the description the page is showing* at click time:
PNG, SVG and PDF with matplotlib (:mod:`dashboards.render_mpl`), HTML as a
standalone Bokeh page with BokehJS inline (:func:`dashboards.render_bokeh.to_html`).
No export touches the live page's models or document.
"""
from __future__ import annotations

import io
import re
from typing import Callable

import panel as pn

from .figures import Figure
from .render_bokeh import BokehView, to_html

__all__ = ["FORMATS", "render", "FigureView", "export_buttons", "figure_card", "slug"]

#: Export formats, in button order.
FORMATS = ("png", "svg", "pdf", "html")


def render(fig: Figure, fmt: str) -> bytes:
    """Bytes of a figure description as ``png``, ``svg``, ``pdf`` (matplotlib) or ``html`` (standalone Bokeh)."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not isinstance(fig, Figure):
        raise TypeError(f"expected a dashboards.figures.Figure, got {type(fig).__name__}")
    if fmt == "html":
        return to_html(fig).encode()
    from .render_mpl import to_bytes

    return to_bytes(fig, fmt)


def slug(name: str) -> str:
    """A file-name and CSS-safe version of ``name``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "figure"


class FigureView(pn.viewable.Viewer):
    """A figure description on the page: one Bokeh figure per plot, laid out by Panel.

    Parameters
    ----------
    fig : Figure
    css_classes : list of str
        CSS classes of the container (:attr:`pane`).
    """

    def __init__(self, fig: Figure, css_classes=(), **params):
        super().__init__(**params)
        self.view = BokehView(fig)
        self._single = len(fig.plots) == 1 and fig.plots[0] is not None
        if self._single:         # the figure itself: the fewest models (the Data tab's first page)
            self.pane = pn.pane.Bokeh(self.view.figures[0], css_classes=list(css_classes),
                                      sizing_mode="stretch_width" if fig.responsive else "fixed")
        else:
            self.pane = pn.GridBox(ncols=max(1, fig.ncols), css_classes=list(css_classes), margin=0)
            self._fill()

    def _fill(self) -> None:
        if self._single:
            self.pane.object = self.view.figures[0]
            return
        self.pane.objects = [pn.Spacer(width=10) if f is None else pn.pane.Bokeh(f, sizing_mode="fixed")
                             for f in self.view.figures]

    @property
    def fig(self) -> Figure:
        """The description shown now (what the export buttons render)."""
        return self.view.fig

    def update(self, fig: Figure) -> None:
        """Show ``fig``: the same models with new data when its structure is unchanged, else new models."""
        single = len(fig.plots) == 1 and fig.plots[0] is not None
        if not self.view.update(fig):
            if single != self._single:
                raise ValueError("a FigureView shows either one plot or a grid of plots, for good")
            if not single:
                self.pane.ncols = max(1, fig.ncols)
            self._fill()
        else:
            for obj in ([self.pane] if single else self.pane.objects):
                pn.io.push_notebook(obj)      # in a notebook; nothing to do under a server

    def __panel__(self):
        return self.pane


def export_buttons(make: Callable[[], Figure], name: str) -> pn.Row:
    """PNG / SVG / PDF / HTML download buttons for the figure that ``make()`` returns at click time.

    Buttons carry CSS classes ``collop-export-<fmt>`` and ``collop-export-<name>-<fmt>``.
    """
    s = slug(name)
    buttons = []
    for fmt in FORMATS:
        def callback(fmt=fmt):
            return io.BytesIO(render(make(), fmt))
        buttons.append(pn.widgets.FileDownload(
            callback=callback, filename=f"{s}.{fmt}", label=fmt.upper(), color="light",
            embed=False, width=62, height=30, margin=(0, 3),
            css_classes=[f"collop-export-{fmt}", f"collop-export-{s}-{fmt}"]))
    return pn.Row(*buttons, css_classes=["collop-export"], margin=0)


def figure_card(view, name: str, title: str = "", make: Callable[[], Figure] | None = None,
                extra=()) -> pn.Column:
    """A figure, its title and its export buttons (which export what the page shows: ``view.fig``).

    Parameters
    ----------
    view : FigureView or Panel object
        What the page shows; a Panel layout of several views needs ``make``.
    make : callable, optional
        The description to export (default ``view.fig``).

    The view's pane (or the layout) gets CSS class ``collop-<name>``.
    """
    s = slug(name)
    target = view.pane if isinstance(view, FigureView) else view
    if f"collop-{s}" not in target.css_classes:
        target.css_classes = [*target.css_classes, f"collop-{s}"]
    parts = ([pn.pane.Markdown(f"**{title}**", margin=(0, 5))] if title else []) + [
        view, pn.Row(export_buttons(make or (lambda: view.fig), name), *extra, margin=0)]
    return pn.Column(*parts, sizing_mode="stretch_width", css_classes=[f"collop-card-{s}"])
