"""One point of a sweep on a dask worker: claim its folder, resume or restart it, run it.

:func:`_run_point` is the dask task. A point whose folder says ``finished`` or
``diverged`` (:data:`DONE`) is not run again; one with a checkpoint resumes
from it; a half-written folder without one is cleared and started afresh. A
:class:`collop.CollopError` (bad input, a busy folder) is returned as a
failure record; any other exception propagates, so that dask retries the task.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import time
from pathlib import Path

from ..schema import CollopError

__all__ = ["DONE", "point_state", "compact_metrics"]

#: point statuses that are final: a rerun skips these points
DONE = ("finished", "diverged")


def compact_metrics(m: dict | None) -> dict:
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
        return {"status": status, "metrics": compact_metrics(info.get("metrics")), "reused": True}
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
    return {"status": result.status, "metrics": compact_metrics(result.metrics), "message": result.message}
