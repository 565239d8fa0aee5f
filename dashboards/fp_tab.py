"""The Fokker-Planck tab: set up a training, start/stop it, watch it live, compare finished runs."""
from __future__ import annotations

from functools import partial

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from holoviews.streams import Params, Pipe

from collop.train import CURRICULA

from . import plots
from .base import Tab, alert, set_alert
from .export import figure_card
from .jobs import run_label
from .runstore import RunError, load_operator, progress_of, run_dir
from .streams import RunFeed

__all__ = ["FPTab", "METHODS", "curriculum_frame", "curriculum_spec"]

#: Method label -> model argument (``tracks``: estimate from particle tracks).
METHODS = {"PS-Tensor": "tensor", "PS-NN": "nn", "Tracks": "tracks"}
_DEFAULT_TRAIN = ["uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0"]


def curriculum_frame(name: str) -> pd.DataFrame:
    """Table 2 defaults of a curriculum (``ps-tensor``, ``ps-nn``) as an editable table."""
    return pd.DataFrame([{"N_u": s.n_unroll, "lr": s.lr, "epochs": s.epochs} for s in CURRICULA[name]])


def curriculum_spec(frame: pd.DataFrame) -> str:
    """The ``--curriculum`` spec of a table; ValueError with a one-line message if a row is bad."""
    if frame is None or len(frame) == 0:
        raise ValueError("the curriculum has no stages")
    parts = []
    for i, row in enumerate(frame.itertuples(index=False), 1):
        try:
            nu, lr, ep = float(row.N_u), float(row.lr), float(row.epochs)
        except (TypeError, ValueError):
            raise ValueError(f"curriculum stage {i}: N_u, lr and epochs must be numbers") from None
        if not (np.isfinite([nu, lr, ep]).all() and nu >= 1 and nu == int(nu) and lr > 0 and ep >= 0
                and ep == int(ep)):
            raise ValueError(f"curriculum stage {i}: needs an integer N_u >= 1, lr > 0 and integer epochs >= 0")
        parts.append(f"{int(nu)}:{lr:.6g}:{int(ep)}")
    if sum(int(float(r)) for r in frame["epochs"]) == 0:
        raise ValueError("the curriculum has 0 epochs in all")
    return ",".join(parts)


class FPTab(Tab):
    """Train Fokker-Planck operators in the background and follow them live."""

    title = "Fokker–Planck"
    coef_times = param.List(default=[0.0], doc="times of the live coefficient curves")
    compare_time = param.Number(default=0.0, doc="time of the overlaid coefficient curves")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        if s.manager is not None:
            s.manager.prepare()     # the warm worker imports torch while the user sets up the run
        # -- inputs
        self.train = pn.widgets.MultiChoice(label="Training populations", css_classes=["collop-train-pops"],
                                            sizing_mode="stretch_width")
        self.test = pn.widgets.MultiChoice(label="Test populations", css_classes=["collop-test-pops"],
                                           sizing_mode="stretch_width")
        self.method = pn.widgets.Select(label="Method", options=list(METHODS), value="PS-Tensor",
                                        css_classes=["collop-method"])
        self.symmetry = pn.widgets.Select(label="Symmetry", options=["isotropic", "full"],
                                          css_classes=["collop-symmetry"])
        self.nt = pn.widgets.IntInput(label="N_t (0: one per frame)", value=0, start=0, css_classes=["collop-nt"],
                                     width=170)
        self.reg = pn.widgets.FloatInput(label="λ_reg (time)", value=0.0, start=0.0, step=1e-3,
                                         css_classes=["collop-reg"], width=170)
        self.reg_v = pn.widgets.FloatInput(label="λ_v (speed)", value=0.0, start=0.0, step=1e-3,
                                           css_classes=["collop-reg-v"], width=170)
        self.seed = pn.widgets.IntInput(label="Seed", value=0, css_classes=["collop-seed"], width=170)
        self.ndump = pn.widgets.IntInput(label="N_dump (frames per interval)", value=1, start=1,
                                         css_classes=["collop-ndump"], visible=False)
        self.curriculum = pn.widgets.Tabulator(curriculum_frame("ps-tensor"), show_index=False,
                                               css_classes=["collop-curriculum"], sizing_mode="stretch_width",
                                               editors={"N_u": {"type": "number", "min": 1, "step": 1},
                                                        "lr": {"type": "number", "min": 0, "step": 1e-4},
                                                        "epochs": {"type": "number", "min": 0, "step": 1}},
                                               height=200)
        self.add_stage = pn.widgets.Button(label="+ stage", css_classes=["collop-curriculum-add"], width=80)
        self.del_stage = pn.widgets.Button(label="− stage", css_classes=["collop-curriculum-remove"], width=80)
        self.reset = pn.widgets.Button(label="Table 2", css_classes=["collop-curriculum-reset"], width=80)
        self.start = pn.widgets.Button(label="Start", color="primary", css_classes=["collop-start"])
        self.stop = pn.widgets.Button(label="Stop", color="warning", css_classes=["collop-stop"],
                                      disabled=True)
        self.message = alert(name="fp-message")
        self.add_stage.on_click(self._add_stage)
        self.del_stage.on_click(self._del_stage)
        self.reset.on_click(lambda *_: self._reset_curriculum())
        self.method.param.watch(self._method_changed, "value")
        self.start.on_click(self._start)
        self.stop.on_click(self._stop)
        self.curriculum_box = pn.Column("**Curriculum** (Table 2)", self.curriculum,
                                        pn.Row(self.add_stage, self.del_stage, self.reset),
                                        sizing_mode="stretch_width")
        # -- live
        self.loss = RunFeed.loss_buffer()
        self.operator = Pipe(data=None)
        self.feed = RunFeed(self.loss, self.operator)
        self.progress = pn.indicators.Progress(value=0, max=1, css_classes=["collop-progress"],
                                               sizing_mode="stretch_width", bar_color="primary")
        self.progress_text = pn.pane.Markdown("No run followed.", css_classes=["collop-progress-text"])
        self.feed_text = pn.pane.Markdown("", css_classes=["collop-feed-status"])
        loss_map = hv.DynamicMap(plots.loss_curve, streams=[self.loss])
        coef_maps = {n: hv.DynamicMap(partial(self._coef, n), streams=[self.operator,
                                                                       Params(self, ["coef_times"])])
                     for n in plots.COEFFICIENTS}
        self.times_w = pn.widgets.MultiChoice.from_param(self.param.coef_times, label="Times of the curves",
                                                         css_classes=["collop-coef-times"],
                                                         sizing_mode="stretch_width")
        # -- finished runs
        self.compare = Pipe(data={})
        self.summary = Pipe(data=[])
        self._compare_key = None
        cmp_maps = {n: hv.DynamicMap(partial(self._cmp, n), streams=[self.compare,
                                                                     Params(self, ["compare_time"])])
                    for n in plots.COEFFICIENTS}
        table_map = hv.DynamicMap(lambda data: plots.summary_table(plots.summary_frame(data or [])),
                                  streams=[self.summary])
        self.compare_w = pn.widgets.FloatSlider.from_param(self.param.compare_time, label="Time",
                                                           css_classes=["collop-compare-time"],
                                                           sizing_mode="stretch_width")

        controls = pn.Column(self.train, self.test, self.method, self.symmetry,
                             pn.Row(self.nt, self.seed), pn.Row(self.reg, self.reg_v), self.ndump,
                             self.curriculum_box,
                             pn.Row(self.start, self.stop), self.message, width=380)
        live = pn.Column(
            pn.Row(self.progress, sizing_mode="stretch_width"), self.progress_text, self.feed_text,
            figure_card(loss_map, lambda: plots.loss_curve(self.loss.data), "loss-plot"),
            self.times_w,
            pn.Row(*[figure_card(m, partial(lambda n: plots.coefficient_curves(
                self.operator.data, n, self.coef_times), n), f"coef-{n}-plot", css=["collop-coef-plot"])
                     for n, m in coef_maps.items()], sizing_mode="stretch_width"),
            "### Finished runs on this dataset",
            figure_card(table_map, lambda: plots.summary_table(plots.summary_frame(self.summary.data or [])),
                        "summary-table"),
            self.compare_w,
            pn.Row(*[figure_card(m, partial(lambda n: plots.coefficient_compare(
                self.compare.data or {}, n, self.compare_time), n), f"compare-{n}-plot",
                css=["collop-compare-plot"]) for n, m in cmp_maps.items()], sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        self._layout = pn.Row(controls, live, sizing_mode="stretch_width")
        s.param.watch(lambda *_: self._dataset_changed(), ["dataset"])
        s.param.watch(lambda *_: self._follow(), ["current_run"])
        s.param.watch(lambda *_: self._runs_changed(), ["runs"])
        self._dataset_changed()
        self._follow()

    # -- figures fed by streams --------------------------------------------------------
    def _coef(self, name, data=None, coef_times=()):
        return plots.coefficient_curves(data, name, coef_times)

    def _cmp(self, name, data=None, compare_time=0.0):
        return plots.coefficient_compare(data or {}, name, compare_time)

    # -- inputs --------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        ds = self.state.dataset
        pops = [] if ds is None else [str(p) for p in ds["population"].values]
        train = [p for p in _DEFAULT_TRAIN if p in pops] or pops[: max(1, len(pops) // 2)]
        self.train.options, self.train.value = pops, train
        self.test.options, self.test.value = pops, [p for p in pops if p not in train] or pops
        methods = [m for m in METHODS if m != "Tracks" or self.state.particles_path is not None]
        self.method.options = methods
        if self.method.value not in methods:
            self.method.value = methods[0]
        self.start.disabled = ds is None
        if ds is not None:
            # the coefficients of frame k act from t_k to t_k+1: the last frame has none
            t = ds["time"].values.astype(float)
            t = t[:-1] if len(t) > 1 else t
            picks = sorted({float(t[0]), float(t[len(t) // 2]), float(t[-1])})
            self.param.coef_times.item_type = None
            self.times_w.options = {f"t = {v:g}": float(v) for v in t}
            self.param.compare_time.bounds = (float(t[0]), float(t[-1]))
            self.compare_w.start, self.compare_w.end = float(t[0]), float(t[-1])
            self.compare_w.step = float(t[1] - t[0]) if len(t) > 1 else 1.0
            self.coef_times = picks
            self.compare_time = float(t[len(t) // 2])
        info = self.state.run_info(self.state.current_run) if self.state.current_run else None
        if info is not None and info not in self.state.runs_on_dataset():
            self.state.current_run = ""
        self._runs_changed(force=True)

    def _method_changed(self, event) -> None:
        model = METHODS[event.new]
        self.curriculum_box.visible = model != "tracks"
        self.nt.visible = model == "tensor"
        self.reg.visible = model != "tracks"
        self.reg_v.visible = model != "tracks"
        self.seed.visible = model != "tracks"
        self.ndump.visible = model == "tracks"
        self.train.disabled = model == "tracks"
        if model != "tracks":
            self._reset_curriculum()

    def _reset_curriculum(self) -> None:
        model = METHODS[self.method.value]
        self.curriculum.value = curriculum_frame("ps-nn" if model == "nn" else "ps-tensor")

    def _add_stage(self, *_):
        df = self.curriculum.value
        last = df.iloc[-1].to_dict() if len(df) else {"N_u": 1, "lr": 1e-2, "epochs": 100}
        self.curriculum.value = pd.concat([df, pd.DataFrame([last])], ignore_index=True)

    def _del_stage(self, *_):
        df = self.curriculum.value
        if len(df) > 1:
            self.curriculum.value = df.iloc[:-1].reset_index(drop=True)

    # -- actions -----------------------------------------------------------------------
    def _start(self, *_):
        s = self.state
        if s.dataset is None or s.manager is None:
            return set_alert(self.message, "Choose a usable dataset first.", "warning")
        model = METHODS[self.method.value]
        try:
            if model == "tracks":
                run_id = s.manager.start_tracks(s.particles_path, s.dataset_path, test=self.test.value,
                                                ndump=self.ndump.value, symmetry=self.symmetry.value)
            else:
                if not self.train.value:
                    raise ValueError("choose at least one training population")
                spec = curriculum_spec(self.curriculum.value)
                run_id = s.manager.start_fp(s.dataset_path, train=self.train.value, test=self.test.value,
                                            model=model, symmetry=self.symmetry.value, nt=self.nt.value or None,
                                            reg=self.reg.value, reg_velocity=self.reg_v.value,
                                            seed=self.seed.value, curriculum=spec)
        except (ValueError, OSError) as exc:
            return set_alert(self.message, str(exc), "danger")
        set_alert(self.message, f"Started run {run_id}.", "success")
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

    # -- following a run ---------------------------------------------------------------
    def _follow(self) -> None:
        s = self.state
        path = None
        if s.current_run:
            try:
                path = run_dir(s.config.runs, s.current_run)
            except RunError:
                path = None
        self.feed.follow(path)
        self._total = None
        self.tick()

    def _runs_changed(self, force: bool = False) -> None:
        finished = self.state.runs_on_dataset(finished_only=True)
        key = (str(self.state.dataset_path), tuple((r["id"], r.get("updated")) for r in finished),
               str(self.state.truth_path))
        if not force and key == self._compare_key:
            return
        self._compare_key = key
        ops = {}
        if self.state.truth_path is not None:
            truth = load_operator(self.state.truth_path)
            if truth is not None:
                ops["truth"] = truth
        for r in finished:
            op = load_operator(f"{r['path']}/operator.nc")
            if op is not None:
                ops[run_label(r["id"], r.get("method"))] = op
        self.summary.send(finished)
        self.compare.send(ops)

    def tick(self) -> None:
        """Drain the followed run's new events into the streams; update the progress bar."""
        s = self.state
        self.feed.drain()
        info = s.run_info(s.current_run) if s.current_run else None
        if not s.current_run:
            self.progress.value, self.progress.max = 0, 1
            self.progress_text.object = "No run followed. Start one, or open one in the Runs tab."
            self.stop.disabled = True
            self.feed_text.object = ""
            return
        p = self.feed.progress
        done_m, total = progress_of(info or {})
        total = max(total, 1)
        done = min(int(p.get("epochs_done", 0)), total)
        status = (info or {}).get("status") or ("starting" if not p.get("status") else p["status"])
        if status in ("finished",) and info and info.get("kind") == "tracks":
            done = total
        self.progress.max, self.progress.value = total, done
        stage = f"stage {p.get('stage', 0) + 1}/{p.get('n_stages') or '?'}" if p.get("n_stages") else "stage –"
        self.progress_text.object = (f"**{s.current_run}** · {status} · {stage} · epoch {p.get('epoch', 0)}"
                                     f" · {done}/{total} epochs")
        self.stop.disabled = status not in ("running", "starting")
        n = 0 if self.loss.data is None else len(self.loss.data)
        op = self.operator.data
        src = "none yet" if op is None else (f"epoch {op.attrs.get('epoch')}" if "epoch" in op.attrs
                                             else "final operator")
        self.feed_text.object = f"loss points: {n} · coefficients: {src}"
        if info and info.get("status") in ("failed", "diverged") and info.get("error"):
            set_alert(self.message, f"{s.current_run}: {info['status']}: {info['error']}", "danger")

    def __panel__(self):
        return self._layout
