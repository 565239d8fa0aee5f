"""A :class:`~dashboards.figures.Figure` drawn with matplotlib: PNG, SVG and PDF exports (no browser).

The same description as the page (:mod:`dashboards.render_bokeh`): the same
colormap by name, colour range, log or linear scales, a colour bar on every
image, ``label [unit]`` on every axis, NaN drawn blank, legends outside the
data area. Figures are made with :class:`matplotlib.figure.Figure` (no
pyplot state), so exports from several sessions do not interfere.

Every export carries :func:`drawn` (what the matplotlib figure really holds,
read back from its axes) as JSON metadata: the PNG's ``Description`` text
chunk, the SVG's ``Description`` (Dublin Core) and the PDF's ``Subject``.
"""
from __future__ import annotations

import io
import json
import math

import numpy as np

from .figures import Contour, Figure, Image, Line

__all__ = ["to_matplotlib", "drawn", "to_bytes", "FORMATS"]

#: Export formats drawn by matplotlib, with their MIME types.
FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
_DASH = {"solid": "-", "dashed": "--", "dotted": ":"}
PX_PER_INCH = 100


def _norm(scale, values):
    from matplotlib.colors import LogNorm, Normalize

    lo, hi = scale.limits(values)
    return LogNorm(lo, hi) if scale.log else Normalize(lo, hi)


def to_matplotlib(fig: Figure):
    """The matplotlib figure of a description (one axes per plot, colour bars attached to their axes)."""
    from matplotlib.figure import Figure as MplFigure

    plots = fig.plots
    ncols = max(1, min(fig.ncols, len(plots)))
    nrows = max(1, math.ceil(len(plots) / ncols))
    ref = next((p for p in plots if p is not None), None)
    w = (ref.width if ref else 300) / PX_PER_INCH + 1.6
    h = (ref.height if ref else 260) / PX_PER_INCH + 1.0
    legend_w = max((1.6 for p in plots if p is not None and p.legend and p.legend_at == "right"
                    and any(ly.label for ly in p.lines())), default=0.0)
    legend_h = max((0.25 * (1 + len(p.lines()) // 3) for p in plots if p is not None and p.legend
                    and p.legend_at == "below" and any(ly.label for ly in p.lines())), default=0.0)
    mfig = MplFigure(figsize=(ncols * (w + legend_w), nrows * (h + legend_h)), layout="constrained",
                     dpi=PX_PER_INCH)
    if fig.title and len(plots) > 1:
        mfig.suptitle(fig.title)
    axes = mfig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        plot = plots[k] if k < len(plots) else None
        if plot is None:
            ax.set_axis_off()
            continue
        colors = iter(plot.line_colors())
        for ly in plot.layers:
            if isinstance(ly, Image):
                x0, y0, x1, y1 = ly.bounds
                vals = np.ma.masked_invalid(np.asarray(ly.values, dtype=float))
                if ly.color.log:
                    vals = np.ma.masked_less_equal(vals, 0)
                im = ax.imshow(vals, origin="lower", extent=(x0, x1, y0, y1), cmap=ly.color.cmap,
                               norm=_norm(ly.color, ly.values), interpolation="nearest",
                               aspect="equal" if plot.equal_aspect else "auto")
                mfig.colorbar(im, ax=ax, label=ly.color.text)
            elif isinstance(ly, Line):
                c = next(colors)
                x, y = np.asarray(ly.x, float), np.asarray(ly.y, float)
                if ly.band is not None:
                    ax.fill_between(x, ly.band[0], ly.band[1], color=c, alpha=0.2, linewidth=0)
                style = dict(color=c, linewidth=ly.width * 0.75, linestyle=_DASH.get(ly.dash, "-") if ly.line
                             else "none", marker="o" if (ly.marker or not ly.line) else None, markersize=4,
                             label=ly.label or None)
                if ly.yerr is not None:
                    ax.errorbar(x, y, yerr=np.asarray(ly.yerr, float), capsize=3, **style)
                else:
                    ax.plot(x, y, **style)
            elif isinstance(ly, Contour):
                x, y, z = (np.asarray(a, float) for a in (ly.x, ly.y, ly.z))
                if ly.filled:
                    cs = ax.contourf(x, y, z, levels=ly.levels, cmap=ly.color.cmap, norm=_norm(ly.color, z))
                    ax.contour(x, y, z, levels=ly.levels, colors="black", linewidths=0.5)
                    mfig.colorbar(cs, ax=ax, label=ly.color.text)
                else:
                    ax.contour(x, y, z, levels=ly.levels, colors=ly.line_color, linewidths=1)
        ax.set_title(plot.title, fontsize=10)
        ax.set_xlabel(plot.x.text)
        ax.set_ylabel(plot.y.text)
        if plot.x.log:
            ax.set_xscale("log")
        if plot.y.log:
            ax.set_yscale("log")
        for axis, which in ((plot.x, ax.xaxis), (plot.y, ax.yaxis)):
            if axis.integer:
                from matplotlib.ticker import MaxNLocator
                which.set_major_locator(MaxNLocator(integer=True))
        if plot.x.range is not None:
            ax.set_xlim(*plot.x.range)
        if plot.y.range is not None:
            ax.set_ylim(*plot.y.range)
        if plot.equal_aspect and not any(isinstance(ly, Image) for ly in plot.layers):
            ax.set_aspect("equal", adjustable="box")
        if plot.legend and any(ly.label for ly in plot.lines()):
            if plot.legend_at == "below":
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False, fontsize=8,
                          ncol=min(3, len(plot.lines())))
            else:
                ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    return mfig


def drawn(mfig) -> dict:
    """What a matplotlib figure made by :func:`to_matplotlib` shows, read back from its artists.

    Returns
    -------
    dict
        ``plots``: per data axes, ``title``, ``x``, ``y`` (axis labels),
        ``xlog``, ``ylog``, ``colorbars`` (per image or filled contour:
        ``cmap`` name, ``log``, ``low``, ``high``, ``label`` of its colour
        bar, None if it has none) and ``lines`` (legend labels).
    """
    cbar_axes = set()
    for ax in mfig.axes:
        for im in [*ax.images, *ax.collections]:
            cb = getattr(im, "colorbar", None)
            if cb is not None:
                cbar_axes.add(cb.ax)
    out = []
    for ax in mfig.axes:
        if ax in cbar_axes or not ax.axison:
            continue
        scales = []
        for im in [*ax.images, *[c for c in ax.collections if getattr(c, "colorbar", None) is not None]]:
            cb = getattr(im, "colorbar", None)
            norm = im.norm
            scales.append({"cmap": im.get_cmap().name, "log": type(norm).__name__ == "LogNorm",
                           "low": float(norm.vmin), "high": float(norm.vmax),
                           "label": cb.ax.get_ylabel() if cb is not None else None})
        leg = ax.get_legend()
        out.append({"title": ax.get_title(), "x": ax.get_xlabel(), "y": ax.get_ylabel(),
                    "xlog": ax.get_xscale() == "log", "ylog": ax.get_yscale() == "log", "colorbars": scales,
                    "lines": [t.get_text() for t in leg.get_texts()] if leg is not None else []})
    return {"plots": out}


def to_bytes(fig: Figure, fmt: str, dpi: int = 150) -> bytes:
    """``fig`` as PNG, SVG or PDF bytes, with :func:`drawn` in the file's metadata."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    mfig = to_matplotlib(fig)
    mfig.canvas.draw_idle()
    meta = json.dumps(drawn(mfig), ensure_ascii=True)
    key = "Subject" if fmt == "pdf" else "Description"
    metadata = {key: meta, "Title": fig.title or fig.name}
    if fmt == "png":
        metadata["Software"] = "collop"
    buf = io.BytesIO()
    mfig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()
