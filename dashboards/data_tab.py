"""The Data tab: densities f(vx, vy), radial distributions, particle counts, provenance."""
from __future__ import annotations

import json

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, Grid, HoverTool, LinearColorMapper, Range1d
from bokeh.plotting import figure

from . import plots
from .base import Tab, alert
from .export import figure_card

__all__ = ["DataTab", "FImage"]


#: Title size of the Data tab's Bokeh figures: HoloViews' (the other tabs' figures).
TITLE_SIZE = "12pt"


def _default_frames(n: int) -> list[int]:
    return sorted({0, n // 8, n // 4, n // 2, n - 1}) if n > 1 else [0]


class FImage:
    """The live f(vx, vy) image of one population: a Bokeh figure updated in place.

    The page draws these directly with Bokeh (not through HoloViews): a frame
    step sends only the new image, its colour range and its title, and the
    first page builds faster. The export (:func:`dashboards.plots.f_images`)
    draws the same frame with HoloViews. The colour range is each frame's
    own (min to max of f), as in the export.
    """

    def __init__(self, ds, population: str, time_index: int = 0):
        self.ds, self.population = ds, population
        x0, y0, x1, y1 = plots.f_bounds(ds)
        units = plots.units(ds)
        self.mapper = LinearColorMapper(palette=plots.SEQUENTIAL)
        self.source = ColumnDataSource({"image": [np.zeros((1, 1))]})
        self.figure = figure(frame_width=220, frame_height=220, x_range=Range1d(x0, x1), y_range=Range1d(y0, y1),
                             tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="right",
                             x_axis_label=f"vx{units}", y_axis_label=f"vy{units}")
        glyph = self.figure.image(image="image", x=x0, y=y0, dw=x1 - x0, dh=y1 - y0, source=self.source,
                                  color_mapper=self.mapper)
        # fewer models and views for the first page: the image covers the grid lines, and an
        # image is neither selected nor muted
        glyph.nonselection_glyph = glyph.muted_glyph = None
        self.figure.center = [r for r in self.figure.center if not isinstance(r, Grid)]
        self.figure.add_tools(HoverTool(renderers=[glyph], tooltips=[("vx", "$x"), ("vy", "$y"), ("f", "@image")]))
        self.figure.add_layout(ColorBar(color_mapper=self.mapper, width=12), "right")
        self.figure.title.text_font_size = TITLE_SIZE
        self.show(time_index)

    def show(self, time_index: int) -> None:
        """Draw frame ``time_index``."""
        img, label = plots.f_frame(self.ds, self.population, time_index)
        lo, hi = float(img.min()), float(img.max())
        self.mapper.update(low=lo, high=hi if hi > lo else lo + 1.0)
        self.figure.title.text = label
        self.source.data = {"image": [img]}


class RadialView:
    """The live radial distribution F(v) = v ∫ f dθ of one population at several frames (Fig. 2b).

    Like :class:`FImage`, a Bokeh figure updated in place (one multi-line
    source: a change of population or frames sends only the new curves);
    the export draws :func:`dashboards.plots.radial_curves` with HoloViews.
    The curves take HoloViews' default colours, as in the export.
    """

    COLORS = list(hv.Cycle.default_cycles["default_colors"])

    def __init__(self, ds, population: str, time_indices):
        self.ds = ds
        self.source = ColumnDataSource({"xs": [], "ys": [], "label": [], "color": []})
        self.figure = figure(height=300, sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save",
                             x_axis_label=f"v{plots.units(ds)}", y_axis_label="v ∫ f dθ")
        lines = self.figure.multi_line(xs="xs", ys="ys", line_color="color", line_width=2, legend_field="label",
                                       source=self.source)
        self.figure.add_tools(HoverTool(renderers=[lines], tooltips=[("", "@label"), ("v", "$x"), ("F", "$y")]))
        self.figure.legend.location = "top_right"
        self.figure.title.text_font_size = TITLE_SIZE
        self.show(population, time_indices)

    def show(self, population: str, time_indices) -> None:
        """Draw ``population`` at the frames ``time_indices``."""
        speed, lines = plots.radial_lines(self.ds, population, time_indices)
        self.figure.title.text = f"{population}: F(v) = v ∫ f dθ"
        self.source.data = {"xs": [speed] * len(lines), "ys": [values for _, values in lines],
                            "label": [label for label, _ in lines],
                            "color": [self.COLORS[k % len(self.COLORS)] for k in range(len(lines))]}


class DataTab(Tab):
    """Explore a phase-space dataset (one figure per chosen population, a player over time)."""

    title = "Data"
    populations = param.List(default=[], doc="populations shown as f(vx, vy)")
    frame = param.Integer(default=0, bounds=(0, None), doc="frame index")
    radial_population = param.String(default="")
    radial_frames = param.List(default=[], doc="frame indices of the radial curves")

    def __init__(self, **params):
        super().__init__(**params)
        self._body = pn.Column(sizing_mode="stretch_width")
        self._builds = 0
        self._ds = None
        self._f_grid = None
        self.f_images: list[FImage] = []
        self.radial: RadialView | None = None
        self.state.param.watch(lambda *_: self._build(), ["dataset"])
        self.param.watch(lambda *_: self._show_radial(), ["radial_population", "radial_frames"])
        self.param.watch(lambda *_: self._show_populations(), ["populations"])
        self.param.watch(lambda *_: self._show_frame(), ["frame"])
        self._build()

    def _show_populations(self, limit: int | None = None) -> None:
        """Images of the chosen populations (only the first ``limit`` of them); those already shown are kept."""
        ds = self._ds
        if ds is None or self._f_grid is None:
            return
        pops = (self.populations or [str(ds["population"].values[0])])[:limit]
        have = [im.population for im in self.f_images]
        if pops[:len(have)] == have and len(have) <= len(pops):      # only append
            new = [FImage(ds, p, self.frame) for p in pops[len(have):]]
            self.f_images = self.f_images + new
            self._f_grid.extend([pn.pane.Bokeh(im.figure) for im in new])
        else:
            self.f_images = [FImage(ds, p, self.frame) for p in pops]
            self._f_grid.objects = [pn.pane.Bokeh(im.figure) for im in self.f_images]

    def _show_radial(self) -> None:
        if self.radial is not None:
            self.radial.show(self.radial_population, self.radial_frames)
            pn.io.push_notebook(self._radial_pane)     # in a notebook; nothing to do under a server

    def _show_frame(self) -> None:
        for im in self.f_images:
            im.show(self.frame)
        if self._f_grid is not None:
            pn.io.push_notebook(self._f_grid)     # in a notebook; nothing to do under a server

    def _build(self) -> None:
        self._builds += 1
        build = self._builds
        ds = self.state.dataset
        self.radial = None
        if ds is None:
            self._ds, self._f_grid, self.f_images = None, None, []
            self._body[:] = [alert("No usable dataset chosen.", "warning", "data-empty")]
            return
        pops = [str(p) for p in ds["population"].values]
        nt = ds.sizes["time"]
        with param.parameterized.discard_events(self):
            self.populations = pops[:2]
            self.frame = 0
            self.radial_population = pops[0]
            self.radial_frames = _default_frames(nt)
        self.param.frame.bounds = (0, nt - 1)
        pop_w = pn.widgets.MultiChoice.from_param(self.param.populations, options=pops, label="Populations",
                                                  css_classes=["collop-data-pops"], sizing_mode="stretch_width")
        player = pn.widgets.Player.from_param(self.param.frame, start=0, end=nt - 1, interval=250,
                                              loop_policy="once", label="Frame", css_classes=["collop-data-time"],
                                              width=420)
        times = ds["time"].values
        tlabel = pn.bind(lambda i: f"t = {times[int(i)]:g} {ds.attrs.get('time_units', '')}", self.param.frame)

        self._ds = ds
        self._f_grid = pn.GridBox(ncols=3, css_classes=["collop-f-plot"])
        self.f_images = []
        self._show_populations(limit=1)     # the others' images follow with the rest, after load
        f_card = figure_card(self._f_grid, lambda: plots.f_images(ds, self.populations, self.frame), "f-plot",
                             "f(vx, vy)")
        # The first view is the controls and the first population's f(vx, vy) image; the other
        # images, the radial distribution and the tables are built once the page has loaded
        # (pn.state.onload: at once outside a server session, or when the session is already
        # loaded), so the first page is smaller: one image fewer made it about 0.3 s faster to load
        # with one core busy training.
        self._body[:] = [
            pn.Row(pop_w, pn.Column(player, pn.pane.Markdown(tlabel)), sizing_mode="stretch_width"),
            f_card,
        ]
        pn.state.onload(lambda: self._build_rest(ds, build))

    def _build_rest(self, ds, build: int) -> None:
        """The other populations' images, the radial distribution and the particle / provenance tables of ``ds``."""
        if build != self._builds:      # the tab was rebuilt (another dataset) meanwhile
            return
        self._show_populations()
        pops = [str(p) for p in ds["population"].values]
        times = ds["time"].values
        nt = ds.sizes["time"]
        rad_pop = pn.widgets.Select.from_param(self.param.radial_population, options=pops, label="Population",
                                               css_classes=["collop-radial-pop"])
        rad_frames = pn.widgets.MultiChoice.from_param(
            self.param.radial_frames, options={f"t = {times[i]:g}": i for i in range(nt)}, label="Frames",
            css_classes=["collop-radial-times"], sizing_mode="stretch_width")
        self.radial = RadialView(ds, self.radial_population, self.radial_frames)
        self._radial_pane = pn.pane.Bokeh(self.radial.figure, sizing_mode="stretch_width")
        r_card = figure_card(self._radial_pane,
                             lambda: plots.radial_curves(ds, self.radial_population, self.radial_frames),
                             "radial-plot", "Radial distribution F(v) = v ∫ f dθ (Fig. 2b)")
        self._body.append(pn.Column(
            pn.Row(rad_pop, rad_frames, sizing_mode="stretch_width"),
            r_card,
            pn.Row(pn.Column("### Particles", pn.widgets.Tabulator(self._counts(ds), disabled=True,
                                                                  show_index=False, css_classes=["collop-counts"],
                                                                  sizing_mode="stretch_width")),
                   pn.Column("### Provenance", pn.widgets.Tabulator(self._provenance(ds), disabled=True,
                                                                    show_index=False,
                                                                    css_classes=["collop-provenance"],
                                                                    sizing_mode="stretch_width")),
                   sizing_mode="stretch_width"),
            css_classes=["collop-data-more"], sizing_mode="stretch_width"))

    @staticmethod
    def _counts(ds) -> pd.DataFrame:
        cols = {"population": [str(p) for p in ds["population"].values]}
        h2 = float(np.diff(ds["vx"].values).mean() * np.diff(ds["vy"].values).mean())
        for name, var in ds.data_vars.items():
            if var.dims == ("population",):
                cols[name] = var.values
        cols["in grid at t0"] = (ds["f"].isel(time=0).sum(("vx", "vy")).values * h2).round(4)
        return pd.DataFrame(cols)

    @staticmethod
    def _provenance(ds) -> pd.DataFrame:
        rows = []
        for k, v in ds.attrs.items():
            text = v if isinstance(v, str) else json.dumps(v.tolist() if hasattr(v, "tolist") else v, default=str)
            rows.append({"attribute": k, "value": text if len(text) <= 200 else text[:197] + "..."})
        return pd.DataFrame(rows, columns=["attribute", "value"])

    def __panel__(self):
        return self._body
