"""The Rollout tab: a model's rollout against the data, and several runs side by side (the paper's Fig. 3).

Rollouts cost from a fraction of a second to several seconds each. Under a
server they are computed off the Bokeh event loop: a thread
(:class:`dashboards.base.Background`) hands each one to a worker process
(:mod:`dashboards.rollout_worker`) and waits, so no page waits for another
page's rollout. Results are cached per file version.
"""
from __future__ import annotations

import collections
import os
import threading
from functools import partial

import numpy as np
import panel as pn
import param
import xarray as xr

from collop.views import Units, rollout_error_by_time

from . import plots
from .base import Background, Tab, alert, in_server, set_alert
from .export import FigureView, figure_card
from .jobs import run_label
from .runstore import load_operator
from .text import md, plain

__all__ = ["RolloutTab", "rollout_of"]

_CACHE: "collections.OrderedDict[tuple, xr.DataArray]" = collections.OrderedDict()
_CACHE_SIZE = 48
_CACHE_LOCK = threading.Lock()


def _stamp(path):
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


def rollout_of(operator_path, data_path, population: str, *, process: bool = False) -> xr.DataArray:
    """Rollout ``f_hat(time, vx, vy)`` of an operator file on one population (cached per file version).

    Parameters
    ----------
    process : bool
        Compute it in the worker process (:mod:`dashboards.rollout_worker`);
        otherwise in the calling thread (a notebook, a test).
    """
    key = (_stamp(operator_path), _stamp(data_path), str(population))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    if load_operator(operator_path) is None:
        raise ValueError(f"{os.path.basename(str(operator_path))}: not a readable operator file")
    from . import rollout_worker
    from .datasets import load

    if process:
        values = rollout_worker.pool().submit(rollout_worker.compute, *key).result()
    else:
        values = rollout_worker.compute(*key)
    f = load(data_path)["f"].sel(population=population)
    out = xr.DataArray(values, dims=("time", "vx", "vy"),
                       coords={"time": f["time"].values, "vx": f["vx"].values, "vy": f["vy"].values}, name="f_hat")
    with _CACHE_LOCK:
        _CACHE[key] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


class RolloutTab(Tab):
    """Compare a model's rollout with the data, frame by frame; compare runs (Fig. 3) and their error over time."""

    title = "Rollout"
    frame = param.Integer(default=0, bounds=(0, None))
    log_color = param.Boolean(default=False, doc="log colour scale of the f images")
    compare_runs = param.List(default=[], doc="operator files compared side by side")
    compare_population = param.String(default="", allow_None=True)
    compare_frames = param.List(default=[], doc="frame indices of the Fig. 3 columns")
    all_test = param.Boolean(default=False, doc="error against time over each run's test populations")

    def __init__(self, **params):
        super().__init__(**params)
        self._shown = False
        if in_server():          # start the worker process (it imports torch) while the user looks around
            from . import rollout_worker

            rollout_worker.pool().submit(int)
        self.units = Units()
        self.run = pn.widgets.Select(label="Operator", css_classes=["collop-rollout-run"], width=360)
        self.population = pn.widgets.Select(label="Test population", css_classes=["collop-rollout-pop"], width=240)
        self.time = pn.widgets.Player.from_param(self.param.frame, label="Frame", interval=250, loop_policy="once",
                                                 css_classes=["collop-rollout-time"], width=420)
        self.log_w = pn.widgets.Checkbox.from_param(self.param.log_color, label="log colour scale",
                                                    css_classes=["collop-rollout-log"])
        self.message = alert(name="rollout-message")
        self.score = pn.pane.Markdown("", css_classes=["collop-rollout-score"])
        self.status = pn.pane.Markdown("", css_classes=["collop-rollout-status"])
        self._data = None                 # (f, f_hat, label) of the single view
        self.view = FigureView(self._placeholder(), css_classes=["collop-rollout-view"])
        self.card = figure_card(self.view, "rollout-plot", "Data | rollout | (rollout − data) / max f(t)")
        self.bg = Background()
        # -- comparison
        self.cmp_runs_w = pn.widgets.MultiChoice.from_param(self.param.compare_runs, label="Runs compared",
                                                            css_classes=["collop-fig3-runs"],
                                                            sizing_mode="stretch_width")
        self.cmp_pop_w = pn.widgets.Select.from_param(self.param.compare_population, label="Population",
                                                      css_classes=["collop-fig3-pop"], width=240)
        self.cmp_frames_w = pn.widgets.MultiChoice.from_param(self.param.compare_frames, label="Frames (columns)",
                                                              css_classes=["collop-fig3-frames"], width=420)
        self.all_test_w = pn.widgets.Checkbox.from_param(self.param.all_test,
                                                         label="error over each run's test populations (slower)",
                                                         css_classes=["collop-error-all"])
        self.cmp_status = pn.pane.Markdown("", css_classes=["collop-fig3-status"])
        self.cmp_bg = Background()
        self._cmp = None
        self.fig3_view = FigureView(self._placeholder("fig3-plot", 2), css_classes=["collop-fig3-view"])
        self.err_view = FigureView(plots.error_time_figure({}, self.units), css_classes=["collop-error-view"])
        self.fig3_card = figure_card(self.fig3_view, "fig3-plot", "Rollouts side by side (Fig. 3 layout)")
        self.err_card = figure_card(self.err_view, "error-time-plot", "Rollout error against time")
        self._progress = ""
        self.run.param.watch(self._chosen_run, "value")
        self.population.param.watch(lambda *_: self._compute(), "value")
        self.param.watch(lambda *_: self._draw(), ["frame", "log_color"])
        self.param.watch(lambda *_: self._compare(), ["compare_runs", "compare_population", "compare_frames",
                                                      "all_test"])
        self.state.param.watch(lambda *_: self._refresh_runs(), ["runs", "dataset"])
        self._refresh_runs()

    @staticmethod
    def _placeholder(name="rollout-plot", n: int = 3):
        from .figures import Axis, Figure, Plot

        return Figure([Plot("no rollout yet" if k == 0 else "", Axis("vx"), Axis("vy"), [], width=240, height=240)
                       for k in range(n)], ncols=n, name=name)

    # -- choices -------------------------------------------------------------------------
    def _operators(self) -> dict:
        """Label -> operator file of the true operator and the finished runs on this dataset."""
        s = self.state
        opts = {}
        if s.truth_path is not None:
            opts["true operator"] = str(s.truth_path)
        for r in reversed(s.runs_on_dataset(finished_only=True)):
            path = os.path.join(r["path"], "operator.nc")
            if os.path.exists(path):
                mae = (r.get("metrics") or {}).get("rollout_mae")
                opts[f"{r['id']} ({r.get('method')}{'' if mae is None else f', MAE {mae:.3g}'})"] = path
        return opts

    def _refresh_runs(self) -> None:
        s = self.state
        self.units = Units.of(s.dataset)
        opts = self._operators()
        if s.dataset is not None:
            nt = s.dataset.sizes["time"]
            self.param.frame.bounds = (0, nt - 1)
            self.time.start, self.time.end = 0, nt - 1
            pops = [str(p) for p in s.dataset["population"].values]
            if list(self.population.options) != pops:
                self.population.options = pops
            if self.population.value not in pops:
                self.population.value = pops[-1]
            self.cmp_pop_w.options = pops
            if self.compare_population not in pops:
                self.compare_population = pops[-1]
            times = s.dataset["time"].values
            self.cmp_frames_w.options = {f"t = {times[i]:g}": i for i in range(nt)}
            if not self.compare_frames or max(self.compare_frames) >= nt:
                self.compare_frames = sorted({nt // 4, nt // 2, nt - 1})
        if opts != self.run.options:
            keep = self.run.value if self.run.value in opts.values() else None
            shown = self.run.options.values() if isinstance(self.run.options, dict) else self.run.options
            fresh = [v for k, v in opts.items() if k != "true operator" and v not in shown]
            runs = [v for k, v in opts.items() if k != "true operator"]
            self.run.options = opts
            self.run.value = (fresh[0] if fresh else keep if keep is not None else
                              runs[0] if runs else next(iter(opts.values()), None))
            self.cmp_runs_w.options = {plain(k): v for k, v in opts.items()}
            chosen = [v for v in self.compare_runs if v in opts.values()]
            if not chosen:
                chosen = ([opts["true operator"]] if "true operator" in opts else []) + runs[:2]
            self.compare_runs = chosen
        if not opts:
            self._data = None
            self.view.update(self._placeholder())
            set_alert(self.message, "No finished run on this dataset yet: train one in the Fokker–Planck tab.",
                      "info")
        elif self.message.alert_type == "info":
            set_alert(self.message, "")
        if self._shown:
            self._compare()

    def _chosen_run(self, event) -> None:
        s = self.state
        for r in s.runs:
            if event.new and os.path.join(r["path"], "operator.nc") == event.new:
                test = (r.get("params") or {}).get("test") or []
                if test and test[0] in self.population.options and self.population.value != test[0]:
                    self.population.value = test[0]          # triggers the computation
                    return
        self._compute()

    def show(self) -> None:
        """Compute the pending rollouts when the tab is first shown."""
        if not self._shown:
            self._shown = True
            self._compute()
            self._compare()

    # -- single run ------------------------------------------------------------------------
    def _compute(self) -> None:
        s = self.state
        if not self._shown or s.dataset is None or not self.run.value or not self.population.value:
            return
        path, pop, data_path = self.run.value, self.population.value, s.dataset_path
        label = next((k for k, v in self.run.options.items() if v == path), "")
        self.card.loading = True
        self.status.object = md(f"computing the rollout of {pop}…")
        f = s.dataset["f"].sel(population=pop)

        def done(fut):
            self.card.loading = False
            self.status.object = ""
            try:
                f_hat = fut.result()
            except Exception as exc:  # a bad operator file: one line, never a traceback
                self._data = None
                self.view.update(self._placeholder())
                return set_alert(self.message, s.public(exc), "danger")
            set_alert(self.message, "")
            err = rollout_error_by_time(f_hat, f).isel(time=slice(1, None))
            self.score.object = (f"Rollout MAE of **{md(pop)}**: {float(err.mean()):.4g} "
                                 "(mean |f̂ − f| / max f(t) over frames t ≥ 1)")
            name = label.split(" (")[0]
            self._data = (f, f_hat, name if name == "true operator" else run_label(name))
            self._draw()

        self.bg.submit(partial(rollout_of, process=in_server()), done, path, data_path, pop)

    def figure(self):
        """The description of the single-run figure shown now."""
        if self._data is None:
            return self._placeholder()
        f, f_hat, title = self._data
        return plots.rollout_figure(f, f_hat, min(self.frame, f.sizes["time"] - 1), self.units, title=title,
                                    log=self.log_color)

    def _draw(self) -> None:
        self.view.update(self.figure())

    # -- several runs ------------------------------------------------------------------------
    def _compare(self) -> None:
        s = self.state
        if not self._shown or s.dataset is None or not self.compare_population:
            return
        labels = {v: k for k, v in self._operators().items()}
        paths = [p for p in self.compare_runs if p in labels]
        if not paths:
            self.fig3_view.update(self._placeholder("fig3-plot", 2))
            self.err_view.update(plots.error_time_figure({}, self.units))
            return
        pop, data_path, frames = self.compare_population, s.dataset_path, list(self.compare_frames)
        tests = {}
        names = {str(x) for x in s.dataset["population"].values}
        for p in paths:
            info = next((r for r in s.runs if os.path.join(r["path"], "operator.nc") == p), None)
            test = [t for t in ((info or {}).get("params") or {}).get("test") or [] if t in names]
            tests[p] = test if (self.all_test and test) else [pop]
        jobs = [(p, q) for p in paths for q in dict.fromkeys([pop, *tests[p]])]
        ds = s.dataset
        self.fig3_card.loading = self.err_card.loading = True
        process = in_server()

        def work():
            out = {}
            for k, (p, q) in enumerate(jobs):
                self._progress = f"computing rollouts: {k + 1} of {len(jobs)}"
                out[(p, q)] = rollout_of(p, data_path, q, process=process)
            self._progress = ""
            return out

        def done(fut):
            self.fig3_card.loading = self.err_card.loading = False
            self.cmp_status.object = ""
            try:
                res = fut.result()
            except Exception as exc:
                return set_alert(self.message, s.public(exc), "danger")
            short = {p: (run_label(os.path.basename(os.path.dirname(p)))
                         if labels[p] != "true operator" else "true operator") for p in paths}
            f = ds["f"].sel(population=pop)
            self._cmp = (f, {short[p]: res[(p, pop)] for p in paths}, frames, pop)
            errors = {}
            for p in paths:
                qs = list(dict.fromkeys([pop, *tests[p]])) if self.all_test else [pop]
                fh = np.stack([res[(p, q)].values for q in qs])
                fd = ds["f"].sel(population=qs)
                e = rollout_error_by_time(xr.DataArray(fh, dims=fd.dims, coords=fd.coords), fd)
                errors[short[p]] = e
            self.fig3_view.update(plots.fig3_figure(f, self._cmp[1], frames, self.units, population=pop))
            self.err_view.update(plots.error_time_figure(errors, self.units))

        self.cmp_bg.submit(work, done)

    def tick(self) -> None:
        if self._progress and (self.cmp_bg.busy):
            self.cmp_status.object = md(self._progress)

    def __panel__(self):
        return pn.Column(
            pn.Row(self.run, self.population, pn.Column(self.time, self.log_w)), self.message, self.status,
            self.score, self.card,
            "### Compare runs",
            pn.Row(self.cmp_runs_w, self.cmp_pop_w, sizing_mode="stretch_width"),
            pn.Row(self.cmp_frames_w, self.all_test_w), self.cmp_status,
            self.err_card, self.fig3_card, sizing_mode="stretch_width")
