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
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import signal as _signal
import socket
from datetime import datetime, timezone
from pathlib import Path

from .io import atomic_write_text, write_dataset
from .schema import CollopError

__all__ = ["RunFolder", "RunBusyError", "list_runs", "signal_run", "run_owner", "STATUSES",
           "SNAPSHOT_EVERY"]

#: Values of ``run.json``'s ``status``.
STATUSES = ("running", "finished", "stopped", "diverged", "failed")
#: Fewest epochs between two snapshots written by :meth:`RunFolder.save_snapshot`.
SNAPSHOT_EVERY = 25


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _clean(obj):
    """``obj`` with non-finite floats as None and numpy scalars/arrays as Python values."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalar / array
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def to_json(obj, indent: int | None = 2) -> str:
    """Strict JSON of ``obj`` (NaN/Inf written as null, numpy values as Python values)."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)


class RunBusyError(CollopError):
    """The run folder is owned by another live process."""


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            stat = fh.read()
    except (OSError, ValueError):
        return None
    return stat.rpartition(")")[2].split()[19]   # field 22 overall: starttime


def _lock_holders(lock_path: Path) -> set[int] | None:
    """Pids holding an flock on ``lock_path`` according to ``/proc/locks`` (None: unknown)."""
    try:
        st = os.stat(lock_path)
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in lines:
        parts = line.split()
        if "->" in parts:          # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].lower() == dev:
            with contextlib.suppress(ValueError):
                pids.add(int(parts[4]))
    return pids


def run_owner(path) -> dict | None:
    """The live process that owns the run folder ``path``, or None when no process holds it.

    Returns
    -------
    dict or None
        ``{"pid", "host", "started", "start_ticks"}`` as the owner wrote them in
        ``.lock``. A folder is owned while its ``.lock`` is held; this is true
        of a process killed with SIGKILL only until the kernel reaps it.
    """
    lock = Path(path) / ".lock"
    if not lock.is_file():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            try:
                return json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                return {"pid": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def signal_run(path, sig=_signal.SIGINT) -> str:
    """Send ``sig`` to the process that owns the run folder ``path``; a one-line message.

    The process is identified by the lock it holds, not by a pid read from a
    file: the pid recorded in ``.lock`` must hold the lock (``/proc/locks``)
    and have the recorded start time, so a stale or crafted pid is never
    signalled.
    """
    path = Path(path)
    owner = run_owner(path)
    name = path.name
    if owner is None:
        return f"{name}: not running"
    pid = owner.get("pid")
    if owner.get("host") not in (None, socket.gethostname()):
        return f"{name}: runs on host {owner.get('host')}; stop it there"
    if not isinstance(pid, int) or pid <= 0:
        return f"{name}: its owner cannot be identified; not signalled"
    holders = _lock_holders(path / ".lock")
    if holders is not None and pid not in holders:
        return f"{name}: process {pid} does not hold the run's lock; not signalled"
    if owner.get("start_ticks") is not None and _proc_start(pid) != owner.get("start_ticks"):
        return f"{name}: process {pid} is not the one that started the run; not signalled"
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return f"{name}: its process has ended"
    except PermissionError:
        return f"{name}: not allowed to signal process {pid}"
    return f"{name}: stopping after the current epoch"


class RunFolder:
    """One run's folder: ``run.json``, ``events.jsonl`` and ``snapshots/``.

    Parameters
    ----------
    path : str or path-like
        The folder; its name is the run's id.

    Examples
    --------
    >>> run = RunFolder("runs/fp-001")                      # doctest: +SKIP
    >>> run.create("fp", {"model": "tensor"}, "data.nc", method="ps-tensor")
    >>> run.append_event({"event": "epoch", "stage": 0, "epoch": 0, "loss": 0.1})
    >>> run.set_status("finished", metrics={"rollout_mae": 0.01})
    """

    def __init__(self, path):
        self.path = Path(path)
        self._last_snapshot = None
        self._lock_fd = None

    # -- ownership --------------------------------------------------------------
    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def claim(self) -> "RunFolder":
        """Take the folder's lock for this process (creating the folder if needed).

        Raises
        ------
        RunBusyError
            Another live process owns the folder (the message names it).
        """
        if self._lock_fd is not None:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            try:
                owner = json.loads(self.lock_file.read_text() or "{}")
            except (OSError, ValueError):
                owner = {}
            who = (f"process {owner.get('pid')} on {owner.get('host')} (since {owner.get('started')})"
                   if owner.get("pid") else "another process")
            raise RunBusyError(f"{self.path}: the run folder is in use by {who}; wait for it to end "
                               "or stop it first") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(),
                "start_ticks": _proc_start(os.getpid())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._lock_fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (the file stays; an unheld lock means nobody owns the run)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def remove_orphans(self) -> list[Path]:
        """Delete temporary files left by a killed writer (``.NAME.*.tmp``); returns them."""
        gone = []
        for d in (self.path, self.snapshot_dir):
            if d.is_dir():
                for p in d.glob(".*.tmp"):
                    with contextlib.suppress(OSError):
                        p.unlink()
                        gone.append(p)
        return gone

    def truncate_events(self, epochs_done: int) -> None:
        """Keep the events of the first ``epochs_done`` epochs (resume after a kill).

        Events after the ``epochs_done``-th epoch event, and ``done`` events,
        are dropped (atomically), as are snapshot files of later epochs.
        """
        if self.events_file.exists():
            kept, n = [], 0
            with open(self.events_file) as fh:
                for line in fh:
                    try:
                        ev = json.loads(line)
                    except json.JSONDecodeError:
                        continue                      # a half-written last line
                    if ev.get("event") == "epoch":
                        n += 1
                        if n > epochs_done:
                            break
                    if ev.get("event") == "done":
                        continue
                    kept.append(line if line.endswith("\n") else line + "\n")
            atomic_write_text(self.events_file, "".join(kept))
        for p in self.snapshots():
            with contextlib.suppress(ValueError, OSError):
                if int(p.stem) > epochs_done:
                    p.unlink()

    # -- files ----------------------------------------------------------------
    @property
    def id(self) -> str:
        """The run's id: the folder name."""
        return self.path.resolve().name

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def snapshot_dir(self) -> Path:
        return self.path / "snapshots"

    def exists(self) -> bool:
        """Whether the folder holds a ``run.json``."""
        return self.run_file.is_file()

    def _write(self, info: dict) -> dict:
        atomic_write_text(self.run_file, to_json(info) + "\n")
        return info

    # -- run.json -------------------------------------------------------------
    def create(self, kind: str, params: dict, dataset: str, *, method: str | None = None,
               spec: dict | None = None) -> dict:
        """Create the folder (if needed) and write ``run.json`` with status ``running``.

        Parameters
        ----------
        kind : str
            Family of the run, ``"fp"`` for Fokker-Planck training.
        params : dict
            The run's parameters (JSON-serialisable; recorded as given).
        dataset : str
            Path of the training data.
        method : str, optional
            Method name (``ps-tensor``, ``ps-nn``, ...); default ``params["method"]``.
        spec : dict, optional
            The job spec that made the run (:mod:`collop.pipeline`), recorded as given.

        Returns
        -------
        dict
            The contents of ``run.json``. When a ``run.json`` exists already
            (a resumed run) its ``created`` time is kept and ``resumed`` lists
            the times the run was restarted.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        now = _now()
        old = self.read() if self.exists() else {}
        info = {"id": self.id, "kind": kind, "method": method or params.get("method"),
                "params": dict(params), "dataset": str(dataset), "status": "running",
                "created": old.get("created", now), "updated": now, "pid": os.getpid(),
                "host": socket.gethostname()}
        if spec is not None:
            info["spec"] = spec
        if old:
            info["resumed"] = list(old.get("resumed", [])) + [now]
        return self._write(info)

    def set_status(self, status: str, error: str | None = None, metrics: dict | None = None,
                   **extra) -> dict:
        """Record a new status (and the error message or metrics) in ``run.json``.

        Parameters
        ----------
        status : {"running", "finished", "stopped", "diverged", "failed"}
        error : str, optional
            One-line message of what went wrong (failed or diverged runs).
        metrics : dict, optional
            The run's metrics (as in ``metrics.json``).
        **extra
            Further keys to store.
        """
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        info = self.read()
        info.update(status=status, updated=_now(), **extra)
        if error is not None:
            info["error"] = str(error)
        if metrics is not None:
            info["metrics"] = metrics
        return self._write(info)

    def read(self) -> dict:
        """The contents of ``run.json``."""
        with open(self.run_file) as fh:
            return json.load(fh)

    # -- events ---------------------------------------------------------------
    def append_event(self, event: dict) -> dict:
        """Append one event as a JSON line to ``events.jsonl`` (flushed at once).

        A ``time`` key (ISO 8601, UTC) is added unless present. Values that
        are not JSON (operators, tensors) are stored as their ``repr``; leave
        them out.
        """
        event = dict(event)
        event.setdefault("time", _now())
        line = to_json(event, indent=None)
        with open(self.events_file, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
        return event

    def events(self) -> list[dict]:
        """All events so far (a partly written last line is skipped)."""
        if not self.events_file.exists():
            return []
        out = []
        with open(self.events_file) as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    # -- snapshots ------------------------------------------------------------
    def save_snapshot(self, operator, epoch: int, *, grid=None, times=None, source: str = "",
                      attrs: dict | None = None, every: int = SNAPSHOT_EVERY,
                      event: dict | None = None) -> dict | None:
        """Write ``snapshots/NNNNNN.nc`` and append a ``snapshot`` event.

        Parameters
        ----------
        operator : FokkerPlanck or xarray.Dataset
            The operator (written with ``operator.to_dataset(grid, times, ...)``)
            or an ``operator`` dataset.
        epoch : int
            Epochs done in the whole run (``NNNNNN``).
        grid, times
            Passed to ``operator.to_dataset``.
        source : str
            Source attribute of the file.
        attrs : dict, optional
            Extra attributes of the file.
        every : int
            Skip the snapshot if the last one written by this object is fewer
            than ``every`` epochs ago (0: never skip).
        event : dict, optional
            Extra keys of the event.

        Returns
        -------
        dict or None
            The event, or None when the snapshot was skipped.
        """
        epoch = int(epoch)
        if self._last_snapshot is not None and every and epoch - self._last_snapshot < every:
            return None
        ds = operator if not hasattr(operator, "to_dataset") else operator.to_dataset(
            grid, times, source=source, attrs={"epoch": epoch, **(attrs or {})})
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        rel = Path("snapshots") / f"{epoch:06d}.nc"
        write_dataset(ds, self.path / rel)
        self._last_snapshot = epoch
        return self.append_event({"event": "snapshot", "epoch": epoch, **(event or {}),
                                  "path": rel.as_posix()})

    def snapshots(self) -> list[Path]:
        """Snapshot files, oldest first."""
        if not self.snapshot_dir.is_dir():
            return []
        return sorted(self.snapshot_dir.glob("[0-9]*.nc"))


def _pid_alive(pid) -> bool | None:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, TypeError, ValueError):
        return None
    return True


def list_runs(root) -> list[dict]:
    """The runs in the folders directly under ``root``, oldest first.

    Parameters
    ----------
    root : str or path-like
        A folder of run folders (a missing folder has no runs).

    Returns
    -------
    list of dict
        ``run.json`` of each run plus ``path`` (the folder). A ``running`` run
        started on this host also gets ``alive``: whether its process still
        exists (False means it was killed without updating its status).
        Unreadable ``run.json`` files are listed as ``{"id", "path",
        "status": "unknown", "error"}``.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    host = socket.gethostname()
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        run = RunFolder(d)
        if not run.exists():
            continue
        try:
            info = run.read()
        except (OSError, ValueError) as exc:
            info = {"id": d.name, "status": "unknown", "error": f"{run.run_file}: {exc}"}
        info["path"] = str(d)
        if info.get("status") == "running" and info.get("host") == host:
            if (d / ".lock").exists():
                info["alive"] = run_owner(d) is not None
            elif "pid" in info:
                alive = _pid_alive(info["pid"])
                if alive is not None:
                    info["alive"] = alive
        runs.append(info)
    runs.sort(key=lambda r: (str(r.get("created", "")), r.get("id", "")))
    return runs
