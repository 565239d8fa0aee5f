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
import time
import uuid
from pathlib import Path

from ..options import SpecError, one_line
from .checks import check_out, preflight
from .cluster import Cluster, connect, describe
from .folder import SweepFolder, SweepResult
from .grid import SweepSpec, expand, parse_sweep_spec
from .point import DONE, _run_point, point_state
from .progress import SweepLog

__all__ = ["run_sweep", "SweepResult", "SweepFolder", "DONE", "connect", "Cluster", "preflight",
           "point_state"]


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


def _outcome(fut) -> dict:
    """What a point's finished future says: its result, or a failure record of its error."""
    if fut.status == "finished":
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - recorded as the point's failure
            return {"status": "failed", "error": one_line(f"{type(exc).__name__}: {exc}")}
    if fut.status == "error":
        exc = fut.exception()
        return {"status": "failed", "error": one_line(f"{type(exc).__name__}: {exc}")}
    return {"status": "failed", "error": f"the task was {fut.status} by the scheduler"}


def _drive(spec, points, folder: SweepFolder, client, where, retries, callback, stop, t0) -> SweepResult:
    """Submit the points not done, record them as they start and end, and close the sweep."""
    from distributed import Event

    from ..pipeline import spec_to_dict

    log = SweepLog(folder, spec, points, where, callback)
    todo = [p for p in points if not log.is_done(p.id)]
    log.event({"event": "sweep", "status": "started", "n_points": len(points),
               "n_done": len(points) - len(todo), "n_todo": len(todo), "where": where})

    token = uuid.uuid4().hex[:12]
    topic, stop_name = f"collop-sweep-{token}", f"collop-sweep-stop-{token}"
    inbox: queue.Queue = queue.Queue()           # the workers' "started" messages
    with contextlib.suppress(Exception):
        client.subscribe_topic(topic, lambda item: inbox.put(item[1] if isinstance(item, tuple) else item))
    stop_event = Event(stop_name, client=client)
    futures = {}
    for p in todo:
        fut = client.submit(_run_point, spec_to_dict(p.spec), topic, stop_name, p.id,
                            key=f"collop-point-{p.id}-{token}", retries=retries, pure=False)
        futures[fut] = p
    running_ids = {p.id for p in todo}
    stopping = False
    try:
        while futures:
            while True:
                try:
                    msg = inbox.get_nowait()
                except queue.Empty:
                    break
                if isinstance(msg, dict) and msg.get("status") == "started" and msg.get("point") in running_ids:
                    log.started(msg)                 # (a message of a point that has ended is stale)
            done = [f for f in futures if f.done()]
            for f in done:
                p = futures.pop(f)
                running_ids.discard(p.id)
                log.ended(p.id, _outcome(f))
            if not stopping and _is_set(stop):
                stopping = True
                stop_event.set()
                log.event({"event": "sweep", "status": "stopping"})
            if futures and not done:
                time.sleep(0.1)
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)
        with contextlib.suppress(Exception):
            stop_event.set()      # tell tasks still running on a remote cluster to stop
        seconds = time.perf_counter() - t0
        status, counts = log.close([p.id for p in futures.values()], stopping, seconds)
    return SweepResult(status, folder.path, log.entries, counts, seconds)
