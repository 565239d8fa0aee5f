"""One run's folder: ``run.json`` (one writer), ``events.jsonl``, snapshots, the lock."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from pathlib import Path

import numpy as np

from ..io import atomic_write_text, write_dataset
from ._json import _now, to_json
from .ownership import RunBusyError, _proc_start

__all__ = ["RunFolder", "STATUSES", "SNAPSHOT_EVERY"]

#: Values of ``run.json``'s ``status``.
STATUSES = ("running", "finished", "stopped", "diverged", "failed")
#: Fewest epochs between two snapshots written by :meth:`RunFolder.save_snapshot`.
SNAPSHOT_EVERY = 25


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
        """Write ``snapshots/NNNNNN.nc`` (data in float32) and append a ``snapshot`` event.

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
        # float32 and no gzip: a live view needs no more, and a sim1 PS-Tensor snapshot (24 MB in
        # float64) then takes 0.04 s to write instead of 0.45 s, at the same size on disk as gzip made it
        ds = ds.map(lambda v: v.astype(np.float32) if v.dtype == np.float64 else v, keep_attrs=True)
        write_dataset(ds, self.path / rel, compress=None)
        self._last_snapshot = epoch
        return self.append_event({"event": "snapshot", "epoch": epoch, **(event or {}),
                                  "path": rel.as_posix()})

    def snapshots(self) -> list[Path]:
        """Snapshot files, oldest first."""
        if not self.snapshot_dir.is_dir():
            return []
        return sorted(self.snapshot_dir.glob("[0-9]*.nc"))
