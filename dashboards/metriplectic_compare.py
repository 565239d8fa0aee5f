"""MD against the learned kernels (Landau, CM1, CM2) on one test distribution, with a time slider.

The comparison of the Metriplectic tab, as its own component. Rollouts are
slow (seconds to a minute each): a background thread
(:class:`dashboards.base.Background`) hands each to the app's worker process
(:mod:`dashboards.rollout_worker`) and waits; results are cached in the run
folders (:mod:`dashboards.metriplectic_worker`) and in memory here. The
figures show whatever has arrived; nothing is computed on the event loop.
"""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import panel as pn
import param

from . import metriplectic_figures as mf
from . import metriplectic_worker as mw
from .base import Background, alert, in_server, set_alert, spinner
from .export import FigureView, figure_card
from .jobs import run_label
from collop.views import Units

from .metriplectic_data import model_of
from .metriplectic_figures import without_blanks
from .text import md, plain, public_message

__all__ = ["MetriplecticCompare", "BINS", "summary_table"]

#: Bins per axis of the PDFs.
BINS = 40
_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _in_worker(fn, *args, process: bool, **kw):
    if not process:
        return fn(*args, **kw)
    from . import rollout_worker

    return rollout_worker.pool().submit(fn, *args, **kw).result()


def md_side(md_path, run: str, *, process: bool = False):
    """PDFs and conservation of MD run ``run`` (:func:`dashboards.metriplectic_worker.md_summary`), cached."""
    st = mw.stamp(md_path)
    key = ("md", st, run, BINS)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    out = _in_worker(mw.md_summary, st, run, BINS, process=process)
    with _CACHE_LOCK:
        _CACHE[key] = out
    return out


def model_side(op_path, run_path, md_path, run: str, vmax: float, *, process: bool = False):
    """A run's rollout summary on MD run ``run`` (:func:`dashboards.metriplectic_worker.rollout_summary`), cached."""
    op_st, md_st = mw.stamp(op_path), mw.stamp(md_path)
    key = ("model", op_st, md_st, run, float(vmax), BINS)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    out = _in_worker(mw.rollout_summary, op_st, md_st, run, float(vmax), BINS,
                     str(mw.cache_path(run_path, md_path, run)), process=process)
    with _CACHE_LOCK:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = out
    return out


def summary_table(models: dict) -> pd.DataFrame:
    """Per rollout: model, mean energy distance to MD over frames after the first, at the last frame, solver steps."""
    rows = []
    for label, (ds, model) in models.items():
        if ds is None:                  # still computed
            continue
        e = np.asarray(ds["energy_distance"].values, dtype=float)
        rows.append({"run": label, "model": model, "energy distance (mean, t > 0)": float(np.mean(e[1:]))
                     if e.size > 1 else float(e[0]), "at the last frame": float(e[-1]),
                     "speed-PDF L1 (mean, t > 0)": float(np.mean(ds["speed_l1"].values[1:])) if e.size > 1
                     else float(ds["speed_l1"].values[0]), "solver steps": int(ds.attrs.get("solver_steps", 0))})
    cols = ["run", "model", "energy distance (mean, t > 0)", "at the last frame", "speed-PDF L1 (mean, t > 0)",
            "solver steps"]
    return pd.DataFrame(rows, columns=cols).round(4)


class MetriplecticCompare(pn.viewable.Viewer):
    """The comparison section: test run, runs compared, time slider, five exportable figures and a table."""

    test_run = param.String(default="", doc="the MD test run (initial distribution) compared")
    compare = param.List(default=[], doc="ids of the finished runs compared")
    frame = param.Integer(default=0, bounds=(0, None), doc="frame index of the PDFs")

    def __init__(self, **params):
        super().__init__(**params)
        self.md_path = None
        self.units = Units()
        self._infos: dict = {}
        self._known: set = set()
        self._requests = 0
        self._md = None
        self._models: dict = {}                         # label -> (summary, model)
        self._pending: dict = {}
        self._errors: list[str] = []
        self.md_bg = Background()
        self._bgs: dict = {}
        self.test_w = pn.widgets.Select(label="Test distribution", css_classes=["collop-mp-test-run"], width=220)
        self.runs_w = pn.widgets.MultiChoice.from_param(self.param.compare, label="Runs compared",
                                                        css_classes=["collop-mp-compare-runs"],
                                                        sizing_mode="stretch_width")
        self.frame_w = pn.widgets.Player.from_param(self.param.frame, label="Frame", interval=400,
                                                    loop_policy="once", css_classes=["collop-mp-frame"], width=420)
        self.status = pn.pane.Markdown("", css_classes=["collop-mp-compare-status"])
        self.busy = spinner("mp-compare-busy")
        self.message = alert(name="mp-compare-message")
        self.table = pn.pane.DataFrame(summary_table({}), index=False, escape=True,
                                       css_classes=["collop-mp-distance-table"], sizing_mode="stretch_width")
        self.speed_view = FigureView(self._fig("speed"), css_classes=["collop-mp-speed"])
        self.v12_view = FigureView(self._fig("v12"), css_classes=["collop-mp-v12"])
        self.marg_view = FigureView(self._fig("marginal"), css_classes=["collop-mp-marginal"])
        self.cons_view = FigureView(self._fig("conservation"), css_classes=["collop-mp-conservation"])
        self.dist_view = FigureView(self._fig("distance"), css_classes=["collop-mp-distance"])
        self.test_w.param.watch(lambda e: setattr(self, "test_run", e.new or ""), "value")
        self.param.watch(lambda *_: self._request(), ["test_run", "compare"])
        self.param.watch(lambda *_: self._draw_frame(), ["frame"])
        self._layout = pn.Column(
            "### MD against the learned kernels",
            pn.Row(self.test_w, self.runs_w, sizing_mode="stretch_width"), self.frame_w,
            pn.Row(self.busy, self.status), self.message,
            figure_card(self.speed_view, "speed-pdf", "Speed PDF (Fig. 2)",
                        make=lambda: without_blanks(self.speed_view.fig)),
            figure_card(self.v12_view, "v12-pdf", "v₁–v₂ PDFs (Figs. 3, 4)"),
            figure_card(self.marg_view, "marginal-pdf", "Marginal PDFs (Figs. 17, 18)"),
            figure_card(self.cons_view, "conservation", "Conservation over the rollout"),
            figure_card(self.dist_view, "distance", "Distance to MD", make=lambda: without_blanks(self.dist_view.fig)),
            self.table,
            sizing_mode="stretch_width", css_classes=["collop-mp-compare"])

    # -- inputs ------------------------------------------------------------------------
    def set_file(self, md_path, units, tests, finished: list, default_ids: list) -> None:
        """A new MD file (or new finished runs): its test runs and the runs one may compare.

        The compared runs are kept; runs of ``default_ids`` not seen before
        (a training that just finished) are added.
        """
        changed = md_path != self.md_path
        self.md_path, self.units = md_path, units
        self._infos = {r["id"]: r for r in finished}
        before = self._requests
        if changed:
            self._known = set()
        fresh = [r for r in default_ids if r in self._infos and r not in self._known]
        self._known |= set(self._infos)
        with param.parameterized.batch_call_watchers(self):
            self.runs_w.options = {plain(run_label(r["id"], r.get("method"))): r["id"] for r in finished}
            keep = [r for r in self.compare if r in self._infos] if not changed else []
            want = keep + [r for r in fresh if r not in keep]
            if want != self.compare:
                self.compare = want
            self.test_w.options = {str(t): str(t) for t in tests}
            if changed or self.test_run not in tests:
                self.test_w.value = tests[0] if tests else None
                self.test_run = tests[0] if tests else ""
        if changed and self._requests == before:     # nothing asked for new data: clear the old file's
            self._request()

    # -- background work -----------------------------------------------------------------
    def _request(self) -> None:
        """Fetch the MD summary of the test run, then each compared run's rollout (in the background)."""
        self._requests += 1
        self._models, self._pending, self._errors = {}, {}, []
        self._md = None
        if self.md_path is None or not self.test_run or not self.compare:
            return self._draw()              # MD alone is read once a run is compared
        for rid in self.compare:         # a blank line per run until its rollout arrives: the figures keep
            info = self._infos.get(rid)   # their structure (and their Bokeh models) meanwhile
            if info is not None:
                self._models[run_label(rid, info.get("method"))] = (None, model_of(info))
        path, run, process = self.md_path, self.test_run, in_server()
        self.status.object = f"Reading MD run **{md(run)}**…"
        self.busy.visible = True
        self.md_bg.submit(lambda: md_side(path, run, process=process), self._md_done)

    def _md_done(self, fut) -> None:
        try:
            self._md = fut.result()
        except Exception as exc:  # reported on the page, one line
            self._md = None
            set_alert(self.message, f"MD run {self.test_run}: {public_message(exc)}", "danger")
            self.busy.visible = False
            return self._draw()
        set_alert(self.message, "")
        n = self._md.sizes["time"]
        self.param.frame.bounds = (0, max(n - 1, 0))
        self.frame_w.end = max(n - 1, 0)
        if self.frame > n - 1:
            self.frame = n - 1
        vmax = float(self._md.attrs["vmax"])
        for rid in self.compare:
            info = self._infos.get(rid)
            if info is None:
                continue
            label = run_label(rid, info.get("method"))
            self._pending[label] = rid
            bg = self._bgs.setdefault(rid, Background())
            args = (f"{info['path']}/operator.nc", info["path"], self.md_path, self.test_run, vmax)
            bg.submit(lambda a=args: model_side(*a, process=in_server()),
                      lambda f, label=label, rid=rid, req=self._requests: self._model_done(label, rid, f, req))
        self._draw()

    def _model_done(self, label: str, rid: str, fut, req: int) -> None:
        if req != self._requests or self._pending.pop(label, None) is None:    # a newer request replaced it
            return
        try:
            self._models[label] = (fut.result(), model_of(self._infos.get(rid, {})))
        except Exception as exc:  # one run failing leaves the others
            self._models.pop(label, None)
            self._errors.append(f"{label}: {public_message(exc)}")
        self._draw()

    # -- figures ---------------------------------------------------------------------------
    def _fig(self, which: str):
        m, u, run, ti = self._md, self.units, self.test_run, int(self.frame)
        if which == "speed":
            return mf.speed_figure(m, self._models, ti, u, run=run)
        if which == "v12":
            return mf.v12_figure(m, self._models, ti, u, run=run)
        if which == "marginal":
            return mf.marginal_figure(m, self._models, ti, u, run=run)
        if which == "conservation":
            return mf.conservation_figure(m, self._models, u, run=run)
        return mf.distance_figure(self._models, u, run=run)

    def _draw_frame(self) -> None:
        for view, which in ((self.speed_view, "speed"), (self.v12_view, "v12"), (self.marg_view, "marginal")):
            view.update(self._fig(which))

    def _draw(self) -> None:
        self._draw_frame()
        self.cons_view.update(self._fig("conservation"))
        self.dist_view.update(self._fig("distance"))
        self.table.object = summary_table(self._models)
        waiting = list(self._pending)
        parts = []
        n_done = sum(ds is not None for ds, _ in self._models.values())
        if self._md is not None:
            parts.append(f"MD run **{md(self.test_run)}**: {self._md.sizes['time']} frames")
        if waiting:
            parts.append("rolling out " + ", ".join(md(w) for w in waiting) + " (in the background)…")
        if self.compare and not waiting and self._md is not None:
            parts.append(f"{n_done} of {len(self.compare)} rollouts shown")
        if not self.compare:
            parts.append("no finished run of this MD file to compare yet")
        self.status.object = " · ".join(parts)
        self.busy.visible = bool(waiting)
        if self._errors:
            set_alert(self.message, "; ".join(self._errors), "danger")

    def __panel__(self):
        return self._layout
