"""The Kernel tab: launch a Pareto sweep over the kernel size, watch it fill in, look inside its kernels.

- **Sweep**: the form (:mod:`dashboards.kernel_form`) becomes a sweep spec
  run by ``collop sweep run`` in a process of its own on a dask
  ``LocalCluster`` (:mod:`dashboards.sweep_jobs`); Stop asks it to stop.
- **Pareto plot**: test rollout error against k, one line per scheme, error
  bars over seeds, PS-Tensor as a dashed horizontal line when runs or sweep
  points scored on the same test populations exist (Carvalho et al., Figs.
  4 and 18). The tab re-reads the sweep's ``sweep.json`` whenever it
  changes, so points appear as they finish.
- **A chosen point**: ``K_x`` or ``K_y`` as a k x k grid of velocity maps on
  a diverging scale centred at zero (Figs. 5, 19, 20) and its rollout
  against the data.
- **Scans** (:mod:`dashboards.kernel_scans`): N_dists, N_t and λ_reg sweeps
  (Figs. 12-14), launched from the page or a terminal.
- **Where sweeps run** (:class:`dashboards.kernel_form.Placement`): a new
  local cluster of n workers, or a running dask scheduler the server names
  (``--args --scheduler ADDRESS``).

Everything the page shows is read from the sweep folders in ``<runs>/sweeps``
(a sweep run from a terminal with ``--out`` there shows up too); the
launching process and the page share nothing else. Every figure goes through
the figure layer and exports as PNG, SVG, PDF and HTML.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param

from collop.views import Units

from . import plots
from .base import Background, Tab, alert, in_server, set_alert
from .export import FigureView, figure_card
from .figures import Axis, ColorScale, Figure, Image, Plot
from .kernel_data import baseline_table, kernel_maps, pareto_table, points_frame, runs_frame
from .kernel_form import LOCAL, SCHEMES, KernelForm, Placement
from .kernel_plots import kernel_figure, pareto_figure
from .kernel_scans import ScansView, SweepCache, status_line
from .runstore import load_operator
from .sweep_jobs import get_sweep_jobs, sweeps_root
from .text import plain, shorten

__all__ = ["KernelTab", "SwapView"]

#: Ticks (of ~500 ms) between two listings of the sweeps folder.
LIST_EVERY = 4


class SwapView(pn.viewable.Viewer):
    """A :class:`FigureView` whose figure may switch between one plot and a grid (a new view then)."""

    def __init__(self, fig: Figure, css: str):
        super().__init__()
        self.css = css
        self.view = FigureView(fig, css_classes=[css])
        self.pane = pn.Column(self.view, margin=0, sizing_mode="stretch_width")

    @property
    def fig(self) -> Figure:
        return self.view.fig

    def update(self, fig: Figure) -> None:
        single = len(fig.plots) == 1 and fig.plots[0] is not None
        if single != (len(self.view.fig.plots) == 1 and self.view.fig.plots[0] is not None):
            self.view = FigureView(fig, css_classes=[self.css])
            self.pane.objects = [self.view]
        else:
            self.view.update(fig)

    def __panel__(self):
        return self.pane


def _empty_rollout(units: Units) -> Figure:
    img = Image(np.full((2, 2), np.nan), (0, 0, 1, 1), ColorScale(label="f", unit=units.f))
    ps = [Plot(t, Axis("vx", units.v), Axis("vy", units.v), [img], equal_aspect=True, width=220, height=220)
          for t in ("data", "rollout", "difference")]
    return Figure(ps, ncols=3, name="kernel-rollout", title="Rollout")


def _point_label(row, with_data: bool = False) -> str:
    """``k = 2, forward, seed 0 · error 0.012`` (with the data file's name when a sweep varies it)."""
    err = f"{row['rollout_mae']:.3g}" if np.isfinite(row["rollout_mae"]) else "–"
    data = f", {Path(str(row['data'])).name}" if with_data else ""
    return f"k = {int(row['k'])}, {row['scheme']}, seed {int(row['seed'])}{data} · error {err}"


class KernelTab(Tab):
    """Pareto sweeps over the kernel size, live; a point's kernel and rollout; the scans."""

    title = "Kernel"
    sweep = param.String(default="", doc="id of the sweep in the Pareto plot")
    point = param.String(default="", doc="id of the point whose kernel and rollout are shown")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self.jobs = get_sweep_jobs(s.config.runs)
        self.cache = SweepCache(sweeps_root(s.config.runs))
        self.form = f = KernelForm()
        self.placement = Placement(s.config.schedulers)
        self.units = Units.of(s.dataset)
        w = {}
        w["train"] = pn.widgets.MultiChoice.from_param(f.param.train, label="Training populations",
                                                       css_classes=["collop-kernel-train"], sizing_mode="stretch_width")
        w["test"] = pn.widgets.MultiChoice.from_param(f.param.test, label="Test populations",
                                                      css_classes=["collop-kernel-test"], sizing_mode="stretch_width")
        w["ks"] = pn.widgets.TextInput.from_param(f.param.ks, label="k (kernel sizes)", css_classes=["collop-kernel-ks"])
        w["schemes"] = pn.widgets.CheckButtonGroup.from_param(f.param.schemes, options=SCHEMES,
                                                              css_classes=["collop-kernel-schemes"])
        w["seeds"] = pn.widgets.TextInput.from_param(f.param.seeds, label="Seeds", css_classes=["collop-kernel-seeds"])
        w["model"] = pn.widgets.Select.from_param(f.param.model, label="K as", css_classes=["collop-kernel-model"],
                                                  width=170)
        w["workers"] = pn.widgets.IntInput.from_param(self.placement.param.workers, label="dask workers",
                                                      css_classes=["collop-kernel-workers"], width=170)
        w["where"] = pn.widgets.Select.from_param(self.placement.param.where, label="Run on",
                                                  css_classes=["collop-kernel-where"], sizing_mode="stretch_width",
                                                  visible=len(s.config.schedulers) > 0)
        self.placement.param.watch(lambda e: setattr(w["workers"], "disabled", e.new != LOCAL), "where")
        w["tie"] = pn.widgets.Checkbox.from_param(f.param.tie, label="tie K_y to K_x", css_classes=["collop-kernel-tie"])
        w["l1"] = pn.widgets.FloatInput.from_param(f.param.l1, label="L1 penalty on K", start=0.0, step=1e-5,
                                                   css_classes=["collop-kernel-l1"], width=170)
        w["baseline"] = pn.widgets.Checkbox.from_param(f.param.baseline, label="PS-Tensor baseline (same seeds)",
                                                       css_classes=["collop-kernel-baseline"])
        w["curriculum"] = pn.widgets.Select.from_param(f.param.curriculum, label="Curriculum",
                                                       css_classes=["collop-kernel-curriculum"],
                                                       sizing_mode="stretch_width")
        w["custom"] = pn.widgets.TextInput.from_param(f.param.custom, label="Custom curriculum (N_u:lr:epochs,...)",
                                                      css_classes=["collop-kernel-custom"], visible=False,
                                                      sizing_mode="stretch_width")
        f.param.watch(lambda e: setattr(w["custom"], "visible", e.new == "custom"), "curriculum")
        self.widgets = w
        self.start = pn.widgets.Button(label="Start sweep", color="primary", css_classes=["collop-kernel-start"])
        self.stop = pn.widgets.Button(label="Stop", color="warning", css_classes=["collop-kernel-stop"], disabled=True)
        self.resume = pn.widgets.Button(label="Resume", css_classes=["collop-kernel-resume"], disabled=True)
        self.start.on_click(self._start)
        self.stop.on_click(self._stop)
        self.resume.on_click(self._resume)
        self.message = alert(name="kernel-message")
        # -- the sweep followed
        self.sweep_select = pn.widgets.Select(label="Sweep", options={}, css_classes=["collop-kernel-sweep"],
                                              sizing_mode="stretch_width")
        self.sweep_select.link(self, value="sweep", bidirectional=True)
        self.sweep_text = pn.pane.Markdown("No sweep yet: start one, or run `collop sweep run ... --out "
                                           "runs/sweeps/NAME`.", css_classes=["collop-kernel-sweep-text"])
        self.pareto = FigureView(pareto_figure(pareto_table(points_frame({}))), css_classes=["collop-pareto-plot"])
        self.point_select = pn.widgets.Select(label="Point", options={}, css_classes=["collop-kernel-point"],
                                              sizing_mode="stretch_width")
        self.point_select.link(self, value="point", bidirectional=True)
        self.kernel_time = pn.widgets.Select(label="Time node", options={}, visible=False,
                                             css_classes=["collop-kernel-time"], width=160)
        self.kernel_component = pn.widgets.RadioButtonGroup(options={"K_x": "x", "K_y": "y"}, value="x",
                                                            css_classes=["collop-kernel-component"])
        self.kernel_view = SwapView(kernel_figure(None, self.units), "collop-kernel-maps")
        self.rollout_pop = pn.widgets.Select(label="Test population", options=[], css_classes=["collop-kernel-pop"],
                                             width=260)
        self.rollout_frame = pn.widgets.IntSlider(label="Frame", start=0, end=1, value=0,
                                                  css_classes=["collop-kernel-frame"], width=260)
        self.rollout_view = FigureView(_empty_rollout(self.units), css_classes=["collop-kernel-rollout"])
        self.rollout_note = alert(kind="info", name="kernel-rollout-note")
        self._bg = Background()
        self._transient = None           # (kind, sweep id) of a message that clears once untrue
        self._drawn = None
        self._ticks = 0
        self._point_row = None
        self.scans = ScansView(self.state, self.cache, self.jobs, self.placement)
        self.param.watch(lambda *_: self._draw_sweep(force=True), ["sweep"])
        self.param.watch(lambda *_: self._show_point(), ["point"])
        self.kernel_time.param.watch(lambda *_: self._draw_kernel(), "value")
        self.kernel_component.param.watch(lambda *_: self._draw_kernel(), "value")
        self.rollout_pop.param.watch(lambda *_: self._rollout(), "value")
        self.rollout_frame.param.watch(lambda *_: self._rollout(), "value_throttled")
        s.param.watch(lambda *_: self._dataset_changed(), ["dataset"])
        self._dataset_changed()
        self._refresh(force=True)

        controls = pn.Column(pn.Row(self.start, self.stop, self.resume), self.message, w["train"], w["test"], w["ks"],
                             "Schemes", w["schemes"], w["seeds"], w["where"], pn.Row(w["model"], w["workers"]),
                             pn.Row(w["tie"], w["l1"]),
                             w["baseline"], w["curriculum"], w["custom"], width=380,
                             css_classes=["collop-kernel-controls"])
        pareto = pn.Column(self.sweep_select, self.sweep_text,
                           figure_card(self.pareto, "pareto-plot", "Pareto plot: test error against k"),
                           sizing_mode="stretch_width")
        point = pn.Column("### A point of the sweep", self.point_select,
                          pn.Row(self.kernel_component, self.kernel_time),
                          figure_card(self.kernel_view.pane, "kernel-maps", "K_i(v; l, m): one velocity map per "
                                      "window offset (diverging scale centred at zero)", make=lambda: self.kernel_view.fig),
                          pn.Row(self.rollout_pop, self.rollout_frame), self.rollout_note,
                          figure_card(self.rollout_view, "kernel-rollout", "Its rollout against the data"),
                          sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.Row(controls, pn.Column(pareto, point, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.pane.HTML("<hr>", sizing_mode="stretch_width"),   # (pn.layout.Divider asks a CDN for its CSS)
            self.scans, sizing_mode="stretch_width")

    # -- inputs --------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        ds = self.state.dataset
        pops = [] if ds is None else [str(p) for p in ds["population"].values]
        grid = (0, 0) if ds is None else (int(ds.sizes["vx"]), int(ds.sizes["vy"]))
        self.form.set_dataset(pops, grid)
        labels = {plain(p): p for p in pops}
        self.widgets["train"].options, self.widgets["test"].options = labels, labels
        self.start.disabled = ds is None

    def _start(self, *_) -> None:
        s = self.state
        errors = self.form.validate()
        if s.dataset is None:
            errors = ["choose a usable dataset first"]
        if errors:
            return set_alert(self.message, "Cannot start: " + "; ".join(errors) + ".", "danger")
        spec, bspec = self.form.specs(os.path.abspath(s.dataset_path))
        try:
            where = self.placement.launch()
            sid = self.jobs.start(spec, kind="pareto", **where)
            if bspec is not None:
                self.jobs.start(bspec, sweep_id=f"{sid}-baseline", **{**where, "workers": 1})
        except (ValueError, OSError) as exc:
            return set_alert(self.message, f"Cannot start: {s.public(exc)}", "danger")
        set_alert(self.message, f"Started sweep {sid}" + (" and its PS-Tensor baseline" if bspec else "") + "…",
                  "success")
        self._transient = ("started", sid)
        self._refresh(force=True)
        self.sweep = sid

    def _stop(self, *_) -> None:
        if not self.sweep or self.cache.get(self.sweep) is None:      # only a sweep the page lists
            return
        msgs = [self.jobs.stop(self.sweep)]
        companion = f"{self.sweep}-baseline"
        if (self.jobs.root / companion).is_dir():
            msgs.append(self.jobs.stop(companion))
        set_alert(self.message, "; ".join(msgs), "info")
        self._transient = ("stopping", self.sweep)

    def _resume(self, *_) -> None:
        """Run the chosen sweep's points that are not done (a stopped, interrupted or incomplete sweep)."""
        if not self.sweep or self.cache.get(self.sweep) is None:
            return
        try:
            self.jobs.resume(self.sweep, **self.placement.launch())
        except (ValueError, OSError) as exc:
            return set_alert(self.message, f"Cannot resume: {self.state.public(exc)}", "danger")
        set_alert(self.message, f"Resuming sweep {self.sweep}…", "success")
        self._transient = ("started", self.sweep)
        self.resume.disabled = True

    # -- the sweeps -------------------------------------------------------------------------------
    def _refresh(self, force: bool = False) -> None:
        """Re-list the sweeps folder (re-reading only what changed); update the choosers."""
        changed = self.cache.refresh()
        if not changed and not force:
            return
        opts = {}
        for sid, (info, frame) in self.cache.items():
            if len(frame) and (frame["family"] == "kernel").any() or (info["index"] is None
                                                                        and sid.startswith("pareto-")
                                                                        and not sid.endswith("-baseline")):
                name = shorten(info.get("name") or "", 50)
                opts[f"{sid}{' — ' + name if name else ''}"] = sid
        if opts != self.sweep_select.options:
            self.sweep_select.options = opts
        if (not self.sweep or self.sweep not in opts.values()) and opts:
            self.sweep = next(iter(opts.values()))
        self.scans.update()
        self._draw_sweep()

    def _baselines(self, frame):
        ker = frame[frame["family"] == "kernel"]
        if not len(ker):
            return None
        tests = ker["test"].value_counts()
        test = tests.index[0] if len(tests) else ()
        cands = [self.cache.fp_rows(), runs_frame(self.state.runs)]
        cands = [c for c in cands if len(c)]
        allc = pd.concat(cands, ignore_index=True) if cands else None
        return baseline_table(allc, tuple(test), set(ker["data"]))

    def _draw_sweep(self, force: bool = False) -> None:
        entry = self.cache.get(self.sweep)
        if entry is None:
            self.stop.disabled = True
            return
        info, frame = entry
        key = (self.sweep, self.cache.signature(self.sweep), self.cache.version, len(self.state.runs))
        status = info["status"]
        self.stop.disabled = status not in ("running", "starting")
        self.resume.disabled = status not in ("stopped", "interrupted", "incomplete") or info["index"] is None
        if self._transient is not None:
            kind, sid = self._transient
            if sid != self.sweep or (kind == "started" and status != "starting") or \
                    (kind == "stopping" and status not in ("running", "starting")):
                self._transient = None
                if self.message.alert_type in ("success", "info"):
                    set_alert(self.message, "")
        self.sweep_text.object = status_line(self.sweep, info, frame, self.state)
        if key == self._drawn and not force:
            return
        self._drawn = key
        table = pareto_table(frame) if len(frame) else pareto_table(points_frame({}))
        name = shorten(info.get("name") or self.sweep, 40)
        self.pareto.update(pareto_figure(table, self._baselines(frame) if len(frame) else None,
                                         title=f"Test error against k — {name}"))
        ker = frame[(frame["family"] == "kernel") & (frame["status"] == "finished")] if len(frame) else frame
        several = ker["data"].nunique() > 1 if len(ker) else False
        opts = {_point_label(r, several): r["point"] for _, r in ker.sort_values(["scheme", "k", "seed"]).iterrows()}
        if opts != self.point_select.options:
            self.point_select.options = opts
        if self.point not in opts.values():
            self.point = next(iter(opts.values()), "")

    # -- a point ------------------------------------------------------------------------------------
    def _row(self):
        entry = self.cache.get(self.sweep)
        if entry is None or not self.point:
            return None
        frame = entry[1]
        rows = frame[frame["point"] == self.point]
        return None if not len(rows) else rows.iloc[0]

    def _label(self) -> str:
        """The chosen point's short label for titles: ``k = 2, forward, seed 0``."""
        row = self._point_row
        return "" if row is None else f"k = {int(row['k'])}, {row['scheme']}, seed {int(row['seed'])}"

    def _show_point(self) -> None:
        row = self._point_row = self._row()
        if row is None:
            self.kernel_view.update(kernel_figure(None, self.units))
            return
        try:
            from .datasets import load

            self.units = Units.of(load(row["data"]))
        except Exception:  # noqa: BLE001 - the data file may be gone: the kernel still shows, without units
            self.units = Units()
        op = load_operator(Path(row["path"]) / "operator.nc")
        times = [] if op is None or "K" not in op else [float(t) for t in op["time"].values]
        self.kernel_time.options = {f"t = {t:g}": t for t in times}
        self.kernel_time.visible = len(times) > 1
        pops = list(row["test"])
        self.rollout_pop.options = pops
        self._draw_kernel()
        if self.rollout_pop.value in pops:
            self._rollout()
        else:
            self.rollout_pop.value = pops[0] if pops else None

    def _draw_kernel(self) -> None:
        row = self._point_row
        op = None if row is None else load_operator(Path(row["path"]) / "operator.nc")
        maps = None
        comp = self.kernel_component.value
        if op is not None and "K" in op:
            maps = kernel_maps(op, self.kernel_time.value, component=comp)
        self.kernel_view.update(kernel_figure(maps, self.units, label=self._label(), component=comp))

    def _rollout(self) -> None:
        row, pop = self._point_row, self.rollout_pop.value
        if row is None or not pop:
            return
        op_path, data = Path(row["path"]) / "operator.nc", row["data"]
        label, frame, units = self._label(), int(self.rollout_frame.value), self.units
        set_alert(self.rollout_note, f"Rolling out {pop}…", "info")

        def work():
            from .datasets import load
            from .rollout_tab import rollout_of

            f_hat = rollout_of(op_path, data, pop, process=in_server())
            f = load(data)["f"].sel(population=pop)
            return f, f_hat

        def done(fut):
            try:
                f, f_hat = fut.result()
            except Exception as exc:  # noqa: BLE001 - shown on the page in one line
                return set_alert(self.rollout_note, f"Rollout failed: {self.state.public(exc)}", "danger")
            set_alert(self.rollout_note, "")
            n = f.sizes["time"]
            i = min(frame, n - 1)
            if self.rollout_frame.end != max(1, n - 1):      # a new data file: start at its last frame
                self.rollout_frame.end = max(1, n - 1)
                self.rollout_frame.value = i = n - 1
            self.rollout_view.update(plots.rollout_figure(f, f_hat, i, units, title=label))

        self._bg.submit(work, done)

    # -- polling ------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Re-read the followed sweep when its index changed; re-list the sweeps every ~2 s."""
        self._ticks += 1
        if self._ticks % LIST_EVERY == 0:
            self._refresh()
        elif self.cache.touch(self.sweep):
            self._draw_sweep()

    def __panel__(self):
        return self._layout
