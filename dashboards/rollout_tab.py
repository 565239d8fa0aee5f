"""The Rollout tab: data | model rollout | normalised difference for a run and a test population."""
from __future__ import annotations

import functools
import os
from functools import partial

import holoviews as hv
import numpy as np
import panel as pn
import param
from holoviews.streams import Params, Pipe

from . import plots
from .base import Tab, alert, set_alert
from .datasets import one_line
from .export import figure_card
from .runstore import load_operator

__all__ = ["RolloutTab", "rollout_of"]


@functools.lru_cache(maxsize=32)
def _rollout_cached(op_stamp, data_stamp, population):
    from collop.metrics import rollout

    from .datasets import load

    op = load_operator(op_stamp[0])
    ds = load(data_stamp[0])
    return rollout(op, ds, [population]).isel(population=0)


def _stamp(path):
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


def rollout_of(operator_path, data_path, population: str):
    """Rollout ``f_hat(time, vx, vy)`` of an operator file on one population (cached per file version)."""
    return _rollout_cached(_stamp(operator_path), _stamp(data_path), population)


class RolloutTab(Tab):
    """Compare a model's rollout with the data, frame by frame (the paper's Fig. 3)."""

    title = "Rollout"
    frame = param.Integer(default=0, bounds=(0, None))

    def __init__(self, **params):
        super().__init__(**params)
        self._shown = False
        self.run = pn.widgets.Select(label="Operator", css_classes=["collop-rollout-run"], width=360)
        self.population = pn.widgets.Select(label="Test population", css_classes=["collop-rollout-pop"], width=240)
        self.time = pn.widgets.Player.from_param(self.param.frame, label="Frame", interval=250, loop_policy="once",
                                                 css_classes=["collop-rollout-time"], width=420)
        self.message = alert(name="rollout-message")
        self.score = pn.pane.Markdown("", css_classes=["collop-rollout-score"])
        self.pipe = Pipe(data=None)
        maps = [hv.DynamicMap(partial(self._panel, i), streams=[self.pipe, Params(self, ["frame"])])
                for i in range(3)]
        self.card = figure_card(hv.Layout(maps).cols(3), self._static, "rollout-plot",
                                "Data | rollout | (rollout − data) / max f(t)")
        self.run.param.watch(self._chosen_run, "value")
        self.population.param.watch(lambda *_: self._compute(), "value")
        self.state.param.watch(lambda *_: self._refresh_runs(), ["runs", "dataset"])
        self._refresh_runs()

    def _panel(self, i, data=None, frame=0):
        if data is None:
            return hv.Image(np.zeros((2, 2)), kdims=["vx", "vy"], vdims=["f"]).opts(frame_width=240,
                                                                                     aspect="equal")
        f, f_hat, title = data
        # framewise: the axes and colour range follow each new rollout (not the placeholder's)
        return plots.rollout_panels(f, f_hat, min(frame, f.sizes["time"] - 1), title=title)[i].opts(framewise=True)

    def _static(self):
        if self.pipe.data is None:
            return hv.Layout([self._panel(i) for i in range(3)])
        f, f_hat, title = self.pipe.data
        return plots.rollout_triptych(f, f_hat, self.frame, title=title)

    def _refresh_runs(self) -> None:
        s = self.state
        opts = {}
        if s.truth_path is not None:
            opts["true operator"] = str(s.truth_path)
        for r in reversed(s.runs_on_dataset(finished_only=True)):
            path = os.path.join(r["path"], "operator.nc")
            if os.path.exists(path):
                mae = (r.get("metrics") or {}).get("rollout_mae")
                opts[f"{r['id']} ({r.get('method')}{'' if mae is None else f', MAE {mae:.3g}'})"] = path
        # populations first: choosing a run picks its first test population among them
        if s.dataset is not None:
            nt = s.dataset.sizes["time"]
            self.param.frame.bounds = (0, nt - 1)
            self.time.start, self.time.end = 0, nt - 1
            pops = [str(p) for p in s.dataset["population"].values]
            if list(self.population.options) != pops:
                self.population.options = pops
            if self.population.value not in pops:
                self.population.value = pops[-1]
        if opts != self.run.options:
            keep = self.run.value if self.run.value in opts.values() else None
            # a run that has just finished is shown; otherwise the choice is kept (default: the
            # newest run, else the true operator)
            shown = self.run.options.values() if isinstance(self.run.options, dict) else self.run.options
            fresh = [v for k, v in opts.items() if k != "true operator" and v not in shown]
            runs = [v for k, v in opts.items() if k != "true operator"]
            self.run.options = opts
            self.run.value = (fresh[0] if fresh else keep if keep is not None else
                              runs[0] if runs else next(iter(opts.values()), None))
        if not opts:
            self.pipe.send(None)
            set_alert(self.message, "No finished run on this dataset yet: train one in the Fokker–Planck tab.",
                      "info")
        elif self.message.alert_type == "info":
            set_alert(self.message, "")

    def _chosen_run(self, event) -> None:
        s = self.state
        for r in s.runs:
            if event.new and os.path.join(r["path"], "operator.nc") == event.new:
                test = (r.get("params") or {}).get("test") or []
                if test and test[0] in self.population.options:
                    self.population.value = test[0]
                    return
        self._compute()

    def show(self) -> None:
        """Compute the pending rollout when the tab is first shown."""
        self._shown = True
        self._compute()

    def _compute(self) -> None:
        s = self.state
        if not self._shown:       # rollouts cost a second or two: only once the tab is visible
            return
        if s.dataset is None or not self.run.value or not self.population.value:
            return
        try:
            f_hat = rollout_of(self.run.value, s.dataset_path, self.population.value)
        except Exception as exc:  # a bad operator file: one line, never a traceback
            self.pipe.send(None)
            return set_alert(self.message, one_line(exc), "danger")
        f = s.dataset["f"].sel(population=self.population.value)
        set_alert(self.message, "")
        err = plots.normalised_difference(f_hat, f).isel(time=slice(1, None))
        self.score.object = (f"Rollout MAE of **{self.population.value}**: {float(np.abs(err).mean()):.4g} "
                             "(mean |f̂ − f| / max f(t) over frames t ≥ 1)")
        self.pipe.send((f, f_hat, self.population.value))

    def __panel__(self):
        return pn.Column(pn.Row(self.run, self.population, self.time), self.message, self.score, self.card,
                         sizing_mode="stretch_width")
