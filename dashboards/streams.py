"""From a run folder to HoloViews streams, incrementally.

:class:`EventTail` reads the lines appended to ``events.jsonl`` since the last
call (by file offset; a partly written last line waits for the next call).
:class:`RunFeed` turns those events into stream updates: epochs go into a
:class:`holoviews.streams.Buffer` (the loss curve), the newest snapshot's
operator into a :class:`holoviews.streams.Pipe` (the coefficient curves), and
the stage/epoch into a small progress record. A periodic callback of the page
calls :meth:`RunFeed.drain`; figures are never rebuilt, only fed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from holoviews.streams import Buffer, Pipe

from .plots import EMPTY_LOSS
from .runstore import load_operator

__all__ = ["EventTail", "RunFeed"]


class EventTail:
    """Incremental reader of a run's ``events.jsonl``.

    Parameters
    ----------
    path : path-like
        The ``events.jsonl`` file (it may not exist yet).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.offset = 0
        self._ino = None

    def read(self) -> list[dict]:
        """Events appended since the last call (complete lines only)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        if self._ino is not None and (st.st_ino != self._ino or st.st_size < self.offset):
            self.offset = 0      # the file was replaced: start over
        self._ino = st.st_ino
        if st.st_size <= self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(st.st_size - self.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out = []
        for line in chunk[:end].splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


class RunFeed:
    """Feeds one run's progress into streams.

    Parameters
    ----------
    loss : holoviews.streams.Buffer
        Receives rows ``epoch`` (counted over all stages), ``loss``, ``stage``.
    operator : holoviews.streams.Pipe
        Receives the newest operator dataset (snapshot, then ``operator.nc``).
    """

    def __init__(self, loss: Buffer, operator: Pipe):
        self.loss = loss
        self.operator = operator
        self.run_path: Path | None = None
        self.tail: EventTail | None = None
        self.progress = {"stage": 0, "n_stages": 0, "epoch": 0, "epochs_done": 0, "status": "", "message": ""}
        self._offsets: dict[int, int] = {}
        self._stage_epochs: dict[int, int] = {}

    def follow(self, run_path) -> None:
        """Follow another run (or none): clear the streams and read its events from the start."""
        self.run_path = Path(run_path) if run_path else None
        self.tail = EventTail(self.run_path / "events.jsonl") if self.run_path else None
        self.progress = {"stage": 0, "n_stages": 0, "epoch": 0, "epochs_done": 0, "status": "", "message": ""}
        self._offsets, self._stage_epochs = {}, {}
        self.loss.clear()
        self.operator.send(None)

    def _global_epoch(self, stage: int, epoch: int) -> int:
        return self._offsets.get(stage, sum(self._stage_epochs.get(s, 0) for s in range(stage))) + epoch

    def drain(self) -> int:
        """Push the events that arrived since the last call; returns how many epochs were pushed."""
        if self.tail is None:
            return 0
        events = self.tail.read()
        if not events:
            return 0
        rows, snapshot, done = [], None, None
        for ev in events:
            kind = ev.get("event")
            if kind == "stage":
                s = int(ev.get("stage", 0))
                self._stage_epochs[s] = int(ev.get("epochs", 0))
                self._offsets[s] = sum(self._stage_epochs.get(k, 0) for k in range(s))
                self.progress.update(stage=s, n_stages=int(ev.get("n_stages", 0)), epoch=0,
                                     stage_epochs=int(ev.get("epochs", 0)), status="running")
            elif kind == "epoch":
                s, e = int(ev.get("stage", 0)), int(ev.get("epoch", 0))
                loss = ev.get("loss")
                rows.append((self._global_epoch(s, e), np.nan if loss is None else float(loss), s))
                self.progress.update(stage=s, epoch=e + 1, epochs_done=self._global_epoch(s, e) + 1)
            elif kind == "snapshot" and ev.get("path"):
                snapshot = ev["path"]
            elif kind == "done":
                done = ev
        if rows:
            self.loss.send(pd.DataFrame(rows, columns=list(EMPTY_LOSS.columns)))
        if done is not None:
            self.progress.update(status=done.get("status", ""), message=done.get("message") or "")
            op = load_operator(self.run_path / "operator.nc")
            if op is not None:
                self.operator.send(op)
        elif snapshot is not None:
            op = load_operator(self.run_path / snapshot)
            if op is not None:
                self.operator.send(op)
        return len(rows)

    @staticmethod
    def loss_buffer(length: int = 100_000) -> Buffer:
        """An empty loss buffer of the right columns."""
        return Buffer(EMPTY_LOSS.copy(), length=length, index=False)
