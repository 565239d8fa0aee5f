"""From a run folder to the page, incrementally: loss, newest operator, progress, elapsed time and ETA.

:class:`EventTail` reads the lines appended to ``events.jsonl`` since the last
call (by file offset; a partly written last line waits for the next call).
:class:`RunFeed` turns those events into the loss record, the newest
operator (snapshot, then ``operator.nc``) and a :class:`Progress`; the page's
periodic callback calls :meth:`RunFeed.drain` and redraws only when something
changed.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .plots import EMPTY_LOSS
from .runstore import load_operator

__all__ = ["EventTail", "RunFeed", "Progress", "format_duration"]


def format_duration(seconds: float | None) -> str:
    """``1:02:03`` / ``4:05`` / ``–`` for None."""
    if seconds is None or not np.isfinite(seconds):
        return "–"
    s = int(round(max(seconds, 0.0)))
    h, m, s = s // 3600, (s // 60) % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _epoch_seconds(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(str(ts)).timestamp()
    except ValueError:
        return None


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


@dataclass
class Progress:
    """Where a followed run stands, from its events.

    ``stages`` maps stage index -> ``(epochs planned, N_u)``; ``seconds``
    stage -> ``(sum of epoch durations, epochs timed)``, from the differences
    of the epochs' cumulative ``seconds``; ``started`` is the time of the
    first event (seconds since the epoch), ``ended`` that of the ``done``
    event.
    """

    stage: int = 0
    n_stages: int = 0
    epoch: int = 0                 # epochs done in the current stage
    epochs_done: int = 0           # over all stages
    status: str = ""
    message: str = ""
    events: int = 0
    started: float | None = None
    ended: float | None = None
    stages: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    last_seconds: float | None = None

    def elapsed(self, now: float | None = None) -> float | None:
        """Seconds since the first event (until the ``done`` event for an ended run)."""
        if self.started is None:
            return None
        end = self.ended if self.ended is not None else (time.time() if now is None else now)
        return max(0.0, end - self.started)

    def eta(self) -> float | None:
        """Seconds left, estimated from the epochs timed so far (None until one epoch of this stage is timed).

        Notes
        -----
        An epoch's cost grows with the frames it unrolls, ``N_u``: the
        current stage's mean seconds per epoch is used for its remaining
        epochs and scaled by ``N_u(s) / N_u(current)`` for each later stage
        ``s`` whose plan is known. Epochs of later stages not announced yet
        are not counted.
        """
        tot, n = self.seconds.get(self.stage, (0.0, 0))
        if n == 0 or self.status not in ("running", ""):
            return None
        per = tot / n
        planned, nu = self.stages.get(self.stage, (self.epoch, 1))
        left = max(planned - self.epoch, 0) * per
        for s, (ep, nu_s) in self.stages.items():
            if s > self.stage:
                left += ep * per * (nu_s / max(nu, 1))
        return left


class RunFeed:
    """Reads one run's progress incrementally.

    Attributes
    ----------
    loss : pandas.DataFrame
        ``epoch`` (counted over all stages), ``loss``, ``stage``.
    operator : xarray.Dataset or None
        The newest operator (latest snapshot, then ``operator.nc``).
    progress : Progress
    version : int
        Incremented whenever any of them changed.
    """

    def __init__(self):
        self.run_path: Path | None = None
        self.tail: EventTail | None = None
        self.version = 0
        self.follow(None)

    def follow(self, run_path) -> None:
        """Follow another run (or none): clear everything and read its events from the start."""
        self.run_path = Path(run_path) if run_path else None
        self.tail = EventTail(self.run_path / "events.jsonl") if self.run_path else None
        self.progress = Progress()
        self.loss = EMPTY_LOSS.copy()
        self.operator = None
        self._offsets: dict[int, int] = {}
        self.version += 1

    def _global_epoch(self, stage: int, epoch: int) -> int:
        if stage not in self._offsets:
            self._offsets[stage] = sum(self.progress.stages.get(s, (0, 1))[0] for s in range(stage))
        return self._offsets[stage] + epoch

    def drain(self) -> bool:
        """Take in the events that arrived since the last call; True if anything changed."""
        if self.tail is None:
            return False
        events = self.tail.read()
        if not events:
            return False
        p = self.progress
        rows, snapshot, done = [], None, None
        for ev in events:
            kind = ev.get("event")
            p.events += 1
            if p.started is None:
                p.started = _epoch_seconds(ev.get("time"))
            if kind == "stage":
                s = int(ev.get("stage", 0))
                p.stages[s] = (int(ev.get("epochs", 0)), int(ev.get("n_unroll", 1) or 1))
                self._offsets[s] = sum(p.stages.get(k, (0, 1))[0] for k in range(s))
                p.stage, p.n_stages, p.epoch, p.status = s, int(ev.get("n_stages", 0)), 0, "running"
            elif kind == "epoch":
                s, e = int(ev.get("stage", 0)), int(ev.get("epoch", 0))
                loss = ev.get("loss")
                g = self._global_epoch(s, e)
                rows.append((g, np.nan if loss is None else float(loss), s))
                p.stage, p.epoch, p.epochs_done = s, e + 1, g + 1
                if ev.get("seconds") is not None:        # training time so far (cumulative)
                    sec = float(ev["seconds"])
                    if p.last_seconds is not None and sec >= p.last_seconds:
                        tot, n = p.seconds.get(s, (0.0, 0))
                        p.seconds[s] = (tot + sec - p.last_seconds, n + 1)
                    p.last_seconds = sec
            elif kind == "snapshot" and ev.get("path"):
                snapshot = ev["path"]
            elif kind == "done":
                done = ev
                p.ended = _epoch_seconds(ev.get("time"))
        if rows:
            new = pd.DataFrame(rows, columns=list(EMPTY_LOSS.columns))
            self.loss = new if len(self.loss) == 0 else pd.concat([self.loss, new], ignore_index=True)
        if done is not None:
            p.status, p.message = done.get("status", ""), done.get("message") or ""
            op = load_operator(self.run_path / "operator.nc")
            if op is not None:
                self.operator = op
        elif snapshot is not None:
            op = load_operator(self.run_path / snapshot)
            if op is not None:
                self.operator = op
        self.version += 1
        return True
