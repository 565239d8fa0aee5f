"""A :class:`~dashboards.figures.Figure` drawn with Bokeh: the page's view and the standalone HTML export.

:class:`BokehView` builds the Bokeh models of a description and updates them
in place when a new description of the same structure arrives (a frame step
sends only the new arrays, colour range and titles). :func:`to_html` draws a
fresh copy into a standalone page with BokehJS inline: it never touches the
models or the document of a live session.

Each Bokeh figure carries its plot's description (:meth:`Figure.describe`)
as JSON in ``tags`` and the name ``collop-plot``, so a test can check the page
against what the exports draw.
"""
from __future__ import annotations

import functools
import json

import numpy as np
from bokeh.models import (ColorBar, ColumnDataSource, DataRange1d, HoverTool, Legend, LegendItem,
                          LinearColorMapper, LogColorMapper, Range1d, Whisker)
from bokeh.plotting import figure as bk_figure

from .figures import Contour, Figure, Image, Line, Plot

__all__ = ["BokehView", "palette", "to_html"]

TITLE_SIZE = "12pt"
_DASH = {"solid": "solid", "dashed": "dashed", "dotted": "dotted"}


@functools.lru_cache(maxsize=32)
def palette(cmap: str, n: int = 256) -> tuple[str, ...]:
    """``n`` colours of the matplotlib colormap ``cmap`` as hex strings.

    The common perceptual maps come from :mod:`bokeh.palettes` (the same
    colour tables as matplotlib's), so the first page does not import
    matplotlib; any other name is sampled from matplotlib.
    """
    if n == 256:
        from bokeh import palettes

        table = {"viridis": "Viridis256", "magma": "Magma256", "inferno": "Inferno256", "plasma": "Plasma256",
                 "cividis": "Cividis256"}
        if cmap in table:
            return tuple(c.lower() for c in getattr(palettes, table[cmap]))
    import matplotlib
    from matplotlib.colors import to_hex

    cm = matplotlib.colormaps[cmap]
    return tuple(to_hex(cm(i / (n - 1))) for i in range(n))


def _mapper(scale, values):
    lo, hi = scale.limits(values)
    cls = LogColorMapper if scale.log else LinearColorMapper
    return cls(palette=list(palette(scale.cmap)), low=lo, high=hi, nan_color=(0, 0, 0, 0),
               low_color=None, high_color=None)


def _image_data(ly: Image) -> dict:
    x0, y0, x1, y1 = (float(b) for b in ly.bounds)
    vals = np.asarray(ly.values, dtype=float)
    if ly.color.log:
        vals = np.where(vals > 0, vals, np.nan)
    return {"image": [vals], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}


def _line_data(ly: Line) -> dict:
    d = {"x": np.asarray(ly.x, dtype=float), "y": np.asarray(ly.y, dtype=float)}
    if ly.yerr is not None:
        e = np.asarray(ly.yerr, dtype=float)
        d["lower"], d["upper"] = d["y"] - e, d["y"] + e
    if ly.band is not None:
        d["lower"], d["upper"] = (np.asarray(b, dtype=float) for b in ly.band)
    return d


def _range(axis, layers, dim):
    if axis.range is not None:
        return Range1d(*axis.range)
    imgs = [ly for ly in layers if isinstance(ly, Image)]
    if imgs:
        b = imgs[0].bounds
        return Range1d(b[0], b[2]) if dim == "x" else Range1d(b[1], b[3])
    if not has_data(layers):          # nothing to fit: a fixed placeholder range (BokehJS cannot fit none)
        return Range1d(1e-3, 1.0) if axis.log else Range1d(0.0, 1.0)
    return DataRange1d(only_visible=True)


def has_data(layers) -> bool:
    """Whether any line or contour holds a finite point (an image always does)."""
    for ly in layers:
        if isinstance(ly, (Image, Contour)):
            return True
        if isinstance(ly, Line) and np.isfinite(np.asarray(ly.y, dtype=float)).any():
            return True
    return False


class _PlotModels:
    """The Bokeh models of one plot and how to refresh them."""

    def __init__(self, plot: Plot, responsive: bool, toolbar: bool):
        self.plot = plot
        kw = dict(title=plot.title, x_axis_type="log" if plot.x.log else "linear",
                  y_axis_type="log" if plot.y.log else "linear", x_axis_label=plot.x.text,
                  y_axis_label=plot.y.text, tools="pan,wheel_zoom,box_zoom,reset,save",
                  toolbar_location=("above" if plot.legend_at == "below" else "right") if toolbar else None,
                  name="collop-plot",
                  x_range=_range(plot.x, plot.layers, "x"), y_range=_range(plot.y, plot.layers, "y"),
                  match_aspect=plot.equal_aspect)
        if responsive:
            kw.update(sizing_mode="stretch_width", height=plot.height + 80, min_width=300)
        else:
            kw.update(frame_width=plot.width, frame_height=plot.height)
        p = self.fig = bk_figure(**kw)
        p.title.text_font_size = TITLE_SIZE
        for axis, which in ((plot.x, p.xaxis), (plot.y, p.yaxis)):
            if axis.integer:
                which.ticker.min_interval = 1        # whole numbers only
        self.parts = []
        items = []
        colors = iter(plot.line_colors())
        for ly in plot.layers:
            if isinstance(ly, Image):
                src = ColumnDataSource(_image_data(ly))
                mapper = _mapper(ly.color, ly.values)
                r = p.image(image="image", x="x", y="y", dw="dw", dh="dh", source=src, color_mapper=mapper)
                r.nonselection_glyph = r.muted_glyph = None
                p.add_tools(HoverTool(renderers=[r], tooltips=[(plot.x.label, "$x"), (plot.y.label, "$y"),
                                                               (ly.name or ly.color.label or "value", "@image")]))
                p.add_layout(ColorBar(color_mapper=mapper, title=ly.color.text, width=12), "right")
                self.parts.append(("image", src, mapper))
            elif isinstance(ly, Line):
                color = next(colors)
                src = ColumnDataSource(_line_data(ly))
                rs = []
                if ly.band is not None:
                    rs.append(p.varea(x="x", y1="lower", y2="upper", source=src, fill_color=color, fill_alpha=0.2))
                if ly.line:
                    rs.append(p.line("x", "y", source=src, line_color=color, line_width=ly.width,
                                     line_dash=_DASH.get(ly.dash, "solid")))
                if ly.marker or not ly.line:
                    rs.append(p.scatter("x", "y", source=src, color=color, size=7))
                if ly.yerr is not None:
                    p.add_layout(Whisker(source=src, base="x", upper="upper", lower="lower", line_color=color))
                if ly.label:
                    items.append(LegendItem(label=ly.label, renderers=rs))
                self.parts.append(("line", src, None))
            elif isinstance(ly, Contour):
                fill = list(palette(ly.color.cmap, max(len(ly.levels) - 1, 1))) if ly.filled else None
                r = p.contour(np.asarray(ly.x, float), np.asarray(ly.y, float), np.asarray(ly.z, float),
                              np.asarray(ly.levels, float), fill_color=fill,
                              line_color=ly.line_color if not ly.filled else "black", line_width=1)
                if ly.filled:
                    p.add_layout(r.construct_color_bar(title=ly.color.text, width=12), "right")
                self.parts.append(("contour", r, None))
        if items and plot.legend:
            below = plot.legend_at == "below"
            p.add_layout(Legend(items=items, location="top_left", click_policy="hide",
                                orientation="horizontal" if below else "vertical", label_text_font_size="9pt",
                                spacing=2 if below else 3, padding=4), "below" if below else "right")
        lines = [ly for ly in plot.layers if isinstance(ly, Line)]
        if lines:
            p.add_tools(HoverTool(tooltips=[(plot.x.label, "$x"), (plot.y.label, "$y")], mode="mouse"))

    def update(self, plot: Plot) -> None:
        p = self.fig
        if p.title.text != plot.title:
            p.title.text = plot.title
        if p.xaxis[0].axis_label != plot.x.text:
            p.xaxis.axis_label = plot.x.text
        if p.yaxis[0].axis_label != plot.y.text:
            p.yaxis.axis_label = plot.y.text
        for ax, dim in ((plot.x, "x"), (plot.y, "y")):
            rng = p.x_range if dim == "x" else p.y_range
            want = _range(ax, plot.layers, dim)
            if type(want) is not type(rng):          # fitted <-> fixed (a plot got or lost its data)
                setattr(p, f"{dim}_range", want)
            elif isinstance(want, Range1d) and (rng.start, rng.end) != (want.start, want.end):
                rng.update(start=want.start, end=want.end)
        for (kind, obj, mapper), ly in zip(self.parts, plot.layers):
            if kind == "image":
                obj.data = _image_data(ly)
                lo, hi = ly.color.limits(ly.values)
                pal = list(palette(ly.color.cmap))
                mapper.update(low=lo, high=hi, **({"palette": pal} if list(mapper.palette) != pal else {}))
            elif kind == "line":
                obj.data = _line_data(ly)
            elif kind == "contour":
                from bokeh.plotting.contour import contour_data

                obj.set_data(contour_data(np.asarray(ly.x, float), np.asarray(ly.y, float),
                                          np.asarray(ly.z, float), np.asarray(ly.levels, float),
                                          want_fill=ly.filled, want_line=True))
        self.plot = plot
        p.tags = [json.dumps(_plot_tag(plot))]


def _plot_tag(plot: Plot) -> dict:
    return Figure([plot]).describe()["plots"][0]


class BokehView:
    """The Bokeh models of a figure description, updated in place while its structure stays the same.

    Parameters
    ----------
    fig : Figure
    toolbar : bool
        Show the Bokeh toolbar (pan, zoom, save).

    Attributes
    ----------
    figures : list of bokeh.plotting.figure
        One per plot (None for empty cells); replaced by :meth:`update` when
        the new description's structure differs.
    model : bokeh.models.LayoutDOM
        The figure (one plot) or a grid of the figures (built on first use).
    """

    def __init__(self, fig: Figure, toolbar: bool = True):
        self.toolbar = toolbar
        self.fig = fig
        self._build(fig)

    def _build(self, fig: Figure) -> None:
        self._plots = [None if p is None else _PlotModels(p, fig.responsive and len(fig.plots) == 1, self.toolbar)
                       for p in fig.plots]
        for pm in self._plots:
            if pm is not None:
                pm.fig.tags = [json.dumps(_plot_tag(pm.plot))]
        self._model = None

    @property
    def model(self):
        if self._model is None:
            figs = self.figures
            if len(figs) == 1 and figs[0] is not None:
                self._model = figs[0]
            else:
                from bokeh.layouts import gridplot

                self._model = gridplot(figs, ncols=max(1, self.fig.ncols), merge_tools=True,
                                       toolbar_location="right" if self.toolbar else None)
        return self._model

    @property
    def figures(self) -> list:
        """The Bokeh figure of each plot (None for empty cells)."""
        return [None if pm is None else pm.fig for pm in self._plots]

    def update(self, fig: Figure) -> bool:
        """Show ``fig``; True if the models were updated in place, False if :attr:`figures` were rebuilt."""
        same = fig.structure() == self.fig.structure()
        self.fig = fig
        if not same:
            self._build(fig)
            return False
        for pm, plot in zip(self._plots, fig.plots):
            if pm is not None:
                pm.update(plot)
        return True


def _bokeh_only_inline():
    """BokehJS inline and nothing else.

    Bokeh's resources add the ``__javascript__`` of every model class
    imported in the process (Panel's ESM components bring a script served
    by the Panel server); a figure of Bokeh's own models needs none of them,
    and an exported page must not ask any server for anything.
    """
    from bokeh.resources import Resources

    class BokehOnly(Resources):
        def _collect_external_resources(self, resource_attr):
            return []

        def clone(self, *, components=None):       # bokeh's bundler clones its resources
            out = super().clone(components=components)
            out.__class__ = BokehOnly
            return out

    return BokehOnly(mode="inline")


def to_html(fig: Figure, title: str | None = None) -> str:
    """A standalone HTML page of ``fig`` with BokehJS inline: it opens offline and asks no server for anything."""
    from bokeh.embed import file_html

    model = BokehView(fig).model           # fresh models, never those of a live page
    return file_html(model, resources=_bokeh_only_inline(), title=title or fig.title or fig.name)
