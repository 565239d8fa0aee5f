"""A running sweep's record: the point entries of ``sweep.json`` and the events, kept in step.

:class:`SweepLog` is kept by the one process that runs the sweep
(:func:`collop.sweep.run_sweep`). It starts from the points' run folders, so a
rerun knows which points are done, and rewrites ``sweep.json`` atomically and
appends to ``events.jsonl`` (and calls the caller's callback) whenever a point
starts or ends. The layout of both files is in :mod:`collop.sweep.runner`.
"""
from __future__ import annotations

import contextlib
import os
import socket

from .folder import INDEX_VERSION, SUMMARY_METRICS, SweepFolder
from .grid import Point, SweepSpec
from .point import DONE, compact_metrics, point_state

__all__ = ["SweepLog"]


def _entry(p: Point) -> dict:
    from ..pipeline import spec_to_dict

    return {"id": p.id, "values": p.values, "status": "pending", "error": None, "attempts": 0,
            "metrics": {}, "spec": spec_to_dict(p.spec)}


def _counts(entries) -> dict:
    c: dict = {}
    for e in entries:
        c[e["status"]] = c.get(e["status"], 0) + 1
    return c


class SweepLog:
    """The index and events of a sweep while it runs.

    Parameters
    ----------
    folder : SweepFolder
        The sweep folder (claimed by the caller).
    spec : SweepSpec
        The sweep.
    points : list of Point
        Its points; each one's status is read from its run folder (done
        points keep their metrics; stopped, failed and interrupted ones are
        pending again).
    where : str
        Where the points run, in words (recorded in the index and events).
    callback : callable, optional
        Receives every event (a dict) after it is written.
    """

    def __init__(self, folder: SweepFolder, spec: SweepSpec, points: list[Point], where: str, callback=None):
        from ..runs import _now

        self.folder, self.callback = folder, callback
        old = {}
        if folder.exists():
            with contextlib.suppress(OSError, ValueError):
                old = folder.read()
        old_points = {e.get("id"): e for e in old.get("points", []) if isinstance(e, dict)}
        self.entries = []
        for p in points:
            e = _entry(p)
            status, info = point_state(p.spec.out)
            e["attempts"] = int(old_points.get(p.id, {}).get("attempts", 0) or 0)
            if status in DONE:
                e["status"] = status
                e["metrics"] = compact_metrics(info.get("metrics"))
            elif status in ("stopped", "failed", "interrupted"):
                e["status"] = "pending"
                e["error"] = info.get("error") if status == "failed" else None
            self.entries.append(e)
        self.by_id = {e["id"]: e for e in self.entries}
        self.index = {"collop_sweep": INDEX_VERSION, "name": spec.name, "spec": spec.to_dict(),
                      "status": "running", "created": old.get("created", _now()), "host": socket.gethostname(),
                      "pid": os.getpid(), "where": where, "counts": _counts(self.entries), "points": self.entries}
        folder.write(self.index)

    def is_done(self, point_id: str) -> bool:
        return self.by_id[point_id]["status"] in DONE

    def event(self, ev: dict) -> None:
        """Append ``ev`` to ``events.jsonl`` and pass it to the callback."""
        ev = self.folder.append_event(ev)
        if self.callback is not None:
            self.callback(ev)

    def _write(self) -> None:
        self.index["counts"] = _counts(self.entries)
        self.folder.write(self.index)

    def started(self, msg: dict) -> None:
        """A worker's message that it started a point (an attempt more)."""
        e = self.by_id[msg["point"]]
        e["status"] = "running"
        e["attempts"] = int(e.get("attempts", 0)) + 1
        self._write()
        self.event({"event": "point", "status": "started", "point": e["id"], "values": e["values"],
                    "attempt": e["attempts"], "resumed": bool(msg.get("resumed")), "worker": msg.get("worker"),
                    "pid": msg.get("pid"), "host": msg.get("host")})

    def ended(self, point_id: str, r: dict) -> None:
        """A point's task ended with ``r`` (``{"status", "metrics", "message", "error"}``).

        A point skipped because the sweep was stopping is pending again, with no event.
        """
        e = self.by_id[point_id]
        status = r.get("status", "failed")
        if status == "skipped":
            e["status"] = "pending"
            self.folder.write(self.index)
            return
        e["status"] = status
        e["error"] = r.get("error") or (r.get("message") if status == "diverged" else None)
        if r.get("metrics"):
            e["metrics"] = r["metrics"]
        self._write()
        metrics = {k: e["metrics"][k] for k in SUMMARY_METRICS if k in e["metrics"]}
        self.event({"event": "point", "status": status, "point": e["id"], "values": e["values"],
                    "metrics": metrics, "error": e["error"]})

    def close(self, left: list[str], stopping: bool, seconds: float) -> tuple[str, dict]:
        """Record the sweep's end; ``left``: points whose tasks did not end. Returns ``(status, counts)``.

        ``finished``: every point is done; ``stopped``: interrupted or asked
        to stop (the points left are pending again); ``incomplete``: some
        points failed. Nothing here raises: it runs while an error may be
        on its way out.
        """
        for pid in left:
            if self.by_id[pid]["status"] == "running":
                self.by_id[pid]["status"] = "pending"
        counts = _counts(self.entries)
        if left:
            status = "stopped"
        elif all(e["status"] in DONE for e in self.entries):
            status = "finished"
        elif stopping:
            status = "stopped"
        else:
            status = "incomplete"
        self.index.update(status=status, counts=counts)
        with contextlib.suppress(Exception):
            self.folder.write(self.index)
        with contextlib.suppress(Exception):
            self.event({"event": "sweep", "status": status, "counts": counts, "seconds": round(seconds, 3)})
        return status, counts
