"""Export of any figure as PNG, SVG (matplotlib, no browser needed) or standalone HTML.

One function renders, one builds the three buttons; every figure of the app
goes through :func:`export_buttons`.
"""
from __future__ import annotations

import io
import re
from typing import Callable

import holoviews as hv
import panel as pn
from bokeh.resources import INLINE

__all__ = ["FORMATS", "render", "export_buttons", "figure_card"]

#: Export formats and the HoloViews backend that renders each.
FORMATS = {"png": "matplotlib", "svg": "matplotlib", "html": "bokeh"}


def _matplotlib_ready() -> None:
    if "matplotlib" not in hv.Store.renderers:
        import matplotlib
        matplotlib.use("Agg", force=False)
        current = hv.Store.current_backend
        hv.renderer("matplotlib")               # loads the backend's plotting classes
        hv.Store.set_current_backend(current)   # the page keeps Bokeh


def render(obj, fmt: str) -> bytes:
    """Bytes of a HoloViews object as ``png``, ``svg`` or ``html``.

    PNG and SVG are drawn with HoloViews' matplotlib backend (no browser);
    HTML is a standalone Bokeh page with BokehJS inline (works offline).
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if isinstance(obj, hv.DynamicMap):
        obj = obj.last if obj.last is not None else obj[()]
    buf = io.BytesIO()
    if FORMATS[fmt] == "matplotlib":
        _matplotlib_ready()
        hv.save(obj, buf, fmt=fmt, backend="matplotlib", dpi=120) if fmt == "png" else \
            hv.save(obj, buf, fmt=fmt, backend="matplotlib")
    else:
        hv.save(obj, buf, fmt="html", backend="bokeh", resources=INLINE)
    return buf.getvalue()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "figure"


def export_buttons(make: Callable[[], object], name: str) -> pn.Row:
    """PNG / SVG / HTML download buttons for the figure that ``make()`` returns.

    Parameters
    ----------
    make : callable
        Returns the HoloViews object to export (called at click time, so the
        export shows the figure's current data).
    name : str
        File stem and CSS hook: buttons carry ``collop-export-<fmt>`` and
        ``collop-export-<name>-<fmt>``.
    """
    slug = _slug(name)
    buttons = []
    for fmt in FORMATS:
        def callback(fmt=fmt):
            return io.BytesIO(render(make(), fmt))
        buttons.append(pn.widgets.FileDownload(
            callback=callback, filename=f"{slug}.{fmt}", label=fmt.upper(), color="light",
            embed=False, width=70, height=30, margin=(0, 4),
            css_classes=[f"collop-export-{fmt}", f"collop-export-{slug}-{fmt}"]))
    return pn.Row(*buttons, css_classes=["collop-export"], margin=0)


def figure_card(obj, make: Callable[[], object], name: str, title: str = "", css=(), **kw) -> pn.Column:
    """A figure with its export buttons.

    Parameters
    ----------
    obj : HoloViews object, bound function or Panel object
        What the page shows (a DynamicMap fed by streams, a function bound
        to parameters, or a Panel pane / layout, used as it is).
    make : callable
        Returns the static figure to export (see :func:`export_buttons`).
    name : str
        The pane carries CSS class ``collop-<name>`` (plus ``css``); the
        buttons ``collop-export-<name>-<fmt>``.
    """
    classes = [f"collop-{_slug(name)}", *css]
    if isinstance(obj, pn.viewable.Viewable):
        obj.css_classes = [*obj.css_classes, *(c for c in classes if c not in obj.css_classes)]
        pane = obj
    else:
        pane = pn.panel(obj, css_classes=classes, sizing_mode="stretch_width", **kw)
    parts = ([pn.pane.Markdown(f"**{title}**", margin=(0, 5))] if title else []) + [
        pane, export_buttons(make, name)]
    return pn.Column(*parts, sizing_mode="stretch_width")
