"""The Metriplectic tab: learn Landau, CM1 and CM2 collision kernels from MD particles (Zhao et al., PRL 2025).

- choose an MD file (a particles file with one run per initial distribution)
  and a model; start and stop ``collop train metriplectic`` in the background
  (:meth:`dashboards.jobs.JobManager.start`, the same job spec as the command line);
- follow a run live: its loss, and the ``g_r²``/``g_s²`` contours over
  ``(u, r)`` at a chosen ``s`` and averaged over ``s`` (Figs. 1, 10), redrawn
  as its snapshots land;
- compare MD with the finished Landau, CM1 and CM2 runs of that file
  (:mod:`dashboards.metriplectic_compare`).

The MD file is opened in a background thread; the tab's periodic
:meth:`tick` only reads what the run folder gained.
"""
from __future__ import annotations

import functools

import panel as pn
import param

from collop.views import Units

from .base import Background, Tab, alert, set_alert, spinner
from .export import FigureView, figure_card
from .jobs import run_label
from .metriplectic_compare import MetriplecticCompare
from .metriplectic_data import (MODELS, g2_maps, is_metriplectic, md_files, md_runs, metriplectic_runs,
                                newest_per_model, short_units)
from .metriplectic_figures import g2_figure, loss_figure
from .metriplectic_form import MetriplecticForm
from .streams import RunFeed, format_duration
from .text import md, plain

__all__ = ["MetriplecticTab", "open_md"]


@functools.lru_cache(maxsize=8)
def _open(stamp):
    from collop.io import open_dataset

    ds = open_dataset(stamp[0], "particles", load=False, check_values=False)
    ds.close()
    return ds


def open_md(path):
    """The MD particles file's metadata (runs, times, attributes; velocities not read), cached per file version."""
    from .metriplectic_worker import stamp

    return _open(stamp(path))


class MetriplecticTab(Tab):
    """Train metriplectic kernels on MD data in the background; follow them live; compare them with MD."""

    title = "Metriplectic"

    @classmethod
    def opens(cls, info: dict) -> bool:
        """Trainings of the metriplectic family."""
        return is_metriplectic(info)
    md_name = param.String(default="", doc="the chosen MD file, root:relative")
    shown = param.String(default="", doc="id of the run whose loss and contours are shown")
    s_value = param.Number(default=1.0, bounds=(0, None), doc="s = |u x r| of the top contour row (velocity²)")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        if s.manager is not None:
            s.manager.prepare()     # the warm worker imports torch while the user sets up the run
        self.form = f = MetriplecticForm()
        self.md_path, self.md_ds, self.units = None, None, Units()
        self.md_bg = Background()
        self.md_w = pn.widgets.Select(label="MD file", css_classes=["collop-mp-md"], sizing_mode="stretch_width")
        self.md_info = pn.pane.Markdown("", css_classes=["collop-mp-md-info"], sizing_mode="stretch_width")
        self.busy = spinner("mp-busy")
        self.model_w = pn.widgets.Select.from_param(f.param.model, label="Model", css_classes=["collop-mp-model"])
        self.train_w = pn.widgets.MultiChoice(label="Training runs", css_classes=["collop-mp-train"],
                                              sizing_mode="stretch_width")
        self.test_w = pn.widgets.MultiChoice(label="Test runs (scored)", css_classes=["collop-mp-test"],
                                             sizing_mode="stretch_width")
        self.train_w.link(f, value="train", bidirectional=True)
        self.test_w.link(f, value="test", bidirectional=True)
        self.steps_w = pn.widgets.IntInput.from_param(f.param.steps, label="Steps", css_classes=["collop-mp-steps"],
                                                      width=170)
        self.pairs_w = pn.widgets.IntInput.from_param(f.param.pairs, label="Pairs P per step",
                                                      css_classes=["collop-mp-pairs"], width=170)
        self.seed_w = pn.widgets.IntInput.from_param(f.param.seed, label="Seed", css_classes=["collop-mp-seed"],
                                                     width=170)
        self.start = pn.widgets.Button(label="Start", color="primary", css_classes=["collop-mp-start"])
        self.stop = pn.widgets.Button(label="Stop", color="warning", css_classes=["collop-mp-stop"],
                                      disabled=True)
        self.message = alert(name="mp-message")
        self._transient = None           # (kind, run id) of a message that clears once untrue
        self._started = ""               # the run started last from this tab
        self.start.on_click(self._start)
        self.stop.on_click(self._stop)
        # -- the followed run
        self.shown_w = pn.widgets.Select(label="Run shown", css_classes=["collop-mp-shown"], width=360)
        self.shown_w.param.watch(lambda e: setattr(self, "shown", e.new or ""), "value")
        self.progress = pn.indicators.Progress(value=0, max=1, css_classes=["collop-mp-progress"],
                                               sizing_mode="stretch_width", bar_color="primary")
        self.progress_text = pn.pane.Markdown("No run shown.", css_classes=["collop-mp-progress-text"])
        self.s_w = pn.widgets.FloatSlider.from_param(self.param.s_value, label="s = |u × r| of the top row",
                                                     css_classes=["collop-mp-s"], width=360)
        self.feed = RunFeed()
        self._feed_version = -1
        self._g2_key = None
        self.loss_view = FigureView(loss_figure(None, self.units), css_classes=["collop-mp-loss"])
        self.g2_view = FigureView(g2_figure(None, self.units), css_classes=["collop-mp-g2"])
        self.compare = MetriplecticCompare()
        self.param.watch(lambda *_: self._follow(), ["shown"])
        self.param.watch(lambda *_: self._draw_g2(force=True), ["s_value"])
        self.md_w.param.watch(lambda e: self.choose(e.new), "value")
        s.param.watch(lambda *_: self._runs_changed(), ["runs"])
        s.param.watch(lambda e: self.open_run(e.new), ["current_run"])
        self._to_show = ""               # a run opened elsewhere, shown once its MD file is open

        controls = pn.Column(pn.Row(self.md_w, self.busy), self.md_info, pn.Row(self.start, self.stop),
                             self.message, self.model_w, self.train_w, self.test_w,
                             pn.Row(self.steps_w, self.pairs_w), self.seed_w, width=380,
                             css_classes=["collop-mp-controls"])
        live = pn.Column(self.shown_w, self.progress, self.progress_text,
                         figure_card(self.loss_view, "metriplectic-loss", "Weak-form loss"), self.s_w,
                         figure_card(self.g2_view, "g2-contours", "g_r² and g_s² over (u, r) (Figs. 1, 10); "
                                     "blank where s > u r"),
                         sizing_mode="stretch_width", css_classes=["collop-mp-live"])
        self._layout = pn.Row(controls, pn.Column(live, self.compare, sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")
        files = md_files(s.config)
        self.md_w.options = files
        if files:
            first = next(iter(files.values()))
            self.md_w.value = first              # -> choose()
            if self.md_name != first:
                self.choose(first)
        else:
            self.md_info.object = "No MD particles file (with a run dimension) under the data roots."
            self.start.disabled = True
        if s.current_run:
            self.open_run(s.current_run)

    def open_run(self, run_id: str) -> None:
        """Show a metriplectic run opened elsewhere (the Runs tab): its MD file, its parameters, its loss and contours.

        Other runs are left to their tabs.
        """
        info = self.state.run_info(run_id) if run_id else None
        if info is None or not is_metriplectic(info):
            return
        name = self.state.config.name_of((info.get("params") or {}).get("data"))
        if name is None:
            return set_alert(self.message, f"{run_id}: its MD file is not under the data roots", "warning")
        self._to_show = run_id
        if name != self.md_name:
            self.md_w.value = name if name in self.md_w.options.values() else self.md_w.value
            self.choose(name)             # shows the run once the file is open (_runs_changed)
        else:
            self._runs_changed(force=True)

    # -- the MD file -------------------------------------------------------------------------
    def choose(self, name: str) -> None:
        """Open an MD file by name (in the background) and set the form, the runs and the comparison up."""
        if not name or name == self.md_name:
            return
        self.md_name = name
        self.busy.visible = True
        self.start.disabled = True

        def work():
            path = self.state.config.resolve(name)
            return path, open_md(path)
        self.md_bg.submit(work, self._opened)

    def _opened(self, fut) -> None:
        self.busy.visible = False
        try:
            path, ds = fut.result()
        except Exception as exc:  # any reader error: one line, no server paths
            self.md_path = self.md_ds = None
            self.form.set_file([], [], [])
            self.md_info.object = ""
            return set_alert(self.message, f"{self.md_name}: {self.state.public(exc)}", "danger")
        set_alert(self.message, "")
        self.md_path, self.md_ds, self.units = path, ds, short_units(ds.attrs)
        runs = md_runs(ds)
        labels = {plain(r): r for r in runs["all"]}
        self.train_w.options, self.test_w.options = labels, labels      # the choices first, then the values
        self.form.set_file(runs["all"], runs["train"], runs["test"])
        self.train_w.value, self.test_w.value = list(self.form.train), list(self.form.test)
        a = ds.attrs
        parts = [f"**{ds.sizes['run']}** runs · **{ds.sizes['particle']}** particles · **{ds.sizes['time']}** frames "
                 f"to t = {float(ds['time'].values[-1]):.3g} {md(self.units.t)}",
                 f"Γ = {md(a.get('gamma', '?'))} · v in {md(self.units.v or '?')} · training: "
                 f"{md(', '.join(runs['train']))} · test: {md(', '.join(runs['test']))}"]
        self.md_info.object = "\n\n".join(parts)
        self.start.disabled = False
        self._runs_changed(force=True)

    # -- runs ---------------------------------------------------------------------------------
    def _runs_changed(self, force: bool = False) -> None:
        s = self.state
        mine = metriplectic_runs(s.runs, self.md_path)
        opts = {f"{run_label(r['id'], r.get('method'))} · {r.get('status', '')}": r["id"] for r in mine[::-1]}
        started = self._started
        if started and started not in opts.values():        # its worker has not written the folder yet
            opts = {f"{run_label(started, MODELS[self.form.model])} · starting": started, **opts}
        key = (str(self.md_path), tuple(opts.items()))
        if not force and key == getattr(self, "_runs_key", None):
            return
        self._runs_key = key
        self.shown_w.options = opts
        if self._to_show in opts.values():
            run_id, self._to_show = self._to_show, ""
            self.form.load_run(self.state.run_info(run_id) or {})
            self.train_w.value, self.test_w.value = list(self.form.train), list(self.form.test)
            self.shown_w.value = run_id
            self.shown = run_id
        if self.shown not in opts.values():
            self.shown_w.value = next(iter(opts.values()), None)
            self.shown = self.shown_w.value or ""
        elif self.shown_w.value != self.shown:
            self.shown_w.value = self.shown
        finished = metriplectic_runs(s.runs, self.md_path, finished_only=True)
        defaults = list(newest_per_model(finished).values())
        tests = md_runs(self.md_ds)["test"] if self.md_ds is not None else []
        self.compare.set_file(self.md_path, self.units, tests, finished, defaults)

    def _follow(self) -> None:
        info = self.state.run_info(self.shown) if self.shown else None
        self.feed.follow(info["path"] if info else None)
        self._feed_version = -1
        self._g2_key = None
        self.tick()

    # -- actions ------------------------------------------------------------------------------
    def _start(self, *_) -> None:
        s = self.state
        errors = self.form.validate()
        if self.md_path is None or s.manager is None:
            errors = ["choose a usable MD file first"]
        if errors:
            return set_alert(self.message, "Cannot start: " + "; ".join(errors) + ".", "danger")
        try:
            run_id = s.manager.start(self.form.spec(self.md_path))
        except (ValueError, OSError) as exc:
            return set_alert(self.message, f"Cannot start: {s.public(exc)}", "danger")
        self._started = run_id
        set_alert(self.message, f"Started run {run_id}.", "success")
        self._transient = ("started", run_id)
        s.refresh_runs(force=True)
        self._runs_changed(force=True)
        self.shown_w.value = run_id
        self.shown = run_id

    def _stop(self, *_) -> None:
        s = self.state
        if not self.shown or s.manager is None:
            return
        set_alert(self.message, s.manager.stop(self.shown), "info")
        self._transient = ("stopping", self.shown)

    # -- live ---------------------------------------------------------------------------------
    def _draw_g2(self, force: bool = False) -> None:
        op = self.feed.operator
        key = (id(op), self.s_value)
        if not force and key == self._g2_key:
            return
        self._g2_key = key
        label = run_label(self.shown, (self.state.run_info(self.shown) or {}).get("method")) if self.shown else ""
        if op is None or "g_r2" not in op:
            return self.g2_view.update(g2_figure(None, self.units, label=label))
        smax = float(op["s"].values[-1])
        if self.param.s_value.bounds != (0, smax):
            self.param.s_value.bounds = (0.0, smax)
            self.s_w.end, self.s_w.step = smax, smax / 100 if smax > 0 else 0.01
        if self.s_value > smax:
            self.s_value = smax            # redraws through the watcher
            return
        step = op.attrs.get("epoch")
        self.g2_view.update(g2_figure(g2_maps(op, self.s_value), self.units,
                                      label=label + (f", step {step}" if step is not None else "")))

    def tick(self) -> None:
        """Take in the shown run's new events; update the progress line, the loss and the contours."""
        s = self.state
        if self.feed.drain() or self._feed_version != self.feed.version:
            self._feed_version = self.feed.version
            self.loss_view.update(loss_figure(self.feed.loss, self.units))
            self._draw_g2()
        info = s.run_info(self.shown) if self.shown else None
        if info is None:
            self.progress.value, self.progress.max = 0, 1
            self.progress_text.object = "No run shown. Start one."
            self.stop.disabled = True
            return
        p = self.feed.progress
        status = info.get("status") or p.status or "starting"
        if self._transient is not None:
            kind, rid = self._transient
            if rid != self.shown or (kind == "started" and status != "starting") or \
                    (kind == "stopping" and status not in ("running", "starting")):
                self._transient = None
                if self.message.alert_type in ("success", "info"):
                    set_alert(self.message, "")
        total = int((info.get("params") or {}).get("steps") or p.stages.get(0, (0, 0))[0] or 1)
        done = min(int(p.epochs_done), total)
        self.progress.max, self.progress.value = max(total, 1), done
        op = self.feed.operator
        src = "none yet" if op is None else (f"snapshot after {op.attrs.get('epoch')} steps" if "epoch" in op.attrs
                                             else "final operator")
        eta = format_duration(p.eta()) if status == "running" else "–"
        self.progress_text.object = (f"**{md(self.shown)}** · {md(status)} · step {done}/{total} · elapsed "
                                     f"{format_duration(p.elapsed())} · ETA {eta} · loss points {len(self.feed.loss)}"
                                     f" · contours: {src}")
        self.stop.disabled = status not in ("running", "starting")
        if status in ("failed", "diverged") and info.get("error"):
            set_alert(self.message, f"{self.shown}: {status}: {s.public(info['error'])}", "danger")

    def __panel__(self):
        return self._layout

