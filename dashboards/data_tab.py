"""The Data tab: densities f(vx, vy), radial distributions, particle counts, provenance."""
from __future__ import annotations

import json

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from . import plots
from .base import Tab, alert
from .export import figure_card

__all__ = ["DataTab"]


def _default_frames(n: int) -> list[int]:
    return sorted({0, n // 8, n // 4, n // 2, n - 1}) if n > 1 else [0]


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
        self.state.param.watch(lambda *_: self._build(), ["dataset"])
        self._build()

    def _build(self) -> None:
        ds = self.state.dataset
        if ds is None:
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

        def images(populations):
            maps = [hv.DynamicMap(pn.bind(plots.f_image, ds, p, self.param.frame)) for p in (populations or pops[:1])]
            return hv.Layout(maps).cols(3).opts(shared_axes=False)

        f_card = figure_card(pn.bind(images, self.param.populations),
                             lambda: plots.f_images(ds, self.populations, self.frame), "f-plot",
                             "f(vx, vy)")
        rad_pop = pn.widgets.Select.from_param(self.param.radial_population, options=pops, label="Population",
                                               css_classes=["collop-radial-pop"])
        rad_frames = pn.widgets.MultiChoice.from_param(
            self.param.radial_frames, options={f"t = {times[i]:g}": i for i in range(nt)}, label="Frames",
            css_classes=["collop-radial-times"], sizing_mode="stretch_width")
        radial = hv.DynamicMap(pn.bind(plots.radial_curves, ds, self.param.radial_population,
                                       self.param.radial_frames))
        r_card = figure_card(radial, lambda: plots.radial_curves(ds, self.radial_population, self.radial_frames),
                             "radial-plot", "Radial distribution F(v) = v ∫ f dθ (Fig. 2b)")
        self._body[:] = [
            pn.Row(pop_w, pn.Column(player, pn.pane.Markdown(tlabel)), sizing_mode="stretch_width"),
            f_card,
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
        ]

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
