"""The Runs tab: every run on disk (app and command line): open, stop, rename, delete to a trash, download."""
from __future__ import annotations

import io
import os
import time

import pandas as pd
import panel as pn

from .base import Tab, alert, set_alert
from .runstore import (RunError, delete_run, empty_trash, list_trash, progress_of, rename_run, restore_run,
                       run_dir)
from .streams import EventTail
from .summary import run_summary

__all__ = ["RunsTab", "runs_frame", "CONFIRM_SECONDS"]

COLUMNS = ["id", "dataset", "method", "status", "progress", "rollout MAE", "parameters", "error", "updated"]
#: A second click on "Empty trash" within this many seconds confirms it.
CONFIRM_SECONDS = 10.0


def _params_text(r: dict) -> str:
    p = r.get("params") or {}
    if r.get("method") == "tracks" or r.get("kind") == "tracks":
        return f"ndump={p.get('ndump')} {p.get('symmetry', '')}".strip()
    keys = [("train", "train"), ("model", "model"), ("symmetry", "sym"), ("nt", "N_t"), ("reg", "λ"),
            ("reg_velocity", "λ_v"), ("seed", "seed"), ("curriculum", "curr")]
    out = []
    for k, label in keys:
        v = p.get(k)
        if v is None or v == "":
            continue
        out.append(f"{label}={len(v) if k == 'train' and isinstance(v, list) else v}"
                   + (" pops" if k == "train" else ""))
    return " ".join(out)


def runs_frame(runs: list[dict], live: dict | None = None) -> pd.DataFrame:
    """The table of runs (newest first); ``live`` maps run id -> epochs done of active runs."""
    rows = []
    for r in reversed(runs):
        m = r.get("metrics") or {}
        mae = m.get("rollout_mae")
        done, total = progress_of(r)
        if live and r["id"] in live:
            done = live[r["id"]]
        is_tracks = r.get("method") == "tracks" or r.get("kind") == "tracks"
        prog = ("estimate" if is_tracks else f"{done}/{total}" if total else "")
        data = (r.get("params") or {}).get("data") or r.get("dataset") or ""
        rows.append({"id": r["id"], "dataset": os.path.basename(str(data)), "method": r.get("method") or "",
                     "status": r.get("status", ""), "progress": prog,
                     "rollout MAE": "" if mae is None else f"{mae:.4g} ± {m.get('rollout_mae_std', 0):.2g}",
                     "parameters": _params_text(r), "error": " ".join(str(r.get("error") or "").split()),
                     "updated": str(r.get("updated", ""))[:19].replace("T", " ")})
    return pd.DataFrame(rows, columns=COLUMNS)


class RunsTab(Tab):
    """List, open, stop, rename, delete (to a trash) and download runs; everything is read from the runs folder."""

    title = "Runs"

    def __init__(self, **params):
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(runs_frame([]), show_index=False, disabled=True, selectable=1,
                                          css_classes=["collop-runs-table"], sizing_mode="stretch_width",
                                          height=420, pagination=None)
        self.open = pn.widgets.Button(label="Open", color="primary", css_classes=["collop-run-open"])
        self.stop = pn.widgets.Button(label="Stop", color="warning", css_classes=["collop-run-stop"])
        self.new_name = pn.widgets.TextInput(placeholder="new name", css_classes=["collop-run-name"], width=220)
        self.rename = pn.widgets.Button(label="Rename", css_classes=["collop-run-rename"])
        self.delete = pn.widgets.Button(label="Move to trash", color="danger", css_classes=["collop-run-delete"])
        self.message = alert(name="runs-message")
        self.dl_operator = pn.widgets.FileDownload(callback=self._operator_file, filename="operator.nc",
                                                   label="operator.nc", embed=False, color="light",
                                                   css_classes=["collop-download-operator"], width=130)
        self.dl_metrics = pn.widgets.FileDownload(callback=self._metrics_file, filename="metrics.json",
                                                  label="metrics.json", embed=False, color="light",
                                                  css_classes=["collop-download-metrics"], width=130)
        self.dl_summary = pn.widgets.FileDownload(callback=self._summary_csv, filename="runs_summary.csv",
                                                  label="summary (CSV)", embed=False, color="light",
                                                  css_classes=["collop-download-summary"], width=150)
        self.trash_select = pn.widgets.Select(label="Trash", options=[], css_classes=["collop-trash-list"], width=300)
        self.restore = pn.widgets.Button(label="Restore", css_classes=["collop-trash-restore"])
        self.empty = pn.widgets.Button(label="Empty trash", color="danger", css_classes=["collop-trash-empty"])
        self._confirm_until = 0.0
        self.open.on_click(self._open)
        self.stop.on_click(self._stop)
        self.rename.on_click(self._rename)
        self.delete.on_click(self._delete)
        self.restore.on_click(self._restore)
        self.empty.on_click(self._empty)
        self.table.param.watch(self._selected, "selection")
        self._tails: dict[str, EventTail] = {}
        self._live: dict[str, int] = {}
        self.state.param.watch(lambda *_: self._refresh(), ["runs"])
        self._refresh()

    # -- selection -----------------------------------------------------------------------
    def selected_id(self) -> str | None:
        """Id of the selected row (None if none)."""
        sel = self.table.selection
        if not sel or sel[0] >= len(self.table.value):
            return None
        return str(self.table.value.iloc[sel[0]]["id"])

    def _selected(self, *_):
        rid = self.selected_id()
        for w, name in ((self.dl_operator, "operator.nc"), (self.dl_metrics, "metrics.json")):
            w.filename = f"{rid}_{name}" if rid else name
            try:
                w.disabled = rid is None or not (run_dir(self.state.config.runs, rid) / name).is_file()
            except RunError:
                w.disabled = True

    def _need(self) -> str | None:
        rid = self.selected_id()
        if rid is None:
            set_alert(self.message, "Select a run first.", "warning")
        return rid

    # -- table -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        active = {r["id"] for r in self.state.runs if r.get("status") in ("running", "starting")}
        self._tails = {k: v for k, v in self._tails.items() if k in active}
        self._live = {k: v for k, v in self._live.items() if k in active}
        self._update_live()
        keep = self.selected_id()
        df = runs_frame(self.state.runs, self._live)
        self.table.value = df
        if keep is not None and keep in set(df["id"]):
            self.table.selection = [int((df["id"] == keep).to_numpy().argmax())]
        self._selected()
        self._refresh_trash()

    def _refresh_trash(self) -> None:
        names = list_trash(self.state.config.runs)
        keep = self.trash_select.value
        self.trash_select.options = names[::-1]
        self.trash_select.value = keep if keep in names else (names[-1] if names else None)
        self.trash_select.label = f"Trash ({len(names)} run{'s' if len(names) != 1 else ''})"
        self.restore.disabled = self.empty.disabled = not names

    def _update_live(self) -> bool:
        changed = False
        for r in self.state.runs:
            if r.get("status") not in ("running", "starting"):
                continue
            tail = self._tails.setdefault(r["id"], EventTail(os.path.join(r["path"], "events.jsonl")))
            n = self._live.get(r["id"], 0)
            for ev in tail.read():
                if ev.get("event") == "epoch":
                    n += 1
            if n != self._live.get(r["id"]):
                self._live[r["id"]] = n
                changed = True
        return changed

    def tick(self) -> None:
        """Show the live epoch count of active runs; let an unconfirmed "Empty trash" lapse."""
        if self._confirm_until and time.monotonic() > self._confirm_until:
            self._confirm_until = 0.0
            self.empty.label = "Empty trash"
            if self.message.alert_type == "warning":
                set_alert(self.message, "")
        if self._update_live():
            df = self.table.value
            for rid, n in self._live.items():
                rows = df.index[df["id"] == rid]
                if len(rows):
                    total = str(df.loc[rows[0], "progress"]).split("/")[-1]
                    self.table.patch({"progress": [(int(rows[0]), f"{n}/{total}")]}, as_index=True)

    # -- actions -----------------------------------------------------------------------------
    def _open(self, *_):
        rid = self._need()
        if not rid:
            return
        from .tabs import TABS          # the registry imports this module

        info = self.state.run_info(rid) or {}
        tab = next((t for t in TABS if t.opens(info)), None)
        if tab is None:
            family = (info.get("params") or {}).get("family") or info.get("kind") or "this kind of"
            set_alert(self.message, f"No tab follows {family} runs; score {rid} with "
                      "the Rollout tab or `collop evaluate`.", "warning")
            return
        self.state.show_tab = tab.title
        self.state.current_run = rid
        set_alert(self.message, f"Following {rid} in the {tab.title} tab.", "info")

    def _stop(self, *_):
        rid = self._need()
        if rid and self.state.manager is not None:
            try:
                set_alert(self.message, self.state.manager.stop(rid), "info")
            except RunError as exc:
                set_alert(self.message, str(exc), "danger")

    def _rename(self, *_):
        rid = self._need()
        if not rid:
            return
        cfg = self.state.config
        reserved = [cfg.uploads.name] if cfg.uploads.parent.resolve() == cfg.runs.resolve() else []
        try:
            new = rename_run(cfg.runs, rid, self.new_name.value, reserved=reserved)
        except (RunError, OSError) as exc:
            return set_alert(self.message, self.state.public(exc), "danger")
        if self.state.current_run == rid:
            self.state.current_run = new
        set_alert(self.message, f"Renamed {rid} to {new}.", "success")
        self.new_name.value = ""
        self.state.refresh_runs(force=True)

    def _delete(self, *_):
        rid = self._need()
        if not rid:
            return
        try:
            name = delete_run(self.state.config.runs, rid)
        except (RunError, OSError) as exc:
            return set_alert(self.message, self.state.public(exc), "danger")
        if self.state.current_run == rid:
            self.state.current_run = ""
        self.table.selection = []
        set_alert(self.message, f"Moved {rid} to the trash ({name}); Restore brings it back until the trash is "
                                "emptied.", "success")
        self.state.refresh_runs(force=True)
        self._refresh_trash()

    def _restore(self, *_):
        name = self.trash_select.value
        if not name:
            return set_alert(self.message, "The trash is empty.", "warning")
        try:
            new = restore_run(self.state.config.runs, name)
        except (RunError, OSError) as exc:
            return set_alert(self.message, self.state.public(exc), "danger")
        set_alert(self.message, f"Restored {new}.", "success")
        self.state.refresh_runs(force=True)
        self._refresh_trash()

    def _empty(self, *_):
        n = len(list_trash(self.state.config.runs))
        if not n:
            return set_alert(self.message, "The trash is empty.", "warning")
        if time.monotonic() > self._confirm_until:
            self._confirm_until = time.monotonic() + CONFIRM_SECONDS
            self.empty.label = "Confirm: delete for good"
            return set_alert(self.message, f"Delete the {n} run{'s' if n != 1 else ''} in the trash for good? Click "
                                           f"again within {CONFIRM_SECONDS:.0f} s to confirm.", "warning")
        self._confirm_until = 0.0
        self.empty.label = "Empty trash"
        try:
            k = empty_trash(self.state.config.runs)
        except OSError as exc:
            return set_alert(self.message, self.state.public(exc), "danger")
        set_alert(self.message, f"Deleted {k} run{'s' if k != 1 else ''} for good.", "success")
        self._refresh_trash()

    # -- downloads -----------------------------------------------------------------------------
    def _file(self, name: str) -> io.BytesIO:
        rid = self.selected_id()
        if rid is None:
            set_alert(self.message, "Select a run first.", "warning")
            return io.BytesIO(b"")
        try:
            return io.BytesIO((run_dir(self.state.config.runs, rid) / name).read_bytes())
        except (RunError, OSError):
            set_alert(self.message, f"{rid} has no {name}.", "warning")
            return io.BytesIO(b"")

    def _operator_file(self):
        return self._file("operator.nc")

    def _metrics_file(self):
        return self._file("metrics.json")

    def _summary_csv(self):
        buf = io.StringIO()
        run_summary(self.state.runs).to_csv(buf, index=False)
        return io.BytesIO(buf.getvalue().encode())

    def __panel__(self):
        return pn.Column(
            pn.Row(self.open, self.stop, self.new_name, self.rename, self.delete),
            self.message,
            self.table,
            pn.Row(pn.pane.Markdown("Download the selected run's", margin=(12, 5)), self.dl_operator,
                   self.dl_metrics, pn.pane.Markdown("or all runs'", margin=(12, 5)), self.dl_summary),
            pn.Row(self.trash_select, self.restore, self.empty),
            sizing_mode="stretch_width")
