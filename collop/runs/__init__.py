"""Run folders: what a training run leaves on disk, so that other processes can follow it.

A run folder holds

``run.json``
    ``id`` (the folder name), ``kind`` (``"fp"``), ``method``, ``params``,
    ``dataset``, ``status`` (``running`` -> ``finished`` / ``stopped`` /
    ``diverged`` / ``failed``), ``created`` / ``updated`` (ISO 8601, UTC),
    ``pid``, ``host``, and once known ``error`` and ``metrics``. Rewritten
    atomically on every change, so a reader never sees half of it.
``events.jsonl``
    One JSON object per line, appended and flushed as the run goes:
    ``{"event": "stage"|"epoch"|"snapshot"|"done"|..., "time": ..., ...}``.
``snapshots/NNNNNN.nc``
    Operator files written during training (``NNNNNN``: epochs done).
``operator.nc``, ``metrics.json``, ``checkpoint.pt``
    Written by the job that owns the run (:mod:`collop.pipeline`).
``.lock``
    Held (``flock``) by the process that owns the run for as long as it runs,
    and naming it (pid, host, process start time). A second process that
    tries to claim the folder is refused with the owner's name;
    :func:`signal_run` signals only the process that really holds the lock.

Every training, from the command line, the app or a sweep, writes its run
folder through :func:`collop.pipeline.run`; the app lists them with
:func:`list_runs`.
"""
from ._json import _now, to_json  # noqa: F401 (_now: the app and workers stamp times with it)
from .folder import SNAPSHOT_EVERY, STATUSES, RunFolder
from .listing import _pid_alive, list_runs  # noqa: F401
from .ownership import RunBusyError, _proc_start, run_owner, signal_run  # noqa: F401

__all__ = ["RunFolder", "RunBusyError", "list_runs", "signal_run", "run_owner", "to_json", "STATUSES",
           "SNAPSHOT_EVERY"]
