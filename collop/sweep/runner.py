"""Run a sweep on dask.distributed: one task per point, results as they land, resumable.

The sweep folder
----------------
``sweep.json``
    The index: ``spec`` (the sweep spec), ``status`` (``running`` ->
    ``finished`` / ``stopped`` / ``incomplete``), ``counts`` and ``points``,
    one entry per point with ``id``, ``values`` (axis path -> value),
    ``status`` (``pending``, ``running``, ``finished``, ``diverged``,
    ``stopped``, ``failed``), ``error``, ``attempts``, ``metrics`` (the
    scalar entries of the point's ``metrics.json`` and its ``per_population``)
    and ``spec`` (its train spec). Rewritten atomically whenever a point
    changes, by the one process that runs the sweep.
``events.jsonl``
    One JSON line per event, appended as it happens (what the app follows):
    ``{"event": "sweep", "status": "started", "n_points", "n_done", ...}``,
    ``{"event": "point", "status": "started", "point", "values", "attempt", "worker"}``,
    ``{"event": "point", "status": "finished"|"diverged"|"stopped"|"failed", "point",
    "values", "metrics", "error"}`` and a closing ``{"event": "sweep", "status": ...}``.
``POINT_ID/``
    Each point's run folder, written by :func:`collop.pipeline.run` exactly as
    for a single training (``run.json``, ``events.jsonl``, ``operator.nc``,
    ``metrics.json``, ``checkpoint.pt``); :func:`collop.runs.list_runs` on the
    sweep folder lists them.
``.lock``
    Held by the process that runs the sweep (a second one is refused).

Resume and faults
-----------------
A point whose run folder says ``finished`` or ``diverged`` is done and is
never run again. Any other point is run: from its checkpoint if it has one
(a stopped point, or one whose worker was killed), else from scratch (a
half-written folder without a checkpoint is cleared first). A worker that dies
takes its point's lock with it (the kernel releases ``flock``); the scheduler
gives the point to another worker (up to dask's
``distributed.scheduler.allowed-failures`` deaths, then the point fails with
``KilledWorker``). A point that raises an error other than a
:class:`collop.CollopError` is retried ``retries`` times (dask's ``retries``);
one that still fails, or fails on bad input, is recorded with its error and
the others go on.

A point's identity is its training (:mod:`collop.sweep.grid`), so a rerun
with a changed or extended spec reuses every point the two grids share and
indexes the new grid; folders of points no longer in it stay, unindexed.

Following and stopping a sweep
------------------------------
Other processes (the app) read ``sweep.json`` (:func:`collop.sweep.read_sweep`
tells whether a ``running`` sweep's process is alive) and follow
``events.jsonl``. ``stop`` asks running points to end after their current
epoch (status ``stopped``, resumable) and skips the others; a sweep run by
``collop sweep run`` is stopped the same way by SIGINT or SIGTERM, e.g.
:func:`collop.runs.signal_run` on the sweep folder.
"""
from __future__ import annotations
from __future__ import annotations

import contextlib
import os
import queue
import socket
import time
import uuid
from pathlib import Path

from ..options import SpecError, one_line
from .checks import check_out, preflight
from .cluster import Cluster, connect, describe
from .folder import INDEX_VERSION, SUMMARY_METRICS, SweepFolder, SweepResult
from .grid import Point, SweepSpec, expand, parse_sweep_spec
from .point import DONE, _run_point, compact_metrics, point_state

__all__ = ["run_sweep", "SweepResult", "SweepFolder", "DONE", "connect", "Cluster", "preflight",
           "point_state"]


def _entry(p: Point) -> dict:
    from ..pipeline import spec_to_dict

    return {"id": p.id, "values": p.values, "status": "pending", "error": None, "attempts": 0,
            "metrics": {}, "spec": spec_to_dict(p.spec)}


def _counts(entries) -> dict:
    c: dict = {}
    for e in entries:
        c[e["status"]] = c.get(e["status"], 0) + 1
    return c


def _is_set(stop) -> bool:
    return stop is not None and bool(stop.is_set())


def run_sweep(spec, out, *, workers: int = 2, scheduler: str | None = None, retries: int = 1,
              callback=None, stop=None, client=None, timeout: float = 5.0) -> SweepResult:
    """Run every point of a sweep that is not done yet, on dask.distributed.

    Parameters
    ----------
    spec : SweepSpec, dict or str
        The sweep (:mod:`collop.sweep.grid`).
    out : str or path-like
        The sweep folder (created; a rerun resumes it).
    workers : int
        Worker processes of the local cluster (one thread each; ignored with
        ``scheduler`` or ``client``).
    scheduler : str, optional
        Address of a running dask scheduler, or a scheduler file.
    retries : int
        Extra attempts of a point that raises an unexpected error (dask's
        ``retries``); a lost worker's point is rescheduled by dask anyway.
    callback : callable, optional
        Receives every event written to the sweep's ``events.jsonl`` (a
        dict), in the calling thread.
    stop : threading.Event or StopFlag, optional
        When set, points not yet started are skipped and running ones stop
        after their current epoch (status ``stopped``, resumable).
    client : distributed.Client, optional
        An open client to use (the caller keeps it open).
    timeout : float
        Seconds to wait for a scheduler.

    Returns
    -------
    SweepResult

    Notes
    -----
    Everything is checked before the folder is written: the spec, every
    point's options, data files and populations, the folder and the
    scheduler. Errors are :class:`collop.CollopError` in one line. See the
    module docstring for the folder and for resume and faults.
    """
    t0 = time.perf_counter()
    spec = parse_sweep_spec(spec)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise SpecError(f"retries: expected an integer >= 0, got {retries!r}", field="retries")
    out = Path(os.path.abspath(out))
    points = expand(spec, out)
    preflight(points, spec)
    check_out(out)
    if client is not None:
        return _run(spec, points, out, client, describe(client), retries, callback, stop, t0)
    with Cluster(workers, scheduler, timeout) as cl:
        return _run(spec, points, out, cl.client, cl.describe(), retries, callback, stop, t0)


def _run(spec: SweepSpec, points, out: Path, client, where: str, retries, callback, stop, t0) -> SweepResult:
    folder = SweepFolder(out)
    out.mkdir(parents=True, exist_ok=True)
    folder.claim()
    try:
        return _drive(spec, points, folder, client, where, retries, callback, stop, t0)
    finally:
        folder.release()


def _drive(spec, points, folder: SweepFolder, client, where, retries, callback, stop, t0) -> SweepResult:
    from distributed import Event

    from ..runs import _now

    old = {}
    if folder.exists():
        with contextlib.suppress(OSError, ValueError):
            old = folder.read()
    old_points = {e.get("id"): e for e in old.get("points", []) if isinstance(e, dict)}
    entries = []
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
        entries.append(e)
    by_id = {e["id"]: e for e in entries}
    index = {"collop_sweep": INDEX_VERSION, "name": spec.name, "spec": spec.to_dict(), "status": "running",
             "created": old.get("created", _now()), "host": socket.gethostname(), "pid": os.getpid(),
             "where": where, "counts": _counts(entries), "points": entries}
    folder.write(index)

    def event(ev: dict) -> None:
        ev = folder.append_event(ev)
        if callback is not None:
            callback(ev)

    todo = [p for p in points if by_id[p.id]["status"] not in DONE]
    event({"event": "sweep", "status": "started", "n_points": len(points), "n_done": len(points) - len(todo),
           "n_todo": len(todo), "where": where})

    token = uuid.uuid4().hex[:12]
    topic, stop_name = f"collop-sweep-{token}", f"collop-sweep-stop-{token}"
    inbox: queue.Queue = queue.Queue()
    with contextlib.suppress(Exception):
        client.subscribe_topic(topic, lambda item: inbox.put(item[1] if isinstance(item, tuple) else item))
    stop_event = Event(stop_name, client=client)
    from ..pipeline import spec_to_dict

    futures = {}
    for p in todo:
        fut = client.submit(_run_point, spec_to_dict(p.spec), topic, stop_name, p.id,
                            key=f"collop-point-{p.id}-{token}", retries=retries, pure=False)
        futures[fut] = p
    running_ids = {p.id for p in todo}
    stopping = False

    def handle_started(msg):
        e = by_id.get(msg.get("point"))
        if e is None or e["id"] not in running_ids:     # stale: the point has ended
            return
        e["status"] = "running"
        e["attempts"] = int(e.get("attempts", 0)) + 1
        index["counts"] = _counts(entries)
        folder.write(index)
        event({"event": "point", "status": "started", "point": e["id"], "values": e["values"],
               "attempt": e["attempts"], "resumed": bool(msg.get("resumed")), "worker": msg.get("worker"),
               "pid": msg.get("pid"), "host": msg.get("host")})

    def handle_done(fut, p):
        e = by_id[p.id]
        if fut.status == "finished":
            try:
                r = fut.result()
            except Exception as exc:  # noqa: BLE001 - recorded below
                r = {"status": "failed", "error": one_line(f"{type(exc).__name__}: {exc}")}
        elif fut.status == "error":
            exc = fut.exception()
            r = {"status": "failed", "error": one_line(f"{type(exc).__name__}: {exc}")}
        else:
            r = {"status": "failed", "error": f"the task was {fut.status} by the scheduler"}
        status = r.get("status", "failed")
        if status == "skipped":
            e["status"] = "pending"
            folder.write(index)
            return
        e["status"] = status
        e["error"] = r.get("error") or (r.get("message") if status == "diverged" else None)
        if r.get("metrics"):
            e["metrics"] = r["metrics"]
        index["counts"] = _counts(entries)
        folder.write(index)
        metrics = {k: e["metrics"][k] for k in SUMMARY_METRICS if k in e["metrics"]}
        event({"event": "point", "status": status, "point": e["id"], "values": e["values"],
               "metrics": metrics, "error": e["error"]})

    try:
        while futures:
            while True:
                try:
                    msg = inbox.get_nowait()
                except queue.Empty:
                    break
                if isinstance(msg, dict) and msg.get("status") == "started":
                    handle_started(msg)
            done = [f for f in futures if f.done()]
            for f in done:
                p = futures.pop(f)
                running_ids.discard(p.id)
                handle_done(f, p)
            if not stopping and _is_set(stop):
                stopping = True
                stop_event.set()
                event({"event": "sweep", "status": "stopping"})
            if futures and not done:
                time.sleep(0.1)
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)
        for f in futures:         # an interrupted sweep: what is left is pending again
            e = by_id[futures[f].id]
            if e["status"] == "running":
                e["status"] = "pending"
        with contextlib.suppress(Exception):
            stop_event.set()      # tell tasks still running on a remote cluster to stop
        counts = _counts(entries)
        if futures:
            status = "stopped"
        elif all(e["status"] in DONE for e in entries):
            status = "finished"
        elif stopping:
            status = "stopped"
        else:
            status = "incomplete"
        index.update(status=status, counts=counts)
        with contextlib.suppress(Exception):
            folder.write(index)
        seconds = time.perf_counter() - t0
        with contextlib.suppress(Exception):
            event({"event": "sweep", "status": status, "counts": counts, "seconds": round(seconds, 3)})
    return SweepResult(status, folder.path, entries, counts, seconds)

