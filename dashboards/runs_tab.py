"""The Runs tab: every run on disk (app and command line), with open, stop, rename and delete."""
from __future__ import annotations

import os

import pandas as pd
import panel as pn

from .base import Tab, alert, set_alert
from .runstore import RunError, delete_run, progress_of, rename_run
from .streams import EventTail

__all__ = ["RunsTab", "runs_frame"]

COLUMNS = ["id", "dataset", "method", "status", "progress", "rollout MAE", "parameters", "error", "updated"]


def _params_text(r: dict) -> str:
    p = r.get("params") or {}
    if r.get("method") == "tracks" or r.get("kind") == "tracks":
        return f"ndump={p.get('ndump')} {p.get('symmetry', '')}".strip()
    keys = [("train", "train"), ("symmetry", "sym"), ("nt", "N_t"), ("reg", "λ"), ("reg_velocity", "λ_v"),
            ("seed", "seed"), ("curriculum", "curr")]
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
        prog = f"{done}/{total}" if total else ""
        data = (r.get("params") or {}).get("data") or r.get("dataset") or ""
        rows.append({"id": r["id"], "dataset": os.path.basename(str(data)), "method": r.get("method") or "",
                     "status": r.get("status", ""), "progress": prog,
                     "rollout MAE": "" if mae is None else f"{mae:.4g} ± {m.get('rollout_mae_std', 0):.2g}",
                     "parameters": _params_text(r), "error": r.get("error") or "",
                     "updated": str(r.get("updated", ""))[:19].replace("T", " ")})
    return pd.DataFrame(rows, columns=COLUMNS)


class RunsTab(Tab):
    """List, open, stop, rename and delete runs; everything is read from the runs folder."""

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
        self.delete = pn.widgets.Button(label="Delete", color="danger", css_classes=["collop-run-delete"])
        self.message = alert(name="runs-message")
        self.open.on_click(self._open)
        self.stop.on_click(self._stop)
        self.rename.on_click(self._rename)
        self.delete.on_click(self._delete)
        self._tails: dict[str, EventTail] = {}
        self._live: dict[str, int] = {}
        self.state.param.watch(lambda *_: self._refresh(), ["runs"])
        self._refresh()

    def selected_id(self) -> str | None:
        """Id of the selected row (None if none)."""
        sel = self.table.selection
        if not sel or sel[0] >= len(self.table.value):
            return None
        return str(self.table.value.iloc[sel[0]]["id"])

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
        """Show the live epoch count of active runs."""
        if self._update_live():
            df = self.table.value
            for rid, n in self._live.items():
                rows = df.index[df["id"] == rid]
                if len(rows):
                    total = str(df.loc[rows[0], "progress"]).split("/")[-1]
                    self.table.patch({"progress": [(int(rows[0]), f"{n}/{total}")]}, as_index=True)

    def _need(self) -> str | None:
        rid = self.selected_id()
        if rid is None:
            set_alert(self.message, "Select a run first.", "warning")
        return rid

    def _open(self, *_):
        rid = self._need()
        if rid:
            self.state.current_run = rid
            self.state.show_tab = "Fokker–Planck"
            set_alert(self.message, f"Following {rid} in the Fokker–Planck tab.", "info")

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
        try:
            new = rename_run(self.state.config.runs, rid, self.new_name.value.strip())
        except (RunError, OSError) as exc:
            return set_alert(self.message, str(exc), "danger")
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
            delete_run(self.state.config.runs, rid)
        except (RunError, OSError) as exc:
            return set_alert(self.message, str(exc), "danger")
        if self.state.current_run == rid:
            self.state.current_run = ""
        self.table.selection = []
        set_alert(self.message, f"Deleted {rid}.", "success")
        self.state.refresh_runs(force=True)

    def __panel__(self):
        return pn.Column(pn.Row(self.open, self.stop, self.new_name, self.rename, self.delete), self.message,
                         self.table, sizing_mode="stretch_width")
