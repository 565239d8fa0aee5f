"""The figure description: what a figure shows, once, for the page and for every export.

A :class:`Figure` is a grid of :class:`Plot` s; a plot has two :class:`Axis`
(label, unit, log or linear, fixed or fitted range) and layers:
:class:`Image` (a density on a regular grid, coloured by a
:class:`ColorScale`), :class:`Line` (a curve, optionally with error bars or a
band, or markers only), :class:`Contour` (iso-lines of a 2D field). Nothing
here draws: :mod:`dashboards.render_bokeh` turns a description into Bokeh
models for the page (and the standalone HTML export), and
:mod:`dashboards.render_mpl` into a matplotlib figure for PNG, SVG and PDF.
Both read the same fields, so the page and its exports show the same
colormap, colour range, scales, colour bars, labels and units.

Rules every renderer follows:

- every image and every filled contour gets a colour bar labelled with its
  scale's label and unit;
- a :class:`ColorScale` names a matplotlib colormap; the page samples the
  same colormap into a 256-colour palette;
- :meth:`ColorScale.diverging` is centred at zero (limits ``-m, m``);
- NaN values are drawn blank (gaps in lines, transparent image cells);
- axis text is ``label [unit]``.

Examples
--------
>>> fig = Figure([Plot("f at t = 0", Axis("vx", "0.01c"), Axis("vy", "0.01c"),
...                    [Image(values, (-5, -5, 5, 5), ColorScale("viridis", label="f"))])])  # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Axis", "ColorScale", "Image", "Line", "Contour", "Plot", "Figure", "SEQUENTIAL", "DIVERGING",
           "axis_text"]

#: Colormap of densities and other non-negative fields.
SEQUENTIAL = "viridis"
#: Colormap of signed fields centred at zero (blue negative, white zero, red positive).
DIVERGING = "RdBu_r"


def axis_text(label: str, unit: str = "") -> str:
    """``label [unit]`` (just ``label`` without a unit)."""
    return f"{label} [{unit}]" if unit else label


@dataclass(frozen=True)
class Axis:
    """One axis of a plot.

    Parameters
    ----------
    label : str
        What the axis shows (``"v"``, ``"A∥"``).
    unit : str
        Its unit (``"0.01c"``); ``""`` for dimensionless quantities whose
        label says so.
    log : bool
        Logarithmic scale.
    range : (float, float), optional
        Fixed limits; None fits the data (NaN ignored).
    integer : bool
        Ticks at whole numbers only (a count such as the kernel size k).
    """

    label: str
    unit: str = ""
    log: bool = False
    range: tuple | None = None
    integer: bool = False

    @property
    def text(self) -> str:
        return axis_text(self.label, self.unit)


@dataclass(frozen=True)
class ColorScale:
    """How values map to colours.

    Parameters
    ----------
    cmap : str
        A matplotlib colormap name (:data:`SEQUENTIAL`, :data:`DIVERGING`, ...).
    low, high : float, optional
        Colour range; None takes the data's finite minimum / maximum (the
        positive minimum on a log scale).
    log : bool
        Logarithmic colour scale (values <= 0 are drawn blank).
    label, unit : str
        The colour bar's title.
    """

    cmap: str = SEQUENTIAL
    low: float | None = None
    high: float | None = None
    log: bool = False
    label: str = ""
    unit: str = ""

    @classmethod
    def diverging(cls, limit: float, label: str = "", unit: str = "") -> "ColorScale":
        """A diverging scale centred at zero from ``-limit`` to ``limit``."""
        m = float(abs(limit)) if limit and math.isfinite(limit) else 1.0
        return cls(DIVERGING, -m, m, False, label, unit)

    @property
    def text(self) -> str:
        return axis_text(self.label, self.unit)

    def limits(self, values) -> tuple[float, float]:
        """The colour range used for ``values`` (fills ``low`` / ``high`` from the data when None)."""
        lo, hi = self.low, self.high
        if lo is None or hi is None:
            v = np.asarray(values, dtype=float)
            v = v[np.isfinite(v)]
            if self.log:
                v = v[v > 0]
            dlo, dhi = (float(v.min()), float(v.max())) if v.size else ((1e-3, 1.0) if self.log else (0.0, 1.0))
            lo = dlo if lo is None else lo
            hi = dhi if hi is None else hi
        if self.log:
            lo = lo if lo > 0 else (hi * 1e-6 if hi > 0 else 1e-6)
            hi = hi if hi > lo else lo * 10
        elif not hi > lo:
            hi = lo + (abs(lo) if lo else 1.0)
        return float(lo), float(hi)


@dataclass
class Image:
    """A field on a regular grid.

    Parameters
    ----------
    values : ndarray, shape (ny, nx)
        Row 0 is the lowest y, column 0 the lowest x.
    bounds : (x0, y0, x1, y1)
        Outer edges of the grid (cell edges, not centres).
    color : ColorScale
    name : str
        Name of the value in hover read-outs (default the scale's label).
    """

    values: np.ndarray
    bounds: tuple
    color: ColorScale = field(default_factory=ColorScale)
    name: str = ""


@dataclass
class Line:
    """A curve, optionally with error bars (``yerr``) or a shaded band (``band = (lower, upper)``).

    ``line=False, marker=True`` draws points only (e.g. a Pareto plot).
    ``color=None`` takes the next colour of the figure's cycle.
    """

    x: np.ndarray
    y: np.ndarray
    label: str = ""
    color: str | None = None
    dash: str = "solid"          # "solid", "dashed", "dotted"
    width: float = 2.0
    line: bool = True
    marker: bool = False
    yerr: np.ndarray | None = None
    band: tuple | None = None


@dataclass
class Contour:
    """Iso-lines of ``z(y, x)`` at ``levels``; ``filled`` colours the bands by ``color`` (with a colour bar)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray                # (ny, nx)
    levels: np.ndarray
    color: ColorScale = field(default_factory=ColorScale)
    filled: bool = False
    line_color: str = "black"


#: Colours of successive lines (matplotlib's tab10, also used on the page).
CYCLE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf"]


@dataclass
class Plot:
    """One plot: a title, two axes and layers drawn in order.

    Parameters
    ----------
    title : str
    x, y : Axis
    layers : list of Image, Line, Contour
    equal_aspect : bool
        One unit on x as long as one on y (velocity maps).
    legend : bool
        Show a legend of the labelled lines (placed outside the data area).
    legend_at : {"right", "below"}
        Where the legend goes.
    width, height : int
        Size of the data area in pixels on the page (and its proportions in exports).
    """

    title: str
    x: Axis
    y: Axis
    layers: list = field(default_factory=list)
    equal_aspect: bool = False
    legend: bool = True
    legend_at: str = "right"
    width: int = 300
    height: int = 260

    def images(self) -> list:
        """The layers coloured by a scale (each gets a colour bar)."""
        return [ly for ly in self.layers if isinstance(ly, Image) or (isinstance(ly, Contour) and ly.filled)]

    def lines(self) -> list:
        return [ly for ly in self.layers if isinstance(ly, Line)]

    def line_colors(self) -> list[str]:
        """The colour of each line, in order (explicit ones kept, the others from :data:`CYCLE`)."""
        out, k = [], 0
        for ly in self.lines():
            if ly.color:
                out.append(ly.color)
            else:
                out.append(CYCLE[k % len(CYCLE)])
                k += 1
        return out


@dataclass
class Figure:
    """A grid of plots.

    Parameters
    ----------
    plots : list of Plot
        In reading order; ``None`` leaves a cell empty.
    ncols : int
        Plots per row.
    title : str
        Figure title (exports).
    name : str
        File stem of exports and CSS hook on the page.
    responsive : bool
        On the page, stretch a single plot to the available width.
    """

    plots: list
    ncols: int = 1
    title: str = ""
    name: str = "figure"
    responsive: bool = False

    def structure(self) -> tuple:
        """What must stay the same for a page figure to be updated in place (not rebuilt)."""
        out = [self.ncols, self.responsive]
        for p in self.plots:
            if p is None:
                out.append(None)
                continue
            kinds = tuple((type(ly).__name__, getattr(getattr(ly, "color", None), "log", None),
                           isinstance(ly, Line) and ly.yerr is not None, isinstance(ly, Line) and ly.band is not None,
                           isinstance(ly, Line) and ly.marker, isinstance(ly, Line) and ly.line)
                          for ly in p.layers)
            out.append((p.x.log, p.y.log, p.equal_aspect, p.legend, p.legend_at, kinds,
                        tuple(ly.label for ly in p.lines())))
        return tuple(out)

    def describe(self) -> dict:
        """A JSON-able summary that page and exports are checked against (tests, metadata)."""
        plots = []
        for p in self.plots:
            if p is None:
                plots.append(None)
                continue
            scales = []
            for ly in p.images():
                lo, hi = ly.color.limits(ly.values if isinstance(ly, Image) else ly.z)
                scales.append({"cmap": ly.color.cmap, "log": ly.color.log, "low": lo, "high": hi,
                               "label": ly.color.text})
            plots.append({"title": p.title, "x": p.x.text, "y": p.y.text, "xlog": p.x.log, "ylog": p.y.log,
                          "colorbars": scales, "lines": [ly.label for ly in p.lines()]})
        return {"name": self.name, "title": self.title, "ncols": self.ncols, "plots": plots}

    def with_plots(self, plots) -> "Figure":
        return replace(self, plots=list(plots))
