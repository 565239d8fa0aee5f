"""The Data tab: densities f(vx, vy), radial distributions, sampling quality, provenance."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import panel as pn
import param

from collop.views import ESS_FRACTION_DOC, FEW_PARTICLES, sampling_table

from . import plots
from .base import Tab, alert
from .export import FigureView, figure_card
from .text import md, plain, public_message

__all__ = ["DataTab", "sampling_frame", "provenance_frame"]

#: Attributes whose values are file paths: shown by their file name only.
PATH_ATTRS = ("source", "particles_source", "particles_file", "truth_file", "path")


def _default_frames(n: int) -> list[int]:
    return sorted({0, n // 8, n // 4, n // 2, n - 1}) if n > 1 else [0]


def sampling_frame(ds) -> pd.DataFrame:
    """The sampling table for the page: sensible precision, flags first."""
    t = sampling_table(ds)
    out = pd.DataFrame({"population": t["population"], "flag": t["flag"]})
    out["particles"] = [f"{int(n):,}" if np.isfinite(n) else "?" for n in t["n_particles"]]
    out["on grid at t0"] = [f"{100 * x:.1f}%" for x in t["in_grid"]]
    out["peak-bin noise"] = [f"{100 * x:.2g}%" if np.isfinite(x) else "–" for x in t["peak_noise"]]
    if "acceptance_rate" in t:
        out["acceptance"] = [f"{100 * x:.3g}%" for x in t["acceptance_rate"]]
    if "ess" in t:
        out["ESS"] = [f"{x:,.0f}" for x in t["ess"]]
    if "ess_fraction" in t:
        out["ESS / requested"] = [f"{x:.3g}" for x in t["ess_fraction"]]
    for name, label in (("clipped_fraction", "under-covered"), ("outside_fraction", "no particles")):
        if name in t:
            out[label] = [f"{100 * x:.3g}%" for x in t[name]]
    out["warnings"] = t["warnings"]
    return out


def provenance_frame(ds) -> pd.DataFrame:
    """The dataset's attributes as text; file paths shown by their file name, long values cut."""
    rows = []
    for k, v in ds.attrs.items():
        if k == "sampling":
            continue                        # shown as the sampling table
        text = v if isinstance(v, str) else json.dumps(v.tolist() if hasattr(v, "tolist") else v, default=str)
        if k in PATH_ATTRS or (isinstance(v, str) and os.path.isabs(v)):
            text = os.path.basename(text.rstrip("/")) or text
        text = public_message(text, {}, limit=200)          # any other absolute path: its last component
        rows.append({"attribute": str(k), "value": text})
    return pd.DataFrame(rows, columns=["attribute", "value"])


class DataTab(Tab):
    """Explore a phase-space dataset (one figure per chosen population, a player over time)."""

    title = "Data"
    populations = param.List(default=[], doc="populations shown as f(vx, vy)")
    frame = param.Integer(default=0, bounds=(0, None), doc="frame index")
    log_color = param.Boolean(default=False, doc="logarithmic colour scale of the f images")
    fixed_range = param.Boolean(default=True, doc="colour range fixed over all frames of a population")
    radial_population = param.String(default="")
    radial_frames = param.List(default=[], doc="frame indices of the radial curves")

    def __init__(self, **params):
        super().__init__(**params)
        self._body = pn.Column(sizing_mode="stretch_width")
        self._builds = 0
        self._ds = None
        self._f_grid: pn.GridBox | None = None
        self.f_views: dict[str, FigureView] = {}      # population -> its image on the page
        self.radial: FigureView | None = None
        self.state.param.watch(lambda *_: self._rebuild(), ["dataset"])
        self.param.watch(lambda *_: self._show_radial(), ["radial_population", "radial_frames"])
        self.param.watch(lambda *_: self._show_f(), ["populations", "frame", "log_color", "fixed_range"])
        self._build()

    # -- figures ---------------------------------------------------------------------
    def _pops(self, limit: int | None = None) -> list[str]:
        return (self.populations or [str(self._ds["population"].values[0])])[:limit]

    def f_figure(self):
        """The description of the f images shown now (what the export draws)."""
        return plots.f_figure(self._ds, [p for p in self._pops() if p in self.f_views] or self._pops(1),
                              self.frame, log=self.log_color, fixed=self.fixed_range)

    def _f_one(self, pop: str):
        return plots.f_figure(self._ds, [pop], self.frame, log=self.log_color, fixed=self.fixed_range)

    def _show_f(self, limit: int | None = None) -> None:
        """One image per chosen population (those already shown are updated in place, new ones appended)."""
        if self._ds is None or self._f_grid is None:
            return
        pops = self._pops(limit)
        for p in pops:
            if p in self.f_views:
                self.f_views[p].update(self._f_one(p))
        if list(self.f_views) != pops:
            views = {p: self.f_views.get(p) or FigureView(self._f_one(p)) for p in pops}
            if list(views)[:len(self.f_views)] == list(self.f_views):      # only appended
                self._f_grid.extend([views[p] for p in pops[len(self.f_views):]])
            else:
                self._f_grid.objects = list(views.values())
            self.f_views = views

    def _show_radial(self) -> None:
        if self.radial is not None and self._ds is not None:
            self.radial.update(plots.radial_figure(self._ds, self.radial_population, self.radial_frames))

    # -- layout ------------------------------------------------------------------------
    def _rebuild(self) -> None:
        self._body.loading = True
        try:
            self._build()
        finally:
            self._body.loading = False

    def _build(self) -> None:
        self._builds += 1
        build = self._builds
        ds = self.state.dataset
        self.radial = None
        if ds is None:
            self._ds, self._f_grid, self.f_views = None, None, {}
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
        pop_w = pn.widgets.MultiChoice.from_param(self.param.populations, options={plain(p): p for p in pops},
                                                  label="Populations", css_classes=["collop-data-pops"],
                                                  sizing_mode="stretch_width")
        player = pn.widgets.Player.from_param(self.param.frame, start=0, end=nt - 1, interval=250,
                                              loop_policy="once", label="Frame", css_classes=["collop-data-time"],
                                              width=420)
        log_w = pn.widgets.Checkbox.from_param(self.param.log_color, label="log colour scale",
                                               css_classes=["collop-data-log"])
        fixed_w = pn.widgets.Checkbox.from_param(self.param.fixed_range, label="colour range fixed over frames",
                                                 css_classes=["collop-data-fixed"])
        times = ds["time"].values
        tunit = ds.attrs.get("time_units", "")
        tlabel = pn.bind(lambda i: md(f"t = {times[int(i)]:g} {tunit}"), self.param.frame)

        self._ds = ds
        # The first view is the controls and the first population's f(vx, vy) image; the other
        # images, the radial distribution and the tables are built once the page has loaded
        # (pn.state.onload: at once outside a server session, or when the session is already
        # loaded), so the first page is smaller.
        self._f_grid = pn.GridBox(ncols=3, css_classes=["collop-f-plot"])
        self.f_views = {}
        self._show_f(limit=1)
        f_card = figure_card(self._f_grid, "f-plot", "f(vx, vy)", make=self.f_figure)
        self._body[:] = [
            pn.Row(pop_w, pn.Column(player, pn.pane.Markdown(tlabel, css_classes=["collop-data-tlabel"])),
                   pn.Column(log_w, fixed_w), sizing_mode="stretch_width"),
            f_card,
        ]
        pn.state.onload(lambda: self._build_rest(ds, build))

    def _build_rest(self, ds, build: int) -> None:
        """The other populations' images, the radial distribution and the sampling / provenance tables."""
        if build != self._builds:      # the tab was rebuilt (another dataset) meanwhile
            return
        self._show_f()
        pops = [str(p) for p in ds["population"].values]
        times = ds["time"].values
        nt = ds.sizes["time"]
        rad_pop = pn.widgets.Select.from_param(self.param.radial_population, options=pops, label="Population",
                                               css_classes=["collop-radial-pop"])
        rad_frames = pn.widgets.MultiChoice.from_param(
            self.param.radial_frames, options={f"t = {times[i]:g}": i for i in range(nt)}, label="Frames",
            css_classes=["collop-radial-times"], sizing_mode="stretch_width")
        self.radial = FigureView(plots.radial_figure(ds, self.radial_population, self.radial_frames))
        r_card = figure_card(self.radial, "radial-plot", "Radial distribution F(v) = v ∫ f dθ (Fig. 2b)")
        samp = sampling_frame(ds)
        flagged = samp[samp["flag"] == "poor"]
        note = (f"{len(flagged)} poorly sampled population{'s' if len(flagged) != 1 else ''}: "
                + "; ".join(f"{p} ({w.split(';')[0]})" for p, w in zip(flagged["population"], flagged["warnings"]))
                if len(flagged) else "")
        explain = pn.pane.Markdown(
            md(f"Flags: poor = fewer than {FEW_PARTICLES:,} particles, or more than half of the target "
               "distribution where the simulation has no particles; check = any other warning of the sampler. "
               "Peak-bin noise = 1/√(particles in the fullest bin at t0). " + ESS_FRACTION_DOC),
            css_classes=["collop-sampling-doc"], sizing_mode="stretch_width", styles={"font-size": "0.9em"})
        self._body.append(pn.Column(
            pn.Row(rad_pop, rad_frames, sizing_mode="stretch_width"),
            r_card,
            "### Sampling",
            alert(note, "warning", "sampling-flags"),
            pn.widgets.Tabulator(samp, disabled=True, show_index=False, css_classes=["collop-counts"],
                                 sizing_mode="stretch_width", layout="fit_data_table", max_height=420),
            explain,
            "### Provenance",
            pn.widgets.Tabulator(provenance_frame(ds), disabled=True, show_index=False,
                                 css_classes=["collop-provenance"], sizing_mode="stretch_width",
                                 layout="fit_data_stretch"),
            css_classes=["collop-data-more"], sizing_mode="stretch_width"))

    def __panel__(self):
        return self._body
