"""The Kernel tab's Scans view and the sweep folders it reads (re-read only when they change).

- error against N_dists, mean ± std over seeds (Carvalho et al., Fig. 12),
  from a sweep with an ``n_train`` axis;
- A∥, D∥, D⊥ bands across seeds at chosen times, one band per N_dists
  (Fig. 13), from the same sweep's operators;
- error against N_t and against λ_reg (Fig. 14), from sweeps with an
  ``options.nt`` or ``penalties.reg`` axis.

Sweep folders are those of ``<runs>/sweeps`` (:mod:`dashboards.sweep_jobs`);
the newest sweep of each kind is shown first. The view's form
(:mod:`dashboards.scan_form`) launches a scan there like the Pareto sweeps:
its figure fills in as the points finish.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import panel as pn

from collop.views import Units

from . import plots
from .base import Background, alert, set_alert
from .export import FigureView, figure_card
from .kernel_data import SCAN_AXES, coefficient_bands, points_frame, scan_axis, scan_table
from .kernel_form import Placement
from .kernel_plots import bands_figure, scan_figure
from .runstore import load_operator
from .scan_form import SCANS, ScanForm
from .sweep_jobs import sweep_info
from .text import md, plain, shorten

__all__ = ["SweepCache", "ScansView", "band_views", "planned", "status_line"]

_EMPTY = points_frame({})
_ACTIVE = ("running", "starting")


def _mtime(path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def planned(folder) -> pd.DataFrame:
    """The points of a sweep the app launched that has not written its index yet, all pending.

    Read from the folder's ``spec.json`` (:mod:`dashboards.sweep_jobs`), so
    the Pareto plot has its lines (and legend) from the start and fills in
    place; an empty table without a readable spec.
    """
    import json

    try:
        spec = json.loads((Path(folder) / "spec.json").read_text())
        from collop.pipeline import spec_to_dict
        from collop.sweep import expand

        points = expand(spec, Path(folder))
    except Exception:  # noqa: BLE001 - no plan to show: the sweep process reports the problem itself
        return _EMPTY
    return points_frame({"points": [{"id": p.id, "values": p.values, "status": "pending",
                                     "spec": spec_to_dict(p.spec)} for p in points]}, folder)


class SweepCache:
    """The sweep folders under ``root``: :func:`sweep_info` and :func:`points_frame` of each, re-read on change.

    A folder is re-read when its ``sweep.json`` or ``job.json`` changes, and
    at every :meth:`refresh` while its sweep is running or starting (to see
    a process that died). :attr:`version` counts the changes.
    """

    def __init__(self, root):
        self.root = Path(root)
        self._entries: dict[str, tuple] = {}      # id -> (signature, info, frame)
        self.version = 0
        self._fp = (None, _EMPTY)

    def _signature(self, d: Path) -> tuple:
        return _mtime(d / "sweep.json"), _mtime(d / "job.json")

    def _read(self, d: Path, force: bool = False) -> bool:
        sig = self._signature(d)
        old = self._entries.get(d.name)
        if old is not None and old[0] == sig and not (force and old[1]["status"] in _ACTIVE):
            return False
        info = sweep_info(d)
        if info is None:
            return self._entries.pop(d.name, None) is not None
        if old is not None and old[0] == sig and old[1]["status"] == info["status"]:
            return False
        frame = points_frame(info["index"], d) if info["index"] is not None else planned(d)
        self._entries[d.name] = (sig, info, frame)
        return True

    def refresh(self) -> bool:
        """Re-list the folder; whether anything changed."""
        names = set()
        changed = False
        if self.root.is_dir():
            for d in self.root.iterdir():
                if d.is_dir() and not d.name.startswith("."):
                    names.add(d.name)
                    changed |= self._read(d, force=True)
        for gone in set(self._entries) - names:
            del self._entries[gone]
            changed = True
        if changed:
            self.version += 1
        return changed

    def touch(self, sweep_id: str) -> bool:
        """Re-read one sweep if its files changed; whether it did."""
        if not sweep_id or sweep_id not in self._entries:
            return False
        changed = self._read(self.root / sweep_id)
        if changed:
            self.version += 1
        return changed

    def get(self, sweep_id: str):
        """``(info, frame)`` of a sweep (None if unknown)."""
        e = self._entries.get(sweep_id)
        return None if e is None else (e[1], e[2])

    def signature(self, sweep_id: str):
        e = self._entries.get(sweep_id)
        return None if e is None else e[0]

    def items(self) -> list:
        """``(id, (info, frame))`` of every sweep, newest first."""
        def age(item):
            sig = item[1][0]
            return -max([m for m in sig if m is not None] or [0])
        return [(k, (v[1], v[2])) for k, v in sorted(self._entries.items(), key=lambda kv: (age(kv), kv[0]))]

    def fp_rows(self) -> pd.DataFrame:
        """Every Fokker-Planck point of every sweep (the baseline candidates)."""
        if self._fp[0] != self.version:
            frames = [v[2][v[2]["family"] == "fokker_planck"] for v in self._entries.values() if len(v[2])]
            frames = [f for f in frames if len(f)]
            self._fp = (self.version, pd.concat(frames, ignore_index=True) if frames else _EMPTY)
        return self._fp[1]


def band_views(index: dict, folder, frame: pd.DataFrame, groups=None) -> tuple[dict, Units, list]:
    """The coefficient views of a N_dists sweep's finished points, grouped by N_dists (for Fig. 13).

    Returns
    -------
    views : dict
        ``"N=n"`` (N_dists) -> list of :func:`dashboards.plots.coefficient_view`
        (blank outside the support of the point's training populations).
    units : Units
        Of the first point's data.
    times : list of float
        The data's frame times (but the last).
    """
    from .datasets import load

    specs = {str(e.get("id")): e.get("spec") or {} for e in index.get("points") or [] if isinstance(e, dict)}
    done = frame[(frame["status"] == "finished") & (frame["family"] == "fokker_planck")]
    views: dict = {}
    units, times = Units(), []
    for n, g in done.groupby("n_train", sort=True):
        if groups is not None and int(n) not in groups:
            continue
        key = f"N={int(n)}"
        for _, row in g.iterrows():
            op = load_operator(Path(folder) / row["point"] / "operator.nc")
            if op is None:
                continue
            try:
                ds = load(row["data"])
            except Exception:  # noqa: BLE001 - a moved data file: coefficients without the support mask
                ds = None
            f = None
            if ds is not None:
                train = [p for p in specs.get(row["point"], {}).get("train") or [] if p in
                         set(map(str, ds["population"].values))]
                f = ds["f"].sel(population=train) if train else None
                if not times:
                    units = Units.of(ds)
                    times = [float(t) for t in ds["time"].values[:-1]] or [float(ds["time"].values[0])]
            views.setdefault(key, []).append(plots.coefficient_view(op, f))
    return views, units, times


def status_line(sid: str, info: dict, frame: pd.DataFrame, state) -> str:
    """``**scan-…** · running · 3/15 points done`` (Markdown; every piece read from the folder escaped)."""
    counts = info.get("counts") or {}
    done = sum(counts.get(k, 0) for k in ("finished", "diverged"))
    parts = [f"**{md(sid)}** · {md(info['status'])}",
             f"{done}/{info['n_points']} points done" if info["n_points"] else "starting the sweep process…"]
    parts += [f"{n} {md(k)}" for k, n in sorted(counts.items()) if k not in ("finished", "diverged") and n]
    if info.get("error") and info["status"] in ("failed", "unknown"):
        parts.append(f"error: {md(state.public(info['error']))}")
    failed = frame[frame["status"] == "failed"] if len(frame) else frame
    if len(failed):
        parts.append(f"{len(failed)} failed, e.g. {md(state.public(str(failed['error'].iloc[0])))}")
    return " · ".join(parts)


class ScansView(pn.viewable.Viewer):
    """Figs. 12-14 from the sweep folders that have a scan axis."""

    def __init__(self, state, cache: SweepCache, jobs=None, placement=None):
        super().__init__()
        self.state, self.cache = state, cache
        self.jobs, self.placement = jobs, placement if placement is not None else Placement()
        self.selects, self.views, self.texts, self._drawn = {}, {}, {}, {}
        self._launched: dict[str, str] = {}          # sweep id -> scan axis, for sweeps started here
        cards = []
        for axis, (sym, what) in SCAN_AXES.items():
            slug = axis.replace(".", "-")
            sel = pn.widgets.Select(label=f"{sym} sweep", options={}, css_classes=[f"collop-scan-{slug}-sweep"],
                                    width=380)
            sel.param.watch(lambda e, a=axis: self._draw(a, force=True), "value")
            self.selects[axis] = sel
            self.texts[axis] = pn.pane.Markdown("", css_classes=[f"collop-scan-{slug}-text"], margin=(0, 10))
            self.views[axis] = FigureView(scan_figure(scan_table(_EMPTY, axis), axis),
                                          css_classes=[f"collop-scan-{slug}"])
            cards.append(pn.Column(sel, self.texts[axis],
                                   figure_card(self.views[axis], f"scan-{slug}", f"Test error against {sym}"),
                                   sizing_mode="stretch_width"))
        self.band_times = pn.widgets.MultiChoice(label="Times (Fig. 13)", options={}, css_classes=["collop-band-times"],
                                                 width=380)
        self.band_groups = pn.widgets.MultiChoice(label="N_dists shown (all when empty)", options={},
                                                  css_classes=["collop-band-groups"], width=380)
        self.bands = FigureView(bands_figure({}, Units.of(state.dataset)), css_classes=["collop-coefficient-bands"])
        self.bands_note = alert(kind="info", name="bands-note")
        self._bg = Background()
        self._bands_key = None
        self._band_data = None
        self.band_times.param.watch(lambda *_: self._draw_bands(), "value")
        self.band_groups.param.watch(lambda *_: self._load_bands(force=True), "value")
        self._layout = pn.Column(
            "### Scans (Figs. 12–14)", self._form_panel(),
            pn.Row(cards[0], cards[1], sizing_mode="stretch_width"),
            pn.Row(cards[2], pn.Spacer(sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.Row(self.band_times, self.band_groups), self.bands_note,
            figure_card(self.bands, "coefficient-bands", "Coefficients across seeds by N_dists (Fig. 13)"),
            sizing_mode="stretch_width", css_classes=["collop-kernel-scans"])

    # -- launching ---------------------------------------------------------------------------------
    def _form_panel(self):
        f = self.form = ScanForm()
        w = self.widgets = {}
        w["scan"] = pn.widgets.Select.from_param(f.param.scan, label="Scan", options={v[0]: k for k, v in SCANS.items()},
                                                 css_classes=["collop-scan-kind"], width=200)
        w["values"] = pn.widgets.TextInput.from_param(f.param.scan_values, label="Values", css_classes=["collop-scan-values"],
                                                      width=220)
        w["seeds"] = pn.widgets.TextInput.from_param(f.param.seeds, label="Seeds", css_classes=["collop-scan-seeds"],
                                                     width=120)
        w["model"] = pn.widgets.Select.from_param(f.param.model, label="Model",
                                                  options={"PS-NN": "nn", "PS-Tensor": "tensor"},
                                                  css_classes=["collop-scan-model"], width=120)
        w["symmetry"] = pn.widgets.Select.from_param(f.param.symmetry, label="Coefficients",
                                                     css_classes=["collop-scan-symmetry"], width=120)
        w["reg_order"] = pn.widgets.Select.from_param(f.param.reg_order, label="λ_reg derivative",
                                                      css_classes=["collop-scan-reg-order"], width=120, visible=False)
        w["train"] = pn.widgets.MultiChoice.from_param(f.param.train, label="Training populations (N_dists takes "
                                                       "the first n, in this order)", css_classes=["collop-scan-train"],
                                                       sizing_mode="stretch_width")
        w["test"] = pn.widgets.MultiChoice.from_param(f.param.test, label="Test populations",
                                                      css_classes=["collop-scan-test"], sizing_mode="stretch_width")
        w["curriculum"] = pn.widgets.Select.from_param(f.param.curriculum, label="Curriculum",
                                                       css_classes=["collop-scan-curriculum"], width=260)
        w["custom"] = pn.widgets.TextInput.from_param(f.param.custom, label="Custom curriculum (N_u:lr:epochs,...)",
                                                      css_classes=["collop-scan-custom"], visible=False, width=260)
        f.param.watch(lambda e: setattr(w["custom"], "visible", e.new == "custom"), "curriculum")
        f.param.watch(lambda e: setattr(w["reg_order"], "visible", e.new == "penalties.reg"), "scan")
        self.start = pn.widgets.Button(label="Start scan", color="primary", css_classes=["collop-scan-start"],
                                       disabled=self.jobs is None)
        self.stop = pn.widgets.Button(label="Stop scan", color="warning", css_classes=["collop-scan-stop"],
                                      disabled=True)
        self.start.on_click(self._start)
        self.stop.on_click(self._stop)
        self.message = alert(name="scan-message")
        self.state.param.watch(lambda *_: self._dataset_changed(), ["dataset"])
        self._dataset_changed()
        return pn.Column(
            pn.Row(w["scan"], w["values"], w["seeds"], w["model"], w["symmetry"], w["reg_order"]),
            w["train"], w["test"], pn.Row(w["curriculum"], w["custom"], self.start, self.stop), self.message,
            sizing_mode="stretch_width", css_classes=["collop-scan-form"])

    def _dataset_changed(self) -> None:
        ds = self.state.dataset
        pops = [] if ds is None else [str(p) for p in ds["population"].values]
        self.form.set_dataset(pops)
        labels = {plain(p): p for p in pops}
        self.widgets["train"].options, self.widgets["test"].options = labels, labels
        self.start.disabled = ds is None or self.jobs is None

    def _start(self, *_) -> None:
        s = self.state
        errors = self.form.validate() if s.dataset is not None else ["choose a usable dataset first"]
        if errors:
            return set_alert(self.message, "Cannot start: " + "; ".join(errors) + ".", "danger")
        spec = self.form.spec(os.path.abspath(s.dataset_path))
        try:
            sid = self.jobs.start(spec, kind="scan", **self.placement.launch())
        except (ValueError, OSError) as exc:
            return set_alert(self.message, f"Cannot start: {s.public(exc)}", "danger")
        self._launched[sid] = self.form.scan
        set_alert(self.message, f"Started scan {sid}…", "success")
        self.cache.refresh()
        self.update()
        self.selects[self.form.scan].value = sid

    def _stop(self, *_) -> None:
        sid = self.selects[self.form.scan].value
        if not sid or self.cache.get(sid) is None or self.jobs is None:
            return
        set_alert(self.message, self.jobs.stop(sid), "info")

    # -- the sweeps ------------------------------------------------------------------------------
    def _axis_of(self, sid: str, info: dict):
        return scan_axis(info["index"]) if info["index"] is not None else self._launched.get(sid)

    def update(self) -> None:
        """New or changed sweep folders: the choosers and the figures of the chosen sweeps."""
        for axis, sel in self.selects.items():
            opts = {}
            for sid, (info, _) in self.cache.items():
                if self._axis_of(sid, info) == axis:
                    name = shorten(info.get("name") or "", 40)
                    opts[f"{sid}{' — ' + name if name else ''}"] = sid
            if opts != sel.options:
                sel.options = opts
            if sel.value not in opts.values():
                sel.value = next(iter(opts.values()), None)
            self._draw(axis)
        entry = self.cache.get(self.selects[self.form.scan].value or "")
        self.stop.disabled = entry is None or entry[0]["status"] not in _ACTIVE
        self._load_bands()

    def _draw(self, axis: str, force: bool = False) -> None:
        sid = self.selects[axis].value
        key = (sid, self.cache.signature(sid))
        if key == self._drawn.get(axis) and not force:
            return
        self._drawn[axis] = key
        entry = self.cache.get(sid) if sid else None
        frame = entry[1] if entry is not None else _EMPTY
        self.texts[axis].object = status_line(sid, entry[0], frame, self.state) if entry is not None else ""
        name = shorten((entry[0].get("name") if entry else "") or (sid or ""), 30)
        sym = SCAN_AXES[axis][0]
        self.views[axis].update(scan_figure(scan_table(frame, axis), axis,
                                            title=f"Test error against {sym}" + (f" — {name}" if name else "")))
        if axis == "n_train" and force:
            self._load_bands(force=True)

    # -- Fig. 13 ---------------------------------------------------------------------------------
    def _load_bands(self, force: bool = False) -> None:
        sid = self.selects["n_train"].value
        entry = self.cache.get(sid) if sid else None
        groups = tuple(sorted(self.band_groups.value)) if self.band_groups.value else None
        key = (sid, self.cache.signature(sid), groups)
        if key == self._bands_key and not force:
            return
        self._bands_key = key
        if entry is None or entry[0]["index"] is None:
            self._band_data = None
            return self._draw_bands()
        info, frame = entry
        done = frame[(frame["status"] == "finished") & (frame["family"] == "fokker_planck")]
        ns = sorted({int(n) for n in done["n_train"]})
        opts = {str(n): n for n in ns}
        if opts != self.band_groups.options:
            self.band_groups.options = opts
        set_alert(self.bands_note, f"Reading the operators of {len(done)} finished points…" if len(done) else "",
                  "info")

        def done_cb(fut):
            try:
                self._band_data = fut.result()
            except Exception as exc:  # noqa: BLE001 - one line on the page
                self._band_data = None
                return set_alert(self.bands_note, f"Cannot read the operators: {self.state.public(exc)}", "danger")
            set_alert(self.bands_note, "")
            times = self._band_data[2]
            if times:
                topts = {f"t = {t:g}": t for t in times}
                if topts != self.band_times.options:
                    self.band_times.options = topts
                if not self.band_times.value or any(t not in times for t in self.band_times.value):
                    self.band_times.value = sorted({times[0], times[len(times) // 2], times[-1]})
                    return                      # the watcher draws
            self._draw_bands()

        self._bg.submit(band_views, done_cb, info["index"], info["path"], frame,
                        set(groups) if groups else None)

    def _draw_bands(self) -> None:
        if self._band_data is None:
            self.bands.update(bands_figure({}, Units.of(self.state.dataset)))
            return
        views, units, times = self._band_data
        chosen = sorted(self.band_times.value or times[:1] or [0.0])
        self.bands.update(bands_figure(coefficient_bands(views, chosen), units, group="N_dists"))

    def __panel__(self):
        return self._layout

