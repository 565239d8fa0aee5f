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

import contextlib
import logging
import math
import os
import queue
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..options import SpecError
from ..schema import CollopError
from .grid import Point, SweepSpec, expand, parse_sweep_spec

__all__ = ["run_sweep", "SweepResult", "SweepFolder", "DONE", "connect", "Cluster", "preflight",
           "point_state"]

#: point statuses that are final: a rerun skips these points
DONE = ("finished", "diverged")
#: format version of sweep.json
INDEX_VERSION = 1
#: metrics of a point copied into events (the index keeps every scalar)
EVENT_METRICS = ("rollout_mae", "rollout_mae_std", "rollout_l1_rel", "train_seconds", "best_loss",
                 "epochs")

log = logging.getLogger(__name__)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _one_line(msg) -> str:
    return " ".join(str(msg).split()) or "unknown error"


def _compact_metrics(m: dict | None) -> dict:
    """The scalar entries of a metrics dict (and ``per_population``), JSON-ready."""
    if not m:
        return {}
    out = {}
    for k, v in m.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif k == "per_population" and isinstance(v, dict):
            out[k] = v
    return out


# -- the worker side -----------------------------------------------------------------------

class _StopProbe:
    """``is_set()`` of a :class:`distributed.Event`, asked at most every ``every`` seconds."""

    def __init__(self, name: str, every: float = 1.0):
        self.name, self.every = name, every
        self._last = -math.inf
        self._set = False

    def is_set(self) -> bool:
        if not self._set and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            with contextlib.suppress(Exception):
                from distributed import Event

                self._set = bool(Event(self.name).is_set())
        return self._set


def _keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse in this worker process (Linux; no-op elsewhere).

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    also freezes glibc's mmap threshold at 128 KiB: every array above it is
    mapped and unmapped afresh, and a training spends as much CPU in the
    kernel (page faults) as in its own work (measured: 4.4 s of 10.7 s CPU for
    a training that takes 5.3 s in a plain process). Thresholds of 32 MiB
    (mmap) and 64 MiB (trim) restore the plain process's cost.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 * 2**20)      # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 2**20)      # M_TRIM_THRESHOLD


def _emit(topic: str | None, msg: dict) -> None:
    if topic is None:
        return
    with contextlib.suppress(Exception):
        from distributed import get_worker

        get_worker().log_event(topic, msg)


def point_state(path) -> tuple[str, dict]:
    """``(status, run.json)`` of a point's folder: its run status, or ``pending`` without a run.

    A ``running`` folder that no live process owns (its process was killed)
    reads ``interrupted``.
    """
    from ..runs import RunFolder, run_owner

    run = RunFolder(path)
    if not run.exists():
        return "pending", {}
    try:
        info = run.read()
    except (OSError, ValueError):
        return "pending", {}
    status = info.get("status", "pending")
    if status == "running" and run_owner(path) is None:
        status = "interrupted"
    return status, info


def _run_point(spec_dict: dict, topic: str | None = None, stop_name: str | None = None,
               point_id: str = "") -> dict:
    """Run one point (a dask task): its train spec, resuming or restarting its folder.

    Returns ``{"status", "metrics", "message", "error"}``; a
    :class:`collop.CollopError` (bad input, a busy folder) is returned as a
    failure (retrying cannot help); any other exception propagates, so that
    dask retries the task.
    """
    from ..pipeline import run, spec_from_dict
    from ..pipeline.context import failure_text
    from ..runs import run_owner
    from ..train import CheckpointError

    _keep_freed_memory()
    spec = spec_from_dict(spec_dict)
    path = Path(spec.out)
    status, info = point_state(path)
    if status in DONE:                     # done by an earlier attempt whose result was lost
        return {"status": status, "metrics": _compact_metrics(info.get("metrics")), "reused": True}
    stop = _StopProbe(stop_name) if stop_name else None
    if stop is not None and stop.is_set():
        return {"status": "skipped"}
    try:
        owner = run_owner(path)
        if owner is not None:
            return {"status": "failed", "error": f"{path}: the run folder is in use by process "
                                                 f"{owner.get('pid')} on {owner.get('host')}"}
        resume = (path / "checkpoint.pt").is_file()
        if not resume and path.exists():
            shutil.rmtree(path)            # a start that never reached its first checkpoint
        worker = None
        with contextlib.suppress(Exception):
            from distributed import get_worker

            worker = get_worker().address
        _emit(topic, {"point": point_id, "status": "started", "pid": os.getpid(),
                      "host": socket.gethostname(), "worker": worker, "resumed": resume})
        try:
            result = run(spec, stop=stop, resume=resume)
        except CheckpointError:            # an unusable checkpoint: start again
            shutil.rmtree(path, ignore_errors=True)
            result = run(spec, stop=stop, resume=False)
    except CollopError as exc:
        return {"status": "failed", "error": failure_text(exc)}
    return {"status": result.status, "metrics": _compact_metrics(result.metrics), "message": result.message}


# -- the sweep folder ------------------------------------------------------------------------

class SweepFolder:
    """A sweep's folder: ``sweep.json``, ``events.jsonl``, a lock, and one run folder per point."""

    def __init__(self, path):
        from ..runs import RunFolder

        self.path = Path(path)
        self._folder = RunFolder(self.path)      # its lock and its events file

    @property
    def index_file(self) -> Path:
        return self.path / "sweep.json"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    def exists(self) -> bool:
        return self.index_file.is_file()

    def claim(self) -> None:
        self._folder.claim()

    def release(self) -> None:
        self._folder.release()

    def read(self) -> dict:
        """The contents of ``sweep.json``."""
        import json

        with open(self.index_file) as fh:
            return json.load(fh)

    def write(self, index: dict) -> None:
        from ..io import atomic_write_text
        from ..runs import to_json

        index["updated"] = _now()
        atomic_write_text(self.index_file, to_json(index) + "\n")

    def append_event(self, ev: dict) -> dict:
        return self._folder.append_event(ev)

    def events(self) -> list[dict]:
        return self._folder.events()


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns.

    Attributes
    ----------
    status : {"finished", "stopped", "incomplete"}
        ``finished``: every point is done; ``incomplete``: some failed.
    path : Path
        The sweep folder.
    points : list of dict
        The index entries of the points (``sweep.json``'s ``points``).
    counts : dict
        Points per status.
    seconds : float
        Wall time of this call.
    """

    status: str
    path: Path
    points: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0

    def table(self):
        """The points as a :class:`pandas.DataFrame` (see :func:`collop.sweep.sweep_table`)."""
        from .table import sweep_table

        return sweep_table(self.path)


# -- where it runs -----------------------------------------------------------------------------

class Cluster:
    """A dask client: a new ``LocalCluster`` or a connection to a running scheduler.

    Parameters
    ----------
    workers : int
        Worker processes of a local cluster (one thread each).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) or a scheduler
        file (``.json``); the local cluster is not started.
    timeout : float
        Seconds to wait for the scheduler before giving up.

    Notes
    -----
    Use as a context manager; the local cluster (and its workers) end with it.
    Local workers are daemonic processes started with ``spawn``; each runs one
    task at a time, and the pipeline sets its torch threads (``spec.threads``).
    """

    def __init__(self, workers: int = 2, scheduler: str | None = None, timeout: float = 5.0):
        if scheduler is None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise SpecError(f"workers: expected a positive number of workers, got {workers!r}",
                            field="workers")
        self.workers, self.scheduler, self.timeout = workers, scheduler, timeout
        self.client = None
        self._cluster = None

    def __enter__(self):
        from distributed import Client

        if self.scheduler is not None:
            self.client = connect(self.scheduler, self.timeout)
            return self
        import dask
        from distributed import LocalCluster

        # no statistical profiler in the workers: nobody reads it, and its sampling thread
        # takes the GIL from the training 100 times a second
        with _quiet(), dask.config.set({"distributed.worker.profile.enabled": False}):
            try:
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.CRITICAL,
                                             scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"})
            except Exception as exc:  # noqa: BLE001 - e.g. spawn could not re-import the main script
                raise CollopError(f"cannot start {self.workers} local dask worker(s) ({_one_line(exc)}); a script "
                                  "that runs a sweep must guard it with if __name__ == '__main__':") from None
            self.client = Client(self._cluster, set_as_default=False)
            from ._worker import IgnoreInterrupt

            self.client.register_plugin(IgnoreInterrupt())
        return self

    def __exit__(self, *exc):
        with _quiet():
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close(timeout=10)
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close(timeout=10)
        return False

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"scheduler {self.scheduler}"
        return f"local cluster, {self.workers} worker(s)"


@contextlib.contextmanager
def _quiet():
    """Hide distributed's informational logging while clusters start and stop."""
    names = ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker",
             "distributed.core", "distributed.client", "distributed.batched", "tornado")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def _scheduler_address(address: str) -> str:
    """The address of a scheduler given by address or by scheduler file (one line if neither)."""
    import json

    if not isinstance(address, str) or not address.strip():
        raise SpecError("scheduler: empty address", field="scheduler")
    if address.endswith(".json"):
        try:
            info = json.loads(Path(address).read_text())
            return str(info["address"])
        except FileNotFoundError:
            raise SpecError(f"scheduler: scheduler file {address} does not exist", field="scheduler") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpecError(f"scheduler: {address} is not a scheduler file ({_one_line(exc)})",
                            field="scheduler") from None
    return address


def _probe(address: str, timeout: float) -> None:
    """Fail fast (one line) if nothing listens at a scheduler address."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(loc)
            if port is None:
                raise ValueError("no port")
    except (ValueError, TypeError) as exc:
        raise SpecError(f"scheduler {address}: not a scheduler address ({_one_line(exc)}); "
                        "expected e.g. tcp://host:8786", field="scheduler") from None
    if scheme == "tcp":
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as exc:
            raise SpecError(f"scheduler {address}: cannot connect ({_one_line(exc.strerror or exc)})",
                            field="scheduler") from None
    if scheme in ("tcp", "tls"):
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from distributed.core import rpc

        async def identity():
            r = rpc(address, timeout=timeout)
            try:
                return await asyncio.wait_for(r.identity(), timeout)
            finally:
                await r.close_rpc()

        try:      # in a thread of its own: the caller may be running an event loop
            with ThreadPoolExecutor(1) as pool:
                ident = pool.submit(asyncio.run, identity()).result()
        except BaseException as exc:  # noqa: BLE001 - whatever answered is not a scheduler
            if isinstance(exc, KeyboardInterrupt):
                raise
            why = "no answer" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else _one_line(
                f"{type(exc).__name__}: {exc}")
            raise SpecError(f"scheduler {address}: no dask scheduler answers there within {timeout:g} s "
                            f"({why})", field="scheduler") from None
        if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
            raise SpecError(f"scheduler {address}: what answers there is not a dask scheduler", field="scheduler")


def connect(address: str, timeout: float = 5.0):
    """A :class:`distributed.Client` of the scheduler at ``address`` (or in a scheduler file).

    Raises
    ------
    CollopError
        One line when the address is malformed or nothing answers there
        within ``timeout`` seconds (a refused connection fails at once).
    """
    from distributed import Client

    addr = _scheduler_address(address)
    _probe(addr, timeout)
    try:
        with _quiet():
            return Client(addr, timeout=timeout, set_as_default=False)
    except Exception as exc:  # OSError (timeout), ValueError
        raise SpecError(f"scheduler {address}: cannot connect ({_one_line(exc)})", field="scheduler") from None


def _describe(client) -> str:
    """Where a client's tasks run, in words (``2 worker(s) at tcp://...``)."""
    try:
        info = client.scheduler_info()
        return f"{len(info.get('workers', {}))} worker(s) at {info.get('address', '?')}"
    except Exception:  # noqa: BLE001 - only a label
        return "a dask cluster"


# -- checks before anything is written ---------------------------------------------------------

def preflight(points: list[Point], spec: SweepSpec | None = None) -> None:
    """Check every point against its data before anything runs (one line if one fails).

    Each data file must open as its family's data kind and hold the point's
    populations, and the family's size checks must pass on the training data
    (a kernel wider than the grid, a tensor too large for memory): the checks
    :func:`collop.pipeline.run` makes before it touches a run folder. A spec
    error names the axis value that causes it (with ``spec``).
    """
    import json

    from ..io import open_dataset
    from ..pipeline import resolve
    from .grid import explain

    opened: dict = {}
    sized: set = set()
    try:
        for p in points:
            res = resolve(p.spec)
            obj = res.objective_cls
            key = (p.spec.data, obj.data_kind)
            if key not in opened:
                opened[key] = open_dataset(p.spec.data, obj.data_kind)
            ds = opened[key]
            train = obj.select(ds, list(p.spec.train))
            obj.select(ds, list(p.spec.test) if p.spec.test is not None else "all")
            size_key = (key, tuple(train), json.dumps(p.spec.objective, sort_keys=True), res.family.family,
                        json.dumps(p.spec.options, sort_keys=True))
            if size_key in sized:
                continue
            try:
                res.family.check_size(res.options, obj.load(ds, train, res.objective_options, role="train"))
            except SpecError as exc:
                raise (explain(exc, spec, p.values) if spec is not None else exc) from None
            sized.add(size_key)
    finally:
        for ds in opened.values():
            with contextlib.suppress(Exception):
                ds.close()


def _check_out(out: Path) -> None:
    from ..pipeline.context import OutFolder

    OutFolder(out)
    if (out / "run.json").exists():
        raise SpecError(f"out {out}: holds a training run, not a sweep; choose another folder", field="out")
    idx = out / "sweep.json"
    if idx.exists():
        import json

        try:
            d = json.loads(idx.read_text())
            if not isinstance(d, dict) or "points" not in d:
                raise ValueError("not a sweep index")
        except (OSError, ValueError) as exc:
            raise CollopError(f"{idx}: cannot be read as a sweep index ({_one_line(exc)})") from None


# -- the sweep -------------------------------------------------------------------------------------

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
    _check_out(out)
    if client is not None:
        return _run(spec, points, out, client, _describe(client), retries, callback, stop, t0)
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
            e["metrics"] = _compact_metrics(info.get("metrics"))
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
                r = {"status": "failed", "error": _one_line(f"{type(exc).__name__}: {exc}")}
        elif fut.status == "error":
            exc = fut.exception()
            r = {"status": "failed", "error": _one_line(f"{type(exc).__name__}: {exc}")}
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
        metrics = {k: e["metrics"][k] for k in EVENT_METRICS if k in e["metrics"]}
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

