"""The Fokker-Planck tab: set up a training, start/stop it, watch it live, compare finished runs."""
from __future__ import annotations

import os

import panel as pn
import param

from collop.views import Units

from . import plots
from .base import Tab, alert, defer, set_alert
from .export import FigureView, figure_card
from .fp_form import METHODS, FPForm, curriculum_frame, curriculum_spec
from .jobs import run_label
from .runstore import RunError, load_operator, progress_of, run_dir
from .streams import RunFeed, format_duration
from .summary import method_summary, run_summary
from .text import md, plain

__all__ = ["FPTab", "METHODS", "curriculum_frame", "curriculum_spec", "operator_view"]

#: At most this many runs are overlaid by default in the comparison plots (newest first).
COMPARE_DEFAULT = 4
#: Columns of the Table-1 summaries shown in the tab (all runs are on this dataset; the CSV download of the
#: Runs tab has every column at full precision).
RUN_SHOWN = ["run", "method", "test set", "populations", "mean ± std", "epochs", "status"]
METHOD_SHOWN = ["method", "test set", "runs", "populations", "mean ± std"]

_VIEWS: dict = {}


def operator_view(path, info: dict | None, ds):
    """An operator file's :func:`plots.coefficient_view`, masked by the run's training data (cached per file version).

    ``info`` is the run's entry (its ``params.train`` names the training
    populations of ``ds``); None for a true operator (shown everywhere).
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    train = tuple((info or {}).get("params", {}).get("train") or ())
    key = (str(path), st.st_mtime_ns, st.st_size, train, id(ds))
    if key not in _VIEWS:
        op = load_operator(path)
        if op is None:
            return None
        f = None
        if info is not None and "n_samples" not in op:
            names = [p for p in train if p in set(map(str, ds["population"].values))] if ds is not None else []
            f = ds["f"].sel(population=names) if names else (ds["f"] if ds is not None else None)
        if len(_VIEWS) > 64:
            _VIEWS.clear()
        view = plots.coefficient_view(op, f)
        if info is None:
            view.attrs["method"] = "truth"
        _VIEWS[key] = view
    return _VIEWS[key]


class FPTab(Tab):
    """Train Fokker-Planck operators in the background and follow them live."""

    title = "Fokker–Planck"

    @classmethod
    def opens(cls, info: dict) -> bool:
        """Fokker-Planck trainings (and runs from before families were recorded) and Tracks estimates."""
        family = (info.get("params") or {}).get("family")
        return info.get("kind") in ("train", "tracks") and family in (None, "fokker_planck")
    coef_times = param.List(default=[0.0], doc="times of the live coefficient curves")
    compare_time = param.Number(default=0.0, doc="time of the overlaid coefficient curves")
    compare_runs = param.List(default=[], doc="ids of the finished runs overlaid (plus the true operator)")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        if s.manager is not None:
            s.manager.prepare()     # the warm worker imports torch while the user sets up the run
        self.form = FPForm()
        f = self.form
        # -- inputs (views of the form)
        self.train = pn.widgets.MultiChoice.from_param(f.param.train, label="Training populations",
                                                       css_classes=["collop-train-pops"],
                                                       sizing_mode="stretch_width")
        self.test = pn.widgets.MultiChoice.from_param(f.param.test, label="Test populations",
                                                      css_classes=["collop-test-pops"], sizing_mode="stretch_width")
        self.method = pn.widgets.Select.from_param(f.param.method, label="Method", css_classes=["collop-method"])
        self.symmetry = pn.widgets.Select.from_param(f.param.symmetry, label="Symmetry",
                                                     css_classes=["collop-symmetry"])
        self.nt = pn.widgets.IntInput.from_param(f.param.nt, label="N_t (0: one per frame)",
                                                 css_classes=["collop-nt"], width=170)
        self.reg = pn.widgets.FloatInput.from_param(f.param.reg, label="λ_reg (time)", step=1e-3,
                                                    css_classes=["collop-reg"], width=170)
        self.reg_v = pn.widgets.FloatInput.from_param(f.param.reg_velocity, label="λ_v (speed)", step=1e-3,
                                                      css_classes=["collop-reg-v"], width=170)
        self.seed = pn.widgets.IntInput.from_param(f.param.seed, label="Seed", css_classes=["collop-seed"], width=170)
        self.ndump = pn.widgets.IntInput.from_param(f.param.ndump, label="N_dump (frames per interval)",
                                                    css_classes=["collop-ndump"], visible=False)
        self.curriculum = pn.widgets.Tabulator(f.curriculum, show_index=False, css_classes=["collop-curriculum"],
                                               sizing_mode="stretch_width", height=200,
                                               editors={"N_u": {"type": "number", "min": 1, "step": 1},
                                                        "lr": {"type": "number", "min": 0, "step": 1e-4},
                                                        "epochs": {"type": "number", "min": 1, "step": 1}})
        self.curriculum.link(f, value="curriculum", bidirectional=True)
        self.add_stage = pn.widgets.Button(label="+ stage", css_classes=["collop-curriculum-add"], width=80)
        self.del_stage = pn.widgets.Button(label="− stage", css_classes=["collop-curriculum-remove"], width=80)
        self.reset = pn.widgets.Button(label="Table 2", css_classes=["collop-curriculum-reset"], width=80)
        self.start = pn.widgets.Button(label="Start", color="primary", css_classes=["collop-start"])
        self.stop = pn.widgets.Button(label="Stop", color="warning", css_classes=["collop-stop"],
                                      disabled=True)
        self.message = alert(name="fp-message")
        self.source_note = pn.pane.Markdown("", css_classes=["collop-form-source"], margin=(0, 5))
        self.add_stage.on_click(self._add_stage)
        self.del_stage.on_click(self._del_stage)
        self.reset.on_click(lambda *_: f.reset_curriculum())
        f.param.watch(self._method_changed, "method")
        f.param.watch(self._form_source, "source_run")
        f.param.watch(self._form_edited, ["train", "test", "symmetry", "nt", "reg", "reg_velocity", "seed",
                                          "ndump", "curriculum"])
        self.start.on_click(self._start)
        self.stop.on_click(self._stop)
        self.curriculum_box = pn.Column("**Curriculum** (Table 2)", self.curriculum,
                                        pn.Row(self.add_stage, self.del_stage, self.reset),
                                        sizing_mode="stretch_width")
        self._transient = None           # (kind, run id) of a message that clears once untrue
        # -- live
        self.feed = RunFeed()
        self._feed_version = -1
        self.progress = pn.indicators.Progress(value=0, max=1, css_classes=["collop-progress"],
                                               sizing_mode="stretch_width", bar_color="primary")
        self.progress_text = pn.pane.Markdown("No run followed.", css_classes=["collop-progress-text"])
        self.feed_text = pn.pane.Markdown("", css_classes=["collop-feed-status"])
        self.units = Units()
        # the figures are made once the tab's state is set (below): made earlier with placeholder
        # curves, they would be rebuilt at once (their structure changes), which cost a second
        self.loss_view = self.coef_view = self.compare_view = None
        self.times_w = pn.widgets.MultiChoice.from_param(self.param.coef_times, label="Times of the curves",
                                                         css_classes=["collop-coef-times"],
                                                         sizing_mode="stretch_width")
        # -- finished runs
        # plain HTML tables (pandas escapes every cell): much lighter for the browser than Tabulators
        self.run_table = pn.pane.DataFrame(run_summary([])[RUN_SHOWN], index=False, escape=True,
                                           css_classes=["collop-run-summary"], sizing_mode="stretch_width",
                                           max_height=260)
        self.method_table = pn.pane.DataFrame(method_summary([])[METHOD_SHOWN], index=False, escape=True,
                                              css_classes=["collop-method-summary"], sizing_mode="stretch_width")
        self.compare_w = pn.widgets.FloatSlider.from_param(self.param.compare_time, label="Time",
                                                           css_classes=["collop-compare-time"],
                                                           sizing_mode="stretch_width")
        self.compare_pick = pn.widgets.MultiChoice.from_param(self.param.compare_runs, label="Runs overlaid",
                                                              css_classes=["collop-compare-runs"],
                                                              sizing_mode="stretch_width")
        self._views: dict = {}
        self._compare_key = None
        self.param.watch(lambda *_: self._draw_live(), ["coef_times"])
        self.param.watch(lambda *_: self._draw_compare(), ["compare_time", "compare_runs"])
        s.param.watch(lambda *_: self._dataset_changed(), ["dataset"])
        s.param.watch(self._run_chosen, ["current_run"])
        s.param.watch(lambda *_: self._runs_changed(), ["runs"])
        self._dataset_changed()
        self._follow_now()
        self.loss_view = FigureView(self._loss_figure(), css_classes=["collop-loss-view"])
        self.coef_view = FigureView(self._coef_figure(), css_classes=["collop-coef-plot"])
        self.compare_view = FigureView(self._compare_figure(), css_classes=["collop-compare-plot"])
        self.loss_card = figure_card(self.loss_view, "loss-plot")
        self._loss_visible()

        top = pn.Row(self.start, self.stop, sizing_mode="stretch_width")
        controls = pn.Column(top, self.message, self.source_note, self.train, self.test, self.method,
                             self.symmetry, pn.Row(self.nt, self.seed), pn.Row(self.reg, self.reg_v), self.ndump,
                             self.curriculum_box, width=380, css_classes=["collop-fp-controls"])
        self.live = pn.Column(
            pn.Row(self.progress, sizing_mode="stretch_width"), self.progress_text, self.feed_text,
            self.loss_card,
            self.times_w,
            figure_card(self.coef_view, "coef-plot", "Coefficients of the followed run "
                        "(blank where no particles back them)"),
            sizing_mode="stretch_width", css_classes=["collop-fp-live"])
        finished = pn.Column(
            "### Finished runs on this dataset",
            "Rollout MAE per run (mean ± std over its test populations):", self.run_table,
            "Per method, over runs with the same test populations (Table 1):", self.method_table,
            self.compare_pick, self.compare_w,
            figure_card(self.compare_view, "compare-plot", "Coefficients of finished runs (true operator dashed)"),
            sizing_mode="stretch_width", css_classes=["collop-fp-finished"])
        self._layout = pn.Row(controls, pn.Column(self.live, finished, sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    # -- inputs --------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        s = self.state
        ds = s.dataset
        pops = [] if ds is None else [str(p) for p in ds["population"].values]
        self.units = Units.of(ds)
        self.form.set_dataset(pops, s.particles_path is not None)
        labels = {plain(p): p for p in pops}
        self.train.options, self.test.options = labels, labels
        self.method.options = self.form.methods()
        self.start.disabled = ds is None
        if ds is not None:
            # the coefficients of frame k act from t_k to t_k+1: the last frame has none
            t = ds["time"].values.astype(float)
            t = t[:-1] if len(t) > 1 else t
            self.times_w.options = {f"t = {v:g}": float(v) for v in t}
            self.param.compare_time.bounds = (float(t[0]), float(t[-1]))
            self.compare_w.start, self.compare_w.end = float(t[0]), float(t[-1])
            self.compare_w.step = float(t[1] - t[0]) if len(t) > 1 else 1.0
            self.param.update(coef_times=sorted({float(t[0]), float(t[len(t) // 2]), float(t[-1])}),
                              compare_time=float(t[len(t) // 2]))
        info = s.run_info(s.current_run) if s.current_run else None
        if info is not None and self.opens(info) and info not in s.runs_on_dataset():
            s.current_run = ""
        self._runs_changed(force=True)
        self._draw_live()

    def _method_changed(self, event) -> None:
        model = METHODS[event.new]
        self.curriculum_box.visible = model != "tracks"
        self.nt.visible = model == "tensor"
        for w in (self.reg, self.reg_v, self.seed):
            w.visible = model != "tracks"
        self.ndump.visible = model == "tracks"
        self.train.disabled = model == "tracks"
        if model != "tracks" and not self.form.source_run:
            self.form.reset_curriculum()

    def _form_source(self, event) -> None:
        self.source_note.object = (f"Parameters of run **{md(event.new)}** (edit them and Start for a new run)."
                                   if event.new else "")

    def _form_edited(self, *events) -> None:
        if self.form.source_run and not getattr(self, "_loading_run", False):
            self.form.source_run = ""

    def _add_stage(self, *_):
        import pandas as pd

        df = self.form.curriculum
        last = df.iloc[-1].to_dict() if len(df) else {"N_u": 1, "lr": 1e-2, "epochs": 100}
        self.form.curriculum = pd.concat([df, pd.DataFrame([last])], ignore_index=True)

    def _del_stage(self, *_):
        df = self.form.curriculum
        if len(df) > 1:
            self.form.curriculum = df.iloc[:-1].reset_index(drop=True)

    # -- actions -----------------------------------------------------------------------
    def _start(self, *_):
        s = self.state
        errors = self.form.validate()
        if s.dataset is None or s.manager is None:
            errors = ["choose a usable dataset first"]
        if errors:
            return set_alert(self.message, "Cannot start: " + "; ".join(errors) + ".", "danger")
        try:
            if self.form.model == "tracks":
                run_id = s.manager.start_tracks(s.particles_path, s.dataset_path, test=self.form.test,
                                                ndump=self.form.ndump, symmetry=self.form.symmetry)
            else:
                run_id = s.manager.start_fp(s.dataset_path, **self.form.job())
        except (ValueError, OSError) as exc:
            return set_alert(self.message, f"Cannot start: {s.public(exc)}", "danger")
        set_alert(self.message, f"Started run {run_id}…", "success")
        self._transient = ("started", run_id)
        s.current_run = run_id

    def _stop(self, *_):
        s = self.state
        if not s.current_run or s.manager is None:
            return
        try:
            msg = s.manager.stop(s.current_run)
        except RunError as exc:
            msg = str(exc)
        set_alert(self.message, msg, "info")
        self._transient = ("stopping", s.current_run)

    # -- following a run ---------------------------------------------------------------
    def _run_chosen(self, *_) -> None:
        """Another run to follow: the live figures show a loading indicator until it is read.

        A run of another family (followed by its own tab) is not followed here.
        """
        info = self.state.run_info(self.state.current_run) if self.state.current_run else None
        if info is not None and not self.opens(info):
            return
        self.live.loading = True
        defer(self._follow)

    def _follow(self) -> None:
        try:
            self._follow_now()
        finally:
            self.live.loading = False

    def _follow_now(self) -> None:
        s = self.state
        path = None
        info = s.run_info(s.current_run) if s.current_run else None
        if info is not None and not self.opens(info):
            return                      # another family's run: its own tab follows it
        if s.current_run:
            try:
                path = run_dir(s.config.runs, s.current_run)
            except RunError:
                path = None
        self.feed.follow(path)
        if info is not None and (self._transient is None or self._transient[1] != s.current_run):
            self._loading_run = True
            try:
                notes = self.form.load_run(info)
            finally:
                self._loading_run = False
            if notes:
                set_alert(self.message, f"{s.current_run}: " + "; ".join(notes), "warning")
        self._loss_visible()
        self.tick()

    def _loss_visible(self) -> None:
        """No loss axes for a Tracks run (it is not trained)."""
        info = self.state.run_info(self.state.current_run) if self.state.current_run else None
        if getattr(self, "loss_card", None) is not None:
            info = info or {}
            self.loss_card.visible = not (info.get("method") == "tracks" or info.get("kind") == "tracks")

    def _label(self) -> str:
        s = self.state
        info = s.run_info(s.current_run) if s.current_run else None
        return run_label(s.current_run, (info or {}).get("method")) if s.current_run else ""

    def _coef_figure(self):
        s = self.state
        op = self.feed.operator
        view = None if op is None else self._live_view(op, s.run_info(s.current_run) if s.current_run else None)
        return plots.coefficient_figure(view, self.coef_times, self.units, label=self._label())

    def _loss_figure(self):
        label = self._label()
        return plots.loss_figure(self.feed.loss, title=f"Training loss — {label}" if label else "Training loss")

    def _draw_live(self) -> None:
        if self.coef_view is None:
            return
        self.coef_view.update(self._coef_figure())
        self.loss_view.update(self._loss_figure())

    def _live_view(self, op, info):
        key = (id(op), id(self.state.dataset))
        if key not in self._views:
            ds = self.state.dataset
            train = [p for p in ((info or {}).get("params") or {}).get("train") or []
                     if ds is not None and p in set(map(str, ds["population"].values))]
            f = None if "n_samples" in op or ds is None else (ds["f"].sel(population=train) if train else ds["f"])
            self._views = {key: plots.coefficient_view(op, f)}
        return self._views[key]

    def _runs_changed(self, force: bool = False) -> None:
        s = self.state
        finished = s.runs_on_dataset(finished_only=True)
        key = (str(s.dataset_path), tuple((r["id"], r.get("updated")) for r in finished), str(s.truth_path))
        if not force and key == self._compare_key:
            return
        self._compare_key = key
        self.run_table.object = run_summary(finished)[RUN_SHOWN]
        self.method_table.object = method_summary(finished)[METHOD_SHOWN]
        ids = [r["id"] for r in finished]
        self.compare_pick.options = {run_label(r["id"], r.get("method")): r["id"] for r in finished}
        keep = [r for r in self.compare_runs if r in ids]
        fresh = [r for r in ids if r not in (self._known_runs if hasattr(self, "_known_runs") else [])]
        self._known_runs = ids
        chosen = keep + [r for r in fresh[::-1] if r not in keep]
        chosen = chosen[:COMPARE_DEFAULT] if not keep else chosen
        if chosen != self.compare_runs:
            self.compare_runs = chosen          # redraws
        else:
            self._draw_compare()

    def _draw_compare(self) -> None:
        if self.compare_view is not None:
            self.compare_view.update(self._compare_figure())

    def _compare_figure(self):
        s = self.state
        views = {}
        if s.truth_path is not None:
            v = operator_view(s.truth_path, None, s.dataset)
            if v is not None:
                views["truth"] = v
        for rid in self.compare_runs:
            info = s.run_info(rid)
            if info is None:
                continue
            v = operator_view(os.path.join(info["path"], "operator.nc"), info, s.dataset)
            if v is not None:
                views[run_label(rid, info.get("method"))] = v
        return plots.compare_figure(views, self.compare_time, self.units)

    def tick(self) -> None:
        """Take in the followed run's new events; update the progress line, messages and figures."""
        s = self.state
        if self.feed.drain() or self._feed_version != self.feed.version:
            self._feed_version = self.feed.version
            self._draw_live()
        info = s.run_info(s.current_run) if s.current_run else None
        status = (info or {}).get("status") or ""
        if self._transient is not None:
            kind, rid = self._transient
            if rid != s.current_run or (kind == "started" and status not in ("", "starting")) or \
                    (kind == "stopping" and status not in ("running", "starting")):
                self._transient = None
                if self.message.alert_type in ("success", "info"):
                    set_alert(self.message, "")
        if not s.current_run:
            self.progress.value, self.progress.max = 0, 1
            self.progress_text.object = "No run followed. Start one, or open one in the Runs tab."
            self.stop.disabled = True
            self.feed_text.object = ""
            return
        p = self.feed.progress
        status = status or p.status or "starting"
        rid = md(s.current_run)
        if (info or {}).get("method") == "tracks" or (info or {}).get("kind") == "tracks":
            self.progress.max, self.progress.value = 1, 1 if status == "finished" else 0
            self.progress_text.object = (f"**{rid}** · {status} · Tracks: coefficients estimated from particle "
                                         f"tracks (no training) · elapsed {format_duration(p.elapsed())}")
        else:
            _, total = progress_of(info or {})
            total = max(total, 1)
            done = min(int(p.epochs_done), total)
            self.progress.max, self.progress.value = total, done
            stage = f"stage {p.stage + 1}/{p.n_stages}" if p.n_stages else "stage –"
            planned = p.stages.get(p.stage, (0, 0))[0]
            eta = format_duration(p.eta()) if status == "running" else "–"
            self.progress_text.object = (f"**{rid}** · {status} · {stage} · epoch {p.epoch}/{planned or '?'} · "
                                         f"{done}/{total} epochs · elapsed {format_duration(p.elapsed())} · "
                                         f"ETA {eta}")
        self.stop.disabled = status not in ("running", "starting")
        op = self.feed.operator
        src = "none yet" if op is None else (f"snapshot after {op.attrs.get('epoch')} epochs" if "epoch" in op.attrs
                                             else "final operator")
        self.feed_text.object = f"loss points: {len(self.feed.loss)} · coefficients: {src}"
        if info and info.get("status") in ("failed", "diverged") and info.get("error"):
            set_alert(self.message, f"{s.current_run}: {info['status']}: {s.public(info['error'])}", "danger")

    def __panel__(self):
        return self._layout
